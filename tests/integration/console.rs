//! The operator console (`/console/`): its HTTP contract called without a socket (sessions,
//! cookies, CSRF, parameters, scopes, replays, static files), its store queries on SQLite
//! and PostgreSQL alike, and the pages themselves in headless Chromium against a running
//! gateway (`tests/browser/console.py`, Playwright for Python).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use common::each_store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::{Gateway, Keys};
use raccordo::ingest::Catalog;
use raccordo::simulate::generate::Generator;
use raccordo::store::{Event, EventKind, Finish, ListFilter, MessageStatus, NewDelivery, NewMessage, Scope, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

const OPERATOR: &str = "console-test-operator-token";
const CREMA_OPERATOR: &str = "console-test-crema-operator";
const CREMONA: &str = "console-test-cpi-cremona";
const CREMA: &str = "console-test-cpi-crema";

/// The test gateway's configuration: two sending job centres, two recipients of worker
/// registrations (one in the canonical form, one in the SAP's XML), an operator who sees
/// everything and may search by codice fiscale, one who sees Crema's job centre only.
fn config_text(dir: &std::path::Path, storage: &str, receiver: &str) -> String {
    let dir = dir.display();
    format!(
        r#"data_dir = "{dir}"
[storage]
url = "{storage}"
[storage.encryption]
keys = [{{ id = "k1", file = "{dir}/payload.key" }}]
index_key = {{ id = "i1", file = "{dir}/index.key" }}
[delivery]
max_attempts = 2
backoff_initial_ms = 50
backoff_max_secs = 1
poll_interval_ms = 50
timeout_secs = 5
[console]
session_minutes = 60

[[parties]]
id = "cpi-cremona"
kind = "cpi"
code = "CR01"
entity_code = "D150C000120"
name = "Centro per l'Impiego di Cremona"
sends = {{ profiles = ["canonical"] }}
auth = {{ tokens = ["{CREMONA}"] }}

[[parties]]
id = "cpi-crema"
kind = "cpi"
code = "CR02"
entity_code = "D142C000118"
name = "Centro per l'Impiego di Crema"
sends = {{ profiles = ["canonical"] }}
auth = {{ tokens = ["{CREMA}"] }}

[[parties]]
id = "social-cremona"
kind = "social"
code = "D150"
name = "Servizi sociali del Comune di Cremona"
receives = {{ profile = "canonical", endpoint = "{receiver}" }}

[[parties]]
id = "sil-lombardia"
kind = "cpi"
code = "SIL-LOM"
entity_code = "F205C000001"
name = "SIL Lombardia"
receives = {{ profile = "cpi-sap", endpoint = "{receiver}" }}

[[routes]]
types = ["worker.registered", "worker.updated"]
to = ["social-cremona"]

[[routes]]
types = ["worker.registered"]
to = ["sil-lombardia"]
optional = true

[[operators]]
name = "console tester"
tokens = ["{OPERATOR}"]
codice_fiscale_search = true

[[operators]]
name = "crema only"
tokens = ["{CREMA_OPERATOR}"]
parties = ["cpi-crema"]
"#
    )
}

struct Console {
    state: Arc<Gateway>,
    _dir: tempfile::TempDir,
}

/// A gateway on SQLite with the test configuration, its clock set by hand.
async fn start(receiver: &str) -> Console {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payload.key"), "11".repeat(32)).unwrap();
    std::fs::write(dir.path().join("index.key"), "22".repeat(32)).unwrap();
    let storage = format!("sqlite://{}/raccordo.db", dir.path().display());
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&config_text(dir.path(), &storage, receiver), "console.toml", &catalog).unwrap();
    let sealer = raccordo::gateway::sealer(&config).unwrap();
    let store = Store::open_sealed(&config.storage_url(), sealer).await.unwrap();
    let keys = Keys::load(&config).unwrap();
    let mut gateway = Gateway::assemble(catalog, config, store, "urn:raccordo:gateway:test".into(), keys);
    gateway.clock = raccordo::clock::Clock::manual(1_772_442_000_000); // 2026-03-02T09:00:00Z
    Console { state: Arc::new(gateway), _dir: dir }
}

async fn body_json(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn text(response: &Response, name: header::HeaderName) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

impl Console {
    async fn call(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        raccordo::api::router(Arc::clone(&self.state)).oneshot(request.body(body.into()).unwrap()).await.unwrap()
    }

    /// Signs in with `token`: the session cookie (`name=value`) and its CSRF token.
    async fn login(&self, token: &str) -> (String, String) {
        let form = format!("token={token}");
        let response =
            self.call("POST", "/console/login", &[("content-type", "application/x-www-form-urlencoded")], form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(text(&response, header::LOCATION), "/console/");
        let cookie = text(&response, header::SET_COOKIE).split(';').next().unwrap().to_owned();
        let session = self.get(&cookie, "/console/api/session").await;
        (cookie, session["csrf"].as_str().unwrap().to_owned())
    }

    /// A GET under a session, answering 200 with JSON.
    async fn get(&self, cookie: &str, uri: &str) -> Value {
        let response = self.call("GET", uri, &[("cookie", cookie)], Body::empty()).await;
        let status = response.status();
        let body = body_json(response).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        body
    }

    /// A POST with the session and its CSRF token.
    async fn act(&self, cookie: &str, csrf: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        let headers = [("cookie", cookie), ("x-csrf-token", csrf), ("content-type", "application/json")];
        let response = self.call("POST", uri, &headers, body.to_string()).await;
        (response.status(), body_json(response).await)
    }

    /// Sends a worker registration from `token`'s job centre; its gateway id and the message.
    async fn send(&self, token: &str, source: &str, seed: u64) -> (String, Value) {
        let mut message = Generator::new(seed).message("worker.registered").unwrap();
        message["source"] = json!(source);
        message["id"] = json!(format!("console-test-{seed}"));
        let headers = [("authorization", &*format!("Bearer {token}")), ("content-type", "application/json")];
        let response = self.call("POST", "/v1/messages", &headers, message.to_string()).await;
        let status = response.status();
        let body = body_json(response).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        (body["id"].as_str().unwrap().to_owned(), message)
    }

    /// Claims every due delivery and ends each as `finish` says.
    async fn finish_all(&self, finish: &Finish) {
        let now = self.state.clock.now_millis();
        for claimed in self.state.store.claim("test", now, 60_000, 100).await.unwrap() {
            let kind = match finish {
                Finish::Delivered => EventKind::Delivered,
                _ => EventKind::DeadLettered,
            };
            let detail = json!({ "attempt": claimed.attempts, "error": "HTTP 503" }).to_string();
            let event = Event { at: now, kind, party: Some(claimed.party.clone()), detail };
            assert!(self.state.store.finish(&claimed.delivery_id, "test", finish, now, &event).await.unwrap());
        }
    }
}

fn assert_security_headers(response: &Response) {
    let csp = text(response, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(text(response, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(text(response, header::REFERRER_POLICY), "no-referrer");
    assert_eq!(text(response, header::X_FRAME_OPTIONS), "DENY");
}

#[tokio::test]
async fn without_a_session_the_api_answers_401_and_the_page_sends_to_login() {
    let console = start("http://127.0.0.1:9/").await;
    for uri in ["/console/api/session", "/console/api/overview", "/console/api/messages", "/console/api/parties"] {
        let response = console.call("GET", uri, &[], Body::empty()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert_security_headers(&response);
        assert_eq!(text(&response, header::CONTENT_TYPE), "application/problem+json");
        assert_eq!(body_json(response).await["code"], "RAC-8010");
    }
    let forged = console.call("GET", "/console/api/session", &[("cookie", "raccordo_session=forged")], Body::empty());
    assert_eq!(forged.await.status(), StatusCode::UNAUTHORIZED);
    let page = console.call("GET", "/console/", &[], Body::empty()).await;
    assert_eq!((page.status(), text(&page, header::LOCATION)), (StatusCode::SEE_OTHER, "/console/login".into()));
    assert_security_headers(&page);
    let bare = console.call("GET", "/console", &[], Body::empty()).await;
    assert_eq!((bare.status(), text(&bare, header::LOCATION)), (StatusCode::PERMANENT_REDIRECT, "/console/".into()));
    // An operator token as a bearer token is no session.
    let bearer = format!("Bearer {OPERATOR}");
    let response = console.call("GET", "/console/api/session", &[("authorization", &bearer)], Body::empty()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_in_sets_a_strict_cookie_and_a_bad_token_goes_back_to_the_form() {
    let console = start("http://127.0.0.1:9/").await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    for token in ["token=not-a-token-at-all", &format!("token={CREMONA}"), "nothing=here"] {
        let refused = console.call("POST", "/console/login", &form, token.to_owned()).await;
        assert_eq!(refused.status(), StatusCode::SEE_OTHER, "{token}");
        assert_eq!(text(&refused, header::LOCATION), "/console/login?error=1", "a party's token is no operator's");
        assert!(refused.headers().get(header::SET_COOKIE).is_none());
    }
    let response = console.call("POST", "/console/login", &form, format!("token={OPERATOR}")).await;
    assert_eq!((response.status(), text(&response, header::LOCATION)), (StatusCode::SEE_OTHER, "/console/".into()));
    let cookie = text(&response, header::SET_COOKIE);
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=3600"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag ({cookie})");
    let pair = cookie.split(';').next().unwrap();
    assert!(pair.len() > "raccordo_session=".len() + 40, "a long random id: {pair}");
    let session = console.get(pair, "/console/api/session").await;
    assert_eq!(session["operator"], "console tester");
    assert_eq!(session["canSearchCodiceFiscale"], true);
    assert_eq!(session["expiresAt"], "2026-03-02T10:00:00.000Z");
    assert!(session["csrf"].as_str().unwrap().len() >= 40);
    let page = console.call("GET", "/console/", &[("cookie", pair)], Body::empty()).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(text(&page, header::CONTENT_TYPE).starts_with("text/html"));
    // The database holds the session's hash, never its id.
    let id = pair.trim_start_matches("raccordo_session=");
    let url = console.state.config.storage_url();
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT id_hash FROM console_sessions").fetch_all(&mut connection).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].0.contains(id) && stored[0].0.len() == 64);

    // Served over TLS, the cookie is Secure.
    let mut tls = start("http://127.0.0.1:9/").await;
    let state = Arc::get_mut(&mut tls.state).unwrap();
    state.config.tls = Some(raccordo::config::TlsConfig {
        certificate: "unused.crt".into(),
        private_key: "unused.key".into(),
        client_ca: None,
    });
    let response = tls.call("POST", "/console/login", &form, format!("token={OPERATOR}")).await;
    assert!(text(&response, header::SET_COOKIE).contains("; Secure"));
}

#[tokio::test]
async fn actions_need_the_sessions_csrf_token_and_logout_ends_the_session() {
    let console = start("http://127.0.0.1:9/").await;
    let (cookie, csrf) = console.login(OPERATOR).await;
    let cases: [(&[(&str, &str)], StatusCode); 3] = [
        (&[("cookie", &cookie)], StatusCode::FORBIDDEN),
        (&[("cookie", &cookie), ("x-csrf-token", "wrong")], StatusCode::FORBIDDEN),
        (
            &[("cookie", &cookie), ("x-csrf-token", &csrf), ("origin", "https://elsewhere.example"), ("host", "gw")],
            StatusCode::FORBIDDEN,
        ),
    ];
    for (headers, expected) in cases {
        let response = console.call("POST", "/console/logout", headers, Body::empty()).await;
        assert_eq!(response.status(), expected);
        assert_eq!(body_json(response).await["code"], "RAC-8011");
    }
    let validate = json!({ "profile": "canonical", "content": "{}" });
    let response = console
        .call(
            "POST",
            "/console/api/validate",
            &[("cookie", &cookie), ("content-type", "application/json")],
            validate.to_string(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "every POST under /console/api needs the token");
    let response = console
        .call(
            "POST",
            "/console/logout",
            &[("cookie", &cookie), ("x-csrf-token", &csrf), ("host", "gw"), ("origin", "http://gw")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(text(&response, header::SET_COOKIE).contains("Max-Age=0"));
    let after = console.call("GET", "/console/api/session", &[("cookie", &cookie)], Body::empty()).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_session_is_refused_and_the_page_says_so() {
    let console = start("http://127.0.0.1:9/").await;
    let (cookie, _) = console.login(OPERATOR).await;
    console.get(&cookie, "/console/api/overview").await;
    console.state.clock.advance(Duration::from_secs(61 * 60));
    let response = console.call("GET", "/console/api/overview", &[("cookie", &cookie)], Body::empty()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = console.call("GET", "/console/", &[("cookie", &cookie)], Body::empty()).await;
    assert_eq!(text(&page, header::LOCATION), "/console/login?expired=1");
}

#[tokio::test]
async fn malformed_parameters_are_400_naming_each_never_500() {
    let console = start("http://127.0.0.1:9/").await;
    let (cookie, csrf) = console.login(OPERATOR).await;
    let cases = [
        ("/console/api/messages?since=notadate", vec!["since"]),
        ("/console/api/messages?until=2026-13-01&limit=0", vec!["until", "limit"]),
        ("/console/api/messages?type=worker.hired&status=pending&sender=nobody", vec!["type", "status", "sender"]),
        ("/console/api/messages?after=%%%&limit=abc&colour=red", vec!["after", "limit", "colour"]),
        ("/console/api/messages?limit=1&limit=2", vec!["limit"]),
        ("/console/api/dead-letters?party=nobody&type=x", vec!["party", "type"]),
        ("/console/api/quarantine?after=12", vec!["after"]),
        ("/console/api/inps/runs?limit=-1", vec!["limit"]),
    ];
    for (uri, names) in cases {
        let response = console.call("GET", uri, &[("cookie", &cookie)], Body::empty()).await;
        let status = response.status();
        let problem = body_json(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {problem}");
        assert_eq!(problem["code"], "RAC-8007");
        let paths: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
        for name in names {
            assert!(paths.contains(&name), "{uri}: {name} not named in {paths:?}");
        }
    }
    let bad_cf = [("cookie", cookie.as_str()), ("raccordo-codice-fiscale", "not-a-cf")];
    let response = console.call("GET", "/console/api/messages", &bad_cf, Body::empty()).await;
    let problem = body_json(response).await;
    assert_eq!(problem["errors"][0]["path"], "codiceFiscale", "{problem}");
    assert!(!problem.to_string().contains("NOT-A-CF"), "the value is not echoed");
    // A limit above the cap is capped, not refused.
    console.get(&cookie, "/console/api/messages?limit=100000").await;
    let (status, problem) = console.act(&cookie, &csrf, "/console/api/dead-letters/replay", json!({ "ids": [] })).await;
    assert_eq!((status, problem["errors"][0]["path"].as_str()), (StatusCode::BAD_REQUEST, Some("ids")));
    let (status, _) = console.act(&cookie, &csrf, "/console/api/validate", json!({ "content": 3 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn messages_are_found_newest_first_a_page_at_a_time_and_by_codice_fiscale() {
    let console = start("http://127.0.0.1:9/").await;
    let mut sent = Vec::new();
    for seed in 1..=5 {
        sent.push(console.send(CREMONA, "urn:raccordo:cpi:CR01", seed).await);
        console.state.clock.advance(Duration::from_secs(1));
    }
    let (cookie, _) = console.login(OPERATOR).await;
    let first = console.get(&cookie, "/console/api/messages?limit=2").await;
    let ids = |page: &Value| -> Vec<String> {
        page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&first), [sent[4].0.clone(), sent[3].0.clone()], "newest first");
    assert_eq!(first["messages"][0]["recipients"], json!(["social-cremona", "sil-lombardia"]));
    assert_eq!(first["messages"][0]["status"], "accepted");
    let next = first["next"].as_str().unwrap();
    let second = console.get(&cookie, &format!("/console/api/messages?limit=2&after={next}")).await;
    assert_eq!(ids(&second), [sent[2].0.clone(), sent[1].0.clone()]);
    let last = console
        .get(&cookie, &format!("/console/api/messages?limit=2&after={}", second["next"].as_str().unwrap()))
        .await;
    assert_eq!((ids(&last), &last["next"]), (vec![sent[0].0.clone()], &Value::Null));

    // By the gateway's id or the sender's own.
    let sender_id = sent[2].1["id"].as_str().unwrap();
    let by_sender_id = console.get(&cookie, &format!("/console/api/messages?id={sender_id}")).await;
    assert_eq!(ids(&by_sender_id), [sent[2].0.clone()]);
    let by_id = console.get(&cookie, &format!("/console/api/messages?id={}", sent[2].0)).await;
    assert_eq!(ids(&by_id), [sent[2].0.clone()]);

    // By codice fiscale, in a header, through the blind index.
    let cf = sent[3].1["data"]["person"]["codiceFiscale"].as_str().unwrap();
    let headers = [("cookie", cookie.as_str()), ("raccordo-codice-fiscale", cf)];
    let response = console.call("GET", "/console/api/messages", &headers, Body::empty()).await;
    assert_eq!(ids(&body_json(response).await), [sent[3].0.clone()]);
    // An operator not allowed to is refused, with the reason.
    let (crema, _) = console.login(CREMA_OPERATOR).await;
    let headers = [("cookie", crema.as_str()), ("raccordo-codice-fiscale", cf)];
    let response = console.call("GET", "/console/api/messages", &headers, Body::empty()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(body_json(response).await["detail"].as_str().unwrap().contains("codice fiscale"));

    // Statuses and time ranges.
    console.finish_all(&Finish::Delivered).await;
    let delivered = console.get(&cookie, "/console/api/messages?status=delivered").await;
    assert_eq!(ids(&delivered).len(), 5);
    let failed = console.get(&cookie, "/console/api/messages?status=failed").await;
    assert!(ids(&failed).is_empty());
    let within =
        console.get(&cookie, "/console/api/messages?since=2026-03-02T09:00:02Z&until=2026-03-02T09:00:04Z").await;
    assert_eq!(ids(&within), [sent[3].0.clone(), sent[2].0.clone()]);
    let that_day = console.get(&cookie, "/console/api/messages?since=2026-03-02&until=2026-03-02").await;
    assert_eq!(ids(&that_day).len(), 5, "a date is the whole day, in Rome's time");

    // Every read is in the audit log, the codice fiscale only as a subject reference.
    let url = console.state.config.storage_url();
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let entries: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT kind, actor, detail FROM audit WHERE kind LIKE 'console.%' ORDER BY seq")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    let searches: Vec<&(String, Option<String>, String)> =
        entries.iter().filter(|(kind, _, _)| kind == "console.messages.read").collect();
    assert!(searches.len() >= 8, "{entries:?}");
    assert!(searches.iter().all(|(_, actor, _)| actor.as_deref() == Some("operator:console tester")));
    assert!(entries.iter().any(|(_, _, detail)| detail.contains("subject:")));
    assert!(!entries.iter().any(|(_, _, detail)| detail.contains(cf)), "a codice fiscale in the audit log");
    assert!(entries.iter().any(|(kind, _, _)| kind == "console.login"));
}

#[tokio::test]
async fn a_restricted_operator_sees_only_its_parties() {
    let console = start("http://127.0.0.1:9/").await;
    let (cremona_id, _) = console.send(CREMONA, "urn:raccordo:cpi:CR01", 1).await;
    let (crema_id, _) = console.send(CREMA, "urn:raccordo:cpi:CR02", 2).await;
    console.finish_all(&Finish::Dead { error: "HTTP 503".into() }).await;
    let (cookie, csrf) = console.login(CREMA_OPERATOR).await;
    let session = console.get(&cookie, "/console/api/session").await;
    assert_eq!(session["parties"], json!(["cpi-crema"]));
    assert_eq!(session["canSearchCodiceFiscale"], false);
    let messages = console.get(&cookie, "/console/api/messages").await;
    let ids: Vec<&str> = messages["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [crema_id.as_str()]);
    let response = console
        .call("GET", &format!("/console/api/messages/{cremona_id}"), &[("cookie", &cookie)], Body::empty())
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    console.get(&cookie, &format!("/console/api/messages/{crema_id}")).await;
    let dead = console.get(&cookie, "/console/api/dead-letters").await;
    let dead: Vec<&str> =
        dead["deadLetters"].as_array().unwrap().iter().map(|d| d["messageId"].as_str().unwrap()).collect();
    assert!(!dead.is_empty() && dead.iter().all(|id| *id == crema_id), "{dead:?}");
    let parties = console.get(&cookie, "/console/api/parties").await;
    assert_eq!(parties["parties"].as_array().unwrap().len(), 1);
    assert_eq!(parties["routes"], json!([]), "no route reaches its party");
    let overview = console.get(&cookie, "/console/api/overview").await;
    assert_eq!(overview["deadLetters"], json!(dead.len()));
    assert_eq!(overview["lastDay"]["accepted"], json!({ "worker.registered": 1 }));
    // What it may not see, it may not name nor replay.
    let response =
        console.call("GET", "/console/api/messages?sender=cpi-cremona", &[("cookie", &cookie)], Body::empty()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, _) =
        console.act(&cookie, &csrf, &format!("/console/api/messages/{cremona_id}/replay"), json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let everyone = console.login(OPERATOR).await.0;
    let all_dead = console.get(&everyone, "/console/api/dead-letters").await;
    let other =
        all_dead["deadLetters"].as_array().unwrap().iter().find(|d| d["messageId"] == cremona_id.as_str()).unwrap();
    let (status, answer) =
        console.act(&cookie, &csrf, "/console/api/dead-letters/replay", json!({ "ids": [other["deliveryId"]] })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["refused"][0]["reason"], "no such delivery");
    // The API's operator endpoints keep the same scope.
    let bearer = format!("Bearer {CREMA_OPERATOR}");
    let response = console.call("GET", "/v1/messages", &[("authorization", &bearer)], Body::empty()).await;
    assert_eq!(body_json(response).await["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn replays_of_what_is_not_dead_are_refused_with_the_reason() {
    let console = start("http://127.0.0.1:9/").await;
    let (delivered, _) = console.send(CREMONA, "urn:raccordo:cpi:CR01", 1).await;
    console.finish_all(&Finish::Delivered).await;
    let (pending, _) = console.send(CREMONA, "urn:raccordo:cpi:CR01", 2).await;
    let (cookie, csrf) = console.login(OPERATOR).await;
    let (status, problem) =
        console.act(&cookie, &csrf, &format!("/console/api/messages/{delivered}/replay"), json!(null)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "RAC-8012");
    assert!(problem["detail"].as_str().unwrap().contains("already delivered"), "{problem}");
    let (status, problem) =
        console.act(&cookie, &csrf, &format!("/console/api/messages/{pending}/replay"), json!(null)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["detail"].as_str().unwrap().contains("still being attempted"), "{problem}");

    // A dead letter is replayed; beside it, the delivered one is refused and says why.
    console.finish_all(&Finish::Dead { error: "HTTP 400".into() }).await;
    let message = console.get(&cookie, &format!("/console/api/messages/{pending}")).await;
    let dead_id = message["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let done = console.get(&cookie, &format!("/console/api/messages/{delivered}")).await;
    let done_id = done["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let (status, answer) =
        console.act(&cookie, &csrf, "/console/api/dead-letters/replay", json!({ "ids": [dead_id, done_id] })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["replayed"], json!([dead_id]));
    assert_eq!(answer["refused"][0]["id"], json!(done_id));
    assert!(answer["refused"][0]["reason"].as_str().unwrap().contains("already delivered"));
    let replayed = console.get(&cookie, &format!("/console/api/messages/{pending}")).await;
    assert_eq!(replayed["deliveries"][0]["status"], "pending");
    let events: Vec<&str> =
        replayed["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.contains(&"replayed") && events.contains(&"dead-lettered"), "{events:?}");
}

#[tokio::test]
async fn a_message_shows_its_timeline_canonical_form_and_what_each_recipient_receives() {
    let console = start("http://127.0.0.1:9/").await;
    let (id, message) = console.send(CREMONA, "urn:raccordo:cpi:CR01", 3).await;
    console.finish_all(&Finish::Delivered).await;
    let (cookie, _) = console.login(OPERATOR).await;
    let shown = console.get(&cookie, &format!("/console/api/messages/{id}")).await;
    assert_eq!(shown["canonical"], message);
    assert_eq!(shown["status"], "delivered");
    let deliveries = shown["deliveries"].as_array().unwrap();
    let sap = deliveries.iter().find(|d| d["party"] == "sil-lombardia").unwrap();
    assert_eq!(sap["rendered"]["contentType"], "application/xml");
    let cf = message["data"]["person"]["codiceFiscale"].as_str().unwrap();
    let xml = sap["rendered"]["body"].as_str().unwrap();
    assert!(xml.contains("<lavoratore>") && xml.contains(&format!("<codicefiscale>{cf}</codicefiscale>")), "{xml}");
    let canonical = deliveries.iter().find(|d| d["party"] == "social-cremona").unwrap();
    assert_eq!(canonical["rendered"]["contentType"], "application/json");
    let events: Vec<&str> =
        shown["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["received", "validated", "routed", "delivered", "delivered"]);
    assert_eq!(shown["timeline"][3]["detail"]["attempt"], 1);

    let overview = console.get(&cookie, "/console/api/overview").await;
    assert_eq!(overview["throughput"].as_array().unwrap().len(), 60);
    assert_eq!(overview["lastHour"]["accepted"], json!({ "worker.registered": 1 }));
    assert_eq!(overview["throughput"][59]["accepted"], 1);
    let backlog: Vec<&str> =
        overview["backlog"].as_array().unwrap().iter().map(|b| b["party"].as_str().unwrap()).collect();
    assert_eq!(backlog, ["social-cremona", "sil-lombardia"]);
    let parties = console.get(&cookie, "/console/api/parties").await;
    let social = parties["parties"].as_array().unwrap().iter().find(|p| p["id"] == "social-cremona").unwrap();
    assert_eq!(social["health"]["status"], "ok");
    assert_eq!(social["health"]["lastSuccessAt"], "2026-03-02T09:00:00.000Z");
}

#[tokio::test]
async fn refusals_show_in_the_overview() {
    let console = start("http://127.0.0.1:9/").await;
    let mut message = Generator::new(9).message("worker.registered").unwrap();
    message["source"] = json!("urn:raccordo:cpi:CR01");
    message["data"]["person"]["codiceFiscale"] = json!("RSSMRA80A01H501A");
    let headers = [("authorization", &*format!("Bearer {CREMONA}")), ("content-type", "application/json")];
    let response = console.call("POST", "/v1/messages", &headers, message.to_string()).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (cookie, _) = console.login(OPERATOR).await;
    let overview = console.get(&cookie, "/console/api/overview").await;
    assert_eq!(overview["lastHour"]["rejected"], json!({ "worker.registered": 1 }), "{overview}");
    assert_eq!(overview["throughput"][59]["rejected"], 1);
}

#[tokio::test]
async fn validate_locates_problems_in_any_profile() {
    let console = start("http://127.0.0.1:9/").await;
    let (cookie, csrf) = console.login(OPERATOR).await;
    let mut message = Generator::new(4).message("worker.registered").unwrap();
    message["data"]["person"]["codiceFiscale"] = json!("RSSMRA80A01H501A");
    let content = serde_json::to_string_pretty(&message).unwrap();
    let (status, verdict) = console
        .act(&cookie, &csrf, "/console/api/validate", json!({ "profile": "canonical", "content": content }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verdict["valid"], false);
    let error = &verdict["files"][0]["errors"][0];
    assert_eq!(
        (error["code"].as_str(), error["path"].as_str()),
        (Some("RAC-3101"), Some("/data/person/codiceFiscale"))
    );
    // An XML party message: its problems carry the line.
    let xml = "<?xml version=\"1.0\"?>\n<inputUniLav>\n  <unclosed>\n</inputUniLav>\n";
    let (_, verdict) =
        console.act(&cookie, &csrf, "/console/api/validate", json!({ "profile": "cpi-unilav", "content": xml })).await;
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert!(verdict["files"][0]["errors"][0]["line"].as_u64().is_some(), "{verdict}");
    let (status, problem) =
        console.act(&cookie, &csrf, "/console/api/validate", json!({ "profile": "nope", "content": "x" })).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::BAD_REQUEST, Some("RAC-7005")));
    let profiles = console.get(&cookie, "/console/api/profiles").await;
    assert!(profiles["profiles"].as_array().unwrap().iter().any(|p| p["name"] == "cpi-unilav" && p["format"] == "xml"));
}

#[tokio::test]
async fn static_files_have_their_types_etags_and_security_headers() {
    let console = start("http://127.0.0.1:9/").await;
    for (path, expected) in [
        ("/console/static/app.js", "text/javascript; charset=utf-8"),
        ("/console/static/lib/api.js", "text/javascript; charset=utf-8"),
        ("/console/static/app.css", "text/css; charset=utf-8"),
        ("/console/static/i18n/en.json", "application/json"),
        ("/console/static/favicon.svg", "image/svg+xml"),
        ("/console/static/vendor/fonts/roboto-mono-v13-latin-ext_latin-regular.woff2", "font/woff2"),
        ("/console/login", "text/html; charset=utf-8"),
        ("/console/login?error=1", "text/html; charset=utf-8"),
    ] {
        let response = console.call("GET", path, &[], Body::empty()).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(text(&response, header::CONTENT_TYPE), expected, "{path}");
        assert_eq!(text(&response, header::CACHE_CONTROL), "no-cache", "{path}");
        assert_security_headers(&response);
        let etag = text(&response, header::ETAG);
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let again = console.call("GET", path, &[("if-none-match", &etag)], Body::empty()).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(text(&again, header::ETAG), etag);
    }
    let missing = console.call("GET", "/console/static/../Cargo.toml", &[], Body::empty()).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing = console.call("GET", "/console/static/nothing.js", &[], Body::empty()).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// The store's console queries, on SQLite and PostgreSQL alike.

const T0: i64 = 1_772_442_000_000;

/// Message `n` (`m<n>`, sender `a` or `b`, type by parity), with a delivery to `c` and, for
/// every third, to `d`.
async fn store_messages(store: &Store, count: i64) {
    for n in 1..=count {
        let message = NewMessage {
            id: format!("m{n}"),
            source: "urn:s".into(),
            message_id: format!("sender-{n}"),
            sender: if n % 2 == 0 { "a" } else { "b" }.into(),
            message_type: if n % 2 == 0 { "worker.registered" } else { "vacancy.published" }.into(),
            profile: "canonical".into(),
            received_at: T0 + n * 1000,
            original: b"{}".to_vec(),
            canonical: "{}".into(),
            answer: "{}".into(),
        };
        let mut deliveries = vec![NewDelivery {
            id: format!("d{n}c"),
            party: "c".into(),
            profile: "canonical".into(),
            ordering_key: None,
        }];
        if n % 3 == 0 {
            deliveries.push(NewDelivery {
                id: format!("d{n}d"),
                party: "d".into(),
                profile: "canonical".into(),
                ordering_key: None,
            });
        }
        store.insert(&message, &deliveries, &[]).await.unwrap();
    }
}

#[tokio::test]
async fn searches_read_newest_first_by_status_recipient_id_and_scope() {
    each_store(|store| async move {
        store_messages(&store, 12).await;
        // m1..m6's deliveries finish: to c delivered, to d dead.
        let claimed = store.claim("w", T0 + 100_000, 60_000, 100).await.unwrap();
        let event = Event { at: T0, kind: EventKind::Delivered, party: None, detail: "{}".into() };
        for delivery in claimed {
            let seq = delivery.message_id.trim_start_matches('m').parse::<i64>().unwrap();
            let finish = if delivery.party == "d" { Finish::Dead { error: "x".into() } } else { Finish::Delivered };
            let finish = if seq <= 6 { finish } else { Finish::Retry { at: T0 + 999_999, error: "y".into() } };
            store.finish(&delivery.delivery_id, "w", &finish, T0, &event).await.unwrap();
        }
        let list = |filter: ListFilter| {
            let store = store.clone();
            async move {
                let limit = if filter.limit == 0 { 100 } else { filter.limit };
                let filter = ListFilter { newest_first: true, limit, ..filter };
                store.list(&filter).await.unwrap().into_iter().map(|m| m.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(list(ListFilter { limit: 3, ..Default::default() }).await, ["m12", "m11", "m10"]);
        let after =
            store.list(&ListFilter { newest_first: true, limit: 3, ..Default::default() }).await.unwrap()[2].seq;
        assert_eq!(list(ListFilter { limit: 3, after: Some(after), ..Default::default() }).await, ["m9", "m8", "m7"]);
        assert_eq!(list(ListFilter { status: Some(MessageStatus::Failed), ..Default::default() }).await, ["m6", "m3"]);
        assert_eq!(
            list(ListFilter { status: Some(MessageStatus::Delivered), ..Default::default() }).await,
            ["m5", "m4", "m2", "m1"]
        );
        assert_eq!(
            list(ListFilter { status: Some(MessageStatus::Accepted), limit: 2, ..Default::default() }).await,
            ["m12", "m11"]
        );
        assert_eq!(
            list(ListFilter {
                status: Some(MessageStatus::Failed),
                message_type: Some("worker.registered".into()),
                ..Default::default()
            })
            .await,
            ["m6"]
        );
        assert_eq!(
            list(ListFilter { recipient: Some("d".into()), ..Default::default() }).await,
            ["m12", "m9", "m6", "m3"]
        );
        assert_eq!(list(ListFilter { sender: Some("a".into()), limit: 2, ..Default::default() }).await, ["m12", "m10"]);
        assert_eq!(list(ListFilter { id: Some("sender-7".into()), ..Default::default() }).await, ["m7"]);
        assert_eq!(list(ListFilter { id: Some("m7".into()), ..Default::default() }).await, ["m7"]);
        let scope = Scope { parties: Some(vec!["d".into()]), types: Some(vec!["vacancy.published".into()]) };
        assert_eq!(list(ListFilter { scope, ..Default::default() }).await, ["m9", "m3"]);
        let scope = Scope { parties: Some(vec!["b".into()]), types: None };
        assert_eq!(list(ListFilter { scope: scope.clone(), limit: 2, ..Default::default() }).await, ["m11", "m9"]);
        assert_eq!(store.count_dead_letters(&scope).await.unwrap(), 1, "m3's, not m6's");

        let traffic = store.traffic(T0, &Scope::default()).await.unwrap();
        assert_eq!(traffic.accepted.iter().map(|c| c.count).sum::<i64>(), 12);
        let backlog = store.backlog(&Scope::default()).await.unwrap();
        assert_eq!(backlog.iter().map(|b| (b.party.as_str(), b.pending)).collect::<Vec<_>>(), [("c", 6), ("d", 2)]);
        let health = store.health("d").await.unwrap();
        assert_eq!((health.pending, health.dead, health.failing), (2, 2, true));
        let health = store.health("c").await.unwrap();
        assert_eq!((health.last_success_at, health.dead), (Some(T0), 0));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// The pages in a real browser.

/// A recipient that answers 503 until told to accept.
async fn receiver(failing: Arc<AtomicBool>) -> String {
    let app = axum::Router::new().route(
        "/messages",
        axum::routing::post(move || {
            let failing = Arc::clone(&failing);
            async move {
                if failing.load(Ordering::SeqCst) {
                    (StatusCode::SERVICE_UNAVAILABLE, "down for the test")
                } else {
                    (StatusCode::OK, "{}")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/messages")
}

/// An INPS run that quarantined a record, for the INPS views to show.
async fn pulled_with_a_quarantined_record(store: &Store) {
    use raccordo::store::{PageCommit, PullRun, Quarantined, RunStatus, Trigger};
    let now = chrono::Utc::now().timestamp_millis();
    let job = raccordo::inps::JOB.to_owned();
    let run = PullRun::started("run-1".into(), &job, Trigger::Command, now, None);
    store.start_run(&run).await.unwrap();
    let errors = json!([{
        "code": "RAC-3101", "name": "cf-checksum", "severity": "error", "path": "/lavoratore/codiceFiscale",
        "line": 3, "column": 5, "message": "the check character is not the one the other 15 give",
    }]);
    let record = Quarantined {
        seq: 0,
        id: "quarantined-1".into(),
        run_id: Some("run-1".into()),
        source: "urn:raccordo:inps:INPS".into(),
        record_key: "INPS-0001".into(),
        profile: "inps-json".into(),
        message_type: Some("employment.started".into()),
        location: "/comunicazioni/0".into(),
        received_at: now,
        original: b"{}".to_vec(),
        errors: errors.to_string(),
    };
    let page = PageCommit {
        run_id: "run-1".into(),
        messages: Vec::new(),
        quarantined: vec![record],
        cursor: Some((job, now)),
        pages: 1,
        records: 1,
        now,
    };
    store.commit_page(&page).await.unwrap();
    store.finish_run("run-1", RunStatus::Succeeded, None, now).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_browser() {
    let playwright = std::process::Command::new("python3").args(["-c", "import playwright"]).output();
    assert!(
        playwright.as_ref().is_ok_and(|output| output.status.success()),
        "the browser tests need Playwright for Python: `pip install playwright==1.49.0` (scripts/test.sh \
         installs it) and Chromium at /usr/bin/chromium (Debian's chromium package); {playwright:?}"
    );
    let failing = Arc::new(AtomicBool::new(true));
    let endpoint = receiver(Arc::clone(&failing)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payload.key"), "11".repeat(32)).unwrap();
    std::fs::write(dir.path().join("index.key"), "22".repeat(32)).unwrap();
    let storage = format!("sqlite://{}/raccordo.db", dir.path().display());
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&config_text(dir.path(), &storage, &endpoint), "console.toml", &catalog).unwrap();
    let state = Gateway::open(catalog, config, "urn:raccordo:gateway:test").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(raccordo::api::serve(listener, Arc::clone(&state), async {
        let _ = stopped.await;
    }));
    let (halt, halted) = tokio::sync::watch::channel(false);
    let deliverer = Arc::new(raccordo::delivery::Deliverer::new(Arc::clone(&state), "browser-test".into()));
    let delivering = tokio::spawn(deliverer.run(halted));

    // Four messages whose deliveries fail until they are dead letters.
    let client = reqwest::Client::new();
    for seed in 1..=4 {
        let mut message = Generator::new(seed).message("worker.registered").unwrap();
        message["source"] = json!("urn:raccordo:cpi:CR01");
        message["id"] = json!(format!("console-browser-{seed}"));
        let response = client
            .post(format!("{base}/v1/messages"))
            .bearer_auth(CREMONA)
            .header("content-type", "application/json")
            .body(message.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    }
    let mut dead = Vec::new();
    for _ in 0..300 {
        dead = state.store.dead_letters(Some("social-cremona"), 0, 100).await.unwrap();
        if dead.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 4, "the deliveries did not become dead letters");
    // From now on the recipient accepts: a replayed dead letter is delivered.
    failing.store(false, Ordering::SeqCst);
    pulled_with_a_quarantined_record(&state.store).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/console.py");
    let run = tokio::process::Command::new("python3")
        .args([script, "--base", &base, "--token", OPERATOR, "--sender-token", CREMONA])
        .args(["--sender-source", "urn:raccordo:cpi:CR01", "--dead-id", &dead[0].delivery_id])
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(600), run).await.expect("the browser tests took over 10 minutes");
    let output = output.unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let _ = stop.send(());
    let _ = halt.send(true);
    serving.await.unwrap().unwrap();
    delivering.await.unwrap();
    assert!(output.status.success(), "tests/browser/console.py failed (its output is above)");
}
