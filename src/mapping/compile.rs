//! Mapping files to plans: every check a mapping can fail happens here, at load, with the
//! file and line, so translating a message never meets a bad path or a missing table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::Regex;
use serde_json::Value;

use super::path::{qname, PartyPath, Pointer, QName};
use super::spec::{
    ConditionSpec, ContextField, Direction, FormatKind, PartyRefSpec, ProfileSpec, RequirementSpec, RuleSpec,
    TableSpec, Transform, TypeMappingSpec, ValueKind,
};
use crate::assets::Assets;
use crate::error::Error;
use crate::formats::records::FixedLayout;
use crate::standard::{FieldKind, Standard};

/// A compiled profile: a party format and how each of its message types maps.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub title: String,
    pub party_kind: String,
    pub format: FormatKind,
    /// The party's schema, relative to the assets root.
    pub schema: Option<String>,
    pub namespaces: Vec<(String, String)>,
    pub layout: Layout,
    pub types: Vec<TypeMapping>,
}

#[derive(Debug)]
pub enum Layout {
    /// `records`: the path of the repeated element of a multi-record document.
    Xml {
        root: QName,
        records: Option<Vec<QName>>,
    },
    Json {
        records: Option<Pointer>,
        payload: Option<Pointer>,
    },
    Csv {
        delimiter: char,
        encoding: String,
        columns: Arc<[String]>,
    },
    Fixed(FixedLayout),
}

/// How one message type maps in one profile.
#[derive(Debug)]
pub struct TypeMapping {
    pub message_type: String,
    pub to_canonical: bool,
    pub from_canonical: bool,
    pub detect: Option<Condition>,
    /// For XML profiles with one root element per type: this type's root.
    pub root: Option<QName>,
    /// This type's own party schema, when it has one.
    pub schema: Option<String>,
    /// When this file writes a message of its type (a canonical condition).
    pub select: Option<Condition>,
    pub rules: Vec<Rule>,
    /// What the party format needs that the standard leaves optional.
    pub requires: Vec<Requirement>,
    /// The mapping file, for messages.
    pub file: String,
}

/// A per-profile requirement (`PRF-…`): a party element that must be written.
#[derive(Debug)]
pub struct Requirement {
    pub id: String,
    pub party: PartyPath,
    pub canonical: Option<Pointer>,
    pub needs: String,
}

impl TypeMapping {
    /// The party schema that applies to this type: its own, or the profile's.
    pub fn schema<'a>(&'a self, profile: &'a Profile) -> Option<&'a str> {
        self.schema.as_deref().or(profile.schema.as_deref())
    }

    /// The party element a canonical field (or, for an object, one of its fields) is read
    /// from, so that a message missing it can say which element to fill.
    pub fn party_source(&self, canonical: &str) -> Option<String> {
        party_source(&self.rules, canonical, "")
    }
}

fn party_source(rules: &[Rule], canonical: &str, prefix: &str) -> Option<String> {
    let covers = |pointer: &str| pointer == canonical || pointer.starts_with(&format!("{canonical}/"));
    for rule in rules {
        match rule {
            Rule::Field(field) if field.to_canonical => {
                let targets =
                    field.canonical.iter().chain(field.names.iter().flat_map(|names| [&names.family, &names.given]));
                if targets.into_iter().any(|pointer| covers(&pointer.text)) {
                    if let Some(path) = field.party.first() {
                        return Some(format!("{prefix}{}", path.text()));
                    }
                }
            }
            Rule::Each(each) if each.to_canonical => {
                let array = &each.canonical.text;
                let item = format!("{prefix}{}/", each.party.text());
                // The array itself, or a field of one of its items (`/data/jobs/0/role`).
                if covers(array) {
                    return Some(each.party.text().to_owned());
                }
                let inner = canonical
                    .strip_prefix(&format!("{array}/"))
                    .and_then(|rest| rest.split_once('/').map(|(_, field)| format!("/{field}")));
                if let Some(inner) = inner {
                    if let Some(found) = party_source(&each.rules, &inner, &item) {
                        return Some(found);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[derive(Debug)]
pub enum Rule {
    Field(Box<FieldRule>),
    Each(Box<EachRule>),
}

#[derive(Debug)]
pub struct FieldRule {
    pub canonical: Option<Pointer>,
    /// Family and given names (and the codice fiscale that tells them apart) held in one
    /// party value.
    pub names: Option<Names>,
    pub party: Vec<PartyPath>,
    pub separator: String,
    pub constant: Option<Value>,
    /// A value from the parties' configuration (from-canonical rules only).
    pub context: Option<ContextField>,
    pub conversion: Conversion,
    pub when: Option<Condition>,
    pub to_canonical: bool,
    pub from_canonical: bool,
}

#[derive(Debug)]
pub struct Names {
    pub family: Pointer,
    pub given: Pointer,
    pub codice_fiscale: Option<Pointer>,
}

#[derive(Debug)]
pub struct EachRule {
    pub canonical: Pointer,
    pub party: PartyPath,
    pub rules: Vec<Rule>,
    pub when: Option<Condition>,
    pub to_canonical: bool,
    pub from_canonical: bool,
}

/// How a party text becomes a canonical value and back.
#[derive(Debug)]
pub struct Conversion {
    pub kind: ValueKind,
    pub date: Option<DatePattern>,
    pub decimal: char,
    pub decimals: Option<usize>,
    /// Days a party date is ahead of (positive) or behind the canonical one.
    pub offset_days: i64,
    pub boolean: Option<[String; 2]>,
    pub lookup: Option<Arc<Lookup>>,
    pub transforms: Vec<Transform>,
    /// The capture group to keep of each party value read.
    pub extract: Option<Regex>,
}

/// A value map or code-table crosswalk, both ways.
///
/// The pairs live in one string, with an index sorted by each side: a crosswalk of the
/// comuni (15,000 rows) takes a fraction of what two hash maps of owned strings did, and a
/// lookup is a binary search. Where a code appears twice the first pair wins, both ways,
/// so tables list the preferred code first.
#[derive(Debug)]
pub struct Lookup {
    pub name: String,
    /// The code table's file, for a crosswalk (`mappings/codes/<table>.csv`).
    pub file: Option<String>,
    text: String,
    /// Byte ranges in `text` of each pair's party and canonical values, in table order.
    pairs: Vec<[u32; 4]>,
    /// Indexes into `pairs`, sorted by party value, one per distinct value.
    by_party: Vec<u32>,
    /// The same, by canonical value.
    by_canonical: Vec<u32>,
}

/// Pairs gathered for a `Lookup`, in one string.
#[derive(Default)]
struct Pairs {
    text: String,
    spans: Vec<[u32; 4]>,
}

impl Pairs {
    fn push(&mut self, party: &str, canonical: &str) -> Result<(), String> {
        let too_large = || "the table is larger than 4 GiB".to_owned();
        let mut span = [0; 4];
        for (side, value) in [party, canonical].into_iter().enumerate() {
            span[2 * side] = u32::try_from(self.text.len()).map_err(|_| too_large())?;
            self.text.push_str(value);
            span[2 * side + 1] = u32::try_from(self.text.len()).map_err(|_| too_large())?;
        }
        if u32::try_from(self.spans.len() + 1).is_err() {
            return Err("the table has more than 4 billion pairs".to_owned());
        }
        self.spans.push(span);
        Ok(())
    }
}

impl Lookup {
    fn new<'a>(
        name: String,
        file: Option<String>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Lookup, String> {
        let mut gathered = Pairs::default();
        for (party, canonical) in pairs {
            gathered.push(party, canonical).map_err(|reason| format!("{name}: {reason}"))?;
        }
        Ok(Lookup::from_pairs(name, file, gathered))
    }

    fn from_pairs(name: String, file: Option<String>, mut pairs: Pairs) -> Lookup {
        pairs.text.shrink_to_fit();
        pairs.spans.shrink_to_fit();
        let mut lookup =
            Lookup { name, file, text: pairs.text, pairs: pairs.spans, by_party: Vec::new(), by_canonical: Vec::new() };
        lookup.by_party = lookup.index(0);
        lookup.by_canonical = lookup.index(2);
        lookup
    }

    /// Pair indexes sorted by the value at `side` (0 party, 2 canonical), the first pair of
    /// each value kept: pairs sort by value, then by position, and the first of each run
    /// stays. Each value is looked up once, and its first eight bytes, as a big-endian
    /// number, settle most comparisons (codes are short) without comparing strings.
    fn index(&self, side: usize) -> Vec<u32> {
        // `Pairs::push` checked that the count fits.
        let count = u32::try_from(self.pairs.len()).unwrap_or(u32::MAX);
        let mut keyed: Vec<(u64, &str, u32)> = (0..count)
            .map(|pair| {
                let value = self.value(pair, side);
                let mut prefix = [0u8; 8];
                let length = value.len().min(8);
                prefix[..length].copy_from_slice(&value.as_bytes()[..length]);
                (u64::from_be_bytes(prefix), value, pair)
            })
            .collect();
        keyed.sort_unstable();
        keyed.dedup_by(|a, b| a.1 == b.1);
        keyed.into_iter().map(|(_, _, pair)| pair).collect()
    }

    fn value(&self, pair: u32, side: usize) -> &str {
        let span = self.pairs[pair as usize];
        self.text.get(span[side] as usize..span[side + 1] as usize).unwrap_or_default()
    }

    fn find(&self, index: &[u32], side: usize, key: &str) -> Option<&str> {
        let found = index.binary_search_by(|&pair| self.value(pair, side).cmp(key)).ok()?;
        Some(self.value(index[found], 2 - side))
    }

    /// The canonical value of a party code.
    pub fn to_canonical(&self, party: &str) -> Option<&str> {
        self.find(&self.by_party, 0, party)
    }

    /// The party code of a canonical value.
    pub fn from_canonical(&self, canonical: &str) -> Option<&str> {
        self.find(&self.by_canonical, 2, canonical)
    }

    /// What a sender may use instead of an unmapped code, for a message: the codes when
    /// they are few (`accepted: A, B`), else the table to look them up in.
    pub fn accepted(&self, to_canonical: bool) -> String {
        let (index, side) = if to_canonical { (&self.by_party, 0) } else { (&self.by_canonical, 2) };
        if index.len() > 16 {
            return match &self.file {
                Some(file) => format!("see {file}"),
                None => format!("{} codes are accepted", index.len()),
            };
        }
        let codes: Vec<&str> = index.iter().map(|&pair| self.value(pair, side)).collect();
        format!("accepted: {}", codes.join(", "))
    }
}

#[derive(Debug)]
pub struct Condition {
    pub side: Side,
    pub test: Test,
}

#[derive(Debug)]
pub enum Side {
    Party(PartyPath),
    Canonical(Pointer),
}

#[derive(Debug)]
pub enum Test {
    Exists(bool),
    Equals(String),
    Matches(Regex),
    NotMatches(Regex),
}

/// A date pattern made of `yyyy`, `mm`, `dd` and literal characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatePattern {
    pub text: String,
    pub parts: Vec<DatePart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Month,
    Day,
    Literal(char),
}

impl DatePattern {
    /// A pattern that reads and writes full dates: `yyyy`, `mm` and `dd` once each.
    pub fn parse(text: &str) -> Result<DatePattern, String> {
        let parts = tokenize(text)?;
        for needed in [DatePart::Year, DatePart::Month, DatePart::Day] {
            if parts.iter().filter(|part| **part == needed).count() != 1 {
                return Err(format!("date pattern {text:?} needs yyyy, mm and dd once each"));
            }
        }
        Ok(DatePattern { text: text.to_owned(), parts })
    }

    /// A pattern that may leave out parts (`yyyy` alone, for a birth year): it can write a
    /// date but not read one back, so only `from-canonical` rules may use it.
    pub fn parse_for_writing(text: &str) -> Result<DatePattern, String> {
        let parts = tokenize(text)?;
        let count = |needed: DatePart| parts.iter().filter(|part| **part == needed).count();
        let counts = [count(DatePart::Year), count(DatePart::Month), count(DatePart::Day)];
        if counts.iter().all(|c| *c == 0) || counts.iter().any(|c| *c > 1) {
            return Err(format!("date pattern {text:?} needs at least one of yyyy, mm and dd, each at most once"));
        }
        Ok(DatePattern { text: text.to_owned(), parts })
    }
}

fn tokenize(text: &str) -> Result<Vec<DatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("yyyy") {
            parts.push(DatePart::Year);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("mm") {
            parts.push(DatePart::Month);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("dd") {
            parts.push(DatePart::Day);
            rest = after;
        } else {
            let mut chars = rest.chars();
            let literal = chars.next().unwrap_or_default();
            if literal.is_ascii_alphanumeric() {
                return Err(format!("date pattern {text:?}: use yyyy, mm, dd and separators"));
            }
            parts.push(DatePart::Literal(literal));
            rest = chars.as_str();
        }
    }
    Ok(parts)
}

/// Loads every profile under `mappings/` (a folder with a `profile.toml`).
pub fn load_all(assets: &Assets, standard: &Standard) -> Result<Vec<Profile>, Error> {
    let folders: Vec<String> =
        assets.list_dirs("mappings")?.into_iter().filter(|folder| folder != "mappings/codes").collect();
    // Compiling the profiles was nearly half of `serve`'s start-up: they are compiled on
    // two threads (the machine's cores), each half in order, and joined in the folders'
    // order. The threads share one table cache, so a crosswalk two profiles use (the
    // comuni) is read and held once.
    let tables = TableCache::default();
    let compile = |folders: &[String]| -> Result<Vec<Profile>, Error> {
        folders.iter().map(|folder| load_profile(assets, folder, standard, &tables)).collect()
    };
    let (first, second) = folders.split_at(folders.len() / 2);
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| compile(first));
        let second = compile(second);
        (first.join(), second)
    });
    let mut profiles = first.map_err(|_| Error::Internal("compiling the profiles panicked".into()))??;
    profiles.extend(second?);
    Ok(profiles)
}

/// Crosswalks built so far (by table, party column, canonical column), shared by the
/// compiling threads.
#[derive(Default)]
struct TableCache(Mutex<HashMap<(String, String, String), Arc<Lookup>>>);

fn mapping_error(file: &str, text: &str, offset: usize, reason: impl Into<String>) -> Error {
    let line = text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
    Error::Mapping { file: file.to_owned(), line, reason: reason.into() }
}

fn read_toml<T: for<'de> serde::Deserialize<'de>>(assets: &Assets, file: &str) -> Result<(T, String), Error> {
    let bytes = assets.read(file)?;
    let text = String::from_utf8(bytes).map_err(|_| mapping_error(file, "", 0, "not UTF-8"))?;
    let spec = toml::from_str(&text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start);
        mapping_error(file, &text, offset, error.message())
    })?;
    Ok((spec, text))
}

fn load_profile(assets: &Assets, folder: &str, standard: &Standard, tables: &TableCache) -> Result<Profile, Error> {
    let file = format!("{folder}/profile.toml");
    let (spec, text): (ProfileSpec, String) = read_toml(assets, &file)?;
    let fail = |reason: String| mapping_error(&file, &text, 0, reason);
    let folder_name = folder.rsplit('/').next().unwrap_or(folder);
    if spec.name != folder_name {
        return Err(fail(format!("name {:?} differs from the folder {folder_name:?}", spec.name)));
    }
    if !["cpi", "social", "sui", "inps"].contains(&spec.party_kind.as_str()) {
        return Err(fail(format!("party_kind {:?} is not cpi, social, sui or inps", spec.party_kind)));
    }
    let namespaces: Vec<(String, String)> = spec.namespaces.clone().into_iter().collect();
    let layout = match spec.format {
        FormatKind::Xml => {
            let xml = spec.xml.as_ref().ok_or_else(|| fail("format xml needs an [xml] table".into()))?;
            let records = match &xml.records {
                Some(path) => match PartyPath::xml(path, &namespaces).map_err(fail)? {
                    PartyPath::Xml { steps, attribute: None, .. } if !steps.is_empty() => Some(steps),
                    _ => return Err(fail(format!("[xml] records {path:?} must name an element"))),
                },
                None => None,
            };
            Layout::Xml { root: qname(&xml.root, &namespaces).map_err(fail)?, records }
        }
        FormatKind::Json => {
            let pointer_of = |text: Option<&str>| match text {
                Some(pointer) => Pointer::parse(pointer).map(Some),
                None => Ok(None),
            };
            let json = spec.json.as_ref();
            let records = pointer_of(json.and_then(|j| j.records.as_deref())).map_err(fail)?;
            let payload = pointer_of(json.and_then(|j| j.payload.as_deref())).map_err(fail)?;
            if payload.is_some() && records.is_none() {
                return Err(fail("[json] payload needs records".into()));
            }
            Layout::Json { records, payload }
        }
        FormatKind::Csv => {
            let csv = spec.csv.as_ref().ok_or_else(|| fail("format csv needs a [csv] table".into()))?;
            if csv.columns.is_empty() {
                return Err(fail("[csv] columns is empty".into()));
            }
            Layout::Csv {
                delimiter: csv.delimiter,
                encoding: check_encoding(&csv.encoding).map_err(fail)?,
                columns: csv.columns.iter().cloned().collect(),
            }
        }
        FormatKind::Fixed => {
            let fixed = spec.fixed.as_ref().ok_or_else(|| fail("format fixed needs a [fixed] table".into()))?;
            if fixed.fields.is_empty() || fixed.fields.iter().any(|f| f.length == 0) {
                return Err(fail("[fixed] needs fields, each at least one character long".into()));
            }
            Layout::Fixed(FixedLayout::new(
                fixed
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), f.length, f.align == super::spec::Align::Right, f.pad))
                    .collect(),
                check_encoding(&fixed.encoding).map_err(fail)?,
            ))
        }
    };
    if let Some(schema) = &spec.schema {
        assets.read(schema).map_err(|error| fail(format!("schema {schema}: {error}")))?;
    }
    let mut profile = Profile {
        name: spec.name,
        title: spec.title,
        party_kind: spec.party_kind,
        format: spec.format,
        schema: spec.schema,
        namespaces,
        layout,
        types: Vec::new(),
    };
    for file in assets.list(folder, ".toml")? {
        if file.ends_with("/profile.toml") {
            continue;
        }
        let (spec, text): (TypeMappingSpec, String) = read_toml(assets, &file)?;
        let compiler =
            Compiler { file: &file, text: &text, profile: &profile, standard, message_type: &spec.message_type };
        let mapping = compiler.type_mapping(&spec, assets, tables)?;
        profile.types.push(mapping);
    }
    if profile.types.is_empty() {
        return Err(fail("the profile maps no message type".into()));
    }
    let to_canonical = profile.types.iter().filter(|t| t.to_canonical).count();
    if to_canonical > 1 {
        if let Some(undetected) =
            profile.types.iter().find(|t| t.to_canonical && t.detect.is_none() && t.root.is_none())
        {
            return Err(Error::Mapping {
                file: undetected.file.clone(),
                line: 1,
                reason: "several types map to canonical in this profile: each needs a `detect`".into(),
            });
        }
    }
    Ok(profile)
}

fn check_encoding(encoding: &str) -> Result<String, String> {
    let lower = encoding.to_ascii_lowercase();
    match lower.as_str() {
        "utf-8" | "utf8" | "windows-1252" | "cp1252" | "iso-8859-1" | "latin1" => Ok(lower),
        _ => Err(format!("encoding {encoding:?} is not utf-8 or windows-1252")),
    }
}

struct Compiler<'c> {
    file: &'c str,
    text: &'c str,
    profile: &'c Profile,
    standard: &'c Standard,
    message_type: &'c str,
}

impl Compiler<'_> {
    fn error(&self, offset: usize, reason: impl Into<String>) -> Error {
        mapping_error(self.file, self.text, offset, reason)
    }

    fn type_mapping(&self, spec: &TypeMappingSpec, assets: &Assets, tables: &TableCache) -> Result<TypeMapping, Error> {
        if self.standard.message_type(&spec.message_type).is_none() {
            return Err(self.error(0, format!("type {:?} is not a message type of the standard", spec.message_type)));
        }
        let detect = match &spec.detect {
            Some(condition) => Some(self.condition(condition, 0)?),
            None => None,
        };
        let select = match &spec.select {
            Some(condition) => {
                let condition = self.condition(condition, 0)?;
                if !matches!(condition.side, Side::Canonical(_)) {
                    return Err(self.error(0, "`select` is a condition on the canonical message"));
                }
                Some(condition)
            }
            None => None,
        };
        let root = match (&spec.root, &self.profile.layout) {
            (Some(root), Layout::Xml { .. }) => {
                Some(qname(root, &self.profile.namespaces).map_err(|reason| self.error(0, reason))?)
            }
            (Some(_), _) => return Err(self.error(0, "`root` is for XML profiles")),
            (None, _) => None,
        };
        if let Some(schema) = &spec.schema {
            assets.read(schema).map_err(|error| self.error(0, format!("schema {schema}: {error}")))?;
        }
        let mut rules = Vec::new();
        for rule in &spec.rules {
            rules.push(self.rule(rule.get_ref(), rule.span().start, None, assets, tables)?);
        }
        let mut requires = Vec::new();
        for requirement in &spec.requires {
            requires.push(self.requirement(requirement.get_ref(), requirement.span().start)?);
        }
        Ok(TypeMapping {
            message_type: spec.message_type.clone(),
            to_canonical: spec.directions.contains(&Direction::ToCanonical),
            from_canonical: spec.directions.contains(&Direction::FromCanonical),
            detect,
            root,
            schema: spec.schema.clone(),
            select,
            rules,
            requires,
            file: self.file.to_owned(),
        })
    }

    /// Checks a canonical pointer against the standard; inside `each`, relative to an item.
    fn canonical(&self, text: &str, offset: usize, item_of: Option<&Pointer>) -> Result<(Pointer, FieldKind), Error> {
        let pointer = Pointer::parse(text).map_err(|reason| self.error(offset, reason))?;
        let full = match item_of {
            Some(array) => format!("{}/0{}", array.text, pointer.text),
            None => pointer.text.clone(),
        };
        let kind = self.standard.field_kind(self.message_type, &full).ok_or_else(|| {
            self.error(offset, format!("{full} is not a field of {} in the standard", self.message_type))
        })?;
        Ok((pointer, kind))
    }

    fn requirement(&self, spec: &RequirementSpec, offset: usize) -> Result<Requirement, Error> {
        // `PRF-<profile>-<nn>`: the profile's own requirement ids, two digits each.
        let prefix = format!("PRF-{}-", self.profile.name);
        let well_formed = spec
            .id
            .strip_prefix(&prefix)
            .is_some_and(|number| number.len() == 2 && number.chars().all(|c| c.is_ascii_digit()));
        if !well_formed {
            return Err(self.error(offset, format!("requirement id {:?} is not {prefix}<nn>", spec.id)));
        }
        if spec.needs.trim().is_empty() {
            return Err(self.error(offset, "a requirement says what it `needs`"));
        }
        let canonical = match &spec.canonical {
            Some(text) => Some(self.canonical(text, offset, None)?.0),
            None => None,
        };
        Ok(Requirement {
            id: spec.id.clone(),
            party: self.party(&spec.party, offset)?,
            canonical,
            needs: spec.needs.clone(),
        })
    }

    fn party(&self, text: &str, offset: usize) -> Result<PartyPath, Error> {
        let fail = |reason: String| self.error(offset, reason);
        match &self.profile.layout {
            Layout::Xml { .. } => PartyPath::xml(text, &self.profile.namespaces).map_err(fail),
            Layout::Json { .. } => Pointer::parse(text).map(PartyPath::Json).map_err(fail),
            Layout::Csv { columns, .. } => match columns.iter().position(|c| c == text) {
                Some(index) => Ok(PartyPath::Field { name: text.to_owned(), index }),
                None => Err(fail(format!("{text:?} is not a column of the profile"))),
            },
            Layout::Fixed(layout) => match layout.fields.iter().position(|c| c == text) {
                Some(index) => Ok(PartyPath::Field { name: text.to_owned(), index }),
                None => Err(fail(format!("{text:?} is not a field of the profile's layout"))),
            },
        }
    }

    fn condition(&self, spec: &ConditionSpec, offset: usize) -> Result<Condition, Error> {
        let side = match (&spec.party, &spec.canonical) {
            (Some(party), None) => Side::Party(self.party(party, offset)?),
            (None, Some(canonical)) => Side::Canonical(Pointer::parse(canonical).map_err(|r| self.error(offset, r))?),
            _ => return Err(self.error(offset, "a condition names exactly one of `party` and `canonical`")),
        };
        let test = match (&spec.exists, &spec.equals, &spec.matches, &spec.not_matches) {
            (None, None, None, None) => Test::Exists(true),
            (Some(exists), None, None, None) => Test::Exists(*exists),
            (None, Some(value), None, None) => Test::Equals(value.clone()),
            (None, None, Some(pattern), None) => {
                Test::Matches(Regex::new(pattern).map_err(|e| self.error(offset, format!("matches: {e}")))?)
            }
            (None, None, None, Some(pattern)) => {
                Test::NotMatches(Regex::new(pattern).map_err(|e| self.error(offset, format!("not_matches: {e}")))?)
            }
            _ => {
                return Err(
                    self.error(offset, "a condition has one test: `exists`, `equals`, `matches` or `not_matches`")
                )
            }
        };
        Ok(Condition { side, test })
    }

    fn rule(
        &self,
        spec: &RuleSpec,
        offset: usize,
        item_of: Option<&Pointer>,
        assets: &Assets,
        tables: &TableCache,
    ) -> Result<Rule, Error> {
        let (to_canonical, from_canonical) = match spec.direction {
            None => (true, true),
            Some(Direction::ToCanonical) => (true, false),
            Some(Direction::FromCanonical) => (false, true),
        };
        let when = match &spec.when {
            Some(condition) => Some(self.condition(condition, offset)?),
            None => None,
        };
        if let Some(each) = &spec.each {
            let canonical = spec.canonical.as_deref().ok_or_else(|| self.error(offset, "`each` needs `canonical`"))?;
            let (pointer, kind) = self.canonical(canonical, offset, item_of)?;
            if kind != FieldKind::Array {
                return Err(self.error(offset, format!("{canonical} is not an array in the standard")));
            }
            let party = match &spec.party {
                Some(PartyRefSpec::One(party)) => self.party(party, offset)?,
                _ => return Err(self.error(offset, "`each` needs one `party` path")),
            };
            let full = match item_of {
                Some(array) => {
                    Pointer::parse(&format!("{}/0{}", array.text, pointer.text)).map_err(|r| self.error(offset, r))?
                }
                None => pointer.clone(),
            };
            let mut rules = Vec::new();
            for rule in each {
                rules.push(self.rule(rule, offset, Some(&full), assets, tables)?);
            }
            return Ok(Rule::Each(Box::new(EachRule {
                canonical: pointer,
                party,
                rules,
                when,
                to_canonical,
                from_canonical,
            })));
        }
        let canonical = match &spec.canonical {
            Some(text) => Some(self.canonical(text, offset, item_of)?.0),
            None => None,
        };
        let names = match &spec.names {
            Some(names) => {
                if canonical.is_some() || spec.value.is_some() {
                    return Err(self.error(offset, "`names` replaces `canonical` and `value`"));
                }
                Some(Names {
                    family: self.canonical(&names.family, offset, item_of)?.0,
                    given: self.canonical(&names.given, offset, item_of)?.0,
                    codice_fiscale: match &names.codice_fiscale {
                        Some(text) => Some(self.canonical(text, offset, item_of)?.0),
                        None => None,
                    },
                })
            }
            None => None,
        };
        let party = match &spec.party {
            None => Vec::new(),
            Some(PartyRefSpec::One(path)) => vec![self.party(path, offset)?],
            Some(PartyRefSpec::Many(paths)) => {
                paths.iter().map(|path| self.party(path, offset)).collect::<Result<Vec<_>, _>>()?
            }
        };
        let constant = spec.value.as_ref().map(toml_to_json);
        if spec.context.is_some() {
            if canonical.is_some() || constant.is_some() || names.is_some() || party.len() != 1 {
                return Err(
                    self.error(offset, "a `context` rule writes one `party` path, without `canonical` or `value`")
                );
            }
            if to_canonical {
                return Err(self.error(offset, "a `context` rule needs direction = \"from-canonical\""));
            }
        }
        match (&canonical, party.is_empty(), &constant) {
            (Some(_), false, None) | (Some(_), true, Some(_)) | (None, false, Some(_)) => {}
            (None, false, None) if names.is_some() && party.len() == 1 => {}
            (None, false, None) if spec.context.is_some() => {}
            _ => {
                return Err(self.error(offset, "a rule maps `canonical` to `party`, or writes a `value` to one of them"))
            }
        }
        let lookup = match (&spec.map, &spec.table) {
            (Some(_), Some(_)) => return Err(self.error(offset, "a rule has `map` or `table`, not both")),
            (Some(map), None) => Some(Arc::new(
                Lookup::new(
                    "the mapping's value map".into(),
                    None,
                    map.iter().map(|(party, canonical)| (party.as_str(), canonical.as_str())),
                )
                .map_err(|reason| self.error(offset, reason))?,
            )),
            (None, Some(table)) => Some(self.lookup(table, offset, assets, tables)?),
            (None, None) => None,
        };
        // The options that only make sense for one kind imply it.
        let implied = if spec.date.is_some() {
            ValueKind::Date
        } else if spec.boolean.is_some() {
            ValueKind::Boolean
        } else if spec.decimal.is_some() || spec.decimals.is_some() {
            ValueKind::Number
        } else {
            ValueKind::String
        };
        let kind = spec.kind.unwrap_or(implied);
        if spec.offset_days.is_some_and(|days| days.abs() > 3660)
            || (spec.offset_days.is_some() && kind != ValueKind::Date)
        {
            return Err(self.error(offset, "offset_days is for date rules, within ten years"));
        }
        let date = match (&spec.date, kind) {
            (Some(pattern), _) if !to_canonical => {
                Some(DatePattern::parse_for_writing(pattern).map_err(|r| self.error(offset, r))?)
            }
            (Some(pattern), _) => Some(DatePattern::parse(pattern).map_err(|r| {
                self.error(offset, format!("{r} (a partial pattern is for direction = \"from-canonical\" rules only)"))
            })?),
            (None, ValueKind::Date) => Some(DatePattern::parse("yyyy-mm-dd").map_err(|r| self.error(offset, r))?),
            (None, _) => None,
        };
        let extract = match &spec.extract {
            Some(pattern) => {
                let regex = Regex::new(pattern).map_err(|e| self.error(offset, format!("extract: {e}")))?;
                if regex.captures_len() != 2 {
                    return Err(self.error(offset, "extract needs exactly one capture group"));
                }
                Some(regex)
            }
            None => None,
        };
        Ok(Rule::Field(Box::new(FieldRule {
            canonical,
            names,
            party,
            separator: spec.separator.clone().unwrap_or_else(|| " ".into()),
            constant,
            context: spec.context,
            conversion: Conversion {
                kind,
                date,
                decimal: spec.decimal.unwrap_or('.'),
                decimals: spec.decimals,
                offset_days: spec.offset_days.unwrap_or(0),
                boolean: spec.boolean.clone(),
                lookup,
                transforms: spec.transform.clone(),
                extract,
            },
            when,
            to_canonical,
            from_canonical,
        })))
    }

    fn lookup(
        &self,
        spec: &TableSpec,
        offset: usize,
        assets: &Assets,
        cache: &TableCache,
    ) -> Result<Arc<Lookup>, Error> {
        // Held while a crosswalk is built: the other thread, wanting it too, waits rather
        // than building it again.
        let mut cache = cache.0.lock().map_err(|_| Error::Internal("a profile compiler panicked".into()))?;
        let key = (spec.name.clone(), spec.party.clone(), spec.canonical.clone());
        if let Some(lookup) = cache.get(&key) {
            return Ok(Arc::clone(lookup));
        }
        // The table is streamed, a row at a time, into the crosswalk's own string: only
        // the two columns it uses are kept.
        let path = format!("mappings/codes/{}.csv", spec.name);
        let stream = assets.open(&path).map_err(|e| self.error(offset, format!("table {}: {e}", spec.name)))?;
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(stream);
        let headers = reader.headers().map_err(|e| self.error(offset, format!("{path}: {e}")))?;
        let column = |name: &str| {
            headers
                .iter()
                .position(|header| header == name)
                .ok_or_else(|| self.error(offset, format!("table {} has no column {name:?}", spec.name)))
        };
        let (party_column, canonical_column) = (column(&spec.party)?, column(&spec.canonical)?);
        let mut pairs = Pairs::default();
        let mut row = csv::StringRecord::new();
        while reader.read_record(&mut row).map_err(|e| self.error(offset, format!("{path}: {e}")))? {
            let (Some(party), Some(canonical)) = (row.get(party_column), row.get(canonical_column)) else { continue };
            if !party.is_empty() && !canonical.is_empty() {
                pairs.push(party, canonical).map_err(|reason| self.error(offset, format!("{path}: {reason}")))?;
            }
        }
        let lookup = Lookup::from_pairs(format!("{}:{}->{}", spec.name, spec.party, spec.canonical), Some(path), pairs);
        let lookup = Arc::new(lookup);
        cache.insert(key, Arc::clone(&lookup));
        Ok(lookup)
    }
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::String(text.clone()),
        toml::Value::Integer(number) => Value::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(flag) => Value::Bool(*flag),
        toml::Value::Datetime(datetime) => Value::String(datetime.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(table.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_patterns() {
        let pattern = DatePattern::parse("dd/mm/yyyy").unwrap();
        assert_eq!(
            pattern.parts,
            vec![DatePart::Day, DatePart::Literal('/'), DatePart::Month, DatePart::Literal('/'), DatePart::Year]
        );
        assert!(DatePattern::parse("yyyymmdd").is_ok());
        assert!(DatePattern::parse("dd/mm").is_err());
        assert!(DatePattern::parse("dd/mm/yyyyx").is_err());
        let year = DatePattern::parse_for_writing("yyyy").unwrap();
        assert_eq!(year.parts, vec![DatePart::Year]);
        assert!(DatePattern::parse_for_writing("/").is_err());
        assert!(DatePattern::parse_for_writing("yyyyyyyy").is_err());
    }

    #[test]
    fn lookups_find_both_ways_and_the_first_pair_wins() {
        let pairs = [("A001", "028001"), ("Z404", "999"), ("A001", "028999"), ("B002", "028001"), ("", "x")];
        let lookup = Lookup::new("comuni".into(), None, pairs).unwrap();
        assert_eq!(lookup.to_canonical("A001"), Some("028001"));
        assert_eq!(lookup.to_canonical("B002"), Some("028001"));
        assert_eq!(lookup.from_canonical("028001"), Some("A001"), "the first row is the preferred code");
        assert_eq!(lookup.from_canonical("028999"), Some("A001"));
        assert_eq!(lookup.to_canonical(""), Some("x"));
        assert_eq!((lookup.to_canonical("C003"), lookup.from_canonical("A001")), (None, None));
        assert_eq!(lookup.accepted(true), "accepted: , A001, B002, Z404");
        assert_eq!(lookup.accepted(false), "accepted: 028001, 028999, 999, x");
        let many: Vec<(String, String)> = (0..40).map(|i| (format!("{i:02}"), format!("c{i}"))).collect();
        let large = Lookup::new(
            "big".into(),
            Some("mappings/codes/big.csv".into()),
            many.iter().map(|(p, c)| (p.as_str(), c.as_str())),
        )
        .unwrap();
        assert_eq!(large.accepted(true), "see mappings/codes/big.csv");
        assert!(many.iter().all(|(p, c)| large.to_canonical(p) == Some(c) && large.from_canonical(c) == Some(p)));
    }
}
