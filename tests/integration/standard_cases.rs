//! Walks conformance/standard/<type>/{valid,invalid}/ and checks every case: valid inputs
//! must validate as their folder's type; each invalid input must produce exactly the
//! (code, path) pairs its `<name>.expect.toml` lists. Adding a case is adding files.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use common::inputs as cases;
use raccordo::assets::Assets;
use raccordo::formats::DEFAULT_MAX_MESSAGE_BYTES;
use raccordo::ingest;
use raccordo::standard::Standard;

const MIN_VALID: usize = 5;
const MIN_INVALID: usize = 10;

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
            let expected = match common::expected(&path) {
                Ok(expected) => expected,
                Err(error) => {
                    failures.push(error);
                    continue;
                }
            };
            let validation =
                ingest::validate_canonical(&standard, &fs::read(&path).unwrap(), DEFAULT_MAX_MESSAGE_BYTES);
            let found: BTreeSet<(String, String)> =
                validation.diagnostics.iter().map(|d| (d.code.id(), d.path.clone())).collect();
            if found != expected {
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
