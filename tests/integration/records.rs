//! Nothing dropped: a party input that holds several records (CSV lines, fixed-width
//! records, the communications of an INPS page, the benefits of a SIUSS flow) yields one
//! outcome per record, each translated or refused with its reasons; and a record that holds
//! repeated items (the jobs of a SAP, the candidates of a match) keeps every item. Counted
//! per profile: records in = messages out.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use crate::common;

use raccordo::assets::Assets;
use raccordo::ingest::{Catalog, Label};
use raccordo::mapping::{Layout, Profile};
use raccordo::simulate::generate::Generator;
use serde_json::{json, Value};

const TIME: &str = "2026-12-31T12:00:00+01:00";
/// More than ten, so that labels `/items/10` and `line 12` meet their ordering.
const RECORDS: usize = 23;

fn catalog() -> Catalog {
    Catalog::load(&Assets::Folder(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_owned())).unwrap()
}

/// `count` generated messages of a type `profile` writes and reads, written into one input
/// of the profile: a file of records, or (XML profiles with records) the records of every
/// written document put together under the first document's root.
fn one_input(catalog: &Catalog, profile: &Profile, count: usize) -> Option<(String, Vec<u8>)> {
    let config = raccordo::parties::Directory::compile(&common::example_config(catalog));
    let mapping = profile.types.iter().find(|t| t.to_canonical && t.from_canonical)?;
    let mut generator = Generator::new(17);
    let messages: Vec<Value> = (0..count).map(|_| generator.message(&mapping.message_type).unwrap()).collect();
    let parties = common::example_parties(&config, &profile.name, &messages[0]);
    let (documents, outcomes) = catalog.from_canonical(profile, &messages, &parties);
    let problems: Vec<_> = outcomes.iter().flat_map(|o| &o.diagnostics).collect();
    assert!(problems.is_empty(), "{}: generated messages must be writable: {problems:?}", profile.name);
    let input = match &profile.layout {
        Layout::Xml { records: Some(steps), .. } => {
            // Each document holds one record: keep the first document's frame and put in it
            // every document's element on the records' path under the root (Beneficiario).
            let holder = &steps[0].local;
            let (open, close) = (format!("<{holder}"), format!("</{holder}>"));
            let texts: Vec<String> = documents.iter().map(|d| String::from_utf8(d.clone()).unwrap()).collect();
            let span = |text: &str| (text.find(&open).unwrap(), text.rfind(&close).unwrap() + close.len());
            let records: Vec<&str> = texts
                .iter()
                .map(|text| {
                    let (from, to) = span(text);
                    &text[from..to]
                })
                .collect();
            let (start, end) = span(&texts[0]);
            format!("{}{}{}", &texts[0][..start], records.join("\n"), &texts[0][end..]).into_bytes()
        }
        _ => {
            assert_eq!(documents.len(), 1, "{}: one file of records", profile.name);
            documents[0].clone()
        }
    };
    Some((mapping.message_type.clone(), input))
}

/// For a record profile raccordo only reads (INPS's flat files): the records of its valid
/// vectors, repeated until there are `count`.
fn read_only_input(profile: &Profile, count: usize) -> (String, Vec<u8>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/profiles").join(&profile.name);
    let mut lines = Vec::new();
    for folder in std::fs::read_dir(&root).unwrap() {
        let valid = folder.unwrap().path().join("valid");
        for path in common::inputs(&valid) {
            let text = std::fs::read(&path).unwrap();
            lines.extend(text.split(|b| *b == b'\n').filter(|line| !line.is_empty()).map(|line| line.to_vec()));
        }
    }
    assert!(!lines.is_empty(), "{}: no valid vector to take records from", profile.name);
    let records: Vec<Vec<u8>> = lines.iter().cycle().take(count).cloned().collect();
    ("records of the valid vectors".to_owned(), records.join(&b'\n'))
}

#[test]
fn every_record_of_a_multi_record_input_comes_out() {
    let catalog = catalog();
    let mut checked = Vec::new();
    for profile in catalog.profiles.iter().filter(|p| p.is_batch()) {
        let (message_type, input) = match &profile.layout {
            Layout::Json { records: Some(_), .. } => {
                // INPS pages are read only: a page of the simulator's communications.
                let items: Vec<Value> =
                    (0..RECORDS as u64).map(|index| raccordo::simulate::inps::record(3, index, 0.0)).collect();
                ("inps page".to_owned(), json!({ "elenco_comunicazioni": items }).to_string().into_bytes())
            }
            _ => match one_input(&catalog, profile, RECORDS) {
                Some(found) => found,
                None => read_only_input(profile, RECORDS),
            },
        };
        let outcomes = catalog.to_canonical(profile, &input, "urn:raccordo:social:test", TIME);
        assert_eq!(outcomes.len(), RECORDS, "{} ({message_type}): {RECORDS} records in", profile.name);
        let invalid: Vec<_> = outcomes.iter().filter(|o| !o.is_valid()).map(|o| (&o.label, &o.diagnostics)).collect();
        assert!(invalid.is_empty(), "{}: {invalid:?}", profile.name);
        assert!(outcomes.iter().all(|o| o.output.is_some()), "{}: every record has its message", profile.name);
        // In the input's order: item 10 after item 9 (not after item 1), line 12 after line 11.
        let mut previous_line = 0;
        for (position, outcome) in outcomes.iter().enumerate() {
            match &outcome.label {
                Label::Item { index, .. } | Label::Element { index, .. } => {
                    assert_eq!(*index, position, "{}: {} out of order", profile.name, outcome.label);
                }
                Label::Line(line) => {
                    assert!(*line > previous_line, "{}: {} out of order", profile.name, outcome.label);
                    previous_line = *line;
                }
                Label::Whole => panic!("{}: a record labelled as the whole input", profile.name),
            }
        }
        checked.push(profile.name.clone());
    }
    for expected in ["social-csv", "inps-flat", "inps-json", "social-siuss"] {
        assert!(checked.iter().any(|name| name == expected), "{expected} was not checked: {checked:?}");
    }
}

#[test]
fn repeated_items_of_a_record_all_come_out() {
    // A SAP with many jobs, most of them not care work: every job is an experience.
    let catalog = catalog();
    let profile = catalog.profiles.get("cpi-sap").unwrap();
    let config = raccordo::parties::Directory::compile(&common::example_config(&catalog));
    let mut message = Generator::new(8).message("worker.registered").unwrap();
    let jobs: Vec<Value> = (0..30)
        .map(|index| {
            let (role, occupation) = if index % 3 == 0 {
                ("live-in-carer", None)
            } else {
                ("other", Some(format!("8.3.1.1.0.{}", index % 9)))
            };
            let mut job =
                json!({ "role": role, "startDate": format!("20{:02}-0{}-01", 10 + index % 10, 1 + index % 9) });
            if let Some(occupation) = occupation {
                job["occupation"] = json!(occupation);
            }
            job
        })
        .collect();
    message["data"]["experiences"] = Value::Array(jobs);
    let parties = common::example_parties(&config, "cpi-sap", &message);
    let (documents, outcomes) = catalog.from_canonical(profile, std::slice::from_ref(&message), &parties);
    assert!(outcomes.iter().all(|o| o.diagnostics.is_empty()), "{outcomes:?}");
    let read = catalog.to_canonical(profile, &documents[0], message["source"].as_str().unwrap(), TIME);
    assert!(read[0].diagnostics.is_empty(), "{:?}", read[0].diagnostics);
    let experiences = read[0].output.as_ref().unwrap()["data"]["experiences"].as_array().unwrap().len();
    assert_eq!(experiences, 30, "every job of the SAP is an experience");
}
