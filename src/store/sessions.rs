//! Operator console sessions, kept in the database so that every gateway instance sharing
//! it accepts the same session. A session is stored under the SHA-256 of its id, never the
//! id itself: whoever reads the table cannot present a session.

use sqlx::Row;

use super::{storage_error, Store, Turn};
use crate::error::Error;

/// A console session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The SHA-256 (hex) of the session id the browser holds.
    pub id_hash: String,
    /// The operator's name in the configuration.
    pub operator: String,
    /// The SHA-256 (hex) of the operator token it was opened with.
    pub token_digest: String,
    /// The token every action of the session must carry (`X-CSRF-Token`).
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    /// Stores a new session, forgetting those that have expired by `session.created_at`.
    pub async fn open_session(&self, session: &Session) -> Result<(), Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(session.created_at)
            .execute(&mut *transaction)
            .await
            .map_err(storage_error("forgetting expired sessions"))?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, operator, token_digest, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id_hash)
        .bind(&session.operator)
        .bind(&session.token_digest)
        .bind(&session.csrf)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error("opening a session"))?;
        transaction.commit().await.map_err(storage_error("commit"))
    }

    /// The session stored under `id_hash`, if it has not expired by `now`.
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, Error> {
        let row = sqlx::query(
            "SELECT id_hash, operator, token_digest, csrf, created_at, expires_at FROM console_sessions \
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("reading a session"))?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> Result<Session, sqlx::Error> {
            Ok(Session {
                id_hash: row.try_get("id_hash")?,
                operator: row.try_get("operator")?,
                token_digest: row.try_get("token_digest")?,
                csrf: row.try_get("csrf")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        };
        read().map(Some).map_err(storage_error("reading a session"))
    }

    /// Ends a session (logout). Returns whether there was one.
    pub async fn end_session(&self, id_hash: &str) -> Result<bool, Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let ended = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(storage_error("ending a session"))?;
        Ok(ended.rows_affected() > 0)
    }
}
