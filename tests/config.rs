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
