//! The HTTP API, the only module that knows HTTP statuses: `router(state)` builds it; each
//! resource has its handlers here; `problem` turns refusals into RFC 9457 problem
//! documents.

mod console;
mod problem;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::error::{Diagnostic, ErrorCode};
use crate::gateway::Gateway;
use crate::ingest::CANONICAL;
use crate::intake::Answer;
use crate::mapping::spec::FormatKind;
use crate::parties::{Holder, Operator, Party};
use crate::store::{
    AuditEntry, DeliveryStatus, EventKind, ListFilter, MessageStatus, MessageSummary, Scope, StoredMessage, Trigger,
};
pub use problem::Problem;
use server::ClientCertificate;

/// The client certificate of the connection, when the request came over mTLS.
type Certificate = Option<Extension<ClientCertificate>>;

/// The API's OpenAPI 3.1 document, kept in the repository as docs/openapi.json.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Every route of the router, as (method, path): tests check the OpenAPI document against it.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/messages"),
    ("get", "/v1/messages"),
    ("post", "/v1/validate"),
    ("get", "/v1/messages/{id}"),
    ("post", "/v1/messages/{id}/replay"),
    ("get", "/v1/dead-letters"),
    ("get", "/v1/inps/runs"),
    ("get", "/v1/quarantine"),
    ("get", "/v1/schemas"),
    ("get", "/v1/schemas/{name}"),
    ("get", "/v1/profiles"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// The API's routes.
pub fn router(state: Arc<Gateway>) -> Router {
    let max_body = usize::try_from(state.config.limits.max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/v1/messages", post(post_message).get(list_messages))
        .route("/v1/validate", post(validate))
        .route("/v1/messages/{id}", get(get_message))
        .route("/v1/messages/{id}/replay", post(replay))
        .route("/v1/dead-letters", get(dead_letters))
        .route("/v1/inps/runs", get(inps_runs))
        .route("/v1/quarantine", get(quarantine))
        .route("/v1/schemas", get(schemas))
        .route("/v1/schemas/{name}", get(schema))
        .route("/v1/profiles", get(profiles))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .merge(console::routes())
        // Bodies above the limit are refused by axum before a handler runs; the handler
        // checks again so the answer is our problem document.
        .layer(DefaultBodyLimit::max(max_body.saturating_add(1)))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), time_limit))
        .with_state(state)
}

/// Serves the API on `listener`, over TLS when the configuration says so, until `shutdown`;
/// returns once the requests under way have been answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), crate::error::Error> {
    let app = router(Arc::clone(&state));
    let tls = state.keys.tls.as_ref().map(|acceptor| acceptor.context().to_owned());
    let timeouts = server::Timeouts::for_request(request_timeout(&state));
    server::serve(listener, tls, app, timeouts, shutdown).await;
    Ok(())
}

fn request_timeout(state: &Gateway) -> Duration {
    Duration::from_secs(state.config.limits.request_timeout_secs.max(1))
}

/// Answers 408 for a request that takes longer than `limits.request_timeout_secs`, reading
/// its body included: a slow client does not hold a worker for ever.
async fn time_limit(State(state): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let limit = request_timeout(&state);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::of(
            ErrorCode::RequestTimeout,
            format!("the request took longer than {} s, its body included", limit.as_secs()),
        )
        .into_response(),
    }
}

/// Who is calling.
enum Caller<'a> {
    Party(&'a Party),
    Operator(&'a Operator),
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn caller<'a>(state: &'a Gateway, headers: &HeaderMap, certificate: &Certificate) -> Result<Caller<'a>, Problem> {
    // A verified client certificate identifies its party; a token is the development fallback.
    if let Some(Extension(ClientCertificate(fingerprint))) = certificate {
        return state
            .parties
            .by_fingerprint(fingerprint)
            .map(|party| Caller::Party(party))
            .ok_or_else(|| Problem::of(ErrorCode::Unauthenticated, "the client certificate identifies no party"));
    }
    let token = bearer(headers)
        .ok_or_else(|| Problem::of(ErrorCode::Unauthenticated, "a bearer token or a client certificate is required"))?;
    match state.parties.by_token(token) {
        Some(Holder::Party(party)) => Ok(Caller::Party(party)),
        Some(Holder::Operator(operator)) => Ok(Caller::Operator(operator)),
        None => Err(Problem::of(ErrorCode::Unauthenticated, "the credentials identify no party")),
    }
}

/// Refuses anyone but an operator, saying what only operators may do.
fn operator<'a>(
    state: &'a Gateway,
    headers: &HeaderMap,
    certificate: &Certificate,
    only: &str,
) -> Result<&'a Operator, Problem> {
    match caller(state, headers, certificate)? {
        Caller::Operator(operator) => Ok(operator),
        Caller::Party(_) => Err(Problem::of(ErrorCode::NotAllowed, only.to_owned())),
    }
}

/// How an operator is named in the audit log.
fn actor(operator: &Operator) -> String {
    format!("operator:{}", operator.name)
}

fn party<'a>(state: &'a Gateway, headers: &HeaderMap, certificate: &Certificate) -> Result<&'a Party, Problem> {
    match caller(state, headers, certificate)? {
        Caller::Party(party) => Ok(party),
        Caller::Operator(_) => Err(Problem::of(ErrorCode::NotAllowed, "operators do not send messages")),
    }
}

/// The profile named by `Raccordo-Profile` (canonical by default), checked against the
/// `Content-Type`.
fn profile_of(state: &Gateway, headers: &HeaderMap) -> Result<String, Problem> {
    let profile = headers.get("raccordo-profile").and_then(|v| v.to_str().ok()).unwrap_or(CANONICAL).to_owned();
    let format = if profile == CANONICAL {
        FormatKind::Json
    } else {
        state
            .catalog
            .profiles
            .get(&profile)
            .map(|p| p.format)
            .ok_or_else(|| Problem::of(ErrorCode::ProfileUnknown, format!("no profile {profile:?}")))?
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let fits = match format {
        FormatKind::Json => media == "application/json" || media.ends_with("+json"),
        FormatKind::Xml => media == "application/xml" || media == "text/xml" || media.ends_with("+xml"),
        FormatKind::Csv => media == "text/csv" || media == "text/plain",
        FormatKind::Fixed => media == "text/plain",
    };
    if !fits {
        return Err(Problem::of(
            ErrorCode::UnsupportedMediaType,
            format!("{content_type:?} does not suit profile {profile}"),
        ));
    }
    Ok(profile)
}

fn check_size(state: &Gateway, body: &Bytes) -> Result<(), Problem> {
    if body.len() as u64 > state.config.limits.max_body_bytes {
        return Err(Problem::of(
            ErrorCode::InputTooLarge,
            format!("the body is larger than {} bytes", state.config.limits.max_body_bytes),
        ));
    }
    Ok(())
}

async fn receive(
    state: &Gateway,
    headers: &HeaderMap,
    certificate: &Certificate,
    body: &Bytes,
    dry_run: bool,
) -> Result<Response, Problem> {
    let party = party(state, headers, certificate)?;
    let _admitted = state.limits.admit(&party.id).map_err(|refusal| {
        Problem::of(ErrorCode::RateLimited, refusal.reason).retry_after(refusal.retry_after_seconds)
    })?;
    let profile = profile_of(state, headers)?;
    check_size(state, body)?;
    let remembered = check_signature(state, party, headers, body, dry_run).await?;
    let intake = state.intake();
    let started = std::time::Instant::now();
    let answers = match intake.receive(party, &profile, body, dry_run).await {
        Ok(answers) => answers,
        Err(error) => {
            // Not processed: the same signed request may come again.
            if let Some(jti) = &remembered {
                if let Err(forgetting) = state.store.forget_jti(jti).await {
                    tracing::warn!("forgetting a jti: {forgetting}");
                }
            }
            return Err(Problem::from_error(error));
        }
    };
    if !dry_run {
        record_intake(state, &profile, &answers, started.elapsed());
    }
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for answer in answers {
        match answer {
            Answer::Accepted { body, .. } => accepted.push(body),
            Answer::Rejected { label, message_type, diagnostics } => rejected.push((label, message_type, diagnostics)),
        }
    }
    let batch = state.catalog.profiles.get(&profile).is_some_and(|p| p.is_batch());
    match (batch, accepted.len(), rejected.len()) {
        (false, 1, 0) => {
            let status = if dry_run { StatusCode::OK } else { StatusCode::ACCEPTED };
            Ok((status, Json(accepted.remove(0))).into_response())
        }
        (false, _, _) | (true, 0, _) => {
            let diagnostics: Vec<Diagnostic> = rejected.iter().flat_map(|(_, _, d)| d.clone()).collect();
            Err(Problem::invalid(&diagnostics))
        }
        (true, _, _) => {
            let status = if dry_run { StatusCode::OK } else { StatusCode::ACCEPTED };
            let rejected: Vec<Value> = rejected
                .iter()
                .map(|(label, message_type, diagnostics)| {
                    json!({ "record": label.to_string(), "type": message_type, "errors": diagnostics.iter().map(crate::report::WireDiagnostic::from).collect::<Vec<_>>() })
                })
                .collect();
            Ok((status, Json(json!({ "status": "accepted", "messages": accepted, "rejected": rejected })))
                .into_response())
        }
    }
}

/// The body, or the problem axum's own refusal of it stands for (a body over the limit is
/// stopped while it is read, before it fills memory).
fn body_of(state: &Gateway, body: Result<Bytes, axum::extract::rejection::BytesRejection>) -> Result<Bytes, Problem> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::of(
            ErrorCode::InputTooLarge,
            format!("the body is larger than {} bytes", state.config.limits.max_body_bytes),
        ),
        _ => Problem::of(ErrorCode::BadQuery, "the request body could not be read"),
    })
}

async fn post_message(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    let body = body_of(&state, body)?;
    receive(&state, &headers, &certificate, &body, false).await
}

async fn validate(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    let body = body_of(&state, body)?;
    receive(&state, &headers, &certificate, &body, true).await
}

/// A ModI signature, checked when the party must sign or signed anyway: the digest, the
/// JWS and its chain, that the signer is the sending party, and (unless this is only a
/// validation) that its `jti` was never seen.
async fn check_signature(
    state: &Gateway,
    party: &Party,
    headers: &HeaderMap,
    body: &Bytes,
    dry_run: bool,
) -> Result<Option<String>, Problem> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = header(crate::modi::SIGNATURE_HEADER);
    if !party.sends.signed && signature.is_none() {
        return Ok(None);
    }
    let Some(signing) = &state.keys.signing else {
        return Err(Problem::of(ErrorCode::SignerUntrusted, "this gateway verifies no signatures"));
    };
    let now = state.clock.now_millis() / 1000;
    let signed = signing
        .verifier
        .verify(body, header("digest"), signature, header("content-type"), now)
        .map_err(|(code, message)| Problem::of(code, message))?;
    if !party.fingerprints.contains(&signed.fingerprint) {
        return Err(Problem::of(ErrorCode::SignerUntrusted, "the signer's certificate is not the sending party's"));
    }
    if dry_run {
        return Ok(None);
    }
    if !state.store.remember_jti(&signed.jti, signed.expires, now).await.map_err(Problem::from_error)? {
        return Err(Problem::of(ErrorCode::SignatureReplayed, "this signature's jti was used before"));
    }
    Ok(Some(signed.jti))
}

/// Whether the caller may see a message: a party that sent it or is one of its
/// recipients, an operator whose scope takes it in.
fn visible(caller: &Caller<'_>, message: &StoredMessage) -> bool {
    let sender = message.summary.sender.as_str();
    let mut recipients = message.deliveries.iter().map(|d| d.party.as_str());
    match caller {
        Caller::Operator(operator) => operator.scope.sees_message(&message.summary.message_type, sender, recipients),
        Caller::Party(party) => sender == party.id || recipients.any(|r| r == party.id),
    }
}

/// The URNs (the `source` of what they send) of the parties `scope` sees; `None` for all.
fn sources(state: &Gateway, scope: &Scope) -> Option<Vec<String>> {
    scope.parties.as_ref().map(|ids| ids.iter().filter_map(|id| state.parties.get(id)).map(|p| p.urn.clone()).collect())
}

/// Whether `scope` sees the INPS pull: every party, or the one INPS's records come from.
fn sees_inps(state: &Gateway, scope: &Scope) -> bool {
    state.config.inps.as_ref().is_none_or(|inps| scope.sees_party(&inps.party))
}

async fn get_message(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&state, &headers, &certificate)?;
    let not_found = || Problem::of(ErrorCode::NotFound, "no such message");
    let message = state.store.message(&id).await.map_err(Problem::from_error)?.ok_or_else(not_found)?;
    if !visible(&caller, &message) {
        return Err(not_found());
    }
    let reader = match &caller {
        Caller::Party(party) => party.id.clone(),
        Caller::Operator(operator) => actor(operator),
    };
    let entry = AuditEntry::new(state.clock.now_millis(), "message.read", Some(&reader), Some(&id), json!({}));
    state.store.audit(&[entry]).await.map_err(Problem::from_error)?;
    Ok(Json(message_json(&message)).into_response())
}

/// A message's summary as lists show it.
fn summary_json(m: &MessageSummary) -> Value {
    json!({
        "id": m.id, "source": m.source, "messageId": m.message_id, "sender": m.sender, "type": m.message_type,
        "profile": m.profile, "receivedAt": rfc3339(m.received_at), "status": m.status,
    })
}

/// A message with its deliveries and timeline, as `GET /v1/messages/{id}` answers.
fn message_json(message: &StoredMessage) -> Value {
    let mut body = summary_json(&message.summary);
    body["deliveries"] = message
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "party": d.party,
                "profile": d.profile,
                "status": d.status,
                "attempts": d.attempts,
                "nextAttemptAt": (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
                "lastError": d.last_error,
                "finishedAt": d.finished_at.map(rfc3339),
            })
        })
        .collect();
    body["timeline"] = message
        .events
        .iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at),
                "event": e.kind,
                "party": e.party,
                "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    body
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    message_type: Option<String>,
    status: Option<String>,
    party: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn instant(text: &Option<String>, name: &str) -> Result<Option<i64>, Problem> {
    text.as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.timestamp_millis())
                .map_err(|_| Problem::of(ErrorCode::BadQuery, format!("{name} is not an RFC 3339 instant")))
        })
        .transpose()
}

async fn list_messages(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Response, Problem> {
    let caller = caller(&state, &headers, &certificate)?;
    // A party sees its own messages only, whatever `party` it asks for; an operator, those
    // of its scope.
    let (party, scope) = match &caller {
        Caller::Party(party) => (Some(party.id.clone()), Scope::default()),
        Caller::Operator(operator) => (query.party.clone(), operator.scope.clone()),
    };
    let after = query
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().map_err(|_| Problem::of(ErrorCode::BadQuery, "cursor is not one this API gave")))
        .transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    // A status no message can have lists nothing.
    let status = match query.status.as_deref().map(|text| MessageStatus::parse(text).ok_or(())) {
        Some(Err(())) => return Ok(Json(json!({ "messages": [], "next": null })).into_response()),
        Some(Ok(status)) => Some(status),
        None => None,
    };
    let filter = ListFilter {
        message_type: query.message_type.clone(),
        status,
        party,
        since: instant(&query.since, "since")?,
        until: instant(&query.until, "until")?,
        scope,
        after,
        limit,
        ..ListFilter::default()
    };
    let messages = state.store.list(&filter).await.map_err(Problem::from_error)?;
    let next = (messages.len() as i64 == limit).then(|| messages.last().map(|m| m.seq.to_string())).flatten();
    Ok(Json(json!({
        "messages": messages.iter().map(summary_json).collect::<Vec<_>>(),
        "next": next,
    }))
    .into_response())
}

async fn replay(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let operator = operator(&state, &headers, &certificate, "only operators replay messages")?;
    if !operator.scope.is_everything() {
        let message = state.store.message(&id).await.map_err(Problem::from_error)?;
        if !message.is_some_and(|message| visible(&Caller::Operator(operator), &message)) {
            return Err(Problem::of(ErrorCode::NotFound, "no such message"));
        }
    }
    let now = state.clock.now_millis();
    let event = crate::store::Event { at: now, kind: EventKind::Replayed, party: None, detail: "{}".into() };
    let count = state.store.replay_as(&actor(operator), &id, now, &event).await.map_err(Problem::from_error)?;
    Ok(Json(json!({ "id": id, "requeued": count })).into_response())
}

#[derive(Debug, Deserialize)]
struct DeadQuery {
    party: Option<String>,
    cursor: Option<i64>,
    limit: Option<i64>,
}

async fn dead_letters(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    Query(query): Query<DeadQuery>,
) -> Result<Response, Problem> {
    let operator = operator(&state, &headers, &certificate, "only operators list dead letters")?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let filter = crate::store::DeadFilter {
        party: query.party.clone(),
        scope: operator.scope.clone(),
        after: query.cursor.unwrap_or(0),
        limit,
        ..Default::default()
    };
    let dead = state.store.find_dead_letters(&filter).await.map_err(Problem::from_error)?;
    let next = (dead.len() as i64 == limit).then(|| dead.last().map(|d| d.seq)).flatten();
    Ok(Json(json!({
        "deadLetters": dead.iter().map(|d| json!({
            "delivery": d.delivery_id, "message": d.message_id, "party": d.party, "attempts": d.attempts,
            "lastError": d.last_error, "at": d.finished_at.map(rfc3339),
        })).collect::<Vec<_>>(),
        "next": next,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<i64>,
}

/// The INPS pull's cursor and latest runs, as `raccordo inps status` shows them.
async fn inps_runs(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    Query(query): Query<RunsQuery>,
) -> Result<Response, Problem> {
    let operator = operator(&state, &headers, &certificate, "only operators see the INPS pull's runs")?;
    Ok(Json(runs_of(&state, &operator.scope, query.limit.unwrap_or(20)).await?).into_response())
}

/// The INPS pull's cursor and latest runs (at most `limit`, 1 to 1000), or none when
/// `scope` leaves out the INPS party.
async fn runs_of(state: &Gateway, scope: &Scope, limit: i64) -> Result<Value, Problem> {
    if !sees_inps(state, scope) {
        return Ok(json!({ "cursor": null, "runs": [] }));
    }
    let store = &state.store;
    let runs = store.pull_runs(crate::inps::JOB, limit.clamp(1, 1000)).await.map_err(Problem::from_error)?;
    let cursor = store.pull_cursor(crate::inps::JOB).await.map_err(Problem::from_error)?;
    Ok(json!({
        "cursor": cursor.map(rfc3339),
        "runs": runs.iter().map(|r| json!({
            "id": r.id, "trigger": r.trigger, "status": r.status, "startedAt": rfc3339(r.started_at),
            "finishedAt": r.finished_at.map(rfc3339), "pages": r.pages, "records": r.records,
            "accepted": r.accepted, "duplicates": r.duplicates, "quarantined": r.quarantined,
            "cursor": r.cursor.filter(|_| r.trigger != Trigger::Import).map(rfc3339), "error": r.error,
        })).collect::<Vec<_>>(),
    }))
}

/// Records pulled or imported that could not become messages, with their errors.
async fn quarantine(
    State(state): State<Arc<Gateway>>,
    certificate: Certificate,
    headers: HeaderMap,
    Query(query): Query<DeadQuery>,
) -> Result<Response, Problem> {
    let operator = operator(&state, &headers, &certificate, "only operators list quarantined records")?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let scope = &operator.scope;
    let sources = sources(&state, scope);
    let records = state
        .store
        .quarantined_from(sources.as_deref(), scope.types.as_deref(), query.cursor.unwrap_or(0), limit)
        .await
        .map_err(Problem::from_error)?;
    let next = (records.len() as i64 == limit).then(|| records.last().map(|r| r.seq)).flatten();
    Ok(Json(json!({
        "quarantined": records.iter().map(|r| json!({
            "id": r.id, "run": r.run_id, "source": r.source, "recordKey": r.record_key, "profile": r.profile,
            "type": r.message_type, "location": r.location, "at": rfc3339(r.received_at),
            "errors": serde_json::from_str::<Value>(&r.errors).unwrap_or_default(),
        })).collect::<Vec<_>>(),
        "next": next,
    }))
    .into_response())
}

async fn schemas(State(state): State<Arc<Gateway>>) -> Json<Value> {
    Json(json!({ "types": state.catalog.standard.types().map(|t| json!({
        "name": t.name, "type": t.type_id, "title": t.title, "schema": t.schema_id,
    })).collect::<Vec<_>>() }))
}

async fn schema(State(state): State<Arc<Gateway>>, Path(name): Path<String>) -> Result<Response, Problem> {
    let message_type = state
        .catalog
        .standard
        .message_type(&name)
        .ok_or_else(|| Problem::of(ErrorCode::NotFound, "no such message type"))?;
    Ok(([(header::CONTENT_TYPE, "application/schema+json")], Json(&*message_type.schema)).into_response())
}

async fn profiles(State(state): State<Arc<Gateway>>) -> Json<Value> {
    Json(profiles_of(&state))
}

/// The profiles, their formats and the types each translates, as `GET /v1/profiles` lists them.
fn profiles_of(state: &Gateway) -> Value {
    json!({ "profiles": state.catalog.profiles.iter().map(|p| json!({
        "name": p.name, "title": p.title, "partyKind": p.party_kind,
        "format": format!("{:?}", p.format).to_lowercase(),
        "types": p.types.iter().map(|t| json!({ "type": t.message_type, "toCanonical": t.to_canonical, "fromCanonical": t.from_canonical })).collect::<Vec<_>>(),
    })).collect::<Vec<_>>() })
}

fn record_intake(state: &Gateway, profile: &str, answers: &[Answer], elapsed: std::time::Duration) {
    use crate::telemetry::{IntakeLabels, ProfileLabel};
    for answer in answers {
        let (message_type, outcome) = match answer {
            Answer::Accepted { body, duplicate } => {
                let message_type = body.pointer("/receipt/data/messageType").and_then(Value::as_str);
                let short = message_type.and_then(crate::standard::short_name).unwrap_or("unknown");
                (short.to_owned(), if *duplicate { "duplicate" } else { "accepted" })
            }
            Answer::Rejected { message_type, .. } => {
                (message_type.clone().unwrap_or_else(|| "unknown".into()), "rejected")
            }
        };
        let labels = IntakeLabels { r#type: message_type, profile: profile.to_owned(), outcome: outcome.to_owned() };
        state.metrics.received.get_or_create(&labels).inc();
    }
    state
        .metrics
        .intake_seconds
        .get_or_create(&ProfileLabel { profile: profile.to_owned() })
        .observe(elapsed.as_secs_f64());
}

async fn metrics(State(state): State<Arc<Gateway>>) -> Response {
    // The queue depth is read at scrape time, from the store all instances share.
    if let Ok(depths) = state.store.queue_depth().await {
        for party in state.parties.iter().filter(|p| p.receives.is_some()) {
            let depth = depths.iter().find(|(name, _)| name == &party.id).map_or(0, |(_, depth)| *depth);
            state
                .metrics
                .queue_depth
                .get_or_create(&crate::telemetry::PartyLabel { party: party.id.clone() })
                .set(depth);
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.encode()).into_response()
}

async fn ready(State(state): State<Arc<Gateway>>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(error) => Problem::from_error(error).into_response(),
    }
}
