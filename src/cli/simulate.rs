//! `raccordo simulate parties` runs the example parties' receiving endpoints on 127.0.0.1;
//! `raccordo simulate traffic` sends realistic messages from them to a gateway. Together
//! with `raccordo serve` they show messages delivered end to end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::serve::load_config;
use super::Outcome;
use crate::error::{Error, ErrorCode};
use crate::ingest::Catalog;
use crate::simulate::generate::{Generator, TYPES};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the receiving endpoints of the configuration's parties that listen on 127.0.0.1.
    Parties(PartiesArgs),
    /// Send messages from the configuration's parties to a gateway.
    Traffic(TrafficArgs),
    /// Run a stand-in for PDND's token endpoint and INPS's e-service on 127.0.0.1.
    Inps(Box<InpsArgs>),
}

#[derive(Debug, clap::Args)]
pub struct InpsArgs {
    /// The configuration whose `[inps]` the simulator answers (client id, audience, keys).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Port on 127.0.0.1; default: the port of the configuration's `inps.eservice_url`.
    #[arg(long)]
    port: Option<u16>,
    /// Records the e-service holds.
    #[arg(long, default_value_t = 1000)]
    records: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of invalid records (a codice fiscale with a wrong check character), 0 to 1.
    #[arg(long, default_value_t = 0.01)]
    invalid_share: f64,
    /// Faults, comma-separated: 5xx@PAGE:COUNT, 429@PAGE:SECONDS, slow@PAGE:MS,
    /// token-ttl:SECONDS, token-expiry:SECONDS.
    #[arg(long, default_value = "")]
    faults: crate::simulate::inps::Faults,
    /// The client's public key (PEM) assertions must verify with; default: the public half
    /// of the configuration's `inps.pdnd.private_key`.
    #[arg(long, value_name = "FILE")]
    client_public_key: Option<PathBuf>,
    /// HTTPS certificate, key and client CA; default: the example PKI in the data folder,
    /// when the configuration's URL is https.
    #[arg(long, value_name = "FILE")]
    tls_certificate: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    tls_private_key: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PartiesArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Share of deliveries answered 503, to watch retries (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fail_share: f64,
}

#[derive(Debug, clap::Args)]
pub struct TrafficArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8470")]
    target: String,
    #[arg(long, default_value_t = 100)]
    messages: u64,
    /// Messages per second (0: as fast as answers come).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Share of messages made invalid on purpose (a wrong codice fiscale check character).
    #[arg(long, default_value_t = 0.1)]
    invalid_share: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(catalog: &Catalog, command: Command) -> Result<Outcome, Error> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))?;
    match command {
        Command::Parties(args) => runtime.block_on(parties(catalog, args)),
        Command::Traffic(args) => runtime.block_on(traffic(catalog, args)),
        Command::Inps(args) => runtime.block_on(inps(catalog, *args)),
    }
}

async fn inps(catalog: &Catalog, args: InpsArgs) -> Result<Outcome, Error> {
    use crate::simulate::inps::{serve, Settings, Simulator};
    let config = load_config(args.config.as_ref(), catalog)?;
    let inps = config.inps.clone().ok_or_else(|| Error::Pull {
        code: crate::error::ErrorCode::PullNotConfigured,
        reason: "the configuration has no [inps] section to simulate".into(),
    })?;
    let read = |path: &PathBuf| std::fs::read(path).map_err(|source| Error::Io { path: path.clone(), source });
    let unreadable = |path: &PathBuf| Error::Usage(format!("{}: not a PEM key", path.display()));
    let client_key = match &args.client_public_key {
        Some(path) => openssl::pkey::PKey::public_key_from_pem(&read(path)?).map_err(|_| unreadable(path))?,
        None => {
            let path = &inps.pdnd.private_key;
            let private = openssl::pkey::PKey::private_key_from_pem(&read(path)?).map_err(|_| unreadable(path))?;
            let pem = private.public_key_to_pem().map_err(|_| unreadable(path))?;
            openssl::pkey::PKey::public_key_from_pem(&pem).map_err(|_| unreadable(path))?
        }
    };
    let url_port = inps
        .eservice_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()));
    let port = args.port.or(url_port).unwrap_or(8490);
    let https = inps.eservice_url.starts_with("https://");
    let pki = config.data_dir.join("example-pki");
    let tls = https.then(|| crate::config::TlsConfig {
        certificate: args.tls_certificate.clone().unwrap_or_else(|| pki.join("server.crt")),
        private_key: args.tls_private_key.clone().unwrap_or_else(|| pki.join("server.key")),
        client_ca: Some(args.client_ca.clone().unwrap_or_else(|| pki.join("ca.crt"))),
    });
    let simulator = Simulator::new(Settings {
        records: args.records,
        seed: args.seed,
        invalid_share: args.invalid_share.clamp(0.0, 1.0),
        faults: args.faults,
        client_key,
        client_id: Some(inps.pdnd.client_id.clone()),
        audience: inps.pdnd.audience.clone(),
        require_client_certificate: https,
    });
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| Error::coded(ErrorCode::ListenFailed, format!("cannot listen on {address}: {error}")))?;
    let scheme = if https { "https" } else { "http" };
    println!(
        "INPS simulator on {scheme}://{address}: {} records (seed {}); token endpoint /token.oauth2, e-service /comunicazioni; Ctrl-C stops",
        args.records, args.seed
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, simulator, tls.as_ref(), shutdown).await?;
    Ok(Outcome::Success)
}

async fn parties(catalog: &Catalog, args: PartiesArgs) -> Result<Outcome, Error> {
    let config = load_config(args.config.as_ref(), catalog)?;
    let mut servers = Vec::new();
    for party in &config.parties {
        let Some(receives) = &party.receives else { continue };
        let Some(address) = loopback_address(&receives.endpoint) else {
            println!("{}: {} is not on 127.0.0.1, skipped", party.id, receives.endpoint);
            continue;
        };
        let path = receives.endpoint.splitn(4, '/').nth(3).map_or("/".to_owned(), |p| format!("/{p}"));
        let counter = Arc::new(AtomicU64::new(0));
        let name = party.id.clone();
        let urn = party.urn();
        let fail_share = args.fail_share;
        let app = Router::new().route(
            &path,
            post(move |headers: HeaderMap, body: Bytes| {
                let counter = Arc::clone(&counter);
                let name = name.clone();
                let urn = urn.clone();
                async move {
                    if fastrand::f64() < fail_share {
                        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": 503 }))).into_response();
                    }
                    let count = counter.fetch_add(1, Ordering::Relaxed) + 1;
                    let message_id = headers.get("raccordo-message-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let profile = headers.get("raccordo-profile").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    println!("{name}: received #{count} ({profile}, {} bytes, message {message_id})", body.len());
                    let now = crate::clock::Clock::System.now_rfc3339();
                    let receipt = json!({
                        "specversion": "1.0", "id": format!("ack-{}", uuid::Uuid::now_v7().simple()), "source": urn,
                        "type": "it.raccordo.receipt.v1", "time": now,
                        "dataschema": "https://raccordo.github.io/schemas/standard/receipt.v1.schema.json",
                        "datacontenttype": "application/json",
                        "data": { "messageId": message_id, "messageSource": "urn:raccordo:gateway:raccordo", "status": "accepted", "receivedAt": now }
                    });
                    (StatusCode::OK, Json(receipt)).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| Error::coded(ErrorCode::ListenFailed, format!("cannot listen on {address}: {error}")))?;
        println!("{} ({}) listening on {}", party.id, receives.profile, receives.endpoint);
        servers.push(tokio::spawn(async move { axum::serve(listener, app).await }));
    }
    if servers.is_empty() {
        return Err(Error::Usage("no party of the configuration receives on 127.0.0.1".into()));
    }
    let _ = tokio::signal::ctrl_c().await;
    Ok(Outcome::Success)
}

fn loopback_address(endpoint: &str) -> Option<SocketAddr> {
    let authority = endpoint.strip_prefix("http://")?.split('/').next()?;
    let address: SocketAddr = authority.parse().ok()?;
    address.ip().is_loopback().then_some(address)
}

async fn traffic(catalog: &Catalog, args: TrafficArgs) -> Result<Outcome, Error> {
    let config = load_config(args.config.as_ref(), catalog)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut generator = Generator::new(args.seed);
    let mut rng = fastrand::Rng::with_seed(args.seed);
    // For each type, the example parties that may send it in canonical form, with a token.
    let senders: Vec<(&str, Vec<&crate::config::PartyConfig>)> = TYPES
        .iter()
        .map(|(name, kind)| {
            let parties = config
                .parties
                .iter()
                .filter(|p| p.kind.as_str() == *kind && p.may_send("canonical", name) && !p.auth.tokens.is_empty())
                .collect();
            (*name, parties)
        })
        .filter(|(_, parties): &(&str, Vec<_>)| !parties.is_empty())
        .collect();
    if senders.is_empty() {
        return Err(Error::Usage("no party of the configuration may send canonical messages with a token".into()));
    }
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    let url = format!("{}/v1/messages", args.target.trim_end_matches('/'));
    for index in 0..args.messages {
        if args.rate > 0.0 {
            let due = Duration::from_secs_f64(index as f64 / args.rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let (name, parties) = &senders[index as usize % senders.len()];
        let party = parties[rng.usize(..parties.len())];
        let Some(mut message) = generator.message(name) else { continue };
        message["source"] = json!(party.urn());
        let invalid = rng.f64() < args.invalid_share;
        if invalid {
            break_a_codice_fiscale(&mut message);
        }
        let answer = client
            .post(&url)
            .bearer_auth(&party.auth.tokens[0])
            .header("content-type", "application/json")
            .json(&message)
            .send()
            .await;
        let key = match answer {
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(error) => format!("error: {}", error.without_url()),
        };
        *outcomes.entry(key).or_default() += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("sent {} messages in {seconds:.1} s to {url}", args.messages);
    for (outcome, count) in &outcomes {
        let meaning = match outcome.as_str() {
            "HTTP 202" => " accepted",
            "HTTP 422" => " rejected as invalid",
            _ => "",
        };
        println!("  {outcome}{meaning}: {count}");
    }
    Ok(Outcome::Success)
}

/// Changes the check character of the first codice fiscale found, so the message fails
/// validation with RAC-3101.
fn break_a_codice_fiscale(message: &mut Value) {
    fn visit(value: &mut Value) -> bool {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if key.to_lowercase().contains("codicefiscale") {
                        if let Value::String(code) = child {
                            if code.len() == 16 {
                                let last = code.pop().unwrap_or('A');
                                code.push(if last == 'A' { 'B' } else { 'A' });
                                return true;
                            }
                        }
                    }
                    if visit(child) {
                        return true;
                    }
                }
                false
            }
            Value::Array(items) => items.iter_mut().any(visit),
            _ => false,
        }
    }
    visit(message);
}
