//! The running gateway: a checked [`Config`] compiled once into what the runtime uses
//! (parties indexed by token and certificate, routes with their conditions and
//! projections, every key and certificate loaded), with the catalog, the store, the clock,
//! the id generator, the metrics and the per-party limits. The HTTP API, the delivery
//! workers, the INPS pull and the retention purge all run on one `Gateway`; none of them
//! owns it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslContext, SslFiletype, SslMethod, SslVerifyMode};

use crate::checkpoint::CheckpointKey;
use crate::clock::{Clock, Ids};
use crate::config::{Config, KeyConfig, SigningConfig, TlsConfig};
use crate::error::{Error, ErrorCode};
use crate::ingest::Catalog;
use crate::intake::Intake;
use crate::limits::PartyLimits;
use crate::parties::Directory;
use crate::routing::Routes;
use crate::store::seal::Sealer;
use crate::store::Store;
use crate::telemetry::{Metrics, WriteLockReader};

/// The gateway's runtime, shared by everything that serves, delivers, pulls or purges.
pub struct Gateway {
    pub catalog: Catalog,
    pub config: Config,
    pub parties: Directory,
    pub routes: Routes,
    pub store: Store,
    pub clock: Clock,
    pub ids: Ids,
    /// The gateway's URN, `source` of its receipts.
    pub urn: String,
    pub metrics: Metrics,
    /// Per-party rate and concurrency limits.
    pub limits: PartyLimits,
    pub keys: Keys,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("urn", &self.urn).finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over `store`, reading the system clock and making random ids: compiles the
    /// configuration and loads its keys (a sealer configured in `[storage.encryption]` is
    /// the store's business: open the store with [`sealer`]).
    pub fn new(catalog: Catalog, config: Config, store: Store, urn: impl Into<String>) -> Result<Arc<Gateway>, Error> {
        Gateway::build(catalog, config, store, urn).map(Arc::new)
    }

    /// `new`, not yet shared, so a test can set its clock and ids first.
    pub fn build(catalog: Catalog, config: Config, store: Store, urn: impl Into<String>) -> Result<Gateway, Error> {
        let keys = Keys::load(&config)?;
        Ok(Gateway::assemble(catalog, config, store, urn.into(), keys))
    }

    /// Loads every key first (all problems reported together), then opens the store (with
    /// the sealer, running migrations) and compiles the rest.
    pub async fn open(catalog: Catalog, config: Config, urn: impl Into<String>) -> Result<Arc<Gateway>, Error> {
        let (sealer, keys) = match (sealer(&config), Keys::load(&config)) {
            (Ok(sealer), Ok(keys)) => (sealer, keys),
            (Err(error), Ok(_)) | (Ok(_), Err(error)) => return Err(error),
            (Err(sealing), Err(others)) => {
                let mut problems = vec![problem(&sealing)];
                match others {
                    Error::ConfigProblems { problems: more, .. } => problems.extend(more),
                    other => problems.push(problem(&other)),
                }
                return Err(Error::ConfigProblems { file: "config".into(), problems });
            }
        };
        let store = Store::open_sealed(&config.storage_url(), sealer).await?;
        Ok(Arc::new(Gateway::assemble(catalog, config, store, urn.into(), keys)))
    }

    /// A gateway with `keys` given rather than loaded (`Keys::default()`: none, for tests of
    /// what needs no key).
    pub fn assemble(catalog: Catalog, config: Config, store: Store, urn: String, keys: Keys) -> Gateway {
        // The configuration's limits are the ones every decoder applies.
        let mut catalog = catalog;
        catalog.limits.max_xml_depth = config.limits.max_xml_depth;
        catalog.limits.max_xml_elements = config.limits.max_xml_elements;
        catalog.limits.max_message_bytes = config.limits.max_body_bytes;
        let metrics = Metrics::with_write_lock(
            store.write_lock_use().map(|used| -> WriteLockReader { Box::new(move || used.reading()) }),
        );
        Gateway {
            parties: Directory::compile(&config),
            routes: Routes::compile(&config),
            limits: PartyLimits::new(&config),
            catalog,
            config,
            store,
            clock: Clock::System,
            ids: Ids::Random,
            urn,
            metrics,
            keys,
        }
    }

    /// The intake, over this gateway's catalog, configuration, store, clock and ids.
    pub fn intake(&self) -> Intake<'_> {
        Intake {
            catalog: &self.catalog,
            parties: &self.parties,
            routes: &self.routes,
            store: &self.store,
            clock: &self.clock,
            ids: &self.ids,
            gateway: &self.urn,
        }
    }
}

/// raccordo's signing key and the verifier of parties' signatures.
#[derive(Debug)]
pub struct Signing {
    pub signer: crate::modi::Signer,
    pub verifier: crate::modi::Verifier,
}

impl Signing {
    pub fn load(config: &SigningConfig) -> Result<Signing, Error> {
        Ok(Signing {
            signer: crate::modi::Signer::load(&config.certificate, &config.private_key, &config.audience)?,
            verifier: crate::modi::Verifier::load(&config.trusted_ca, &config.audience)?,
        })
    }
}

/// Every key and certificate the configuration names, loaded and checked before anything
/// starts.
#[derive(Default)]
pub struct Keys {
    /// ModI signing and verification, when `[signing]` is configured.
    pub signing: Option<Signing>,
    /// The audit checkpoints' key (`[signing]`'s), when `[audit]` is configured.
    pub checkpoint: Option<CheckpointKey>,
    /// The HTTPS server's identity and client CAs, when `[tls]` is configured.
    pub tls: Option<SslAcceptor>,
    /// One HTTP client per receiving party (its client certificate and server CA).
    pub outbound: HashMap<String, HttpClient>,
    /// The client towards INPS and PDND, and the PDND client assertion key, with `[inps]`.
    pub inps: Option<InpsKeys>,
}

impl std::fmt::Debug for Keys {
    // No key material in debug prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("signing", &self.signing.is_some())
            .field("tls", &self.tls.is_some())
            .field("outbound", &self.outbound.len())
            .finish_non_exhaustive()
    }
}

/// What the INPS pull authenticates with.
pub struct InpsKeys {
    pub http: HttpClient,
    /// RSA: PDND client assertions are RS256.
    pub pdnd_key: PKey<Private>,
}

impl Keys {
    /// Loads everything; a configuration with several unusable keys gets one error naming
    /// each of them.
    pub fn load(config: &Config) -> Result<Keys, Error> {
        let mut problems = Vec::new();
        let signing = config.signing.as_ref().and_then(|signing| keep(&mut problems, Signing::load(signing)));
        let checkpoint = match (&config.audit, &config.signing) {
            (Some(_), Some(signing)) => {
                keep(&mut problems, CheckpointKey::load(&signing.certificate, &signing.private_key, &signing.audience))
            }
            _ => None,
        };
        let tls = config.tls.as_ref().and_then(|tls| keep(&mut problems, tls_acceptor(tls)));
        let mut outbound = HashMap::new();
        let timeout = Duration::from_secs(config.delivery.timeout_secs);
        // Parties with the same TLS settings share a client (its pool of connections is
        // per host anyway): each client, once built, has read and parsed the system's trust
        // store and holds its own copy of it.
        let mut clients: HashMap<ClientTls<'_>, HttpClient> = HashMap::new();
        for party in &config.parties {
            let Some(receives) = &party.receives else { continue };
            let key = format!("parties.{}.receives", party.id);
            let tls = ClientTls {
                certificate: receives.client_certificate.as_deref().zip(receives.client_private_key.as_deref()),
                server_ca: receives.server_ca.as_deref(),
            };
            if let Some(client) = clients.get(&tls) {
                outbound.insert(party.id.clone(), client.clone());
            } else if let Some(client) = keep(&mut problems, HttpClient::describe(&key, timeout, &tls)) {
                outbound.insert(party.id.clone(), client.clone());
                clients.insert(tls, client);
            }
        }
        let inps = config.inps.as_ref().and_then(|inps| {
            let tls = ClientTls {
                certificate: inps
                    .tls
                    .as_ref()
                    .and_then(|tls| tls.certificate.as_deref().zip(tls.private_key.as_deref())),
                server_ca: inps.tls.as_ref().and_then(|tls| tls.server_ca.as_deref()),
            };
            let http =
                keep(&mut problems, HttpClient::describe("inps.tls", Duration::from_secs(inps.timeout_secs), &tls));
            let pdnd_key = keep(&mut problems, pdnd_key(&inps.pdnd.private_key));
            Some(InpsKeys { http: http?, pdnd_key: pdnd_key? })
        });
        match problems.len() {
            0 => Ok(Keys { signing, checkpoint, tls, outbound, inps }),
            1 => Err(problems.remove(0)),
            _ => Err(Error::ConfigProblems { file: "config".into(), problems: problems.iter().map(problem).collect() }),
        }
    }
}

/// The value, or nothing with the error kept among `problems`.
fn keep<T>(problems: &mut Vec<Error>, result: Result<T, Error>) -> Option<T> {
    result.map_err(|error| problems.push(error)).ok()
}

/// An error as one problem of several: its key when it is a configuration error.
fn problem(error: &Error) -> (String, String) {
    match error {
        Error::Config { key, reason, .. } => (key.clone(), reason.clone()),
        other => (String::new(), format!("{} {other}", other.code().id())),
    }
}

/// The sealer `[storage.encryption]` describes, its keys read (none without the section).
pub fn sealer(config: &Config) -> Result<Option<Sealer>, Error> {
    let Some(encryption) = &config.storage.encryption else { return Ok(None) };
    let mut keys = Vec::with_capacity(encryption.keys.len());
    for (index, key) in encryption.keys.iter().enumerate() {
        keys.push((key.id.clone(), read_key(key, &format!("storage.encryption.keys[{index}]"))?));
    }
    let index = match &encryption.index_key {
        Some(key) => Some(read_key(key, "storage.encryption.index_key")?),
        None => None,
    };
    Sealer::new(keys, index).map(Some)
}

/// Reads a data key. Errors name the key, the file or variable and why, never the content.
fn read_key(key: &KeyConfig, config_key: &str) -> Result<[u8; 32], Error> {
    let (text, place) = match (&key.file, &key.env) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::coded(
                    ErrorCode::KeyFileUnreadable,
                    format!("{config_key} ({:?}): the key file {} can't be read: {}", key.id, path.display(), e.kind()),
                )
            })?;
            (text, format!("the file {}", path.display()))
        }
        (None, Some(name)) => {
            let text = std::env::var(name).map_err(|_| {
                Error::coded(
                    ErrorCode::KeyFileUnreadable,
                    format!("{config_key} ({:?}): the environment has no {name}", key.id),
                )
            })?;
            (text, format!("the variable {name}"))
        }
        _ => {
            return Err(Error::Config {
                file: "config".into(),
                key: config_key.to_owned(),
                reason: "give exactly one of file and env".into(),
            })
        }
    };
    crate::store::seal::parse_key(&text).ok_or_else(|| {
        Error::coded(
            ErrorCode::KeyInvalid,
            format!("{config_key} ({:?}): {place} does not hold 32 bytes as 64 hex digits or base64", key.id),
        )
    })
}

/// The TLS acceptor `[tls]` describes.
pub fn tls_acceptor(config: &TlsConfig) -> Result<SslAcceptor, Error> {
    let fail = |what: &str, error: openssl::error::ErrorStack| Error::Config {
        file: "config".into(),
        key: format!("tls.{what}"),
        reason: error.to_string(),
    };
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(|e| fail("", e))?;
    builder.set_certificate_chain_file(&config.certificate).map_err(|e| fail("certificate", e))?;
    builder.set_private_key_file(&config.private_key, SslFiletype::PEM).map_err(|e| fail("private_key", e))?;
    builder.check_private_key().map_err(|e| fail("private_key", e))?;
    if let Some(ca) = &config.client_ca {
        builder.set_ca_file(ca).map_err(|e| fail("client_ca", e))?;
        // Ask for a certificate and verify any given; a client without one may still use a
        // token (development setups). A bad certificate fails the handshake.
        builder.set_verify(SslVerifyMode::PEER);
    }
    Ok(builder.build())
}

/// A client's TLS material: certificate and key it presents, CA it trusts besides the
/// system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientTls<'a> {
    certificate: Option<(&'a Path, &'a Path)>,
    server_ca: Option<&'a Path>,
}

/// An HTTP client built when it is first used.
///
/// Building a client makes OpenSSL (native-tls) read and parse the system's trust store,
/// more than once: about 490 M instructions per client, 78 % of the main thread's work in
/// `serve`'s start-up with the bundled example's two clients, and about 1 MiB of heap each
/// (docs/PERFORMANCE.md). A gateway pays that when it first delivers to a party or pulls
/// from INPS, on a blocking thread, not before it answers. What the configuration can get
/// wrong (a file, its PEM, a certificate OpenSSL refuses, a key that is not the
/// certificate's) is checked when the client is described, at start, by OpenSSL itself on a
/// context without a trust store.
#[derive(Clone)]
pub struct HttpClient(Arc<LazyClient>);

struct LazyClient {
    /// `None` for a client handed over already built.
    recipe: Option<ClientRecipe>,
    built: tokio::sync::OnceCell<reqwest::Client>,
}

/// What a client is built from, read and checked.
#[derive(Clone)]
struct ClientRecipe {
    timeout: Duration,
    identity: Option<reqwest::Identity>,
    server_ca: Option<reqwest::Certificate>,
}

impl ClientRecipe {
    fn build(self) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder().timeout(self.timeout).connect_timeout(self.timeout);
        if let Some(identity) = self.identity {
            builder = builder.identity(identity);
        }
        if let Some(certificate) = self.server_ca {
            builder = builder.add_root_certificate(certificate);
        }
        builder.build().map_err(|e| Error::Internal(format!("HTTP client: {e}")))
    }
}

impl HttpClient {
    /// Reads and checks the client's TLS material; `key` names its place in the
    /// configuration for errors.
    fn describe(key: &str, timeout: Duration, tls: &ClientTls<'_>) -> Result<HttpClient, Error> {
        let config_error = |reason: String| Error::Config { file: "config".into(), key: key.to_owned(), reason };
        let read = |path: &Path| std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source });
        let identity = match tls.certificate {
            Some((certificate, private_key)) => {
                let (certificate, private_key) = (read(certificate)?, read(private_key)?);
                let not_pem = || config_error("the certificate or its key is not PEM (PKCS#8)".into());
                let identity = reqwest::Identity::from_pkcs8_pem(&certificate, &private_key).map_err(|_| not_pem())?;
                let leaf = openssl::x509::X509::from_pem(&certificate).map_err(|_| not_pem())?;
                let key = PKey::private_key_from_pem(&private_key).map_err(|_| not_pem())?;
                // What the build would refuse, asked of OpenSSL now: its security level
                // (key size, signature digest) and whether the key is the certificate's.
                let mut context =
                    SslContext::builder(SslMethod::tls_client()).map_err(|e| Error::Internal(e.to_string()))?;
                context
                    .set_certificate(&leaf)
                    .map_err(|e| config_error(format!("OpenSSL refuses the certificate: {e}")))?;
                context
                    .set_private_key(&key)
                    .and_then(|()| context.check_private_key())
                    .map_err(|e| config_error(format!("the private key is not the certificate's: {e}")))?;
                Some(identity)
            }
            None => None,
        };
        let server_ca = match tls.server_ca {
            Some(ca) => Some(
                reqwest::Certificate::from_pem(&read(ca)?)
                    .map_err(|e| config_error(format!("server_ca {}: {e}", ca.display())))?,
            ),
            None => None,
        };
        let recipe = Some(ClientRecipe { timeout, identity, server_ca });
        Ok(HttpClient(Arc::new(LazyClient { recipe, built: tokio::sync::OnceCell::new() })))
    }

    /// The client, built on the first call (on a blocking thread; concurrent first calls
    /// wait for one build). A build that fails is logged and tried again on the next call.
    pub async fn client(&self) -> Result<&reqwest::Client, Error> {
        self.0
            .built
            .get_or_try_init(|| async {
                let recipe =
                    self.0.recipe.clone().ok_or_else(|| Error::Internal("a client without a recipe".into()))?;
                let built = tokio::task::spawn_blocking(move || recipe.build())
                    .await
                    .map_err(|e| Error::Internal(format!("building an HTTP client: {e}")))?;
                if let Err(error) = &built {
                    tracing::error!("building an HTTP client: {error}");
                }
                built
            })
            .await
    }

    /// Whether the client has been built (it is, once something has been sent with it).
    #[cfg(test)]
    fn is_built(&self) -> bool {
        self.0.built.initialized()
    }
}

impl From<reqwest::Client> for HttpClient {
    /// A client already built (tests, and callers with settings of their own).
    fn from(client: reqwest::Client) -> HttpClient {
        HttpClient(Arc::new(LazyClient { recipe: None, built: tokio::sync::OnceCell::new_with(Some(client)) }))
    }
}

fn pdnd_key(path: &Path) -> Result<PKey<Private>, Error> {
    let config_error =
        |reason: String| Error::Config { file: "config".into(), key: "inps.pdnd.private_key".into(), reason };
    let pem = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    // openssl's reason could quote the file; say only what is wrong.
    let key = PKey::private_key_from_pem(&pem)
        .map_err(|_| config_error(format!("{} is not a PEM private key", path.display())))?;
    if key.rsa().is_err() {
        return Err(config_error("PDND client assertions are RS256: the key must be RSA".into()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{issue, issue_for, Usage};
    use std::path::PathBuf;

    const NOW: i64 = 1_800_000_000;

    /// A client's certificate and key, another client's key, and their CA, as files.
    struct Files {
        certificate: PathBuf,
        key: PathBuf,
        other_key: PathBuf,
        ca: PathBuf,
    }

    fn files(dir: &Path) -> Files {
        let ca = issue("test CA", None, NOW - 60, NOW + 3600, Usage::Ca).unwrap();
        let client = issue("client", Some(&ca), NOW - 60, NOW + 3600, Usage::Client).unwrap();
        let other = issue("other", Some(&ca), NOW - 60, NOW + 3600, Usage::Client).unwrap();
        let (certificate, key) = client.write(dir, "client").unwrap();
        let (_, other_key) = other.write(dir, "other").unwrap();
        let (ca, _) = ca.write(dir, "ca").unwrap();
        Files { certificate, key, other_key, ca }
    }

    fn refused(key: &str, tls: &ClientTls<'_>) -> String {
        match HttpClient::describe(key, Duration::from_secs(5), tls) {
            Ok(_) => panic!("the client was described"),
            Err(Error::Config { key: named, reason, .. }) => {
                assert_eq!(named, key);
                reason
            }
            Err(other) => panic!("not a configuration error: {other}"),
        }
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_when_the_client_is_described() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        let tls = ClientTls { certificate: Some((&files.certificate, &files.other_key)), server_ca: Some(&files.ca) };
        let reason = refused("parties.sui.receives", &tls);
        assert!(reason.contains("not the certificate's"), "{reason}");
    }

    #[test]
    fn a_certificate_openssl_would_not_use_is_refused_when_the_client_is_described() {
        // A 512-bit RSA key: below every OpenSSL security level but 0.
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(512).unwrap()).unwrap();
        let weak = issue_for(key, "weak", None, NOW - 60, NOW + 3600, Usage::Client).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (certificate, key) = weak.write(dir.path(), "weak").unwrap();
        let tls = ClientTls { certificate: Some((&certificate, &key)), server_ca: None };
        let reason = refused("inps.tls", &tls);
        assert!(reason.contains("OpenSSL refuses the certificate"), "{reason}");
    }

    #[tokio::test]
    async fn a_client_is_built_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        let tls = ClientTls { certificate: Some((&files.certificate, &files.key)), server_ca: Some(&files.ca) };
        let client = HttpClient::describe("inps.tls", Duration::from_secs(5), &tls).unwrap();
        let shared = client.clone();
        assert!(!client.is_built(), "described, not yet built");
        let (first, second) = tokio::join!(client.client(), shared.client());
        first.unwrap();
        second.unwrap();
        assert!(client.is_built() && shared.is_built(), "a clone does not share its client");
    }
}
