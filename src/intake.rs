//! The gateway's intake: what a party sent becomes stored messages, each with one delivery
//! per recipient written in the same transaction (the outbox), or a refusal naming every
//! problem. A message is acknowledged only after that transaction commits.

use serde_json::{json, Value};

use crate::clock::{Clock, Ids};
use crate::error::{Diagnostic, Error, ErrorCode};
use crate::formats::json::encode;
use crate::ingest::{Catalog, Label, Outcome, CANONICAL};
use crate::parties::{Directory, Party};
use crate::routing::{self, Routes};
use crate::store::{AuditEntry, Event, EventKind, Inserted, NewDelivery, NewMessage, Store};

/// What became of one message of a request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Stored (now, or at the first sending of the same source and id): the 202 body.
    Accepted { body: Value, duplicate: bool },
    /// Not stored: every problem found.
    Rejected { label: Label, message_type: Option<String>, diagnostics: Vec<Diagnostic> },
}

/// A message ready to store, and the answer to give for it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The 202 body (for a dry run, the validation answer).
    pub body: Value,
    /// `None` for a dry run.
    pub message: Option<NewMessage>,
    pub deliveries: Vec<NewDelivery>,
    pub events: Vec<Event>,
}

/// An optional recipient left out because its profile can't write the message.
#[derive(Debug, Clone)]
struct Skipped {
    party: String,
    profile: String,
    codes: Vec<String>,
    requirements: Vec<String>,
}

/// Everything intake needs: the gateway's, lent to the API's handlers and the INPS pull.
pub struct Intake<'a> {
    pub catalog: &'a Catalog,
    pub parties: &'a Directory,
    pub routes: &'a Routes,
    pub store: &'a Store,
    pub clock: &'a Clock,
    pub ids: &'a Ids,
    /// This gateway's URN, the `source` of its receipts.
    pub gateway: &'a str,
}

impl Intake<'_> {
    /// Checks (and, unless `dry_run`, stores) what `party` sent in `profile`. Operational
    /// failures (the store) are `Err`; content problems are `Answer::Rejected`.
    pub async fn receive(
        &self,
        party: &Party,
        profile: &str,
        bytes: &[u8],
        dry_run: bool,
    ) -> Result<Vec<Answer>, Error> {
        let now = self.clock.now_rfc3339();
        let outcomes = if profile == CANONICAL {
            let (validation, output) =
                crate::ingest::decode_canonical(&self.catalog.standard, bytes, self.catalog.limits.max_message_bytes);
            vec![Outcome {
                label: Label::Whole,
                message_type: validation.message_type,
                output,
                diagnostics: validation.diagnostics,
            }]
        } else {
            let profile = self.catalog.profile(profile)?;
            self.catalog.to_canonical(profile, bytes, &party.urn, &now)
        };
        let mut answers = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            answers.push(self.one(party, profile, bytes, outcome, &now, dry_run).await?);
        }
        if !dry_run {
            // Refusals are audited with their codes; what was refused is not kept.
            let at = self.clock.now_millis();
            let refused: Vec<AuditEntry> = answers
                .iter()
                .filter_map(|answer| match answer {
                    Answer::Rejected { message_type, diagnostics, .. } => {
                        let codes: std::collections::BTreeSet<String> =
                            diagnostics.iter().map(|d| d.code.id()).collect();
                        let detail = json!({ "profile": profile, "type": message_type, "codes": codes });
                        Some(AuditEntry::new(at, "message.rejected", Some(&party.id), None, detail))
                    }
                    Answer::Accepted { .. } => None,
                })
                .collect();
            self.store.audit(&refused).await?;
        }
        Ok(answers)
    }

    async fn one(
        &self,
        party: &Party,
        profile: &str,
        bytes: &[u8],
        outcome: Outcome,
        now: &str,
        dry_run: bool,
    ) -> Result<Answer, Error> {
        let prepared = match self.prepare(party, profile, bytes, &outcome, now, dry_run) {
            Ok(prepared) => prepared,
            Err(diagnostics) => {
                return Ok(Answer::Rejected { label: outcome.label, message_type: outcome.message_type, diagnostics })
            }
        };
        let Some(new) = prepared.message else {
            return Ok(Answer::Accepted { body: prepared.body, duplicate: false });
        };
        match self.store.insert(&new, &prepared.deliveries, &prepared.events).await? {
            Inserted::Created => Ok(Answer::Accepted { body: prepared.body, duplicate: false }),
            Inserted::Duplicate { answer } => {
                let body =
                    serde_json::from_str(&answer).map_err(|e| Error::Internal(format!("a stored answer: {e}")))?;
                Ok(Answer::Accepted { body, duplicate: true })
            }
        }
    }

    /// Checks one translated message (validity, the party's rights, its source), routes it
    /// and builds what the store writes: the message with its answer, one delivery per
    /// recipient and the first events of its timeline. With `dry_run`, only the answer.
    /// Refusals are the diagnostics that explain them.
    pub fn prepare(
        &self,
        party: &Party,
        profile: &str,
        bytes: &[u8],
        outcome: &Outcome,
        now: &str,
        dry_run: bool,
    ) -> Result<Prepared, Vec<Diagnostic>> {
        if !outcome.is_valid() {
            return Err(outcome.diagnostics.clone());
        }
        let (Some(message), Some(message_type)) = (&outcome.output, &outcome.message_type) else {
            return Err(vec![Diagnostic::error(ErrorCode::Internal, "", "a valid outcome without a message")]);
        };
        if !party.may_send(profile, message_type) {
            return Err(vec![Diagnostic::error(
                ErrorCode::NotAllowed,
                "/type",
                format!("this party may not send {message_type} in profile {profile}"),
            )]);
        }
        let source = message["source"].as_str().unwrap_or_default();
        if source != party.urn {
            return Err(vec![Diagnostic::error(
                ErrorCode::SourceMismatch,
                "/source",
                "the source is not the sending party's URN",
            )]);
        }
        let message_id = message["id"].as_str().unwrap_or_default().to_owned();
        let routed =
            self.routes.recipients(self.parties, self.catalog.standard.tables(), &party.id, message_type, message);
        let (recipients, skipped) = self.deliverable(routed, message, message_type)?;
        if dry_run {
            let body = json!({
                "status": "valid",
                "type": message_type,
                "recipients": recipients.iter().map(|r| &r.party).collect::<Vec<_>>(),
                "skipped": skipped.iter().map(|s| json!({ "party": s.party, "profile": s.profile, "codes": s.codes, "requirements": s.requirements })).collect::<Vec<_>>(),
            });
            return Ok(Prepared { body, message: None, deliveries: Vec::new(), events: Vec::new() });
        }
        let id = self.ids.next();
        let at = self.clock.now_millis();
        let receipt = self.receipt(message, message_type, &id, now);
        let body = json!({ "id": id, "status": "accepted", "receipt": receipt });
        let new = NewMessage {
            id: id.clone(),
            source: source.to_owned(),
            message_id,
            sender: party.id.clone(),
            message_type: message_type.clone(),
            profile: profile.to_owned(),
            received_at: at,
            original: bytes.to_vec(),
            canonical: encode(message),
            answer: encode(&body),
        };
        let deliveries: Vec<NewDelivery> = recipients
            .iter()
            .map(|r| NewDelivery {
                id: self.ids.next(),
                party: r.party.clone(),
                profile: r.profile.clone(),
                ordering_key: r.ordering_key.clone(),
            })
            .collect();
        let events = vec![
            Event {
                at,
                kind: EventKind::Received,
                party: Some(party.id.clone()),
                detail: encode(&json!({ "profile": profile, "bytes": bytes.len() })),
            },
            Event { at, kind: EventKind::Validated, party: None, detail: encode(&json!({ "type": message_type })) },
            Event {
                at,
                kind: EventKind::Routed,
                party: None,
                detail: encode(&json!({ "recipients": recipients.iter().map(|r| &r.party).collect::<Vec<_>>() })),
            },
        ];
        let mut events = events;
        events.extend(skipped.iter().map(|skip| Event {
            at,
            kind: EventKind::Skipped,
            party: Some(skip.party.clone()),
            detail: encode(&json!({
                "profile": skip.profile,
                "reason": "its profile can't write this message, and the route is optional",
                "codes": skip.codes,
                "requirements": skip.requirements,
            })),
        }));
        Ok(Prepared { body, message: Some(new), deliveries, events })
    }

    /// The recipients that can receive `message`, and the optional ones that can't. A
    /// message some mandatory recipient can't receive in its profile (after its route's
    /// projection) is refused as a whole, with every problem of every such recipient: it
    /// would otherwise be accepted and end in that recipient's dead letters.
    fn deliverable(
        &self,
        routed: Vec<routing::Recipient>,
        message: &Value,
        message_type: &str,
    ) -> Result<(Vec<routing::Recipient>, Vec<Skipped>), Vec<Diagnostic>> {
        let mut recipients = Vec::with_capacity(routed.len());
        let mut skipped = Vec::new();
        let mut problems = Vec::new();
        for recipient in routed {
            let projected =
                self.routes.projection(&recipient.party, message_type).map(|fields| routing::project(message, fields));
            let written = projected.as_ref().unwrap_or(message);
            let parties = self.parties.parties_of(written, Some(&recipient.party));
            let found = self.catalog.undeliverable(&recipient.profile, written, &parties);
            if found.is_empty() {
                recipients.push(recipient);
            } else if recipient.optional {
                let mut codes: Vec<String> = found.iter().map(|d| d.code.id()).collect();
                codes.dedup();
                let requirements = found.iter().filter_map(|d| d.requirement.as_deref().map(str::to_owned)).collect();
                skipped.push(Skipped { party: recipient.party, profile: recipient.profile, codes, requirements });
            } else {
                problems.extend(found.into_iter().map(|mut diagnostic| {
                    diagnostic.message = format!(
                        "recipient {} can't receive it in its profile {}: {}",
                        recipient.party, recipient.profile, diagnostic.message
                    );
                    diagnostic
                }));
            }
        }
        if problems.is_empty() {
            Ok((recipients, skipped))
        } else {
            Err(problems)
        }
    }

    /// The standard's `receipt` for an accepted message.
    fn receipt(&self, message: &Value, message_type: &str, id: &str, now: &str) -> Value {
        json!({
            "specversion": "1.0",
            "id": format!("receipt-{id}"),
            "source": self.gateway,
            "type": "it.raccordo.receipt.v1",
            "time": now,
            "dataschema": "https://raccordo.github.io/schemas/standard/receipt.v1.schema.json",
            "datacontenttype": "application/json",
            "causationid": message["id"],
            "data": {
                "messageId": message["id"],
                "messageSource": message["source"],
                "messageType": format!("it.raccordo.{message_type}.v1"),
                "status": "accepted",
                "receivedAt": now,
            }
        })
    }
}
