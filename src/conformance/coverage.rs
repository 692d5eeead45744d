//! Profile coverage: every standard-valid vector of each message type, written into each
//! profile that writes the type. A vector is *written* (the party's schema accepts the
//! output), *refused by a requirement* (only `RAC-2020`: the profile needs something the
//! standard leaves optional, stated as a `PRF-…` requirement and checked at intake), or it
//! *fails*: a valid message the profile can't write for a reason nobody stated, which the
//! gateway would accept and never deliver. Coverage is complete when nothing fails.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::assets::Assets;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::ingest::Catalog;
use crate::parties::Directory;
use crate::report::WireDiagnostic;

/// Where the standard's valid vectors are.
const VECTORS: &str = "conformance/standard";

/// The verdict on one vector in one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    Written,
    /// Refused only for per-profile requirements, listed by id.
    Required {
        requirements: Vec<String>,
    },
    Failed {
        errors: Vec<WireDiagnostic>,
    },
}

/// One vector in one profile.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub profile: String,
    #[serde(rename = "type")]
    pub message_type: String,
    pub vector: String,
    /// The configured party written for (its entity code is what mappings may use).
    pub recipient: Option<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Counts for one profile and type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub vectors: usize,
    pub written: usize,
    pub required: usize,
    pub failed: usize,
}

impl Tally {
    /// The share of vectors that are written or refused by a stated requirement.
    pub fn coverage(&self) -> f64 {
        if self.vectors == 0 {
            return 1.0;
        }
        (self.written + self.required) as f64 / self.vectors as f64
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub entries: Vec<Entry>,
    /// Per `profile/type`.
    pub tallies: BTreeMap<String, Tally>,
    pub total: Tally,
}

impl Coverage {
    pub fn complete(&self) -> bool {
        self.total.failed == 0
    }
}

/// Writes every valid vector of `assets` into every profile that writes its type, for the
/// recipient `config` has in that profile (the first party receiving it), if any.
pub fn measure(catalog: &Catalog, assets: &Assets, config: &Config) -> Result<Coverage, Error> {
    let mut vectors: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for folder in assets.list_dirs(VECTORS)? {
        let name = folder.rsplit('/').next().unwrap_or(&folder).to_owned();
        for file in assets.list(&format!("{folder}/valid"), ".json")? {
            let bytes = assets.read(&file)?;
            let message: Value = serde_json::from_slice(&bytes).map_err(|e| Error::asset(&file, e))?;
            vectors.entry(name.clone()).or_default().push((file, message));
        }
    }
    let directory = Directory::compile(config);
    let mut entries = Vec::new();
    for profile in catalog.profiles.iter() {
        let recipient = config
            .parties
            .iter()
            .find(|party| party.receives.as_ref().is_some_and(|receives| receives.profile == profile.name));
        // A type may have several writers (one per document it is written as): once each.
        let mut written_types: Vec<&str> =
            profile.types.iter().filter(|m| m.from_canonical).map(|m| m.message_type.as_str()).collect();
        written_types.sort_unstable();
        written_types.dedup();
        for message_type in written_types {
            for (file, message) in vectors.get(message_type).map(Vec::as_slice).unwrap_or_default() {
                let parties = directory.parties_of(message, recipient.map(|party| party.id.as_str()));
                let problems = catalog.undeliverable(&profile.name, message, &parties);
                let verdict = if problems.is_empty() {
                    Verdict::Written
                } else if problems.iter().all(|d| d.code == ErrorCode::ProfileRequirement) {
                    let mut requirements: Vec<String> =
                        problems.iter().filter_map(|d| d.requirement.as_deref().map(str::to_owned)).collect();
                    requirements.sort();
                    requirements.dedup();
                    Verdict::Required { requirements }
                } else {
                    Verdict::Failed { errors: problems.iter().map(WireDiagnostic::from).collect() }
                };
                entries.push(Entry {
                    profile: profile.name.clone(),
                    message_type: message_type.to_owned(),
                    vector: file.clone(),
                    recipient: recipient.map(|party| party.id.clone()),
                    verdict,
                });
            }
        }
    }
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    for entry in &entries {
        let tally = tallies.entry(format!("{}/{}", entry.profile, entry.message_type)).or_default();
        for tally in [tally, &mut total] {
            tally.vectors += 1;
            match entry.verdict {
                Verdict::Written => tally.written += 1,
                Verdict::Required { .. } => tally.required += 1,
                Verdict::Failed { .. } => tally.failed += 1,
            }
        }
    }
    Ok(Coverage { entries, tallies, total })
}

/// The report for a terminal: one line per profile and type, then every failure.
pub fn to_text(coverage: &Coverage) -> String {
    let mut text = String::new();
    for (key, tally) in &coverage.tallies {
        text.push_str(&format!(
            "{key}: {} vectors, {} written, {} refused by a stated requirement, {} failed ({:.0}%)\n",
            tally.vectors,
            tally.written,
            tally.required,
            tally.failed,
            tally.coverage() * 100.0
        ));
    }
    let total = &coverage.total;
    text.push_str(&format!(
        "total: {} vectors, {} written, {} refused by a stated requirement, {} failed: coverage {:.1}%\n",
        total.vectors,
        total.written,
        total.required,
        total.failed,
        total.coverage() * 100.0
    ));
    for entry in &coverage.entries {
        match &entry.verdict {
            Verdict::Failed { errors } => {
                text.push_str(&format!("FAIL {} -> {}\n", entry.vector, entry.profile));
                for error in errors {
                    text.push_str(&format!("     {} at {}: {}\n", error.code, error.path, error.message));
                }
            }
            Verdict::Required { requirements } => {
                text.push_str(&format!(
                    "REQUIRED {} -> {}: {}\n",
                    entry.vector,
                    entry.profile,
                    requirements.join(", ")
                ));
            }
            Verdict::Written => {}
        }
    }
    text
}
