//! The validate view: a message pasted or uploaded in any profile, checked as `raccordo
//! validate --profile` checks a file (its own schema, the translation, the standard), with
//! every problem located in the text. Nothing is stored or delivered.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::session::Acting;
use crate::api::Problem;
use crate::error::ErrorCode;
use crate::gateway::Gateway;
use crate::ingest::{self, Label, CANONICAL};
use crate::report::WireDiagnostic;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// `canonical` or a party profile.
    profile: String,
    /// The message's text.
    content: String,
}

/// `POST /console/api/validate` with `{"profile", "content"}`: the verdict, one entry per
/// message the text holds (a file of records holds several), each with its errors.
pub async fn validate(
    State(state): State<Arc<Gateway>>,
    Acting(signed): Acting,
    body: Result<Json<ValidateRequest>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let max = state.config.limits.max_body_bytes;
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(Problem::of(ErrorCode::InputTooLarge, format!("the message is larger than {max} bytes")))
        }
        Err(_) => {
            return Err(Problem::parameters(&[(
                "content".into(),
                "a JSON body {\"profile\": \"…\", \"content\": \"the message\"}".into(),
            )]))
        }
    };
    let bytes = request.content.as_bytes();
    let outcomes: Vec<(Label, Option<String>, Vec<crate::error::Diagnostic>)> = if request.profile == CANONICAL {
        let validation = ingest::validate_canonical(&state.catalog.standard, bytes, max);
        vec![(Label::Whole, validation.message_type, validation.diagnostics)]
    } else {
        let profile = state.catalog.profile(&request.profile).map_err(|_| {
            Problem::of(ErrorCode::ProfileUnknown, format!("no profile {:?} (see the list)", request.profile))
        })?;
        let now = state.clock.now_rfc3339();
        state
            .catalog
            .validate_party(profile, bytes, &now)
            .into_iter()
            .map(|outcome| (outcome.label, outcome.message_type, outcome.diagnostics))
            .collect()
    };
    let files: Vec<Value> = outcomes
        .iter()
        .map(|(label, message_type, diagnostics)| {
            json!({
                "label": if label.is_whole() { String::new() } else { label.to_string() },
                "valid": diagnostics.iter().all(|d| d.severity != crate::error::Severity::Error),
                "type": message_type,
                "errors": diagnostics.iter().map(WireDiagnostic::from).collect::<Vec<_>>(),
            })
        })
        .collect();
    let valid = files.iter().all(|file| file["valid"] == json!(true));
    let codes: std::collections::BTreeSet<String> =
        outcomes.iter().flat_map(|(_, _, diagnostics)| diagnostics.iter().map(|d| d.code.id())).collect();
    signed
        .audit(&state, "console.validate", None, json!({ "profile": request.profile, "valid": valid, "codes": codes }))
        .await?;
    Ok(Json(json!({
        "valid": valid,
        "type": outcomes.iter().find_map(|(_, message_type, _)| message_type.clone()),
        "files": files,
    })))
}
