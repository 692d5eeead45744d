//! The figures the operator console's overview and its parties view show: messages
//! accepted and refused per type and minute, the delivery backlog per recipient, each
//! recipient's endpoint health. Each is one indexed query, so an overview refreshed every
//! few seconds stays cheap however many messages the store holds.

use sqlx::Row;

use super::search::{Conditions, Scope};
use super::{storage_error, Dialect, Store};
use crate::error::Error;

/// How many messages of a type were accepted or refused in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// Short name; `unknown` for a refusal whose type could not be told.
    pub message_type: String,
    /// Unix minutes (milliseconds / 60,000).
    pub minute: i64,
    pub count: i64,
}

/// What arrived since an instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    pub accepted: Vec<Count>,
    pub rejected: Vec<Count>,
}

/// Deliveries to one recipient not yet finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    pub party: String,
    pub pending: i64,
    /// When the oldest of them was queued.
    pub oldest_at: i64,
}

/// How deliveries to one recipient are going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub pending: i64,
    pub dead: i64,
    /// When the last delivery it acknowledged finished.
    pub last_success_at: Option<i64>,
    /// The error of a delivery being retried now, else of the newest dead letter, with
    /// whether that dead letter is newer than the last success.
    pub last_error: Option<String>,
    /// A delivery is being retried after an error, or the newest dead letter is newer than
    /// the last success.
    pub failing: bool,
}

impl Store {
    /// Messages accepted and refused since `since`, per type and minute, as `scope` sees
    /// them: messages by their type, sender and recipients; refusals (from the audit log,
    /// where intake records them) by their type and sender.
    pub async fn traffic(&self, since: i64, scope: &Scope) -> Result<Traffic, Error> {
        let mut conditions = Conditions::default();
        let from = conditions.number(since);
        conditions.push(format!("m.received_at >= {from}"));
        conditions.scope(scope);
        let sql = format!(
            // Minute first: grouped by type first, SQLite would read the type index whole
            // rather than the day's range of the time index.
            "SELECT m.type AS type, m.received_at / 60000 AS minute, COUNT(*) AS n FROM messages m {} \
             GROUP BY m.received_at / 60000, m.type",
            conditions.clause()
        );
        let rows = conditions.query(&sql).fetch_all(&self.pool).await.map_err(storage_error("counting messages"))?;
        let accepted = counts(&rows)?;

        // Refusals are read from the audit log, whose queued entries go onto it first. A
        // chain that refuses them (tampered with) is `audit verify`'s to report: the
        // overview counts what is chained.
        if let Err(error) = self.chain_audit().await {
            tracing::warn!(%error, "chaining queued audit entries before counting refusals");
        }
        let type_of = match self.dialect {
            Dialect::Sqlite => "json_extract(a.detail, '$.type')",
            Dialect::Postgres => "(a.detail::json ->> 'type')",
        };
        let mut conditions = Conditions::default();
        conditions.push("a.kind = 'message.rejected'".to_owned());
        let from = conditions.number(since);
        conditions.push(format!("a.at >= {from}"));
        if let Some(parties) = &scope.parties {
            let list = conditions.texts(parties);
            conditions.push(format!("a.actor IN ({list})"));
        }
        let sql = format!(
            "SELECT {type_of} AS type, a.at / 60000 AS minute, COUNT(*) AS n FROM audit a {} \
             GROUP BY {type_of}, a.at / 60000",
            conditions.clause()
        );
        let rows = conditions.query(&sql).fetch_all(&self.pool).await.map_err(storage_error("counting refusals"))?;
        let mut rejected = counts(&rows)?;
        // A refusal's type is in its audit detail, a JSON text: the scope's types apply here.
        rejected.retain(|count| scope.sees_type(&count.message_type));
        Ok(Traffic { accepted, rejected })
    }

    /// Unfinished deliveries per recipient, with the oldest's queuing time, of the message
    /// types `scope` sees (its parties are the caller's to pick among the recipients).
    pub async fn backlog(&self, scope: &Scope) -> Result<Vec<Backlog>, Error> {
        let mut conditions = Conditions::default();
        conditions.push("d.status IN ('pending', 'in_flight')".to_owned());
        let join = match &scope.types {
            Some(types) => {
                let list = conditions.texts(types);
                conditions.push(format!("m.type IN ({list})"));
                "JOIN messages m ON m.seq = d.message_seq"
            }
            None => "",
        };
        let sql = format!(
            "SELECT d.party, COUNT(*) AS pending, MIN(d.created_at) AS oldest FROM deliveries d {join} {} \
             GROUP BY d.party ORDER BY d.party",
            conditions.clause()
        );
        let rows = conditions.query(&sql).fetch_all(&self.pool).await.map_err(storage_error("reading the backlog"))?;
        rows.iter()
            .map(|row| {
                Ok(Backlog {
                    party: row.try_get("party")?,
                    pending: row.try_get("pending")?,
                    oldest_at: row.try_get("oldest")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(storage_error("reading the backlog"))
    }

    /// How deliveries to `party` are going, from its deliveries' statuses (an index on
    /// party and status answers each question without reading the deliveries; it holds
    /// finished deliveries only, hence `finished_at IS NOT NULL`, which every delivered or
    /// dead delivery has; the unfinished ones are counted in their own).
    pub async fn health(&self, party: &str) -> Result<Health, Error> {
        let read = storage_error("reading an endpoint's health");
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM deliveries WHERE party = $1 AND status IN ('pending', 'in_flight')) AS pending, \
               (SELECT COUNT(*) FROM deliveries WHERE party = $1 AND status = 'dead' AND finished_at IS NOT NULL) AS dead, \
               (SELECT MAX(finished_at) FROM deliveries WHERE party = $1 AND status = 'delivered' AND finished_at IS NOT NULL) AS success, \
               (SELECT MAX(finished_at) FROM deliveries WHERE party = $1 AND status = 'dead' AND finished_at IS NOT NULL) AS dead_at",
        )
        .bind(party)
        .fetch_one(&self.pool)
        .await
        .map_err(&read)?;
        let mut health = Health {
            pending: row.try_get("pending").map_err(&read)?,
            dead: row.try_get("dead").map_err(&read)?,
            last_success_at: row.try_get("success").map_err(&read)?,
            ..Health::default()
        };
        let dead_at: Option<i64> = row.try_get("dead_at").map_err(&read)?;
        let retrying = sqlx::query(
            "SELECT last_error FROM deliveries WHERE party = $1 AND status IN ('pending', 'in_flight') \
             AND last_error IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )
        .bind(party)
        .fetch_optional(&self.pool)
        .await
        .map_err(&read)?;
        if let Some(row) = retrying {
            health.last_error = row.try_get("last_error").map_err(&read)?;
            health.failing = true;
        } else if let Some(dead_at) = dead_at {
            let row = sqlx::query(
                "SELECT last_error FROM deliveries WHERE party = $1 AND status = 'dead' AND finished_at = $2 LIMIT 1",
            )
            .bind(party)
            .bind(dead_at)
            .fetch_optional(&self.pool)
            .await
            .map_err(&read)?;
            health.last_error = row.map(|row| row.try_get("last_error")).transpose().map_err(&read)?.flatten();
            health.failing = health.last_success_at.is_none_or(|success| dead_at > success);
        }
        Ok(health)
    }

    /// How many records are quarantined from `sources` (URNs; `None`: any) of `types`
    /// (`None`: any, and records of no known type too).
    pub async fn count_quarantined(&self, sources: Option<&[String]>, types: Option<&[String]>) -> Result<i64, Error> {
        let mut conditions = Conditions::default();
        conditions.quarantine_scope(sources, types);
        let sql = format!("SELECT COUNT(*) AS n FROM quarantine q {}", conditions.clause());
        let row = conditions
            .query(&sql)
            .fetch_one(&self.pool)
            .await
            .map_err(storage_error("counting quarantined records"))?;
        row.try_get("n").map_err(storage_error("counting quarantined records"))
    }
}

fn counts(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Count>, Error> {
    rows.iter()
        .map(|row| {
            Ok(Count {
                message_type: row.try_get::<Option<String>, _>("type")?.unwrap_or_else(|| "unknown".to_owned()),
                minute: row.try_get("minute")?,
                count: row.try_get("n")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(storage_error("counting messages"))
}
