//! The messages view: the search (newest first, a page at a time), one message with its
//! timeline, canonical form and what each recipient receives, and its replay.
//!
//! A codice fiscale to search by travels in the `Raccordo-Codice-Fiscale` header rather than
//! the query string, so that no URL (in a proxy's log, a browser's history) ever holds one;
//! it is looked up through the blind index, and the audit log names it only by
//! [`subject_reference`].

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::missing;
use super::params::{next, Params};
use super::session::{Acting, Signed};
use crate::api::Problem;
use crate::clock::rfc3339;
use crate::error::ErrorCode;
use crate::gateway::Gateway;
use crate::store::retention::{subject_reference, PURGED};
use crate::store::{DeliveryStatus, Event, EventKind, ListFilter, StoredMessage};

/// The header a codice fiscale to search by comes in.
const CODICE_FISCALE: &str = "raccordo-codice-fiscale";

/// `GET /console/api/messages`: a page of the messages matching the filters, newest first.
pub async fn list(
    State(state): State<Arc<Gateway>>,
    signed: Signed,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let scope = &signed.operator.scope;
    let mut params =
        Params::read(query, &["type", "status", "sender", "recipient", "since", "until", "id", "after", "limit"]);
    let filter = ListFilter {
        message_type: params.message_type("type", &state, scope),
        status: params.status("status"),
        sender: params.party("sender", &state, scope),
        recipient: params.party("recipient", &state, scope),
        since: params.instant("since", false),
        until: params.instant("until", true),
        id: params.text("id"),
        after: params.after(),
        limit: params.limit(),
        scope: scope.clone(),
        newest_first: true,
        ..ListFilter::default()
    };
    let codice_fiscale = codice_fiscale(&state, &signed, &headers, &mut params)?;
    params.finish()?;
    let subject = codice_fiscale.as_deref().and_then(|cf| state.store.subject_digest(cf));
    let filter = ListFilter { subject, ..filter };
    let messages = state.store.list(&filter).await.map_err(Problem::from_error)?;
    let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
    let recipients = state.store.recipients(&seqs).await.map_err(Problem::from_error)?;
    signed
        .audit(
            &state,
            "console.messages.read",
            None,
            json!({
                "type": filter.message_type, "status": filter.status, "sender": filter.sender,
                "recipient": filter.recipient, "since": filter.since.map(rfc3339), "until": filter.until.map(rfc3339),
                "id": filter.id, "subject": codice_fiscale.as_deref().map(subject_reference), "count": messages.len(),
            }),
        )
        .await?;
    let rows: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut row = crate::api::summary_json(m);
            row["recipients"] =
                recipients.iter().filter(|(seq, _)| *seq == m.seq).map(|(_, party)| json!(party)).collect();
            row
        })
        .collect();
    Ok(Json(json!({ "messages": rows, "next": next(&messages, filter.limit, |m| m.seq) })))
}

/// The codice fiscale the request searches by, upper case, if any; refused (403) for an
/// operator who may not search by it, noted as a problem when it has no codice fiscale's
/// shape.
fn codice_fiscale(
    state: &Gateway,
    signed: &Signed,
    headers: &HeaderMap,
    params: &mut Params,
) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(CODICE_FISCALE) else { return Ok(None) };
    let text = value.to_str().unwrap_or_default().trim().to_ascii_uppercase();
    if text.is_empty() {
        return Ok(None);
    }
    if !super::can_search_codice_fiscale(state, signed) {
        return Err(Problem::of(
            ErrorCode::NotAllowed,
            "this operator may not search by codice fiscale (codice_fiscale_search in its configuration, \
             and the blind index of storage.encryption.index_key)",
        ));
    }
    let personal = text.len() == 16 && text.chars().all(|c| c.is_ascii_alphanumeric());
    let numeric = text.len() == 11 && text.chars().all(|c| c.is_ascii_digit());
    if !(personal || numeric) {
        params.problem("codiceFiscale", "16 letters and digits, or 11 digits");
        return Ok(None);
    }
    Ok(Some(text))
}

/// The message `id` if the operator may see it.
async fn visible(state: &Gateway, signed: &Signed, id: &str) -> Result<StoredMessage, Problem> {
    let message = state.store.message(id).await.map_err(Problem::from_error)?.ok_or_else(|| missing("message"))?;
    let summary = &message.summary;
    let recipients = message.deliveries.iter().map(|d| d.party.as_str());
    if !signed.operator.scope.sees_message(&summary.message_type, &summary.sender, recipients) {
        return Err(missing("message"));
    }
    Ok(message)
}

/// `GET /console/api/messages/{id}`: the message, its timeline, its canonical form, and for
/// each recipient its delivery and what it receives in its own profile.
pub async fn one(
    State(state): State<Arc<Gateway>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let message = visible(&state, &signed, &id).await?;
    signed.audit(&state, "message.read", Some(&id), json!({ "via": "console" })).await?;
    // A purged message keeps its row and timeline; its payloads are gone.
    let canonical: Option<Value> =
        (message.canonical != PURGED).then(|| serde_json::from_str(&message.canonical).ok()).flatten();
    let mut body = crate::api::message_json(&message);
    if let Some(shown) = body["deliveries"].as_array_mut() {
        for (shown, delivery) in shown.iter_mut().zip(&message.deliveries) {
            let Some(canonical) = &canonical else { continue };
            match crate::delivery::render(&state, &delivery.party, &delivery.profile, canonical) {
                Ok((bytes, content_type)) => {
                    shown["rendered"] = json!({ "contentType": content_type, "body": text_of(&bytes) })
                }
                Err(reason) => shown["renderError"] = json!(reason),
            }
        }
    }
    body["canonical"] = canonical.unwrap_or(Value::Null);
    Ok(Json(body))
}

/// A body as text: UTF-8, or else Windows-1252, the other encoding party formats use.
fn text_of(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(body).0.into_owned(),
    }
}

/// `POST /console/api/messages/{id}/replay`: queues the message's dead deliveries again;
/// refused (409) with the reason when none is dead.
pub async fn replay(
    State(state): State<Arc<Gateway>>,
    Acting(signed): Acting,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let message = visible(&state, &signed, &id).await?;
    let now = state.clock.now_millis();
    let actor = signed.actor();
    let event = Event { at: now, kind: EventKind::Replayed, party: None, detail: json!({ "by": actor }).to_string() };
    let replayed = state.store.replay_as(&actor, &id, now, &event).await.map_err(Problem::from_error)?;
    if replayed == 0 {
        let statuses: Vec<DeliveryStatus> = message.deliveries.iter().map(|d| d.status).collect();
        let reason = if message.canonical == PURGED {
            "its payload was purged past its retention: there is nothing left to send"
        } else if statuses.is_empty() {
            "it has no recipient"
        } else if statuses.iter().all(|status| *status == DeliveryStatus::Delivered) {
            "already delivered: every recipient acknowledged it"
        } else {
            "none of its deliveries is dead: they are still being attempted"
        };
        signed.audit(&state, "console.replay.refused", Some(&id), json!({ "reason": reason })).await?;
        return Err(Problem::of(ErrorCode::NothingToReplay, format!("message {id} is not replayed: {reason}")));
    }
    Ok(Json(json!({ "id": id, "replayed": replayed })))
}
