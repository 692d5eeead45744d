//! The conformance runner against receiving systems built from the standard's text: a
//! receiver that follows it passes every case, and each deliberately broken one fails with
//! the requirement it breaks named. Grow this set with every way a vendor's endpoint is
//! found to break the standard while passing the suite.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use raccordo::assets::Assets;
use raccordo::conformance::run::{self, RunReport, Status, TargetOptions};
use raccordo::conformance::{report, Suite};
use raccordo::error::Severity;
use raccordo::ingest::{Catalog, CANONICAL};
use raccordo::mapping::spec::FormatKind;
use serde_json::{json, Value};

/// What a receiver gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// Nothing: it follows docs/STANDARD.md.
    None,
    /// Its receipts name another message.
    WrongIds,
    /// Its receipts lack what receipt.v1 requires (`dataschema`, `receivedAt`).
    InvalidReceipt,
    /// It refuses invalid messages with a code of its own choosing.
    WrongCodes,
    /// It processes a resend as a new message, with a new receipt.
    NoIdempotency,
    /// It accepts whatever it is sent.
    AcceptsEverything,
    /// It answers JSON labelled text/plain.
    PlainTextAnswers,
    /// It takes any Content-Type.
    IgnoresMediaType,
    /// It refuses invalid messages with 500, which the gateway would retry for ever.
    ServerErrorOnInvalid,
    /// It deduplicates on the body's bytes alone, so two cases with the same bytes (a
    /// resend case and its valid case, in a format without an id) are one message to it.
    DeduplicatesOnBytes,
}

struct Receiver {
    catalog: Catalog,
    profile: String,
    flaw: Flaw,
    answers: Mutex<HashMap<String, (u16, &'static str, String)>>,
}

fn problem(status: u16, code: &str, errors: Vec<Value>) -> (u16, &'static str, String) {
    let body = json!({ "type": format!("https://example.org/errors#{code}"), "title": "refused", "status": status, "code": code, "errors": errors });
    (status, "application/problem+json", body.to_string())
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (status, content_type, text) = answer(&receiver, &header, &body);
    let status = axum::http::StatusCode::from_u16(status).unwrap();
    (status, [(header::CONTENT_TYPE, content_type)], text).into_response()
}

fn answer(receiver: &Receiver, header: &dyn Fn(&str) -> String, body: &[u8]) -> (u16, &'static str, String) {
    let format = match receiver.profile.as_str() {
        CANONICAL => FormatKind::Json,
        profile => receiver.catalog.profiles.get(profile).unwrap().format,
    };
    let media = header("content-type").split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let fits = match format {
        FormatKind::Json => media == "application/json",
        FormatKind::Xml => media == "application/xml" || media == "text/xml",
        FormatKind::Csv => media == "text/csv",
        FormatKind::Fixed => media == "text/plain",
    };
    if !fits && receiver.flaw != Flaw::IgnoresMediaType {
        return problem(415, "RAC-8004", Vec::new());
    }
    let (id, source) = (header("ce-id"), header("ce-source"));
    let key = match receiver.flaw {
        Flaw::DeduplicatesOnBytes => format!("{:x}", md5_like(body)),
        _ => format!("{source} {id}"),
    };
    if receiver.flaw != Flaw::NoIdempotency {
        if let Some(answer) = receiver.answers.lock().unwrap().get(&key) {
            return answer.clone();
        }
    }
    let now = "2026-06-01T12:00:00Z";
    let (diagnostics, body_id): (Vec<_>, Option<String>) = if receiver.profile == CANONICAL {
        let message: Option<Value> = serde_json::from_slice(body).ok();
        let validation = raccordo::ingest::validate_canonical(&receiver.catalog.standard, body, 1 << 20);
        (validation.diagnostics, message.and_then(|m| m["id"].as_str().map(str::to_owned)))
    } else {
        let profile = receiver.catalog.profile(&receiver.profile).unwrap();
        let outcomes = receiver.catalog.to_canonical(profile, body, &source, now);
        let id = outcomes.first().and_then(|o| o.output.as_ref()).and_then(|m| m["id"].as_str().map(str::to_owned));
        (outcomes.into_iter().flat_map(|o| o.diagnostics).collect(), id.filter(|id| !id.starts_with("raccordo-")))
    };
    // A body that names its message must name the one the headers name (XCH-01).
    if diagnostics.is_empty() && body_id.as_ref().is_some_and(|body_id| *body_id != id) {
        return problem(
            422,
            "RAC-3000",
            vec![json!({ "code": "RAC-3000", "path": "", "message": "the body's id is not ce-id" })],
        );
    }
    let errors: Vec<Value> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            let code = if receiver.flaw == Flaw::WrongCodes { "RAC-3000".to_owned() } else { d.code.id() };
            json!({ "code": code, "path": d.path, "message": d.message })
        })
        .collect();
    let answer = match (errors.is_empty(), receiver.flaw) {
        (false, Flaw::ServerErrorOnInvalid) => problem(500, "RAC-9001", errors),
        (false, flaw) if flaw != Flaw::AcceptsEverything => problem(422, "RAC-3000", errors),
        _ => {
            let named = if receiver.flaw == Flaw::WrongIds { format!("{id}-other") } else { id.clone() };
            let count = receiver.answers.lock().unwrap().len();
            let mut receipt = json!({
                "specversion": "1.0", "id": format!("receipt-{count}-{}", uuid::Uuid::new_v4().simple()),
                "source": "urn:raccordo:social:RECEIVER", "type": "it.raccordo.receipt.v1", "time": now,
                "dataschema": "https://raccordo.github.io/schemas/standard/receipt.v1.schema.json",
                "datacontenttype": "application/json", "causationid": named,
                "data": { "messageId": named, "messageSource": source, "status": "accepted", "receivedAt": now }
            });
            if !header("ce-type").is_empty() {
                receipt["data"]["messageType"] = Value::String(header("ce-type"));
            }
            if receiver.flaw == Flaw::InvalidReceipt {
                receipt.as_object_mut().unwrap().remove("dataschema");
                receipt["data"].as_object_mut().unwrap().remove("receivedAt");
            }
            let content_type = if receiver.flaw == Flaw::PlainTextAnswers { "text/plain" } else { "application/json" };
            (200, content_type, receipt.to_string())
        }
    };
    if (200..300).contains(&answer.0) {
        receiver.answers.lock().unwrap().insert(key, answer.clone());
    }
    answer
}

/// A short digest of the bytes (FNV-1a; only equality matters here).
fn md5_like(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

async fn start(profile: &str, flaw: Flaw) -> String {
    let receiver = Arc::new(Receiver {
        catalog: Catalog::load(&Assets::Embedded).unwrap(),
        profile: profile.to_owned(),
        flaw,
        answers: Mutex::new(HashMap::new()),
    });
    let app = Router::new().route("/inbox", post(receive)).with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/inbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn run_against(profile: &str, url: &str, suite: &Suite) -> RunReport {
    let assets = Assets::Embedded;
    let options = TargetOptions { timeout: std::time::Duration::from_secs(10), ..TargetOptions::default() };
    run::target(&Catalog::load(&assets).unwrap(), suite, &assets, profile, url, &options, &|_, _| {}).await.unwrap()
}

/// The requirements the failures name.
fn named(report: &RunReport) -> std::collections::BTreeSet<String> {
    report.results.iter().flat_map(|r| r.findings.iter().map(|f| f.requirement.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_follows_the_standard_passes_and_each_broken_one_fails_naming_what_it_breaks() {
    let suite = Suite::load(&Assets::Embedded).unwrap();
    for profile in [CANONICAL, "social-json", "sui-xml", "cpi-unilav"] {
        let good = run_against(profile, &start(profile, Flaw::None).await, &suite).await;
        assert!(good.passed() && good.count(Status::Fail) == 0, "{profile}: {}", report::summary(&good, &suite));
        assert!(good.count(Status::Pass) > 20, "{profile}: only {} cases passed", good.count(Status::Pass));

        let expectations: [(Flaw, &str, &str); 9] = [
            (Flaw::WrongIds, "XCH-01", "does not name the message"),
            (Flaw::InvalidReceipt, "XCH-01", "not valid against receipt.v1"),
            (Flaw::NoIdempotency, "XCH-03", "the resend was answered"),
            (Flaw::AcceptsEverything, "XCH-02", "an invalid message was accepted"),
            (Flaw::PlainTextAnswers, "XCH-01", "Content-Type is text/plain"),
            (Flaw::IgnoresMediaType, "XCH-04", "not 415"),
            (Flaw::ServerErrorOnInvalid, "XCH-02", "the gateway retries a 5xx"),
            (Flaw::DeduplicatesOnBytes, "XCH-01", "does not name the message"),
            (Flaw::WrongCodes, "", "the rejection does not name this expected code"),
        ];
        for (flaw, requirement, words) in expectations {
            if flaw == Flaw::DeduplicatesOnBytes && profile != "cpi-unilav" {
                // Bodies that carry the id differ from case to case: no harm there.
                continue;
            }
            let report = run_against(profile, &start(profile, flaw).await, &suite).await;
            assert!(!report.passed(), "{profile}: {flaw:?} passed the suite");
            let findings: Vec<_> = report.results.iter().flat_map(|r| r.findings.iter()).collect();
            assert!(
                findings
                    .iter()
                    .any(|f| (requirement.is_empty() || f.requirement == requirement) && f.message.contains(words)),
                "{profile}: {flaw:?} not reported as {requirement} \"{words}\": {}",
                report::summary(&report, &suite)
            );
            if flaw == Flaw::WrongCodes {
                // Each missing code is reported as a breach of its own requirement.
                let requirements = named(&report);
                assert!(requirements.iter().any(|r| r != "XCH-02" && !r.starts_with("XCH")), "{requirements:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemic_failures_stop_the_run_with_one_clear_finding() {
    let suite = Suite::load(&Assets::Embedded).unwrap();
    // Every answer 401: the token is wrong, not 371 cases.
    let app = Router::new().route("/inbox", post(|| async { (axum::http::StatusCode::UNAUTHORIZED, "no") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/inbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let report = run_against(CANONICAL, &url, &suite).await;
    assert_eq!(report.count(Status::Fail), 1, "{}", report::summary(&report, &suite));
    assert!(report.stopped.as_deref().unwrap().contains("HTTP 401"));
    assert!(report.results.last().unwrap().findings[0].message.contains("--token"));
    assert!(report::summary(&report, &suite).contains("STOPPED"));

    // Nothing listens: one finding, not one per case.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/inbox", listener.local_addr().unwrap());
    drop(listener);
    let report = run_against(CANONICAL, &url, &suite).await;
    assert_eq!(report.count(Status::Fail), 1);
    assert!(report.stopped.as_deref().unwrap().contains("no connection"), "{:?}", report.stopped);
}
