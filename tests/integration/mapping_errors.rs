//! A broken mapping fails at load, naming the file and line, never at run time.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::fs;
use std::path::Path;

use raccordo::assets::Assets;
use raccordo::error::{Error, ErrorCode};
use raccordo::ingest::Catalog;

/// An assets folder with the real standard and code tables and one profile made of
/// `profile` and `mapping` (as `vacancy.closed.toml`).
fn load(profile: &str, mapping: &str) -> Result<Catalog, Error> {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    fs::create_dir_all(dir.path().join("schemas/standard")).unwrap();
    for entry in fs::read_dir(root.join("schemas/standard")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.path().join("schemas/standard").join(path.file_name().unwrap())).unwrap();
    }
    fs::create_dir_all(dir.path().join("mappings/codes")).unwrap();
    for entry in fs::read_dir(root.join("mappings/codes")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.path().join("mappings/codes").join(path.file_name().unwrap())).unwrap();
    }
    fs::create_dir_all(dir.path().join("mappings/test-profile")).unwrap();
    fs::write(dir.path().join("mappings/test-profile/profile.toml"), profile).unwrap();
    fs::write(dir.path().join("mappings/test-profile/vacancy.closed.toml"), mapping).unwrap();
    Catalog::load(&Assets::Folder(dir.path().to_owned()))
}

const XML_PROFILE: &str = r#"name = "test-profile"
title = "test"
party_kind = "social"
format = "xml"
[namespaces]
t = "urn:test"
[xml]
root = "t:Chiusura"
"#;

const CSV_PROFILE: &str = r#"name = "test-profile"
title = "test"
party_kind = "social"
format = "csv"
[csv]
columns = ["CODICE", "DATA"]
"#;

fn check(profile: &str, mapping: &str, file: &str, line: usize, reason: &str) {
    match load(profile, mapping) {
        Err(error @ Error::Mapping { .. }) => {
            assert_eq!(error.code(), ErrorCode::MappingInvalid);
            let text = error.to_string();
            assert!(text.contains(&format!("mappings/test-profile/{file}:{line}:")), "{text}");
            assert!(text.contains(reason), "{text}");
        }
        Err(other) => panic!("expected a mapping error, got {other}"),
        Ok(_) => panic!("the broken mapping loaded"),
    }
}

#[test]
fn a_good_mapping_loads() {
    let mapping = "type = \"vacancy.closed\"\n[[rules]]\ncanonical = \"/data/vacancyId\"\nparty = \"t:codice\"\n";
    let catalog = load(XML_PROFILE, mapping).unwrap();
    assert!(catalog.profiles.get("test-profile").is_some());
}

#[test]
fn unknown_canonical_fields_are_refused() {
    let mapping = "type = \"vacancy.closed\"\n\n[[rules]]\ncanonical = \"/data/vacancyCode\"\nparty = \"t:codice\"\n";
    check(XML_PROFILE, mapping, "vacancy.closed.toml", 3, "/data/vacancyCode is not a field of vacancy.closed");
}

#[test]
fn undeclared_prefixes_unknown_columns_and_tables_are_refused() {
    let mapping = "type = \"vacancy.closed\"\n[[rules]]\ncanonical = \"/data/vacancyId\"\nparty = \"x:codice\"\n";
    check(XML_PROFILE, mapping, "vacancy.closed.toml", 2, "the prefix \"x\" is not declared");
    let mapping =
        "type = \"vacancy.closed\"\n[[rules]]\ncanonical = \"/data/vacancyId\"\nparty = \"CODICE_RICHIESTA\"\n";
    check(CSV_PROFILE, mapping, "vacancy.closed.toml", 2, "is not a column of the profile");
    let mapping = "type = \"vacancy.closed\"\n[[rules]]\ncanonical = \"/data/reason\"\nparty = \"CODICE\"\ntable = { name = \"no-such-table\", party = \"a\", canonical = \"b\" }\n";
    check(CSV_PROFILE, mapping, "vacancy.closed.toml", 2, "table no-such-table");
    let mapping = "type = \"vacancy.closed\"\n[[rules]]\ncanonical = \"/data/reason\"\nparty = \"CODICE\"\ntable = { name = \"states\", party = \"nope\", canonical = \"istat\" }\n";
    check(CSV_PROFILE, mapping, "vacancy.closed.toml", 2, "has no column \"nope\"");
}

#[test]
fn unknown_keys_bad_patterns_and_types_are_refused() {
    let mapping =
        "type = \"vacancy.closed\"\n[[rules]]\ncanonical = \"/data/vacancyId\"\nparty = \"CODICE\"\ncolumn = \"x\"\n";
    check(CSV_PROFILE, mapping, "vacancy.closed.toml", 5, "unknown field `column`");
    let mapping =
        "type = \"vacancy.closed\"\n[[rules]]\ncanonical = \"/data/closedOn\"\nparty = \"DATA\"\ndate = \"dd/mm\"\n";
    check(CSV_PROFILE, mapping, "vacancy.closed.toml", 2, "needs yyyy, mm and dd");
    let mapping = "type = \"vacancy.shut\"\n";
    check(CSV_PROFILE, mapping, "vacancy.closed.toml", 1, "is not a message type of the standard");
    let profile = CSV_PROFILE.replace("party_kind = \"social\"", "party_kind = \"bank\"");
    check(&profile, "type = \"vacancy.closed\"\n", "profile.toml", 1, "party_kind \"bank\"");
}
