//! The overview: messages accepted and refused per type in the last hour and day, the
//! throughput of the last 60 minutes, the delivery backlog per recipient, dead letters, and
//! where the INPS pull stands. The page polls it every few seconds.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::session::Signed;
use crate::api::Problem;
use crate::clock::rfc3339;
use crate::gateway::Gateway;
use crate::store::Count;

/// Minutes in the throughput chart and in the "last hour"; in the "last day".
const HOUR: i64 = 60;
const DAY: i64 = 24 * 60;

/// `GET /console/api/overview`.
pub async fn overview(State(state): State<Arc<Gateway>>, signed: Signed) -> Result<Json<Value>, Problem> {
    let scope = &signed.operator.scope;
    let store = &state.store;
    let now = state.clock.now_millis();
    // Whole minutes, the current one last: the chart's bars and the counts agree.
    let minute = now.div_euclid(60_000);
    let traffic = store.traffic((minute - DAY + 1) * 60_000, scope).await.map_err(Problem::from_error)?;
    let since_hour = minute - HOUR + 1;
    let by_type = |counts: &[Count], from: i64| {
        let mut types: BTreeMap<&str, i64> = BTreeMap::new();
        for count in counts.iter().filter(|count| count.minute >= from) {
            *types.entry(&count.message_type).or_default() += count.count;
        }
        json!(types)
    };
    let per_minute = |counts: &[Count], at: i64| counts.iter().filter(|c| c.minute == at).map(|c| c.count).sum::<i64>();
    let throughput: Vec<Value> = (since_hour..=minute)
        .map(|at| {
            json!({
                "minute": rfc3339(at * 60_000),
                "accepted": per_minute(&traffic.accepted, at),
                "rejected": per_minute(&traffic.rejected, at),
            })
        })
        .collect();

    let pending = store.backlog(scope).await.map_err(Problem::from_error)?;
    let backlog: Vec<Value> = state
        .parties
        .iter()
        .filter(|party| party.receives.is_some() && scope.sees_party(&party.id))
        .map(|party| {
            let queued = pending.iter().find(|backlog| backlog.party == party.id);
            json!({
                "party": party.id,
                "pending": queued.map_or(0, |backlog| backlog.pending),
                "oldestPendingAt": queued.map(|backlog| rfc3339(backlog.oldest_at)),
            })
        })
        .collect();
    let dead_letters = store.count_dead_letters(scope).await.map_err(Problem::from_error)?;

    let inps = if crate::api::sees_inps(&state, scope) {
        let sources = crate::api::sources(&state, scope);
        let quarantined =
            store.count_quarantined(sources.as_deref(), scope.types.as_deref()).await.map_err(Problem::from_error)?;
        let runs = store.pull_runs(crate::inps::JOB, 1).await.map_err(Problem::from_error)?;
        let cursor = store.pull_cursor(crate::inps::JOB).await.map_err(Problem::from_error)?;
        json!({
            "quarantined": quarantined,
            "cursor": cursor.map(rfc3339),
            "lastRun": runs.first().map(|run| json!({
                "id": run.id, "status": run.status, "startedAt": rfc3339(run.started_at),
                "finishedAt": run.finished_at.map(rfc3339), "records": run.records, "accepted": run.accepted,
                "quarantined": run.quarantined, "error": run.error,
            })),
        })
    } else {
        json!({ "quarantined": 0, "cursor": null, "lastRun": null })
    };
    signed.audit(&state, "console.overview.read", None, json!({})).await?;
    Ok(Json(json!({
        "now": rfc3339(now),
        "lastHour": { "accepted": by_type(&traffic.accepted, since_hour), "rejected": by_type(&traffic.rejected, since_hour) },
        "lastDay": { "accepted": by_type(&traffic.accepted, i64::MIN), "rejected": by_type(&traffic.rejected, i64::MIN) },
        "throughput": throughput,
        "backlog": backlog,
        "deadLetters": dead_letters,
        "inps": inps,
    })))
}
