//! Payloads encrypted at rest: the database's bytes (the SQLite files, PostgreSQL's rows as
//! a dump would show them) hold no codice fiscale, name or health condition from the
//! messages stored; after a key rotation old messages stay readable, and without their key
//! they are not.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::intake::Answer;
use raccordo::simulate::generate::Generator;
use raccordo::store::Store;
use serde_json::{json, Value};

const PARTIES: &str = "[[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nsends = { profiles = [\"canonical\"] }\n\
[[parties]]\nid = \"social\"\nkind = \"social\"\ncode = \"D150\"\nname = \"Social\"\nsends = { profiles = [\"canonical\"] }\n\
receives = { profile = \"canonical\", endpoint = \"http://127.0.0.1:9/never\" }\n\
[[routes]]\ntypes = [\"worker.registered\"]\nto = [\"social\"]\n";

fn config(url: &str, keys: &str) -> String {
    format!("[storage]\nurl = \"{url}\"\n[storage.encryption]\nkeys = [{keys}]\n{PARTIES}")
}

/// Opens the gateway's store as `serve` does, with the configuration's keys.
async fn open(text: &str) -> std::sync::Arc<Gateway> {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(text, "test.toml", &catalog).unwrap();
    let sealer = raccordo::gateway::sealer(&config).unwrap();
    let store = Store::open_sealed(&config.storage_url(), sealer).await.unwrap();
    Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap()
}

/// Sends generated messages with people and health conditions; returns their ids and the
/// personal values in them.
async fn send(state: &Gateway, seed: u64) -> (Vec<String>, Vec<String>) {
    let intake = state.intake();
    let mut generator = Generator::new(seed);
    let (mut ids, mut secrets) = (Vec::new(), Vec::new());
    for (name, party) in [("worker.registered", 0), ("vacancy.published", 1), ("worker.registered", 0)] {
        let sender = state.parties.iter().nth(party).unwrap();
        let mut message = generator.message(name).unwrap();
        message["source"] = json!(sender.urn);
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
            assert!(!readable(&bytes, secret), "{secret:?} in clear in {}", path.display());
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
    assert!(canonical.starts_with("RACENC2:k2:"), "new messages use the new key: {}", &canonical[..20]);
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
        assert!(!readable(dump.as_bytes(), secret), "{secret:?} in clear in the database");
    }
}

/// Raw SQL on the test database.
async fn sql(url: &str, statement: &str, binds: &[&str]) {
    use sqlx::Connection;
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut query = sqlx::query(statement);
    for bind in binds {
        query = query.bind(*bind);
    }
    query.execute(&mut connection).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_swapped_with_another_rows_is_detected_and_its_delivery_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k1.key"), "44".repeat(32)).unwrap();
    let url = format!("sqlite://{}/raccordo.db", dir.path().display());
    let k1 = format!("{{ id = \"k1\", file = \"{}/k1.key\" }}", dir.path().display());
    let state = open(&config(&url, &k1)).await;
    let (ids, _) = send(&state, 6).await;
    state.store.close().await;
    drop(state);
    // Someone with write access to the database puts one worker's entry on another's row.
    sql(
        &url,
        "UPDATE messages SET canonical = (SELECT canonical FROM messages WHERE id = $1) WHERE id = $2",
        &[&ids[0], &ids[2]],
    )
    .await;
    let state = open(&config(&url, &k1)).await;
    let error = state.store.message(&ids[2]).await.unwrap_err();
    assert_eq!(error.code(), raccordo::error::ErrorCode::SealedValueInvalid);
    assert!(error.to_string().contains(&ids[2]), "the error names the row: {error}");
    assert!(state.store.message(&ids[0]).await.unwrap().is_some(), "the original row still opens");
    // Its delivery is dead-lettered with the reason; the others are not held up.
    let claimed = state.store.claim("test", i64::MAX / 2, 60_000, 10).await.unwrap();
    let swapped = claimed.iter().find(|c| c.message_id == ids[2]).expect("the swapped message's delivery");
    assert!(swapped.unreadable.as_deref().unwrap().starts_with("RAC-4002"), "{:?}", swapped.unreadable);
    assert!(claimed.iter().filter(|c| c.message_id != ids[2]).all(|c| c.unreadable.is_none()));
    let deliverer = raccordo::delivery::Deliverer::new(std::sync::Arc::clone(&state), "test".into());
    deliverer.deliver(swapped.clone()).await;
    use sqlx::{Connection, Row};
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let row = sqlx::query("SELECT status, last_error FROM deliveries WHERE id = $1")
        .bind(&swapped.delivery_id)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("status"), "dead");
    assert!(row.get::<String, _>("last_error").contains("RAC-4002"));
}

#[tokio::test]
async fn key_problems_have_their_own_codes_and_name_the_file_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/raccordo.db", dir.path().display());
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let sealer_error = |keys: String| {
        let config = Config::parse(&config(&url, &keys), "test.toml", &catalog).unwrap();
        raccordo::gateway::sealer(&config).unwrap_err()
    };
    let missing = sealer_error(format!("{{ id = \"k1\", file = \"{}/none.key\" }}", dir.path().display()));
    assert_eq!(missing.code(), raccordo::error::ErrorCode::KeyFileUnreadable);
    assert!(missing.to_string().contains("none.key"), "{missing}");
    std::fs::write(dir.path().join("short.key"), "ab".repeat(20)).unwrap();
    let short = sealer_error(format!("{{ id = \"k1\", file = \"{}/short.key\" }}", dir.path().display()));
    assert_eq!(short.code(), raccordo::error::ErrorCode::KeyInvalid);
    assert!(short.to_string().contains("short.key") && !short.to_string().contains(&"ab".repeat(20)), "{short}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_seals_old_payloads_bound_and_indexes_them_for_subject_requests() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/raccordo.db", dir.path().display());
    // Stored before encryption was configured: in clear.
    let plain = format!("[storage]\nurl = \"{url}\"\n{PARTIES}");
    let state = open(&plain).await;
    let (ids, secrets) = send(&state, 7).await;
    state.store.close().await;
    drop(state);
    std::fs::write(dir.path().join("k1.key"), "55".repeat(32)).unwrap();
    std::fs::write(dir.path().join("index.key"), "66".repeat(32)).unwrap();
    let sealed = format!(
        "[storage]\nurl = \"{url}\"\n[storage.encryption]\nkeys = [{{ id = \"k1\", file = \"{0}/k1.key\" }}]\n\
         index_key = {{ id = \"i1\", file = \"{0}/index.key\" }}\n{PARTIES}",
        dir.path().display()
    );
    let state = open(&sealed).await;
    // Before the upgrade the index is empty: a subject's messages are not found by it.
    let subject = secrets.iter().find(|s| s.len() == 16).unwrap().clone();
    assert!(state.store.messages_about(&subject).await.unwrap().is_empty());
    let upgrade = state.store.upgrade().await.unwrap();
    assert_eq!(upgrade.resealed, 3, "{upgrade:?}");
    assert_eq!(upgrade.indexed, 3, "{upgrade:?}");
    let found = state.store.messages_about(&subject).await.unwrap();
    assert!(!found.is_empty() && found.iter().all(|m| m.canonical.contains(&subject)));
    assert_eq!(state.store.upgrade().await.unwrap(), Default::default(), "a second run has nothing to do");
    state.store.close().await;
    drop(state);
    use sqlx::{Connection, Row};
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    for id in &ids {
        let canonical: String = sqlx::query("SELECT canonical FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(&mut connection)
            .await
            .unwrap()
            .get("canonical");
        assert!(canonical.starts_with("RACENC2:k1:"));
    }
}

/// Names, codici fiscali and birth dates in a canonical message (persons' fields).
fn personal(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("codiceFiscale" | "familyName" | "givenName" | "birthDate", Value::String(text)) => {
                        out.push(text.clone())
                    }
                    _ => personal(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| personal(item, out)),
        _ => {}
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_example_keeps_personal_data_sealed() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_raccordo");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // `raccordo serve` as a new user runs it: no configuration, in an empty folder.
    let serve = Command::new(binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready = async {
        for _ in 0..400 {
            if client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    };
    assert!(ready.await, "the gateway did not start");
    let traffic = Command::new(binary)
        .args([
            "simulate",
            "traffic",
            "--target",
            &format!("http://127.0.0.1:{port}"),
            "--messages",
            "80",
            "--rate",
            "0",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(traffic.status.success(), "{}", String::from_utf8_lossy(&traffic.stderr));
    assert!(Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap().success());
    let output = serve.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!logs.contains("stored in clear"), "the default warns of data in clear: {logs}");

    // The audit log's head, signed and kept outside the database, agrees with the log.
    let checkpoint = Command::new(binary).args(["audit", "checkpoint"]).current_dir(dir.path()).output().unwrap();
    assert!(checkpoint.status.success(), "{}", String::from_utf8_lossy(&checkpoint.stderr));
    let verify = Command::new(binary)
        .args(["audit", "verify", "--checkpoints", "data/audit-checkpoints.jsonl"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("agrees with 1 signed checkpoints"));

    // The keys were made on first use, for their owner only.
    use std::os::unix::fs::PermissionsExt;
    let keys = dir.path().join("data/example-keys");
    for key in ["payload-1.key", "index.key"] {
        assert_eq!(std::fs::metadata(keys.join(key)).unwrap().permissions().mode() & 0o077, 0, "{key}");
    }

    // What was stored, read back with the keys: the personal data to look for.
    let data = dir.path().join("data");
    let text = raccordo::config::EXAMPLE
        .replace("data_dir = \"data\"", &format!("data_dir = \"{}\"", data.display()))
        .replace("\"data/", &format!("\"{}/", data.display()));
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "example.toml", &catalog).unwrap();
    let sealer = raccordo::gateway::sealer(&config).unwrap().unwrap();
    let store = Store::open_sealed(&config.storage_url(), Some(sealer)).await.unwrap();
    let listed = store.list(&raccordo::store::ListFilter { limit: 500, ..Default::default() }).await.unwrap();
    assert!(listed.len() > 50, "{} messages stored", listed.len());
    let mut secrets = Vec::new();
    for summary in &listed {
        let stored = store.message(&summary.id).await.unwrap().unwrap();
        personal(&serde_json::from_str::<Value>(&stored.canonical).unwrap()["data"], &mut secrets);
    }
    store.close().await;
    secrets.sort();
    secrets.dedup();
    secrets.retain(|s| s.len() >= 4);
    assert!(secrets.iter().any(|s| s.len() == 16) && secrets.len() > 100, "{} values", secrets.len());
    // Every byte of every file under the data folder.
    for path in files(&data) {
        // SQLite's -wal and -shm files go when the last connection closes: a file gone
        // between the listing and the reading holds nothing.
        let bytes = match std::fs::read(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            read => read.unwrap(),
        };
        for secret in &secrets {
            assert!(!readable(&bytes, secret), "{secret:?} is readable in {}", path.display());
        }
    }
}

/// Whether `secret` stands in `bytes` as readable text.
///
/// Sealed text columns hold base64, where a short name made of base64 letters ("Jose",
/// "Ravi") turns up by chance now and then (a CI run found "Jose" inside a sealed value,
/// with odds of 64^-4 per base64 character stored). A short value therefore counts only standing on its
/// own, between bytes outside the base64 alphabet, as it would in clear JSON, XML or CSV
/// (`"Jose"`, `>Jose<`, `,Jose,`); a value of 8 bytes or more counts anywhere.
fn readable(bytes: &[u8], secret: &str) -> bool {
    // '=' only pads the end of base64: it may follow a chance match, never precede one.
    let base64 = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/');
    let len = secret.len();
    !secret.is_empty()
        && (0..(bytes.len() + 1).saturating_sub(len)).any(|at| {
            &bytes[at..at + len] == secret.as_bytes()
                && (len >= 8
                    || (at.checked_sub(1).is_none_or(|before| !base64(bytes[before]))
                        && bytes.get(at + len).is_none_or(|&after| !base64(after) && after != b'=')))
        })
}

#[test]
fn a_short_value_counts_as_readable_only_standing_on_its_own() {
    assert!(readable(br#"{"givenName":"Jose"}"#, "Jose"));
    assert!(readable(b"<Nome>Jose</Nome>", "Jose"));
    assert!(readable(b"Jose", "Jose"));
    assert!(readable(b"?nome=Jose&cognome=Rossi", "Jose"));
    assert!(!readable(b"sealed:1:q8Jose==", "Jose"));
    assert!(!readable(b"sealed:1:q8Jose0Zx==", "Jose"));
    assert!(readable(b"sealed:1:q8RSSMRA80A01H501U0Zx==", "RSSMRA80A01H501U"));
    assert!(!readable(b"RSSMRA80A01H501", "RSSMRA80A01H501U"));
}
