//! The operator console at `/console/`: the pages (embedded in the binary), signing in, and
//! the JSON the pages read from `/console/api/`, on the same listener as the API.
//!
//! The pages are one document (`index.html`) whose views are addressed by the URL's
//! fragment, so the server has two pages to serve (`/console/` and `/console/login`) and
//! static files under `/console/static/`. Every response carries the console's security
//! headers: a Content-Security-Policy that allows this origin's scripts, styles, fonts and
//! images only (no inline script or style, no framing), `nosniff`, no referrer.
//!
//! The views read through the same store queries as the API, within the operator's scope
//! (its configured parties and types), and every read and action is audited under
//! `operator:<name>`. Files: `session` (sign-in, sessions, CSRF), `files` (static files),
//! `params` (query parameters), then one file per view.

mod deliveries;
mod files;
mod inps;
mod messages;
mod overview;
mod params;
mod parties;
mod session;
mod validate;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::Problem;
use crate::gateway::Gateway;
use session::Signed;

/// The console's Content-Security-Policy: this origin only, no inline code, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The console's routes, to merge into the API's router.
pub fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(index))
        .route("/console/login", get(login_page).post(session::login))
        .route("/console/logout", post(session::logout))
        .route("/console/static/{*path}", get(static_file))
        .route("/console/api/session", get(session_info))
        .route("/console/api/overview", get(overview::overview))
        .route("/console/api/messages", get(messages::list))
        .route("/console/api/messages/{id}", get(messages::one))
        .route("/console/api/messages/{id}/replay", post(messages::replay))
        .route("/console/api/dead-letters", get(deliveries::list))
        .route("/console/api/dead-letters/replay", post(deliveries::replay))
        .route("/console/api/quarantine", get(inps::quarantine))
        .route("/console/api/inps/runs", get(inps::runs))
        .route("/console/api/parties", get(parties::parties))
        .route("/console/api/profiles", get(parties::profiles))
        .route("/console/api/validate", post(validate::validate))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Data is for this page load only: no cache keeps it after a logout.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `/console/`: the console page for a signed-in operator; others go to the sign-in page
/// (with `?expired=1` when they had a session that has ended).
async fn index(State(state): State<Arc<Gateway>>, headers: HeaderMap) -> Result<Response, Problem> {
    if session::session_of(&state, &headers).await?.is_some() {
        let mut response = files::serve("index.html", &HeaderMap::new());
        // Behind the session: not to be revalidated by anyone else's request.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response.headers_mut().remove(header::ETAG);
        return Ok(response);
    }
    let had_one =
        headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("raccordo_session="));
    let location = if had_one { "/console/login?expired=1" } else { "/console/login" };
    Ok(session::see_other(location, None))
}

/// `/console/login`, whatever its query (`?error=1`, `?expired=1`, `?logout=1`: the page
/// reads it).
async fn login_page(headers: HeaderMap) -> Response {
    files::serve("login.html", &headers)
}

async fn static_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    files::serve(&path, &headers)
}

/// `GET /console/api/session`: who is signed in, until when, what it may see and do, and
/// the token its actions carry.
async fn session_info(State(state): State<Arc<Gateway>>, signed: Signed) -> Result<Json<Value>, Problem> {
    signed.audit(&state, "console.session.read", None, json!({})).await?;
    let scope = &signed.operator.scope;
    let parties: Vec<&str> =
        state.parties.iter().map(|party| party.id.as_str()).filter(|id| scope.sees_party(id)).collect();
    Ok(Json(json!({
        "operator": signed.operator.name,
        "expiresAt": crate::clock::rfc3339(signed.session.expires_at),
        "parties": parties,
        "types": scope.types,
        "canSearchCodiceFiscale": can_search_codice_fiscale(&state, &signed),
        "csrf": signed.session.csrf,
    })))
}

/// Whether the operator may search by codice fiscale: its configuration says so, and the
/// store keeps the blind index that search goes through.
fn can_search_codice_fiscale(state: &Gateway, signed: &Signed) -> bool {
    signed.operator.codice_fiscale_search && state.store.keeps_subject_index()
}

/// A 404 problem under `/console/api/`, for what does not exist or the operator may not see.
fn missing(what: &str) -> Problem {
    Problem::of(crate::error::ErrorCode::NotFound, format!("no such {what}"))
}
