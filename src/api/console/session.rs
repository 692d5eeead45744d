//! Signing in to the console and what a session lets through.
//!
//! An operator signs in with its token (the configuration's `[[operators]]`); the gateway
//! answers with a random session id in a cookie (`HttpOnly`, `SameSite=Strict`,
//! `Path=/console`, `Secure` when served over TLS, expiring with the session) and keeps the
//! session in the database under the id's SHA-256, with its expiry and a CSRF token. Every
//! request under `/console/api/` needs a live session (401 otherwise, never a redirect: the
//! page leaves for the sign-in page itself), and every POST the session's CSRF token in
//! `X-CSRF-Token` and no foreign `Origin` (403). A session ends at its expiry, at logout,
//! or when the token that opened it leaves the configuration.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use crate::api::Problem;
use crate::error::ErrorCode;
use crate::gateway::Gateway;
use crate::parties::{Holder, Operator};
use crate::store::{AuditEntry, Session};

/// The session cookie's name.
const COOKIE: &str = "raccordo_session";

/// An operator signed in: its session and what its configuration lets it see.
pub struct Signed {
    pub operator: Arc<Operator>,
    pub session: Session,
}

impl Signed {
    /// How the audit log names the operator.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.operator.name)
    }

    /// Appends an audit entry for something the operator read or did.
    pub async fn audit(
        &self,
        state: &Gateway,
        kind: &str,
        subject: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), Problem> {
        let entry = AuditEntry::new(state.clock.now_millis(), kind, Some(&self.actor()), subject, detail);
        state.store.audit(&[entry]).await.map_err(Problem::from_error)
    }
}

/// The session a request's cookie names, if it is live and its operator and token are
/// still configured. A storage failure is an error, not "no session".
pub async fn session_of(state: &Gateway, headers: &HeaderMap) -> Result<Option<Signed>, Problem> {
    let Some(id) = cookie(headers) else { return Ok(None) };
    let stored = state.store.session(&hash(&id), state.clock.now_millis()).await.map_err(Problem::from_error)?;
    let Some(session) = stored else { return Ok(None) };
    // The token it was opened with must still be this operator's.
    let operator = decode_hex(&session.token_digest).and_then(|digest| match state.parties.by_token_digest(&digest) {
        Some(Holder::Operator(operator)) if operator.name == session.operator => Some(Arc::clone(operator)),
        _ => None,
    });
    Ok(operator.map(|operator| Signed { operator, session }))
}

impl FromRequestParts<Arc<Gateway>> for Signed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Gateway>) -> Result<Signed, Problem> {
        session_of(state, &parts.headers).await?.ok_or_else(|| {
            Problem::of(ErrorCode::SessionRequired, "sign in at /console/login: this session is missing or has ended")
        })
    }
}

/// A signed-in operator's action: a live session, its CSRF token in `X-CSRF-Token`, and no
/// other origin's page behind the request.
pub struct Acting(pub Signed);

impl FromRequestParts<Arc<Gateway>> for Acting {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Gateway>) -> Result<Acting, Problem> {
        let signed = Signed::from_request_parts(parts, state).await?;
        same_origin(&parts.headers)?;
        let given = parts.headers.get("x-csrf-token").and_then(|value| value.to_str().ok()).unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), signed.session.csrf.as_bytes()) {
            return Err(Problem::of(ErrorCode::CsrfRefused, "this action needs the session's X-CSRF-Token header"));
        }
        Ok(Acting(signed))
    }
}

/// Refuses a request a page of another origin sent (by its `Sec-Fetch-Site` or `Origin`),
/// so another site can neither act in a session nor sign a browser in to one of its own.
/// A page under `Referrer-Policy: no-referrer` (the console's) sends `Origin: null` with a
/// form, so `null` says nothing; `Sec-Fetch-Site` then does.
fn same_origin(headers: &HeaderMap) -> Result<(), Problem> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let foreign = || Problem::of(ErrorCode::CsrfRefused, "the request comes from a page of another origin");
    let site = text(header::HeaderName::from_static("sec-fetch-site"));
    if site.is_some_and(|site| site != "same-origin" && site != "none") {
        return Err(foreign());
    }
    if let (Some(origin), Some(host)) = (text(header::ORIGIN).filter(|origin| *origin != "null"), text(header::HOST)) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host {
            return Err(foreign());
        }
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /console/login`: a good operator token opens a session and goes to the console
/// (303 to `/console/`); anything else goes back to the sign-in page with `?error=1`.
pub async fn login(
    State(state): State<Arc<Gateway>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Problem> {
    same_origin(&headers)?;
    let now = state.clock.now_millis();
    let token = form.map(|Form(form)| form.token).unwrap_or_default();
    let digest = openssl::sha::sha256(token.trim().as_bytes());
    let Some(Holder::Operator(operator)) = state.parties.by_token_digest(&digest) else {
        // Who tried is not known; the token is not kept, not even hashed.
        let entry = AuditEntry::new(now, "console.login.refused", None, None, json!({}));
        state.store.audit(&[entry]).await.map_err(Problem::from_error)?;
        return Ok(see_other("/console/login?error=1", None));
    };
    let id = random_token()?;
    let minutes = i64::from(state.config.console.session_minutes);
    let session = Session {
        id_hash: hash(&id),
        operator: operator.name.clone(),
        token_digest: hex(&digest),
        csrf: random_token()?,
        created_at: now,
        expires_at: now + minutes * 60_000,
    };
    state.store.open_session(&session).await.map_err(Problem::from_error)?;
    let signed = Signed { operator: Arc::clone(operator), session };
    signed
        .audit(&state, "console.login", None, json!({ "expiresAt": crate::clock::rfc3339(signed.session.expires_at) }))
        .await?;
    let secure = if state.config.tls.is_some() { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}", minutes * 60);
    Ok(see_other("/console/", Some(cookie)))
}

/// `POST /console/logout`: ends the session (204) and clears the cookie.
pub async fn logout(State(state): State<Arc<Gateway>>, Acting(signed): Acting) -> Result<Response, Problem> {
    state.store.end_session(&signed.session.id_hash).await.map_err(Problem::from_error)?;
    signed.audit(&state, "console.logout", None, json!({})).await?;
    let secure = if state.config.tls.is_some() { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// A 303 to `location`, setting `cookie` when given.
pub fn see_other(location: &'static str, cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    if let Some(value) = cookie.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The session id in the request's cookies.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// 32 random bytes, URL-safe base64: a session id or a CSRF token.
fn random_token() -> Result<String, Problem> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| Problem::from_error(crate::error::Error::Internal(format!("random bytes: {e}"))))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What a session is stored under: the SHA-256 of its id.
fn hash(id: &str) -> String {
    hex(&openssl::sha::sha256(id.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (index, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Compares two secrets in a time that does not depend on where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; raccordo_session=abc123; x=y"));
        assert_eq!(cookie(&headers).as_deref(), Some("abc123"));
        headers.insert(header::COOKIE, HeaderValue::from_static("raccordo_session="));
        assert_eq!(cookie(&headers), None);
        let digest = openssl::sha::sha256(b"x");
        assert_eq!(decode_hex(&hex(&digest)), Some(digest));
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn pages_of_other_origins_are_refused() {
        let check = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            same_origin(&headers).is_ok()
        };
        assert!(check(&[("host", "127.0.0.1:8470"), ("origin", "http://127.0.0.1:8470")]));
        assert!(check(&[("host", "127.0.0.1:8470")]));
        assert!(!check(&[("host", "127.0.0.1:8470"), ("origin", "https://evil.example")]));
        assert!(check(&[("host", "gw"), ("origin", "null"), ("sec-fetch-site", "same-origin")]));
        assert!(!check(&[("sec-fetch-site", "cross-site")]));
        assert!(!check(&[("sec-fetch-site", "same-site"), ("origin", "null")]));
    }
}
