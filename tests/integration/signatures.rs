//! Signed messages (ModI INTEGRITY_REST_01) with certificates made here: a good signature
//! is accepted; a missing one, a tampered body, a tampered signed header, a certificate
//! from another CA, an expired certificate, another party's certificate, another audience
//! and a replayed `jti` are each refused with their code. raccordo's own deliveries carry
//! signatures the recipient verifies.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::path::Path;
use std::sync::{Arc, Mutex};

use openssl::hash::MessageDigest;
use raccordo::api;
use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::modi::{Signer, Verifier, SIGNATURE_HEADER};
use raccordo::pki::{self, Issued, Usage};
use raccordo::simulate::generate::Generator;
use raccordo::store::Store;
use serde_json::{json, Value};

const AUDIENCE: &str = "urn:raccordo:gateway:test";

/// What the recipient received: each request's headers and body.
type Received = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

fn fingerprint(issued: &Issued) -> String {
    issued.certificate.digest(MessageDigest::sha256()).unwrap().iter().map(|b| format!("{b:02X}")).collect()
}

struct World {
    dir: tempfile::TempDir,
    url: String,
    received: Received,
    recipient_url: String,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = chrono::Utc::now().timestamp();
    let ca = pki::issue("signing CA", None, now - 60, now + 86_400, Usage::Ca).unwrap();
    std::fs::write(d.join("ca.crt"), ca.certificate.to_pem().unwrap()).unwrap();
    let other_ca = pki::issue("another CA", None, now - 60, now + 86_400, Usage::Ca).unwrap();
    let issue = |name: &str, issuer: &Issued, from: i64, until: i64| {
        let issued = pki::issue(name, Some(issuer), from, until, Usage::Client).unwrap();
        issued.write(d, name).unwrap();
        issued
    };
    let party = issue("party", &ca, now - 60, now + 86_400);
    let expired = issue("expired", &ca, now - 86_400, now - 3600);
    let foreign = issue("foreign", &other_ca, now - 60, now + 86_400);
    issue("stranger", &ca, now - 60, now + 86_400);
    issue("gateway", &ca, now - 60, now + 86_400);

    // A recipient that records what it gets.
    let received: Received = Arc::default();
    let log = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/in",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push((headers, body.to_vec()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recipient_url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let path = |name: &str| d.join(name).display().to_string();
    let text = format!(
        "[storage]\nurl = \"sqlite://{db}\"\n[delivery]\npoll_interval_ms = 20\n\
         [signing]\ncertificate = \"{gateway_crt}\"\nprivate_key = \"{gateway_key}\"\ntrusted_ca = [\"{ca}\"]\naudience = \"{AUDIENCE}\"\n\
         [[parties]]\nid = \"signer\"\nkind = \"inps\"\ncode = \"INPS\"\nname = \"Signer\"\n\
         sends = {{ profiles = [\"canonical\"], signed = true }}\n\
         auth = {{ tokens = [\"signer-token-0123456789\"], certificate_sha256 = [\"{party_fp}\", \"{expired_fp}\", \"{foreign_fp}\"] }}\n\
         [[parties]]\nid = \"sui\"\nkind = \"sui\"\ncode = \"SUI\"\nname = \"SUI\"\n\
         receives = {{ profile = \"canonical\", endpoint = \"{recipient_url}\", signed = true }}\n\
         [[routes]]\ntypes = [\"employment.started\"]\nto = [\"sui\"]\n",
        db = path("raccordo.db"),
        gateway_crt = path("gateway.crt"),
        gateway_key = path("gateway.key"),
        ca = path("ca.crt"),
        party_fp = fingerprint(&party),
        expired_fp = fingerprint(&expired),
        foreign_fp = fingerprint(&foreign),
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "signing.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, config, store, AUDIENCE).unwrap();
    let deliverer = Arc::new(raccordo::delivery::Deliverer::new(Arc::clone(&state), "test".into()));
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    std::mem::forget(_stop);
    tokio::spawn(deliverer.run(stopped));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, state, std::future::pending()));
    World { dir, url, received, recipient_url }
}

fn signer(dir: &Path, name: &str) -> Signer {
    Signer::load(&dir.join(format!("{name}.crt")), &dir.join(format!("{name}.key")), "urn:raccordo:inps:INPS").unwrap()
}

fn message(n: u64) -> Vec<u8> {
    let mut message = Generator::new(n).message("employment.started").unwrap();
    message["source"] = json!("urn:raccordo:inps:INPS");
    message["id"] = json!(format!("signed-{n}"));
    message.to_string().into_bytes()
}

/// Posts `body` with the given signature headers; returns the status and the error code.
async fn post(world: &World, body: Vec<u8>, content_type: &str, signed: Option<(String, String)>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(&world.url)
        .bearer_auth("signer-token-0123456789")
        .header("content-type", content_type)
        .body(body);
    if let Some((digest, jws)) = signed {
        request = request.header("digest", digest).header(SIGNATURE_HEADER, jws);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_verified_and_each_failure_has_its_code() {
    let world = world().await;
    let d = world.dir.path();
    let now = chrono::Utc::now().timestamp();
    let json = "application/json";
    let party = signer(d, "party");

    let body = message(1);
    let good = party.sign(&body, json, AUDIENCE, now).unwrap();
    assert_eq!(post(&world, body.clone(), json, Some(good.clone())).await.0, 202);
    // The same request again: its jti was seen.
    assert_eq!(post(&world, body, json, Some(good)).await, (409, "RAC-8108".into()));

    assert_eq!(post(&world, message(2), json, None).await, (401, "RAC-8101".into()));

    let signed = party.sign(&message(3), json, AUDIENCE, now).unwrap();
    assert_eq!(post(&world, message(4), json, Some(signed)).await, (400, "RAC-8102".into()), "tampered body");

    let body = message(5);
    let signed = party.sign(&body, json, AUDIENCE, now).unwrap();
    let tampered = "application/json; charset=utf-8";
    assert_eq!(post(&world, body, tampered, Some(signed)).await, (400, "RAC-8109".into()), "tampered header");

    let body = message(6);
    let (digest, jws) = party.sign(&body, json, AUDIENCE, now).unwrap();
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    let forged = (digest, parts.join("."));
    assert_eq!(
        post(&world, body, json, Some(forged)).await,
        (401, "RAC-8103".into()),
        "a signature that does not verify"
    );

    let body = message(7);
    let signed = signer(d, "foreign").sign(&body, json, AUDIENCE, now).unwrap();
    assert_eq!(post(&world, body, json, Some(signed)).await, (403, "RAC-8104".into()), "another CA");

    let body = message(8);
    let signed = signer(d, "expired").sign(&body, json, AUDIENCE, now).unwrap();
    assert_eq!(post(&world, body, json, Some(signed)).await, (403, "RAC-8105".into()), "an expired certificate");

    let body = message(9);
    let signed = signer(d, "stranger").sign(&body, json, AUDIENCE, now).unwrap();
    assert_eq!(post(&world, body, json, Some(signed)).await, (403, "RAC-8104".into()), "another party's certificate");

    let body = message(10);
    let signed = party.sign(&body, json, "urn:raccordo:gateway:elsewhere", now).unwrap();
    assert_eq!(post(&world, body, json, Some(signed)).await, (401, "RAC-8107".into()), "another audience");

    let body = message(11);
    let signed = party.sign(&body, json, AUDIENCE, now - 3600).unwrap();
    assert_eq!(post(&world, body, json, Some(signed)).await, (401, "RAC-8106".into()), "an old signature");

    // The accepted message was delivered signed by raccordo: the recipient verifies it.
    let start = std::time::Instant::now();
    while world.received.lock().unwrap().is_empty() {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "nothing delivered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (headers, body) = world.received.lock().unwrap()[0].clone();
    let verifier = Verifier::load(&[d.join("ca.crt")], &world.recipient_url).unwrap();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verified = verifier
        .verify(
            &body,
            header("digest"),
            header(SIGNATURE_HEADER),
            header("content-type"),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    assert!(!verified.jti.is_empty());
}
