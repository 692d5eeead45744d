//! `raccordo simulate inps`: a stand-in for PDND's token endpoint and INPS's e-service of
//! domestic-work communications, on 127.0.0.1, for integrators without access to INPS and
//! for the tests and benchmarks.
//!
//! Records are computed from (seed, position), never held in memory: record `i` was received
//! at `BASE + i` minutes, so any page is made in constant time and memory whatever the
//! number of records. Relationships come in blocks of 100: their hirings, then a change of
//! each, then each one's end; about one record in a hundred is invalid (a codice fiscale
//! whose check character is wrong), as real feeds have. Faults are injected on request.
//!
//! The token endpoint verifies the client assertion as PDND does: RS256 with the client's
//! registered public key, `iss` = `sub` = `client_id`, the audience, `iat`/`exp`, and a `jti`
//! not seen before.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use openssl::pkey::{PKey, Public};
use serde::Deserialize;
use serde_json::{json, Value};

use super::generate::{Generator, Person, COMUNI, LEVELS};
use crate::jose;

/// `ts_comunicazione` of record 0: 2025-01-01T00:00:00Z, in Unix milliseconds.
pub const BASE_MILLIS: i64 = 1_735_689_600_000;
/// Records are one minute apart.
pub const STEP_MILLIS: i64 = 60_000;
/// Relationships per block (hirings, then changes, then ends).
const BLOCK: u64 = 100;

/// Faults to inject, from `--faults`: comma-separated items, pages numbered from 1 by where
/// they start (page P begins at record (P-1) × limit).
///
/// - `5xx@P:N` — the first N requests for page P answer 503;
/// - `429@P:S` — the first request for page P answers 429 with `Retry-After: S`;
/// - `slow@P:MS` — the first request for page P answers after MS milliseconds;
/// - `token-ttl:S` — vouchers are issued for S seconds (default 600);
/// - `token-expiry:S` — vouchers die after S seconds, though issued for longer: the client
///   learns it from a 401.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    pub server_errors: HashMap<u64, u32>,
    pub too_many: HashMap<u64, u64>,
    pub slow: HashMap<u64, u64>,
    pub token_ttl_secs: Option<u64>,
    pub token_expiry_secs: Option<u64>,
}

impl std::str::FromStr for Faults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || {
                format!("{item:?}: expected 5xx@PAGE:COUNT, 429@PAGE:SECONDS, slow@PAGE:MS, token-ttl:SECONDS or token-expiry:SECONDS")
            };
            if let Some(seconds) = item.strip_prefix("token-ttl:") {
                faults.token_ttl_secs = Some(seconds.parse().map_err(|_| bad())?);
                continue;
            }
            if let Some(seconds) = item.strip_prefix("token-expiry:") {
                faults.token_expiry_secs = Some(seconds.parse().map_err(|_| bad())?);
                continue;
            }
            let (kind, rest) = item.split_once('@').ok_or_else(bad)?;
            let (page, value) = rest.split_once(':').ok_or_else(bad)?;
            let page: u64 = page.parse().map_err(|_| bad())?;
            let value: u64 = value.parse().map_err(|_| bad())?;
            match kind {
                "5xx" => {
                    faults.server_errors.insert(page, u32::try_from(value).map_err(|_| bad())?);
                }
                "429" => {
                    faults.too_many.insert(page, value);
                }
                "slow" => {
                    faults.slow.insert(page, value);
                }
                _ => return Err(bad()),
            }
        }
        Ok(faults)
    }
}

/// What the simulator serves and checks.
#[derive(Debug, Clone)]
pub struct Settings {
    pub records: u64,
    pub seed: u64,
    /// Share of invalid records, from 0 to 1.
    pub invalid_share: f64,
    pub faults: Faults,
    /// The public key the client assertions must verify with (PDND's registered key).
    pub client_key: PKey<Public>,
    /// The client id assertions must carry; any when `None`.
    pub client_id: Option<String>,
    /// The audience assertions must name.
    pub audience: String,
    /// Refuse requests without a verified client certificate (403), as INPS's e-services
    /// do; needs HTTPS with a client CA.
    pub require_client_certificate: bool,
}

/// Counts of what the simulator did, served at `/simulator/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub token_requests: AtomicU64,
    pub vouchers: AtomicU64,
    pub assertions_refused: AtomicU64,
    pub page_requests: AtomicU64,
    pub unauthorised: AtomicU64,
    pub faults_served: AtomicU64,
    pub records_served: AtomicU64,
}

/// The simulator's shared state.
pub struct Simulator {
    settings: Settings,
    pub stats: Stats,
    vouchers: Mutex<HashMap<String, Instant>>,
    seen_jti: Mutex<HashSet<String>>,
    /// Requests seen per page, for faults on the first N.
    page_hits: Mutex<HashMap<u64, u64>>,
}

impl Simulator {
    pub fn new(settings: Settings) -> Arc<Simulator> {
        Arc::new(Simulator {
            settings,
            stats: Stats::default(),
            vouchers: Mutex::new(HashMap::new()),
            seen_jti: Mutex::new(HashSet::new()),
            page_hits: Mutex::new(HashMap::new()),
        })
    }

    /// The simulator's routes: `POST /token.oauth2`, `GET /comunicazioni`,
    /// `GET /simulator/stats`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/token.oauth2", post(token))
            .route("/comunicazioni", get(page))
            .route("/simulator/stats", get(stats))
            .with_state(Arc::clone(self))
    }

    fn check_assertion(&self, form: &TokenForm) -> Result<(), String> {
        if form.grant_type != "client_credentials" {
            return Err("grant_type must be client_credentials".into());
        }
        if form.client_assertion_type != crate::inps::pdnd::ASSERTION_TYPE {
            return Err("unsupported client_assertion_type".into());
        }
        let verified =
            jose::verify_rs256(&self.settings.client_key, &form.client_assertion).map_err(|e| e.to_string())?;
        let (header, claims) = (&verified.header, &verified.claims);
        if header["typ"].as_str().is_some_and(|t| t != "JWT") || header["kid"].as_str().is_none() {
            return Err("the header needs a kid, and typ JWT".into());
        }
        if claims["iss"] != form.client_id.as_str() || claims["sub"] != form.client_id.as_str() {
            return Err("iss and sub must be the client_id".into());
        }
        if self.settings.client_id.as_ref().is_some_and(|id| *id != form.client_id) {
            return Err("unknown client_id".into());
        }
        let audience_ok = match &claims["aud"] {
            Value::String(aud) => *aud == self.settings.audience,
            Value::Array(auds) => auds.iter().any(|a| *a == self.settings.audience.as_str()),
            _ => false,
        };
        if !audience_ok {
            return Err("wrong audience".into());
        }
        let now = Utc::now().timestamp();
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err("iat and exp are required".into());
        };
        if iat > now + 60 || exp <= now || exp <= iat {
            return Err("the assertion is not valid now".into());
        }
        if claims["purposeId"].as_str().is_none() {
            return Err("purposeId is required".into());
        }
        let jti = claims["jti"].as_str().ok_or("jti is required")?.to_owned();
        let mut seen = self.seen_jti.lock().map_err(|_| "poisoned")?;
        if !seen.insert(jti) {
            return Err("this jti was used before".into());
        }
        Ok(())
    }

    fn voucher_valid(&self, headers: &HeaderMap) -> bool {
        let Some(token) =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.vouchers.lock().is_ok_and(|vouchers| vouchers.get(token).is_some_and(|until| Instant::now() < *until))
    }

    /// How many times page `number` was asked for before this request.
    fn hit(&self, number: u64) -> u64 {
        let Ok(mut hits) = self.page_hits.lock() else { return 0 };
        let count = hits.entry(number).or_insert(0);
        *count += 1;
        *count - 1
    }
}

/// Serves the simulator on `listener` (HTTPS with `tls`, else plain HTTP) until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    simulator: Arc<Simulator>,
    tls: Option<&crate::config::TlsConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), crate::error::Error> {
    let app = simulator.router();
    match tls {
        Some(tls) => {
            let acceptor = crate::gateway::tls_acceptor(tls)?;
            let timeouts = crate::api::server::Timeouts::for_request(std::time::Duration::from_secs(30));
            crate::api::server::serve(listener, Some(acceptor.context().to_owned()), app, timeouts, shutdown).await;
            Ok(())
        }
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| crate::error::Error::Internal(format!("server: {e}"))),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    client_id: String,
    client_assertion: String,
    client_assertion_type: String,
    grant_type: String,
}

/// The client certificate of the connection, when it came over mTLS.
type Certificate = Option<axum::Extension<crate::api::server::ClientCertificate>>;

fn certificate_missing(simulator: &Simulator, certificate: &Certificate) -> Option<Response> {
    (simulator.settings.require_client_certificate && certificate.is_none()).then(|| {
        (
            StatusCode::FORBIDDEN,
            Json(json!({ "codice_esito": "RICHIESTA_INVALIDA", "descrizione": "a client certificate is required" })),
        )
            .into_response()
    })
}

async fn token(
    State(simulator): State<Arc<Simulator>>,
    certificate: Certificate,
    Form(form): Form<TokenForm>,
) -> Response {
    simulator.stats.token_requests.fetch_add(1, Ordering::Relaxed);
    if let Some(refusal) = certificate_missing(&simulator, &certificate) {
        return refusal;
    }
    if let Err(reason) = simulator.check_assertion(&form) {
        simulator.stats.assertions_refused.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "type": "about:blank", "status": 401, "title": "invalid_client", "detail": reason,
            "errors": [{ "code": "015-0015", "detail": reason }] });
        return (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string())
            .into_response();
    }
    let faults = &simulator.settings.faults;
    let ttl = faults.token_ttl_secs.unwrap_or(600);
    let lives = faults.token_expiry_secs.unwrap_or(ttl).min(ttl);
    let voucher = format!("sim-{}", uuid::Uuid::now_v7().simple());
    if let Ok(mut vouchers) = simulator.vouchers.lock() {
        vouchers.insert(voucher.clone(), Instant::now() + Duration::from_secs(lives));
    }
    simulator.stats.vouchers.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "access_token": voucher, "token_type": "Bearer", "expires_in": ttl })).into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    since: Option<i64>,
    limit: Option<u64>,
}

async fn page(
    State(simulator): State<Arc<Simulator>>,
    certificate: Certificate,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    simulator.stats.page_requests.fetch_add(1, Ordering::Relaxed);
    if let Some(refusal) = certificate_missing(&simulator, &certificate) {
        return refusal;
    }
    if !simulator.voucher_valid(&headers) {
        simulator.stats.unauthorised.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "codice_esito": "RICHIESTA_INVALIDA", "descrizione": "voucher missing or expired" })),
        )
            .into_response();
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 100);
    let first = first_after(query.since.unwrap_or(0));
    let settings = &simulator.settings;
    let number = first / limit + 1;
    let hits = simulator.hit(number);
    let faults = &settings.faults;
    if faults.server_errors.get(&number).is_some_and(|n| hits < u64::from(*n)) {
        simulator.stats.faults_served.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "codice_esito": "ERRORE_GENERICO" }))).into_response();
    }
    let earlier: u64 = u64::from(faults.server_errors.get(&number).copied().unwrap_or(0));
    if let Some(seconds) = faults.too_many.get(&number).filter(|_| hits == earlier) {
        simulator.stats.faults_served.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, seconds.to_string())], "").into_response();
    }
    if let Some(ms) = faults.slow.get(&number).filter(|_| hits == 0) {
        simulator.stats.faults_served.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
    let last = (first + limit).min(settings.records);
    let mut out = String::with_capacity(((last.saturating_sub(first)) * 2048) as usize + 64);
    out.push_str("{\"elenco_comunicazioni\":[");
    for index in first..last {
        if index > first {
            out.push(',');
        }
        out.push_str(&record(settings.seed, index, settings.invalid_share).to_string());
    }
    out.push(']');
    if last > first {
        out.push_str(&format!(",\"next_since\":{}", timestamp(last - 1)));
    }
    out.push('}');
    simulator.stats.records_served.fetch_add(last.saturating_sub(first), Ordering::Relaxed);
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

async fn stats(State(simulator): State<Arc<Simulator>>) -> Json<Value> {
    let s = &simulator.stats;
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    Json(json!({
        "tokenRequests": read(&s.token_requests),
        "vouchers": read(&s.vouchers),
        "assertionsRefused": read(&s.assertions_refused),
        "pageRequests": read(&s.page_requests),
        "unauthorised": read(&s.unauthorised),
        "faultsServed": read(&s.faults_served),
        "recordsServed": read(&s.records_served),
    }))
}

/// `ts_comunicazione` of record `index`, in Unix milliseconds.
pub fn timestamp(index: u64) -> i64 {
    BASE_MILLIS + i64::try_from(index).unwrap_or(i64::MAX / STEP_MILLIS) * STEP_MILLIS
}

/// The first record received after `since`.
fn first_after(since: i64) -> u64 {
    if since < BASE_MILLIS {
        return 0;
    }
    u64::try_from((since - BASE_MILLIS) / STEP_MILLIS + 1).unwrap_or(0)
}

fn date_of(millis: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(millis).map_or(NaiveDate::MIN, |t| t.date_naive())
}

/// The people and terms of relationship `k`, the same whichever of its records asks.
#[derive(Clone)]
struct Relationship {
    employer: Person,
    employer_comune: (&'static str, &'static str),
    worker: Person,
    live_in: bool,
    level: &'static str,
    hours: u32,
    monthly: bool,
    pay: f64,
    hired: NaiveDate,
    /// A fixed-term contract's end; open-ended when `None`.
    ends: Option<NaiveDate>,
    permit_number: String,
}

fn relationship(seed: u64, k: u64) -> Relationship {
    let mut generator = Generator::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k);
    let employer = generator.person(1928, 1950);
    let worker = generator.person(1962, 1998);
    let mut rng = fastrand::Rng::with_seed(seed ^ k.wrapping_mul(0xA24B_AED4_963E_E407));
    // Cremona first: the example configuration's social services serve it.
    let employer_comune = if rng.u8(..3) == 0 { COMUNI[0] } else { COMUNI[rng.usize(..COMUNI.len())] };
    let live_in = rng.bool();
    let level = LEVELS[rng.usize(..LEVELS.len())];
    let hours = if live_in { rng.u32(40..=54) } else { rng.u32(10..=40) };
    let monthly = live_in || rng.bool();
    let pay = if monthly { f64::from(rng.u32(900..1600)) } else { f64::from(rng.u32(800..1300)) / 100.0 };
    let block_start = (k / BLOCK) * 3 * BLOCK;
    let hired = date_of(timestamp(block_start + k % BLOCK)) + Days::days(1);
    // A third of the contracts are fixed-term, for a year: their changes are extensions and
    // transformations to open-ended, which the CO carries too.
    let ends = (rng.u8(..3) == 0).then(|| hired + Days::days(365));
    Relationship {
        employer,
        employer_comune,
        worker,
        live_in,
        level,
        hours,
        monthly,
        pay,
        hired,
        ends,
        permit_number: format!("I{:09}", rng.u32(..1_000_000_000)),
    }
}

fn person_json(person: &Person, full: bool, residence: Option<(&str, &str)>) -> Value {
    let mut out = json!({
        "codice_fiscale": person.codice_fiscale,
        "cognome": person.family_name.to_uppercase(),
        "nome": person.given_name.to_uppercase(),
    });
    if full {
        out["sesso"] = json!(person.sex);
        out["data_nascita"] = json!(person.birth_date);
        out["luogo_nascita"] = json!(person.birth_place_code);
        out["cittadinanza"] = json!(person.citizenship);
        if let Some((comune, cap)) = residence {
            out["residenza"] = json!({ "codice_comune": comune, "cap": cap, "indirizzo": "VIA ROMA 1" });
        }
    }
    out
}

fn terms(r: &Relationship, hours: u32, pay: f64) -> Value {
    let (comune, cap) = r.employer_comune;
    let mut terms = json!({
        "data_inizio": r.hired.to_string(),
        "tipo_contratto": if r.ends.is_some() { "D" } else { "I" },
        "convivente": if r.live_in { "S" } else { "N" },
        "livello": r.level,
        "ore_settimanali": hours,
        "retribuzione": { "importo": pay, "periodicita": if r.monthly { "M" } else { "O" } },
        "sede_lavoro": { "codice_comune": comune, "cap": cap, "indirizzo": "VIA ROMA 1" },
    });
    if r.live_in {
        terms["vitto"] = json!("S");
        terms["alloggio"] = json!("S");
    }
    if let Some(ends) = r.ends {
        terms["data_fine"] = json!(ends.to_string());
    }
    terms
}

/// Record `index` as the e-service lists it: code, type, time and base64 payload.
pub fn record(seed: u64, index: u64, invalid_share: f64) -> Value {
    let block = index / (3 * BLOCK);
    let within = index % (3 * BLOCK);
    let (role, k) = (within / BLOCK, block * BLOCK + within % BLOCK);
    let r = relationship(seed, k);
    let ts = timestamp(index);
    let day = date_of(ts);
    // Every communication repeats the parties, as INPS's do (a CO of a change or a
    // termination needs them too).
    let mut lavoratore = person_json(&r.worker, true, Some(r.employer_comune));
    if r.worker.needs_permit() {
        lavoratore["permesso_soggiorno"] = json!({
            "tipo_documento": "1", "numero": r.permit_number, "motivo": "LS",
            "data_rilascio": (r.hired - Days::days(400)).to_string(),
            "data_scadenza": (r.hired + Days::days(700)).to_string(), "questura": "019",
        });
    }
    let mut rng = fastrand::Rng::with_seed(seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    if rng.f64() < invalid_share {
        // A codice fiscale whose check character is wrong: a typo INPS let through.
        let cf = r.worker.codice_fiscale.clone();
        let last = cf.chars().last().map_or('A', |c| if c == 'Z' { 'A' } else { char::from(c as u8 + 1) });
        lavoratore["codice_fiscale"] = json!(format!("{}{last}", &cf[..15]));
    }
    let mut payload = json!({
        "codice_rapporto": format!("4{k:010}"),
        "data_comunicazione": day.to_string(),
        "datore": person_json(&r.employer, true, Some(r.employer_comune)),
        "lavoratore": lavoratore,
    });
    let tipo = match role {
        0 => {
            payload["rapporto"] = terms(&r, r.hours, r.pay);
            "ASSUNZIONE"
        }
        1 => match r.ends {
            // A fixed-term contract is extended by a year, or made open-ended.
            Some(ends) if k % 2 == 0 => {
                let extended = Relationship { ends: Some(ends + Days::days(365)), ..r.clone() };
                payload["variazione"] =
                    json!({ "data_decorrenza": (ends + Days::days(1)).to_string(), "tipi": ["PROROGA"] });
                payload["rapporto"] = terms(&extended, r.hours, r.pay);
                "VARIAZIONE"
            }
            Some(_) => {
                let open_ended = Relationship { ends: None, ..r.clone() };
                payload["variazione"] =
                    json!({ "data_decorrenza": (day + Days::days(1)).to_string(), "tipi": ["TRASFORMAZIONE"] });
                payload["rapporto"] = terms(&open_ended, r.hours, r.pay);
                "VARIAZIONE"
            }
            None => {
                let hours = if r.live_in { r.hours.min(50) } else { (r.hours + 4).min(40) };
                let pay = if r.monthly { r.pay + 50.0 } else { r.pay + 0.5 };
                payload["variazione"] =
                    json!({ "data_decorrenza": (day + Days::days(1)).to_string(), "tipi": ["ORARIO", "RETRIBUZIONE"] });
                payload["rapporto"] = terms(&r, hours, pay);
                "VARIAZIONE"
            }
        },
        _ => {
            // The terms as they were when the employment ended (the CO's Cessazione repeats them).
            payload["rapporto"] = terms(&r, r.hours, r.pay);
            let reasons = ["DI", "LI", "RC", "DA"];
            payload["cessazione"] = json!({ "data_cessazione": (day + Days::days(1)).to_string(),
                "motivo": reasons[rng.usize(..reasons.len())], "preavviso": "S" });
            "CESSAZIONE"
        }
    };
    json!({
        "codice_comunicazione": format!("C{index:012}"),
        "tipo_comunicazione": tipo,
        "ts_comunicazione": DateTime::<Utc>::from_timestamp_millis(ts).map_or_else(String::new, |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "payload": STANDARD.encode(payload.to_string()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::assets::Assets;
    use crate::ingest::Catalog;

    #[test]
    fn records_translate_and_only_the_chosen_share_is_invalid() {
        let catalog = Catalog::load(&Assets::Embedded).unwrap();
        let profile = catalog.profile("inps-json").unwrap();
        let records: Vec<Value> = (0..600).map(|i| record(7, i, 0.02)).collect();
        let page = json!({ "elenco_comunicazioni": records }).to_string();
        let outcomes = catalog.to_canonical(profile, page.as_bytes(), "urn:raccordo:inps:INPS", "2026-11-28T00:00:00Z");
        assert_eq!(outcomes.len(), 600);
        let invalid: Vec<_> = outcomes.iter().filter(|o| !o.is_valid()).collect();
        for outcome in &invalid {
            assert!(outcome.diagnostics.iter().all(|d| d.code.id().starts_with("RAC-31")), "{:?}", outcome.diagnostics);
        }
        assert!((3..=30).contains(&invalid.len()), "{} invalid of 600", invalid.len());
        let types: HashSet<_> = outcomes.iter().filter_map(|o| o.message_type.clone()).collect();
        assert_eq!(types.len(), 3, "{types:?}");
    }

    #[test]
    fn records_depend_on_seed_and_position_only() {
        assert_eq!(record(1, 12345, 0.01), record(1, 12345, 0.01));
        assert_ne!(record(1, 12345, 0.01), record(2, 12345, 0.01));
        assert_eq!(first_after(0), 0);
        assert_eq!(first_after(timestamp(0)), 1);
        assert_eq!(first_after(timestamp(41) + 1), 42);
    }

    #[test]
    fn fault_specs_parse() {
        let faults: Faults = "5xx@2:3, 429@4:1, slow@1:500, token-ttl:2, token-expiry:1".parse().unwrap();
        assert_eq!(faults.token_expiry_secs, Some(1));
        assert_eq!(faults.server_errors.get(&2), Some(&3));
        assert_eq!(faults.too_many.get(&4), Some(&1));
        assert_eq!(faults.slow.get(&1), Some(&500));
        assert_eq!(faults.token_ttl_secs, Some(2));
        assert!("5xx@two:3".parse::<Faults>().is_err());
        assert!("boom".parse::<Faults>().is_err());
    }
}
