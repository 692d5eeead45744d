//! Retention: how long payloads are kept per message type (`[retention]` in the
//! configuration), the purge that enforces it (on `serve`'s schedule or with
//! `raccordo retention purge`), and a data subject's export and erasure.

use std::sync::Arc;

use tokio_cron_scheduler::JobScheduler;

use crate::error::Error;
use crate::gateway::Gateway;
use crate::store::retention::subject_reference;
use crate::store::AuditEntry;

const DAY_MILLIS: i64 = 86_400_000;

/// Purges every type that has a retention; returns (type, messages purged) for each.
pub async fn purge(state: &Gateway) -> Result<Vec<(String, u64)>, Error> {
    let Some(retention) = &state.config.retention else { return Ok(Vec::new()) };
    let now = state.clock.now_millis();
    let mut purged = Vec::new();
    for message_type in state.catalog.standard.types() {
        let name = message_type.name.as_str();
        let Some(days) = retention.days.get(name).copied().or(retention.default_days) else { continue };
        let cutoff = now - i64::from(days) * DAY_MILLIS;
        // Quarantined INPS records of the type are personal data too: kept no longer.
        let count =
            state.store.purge(name, cutoff, now).await? + state.store.purge_quarantine(Some(name), cutoff, now).await?;
        purged.push((name.to_owned(), count));
    }
    // A record whose type could not be told goes with the default retention.
    if let Some(days) = retention.default_days {
        let cutoff = now - i64::from(days) * DAY_MILLIS;
        purged.push(("quarantine".to_owned(), state.store.purge_quarantine(None, cutoff, now).await?));
    }
    Ok(purged)
}

/// Runs `purge` on the configuration's schedule (cron with seconds, Europe/Rome).
pub async fn schedule(state: Arc<Gateway>, expression: &str) -> Result<JobScheduler, Error> {
    let tick: crate::schedule::Tick = Arc::new(move || {
        let state = Arc::clone(&state);
        Box::pin(async move {
            match purge(&state).await {
                Ok(purged) => {
                    let total: u64 = purged.iter().map(|(_, n)| n).sum();
                    tracing::info!(target: "raccordo::retention", messages = total, "retention purge done");
                }
                Err(error) => tracing::warn!(target: "raccordo::retention", "retention purge failed: {error}"),
            }
        })
    });
    crate::schedule::start("retention", expression, tick).await
}

/// What a subject's erasure did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Erasure {
    pub erased: Vec<String>,
    /// Quarantined INPS records about the subject, deleted.
    pub quarantined: Vec<String>,
    /// Messages kept, each with why (a legal hold on its type, deliveries still due).
    pub kept: Vec<(String, String)>,
}

/// Every message about a person, for a data-subject access request; audited under a
/// reference that does not reveal the codice fiscale.
pub async fn export(state: &Gateway, codice_fiscale: &str) -> Result<Vec<serde_json::Value>, Error> {
    let found = state.store.messages_about(codice_fiscale).await?;
    let quarantined = state.store.quarantined_about(codice_fiscale).await?;
    let entry = AuditEntry::new(
        state.clock.now_millis(),
        "subject.exported",
        Some("operator"),
        Some(&subject_reference(codice_fiscale)),
        serde_json::json!({ "messages": found.len(), "quarantined": quarantined.len() }),
    );
    state.store.audit(&[entry]).await?;
    let messages = found.into_iter().map(|m| {
        serde_json::json!({
            "id": m.id,
            "type": m.message_type,
            "receivedAt": crate::clock::rfc3339(m.received_at),
            "message": serde_json::from_str::<serde_json::Value>(&m.canonical).unwrap_or_default(),
        })
    });
    let records = quarantined.into_iter().map(|q| {
        serde_json::json!({
            "id": q.id,
            "quarantined": true,
            "type": q.message_type,
            "receivedAt": crate::clock::rfc3339(q.received_at),
            "record": serde_json::from_str::<serde_json::Value>(&q.original).unwrap_or(serde_json::Value::String(q.original)),
            "errors": serde_json::from_str::<serde_json::Value>(&q.errors).unwrap_or_default(),
        })
    });
    Ok(messages.chain(records).collect())
}

/// Erases the payloads of a person's messages where the law allows: not those of types
/// under a legal hold (`[retention] legal_hold`), nor those still owed to a recipient.
pub async fn erase(state: &Gateway, codice_fiscale: &str) -> Result<Erasure, Error> {
    let hold = state.config.retention.as_ref().map(|r| r.legal_hold.clone()).unwrap_or_default();
    let mut erasure = Erasure { erased: Vec::new(), quarantined: Vec::new(), kept: Vec::new() };
    for record in state.store.quarantined_about(codice_fiscale).await? {
        match &record.message_type {
            Some(name) if hold.contains(name) => {
                erasure.kept.push((record.id, format!("{name} is under a legal hold")));
            }
            _ => erasure.quarantined.push(record.id),
        }
    }
    for message in state.store.messages_about(codice_fiscale).await? {
        if hold.contains(&message.message_type) {
            erasure.kept.push((message.id, format!("{} is under a legal hold", message.message_type)));
        } else if !message.finished {
            erasure.kept.push((message.id, "deliveries are still due".into()));
        } else {
            erasure.erased.push(message.id);
        }
    }
    let subject = subject_reference(codice_fiscale);
    state.store.erase(&erasure.erased, &erasure.quarantined, &subject, state.clock.now_millis()).await?;
    Ok(erasure)
}
