//! Links libxml2 for the hand-written bindings in `src/formats/libxml2.rs`, and rebuilds
//! the binary when the embedded schemas, mappings or conformance suite change:
//! `include_dir!` reads them at compile time, and cargo does not know that on its own.

fn main() {
    relative_relocations();
    println!("cargo:rerun-if-changed=schemas");
    println!("cargo:rerun-if-changed=mappings");
    println!("cargo:rerun-if-changed=conformance");
    println!("cargo:rerun-if-changed=migrations");
    // pkg-config knows where libxml2 lives (and what it needs on static builds); without
    // it, the system's default library path is tried, where Debian's libxml2-dev puts it.
    if pkg_config::Config::new().atleast_version("2.9").probe("libxml-2.0").is_err() {
        println!("cargo:warning=pkg-config found no libxml-2.0; linking -lxml2 from the default path");
        println!("cargo:rustc-link-lib=xml2");
    }
}

/// Links the binary with packed relative relocations (`DT_RELR`) on GNU/Linux: a position-
/// independent executable keeps a table of the addresses the loader rebases at start, and
/// packed, that table is a few KiB instead of 1.4 MB read (and kept resident) at every
/// start. Needs GNU ld 2.38 and glibc 2.36 (Debian 12); the library and tests link as before.
fn relative_relocations() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
