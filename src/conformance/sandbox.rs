//! `raccordo conformance serve`: a sandbox gateway a vendor's system sends to. It is the
//! gateway itself — the API's router over a store of its own, with one party, the system
//! under test, allowed to send its profile — so it answers exactly as `POST /v1/messages`
//! does (statuses, problem documents, Content-Type checks, receipts, resends). Around the
//! router, a recorder writes every exchange of `POST /v1/messages` in a session file, one
//! JSON line each, from which `raccordo conformance report` writes the session's report.
//!
//! A vendor testing its negative paths declares what it expects in the `Raccordo-Expect`
//! header (`accepted`, or `rejected` followed by requirement ids or error codes): an
//! exchange that meets its declaration passes, a refusal included.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::run::{CaseResult, Finding, RunReport, Status};
use super::Suite;
use crate::config::Config;
use crate::error::Error;
use crate::gateway::{Gateway, Keys};
use crate::ingest::{Catalog, CANONICAL};
use crate::store::Store;

/// The header a vendor declares its expectation in.
pub const EXPECT_HEADER: &str = "raccordo-expect";

/// What a vendor expects of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "naming")]
pub enum Expectation {
    Accepted,
    /// Refused, the refusal naming each of these requirement ids or error codes.
    Rejected(Vec<String>),
}

impl Expectation {
    /// Reads `accepted` or `rejected [ID ...]`; each ID a requirement of `suite` or a code.
    pub fn parse(text: &str, suite: &Suite) -> Result<Expectation, String> {
        let mut words = text.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty());
        match words.next().map(str::to_ascii_lowercase).as_deref() {
            Some("accepted") if words.next().is_none() => Ok(Expectation::Accepted),
            Some("accepted") => Err("`accepted` takes nothing after it".into()),
            Some("rejected") => {
                let names: Vec<String> = words.map(str::to_owned).collect();
                for name in &names {
                    let code =
                        name.len() == 8 && name.starts_with("RAC-") && name[4..].bytes().all(|b| b.is_ascii_digit());
                    if !code && suite.requirement(name).is_none() {
                        return Err(format!("{name} is neither a requirement of the suite nor an error code"));
                    }
                }
                Ok(Expectation::Rejected(names))
            }
            _ => Err("it is `accepted`, or `rejected` followed by requirement ids or error codes".into()),
        }
    }
}

/// One exchange of a session, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub number: u64,
    pub at: String,
    pub profile: String,
    /// The message's id, when the answer names it.
    pub message_id: Option<String>,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub status: u16,
    pub resend: bool,
    /// What the vendor declared it expected, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expectation>,
    /// The problems the gateway found (for an accepted batch, in its refused records).
    pub findings: Vec<Finding>,
}

impl Exchange {
    fn accepted(&self) -> bool {
        (200..300).contains(&self.status) && self.findings.is_empty()
    }

    /// Whether the exchange passes, and why not: with no declaration, an accepted message
    /// passes; with one, meeting it passes.
    pub fn verdict(&self) -> Result<(), String> {
        match &self.expected {
            None if self.accepted() => Ok(()),
            None => Err(format!("{} problems, answered {}", self.findings.len(), self.status)),
            Some(Expectation::Accepted) if self.accepted() => Ok(()),
            Some(Expectation::Accepted) => Err(format!("declared accepted, answered {}", self.status)),
            Some(Expectation::Rejected(_)) if self.accepted() => {
                Err(format!("declared rejected, answered {} and accepted", self.status))
            }
            Some(Expectation::Rejected(names)) => {
                let missing: Vec<&str> = names
                    .iter()
                    .filter(|name| {
                        !self
                            .findings
                            .iter()
                            .any(|f| f.requirement == **name || f.code.as_deref() == Some(name.as_str()))
                    })
                    .map(String::as_str)
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("declared rejected naming {}, the refusal does not name it", missing.join(", ")))
                }
            }
        }
    }
}

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The profile the system under test sends.
    pub profile: String,
    /// Its URN (`urn:raccordo:<kind>:<code>`): canonical messages must carry it as `source`.
    pub source: String,
    /// The bearer token it authenticates with.
    pub token: String,
    /// Where the session is recorded (appended).
    pub session: PathBuf,
    /// The sandbox's own store, made afresh (a SQLite file).
    pub store: PathBuf,
}

struct Recorder {
    suite: Suite,
    profile: String,
    max_answer_bytes: usize,
    session: Mutex<std::fs::File>,
    /// The gateway's ids of the messages answered so far: a second answer is a resend's.
    answered: Mutex<HashSet<String>>,
    count: Mutex<u64>,
}

/// The configuration of a gateway whose only party is the system under test.
fn config(catalog: &Catalog, settings: &Settings) -> Result<Config, Error> {
    let mut parts = settings.source.strip_prefix("urn:raccordo:").unwrap_or_default().splitn(2, ':');
    let (kind, code) = match (parts.next(), parts.next()) {
        (Some(kind), Some(code)) if !kind.is_empty() && !code.is_empty() => (kind, code),
        _ => return Err(Error::Usage(format!("--source {}: a URN urn:raccordo:<kind>:<code>", settings.source))),
    };
    let quote = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let text = format!(
        "[storage]\nurl = {}\n\n[[parties]]\nid = \"system-under-test\"\nkind = {}\ncode = {}\nname = \"the system under test\"\n\
         sends = {{ profiles = [{}] }}\nauth = {{ tokens = [{}] }}\n",
        quote(&format!("sqlite://{}", settings.store.display())),
        quote(kind),
        quote(code),
        quote(&settings.profile),
        quote(&settings.token),
    );
    Config::parse(&text, "sandbox", catalog)
}

/// The sandbox: the gateway's router for the system under test, recording into the
/// session file. Starts from an empty store.
pub async fn router(catalog: Catalog, suite: Suite, settings: &Settings) -> Result<Router, Error> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&settings.session)
        .map_err(|source| Error::Io { path: settings.session.clone(), source })?;
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", settings.store.display()));
        match std::fs::remove_file(&path) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => return Err(Error::Io { path, source }),
            _ => {}
        }
    }
    let config = config(&catalog, settings)?;
    let store = Store::open(&config.storage_url()).await?;
    let gateway =
        Arc::new(Gateway::assemble(catalog, config, store, "urn:raccordo:gateway:sandbox".into(), Keys::default()));
    let recorder = Arc::new(Recorder {
        suite,
        profile: settings.profile.clone(),
        max_answer_bytes: 64 << 20,
        session: Mutex::new(file),
        answered: Mutex::new(HashSet::new()),
        count: Mutex::new(0),
    });
    Ok(crate::api::router(gateway).layer(axum::middleware::from_fn_with_state(recorder, record)))
}

/// Records each `POST /v1/messages` with the gateway's answer, which it passes on as is.
async fn record(State(recorder): State<Arc<Recorder>>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path() != "/v1/messages" {
        return next.run(request).await;
    }
    let declared = request.headers().get(EXPECT_HEADER).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, recorder.max_answer_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!("reading the sandbox's answer: {error}");
            return parts.status.into_response();
        }
    };
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut exchange = read_exchange(&recorder, parts.status.as_u16(), &answer);
    match declared.as_deref().map(|text| Expectation::parse(text, &recorder.suite)) {
        Some(Ok(expectation)) => exchange.expected = Some(expectation),
        Some(Err(why)) => exchange.findings.push(Finding {
            requirement: "XCH-02".into(),
            code: None,
            path: EXPECT_HEADER.into(),
            message: format!("the Raccordo-Expect header is not understood: {why}"),
        }),
        None => {}
    }
    if let (Ok(mut file), Ok(line)) = (recorder.session.lock(), serde_json::to_string(&exchange)) {
        // The answer is given even if the record fails; the failure is logged.
        if let Err(error) = writeln!(file, "{line}") {
            tracing::warn!("recording the session: {error}");
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The exchange the gateway's answer tells of.
fn read_exchange(recorder: &Recorder, status: u16, answer: &Value) -> Exchange {
    let number = recorder.count.lock().map_or(0, |mut count| {
        *count += 1;
        *count
    });
    let finding = |error: &Value| {
        let code = error["code"].as_str().map(str::to_owned);
        Finding {
            requirement: code
                .as_deref()
                .and_then(|c| recorder.suite.requirement_of(c))
                .map_or_else(|| "ENV-01".into(), |r| r.id.clone()),
            path: error["path"].as_str().unwrap_or_default().to_owned(),
            message: error["message"].as_str().or(error["detail"].as_str()).unwrap_or_default().to_owned(),
            code,
        }
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut receipts: Vec<&Value> = Vec::new();
    if (200..300).contains(&status) {
        match answer["messages"].as_array() {
            // A batch: each refused record's errors.
            Some(messages) => {
                receipts.extend(messages.iter().map(|m| &m["receipt"]));
                for record in answer["rejected"].as_array().into_iter().flatten() {
                    findings.extend(record["errors"].as_array().into_iter().flatten().map(&finding));
                }
            }
            None => receipts.push(&answer["receipt"]),
        }
    } else {
        match answer["errors"].as_array().filter(|errors| !errors.is_empty()) {
            Some(errors) => findings.extend(errors.iter().map(&finding)),
            None => findings.push(finding(answer)),
        }
    }
    let first = receipts.first().copied().unwrap_or(&Value::Null);
    let gateway_ids: Vec<String> = match answer["messages"].as_array() {
        Some(messages) => messages.iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect(),
        None => answer["id"].as_str().map(str::to_owned).into_iter().collect(),
    };
    let resend = recorder.answered.lock().is_ok_and(|mut answered| {
        let seen = !gateway_ids.is_empty() && gateway_ids.iter().all(|id| answered.contains(id));
        answered.extend(gateway_ids.iter().cloned());
        seen
    });
    Exchange {
        number,
        at: crate::clock::Clock::System.now_rfc3339(),
        profile: recorder.profile.clone(),
        message_id: first["data"]["messageId"].as_str().map(str::to_owned),
        message_type: first["data"]["messageType"].as_str().and_then(crate::standard::short_name).map(str::to_owned),
        status,
        resend,
        expected: None,
        findings,
    }
}

/// The report of a session: one case per message received.
pub fn report(suite: &Suite, session: &Path) -> Result<RunReport, Error> {
    let text = std::fs::read_to_string(session).map_err(|source| Error::Io { path: PathBuf::from(session), source })?;
    let mut results = Vec::new();
    let mut profile = String::new();
    let mut started = String::new();
    for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let exchange: Exchange = serde_json::from_str(line)
            .map_err(|e| Error::Usage(format!("{}:{}: not a session record: {e}", session.display(), index + 1)))?;
        if started.is_empty() {
            started = exchange.at.clone();
            profile = exchange.profile.clone();
        }
        let requirement = exchange.findings.first().map_or_else(
            || exchange.message_type.as_ref().map_or_else(|| "ENV-01".to_owned(), |t| format!("MSG-{t}")),
            |f| f.requirement.clone(),
        );
        let name = format!(
            "#{} {} {}",
            exchange.number,
            exchange.message_type.as_deref().unwrap_or("unknown type"),
            exchange.message_id.as_deref().unwrap_or("")
        );
        let verdict = exchange.verdict();
        let expected = match &exchange.expected {
            None => "a valid message".to_owned(),
            Some(Expectation::Accepted) => "accepted (declared)".to_owned(),
            Some(Expectation::Rejected(names)) if names.is_empty() => "rejected (declared)".to_owned(),
            Some(Expectation::Rejected(names)) => format!("rejected naming {} (declared)", names.join(", ")),
        };
        let answered = if exchange.accepted() { "accepted" } else { "refused" };
        results.push(CaseResult {
            id: name.trim().to_owned(),
            title: format!("received {}{}", exchange.at, if exchange.resend { " (a resend)" } else { "" }),
            mandatory: suite.requirement(&requirement).is_none_or(|r| r.mandatory()),
            requirement,
            status: if verdict.is_ok() { Status::Pass } else { Status::Fail },
            expected,
            actual: match &verdict {
                Ok(()) => format!("{answered}, answered {}, {} problems", exchange.status, exchange.findings.len()),
                Err(why) => why.clone(),
            },
            // A refusal that was declared is no failure: its findings are what was expected.
            findings: if verdict.is_ok() { Vec::new() } else { exchange.findings },
            millis: 0,
        });
    }
    let mut report = RunReport::new("session", &profile, &session.display().to_string(), suite, results);
    if !started.is_empty() {
        report.started = started;
    }
    Ok(report)
}

/// The default URN of the system under test: `urn:raccordo:<kind>:SANDBOX`, the kind of its
/// profile's parties (a CPI for the canonical form).
pub fn default_source(catalog: &Catalog, profile: &str) -> String {
    let kind = if profile == CANONICAL {
        "cpi"
    } else {
        catalog.profiles.get(profile).map_or("cpi", |p| p.party_kind.as_str())
    };
    format!("urn:raccordo:{kind}:SANDBOX")
}
