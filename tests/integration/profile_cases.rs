//! Walks conformance/profiles/<profile>/<type>/{valid,invalid}/: every valid input must
//! translate to its `<name>.expected.json`, write back to the profile without a single
//! diagnostic (the party's own schema included) and read back to the same canonical
//! message; every invalid input must produce exactly the (code, path) pairs of its
//! `<name>.expect.toml`.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common;

use common::inputs;
use raccordo::assets::Assets;
use raccordo::ingest::{Catalog, Outcome};
use raccordo::mapping::Profile;
use serde_json::Value;

/// The conformance runner's time, so that the suite and these tests agree on every verdict.
const TIME: &str = raccordo::conformance::run::TIME;
const MIN_VALID: usize = 2;
const MIN_INVALID: usize = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

fn source(profile: &Profile) -> String {
    format!("urn:raccordo:{}:conformance", profile.party_kind)
}

fn without_id(mut messages: Vec<Value>) -> Vec<Value> {
    for message in &mut messages {
        if let Value::Object(map) = message {
            map.remove("id");
        }
    }
    messages
}

fn outputs(outcomes: &[Outcome]) -> Vec<Value> {
    outcomes.iter().filter_map(|o| o.output.clone()).collect()
}

fn problems(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .flat_map(|o| {
            o.diagnostics
                .iter()
                .map(move |d| format!("{} {}: {}", o.label, d, d.canonical_path.as_deref().unwrap_or("")))
        })
        .collect()
}

fn check_valid(catalog: &Catalog, profile: &Profile, path: &Path, failures: &mut Vec<String>) {
    let bytes = fs::read(path).unwrap();
    let outcomes = catalog.to_canonical(profile, &bytes, &source(profile), TIME);
    let found = problems(&outcomes);
    if !found.is_empty() {
        failures.push(format!("{}: expected no diagnostics, found:\n    {}", path.display(), found.join("\n    ")));
        return;
    }
    let messages = outputs(&outcomes);
    let expected_path = path.with_extension("expected.json");
    let expected: Value = match fs::read(&expected_path) {
        Ok(text) => serde_json::from_slice(&text).unwrap(),
        Err(_) => {
            failures.push(format!("{}: missing {}", path.display(), expected_path.display()));
            return;
        }
    };
    let actual = if profile.is_batch() { Value::Array(messages.clone()) } else { messages[0].clone() };
    if actual != expected {
        failures.push(format!(
            "{}: the canonical form differs from {}:\n{}",
            path.display(),
            expected_path.display(),
            serde_json::to_string_pretty(&actual).unwrap()
        ));
        return;
    }
    // The round trip: back to the profile, then to canonical again.
    let writable = messages.iter().all(|m| {
        let name = m["type"].as_str().and_then(raccordo::standard::short_name).unwrap_or_default();
        profile.writes(name)
    });
    if !writable {
        return;
    }
    let Some(first) = messages.first() else { return };
    let config = raccordo::parties::Directory::compile(&common::example_config(catalog));
    let parties = common::example_parties(&config, &profile.name, first);
    let (documents, written) = catalog.from_canonical(profile, &messages, &parties);
    let found = problems(&written);
    if !found.is_empty() {
        failures.push(format!("{}: writing back found:\n    {}", path.display(), found.join("\n    ")));
        return;
    }
    let mut again = Vec::new();
    for document in &documents {
        let outcomes = catalog.to_canonical(profile, document, &source(profile), TIME);
        let found = problems(&outcomes);
        if !found.is_empty() {
            failures.push(format!(
                "{}: reading back what was written found:\n    {}\n{}",
                path.display(),
                found.join("\n    "),
                String::from_utf8_lossy(document)
            ));
            return;
        }
        again.extend(outputs(&outcomes));
    }
    if without_id(again.clone()) != without_id(messages.clone()) {
        failures.push(format!(
            "{}: the round trip changed the message:\n{}\n{}",
            path.display(),
            serde_json::to_string_pretty(&again).unwrap(),
            documents.iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect::<Vec<_>>().join("\n")
        ));
    }
}

fn check_invalid(catalog: &Catalog, profile: &Profile, path: &Path, failures: &mut Vec<String>) {
    let expected = match common::expected(path) {
        Ok(expected) => expected,
        Err(error) => {
            failures.push(error);
            return;
        }
    };
    let bytes = fs::read(path).unwrap();
    let outcomes = catalog.to_canonical(profile, &bytes, &source(profile), TIME);
    let found: BTreeSet<(String, String)> =
        outcomes.iter().flat_map(|o| o.diagnostics.iter().map(|d| (d.code.id(), d.path.clone()))).collect();
    if found != expected && common::updating() && !found.is_empty() {
        common::rewrite_expected(path, &found);
    } else if found != expected {
        failures.push(format!(
            "{}:\n  expected {expected:?}\n  found    {found:?}\n  {}",
            path.display(),
            problems(&outcomes).join("\n  ")
        ));
    }
}

#[test]
fn profile_cases() {
    let catalog = Catalog::load(&Assets::Folder(root())).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for profile in catalog.profiles.iter() {
        let folder = root().join("conformance/profiles").join(&profile.name);
        for mapping in profile.types.iter().filter(|t| t.to_canonical) {
            let type_folder = folder.join(&mapping.message_type);
            let valid = inputs(&type_folder.join("valid"));
            let invalid = inputs(&type_folder.join("invalid"));
            if valid.len() < MIN_VALID || invalid.len() < MIN_INVALID {
                failures.push(format!(
                    "{}/{}: {} valid and {} invalid cases, at least {MIN_VALID} and {MIN_INVALID} wanted",
                    profile.name,
                    mapping.message_type,
                    valid.len(),
                    invalid.len()
                ));
            }
            for path in valid {
                checked += 1;
                check_valid(&catalog, profile, &path, &mut failures);
            }
            for path in invalid {
                checked += 1;
                check_invalid(&catalog, profile, &path, &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{} failures in {checked} cases:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn embedded_assets_match_the_working_tree() {
    // The binary embeds schemas/ and mappings/; build.rs rebuilds it when they change.
    let embedded = Catalog::load(&Assets::Embedded).unwrap();
    let folder = Catalog::load(&Assets::Folder(root())).unwrap();
    let names = |catalog: &Catalog| catalog.profiles.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&embedded), names(&folder));
}
