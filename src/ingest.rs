//! The path of a message through raccordo: decode, map, validate (and, in the gateway,
//! store). Every entry point (CLI, API, conformance runner) goes through here, so they
//! agree on every verdict.
//!
//! [`Catalog`] holds everything compiled at start: the standard, the profiles and the
//! parties' schemas. Translating a message parses none of them again.

use std::collections::HashMap;

use serde_json::Value;

use crate::assets::Assets;
use crate::error::{Diagnostic, Error, ErrorCode};
use crate::formats::records::{self, Record};
use crate::formats::xml::{self, XmlDocument, XmlLimits};
use crate::formats::xsd::XsdSchema;
use crate::formats::{self, DEFAULT_MAX_MESSAGE_BYTES};
use crate::mapping::apply::{self, Context, Origin, Parties};
use crate::mapping::path::{record_chains, PartyOut, Scope};
use crate::mapping::{Layout, Profile, Profiles};
use crate::standard::{Standard, Validation};

/// The profile name of the standard's own JSON form.
pub const CANONICAL: &str = "canonical";

/// Decodes canonical JSON bytes and validates the message against the standard. A decode
/// problem is reported like any other diagnostic, with no type.
pub fn validate_canonical(standard: &Standard, bytes: &[u8], max_bytes: u64) -> Validation {
    decode_canonical(standard, bytes, max_bytes).0
}

/// `validate_canonical`, keeping the decoded message (when it decodes): intake parses the
/// body once and stores what it validated.
pub fn decode_canonical(standard: &Standard, bytes: &[u8], max_bytes: u64) -> (Validation, Option<serde_json::Value>) {
    match formats::json::decode(bytes, max_bytes) {
        Ok(message) => (standard.validate(&message), Some(message)),
        Err(diagnostic) => (Validation { message_type: None, diagnostics: vec![diagnostic] }, None),
    }
}

/// Limits on one input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message_bytes: u64,
    pub max_xml_depth: usize,
    pub max_xml_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let xml = XmlLimits::default();
        Limits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_xml_depth: xml.max_depth,
            max_xml_elements: xml.max_elements,
        }
    }
}

impl Limits {
    fn xml(&self) -> XmlLimits {
        XmlLimits {
            max_bytes: self.max_message_bytes,
            max_depth: self.max_xml_depth,
            max_elements: self.max_xml_elements,
        }
    }
}

/// A party's own schema, compiled.
enum PartySchema {
    Xsd(XsdSchema),
    Json(Box<jsonschema::Validator>),
}

/// Everything compiled at start.
pub struct Catalog {
    pub standard: Standard,
    pub profiles: Profiles,
    schemas: HashMap<String, PartySchema>,
    pub limits: Limits,
}

/// Which record of an input an outcome is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// The whole input: it holds one message (or could not be read as records at all).
    Whole,
    /// A line of a CSV or fixed-width file, from 1.
    Line(u64),
    /// An item of a JSON array (a page's records, a list of messages): its index, and its
    /// JSON pointer in the input (`/items/2`).
    Item { index: usize, pointer: String },
    /// A record element of an XML document holding several: its index among the records,
    /// and its path (`/Flusso/Beneficiario[2]`).
    Element { index: usize, path: String },
}

impl Label {
    pub fn is_whole(&self) -> bool {
        *self == Label::Whole
    }

    /// An item of an array of messages that are not in a document of their own.
    pub fn item(index: usize) -> Label {
        Label::Item { index, pointer: format!("/{index}") }
    }

    /// The order of records in the input: by line, by index.
    fn position(&self) -> u64 {
        match self {
            Label::Whole => 0,
            Label::Line(line) => *line,
            Label::Item { index, .. } | Label::Element { index, .. } => *index as u64,
        }
    }
}

impl std::fmt::Display for Label {
    /// `line 4`, `/items/2`, `/Flusso/Beneficiario[2]`; nothing for a whole input.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Whole => Ok(()),
            Label::Line(line) => write!(f, "line {line}"),
            Label::Item { pointer, .. } => f.write_str(pointer),
            Label::Element { path, .. } => f.write_str(path),
        }
    }
}

/// One message of an input, translated or not. A file may hold many (CSV, fixed-width, a
/// JSON page); each gets its own outcome, so a bad record never hides the good ones.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which record of the input.
    pub label: Label,
    pub message_type: Option<String>,
    /// The translation, when the mapping produced one (it may still be invalid).
    pub output: Option<Value>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(|d| d.severity == crate::error::Severity::Error)
    }

    pub fn failed(label: Label, diagnostic: Diagnostic) -> Outcome {
        Outcome { label, message_type: None, output: None, diagnostics: vec![diagnostic] }
    }
}

/// One message written in a party's format.
#[derive(Debug, Clone)]
pub enum Written {
    /// An XML or JSON document.
    Document(Vec<u8>),
    /// A CSV or fixed-width record, to be encoded with the others of its file.
    Record(Vec<String>),
}

/// A decoded party input: one document, or many records.
enum Decoded<'a> {
    Xml(XmlDocument<'a>),
    Json(Value),
    Records(Vec<Record>),
}

impl Catalog {
    pub fn load(assets: &Assets) -> Result<Catalog, Error> {
        let standard = Standard::load(assets)?;
        let profiles = Profiles::load(assets, &standard)?;
        let mut schemas = HashMap::new();
        for profile in profiles.iter() {
            let paths = profile.schema.iter().chain(profile.types.iter().filter_map(|t| t.schema.as_ref()));
            for path in paths {
                if schemas.contains_key(path) {
                    continue;
                }
                let bytes = assets.read(path)?;
                let schema = match profile.layout {
                    Layout::Xml { .. } => {
                        PartySchema::Xsd(XsdSchema::compile(path, &bytes).map_err(|e| Error::asset(path, e))?)
                    }
                    _ => {
                        let document: Value = serde_json::from_slice(&bytes).map_err(|e| Error::asset(path, e))?;
                        let validator = jsonschema::options()
                            .should_validate_formats(true)
                            .build(&document)
                            .map_err(|e| Error::asset(path, e))?;
                        PartySchema::Json(Box::new(validator))
                    }
                };
                schemas.insert(path.clone(), schema);
            }
        }
        Ok(Catalog { standard, profiles, schemas, limits: Limits::default() })
    }

    pub fn profile(&self, name: &str) -> Result<&Profile, Error> {
        self.profiles.get(name).ok_or_else(|| Error::ProfileUnknown(name.to_owned()))
    }

    fn decode<'b>(&self, profile: &Profile, bytes: &'b [u8]) -> Result<(Decoded<'b>, Vec<Outcome>), Diagnostic> {
        match &profile.layout {
            Layout::Xml { .. } => Ok((Decoded::Xml(xml::decode(bytes, self.limits.xml())?), Vec::new())),
            Layout::Json { .. } => {
                Ok((Decoded::Json(formats::json::decode(bytes, self.limits.max_message_bytes)?), Vec::new()))
            }
            Layout::Csv { delimiter, encoding, columns } => {
                let (records, problems) =
                    records::decode_csv(bytes, *delimiter, encoding, columns, self.limits.max_message_bytes)?;
                Ok((
                    Decoded::Records(records),
                    problems
                        .into_iter()
                        .map(|p| Outcome::failed(p.line.map_or(Label::Whole, Label::Line), p))
                        .collect(),
                ))
            }
            Layout::Fixed(layout) => {
                let (records, problems) = layout.decode(bytes, self.limits.max_message_bytes)?;
                Ok((
                    Decoded::Records(records),
                    problems
                        .into_iter()
                        .map(|p| Outcome::failed(p.line.map_or(Label::Whole, Label::Line), p))
                        .collect(),
                ))
            }
        }
    }

    /// Translates a party input to canonical messages, each validated against the
    /// standard. Problems are located in the party input, with the canonical pointer too.
    pub fn to_canonical(&self, profile: &Profile, bytes: &[u8], source: &str, now: &str) -> Vec<Outcome> {
        let (decoded, mut outcomes) = match self.decode(profile, bytes) {
            Ok(decoded) => decoded,
            Err(diagnostic) => return vec![Outcome::failed(Label::Whole, diagnostic)],
        };
        let digest = content_id(bytes);
        match &decoded {
            Decoded::Xml(document) => return self.xml_to_canonical(profile, bytes, document, source, now, &digest),
            Decoded::Json(value) => match &profile.layout {
                Layout::Json { records: Some(pointer), payload } => match pointer.get(value) {
                    Some(Value::Array(items)) => {
                        for (index, item) in items.iter().enumerate() {
                            let base = format!("{}/{index}", pointer.text);
                            let id = format!("{digest}-{index}");
                            let label = Label::Item { index, pointer: base.clone() };
                            let outcome = match payload {
                                None => self.translate_one(profile, Scope::Json(item, &base), label, source, now, &id),
                                Some(payload) => {
                                    match unwrap_payload(item, payload, &base, self.limits.max_message_bytes) {
                                        Ok(unwrapped) => {
                                            let inner = format!("{base}{}", payload.text);
                                            self.translate_one(
                                                profile,
                                                Scope::Json(&unwrapped, &inner),
                                                label,
                                                source,
                                                now,
                                                &id,
                                            )
                                        }
                                        Err(diagnostic) => Outcome::failed(label, diagnostic),
                                    }
                                }
                            };
                            outcomes.push(outcome);
                        }
                    }
                    _ => outcomes.push(Outcome::failed(
                        Label::Whole,
                        Diagnostic::error(
                            ErrorCode::RequiredMissing,
                            pointer.text.clone(),
                            "the page has no array of records here",
                        ),
                    )),
                },
                _ => {
                    // One document, one message: the party's own JSON Schema first, as for
                    // XML. (Pages of records are not: a record that breaks it is refused
                    // with its own errors, never its whole page.)
                    let problems = self.json_party_problems(profile, &Scope::Json(value, ""), value);
                    let outcome =
                        self.translate_one(profile, Scope::Json(value, ""), Label::Whole, source, now, &digest);
                    outcomes.push(with_party_problems(outcome, problems));
                }
            },
            Decoded::Records(records) => {
                for record in records {
                    let problems = self.record_party_problems(profile, record);
                    let id = format!("{digest}-{}", record.line);
                    let outcome =
                        self.translate_one(profile, Scope::Record(record), Label::Line(record.line), source, now, &id);
                    outcomes.push(with_party_problems(outcome, problems));
                }
            }
        }
        // Decoding problems and translated records, in the input's order (a stable sort).
        outcomes.sort_by_key(|outcome| outcome.label.position());
        outcomes
    }

    /// An XML document: checked against the party's own XSD first (a document its schema
    /// refuses is refused here too, with the codes `validate --profile` gives), then read as
    /// one message, or as one per record for profiles whose documents hold several.
    fn xml_to_canonical(
        &self,
        profile: &Profile,
        bytes: &[u8],
        document: &XmlDocument<'_>,
        source: &str,
        now: &str,
        digest: &str,
    ) -> Vec<Outcome> {
        let root = document.root();
        // A document of no type this profile knows is told so (RAC-2003) rather than
        // checked against a schema that is not its own.
        let mapping = apply::detect(profile, &Scope::Xml(document, root, &[]));
        if mapping.is_none() {
            return vec![self.translate_one(
                profile,
                Scope::Xml(document, root, &[]),
                Label::Whole,
                source,
                now,
                digest,
            )];
        }
        let problems = match mapping.and_then(|mapping| self.schema_for(profile, Some(mapping))) {
            Some(PartySchema::Xsd(xsd)) => xsd.validate(bytes, document),
            _ => Vec::new(),
        };
        let Layout::Xml { records: Some(steps), .. } = &profile.layout else {
            let outcome =
                self.translate_one(profile, Scope::Xml(document, root, &[]), Label::Whole, source, now, digest);
            return vec![with_party_problems(outcome, problems)];
        };
        if !problems.is_empty() {
            // The XSD's errors are the document's: its records are not read one by one.
            return vec![Outcome {
                label: Label::Whole,
                message_type: mapping.map(|m| m.message_type.clone()),
                output: None,
                diagnostics: problems,
            }];
        }
        let chains = record_chains(document, root, steps);
        if chains.is_empty() {
            let path = steps.iter().map(|step| step.local.as_str()).collect::<Vec<_>>().join("/");
            return vec![Outcome::failed(
                Label::Whole,
                Diagnostic::error(
                    ErrorCode::RequiredMissing,
                    document.path(root),
                    format!("the document holds no record: {path} is missing"),
                ),
            )];
        }
        let single = chains.len() == 1;
        chains
            .iter()
            .enumerate()
            .map(|(index, chain)| {
                let record = chain.last().copied().unwrap_or(root);
                // One record keeps the id of the whole document, as before records existed.
                let id = if single { digest.to_owned() } else { format!("{digest}-{index}") };
                let label = if single { Label::Whole } else { Label::Element { index, path: document.path(record) } };
                self.translate_one(profile, Scope::Xml(document, root, chain), label, source, now, &id)
            })
            .collect()
    }

    fn translate_one(
        &self,
        profile: &Profile,
        scope: Scope<'_>,
        label: Label,
        source: &str,
        now: &str,
        id: &str,
    ) -> Outcome {
        let Some(mapping) = apply::detect(profile, &scope) else {
            return Outcome::failed(
                label,
                Diagnostic::error(
                    ErrorCode::TypeUndetected,
                    "",
                    format!("matches no message type of profile {}", profile.name),
                ),
            );
        };
        let Some(message_type) = self.standard.message_type(&mapping.message_type) else {
            return Outcome::failed(
                label,
                Diagnostic::error(ErrorCode::Internal, "", "the mapping names an unknown type"),
            );
        };
        let context = Context { source, now, fallback_id: id };
        let (message, mut diagnostics) = apply::to_canonical(message_type, mapping, scope, &context, None);
        let mut validation = self.standard.validate(&message);
        // A field whose party value could not be converted was left out; the standard's
        // complaint about it (usually "required") would repeat the conversion's.
        let failed: Vec<String> = diagnostics.iter().filter_map(|d| d.canonical_path.clone()).collect();
        validation.diagnostics.retain(|d| {
            !failed.iter().any(|f| {
                d.path == *f
                    || d.path.starts_with(&format!("{f}/"))
                    // An object whose only field failed is "missing" too, for the same reason.
                    || (d.code == ErrorCode::RequiredMissing && f.starts_with(&format!("{}/", d.path)))
            })
        });
        if !validation.diagnostics.is_empty() {
            // Locating problems in the party message needs to know where each canonical field
            // came from; that record is kept only on this, the failing, path.
            let mut origins = Vec::new();
            apply::to_canonical(message_type, mapping, scope, &context, Some(&mut origins));
            diagnostics.extend(validation.diagnostics.into_iter().map(|d| {
                let mut diagnostic = relocate(d, &origins);
                // A field the party message lacks: say which of its elements carries it.
                if diagnostic.code == ErrorCode::RequiredMissing && diagnostic.path.is_empty() {
                    let canonical = diagnostic.canonical_path.as_deref().unwrap_or_default();
                    if let Some(source) = mapping.party_source(canonical) {
                        diagnostic.message =
                            format!("{}; in {} it is read from {source}", diagnostic.message, profile.name);
                    }
                }
                diagnostic
            }));
        }
        Outcome { label, message_type: Some(mapping.message_type.clone()), output: Some(message), diagnostics }
    }

    /// What the party's own JSON Schema says of a JSON document.
    fn json_party_problems(&self, profile: &Profile, scope: &Scope<'_>, value: &Value) -> Vec<Diagnostic> {
        match self.schema_for(profile, apply::detect(profile, scope)) {
            Some(PartySchema::Json(validator)) => {
                validator.iter_errors(value).flat_map(|e| crate::standard::diagnose(&e)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// What the party's own JSON Schema (of one record as an object of column names to
    /// strings) says of a CSV or fixed-width record, located by line and column.
    fn record_party_problems(&self, profile: &Profile, record: &Record) -> Vec<Diagnostic> {
        let Some(PartySchema::Json(validator)) =
            self.schema_for(profile, apply::detect(profile, &Scope::Record(record)))
        else {
            return Vec::new();
        };
        let object: serde_json::Map<String, Value> = record
            .fields
            .iter()
            .zip(&record.values)
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(field, value)| (field.clone(), Value::String(value.trim().to_owned())))
            .collect();
        let object = Value::Object(object);
        validator
            .iter_errors(&object)
            .flat_map(|e| crate::standard::diagnose(&e))
            .map(|d| locate_in_record(d, record))
            .collect()
    }

    /// Validates a party input: its own schema, then the translation and the standard.
    /// The verdict is `to_canonical`'s, so `validate --profile` and `transform` never
    /// disagree on the same file.
    pub fn validate_party(&self, profile: &Profile, bytes: &[u8], now: &str) -> Vec<Outcome> {
        let source = format!("urn:raccordo:{}:validate", profile.party_kind);
        self.to_canonical(profile, bytes, &source, now)
    }

    /// Translates canonical messages to a party's format: one document per message for XML
    /// and JSON, one file of records for CSV and fixed-width. Each message is validated
    /// against the standard first and the output against the party's schema. `parties`
    /// gives the mapping what it takes from the configuration (the parties' codes).
    pub fn from_canonical(
        &self,
        profile: &Profile,
        messages: &[Value],
        parties: &Parties<'_>,
    ) -> (Vec<Vec<u8>>, Vec<Outcome>) {
        let mut documents = Vec::new();
        let mut rows = Vec::new();
        let mut outcomes = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            let label = if messages.len() > 1 { Label::item(index) } else { Label::Whole };
            let (message_type, written) = self.write(profile, message, parties);
            let diagnostics = match written {
                Ok(Written::Document(bytes)) => {
                    documents.push(bytes);
                    Vec::new()
                }
                Ok(Written::Record(values)) => {
                    rows.push(values);
                    Vec::new()
                }
                Err(diagnostics) => diagnostics,
            };
            outcomes.push(Outcome { label, message_type, output: None, diagnostics });
        }
        if !rows.is_empty() {
            match self.encode_records(profile, &rows) {
                Ok(bytes) => documents.push(bytes),
                Err(diagnostic) => outcomes.push(Outcome::failed(Label::Whole, diagnostic)),
            }
        }
        (documents, outcomes)
    }

    /// One canonical message in a party's format, or every reason it can't be written:
    /// the standard's verdict, a type the profile does not write, the mapping's problems
    /// (per-profile requirements included), the party schema's verdict on the output. The
    /// type is returned when the message has one.
    pub fn write(
        &self,
        profile: &Profile,
        message: &Value,
        parties: &Parties<'_>,
    ) -> (Option<String>, Result<Written, Vec<Diagnostic>>) {
        let validation = self.standard.validate(message);
        if !validation.is_valid() {
            return (validation.message_type, Err(validation.diagnostics));
        }
        let message_type = validation.message_type.unwrap_or_default();
        let Some(mapping) = profile.writer_for(&message_type, message) else {
            let diagnostic = Diagnostic::error(
                ErrorCode::DirectionUnsupported,
                "/type",
                format!("profile {} does not write {message_type}", profile.name),
            );
            return (Some(message_type), Err(vec![diagnostic]));
        };
        let (out, diagnostics) = apply::from_canonical(profile, mapping, message, parties);
        if !diagnostics.is_empty() {
            return (Some(message_type), Err(diagnostics));
        }
        let written = match out {
            PartyOut::Xml(xml) => xml.encode(&profile.namespaces).map(Written::Document),
            PartyOut::Json(value) => serde_json::to_vec_pretty(&value)
                .map(Written::Document)
                .map_err(|e| Diagnostic::error(ErrorCode::Internal, "", e.to_string())),
            PartyOut::Record(values) => match &profile.layout {
                Layout::Fixed(layout) => layout.encode_line(&values).map(|_| Written::Record(values)),
                _ => Ok(Written::Record(values)),
            },
        };
        let written = match written {
            Ok(written) => written,
            Err(diagnostic) => return (Some(message_type), Err(vec![diagnostic])),
        };
        if let Written::Document(bytes) = &written {
            let problems = self.check_party_output(profile, mapping, bytes);
            if !problems.is_empty() {
                return (Some(message_type), Err(problems));
            }
        }
        (Some(message_type), Ok(written))
    }

    /// Why `message` can't be delivered in `profile` (`canonical` takes every valid
    /// message): what `write` would refuse, and for records what the file's encoding can't
    /// hold. Empty when it can be delivered.
    pub fn undeliverable(&self, profile: &str, message: &Value, parties: &Parties<'_>) -> Vec<Diagnostic> {
        if profile == CANONICAL {
            return Vec::new();
        }
        let Some(profile) = self.profiles.get(profile) else {
            return vec![Diagnostic::error(ErrorCode::ProfileUnknown, "", format!("no profile {profile}"))];
        };
        match self.write(profile, message, parties).1 {
            Ok(Written::Record(values)) => match self.encode_records(profile, &[values]) {
                Ok(_) => Vec::new(),
                Err(diagnostic) => vec![diagnostic],
            },
            Ok(Written::Document(_)) => Vec::new(),
            Err(diagnostics) => diagnostics,
        }
    }

    fn encode_records(&self, profile: &Profile, rows: &[Vec<String>]) -> Result<Vec<u8>, Diagnostic> {
        match &profile.layout {
            Layout::Csv { delimiter, encoding, columns } => records::encode_csv(rows, *delimiter, encoding, columns),
            Layout::Fixed(layout) => {
                let mut text = String::new();
                for row in rows {
                    text.push_str(&layout.encode_line(row)?);
                    text.push_str("\r\n");
                }
                records::encode_text(&text, &layout.encoding)
            }
            _ => Err(Diagnostic::error(ErrorCode::Internal, "", "records for a profile that is not made of records")),
        }
    }

    /// The party schema for a message of `mapping`'s type (or the profile's own).
    fn schema_for(&self, profile: &Profile, mapping: Option<&crate::mapping::TypeMapping>) -> Option<&PartySchema> {
        let path = match mapping {
            Some(mapping) => mapping.schema(profile),
            None => profile.schema.as_deref(),
        }?;
        self.schemas.get(path)
    }

    /// What raccordo wrote must pass the party's own schema: a failure is a mapping bug,
    /// reported with the party's location.
    fn check_party_output(
        &self,
        profile: &Profile,
        mapping: &crate::mapping::TypeMapping,
        bytes: &[u8],
    ) -> Vec<Diagnostic> {
        match self.schema_for(profile, Some(mapping)) {
            Some(PartySchema::Xsd(xsd)) => xsd.validate_written(bytes, self.limits.xml()),
            Some(PartySchema::Json(validator)) => match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => validator.iter_errors(&value).flat_map(|e| crate::standard::diagnose(&e)).collect(),
                Err(error) => vec![Diagnostic::error(ErrorCode::Internal, "", error.to_string())],
            },
            None => Vec::new(),
        }
    }
}

/// A translation's outcome with what the party's own schema found first. The schema's
/// errors are listed, followed by the translation's findings on values the schema did
/// not question (a codice fiscale's checksum, a code the crosswalk lacks); findings on
/// the same place, or with no place in the party message (a required field missing,
/// which the schema reports as a missing element), would say the same thing twice.
fn with_party_problems(mut outcome: Outcome, problems: Vec<Diagnostic>) -> Outcome {
    if problems.is_empty() {
        return outcome;
    }
    let covered = |diagnostic: &Diagnostic| {
        diagnostic.path.is_empty()
            || problems.iter().any(|problem| {
                diagnostic.path == problem.path
                    || diagnostic.path.starts_with(&format!("{}/", problem.path))
                    || problem.path.starts_with(&format!("{}/", diagnostic.path))
            })
    };
    let rest: Vec<Diagnostic> = outcome.diagnostics.drain(..).filter(|d| !covered(d)).collect();
    outcome.diagnostics = problems;
    outcome.diagnostics.extend(rest);
    outcome.output = None;
    outcome
}

/// The content of a record whose payload is base64-encoded JSON: the decoded payload, with
/// the wrapping record (less the payload) under `@record`, so mappings read both.
fn unwrap_payload(
    item: &Value,
    payload: &crate::mapping::path::Pointer,
    base: &str,
    max_bytes: u64,
) -> Result<Value, Diagnostic> {
    use base64::Engine as _;
    let at = format!("{base}{}", payload.text);
    let encoded = payload.get(item).and_then(Value::as_str).ok_or_else(|| {
        Diagnostic::error(ErrorCode::RequiredMissing, at.clone(), "the record has no base64 payload here")
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Diagnostic::error(ErrorCode::EncodingInvalid, at.clone(), "the payload is not valid base64"))?;
    let mut decoded = formats::json::decode(&bytes, max_bytes).map_err(|mut diagnostic| {
        diagnostic.path = at.clone();
        diagnostic
    })?;
    let mut record = item.clone();
    if let Some(Value::Object(parent)) =
        payload.text.rsplit_once('/').and_then(|(parent, _)| record.pointer_mut(parent))
    {
        if let Some(name) = payload.text.rsplit('/').next() {
            parent.remove(name);
        }
    }
    match &mut decoded {
        Value::Object(map) => {
            map.insert("@record".to_owned(), record);
            Ok(decoded)
        }
        _ => Err(Diagnostic::error(ErrorCode::WrongType, at, "the payload must be a JSON object")),
    }
}

/// Puts a canonical diagnostic where its field came from in the party message: the origin
/// whose canonical pointer is the longest prefix of the diagnostic's.
fn relocate(mut diagnostic: Diagnostic, origins: &[Origin]) -> Diagnostic {
    let canonical = diagnostic.path.clone();
    let best = origins
        .iter()
        .filter(|origin| {
            canonical == origin.canonical
                || (canonical.starts_with(&origin.canonical) && canonical[origin.canonical.len()..].starts_with('/'))
        })
        .max_by_key(|origin| origin.canonical.len());
    match best {
        Some(origin) => {
            diagnostic.path = origin.path.clone();
            diagnostic.line = origin.line;
            diagnostic.column = origin.column;
        }
        // A field the party message lacks (a required one) has no place in it.
        None => diagnostic.path = String::new(),
    }
    diagnostic.canonical_path = Some(canonical);
    diagnostic
}

fn locate_in_record(mut diagnostic: Diagnostic, record: &Record) -> Diagnostic {
    let column = diagnostic.path.trim_start_matches('/').to_owned();
    let index = record.fields.iter().position(|field| *field == column);
    let located = match index {
        Some(index) => record.locate(index, diagnostic.code, diagnostic.message.clone()),
        None => Diagnostic { line: Some(record.line), ..diagnostic.clone() },
    };
    diagnostic.path = located.path;
    diagnostic.line = located.line;
    diagnostic.column = located.column;
    diagnostic
}

/// A short, stable id derived from the input bytes, so translating the same party message
/// twice gives the same envelope id (and a resend is recognised as one).
fn content_id(bytes: &[u8]) -> String {
    // FNV-1a 64: not cryptographic, only stable and well spread; ids are scoped per source.
    let hash = bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    format!("raccordo-{hash:016x}")
}
