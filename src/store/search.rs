//! Finding messages and dead letters: the filters the API and the operator console search
//! by, with keyset pagination in either direction, an operator's [`Scope`], and the replay
//! of dead letters one delivery at a time.
//!
//! Every list reads one page through an index whatever the store holds: pages continue
//! from a sequence number (never an offset, which would read every row before the page),
//! and a status is looked for among the deliveries that have it (few: dead letters and
//! the backlog) rather than by working out the status of every message in turn.

use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::states::MessageStatus;
use super::{insert_events, storage_error, summary, Event, EventKind, MessageSummary, Store, Turn, STATUS_SQL};
use crate::error::Error;

/// What an operator may see: the messages of some types that some parties sent or
/// receive, with everything about them (their deliveries, dead letters and replays). The
/// default sees everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Message types (short names); `None`: every type.
    pub types: Option<Vec<String>>,
    /// Party ids; `None`: every party.
    pub parties: Option<Vec<String>>,
}

impl Scope {
    /// Whether the scope sees everything.
    pub fn is_everything(&self) -> bool {
        self.types.is_none() && self.parties.is_none()
    }

    pub fn sees_party(&self, party: &str) -> bool {
        self.parties.as_ref().is_none_or(|parties| parties.iter().any(|p| p == party))
    }

    pub fn sees_type(&self, message_type: &str) -> bool {
        self.types.as_ref().is_none_or(|types| types.iter().any(|t| t == message_type))
    }

    /// Whether a message of `message_type` from `sender` to `recipients` is in scope.
    pub fn sees_message<'a>(
        &self,
        message_type: &str,
        sender: &str,
        mut recipients: impl Iterator<Item = &'a str>,
    ) -> bool {
        self.sees_type(message_type) && (self.sees_party(sender) || recipients.any(|party| self.sees_party(party)))
    }
}

/// Which messages to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub message_type: Option<String>,
    pub status: Option<MessageStatus>,
    /// Sent by or delivered to this party.
    pub party: Option<String>,
    /// Sent by this party.
    pub sender: Option<String>,
    /// Delivered (or to be delivered) to this party.
    pub recipient: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// The gateway's id of the message or the sender's own (`message_id`).
    pub id: Option<String>,
    /// The blind-index digest of a codice fiscale the message is about
    /// ([`Store::subject_digest`]).
    pub subject: Option<String>,
    /// What the caller may see.
    pub scope: Scope,
    /// The cursor: only messages after this sequence number (before it when
    /// `newest_first`).
    pub after: Option<i64>,
    /// Newest first (the console) rather than oldest first (the API, which reads on).
    pub newest_first: bool,
    pub limit: i64,
}

/// A value bound to a placeholder.
enum Bind {
    Number(i64),
    Text(String),
}

/// SQL conditions and the values their numbered placeholders stand for.
#[derive(Default)]
pub(super) struct Conditions {
    sql: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    /// Binds a value, returning its placeholder.
    pub(super) fn number(&mut self, value: i64) -> String {
        self.binds.push(Bind::Number(value));
        format!("${}", self.binds.len())
    }

    pub(super) fn text(&mut self, value: &str) -> String {
        self.binds.push(Bind::Text(value.to_owned()));
        format!("${}", self.binds.len())
    }

    /// Binds every value of a list, returning `$3, $4, $5`.
    pub(super) fn texts(&mut self, values: &[String]) -> String {
        // An empty list matches nothing; `IN ()` is not SQL.
        if values.is_empty() {
            return "NULL".to_owned();
        }
        values.iter().map(|value| self.text(value)).collect::<Vec<_>>().join(", ")
    }

    pub(super) fn push(&mut self, condition: String) {
        self.sql.push(condition);
    }

    /// With a value, binds it and adds the condition `make` writes around its placeholder.
    pub(super) fn text_if(&mut self, value: &Option<String>, make: impl FnOnce(&str) -> String) {
        if let Some(value) = value {
            let placeholder = self.text(value);
            self.push(make(&placeholder));
        }
    }

    /// `text_if` for a number.
    pub(super) fn number_if(&mut self, value: Option<i64>, make: impl FnOnce(&str) -> String) {
        if let Some(value) = value {
            let placeholder = self.number(value);
            self.push(make(&placeholder));
        }
    }

    /// `WHERE a AND b`, or nothing.
    pub(super) fn clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    /// The conditions on a message `m` its scope sets.
    pub(super) fn scope(&mut self, scope: &Scope) {
        if let Some(types) = &scope.types {
            let list = self.texts(types);
            self.push(format!("m.type IN ({list})"));
        }
        if let Some(parties) = &scope.parties {
            let list = self.texts(parties);
            self.push(format!("(m.sender IN ({list}) OR {})", delivered_to(&format!("IN ({list})"))));
        }
    }

    /// The conditions on a quarantined record `q`: from one of `sources` (URNs), of one of
    /// `types` (a record of no known type is then left out).
    pub(super) fn quarantine_scope(&mut self, sources: Option<&[String]>, types: Option<&[String]>) {
        if let Some(sources) = sources {
            let list = self.texts(sources);
            self.push(format!("q.source IN ({list})"));
        }
        if let Some(types) = types {
            let list = self.texts(types);
            self.push(format!("q.message_type IN ({list})"));
        }
    }

    pub(super) fn query<'q>(&'q self, sql: &'q str) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut query = sqlx::query(sql);
        for bind in &self.binds {
            query = match bind {
                Bind::Number(number) => query.bind(*number),
                Bind::Text(text) => query.bind(text.as_str()),
            };
        }
        query
    }
}

/// The condition on a message `m` that one of its deliveries is to a party `test` takes
/// (`= $3`, `IN ($3, $4)`). A count of the message's own deliveries rather than `EXISTS`:
/// PostgreSQL would hash every matching delivery of the table first, when a page of the
/// newest messages needs a few of them.
fn delivered_to(test: &str) -> String {
    format!("(SELECT COUNT(*) FROM deliveries s WHERE s.message_seq = m.seq AND s.party {test}) > 0")
}

/// The condition on a message `m` that it has `status`. A failed or unfinished message is
/// found among the deliveries with that status (few); a delivered one by the absence of
/// any other, which most messages pass at once. "None" is written `< 1`, not `= 0`:
/// PostgreSQL's default guess for an equality has it expect to read most of the table for
/// a page, and a plan that costly is compiled (JIT) first, for more time than it saves.
fn status_condition(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Failed => "m.seq IN (SELECT d.message_seq FROM deliveries d WHERE d.status = 'dead')",
        MessageStatus::Accepted => {
            "m.seq IN (SELECT d.message_seq FROM deliveries d WHERE d.status IN ('pending', 'in_flight')) \
             AND (SELECT COUNT(*) FROM deliveries d WHERE d.message_seq = m.seq AND d.status = 'dead') < 1"
        }
        MessageStatus::Delivered => {
            "(SELECT COUNT(*) FROM deliveries d WHERE d.message_seq = m.seq AND d.status <> 'delivered') < 1"
        }
    }
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default)]
pub struct DeadFilter {
    /// Deliveries to this party.
    pub party: Option<String>,
    pub message_type: Option<String>,
    pub scope: Scope,
    /// The cursor: dead letters after this delivery sequence number.
    pub after: i64,
    pub limit: i64,
}

/// A dead letter: a delivery that gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub seq: i64,
    pub delivery_id: String,
    pub message_id: String,
    pub message_type: String,
    pub party: String,
    pub profile: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
}

/// What became of one delivery an operator asked to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryReplay {
    /// Queued again.
    Replayed,
    /// Not a dead letter (or none the operator may see), and why.
    Refused(String),
}

impl Store {
    /// Messages matching `filter`, at most `filter.limit` (1 to 1000), oldest first or
    /// newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<MessageSummary>, Error> {
        let mut conditions = Conditions::default();
        if let Some(after) = filter.after {
            let after = conditions.number(after);
            conditions.push(format!("m.seq {} {after}", if filter.newest_first { "<" } else { ">" }));
        }
        conditions.number_if(filter.since, |since| format!("m.received_at >= {since}"));
        conditions.number_if(filter.until, |until| format!("m.received_at < {until}"));
        conditions.text_if(&filter.message_type, |message_type| format!("m.type = {message_type}"));
        conditions
            .text_if(&filter.party, |party| format!("(m.sender = {party} OR {})", delivered_to(&format!("= {party}"))));
        conditions.text_if(&filter.sender, |sender| format!("m.sender = {sender}"));
        conditions.text_if(&filter.recipient, |recipient| delivered_to(&format!("= {recipient}")));
        conditions.text_if(&filter.id, |id| format!("(m.id = {id} OR m.message_id = {id})"));
        conditions.text_if(&filter.subject, |digest| {
            format!("m.seq IN (SELECT i.message_seq FROM subject_index i WHERE i.digest = {digest})")
        });
        if let Some(status) = filter.status {
            conditions.push(status_condition(status).to_owned());
        }
        conditions.scope(&filter.scope);
        let limit = conditions.number(filter.limit.clamp(1, 1000));
        let sql = format!(
            "SELECT m.seq, m.id, m.source, m.message_id, m.sender, m.type, m.profile, m.received_at, {STATUS_SQL} AS status \
             FROM messages m {} ORDER BY m.seq {} LIMIT {limit}",
            conditions.clause(),
            if filter.newest_first { "DESC" } else { "ASC" },
        );
        let rows = conditions.query(&sql).fetch_all(&self.pool).await.map_err(storage_error("listing messages"))?;
        rows.iter().map(summary).collect()
    }

    /// The recipients of each message (by sequence number), in the order they were routed.
    pub async fn recipients(&self, message_seqs: &[i64]) -> Result<Vec<(i64, String)>, Error> {
        if message_seqs.is_empty() {
            return Ok(Vec::new());
        }
        // The numbers are ours (read from rows), not input: inlined, as `claim` does.
        let list: Vec<String> = message_seqs.iter().map(i64::to_string).collect();
        let sql = format!(
            "SELECT message_seq, party FROM deliveries WHERE message_seq IN ({}) ORDER BY seq",
            list.join(", ")
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await.map_err(storage_error("reading recipients"))?;
        rows.iter()
            .map(|row| Ok((row.try_get("message_seq")?, row.try_get("party")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(storage_error("reading recipients"))
    }

    /// The blind-index digest of a codice fiscale, to search by; `None` when the store
    /// keeps no blind index (no `storage.encryption.index_key`).
    pub fn subject_digest(&self, codice_fiscale: &str) -> Option<String> {
        self.sealer.as_deref().and_then(|sealer| sealer.blind(codice_fiscale))
    }

    /// Whether the store keeps the blind index of codici fiscali.
    pub fn keeps_subject_index(&self) -> bool {
        self.sealer.as_deref().is_some_and(|sealer| sealer.indexes())
    }

    /// Dead letters, oldest first, after the cursor; for one party when given.
    pub async fn dead_letters(&self, party: Option<&str>, after: i64, limit: i64) -> Result<Vec<DeadLetter>, Error> {
        let filter = DeadFilter { party: party.map(str::to_owned), after, limit, ..DeadFilter::default() };
        self.find_dead_letters(&filter).await
    }

    /// Dead letters matching `filter`, oldest first.
    pub async fn find_dead_letters(&self, filter: &DeadFilter) -> Result<Vec<DeadLetter>, Error> {
        let mut conditions = Conditions::default();
        conditions.push("d.status = 'dead'".to_owned());
        let after = conditions.number(filter.after);
        conditions.push(format!("d.seq > {after}"));
        conditions.text_if(&filter.party, |party| format!("d.party = {party}"));
        conditions.text_if(&filter.message_type, |message_type| format!("m.type = {message_type}"));
        conditions.scope(&filter.scope);
        let limit = conditions.number(filter.limit.clamp(1, 1000));
        let sql = format!(
            "SELECT d.seq, d.id, m.id AS message_id, m.type, d.party, d.profile, d.attempts, d.last_error, d.finished_at \
             FROM deliveries d JOIN messages m ON m.seq = d.message_seq {} ORDER BY d.seq LIMIT {limit}",
            conditions.clause()
        );
        let rows = conditions.query(&sql).fetch_all(&self.pool).await.map_err(storage_error("listing dead letters"))?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    seq: row.try_get("seq")?,
                    delivery_id: row.try_get("id")?,
                    message_id: row.try_get("message_id")?,
                    message_type: row.try_get("type")?,
                    party: row.try_get("party")?,
                    profile: row.try_get("profile")?,
                    attempts: row.try_get::<i64, _>("attempts")?,
                    last_error: row.try_get("last_error")?,
                    finished_at: row.try_get("finished_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(storage_error("listing dead letters"))
    }

    /// How many dead letters `scope` sees.
    pub async fn count_dead_letters(&self, scope: &Scope) -> Result<i64, Error> {
        let mut conditions = Conditions::default();
        conditions.push("d.status = 'dead'".to_owned());
        conditions.scope(scope);
        let sql = format!(
            "SELECT COUNT(*) AS dead FROM deliveries d JOIN messages m ON m.seq = d.message_seq {}",
            conditions.clause()
        );
        let row = conditions.query(&sql).fetch_one(&self.pool).await.map_err(storage_error("counting dead letters"))?;
        row.try_get("dead").map_err(storage_error("counting dead letters"))
    }

    /// Puts dead deliveries back in the queue, one by one, each with a `replayed` event in
    /// its message's timeline and an audit entry naming `actor`; those that are not dead
    /// letters `scope` sees are refused with the reason. One transaction.
    pub async fn replay_deliveries(
        &self,
        ids: &[String],
        scope: &Scope,
        actor: &str,
        now: i64,
    ) -> Result<Vec<DeliveryReplay>, Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        let mut outcomes = Vec::with_capacity(ids.len());
        let mut entries = Vec::new();
        for id in ids {
            let mut conditions = Conditions::default();
            let placeholder = conditions.text(id);
            conditions.push(format!("d.id = {placeholder}"));
            conditions.scope(scope);
            let sql = format!(
                "SELECT d.seq, d.status, d.party, m.seq AS message_seq, m.id AS message_id, m.purged_at \
                 FROM deliveries d JOIN messages m ON m.seq = d.message_seq {}",
                conditions.clause()
            );
            let row = conditions
                .query(&sql)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(storage_error("replaying a delivery"))?;
            let Some(row) = row else {
                outcomes.push(DeliveryReplay::Refused("no such delivery".into()));
                continue;
            };
            let read = storage_error("replaying a delivery");
            let seq: i64 = row.try_get("seq").map_err(&read)?;
            let status = super::states::column(&row, "status", super::DeliveryStatus::parse).map_err(&read)?;
            let party: String = row.try_get("party").map_err(&read)?;
            let message_seq: i64 = row.try_get("message_seq").map_err(&read)?;
            let message_id: String = row.try_get("message_id").map_err(&read)?;
            let purged: Option<i64> = row.try_get("purged_at").map_err(&read)?;
            let refusal = match status {
                super::DeliveryStatus::Delivered => Some("already delivered: the recipient acknowledged it"),
                super::DeliveryStatus::Pending | super::DeliveryStatus::InFlight => {
                    Some("not a dead letter: it is still being delivered")
                }
                super::DeliveryStatus::Dead if purged.is_some() => {
                    Some("its message was purged past its retention: there is nothing left to send")
                }
                super::DeliveryStatus::Dead => None,
            };
            if let Some(reason) = refusal {
                outcomes.push(DeliveryReplay::Refused(reason.to_owned()));
                continue;
            }
            sqlx::query(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, finished_at = NULL \
                 WHERE seq = $2 AND status = 'dead'",
            )
            .bind(now)
            .bind(seq)
            .execute(&mut *transaction)
            .await
            .map_err(storage_error("replaying a delivery"))?;
            let detail = serde_json::json!({ "delivery": id, "by": actor }).to_string();
            let event = Event { at: now, kind: EventKind::Replayed, party: Some(party.clone()), detail };
            insert_events(&mut transaction, self.dialect, &[(message_seq, &event)]).await?;
            entries.push(AuditEntry::new(
                now,
                "delivery.replayed",
                Some(actor),
                Some(id),
                serde_json::json!({ "message": message_id, "party": party }),
            ));
            outcomes.push(DeliveryReplay::Replayed);
        }
        audit::append(&mut transaction, self.dialect, &entries).await?;
        transaction.commit().await.map_err(storage_error("commit"))?;
        self.audited();
        Ok(outcomes)
    }
}
