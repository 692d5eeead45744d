//! Where the writers that commit without syncing take their connection (on a SQLite file,
//! one connection held for the store's life), and the task that checkpoints SQLite's WAL
//! outside the write lock.

use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use sqlx::AnyPool;

use super::{storage_error, Synchronous};
use crate::error::Error;

/// Where the writers that commit without syncing (claims, attempt outcomes and, on a SQLite
/// file, intake groups) take their connection.
#[derive(Clone)]
pub(super) enum Writer {
    /// PostgreSQL's pool (`synchronous_commit` is set per transaction), or the pool of an
    /// in-memory SQLite database.
    Pool(AnyPool),
    /// On a SQLite file, one connection with `synchronous = NORMAL`, kept for the store's
    /// life. These writers take it in turn under the write lock; from a pool, a connection
    /// is first pinged by a task of its own when it is given back, and the next writer's
    /// transaction waited for that task to run (0.3 ms a turn under load).
    Held(std::sync::Arc<tokio::sync::Mutex<Option<sqlx::AnyConnection>>>),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Writer::Pool(pool) => formatter.debug_tuple("Pool").field(pool).finish(),
            Writer::Held(_) => formatter.write_str("Held"),
        }
    }
}

impl Writer {
    /// The held connection of the SQLite database `options` opens.
    pub(super) async fn connect(options: &AnyConnectOptions) -> Result<Writer, Error> {
        use sqlx::{ConnectOptions, Executor};
        let mut connection = options.connect().await.map_err(storage_error("connecting"))?;
        connection.execute(Synchronous::Normal.pragmas()).await.map_err(storage_error("connecting"))?;
        Ok(Writer::Held(std::sync::Arc::new(tokio::sync::Mutex::new(Some(connection)))))
    }

    pub(super) async fn acquire(&self) -> Result<WriterConnection, Error> {
        match self {
            Writer::Pool(pool) => {
                Ok(WriterConnection::Pooled(pool.acquire().await.map_err(storage_error("connecting"))?))
            }
            Writer::Held(connection) => {
                let held = std::sync::Arc::clone(connection).lock_owned().await;
                tokio::sync::OwnedMutexGuard::try_map(held, Option::as_mut)
                    .map(WriterConnection::Held)
                    .map_err(|_| Error::Storage("the store is closed".into()))
            }
        }
    }

    pub(super) async fn close(&self) {
        match self {
            Writer::Pool(pool) => pool.close().await,
            Writer::Held(connection) => {
                if let Some(connection) = connection.lock().await.take() {
                    if let Err(error) = sqlx::Connection::close(connection).await {
                        tracing::warn!("closing the store's writer connection: {error}");
                    }
                }
            }
        }
    }
}

/// A connection of the `Writer`, its own until dropped.
pub(crate) enum WriterConnection {
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
    Held(tokio::sync::OwnedMappedMutexGuard<Option<sqlx::AnyConnection>, sqlx::AnyConnection>),
}

impl std::ops::Deref for WriterConnection {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        match self {
            WriterConnection::Pooled(connection) => connection,
            WriterConnection::Held(held) => held,
        }
    }
}

impl std::ops::DerefMut for WriterConnection {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            WriterConnection::Pooled(connection) => connection,
            WriterConnection::Held(held) => held,
        }
    }
}

/// How often `checkpoint_continually` checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Copies SQLite's WAL into the database every `CHECKPOINT_EVERY`, outside the write lock,
/// until the pool closes or the store is dropped (`dropped` closes). By default the commit
/// that takes the WAL past 1,000 pages checkpoints it, copying the pages and syncing the
/// database while the write lock is held: at 1,800 messages a second, one intake commit in
/// twelve took 6.4 ms that way, half of all the time intake groups spent committing. A
/// passive checkpoint waits for no one and blocks no writer; the connections' own
/// checkpoints, now at 10,000 pages, find the pages copied and only start the WAL over.
/// What is durable does not change: a checkpoint syncs the WAL before copying it and the
/// database after, whichever connection runs it.
pub(super) async fn checkpoint_continually(pool: AnyPool, mut dropped: tokio::sync::mpsc::Receiver<()>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = dropped.recv() => break,
        }
        if pool.is_closed() {
            break;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            tracing::warn!("checkpointing SQLite's WAL: {error}");
        }
    }
}
