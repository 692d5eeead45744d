//! The mapping engine: declarative files that translate each party's format to the
//! standard and back, compiled once at start.
//!
//! `spec` is what an integrator writes (docs/MAPPINGS.md), `compile` checks it against the
//! standard and turns it into a plan, `path` reads and writes party documents, `apply`
//! runs a plan on one message. Adding a party format is writing a `profile.toml`, one
//! `<type>.toml` per message type and, optionally, the party's schema: no Rust code.

pub mod apply;
pub mod compile;
pub mod path;
pub mod spec;

use crate::assets::Assets;
use crate::error::Error;
use crate::standard::Standard;
pub use compile::{Layout, Profile, TypeMapping};

/// Every profile, compiled.
#[derive(Debug)]
pub struct Profiles {
    profiles: Vec<Profile>,
}

impl Profiles {
    pub fn load(assets: &Assets, standard: &Standard) -> Result<Profiles, Error> {
        Ok(Profiles { profiles: compile::load_all(assets, standard)? })
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|profile| profile.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.iter()
    }
}

impl Profile {
    /// Whether this profile writes messages of a type (in one of its documents, at least).
    pub fn writes(&self, message_type: &str) -> bool {
        self.types.iter().any(|mapping| mapping.message_type == message_type && mapping.from_canonical)
    }

    /// The mapping that writes `message` (of `message_type`) in this profile: the first of
    /// the type's writers whose `select` holds for it, else the first with no `select` (the
    /// type's default document).
    pub fn writer_for(&self, message_type: &str, message: &serde_json::Value) -> Option<&TypeMapping> {
        let mut writers =
            self.types.iter().filter(|mapping| mapping.message_type == message_type && mapping.from_canonical);
        let selected = writers
            .clone()
            .find(|mapping| mapping.select.as_ref().is_some_and(|condition| apply::selects(condition, message)));
        selected.or_else(|| writers.find(|mapping| mapping.select.is_none()))
    }

    /// Whether the party format holds many records per file.
    pub fn is_batch(&self) -> bool {
        match &self.layout {
            Layout::Csv { .. } | Layout::Fixed(_) => true,
            Layout::Json { records, .. } => records.is_some(),
            Layout::Xml { records, .. } => records.is_some(),
        }
    }
}
