//! The HTTP API with real state on a temporary SQLite, called without a socket through
//! `tower::ServiceExt::oneshot`: intake, idempotent resend, refusals as problem documents,
//! who may read what.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::sync::Arc;

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use raccordo::api::router;
use raccordo::assets::Assets;
use raccordo::config::{Config, EXAMPLE};
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::simulate::generate::Generator;
use serde_json::{json, Value};
use tower::ServiceExt;

const CPI: &str = "example-token-cpi-cremona";
const INPS: &str = "example-token-inps-pull";
const SUI: &str = "example-token-sui-cremona";
const SOCIAL: &str = "example-token-social-cremona";
const OPERATOR: &str = "example-token-operator";

struct Api {
    state: Arc<Gateway>,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let mut config = Config::parse(EXAMPLE, "example.toml", &catalog).unwrap();
    config.limits.max_body_bytes = 64 * 1024;
    let state = common::app_state(catalog, config, dir.path()).await;
    Api { state: Arc::new(state), _dir: dir }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = router(Arc::clone(&self.state)).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, message: &Value) -> (StatusCode, Value) {
        self.call(
            "POST",
            "/v1/messages",
            Some(token),
            &[("content-type", "application/json")],
            message.to_string().into_bytes(),
        )
        .await
    }
}

fn employment(source: &str) -> Value {
    let mut message = Generator::new(5).message("employment.started").unwrap();
    message["source"] = json!(source);
    message
}

#[tokio::test]
async fn a_valid_message_is_accepted_stored_routed_and_its_resend_answered_alike() {
    let api = api().await;
    let message = employment("urn:raccordo:inps:INPS");
    let (status, first) = api.post(INPS, &message).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["status"], "accepted");
    let receipt = &first["receipt"];
    assert!(api.state.catalog.standard.validate(receipt).is_valid(), "the receipt is a valid message: {receipt}");
    assert_eq!(receipt["data"]["messageId"], message["id"]);

    let (status, again) = api.post(INPS, &message).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again, first, "a resend gets the first answer");

    let id = first["id"].as_str().unwrap();
    let (status, stored) = api.call("GET", &format!("/v1/messages/{id}"), Some(INPS), &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<&str> =
        stored["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["received", "validated", "routed"]);
    assert!(!stored["deliveries"].as_array().unwrap().is_empty());
    let (_, list) = api.call("GET", "/v1/messages", Some(OPERATOR), &[], vec![]).await;
    assert_eq!(list["messages"].as_array().unwrap().len(), 1, "the resend stored nothing");
}

#[tokio::test]
async fn invalid_messages_get_a_problem_document_with_every_error() {
    let api = api().await;
    let mut message = employment("urn:raccordo:inps:INPS");
    message["data"]["worker"]["codiceFiscale"] = json!("RSSMRA80A01H501A");
    message["data"]["contract"]["startDate"] = json!("2026-02-30");
    let (status, problem) = api.post(INPS, &message).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"RAC-3101") && codes.contains(&"RAC-3120"), "{problem}");
    assert!(!problem.to_string().contains("RSSMRA80A01H501A"), "a codice fiscale leaked");
}

#[tokio::test]
async fn refusals_have_their_status_and_code() {
    let api = api().await;
    let message = employment("urn:raccordo:inps:INPS");
    let body = message.to_string().into_bytes();
    let json_type = [("content-type", "application/json")];
    // (token, headers, body, expected status, expected code)
    type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>, Vec<u8>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (None, json_type.to_vec(), body.clone(), StatusCode::UNAUTHORIZED, "RAC-8001"),
        (Some("not-a-known-token-at-all"), json_type.to_vec(), body.clone(), StatusCode::UNAUTHORIZED, "RAC-8001"),
        (Some(CPI), json_type.to_vec(), body.clone(), StatusCode::FORBIDDEN, "RAC-8003"),
        (
            Some(INPS),
            vec![("content-type", "application/xml")],
            body.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "RAC-8004",
        ),
        (
            Some(INPS),
            vec![("content-type", "application/json"), ("raccordo-profile", "no-such")],
            body.clone(),
            StatusCode::BAD_REQUEST,
            "RAC-7005",
        ),
        (Some(INPS), json_type.to_vec(), vec![b' '; 70 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "RAC-1002"),
        (Some(INPS), json_type.to_vec(), b"{\"broken\":".to_vec(), StatusCode::BAD_REQUEST, "RAC-1001"),
    ];
    for (token, headers, body, status, code) in cases {
        let (found, problem) = api.call("POST", "/v1/messages", token, &headers, body).await;
        assert_eq!((found, problem["code"].as_str()), (status, Some(code)), "{problem}");
    }
    // INPS may send only employment messages.
    let mut worker = Generator::new(1).message("worker.registered").unwrap();
    worker["source"] = json!("urn:raccordo:inps:INPS");
    let (status, problem) = api.post(INPS, &worker).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("RAC-8002")));
}

#[tokio::test]
async fn parties_read_only_their_own_messages() {
    let api = api().await;
    let (_, accepted) = api.post(INPS, &employment("urn:raccordo:inps:INPS")).await;
    let id = accepted["id"].as_str().unwrap();
    let (status, _) = api.call("GET", &format!("/v1/messages/{id}"), Some(CPI), &[], vec![]).await;
    assert_eq!(status, StatusCode::OK, "the CPI receives employments");
    let mut italian = employment("urn:raccordo:inps:INPS");
    italian["id"] = json!("another-id");
    italian["data"]["worker"]["citizenship"] = json!("100");
    italian["data"].as_object_mut().unwrap().remove("residencePermit");
    let (_, accepted) = api.post(INPS, &italian).await;
    let id = accepted["id"].as_str().unwrap();
    let (status, problem) = api.call("GET", &format!("/v1/messages/{id}"), Some(SUI), &[], vec![]).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("RAC-8006")),
        "the SUI gets no Italian worker's employment"
    );
    let (_, list) = api.call("GET", "/v1/messages?party=inps", Some(SUI), &[], vec![]).await;
    let visible: Vec<&str> = list["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(!visible.contains(&id), "asking for another party's list shows only one's own");
    let (status, _) = api.call("POST", &format!("/v1/messages/{id}/replay"), Some(SOCIAL), &[], vec![]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.call("GET", "/v1/dead-letters", Some(OPERATOR), &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn validate_checks_without_storing_and_party_profiles_are_accepted() {
    let api = api().await;
    let (status, answer) = api
        .call(
            "POST",
            "/v1/validate",
            Some(INPS),
            &[("content-type", "application/json")],
            employment("urn:raccordo:inps:INPS").to_string().into_bytes(),
        )
        .await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("valid")));
    let (_, list) = api.call("GET", "/v1/messages", Some(OPERATOR), &[], vec![]).await;
    assert!(list["messages"].as_array().unwrap().is_empty());

    let request = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/profiles/social-json/vacancy.published/valid/full-live-in.json"
    ))
    .unwrap();
    let crema = "example-token-social-crema";
    let (status, answer) = api
        .call(
            "POST",
            "/v1/messages",
            Some(crema),
            &[("content-type", "application/json"), ("raccordo-profile", "social-json")],
            request,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["receipt"]["data"]["messageSource"], "urn:raccordo:social:D142");
}

#[tokio::test]
async fn metrics_count_intake_by_type_profile_and_outcome() {
    let api = api().await;
    api.post(INPS, &employment("urn:raccordo:inps:INPS")).await;
    api.post(INPS, &employment("urn:raccordo:inps:INPS")).await;
    let response = router(Arc::clone(&api.state))
        .oneshot(Request::builder().uri("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text =
        String::from_utf8(axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    let line = |outcome: &str| {
        format!("raccordo_messages_received_total{{type=\"employment.started\",profile=\"canonical\",outcome=\"{outcome}\"}} 1")
    };
    assert!(text.contains(&line("accepted")) && text.contains(&line("duplicate")), "{text}");
    assert!(text.contains("raccordo_queue_depth{party=\"cpi-cremona\"} 1"), "{text}");
    assert!(text.contains("raccordo_intake_seconds_bucket"), "{text}");
    // SQLite's write lock: the intake groups held it, and no pull did.
    let value = |name: &str, turn: &str| -> f64 {
        let series = format!("raccordo_store_write_lock_{name}_total{{turn=\"{turn}\"}} ");
        let line = text.lines().find(|line| line.starts_with(&series)).unwrap_or_else(|| panic!("{series}: {text}"));
        line[series.len()..].parse().unwrap()
    };
    assert!(value("turns", "intake") >= 1.0 && value("seconds", "intake") > 0.0, "{text}");
    assert_eq!((value("turns", "pull"), value("seconds", "pull")), (0.0, 0.0));
    assert!(text.contains("# TYPE raccordo_store_write_lock_seconds_total counter"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_is_served() {
    let document: Value = serde_json::from_str(raccordo::api::OPENAPI).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> =
        raccordo::api::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    routes.sort();
    assert_eq!(documented, routes);
    // Every route answers something other than 404/405 (it exists in the router).
    let api = api().await;
    for (method, path) in raccordo::api::ROUTES {
        let uri = path.replace("{id}", "01a2-unknown").replace("{name}", "receipt");
        let (status, _) = api.call(&method.to_uppercase(), &uri, Some(OPERATOR), &[], vec![]).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && (uri.contains("unknown") || status != StatusCode::NOT_FOUND),
            "{method} {uri}: {status}"
        );
    }
    let (status, served) = api.call("GET", "/openapi.json", None, &[], vec![]).await;
    assert_eq!((status, served), (StatusCode::OK, document));
}
