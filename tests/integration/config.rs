//! Configuration errors are reported with the file, the key and the reason, before
//! anything starts.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::process::Command;

use raccordo::assets::Assets;
use raccordo::config::{Config, EXAMPLE};
use raccordo::error::Error;
use raccordo::ingest::Catalog;

fn check(text: &str, key: &str, reason: &str) {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    match Config::parse(text, "raccordo.toml", &catalog) {
        Err(Error::Config { file, key: found, reason: message }) => {
            assert_eq!(file, "raccordo.toml");
            assert_eq!(found, key, "{message}");
            assert!(message.contains(reason), "{message}");
        }
        Err(Error::ConfigProblems { file, problems }) => {
            assert_eq!(file, "raccordo.toml");
            assert!(problems.iter().any(|(found, message)| found == key && message.contains(reason)), "{problems:?}");
        }
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(_) => panic!("the configuration loaded"),
    }
}

const PARTY: &str = "[[parties]]\nid = \"a\"\nkind = \"cpi\"\ncode = \"A1\"\nname = \"A\"\n";

#[test]
fn the_bundled_example_loads() {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(EXAMPLE, "example.toml", &catalog).unwrap();
    assert!(config.parties.len() >= 4);
}

#[test]
fn operators_restrictions_name_what_exists() {
    let operator = |extra: &str| {
        format!("{PARTY}\n[[operators]]\nname = \"o\"\ntokens = [\"operator-token-0123456789\"]\n{extra}")
    };
    check(&operator("parties = [\"b\"]\n"), "operators[0].parties", "no party \"b\"");
    check(&operator("types = [\"worker.hired\"]\n"), "operators[0].types", "no message type \"worker.hired\"");
    check(&operator("codice_fiscale_search = true\n"), "operators[0].codice_fiscale_search", "index_key");
    check(
        &format!("{}\n[[operators]]\nname = \"o\"\ntokens = [\"operator-token-9876543210\"]\n", operator("")),
        "operators[1].name",
        "used twice",
    );
    check("[console]\nsession_minutes = 0\n", "console.session_minutes", "from 1");
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    assert!(
        Config::parse(&operator("parties = [\"a\"]\ntypes = [\"worker.registered\"]\n"), "o.toml", &catalog).is_ok()
    );
}

#[test]
fn each_mistake_names_its_key() {
    check("listen = \"127.0.0.1:8470\"\nlisten_port = 1\n", "line 2", "unknown field `listen_port`");
    check(
        &format!("{PARTY}sends = {{ profiles = [\"cpi-unilav2\"] }}\n"),
        "parties[0].sends.profiles",
        "no profile \"cpi-unilav2\"",
    );
    check(&format!("{PARTY}auth = {{ tokens = [\"short\"] }}\n"), "parties[0].auth.tokens", "at least 16 characters");
    check(&format!("{PARTY}comuni = [\"X999\"]\n"), "parties[0].comuni", "not a Belfiore code");
    check(&format!("{PARTY}{PARTY}"), "parties[1].id", "used twice");
    check(
        &format!("{PARTY}\n[[routes]]\ntypes = [\"employment.started\"]\nto = [\"b\"]\n"),
        "routes[0].to",
        "no party \"b\"",
    );
    check(
        &format!("{PARTY}receives = {{ profile = \"social-json\", endpoint = \"http://127.0.0.1:1/in\" }}\n\n[[routes]]\ntypes = [\"worker.registered\"]\nto = [\"a\"]\n"),
        "routes[0].to",
        "does not write worker.registered",
    );
    check(
        &format!("{PARTY}\n[[routes]]\ntypes = [\"employment.begun\"]\nto = [\"a\"]\n"),
        "routes[0].types",
        "no message type",
    );
}

#[test]
fn a_configuration_with_several_mistakes_names_every_one() {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let text = format!(
        "{PARTY}auth = {{ tokens = [\"short\"] }}\ncomuni = [\"X999\"]\n\n[[routes]]\ntypes = [\"employment.begun\"]\nto = [\"b\"]\n\n[delivery]\nconcurrency = 0\n"
    );
    let error = Config::parse(&text, "raccordo.toml", &catalog).unwrap_err();
    assert_eq!(error.code(), raccordo::error::ErrorCode::ConfigInvalid);
    let Error::ConfigProblems { problems, .. } = &error else { panic!("one problem only: {error}") };
    let keys: Vec<&str> = problems.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["parties[0].auth.tokens", "parties[0].comuni", "routes[0].types", "routes[0].to", "delivery"]);
    let shown = error.to_string();
    assert!(shown.starts_with("raccordo.toml: 5 problems:") && shown.contains("\n  routes[0].to: no party"), "{shown}");
}

#[test]
fn unusable_keys_are_all_named_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let missing = |name: &str| dir.path().join(name).display().to_string();
    let text = format!(
        "[tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n\n[signing]\ncertificate = \"{}\"\nprivate_key = \"{}\"\naudience = \"raccordo\"\n\n\
         [storage.encryption]\nkeys = [{{ id = \"k1\", file = \"{}\" }}]\n",
        missing("tls.crt"),
        missing("tls.key"),
        missing("signing.crt"),
        missing("signing.key"),
        missing("data.key"),
    );
    let path = dir.path().join("raccordo.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_raccordo"))
        .args(["serve", "--config", path.to_str().unwrap()])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("RAC-7006"), "{stderr}");
    for name in ["tls.crt", "signing.crt", "data.key"] {
        assert!(stderr.contains(name), "{name} is not named: {stderr}");
    }
}

#[test]
fn serve_refuses_a_bad_file_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raccordo.toml");
    std::fs::write(&path, "listen = \"nowhere\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_raccordo"))
        .args(["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("RAC-7006") && stderr.contains("raccordo.toml") && stderr.contains("line 1"), "{stderr}");
}
