//! The store's contract, run against SQLite and PostgreSQL alike: idempotent intake, the
//! outbox's claims, retries, leases, ordering, dead letters and replays.
//!
//! PostgreSQL is the server named by `RACCORDO_TEST_DATABASE_URL`, else the one on
//! 127.0.0.1:5432 (database `test`). `scripts/test.sh` starts a local one where none
//! answers, so these tests never skip: without a server they fail.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use common::each_store;

use std::collections::HashSet;

use raccordo::store::{Dialect, Event, Finish, Inserted, ListFilter, NewDelivery, NewMessage, Store};

const T0: i64 = 1_772_442_000_000; // 2026-03-02T09:00:00Z

fn message(id: &str, source: &str, message_id: &str) -> NewMessage {
    NewMessage {
        id: id.to_owned(),
        source: source.to_owned(),
        message_id: message_id.to_owned(),
        sender: "cpi-cremona".to_owned(),
        message_type: "employment.started".to_owned(),
        profile: "canonical".to_owned(),
        received_at: T0,
        original: b"{\"original\":true}".to_vec(),
        canonical: "{\"canonical\":true}".to_owned(),
        answer: format!("{{\"id\":\"{id}\"}}"),
    }
}

fn delivery(id: &str, party: &str, key: Option<&str>) -> NewDelivery {
    NewDelivery {
        id: id.to_owned(),
        party: party.to_owned(),
        profile: "canonical".to_owned(),
        ordering_key: key.map(str::to_owned),
    }
}

/// Stores messages m0, m1, ... each with one delivery (d0, d1, ...) to "sui".
async fn insert_each(store: &Store, count: usize) {
    for index in 0..count {
        let new = message(&format!("m{index}"), "s", &index.to_string());
        store.insert(&new, &[delivery(&format!("d{index}"), "sui", None)], &[]).await.unwrap();
    }
}

fn event(kind: &str) -> Event {
    Event { at: T0, kind: raccordo::store::EventKind::parse(kind).unwrap(), party: None, detail: "{}".to_owned() }
}

#[tokio::test]
async fn a_resend_returns_the_first_answer_and_stores_nothing() {
    each_store(|store| async move {
        let first = store
            .insert(
                &message("m1", "urn:raccordo:cpi:CR01", "A-1"),
                &[delivery("d1", "sui", None)],
                &[event("received")],
            )
            .await
            .unwrap();
        assert_eq!(first, Inserted::Created);
        let again = store
            .insert(
                &message("m2", "urn:raccordo:cpi:CR01", "A-1"),
                &[delivery("d2", "sui", None)],
                &[event("received")],
            )
            .await
            .unwrap();
        assert_eq!(again, Inserted::Duplicate { answer: "{\"id\":\"m1\"}".to_owned() });
        assert!(store.message("m2").await.unwrap().is_none());
        // The same id from another source is another message.
        let other = store.insert(&message("m3", "urn:raccordo:social:D150", "A-1"), &[], &[]).await.unwrap();
        assert_eq!(other, Inserted::Created);
        let claimed = store.claim("w", T0, 60_000, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|c| c.delivery_id.as_str()).collect::<Vec<_>>(), ["d1"]);
    })
    .await;
}

/// A group that fails while its rows are written (here a delivery id already taken) leaves
/// nothing of itself behind, neither its message nor an audit entry, and the writer takes
/// the next group as if nothing had happened. On SQLite the group's transaction is SQL of
/// the store's own, begun with the messages' insert and committed with the last rows.
#[tokio::test]
async fn a_failed_group_is_rolled_back_whole_and_the_next_one_is_written() {
    each_store(|store| async move {
        let first = store.insert(&message("m1", "s", "1"), &[delivery("d1", "sui", None)], &[]).await.unwrap();
        assert_eq!(first, Inserted::Created);
        let taken = store.insert(&message("m2", "s", "2"), &[delivery("d1", "cpi", None)], &[event("received")]).await;
        assert!(taken.is_err(), "a delivery id used twice: {taken:?}");
        assert!(store.message("m2").await.unwrap().is_none(), "the failed group's message is not stored");
        let next = store.insert(&message("m3", "s", "3"), &[delivery("d3", "sui", None)], &[]).await.unwrap();
        assert_eq!(next, Inserted::Created);
        let again = store.insert(&message("m4", "s", "1"), &[delivery("d4", "sui", None)], &[]).await.unwrap();
        assert_eq!(again, Inserted::Duplicate { answer: "{\"id\":\"m1\"}".to_owned() });
        store.chain_audit().await.unwrap();
        let verification = store.verify_audit().await.unwrap();
        assert_eq!((verification.entries, verification.problem), (2, None), "m1 and m3 received, nothing else");
        let claimed = store.claim("w", T0, 60_000, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|c| c.delivery_id.as_str()).collect::<Vec<_>>(), ["d1", "d3"]);
    })
    .await;
}

#[tokio::test]
async fn deliveries_retry_then_succeed_with_a_timeline() {
    each_store(|store| async move {
        store.insert(&message("m1", "s", "1"), &[delivery("d1", "sui", None)], &[event("received")]).await.unwrap();
        let claimed = store.claim("w", T0, 60_000, 10).await.unwrap();
        assert_eq!((claimed.len(), claimed[0].attempts), (1, 1));
        assert_eq!(claimed[0].canonical, "{\"canonical\":true}");
        let retry = Finish::Retry { at: T0 + 1_000, error: "HTTP 503".into() };
        assert!(store.finish("d1", "w", &retry, T0 + 10, &event("attempt-failed")).await.unwrap());
        assert!(store.claim("w", T0 + 500, 60_000, 10).await.unwrap().is_empty(), "not due yet");
        let claimed = store.claim("w", T0 + 1_000, 60_000, 10).await.unwrap();
        assert_eq!(claimed[0].attempts, 2);
        assert!(store.finish("d1", "w", &Finish::Delivered, T0 + 1_010, &event("delivered")).await.unwrap());
        let stored = store.message("m1").await.unwrap().unwrap();
        assert_eq!(stored.summary.status.as_str(), "delivered");
        assert_eq!(stored.deliveries[0].status.as_str(), "delivered");
        assert_eq!(stored.original, b"{\"original\":true}");
        let kinds: Vec<&str> = stored.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["received", "attempt-failed", "delivered"]);
    })
    .await;
}

#[tokio::test]
async fn dead_letters_can_be_replayed() {
    each_store(|store| async move {
        store
            .insert(&message("m1", "s", "1"), &[delivery("d1", "sui", None), delivery("d2", "social", None)], &[])
            .await
            .unwrap();
        let claimed = store.claim("w", T0, 60_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        store.finish("d1", "w", &Finish::Dead { error: "HTTP 400".into() }, T0, &event("dead-lettered")).await.unwrap();
        store.finish("d2", "w", &Finish::Delivered, T0, &event("delivered")).await.unwrap();
        assert_eq!(store.message("m1").await.unwrap().unwrap().summary.status.as_str(), "failed");
        let dead = store.dead_letters(None, 0, 10).await.unwrap();
        assert_eq!(
            dead.iter().map(|d| (d.delivery_id.as_str(), d.party.as_str())).collect::<Vec<_>>(),
            [("d1", "sui")]
        );
        assert!(store.dead_letters(Some("social"), 0, 10).await.unwrap().is_empty());
        assert_eq!(store.replay("m1", T0 + 5, &event("replayed")).await.unwrap(), 1);
        assert!(store.dead_letters(None, 0, 10).await.unwrap().is_empty());
        let claimed = store.claim("w", T0 + 5, 60_000, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|c| (c.delivery_id.as_str(), c.attempts)).collect::<Vec<_>>(), [("d1", 1)]);
        assert_eq!(store.replay("no-such-message", T0, &event("replayed")).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn ordered_deliveries_wait_for_the_earlier_one() {
    each_store(|store| async move {
        store.insert(&message("m1", "s", "1"), &[delivery("d1", "cpi", Some("rel-7"))], &[]).await.unwrap();
        store.insert(&message("m2", "s", "2"), &[delivery("d2", "cpi", Some("rel-7"))], &[]).await.unwrap();
        store.insert(&message("m3", "s", "3"), &[delivery("d3", "cpi", Some("rel-8"))], &[]).await.unwrap();
        let claimed: Vec<String> =
            store.claim("w", T0, 60_000, 10).await.unwrap().into_iter().map(|c| c.delivery_id).collect();
        assert_eq!(claimed, ["d1", "d3"], "d2 waits for d1, the same subject");
        store
            .finish("d1", "w", &Finish::Retry { at: T0 + 100, error: "x".into() }, T0, &event("attempt-failed"))
            .await
            .unwrap();
        let claimed: Vec<String> =
            store.claim("w", T0 + 100, 60_000, 10).await.unwrap().into_iter().map(|c| c.delivery_id).collect();
        assert_eq!(claimed, ["d1"], "still in order while d1 retries");
        store.finish("d1", "w", &Finish::Delivered, T0 + 100, &event("delivered")).await.unwrap();
        let claimed: Vec<String> =
            store.claim("w", T0 + 100, 60_000, 10).await.unwrap().into_iter().map(|c| c.delivery_id).collect();
        assert_eq!(claimed, ["d2"]);
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_passes_the_delivery_on() {
    each_store(|store| async move {
        store.insert(&message("m1", "s", "1"), &[delivery("d1", "sui", None)], &[]).await.unwrap();
        assert_eq!(store.claim("a", T0, 1_000, 10).await.unwrap().len(), 1);
        assert!(store.claim("b", T0 + 500, 1_000, 10).await.unwrap().is_empty(), "a still holds it");
        assert_eq!(store.claim("b", T0 + 1_500, 1_000, 10).await.unwrap().len(), 1, "a's lease expired");
        assert!(
            !store.finish("d1", "a", &Finish::Delivered, T0 + 1_600, &event("delivered")).await.unwrap(),
            "a lost it"
        );
        assert!(store.finish("d1", "b", &Finish::Delivered, T0 + 1_600, &event("delivered")).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn outcomes_written_together_each_keep_their_lease_and_timeline() {
    each_store(|store| async move {
        insert_each(&store, 30).await;
        // a holds d0..d9 for a second and d10..d29 for a minute; b takes d0..d9 once a's
        // short lease is over.
        assert_eq!(store.claim("a", T0, 1_000, 10).await.unwrap().len(), 10);
        assert_eq!(store.claim("a", T0, 60_000, 30).await.unwrap().len(), 20);
        assert_eq!(store.claim("b", T0 + 1_500, 60_000, 30).await.unwrap().len(), 10);
        let (audited_before, _) = store.audit_head().await.unwrap();
        let outcome = |index: usize| match index % 3 {
            0 => (Finish::Delivered, "delivered"),
            1 => (Finish::Retry { at: T0 + 9_000, error: format!("HTTP 503 for d{index}") }, "attempt-failed"),
            _ => (Finish::Dead { error: format!("HTTP 400 for d{index}") }, "dead-lettered"),
        };
        let mut finishes: Vec<(String, Finish, Event)> =
            (0..30).map(|index| (format!("d{index}"), outcome(index).0, event(outcome(index).1))).collect();
        // The same delivery finished twice: the second finds it no longer in flight.
        finishes.push(("d12".to_owned(), Finish::Delivered, event("delivered")));
        // Sent at once, they reach the finish writer as one group.
        let answers = futures::future::join_all(
            finishes.iter().map(|(id, finish, event)| store.finish(id, "a", finish, T0 + 2_000, event)),
        )
        .await;
        let answers: Vec<bool> = answers.into_iter().map(Result::unwrap).collect();
        let mut expected = vec![false; 10];
        expected.extend([true; 20]);
        expected.push(false);
        assert_eq!(answers, expected, "a lost d0..d9; d12 is written once");
        for index in 0..30 {
            let stored = store.message(&format!("m{index}")).await.unwrap().unwrap();
            let delivery = &stored.deliveries[0];
            let kinds: Vec<&str> = stored.events.iter().map(|e| e.kind.as_str()).collect();
            if index < 10 {
                assert_eq!((delivery.status.as_str(), kinds.len()), ("in_flight", 0), "d{index} is b's");
                continue;
            }
            let (finish, kind) = outcome(index);
            assert_eq!(kinds, [kind], "d{index}'s timeline");
            match finish {
                Finish::Delivered => {
                    assert_eq!((delivery.status.as_str(), delivery.finished_at), ("delivered", Some(T0 + 2_000)))
                }
                Finish::Retry { at, error } => {
                    assert_eq!(delivery.status.as_str(), "pending");
                    assert_eq!((delivery.next_attempt_at, delivery.last_error.as_deref()), (at, Some(error.as_str())));
                    assert_eq!(delivery.finished_at, None);
                }
                Finish::Dead { error } => {
                    assert_eq!(
                        (delivery.status.as_str(), delivery.last_error.as_deref()),
                        ("dead", Some(error.as_str()))
                    )
                }
            }
        }
        // Delivered and dead outcomes are audited, retries are not: 6 and 7 of d10..d29.
        assert_eq!(store.audit_head().await.unwrap().0, audited_before + 13);
        // b still holds its lease and finishes its own.
        assert!(store.finish("d3", "b", &Finish::Delivered, T0 + 2_100, &event("delivered")).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn deliveries_handed_back_unsent_are_due_again_with_their_attempt_taken_back() {
    each_store(|store| async move {
        insert_each(&store, 3).await;
        assert_eq!(store.claim("a", T0, 60_000, 2).await.unwrap().len(), 2);
        assert_eq!(store.claim("b", T0, 60_000, 2).await.unwrap().len(), 1);
        let ids: Vec<String> = ["d0", "d2", "no-such-delivery"].map(str::to_owned).to_vec();
        assert_eq!(store.release("a", &ids).await.unwrap(), 1, "d2 is b's, the third is nobody's");
        let again = store.claim("c", T0, 60_000, 10).await.unwrap();
        assert_eq!(again.iter().map(|c| (c.delivery_id.as_str(), c.attempts)).collect::<Vec<_>>(), [("d0", 1)]);
        assert_eq!(store.release("a", &[]).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn lists_filter_and_page() {
    each_store(|store| async move {
        for index in 0..5 {
            let mut new = message(&format!("m{index}"), "s", &format!("{index}"));
            new.received_at = T0 + index * 1000;
            if index % 2 == 1 {
                new.message_type = "vacancy.published".into();
            }
            store
                .insert(&new, &[delivery(&format!("d{index}"), if index == 4 { "sui" } else { "cpi" }, None)], &[])
                .await
                .unwrap();
        }
        let all = store.list(&ListFilter { limit: 2, ..ListFilter::default() }).await.unwrap();
        assert_eq!(all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m0", "m1"]);
        let next =
            store.list(&ListFilter { limit: 2, after: Some(all[1].seq), ..ListFilter::default() }).await.unwrap();
        assert_eq!(next.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m2", "m3"]);
        let vacancies = store
            .list(&ListFilter { limit: 10, message_type: Some("vacancy.published".into()), ..ListFilter::default() })
            .await
            .unwrap();
        assert_eq!(vacancies.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m1", "m3"]);
        let to_sui =
            store.list(&ListFilter { limit: 10, party: Some("sui".into()), ..ListFilter::default() }).await.unwrap();
        assert_eq!(to_sui.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m4"]);
        let window = store
            .list(&ListFilter { limit: 10, since: Some(T0 + 1000), until: Some(T0 + 3000), ..ListFilter::default() })
            .await
            .unwrap();
        assert_eq!(window.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
        let pending = store
            .list(&ListFilter {
                limit: 10,
                status: Some(raccordo::store::MessageStatus::Accepted),
                ..ListFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(pending.len(), 5);
        assert_eq!(store.queue_depth().await.unwrap(), [("cpi".to_owned(), 4), ("sui".to_owned(), 1)]);
    })
    .await;
}

#[tokio::test]
async fn two_instances_on_postgresql_never_claim_the_same_delivery() {
    let url = common::postgres_url().await;
    let first = Store::open(&url).await.unwrap();
    let second = Store::open(&url).await.unwrap();
    let deliveries: Vec<NewDelivery> =
        (0..200).map(|i| delivery(&format!("d{i}"), &format!("p{}", i % 7), None)).collect();
    for (index, chunk) in deliveries.chunks(4).enumerate() {
        first.insert(&message(&format!("m{index}"), "s", &format!("{index}")), chunk, &[]).await.unwrap();
    }
    let claimer = |store: Store, owner: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let claimed = store.claim(owner, T0, 60_000, 7).await.unwrap();
            if claimed.is_empty() {
                break;
            }
            mine.extend(claimed.into_iter().map(|c| c.delivery_id));
        }
        mine
    };
    let (a, b) = tokio::join!(tokio::spawn(claimer(first, "a")), tokio::spawn(claimer(second, "b")));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut seen = HashSet::new();
    for id in a.iter().chain(&b) {
        assert!(seen.insert(id.clone()), "{id} was claimed twice");
    }
    assert_eq!(seen.len(), 200);
    assert!(!a.is_empty() && !b.is_empty(), "both instances took work: {} and {}", a.len(), b.len());
}

/// A party resending the same messages to two instances at once: each instance writes them
/// in a group of its own, in opposite orders. Every message is stored once, each sending
/// gets an answer, and no group fails on a deadlock (which would refuse the other
/// messages of that group too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_writing_the_same_messages_at_once_neither_fail() {
    let url = common::postgres_url().await;
    let first = Store::open(&url).await.unwrap();
    let second = Store::open(&url).await.unwrap();
    for round in 0..5 {
        let keys: Vec<String> = (0..60).map(|i| format!("{round}-{i:02}")).collect();
        let writer = |store: Store, instance: &'static str, keys: Vec<String>| async move {
            let messages: Vec<NewMessage> =
                keys.iter().map(|key| message(&format!("{instance}-{key}"), "s", key)).collect();
            let inserts = messages.iter().map(|new| store.insert(new, &[], &[]));
            futures::future::join_all(inserts).await.into_iter().map(Result::unwrap).collect::<Vec<_>>()
        };
        let mut reversed = keys.clone();
        reversed.reverse();
        let (a, b) = tokio::join!(
            tokio::spawn(writer(first.clone(), "a", keys.clone())),
            tokio::spawn(writer(second.clone(), "b", reversed))
        );
        let created = a.unwrap().into_iter().chain(b.unwrap()).filter(|answer| *answer == Inserted::Created).count();
        assert_eq!(created, 60, "round {round}: each message stored once");
    }
}

/// One batch (here a page commit, one transaction) of messages given in an order their
/// keys do not sort in: every delivery and event lands on its own message, deliveries are
/// queued in the order given (an ordered route releases the first message's delivery
/// first), each timeline keeps its order, and one audit entry a message.
#[tokio::test]
async fn a_batch_keeps_each_rows_message_and_the_order_given() {
    use raccordo::store::{PageCommit, PullRun, Trigger};
    each_store(|store| async move {
        let run = PullRun::started("run-1".to_owned(), "inps", Trigger::Command, T0, None);
        store.start_run(&run).await.unwrap();
        let (audited_before, _) = store.audit_head().await.unwrap();
        // m0 has key C-3 and m3 key C-0: the key order is the reverse of the order given.
        let messages = (0..4)
            .map(|i| {
                let id = format!("m{i}");
                let deliveries = vec![
                    delivery(&format!("d-{id}-sui"), "sui", None),
                    delivery(&format!("d-{id}-cpi"), "cpi", Some("relationship-1")),
                ];
                let mut routed = event("routed");
                routed.party = Some(format!("party-of-{id}"));
                (
                    message(&id, "urn:raccordo:inps:INPS", &format!("C-{}", 3 - i)),
                    deliveries,
                    vec![event("received"), routed],
                )
            })
            .collect();
        let page = PageCommit {
            run_id: "run-1".to_owned(),
            records: 4,
            messages,
            quarantined: Vec::new(),
            cursor: Some(("inps".to_owned(), 100)),
            pages: 1,
            now: T0,
        };
        store.commit_sealed(&store.seal_page(page).unwrap()).await.unwrap();
        for i in 0..4 {
            let stored = store.message(&format!("m{i}")).await.unwrap().unwrap();
            let mut deliveries: Vec<&str> = stored.deliveries.iter().map(|d| d.id.as_str()).collect();
            deliveries.sort_unstable();
            assert_eq!(deliveries, [format!("d-m{i}-cpi"), format!("d-m{i}-sui")]);
            let timeline: Vec<(&str, Option<&str>)> =
                stored.events.iter().map(|e| (e.kind.as_str(), e.party.as_deref())).collect();
            assert_eq!(timeline, [("received", None), ("routed", Some(format!("party-of-m{i}").as_str()))]);
        }
        let mut claimed: Vec<String> =
            store.claim("w", T0, 60_000, 100).await.unwrap().into_iter().map(|c| c.delivery_id).collect();
        claimed.sort_unstable();
        assert_eq!(claimed, ["d-m0-cpi", "d-m0-sui", "d-m1-sui", "d-m2-sui", "d-m3-sui"], "m0 is first for the cpi");
        assert_eq!(store.audit_head().await.unwrap().0, audited_before + 4);
    })
    .await;
}

/// On PostgreSQL a write commits without the audit head's lock: its entries wait in the
/// queue, and the chain takes them once the head is free. (Every write used to hold that
/// lock until its commit, so writes of all instances committed one after the other.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_writes_commit_while_the_audit_head_is_locked() {
    use sqlx::Connection;
    let url = common::postgres_url().await;
    let store = Store::open(&url).await.unwrap();
    let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE").execute(&mut holder).await.unwrap();

    let within = |seconds| std::time::Duration::from_secs(seconds);
    let written = tokio::time::timeout(within(10), async {
        insert_each(&store, 3).await;
        let claimed = store.claim("a", T0, 60_000, 3).await.unwrap();
        assert_eq!(claimed.len(), 3);
        for claim in &claimed {
            assert!(store
                .finish(&claim.delivery_id, "a", &Finish::Delivered, T0 + 1, &event("delivered"))
                .await
                .unwrap());
        }
    })
    .await;
    assert!(written.is_ok(), "a write waited for the audit head");
    // A reader of the log chains first, so it waits for the head too.
    let reader = tokio::spawn({
        let store = store.clone();
        async move { store.audit_head().await.unwrap() }
    });
    tokio::time::sleep(within(1)).await;
    assert!(!reader.is_finished(), "the head was read while its lock was held");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    // Three messages received, three deliveries delivered.
    assert_eq!(tokio::time::timeout(within(10), reader).await.unwrap().unwrap().0, 6);
    let verification = store.verify_audit().await.unwrap();
    assert_eq!((verification.entries, verification.problem), (6, None));
}

/// On PostgreSQL the writers of one ordering key take turns: while another transaction
/// holds the key's turn (a slower writer, or another instance), a message with a delivery
/// under that key is not committed, so its delivery can't take a later seq and be claimed
/// before the earlier one is there; a delivery under another key is not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_writers_of_one_ordering_key_take_turns() {
    use sqlx::Connection;
    let url = common::postgres_url().await;
    let store = Store::open(&url).await.unwrap();
    let mut slower = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slower).await.unwrap();
    let held = serde_json::json!([raccordo::store::ordering_lock_key("cpi", "relationship-1")]).to_string();
    sqlx::query(raccordo::store::ORDERING_LOCKS_SQL).bind(held).execute(&mut slower).await.unwrap();

    let other = message("m-other", "s", "other");
    let other_delivery = [delivery("d-other", "cpi", Some("relationship-2"))];
    let within = std::time::Duration::from_secs(10);
    assert!(
        tokio::time::timeout(within, store.insert(&other, &other_delivery, &[])).await.is_ok(),
        "another key waited"
    );

    let waiting = tokio::spawn({
        let store = store.clone();
        async move {
            let new = message("m-same", "s", "same");
            store.insert(&new, &[delivery("d-same", "cpi", Some("relationship-1"))], &[]).await.unwrap()
        }
    });
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a write went ahead of the key's turn");
    assert!(store.message("m-same").await.unwrap().is_none());
    sqlx::query("ROLLBACK").execute(&mut slower).await.unwrap();
    assert_eq!(tokio::time::timeout(within, waiting).await.unwrap().unwrap(), Inserted::Created);
    let mut claimed: Vec<String> =
        store.claim("a", T0, 60_000, 10).await.unwrap().into_iter().map(|c| c.delivery_id).collect();
    claimed.sort_unstable();
    assert_eq!(claimed, ["d-other", "d-same"]);
}

/// The plan of a claim of 32 by owner "a" at T0 + 1, as `explain` shows it: the text
/// column `column` of each row.
async fn claim_plan(
    connection: &mut sqlx::AnyConnection,
    explain: &str,
    dialect: Dialect,
    column: usize,
) -> Vec<String> {
    use sqlx::Row;
    let sql = format!("{explain} {}", raccordo::store::claim_sql(dialect));
    sqlx::query(&sql)
        .bind("a")
        .bind(T0 + 60_000)
        .bind(T0 + 1)
        .bind(32_i64)
        .fetch_all(connection)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(column))
        .collect()
}

/// On PostgreSQL a claim reads the deliveries it takes, not the whole queue. A queue's
/// statistics always lag (here taken while it was empty); guessing a handful of due rows,
/// the planner would fetch all 5,000 queued and sort them on every claim. Nor does it step
/// over the deliveries in flight ahead of the pending ones: 1,000 are here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_claim_reads_what_it_takes_not_the_queue() {
    use sqlx::Connection;
    let url = common::postgres_url().await;
    let store = Store::open(&url).await.unwrap();
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("ANALYZE deliveries").execute(&mut connection).await.unwrap();
    // Half keep order per relationship, so the claim's turn check runs too.
    let queued: Vec<NewDelivery> = (0..5_000)
        .map(|i| delivery(&format!("d{i}"), "sui", (i % 2 == 0).then(|| format!("r{i}")).as_deref()))
        .collect();
    store.insert(&message("m", "s", "m"), &queued, &[]).await.unwrap();
    assert_eq!(store.claim("b", T0, 60_000, 1_000).await.unwrap().len(), 1_000);

    sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
    sqlx::query(raccordo::store::CLAIM_PLAN_SQL).execute(&mut connection).await.unwrap();
    let plan = claim_plan(&mut connection, "EXPLAIN (ANALYZE, FORMAT TEXT)", Dialect::Postgres, 0).await;
    sqlx::query("ROLLBACK").execute(&mut connection).await.unwrap();
    // The rows the scan of the queue (alias d) read: those it produced and those its filter
    // removed (the deliveries in flight, were they in its index).
    let number = |text: &str| text.split(' ').next().and_then(|n| n.parse::<u64>().ok());
    let mut read: Vec<u64> = Vec::new();
    let mut in_scan = false;
    for line in &plan {
        if line.contains(" on deliveries d ") {
            in_scan = true;
            read.extend(line.split("(actual time=").nth(1).and_then(|l| l.split("rows=").nth(1)).and_then(number));
        } else if line.contains("->") {
            in_scan = false;
        } else if let (true, Some(removed)) = (in_scan, line.split("Rows Removed by Filter: ").nth(1)) {
            if let (Some(last), Some(removed)) = (read.last_mut(), number(removed)) {
                *last += removed;
            }
        }
    }
    assert!(!read.is_empty(), "no scan of the queue in the plan:\n{}", plan.join("\n"));
    assert!(read.iter().all(|&rows| rows <= 64), "the claim read {read:?} rows for 32:\n{}", plan.join("\n"));
    assert_eq!(store.claim("a", T0 + 1, 60_000, 32).await.unwrap().len(), 32);
}

/// On SQLite a claim walks the pending deliveries in due order, without sorting the queue
/// or stepping over those in flight, and checks each one's turn among the waiting
/// deliveries of its party and key; expired leases are found among those in flight alone:
/// partial indexes, which hold the queue rather than the whole history.
#[tokio::test]
async fn on_sqlite_a_claim_walks_the_queue_through_its_partial_indexes() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/plan.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    // EXPLAIN QUERY PLAN's rows: id, parent, notused, detail.
    let plan = claim_plan(&mut connection, "EXPLAIN QUERY PLAN", Dialect::Sqlite, 3).await;
    let uses = |what: &str| plan.iter().any(|line| line.contains(what));
    assert!(uses("USING INDEX deliveries_pending"), "{plan:#?}");
    assert!(uses("USING INDEX deliveries_waiting"), "{plan:#?}");
    assert!(!uses("TEMP B-TREE"), "the claim sorts the queue: {plan:#?}");
    let sweep: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", raccordo::store::LEASE_SWEEP_SQL))
        .bind(T0)
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 3))
        .collect();
    assert!(sweep.iter().any(|line| line.contains("USING INDEX deliveries_leased")), "{sweep:#?}");
    store.close().await;
}

/// On SQLite the blind index's lookups by message or by quarantined record use the partial
/// indexes that hold only the rows naming one (migration 0011), not a scan of the table.
#[tokio::test]
async fn on_sqlite_blind_index_lookups_use_its_partial_indexes() {
    use sqlx::{Connection, Row};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/plan.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    for (statement, index) in [
        ("DELETE FROM subject_index WHERE quarantine_seq IN (SELECT seq FROM quarantine WHERE id = 'q')", "subject_index_quarantine"),
        ("DELETE FROM subject_index WHERE message_seq IN (SELECT seq FROM messages WHERE type = 't' AND purged_at = 1)", "subject_index_message"),
        ("SELECT DISTINCT quarantine_seq AS seq FROM subject_index WHERE quarantine_seq BETWEEN 1 AND 9", "subject_index_quarantine"),
        ("SELECT DISTINCT message_seq AS seq FROM subject_index WHERE message_seq BETWEEN 1 AND 9", "subject_index_message"),
    ] {
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {statement}"))
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect();
        assert!(plan.iter().any(|line| line.contains(&format!("USING COVERING INDEX {index}")) || line.contains(&format!("USING INDEX {index}"))), "{statement}: {plan:#?}");
    }
    store.close().await;
}

/// Migration 0012 makes the audit entries' number SQLite's rowid, dropping the unique index
/// every append wrote to: a chain written before it keeps its entries and still verifies,
/// appends continue it, and the table has no index left but `audit_kind_at`.
#[tokio::test]
async fn on_sqlite_the_audit_chain_survives_its_rowid_migration() {
    use sqlx::{Connection, Row};
    let dir = tempfile::tempdir().unwrap();
    let entry = |n: i64| {
        raccordo::store::AuditEntry::new(
            T0 + n,
            "subject.erased",
            Some("operator"),
            None,
            serde_json::json!({ "n": n }),
        )
    };
    // A chain of three, written by this build, to copy into a database as 0011 left it.
    let source = format!("sqlite://{}/source.db", dir.path().display());
    let store = Store::open(&source).await.unwrap();
    store.audit(&[entry(1), entry(2), entry(3)]).await.unwrap();
    store.close().await;
    let mut connection = sqlx::AnyConnection::connect(&source).await.unwrap();
    let columns = "seq, at, kind, actor, subject, detail, prev_hash, hash";
    let read = |rows: Vec<sqlx::any::AnyRow>| -> Vec<(i64, i64, String, String, String, String)> {
        rows.iter()
            .map(|row| {
                (
                    row.get("seq"),
                    row.get("at"),
                    row.get("kind"),
                    row.get("detail"),
                    row.get("prev_hash"),
                    row.get("hash"),
                )
            })
            .collect()
    };
    let chain = read(
        sqlx::query(&format!("SELECT {columns} FROM audit ORDER BY seq")).fetch_all(&mut connection).await.unwrap(),
    );
    let head: (i64, String) = {
        let row = sqlx::query("SELECT seq, hash FROM audit_head").fetch_one(&mut connection).await.unwrap();
        (row.get("seq"), row.get("hash"))
    };
    connection.close().await.unwrap();
    assert_eq!(chain.len(), 3);

    let old = format!("sqlite://{}/old.db", dir.path().display());
    let mut migrator =
        sqlx::migrate::Migrator::new(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")))
            .await
            .unwrap();
    let before: Vec<_> = migrator.migrations.iter().filter(|m| m.version < 12).cloned().collect();
    assert_eq!(before.len(), 11);
    migrator.migrations = before.into();
    let mut connection = sqlx::AnyConnection::connect(&format!("{old}?mode=rwc")).await.unwrap();
    migrator.run(&mut connection).await.unwrap();
    for (seq, at, kind, detail, prev_hash, hash) in &chain {
        sqlx::query(&format!("INSERT INTO audit ({columns}) VALUES ($1, $2, $3, 'operator', NULL, $4, $5, $6)"))
            .bind(seq)
            .bind(at)
            .bind(kind)
            .bind(detail)
            .bind(prev_hash)
            .bind(hash)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2")
        .bind(head.0)
        .bind(&head.1)
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();

    let store = Store::open(&old).await.unwrap();
    let verified = store.verify_audit().await.unwrap();
    assert_eq!((verified.entries, verified.problem), (3, None));
    store.audit(&[entry(4)]).await.unwrap();
    let verified = store.verify_audit().await.unwrap();
    assert_eq!((verified.entries, verified.problem), (4, None));
    store.close().await;
    let mut connection = sqlx::AnyConnection::connect(&old).await.unwrap();
    let migrated = read(
        sqlx::query(&format!("SELECT {columns} FROM audit WHERE seq <= 3 ORDER BY seq"))
            .fetch_all(&mut connection)
            .await
            .unwrap(),
    );
    assert_eq!(migrated, chain);
    let indexes: Vec<String> = sqlx::query("SELECT name FROM pragma_index_list('audit')")
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("name"))
        .collect();
    assert_eq!(indexes, ["audit_kind_at"]);
    let by_rowid: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit WHERE rowid = seq")
        .fetch_one(&mut connection)
        .await
        .unwrap()
        .get("n");
    assert_eq!(by_rowid, 4);
}

/// Closing a PostgreSQL store chains what it queued: a command (`subject erase`, `inps
/// pull`) that ends leaves no audit entry outside the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_postgresql_store_chains_what_it_queued() {
    use sqlx::{Connection, Row};
    let url = common::postgres_url().await;
    let store = Store::open(&url).await.unwrap();
    let entry = raccordo::store::AuditEntry::new(T0, "subject.erased", Some("operator"), None, serde_json::json!({}));
    store.audit(&[entry]).await.unwrap();
    store.close().await;
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let count = |table: &'static str| format!("SELECT COUNT(*) AS n FROM {table}");
    let queued: i64 = sqlx::query(&count("audit_queue")).fetch_one(&mut connection).await.unwrap().get("n");
    let chained: i64 = sqlx::query(&count("audit")).fetch_one(&mut connection).await.unwrap().get("n");
    assert_eq!((queued, chained), (0, 1));
}

/// Two instances writing and auditing at once on PostgreSQL: every entry goes onto the
/// chain once, the chain verifies, and closing leaves nothing queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_chain_every_audit_entry_once() {
    use raccordo::store::AuditEntry;
    use sqlx::{Connection, Row};
    let url = common::postgres_url().await;
    let first = Store::open(&url).await.unwrap();
    let second = Store::open(&url).await.unwrap();
    let writer = |store: Store, instance: &'static str| async move {
        for round in 0..10 {
            let messages: Vec<NewMessage> = (0..20)
                .map(|i| message(&format!("{instance}-{round}-{i}"), instance, &format!("{round}-{i}")))
                .collect();
            let inserts = messages.iter().map(|new| store.insert(new, &[], &[]));
            for answer in futures::future::join_all(inserts).await {
                assert_eq!(answer.unwrap(), Inserted::Created);
            }
            let read = AuditEntry::new(
                T0,
                "message.read",
                Some("operator"),
                Some(instance),
                serde_json::json!({ "round": round }),
            );
            store.audit(&[read]).await.unwrap();
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(writer(first.clone(), "a")), tokio::spawn(writer(second.clone(), "b")));
    a.unwrap();
    b.unwrap();
    second.close().await;
    let verification = first.verify_audit().await.unwrap();
    assert_eq!((verification.entries, verification.problem), (2 * 10 * 21, None));
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let received: i64 = sqlx::query("SELECT COUNT(DISTINCT subject) AS n FROM audit WHERE kind = 'message.received'")
        .fetch_one(&mut connection)
        .await
        .unwrap()
        .get("n");
    assert_eq!(received, 400, "each message's entry once");
    first.close().await;
    let queued: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM audit_queue").fetch_one(&mut connection).await.unwrap().get("n");
    assert_eq!(queued, 0);
}

fn quarantined(id: &str, key: &str) -> raccordo::store::Quarantined {
    raccordo::store::Quarantined {
        seq: 0,
        id: id.to_owned(),
        run_id: Some("run-1".to_owned()),
        source: "urn:raccordo:inps:INPS".to_owned(),
        record_key: key.to_owned(),
        profile: "inps-json".to_owned(),
        message_type: None,
        location: "/elenco_comunicazioni/0".to_owned(),
        received_at: T0,
        original: b"{}".to_vec(),
        errors: "[]".to_owned(),
    }
}

/// The INPS pull commits the pages that piled up while the previous commit ran in one
/// transaction: whole pages, the cursor of the last, and a record repeated across them
/// stored once.
#[tokio::test]
async fn pages_appended_commit_together_with_the_last_cursor() {
    use raccordo::store::{PageCommit, PageOutcome, PullRun, Trigger};
    each_store(|store| async move {
        let run = PullRun::started("run-1".to_owned(), "inps", Trigger::Command, T0, None);
        store.start_run(&run).await.unwrap();
        let page = |messages: Vec<NewMessage>, quarantine: Vec<raccordo::store::Quarantined>, cursor: i64| PageCommit {
            run_id: "run-1".to_owned(),
            records: (messages.len() + quarantine.len()) as i64,
            messages: messages
                .into_iter()
                .map(|m| {
                    let deliveries = vec![delivery(&format!("d-{}", m.id), "sui", None)];
                    (m, deliveries, vec![event("received")])
                })
                .collect(),
            quarantined: quarantine,
            cursor: Some(("inps".to_owned(), cursor)),
            pages: 1,
            now: T0,
        };
        let first = page(
            vec![message("m1", "urn:raccordo:inps:INPS", "C-1"), message("m2", "urn:raccordo:inps:INPS", "C-2")],
            vec![quarantined("q1", "C-9")],
            100,
        );
        // The second page repeats C-1 (a message) and C-9 (a quarantined record).
        let second = page(
            vec![message("m3", "urn:raccordo:inps:INPS", "C-1")],
            vec![quarantined("q2", "C-9"), quarantined("q3", "C-8")],
            200,
        );
        let mut sealed = store.seal_page(first).unwrap();
        sealed.append(store.seal_page(second).unwrap());
        let outcome = store.commit_sealed(&sealed).await.unwrap();
        assert_eq!(outcome, PageOutcome { accepted: 2, duplicates: 2, quarantined: 2 });
        assert_eq!(store.pull_cursor("inps").await.unwrap(), Some(200));
        let stored = store.pull_runs("inps", 1).await.unwrap().remove(0);
        assert_eq!((stored.pages, stored.records, stored.cursor), (2, 6, Some(200)));
        assert!(store.message("m3").await.unwrap().is_none());
        let claimed = store.claim("w", T0, 60_000, 10).await.unwrap();
        let mut ids: Vec<&str> = claimed.iter().map(|c| c.delivery_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["d-m1", "d-m2"]);
    })
    .await;
}
