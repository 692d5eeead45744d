//! The files raccordo ships (schemas, code tables, mappings, the conformance suite), embedded at build time
//! or read from a folder a user names.
//!
//! Embedding makes the binary work wherever it is copied; a folder lets an integrator try a
//! changed schema or a new table without rebuilding. Either way, files are read only while
//! loading at start, never per message.

use std::io::{BufReader, Read};
use std::path::PathBuf;

use flate2::read::ZlibDecoder;

use crate::error::Error;

/// The embedded files, each compressed on its own by build.rs (zlib).
static ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/assets.z"));

/// The archive's index, sorted by path: the path from the repository root, where the file
/// starts in `ARCHIVE`, its compressed length and its size. Stored compressed, the files
/// `serve` reads at start take under a third of the pages they would take as they are;
/// those pages stay mapped once read, so they count in its idle RSS (docs/PERFORMANCE.md,
/// sixteenth pass).
static INDEX: &[(&str, usize, usize, usize)] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

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
    pub fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        match self {
            Assets::Embedded => {
                let (packed, size) = packed(path)?;
                let mut bytes = Vec::with_capacity(size);
                ZlibDecoder::new(packed).read_to_end(&mut bytes).map_err(|error| damaged(path, &error))?;
                if bytes.len() != size {
                    return Err(damaged(path, &"its size differs from the index's"));
                }
                Ok(bytes)
            }
            Assets::Folder(root) => {
                let full = root.join(path);
                std::fs::read(&full).map_err(|source| Error::Io { path: full, source })
            }
        }
    }

    /// Opens one file as a stream. The large code tables are read this way: a copy of the
    /// whole file, made and freed at start, would stay in the allocator's dirty pages and
    /// in the idle RSS. A damaged embedded copy fails the read with an I/O error.
    pub fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, Error> {
        match self {
            Assets::Embedded => Ok(Box::new(ZlibDecoder::new(packed(path)?.0))),
            Assets::Folder(root) => {
                let full = root.join(path);
                match std::fs::File::open(&full) {
                    Ok(file) => Ok(Box::new(BufReader::new(file))),
                    Err(source) => Err(Error::Io { path: full, source }),
                }
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
                // The index is sorted, so the files under a folder are one run of it.
                let prefix = format!("{}/", folder.trim_end_matches('/'));
                let start = INDEX.partition_point(|(path, ..)| *path < prefix.as_str());
                let mut under =
                    INDEX[start..].iter().map_while(|(path, ..)| path.strip_prefix(prefix.as_str())).peekable();
                if under.peek().is_none() {
                    return Err(Error::asset(folder, "not an embedded folder"));
                }
                let mut names: Vec<String> = match kind {
                    Entry::File => under.filter(|rest| !rest.contains('/')).map(str::to_owned).collect(),
                    Entry::Folder => {
                        under.filter_map(|rest| rest.split_once('/')).map(|(dir, _)| dir.to_owned()).collect()
                    }
                };
                names.dedup();
                names
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

/// One embedded file's compressed bytes and its size.
fn packed(path: &str) -> Result<(&'static [u8], usize), Error> {
    let found = INDEX.binary_search_by(|(name, ..)| (*name).cmp(path));
    let &(_, start, length, size) =
        found.map(|at| &INDEX[at]).map_err(|_| Error::asset(path, "not among the embedded files"))?;
    let bytes = ARCHIVE.get(start..start + length).ok_or_else(|| damaged(path, &"it lies outside the archive"))?;
    Ok((bytes, size))
}

fn damaged(path: &str, reason: &dyn std::fmt::Display) -> Error {
    Error::asset(path, format!("the embedded copy does not unpack, the binary is damaged: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the shipped folders, as the binary holds it, reads back byte for byte,
    /// and each folder lists the same files and subfolders from both sources.
    #[test]
    fn embedded_files_unpack_to_the_repository_copies() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let folder = Assets::Folder(root);
        let mut pending = vec!["schemas".to_owned(), "mappings".to_owned(), "conformance".to_owned()];
        let mut files = 0;
        while let Some(dir) = pending.pop() {
            let listed = Assets::Embedded.list(&dir, "").unwrap();
            assert_eq!(listed, folder.list(&dir, "").unwrap(), "{dir}");
            for path in listed {
                let bytes = folder.read(&path).unwrap();
                assert_eq!(Assets::Embedded.read(&path).unwrap(), bytes, "{path}");
                let mut streamed = Vec::new();
                Assets::Embedded.open(&path).unwrap().read_to_end(&mut streamed).unwrap();
                assert_eq!(streamed, bytes, "{path}");
                files += 1;
            }
            let subfolders = Assets::Embedded.list_dirs(&dir).unwrap();
            assert_eq!(subfolders, folder.list_dirs(&dir).unwrap(), "{dir}");
            pending.extend(subfolders);
        }
        assert_eq!(files, INDEX.len());
        assert!(Assets::Embedded.list("mappings/codes", ".csv").unwrap().contains(&"mappings/codes/comuni.csv".into()));
    }

    #[test]
    fn paths_outside_the_embedded_files_are_errors() {
        for path in ["", "schemas", "schemas/none.json", "src/lib.rs", "schemas/../Cargo.toml"] {
            assert!(Assets::Embedded.read(path).is_err(), "{path:?}");
            assert!(Assets::Embedded.open(path).is_err(), "{path:?}");
        }
        for folder in ["", "src", "schemas/none", "schemas/standard/common.v1.schema.json"] {
            assert!(Assets::Embedded.list(folder, "").is_err(), "{folder:?}");
            assert!(Assets::Embedded.list_dirs(folder).is_err(), "{folder:?}");
        }
    }
}
