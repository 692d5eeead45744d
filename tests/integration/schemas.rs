//! Properties of the standard's schema files themselves, as the issue asks of them.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

fn schemas() -> HashMap<String, Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/standard");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap())
        })
        .collect()
}

/// The schema a `$ref` points at, within the standard's files.
fn resolve<'a>(all: &'a HashMap<String, Value>, current: &'a Value, reference: &str) -> &'a Value {
    let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let document = if file.is_empty() { current } else { &all[file] };
    document.pointer(fragment).unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

fn has_description(all: &HashMap<String, Value>, document: &Value, schema: &Value) -> bool {
    if schema.get("description").is_some() {
        return true;
    }
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => has_description(all, document, resolve(all, document, reference)),
        None => schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|parts| parts.iter().any(|part| has_description(all, document, part))),
    }
}

fn walk(all: &HashMap<String, Value>, document: &Value, schema: &Value, at: String, missing: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    // `false` forbids a property; it needs no description.
                    if property.is_object() && !has_description(all, document, property) {
                        missing.push(format!("{at}/properties/{name}"));
                    }
                }
            }
            for (key, value) in map {
                // Conditions restate properties already declared, with their descriptions.
                if matches!(key.as_str(), "if" | "then" | "else" | "not") {
                    continue;
                }
                walk(all, document, value, format!("{at}/{key}"), missing);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(all, document, item, format!("{at}/{index}"), missing);
            }
        }
        _ => {}
    }
}

#[test]
fn every_property_has_a_description() {
    let all = schemas();
    let mut missing = Vec::new();
    for (name, document) in &all {
        walk(&all, document, document, name.clone(), &mut missing);
    }
    missing.sort();
    assert!(missing.is_empty(), "properties without a description:\n{}", missing.join("\n"));
}

#[test]
fn every_schema_is_2020_12_with_an_id_matching_its_file() {
    for (name, document) in schemas() {
        assert_eq!(document["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert_eq!(document["$id"], format!("https://raccordo.github.io/schemas/standard/{name}"), "{name}");
    }
}
