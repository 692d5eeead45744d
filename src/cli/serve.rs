//! `raccordo serve`: the gateway. Loads the catalog and the configuration (the bundled
//! example without `--config`), opens the store (running migrations), then serves the API
//! and runs the delivery workers until Ctrl-C or SIGTERM, when it stops taking requests,
//! finishes deliveries in flight and leaves the rest queued.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::Outcome;
use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::{Config, EXAMPLE};
use crate::delivery::Deliverer;
use crate::error::Error;
use crate::ingest::Catalog;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file; without it, the bundled example (config/example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen on this address instead of the configuration's.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// The configuration named, or the bundled example.
pub fn load_config(path: Option<&PathBuf>, catalog: &Catalog) -> Result<Config, Error> {
    match path {
        Some(path) => Config::load(path, catalog),
        None => Config::parse(EXAMPLE, "config/example.toml (bundled)", catalog),
    }
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
    let storage = config.storage_url();
    let store = Store::open(&storage).await?;
    let listen = config.listen;
    let parties = config.parties.len();
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "raccordo".into());
    let state = Arc::new(AppState {
        catalog,
        config,
        store,
        clock: Clock::System,
        gateway: format!("urn:raccordo:gateway:{host}"),
        metrics: Default::default(),
    });
    let owner = format!("{host}-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    let deliverer = Arc::new(Deliverer::new(Arc::clone(&state), owner)?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(Arc::clone(&deliverer).run(stopped));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Io { path: listen.to_string().into(), source })?;
    let shown = storage.split('?').next().unwrap_or(&storage).to_owned();
    let scheme = if state.config.tls.is_some() { "https" } else { "http" };
    tracing::info!("raccordo listening on {scheme}://{listen} ({parties} parties, storage {shown})");
    println!("raccordo listening on {scheme}://{listen} ({parties} parties, storage {shown}); Ctrl-C stops");
    api::serve(listener, Arc::clone(&state), shutdown_signal()).await?;
    tracing::info!("stopping: finishing deliveries in flight");
    let _ = stop.send(true);
    let _ = workers.await;
    state.store.close().await;
    Ok(())
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
