//! Crash safety: a gateway process killed with SIGKILL while it takes messages and
//! delivers them, then started again, loses no accepted message and no delivery. The
//! recipient may see a delivery twice (a lease had not expired when the process died), but
//! always under the same idempotency key, so once deduplicated each accepted message
//! arrives exactly once. On SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use raccordo::simulate::generate::Generator;
use serde_json::json;

const TOKEN: &str = "crash-test-token-0123456789";

#[derive(Default)]
struct Seen {
    /// idempotency key -> (message id, times received)
    keys: HashMap<String, (String, u32)>,
}

async fn recipient(seen: Arc<Mutex<Seen>>) -> String {
    let app = Router::new().route(
        "/in",
        post(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                // Slow enough that a kill finds deliveries in flight.
                tokio::time::sleep(Duration::from_millis(30)).await;
                let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
                let mut seen = seen.lock().unwrap();
                let entry = seen.keys.entry(header("idempotency-key")).or_insert((header("raccordo-message-id"), 0));
                entry.1 += 1;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn start(config: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_raccordo"))
        .args(["serve", "--config", config.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(response) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway did not become ready");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn scenario(storage: String) {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = recipient(Arc::clone(&seen)).await;
    let config = dir.path().join("raccordo.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nurl = \"{storage}\"\n[delivery]\nconcurrency = 4\ntimeout_secs = 2\nmax_attempts = 50\nbackoff_initial_ms = 50\nbackoff_max_secs = 1\nlease_secs = 2\npoll_interval_ms = 20\n\n\
             [[parties]]\nid = \"inps\"\nkind = \"inps\"\ncode = \"INPS\"\nname = \"INPS\"\nsends = {{ profiles = [\"canonical\"] }}\nauth = {{ tokens = [\"{TOKEN}\"] }}\n\n\
             [[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nreceives = {{ profile = \"canonical\", endpoint = \"{url}\" }}\n\n\
             [[routes]]\ntypes = [\"employment.started\"]\nto = [\"cpi\"]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut child = start(&config, port);
    wait_ready(&client, port).await;

    // Send messages while the process is killed and restarted under them.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let sender = {
        let accepted = Arc::clone(&accepted);
        let client = client.clone();
        tokio::spawn(async move {
            let mut generator = Generator::new(77);
            for _ in 0..150 {
                let mut message = generator.message("employment.started").unwrap();
                message["source"] = json!("urn:raccordo:inps:INPS");
                // While the process is down, the sender retries for a while, as a party
                // would: a restart that is slow under load must not empty the test.
                let give_up = std::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let answer = client
                        .post(format!("http://127.0.0.1:{port}/v1/messages"))
                        .bearer_auth(TOKEN)
                        .json(&message)
                        .send()
                        .await;
                    if let Ok(response) = answer {
                        if response.status() == StatusCode::ACCEPTED {
                            let body: serde_json::Value = response.json().await.unwrap();
                            accepted.lock().unwrap().insert(body["id"].as_str().unwrap().to_owned());
                        }
                        break;
                    }
                    if std::time::Instant::now() > give_up {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(Duration::from_millis(8)).await;
            }
        })
    };
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        child.kill().unwrap(); // SIGKILL: no graceful anything.
        child.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        child = start(&config, port);
        wait_ready(&client, port).await;
    }
    sender.await.unwrap();
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() > 20, "enough messages got through to mean something: {}", accepted.len());

    // Everything accepted arrives, sooner or later.
    let start = Instant::now();
    loop {
        let delivered: HashSet<String> =
            seen.lock().unwrap().keys.values().map(|(message, _)| message.clone()).collect();
        if accepted.is_subset(&delivered) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} accepted messages never arrived",
            accepted.difference(&delivered).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // One delivery (one key) per accepted message: redelivery reuses the key.
    let mut keys_per_message: HashMap<String, u32> = HashMap::new();
    for (message, _) in seen.lock().unwrap().keys.values() {
        *keys_per_message.entry(message.clone()).or_default() += 1;
    }
    assert!(keys_per_message.values().all(|count| *count == 1), "a message was delivered under two keys");
    // A message may arrive without its sender having seen the 202 (the process died between
    // the commit and the answer); it must still be one the store holds.
    let messages: Vec<String> = keys_per_message.into_keys().collect();
    let store = raccordo::store::Store::open(&storage).await.unwrap();
    for message in messages {
        assert!(store.message(&message).await.unwrap().is_some(), "{message} arrived but was never stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(format!("sqlite://{}/raccordo.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_on_postgresql() {
    scenario(common::postgres_url().await).await;
}

/// SIGTERM: the gateway stops taking requests, finishes the deliveries in flight and exits
/// cleanly, leaving the rest queued for the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_deliveries_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite://{}/raccordo.db", dir.path().display());
    let started = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let app = {
        let started = Arc::clone(&started);
        Router::new().route(
            "/in",
            post(move || {
                let started = Arc::clone(&started);
                async move {
                    started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = dir.path().join("raccordo.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nurl = \"{storage}\"\n[delivery]\nconcurrency = 2\ntimeout_secs = 5\npoll_interval_ms = 20\n\n\
             [[parties]]\nid = \"inps\"\nkind = \"inps\"\ncode = \"INPS\"\nname = \"INPS\"\nsends = {{ profiles = [\"canonical\"] }}\nauth = {{ tokens = [\"{TOKEN}\"] }}\n\n\
             [[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nreceives = {{ profile = \"canonical\", endpoint = \"{url}\" }}\n\n\
             [[routes]]\ntypes = [\"employment.started\"]\nto = [\"cpi\"]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let client = reqwest::Client::new();
    let mut child = start(&config, port);
    wait_ready(&client, port).await;
    let mut generator = Generator::new(3);
    for _ in 0..5 {
        let mut message = generator.message("employment.started").unwrap();
        message["source"] = json!("urn:raccordo:inps:INPS");
        let response = client
            .post(format!("http://127.0.0.1:{port}/v1/messages"))
            .bearer_auth(TOKEN)
            .json(&message)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    while started.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stop = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean exit: {status:?}");
    assert!(stop.elapsed() >= Duration::from_millis(800), "it waited for the deliveries in flight");
    assert!(client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err(), "no longer listening");
    let store = raccordo::store::Store::open(&storage).await.unwrap();
    let depth: i64 = store.queue_depth().await.unwrap().iter().map(|(_, depth)| depth).sum();
    assert_eq!(depth, 3, "the two in flight were delivered, the other three left queued");
    let dead = store.dead_letters(None, 0, 10).await.unwrap();
    assert!(dead.is_empty());
}
