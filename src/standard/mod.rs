//! The raccordo standard v1: message types, their compiled schemas, and validation.
//!
//! Every schema file under `schemas/standard/` is loaded once; a file whose
//! `/properties/type/default` names a CloudEvents type (`it.raccordo.<name>.v1`) is a message
//! type, the others (the envelope, the common definitions) are only referenced. `$ref`s
//! resolve against the loaded files alone: nothing is fetched from the network. Validating a
//! message finds its type from the envelope and runs that type's compiled validator, whose
//! formats and `x-raccordo-rules` keyword carry the domain rules ([`rules`]).

pub mod codes;
pub mod codice_fiscale;
pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, Retrieve, Uri, ValidationError, Validator};
use serde_json::Value;

use crate::assets::Assets;
use crate::error::{Diagnostic, Error, ErrorCode};
use codes::CodeTables;

pub const SCHEMA_FOLDER: &str = "schemas/standard";
pub const TYPE_PREFIX: &str = "it.raccordo.";
pub const TYPE_SUFFIX: &str = ".v1";

/// One message type of the standard.
pub struct MessageType {
    /// The short name, e.g. `worker.registered`.
    pub name: String,
    /// The CloudEvents `type`, e.g. `it.raccordo.worker.registered.v1`.
    pub type_id: String,
    /// The schema's `$id`, which is also the envelope's required `dataschema`.
    pub schema_id: String,
    /// Where the schema file is, relative to the assets root.
    pub schema_path: String,
    pub title: String,
    pub description: String,
    /// The schema document as loaded, served by `GET /v1/schemas/{type}`.
    pub schema: Arc<Value>,
    validator: Validator,
}

/// The outcome of validating one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// The short type name, when the envelope names a known type.
    pub message_type: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(|d| d.severity == crate::error::Severity::Error)
    }
}

/// The compiled standard: every message type, ready to validate.
pub struct Standard {
    types: BTreeMap<String, MessageType>,
    by_type_id: HashMap<String, String>,
    tables: Arc<CodeTables>,
    /// Every schema document by `$id`, to answer [`Standard::field_kind`] and to resolve the
    /// validators' `$ref`s.
    documents: Arc<HashMap<String, Arc<Value>>>,
}

/// What a field of the standard is, as far as a mapping needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Array,
    Other,
}

impl Standard {
    /// Loads and compiles every schema and code table. Fails with the file and the reason.
    pub fn load(assets: &Assets) -> Result<Standard, Error> {
        let tables = Arc::new(CodeTables::load(assets)?);
        let mut documents = Vec::new();
        for path in assets.list(SCHEMA_FOLDER, ".schema.json")? {
            let bytes = assets.read(&path)?;
            let schema: Value = serde_json::from_slice(&bytes).map_err(|error| Error::asset(&path, error))?;
            let id = schema
                .get("$id")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::asset(&path, "the schema has no \"$id\""))?
                .to_owned();
            documents.push((path, id, Arc::new(schema)));
        }
        let by_id: Arc<HashMap<String, Arc<Value>>> =
            Arc::new(documents.iter().map(|(_, id, schema)| (id.clone(), Arc::clone(schema))).collect());
        let mut types = BTreeMap::new();
        for (path, id, schema) in documents {
            // A message type's schema names its type as the `default` of `type`, whose
            // pattern also admits the minor versions of v1 (`….v1.1`).
            let Some(type_id) = schema.pointer("/properties/type/default").and_then(Value::as_str) else {
                continue;
            };
            let name = short_name(type_id)
                .ok_or_else(|| Error::asset(&path, format!("type {type_id:?} is not it.raccordo.<name>.v1")))?
                .to_owned();
            let retriever = SharedRetriever(Arc::clone(&by_id));
            let validator = rules::install(jsonschema::options(), &tables)
                .with_draft(Draft::Draft202012)
                .with_retriever(retriever)
                .build(&schema)
                .map_err(|error| Error::asset(&path, error))?;
            let text = |key: &str| schema.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
            let message_type = MessageType {
                name: name.clone(),
                type_id: type_id.to_owned(),
                schema_id: id,
                schema_path: path,
                title: text("title"),
                description: text("description"),
                schema: Arc::clone(&schema),
                validator,
            };
            types.insert(name, message_type);
        }
        if types.is_empty() {
            return Err(Error::asset(SCHEMA_FOLDER, "no message type schema found"));
        }
        let by_type_id = types.values().map(|t| (t.type_id.clone(), t.name.clone())).collect();
        Ok(Standard { types, by_type_id, tables, documents: by_id })
    }

    /// Whether `pointer` names a field that messages of `type_name` may carry, and whether
    /// it is an array. Array items are addressed by a numeric segment or `-`. Mapping files
    /// are checked with this at load, so a typo fails at start, not per message.
    pub fn field_kind(&self, type_name: &str, pointer: &str) -> Option<FieldKind> {
        let message_type = self.message_type(type_name)?;
        let segments: Vec<&str> =
            if pointer.is_empty() { Vec::new() } else { pointer.strip_prefix('/')?.split('/').collect() };
        self.walk(&message_type.schema_id, &message_type.schema, &segments, 0)
    }

    fn walk(&self, base: &str, schema: &Value, segments: &[&str], depth: usize) -> Option<FieldKind> {
        // Schemas are finite but may refer to each other; a depth bound keeps a cyclic
        // reference from looping.
        if depth > 64 {
            return None;
        }
        // `"name": false` beside an allOf forbids what the allOf would allow.
        if let Some(first) = segments.first() {
            if schema.get("properties").and_then(|p| p.get(*first)).is_some_and(|p| p == &Value::Bool(false)) {
                return None;
            }
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
            let (target_base, document) = if file.is_empty() {
                (base.to_owned(), self.documents.get(base)?)
            } else {
                let directory = &base[..base.rfind('/').map_or(0, |i| i + 1)];
                let id = format!("{directory}{file}");
                let document = self.documents.get(&id)?;
                (id, document)
            };
            let target = document.pointer(fragment)?;
            if let Some(found) = self.walk(&target_base, target, segments, depth + 1) {
                return Some(found);
            }
        }
        for combinator in ["allOf", "anyOf", "oneOf"] {
            for part in schema.get(combinator).and_then(Value::as_array).into_iter().flatten() {
                if let Some(found) = self.walk(base, part, segments, depth + 1) {
                    return Some(found);
                }
            }
        }
        let Some((first, rest)) = segments.split_first() else {
            let is_array = schema.get("type").and_then(Value::as_str) == Some("array") || schema.get("items").is_some();
            return Some(if is_array { FieldKind::Array } else { FieldKind::Other });
        };
        let is_index = *first == "-" || first.chars().all(|c| c.is_ascii_digit());
        if is_index {
            if let Some(items) = schema.get("items") {
                return self.walk(base, items, rest, depth + 1);
            }
        }
        let name = first.replace("~1", "/").replace("~0", "~");
        let property = schema.get("properties").and_then(|p| p.get(&name)).filter(|p| !p.is_boolean())?;
        self.walk(base, property, rest, depth + 1)
    }

    /// The message types, by short name.
    pub fn types(&self) -> impl Iterator<Item = &MessageType> {
        self.types.values()
    }

    /// A message type by short name (`worker.registered`) or CloudEvents type.
    pub fn message_type(&self, name: &str) -> Option<&MessageType> {
        self.types.get(name).or_else(|| self.by_type_id.get(name).and_then(|short| self.types.get(short)))
    }

    pub fn tables(&self) -> &CodeTables {
        &self.tables
    }

    /// Validates one decoded message: finds its type in the envelope, then checks it against
    /// that type's schema and rules. Every problem is reported, none is thrown.
    pub fn validate(&self, message: &Value) -> Validation {
        let Some(envelope) = message.as_object() else {
            return Validation {
                message_type: None,
                diagnostics: vec![Diagnostic::error(
                    ErrorCode::EnvelopeNotObject,
                    "",
                    "a message is a CloudEvents envelope: a JSON object",
                )],
            };
        };
        let Some(type_id) = envelope.get("type").and_then(Value::as_str) else {
            return Validation {
                message_type: None,
                diagnostics: vec![Diagnostic::error(
                    ErrorCode::EnvelopeTypeMissing,
                    "/type",
                    "the envelope has no \"type\" string naming the message type",
                )],
            };
        };
        let Some(message_type) = self.by_type_id.get(major_type(type_id)).and_then(|name| self.types.get(name)) else {
            let known: Vec<&str> = self.types.values().map(|t| t.type_id.as_str()).collect();
            return Validation {
                message_type: None,
                diagnostics: vec![Diagnostic::error(
                    ErrorCode::UnknownMessageType,
                    "/type",
                    format!("not a message type of the standard; known types: {}", known.join(", ")),
                )],
            };
        };
        let diagnostics = if message_type.validator.is_valid(message) {
            Vec::new()
        } else {
            let mut diagnostics: Vec<Diagnostic> =
                message_type.validator.iter_errors(message).flat_map(|error| diagnose(&error)).collect();
            diagnostics.sort_by(|a, b| a.path.cmp(&b.path).then(a.code.cmp(&b.code)));
            diagnostics.dedup();
            // A minor version of v1 may carry optional properties this schema does not know
            // yet: they are ignored, the rest is checked (docs/STANDARD.md, section 7).
            // A property the schema forbids by name (`"changed": false`) is still refused.
            if major_type(type_id) != type_id {
                diagnostics.retain(|d| !(d.code == ErrorCode::UnknownProperty && d.message == NO_SUCH_PROPERTY));
            }
            diagnostics
        };
        Validation { message_type: Some(message_type.name.clone()), diagnostics }
    }
}

/// `worker.registered` from `it.raccordo.worker.registered.v1` (or a minor version of it,
/// `….v1.2`).
pub fn short_name(type_id: &str) -> Option<&str> {
    major_type(type_id).strip_prefix(TYPE_PREFIX)?.strip_suffix(TYPE_SUFFIX).filter(|name| !name.is_empty())
}

/// The v1 type of a minor version: `it.raccordo.x.v1.2` is read as `it.raccordo.x.v1`,
/// since minor versions only add optional properties (docs/STANDARD.md, section 7).
fn major_type(type_id: &str) -> &str {
    match type_id.rsplit_once('.') {
        Some((major, minor))
            if major.ends_with(TYPE_SUFFIX) && !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()) =>
        {
            major
        }
        _ => type_id,
    }
}

/// Turns one jsonschema error into diagnostics with our codes and messages. Messages name
/// what the schema expected, never the value found: a value may be a codice fiscale.
/// The message of a property outside the schema (`additionalProperties: false`), as opposed
/// to one the schema forbids by name.
const NO_SUCH_PROPERTY: &str = "the schema defines no such property";

pub fn diagnose(error: &ValidationError<'_>) -> Vec<Diagnostic> {
    let path = error.instance_path().as_str().to_owned();
    let one = |code: ErrorCode, message: String| vec![Diagnostic::error(code, path.clone(), message)];
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Diagnostic::error(
                ErrorCode::RequiredMissing,
                format!("{path}/{}", escape_pointer(name)),
                format!("the required property \"{name}\" is missing"),
            )]
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                Diagnostic::error(
                    ErrorCode::UnknownProperty,
                    format!("{path}/{}", escape_pointer(name)),
                    NO_SUCH_PROPERTY,
                )
            })
            .collect(),
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => single.to_string(),
                TypeKind::Multiple(many) => many.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or "),
            };
            one(ErrorCode::WrongType, format!("expected {expected}"))
        }
        ValidationErrorKind::Constant { expected_value } => {
            one(ErrorCode::ValueNotAllowed, format!("must be {expected_value}"))
        }
        ValidationErrorKind::Enum { options } => one(ErrorCode::ValueNotAllowed, format!("must be one of {options}")),
        ValidationErrorKind::Pattern { pattern } => {
            one(ErrorCode::PatternMismatch, format!("does not match the pattern {pattern}"))
        }
        ValidationErrorKind::MinLength { limit } => {
            one(ErrorCode::LengthOutOfRange, format!("is shorter than {limit} characters"))
        }
        ValidationErrorKind::MaxLength { limit } => {
            one(ErrorCode::LengthOutOfRange, format!("is longer than {limit} characters"))
        }
        ValidationErrorKind::Minimum { limit } => one(ErrorCode::NumberOutOfRange, format!("is less than {limit}")),
        ValidationErrorKind::Maximum { limit } => one(ErrorCode::NumberOutOfRange, format!("is more than {limit}")),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            one(ErrorCode::NumberOutOfRange, format!("must be more than {limit}"))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            one(ErrorCode::NumberOutOfRange, format!("must be less than {limit}"))
        }
        ValidationErrorKind::MultipleOf { .. } => {
            one(ErrorCode::NumberOutOfRange, "is not a multiple of the allowed step".to_owned())
        }
        ValidationErrorKind::MinItems { limit } => {
            one(ErrorCode::CountOutOfRange, format!("has fewer than {limit} items"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            one(ErrorCode::CountOutOfRange, format!("has more than {limit} items"))
        }
        ValidationErrorKind::MinProperties { limit } => {
            one(ErrorCode::CountOutOfRange, format!("has fewer than {limit} properties"))
        }
        ValidationErrorKind::MaxProperties { limit } => {
            one(ErrorCode::CountOutOfRange, format!("has more than {limit} properties"))
        }
        ValidationErrorKind::UniqueItems => one(ErrorCode::CountOutOfRange, "repeats an item".to_owned()),
        ValidationErrorKind::Format { format } => {
            let instance = error.instance();
            format_diagnostic(format, instance.as_str().unwrap_or_default(), &path)
        }
        ValidationErrorKind::AnyOf { .. }
        | ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => {
            one(ErrorCode::NoAlternativeMatched, "matches none, or more than one, of the allowed forms".to_owned())
        }
        ValidationErrorKind::Custom { message, .. } => match rules::decode_error(message) {
            Some((code, pointer, text)) => vec![Diagnostic::error(code, format!("{path}{pointer}"), text)],
            None => one(ErrorCode::SchemaViolation, message.clone()),
        },
        ValidationErrorKind::FalseSchema => one(ErrorCode::UnknownProperty, "is not allowed here".to_owned()),
        other => one(ErrorCode::SchemaViolation, format!("breaks the schema keyword {}", other.keyword())),
    }
}

fn format_diagnostic(format: &str, value: &str, path: &str) -> Vec<Diagnostic> {
    let (code, message) = match format {
        "codice-fiscale" => match codice_fiscale::check(value) {
            Err(codice_fiscale::Invalid::Checksum) => {
                (ErrorCode::CfChecksum, "the codice fiscale's check character is wrong".to_owned())
            }
            Err(reason) => (ErrorCode::CfFormat, format!("not a codice fiscale: {reason}")),
            Ok(_) => (ErrorCode::CfFormat, "not a codice fiscale".to_owned()),
        },
        "comune" => (ErrorCode::UnknownComune, "not the codice catastale of a comune in the ANPR table".to_owned()),
        "state" => (ErrorCode::UnknownState, "not an ISTAT state code in the ANPR table".to_owned()),
        "date" => (ErrorCode::DateInvalid, "not a calendar date in the form YYYY-MM-DD".to_owned()),
        "ccnl-level" => {
            (ErrorCode::CcnlLevelUnknown, format!("not a domestic-work CCNL level ({})", rules::CCNL_LEVELS.join(", ")))
        }
        other => (ErrorCode::FormatInvalid, format!("not a valid {other}")),
    };
    vec![Diagnostic::error(code, path, message)]
}

/// Escapes a property name for use as a JSON pointer segment (RFC 6901).
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Serves `$ref`s from the loaded schema files, by `$id`; refuses everything else, so
/// validation never touches the network or the file system.
struct SharedRetriever(Arc<HashMap<String, Arc<Value>>>);

impl Retrieve for SharedRetriever {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let key = uri.as_str().split('#').next().unwrap_or_default();
        self.0
            .get(key)
            .map(|document| Value::clone(document))
            .ok_or_else(|| format!("{key} is not a schema of the standard (references are never fetched)").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_schema_that_does_not_compile_fails_the_load_naming_its_file() {
        let root = tempfile::tempdir().unwrap();
        let copy = |folder: &str| {
            let (from, to) = (Path::new(env!("CARGO_MANIFEST_DIR")).join(folder), root.path().join(folder));
            std::fs::create_dir_all(&to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                if entry.path().is_file() {
                    std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
                }
            }
        };
        copy(SCHEMA_FOLDER);
        copy("mappings/codes");
        let folder = Assets::Folder(root.path().to_owned());
        assert!(Standard::load(&folder).is_ok(), "the copied folder does not load as it is");
        let path = root.path().join(SCHEMA_FOLDER).join("worker.withdrawn.v1.schema.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let broken = text.replacen(r#""pattern": "^it"#, r#""pattern": "(^it"#, 1);
        assert_ne!(broken, text);
        std::fs::write(&path, broken).unwrap();
        let Err(Error::Asset { asset, reason }) = Standard::load(&folder) else {
            panic!("a schema with an unbalanced pattern loaded");
        };
        assert_eq!(asset, "schemas/standard/worker.withdrawn.v1.schema.json", "{reason}");
    }

    #[test]
    fn a_minor_version_may_carry_properties_v1_refuses() {
        let standard = Standard::load(&Assets::Embedded).unwrap();
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/conformance/standard/worker.registered/valid/basic-course-hour-limits.json"
        ))
        .unwrap();
        let mut message: Value = serde_json::from_str(&text).unwrap();
        message["data"]["addedInV1_1"] = Value::Bool(true);
        let strict = standard.validate(&message);
        assert_eq!(strict.diagnostics.len(), 1, "{:?}", strict.diagnostics);
        assert_eq!(strict.diagnostics[0].code, ErrorCode::UnknownProperty);
        message["type"] = Value::String("it.raccordo.worker.registered.v1.1".into());
        assert!(standard.validate(&message).diagnostics.is_empty());
        // A property forbidden by name is not unknown: still refused.
        let mut forbidden = message.clone();
        forbidden["data"]["changed"] = Value::Bool(false);
        let refused = standard.validate(&forbidden).diagnostics;
        assert!(
            refused.iter().any(|d| d.path == "/data/changed" && d.code == ErrorCode::UnknownProperty),
            "{refused:?}"
        );
        assert!(!refused.is_empty());
        // Everything else is still checked.
        message["data"]["person"] = Value::Null;
        assert!(!standard.validate(&message).diagnostics.is_empty());
    }

    #[test]
    fn field_kinds_follow_refs_all_of_and_items() {
        let standard = Standard::load(&Assets::Embedded).unwrap();
        let kind = |t: &str, p: &str| standard.field_kind(t, p);
        assert_eq!(kind("worker.registered", "/data/person/codiceFiscale"), Some(FieldKind::Other));
        assert_eq!(kind("worker.registered", "/data/experiences"), Some(FieldKind::Array));
        assert_eq!(kind("worker.registered", "/data/experiences/0/role"), Some(FieldKind::Other));
        assert_eq!(kind("worker.registered", "/data/experiences/-/conditionsCared"), Some(FieldKind::Array));
        assert_eq!(kind("employment.started", "/data/contract/pay/amount"), Some(FieldKind::Other));
        assert_eq!(kind("employment.started", "/id"), Some(FieldKind::Other));
        assert_eq!(kind("employment.started", "/data/worker/nickname"), None);
        assert_eq!(kind("worker.registered", "/data/changed"), None, "forbidden with false");
        assert_eq!(kind("no.such.type", "/data"), None);
    }
}
