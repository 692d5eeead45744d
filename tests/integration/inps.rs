//! The INPS pull against the simulator on 127.0.0.1: pages over mTLS with a PDND voucher
//! got with a signed assertion (a wrong key refused), vouchers renewed mid-run, 5xx bursts
//! and 429s retried, a killed pull resumed with no gap and no duplicate, the schedule
//! firing without overlapping runs, two instances on PostgreSQL pulling once, and INPS
//! files imported in chunks.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use openssl::pkey::{PKey, Private};
use raccordo::assets::Assets;
use raccordo::config::{Config, TlsConfig};
use raccordo::error::ErrorCode;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::inps::{Puller, Range, Trigger, JOB};
use raccordo::pki::{self, Usage};
use raccordo::simulate::inps::{record, serve, Faults, Settings, Simulator};
use raccordo::store::Store;
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

const AUDIENCE: &str = "auth.uat.interop.pagopa.it/client-assertion";
const SEED: u64 = 11;
const INVALID_SHARE: f64 = 0.03;

/// Keys and certificates of one test.
struct Pki {
    dir: tempfile::TempDir,
    assertion_key: PKey<Private>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now().timestamp();
        let ca = pki::issue("test CA", None, now - 60, now + 86_400, Usage::Ca).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.certificate.to_pem().unwrap()).unwrap();
        pki::issue("127.0.0.1", Some(&ca), now - 60, now + 86_400, Usage::Server)
            .unwrap()
            .write(dir.path(), "server")
            .unwrap();
        pki::issue("raccordo", Some(&ca), now - 60, now + 86_400, Usage::Client)
            .unwrap()
            .write(dir.path(), "client")
            .unwrap();
        let assertion_key = pki::rsa_key().unwrap();
        std::fs::write(dir.path().join("pdnd.key"), assertion_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        Pki { dir, assertion_key }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn public_key(&self) -> PKey<openssl::pkey::Public> {
        PKey::public_key_from_pem(&self.assertion_key.public_key_to_pem().unwrap()).unwrap()
    }
}

/// A running simulator and its base URL.
struct Inps {
    base: String,
    simulator: Arc<Simulator>,
}

async fn simulator(pki: &Pki, records: u64, faults: &str, tls: bool) -> Inps {
    simulator_with_key(pki, pki.public_key(), records, faults, tls).await
}

async fn simulator_with_key(
    pki: &Pki,
    client_key: PKey<openssl::pkey::Public>,
    records: u64,
    faults: &str,
    tls: bool,
) -> Inps {
    let simulator = Simulator::new(Settings {
        records,
        seed: SEED,
        invalid_share: INVALID_SHARE,
        faults: faults.parse::<Faults>().unwrap(),
        client_key,
        client_id: Some("client-1".into()),
        audience: AUDIENCE.into(),
        require_client_certificate: tls,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls_config = tls.then(|| TlsConfig {
        certificate: pki.path("server.crt"),
        private_key: pki.path("server.key"),
        client_ca: Some(pki.path("ca.crt")),
    });
    let serving = Arc::clone(&simulator);
    tokio::spawn(async move { serve(listener, serving, tls_config.as_ref(), std::future::pending()).await });
    let scheme = if tls { "https" } else { "http" };
    Inps { base: format!("{scheme}://127.0.0.1:{port}"), simulator }
}

impl Inps {
    fn stat(&self, name: &str) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = &self.simulator.stats;
        match name {
            "vouchers" => stats.vouchers.load(Relaxed),
            "assertionsRefused" => stats.assertions_refused.load(Relaxed),
            "unauthorised" => stats.unauthorised.load(Relaxed),
            "faultsServed" => stats.faults_served.load(Relaxed),
            "pageRequests" => stats.page_requests.load(Relaxed),
            other => panic!("no stat {other}"),
        }
    }
}

/// A configuration pulling from `inps` into `storage`, with `extra` lines in `[inps]`.
fn config_text(pki: &Pki, inps: &Inps, storage: &str, extra: &str, with_client_certificate: bool) -> String {
    let tls = if inps.base.starts_with("https") {
        let identity = if with_client_certificate {
            format!(
                "certificate = {:?}\nprivate_key = {:?}\n",
                pki.path("client.crt").display().to_string(),
                pki.path("client.key").display().to_string()
            )
        } else {
            String::new()
        };
        format!("[inps.tls]\nserver_ca = {:?}\n{identity}", pki.path("ca.crt").display().to_string())
    } else {
        String::new()
    };
    format!(
        r#"
data_dir = {data:?}
[storage]
url = {storage:?}

[[parties]]
id = "inps"
kind = "inps"
code = "INPS"
name = "INPS"
sends = {{ profiles = ["inps-json", "inps-flat"] }}

[[parties]]
id = "cpi"
kind = "cpi"
code = "CR01"
name = "CPI"
receives = {{ profile = "canonical", endpoint = "http://127.0.0.1:9/messages" }}

[[routes]]
types = ["employment.started", "employment.changed", "employment.ended"]
to = ["cpi"]

[[operators]]
name = "operator"
tokens = ["operator-token-0123456789"]

[inps]
party = "inps"
eservice_url = "{base}/comunicazioni"
backoff_initial_ms = 10
backoff_max_secs = 2
max_attempts = 4
{extra}

[inps.pdnd]
token_url = "{base}/token.oauth2"
audience = "{AUDIENCE}"
client_id = "client-1"
purpose_id = "purpose-1"
kid = "k1"
private_key = {key:?}
renew_before_secs = 0

{tls}
"#,
        data = pki.dir.path().display().to_string(),
        base = inps.base,
        key = pki.path("pdnd.key").display().to_string(),
    )
}

async fn open(text: &str) -> Arc<Gateway> {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(text, "test.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap()
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("raccordo.db").display())
}

/// (messages, distinct INPS codes among them, quarantined records) in the store.
async fn counts(url: &str) -> (i64, i64, i64) {
    try_counts(url).await.unwrap()
}

/// `counts`, or the error of a store not made yet.
async fn try_counts(url: &str) -> Result<(i64, i64, i64), sqlx::Error> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    let row = sqlx::query("SELECT COUNT(*) AS n, COUNT(DISTINCT message_id) AS d FROM messages")
        .fetch_one(&mut connection)
        .await?;
    let quarantined: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM quarantine").fetch_one(&mut connection).await?.get("n");
    Ok((row.get("n"), row.get("d"), quarantined))
}

/// How many of the first `records` records the simulator makes invalid, by translating
/// them here.
fn invalid_among(records: u64) -> i64 {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let profile = catalog.profile("inps-json").unwrap();
    let page =
        json!({ "elenco_comunicazioni": (0..records).map(|i| record(SEED, i, INVALID_SHARE)).collect::<Vec<_>>() });
    let outcomes =
        catalog.to_canonical(profile, page.to_string().as_bytes(), "urn:raccordo:inps:INPS", "2026-11-28T00:00:00Z");
    outcomes.iter().filter(|o| !o.is_valid()).count() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_pulled_once_over_mtls_with_one_voucher_and_quarantine_is_visible() {
    let pki = Pki::new();
    let inps = simulator(&pki, 250, "", true).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let puller = Puller::new(Arc::clone(&state)).unwrap();
    let run = puller.pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    let invalid = invalid_among(250);
    assert!(invalid > 0, "the simulator made no invalid record");
    assert_eq!((run.status.as_str(), run.pages, run.records), ("succeeded", 3, 250));
    assert_eq!((run.accepted, run.quarantined, run.duplicates), (250 - invalid, invalid, 0));
    assert_eq!(counts(&storage).await, (250 - invalid, 250 - invalid, invalid));
    // Each message was routed: one delivery to the CPI.
    let message = state.store.list(&Default::default()).await.unwrap();
    let stored = state.store.message(&message[0].id).await.unwrap().unwrap();
    assert_eq!(stored.deliveries.len(), 1);
    assert_eq!(stored.summary.sender, "inps");

    // The metrics count what the run did.
    let metrics = state.metrics.encode();
    assert!(
        metrics.contains(&format!("raccordo_inps_records_total{{outcome=\"quarantined\"}} {invalid}")),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("raccordo_inps_records_total{{outcome=\"accepted\"}} {}", 250 - invalid)));
    assert!(metrics.contains("raccordo_inps_runs_total{outcome=\"succeeded\"} 1"));

    // Nothing new: the next run asks once, takes nothing, and reuses the voucher.
    let again = puller.pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    assert_eq!((again.pages, again.records), (0, 0));
    assert_eq!(inps.stat("vouchers"), 1);
    assert_eq!(inps.stat("assertionsRefused"), 0);

    // Operators see the quarantined records and the runs through the API; parties don't.
    let get = |uri: &str, token: &str| {
        Request::builder().uri(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap()
    };
    let app = raccordo::api::router(Arc::clone(&state));
    let response = app.clone().oneshot(get("/v1/quarantine", "operator-token-0123456789")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap()).unwrap();
    let listed = body["quarantined"].as_array().unwrap();
    assert_eq!(listed.len() as i64, invalid);
    assert_eq!(listed[0]["errors"][0]["code"], "RAC-3101");
    assert!(listed[0]["recordKey"].as_str().unwrap().starts_with('C'));
    let response = app.clone().oneshot(get("/v1/inps/runs", "operator-token-0123456789")).await.unwrap();
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert_eq!(body["runs"].as_array().unwrap().len(), 2);
    assert_eq!(body["runs"][1]["records"], 250);
    let response = app.oneshot(get("/v1/quarantine", "no-such-token-0123456789")).await.unwrap();
    assert_eq!(response.status(), 401);

    // Without its client certificate, the gateway is refused at the first request.
    let state = state_without_certificate(&pki, &inps).await;
    let error = Puller::new(state).unwrap().pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::PullTokenRefused, "{error}");
}

async fn state_without_certificate(pki: &Pki, inps: &Inps) -> Arc<Gateway> {
    let dir = tempfile::tempdir().unwrap();
    let storage = sqlite(dir.path());
    let state = open(&config_text(pki, inps, &storage, "", false)).await;
    std::mem::forget(dir);
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_signed_with_another_key_is_refused() {
    let pki = Pki::new();
    let other = pki::rsa_key().unwrap();
    let other = PKey::public_key_from_pem(&other.public_key_to_pem().unwrap()).unwrap();
    let inps = simulator_with_key(&pki, other, 50, "", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let error =
        Puller::new(Arc::clone(&state)).unwrap().pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::PullTokenRefused);
    assert_eq!(inps.stat("assertionsRefused"), 1);
    assert_eq!(inps.stat("pageRequests"), 0);
    let runs = state.store.pull_runs(JOB, 5).await.unwrap();
    assert_eq!(runs[0].status.as_str(), "failed");
    assert!(runs[0].error.as_deref().unwrap().starts_with("RAC-6001"), "{:?}", runs[0].error);
    assert!(!runs[0].error.as_deref().unwrap().contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_voucher_is_replaced_mid_run() {
    let pki = Pki::new();
    // Vouchers last a second; page 2 takes 1.5 s, so the voucher expires during the run:
    // the cached one is renewed before it is refused.
    let inps = simulator(&pki, 300, "token-ttl:1,slow@2:1500", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let run = Puller::new(state).unwrap().pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    assert_eq!((run.status.as_str(), run.records), ("succeeded", 300));
    assert!(inps.stat("vouchers") >= 2, "no new voucher was fetched");
    assert_eq!(inps.stat("unauthorised"), 0, "an expired voucher was sent");

    // Vouchers announced for ten minutes die after one second (revoked, or a clock apart):
    // the e-service's 401 makes the gateway get a new one and ask again.
    let pki = Pki::new();
    let inps = simulator(&pki, 300, "token-expiry:1,slow@2:1500", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let run = Puller::new(state).unwrap().pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    assert_eq!((run.status.as_str(), run.records), ("succeeded", 300));
    assert_eq!(inps.stat("vouchers"), 2);
    assert_eq!(inps.stat("unauthorised"), 1);
    let (messages, _, quarantined) = counts(&storage).await;
    assert_eq!(messages + quarantined, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_rate_limits_are_retried_and_a_failed_run_resumes_without_gap() {
    let pki = Pki::new();
    // Two 503s, a 429 with Retry-After, and a page slower than the 1 s timeout.
    let inps = simulator(&pki, 400, "5xx@2:2,429@3:1,slow@4:1500", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "timeout_secs = 1", true)).await;
    let run = Puller::new(state).unwrap().pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    assert_eq!((run.status.as_str(), run.records, run.duplicates), ("succeeded", 400, 0));
    assert_eq!(inps.stat("faultsServed"), 4);
    // Pages 1-4, each once more per fault, and the empty page after the last.
    assert_eq!(inps.stat("pageRequests"), 5 + 4);

    // Five 503s in a row outlast four attempts: the run fails after page 1 and the next
    // one takes up at page 2.
    let pki = Pki::new();
    let inps = simulator(&pki, 400, "5xx@2:5", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let puller = Puller::new(Arc::clone(&state)).unwrap();
    let error = puller.pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::PullSourceUnavailable);
    let failed = &state.store.pull_runs(JOB, 1).await.unwrap()[0];
    assert_eq!((failed.status.as_str(), failed.pages, failed.records), ("failed", 1, 100));
    let resumed = puller.pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    assert_eq!((resumed.records, resumed.duplicates), (300, 0));
    let (messages, distinct, quarantined) = counts(&storage).await;
    assert_eq!((messages + quarantined, distinct), (400, messages));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_takes_its_period_and_resumes_its_own_cursor() {
    let pki = Pki::new();
    let inps = simulator(&pki, 500, "", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let puller = Puller::new(Arc::clone(&state)).unwrap();
    // Records are a minute apart from 2025-01-01T00:00Z: 00:00 to 02:29 inclusive is 150.
    let since = raccordo::clock::parse_instant("2025-01-01").unwrap();
    let until = raccordo::clock::parse_instant("2025-01-01T02:29:00Z").unwrap();
    let range = Range { since: Some(since), until: Some(until) };
    let run = puller.pull(Trigger::Command, range, &|_| {}).await.unwrap();
    assert_eq!(run.records, 150);
    let again = puller.pull(Trigger::Command, range, &|_| {}).await.unwrap();
    assert_eq!(again.records, 0, "the same backfill starts where it stopped");
    // The incremental cursor is the job's own: it takes everything, the backfill's included
    // (already stored, so counted as duplicates).
    let incremental = puller.pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    assert_eq!((incremental.records, incremental.duplicates), (500, 150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pull_resumes_with_no_gap_and_no_duplicate() {
    let pki = Pki::new();
    let slow: Vec<String> = (2..=9).map(|page| format!("slow@{page}:300")).collect();
    let inps = simulator(&pki, 1000, &slow.join(","), false).await;
    let storage = sqlite(pki.dir.path());
    let config = pki.path("raccordo.toml");
    std::fs::write(&config, config_text(&pki, &inps, &storage, "", true)).unwrap();
    // Logs go to files: a pipe nobody reads would fill and stop the child.
    let pull = |logs: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_raccordo"))
            .args(["inps", "pull", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "debug")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(pki.path(logs)).unwrap())
            .spawn()
            .unwrap()
    };
    let mut child = pull("killed.log");
    // Kill it once some pages are in, mid-run.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Until the child has made the store and migrated it, there is nothing to count.
        let stored = try_counts(&storage).await.unwrap_or((0, 0, 0));
        if stored.0 + stored.2 >= 200 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the pull ended ({status}) before it was killed: {}",
                std::fs::read_to_string(pki.path("killed.log")).unwrap()
            );
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the pull never got going");
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = counts(&storage).await;
    assert!(before.0 + before.2 < 1000, "the pull finished before it was killed");
    let finished = pull("finished.log").wait().unwrap();
    assert!(finished.success(), "{}", std::fs::read_to_string(pki.path("finished.log")).unwrap());
    let (messages, distinct, quarantined) = counts(&storage).await;
    assert_eq!((messages + quarantined, distinct), (1000, messages), "a gap or a duplicate");
    assert_eq!(quarantined, invalid_among(1000));
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let runs = state.store.pull_runs(JOB, 5).await.unwrap();
    assert_eq!(runs[0].status.as_str(), "succeeded");
    assert_eq!(runs[0].duplicates, 0, "the resumed run took records again");
    assert_eq!(runs[1].status.as_str(), "interrupted");
    // Logs, at debug level, name neither the key nor the people.
    let codice_fiscale =
        regex::Regex::new("[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]")
            .unwrap();
    for name in ["killed.log", "finished.log"] {
        let logs = std::fs::read_to_string(pki.path(name)).unwrap();
        assert!(logs.contains("INPS pull started"), "no logs to check: {logs}");
        assert!(!logs.contains("PRIVATE KEY"));
        assert!(!codice_fiscale.is_match(&logs), "a codice fiscale in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_never_overlap_and_the_schedule_fires_them() {
    let pki = Pki::new();
    let inps = simulator(&pki, 300, "slow@1:600", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "schedule = \"*/1 * * * * *\"", true)).await;
    let puller = Arc::new(Puller::new(Arc::clone(&state)).unwrap());
    // Two ticks at once (a slow run and the next tick): one runs, the other is skipped.
    let (one, other) = tokio::join!(puller.tick(), puller.tick());
    assert_eq!(one.is_some() as u8 + other.is_some() as u8, 1, "{one:?} {other:?}");
    assert_eq!(one.or(other).unwrap().records, 300);
    // The cron schedule runs ticks: within a couple of seconds one more run, finding nothing new.
    let mut scheduler = raccordo::inps::schedule(Arc::clone(&puller), "*/1 * * * * *").await.unwrap();
    let started = std::time::Instant::now();
    while state.store.pull_runs(JOB, 10).await.unwrap().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(5), "the schedule did not fire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    scheduler.shutdown().await.unwrap();
    let runs = state.store.pull_runs(JOB, 10).await.unwrap();
    assert!(runs.iter().all(|r| r.trigger.as_str() == "schedule"));
    let (messages, _, quarantined) = counts(&storage).await;
    assert_eq!(messages + quarantined, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_wait_on_the_gateway_clock_and_honour_retry_after() {
    let pki = Pki::new();
    // Page 1 answers 503 twice, page 2 asks for forty seconds with Retry-After.
    let inps = simulator(&pki, 200, "5xx@1:2,429@2:40", false).await;
    let storage = sqlite(pki.dir.path());
    let text = config_text(&pki, &inps, &storage, "", true)
        .replace("backoff_initial_ms = 10\nbackoff_max_secs = 2", "backoff_initial_ms = 5000\nbackoff_max_secs = 120");
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "test.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    let mut gateway = Gateway::build(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    // Starting now: the simulated token endpoint checks assertions against its own clock.
    let start = chrono::Utc::now().timestamp_millis();
    let clock = raccordo::clock::Clock::manual(start);
    gateway.clock = clock.clone();
    let started = std::time::Instant::now();
    let run = Puller::new(Arc::new(gateway)).unwrap().pull(Trigger::Command, Range::default(), &|_| {}).await.unwrap();
    assert_eq!((run.status.as_str(), run.records), ("succeeded", 200));
    // 2.5-5 s and 5-10 s of backoff, then the forty seconds asked for.
    let waited = clock.now_millis() - start;
    assert!((47_500..=55_000).contains(&waited), "the gateway's clock moved {waited} ms");
    assert!(started.elapsed() < Duration::from_secs(10), "a minute of waiting took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgresql_pull_once() {
    let pki = Pki::new();
    let inps = simulator(&pki, 300, "slow@1:700", false).await;
    let url = common::postgres_url().await;
    let text = config_text(&pki, &inps, &url, "", true);
    let (first, second) = (open(&text).await, open(&text).await);
    let (a, b) = (Puller::new(first).unwrap(), Puller::new(Arc::clone(&second)).unwrap());
    let (one, other) = tokio::join!(
        a.pull(Trigger::Schedule, Range::default(), &|_| {}),
        b.pull(Trigger::Schedule, Range::default(), &|_| {})
    );
    let outcomes = [one, other];
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    let refused = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert_eq!(refused.code(), ErrorCode::PullInProgress);
    let (messages, distinct, quarantined) = counts(&url).await;
    assert_eq!((messages + quarantined, distinct), (300, messages));
    // The lock was given back: the other instance runs next, finding nothing new.
    let next = b.pull(Trigger::Schedule, Range::default(), &|_| {}).await.unwrap();
    assert_eq!(next.records, 0);
    assert_eq!(second.store.pull_runs(JOB, 10).await.unwrap().len(), 2);
}

/// The lines of the inps-flat vectors that translate.
fn flat_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/profiles/inps-flat");
    let mut lines = Vec::new();
    for kind in ["employment.started", "employment.changed", "employment.ended"] {
        for path in common::inputs(&root.join(kind).join("valid")) {
            let bytes = std::fs::read(path).unwrap();
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
            lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_files_import_in_chunks_and_again_harmlessly() {
    let pki = Pki::new();
    let inps = simulator(&pki, 0, "", false).await;
    let storage = sqlite(pki.dir.path());
    let state = open(&config_text(&pki, &inps, &storage, "", true)).await;
    let templates = flat_lines();
    assert!(templates.len() >= 3);
    // 1,200 records with codes of their own (positions 2-21), and one short line.
    let mut file = String::new();
    for index in 0..1200 {
        if index == 776 {
            file.push_str("A too short\n");
            continue;
        }
        let template = &templates[index % templates.len()];
        file.push_str(&format!("{}{:<20}{}\n", &template[..1], format!("F{index:011}"), &template[21..]));
    }
    let path = pki.path("inps.txt");
    let (encoded, _, _) = encoding_rs::WINDOWS_1252.encode(&file);
    std::fs::write(&path, &encoded).unwrap();
    let puller = Puller::new(Arc::clone(&state)).unwrap();
    let run = puller.import(&path, &|_| {}).await.unwrap();
    assert_eq!((run.pages, run.records, run.accepted, run.quarantined), (3, 1200, 1199, 1));
    let quarantined = state.store.quarantined(0, 10).await.unwrap();
    assert_eq!(quarantined[0].location, "line 777");
    assert!(quarantined[0].errors.contains("RAC-1030"), "{}", quarantined[0].errors);
    let again = puller.import(&path, &|_| {}).await.unwrap();
    assert_eq!((again.accepted, again.duplicates, again.quarantined), (0, 1200, 0));
}
