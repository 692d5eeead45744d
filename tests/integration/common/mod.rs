//! What the data-driven conformance tests share: reading a case folder and an
//! `<name>.expect.toml`.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use raccordo::error::ErrorCode;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    description: Option<String>,
    errors: Vec<ExpectedError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    code: String,
    path: String,
}

/// The input files of a case folder, sorted: everything but expectations and notes.
pub fn inputs(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(folder) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            path.is_file()
                && !name.ends_with(".expect.toml")
                && !name.ends_with(".expected.json")
                && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    files
}

/// The (printed code, path) pairs an invalid case's `.expect.toml` names.
pub fn expected(case: &Path) -> Result<BTreeSet<(String, String)>, String> {
    let expect_path = case.with_extension("expect.toml");
    let text = fs::read_to_string(&expect_path).map_err(|e| format!("{}: {e}", expect_path.display()))?;
    let expect: Expect = toml::from_str(&text).map_err(|e| format!("{}: {e}", expect_path.display()))?;
    let mut pairs = BTreeSet::new();
    for error in expect.errors {
        let code =
            ErrorCode::lookup(&error.code).ok_or(format!("{}: unknown code {}", expect_path.display(), error.code))?;
        pairs.insert((code.id(), error.path));
    }
    if pairs.is_empty() {
        return Err(format!("{}: names no error", expect_path.display()));
    }
    Ok(pairs)
}

/// A fresh PostgreSQL schema on the test server, as a connection URL whose search path is
/// that schema, so tests (and test binaries) running at once never see each other's rows.
pub async fn postgres_url() -> String {
    use sqlx::Connection;
    let base = std::env::var("RACCORDO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut connection = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} does not answer ({e}); scripts/test.sh starts one"));
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut connection).await.unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

/// Runs `check` against a fresh SQLite file and a fresh PostgreSQL schema.
pub async fn each_store<F, Fut>(check: F)
where
    F: Fn(raccordo::store::Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = raccordo::store::Store::open(&format!("sqlite://{}/raccordo.db", dir.path().display())).await.unwrap();
    check(sqlite).await;
    let postgres = raccordo::store::Store::open(&postgres_url().await).await.unwrap();
    check(postgres).await;
}

/// Rewrites a case's `.expect.toml` with the pairs found, keeping its description: what
/// `UPDATE_EXPECT=1` does when the codes change on purpose (reviewers read the diff).
pub fn rewrite_expected(case: &Path, found: &BTreeSet<(String, String)>) {
    let expect_path = case.with_extension("expect.toml");
    let description = fs::read_to_string(&expect_path)
        .ok()
        .and_then(|text| toml::from_str::<Expect>(&text).ok())
        .and_then(|expect| expect.description);
    let mut text = String::new();
    if let Some(description) = description {
        text.push_str(&format!("description = {}\n", toml::Value::String(description)));
    }
    for (code, path) in found {
        text.push_str(&format!(
            "\n[[errors]]\ncode = {}\npath = {}\n",
            toml::Value::String(code.clone()),
            toml::Value::String(path.clone())
        ));
    }
    fs::write(&expect_path, text).unwrap();
}

/// Whether expectations are being rewritten (`UPDATE_EXPECT=1`).
pub fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some()
}

/// The bundled example configuration: what tests write party formats for.
pub fn example_config(catalog: &raccordo::ingest::Catalog) -> raccordo::config::Config {
    raccordo::config::Config::parse(raccordo::config::EXAMPLE, "example.toml", catalog).unwrap()
}

/// The parties `message` is written for in `profile`: its sender, and the example's first
/// party receiving that profile (as `raccordo profiles --coverage` does).
pub fn example_parties<'c>(
    directory: &'c raccordo::parties::Directory,
    profile: &str,
    message: &serde_json::Value,
) -> raccordo::mapping::apply::Parties<'c> {
    let recipient = directory
        .iter()
        .find(|party| party.receives.as_ref().is_some_and(|receives| receives.profile == profile))
        .map(|party| party.id.as_str());
    directory.parties_of(message, recipient)
}

/// The gateway for API tests: `config`, a store on SQLite in `dir`, no keys, a fixed clock
/// and ids counted from 1.
pub async fn app_state(
    catalog: raccordo::ingest::Catalog,
    config: raccordo::config::Config,
    dir: &Path,
) -> raccordo::gateway::Gateway {
    let store = raccordo::store::Store::open(&format!("sqlite://{}/raccordo.db", dir.display())).await.unwrap();
    // The example's keys are not made here: what these tests serve needs none.
    let keys = raccordo::gateway::Keys::default();
    let mut gateway =
        raccordo::gateway::Gateway::assemble(catalog, config, store, "urn:raccordo:gateway:test".into(), keys);
    gateway.clock = raccordo::clock::Clock::fixed("2026-03-02T10:00:00Z").unwrap();
    gateway.ids = raccordo::clock::Ids::sequential();
    gateway
}
