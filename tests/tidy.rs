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
