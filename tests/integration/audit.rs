//! The audit log: the events that matter are chained, and editing, deleting or reordering
//! rows directly in the database is found by `audit verify`, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use std::sync::Arc;

use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;

use raccordo::simulate::generate::Generator;
use raccordo::store::{AuditEntry, Store};
use serde_json::json;

const CONFIG: &str = "[[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nsends = { profiles = [\"canonical\"] }\n";

/// A store whose log holds two received messages, a refusal, and seven more entries.
async fn logged(url: &str) -> Arc<Gateway> {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&format!("[storage]\nurl = \"{url}\"\n{CONFIG}"), "audit.toml", &catalog).unwrap();
    let store = Store::open(url).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let party = std::sync::Arc::clone(state.parties.iter().next().unwrap());
    let intake = state.intake();
    let mut generator = Generator::new(5);
    for _ in 0..2 {
        let mut message = generator.message("worker.registered").unwrap();
        message["source"] = json!(party.urn());
        intake.receive(&party, "canonical", message.to_string().as_bytes(), false).await.unwrap();
    }
    intake.receive(&party, "canonical", b"{\"not\": \"a message\"}", false).await.unwrap();
    for n in 0..7 {
        let entry = AuditEntry::new(n, "message.read", Some("operator"), Some("m"), json!({ "n": n }));
        state.store.audit(&[entry]).await.unwrap();
    }
    // On PostgreSQL entries are chained after their commit: the tampering below edits the chain.
    state.store.chain_audit().await.unwrap();
    Arc::clone(&state)
}

async fn execute(url: &str, statements: &[&str]) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&mut connection).await.unwrap();
    }
}

async fn scenario(url: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = String>>>) {
    let intact = url().await;
    let state = logged(&intact).await;
    let verification = state.store.verify_audit().await.unwrap();
    assert_eq!((verification.entries, verification.problem), (10, None));

    let cases: [(&[&str], i64, &str); 5] = [
        (&["DELETE FROM audit WHERE seq >= 9", "DELETE FROM audit_head"], 8, "the audit head was removed"),
        (&["UPDATE audit SET detail = '{\"n\": 99}' WHERE seq = 4"], 4, "entry 4 was altered"),
        (&["DELETE FROM audit WHERE seq = 5"], 5, "entry 5 was removed"),
        (&["DELETE FROM audit WHERE seq >= 9"], 9, "entries 9 to 10 were removed"),
        (
            &[
                "UPDATE audit SET seq = -1 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = 6",
                "UPDATE audit SET seq = 6 WHERE seq = -1",
            ],
            3,
            "entry 3 is entry 6 moved: the log was reordered",
        ),
    ];
    for (statements, at, what) in cases {
        let url = url().await;
        let state = logged(&url).await;
        execute(&url, statements).await;
        let verification = state.store.verify_audit().await.unwrap();
        assert_eq!(verification.problem, Some((at, what.to_owned())), "after {statements:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_found_on_sqlite() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let counter = Arc::new(std::sync::atomic::AtomicU32::new(0));
    scenario(move || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let url = format!("sqlite://{}/audit-{n}.db", dir.path().display());
        Box::pin(async move { url })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_found_on_postgresql() {
    scenario(|| Box::pin(common::postgres_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_records_what_happened_and_audit_verify_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/raccordo.db", dir.path().display());
    let state = logged(&url).await;
    drop(state);
    use sqlx::{Connection, Row};
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let kinds: Vec<String> = sqlx::query("SELECT kind FROM audit ORDER BY seq LIMIT 3")
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("kind"))
        .collect();
    assert_eq!(kinds, ["message.received", "message.received", "message.rejected"]);
    let details: Vec<String> = sqlx::query("SELECT detail FROM audit")
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("detail"))
        .collect();
    let codice_fiscale = regex::Regex::new("[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z]").unwrap();
    assert!(details.iter().all(|d| !codice_fiscale.is_match(d)), "personal data in the audit log");
    drop(connection);

    let config = dir.path().join("raccordo.toml");
    std::fs::write(&config, format!("[storage]\nurl = \"{url}\"\n{CONFIG}")).unwrap();
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_raccordo"))
            .args(["audit", "verify", "--config", config.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let output = verify();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "10 entries, the chain is intact\n");
    execute(&url, &["UPDATE audit SET actor = 'someone else' WHERE seq = 2"]).await;
    let output = verify();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "the chain is broken: entry 2 was altered\n");
}

/// Rewrites the chain as someone with write access to the database could: the first
/// entry's detail changed, every hash after it recomputed, the head moved. The chain is
/// intact again; only a checkpoint kept elsewhere can tell.
async fn rebuild(url: &str) {
    use raccordo::store::{entry_hash, GENESIS};
    use sqlx::{Connection, Row};
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    let rows = sqlx::query("SELECT seq, at, kind, actor, subject, detail FROM audit ORDER BY seq")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    let mut prev = GENESIS.to_owned();
    for row in rows {
        let seq: i64 = row.get("seq");
        let mut entry = AuditEntry {
            at: row.get("at"),
            kind: row.get("kind"),
            actor: row.get("actor"),
            subject: row.get("subject"),
            detail: row.get("detail"),
        };
        if seq == 1 {
            entry.detail = "{\"rewritten\":true}".into();
        }
        let hash = entry_hash(seq, &entry, &prev);
        sqlx::query("UPDATE audit SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(&entry.detail)
            .bind(&prev)
            .bind(&hash)
            .bind(seq)
            .execute(&mut connection)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1").bind(&prev).execute(&mut connection).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_rebuilt_with_valid_hashes_is_caught_by_a_signed_checkpoint() {
    use raccordo::checkpoint::{self, CheckpointKey};
    use raccordo::error::ErrorCode;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/raccordo.db", dir.path().display());
    let state = logged(&url).await;
    let now = chrono::Utc::now().timestamp();
    let issued = raccordo::pki::issue("gateway", None, now - 60, now + 3600, raccordo::pki::Usage::Client).unwrap();
    let (certificate, key) = issued.write(dir.path(), "gateway").unwrap();
    let key = CheckpointKey::load(&certificate, &key, "urn:raccordo:gateway:test").unwrap();
    let file = dir.path().join("checkpoints.jsonl");
    let made = checkpoint::make(&state.store, &key, 1_000, Some(&file), None).await.unwrap();
    assert_eq!(made.seq, 10);
    assert_eq!(checkpoint::verify(&state.store, &key, &file).await.unwrap(), 1);
    state.store.close().await;

    rebuild(&url).await;
    let state = logged(&url).await;
    // The chain alone looks intact (with the ten entries `logged` appended again after it).
    assert_eq!(state.store.verify_audit().await.unwrap().problem, None);
    let error = checkpoint::verify(&state.store, &key, &file).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::AuditCheckpointMismatch, "{error}");
    assert!(error.to_string().contains("entry 10"), "{error}");

    // A checkpoint edited by hand: refused, naming the file and line.
    let mut lines = std::fs::read_to_string(&file).unwrap();
    lines.push_str(&lines.replace('.', "x.").replacen("x.", ".", 1));
    std::fs::write(&file, &lines).unwrap();
    let error = checkpoint::verify(&state.store, &key, &file).await.unwrap_err();
    // The first line already disagrees; a file with only the edited line names it.
    std::fs::write(&file, lines.lines().nth(1).unwrap()).unwrap();
    let error_edited = checkpoint::verify(&state.store, &key, &file).await.unwrap_err();
    assert_eq!(error_edited.code(), ErrorCode::CheckpointInvalid, "{error_edited}");
    assert!(error_edited.to_string().contains("line 1"), "{error_edited}");
    assert_eq!(error.code(), ErrorCode::AuditCheckpointMismatch);
}
