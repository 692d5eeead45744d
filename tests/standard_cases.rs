//! Walks conformance/standard/<type>/{valid,invalid}/ and checks every case: valid inputs
//! must validate as their folder's type; each invalid input must produce exactly the
//! (code, path) pairs its `<name>.expect.toml` lists. Adding a case is adding files.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use raccordo::assets::Assets;
use raccordo::error::ErrorCode;
use raccordo::formats::DEFAULT_MAX_MESSAGE_BYTES;
use raccordo::ingest;
use raccordo::standard::Standard;
use serde::Deserialize;

const MIN_VALID: usize = 5;
const MIN_INVALID: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[allow(dead_code)]
    description: Option<String>,
    errors: Vec<ExpectedError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    code: String,
    path: String,
}

fn cases(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(folder) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            !name.ends_with(".expect.toml") && !name.ends_with(".expected.json") && path.is_file()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn standard_cases() {
    let standard = Standard::load(&Assets::Embedded).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/standard");
    let mut failures = Vec::new();
    let mut checked = 0;
    for message_type in standard.types() {
        let folder = root.join(&message_type.name);
        let valid = cases(&folder.join("valid"));
        let invalid = cases(&folder.join("invalid"));
        if valid.len() < MIN_VALID || invalid.len() < MIN_INVALID {
            failures.push(format!(
                "{}: {} valid and {} invalid cases, at least {MIN_VALID} and {MIN_INVALID} wanted",
                message_type.name,
                valid.len(),
                invalid.len()
            ));
        }
        for path in valid {
            checked += 1;
            let validation =
                ingest::validate_canonical(&standard, &fs::read(&path).unwrap(), DEFAULT_MAX_MESSAGE_BYTES);
            if !validation.is_valid() || validation.message_type.as_deref() != Some(&message_type.name) {
                failures.push(format!(
                    "{}: expected a valid {}, got type {:?} with {:#?}",
                    path.display(),
                    message_type.name,
                    validation.message_type,
                    validation.diagnostics
                ));
            }
        }
        for path in invalid {
            checked += 1;
            let expect_path = path.with_extension("expect.toml");
            let expect: Expect = match fs::read_to_string(&expect_path)
                .map_err(|e| e.to_string())
                .and_then(|text| toml::from_str(&text).map_err(|e| e.to_string()))
            {
                Ok(expect) => expect,
                Err(error) => {
                    failures.push(format!("{}: {error}", expect_path.display()));
                    continue;
                }
            };
            let mut expected = BTreeSet::new();
            for error in &expect.errors {
                match ErrorCode::lookup(&error.code) {
                    Some(code) => expected.insert((code.id(), error.path.clone())),
                    None => {
                        failures.push(format!("{}: unknown code {}", expect_path.display(), error.code));
                        continue;
                    }
                };
            }
            let validation =
                ingest::validate_canonical(&standard, &fs::read(&path).unwrap(), DEFAULT_MAX_MESSAGE_BYTES);
            let found: BTreeSet<(String, String)> =
                validation.diagnostics.iter().map(|d| (d.code.id(), d.path.clone())).collect();
            if expected.is_empty() || found != expected {
                failures.push(format!(
                    "{}:\n  expected {expected:?}\n  found    {found:?}\n  messages {:?}",
                    path.display(),
                    validation.diagnostics.iter().map(|d| d.message.as_str()).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cases failed:\n{}", failures.len(), failures.join("\n"));
}
