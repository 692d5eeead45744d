//! Links libxml2 for the hand-written bindings in `src/formats/libxml2.rs`, packs the
//! shipped schemas, mappings and conformance suite into the compressed archive
//! `src/assets.rs` embeds, and rebuilds when any of them (or the migrations, which
//! `sqlx::migrate!` reads) change.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The folders `src/assets.rs` serves as `Assets::Embedded`.
const EMBEDDED: [&str; 3] = ["schemas", "mappings", "conformance"];

fn main() {
    relative_relocations();
    for folder in EMBEDDED {
        println!("cargo:rerun-if-changed={folder}");
    }
    println!("cargo:rerun-if-changed=migrations");
    if let Err(error) = pack_assets() {
        panic!("packing the embedded files: {error}");
    }
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

/// Writes `assets.z`, every embedded file compressed on its own (zlib, so each carries a
/// checksum), and `assets.rs`, their index sorted by path: where each starts in the archive,
/// its compressed length and its size. Compressed, the files the gateway reads at start
/// (the code tables above all) take under a third of the pages they took stored as they
/// are, and those pages stay resident once read (docs/PERFORMANCE.md, sixteenth pass).
fn pack_assets() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?);
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    let mut files = Vec::new();
    for folder in EMBEDDED {
        walk(&root, &root.join(folder), &mut files)?;
    }
    files.sort();
    let mut archive = Vec::new();
    let mut index = String::from("&[\n");
    for path in &files {
        let bytes = std::fs::read(root.join(path))?;
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&bytes)?;
        let packed = encoder.finish()?;
        writeln!(index, "    ({path:?}, {}, {}, {}),", archive.len(), packed.len(), bytes.len())
            .map_err(std::io::Error::other)?;
        archive.extend_from_slice(&packed);
    }
    index.push_str("]\n");
    std::fs::write(out.join("assets.z"), archive)?;
    std::fs::write(out.join("assets.rs"), index)
}

/// Collects the files under `folder` as paths relative to `root`, with `/` between parts.
fn walk(root: &Path, folder: &Path, files: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, files)?;
        } else {
            let relative = path.strip_prefix(root).map_err(std::io::Error::other)?;
            let parts: Vec<String> =
                relative.components().map(|part| part.as_os_str().to_string_lossy().into_owned()).collect();
            files.push(parts.join("/"));
        }
    }
    Ok(())
}
