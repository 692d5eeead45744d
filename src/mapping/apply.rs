//! Applying a compiled mapping: a party document to a canonical message (`to_canonical`)
//! and back (`from_canonical`). Pure functions: no I/O, no clock (the caller passes "now").

use serde_json::{json, Value};

use super::compile::{Condition, Conversion, DatePart, DatePattern, Layout, Profile, Rule, Side, Test, TypeMapping};
use super::path::{Found, OutScope, PartyOut, PartyPath, Pointer, Scope};
use super::spec::{ContextField, Transform, ValueKind};
use crate::error::{Diagnostic, ErrorCode};
use crate::formats::xml::XmlOut;
use crate::standard::MessageType;

/// What a mapping can't read from the party message itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The sending party's URN, the envelope `source` unless the mapping sets it.
    pub source: &'a str,
    /// RFC 3339 instant used as `time` unless the mapping sets it.
    pub now: &'a str,
    /// The envelope `id` unless the mapping sets it (the caller derives it from the bytes,
    /// so the same party message always gets the same id).
    pub fallback_id: &'a str,
}

/// What a mapping may take from the gateway's configuration when it writes a message for
/// a party: who sends it and who receives it. Empty when translating without a
/// configuration (the CLI without `--config`): rules that need a party's code then write
/// nothing, and the requirements they serve say what is missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parties<'a> {
    pub sender: Option<PartyCodes<'a>>,
    pub recipient: Option<PartyCodes<'a>>,
}

/// A configured party, as mappings see it.
#[derive(Debug, Clone, Copy)]
pub struct PartyCodes<'a> {
    pub id: &'a str,
    /// Its code in the official registers its formats use (`entity_code`).
    pub entity_code: Option<&'a str>,
}

impl Parties<'_> {
    fn value(&self, field: ContextField) -> Option<&str> {
        match field {
            ContextField::SenderEntityCode => self.sender.and_then(|party| party.entity_code),
            ContextField::RecipientEntityCode => self.recipient.and_then(|party| party.entity_code),
        }
    }
}

/// Where a canonical field came from in the party message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub canonical: String,
    pub path: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

/// The first type mapping whose `detect` holds for this party message.
pub fn detect<'p>(profile: &'p Profile, scope: &Scope<'_>) -> Option<&'p TypeMapping> {
    let mut candidates = profile.types.iter().filter(|mapping| mapping.to_canonical);
    candidates.find(|mapping| {
        let root_matches = match (&mapping.root, scope) {
            (Some(root), Scope::Xml(document, element, _)) => {
                document.is(*element, root.namespace.as_deref(), &root.local)
            }
            _ => true,
        };
        root_matches
            && match &mapping.detect {
                Some(condition) => party_condition_holds(condition, scope).unwrap_or(true),
                None => true,
            }
    })
}

/// Maps a party message to canonical. Conversion problems are diagnostics located in the
/// party message; `origins`, when given, records where each canonical field came from so
/// that later validation errors can be located in the party message too.
pub fn to_canonical(
    message_type: &MessageType,
    mapping: &TypeMapping,
    scope: Scope<'_>,
    context: &Context<'_>,
    mut origins: Option<&mut Vec<Origin>>,
) -> (Value, Vec<Diagnostic>) {
    let mut message = json!({});
    let mut diagnostics = Vec::new();
    let root = Pointer::parse("").unwrap_or_else(|_| unreachable_pointer());
    rules_to_canonical(&mapping.rules, scope, &root, &mut message, &mut diagnostics, &mut origins);
    let defaults = [
        ("specversion", json!("1.0")),
        ("id", json!(context.fallback_id)),
        ("source", json!(context.source)),
        ("type", json!(message_type.type_id)),
        ("time", json!(context.now)),
        ("dataschema", json!(message_type.schema_id)),
        ("datacontenttype", json!("application/json")),
        ("data", json!({})),
    ];
    if let Value::Object(map) = &mut message {
        for (key, value) in defaults {
            map.entry(key).or_insert(value);
        }
    }
    (message, diagnostics)
}

/// The empty pointer; parsing it can't fail, this only satisfies the types.
fn unreachable_pointer() -> Pointer {
    Pointer::parse("").unwrap_or_else(|_| unreachable_pointer())
}

fn rules_to_canonical(
    rules: &[Rule],
    scope: Scope<'_>,
    base: &Pointer,
    message: &mut Value,
    diagnostics: &mut Vec<Diagnostic>,
    origins: &mut Option<&mut Vec<Origin>>,
) {
    for rule in rules {
        match rule {
            Rule::Field(field) => {
                if !field.to_canonical || !condition_holds(field.when.as_ref(), &scope, message) {
                    continue;
                }
                if let (Some(names), [path]) = (&field.names, field.party.as_slice()) {
                    if let Some(found) = scope.read(path) {
                        read_names(names, base, &found, &field.conversion.transforms, message, origins);
                    }
                    continue;
                }
                let Some(canonical) = &field.canonical else { continue };
                let target = base.join_cow(canonical);
                let (value, found) = if field.party.is_empty() {
                    match &field.constant {
                        Some(constant) => (constant.clone(), None),
                        None => continue,
                    }
                } else {
                    let (converted, found) = if let [path] = field.party.as_slice() {
                        // One path, the common case: no copy of the party text.
                        let Some(found) = scope.read(path) else { continue };
                        let text = extract(&field.conversion, clean(&found.text, &field.conversion.transforms));
                        if text.is_empty() {
                            continue;
                        }
                        let converted = read_value(&field.conversion, &text);
                        (converted, found)
                    } else {
                        let mut parts = Vec::new();
                        let mut first: Option<Found<'_>> = None;
                        for path in &field.party {
                            if let Some(found) = scope.read(path) {
                                let text = extract(&field.conversion, clean(&found.text, &field.conversion.transforms))
                                    .into_owned();
                                if !text.is_empty() {
                                    parts.push(text);
                                    if first.is_none() {
                                        first = Some(found);
                                    }
                                }
                            }
                        }
                        let Some(found) = first else { continue };
                        (read_value(&field.conversion, &parts.join(&field.separator)), found)
                    };
                    match converted {
                        Ok(value) => (value, Some(found)),
                        Err((code, message)) => {
                            let mut diagnostic = found.diagnostic(code, message);
                            diagnostic.canonical_path = Some(target.text.clone());
                            diagnostics.push(diagnostic);
                            continue;
                        }
                    }
                };
                if let Some(found) = &found {
                    record_origin(origins, &target, found);
                }
                if !target.set(message, value) {
                    diagnostics.push(Diagnostic::error(
                        ErrorCode::Internal,
                        target.text.clone(),
                        "the mapping writes a field inside a value that is not an object",
                    ));
                }
            }
            Rule::Each(each) => {
                if !each.to_canonical || !condition_holds(each.when.as_ref(), &scope, message) {
                    continue;
                }
                let items = scope.each(&each.party);
                if items.is_empty() {
                    continue;
                }
                let array = base.join(&each.canonical);
                for item in &items {
                    let Some(item_pointer) = array.push_object(message).and_then(|text| Pointer::parse(&text).ok())
                    else {
                        diagnostics.push(Diagnostic::error(
                            ErrorCode::Internal,
                            array.text.clone(),
                            "the mapping writes an array where another value is",
                        ));
                        break;
                    };
                    let before = diagnostics.len();
                    rules_to_canonical(&each.rules, item.scope(), &item_pointer, message, diagnostics, origins);
                    // An item none of whose fields mapped would only add a second, confusing
                    // diagnostic to the one that explains why; without one, the record would
                    // be lost without a word, so that is said instead.
                    if item_pointer.get(message).is_some_and(|value| value == &json!({})) {
                        if let Some(Value::Array(items)) = array_mut(&array, message) {
                            items.pop();
                        }
                        if diagnostics.len() == before {
                            let mut diagnostic = item.diagnostic(
                                ErrorCode::RecordUnmapped,
                                format!("this {} maps to nothing in {}", each.party.text(), array.text),
                            );
                            diagnostic.canonical_path = Some(item_pointer.text.clone());
                            diagnostics.push(diagnostic);
                        }
                    }
                }
                // Nor is an array whose every item was left out a value the party sent.
                if array.get(message).is_some_and(|value| value == &json!([])) {
                    remove(&array, message);
                }
            }
        }
    }
}

/// Splits one party value holding a person's names into the family and given names. The
/// codice fiscale's first six letters encode both names, so the split whose codes match is
/// the right one ("DE LUCA MARIA" is DE LUCA + MARIA, "ROSSI MARIA GRAZIA" ROSSI + MARIA
/// GRAZIA); without a match, the first word is the family name.
fn read_names(
    names: &super::compile::Names,
    base: &Pointer,
    found: &Found<'_>,
    transforms: &[Transform],
    message: &mut Value,
    origins: &mut Option<&mut Vec<Origin>>,
) {
    use crate::standard::codice_fiscale::name_code;
    let text = clean(&found.text, transforms);
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return;
    }
    let code = names
        .codice_fiscale
        .as_ref()
        .and_then(|pointer| base.join(pointer).get(message))
        .and_then(Value::as_str)
        // Byte positions below are character positions only for ASCII: a 16-byte value of
        // other characters is no codice fiscale, and slicing it would split a character.
        .filter(|code| code.len() == 16 && code.is_ascii())
        .map(str::to_owned);
    let split = (1..words.len())
        .find(|&k| {
            code.as_deref().is_some_and(|code| {
                name_code(&words[..k].join(" "), false) == code[0..3]
                    && name_code(&words[k..].join(" "), true) == code[3..6]
            })
        })
        .unwrap_or(1);
    let family = words[..split].join(" ");
    let given = words[split..].join(" ");
    for (pointer, value) in [(&names.family, family), (&names.given, given)] {
        if value.is_empty() {
            continue;
        }
        let target = base.join(pointer);
        if target.set(message, Value::String(value)) {
            record_origin(origins, &target, found);
        }
    }
}

/// Notes where a canonical field came from, when the caller asked for origins.
fn record_origin(origins: &mut Option<&mut Vec<Origin>>, target: &Pointer, found: &Found<'_>) {
    if let Some(origins) = origins.as_deref_mut() {
        let located = found.diagnostic(ErrorCode::Internal, "");
        origins.push(Origin {
            canonical: target.text.clone(),
            path: located.path,
            line: located.line,
            column: located.column,
        });
    }
}

/// Removes the value at `pointer` from its parent object.
fn remove(pointer: &Pointer, message: &mut Value) {
    if let Some((parent, name)) = pointer.text.rsplit_once('/') {
        if let Some(Value::Object(map)) = message.pointer_mut(parent) {
            map.remove(&name.replace("~1", "/").replace("~0", "~"));
        }
    }
}

fn array_mut<'v>(pointer: &Pointer, message: &'v mut Value) -> Option<&'v mut Value> {
    message.pointer_mut(&pointer.text)
}

/// Whether a rule's condition holds in the to-canonical direction: a party condition on
/// the party message, a canonical one on the message built so far.
fn condition_holds(condition: Option<&Condition>, scope: &Scope<'_>, built: &Value) -> bool {
    let Some(condition) = condition else { return true };
    match &condition.side {
        Side::Party(_) => party_condition_holds(condition, scope).unwrap_or(true),
        Side::Canonical(pointer) => test(&condition.test, pointer.get(built).map(value_text).as_deref()),
    }
}

/// `None` for a canonical condition, which does not apply to a party message.
fn party_condition_holds(condition: &Condition, scope: &Scope<'_>) -> Option<bool> {
    let Side::Party(path) = &condition.side else { return None };
    let found = scope.read(path);
    Some(test(&condition.test, found.as_ref().map(|f| f.text.trim())))
}

fn test(test: &Test, value: Option<&str>) -> bool {
    match (test, value) {
        (Test::Exists(wanted), value) => value.is_some_and(|v| !v.is_empty()) == *wanted,
        (Test::Equals(expected), Some(value)) => value == expected,
        (Test::Matches(pattern), Some(value)) => pattern.is_match(value),
        (Test::NotMatches(pattern), Some(value)) => !pattern.is_match(value),
        (_, None) => false,
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Trims, then applies the rule's clean-ups.
fn clean<'t>(text: &'t str, transforms: &[Transform]) -> std::borrow::Cow<'t, str> {
    let mut text = std::borrow::Cow::Borrowed(text.trim());
    for transform in transforms {
        text = match transform {
            Transform::Trim => text,
            Transform::Upper => std::borrow::Cow::Owned(text.to_uppercase()),
            Transform::Lower => std::borrow::Cow::Owned(text.to_lowercase()),
            Transform::CollapseSpaces => std::borrow::Cow::Owned(text.split_whitespace().collect::<Vec<_>>().join(" ")),
        };
    }
    text
}

/// The rule's capture group of a party text, or the text when it does not match.
fn extract<'t>(conversion: &Conversion, text: std::borrow::Cow<'t, str>) -> std::borrow::Cow<'t, str> {
    let Some(regex) = &conversion.extract else { return text };
    match regex.captures(&text).and_then(|captures| captures.get(1)) {
        Some(group) => std::borrow::Cow::Owned(group.as_str().to_owned()),
        None => text,
    }
}

/// A party text as a canonical value.
fn read_value(conversion: &Conversion, text: &str) -> Result<Value, (ErrorCode, String)> {
    let text = match &conversion.lookup {
        Some(lookup) => match lookup.to_canonical(text) {
            Some(canonical) => canonical,
            None => {
                return Err((
                    ErrorCode::CodeUnmapped,
                    format!("the code is not in {} ({})", lookup.name, lookup.accepted(true)),
                ))
            }
        },
        None => text,
    };
    let unparsable = |what: &str| (ErrorCode::ValueUnparsable, what.to_owned());
    match conversion.kind {
        ValueKind::String => Ok(Value::String(text.to_owned())),
        ValueKind::Integer => text.parse::<i64>().map(Value::from).map_err(|_| unparsable("expected a whole number")),
        ValueKind::Number => {
            // With a decimal comma, a dot is a thousands separator ("1.250" is 1250): rather
            // than guess, such a value is refused.
            if conversion.decimal != '.' && text.contains('.') {
                return Err(unparsable(&format!(
                    "expected a number with {:?} as decimal separator",
                    conversion.decimal
                )));
            }
            let normalised =
                if conversion.decimal == '.' { text.to_owned() } else { text.replace(conversion.decimal, ".") };
            normalised
                .parse::<f64>()
                .ok()
                .filter(|number| number.is_finite())
                // Whole numbers stay integers, so `54` reads back as `54`, not `54.0`.
                .map(|number| {
                    if number.fract() == 0.0 && number.abs() < 1e15 {
                        Value::from(number as i64)
                    } else {
                        Value::from(number)
                    }
                })
                .ok_or_else(|| {
                    unparsable(&format!("expected a number with {:?} as decimal separator", conversion.decimal))
                })
        }
        ValueKind::Boolean => {
            let (yes, no) = match &conversion.boolean {
                Some([yes, no]) => (yes.as_str(), no.as_str()),
                None => ("true", "false"),
            };
            if text.eq_ignore_ascii_case(yes) {
                Ok(Value::Bool(true))
            } else if text.eq_ignore_ascii_case(no) {
                Ok(Value::Bool(false))
            } else {
                Err(unparsable(&format!("expected {yes:?} or {no:?}")))
            }
        }
        ValueKind::Date => {
            let date = match &conversion.date {
                Some(pattern) => parse_date(pattern, text)
                    .ok_or_else(|| unparsable(&format!("expected a date as {}", pattern.text)))?,
                None => text.to_owned(),
            };
            // A party date a day off the canonical one is moved back; a date that is not
            // one stays as it is, for the standard to report.
            Ok(Value::String(shift_date(&date, -conversion.offset_days).unwrap_or(date)))
        }
    }
}

/// `yyyy-mm-dd` from a date in `pattern`; whether the date exists is the standard's check.
pub fn parse_date(pattern: &DatePattern, text: &str) -> Option<String> {
    let mut rest = text;
    let (mut year, mut month, mut day) = ("", "", "");
    for part in &pattern.parts {
        let width = match part {
            DatePart::Year => 4,
            DatePart::Month | DatePart::Day => 2,
            DatePart::Literal(literal) => {
                rest = rest.strip_prefix(*literal)?;
                continue;
            }
        };
        let digits = rest.get(..width).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
        match part {
            DatePart::Year => year = digits,
            DatePart::Month => month = digits,
            _ => day = digits,
        }
        rest = &rest[width..];
    }
    rest.is_empty().then(|| format!("{year}-{month}-{day}"))
}

/// `yyyy-mm-dd` moved by `days` (none: the same text back), if it is a calendar date.
fn shift_date(date: &str, days: i64) -> Option<String> {
    if days == 0 {
        return Some(date.to_owned());
    }
    let parsed = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    parsed.checked_add_signed(chrono::Duration::days(days)).map(|moved| moved.format("%Y-%m-%d").to_string())
}

/// A canonical `yyyy-mm-dd` date in `pattern`. An RFC 3339 date-time (the envelope's
/// `time`) gives its date, in the offset it is written in: a party date "of the message".
pub fn format_date(pattern: &DatePattern, date: &str) -> Option<String> {
    let date = match date.as_bytes().get(10) {
        Some(b'T' | b't') => date.get(..10)?,
        _ => date,
    };
    let bytes = date.as_bytes();
    if date.len() != 10 || !date.is_ascii() || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let mut out = String::with_capacity(pattern.text.len());
    for part in &pattern.parts {
        match part {
            DatePart::Year => out.push_str(&date[0..4]),
            DatePart::Month => out.push_str(&date[5..7]),
            DatePart::Day => out.push_str(&date[8..10]),
            DatePart::Literal(literal) => out.push(*literal),
        }
    }
    Some(out)
}

/// A value to write to the party: text, or a JSON value for JSON profiles.
enum PartyValue {
    Text(String),
    Json(Value),
}

fn whole_as_integer(value: &Value, number: f64) -> Value {
    if value.is_f64() && number.fract() == 0.0 && number.abs() < 1e15 {
        Value::from(number as i64)
    } else {
        value.clone()
    }
}

/// A canonical value in the party's form.
fn write_value(conversion: &Conversion, value: &Value, json_party: bool) -> Result<PartyValue, (ErrorCode, String)> {
    if let Some(lookup) = &conversion.lookup {
        let text = value_text(value);
        return match lookup.from_canonical(&text) {
            Some(party) => Ok(PartyValue::Text(party.to_owned())),
            None => Err((
                ErrorCode::CodeUnmapped,
                format!("the value has no code in {} ({})", lookup.name, lookup.accepted(false)),
            )),
        };
    }
    let case = |text: String| {
        conversion.transforms.iter().fold(text, |text, transform| match transform {
            Transform::Upper => text.to_uppercase(),
            Transform::Lower => text.to_lowercase(),
            _ => text,
        })
    };
    let unformattable = |what: &str| (ErrorCode::ValueUnparsable, what.to_owned());
    match conversion.kind {
        ValueKind::Date => {
            let text = value.as_str().ok_or_else(|| unformattable("expected a date string"))?;
            let shifted;
            let text = if conversion.offset_days == 0 {
                text
            } else {
                shifted = shift_date(text.get(..10).unwrap_or(text), conversion.offset_days)
                    .ok_or_else(|| unformattable("expected a date as yyyy-mm-dd"))?;
                shifted.as_str()
            };
            match &conversion.date {
                Some(pattern) => format_date(pattern, text)
                    .map(PartyValue::Text)
                    .ok_or_else(|| unformattable("expected a date as yyyy-mm-dd")),
                None => Ok(PartyValue::Text(text.to_owned())),
            }
        }
        ValueKind::Number | ValueKind::Integer => {
            let number = value.as_f64().ok_or_else(|| unformattable("expected a number"))?;
            // 1250.0 and 1250 are one number; writing the whole one as an integer makes a
            // second trip through the profile give the same bytes.
            let value = &whole_as_integer(value, number);
            if json_party && conversion.decimal == '.' && conversion.decimals.is_none() {
                return Ok(PartyValue::Json(value.clone()));
            }
            let text = match (conversion.kind, conversion.decimals) {
                (ValueKind::Integer, _) => format!("{}", number.round() as i64),
                (_, Some(decimals)) => format!("{number:.decimals$}"),
                _ => value.to_string(),
            };
            Ok(PartyValue::Text(if conversion.decimal == '.' {
                text
            } else {
                text.replace('.', &conversion.decimal.to_string())
            }))
        }
        ValueKind::Boolean => {
            let flag = value.as_bool().ok_or_else(|| unformattable("expected true or false"))?;
            match &conversion.boolean {
                Some([yes, no]) => Ok(PartyValue::Text(if flag { yes.clone() } else { no.clone() })),
                None if json_party => Ok(PartyValue::Json(Value::Bool(flag))),
                None => Ok(PartyValue::Text(flag.to_string())),
            }
        }
        ValueKind::String => Ok(PartyValue::Text(case(value_text(value)))),
    }
}

/// Maps a canonical message to the party's format. Problems are located by canonical
/// JSON pointer. A per-profile requirement whose party element ends up unwritten is a
/// `RAC-2020` naming the requirement, the canonical field and the party element.
pub fn from_canonical(
    profile: &Profile,
    mapping: &TypeMapping,
    message: &Value,
    parties: &Parties<'_>,
) -> (PartyOut, Vec<Diagnostic>) {
    let (mut out, scope) = match &profile.layout {
        Layout::Xml { root, .. } => {
            let root = mapping.root.as_ref().unwrap_or(root);
            (PartyOut::Xml(XmlOut::new(root.namespace.as_deref(), &root.local)), OutScope::Xml(0))
        }
        Layout::Json { .. } => (PartyOut::Json(json!({})), OutScope::Json(unreachable_pointer())),
        Layout::Csv { columns, .. } => (PartyOut::Record(vec![String::new(); columns.len()]), OutScope::Record),
        Layout::Fixed(layout) => (PartyOut::Record(vec![String::new(); layout.fields.len()]), OutScope::Record),
    };
    let mut diagnostics = Vec::new();
    let json_party = matches!(profile.layout, Layout::Json { .. });
    let writer = Writer { parties, json_party };
    writer.rules(&mapping.rules, message, "", &mut out, &scope, &mut diagnostics);
    for requirement in &mapping.requires {
        if out.has(&requirement.party) {
            continue;
        }
        let at = requirement.canonical.as_ref().map_or(String::new(), |pointer| pointer.text.clone());
        let mut diagnostic = Diagnostic::error(
            ErrorCode::ProfileRequirement,
            at,
            format!(
                "{} needs {} to write {} ({})",
                profile.name,
                requirement.needs,
                requirement.party.text(),
                requirement.id
            ),
        );
        diagnostic.requirement = Some(requirement.id.as_str().into());
        diagnostics.push(diagnostic);
    }
    (out, diagnostics)
}

/// What writing a message needs besides the rules.
struct Writer<'p> {
    parties: &'p Parties<'p>,
    json_party: bool,
}

impl Writer<'_> {
    fn rules(
        &self,
        rules: &[Rule],
        item: &Value,
        base: &str,
        out: &mut PartyOut,
        scope: &OutScope,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let json_party = self.json_party;
        for rule in rules {
            match rule {
                Rule::Field(field) => {
                    if !field.from_canonical
                        || field.party.is_empty()
                        || !canonical_condition_holds(field.when.as_ref(), item)
                    {
                        continue;
                    }
                    if let (Some(names), [path]) = (&field.names, field.party.as_slice()) {
                        let parts: Vec<&str> =
                            [&names.family, &names.given].iter().filter_map(|p| p.get(item)?.as_str()).collect();
                        if !parts.is_empty() && !out.write(scope, path, parts.join(" ")) {
                            diagnostics.push(Diagnostic::error(
                                ErrorCode::Internal,
                                base.to_owned(),
                                "the mapping's party path does not fit the output",
                            ));
                        }
                        continue;
                    }
                    let value = match (&field.canonical, &field.constant, field.context) {
                        (Some(canonical), _, _) => match canonical.get(item) {
                            Some(Value::Null) | None => continue,
                            Some(value) => value.clone(),
                        },
                        (None, Some(constant), _) => constant.clone(),
                        (None, None, Some(context)) => match self.parties.value(context) {
                            Some(text) => Value::String(text.to_owned()),
                            None => continue,
                        },
                        (None, None, None) => continue,
                    };
                    let at = || format!("{base}{}", field.canonical.as_ref().map_or("", |p| p.text.as_str()));
                    let party_value = match write_value(&field.conversion, &value, json_party) {
                        Ok(party_value) => party_value,
                        Err((code, message)) => {
                            diagnostics.push(Diagnostic::error(code, at(), message));
                            continue;
                        }
                    };
                    let written = match (party_value, field.party.as_slice()) {
                        (PartyValue::Json(value), [path]) => out.write_json(scope, path, value),
                        (PartyValue::Text(text), [path]) => out.write(scope, path, text),
                        (party_value, paths) => {
                            let text = match party_value {
                                PartyValue::Text(text) => text,
                                PartyValue::Json(value) => value_text(&value),
                            };
                            let parts: Vec<&str> = text.splitn(paths.len(), field.separator.as_str()).collect();
                            paths.iter().zip(parts).all(|(path, part)| out.write(scope, path, part.to_owned()))
                        }
                    };
                    if !written {
                        diagnostics.push(Diagnostic::error(
                            ErrorCode::Internal,
                            at(),
                            "the mapping's party path does not fit the output",
                        ));
                    }
                }
                Rule::Each(each) => {
                    if !each.from_canonical || !canonical_condition_holds(each.when.as_ref(), item) {
                        continue;
                    }
                    let Some(Value::Array(items)) = each.canonical.get(item) else { continue };
                    for (index, element) in items.iter().enumerate() {
                        let Some(item_scope) = out.append(scope, &each.party) else {
                            diagnostics.push(Diagnostic::error(
                                ErrorCode::Internal,
                                format!("{base}{}", each.canonical.text),
                                "the mapping's party path does not fit the output",
                            ));
                            break;
                        };
                        let item_base = format!("{base}{}/{index}", each.canonical.text);
                        self.rules(&each.rules, element, &item_base, out, &item_scope, diagnostics);
                    }
                }
            }
        }
    }
}

/// Whether a writer's `select` holds for a message.
pub fn selects(condition: &Condition, message: &Value) -> bool {
    canonical_condition_holds(Some(condition), message)
}

fn canonical_condition_holds(condition: Option<&Condition>, item: &Value) -> bool {
    match condition {
        Some(Condition { side: Side::Canonical(pointer), test: condition_test }) => {
            test(condition_test, pointer.get(item).map(value_text).as_deref())
        }
        _ => true,
    }
}

/// Where a party path starts, for callers that evaluate paths directly.
pub fn path_text(path: &PartyPath) -> &str {
    path.text()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_party_patterns() {
        let italian = DatePattern::parse("dd/mm/yyyy").unwrap();
        assert_eq!(parse_date(&italian, "31/12/2099").as_deref(), Some("2099-12-31"));
        assert_eq!(parse_date(&italian, "31/12/99"), None);
        assert_eq!(parse_date(&italian, "31-12-2099"), None);
        assert_eq!(format_date(&italian, "2024-02-29").as_deref(), Some("29/02/2024"));
        let compact = DatePattern::parse("yyyymmdd").unwrap();
        assert_eq!(parse_date(&compact, "20240229").as_deref(), Some("2024-02-29"));
        assert_eq!(format_date(&compact, "2024-02-29").as_deref(), Some("20240229"));
        assert_eq!(format_date(&compact, "29/02/2024"), None);
        assert_eq!(format_date(&compact, "2026-03-02T23:30:00+01:00").as_deref(), Some("20260302"));
        assert_eq!(format_date(&compact, "2026-03-02X23:30:00+01:00"), None);
    }
}
