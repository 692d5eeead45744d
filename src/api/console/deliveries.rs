//! The dead letters view: deliveries that gave up, filtered by recipient and type, and the
//! replay of many at once, each queued again or refused with its reason.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{next, Params};
use super::session::{Acting, Signed};
use crate::api::Problem;
use crate::clock::rfc3339;
use crate::gateway::Gateway;
use crate::store::{DeadFilter, DeliveryReplay};

/// Most deliveries one replay takes.
const MAX_REPLAY: usize = 1000;

/// `GET /console/api/dead-letters`: a page of dead letters, oldest first.
pub async fn list(
    State(state): State<Arc<Gateway>>,
    signed: Signed,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let scope = &signed.operator.scope;
    let mut params = Params::read(query, &["party", "type", "after", "limit"]);
    let filter = DeadFilter {
        party: params.party("party", &state, scope),
        message_type: params.message_type("type", &state, scope),
        after: params.after().unwrap_or(0),
        limit: params.limit(),
        scope: scope.clone(),
    };
    params.finish()?;
    let dead = state.store.find_dead_letters(&filter).await.map_err(Problem::from_error)?;
    signed
        .audit(
            &state,
            "console.dead-letters.read",
            None,
            json!({ "party": filter.party, "type": filter.message_type, "count": dead.len() }),
        )
        .await?;
    Ok(Json(json!({
        "deadLetters": dead.iter().map(|d| json!({
            "deliveryId": d.delivery_id, "messageId": d.message_id, "type": d.message_type, "party": d.party,
            "profile": d.profile, "attempts": d.attempts, "lastError": d.last_error,
            "finishedAt": d.finished_at.map(rfc3339),
        })).collect::<Vec<_>>(),
        "next": next(&dead, filter.limit, |d| d.seq),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    ids: Vec<String>,
}

/// `POST /console/api/dead-letters/replay` with `{"ids": [delivery ids]}`: queues each dead
/// letter again; what is not one (delivered, still pending, unknown) is refused with why.
pub async fn replay(
    State(state): State<Arc<Gateway>>,
    Acting(signed): Acting,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let Ok(Json(request)) = body else {
        return Err(Problem::parameters(&[("ids".into(), "a JSON body {\"ids\": [delivery ids]}".into())]));
    };
    if request.ids.is_empty() || request.ids.len() > MAX_REPLAY {
        return Err(Problem::parameters(&[("ids".into(), format!("from 1 to {MAX_REPLAY} delivery ids"))]));
    }
    let mut ids = request.ids;
    ids.sort();
    ids.dedup();
    let now = state.clock.now_millis();
    let outcomes = state
        .store
        .replay_deliveries(&ids, &signed.operator.scope, &signed.actor(), now)
        .await
        .map_err(Problem::from_error)?;
    let mut replayed = Vec::new();
    let mut refused = Vec::new();
    for (id, outcome) in ids.iter().zip(outcomes) {
        match outcome {
            DeliveryReplay::Replayed => replayed.push(json!(id)),
            DeliveryReplay::Refused(reason) => refused.push(json!({ "id": id, "reason": reason })),
        }
    }
    if !refused.is_empty() {
        signed.audit(&state, "console.replay.refused", None, json!({ "refused": refused })).await?;
    }
    Ok(Json(json!({ "replayed": replayed, "refused": refused })))
}
