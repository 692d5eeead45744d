//! Payloads encrypted at rest: the database's bytes (the SQLite files, PostgreSQL's rows as
//! a dump would show them) hold no codice fiscale, name or health condition from the
//! messages stored; after a key rotation old messages stay readable, and without their key
//! they are not.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

mod common;

use raccordo::api::AppState;
use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::ingest::Catalog;
use raccordo::intake::Answer;
use raccordo::simulate::generate::Generator;
use raccordo::store::Store;
use serde_json::{json, Value};

const PARTIES: &str = "[[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nsends = { profiles = [\"canonical\"] }\n\
[[parties]]\nid = \"social\"\nkind = \"social\"\ncode = \"D150\"\nname = \"Social\"\nsends = { profiles = [\"canonical\"] }\n";

fn config(url: &str, keys: &str) -> String {
    format!("[storage]\nurl = \"{url}\"\n[storage.encryption]\nkeys = [{keys}]\n{PARTIES}")
}

/// Opens the gateway's store as `serve` does, with the configuration's keys.
async fn open(text: &str) -> std::sync::Arc<AppState> {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(text, "test.toml", &catalog).unwrap();
    let sealer = config.storage.encryption.as_ref().map(|e| e.sealer().unwrap());
    let store = Store::open_sealed(&config.storage_url(), sealer).await.unwrap();
    AppState::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap()
}

/// Sends generated messages with people and health conditions; returns their ids and the
/// personal values in them.
async fn send(state: &AppState, seed: u64) -> (Vec<String>, Vec<String>) {
    let intake = state.intake();
    let mut generator = Generator::new(seed);
    let (mut ids, mut secrets) = (Vec::new(), Vec::new());
    for (name, party) in [("worker.registered", 0), ("vacancy.published", 1), ("worker.registered", 0)] {
        let sender = &state.config.parties[party];
        let mut message = generator.message(name).unwrap();
        message["source"] = json!(sender.urn());
        // The generator numbers messages from 1 whatever the seed: make each id new.
        message["id"] = json!(format!("s{seed}-{}", ids.len()));
        collect(&message["data"], &mut secrets);
        let answers = intake.receive(sender, "canonical", message.to_string().as_bytes(), false).await.unwrap();
        let Answer::Accepted { body, .. } = &answers[0] else { panic!("{answers:?}") };
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    (ids, secrets)
}

/// Codici fiscali, family names and health conditions found in a message.
fn collect(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("codiceFiscale" | "familyName", Value::String(text)) => out.push(text.clone()),
                    ("conditions", Value::Array(items)) => {
                        out.extend(items.iter().filter_map(|c| c.as_str().or(c["code"].as_str())).map(str::to_owned))
                    }
                    _ => collect(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_hold_no_personal_data_and_rotation_keeps_old_messages_readable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k1.key"), "11".repeat(32)).unwrap();
    let url = format!("sqlite://{}/raccordo.db", dir.path().display());
    let k1 = format!("{{ id = \"k1\", file = \"{}/k1.key\" }}", dir.path().display());
    let state = open(&config(&url, &k1)).await;
    let (ids, secrets) = send(&state, 3).await;
    assert!(secrets.iter().any(|s| s.len() == 16), "no codice fiscale sent: {secrets:?}");
    let stored = state.store.message(&ids[0]).await.unwrap().unwrap();
    assert!(secrets.iter().any(|s| stored.canonical.contains(s.as_str())), "read back in clear through the store");
    state.store.close().await;
    drop(state);
    // Every byte of the database's files: the database, its WAL, its shared memory.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("raccordo.db") {
            continue;
        }
        // The WAL may be checkpointed and removed while the last connections close.
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} in clear in {}",
                path.display()
            );
        }
    }

    // Rotation: a new key first, the old one kept.
    std::env::set_var("RACCORDO_TEST_KEY_K2", "22".repeat(32));
    let rotated = format!("{{ id = \"k2\", env = \"RACCORDO_TEST_KEY_K2\" }}, {k1}");
    let state = open(&config(&url, &rotated)).await;
    let old = state.store.message(&ids[1]).await.unwrap().unwrap();
    assert!(old.canonical.contains("vacancy"));
    let (new_ids, _) = send(&state, 4).await;
    state.store.close().await;
    drop(state);
    use sqlx::{Connection, Row};
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let canonical: String = sqlx::query("SELECT canonical FROM messages WHERE id = $1")
        .bind(&new_ids[0])
        .fetch_one(&mut connection)
        .await
        .unwrap()
        .get("canonical");
    assert!(canonical.starts_with("RACENC1:k2:"), "new messages use the new key: {}", &canonical[..20]);
    drop(connection);

    // Without the old key, old messages can't be read.
    let state = open(&config(&url, "{ id = \"k2\", env = \"RACCORDO_TEST_KEY_K2\" }")).await;
    let error = state.store.message(&ids[0]).await.unwrap_err().to_string();
    assert!(error.contains("\"k1\""), "{error}");
    assert!(state.store.message(&new_ids[0]).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_rows_hold_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k1.key"), "33".repeat(32)).unwrap();
    let url = common::postgres_url().await;
    let k1 = format!("{{ id = \"k1\", file = \"{}/k1.key\" }}", dir.path().display());
    let state = open(&config(&url, &k1)).await;
    let (ids, secrets) = send(&state, 5).await;
    assert!(state.store.message(&ids[2]).await.unwrap().is_some());
    // What a dump shows: every row of every table, as text.
    use sqlx::{Connection, Row};
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let mut dump = String::new();
    for table in ["messages", "deliveries", "events", "audit"] {
        let sql = format!("SELECT t::text AS row FROM {table} t");
        for row in sqlx::query(&sql).fetch_all(&mut connection).await.unwrap() {
            dump.push_str(&row.get::<String, _>("row"));
        }
    }
    assert!(dump.len() > 1000);
    for secret in &secrets {
        assert!(!dump.contains(secret.as_str()), "{secret:?} in clear in the database");
    }
}
