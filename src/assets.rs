//! The files raccordo ships (schemas, code tables, mappings, the conformance suite), embedded at build time
//! or read from a folder a user names.
//!
//! Embedding makes the binary work wherever it is copied; a folder lets an integrator try a
//! changed schema or a new table without rebuilding. Either way, files are read only while
//! loading at start, never per message.

use std::borrow::Cow;
use std::path::PathBuf;

use include_dir::{include_dir, Dir};

use crate::error::Error;

static SCHEMAS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/schemas");
static MAPPINGS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/mappings");
static CONFORMANCE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/conformance");

/// Where the shipped files come from. Paths are relative to the repository root, e.g.
/// `schemas/standard/common.v1.schema.json`.
#[derive(Debug, Clone)]
pub enum Assets {
    /// The copies compiled into the binary.
    Embedded,
    /// A folder laid out like the repository (`schemas/`, `mappings/`).
    Folder(PathBuf),
}

impl Assets {
    /// Reads one file.
    pub fn read(&self, path: &str) -> Result<Cow<'static, [u8]>, Error> {
        match self {
            Assets::Embedded => embedded(path)
                .and_then(|(dir, rest)| dir.get_file(rest))
                .map(|file| Cow::Borrowed(file.contents()))
                .ok_or_else(|| Error::asset(path, "not among the embedded files")),
            Assets::Folder(root) => {
                let full = root.join(path);
                std::fs::read(&full).map(Cow::Owned).map_err(|source| Error::Io { path: full, source })
            }
        }
    }

    /// Lists the files directly in `folder` whose names end with `suffix`, sorted, as
    /// paths relative to the root.
    pub fn list(&self, folder: &str, suffix: &str) -> Result<Vec<String>, Error> {
        let mut names = self.entries(folder, Entry::File)?;
        names.retain(|name| name.ends_with(suffix));
        Ok(names.into_iter().map(|name| format!("{}/{name}", folder.trim_end_matches('/'))).collect())
    }

    /// Lists the folders directly in `folder`, sorted, as paths relative to the root.
    pub fn list_dirs(&self, folder: &str) -> Result<Vec<String>, Error> {
        let names = self.entries(folder, Entry::Folder)?;
        Ok(names.into_iter().map(|name| format!("{}/{name}", folder.trim_end_matches('/'))).collect())
    }

    /// The sorted names of the files or folders directly in `folder`.
    fn entries(&self, folder: &str, kind: Entry) -> Result<Vec<String>, Error> {
        let mut names = match self {
            Assets::Embedded => {
                let not_a_folder = || Error::asset(folder, "not an embedded folder");
                let (dir, rest) = embedded(folder).ok_or_else(not_a_folder)?;
                let dir = if rest.as_os_str().is_empty() { dir } else { dir.get_dir(rest).ok_or_else(not_a_folder)? };
                let name = |path: &std::path::Path| path.file_name()?.to_str().map(str::to_owned);
                match kind {
                    Entry::File => dir.files().filter_map(|file| name(file.path())).collect::<Vec<_>>(),
                    Entry::Folder => dir.dirs().filter_map(|sub| name(sub.path())).collect::<Vec<_>>(),
                }
            }
            Assets::Folder(root) => {
                let full = root.join(folder);
                let io = |source| Error::Io { path: full.clone(), source };
                let mut names = Vec::new();
                for entry in std::fs::read_dir(&full).map_err(io)? {
                    let entry = entry.map_err(io)?;
                    if entry.path().is_dir() == (kind == Entry::Folder) {
                        if let Some(name) = entry.file_name().to_str() {
                            names.push(name.to_owned());
                        }
                    }
                }
                names
            }
        };
        names.sort();
        Ok(names)
    }

    /// Describes where a relative path is found, for messages and `raccordo schemas`.
    pub fn describe(&self, path: &str) -> String {
        match self {
            Assets::Embedded => format!("{path} (embedded)"),
            Assets::Folder(root) => root.join(path).display().to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File,
    Folder,
}

/// Splits a repository-relative path into the embedded tree that holds it and the rest.
fn embedded(path: &str) -> Option<(&'static Dir<'static>, &std::path::Path)> {
    let path = std::path::Path::new(path);
    if let Ok(rest) = path.strip_prefix("schemas") {
        Some((&SCHEMAS, rest))
    } else if let Ok(rest) = path.strip_prefix("mappings") {
        Some((&MAPPINGS, rest))
    } else if let Ok(rest) = path.strip_prefix("conformance") {
        Some((&CONFORMANCE, rest))
    } else {
        None
    }
}
