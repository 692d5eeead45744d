//! The mapping files as an integrator writes them: serde types of `profile.toml` and of
//! `<type>.toml`. docs/MAPPINGS.md explains every key; `compile` turns these into a plan.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `mappings/<profile>/profile.toml`: what a party format is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// The profile's name, equal to its folder's, e.g. `cpi-unilav`.
    pub name: String,
    /// One line for `raccordo profiles`.
    pub title: String,
    /// The kind of party that speaks it: cpi, social, sui or inps.
    pub party_kind: String,
    pub format: FormatKind,
    /// The party's own schema, relative to the assets root: an XSD for `xml`, a JSON Schema
    /// for `json` (of one message) and for `csv`/`fixed` (of one record as an object of
    /// column names to strings).
    pub schema: Option<String>,
    /// Namespace prefixes used by the XML paths of this profile's mappings, and declared on
    /// the root of what raccordo writes.
    #[serde(default)]
    pub namespaces: BTreeMap<String, String>,
    pub xml: Option<XmlSpec>,
    pub json: Option<JsonSpec>,
    pub csv: Option<CsvSpec>,
    pub fixed: Option<FixedSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatKind {
    Xml,
    Json,
    Csv,
    Fixed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmlSpec {
    /// The root element, as `prefix:name` or `name`.
    pub root: String,
    /// For documents that hold several records (a SIUSS flow with several benefits, of
    /// several beneficiaries): the path from the root to the repeated element, e.g.
    /// `Beneficiario/PrestazioniSociali`. Each occurrence is read as one message, with the
    /// elements on its way pinned, so mapping paths stay written from the root. Written
    /// documents hold one record.
    pub records: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSpec {
    /// For paged inputs: the JSON pointer of the array of records (`/items`). Absent when a
    /// document is one message.
    pub records: Option<String>,
    /// For records that wrap their content as base64-encoded JSON (as INPS e-services wrap
    /// payloads): the pointer of that string in each record. Party paths then address the
    /// decoded payload; paths starting with `/@record` address the wrapping record.
    pub payload: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSpec {
    /// One character; `;` by default, as Italian spreadsheets export.
    #[serde(default = "semicolon")]
    pub delimiter: char,
    /// `utf-8` or `windows-1252` (also read for ISO-8859-1).
    #[serde(default = "utf8")]
    pub encoding: String,
    /// The header row, in order. Inputs must carry exactly these columns.
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedSpec {
    #[serde(default = "utf8")]
    pub encoding: String,
    /// The fields of a record, in order, each starting where the previous ends.
    pub fields: Vec<FixedFieldSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedFieldSpec {
    pub name: String,
    /// Width in characters.
    pub length: usize,
    /// `left` (text, padded with spaces on the right; the default) or `right` (numbers,
    /// padded with `pad` on the left).
    #[serde(default)]
    pub align: Align,
    /// The padding character; a space by default.
    #[serde(default = "space")]
    pub pad: char,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Right,
}

/// `mappings/<profile>/<type>.toml`: how one message type maps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeMappingSpec {
    /// The canonical type's short name, e.g. `employment.started`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// Which directions this file supports; both by default.
    #[serde(default = "both_directions")]
    pub directions: Vec<Direction>,
    /// How to recognise this type in a party message; required when the profile maps
    /// several types to canonical (unless `root` tells them apart).
    pub detect: Option<ConditionSpec>,
    /// XML profiles whose message types have different root elements (one web-service
    /// operation each): this type's root, overriding the profile's. A document is of this
    /// type only if its root is this element.
    pub root: Option<String>,
    /// This type's own party schema, overriding the profile's (for XSDs that can't be
    /// compiled together).
    pub schema: Option<String>,
    /// For a type a profile writes in more than one document (a CO change is an
    /// inputUniLav PRO when it is an extension, a Comunicazione with Trasformazione when it
    /// is a transformation): a canonical condition saying when this file writes the message.
    /// Files of one type are tried in file-name order; the first whose `select` holds (or
    /// that has none) writes it.
    pub select: Option<ConditionSpec>,
    #[serde(default)]
    pub rules: Vec<toml::Spanned<RuleSpec>>,
    /// Party elements the party's format requires whose canonical sources the standard
    /// leaves optional: per-profile requirements (`PRF-…`, stated in docs/STANDARD.md). A
    /// message written without one is refused with `RAC-2020` naming the requirement, the
    /// canonical field and the party element, before the party's schema is checked.
    #[serde(default)]
    pub requires: Vec<toml::Spanned<RequirementSpec>>,
}

/// One per-profile requirement: `party` must be written when translating to this profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementSpec {
    /// The requirement's id, `PRF-<PROFILE>-<nn>`, as in conformance/requirements.toml.
    pub id: String,
    /// The party element (or attribute) that must be written.
    pub party: String,
    /// The canonical field that carries it, when one does (the diagnostic points there).
    pub canonical: Option<String>,
    /// What the sender must provide, in a phrase: "the employer's birth date".
    pub needs: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    ToCanonical,
    FromCanonical,
}

/// One rule: a canonical field and where it is in the party's format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// JSON pointer in the canonical message (from its root: `/data/...`, `/id`), or
    /// relative to the array item inside `each`.
    pub canonical: Option<String>,
    /// Where the value is in the party format: an XML path (`co:Lavoratore/@codiceFiscale`,
    /// `co:Contratto/co:ccnl`), a JSON pointer, a CSV column or fixed-width field name. A
    /// list concatenates several values with `separator` (and splits them back).
    pub party: Option<PartyRefSpec>,
    /// A constant written to the target side instead of a value read from the source.
    pub value: Option<toml::Value>,
    /// A value from the gateway's configuration of the parties, written to the party
    /// (from-canonical rules only): `sender.entity_code` or `recipient.entity_code`, the
    /// parties' codes in official registers (a CPI's ministry code, a Comune's Belfiore
    /// code). Absent (no configuration, or no code configured), the rule writes nothing.
    pub context: Option<ContextField>,
    /// A person's names held in one party value ("COGNOME NOME", as the CO's
    /// `denominazione` of a family employer): read, the words split into the family and
    /// given names where the codice fiscale's name codes say (first word as family name when
    /// they can't tell); written, joined with a space. Used instead of `canonical`.
    pub names: Option<NamesSpec>,
    /// Makes this an array rule: `party` is the repeated element (or JSON array), `canonical`
    /// the array, and these rules map each item.
    pub each: Option<Vec<RuleSpec>>,
    /// The canonical JSON type: string (default), integer, number, boolean, date.
    pub kind: Option<ValueKind>,
    /// The party's date pattern with `yyyy`, `mm`, `dd` (e.g. `dd/mm/yyyy`); canonical
    /// dates are always `yyyy-mm-dd`.
    pub date: Option<String>,
    /// The party's decimal separator for numbers, `.` by default.
    pub decimal: Option<char>,
    /// Decimals written to the party for numbers (`2` writes 1250 as `1250.00`); the
    /// shortest form by default.
    pub decimals: Option<usize>,
    /// For dates: days added when writing and taken away when reading, where the party's
    /// date is a day off the canonical one (the CO's end of the previous term is the day
    /// before the first day of an extension: `offset_days = -1`).
    pub offset_days: Option<i64>,
    /// The party's texts for true and false, e.g. `["SI", "NO"]`.
    pub boolean: Option<[String; 2]>,
    /// Party value to canonical value, for enumerations.
    pub map: Option<BTreeMap<String, String>>,
    /// Code-table lookup in `mappings/codes/<table>.csv`.
    pub table: Option<TableSpec>,
    /// Text clean-ups applied to party values when reading them: trim (always done),
    /// upper, lower, collapse-spaces.
    #[serde(default)]
    pub transform: Vec<Transform>,
    /// A regular expression with one capture group applied to each party value read
    /// (after `transform`): the group is the value, as `^(\d\.\d\.\d\.\d\.\d)` takes the
    /// five-level ISTAT code out of the ministry's six-level one. A value it does not match
    /// is read unchanged.
    pub extract: Option<String>,
    /// Separator for a list of `party` paths; a space by default.
    pub separator: Option<String>,
    /// Apply the rule only when this holds (on the side read in that direction).
    pub when: Option<ConditionSpec>,
    /// Restrict the rule to one direction.
    pub direction: Option<Direction>,
}

/// A value a mapping may take from the configuration of the parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ContextField {
    #[serde(rename = "sender.entity_code")]
    SenderEntityCode,
    #[serde(rename = "recipient.entity_code")]
    RecipientEntityCode,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamesSpec {
    /// Pointer of the family name (cognome).
    pub family: String,
    /// Pointer of the given name (nome).
    pub given: String,
    /// Pointer of the person's codice fiscale, read before this rule.
    pub codice_fiscale: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PartyRefSpec {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    String,
    Integer,
    Number,
    Boolean,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    Trim,
    Upper,
    Lower,
    CollapseSpaces,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// The table's file name without `.csv`.
    pub name: String,
    /// The column holding the party's code.
    pub party: String,
    /// The column holding the canonical code.
    pub canonical: String,
}

/// A condition on one side. Exactly one of `party` and `canonical`; then `exists`,
/// `equals`, `matches` or `not_matches` (regular expressions); `exists = true` when none is
/// given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    pub party: Option<String>,
    pub canonical: Option<String>,
    pub exists: Option<bool>,
    pub equals: Option<String>,
    pub matches: Option<String>,
    /// Holds when the value is present and does not match this regular expression.
    pub not_matches: Option<String>,
}

fn semicolon() -> char {
    ';'
}

fn space() -> char {
    ' '
}

fn utf8() -> String {
    "utf-8".to_owned()
}

fn both_directions() -> Vec<Direction> {
    vec![Direction::ToCanonical, Direction::FromCanonical]
}
