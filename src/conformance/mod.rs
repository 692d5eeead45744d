//! The conformance suite vendors run: the requirements of the standard
//! (`conformance/requirements.toml`), the cases that check them (`conformance/suite.toml`,
//! made from the vectors under `conformance/standard/` and `conformance/profiles/`), the
//! runner (`run`), the sandbox endpoint vendors send to (`sandbox`) and the reports
//! (`report`).
//!
//! A case names one requirement; a finding names the requirement its error code breaks, so
//! a vendor reads "CF-01: the codice fiscale's check character is wrong" rather than a bare
//! code.

pub mod coverage;
pub mod report;
pub mod run;
pub mod sandbox;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assets::Assets;
use crate::error::Error;
use crate::ingest::CANONICAL;

/// The manifest's path among the assets.
pub const SUITE: &str = "conformance/suite.toml";
/// The requirements' path among the assets.
pub const REQUIREMENTS: &str = "conformance/requirements.toml";

/// A requirement of the standard (docs/STANDARD.md states it under a heading with its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub title: String,
    /// `must`: a failing case fails the suite; `should`: it is reported only.
    pub level: String,
    /// Error codes (printed form) that report a breach of it.
    pub codes: Vec<String>,
}

impl Requirement {
    pub fn mandatory(&self) -> bool {
        self.level == "must"
    }

    /// The anchor of its heading in docs/STANDARD.md.
    pub fn anchor(&self) -> String {
        let heading = format!("{} — {}", self.id, self.title);
        heading
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
                ' ' => Some('-'),
                _ if c.is_alphanumeric() => Some(c),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementsFile {
    requirements: Vec<Requirement>,
}

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The input is valid (and, for a party profile, translates to `output`).
    Valid,
    /// The input is refused with exactly `errors`.
    Invalid,
    /// Sent twice, the input gets the same answer both times (exchange only).
    Resend,
    /// A valid input sent with a Content-Type its profile does not take (`text/html`): it is
    /// refused with 415 (exchange only).
    #[serde(rename = "media-type")]
    MediaType,
    /// A canonical message valid in the standard that the profile can't be written with:
    /// raccordo refuses to write it (and the gateway to accept it) with exactly `errors`,
    /// naming the per-profile requirement the case checks.
    Undeliverable,
}

/// An expected error: its code and where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    pub code: String,
    pub path: String,
}

/// One case of the suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `<profile>/<type>/<kind>/<name>`.
    pub id: String,
    pub title: String,
    pub requirement: String,
    pub profile: String,
    #[serde(rename = "type")]
    pub message_type: String,
    pub kind: Kind,
    /// The input, relative to `conformance/`.
    pub input: String,
    /// For valid party cases, the canonical message expected, relative to `conformance/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ExpectedError>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    cases: Vec<Case>,
}

/// The requirements and the cases.
#[derive(Debug, Clone)]
pub struct Suite {
    pub requirements: Vec<Requirement>,
    pub cases: Vec<Case>,
    /// Error code (printed form) → requirement id.
    by_code: BTreeMap<String, String>,
    /// `1-` and the first 12 hex digits of the SHA-256 of the requirements and the
    /// manifest as shipped: the same suite gives the same version.
    pub version: String,
}

impl Suite {
    /// Loads the requirements and the manifest.
    pub fn load(assets: &Assets) -> Result<Suite, Error> {
        let requirements = load_requirements(assets)?;
        let text = String::from_utf8_lossy(&assets.read(SUITE)?).into_owned();
        let file: SuiteFile = toml::from_str(&text).map_err(|e| Error::asset(SUITE, e))?;
        let mut suite = Suite::new(requirements, file.cases)?;
        let mut digest = openssl::sha::Sha256::new();
        digest.update(&assets.read(REQUIREMENTS)?);
        digest.update(text.as_bytes());
        let hex: String = digest.finish().iter().take(6).map(|b| format!("{b:02x}")).collect();
        suite.version = format!("1-{hex}");
        Ok(suite)
    }

    fn new(requirements: Vec<Requirement>, cases: Vec<Case>) -> Result<Suite, Error> {
        let mut by_code = BTreeMap::new();
        for requirement in &requirements {
            for code in &requirement.codes {
                if let Some(other) = by_code.insert(code.clone(), requirement.id.clone()) {
                    return Err(Error::asset(REQUIREMENTS, format!("{code} is in {other} and {}", requirement.id)));
                }
            }
        }
        for case in &cases {
            if !requirements.iter().any(|r| r.id == case.requirement) {
                return Err(Error::asset(SUITE, format!("case {} names no known requirement", case.id)));
            }
        }
        Ok(Suite { requirements, cases, by_code, version: String::new() })
    }

    /// The requirement an error code reports a breach of.
    pub fn requirement_of(&self, code: &str) -> Option<&Requirement> {
        let id = self.by_code.get(code)?;
        self.requirement(id)
    }

    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// The cases of one profile.
    pub fn cases_of<'a>(&'a self, profile: &'a str) -> impl Iterator<Item = &'a Case> + 'a {
        self.cases.iter().filter(move |c| c.profile == profile)
    }
}

fn load_requirements(assets: &Assets) -> Result<Vec<Requirement>, Error> {
    let text = String::from_utf8_lossy(&assets.read(REQUIREMENTS)?).into_owned();
    let file: RequirementsFile = toml::from_str(&text).map_err(|e| Error::asset(REQUIREMENTS, e))?;
    Ok(file.requirements)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    description: Option<String>,
    /// For undeliverable cases: the per-profile requirement checked.
    requirement: Option<String>,
    errors: Vec<ExpectedError>,
}

impl Kind {
    /// The folder of a type's vectors that holds cases of this kind.
    pub fn folder(self) -> &'static str {
        match self {
            Kind::Valid => "valid",
            Kind::Invalid => "invalid",
            Kind::Resend => "resend",
            Kind::Undeliverable => "undeliverable",
            Kind::MediaType => "media-type",
        }
    }
}

/// Resend cases per profile: the first valid inputs, sent twice.
const RESENDS_PER_PROFILE: usize = 2;

/// Builds the cases from the vector folders: what `conformance/suite.toml` must hold
/// (`tests/integration/conformance.rs` keeps the two equal; `UPDATE_EXPECT=1` rewrites the file).
pub fn discover(assets: &Assets) -> Result<Vec<Case>, Error> {
    let requirements = load_requirements(assets)?;
    let suite = Suite::new(requirements, Vec::new())?;
    let mut cases = Vec::new();
    for folder in assets.list_dirs("conformance/standard")? {
        let message_type = folder.rsplit('/').next().unwrap_or_default().to_owned();
        cases.extend(cases_in(assets, &suite, &folder, CANONICAL, &message_type)?);
    }
    for profile_folder in assets.list_dirs("conformance/profiles")? {
        let profile = profile_folder.rsplit('/').next().unwrap_or_default().to_owned();
        for folder in assets.list_dirs(&profile_folder)? {
            let message_type = folder.rsplit('/').next().unwrap_or_default().to_owned();
            cases.extend(cases_in(assets, &suite, &folder, &profile, &message_type)?);
        }
    }
    // Exchange cases: a resend of a valid message gets the first answer; a valid message in
    // a media type its profile does not take is refused. Receipts are answers, never sent.
    let mut exchange = Vec::new();
    let mut per_profile: BTreeMap<&str, usize> = BTreeMap::new();
    for case in cases.iter().filter(|c| c.kind == Kind::Valid && c.message_type != "receipt") {
        let count = per_profile.entry(case.profile.as_str()).or_default();
        let name = case.id.rsplit('/').next().unwrap_or_default();
        if *count == 0 {
            exchange.push(Case {
                id: format!("{}/{}/media-type/{name}", case.profile, case.message_type),
                title: format!("{name} sent as text/html is refused with 415"),
                requirement: "XCH-04".into(),
                kind: Kind::MediaType,
                output: None,
                errors: Vec::new(),
                ..case.clone()
            });
        }
        if *count < RESENDS_PER_PROFILE {
            *count += 1;
            exchange.push(Case {
                id: format!("{}/{}/resend/{name}", case.profile, case.message_type),
                title: format!(
                    "{name}, a message of its own, sent twice with the same Idempotency-Key and ce-id, gets the first answer"
                ),
                requirement: "XCH-03".into(),
                kind: Kind::Resend,
                output: None,
                errors: Vec::new(),
                ..case.clone()
            });
        }
    }
    cases.extend(exchange);
    Ok(cases)
}

fn cases_in(
    assets: &Assets,
    suite: &Suite,
    folder: &str,
    profile: &str,
    message_type: &str,
) -> Result<Vec<Case>, Error> {
    let mut cases = Vec::new();
    for kind in [Kind::Valid, Kind::Invalid, Kind::Undeliverable] {
        let sub = format!("{folder}/{}", kind.folder());
        let Ok(files) = assets.list(&sub, "") else { continue };
        for file in &files {
            let name = file.rsplit('/').next().unwrap_or_default();
            if name.ends_with(".expect.toml") || name.ends_with(".expected.json") || name.ends_with(".md") {
                continue;
            }
            let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
            let relative = file.trim_start_matches("conformance/").to_owned();
            let id = format!("{profile}/{message_type}/{}/{stem}", kind.folder());
            let mut case = Case {
                id,
                title: stem.replace('-', " "),
                requirement: if profile == CANONICAL {
                    format!("MSG-{message_type}")
                } else {
                    format!("PRF-{profile}")
                },
                profile: profile.to_owned(),
                message_type: message_type.to_owned(),
                kind,
                input: relative,
                output: None,
                errors: Vec::new(),
            };
            if kind == Kind::Valid {
                let expected = format!("{sub}/{stem}.expected.json");
                if profile != CANONICAL && files.contains(&expected) {
                    case.output = Some(expected.trim_start_matches("conformance/").to_owned());
                }
            } else {
                let path = format!("{sub}/{stem}.expect.toml");
                let text = String::from_utf8_lossy(&assets.read(&path)?).into_owned();
                let expect: Expect = toml::from_str(&text).map_err(|e| Error::asset(&path, e))?;
                let mut errors = expect.errors;
                errors.sort();
                let first = errors.first().ok_or_else(|| Error::asset(&path, "names no error"))?;
                case.requirement = match (kind, expect.requirement) {
                    (Kind::Undeliverable, Some(requirement)) => requirement,
                    (Kind::Undeliverable, None) => {
                        return Err(Error::asset(&path, "an undeliverable case names its `requirement`"))
                    }
                    _ => suite
                        .requirement_of(&first.code)
                        .map(|r| r.id.clone())
                        .ok_or_else(|| Error::asset(&path, format!("{} belongs to no requirement", first.code)))?,
                };
                if let Some(description) = expect.description {
                    case.title = description;
                }
                case.errors = errors;
            }
            cases.push(case);
        }
    }
    Ok(cases)
}

/// The manifest's text for `cases`.
pub fn render_manifest(cases: &[Case]) -> Result<String, Error> {
    let body = toml::to_string(&SuiteFile { cases: cases.to_vec() }).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(format!(
        "# The conformance suite: every case, the requirement it checks (conformance/requirements.toml,\n\
         # docs/STANDARD.md), its profile, type, input and expected outcome. Made from the vectors\n\
         # under standard/ and profiles/ (UPDATE_EXPECT=1 cargo test --test conformance rewrites it);\n\
         # `raccordo conformance list` prints it.\n\n{body}"
    ))
}
