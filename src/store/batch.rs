//! Statements sent to the database together.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every statement is a round
//! trip to that thread and back, each way a thread to wake. Under load a round trip took
//! about 0.1 ms, longer than most of the statements an intake group runs, and a group made
//! nine of them while holding the write lock. A `Batch` gathers the statements whose
//! results nobody reads and sends them as one query, their anonymous `?` parameters bound in
//! order across the statements. PostgreSQL prepares one statement a query and numbers its
//! parameters, so there the statements run one after the other, as before.

use super::{storage_error, Dialect};
use crate::error::Error;

/// A value bound to a parameter: borrowed from the rows being written, or made for the
/// statement (an audit entry's hash).
#[derive(Debug)]
pub(crate) enum Bound<'q> {
    Int(i64),
    Text(&'q str),
    Owned(String),
    OptionalText(Option<&'q str>),
}

impl<'q> From<&'q str> for Bound<'q> {
    fn from(text: &'q str) -> Bound<'q> {
        Bound::Text(text)
    }
}

impl From<String> for Bound<'_> {
    fn from(text: String) -> Self {
        Bound::Owned(text)
    }
}

impl<'q> From<Option<&'q str>> for Bound<'q> {
    fn from(text: Option<&'q str>) -> Bound<'q> {
        Bound::OptionalText(text)
    }
}

impl From<i64> for Bound<'_> {
    fn from(number: i64) -> Self {
        Bound::Int(number)
    }
}

/// The most values a SQLite batch of several statements may bind and still be kept prepared
/// by its connection. sqlx keeps up to 100 statements prepared per connection, by their
/// text, and a prepared statement's memory grows with its rows; the text of a big batch
/// (the deliveries, events and index rows of up to four pages of a pull) seldom comes back.
/// Kept, such batches took a pull's peak RSS from 103 to 262 MiB; they are prepared anew
/// each time instead.
const KEPT_PREPARED: usize = 2_000;

/// Statements to run in one transaction, in order, none of them returning rows.
#[derive(Debug, Default)]
pub(crate) struct Batch<'q> {
    statements: Vec<(String, Vec<Bound<'q>>)>,
}

impl<'q> Batch<'q> {
    /// Adds a statement written with the dialect's parameters (`Dialect::parameter`), and
    /// the values of its parameters in order.
    pub(crate) fn push(&mut self, sql: String, values: Vec<Bound<'q>>) {
        self.statements.push((sql, values));
    }

    /// Runs the statements in `transaction`: on SQLite as one query, on PostgreSQL one by
    /// one. `context` names the work in an error.
    pub(crate) async fn execute(
        self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
        dialect: Dialect,
        context: &str,
    ) -> Result<(), Error> {
        self.execute_on(transaction, dialect, context).await
    }

    /// `execute` on a connection, inside a transaction its caller began with SQL of its own
    /// (or none: each statement then commits alone).
    pub(crate) async fn execute_on(
        self,
        connection: &mut sqlx::AnyConnection,
        dialect: Dialect,
        context: &str,
    ) -> Result<(), Error> {
        match dialect {
            Dialect::Sqlite if self.statements.len() > 1 => {
                let sql: Vec<&str> = self.statements.iter().map(|(sql, _)| sql.as_str()).collect();
                let sql = sql.join(";\n");
                let count: usize = self.statements.iter().map(|(_, values)| values.len()).sum();
                let values = self.statements.into_iter().flat_map(|(_, values)| values);
                let query = bind(sqlx::query(&sql), values).persistent(count <= KEPT_PREPARED);
                query.execute(&mut *connection).await.map_err(storage_error(context))?;
            }
            _ => {
                for (sql, values) in self.statements {
                    bind(sqlx::query(&sql), values).execute(&mut *connection).await.map_err(storage_error(context))?;
                }
            }
        }
        Ok(())
    }
}

/// A query on the `Any` driver, its values bound as it is built.
pub(super) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(mut query: Query<'q>, values: impl IntoIterator<Item = Bound<'q>>) -> Query<'q> {
    for value in values {
        query = match value {
            Bound::Int(number) => query.bind(number),
            Bound::Text(text) => query.bind(text),
            Bound::Owned(text) => query.bind(text),
            Bound::OptionalText(text) => query.bind(text),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// The rows two statements of one batch wrote, with a statement's values bound after the
    /// values of the statement before it.
    async fn run_two_statements(store: &Store) -> Vec<(i64, Option<String>, String)> {
        let dialect = store.dialect;
        let mut transaction = store.pool.begin().await.unwrap();
        sqlx::query("CREATE TABLE batch_rows (n BIGINT, maybe TEXT, word TEXT)")
            .execute(&mut *transaction)
            .await
            .unwrap();
        let owned = String::from("owned");
        let mut batch = Batch::default();
        let row = |i| dialect.row_parameters(i, 3);
        batch.push(
            format!("INSERT INTO batch_rows (n, maybe, word) VALUES {}, {}", row(0), row(1)),
            vec![1.into(), None.into(), "one".into(), 2.into(), Some("two").into(), owned.clone().into()],
        );
        batch.push(
            format!("INSERT INTO batch_rows (n, maybe, word) VALUES {}", row(0)),
            vec![3.into(), Some(owned.as_str()).into(), "three".into()],
        );
        batch.execute(&mut transaction, dialect, "test rows").await.unwrap();
        let rows: Vec<(i64, Option<String>, String)> =
            sqlx::query_as("SELECT n, maybe, word FROM batch_rows ORDER BY n")
                .fetch_all(&mut *transaction)
                .await
                .unwrap();
        let failing = {
            let mut batch = Batch::default();
            batch.push("INSERT INTO batch_rows (n) VALUES (4)".into(), Vec::new());
            batch.push("INSERT INTO no_such_table (n) VALUES (5)".into(), Vec::new());
            batch.execute(&mut transaction, dialect, "test rows").await
        };
        assert!(matches!(&failing, Err(Error::Storage(why)) if why.starts_with("test rows: ")), "{failing:?}");
        transaction.rollback().await.unwrap();
        rows
    }

    fn expected() -> Vec<(i64, Option<String>, String)> {
        vec![
            (1, None, "one".into()),
            (2, Some("two".into()), "owned".into()),
            (3, Some("owned".into()), "three".into()),
        ]
    }

    #[tokio::test]
    async fn on_sqlite_statements_run_as_one_query_binding_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        assert_eq!(run_two_statements(&store).await, expected());
        store.close().await;
    }

    #[tokio::test]
    async fn on_postgresql_statements_run_in_turn() {
        let store = crate::store::tests::postgres_store().await;
        assert_eq!(run_two_statements(&store).await, expected());
        store.close().await;
    }
}
