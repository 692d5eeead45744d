//! Property tests: generated canonical messages of every type, written in every profile
//! that writes that type and read back. Reading back must give a valid message that says
//! nothing the original did not (a profile may carry less, never something else), and a
//! second trip must read back the same message (one trip reaches a fixed point).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::path::Path;
use std::sync::OnceLock;

use crate::common;

use proptest::prelude::*;
use raccordo::assets::Assets;
use raccordo::ingest::Catalog;
use raccordo::simulate::generate::Generator;
use serde_json::Value;

const TIME: &str = "2026-03-02T10:00:00+01:00";

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(&Assets::Folder(Path::new(env!("CARGO_MANIFEST_DIR")).to_owned())).unwrap())
}

fn config() -> &'static raccordo::parties::Directory {
    static CONFIG: OnceLock<raccordo::parties::Directory> = OnceLock::new();
    CONFIG.get_or_init(|| raccordo::parties::Directory::compile(&common::example_config(catalog())))
}

/// Every leaf of `read_back` is in `original` with the same value.
fn says_nothing_new(read_back: &Value, original: &Value, at: &str) -> Result<(), String> {
    match (read_back, original) {
        (Value::Object(back), Value::Object(orig)) => back.iter().try_for_each(|(key, value)| match orig.get(key) {
            Some(o) => says_nothing_new(value, o, &format!("{at}/{key}")),
            None => Err(format!("{at}/{key} appeared")),
        }),
        (Value::Array(back), Value::Array(orig)) => {
            back.iter().enumerate().try_for_each(|(index, value)| match orig.get(index) {
                Some(o) => says_nothing_new(value, o, &format!("{at}/{index}")),
                None => Err(format!("{at}/{index} appeared")),
            })
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        // A code the party can't tell apart reads back as the standard's documented fallback
        // (a SAP course has no kind): less said, not something else.
        (Value::String(back), Value::String(_)) if back == "other" => Ok(()),
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{at} changed from {b} to {a}")),
    }
}

/// Writes `message` in `profile` and reads it back; `None` when the profile can't write it
/// validly (its schema needs something the message lacks).
fn trip(profile_name: &str, message: &Value) -> Option<(Vec<u8>, Value)> {
    let catalog = catalog();
    let profile = catalog.profiles.get(profile_name).unwrap();
    let config = config();
    let parties = common::example_parties(config, profile_name, message);
    let (documents, outcomes) = catalog.from_canonical(profile, std::slice::from_ref(message), &parties);
    if outcomes.iter().any(|o| !o.diagnostics.is_empty()) || documents.len() != 1 {
        return None;
    }
    // A document the profile only writes (a party that only receives it, or one of a type's
    // documents that can't be read back) has nothing to read back: writing validly is all
    // it can show.
    let message_type = message["type"].as_str().and_then(raccordo::standard::short_name).unwrap();
    if !profile.writer_for(message_type, message).is_some_and(|writer| writer.to_canonical) {
        return Some((documents[0].clone(), message.clone()));
    }
    let source = message["source"].as_str().unwrap();
    // The message's own time stands for the reception time of party formats that carry
    // none: its dates of past events are not after it.
    let time = message["time"].as_str().unwrap_or(TIME);
    let read = catalog.to_canonical(profile, &documents[0], source, time);
    assert_eq!(read.len(), 1, "{profile_name}: one message written, {} read", read.len());
    assert!(
        read[0].diagnostics.is_empty(),
        "{profile_name}: reading back what raccordo wrote: {:?}\n{}",
        read[0].diagnostics,
        String::from_utf8_lossy(&documents[0])
    );
    Some((documents[0].clone(), read[0].output.clone().unwrap()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_profile_round_trips_generated_messages(seed in any::<u64>()) {
        let catalog = catalog();
        let mut generator = Generator::new(seed);
        for profile in catalog.profiles.iter() {
            for mapping in profile.types.iter().filter(|t| t.from_canonical && t.to_canonical) {
                let message = generator.message(&mapping.message_type).unwrap();
                let Some((_, read_back)) = trip(&profile.name, &message) else { continue };
                prop_assert!(catalog.standard.validate(&read_back).is_valid(), "{}: read back invalid", profile.name);
                prop_assert_eq!(&read_back["type"], &message["type"]);
                if let Err(difference) = says_nothing_new(&read_back["data"], &message["data"], "/data") {
                    prop_assert!(false, "{} {}: {difference}", profile.name, mapping.message_type);
                }
                // A second trip must read back the same message. (Bytes may differ: a profile
                // may write what it can't read, such as the SAP's courses.)
                let (_, again) = trip(&profile.name, &read_back).unwrap();
                let strip = |mut m: Value| { m.as_object_mut().unwrap().remove("id"); m };
                prop_assert_eq!(strip(again), strip(read_back.clone()), "{} {}: no fixed point", profile.name, mapping.message_type);
            }
        }
    }
}

#[test]
fn generated_messages_are_writable_in_every_profile_that_writes_their_type() {
    // Guards against the property test passing vacuously: for each profile and type it
    // writes, some generated messages must get through.
    let catalog = catalog();
    let mut generator = Generator::new(11);
    let mut silent = Vec::new();
    for profile in catalog.profiles.iter() {
        for mapping in profile.types.iter().filter(|t| t.from_canonical) {
            let written = (0..16)
                .filter(|_| trip(&profile.name, &generator.message(&mapping.message_type).unwrap()).is_some())
                .count();
            if written == 0 {
                silent.push(format!("{} {}", profile.name, mapping.message_type));
            }
        }
    }
    assert!(silent.is_empty(), "no generated message could be written for: {silent:?}");
}
