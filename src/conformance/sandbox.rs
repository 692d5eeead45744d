//! `raccordo conformance serve`: a sandbox endpoint a vendor's system sends to. It checks
//! each message as the gateway would (in the vendor's profile), answers like the gateway
//! (202 with a receipt, 422 with the errors, a resend the first answer again) and records
//! every exchange in a session file, one JSON line each, from which
//! `raccordo conformance report` writes the session's report.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::run::{CaseResult, Finding, RunReport, Status};
use super::Suite;
use crate::error::Error;
use crate::ingest::{Catalog, CANONICAL};

/// One exchange of a session, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub number: u64,
    pub at: String,
    pub profile: String,
    /// The message's id, when one could be read.
    pub message_id: Option<String>,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub status: u16,
    pub resend: bool,
    pub findings: Vec<Finding>,
}

struct Sandbox {
    catalog: Catalog,
    suite: Suite,
    profile: String,
    session: Mutex<std::fs::File>,
    /// Answers given, by idempotency key or message id, for resends.
    answers: Mutex<HashMap<String, (u16, Value)>>,
    count: Mutex<u64>,
}

/// The sandbox's routes (`POST /v1/messages`), recording into `session` (appended).
pub fn router(catalog: Catalog, suite: Suite, profile: &str, session: &Path) -> Result<Router, Error> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(session)
        .map_err(|source| Error::Io { path: session.to_owned(), source })?;
    let sandbox = Arc::new(Sandbox {
        catalog,
        suite,
        profile: profile.to_owned(),
        session: Mutex::new(file),
        answers: Mutex::new(HashMap::new()),
        count: Mutex::new(0),
    });
    Ok(Router::new().route("/v1/messages", post(receive)).with_state(sandbox))
}

async fn receive(State(sandbox): State<Arc<Sandbox>>, headers: HeaderMap, body: Bytes) -> Response {
    let number = sandbox.count.lock().map_or(0, |mut count| {
        *count += 1;
        *count
    });
    let now = crate::clock::Clock::System.now_rfc3339();
    let profile = sandbox.profile.as_str();
    let outcomes = if profile == CANONICAL {
        let validation = crate::ingest::validate_canonical(
            &sandbox.catalog.standard,
            &body,
            sandbox.catalog.limits.max_message_bytes,
        );
        let message = serde_json::from_slice::<Value>(&body).ok();
        vec![(message, validation.message_type, validation.diagnostics)]
    } else {
        match sandbox.catalog.profile(profile) {
            Ok(found) => sandbox
                .catalog
                .to_canonical(found, &body, &format!("urn:raccordo:{}:sandbox", found.party_kind), &now)
                .into_iter()
                .map(|o| (o.output, o.message_type, o.diagnostics))
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    let message_id =
        outcomes.first().and_then(|(m, _, _)| m.as_ref()).and_then(|m| m["id"].as_str()).map(str::to_owned);
    let message_type = outcomes.first().and_then(|(_, t, _)| t.clone());
    let key =
        headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| message_id.clone());
    let earlier = key.as_ref().and_then(|k| sandbox.answers.lock().ok().and_then(|a| a.get(k).cloned()));
    let mut findings: Vec<Finding> = outcomes
        .iter()
        .flat_map(|(_, _, diagnostics)| diagnostics.iter())
        .map(|d| {
            let code = d.code.id();
            Finding {
                requirement: sandbox.suite.requirement_of(&code).map_or_else(|| "ENV-01".into(), |r| r.id.clone()),
                code: Some(code),
                path: d.path.clone(),
                message: d.message.clone(),
            }
        })
        .collect();
    if outcomes.is_empty() {
        findings.push(Finding {
            requirement: "ENV-01".into(),
            code: None,
            path: String::new(),
            message: "the body holds no message".into(),
        });
    }
    let (status, answer) = match earlier.clone() {
        Some(answer) => answer,
        None if findings.is_empty() && !outcomes.is_empty() => {
            let id = uuid::Uuid::now_v7().to_string();
            let receipt = json!({
                "specversion": "1.0", "id": format!("receipt-{id}"), "source": "urn:raccordo:gateway:sandbox",
                "type": "it.raccordo.receipt.v1", "time": now,
                "data": { "messageId": message_id, "messageSource": outcomes[0].0.as_ref().map(|m| m["source"].clone()),
                          "status": "accepted", "receivedAt": now }
            });
            (202, json!({ "id": id, "status": "accepted", "receipt": receipt }))
        }
        None => {
            let errors: Vec<Value> = findings
                .iter()
                .map(|f| json!({ "code": f.code, "path": f.path, "message": f.message, "requirement": f.requirement }))
                .collect();
            (
                422,
                json!({ "type": "about:blank", "title": "the message is not valid", "status": 422, "errors": errors }),
            )
        }
    };
    if let (Some(key), None) = (&key, &earlier) {
        if let Ok(mut answers) = sandbox.answers.lock() {
            answers.insert(key.clone(), (status, answer.clone()));
        }
    }
    let exchange = Exchange {
        number,
        at: now,
        profile: profile.to_owned(),
        message_id,
        message_type,
        status,
        resend: earlier.is_some(),
        findings,
    };
    if let (Ok(mut file), Ok(line)) = (sandbox.session.lock(), serde_json::to_string(&exchange)) {
        // The answer is given even if the record fails; the failure is logged.
        if let Err(error) = writeln!(file, "{line}") {
            tracing::warn!("recording the session: {error}");
        }
    }
    let content_type = if status == 422 { "application/problem+json" } else { "application/json" };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(header::CONTENT_TYPE, content_type)], answer.to_string()).into_response()
}

/// The report of a session: one case per message received.
pub fn report(suite: &Suite, session: &Path) -> Result<RunReport, Error> {
    let text = std::fs::read_to_string(session).map_err(|source| Error::Io { path: PathBuf::from(session), source })?;
    let mut results = Vec::new();
    let mut profile = String::new();
    let mut started = String::new();
    for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let exchange: Exchange = serde_json::from_str(line)
            .map_err(|e| Error::Usage(format!("{}:{}: not a session record: {e}", session.display(), index + 1)))?;
        if started.is_empty() {
            started = exchange.at.clone();
            profile = exchange.profile.clone();
        }
        let requirement = exchange.findings.first().map_or_else(
            || exchange.message_type.as_ref().map_or_else(|| "ENV-01".to_owned(), |t| format!("MSG-{t}")),
            |f| f.requirement.clone(),
        );
        let name = format!(
            "#{} {} {}",
            exchange.number,
            exchange.message_type.as_deref().unwrap_or("unknown type"),
            exchange.message_id.as_deref().unwrap_or("")
        );
        results.push(CaseResult {
            id: name.trim().to_owned(),
            title: format!("received {}{}", exchange.at, if exchange.resend { " (a resend)" } else { "" }),
            mandatory: suite.requirement(&requirement).is_none_or(|r| r.mandatory()),
            requirement,
            status: if exchange.findings.is_empty() { Status::Pass } else { Status::Fail },
            expected: "a valid message".into(),
            actual: if exchange.findings.is_empty() {
                format!("valid, answered {}", exchange.status)
            } else {
                format!("{} problems, answered {}", exchange.findings.len(), exchange.status)
            },
            findings: exchange.findings,
            millis: 0,
        });
    }
    Ok(RunReport { mode: "session".into(), profile, subject: session.display().to_string(), started, results })
}
