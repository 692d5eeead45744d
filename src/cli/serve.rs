//! `raccordo serve`: the gateway. Loads the catalog and the configuration (the bundled
//! example without `--config`), opens the store (running migrations), then serves the API
//! and runs the delivery workers until Ctrl-C or SIGTERM, when it stops taking requests,
//! finishes deliveries in flight and leaves the rest queued.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::Outcome;
use crate::api;
use crate::config::{Config, EXAMPLE};
use crate::delivery::Deliverer;
use crate::error::{Error, ErrorCode};
use crate::gateway::Gateway;
use crate::ingest::Catalog;
use crate::inps::Puller;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file; without it, the bundled example (config/example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen on this address instead of the configuration's.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// The configuration named, or the bundled example. A configuration whose INPS keys are
/// the example's (under `<data_dir>/example-pki/`) gets them made on first use.
pub fn load_config(path: Option<&PathBuf>, catalog: &Catalog) -> Result<Config, Error> {
    let config = match path {
        Some(path) => Config::load(path, catalog)?,
        None => Config::parse(EXAMPLE, "config/example.toml (bundled)", catalog)?,
    };
    let example = config.data_dir.join("example-pki");
    if config.inps.as_ref().is_some_and(|inps| inps.pdnd.private_key.starts_with(&example)) {
        crate::pki::ensure_example(&example)?;
    }
    if config.signing.as_ref().is_some_and(|signing| signing.private_key.starts_with(&example)) {
        crate::pki::ensure_example_signing(&example)?;
    }
    // The example's keys for sealing payloads and the blind index, made on first use too.
    let example_keys = config.data_dir.join("example-keys");
    if let Some(encryption) = &config.storage.encryption {
        for key in encryption.keys.iter().chain(encryption.index_key.iter()) {
            if let Some(file) = key.file.as_ref().filter(|file| file.starts_with(&example_keys)) {
                crate::pki::ensure_example_key(file)?;
            }
        }
    }
    Ok(config)
}

/// Logs to standard error, at `RUST_LOG`'s level or `default`.
pub fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The gateway `config` describes: its keys loaded, its store opened (and migrated).
pub async fn open_state(catalog: Catalog, config: Config) -> Result<Arc<Gateway>, Error> {
    match &config.storage.encryption {
        None => tracing::warn!(
            "[storage.encryption] is not configured: message payloads (the bytes each party sent and \
             the canonical messages, with names, codici fiscali, birth dates and health conditions) and \
             quarantined INPS records are stored in clear in {}; docs/SECURITY.md says how to seal them",
            config.storage_display()
        ),
        Some(encryption) if encryption.index_key.is_none() => tracing::warn!(
            "[storage.encryption] has no index_key: a data subject's export or erasure opens every stored payload"
        ),
        Some(_) => {}
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "raccordo".into());
    Gateway::open(catalog, config, format!("urn:raccordo:gateway:{host}")).await
}

pub fn run(catalog: Catalog, args: Args) -> Result<Outcome, Error> {
    let mut config = load_config(args.config.as_ref(), &catalog)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))?;
    runtime.block_on(serve(catalog, config))?;
    Ok(Outcome::Success)
}

async fn serve(catalog: Catalog, config: Config) -> Result<(), Error> {
    init_logs("info");
    let storage = config.storage_url();
    let listen = config.listen;
    let parties = config.parties.len();
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "raccordo".into());
    let state = open_state(catalog, config).await?;
    let loaded = crate::store::AuditEntry::new(
        state.clock.now_millis(),
        "config.loaded",
        Some("gateway"),
        None,
        serde_json::json!({
            "parties": state.config.parties.iter().map(|p| &p.id).collect::<Vec<_>>(),
            "routes": state.config.routes.len(),
            "inps": state.config.inps.is_some(),
            "tls": state.config.tls.is_some(),
        }),
    );
    state.store.audit(&[loaded]).await?;
    let mut schedule = match state.config.inps.as_ref().and_then(|inps| inps.schedule.clone()) {
        Some(expression) => {
            let puller = Arc::new(Puller::new(Arc::clone(&state))?);
            Some(crate::inps::schedule(puller, &expression).await?)
        }
        None => None,
    };
    let mut purging = match state.config.retention.as_ref().and_then(|r| r.schedule.clone()) {
        Some(expression) => Some(crate::retention::schedule(Arc::clone(&state), &expression).await?),
        None => None,
    };
    let mut checkpoints = match state.config.audit.as_ref().and_then(|a| a.checkpoint_schedule.clone()) {
        Some(expression) => Some(checkpoint_schedule(Arc::clone(&state), &expression).await?),
        None => None,
    };
    let owner = format!("{host}-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    let deliverer = Arc::new(Deliverer::new(Arc::clone(&state), owner));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(Arc::clone(&deliverer).run(stopped));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| Error::coded(ErrorCode::ListenFailed, format!("cannot listen on {listen}: {error}")))?;
    let shown = storage.split('?').next().unwrap_or(&storage).to_owned();
    let scheme = if state.config.tls.is_some() { "https" } else { "http" };
    tracing::info!("raccordo listening on {scheme}://{listen} ({parties} parties, storage {shown})");
    println!("raccordo listening on {scheme}://{listen} ({parties} parties, storage {shown}); Ctrl-C stops");
    api::serve(listener, Arc::clone(&state), shutdown_signal()).await?;
    tracing::info!("stopping: finishing deliveries in flight");
    if let Some(purging) = purging.as_mut() {
        let _ = purging.shutdown().await;
    }
    if let Some(checkpoints) = checkpoints.as_mut() {
        let _ = checkpoints.shutdown().await;
    }
    if let Some(schedule) = schedule.as_mut() {
        // No new pull starts; one under way stops with the process, its last page committed.
        let _ = schedule.shutdown().await;
    }
    let _ = stop.send(true);
    let _ = workers.await;
    state.store.close().await;
    Ok(())
}

/// Makes a signed checkpoint of the audit log on `expression` (cron with seconds, Europe/Rome).
async fn checkpoint_schedule(
    state: Arc<Gateway>,
    expression: &str,
) -> Result<tokio_cron_scheduler::JobScheduler, Error> {
    let tick: crate::schedule::Tick = Arc::new(move || {
        let state = Arc::clone(&state);
        Box::pin(async move {
            let Some(key) = &state.keys.checkpoint else { return };
            let audit = state.config.audit.as_ref();
            let file = audit.and_then(|a| a.checkpoint_file.as_deref());
            let url = audit.and_then(|a| a.checkpoint_url.as_deref());
            let now = state.clock.now_millis();
            match crate::checkpoint::make(&state.store, key, now, file, url).await {
                Ok(made) => tracing::info!(target: "raccordo::audit", entry = made.seq, "audit checkpoint signed"),
                Err(error) => tracing::warn!(target: "raccordo::audit", "audit checkpoint failed: {error}"),
            }
        })
    });
    crate::schedule::start("checkpoint", expression, tick).await
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
