//! Delivery workers: claim due deliveries from the outbox, write each message in its
//! recipient's profile, POST it with an `Idempotency-Key`, and record the outcome: delivered,
//! retried later with backoff, or dead-lettered. A delivery leaves the queue only after an
//! acknowledgement; a crash leaves it claimed until its lease expires, then it is sent again
//! (and the idempotency key makes that harmless).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::gateway::Gateway;
use crate::ingest::CANONICAL;
use crate::mapping::spec::FormatKind;
use crate::retry::{classify_status, RetryPolicy, Verdict};
use crate::store::{Claimed, Event, EventKind, Finish};

/// Sends deliveries for one gateway instance.
pub struct Deliverer {
    state: Arc<Gateway>,
    policy: RetryPolicy,
    /// This instance's name in leases.
    owner: String,
}

impl Deliverer {
    /// A deliverer on the gateway's HTTP clients (one per receiving party, loaded with its
    /// keys) and the configuration's retry policy.
    pub fn new(state: Arc<Gateway>, owner: String) -> Deliverer {
        let delivery = &state.config.delivery;
        let policy = RetryPolicy {
            initial: Duration::from_millis(delivery.backoff_initial_ms),
            max: Duration::from_secs(delivery.backoff_max_secs),
            max_attempts: delivery.max_attempts,
        };
        Deliverer { state, policy, owner }
    }

    /// Delivers until `shutdown` turns true, then finishes what is in flight (within the
    /// delivery timeout), hands back what was claimed and not yet sent, and leaves the rest
    /// queued.
    ///
    /// `concurrency` requests are in flight at most. Deliveries are claimed in batches of at
    /// least `concurrency`, up to twice that held (claimed and not yet recorded), so senders
    /// find the next delivery in hand rather than waiting for a claim, and every claim
    /// and every finish group is a transaction for many deliveries, not for one or two. A
    /// sender is free again once its request is answered; the outcome is recorded after.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let delivery = &self.state.config.delivery;
        let batch = delivery.concurrency.max(1);
        let senders = Arc::new(Semaphore::new(batch));
        let held = Arc::new(Semaphore::new(2 * batch));
        let poll = Duration::from_millis(delivery.poll_interval_ms);
        let lease_ms = i64::try_from(delivery.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut tasks = JoinSet::new();
        while !*shutdown.borrow() {
            while tasks.try_join_next().is_some() {}
            // Wait until a batch's worth of room is free, then take all the room there is.
            let mut room = tokio::select! {
                permits = Arc::clone(&held).acquire_many_owned(batch as u32) => match permits {
                    Ok(permits) => permits,
                    Err(_) => break,
                },
                _ = shutdown.changed() => continue,
            };
            if let Ok(more) = Arc::clone(&held).try_acquire_many_owned(held.available_permits() as u32) {
                room.merge(more);
            }
            let limit = room.num_permits() as i64;
            let claimed =
                match self.state.store.claim(&self.owner, self.state.clock.now_millis(), lease_ms, limit).await {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!("claiming deliveries: {error}");
                        Vec::new()
                    }
                };
            if claimed.is_empty() {
                drop(room);
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            // A message's stored text is parsed once for all of its deliveries in the claim
            // (three recipients each parsed it apart: 2.7 % of `serve`'s CPU at full rate).
            let mut messages: std::collections::HashMap<i64, Arc<Stored>> = std::collections::HashMap::new();
            for delivery in claimed {
                let Some(hold) = room.split(1) else { break };
                let message =
                    Arc::clone(messages.entry(delivery.message_seq).or_insert_with(|| Arc::new(stored(&delivery))));
                let deliverer = Arc::clone(&self);
                let senders = Arc::clone(&senders);
                let stopping = shutdown.clone();
                tasks.spawn(async move {
                    let Ok(sender) = senders.acquire_owned().await else { return };
                    if *stopping.borrow() {
                        // Stopping: a delivery not yet sent goes back to the queue now
                        // rather than when its lease runs out.
                        drop(sender);
                        if let Err(error) =
                            deliverer.state.store.release(&deliverer.owner, &[delivery.delivery_id]).await
                        {
                            tracing::warn!("handing back a delivery: {error}");
                        }
                    } else {
                        deliverer.deliver_with(delivery, &message, sender).await;
                    }
                    drop(hold);
                });
            }
        }
        let grace = Duration::from_secs(self.state.config.delivery.timeout_secs + 1);
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tasks.abort_all();
        }
    }

    /// One attempt at one delivery, and its outcome recorded.
    pub async fn deliver(&self, claimed: Claimed) {
        let message = stored(&claimed);
        self.deliver_with(claimed, &message, ()).await;
    }

    /// `deliver`, with `claimed`'s message already parsed (`message`), letting `sender` (what
    /// allows one request in flight) go once the request is answered, before the outcome is
    /// recorded.
    async fn deliver_with<S>(&self, claimed: Claimed, message: &Stored, sender: S) {
        let started = std::time::Instant::now();
        let attempts = u32::try_from(claimed.attempts).unwrap_or(u32::MAX);
        let verdict = self.policy.after(attempts, self.attempt(&claimed, message).await);
        drop(sender);
        let now = self.state.clock.now_millis();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (finish, kind, detail) = match &verdict {
            Verdict::Delivered => {
                (Finish::Delivered, EventKind::Delivered, json!({ "attempt": attempts, "ms": elapsed_ms }))
            }
            Verdict::Retry(reason) => {
                let delay = self.policy.delay(attempts, fastrand::f64());
                let at = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                (
                    Finish::Retry { at, error: reason.clone() },
                    EventKind::AttemptFailed,
                    json!({ "attempt": attempts, "error": reason, "retryAt": crate::clock::rfc3339(at), "ms": elapsed_ms }),
                )
            }
            Verdict::Permanent(reason) => (
                Finish::Dead { error: reason.clone() },
                EventKind::DeadLettered,
                json!({ "attempt": attempts, "error": reason, "ms": elapsed_ms }),
            ),
        };
        let outcome = match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Retry(_) => "retry",
            Verdict::Permanent(_) => "dead",
        };
        let metrics = &self.state.metrics;
        let labels = crate::telemetry::DeliveryLabels { party: claimed.party.clone(), outcome: outcome.into() };
        metrics.attempts.get_or_create(&labels).inc();
        let party = crate::telemetry::PartyLabel { party: claimed.party.clone() };
        metrics.delivery_seconds.get_or_create(&party).observe(started.elapsed().as_secs_f64());
        let event = Event { at: now, kind, party: Some(claimed.party.clone()), detail: detail.to_string() };
        match self.state.store.finish(&claimed.delivery_id, &self.owner, &finish, now, &event).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(delivery = %claimed.delivery_id, "lease lost: another instance owns this delivery now")
            }
            Err(error) => tracing::warn!(delivery = %claimed.delivery_id, "recording an attempt: {error}"),
        }
    }

    async fn attempt(&self, claimed: &Claimed, message: &Stored) -> Verdict {
        let Some(party) = self.state.parties.get(&claimed.party) else {
            return Verdict::Permanent(format!("party {} is no longer configured", claimed.party));
        };
        let (Some(receives), Some(client)) = (&party.receives, self.state.keys.outbound.get(&party.id)) else {
            return Verdict::Permanent(format!("party {} no longer receives messages", party.id));
        };
        let message = match message {
            Ok(message) => message,
            Err(reason) => return Verdict::Permanent(reason.clone()),
        };
        // The message's identity, in every profile (CloudEvents' HTTP binary mode headers):
        // what the recipient's receipt names (docs/STANDARD.md, XCH-01).
        let identity: Vec<(&str, String)> = ["id", "source", "type"]
            .into_iter()
            .filter_map(|name| message[name].as_str().map(|value| (name, value.to_owned())))
            .collect();
        let (body, content_type) = match render(&self.state, &party.id, &claimed.profile, message) {
            Ok(encoded) => encoded,
            Err(reason) => return Verdict::Permanent(reason),
        };
        // ModI INTEGRITY_REST_01: the body's digest and a JWS over it, for parties that ask.
        let signature = if receives.signed {
            let Some(signing) = &self.state.keys.signing else {
                return Verdict::Permanent("the party receives signed messages and [signing] has no key".into());
            };
            let audience = receives.audience.as_deref().unwrap_or(&receives.endpoint);
            let now = self.state.clock.now_millis() / 1000;
            match signing.signer.sign(&body, content_type, audience, now) {
                Ok(signed) => Some(signed),
                Err(error) => return Verdict::Permanent(format!("signing: {error}")),
            }
        } else {
            None
        };
        let client = match client.client().await {
            Ok(client) => client,
            Err(error) => return Verdict::Retry(error.to_string()),
        };
        let mut request = client
            .post(&receives.endpoint)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header("Idempotency-Key", &claimed.delivery_id)
            .header("Raccordo-Message-Id", &claimed.message_id)
            .header("Raccordo-Profile", &claimed.profile)
            .header("ce-specversion", "1.0")
            .body(body);
        for (name, value) in identity {
            request = request.header(format!("ce-{name}"), value);
        }
        if let Some((digest, jws)) = signature {
            request = request.header("Digest", digest).header(crate::modi::SIGNATURE_HEADER, jws);
        }
        if let Some(token) = &receives.token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return Verdict::Retry("timeout".into()),
            Err(error) => return Verdict::Retry(format!("connection: {}", root_cause(&error))),
        };
        let status = response.status().as_u16();
        match classify_status(status) {
            Verdict::Delivered => {
                // A receipt in the answer may still say the recipient rejected the content.
                let body = response.bytes().await.unwrap_or_default();
                match serde_json::from_slice::<Value>(&body) {
                    Ok(receipt) if receipt.pointer("/data/status").and_then(Value::as_str) == Some("rejected") => {
                        let codes: Vec<&str> = receipt
                            .pointer("/data/errors")
                            .and_then(Value::as_array)
                            .map(|errors| errors.iter().filter_map(|e| e["code"].as_str()).collect())
                            .unwrap_or_default();
                        Verdict::Permanent(format!("the recipient's receipt rejects it: {}", codes.join(", ")))
                    }
                    _ => Verdict::Delivered,
                }
            }
            other => other,
        }
    }
}

/// A claimed delivery's message, parsed, or why it can't be sent (a dead letter's reason).
type Stored = Result<Value, String>;

/// The message of `claimed`, parsed from its stored text.
fn stored(claimed: &Claimed) -> Stored {
    if let Some(reason) = &claimed.unreadable {
        return Err(format!("the stored message can't be read: {reason}"));
    }
    serde_json::from_str(&claimed.canonical).map_err(|error| format!("stored message unreadable: {error}"))
}

/// A canonical message as `recipient` receives it in `profile`, with its content type:
/// only the fields the recipient's routes grant (least data), written in its profile. What
/// every attempt sends, and what the operator console shows; an `Err` says why it can't be
/// written.
pub fn render(
    state: &Gateway,
    recipient: &str,
    profile: &str,
    message: &Value,
) -> Result<(Vec<u8>, &'static str), String> {
    let short_type = message["type"].as_str().and_then(crate::standard::short_name).unwrap_or_default();
    match state.routes.projection(recipient, short_type) {
        Some(fields) => encode(state, profile, &crate::routing::project(message, fields), recipient),
        None => encode(state, profile, message, recipient),
    }
}

/// The message in the recipient's profile, with its content type.
fn encode(state: &Gateway, profile: &str, message: &Value, recipient: &str) -> Result<(Vec<u8>, &'static str), String> {
    if profile == CANONICAL {
        return serde_json::to_vec(message).map(|body| (body, "application/json")).map_err(|e| e.to_string());
    }
    let catalog = &state.catalog;
    let profile = catalog.profile(profile).map_err(|e| e.to_string())?;
    let parties = state.parties.parties_of(message, Some(recipient));
    let (mut documents, outcomes) = catalog.from_canonical(profile, std::slice::from_ref(message), &parties);
    let codes: Vec<String> = outcomes.iter().flat_map(|o| o.diagnostics.iter().map(|d| d.code.id())).collect();
    if !codes.is_empty() || documents.len() != 1 {
        return Err(format!("cannot be written in profile {}: {}", profile.name, codes.join(", ")));
    }
    let content_type = match profile.format {
        FormatKind::Xml => "application/xml",
        FormatKind::Json => "application/json",
        FormatKind::Csv => "text/csv",
        FormatKind::Fixed => "text/plain",
    };
    Ok((documents.remove(0), content_type))
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
