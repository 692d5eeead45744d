//! Retention and data subjects: a purge empties old payloads (not those still owed to a
//! recipient) and records it in the audit log; a subject's messages are exported, and
//! erased where the law allows, audited under a reference that is not the codice fiscale.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::intake::Answer;
use raccordo::simulate::generate::Generator;
use raccordo::store::Store;
use serde_json::{json, Value};

async fn state(dir: &std::path::Path, retention: &str) -> std::sync::Arc<Gateway> {
    let text = format!(
        "[storage]\nurl = \"sqlite://{}/raccordo.db\"\n\
         [[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nsends = {{ profiles = [\"canonical\"] }}\n\
         [[parties]]\nid = \"social\"\nkind = \"social\"\ncode = \"D150\"\nname = \"S\"\nreceives = {{ profile = \"canonical\", endpoint = \"http://127.0.0.1:9/in\" }}\n\
         [[routes]]\ntypes = [\"worker.updated\"]\nto = [\"social\"]\n{retention}",
        dir.display()
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "retention.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap()
}

/// Sends a message of `name` about the worker with `codice_fiscale` (when given).
async fn send(state: &Gateway, name: &str, n: u64, codice_fiscale: Option<&str>) -> String {
    let party = state.parties.iter().next().unwrap();
    let mut message = Generator::new(n).message(name).unwrap();
    message["source"] = json!(party.urn());
    message["id"] = json!(format!("m{n}"));
    // The person: in a registration, the whole identity (agreeing with the codice
    // fiscale); in a withdrawal, the codice fiscale alone.
    if let Some(cf) = codice_fiscale {
        if message["data"]["person"].is_object() {
            message["data"]["person"] = json!({ "codiceFiscale": cf, "familyName": "Rossi", "givenName": "Maria",
                "sex": "F", "birthDate": "1980-01-01", "birthPlace": { "comune": "H501" }, "citizenship": "100" });
        } else {
            message["data"]["codiceFiscale"] = json!(cf);
        }
    }
    let intake = state.intake();
    let answers = intake.receive(party, "canonical", message.to_string().as_bytes(), false).await.unwrap();
    let Answer::Accepted { body, .. } = &answers[0] else { panic!("{answers:?}") };
    body["id"].as_str().unwrap().to_owned()
}

async fn audit_kinds(state: &Gateway) -> Vec<(String, Option<String>, String)> {
    use sqlx::Row;
    let url = state.config.storage_url();
    use sqlx::Connection;
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("SELECT kind, subject, detail FROM audit ORDER BY seq")
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("kind"), r.get("subject"), r.get("detail")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_empties_old_payloads_but_not_those_still_owed() {
    let dir = tempfile::tempdir().unwrap();
    // A retention of 0 days: everything received before now is past it.
    let state = state(dir.path(), "[retention]\ndefault_days = 0\n").await;
    let done = send(&state, "worker.registered", 1, None).await;
    let owed = send(&state, "worker.updated", 2, None).await; // its delivery to social is pending
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let purged = raccordo::retention::purge(&state).await.unwrap();
    assert_eq!(purged.iter().map(|(_, n)| n).sum::<u64>(), 1);
    let message = state.store.message(&done).await.unwrap().unwrap();
    assert_eq!(message.canonical, raccordo::store::retention::PURGED);
    assert!(message.original.is_empty());
    assert!(!message.events.is_empty(), "the timeline stays");
    assert_ne!(state.store.message(&owed).await.unwrap().unwrap().canonical, raccordo::store::retention::PURGED);
    let log = audit_kinds(&state).await;
    let purge = log.iter().find(|(kind, _, _)| kind == "retention.purged").unwrap();
    assert!(purge.2.contains("worker.registered"));
    assert!(state.store.verify_audit().await.unwrap().problem.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_is_exported_and_erased_where_the_law_allows() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), "[retention]\nlegal_hold = [\"worker.withdrawn\"]\n").await;
    let cf = "RSSMRA80A41H501Y";
    let registered = send(&state, "worker.registered", 1, Some(cf)).await;
    let withdrawn = send(&state, "worker.withdrawn", 2, Some(cf)).await;
    let other = send(&state, "worker.registered", 3, None).await;

    let exported = raccordo::retention::export(&state, cf).await.unwrap();
    let ids: Vec<&str> = exported.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [registered.as_str(), withdrawn.as_str()]);
    assert_eq!(exported[0]["message"]["data"]["person"]["codiceFiscale"], cf);

    let erasure = raccordo::retention::erase(&state, cf).await.unwrap();
    assert_eq!(erasure.erased, std::slice::from_ref(&registered));
    assert_eq!(erasure.kept.len(), 1);
    assert!(erasure.kept[0].1.contains("legal hold"));
    assert_eq!(state.store.message(&registered).await.unwrap().unwrap().canonical, raccordo::store::retention::PURGED);
    assert!(state.store.message(&withdrawn).await.unwrap().unwrap().canonical.contains(cf));
    assert!(state.store.message(&other).await.unwrap().unwrap().canonical.contains("worker"));
    // Nothing more to find but what the law keeps.
    assert_eq!(raccordo::retention::export(&state, cf).await.unwrap().len(), 1);

    // Both are audited, under a reference that is not the codice fiscale.
    let log = audit_kinds(&state).await;
    let subject: Vec<&(String, Option<String>, String)> =
        log.iter().filter(|(kind, _, _)| kind.starts_with("subject.")).collect();
    assert_eq!(subject.len(), 3);
    for (_, reference, detail) in &subject {
        let reference = reference.as_deref().unwrap();
        assert!(reference.starts_with("subject:") && !reference.contains(cf) && !detail.contains(cf));
    }
    let erased: Value = serde_json::from_str(&subject[1].2).unwrap();
    assert_eq!(erased["messages"], 1);
    assert!(state.store.verify_audit().await.unwrap().problem.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_blind_index_a_subject_is_found_in_messages_and_quarantined_records() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k1.key"), "12".repeat(32)).unwrap();
    std::fs::write(dir.path().join("index.key"), "34".repeat(32)).unwrap();
    let keys = format!(
        "[storage.encryption]\nkeys = [{{ id = \"k1\", file = \"{0}/k1.key\" }}]\nindex_key = {{ id = \"i1\", file = \"{0}/index.key\" }}\n",
        dir.path().display()
    );
    // The storage section is written by `state`; the keys go after its url.
    let text = format!(
        "[storage]\nurl = \"sqlite://{}/raccordo.db\"\n{keys}\
         [[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nsends = {{ profiles = [\"canonical\"] }}\n\
         [retention]\ndefault_days = 30\n",
        dir.path().display()
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "retention.toml", &catalog).unwrap();
    let sealer = raccordo::gateway::sealer(&config).unwrap().unwrap();
    let store = Store::open_sealed(&config.storage_url(), Some(sealer)).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let subject = "RSSMRA80A41H501Y";
    let about = send(&state, "worker.registered", 1, Some(subject)).await;
    send(&state, "worker.registered", 2, None).await;
    // An INPS record that could not be translated, about the same person.
    let page = raccordo::store::PageCommit {
        run_id: "run-1".into(),
        messages: Vec::new(),
        quarantined: vec![raccordo::store::Quarantined {
            seq: 0,
            id: "q1".into(),
            run_id: None,
            source: "urn:raccordo:inps:INPS".into(),
            record_key: "C0001".into(),
            profile: "inps-json".into(),
            message_type: Some("employment.started".into()),
            location: "/elenco_comunicazioni/0".into(),
            received_at: 0,
            original: format!("{{\"lavoratore\":{{\"codice_fiscale\":\"{subject}\"}}}}").into_bytes(),
            errors: "[]".into(),
        }],
        cursor: None,
        pages: 1,
        records: 1,
        now: 0,
    };
    state.store.commit_page(&page).await.unwrap();
    let exported = raccordo::retention::export(&state, &subject.to_lowercase()).await.unwrap();
    let ids: Vec<&str> = exported.iter().map(|item| item["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [about.as_str(), "q1"], "{exported:?}");
    assert_eq!(exported[1]["record"]["lavoratore"]["codice_fiscale"], subject);
    let erasure = raccordo::retention::erase(&state, subject).await.unwrap();
    assert_eq!(erasure.quarantined, ["q1"]);
    assert!(state.store.quarantined_about(subject).await.unwrap().is_empty());
    // Retention covers quarantined records too: one older than 30 days goes.
    let mut old = page.clone();
    old.quarantined[0].id = "q2".into();
    old.quarantined[0].record_key = "C0002".into();
    state.store.commit_page(&old).await.unwrap();
    let purged = raccordo::retention::purge(&state).await.unwrap();
    assert!(purged.iter().any(|(name, n)| name == "employment.started" && *n >= 1), "{purged:?}");
    assert!(state.store.quarantined(0, 10).await.unwrap().is_empty());
}
