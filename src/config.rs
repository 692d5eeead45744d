//! The gateway's configuration: one TOML file (listen address, storage, limits, delivery
//! policy, parties, routes). Doc comments on these structs are the user documentation;
//! `config/example.toml` is the bundled example `raccordo serve` starts with.
//!
//! Loading checks everything it can before anything starts: TOML syntax and unknown keys
//! (with the line), then meaning (profiles and types that exist, parties that routes name,
//! unique ids and tokens), each error naming the file, the key and the reason.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::ingest::{Catalog, CANONICAL};

/// The example configuration, compiled in: one party of each kind on 127.0.0.1.
pub const EXAMPLE: &str = include_str!("../config/example.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the SQLite database lives when `storage.url` is not given.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Serve HTTPS, and with `client_ca` require client certificates (mTLS).
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub parties: Vec<PartyConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// People and tools that operate the gateway: they may list and replay dead letters.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
    /// The operator console served at `/console/`.
    #[serde(default)]
    pub console: ConsoleConfig,
    /// Pulling INPS's domestic-work communications through PDND. Absent: nothing is pulled.
    pub inps: Option<InpsConfig>,
    /// Signed messages (ModI INTEGRITY_REST_01): raccordo's signing identity, and the CAs
    /// signers' certificates must chain to.
    pub signing: Option<SigningConfig>,
    /// How long message payloads are kept, and when `serve` purges older ones.
    pub retention: Option<RetentionConfig>,
    /// Signed checkpoints of the audit log's head, kept outside the database.
    pub audit: Option<AuditConfig>,
}

/// Where and when the audit log's head is checkpointed: signed with `[signing]`'s key and
/// appended to a file or POSTed to a URL, outside the database (docs/SECURITY.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The file checkpoints are appended to, one compact JWS a line; keep it (or a copy)
    /// where the database's writers can't change it.
    pub checkpoint_file: Option<PathBuf>,
    /// A URL each checkpoint is POSTed to as JSON (`{"checkpoint": "<JWS>", ...}`).
    pub checkpoint_url: Option<String>,
    /// When `serve` makes one: a cron expression with seconds, in Europe/Rome time.
    pub checkpoint_schedule: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days payloads of a type (short name) are kept after they are received.
    #[serde(default)]
    pub days: std::collections::BTreeMap<String, u32>,
    /// Days for types not in `days`; without it they are kept.
    pub default_days: Option<u32>,
    /// When `serve` purges: a cron expression with seconds, in Europe/Rome time.
    pub schedule: Option<String>,
    /// Types whose payloads the law requires to keep: `raccordo subject erase` leaves them.
    #[serde(default)]
    pub legal_hold: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// PEM certificate chain (leaf first) raccordo signs its deliveries with.
    pub certificate: PathBuf,
    /// Its PEM private key. Never logged.
    pub private_key: PathBuf,
    /// PEM CAs the certificates of signing parties must chain to.
    #[serde(default)]
    pub trusted_ca: Vec<PathBuf>,
    /// This gateway's identity in signatures: the `aud` incoming signatures must name, and
    /// the `iss` of raccordo's own.
    pub audience: String,
}

/// The INPS pull: where the e-service is, how to get a PDND voucher for it, when to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InpsConfig {
    /// The party (of kind `inps`) the communications come from: they carry its URN as
    /// `source` and are routed as what it sends.
    pub party: String,
    /// When `serve` pulls: a cron expression with seconds (`sec min hour day-of-month month
    /// day-of-week`), in Europe/Rome time. Without it only `raccordo inps pull` pulls.
    pub schedule: Option<String>,
    /// The e-service's list of communications: `GET <url>?since=<unix ms>&limit=<n>`.
    pub eservice_url: String,
    /// The profile of the e-service's pages.
    #[serde(default = "default_pull_profile")]
    pub profile: String,
    /// Records asked for per page, 1 to 100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Where the first run starts when no cursor is stored yet (RFC 3339 instant or
    /// `yyyy-mm-dd`); without it, from the beginning of the e-service's records.
    pub start: Option<String>,
    /// Time allowed for one request to INPS or PDND.
    #[serde(default = "default_pull_timeout")]
    pub timeout_secs: u64,
    /// Attempts at one request through 5xx, 429 and timeouts before the run fails.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; each retry doubles it, with jitter, up to `backoff_max_secs`
    /// (a `Retry-After` is honoured up to that too).
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_pull_backoff_max")]
    pub backoff_max_secs: u64,
    pub pdnd: PdndConfig,
    /// TLS towards INPS and the token endpoint: a CA to trust besides the system's, and the
    /// client certificate raccordo presents.
    pub tls: Option<ClientTlsConfig>,
}

/// A PDND Interoperabilità client (docs/SECURITY.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdndConfig {
    /// The authorization server's token endpoint (`https://auth.interop.pagopa.it/token.oauth2`
    /// in production).
    pub token_url: String,
    /// The `aud` of client assertions (`auth.interop.pagopa.it/client-assertion` in
    /// production).
    pub audience: String,
    /// The client id PDND gave this gateway's client (a UUID); `iss` and `sub` of assertions.
    pub client_id: String,
    /// The purpose (finalità) the e-service is used for (a UUID); `purposeId` of assertions.
    pub purpose_id: String,
    /// The id PDND gave the public key registered for the client (`kid` of assertions).
    pub kid: String,
    /// The RSA private key (PEM) whose public half is registered on PDND. Never logged.
    pub private_key: PathBuf,
    /// Get a new voucher this many seconds before the cached one expires.
    #[serde(default = "default_renew_before")]
    pub renew_before_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// CA (PEM) the servers' certificates must chain to, besides the system's.
    pub server_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) raccordo presents.
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
}

/// Someone who operates the gateway: through the API with a bearer token, or in the
/// operator console (`/console/`), signing in with the same token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Unique; the audit log names the operator's console actions by it.
    pub name: String,
    /// Bearer tokens of this operator, at least 16 characters. Removing one ends the
    /// console sessions opened with it.
    pub tokens: Vec<String>,
    /// Party ids this operator sees, in the console and the API: messages they sent or
    /// receive, deliveries to them, their endpoints' health. Empty: every party.
    #[serde(default)]
    pub parties: Vec<String>,
    /// Message types (short names) this operator sees. Empty: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Whether the operator may search messages by codice fiscale in the console (through
    /// the blind index, so `storage.encryption.index_key` is needed too). Off by default:
    /// finding every message about one person is a data subject's business, not routine.
    #[serde(default)]
    pub codice_fiscale_search: bool,
}

/// The operator console.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Minutes a console session lasts from sign-in, whatever is done in it (8 hours by
    /// default); then the operator signs in again.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { session_minutes: default_session_minutes() }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`. Default: a SQLite file in
    /// `data_dir`. Several gateway instances share one PostgreSQL database.
    pub url: Option<String>,
    /// Encrypt message payloads at rest (AES-256-GCM). Without it they are stored as sent.
    pub encryption: Option<EncryptionConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Data keys, the current one first; older ones after it keep old payloads readable
    /// (rotation: put a new key first, keep the old ones).
    pub keys: Vec<KeyConfig>,
    /// The key of the blind index of codici fiscali (HMAC-SHA-256), a key of its own: with
    /// it, a data subject's export or erasure finds its rows by index instead of opening
    /// every payload. Changing it needs `raccordo storage upgrade` to index rows again.
    pub index_key: Option<KeyConfig>,
}

/// A 32-byte data key, written as 64 hex digits or base64, read from a file or from an
/// environment variable (exactly one of the two).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// A short name stored with every payload it seals.
    pub id: String,
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body accepted, in bytes (413 above).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    #[serde(default = "default_xml_depth")]
    pub max_xml_depth: usize,
    #[serde(default = "default_xml_elements")]
    pub max_xml_elements: usize,
    /// A request taking longer than this is answered 408 (slow clients included).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Requests per second each party may send (sustained); none: no rate limit. A
    /// party's own `limits` overrides these three.
    pub party_requests_per_second: Option<u32>,
    /// Requests a party may send at once above its rate (default: the rate).
    pub party_burst: Option<u32>,
    /// Requests of one party in flight at once; none: no limit.
    pub party_concurrent_requests: Option<u32>,
}

/// A party's own limits, overriding `[limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyLimitsConfig {
    pub requests_per_second: Option<u32>,
    pub burst: Option<u32>,
    pub concurrent_requests: Option<u32>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: default_max_body(),
            max_xml_depth: default_xml_depth(),
            max_xml_elements: default_xml_elements(),
            request_timeout_secs: default_request_timeout(),
            party_requests_per_second: None,
            party_burst: None,
            party_concurrent_requests: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Deliveries sent at the same time by one gateway instance. It also sizes the batches
    /// the instance claims (at least this many, up to twice as many held), so it sets how
    /// many deliveries one claim and one finish transaction carry (docs/PERFORMANCE.md).
    #[serde(default = "default_workers")]
    pub concurrency: usize,
    /// Time allowed for one delivery request.
    #[serde(default = "default_delivery_timeout")]
    pub timeout_secs: u64,
    /// Attempts before a delivery becomes a dead letter.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; each retry doubles it, with jitter, up to `backoff_max_secs`.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub backoff_max_secs: u64,
    /// How long an instance owns a claimed delivery; after a crash another instance takes
    /// it over when this expires. A claimed delivery may wait for one request before its
    /// own, so this should be more than twice `timeout_secs` (60 against 10 by default).
    #[serde(default = "default_lease")]
    pub lease_secs: u64,
    /// How often an idle worker looks for due deliveries.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            concurrency: default_workers(),
            timeout_secs: default_delivery_timeout(),
            max_attempts: default_max_attempts(),
            backoff_initial_ms: default_backoff_initial(),
            backoff_max_secs: default_backoff_max(),
            lease_secs: default_lease(),
            poll_interval_ms: default_poll(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain the gateway presents.
    pub certificate: PathBuf,
    /// PEM private key of that certificate.
    pub private_key: PathBuf,
    /// PEM CA certificates client certificates must chain to. Without it, clients are not
    /// asked for certificates and authenticate with tokens.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyConfig {
    /// Short identifier used in routes and the API, e.g. `cpi-cremona`.
    pub id: String,
    pub kind: PartyKind,
    /// The party's code within its kind; its URN (the envelope `source`) is
    /// `urn:raccordo:<kind>:<code>`.
    pub code: String,
    pub name: String,
    /// What the party may send: profiles (including `canonical`) and message types (all
    /// when empty).
    #[serde(default)]
    pub sends: SendsConfig,
    /// Where and how the party receives messages; absent for parties that only send.
    pub receives: Option<ReceivesConfig>,
    /// The party's code in the official registers its formats carry, which mappings
    /// write where a party format names the sender or the recipient: a CPI's ministry code
    /// (the SAP's `codiceentetit`, e.g. `D150C000123`), a Comune's Belfiore code (SIUSS
    /// `Ente/@Codice`). Optional; a profile that needs it says so (docs/STANDARD.md,
    /// `PRF-…` requirements).
    pub entity_code: Option<String>,
    /// Comuni (Belfiore codes) the party serves, for routes conditioned on them.
    #[serde(default)]
    pub comuni: Vec<String>,
    #[serde(default)]
    pub auth: AuthConfig,
    /// This party's rate and concurrency limits, overriding `[limits]`.
    pub limits: Option<PartyLimitsConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyKind {
    Cpi,
    Social,
    Sui,
    Inps,
}

impl PartyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Cpi => "cpi",
            PartyKind::Social => "social",
            PartyKind::Sui => "sui",
            PartyKind::Inps => "inps",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendsConfig {
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub types: Vec<String>,
    /// Require a ModI signature (`Digest` and `Agid-JWT-Signature`) on what the party sends.
    #[serde(default)]
    pub signed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceivesConfig {
    /// The profile deliveries are written in (`canonical` for the standard itself).
    pub profile: String,
    /// The URL deliveries are POSTed to.
    pub endpoint: String,
    /// Client certificate and key (PEM) raccordo presents to this endpoint.
    pub client_certificate: Option<PathBuf>,
    pub client_private_key: Option<PathBuf>,
    /// CA (PEM) the endpoint's certificate must chain to, besides the system's.
    pub server_ca: Option<PathBuf>,
    /// Bearer token raccordo sends to this endpoint.
    pub token: Option<String>,
    /// Sign deliveries to this party (ModI INTEGRITY_REST_01) with `[signing]`'s key.
    #[serde(default)]
    pub signed: bool,
    /// The `aud` of those signatures; default: the endpoint URL.
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Bearer tokens that identify this party (development setups).
    #[serde(default)]
    pub tokens: Vec<String>,
    /// SHA-256 fingerprints (hex, colons optional) of client certificates that identify
    /// this party.
    #[serde(default)]
    pub certificate_sha256: Vec<String>,
}

/// Which messages go to which parties.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Message types (short names) this route carries.
    pub types: Vec<String>,
    /// Recipient party ids.
    pub to: Vec<String>,
    /// Conditions on the content; all must hold for a recipient.
    #[serde(default)]
    pub when: Vec<ConditionConfig>,
    /// Deliver messages about the same subject (the value at this pointer) to each
    /// recipient one at a time, in the order they were accepted.
    pub order_by: Option<String>,
    /// The fields its recipients may receive (least data): JSON pointers under `/data`; a
    /// pointer to an object keeps all of it. Empty: every field. The envelope always goes.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Whether a recipient whose profile can't write a message may be skipped. By default
    /// (false) such a message is refused as a whole at intake (422, naming the recipient's
    /// profile, the field and the requirement), since it could never be delivered; with
    /// `optional = true` it is accepted for the others, and the message's timeline records
    /// why this recipient was skipped.
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// JSON pointer into the canonical message.
    pub pointer: String,
    /// The value is a citizenship (ISTAT state code) outside the EU, EEA and Switzerland.
    #[serde(default)]
    pub non_eu: bool,
    /// The value is a comune the recipient serves (its `comuni`).
    #[serde(default)]
    pub in_recipient_comuni: bool,
    /// The value equals this text.
    pub equals: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8470))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_max_body() -> u64 {
    crate::formats::DEFAULT_MAX_MESSAGE_BYTES
}
fn default_xml_depth() -> usize {
    64
}
fn default_xml_elements() -> usize {
    100_000
}
fn default_request_timeout() -> u64 {
    30
}
fn default_workers() -> usize {
    32
}
fn default_delivery_timeout() -> u64 {
    10
}
fn default_max_attempts() -> u32 {
    8
}
fn default_backoff_initial() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    300
}
fn default_lease() -> u64 {
    60
}
fn default_poll() -> u64 {
    200
}
fn default_pull_profile() -> String {
    "inps-json".into()
}
fn default_page_size() -> u32 {
    100
}
fn default_pull_timeout() -> u64 {
    30
}
fn default_pull_backoff_max() -> u64 {
    60
}
fn default_renew_before() -> u64 {
    60
}
fn default_session_minutes() -> u32 {
    480
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path, catalog: &Catalog) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        Config::parse(&text, &path.display().to_string(), catalog)
    }

    /// Parses and checks configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str, catalog: &Catalog) -> Result<Config, Error> {
        let config: Config = toml::from_str(text).map_err(|error| {
            let line = error.span().map_or(1, |span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            Error::Config { file: file.to_owned(), key: format!("line {line}"), reason: error.message().to_owned() }
        })?;
        let mut problems = config.check(catalog);
        match problems.len() {
            0 => Ok(config),
            1 => {
                let (key, reason) = problems.remove(0);
                Err(Error::Config { file: file.to_owned(), key, reason })
            }
            _ => Err(Error::ConfigProblems { file: file.to_owned(), problems }),
        }
    }

    /// The storage URL, defaulting to a SQLite file in `data_dir`.
    /// Where the store is, for messages: the SQLite file, or the PostgreSQL host and
    /// database without credentials.
    pub fn storage_display(&self) -> String {
        let url = self.storage_url();
        match url.split_once('@') {
            Some((scheme_and_user, rest)) => {
                let scheme = scheme_and_user.split_once("://").map_or("postgres", |(scheme, _)| scheme);
                format!("{scheme}://{}", rest.split('?').next().unwrap_or(rest))
            }
            None => url.split('?').next().unwrap_or(&url).to_owned(),
        }
    }

    pub fn storage_url(&self) -> String {
        match &self.storage.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("raccordo.db").display()),
        }
    }

    fn check(&self, catalog: &Catalog) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut ids = HashSet::new();
        let mut urns = HashSet::new();
        let mut tokens = HashSet::new();
        let profile_exists = |name: &str| name == CANONICAL || catalog.profiles.get(name).is_some();
        for (index, party) in self.parties.iter().enumerate() {
            let key = |field: &str| format!("parties[{index}].{field}");
            if !ids.insert(party.id.as_str()) {
                problems.push((key("id"), format!("the id {:?} is used twice", party.id)));
            }
            let valid_code = !party.code.is_empty()
                && party.code.len() <= 64
                && party.code.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !valid_code {
                problems.push((key("code"), "letters, digits, '.', '_' and '-' only, at most 64".into()));
            }
            if !urns.insert(party.urn()) {
                problems.push((key("code"), format!("another party has the URN {}", party.urn())));
            }
            for profile in &party.sends.profiles {
                if !profile_exists(profile) {
                    problems.push((key("sends.profiles"), format!("no profile {profile:?} (see `raccordo profiles`)")));
                }
            }
            for message_type in &party.sends.types {
                if catalog.standard.message_type(message_type).is_none() {
                    problems.push((key("sends.types"), format!("no message type {message_type:?}")));
                }
            }
            if let Some(receives) = &party.receives {
                if !profile_exists(&receives.profile) {
                    problems.push((key("receives.profile"), format!("no profile {:?}", receives.profile)));
                }
                if !(receives.endpoint.starts_with("http://") || receives.endpoint.starts_with("https://")) {
                    problems.push((key("receives.endpoint"), "an http:// or https:// URL".into()));
                }
                if receives.client_certificate.is_some() != receives.client_private_key.is_some() {
                    problems.push((key("receives"), "client_certificate and client_private_key go together".into()));
                }
            }
            for token in &party.auth.tokens {
                if token.len() < 16 {
                    problems.push((key("auth.tokens"), "a token needs at least 16 characters".into()));
                }
                if !tokens.insert(token.as_str()) {
                    problems.push((key("auth.tokens"), "a token is used by two parties".into()));
                }
            }
            for comune in &party.comuni {
                if !catalog.standard.tables().is_comune(comune) {
                    problems.push((key("comuni"), format!("{comune:?} is not a Belfiore code of a comune")));
                }
            }
        }
        for (index, route) in self.routes.iter().enumerate() {
            let key = |field: &str| format!("routes[{index}].{field}");
            for message_type in &route.types {
                if catalog.standard.message_type(message_type).is_none() {
                    problems.push((key("types"), format!("no message type {message_type:?}")));
                }
            }
            for recipient in &route.to {
                let receives = match self.parties.iter().find(|party| &party.id == recipient) {
                    None => {
                        problems.push((key("to"), format!("no party {recipient:?}")));
                        continue;
                    }
                    Some(party) => match &party.receives {
                        None => {
                            problems.push((key("to"), format!("party {recipient:?} has no `receives`")));
                            continue;
                        }
                        Some(receives) => receives,
                    },
                };
                // Every message the route sends must be writable in the recipient's profile,
                // or each would end as a dead letter.
                if let Some(profile) = catalog.profiles.get(&receives.profile) {
                    if let Some(missing) = route.types.iter().find(|t| !profile.writes(t)) {
                        problems.push((
                            key("to"),
                            format!(
                                "party {recipient:?} receives profile {}, which does not write {missing}",
                                profile.name
                            ),
                        ));
                    }
                }
            }
            for (condition_index, condition) in route.when.iter().enumerate() {
                if !condition.pointer.starts_with('/') {
                    problems
                        .push((format!("routes[{index}].when[{condition_index}].pointer"), "a JSON pointer".into()));
                }
                let tests = [condition.non_eu, condition.in_recipient_comuni, condition.equals.is_some()];
                if tests.iter().filter(|t| **t).count() != 1 {
                    problems.push((
                        format!("routes[{index}].when[{condition_index}]"),
                        "one test: non_eu, in_recipient_comuni or equals".into(),
                    ));
                }
            }
            if route.order_by.as_deref().is_some_and(|p| !p.starts_with('/')) {
                problems.push((key("order_by"), "a JSON pointer".into()));
            }
            if let Some(field) = route.fields.iter().find(|f| !f.starts_with("/data/")) {
                problems.push((key("fields"), format!("{field:?} is not a JSON pointer under /data")));
            }
        }
        let mut operator_names = HashSet::new();
        for (index, operator) in self.operators.iter().enumerate() {
            let key = |field: &str| format!("operators[{index}].{field}");
            if !operator_names.insert(operator.name.as_str()) {
                problems.push((key("name"), format!("the name {:?} is used twice", operator.name)));
            }
            for token in &operator.tokens {
                if token.len() < 16 || !tokens.insert(token.as_str()) {
                    problems.push((key("tokens"), "tokens need 16 characters and must be unique".into()));
                }
            }
            for party in &operator.parties {
                if !self.parties.iter().any(|p| &p.id == party) {
                    problems.push((key("parties"), format!("no party {party:?}")));
                }
            }
            for message_type in &operator.types {
                if catalog.standard.message_type(message_type).is_none() {
                    problems.push((key("types"), format!("no message type {message_type:?}")));
                }
            }
            if operator.codice_fiscale_search
                && self.storage.encryption.as_ref().is_none_or(|encryption| encryption.index_key.is_none())
            {
                problems.push((
                    key("codice_fiscale_search"),
                    "searching by codice fiscale needs the blind index: storage.encryption.index_key".into(),
                ));
            }
        }
        if !(1..=10_080).contains(&self.console.session_minutes) {
            problems.push(("console.session_minutes".into(), "from 1 to 10080 (a week)".into()));
        }
        if self.delivery.concurrency == 0 || self.delivery.max_attempts == 0 {
            problems.push(("delivery".into(), "concurrency and max_attempts must be at least 1".into()));
        }
        if let Some(encryption) = &self.storage.encryption {
            let mut ids = HashSet::new();
            if encryption.keys.is_empty() {
                problems.push(("storage.encryption.keys".into(), "at least one key".into()));
            }
            for (index, key) in encryption.keys.iter().enumerate() {
                let name = format!("storage.encryption.keys[{index}]");
                let valid_id = !key.id.is_empty()
                    && key.id.len() <= 32
                    && key.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !valid_id || !ids.insert(key.id.as_str()) {
                    problems.push((format!("{name}.id"), "unique, letters, digits, '-' and '_', at most 32".into()));
                }
                if key.file.is_some() == key.env.is_some() {
                    problems.push((name, "give exactly one of file and env".into()));
                }
            }
        }
        if let Some(inps) = &self.inps {
            self.check_inps(inps, catalog, &mut problems);
        }
        if let Some(retention) = &self.retention {
            for name in retention.days.keys().chain(retention.legal_hold.iter()) {
                if catalog.standard.message_type(name).is_none() {
                    problems.push(("retention".into(), format!("no message type {name:?}")));
                }
            }
            if let Some(Err(reason)) = retention.schedule.as_deref().map(crate::schedule::check) {
                problems.push(("retention.schedule".into(), reason));
            }
        }
        if let Some(audit) = &self.audit {
            if audit.checkpoint_file.is_none() && audit.checkpoint_url.is_none() {
                problems.push(("audit".into(), "name a checkpoint_file or a checkpoint_url".into()));
            }
            if self.signing.is_none() {
                problems
                    .push(("audit".into(), "checkpoints are signed with [signing]'s key: [signing] is needed".into()));
            }
            if let Some(Err(reason)) = audit.checkpoint_schedule.as_deref().map(crate::schedule::check) {
                problems.push(("audit.checkpoint_schedule".into(), reason));
            }
        }
        let signs = self.parties.iter().any(|p| p.sends.signed || p.receives.as_ref().is_some_and(|r| r.signed));
        if signs && self.signing.is_none() {
            problems.push(("signing".into(), "parties send or receive signed messages: [signing] is needed".into()));
        }
        problems
    }

    fn check_inps(&self, inps: &InpsConfig, catalog: &Catalog, problems: &mut Vec<(String, String)>) {
        let key = |name: &str| format!("inps.{name}");
        match self.parties.iter().find(|p| p.id == inps.party) {
            None => problems.push((key("party"), format!("no party {:?}", inps.party))),
            Some(party) if party.kind != PartyKind::Inps => {
                problems.push((key("party"), format!("party {:?} is not of kind inps", inps.party)));
            }
            Some(_) => {}
        }
        if catalog.profile(&inps.profile).is_err() {
            problems.push((key("profile"), format!("no profile {:?}", inps.profile)));
        }
        if let Some(Err(reason)) = inps.schedule.as_deref().map(crate::schedule::check) {
            problems.push((key("schedule"), reason));
        }
        if !(1..=100).contains(&inps.page_size) {
            problems.push((key("page_size"), "from 1 to 100".into()));
        }
        if inps.start.as_deref().is_some_and(|start| crate::clock::parse_instant(start).is_none()) {
            problems.push((key("start"), "an RFC 3339 instant or yyyy-mm-dd".into()));
        }
        for (name, url) in [("eservice_url", &inps.eservice_url), ("pdnd.token_url", &inps.pdnd.token_url)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push((key(name), "an http:// or https:// URL".into()));
            }
        }
        if inps.max_attempts == 0 {
            problems.push((key("max_attempts"), "at least 1".into()));
        }
        if let Some(tls) = &inps.tls {
            if tls.certificate.is_some() != tls.private_key.is_some() {
                problems.push((key("tls"), "certificate and private_key go together".into()));
            }
        }
    }
}

impl PartyConfig {
    pub fn urn(&self) -> String {
        format!("urn:raccordo:{}:{}", self.kind.as_str(), self.code)
    }

    /// Whether the party may send this profile and type.
    pub fn may_send(&self, profile: &str, message_type: &str) -> bool {
        self.sends.profiles.iter().any(|p| p == profile)
            && (self.sends.types.is_empty() || self.sends.types.iter().any(|t| t == message_type))
    }
}
