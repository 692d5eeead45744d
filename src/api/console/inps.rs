//! The INPS views: the pull's runs with their counts, and the quarantined records with
//! their errors located in the record. An operator whose parties leave out INPS sees none.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::params::{next, Params};
use super::session::Signed;
use crate::api::Problem;
use crate::clock::rfc3339;
use crate::gateway::Gateway;

/// `GET /console/api/inps/runs`: the pull's cursor and its latest runs, newest first.
pub async fn runs(
    State(state): State<Arc<Gateway>>,
    signed: Signed,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let mut params = Params::read(query, &["limit"]);
    let limit = params.limit();
    params.finish()?;
    let runs = crate::api::runs_of(&state, &signed.operator.scope, limit).await?;
    signed.audit(&state, "console.inps-runs.read", None, json!({})).await?;
    Ok(Json(runs))
}

/// `GET /console/api/quarantine`: a page of quarantined records, oldest first, each with
/// its errors.
pub async fn quarantine(
    State(state): State<Arc<Gateway>>,
    signed: Signed,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let mut params = Params::read(query, &["after", "limit"]);
    let after = params.after().unwrap_or(0);
    let limit = params.limit();
    params.finish()?;
    let scope = &signed.operator.scope;
    let records = if crate::api::sees_inps(&state, scope) {
        let sources = crate::api::sources(&state, scope);
        state
            .store
            .quarantined_from(sources.as_deref(), scope.types.as_deref(), after, limit)
            .await
            .map_err(Problem::from_error)?
    } else {
        Vec::new()
    };
    signed.audit(&state, "console.quarantine.read", None, json!({ "count": records.len() })).await?;
    Ok(Json(json!({
        "records": records.iter().map(|r| json!({
            "id": r.id, "run": r.run_id, "profile": r.profile, "messageType": r.message_type,
            "location": r.location, "receivedAt": rfc3339(r.received_at),
            "errors": serde_json::from_str::<Value>(&r.errors).unwrap_or_default(),
        })).collect::<Vec<_>>(),
        "next": next(&records, limit, |r| r.seq),
    })))
}
