//! Delivery end to end on 127.0.0.1: real recipient servers (one that acknowledges, one
//! that fails with 500 before it recovers, one that refuses with 400, one too slow to
//! answer, one down that comes back), the worker retrying with backoff, dead letters, and
//! a slow recipient never holding up the others, and messages about one subject delivered
//! in order when the route asks for it. On SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::delivery::Deliverer;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::intake::Answer;
use raccordo::simulate::generate::Generator;
use raccordo::store::Store;
use serde_json::json;

/// A recipient: how it answers its n-th request (1-based), and the idempotency keys seen.
#[derive(Clone)]
struct Recipient {
    calls: Arc<AtomicU32>,
    keys: Arc<Mutex<Vec<String>>>,
    /// The `ce-source` and `ce-id` headers of each acknowledged delivery.
    identities: Arc<Mutex<Vec<(String, String)>>>,
}

async fn recipient(answer: fn(u32) -> (StatusCode, u64)) -> (Recipient, String) {
    recipient_at("127.0.0.1:0".parse().unwrap(), answer).await
}

async fn recipient_at(address: std::net::SocketAddr, answer: fn(u32) -> (StatusCode, u64)) -> (Recipient, String) {
    let recipient = Recipient {
        calls: Arc::new(AtomicU32::new(0)),
        keys: Arc::new(Mutex::new(Vec::new())),
        identities: Arc::new(Mutex::new(Vec::new())),
    };
    let state = recipient.clone();
    let app = Router::new().route(
        "/in",
        post(move |headers: HeaderMap| {
            let state = state.clone();
            async move {
                let call = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let (status, delay_ms) = answer(call);
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                if status.is_success() {
                    let key = headers.get("idempotency-key").unwrap().to_str().unwrap().to_owned();
                    state.keys.lock().unwrap().push(key);
                    let header = |name: &str| headers.get(name).map_or("", |v| v.to_str().unwrap()).to_owned();
                    assert_eq!(header("ce-specversion"), "1.0");
                    state.identities.lock().unwrap().push((header("ce-source"), header("ce-id")));
                }
                (status, axum::Json(json!({ "data": { "status": "accepted" } })))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (recipient, url)
}

fn config(catalog: &Catalog, endpoints: &[(&str, &str)], storage: &str) -> Config {
    let mut text = format!(
        "[storage]\nurl = \"{storage}\"\n[delivery]\nconcurrency = 8\ntimeout_secs = 1\nmax_attempts = 4\nbackoff_initial_ms = 150\nbackoff_max_secs = 1\nlease_secs = 30\npoll_interval_ms = 20\n\n\
         [[parties]]\nid = \"inps\"\nkind = \"inps\"\ncode = \"INPS\"\nname = \"INPS\"\nsends = {{ profiles = [\"canonical\"] }}\nauth = {{ tokens = [\"sender-token-0123456789\"] }}\n"
    );
    for (index, (id, url)) in endpoints.iter().enumerate() {
        text.push_str(&format!(
            "\n[[parties]]\nid = \"{id}\"\nkind = \"cpi\"\ncode = \"C{index}\"\nname = \"{id}\"\nreceives = {{ profile = \"canonical\", endpoint = \"{url}\" }}\n"
        ));
    }
    let recipients: Vec<String> = endpoints.iter().map(|(id, _)| format!("\"{id}\"")).collect();
    text.push_str(&format!("\n[[routes]]\ntypes = [\"employment.started\"]\nto = [{}]\n", recipients.join(", ")));
    Config::parse(&text, "test.toml", catalog).unwrap()
}

/// Waits until no delivery is pending or in flight, at most `limit`.
async fn settle(store: &Store, limit: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if store.queue_depth().await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deliveries did not settle: {:?}", store.queue_depth().await.unwrap());
}

async fn scenario(storage: String) {
    let (ok, ok_url) = recipient(|_| (StatusCode::OK, 0)).await;
    let (flaky, flaky_url) =
        recipient(|call| if call <= 2 { (StatusCode::INTERNAL_SERVER_ERROR, 0) } else { (StatusCode::OK, 0) }).await;
    let (refusing, refusing_url) = recipient(|_| (StatusCode::BAD_REQUEST, 0)).await;
    let (slow, slow_url) = recipient(|_| (StatusCode::OK, 3_000)).await;
    // A recipient that is down: nothing listens on this port until later.
    let down_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_address = down_listener.local_addr().unwrap();
    drop(down_listener);
    let down_url = format!("http://{down_address}/in");

    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = config(
        &catalog,
        &[
            ("ok", &ok_url),
            ("flaky", &flaky_url),
            ("refusing", &refusing_url),
            ("slow", &slow_url),
            ("down", &down_url),
        ],
        &storage,
    );
    let store = Store::open(&config.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let sender = Arc::clone(state.parties.get("inps").unwrap());
    let intake = state.intake();
    let mut generator = Generator::new(9);
    let mut ids = Vec::new();
    let mut identities = Vec::new();
    for _ in 0..3 {
        let mut message = generator.message("employment.started").unwrap();
        message["source"] = json!(sender.urn);
        identities.push((sender.urn.clone(), message["id"].as_str().unwrap().to_owned()));
        let answers = intake.receive(&sender, "canonical", message.to_string().as_bytes(), false).await.unwrap();
        let Answer::Accepted { body, .. } = &answers[0] else { panic!("rejected: {answers:?}") };
        ids.push(body["id"].as_str().unwrap().to_owned());
    }

    let deliverer = Arc::new(Deliverer::new(Arc::clone(&state), "test-instance".into()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(Arc::clone(&deliverer).run(stopped));

    // The healthy recipient gets everything at once, whatever the slow one does.
    let start = std::time::Instant::now();
    while ok.keys.lock().unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(2), "the healthy recipient waited on the others");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The recipient that was down comes back.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (down, _) = recipient_at(down_address, |_| (StatusCode::ACCEPTED, 0)).await;
    settle(&state.store, Duration::from_secs(20)).await;
    let _ = stop.send(true);
    worker.await.unwrap();

    let mut statuses: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for id in &ids {
        let stored = state.store.message(id).await.unwrap().unwrap();
        for delivery in stored.deliveries {
            statuses.entry(delivery.party).or_default().push((delivery.status.to_string(), delivery.attempts));
        }
    }
    let all = |party: &str, status: &str| statuses[party].iter().all(|(s, _)| s == status);
    assert!(all("ok", "delivered") && statuses["ok"].iter().all(|(_, a)| *a == 1), "{statuses:?}");
    assert!(all("flaky", "delivered"), "{statuses:?}");
    assert!(statuses["flaky"].iter().map(|(_, a)| a).sum::<i64>() >= 4, "two 500s were retried: {statuses:?}");
    assert!(
        all("refusing", "dead") && statuses["refusing"].iter().all(|(_, a)| *a == 1),
        "a 400 is not retried: {statuses:?}"
    );
    assert!(
        all("slow", "dead") && statuses["slow"].iter().all(|(_, a)| *a == 4),
        "timeouts retried up to max_attempts: {statuses:?}"
    );
    assert!(all("down", "delivered"), "{statuses:?}");
    assert_eq!(refusing.calls.load(Ordering::SeqCst), 3);
    assert!(slow.calls.load(Ordering::SeqCst) >= 12);
    // Each delivery acknowledged once, under its own idempotency key.
    for recipient in [&ok, &flaky, &down] {
        let keys = recipient.keys.lock().unwrap();
        let unique: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!((keys.len(), unique.len()), (3, 3));
        // The ce- headers name each message as its sender did (XCH-01).
        let mut named = recipient.identities.lock().unwrap().clone();
        named.sort();
        let mut sent = identities.clone();
        sent.sort();
        assert_eq!(named, sent);
    }
    let dead = state.store.dead_letters(None, 0, 100).await.unwrap();
    assert_eq!(dead.len(), 6);
    // The flaky recipient's failures went to whichever of its three deliveries reached it
    // first (they are sent at once), so any timeline may show them.
    let mut timelines = Vec::new();
    for id in &ids {
        timelines.push(state.store.message(id).await.unwrap().unwrap().events);
    }
    let shows = |timeline: &[raccordo::store::Event], kind: &str, party: &str| {
        timeline.iter().any(|e| e.kind.as_str() == kind && e.party.as_deref() == Some(party))
    };
    assert!(timelines.iter().any(|t| shows(t, "attempt-failed", "flaky")), "{timelines:#?}");
    assert!(timelines.iter().all(|t| shows(t, "dead-lettered", "refusing")), "{timelines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(format!("sqlite://{}/raccordo.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_on_postgresql() {
    scenario(common::postgres_url().await).await;
}

/// A route that keeps order delivers messages about one subject one at a time, in the order
/// they were accepted, even when the recipient fails some of them first; other subjects
/// are not held up.
async fn ordered_scenario(storage: String) {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let seen: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    let calls = Arc::new(AtomicU32::new(0));
    let (log, count) = (Arc::clone(&received), Arc::clone(&calls));
    let app = Router::new().route(
        "/in",
        post(move |body: axum::body::Bytes| {
            let (log, count, seen) = (Arc::clone(&log), Arc::clone(&count), Arc::clone(&seen));
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let id = message["id"].as_str().unwrap().to_owned();
                // Each message fails its first attempt: without ordering, the next message
                // about the same subject would overtake it.
                if seen.lock().unwrap().insert(id.clone()) {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let subject = message["data"]["inpsRelationshipCode"].as_str().unwrap().to_owned();
                log.lock().unwrap().push((subject, id));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let mut settings = config(&catalog, &[("ordered", &url)], &storage);
    settings.routes[0].order_by = Some("/data/inpsRelationshipCode".into());
    settings.delivery.backoff_initial_ms = 20;
    let store = Store::open(&settings.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, settings, store, "urn:raccordo:gateway:test").unwrap();
    let sender = Arc::clone(state.parties.get("inps").unwrap());
    let intake = state.intake();
    let mut generator = Generator::new(21);
    let mut accepted: HashMap<String, Vec<String>> = HashMap::new();
    for index in 0..12 {
        let subject = format!("4000000000{}", index % 3);
        let mut message = generator.message("employment.started").unwrap();
        message["source"] = json!(sender.urn);
        message["data"]["inpsRelationshipCode"] = json!(subject);
        let answers = intake.receive(&sender, "canonical", message.to_string().as_bytes(), false).await.unwrap();
        assert!(matches!(answers[0], Answer::Accepted { .. }), "{answers:?}");
        accepted.entry(subject).or_default().push(message["id"].as_str().unwrap().to_owned());
    }
    let deliverer = Arc::new(Deliverer::new(Arc::clone(&state), "test-instance".into()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(Arc::clone(&deliverer).run(stopped));
    settle(&state.store, Duration::from_secs(30)).await;
    let _ = stop.send(true);
    worker.await.unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 24, "each message failed once, then was delivered");
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 12);
    for (subject, order) in &accepted {
        let arrived: Vec<&String> = received.iter().filter(|(s, _)| s == subject).map(|(_, id)| id).collect();
        assert_eq!(arrived, order.iter().collect::<Vec<_>>(), "subject {subject} out of order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_deliveries_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    ordered_scenario(format!("sqlite://{}/raccordo.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_deliveries_on_postgresql() {
    ordered_scenario(common::postgres_url().await).await;
}

/// Retries and leases on the gateway's clock, advanced by the test: a retry an hour away
/// and a lease of ten minutes are run through without waiting for either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_leases_follow_the_gateway_clock() {
    let (flaky, flaky_url) =
        recipient(|call| if call == 1 { (StatusCode::SERVICE_UNAVAILABLE, 0) } else { (StatusCode::OK, 0) }).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite://{}/raccordo.db", dir.path().display());
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let text = format!(
        "[storage]\nurl = \"{storage}\"\n[delivery]\nmax_attempts = 5\nbackoff_initial_ms = 3600000\nbackoff_max_secs = 7200\nlease_secs = 600\npoll_interval_ms = 10\n\n\
         [[parties]]\nid = \"inps\"\nkind = \"inps\"\ncode = \"INPS\"\nname = \"INPS\"\nsends = {{ profiles = [\"canonical\"] }}\n\n\
         [[parties]]\nid = \"flaky\"\nkind = \"cpi\"\ncode = \"C1\"\nname = \"flaky\"\nreceives = {{ profile = \"canonical\", endpoint = \"{flaky_url}\" }}\n\n\
         [[routes]]\ntypes = [\"employment.started\"]\nto = [\"flaky\"]\n"
    );
    let config = Config::parse(&text, "test.toml", &catalog).unwrap();
    let store = Store::open(&storage).await.unwrap();
    let mut gateway = Gateway::build(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let clock = raccordo::clock::Clock::manual(1_800_000_000_000);
    gateway.clock = clock.clone();
    gateway.ids = raccordo::clock::Ids::sequential();
    let state = Arc::new(gateway);
    let sender = Arc::clone(state.parties.get("inps").unwrap());
    let mut generator = Generator::new(11);
    let mut send = |n: u32| {
        let mut message = generator.message("employment.started").unwrap();
        message["source"] = json!(sender.urn);
        message["id"] = json!(format!("clock-{n}"));
        message.to_string()
    };
    let (first, second) = (send(1), send(2));
    let intake = state.intake();
    for body in [&first, &second] {
        let answers = intake.receive(&sender, "canonical", body.as_bytes(), false).await.unwrap();
        assert!(matches!(answers[0], Answer::Accepted { .. }), "{answers:?}");
    }
    let started = std::time::Instant::now();

    // A worker that dies holding the second delivery: its lease keeps it from others.
    let lease_ms = 600_000;
    let crashed = state.store.claim("crashed", clock.now_millis(), lease_ms, 1).await.unwrap();
    assert_eq!(crashed.len(), 1);

    // The other delivery fails once: its retry is due in half an hour to an hour.
    let deliverer = Arc::new(Deliverer::new(Arc::clone(&state), "worker".into()));
    let claimed = state.store.claim("worker", clock.now_millis(), lease_ms, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "the crashed worker's delivery is leased");
    deliverer.deliver(claimed.into_iter().next().unwrap()).await;
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 1);
    assert!(state.store.claim("worker", clock.now_millis(), lease_ms, 10).await.unwrap().is_empty(), "nothing due yet");

    // The workers run; eleven minutes on, the lease has expired: the crashed delivery is
    // sent again, under its key. An hour on, the retry is due and goes out.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&deliverer).run(stopped));
    clock.advance(Duration::from_secs(11 * 60));
    wait_for(|| flaky.calls.load(Ordering::SeqCst) == 2).await;
    clock.advance(Duration::from_secs(60 * 60));
    wait_for(|| flaky.calls.load(Ordering::SeqCst) == 3).await;
    settle(&state.store, Duration::from_secs(5)).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    let keys = flaky.keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2, "each delivery acknowledged once: {keys:?}");
    assert_ne!(keys[0], keys[1]);
    assert!(started.elapsed() < Duration::from_secs(10), "an hour and ten minutes took {:?}", started.elapsed());
    // The timelines keep the gateway's time: the retry recorded 71 minutes after the failure.
    let summaries = state.store.list(&raccordo::store::ListFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert!(summaries.iter().all(|m| m.status.as_str() == "delivered"), "{summaries:?}");
    let mut retried = None;
    for summary in &summaries {
        let events = state.store.message(&summary.id).await.unwrap().unwrap().events;
        let at = |kind: &str| events.iter().find(|e| e.kind.as_str() == kind).map(|e| e.at);
        if let (Some(failed), Some(delivered)) = (at("attempt-failed"), at("delivered")) {
            retried = Some(delivered - failed);
        }
    }
    assert_eq!(retried, Some(71 * 60 * 1000));
}

/// A worker holds more deliveries than it sends at once; told to stop, it finishes the
/// request in flight and hands back the ones it had not sent, so another instance can take
/// them at once instead of after their lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_hands_back_what_it_has_not_sent() {
    let (slow, slow_url) = recipient(|_| (StatusCode::OK, 500)).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite://{}/raccordo.db", dir.path().display());
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let text = format!(
        "[storage]\nurl = \"{storage}\"\n[delivery]\nconcurrency = 1\ntimeout_secs = 5\nlease_secs = 600\npoll_interval_ms = 10\n\n\
         [[parties]]\nid = \"inps\"\nkind = \"inps\"\ncode = \"INPS\"\nname = \"INPS\"\nsends = {{ profiles = [\"canonical\"] }}\n\n\
         [[parties]]\nid = \"slow\"\nkind = \"cpi\"\ncode = \"C1\"\nname = \"slow\"\nreceives = {{ profile = \"canonical\", endpoint = \"{slow_url}\" }}\n\n\
         [[routes]]\ntypes = [\"employment.started\"]\nto = [\"slow\"]\n"
    );
    let config = Config::parse(&text, "test.toml", &Catalog::load(&Assets::Embedded).unwrap()).unwrap();
    let store = Store::open(&storage).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let sender = Arc::clone(state.parties.get("inps").unwrap());
    let intake = state.intake();
    let mut generator = Generator::new(13);
    for _ in 0..4 {
        let mut message = generator.message("employment.started").unwrap();
        message["source"] = json!(sender.urn);
        let answers = intake.receive(&sender, "canonical", message.to_string().as_bytes(), false).await.unwrap();
        assert!(matches!(answers[0], Answer::Accepted { .. }), "{answers:?}");
    }
    let deliverer = Arc::new(Deliverer::new(Arc::clone(&state), "stopping".into()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(Arc::clone(&deliverer).run(stopped));
    // One request in flight, a second delivery claimed and waiting for the sender.
    wait_for(|| slow.calls.load(Ordering::SeqCst) == 1).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1, "nothing new is sent once stopping");
    let summaries = state.store.list(&raccordo::store::ListFilter { limit: 10, ..Default::default() }).await.unwrap();
    let mut states = Vec::new();
    for summary in &summaries {
        for delivery in state.store.message(&summary.id).await.unwrap().unwrap().deliveries {
            states.push((delivery.status.to_string(), delivery.attempts));
        }
    }
    states.sort();
    let expected = [("delivered", 1), ("pending", 0), ("pending", 0), ("pending", 0)].map(|(s, a)| (s.to_owned(), a));
    assert_eq!(states, expected, "the request in flight finished, the rest are queued unattempted");
    let taken = state.store.claim("another", state.clock.now_millis(), 60_000, 10).await.unwrap();
    assert_eq!(taken.len(), 3, "another instance takes them at once");
}

/// Waits (polling, for real) until `done`, at most five seconds.
async fn wait_for(done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "waited five seconds in vain");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
