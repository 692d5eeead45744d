//! Running the suite: against raccordo's own engine (`suite`), over a vendor's produced
//! messages (`messages`), or towards a vendor's receiving endpoint (`target`), where
//! raccordo plays the gateway: it sends each case in the vendor's profile and checks the
//! HTTP answer and the receipt.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{Case, Kind, Suite};
use crate::assets::Assets;
use crate::error::{Diagnostic, Error};
use crate::ingest::{Catalog, CANONICAL};

/// The time valid cases are checked at (birth dates must be before it, permits valid).
pub const TIME: &str = "2026-06-01T12:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// Something a case found wrong, with the requirement it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub requirement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub path: String,
    pub message: String,
}

/// How one case went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    pub requirement: String,
    pub mandatory: bool,
    pub status: Status,
    pub expected: String,
    pub actual: String,
    pub findings: Vec<Finding>,
    #[serde(rename = "ms")]
    pub millis: u64,
}

/// A whole run, as the reports show it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `suite`, `messages`, `target` or `session`.
    pub mode: String,
    pub profile: String,
    /// The endpoint, folder or session file checked.
    pub subject: String,
    pub started: String,
    pub results: Vec<CaseResult>,
}

impl RunReport {
    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    /// Every mandatory case passed (or was skipped).
    pub fn passed(&self) -> bool {
        !self.results.iter().any(|r| r.mandatory && r.status == Status::Fail)
    }
}

fn expected_text(case: &Case) -> String {
    match case.kind {
        Kind::Valid => "accepted".into(),
        Kind::Resend => "the same answer twice".into(),
        Kind::Invalid => {
            let errors: Vec<String> = case.errors.iter().map(|e| format!("{} at {}", e.code, e.path)).collect();
            format!("rejected with {}", errors.join(", "))
        }
        Kind::Undeliverable => {
            let errors: Vec<String> = case.errors.iter().map(|e| format!("{} at {}", e.code, e.path)).collect();
            format!("not written, {} ({})", errors.join(", "), case.requirement)
        }
    }
}

/// Why raccordo won't write an undeliverable case's canonical message in `profile`, with no
/// configuration (no party's code to fill in): the refusal a gateway answers at intake.
fn undeliverable(catalog: &Catalog, profile: &str, bytes: &[u8]) -> Vec<Diagnostic> {
    match crate::formats::json::decode(bytes, catalog.limits.max_message_bytes) {
        Ok(message) => catalog.undeliverable(profile, &message, &Default::default()),
        Err(diagnostic) => vec![diagnostic],
    }
}

/// Compares what was found with what an invalid or undeliverable case expects: the status,
/// a finding per difference, and what happened in words. An undeliverable case also wants
/// its requirement named by the refusal.
fn compare(suite: &Suite, case: &Case, diagnostics: &[Diagnostic]) -> (Status, Vec<Finding>, String) {
    let found: BTreeSet<(String, String)> = diagnostics.iter().map(|d| (d.code.id(), d.path.clone())).collect();
    let expected: BTreeSet<(String, String)> = case.errors.iter().map(|e| (e.code.clone(), e.path.clone())).collect();
    let actual = if found.is_empty() {
        "accepted".to_owned()
    } else {
        let list: Vec<String> = found.iter().map(|(c, p)| format!("{c} at {p}")).collect();
        format!("rejected with {}", list.join(", "))
    };
    let mut findings = Vec::new();
    for (code, path) in expected.difference(&found) {
        findings.push(Finding {
            requirement: match case.kind {
                Kind::Undeliverable => case.requirement.clone(),
                _ => suite.requirement_of(code).map_or_else(|| case.requirement.clone(), |r| r.id.clone()),
            },
            code: Some(code.clone()),
            path: path.clone(),
            message: "expected, not reported".into(),
        });
    }
    for diagnostic in diagnostics.iter().filter(|d| !expected.contains(&(d.code.id(), d.path.clone()))) {
        let mut unexpected = finding(suite, diagnostic, &case.requirement);
        unexpected.message = format!("reported, not expected: {}", unexpected.message);
        findings.push(unexpected);
    }
    if case.kind == Kind::Undeliverable
        && !diagnostics.iter().any(|d| d.requirement.as_deref() == Some(case.requirement.as_str()))
    {
        findings.push(Finding {
            requirement: case.requirement.clone(),
            code: None,
            path: String::new(),
            message: format!("the refusal does not name {}", case.requirement),
        });
    }
    (if findings.is_empty() { Status::Pass } else { Status::Fail }, findings, actual)
}

fn finding(suite: &Suite, diagnostic: &Diagnostic, fallback: &str) -> Finding {
    let code = diagnostic.code.id();
    Finding {
        requirement: suite.requirement_of(&code).map_or_else(|| fallback.to_owned(), |r| r.id.clone()),
        code: Some(code),
        path: diagnostic.path.clone(),
        message: diagnostic.message.clone(),
    }
}

/// The diagnostics raccordo's engine finds in `bytes` of `profile`.
fn check(catalog: &Catalog, profile: &str, bytes: &[u8]) -> Result<Vec<Diagnostic>, Error> {
    if profile == CANONICAL {
        return Ok(
            crate::ingest::validate_canonical(&catalog.standard, bytes, catalog.limits.max_message_bytes).diagnostics
        );
    }
    let profile = catalog.profile(profile)?;
    let source = format!("urn:raccordo:{}:conformance", profile.party_kind);
    Ok(catalog.to_canonical(profile, bytes, &source, TIME).into_iter().flat_map(|o| o.diagnostics).collect())
}

fn result(
    suite: &Suite,
    case: &Case,
    status: Status,
    actual: String,
    findings: Vec<Finding>,
    millis: u64,
) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        title: case.title.clone(),
        requirement: case.requirement.clone(),
        mandatory: suite.requirement(&case.requirement).is_none_or(|r| r.mandatory()),
        status,
        expected: expected_text(case),
        actual,
        findings,
        millis,
    }
}

/// Runs the suite's cases of `profile` through raccordo's own engine: what the gateway
/// itself must pass.
pub fn suite(
    catalog: &Catalog,
    suite: &Suite,
    assets: &Assets,
    profile: &str,
    progress: &dyn Fn(usize, usize),
) -> Result<RunReport, Error> {
    let cases: Vec<&Case> = suite.cases_of(profile).collect();
    let mut results = Vec::with_capacity(cases.len());
    for (index, case) in cases.iter().enumerate() {
        progress(index, cases.len());
        let started = std::time::Instant::now();
        if case.kind == Kind::Resend {
            results.push(result(
                suite,
                case,
                Status::Skip,
                "an exchange case: run it with --target".into(),
                Vec::new(),
                0,
            ));
            continue;
        }
        let bytes = assets.read(&format!("conformance/{}", case.input))?;
        let diagnostics = match case.kind {
            Kind::Undeliverable => undeliverable(catalog, profile, &bytes),
            _ => check(catalog, profile, &bytes)?,
        };
        let millis = started.elapsed().as_millis() as u64;
        let (status, findings, actual) = match case.kind {
            Kind::Valid if diagnostics.is_empty() => (Status::Pass, Vec::new(), "accepted".to_owned()),
            Kind::Valid => (
                Status::Fail,
                diagnostics.iter().map(|d| finding(suite, d, &case.requirement)).collect(),
                "rejected".to_owned(),
            ),
            _ => compare(suite, case, &diagnostics),
        };
        results.push(result(suite, case, status, actual, findings, millis));
    }
    progress(cases.len(), cases.len());
    Ok(RunReport { mode: "suite".into(), profile: profile.into(), subject: "raccordo".into(), started: now(), results })
}

/// Checks a vendor's own produced messages: every file of `dir` (not its subfolders),
/// each finding named with the requirement it breaks.
pub fn messages(
    catalog: &Catalog,
    suite: &Suite,
    profile: &str,
    dir: &Path,
    progress: &dyn Fn(usize, usize),
) -> Result<RunReport, Error> {
    let io = |source| Error::Io { path: dir.to_owned(), source };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            p.is_file()
                && !name.ends_with(".expect.toml")
                && !name.ends_with(".expected.json")
                && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    let fallback = if profile == CANONICAL { "ENV-01".to_owned() } else { format!("PRF-{profile}") };
    let mut results = Vec::with_capacity(files.len());
    for (index, path) in files.iter().enumerate() {
        progress(index, files.len());
        let started = std::time::Instant::now();
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let diagnostics = check(catalog, profile, &bytes)?;
        let findings: Vec<Finding> = diagnostics.iter().map(|d| finding(suite, d, &fallback)).collect();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        results.push(CaseResult {
            id: name.clone(),
            title: name,
            requirement: findings.first().map_or_else(|| fallback.clone(), |f| f.requirement.clone()),
            mandatory: true,
            status: if findings.is_empty() { Status::Pass } else { Status::Fail },
            expected: "valid".into(),
            actual: if findings.is_empty() { "valid".into() } else { format!("{} problems", findings.len()) },
            findings,
            millis: started.elapsed().as_millis() as u64,
        });
    }
    progress(files.len(), files.len());
    Ok(RunReport {
        mode: "messages".into(),
        profile: profile.into(),
        subject: dir.display().to_string(),
        started: now(),
        results,
    })
}

/// How raccordo reaches the vendor's endpoint.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    pub token: Option<String>,
    /// PEM CA for the endpoint's certificate, and the client certificate and key.
    pub server_ca: Option<std::path::PathBuf>,
    pub certificate: Option<std::path::PathBuf>,
    pub private_key: Option<std::path::PathBuf>,
    /// For canonical cases: the `source` valid messages are sent with (the URN the
    /// endpoint knows this sender by). Each run also gives valid messages fresh ids.
    pub source: Option<String>,
    pub timeout: Duration,
}

/// What an endpoint answered, read.
#[derive(Debug, Clone, Default)]
struct Reply {
    status: u16,
    accepted: bool,
    codes: BTreeSet<String>,
    receipt: Option<Value>,
    /// What identifies the answer (the receipt's id, or the gateway's message id).
    identity: Option<String>,
    problem: Option<String>,
}

fn read_reply(status: u16, body: &[u8]) -> Reply {
    // A 2xx accepts, unless a receipt in it says otherwise.
    let mut reply = Reply { status, accepted: (200..300).contains(&status), ..Reply::default() };
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        reply.problem = Some("the answer is not JSON".into());
        return reply;
    };
    let receipt = if json["receipt"].is_object() {
        Some(json["receipt"].clone())
    } else if json["type"] == "it.raccordo.receipt.v1" {
        Some(json.clone())
    } else {
        None
    };
    let codes_of = |errors: &Value| -> BTreeSet<String> {
        errors.as_array().map_or_else(BTreeSet::new, |list| {
            list.iter().filter_map(|e| e["code"].as_str().map(str::to_owned)).collect()
        })
    };
    reply.codes = codes_of(&json["errors"]);
    if let Some(receipt) = &receipt {
        reply.codes.extend(codes_of(&receipt["data"]["errors"]));
        reply.identity = json["id"].as_str().or(receipt["id"].as_str()).map(str::to_owned);
    }
    let receipt_status = receipt.as_ref().and_then(|r| r["data"]["status"].as_str());
    reply.accepted = (200..300).contains(&status) && receipt_status != Some("rejected");
    reply.receipt = receipt;
    reply
}

/// Sends each applicable case to `target` in `profile` and checks the answers.
pub async fn target(
    catalog: &Catalog,
    suite: &Suite,
    assets: &Assets,
    profile: &str,
    target: &str,
    options: &TargetOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RunReport, Error> {
    let client = client(options)?;
    let cases: Vec<&Case> = suite.cases_of(profile).collect();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut results = Vec::with_capacity(cases.len());
    for (index, case) in cases.iter().enumerate() {
        progress(index, cases.len());
        let started = std::time::Instant::now();
        let bytes = assets.read(&format!("conformance/{}", case.input))?.into_owned();
        if case.kind == Kind::Undeliverable {
            // A promise to the receiver, kept by raccordo: a message its profile can't carry
            // is never written for it (and refused at the gateway's intake), so what it
            // receives always has what the requirement names. Checked here, not sent.
            let (status, findings, actual) = compare(suite, case, &undeliverable(catalog, profile, &bytes));
            let actual = format!("not sent: raccordo {}", actual.replacen("rejected", "refuses to write it", 1));
            results.push(result(suite, case, status, actual, findings, started.elapsed().as_millis() as u64));
            continue;
        }
        let body = prepare(profile, case, bytes, options, &run);
        let key = format!("conformance-{run}-{}", case.id.replace('/', "-"));
        let first = send(&client, target, profile, &body, &key, options).await;
        let mut findings = Vec::new();
        let actual = match &first {
            Ok(reply) => describe(reply),
            Err(error) => format!("no answer: {error}"),
        };
        match (&first, case.kind) {
            (Err(error), _) => findings.push(Finding {
                requirement: "XCH-01".into(),
                code: None,
                path: String::new(),
                message: format!("the endpoint did not answer: {error}"),
            }),
            (Ok(reply), Kind::Valid) => check_accepted(reply, &mut findings),
            (Ok(reply), Kind::Invalid | Kind::Undeliverable) => check_rejected(suite, case, reply, &mut findings),
            (Ok(reply), Kind::Resend) => {
                check_accepted(reply, &mut findings);
                match send(&client, target, profile, &body, &key, options).await {
                    Ok(again) if again.identity.is_none() => findings.push(Finding {
                        requirement: "XCH-03".into(),
                        code: None,
                        path: String::new(),
                        message: "the answer to the resend carries no id to compare with the first".into(),
                    }),
                    Ok(again) if again.status == reply.status && again.identity == reply.identity => {}
                    Ok(again) => findings.push(Finding {
                        requirement: "XCH-03".into(),
                        code: None,
                        path: String::new(),
                        message: format!(
                            "the resend was answered {} ({}), the first sending {} ({})",
                            again.status,
                            again.identity.as_deref().unwrap_or("no id"),
                            reply.status,
                            reply.identity.as_deref().unwrap_or("no id")
                        ),
                    }),
                    Err(error) => findings.push(Finding {
                        requirement: "XCH-03".into(),
                        code: None,
                        path: String::new(),
                        message: format!("the resend got no answer: {error}"),
                    }),
                }
            }
        }
        let status = if findings.is_empty() { Status::Pass } else { Status::Fail };
        results.push(result(suite, case, status, actual, findings, started.elapsed().as_millis() as u64));
    }
    progress(cases.len(), cases.len());
    Ok(RunReport { mode: "target".into(), profile: profile.into(), subject: target.into(), started: now(), results })
}

fn describe(reply: &Reply) -> String {
    let verdict = if reply.accepted { "accepted" } else { "rejected" };
    let codes: Vec<&str> = reply.codes.iter().map(String::as_str).collect();
    let receipt = if reply.receipt.is_some() { "with a receipt" } else { "without a receipt" };
    if codes.is_empty() {
        format!("HTTP {}, {verdict}, {receipt}", reply.status)
    } else {
        format!("HTTP {}, {verdict}, {receipt}, codes {}", reply.status, codes.join(", "))
    }
}

fn check_accepted(reply: &Reply, findings: &mut Vec<Finding>) {
    if !reply.accepted {
        findings.push(Finding {
            requirement: "XCH-01".into(),
            code: reply.codes.iter().next().cloned(),
            path: String::new(),
            message: format!("a valid message was refused (HTTP {})", reply.status),
        });
    } else if reply.receipt.is_none() {
        findings.push(Finding {
            requirement: "XCH-01".into(),
            code: None,
            path: String::new(),
            message: reply.problem.clone().unwrap_or_else(|| "the answer carries no receipt".into()),
        });
    }
}

fn check_rejected(suite: &Suite, case: &Case, reply: &Reply, findings: &mut Vec<Finding>) {
    if reply.accepted {
        findings.push(Finding {
            requirement: "XCH-02".into(),
            code: None,
            path: String::new(),
            message: format!("an invalid message was accepted (HTTP {})", reply.status),
        });
        return;
    }
    // Codes are compared, not locations: a vendor may locate a problem in its own terms.
    for expected in &case.errors {
        if !reply.codes.contains(&expected.code) {
            findings.push(Finding {
                requirement: suite.requirement_of(&expected.code).map_or_else(|| "XCH-02".into(), |r| r.id.clone()),
                code: Some(expected.code.clone()),
                path: expected.path.clone(),
                message: "the rejection does not name this expected code".into(),
            });
        }
    }
}

/// The bytes to send: canonical valid messages get the configured source and a fresh id.
fn prepare(profile: &str, case: &Case, bytes: Vec<u8>, options: &TargetOptions, run: &str) -> Vec<u8> {
    if profile != CANONICAL || case.kind == Kind::Invalid {
        return bytes;
    }
    let Ok(mut message) = serde_json::from_slice::<Value>(&bytes) else { return bytes };
    if let Some(source) = &options.source {
        message["source"] = Value::String(source.clone());
    }
    if let Some(id) = message["id"].as_str() {
        let mut fresh = format!("{}-{}", &run[..12], id);
        fresh.truncate(128);
        message["id"] = Value::String(fresh);
    }
    serde_json::to_vec(&message).unwrap_or(bytes)
}

fn content_type(profile: &str, body: &[u8]) -> &'static str {
    let start = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match (profile, start) {
        (CANONICAL, _) | (_, Some(b'{')) | (_, Some(b'[')) => "application/json",
        (_, Some(b'<')) => "application/xml",
        (profile, _) if profile.ends_with("csv") => "text/csv",
        _ => "text/plain",
    }
}

fn client(options: &TargetOptions) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder().timeout(options.timeout);
    let read =
        |path: &std::path::PathBuf| std::fs::read(path).map_err(|source| Error::Io { path: path.clone(), source });
    if let Some(ca) = &options.server_ca {
        let certificate = reqwest::Certificate::from_pem(&read(ca)?).map_err(|e| Error::Usage(format!("--ca: {e}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    if let (Some(certificate), Some(key)) = (&options.certificate, &options.private_key) {
        let identity = reqwest::Identity::from_pkcs8_pem(&read(certificate)?, &read(key)?)
            .map_err(|e| Error::Usage(format!("--cert/--key: {e}")))?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| Error::Internal(format!("HTTP client: {e}")))
}

async fn send(
    client: &reqwest::Client,
    target: &str,
    profile: &str,
    body: &[u8],
    key: &str,
    options: &TargetOptions,
) -> Result<Reply, String> {
    let mut request = client
        .post(target)
        .header(reqwest::header::CONTENT_TYPE, content_type(profile, body))
        .header("Raccordo-Profile", profile)
        .header("Idempotency-Key", key)
        .body(body.to_vec());
    if let Some(token) = &options.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| e.without_url().to_string())?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.without_url().to_string())?;
    Ok(read_reply(status, &bytes))
}

fn now() -> String {
    crate::clock::Clock::System.now_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_from_gateway_answers_receipts_and_problems() {
        let accepted = br#"{"id":"m1","status":"accepted","receipt":{"id":"r1","type":"it.raccordo.receipt.v1","data":{"status":"accepted"}}}"#;
        let reply = read_reply(202, accepted);
        assert!(reply.accepted && reply.receipt.is_some());
        assert_eq!(reply.identity.as_deref(), Some("m1"));
        let problem = br#"{"status":422,"errors":[{"code":"RAC-3101","path":"/data"}]}"#;
        let reply = read_reply(422, problem);
        assert!(!reply.accepted);
        assert!(reply.codes.contains("RAC-3101"));
        let rejected = br#"{"id":"r2","type":"it.raccordo.receipt.v1","data":{"status":"rejected","errors":[{"code":"RAC-3001"}]}}"#;
        let reply = read_reply(200, rejected);
        assert!(!reply.accepted && reply.codes.contains("RAC-3001"));
        let bare = read_reply(200, b"ok");
        assert!(bare.accepted && bare.receipt.is_none() && bare.problem.is_some());
    }
}
