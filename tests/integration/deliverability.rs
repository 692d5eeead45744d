//! Nothing is accepted that a recipient cannot receive: a message routed to a party whose
//! profile can't write it (after the route's projection) is refused at intake with 422,
//! naming the recipient's profile, the field and the requirement, and `POST /v1/validate`
//! says the same; an optional route skips that recipient instead, and the timeline says why.
//! The recipients here speak the real formats of the bundled example: the regional SIL reads
//! the SAP (cpi-sap), the job centre of Crema reads CO UniLav (cpi-unilav).

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
use serde_json::{json, Value};
use tower::ServiceExt;

const CPI: &str = "example-token-cpi-cremona";
const INPS: &str = "example-token-inps-pull";

struct Api {
    state: Arc<Gateway>,
    _dir: tempfile::TempDir,
}

/// The example configuration, changed by `edit` (a party without its entity code, an
/// optional route).
async fn api(edit: impl FnOnce(&mut Config)) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let mut config = Config::parse(EXAMPLE, "example.toml", &catalog).unwrap();
    edit(&mut config);
    let state = common::app_state(catalog, config, dir.path()).await;
    Api { state: Arc::new(state), _dir: dir }
}

impl Api {
    async fn call(&self, method: &str, uri: &str, token: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
            .unwrap();
        let response = router(Arc::clone(&self.state)).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn stored(&self) -> usize {
        let (_, list) = self.call("GET", "/v1/messages", "example-token-operator", None).await;
        list["messages"].as_array().unwrap().len()
    }
}

fn vector(path: &str) -> Value {
    let text = std::fs::read(format!("{}/conformance/standard/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// (code, path, requirement) of each error of a problem document, and its messages.
fn errors(problem: &Value) -> (Vec<(String, String, Option<String>)>, String) {
    let list = problem["errors"].as_array().cloned().unwrap_or_default();
    let pairs = list
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap_or_default().to_owned(),
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["requirement"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let messages = list.iter().filter_map(|e| e["message"].as_str()).collect::<Vec<_>>().join("\n");
    (pairs, messages)
}

/// A register entry from the job centre of Cremona, whose registration names the CPI by a
/// code of its own: the SAP needs the CPI's ministry code, which only the configuration has.
fn entry() -> Value {
    let mut message = vector("worker.registered/valid/minimal.json");
    message["source"] = json!("urn:raccordo:cpi:CR01");
    message
}

#[tokio::test]
async fn a_message_the_sap_recipient_cannot_receive_is_refused_at_intake_and_by_validate() {
    // Without the sending CPI's entity code, nothing can fill the SAP's codiceentetit.
    let api = api(|config| {
        for party in &mut config.parties {
            if party.id == "cpi-cremona" {
                party.entity_code = None;
            }
        }
    })
    .await;
    let message = entry();
    let (status, problem) = api.call("POST", "/v1/messages", CPI, Some(&message)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (found, messages) = errors(&problem);
    assert_eq!(
        found,
        [("RAC-2020".to_owned(), "/data/registration/cpi".to_owned(), Some("PRF-cpi-sap-01".to_owned()))],
        "{problem}"
    );
    assert!(messages.contains("sil-lombardia") && messages.contains("cpi-sap"), "{messages}");
    assert_eq!(api.stored().await, 0, "nothing was accepted");

    // Vendors see the same answer while integrating.
    let (status, answer) = api.call("POST", "/v1/validate", CPI, Some(&message)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(errors(&answer).0, found);
}

#[tokio::test]
async fn with_the_entity_code_configured_the_same_message_reaches_the_sap_recipient() {
    let api = api(|_| {}).await;
    let (status, answer) = api.call("POST", "/v1/messages", CPI, Some(&entry())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let (_, stored) = api.call("GET", &format!("/v1/messages/{id}"), CPI, None).await;
    let parties: Vec<&str> =
        stored["deliveries"].as_array().unwrap().iter().map(|d| d["party"].as_str().unwrap()).collect();
    assert!(parties.contains(&"sil-lombardia"), "{stored}");
}

#[tokio::test]
async fn an_optional_route_skips_the_recipient_and_the_timeline_says_why() {
    let api = api(|config| {
        for party in &mut config.parties {
            if party.id == "cpi-cremona" {
                party.entity_code = None;
            }
        }
        for route in &mut config.routes {
            if route.to.iter().any(|party| party == "sil-lombardia") {
                route.optional = true;
            }
        }
    })
    .await;
    let (status, answer) = api.call("POST", "/v1/messages", CPI, Some(&entry())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let (_, stored) = api.call("GET", &format!("/v1/messages/{id}"), CPI, None).await;
    let deliveries: Vec<&str> =
        stored["deliveries"].as_array().unwrap().iter().map(|d| d["party"].as_str().unwrap()).collect();
    assert!(!deliveries.contains(&"sil-lombardia"), "{stored}");
    let skipped = stored["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["event"] == "skipped")
        .unwrap_or_else(|| panic!("no skipped event: {stored}"));
    assert_eq!(skipped["party"], "sil-lombardia");
    assert!(skipped["detail"].to_string().contains("PRF-cpi-sap-01"), "{skipped}");
}

#[tokio::test]
async fn a_change_the_unilav_job_centre_cannot_receive_is_refused_naming_its_requirement() {
    // The example's route of changes to the job centre is optional (the CO carries only
    // some changes); made mandatory here, the job centre's profile decides.
    let api = api(|config| {
        for route in &mut config.routes {
            if route.to.iter().any(|party| party == "cpi-crema") {
                route.optional = false;
            }
        }
    })
    .await;
    // INPS's change, without the parties' anagraphics that a CO repeats, about an
    // employment in Crema (the job centre serves comune D142).
    let mut message = vector("employment.changed/valid/extension.json");
    message["source"] = json!("urn:raccordo:inps:INPS");
    message["data"]["contract"]["workplace"] = json!({ "comune": "D142", "cap": "26013", "street": "VIA ROMA 1" });
    let (status, problem) = api.call("POST", "/v1/messages", INPS, Some(&message)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (found, messages) = errors(&problem);
    assert!(
        !found.is_empty()
            && found.iter().all(|(code, _, requirement)| code == "RAC-2020"
                && requirement.as_deref().is_some_and(|id| id.starts_with("PRF-cpi-unilav-"))),
        "{problem}"
    );
    assert!(messages.contains("cpi-crema") && messages.contains("cpi-unilav"), "{messages}");
    assert_eq!(api.stored().await, 0);
}
