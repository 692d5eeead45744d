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
    /// The system under test, as the vendor names it (`--system`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The raccordo version that ran the checks; its documents state the requirements.
    pub raccordo: String,
    /// The suite's version: the standard's major version and a digest of the requirements
    /// and cases, which changes whenever a case or a requirement does.
    pub suite: String,
    pub started: String,
    /// Why the run stopped before its last case (a systemic failure), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub results: Vec<CaseResult>,
}

/// The failures of one requirement, as the reports group them.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub requirement: String,
    pub cases: Vec<&'a CaseResult>,
    /// The finding most cases share: where to start fixing.
    pub first_finding: Option<&'a Finding>,
}

impl RunReport {
    pub fn new(mode: &str, profile: &str, subject: &str, suite: &Suite, results: Vec<CaseResult>) -> RunReport {
        RunReport {
            mode: mode.into(),
            profile: profile.into(),
            subject: subject.into(),
            system: None,
            raccordo: env!("CARGO_PKG_VERSION").into(),
            suite: suite.version.clone(),
            started: now(),
            stopped: None,
            results,
        }
    }

    /// Failed cases grouped by the requirement they check, the largest group first.
    pub fn failures_by_requirement(&self) -> Vec<Group<'_>> {
        let mut groups: Vec<Group<'_>> = Vec::new();
        for result in self.results.iter().filter(|r| r.status == Status::Fail) {
            let requirement =
                result.findings.first().map_or_else(|| result.requirement.clone(), |f| f.requirement.clone());
            match groups.iter_mut().find(|g| g.requirement == requirement) {
                Some(group) => group.cases.push(result),
                None => groups.push(Group { requirement, cases: vec![result], first_finding: None }),
            }
        }
        for group in &mut groups {
            group.first_finding = group.cases.iter().find_map(|c| c.findings.first());
        }
        groups.sort_by(|a, b| b.cases.len().cmp(&a.cases.len()).then_with(|| a.requirement.cmp(&b.requirement)));
        groups
    }

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
        Kind::MediaType => "refused with 415 (RAC-8004)".into(),
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
        if matches!(case.kind, Kind::Resend | Kind::MediaType) {
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
    Ok(RunReport::new("suite", profile, "raccordo", suite, results))
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
    Ok(RunReport::new("messages", profile, &dir.display().to_string(), suite, results))
}

/// How raccordo reaches the vendor's endpoint.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    pub token: Option<String>,
    /// PEM CA for the endpoint's certificate, and the client certificate and key.
    pub server_ca: Option<std::path::PathBuf>,
    pub certificate: Option<std::path::PathBuf>,
    pub private_key: Option<std::path::PathBuf>,
    /// The `source` messages are sent with (the URN the endpoint knows this sender by).
    /// Default: `urn:raccordo:<the profile's party kind>:CONFORMANCE`, or the canonical
    /// case's own.
    pub source: Option<String>,
    pub timeout: Duration,
}

/// What an endpoint answered, read.
#[derive(Debug, Clone, Default)]
struct Reply {
    status: u16,
    /// The answer's media type, lower case, without parameters.
    media_type: String,
    accepted: bool,
    codes: BTreeSet<String>,
    receipt: Option<Value>,
    /// What identifies the answer (the receipt's id, or the gateway's message id).
    identity: Option<String>,
    problem: Option<String>,
}

fn read_reply(status: u16, media_type: &str, body: &[u8]) -> Reply {
    // A 2xx accepts, unless a receipt in it says otherwise.
    let mut reply =
        Reply { status, media_type: media_type.to_owned(), accepted: (200..300).contains(&status), ..Reply::default() };
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        reply.problem = Some("the answer is not JSON".into());
        return reply;
    };
    let receipt = if json["receipt"].is_object() {
        Some(json["receipt"].clone())
    } else if json["type"].as_str().is_some_and(|t| t.starts_with("it.raccordo.receipt.v1")) {
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
    if let Some(code) = json["code"].as_str().filter(|_| json["errors"].as_array().is_none_or(Vec::is_empty)) {
        // A problem document with no list: its own code is the error.
        reply.codes.insert(code.to_owned());
    }
    if let Some(receipt) = &receipt {
        reply.codes.extend(codes_of(&receipt["data"]["errors"]));
        reply.identity = json["id"].as_str().or(receipt["id"].as_str()).map(str::to_owned);
    }
    let receipt_status = receipt.as_ref().and_then(|r| r["data"]["status"].as_str());
    reply.accepted = (200..300).contains(&status) && receipt_status != Some("rejected");
    reply.receipt = receipt;
    reply
}

/// What one case sends: the body and the identity of the message it carries, as the
/// gateway's deliveries give it (docs/STANDARD.md, XCH-01).
#[derive(Debug, Clone)]
struct Sending {
    body: Vec<u8>,
    content_type: &'static str,
    /// `ce-id`, `ce-source`, `ce-type`: the canonical message's identity.
    id: String,
    source: String,
    type_id: Option<String>,
    /// `Raccordo-Message-Id`: the id the gateway would give the message.
    gateway_id: String,
    /// `Idempotency-Key`: one per case, the same when the case is sent again.
    key: String,
}

/// Consecutive answers of the same systemic kind (no connection, 401, 403, 404, 405, 407)
/// after which the run stops: every further case would fail for the same reason.
const SYSTEMIC_AFTER: usize = 3;

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
    // The same systemic answer, case after case, since this index of `results`.
    let mut systemic: Vec<String> = Vec::new();
    let mut systemic_from = 0;
    let mut stopped = None;
    for (index, case) in cases.iter().enumerate() {
        progress(index, cases.len());
        let started = std::time::Instant::now();
        let bytes = assets.read(&format!("conformance/{}", case.input))?;
        if case.kind == Kind::Undeliverable {
            // A promise to the receiver, kept by raccordo: a message its profile can't carry
            // is never written for it (and refused at the gateway's intake), so what it
            // receives always has what the requirement names. Checked here, not sent.
            let (status, findings, actual) = compare(suite, case, &undeliverable(catalog, profile, &bytes));
            let actual = format!("not sent: raccordo {}", actual.replacen("rejected", "refuses to write it", 1));
            results.push(result(suite, case, status, actual, findings, started.elapsed().as_millis() as u64));
            continue;
        }
        if case.message_type == "receipt" {
            let actual = "not sent: a receipt is an answer, never delivered (XCH-01); checked without --target".into();
            results.push(result(suite, case, Status::Skip, actual, Vec::new(), 0));
            continue;
        }
        let sending = prepare(catalog, profile, case, bytes, options, &run, index);
        let first = send(&client, target, profile, case, &sending, options).await;
        match systemic_kind(&first) {
            Some(kind) if systemic.iter().all(|k| *k == kind) => {
                if systemic.is_empty() {
                    systemic_from = results.len();
                }
                systemic.push(kind);
            }
            _ => systemic.clear(),
        }
        if systemic.len() >= SYSTEMIC_AFTER {
            stopped = Some(format!(
                "stopped after {} cases: every answer was {}; {}",
                systemic.len(),
                systemic[0],
                advice(&systemic[0])
            ));
            results.truncate(systemic_from);
            results.push(CaseResult {
                id: "exchange/reachable".into(),
                title: "the endpoint can be reached and takes this sender's messages".into(),
                requirement: "XCH-01".into(),
                mandatory: true,
                status: Status::Fail,
                expected: "answers that judge the messages".into(),
                actual: format!("every answer was {}", systemic[0]),
                findings: vec![Finding {
                    requirement: "XCH-01".into(),
                    code: None,
                    path: String::new(),
                    message: advice(&systemic[0]),
                }],
                millis: started.elapsed().as_millis() as u64,
            });
            break;
        }
        let mut findings = Vec::new();
        let actual = match &first {
            Ok(reply) => describe(reply),
            Err(error) => format!("no answer: {error}"),
        };
        match (&first, case.kind) {
            (Err(error), _) => findings.push(finding_of("XCH-01", format!("the endpoint did not answer: {error}"))),
            (Ok(reply), Kind::Valid) => check_accepted(catalog, &sending, reply, &mut findings),
            (Ok(reply), Kind::Invalid | Kind::Undeliverable) => {
                check_rejected(catalog, suite, case, &sending, reply, &mut findings)
            }
            (Ok(reply), Kind::MediaType) => check_media_type(reply, &mut findings),
            (Ok(reply), Kind::Resend) => {
                check_accepted(catalog, &sending, reply, &mut findings);
                let again = send(&client, target, profile, case, &sending, options).await;
                check_resend(reply, again, &mut findings);
            }
        }
        let status = if findings.is_empty() { Status::Pass } else { Status::Fail };
        results.push(result(suite, case, status, actual, findings, started.elapsed().as_millis() as u64));
    }
    progress(cases.len(), cases.len());
    Ok(RunReport { stopped, ..RunReport::new("target", profile, target, suite, results) })
}

fn finding_of(requirement: &str, message: String) -> Finding {
    Finding { requirement: requirement.into(), code: None, path: String::new(), message }
}

/// The kind of a failure that says nothing about the case, only about the exchange.
fn systemic_kind(reply: &Result<Reply, String>) -> Option<String> {
    match reply {
        Err(_) => Some("no connection".into()),
        Ok(reply) if matches!(reply.status, 401 | 403 | 404 | 405 | 407) => Some(format!("HTTP {}", reply.status)),
        Ok(_) => None,
    }
}

fn advice(kind: &str) -> String {
    match kind {
        "HTTP 401" | "HTTP 407" => {
            "the endpoint does not take the credentials: check --token, or --cert and --key".into()
        }
        "HTTP 403" => "the endpoint refuses this sender: check --source and what the endpoint grants it".into(),
        "HTTP 404" | "HTTP 405" => {
            "nothing receives messages at this URL: check --target (the full URL, with its path)".into()
        }
        _ => "the endpoint cannot be reached: check --target, that the system is running, and --ca for TLS".into(),
    }
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

/// The answer is JSON, as XCH-01 and XCH-02 want it, with a Content-Type saying so.
fn check_json(reply: &Reply, findings: &mut Vec<Finding>, requirement: &str) {
    if let Some(problem) = &reply.problem {
        findings.push(finding_of(requirement, problem.clone()));
    } else if !(reply.media_type == "application/json" || reply.media_type.ends_with("+json")) {
        let shown = if reply.media_type.is_empty() { "missing" } else { reply.media_type.as_str() };
        findings.push(finding_of(
            requirement,
            format!("the answer's Content-Type is {shown}: application/json or application/problem+json"),
        ));
    }
}

/// A receipt valid against `receipt.v1` that names the message sent: its id and source,
/// and the id again as its `causationid`.
fn check_receipt(
    catalog: &Catalog,
    sending: &Sending,
    receipt: &Value,
    findings: &mut Vec<Finding>,
    requirement: &str,
) {
    let validation = catalog.standard.validate(receipt);
    if validation.message_type.as_deref() != Some("receipt") && validation.message_type.is_some() {
        findings.push(finding_of(requirement, "the answer's receipt is not of the type it.raccordo.receipt.v1".into()));
    }
    for diagnostic in validation.diagnostics.iter().filter(|d| d.severity == crate::error::Severity::Error) {
        findings.push(Finding {
            requirement: requirement.into(),
            code: Some(diagnostic.code.id()),
            path: format!("receipt{}", diagnostic.path),
            message: format!("the receipt is not valid against receipt.v1: {}", diagnostic.message),
        });
    }
    let named = [
        ("/data/messageId", sending.id.as_str(), "ce-id"),
        ("/data/messageSource", sending.source.as_str(), "ce-source"),
        ("/causationid", sending.id.as_str(), "ce-id"),
    ];
    for (pointer, expected, header) in named {
        match receipt.pointer(pointer).and_then(Value::as_str) {
            Some(found) if found == expected => {}
            found => findings.push(Finding {
                requirement: requirement.into(),
                code: None,
                path: format!("receipt{pointer}"),
                message: format!(
                    "the receipt does not name the message: {} where the {header} header (and the message) says {expected:?}",
                    found.map_or_else(|| "nothing".to_owned(), |f| format!("{f:?}"))
                ),
            }),
        }
    }
}

fn check_accepted(catalog: &Catalog, sending: &Sending, reply: &Reply, findings: &mut Vec<Finding>) {
    if !reply.accepted {
        findings.push(Finding {
            requirement: "XCH-01".into(),
            code: reply.codes.iter().next().cloned(),
            path: String::new(),
            message: format!("a valid message was refused (HTTP {})", reply.status),
        });
        return;
    }
    check_json(reply, findings, "XCH-01");
    match &reply.receipt {
        Some(receipt) => check_receipt(catalog, sending, receipt, findings, "XCH-01"),
        None if reply.problem.is_none() => findings.push(finding_of("XCH-01", "the answer carries no receipt".into())),
        None => {}
    }
}

fn check_rejected(
    catalog: &Catalog,
    suite: &Suite,
    case: &Case,
    sending: &Sending,
    reply: &Reply,
    findings: &mut Vec<Finding>,
) {
    if reply.accepted {
        findings.push(finding_of("XCH-02", format!("an invalid message was accepted (HTTP {})", reply.status)));
        return;
    }
    if reply.status >= 500 {
        findings.push(finding_of(
            "XCH-02",
            format!(
                "refused with HTTP {}: the gateway retries a 5xx, a message that will never be accepted gets a 4xx",
                reply.status
            ),
        ));
    }
    check_json(reply, findings, "XCH-02");
    if let Some(receipt) = &reply.receipt {
        check_receipt(catalog, sending, receipt, findings, "XCH-02");
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

fn check_media_type(reply: &Reply, findings: &mut Vec<Finding>) {
    if reply.status != 415 {
        findings.push(Finding {
            requirement: "XCH-04".into(),
            code: Some("RAC-8004".into()),
            path: String::new(),
            message: format!("a body sent as text/html was answered HTTP {}, not 415", reply.status),
        });
    }
}

fn check_resend(first: &Reply, again: Result<Reply, String>, findings: &mut Vec<Finding>) {
    match again {
        Ok(again) if again.identity.is_none() => findings
            .push(finding_of("XCH-03", "the answer to the resend carries no id to compare with the first".into())),
        Ok(again) if again.status == first.status && again.identity == first.identity => {}
        Ok(again) => findings.push(finding_of(
            "XCH-03",
            format!(
                "the resend was answered {} ({}), the first sending {} ({})",
                again.status,
                again.identity.as_deref().unwrap_or("no id"),
                first.status,
                first.identity.as_deref().unwrap_or("no id")
            ),
        )),
        Err(error) => findings.push(finding_of("XCH-03", format!("the resend got no answer: {error}"))),
    }
}

/// The bytes to send and the identity they carry. Valid messages (and resends) get an id
/// of their own, so that no two cases, and no two runs, send the same message: in the
/// canonical body (with the configured `source`), in a JSON profile's field that carries
/// the id, and always in the `ce-id` header. Invalid inputs are sent as they are.
fn prepare(
    catalog: &Catalog,
    profile: &str,
    case: &Case,
    bytes: Vec<u8>,
    options: &TargetOptions,
    run: &str,
    index: usize,
) -> Sending {
    let fresh = format!("conformance-{}-{index:04}", &run[..12]);
    let kind = catalog.profiles.get(profile).map_or("cpi", |p| p.party_kind.as_str());
    let default_source = options.source.clone().unwrap_or_else(|| format!("urn:raccordo:{kind}:CONFORMANCE"));
    let gateway_id = uuid::Uuid::now_v7().to_string();
    let key = format!("conformance-{}-{}", &run[..12], case.id.replace('/', "-"));
    let content_type = match case.kind {
        Kind::MediaType => "text/html",
        _ => content_type(profile, &bytes),
    };
    let mut sending = Sending {
        body: bytes,
        content_type,
        id: fresh.clone(),
        source: default_source.clone(),
        type_id: None,
        gateway_id,
        key,
    };
    let renew = matches!(case.kind, Kind::Valid | Kind::Resend | Kind::MediaType);
    if profile == CANONICAL {
        let Ok(mut message) = serde_json::from_slice::<Value>(&sending.body) else { return sending };
        if renew {
            message["id"] = Value::String(fresh);
            message["source"] = Value::String(
                options
                    .source
                    .clone()
                    .unwrap_or_else(|| message["source"].as_str().map_or(default_source, str::to_owned)),
            );
            if let Ok(body) = serde_json::to_vec(&message) {
                sending.body = body;
            }
        }
        sending.id = message["id"].as_str().map_or(sending.id, str::to_owned);
        sending.source = message["source"].as_str().map_or(sending.source, str::to_owned);
        sending.type_id = message["type"].as_str().map(str::to_owned);
        return sending;
    }
    // A party profile: the field whose value became the canonical id carries the new one
    // (an id derived from the bytes has no field: `ce-id` alone carries it).
    let Some(found) = catalog.profiles.get(profile) else { return sending };
    let translated = catalog.to_canonical(found, &sending.body, &sending.source, TIME);
    let canonical = translated.first().and_then(|o| o.output.as_ref());
    sending.type_id = canonical.and_then(|m| m["type"].as_str()).map(str::to_owned);
    let carried = canonical.and_then(|m| m["id"].as_str()).filter(|id| !id.starts_with("raccordo-"));
    if let (true, Some(old)) = (renew, carried) {
        if let Some(body) = with_id(&sending.body, old, &sending.id) {
            sending.body = body;
        }
    }
    sending
}

/// `body` with the party's id `old` replaced by `new`: in a JSON document, the top-level
/// members holding it; in an XML document, the elements whose whole text it is. `None`
/// when the body holds it nowhere.
fn with_id(body: &[u8], old: &str, new: &str) -> Option<Vec<u8>> {
    if let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(body) {
        let names: Vec<String> =
            members.iter().filter(|(_, value)| value.as_str() == Some(old)).map(|(name, _)| name.clone()).collect();
        for name in &names {
            members.insert(name.clone(), Value::String(new.to_owned()));
        }
        return (!names.is_empty()).then(|| serde_json::to_vec(&Value::Object(members)).ok()).flatten();
    }
    let text = std::str::from_utf8(body).ok()?;
    let element = format!(">{old}<");
    text.contains(&element).then(|| text.replace(&element, &format!(">{new}<")).into_bytes())
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
    case: &Case,
    sending: &Sending,
    options: &TargetOptions,
) -> Result<Reply, String> {
    let mut request = client
        .post(target)
        .header(reqwest::header::CONTENT_TYPE, sending.content_type)
        .header("Idempotency-Key", &sending.key)
        .header("Raccordo-Message-Id", &sending.gateway_id)
        .header("Raccordo-Profile", profile)
        .header("Raccordo-Conformance-Case", &case.id)
        .header("ce-specversion", "1.0")
        .header("ce-id", &sending.id)
        .header("ce-source", &sending.source)
        .body(sending.body.clone());
    if let Some(type_id) = &sending.type_id {
        request = request.header("ce-type", type_id);
    }
    if let Some(token) = &options.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| e.without_url().to_string())?;
    let status = response.status().as_u16();
    let media_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let bytes = response.bytes().await.map_err(|e| e.without_url().to_string())?;
    Ok(read_reply(status, &media_type, &bytes))
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
        let reply = read_reply(202, "application/json", accepted);
        assert!(reply.accepted && reply.receipt.is_some());
        assert_eq!(reply.identity.as_deref(), Some("m1"));
        let problem = br#"{"status":422,"errors":[{"code":"RAC-3101","path":"/data"}]}"#;
        let reply = read_reply(422, "application/problem+json", problem);
        assert!(!reply.accepted);
        assert!(reply.codes.contains("RAC-3101"));
        let rejected = br#"{"id":"r2","type":"it.raccordo.receipt.v1","data":{"status":"rejected","errors":[{"code":"RAC-3001"}]}}"#;
        let reply = read_reply(200, "application/json", rejected);
        assert!(!reply.accepted && reply.codes.contains("RAC-3001"));
        let bare = read_reply(200, "text/plain", b"ok");
        assert!(bare.accepted && bare.receipt.is_none() && bare.problem.is_some());
    }
}
