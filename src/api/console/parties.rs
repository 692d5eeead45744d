//! The parties and routes view: the configuration as the gateway understood it (each
//! party, what it sends, where it receives, each route with its conditions and fields), and
//! each recipient's endpoint health from its deliveries; and the profiles the validate view
//! offers.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::session::Signed;
use crate::api::Problem;
use crate::clock::rfc3339;
use crate::gateway::Gateway;

/// `GET /console/api/parties`: the parties and routes the operator may see.
pub async fn parties(State(state): State<Arc<Gateway>>, signed: Signed) -> Result<Json<Value>, Problem> {
    let scope = &signed.operator.scope;
    let mut parties = Vec::new();
    for party in state.parties.iter().filter(|party| scope.sees_party(&party.id)) {
        let health = match &party.receives {
            Some(_) => {
                let health = state.store.health(&party.id).await.map_err(Problem::from_error)?;
                let status = match (health.failing, health.last_success_at) {
                    (true, _) => "failing",
                    (false, Some(_)) => "ok",
                    (false, None) => "idle",
                };
                Some(json!({
                    "status": status,
                    "lastSuccessAt": health.last_success_at.map(rfc3339),
                    "lastError": health.last_error,
                    "pending": health.pending,
                    "dead": health.dead,
                }))
            }
            None => None,
        };
        parties.push(json!({
            "id": party.id,
            "kind": party.kind.as_str(),
            "name": party.name,
            "urn": party.urn,
            "sends": party.sends.profiles,
            "sendsTypes": party.sends.types,
            "receives": party.receives.as_ref().map(|receives| json!({
                "profile": receives.profile,
                "endpoint": receives.endpoint,
                "signed": receives.signed,
            })),
            "health": health,
        }));
    }
    // A route shows with the recipients and types the operator sees, if any.
    let routes: Vec<Value> = state
        .config
        .routes
        .iter()
        .enumerate()
        .filter_map(|(index, route)| {
            let to: Vec<&String> = route.to.iter().filter(|party| scope.sees_party(party)).collect();
            let types: Vec<&String> = route.types.iter().filter(|t| scope.sees_type(t)).collect();
            (!to.is_empty() && !types.is_empty()).then(|| {
                json!({
                    "index": index + 1,
                    "types": types,
                    "to": to,
                    "when": route.when.iter().map(|condition| {
                        let mut when = json!({ "pointer": condition.pointer });
                        if condition.non_eu {
                            when["nonEu"] = json!(true);
                        }
                        if condition.in_recipient_comuni {
                            when["inRecipientComuni"] = json!(true);
                        }
                        if let Some(value) = &condition.equals {
                            when["equals"] = json!(value);
                        }
                        when
                    }).collect::<Vec<_>>(),
                    "fields": route.fields,
                    "orderBy": route.order_by,
                    "optional": route.optional,
                })
            })
        })
        .collect();
    signed.audit(&state, "console.parties.read", None, json!({})).await?;
    Ok(Json(json!({ "parties": parties, "routes": routes })))
}

/// `GET /console/api/profiles`: the profiles, as `GET /v1/profiles` lists them.
pub async fn profiles(State(state): State<Arc<Gateway>>, signed: Signed) -> Result<Json<Value>, Problem> {
    signed.audit(&state, "console.profiles.read", None, json!({})).await?;
    Ok(Json(crate::api::profiles_of(&state)))
}
