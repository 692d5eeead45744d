//! A data subject's export on a store of many sealed messages, found two ways in one run:
//! by opening every payload (what `subject export` did before the blind index, and still
//! does without an index key) and by the keyed blind index. Prints both times and their
//! ratio. `RACCORDO_BENCH_MESSAGES` sets how many messages (100,000 by default).
//!
//!     cargo bench --bench subject_export

use std::time::Instant;

use raccordo::simulate::generate::Generator;
use raccordo::store::seal::Sealer;
use raccordo::store::{NewMessage, Store};

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("RACCORDO_BENCH_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("raccordo-subject-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let url = format!("sqlite://{}/raccordo.db", dir.display());
    let data_key = [7u8; 32];
    let store =
        Store::open_sealed(&url, Some(Sealer::new(vec![("k1".into(), data_key)], Some([9u8; 32])).expect("keys")))
            .await
            .expect("the store opens");

    // Many people, each in a few messages; the subject is one of them.
    let started = Instant::now();
    let mut generator = Generator::new(42);
    let mut subject = String::new();
    let types = ["worker.registered", "employment.started", "subsidy.granted", "vacancy.published"];
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut inserts = Vec::with_capacity(chunk.len());
        for &index in chunk {
            let message = generator.message(types[index % types.len()]).expect("a generated message");
            if index == count / 2 {
                subject = first_codice_fiscale(&message).unwrap_or_default();
            }
            let canonical = message.to_string();
            inserts.push(NewMessage {
                id: format!("m{index:08}"),
                source: "urn:raccordo:cpi:BENCH".into(),
                message_id: format!("b{index:08}"),
                sender: "bench".into(),
                message_type: types[index % types.len()].into(),
                profile: "canonical".into(),
                received_at: index as i64,
                original: canonical.clone().into_bytes(),
                canonical,
                answer: "{}".into(),
            });
        }
        // Started together, the inserts share the store writer's group commits.
        let writes = inserts.iter().map(|message| store.insert(message, &[], &[]));
        for result in futures::future::join_all(writes).await {
            result.expect("stored");
        }
    }
    println!("{count} sealed messages stored in {:.1} s", started.elapsed().as_secs_f64());
    store.close().await;

    // The same database, read without the index key: every payload is opened.
    let scanning = Store::open_sealed(&url, Some(Sealer::new(vec![("k1".into(), data_key)], None).expect("keys")))
        .await
        .expect("the store opens");
    let started = Instant::now();
    let scanned = scanning.messages_about(&subject).await.expect("scan");
    let scan = started.elapsed();
    scanning.close().await;

    let indexed_store =
        Store::open_sealed(&url, Some(Sealer::new(vec![("k1".into(), data_key)], Some([9u8; 32])).expect("keys")))
            .await
            .expect("the store opens");
    let started = Instant::now();
    let indexed = indexed_store.messages_about(&subject).await.expect("index");
    let index = started.elapsed();
    indexed_store.close().await;

    assert_eq!(scanned.len(), indexed.len(), "the two ways find the same messages");
    println!(
        "subject export of {} messages among {count}: by opening every payload {:.0} ms, by the blind index {:.2} ms ({:.0}x)",
        indexed.len(),
        scan.as_secs_f64() * 1e3,
        index.as_secs_f64() * 1e3,
        scan.as_secs_f64() / index.as_secs_f64().max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first codice fiscale of a message's data.
fn first_codice_fiscale(message: &serde_json::Value) -> Option<String> {
    raccordo::store::seal::codici_fiscali(&message["data"]).into_iter().next()
}
