//! Checks of the code base's own rules (docs/ARCHITECTURE.md, "Invariants") that a compiler
//! does not enforce.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    for path in rust_files(&src()) {
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("//!"), "{} must open with a one-sentence //! doc", path.display());
    }
}

#[test]
fn pure_layers_do_no_io_and_know_no_network() {
    // standard, formats and mapping are pure: no async runtime, no HTTP, no store, no clock.
    let forbidden =
        ["tokio", "axum", "reqwest", "crate::store", "crate::api", "crate::cli", "SystemTime::now", "Utc::now"];
    for layer in ["standard", "formats", "mapping"] {
        let dir = src().join(layer);
        if !dir.exists() {
            continue;
        }
        for path in rust_files(&dir) {
            let text = fs::read_to_string(&path).unwrap();
            for word in forbidden {
                assert!(!text.contains(word), "{} (a pure layer) mentions {word}", path.display());
            }
        }
    }
}

#[test]
fn no_unwrap_or_expect_outside_tests() {
    // clippy's unwrap_used lint covers unwrap(); this also covers expect() on input paths.
    for path in rust_files(&src()) {
        let text = fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            assert!(
                !line.contains(".unwrap()") && !line.contains(".expect("),
                "{}:{}: unwrap/expect outside tests",
                path.display(),
                number + 1
            );
        }
    }
}

#[test]
fn nothing_is_generated_with_libclang_at_build_time() {
    // The README's run command must build on a fresh Debian with rustup and
    // build-essential: no bindgen (which needs libclang) anywhere in the dependency tree.
    let lock = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    for package in ["bindgen", "clang-sys"] {
        assert!(
            !lock.contains(&format!("name = \"{package}\"")),
            "Cargo.lock has {package}: the build would need libclang on the building machine"
        );
    }
}

#[test]
fn unsafe_code_stays_in_the_libxml2_bindings() {
    // `unsafe_code` is denied crate-wide; one module may allow it, and no other.
    for path in rust_files(&src()) {
        let text = fs::read_to_string(&path).unwrap();
        let allowed = path.ends_with("formats/libxml2.rs");
        assert_eq!(
            text.contains("allow(unsafe_code)"),
            allowed,
            "{}: unsafe code belongs in formats/libxml2.rs only",
            path.display()
        );
    }
}

/// The modules in layers, lowest first (docs/ARCHITECTURE.md, "Layers"): a module may use
/// modules of its own layer or of layers below, never above.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundations", &["error", "clock", "telemetry", "jose", "retry", "assets", "report", "pki", "schedule"]),
    ("the standard and formats", &["formats", "modi", "standard", "mapping", "ingest"]),
    ("storage", &["store", "checkpoint"]),
    ("configuration", &["config", "parties", "limits", "routing"]),
    ("runtime", &["intake", "gateway"]),
    ("workers", &["delivery", "inps", "retention"]),
    ("HTTP", &["api"]),
    ("tools", &["conformance", "simulate"]),
    ("command line", &["cli"]),
];

/// The top-level module a source file belongs to (`None` for lib.rs and main.rs).
fn module_of(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(src()).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The top-level modules a file's code (its tests left out) names through `crate::`.
fn uses(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let code: String = code.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let ident = |rest: &str| rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, d::{e, f}}`: the names at the group's top level.
            let mut depth = 0;
            let mut start = true;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        found.push(ident(&group[index..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found
}

/// Every edge between top-level modules, with a file that makes it.
fn module_graph() -> std::collections::BTreeMap<(String, String), PathBuf> {
    let modules: Vec<&str> = LAYERS.iter().flat_map(|(_, modules)| modules.iter().copied()).collect();
    let mut edges = std::collections::BTreeMap::new();
    for path in rust_files(&src()) {
        let Some(from) = module_of(&path) else { continue };
        assert!(
            modules.contains(&from.as_str()),
            "module {from} is in no layer of tests/integration/tidy.rs (and ARCHITECTURE.md)"
        );
        for to in uses(&fs::read_to_string(&path).unwrap()) {
            if to != from && modules.contains(&to.as_str()) {
                edges.entry((from.clone(), to)).or_insert_with(|| path.clone());
            }
        }
    }
    edges
}

#[test]
fn modules_use_only_their_own_layer_and_those_below() {
    let layer = |module: &str| LAYERS.iter().position(|(_, modules)| modules.contains(&module));
    for ((from, to), path) in module_graph() {
        let (Some(from_layer), Some(to_layer)) = (layer(&from), layer(&to)) else { continue };
        assert!(
            to_layer <= from_layer,
            "{}: {from} ({}) uses {to} ({}), a layer above it",
            path.display(),
            LAYERS[from_layer].0,
            LAYERS[to_layer].0
        );
    }
}

#[test]
fn delivery_and_the_inps_pull_know_nothing_of_http_serving() {
    for ((from, to), path) in module_graph() {
        assert!(
            !(matches!(from.as_str(), "delivery" | "inps" | "retention" | "gateway") && to == "api"),
            "{}: {from} uses api; the runtime is in gateway",
            path.display()
        );
        assert!(
            !(from == "config" && matches!(to.as_str(), "gateway" | "inps" | "delivery" | "api" | "store" | "intake")),
            "{}: config uses {to}; it is plain data and its own checks",
            path.display()
        );
    }
}

#[test]
fn there_is_no_circle_between_modules() {
    let edges = module_graph();
    let mut next: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from.as_str()).or_default().push(to.as_str());
    }
    // Depth-first search; a module met again while on the path closes a circle.
    fn visit<'a>(
        module: &'a str,
        next: &std::collections::BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut circle = path[start..].to_vec();
            circle.push(module);
            return Some(circle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for to in next.get(module).into_iter().flatten() {
            if let Some(circle) = visit(to, next, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for module in next.keys() {
        let circle = visit(module, &next, &mut Vec::new(), &mut done);
        assert!(circle.is_none(), "modules in a circle: {}", circle.unwrap_or_default().join(" -> "));
    }
}

#[test]
fn the_module_graph_is_read_from_every_kind_of_use() {
    let text = "use crate::error::Error;\nuse crate::{clock::{Clock, Ids}, store};\n// crate::api in a comment\n\
                fn f() { crate::routing::project(); }\n#[cfg(test)]\nmod tests { use crate::cli; }\n";
    assert_eq!(uses(text), ["error", "clock", "store", "routing"]);
}
