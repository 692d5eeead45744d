//! The conformance suite: its manifest lists every vector, every case checks a known
//! requirement, raccordo passes its own suite, and the runner names each failure of a
//! deliberately non-conforming endpoint in its JSON, JUnit and HTML reports.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use raccordo::assets::Assets;
use raccordo::conformance::run::{self, Status, TargetOptions};
use raccordo::conformance::{discover, render_manifest, report, Kind, Suite};
use raccordo::ingest::Catalog;
use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_manifest_lists_every_vector_and_checks_known_requirements() {
    let assets = Assets::Folder(root().to_owned());
    let cases = discover(&assets).unwrap();
    let text = render_manifest(&cases).unwrap();
    let path = root().join("conformance/suite.toml");
    if std::env::var("UPDATE_EXPECT").is_ok() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == text, "conformance/suite.toml is stale: run UPDATE_EXPECT=1 cargo test --test conformance");
    let suite = Suite::load(&assets).unwrap();
    assert!(suite.cases.len() >= 300, "{} cases", suite.cases.len());
    // Every requirement with error codes, and every message type, has cases.
    let checked: BTreeSet<&str> = suite.cases.iter().map(|c| c.requirement.as_str()).collect();
    for requirement in &suite.requirements {
        let needs_case =
            requirement.id.starts_with("MSG-") || requirement.id.starts_with("PRF-") || requirement.id == "XCH-03";
        assert!(!needs_case || checked.contains(requirement.id.as_str()), "{} has no case", requirement.id);
    }
    // Every code a case expects belongs to a requirement.
    for case in &suite.cases {
        for error in &case.errors {
            assert!(suite.requirement_of(&error.code).is_some(), "{}: {} in no requirement", case.id, error.code);
        }
    }
    // docs/STANDARD.md states every requirement under a heading with its id.
    let standard = std::fs::read_to_string(root().join("docs/STANDARD.md")).unwrap();
    for requirement in &suite.requirements {
        assert!(standard.contains(&format!("### {} — ", requirement.id)), "docs/STANDARD.md lacks {}", requirement.id);
    }
}

#[test]
fn raccordo_passes_its_own_suite_in_every_profile() {
    let assets = Assets::Embedded;
    let catalog = Catalog::load(&assets).unwrap();
    let suite = Suite::load(&assets).unwrap();
    let profiles: BTreeSet<&str> = suite.cases.iter().map(|c| c.profile.as_str()).collect();
    for profile in profiles {
        let report = run::suite(&catalog, &suite, &assets, profile, &|_, _| {}).unwrap();
        assert!(report.passed(), "{}", report::summary(&report, &suite));
        assert!(report.count(Status::Pass) > 0);
    }
}

/// An endpoint that gets things wrong on purpose: it accepts everything without looking,
/// answers without a receipt when the message is a `worker.*`, and gives a resend a new
/// identity.
async fn non_conforming() -> String {
    let counter = Arc::new(Mutex::new(0u64));
    let app = Router::new().route(
        "/in",
        post(move |_headers: HeaderMap, body: Bytes| {
            let counter = Arc::clone(&counter);
            async move {
                let message: Value = serde_json::from_slice(&body).unwrap_or_default();
                let n = {
                    let mut counter = counter.lock().unwrap();
                    *counter += 1;
                    *counter
                };
                if message["type"].as_str().unwrap_or_default().contains(".worker.") {
                    return (StatusCode::OK, "thanks").into_response();
                }
                let receipt = json!({ "id": format!("receipt-{n}"), "type": "it.raccordo.receipt.v1",
                    "data": { "messageId": message["id"], "status": "accepted" } });
                (StatusCode::OK, Json(receipt)).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_names_each_failure_of_a_non_conforming_endpoint() {
    let assets = Assets::Embedded;
    let suite = Suite::load(&assets).unwrap();
    let url = non_conforming().await;
    let options = TargetOptions { timeout: std::time::Duration::from_secs(5), ..TargetOptions::default() };
    let report =
        run::target(&Catalog::load(&assets).unwrap(), &suite, &assets, "canonical", &url, &options, &|_, _| {})
            .await
            .unwrap();
    assert!(!report.passed());
    let by_id: BTreeMap<&str, &run::CaseResult> = report.results.iter().map(|r| (r.id.as_str(), r)).collect();
    // Every invalid case was accepted: each is a failure of XCH-02.
    for case in suite.cases_of("canonical").filter(|c| c.kind == Kind::Invalid && c.message_type != "receipt") {
        let result = by_id[case.id.as_str()];
        assert_eq!(result.status, Status::Fail, "{}", case.id);
        assert!(result.findings.iter().any(|f| f.requirement == "XCH-02"), "{}: {:?}", case.id, result.findings);
    }
    // Valid worker messages got no receipt: XCH-01.
    let receiptless = by_id.values().find(|r| r.id.starts_with("canonical/worker.registered/valid/")).unwrap();
    assert_eq!(receiptless.status, Status::Fail);
    assert!(receiptless.findings.iter().any(|f| f.requirement == "XCH-01" && f.message.contains("not JSON")));
    // Valid messages of other types got a receipt, which names no source and is not valid
    // against receipt.v1: XCH-01 again, each problem named.
    let poor = by_id.values().find(|r| r.id.starts_with("canonical/employment.started/valid/")).unwrap();
    assert_eq!(poor.status, Status::Fail);
    assert!(poor
        .findings
        .iter()
        .any(|f| f.requirement == "XCH-01" && f.message.contains("not valid against receipt.v1")));
    assert!(poor
        .findings
        .iter()
        .any(|f| f.path == "receipt/data/messageSource" && f.message.contains("does not name")));
    // Resends got new receipt ids: XCH-03.
    let resends: Vec<_> = by_id.values().filter(|r| r.id.contains("/resend/")).collect();
    assert!(!resends.is_empty());
    assert!(resends.iter().all(|r| r.findings.iter().any(|f| f.requirement == "XCH-03")), "{resends:?}");

    // The reports name those failures.
    let junit = report::junit(&report).unwrap();
    assert!(junit.contains("<testsuite ") && junit.contains("XCH-02") && junit.contains("<failure"));
    assert_eq!(junit.matches("<testcase ").count(), report.results.len());
    let json: Value = serde_json::from_str(&report::json(&report).unwrap()).unwrap();
    assert_eq!(json["results"].as_array().unwrap().len(), report.results.len());
    let html = report::html(&report, &suite);
    assert!(html.contains("id=\"summary\"") && html.contains("XCH-03") && html.contains("Failed:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_passes_its_own_suite_over_http() {
    use raccordo::api;
    use raccordo::config::Config;
    use raccordo::gateway::Gateway;
    use raccordo::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[storage]\nurl = \"sqlite://{}/raccordo.db\"\n\n[[parties]]\nid = \"vendor\"\nkind = \"cpi\"\ncode = \"VENDOR\"\nname = \"A vendor under test\"\n\
         sends = {{ profiles = [\"canonical\"] }}\nauth = {{ tokens = [\"vendor-token-0123456789\"] }}\n",
        dir.path().display()
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "vendor.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, state, std::future::pending()));

    let assets = Assets::Embedded;
    let suite = Suite::load(&assets).unwrap();
    let options = TargetOptions {
        token: Some("vendor-token-0123456789".into()),
        source: Some("urn:raccordo:cpi:VENDOR".into()),
        timeout: std::time::Duration::from_secs(10),
        ..TargetOptions::default()
    };
    let report =
        run::target(&Catalog::load(&assets).unwrap(), &suite, &assets, "canonical", &url, &options, &|_, _| {})
            .await
            .unwrap();
    assert!(report.passed(), "{}", report::summary(&report, &suite));
    assert_eq!(report.count(Status::Pass) + report.count(Status::Skip), suite.cases_of("canonical").count());
    // Only receipts, which are answers and never delivered, are not sent.
    assert!(report.results.iter().filter(|r| r.status == Status::Skip).all(|r| r.id.contains("/receipt/")));

    // A vendor's produced messages: the valid vectors pass, an invalid folder does not.
    let catalog = Catalog::load(&assets).unwrap();
    let valid = root().join("conformance/profiles/cpi-unilav/employment.started/valid");
    let report = run::messages(&catalog, &suite, "cpi-unilav", &valid, &|_, _| {}).unwrap();
    assert!(report.passed() && report.count(Status::Pass) >= 5, "{}", report::summary(&report, &suite));
    let invalid = root().join("conformance/standard/worker.registered/invalid");
    let report = run::messages(&catalog, &suite, "canonical", &invalid, &|_, _| {}).unwrap();
    assert_eq!(report.count(Status::Pass), 0);
    let cf = report.results.iter().find(|r| r.id.starts_with("cf-wrong-check-character")).unwrap();
    assert_eq!(cf.findings[0].requirement, "CF-01");
}

/// A sandbox for `source` sending canonical messages, on 127.0.0.1: its URL.
async fn sandbox(dir: &Path, source: &str) -> String {
    let assets = Assets::Embedded;
    let settings = raccordo::conformance::sandbox::Settings {
        profile: "canonical".into(),
        source: source.into(),
        token: SANDBOX_TOKEN.into(),
        session: dir.join("session.jsonl"),
        store: dir.join("sandbox.db"),
    };
    let app = raccordo::conformance::sandbox::router(
        Catalog::load(&assets).unwrap(),
        Suite::load(&assets).unwrap(),
        &settings,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A gateway whose only party is `source`, with the sandbox's token: its URL.
async fn gateway(dir: &Path, source: &str) -> String {
    use raccordo::config::Config;
    use raccordo::gateway::Gateway;
    use raccordo::store::Store;
    let parts: Vec<&str> = source.split(':').collect();
    let text = format!(
        "[storage]\nurl = \"sqlite://{}/gateway.db\"\n\n[[parties]]\nid = \"vendor\"\nkind = \"{}\"\ncode = \"{}\"\nname = \"V\"\n\
         sends = {{ profiles = [\"canonical\"] }}\nauth = {{ tokens = [\"{SANDBOX_TOKEN}\"] }}\n",
        dir.display(),
        parts[2],
        parts[3]
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "vendor.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:sandbox").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
    tokio::spawn(raccordo::api::serve(listener, state, std::future::pending()));
    url
}

const SANDBOX_TOKEN: &str = "sandbox-token-0123456789";

/// An answer with what differs from one server to the other (ids, times) blanked.
fn comparable(mut answer: Value) -> Value {
    fn blank(value: &mut Value) {
        match value {
            Value::Object(members) => {
                for (name, member) in members.iter_mut() {
                    if matches!(name.as_str(), "id" | "time" | "receivedAt" | "messageId") && member.is_string() {
                        *member = Value::String("…".into());
                    } else {
                        blank(member);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(blank),
            _ => {}
        }
    }
    blank(&mut answer);
    answer
}

/// A valid message, an invalid one (a wrong check character: CF-01) from the same sender,
/// and that sender's URN.
fn sandbox_messages() -> (Value, Value, String) {
    let read = |path: &str| -> Value { serde_json::from_slice(&std::fs::read(root().join(path)).unwrap()).unwrap() };
    let valid = read("conformance/standard/employment.started/valid/full-non-eu-live-in.json");
    let source = valid["source"].as_str().unwrap().to_owned();
    let mut invalid = read("conformance/standard/worker.registered/invalid/cf-wrong-check-character.json");
    invalid["source"] = Value::String(source.clone());
    (valid, invalid, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_answers_exactly_as_the_gateway_does() {
    let (valid, invalid, source) = sandbox_messages();
    let mut stranger = valid.clone();
    stranger["source"] = Value::String("urn:raccordo:sui:MI".into());
    stranger["id"] = Value::String("another-id".into());
    let (sandbox_dir, gateway_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let urls = [sandbox(sandbox_dir.path(), &source).await, gateway(gateway_dir.path(), &source).await];
    let inputs: Vec<(&str, &str, Vec<u8>, Option<&str>)> = vec![
        ("valid", "application/json", valid.to_string().into_bytes(), Some(SANDBOX_TOKEN)),
        ("a resend", "application/json", valid.to_string().into_bytes(), Some(SANDBOX_TOKEN)),
        ("invalid", "application/json", invalid.to_string().into_bytes(), Some(SANDBOX_TOKEN)),
        ("broken JSON", "application/json", b"{\"specversion\": ".to_vec(), Some(SANDBOX_TOKEN)),
        ("text/plain", "text/plain", valid.to_string().into_bytes(), Some(SANDBOX_TOKEN)),
        ("empty", "application/json", Vec::new(), Some(SANDBOX_TOKEN)),
        ("another source", "application/json", stranger.to_string().into_bytes(), Some(SANDBOX_TOKEN)),
        ("no token", "application/json", valid.to_string().into_bytes(), None),
    ];
    let client = reqwest::Client::new();
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    for (name, content_type, body, token) in inputs {
        let mut answers = Vec::new();
        for url in &urls {
            let mut request = client.post(url).header("content-type", content_type).body(body.clone());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let media = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            let answer: Value = response.json().await.unwrap();
            if let Some(receipt) = answer.get("receipt") {
                let validation = catalog.standard.validate(receipt);
                assert!(validation.diagnostics.is_empty(), "{name}: {:?}", validation.diagnostics);
            }
            answers.push((status, media, comparable(answer)));
        }
        assert_eq!(answers[0], answers[1], "{name}: the sandbox and the gateway answer differently");
        let expected = match name {
            "valid" | "a resend" => 202,
            "invalid" => 422,
            "broken JSON" | "empty" => 400,
            "text/plain" => 415,
            "another source" => 403,
            _ => 401,
        };
        assert_eq!(answers[0].0, expected, "{name}: {:?}", answers[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_reports_its_session_with_declared_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let (valid, invalid, source) = sandbox_messages();
    let url = sandbox(dir.path(), &source).await;
    let client = reqwest::Client::new();
    let post = |body: &Value, expect: Option<&str>| {
        let mut request = client
            .post(&url)
            .bearer_auth(SANDBOX_TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(expect) = expect {
            request = request.header("raccordo-expect", expect);
        }
        request.send()
    };
    let first: Value = post(&valid, None).await.unwrap().json().await.unwrap();
    assert_eq!(first["receipt"]["data"]["status"], "accepted");
    let again: Value = post(&valid, None).await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], first["id"], "a resend gets the first answer");
    let refused = post(&invalid, None).await.unwrap();
    assert_eq!(refused.status(), 422);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!((refused["code"].as_str(), refused["errors"][0]["code"].as_str()), (Some("RAC-3000"), Some("RAC-3101")));
    // Declared: a deliberate negative test passes when it is refused as declared.
    assert_eq!(post(&invalid, Some("rejected CF-01")).await.unwrap().status(), 422);
    assert_eq!(post(&invalid, Some("rejected RAC-3101")).await.unwrap().status(), 422);
    // ... and fails when it is not.
    assert_eq!(post(&invalid, Some("rejected DAT-02")).await.unwrap().status(), 422);
    assert_eq!(post(&invalid, Some("accepted")).await.unwrap().status(), 422);
    assert_eq!(post(&invalid, Some("rejected NOT-A-REQUIREMENT")).await.unwrap().status(), 422);

    let suite = Suite::load(&Assets::Embedded).unwrap();
    let report = raccordo::conformance::sandbox::report(&suite, &dir.path().join("session.jsonl")).unwrap();
    let statuses: Vec<Status> = report.results.iter().map(|r| r.status).collect();
    use Status::{Fail, Pass};
    assert_eq!(statuses, [Pass, Pass, Fail, Pass, Pass, Fail, Fail, Fail], "{}", report::summary(&report, &suite));
    assert!(report.results[1].title.contains("resend"));
    assert_eq!(report.results[2].findings[0].requirement, "CF-01");
    assert!(report.results[5].actual.contains("DAT-02"));
    assert!(report.results[7].findings.iter().any(|f| f.message.contains("Raccordo-Expect")));
    assert_eq!(report.raccordo, env!("CARGO_PKG_VERSION"));
    assert_eq!(report.suite, suite.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_shows_its_summary_and_failures_in_chromium() {
    let assets = Assets::Embedded;
    let suite = Suite::load(&assets).unwrap();
    let url = non_conforming().await;
    let options = TargetOptions { timeout: std::time::Duration::from_secs(5), ..TargetOptions::default() };
    let report =
        run::target(&Catalog::load(&assets).unwrap(), &suite, &assets, "canonical", &url, &options, &|_, _| {})
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, report::html(&report, &suite)).unwrap();
    // Chromium renders the page and prints the DOM it built; scripts/test.sh installs it.
    let output = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is not installed: scripts/test.sh installs it from Debian's packages");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains("<table id=\"summary\">"), "no summary in the rendered page");
    assert!(dom.contains(&format!("Failed: {} cases failed.", report.count(Status::Fail))));
    let failures = dom.matches("<section class=\"failure\">").count();
    assert_eq!(failures, report.count(Status::Fail));
    assert!(dom.contains("XCH-02") && dom.contains("XCH-03") && dom.contains("the answer is not JSON"));
}
