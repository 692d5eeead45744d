//! Domain rules a JSON Schema can't state, plugged into the jsonschema validator so that one
//! validation pass checks everything.
//!
//! Single values are custom formats (`codice-fiscale`, `comune`, `state`, `ccnl-level`).
//! Rules across fields are the custom keyword `x-raccordo-rules`, a list of rule objects
//! placed on the object they concern, whose pointers are relative to that object:
//!
//! ```json
//! "x-raccordo-rules": [
//!   {"rule": "date-order", "start": "/startDate", "end": "/endDate"},
//!   {"rule": "cf-matches-person", "cf": "/codiceFiscale", "birthDate": "/birthDate", "sex": "/sex"},
//!   {"rule": "not-after", "date": "/data/worker/person/birthDate", "reference": "/time"},
//!   {"rule": "weekly-hours", "hours": "/weeklyHours", "liveIn": "/liveIn"},
//!   {"rule": "permit-required", "citizenship": "/person/citizenship", "permit": "/residencePermit"},
//!   {"rule": "same", "a": "/inpsRelationshipCode", "b": "/employment/inpsRelationshipCode"}
//! ]
//! ```
//!
//! A `not-after` date pointer may cross arrays with `*` (`/data/experiences/*/startDate`):
//! every item is checked, and a violation names the item.
//!
//! A rule whose inputs are missing or malformed says nothing: the schema already reports
//! those, and one problem should produce one diagnostic. A rule reports its own code and the
//! pointer of the field at fault by encoding them in the error message (see
//! `encode_error`), because jsonschema fills a custom keyword's location with the object
//! the keyword sits on.

use std::sync::Arc;

use jsonschema::paths::Location;
use jsonschema::{Keyword, ValidationError};
use serde_json::{Map, Value};

use super::codes::CodeTables;
use super::codice_fiscale::{self, Sex};
use crate::error::ErrorCode;

/// Levels of the national collective agreement (CCNL) for domestic work, 2020 renewal.
/// CS and DS are the levels for assisting people who are not self-sufficient.
pub const CCNL_LEVELS: [&str; 8] = ["A", "AS", "B", "BS", "C", "CS", "D", "DS"];
/// CCNL limit on the weekly hours of a live-in worker (convivente).
pub const LIVE_IN_MAX_WEEKLY_HOURS: f64 = 54.0;
/// CCNL limit on the weekly hours of a worker who does not live in (non convivente).
pub const NOT_LIVE_IN_MAX_WEEKLY_HOURS: f64 = 40.0;

pub const RULES_KEYWORD: &str = "x-raccordo-rules";
const SEPARATOR: char = '\u{1f}';

/// Registers the formats and the rules keyword on a set of validation options.
pub fn install<'a>(
    options: jsonschema::ValidationOptions<'a>,
    tables: &Arc<CodeTables>,
) -> jsonschema::ValidationOptions<'a> {
    let comuni = Arc::clone(tables);
    let states = Arc::clone(tables);
    let rule_tables = Arc::clone(tables);
    options
        .should_validate_formats(true)
        .with_format("codice-fiscale", |value: &str| codice_fiscale::check(value).is_ok())
        .with_format("comune", move |value: &str| comuni.is_comune(value))
        .with_format("state", move |value: &str| states.state(value).is_some())
        .with_format("ccnl-level", |value: &str| CCNL_LEVELS.contains(&value))
        .with_keyword(RULES_KEYWORD, move |_parent: &Map<String, Value>, value: &Value, _path: Location| {
            let rules = parse_rules(value).map_err(ValidationError::schema)?;
            Ok(Box::new(Rules { rules, tables: Arc::clone(&rule_tables) }) as Box<dyn for<'i> Keyword<'i>>)
        })
}

/// Encodes a rule's code and the relative pointer of the field at fault into a custom
/// error's message; [`decode_error`] takes them back out.
fn encode_error(code: ErrorCode, pointer: &str, text: &str) -> ValidationError<'static> {
    ValidationError::custom(format!("{}{SEPARATOR}{pointer}{SEPARATOR}{text}", code.number()))
}

/// The code, relative pointer and text of a rule's error, if `message` came from a rule.
pub fn decode_error(message: &str) -> Option<(ErrorCode, &str, &str)> {
    let mut parts = message.splitn(3, SEPARATOR);
    let code = ErrorCode::from_number(parts.next()?.parse().ok()?)?;
    Some((code, parts.next()?, parts.next()?))
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    DateOrder { start: String, end: String },
    NotAfter { date: String, reference: String },
    CfMatchesPerson { cf: String, birth_date: String, sex: String },
    WeeklyHours { hours: String, live_in: String },
    PermitRequired { citizenship: String, permit: String },
    Same { a: String, b: String },
}

fn parse_rules(value: &Value) -> Result<Vec<Rule>, String> {
    let items = value.as_array().ok_or(format!("{RULES_KEYWORD} must be an array"))?;
    items.iter().map(parse_rule).collect()
}

fn parse_rule(item: &Value) -> Result<Rule, String> {
    let field = |name: &str| -> Result<String, String> {
        let pointer =
            item.get(name).and_then(Value::as_str).ok_or(format!("rule {item} lacks the pointer {name:?}"))?;
        if !pointer.starts_with('/') {
            return Err(format!("rule {item}: {name:?} must be a JSON pointer starting with '/'"));
        }
        Ok(pointer.to_owned())
    };
    match item.get("rule").and_then(Value::as_str) {
        Some("date-order") => Ok(Rule::DateOrder { start: field("start")?, end: field("end")? }),
        Some("not-after") => Ok(Rule::NotAfter { date: field("date")?, reference: field("reference")? }),
        Some("cf-matches-person") => {
            Ok(Rule::CfMatchesPerson { cf: field("cf")?, birth_date: field("birthDate")?, sex: field("sex")? })
        }
        Some("weekly-hours") => Ok(Rule::WeeklyHours { hours: field("hours")?, live_in: field("liveIn")? }),
        Some("permit-required") => {
            Ok(Rule::PermitRequired { citizenship: field("citizenship")?, permit: field("permit")? })
        }
        Some("same") => Ok(Rule::Same { a: field("a")?, b: field("b")? }),
        _ => Err(format!("rule {item} has no known \"rule\" name")),
    }
}

struct Rules {
    rules: Vec<Rule>,
    tables: Arc<CodeTables>,
}

impl<'i> Keyword<'i> for Rules {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        match self.violations(instance).into_iter().next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        self.violations(instance).is_empty()
    }

    fn iter_errors(&self, instance: &'i Value) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
        Box::new(self.violations(instance).into_iter())
    }
}

impl Rules {
    /// Every violation of every rule. The vector allocates only when there is one.
    fn violations(&self, instance: &Value) -> Vec<ValidationError<'static>> {
        let mut errors = Vec::new();
        for rule in &self.rules {
            self.check(rule, instance, &mut errors);
        }
        errors
    }

    fn check(&self, rule: &Rule, instance: &Value, errors: &mut Vec<ValidationError<'static>>) {
        match rule {
            Rule::DateOrder { start, end } => {
                if let (Some(from), Some(to)) = (date_at(instance, start), date_at(instance, end)) {
                    if to < from {
                        errors.push(encode_error(
                            ErrorCode::DateOrder,
                            end,
                            &format!("is before {}", last_segment(start)),
                        ));
                    }
                }
            }
            Rule::NotAfter { date, reference } => {
                let Some(limit) = date_of_instant_at(instance, reference) else { return };
                for pointer in expand(instance, date) {
                    if date_at(instance, &pointer).is_some_and(|value| value > limit) {
                        errors.push(encode_error(ErrorCode::DateInFuture, &pointer, "is after the message's time"));
                    }
                }
            }
            Rule::Same { a, b } => {
                if let (Some(first), Some(second)) = (value_at(instance, a), value_at(instance, b)) {
                    if first != second {
                        errors.push(encode_error(
                            ErrorCode::ValuesDisagree,
                            b,
                            &format!("differs from {a}, which names the same thing"),
                        ));
                    }
                }
            }
            Rule::CfMatchesPerson { cf, birth_date, sex } => {
                let Some(encoded) = value_at(instance, cf)
                    .and_then(Value::as_str)
                    .and_then(|code| codice_fiscale::birth_data(code).ok())
                else {
                    return;
                };
                if let Some((year, month, day)) = date_at(instance, birth_date).and_then(split_date) {
                    if (year % 100) as u8 != encoded.year_of_century || month != encoded.month || day != encoded.day {
                        errors.push(encode_error(
                            ErrorCode::CfBirthDateMismatch,
                            cf,
                            &format!("does not encode the birth date in {}", last_segment(birth_date)),
                        ));
                    }
                }
                let declared = match value_at(instance, sex).and_then(Value::as_str) {
                    Some("M") => Some(Sex::Male),
                    Some("F") => Some(Sex::Female),
                    _ => None,
                };
                if declared.is_some_and(|declared| declared != encoded.sex) {
                    errors.push(encode_error(
                        ErrorCode::CfSexMismatch,
                        cf,
                        &format!("does not encode the sex in {}", last_segment(sex)),
                    ));
                }
            }
            Rule::WeeklyHours { hours, live_in } => {
                // Without the live-in flag (the CO does not carry it) the looser limit applies.
                let live_in_value = value_at(instance, live_in).and_then(Value::as_bool).unwrap_or(true);
                if let Some(hours_value) = value_at(instance, hours).and_then(Value::as_f64) {
                    let limit = if live_in_value { LIVE_IN_MAX_WEEKLY_HOURS } else { NOT_LIVE_IN_MAX_WEEKLY_HOURS };
                    if hours_value > limit {
                        let who = if live_in_value { "a live-in worker" } else { "a worker who does not live in" };
                        errors.push(encode_error(
                            ErrorCode::WeeklyHoursOverLimit,
                            hours,
                            &format!("exceeds the CCNL limit of {limit} hours a week for {who}"),
                        ));
                    }
                }
            }
            Rule::PermitRequired { citizenship, permit } => {
                let state =
                    value_at(instance, citizenship).and_then(Value::as_str).and_then(|code| self.tables.state(code));
                if state.is_some_and(|state| !state.free_movement) && value_at(instance, permit).is_none() {
                    errors.push(encode_error(
                        ErrorCode::PermitRequired,
                        permit,
                        "is required: the citizenship is outside the EU, EEA and Switzerland",
                    ));
                }
            }
        }
    }
}

/// The value at a JSON pointer. serde_json's `Value::pointer` unescapes every token into a
/// new string; the rules' pointers rarely hold an escape, so they are walked in place and
/// only an escaped one goes the long way.
fn value_at<'v>(instance: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.contains('~') {
        return instance.pointer(pointer);
    }
    if pointer.is_empty() {
        return Some(instance);
    }
    pointer.strip_prefix('/')?.split('/').try_fold(instance, |current, token| match current {
        Value::Object(map) => map.get(token),
        // As RFC 6901 (and serde_json) read an index: digits, no sign, no leading zero.
        Value::Array(items)
            if token.bytes().all(|b| b.is_ascii_digit()) && !(token.len() > 1 && token.starts_with('0')) =>
        {
            token.parse::<usize>().ok().and_then(|index| items.get(index))
        }
        _ => None,
    })
}

/// The concrete pointers a pointer with `*` segments stands for in `instance`: one per item
/// of each array crossed (none where an array is missing).
fn expand(instance: &Value, pointer: &str) -> Vec<String> {
    let Some((head, tail)) = pointer.split_once("/*") else { return vec![pointer.to_owned()] };
    let Some(Value::Array(items)) = value_at(instance, head) else { return Vec::new() };
    (0..items.len()).flat_map(|index| expand(instance, &format!("{head}/{index}{tail}"))).collect()
}

/// The date at `pointer`, if it is exactly a valid `YYYY-MM-DD`. Anything else is the
/// `date` format's to report, so the rule stays silent.
fn date_at<'v>(instance: &'v Value, pointer: &str) -> Option<&'v str> {
    let text = value_at(instance, pointer)?.as_str()?;
    split_date(text)?;
    Some(text)
}

/// The date part of the RFC 3339 instant at `pointer` (the envelope's `time`), in the
/// sender's own offset: a message sent at 00:30+01:00 is dated that day.
fn date_of_instant_at<'v>(instance: &'v Value, pointer: &str) -> Option<&'v str> {
    let text = value_at(instance, pointer)?.as_str()?;
    let date = text.get(..10)?;
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    split_date(date)?;
    Some(date)
}

fn split_date(date: &str) -> Option<(u16, u8, u8)> {
    let bytes = date.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: u16 = date.get(0..4)?.parse().ok()?;
    let month: u8 = date.get(5..7)?.parse().ok()?;
    let day: u8 = date.get(8..10)?.parse().ok()?;
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    ((1..=12).contains(&month) && day >= 1 && day <= codice_fiscale::days_in_month(leap, month))
        .then_some((year, month, day))
}

fn last_segment(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(rules: Value, instance: Value, expect: &[(ErrorCode, &str)]) {
        let tables = Arc::new(CodeTables::load(&crate::assets::Assets::Embedded).unwrap());
        let keyword = Rules { rules: parse_rules(&rules).unwrap(), tables };
        let found: Vec<(ErrorCode, String)> = keyword
            .iter_errors(&instance)
            .map(|error| match error.kind() {
                jsonschema::error::ValidationErrorKind::Custom { message, .. } => {
                    let (code, pointer, _) = decode_error(message).unwrap();
                    (code, pointer.to_owned())
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let expect: Vec<(ErrorCode, String)> = expect.iter().map(|(c, p)| (*c, p.to_string())).collect();
        assert_eq!(found, expect);
        assert_eq!(keyword.is_valid(&instance), expect.is_empty());
    }

    #[test]
    fn pointers_are_read_as_serde_json_reads_them() {
        let instance = json!({"a": {"b/c": 1, "m~n": 2, "list": [10, 20, {"x": 3}], "": 4}, "0": 5});
        for pointer in [
            "",
            "/a",
            "/a/list/0",
            "/a/list/2/x",
            "/a/list/01",
            "/a/list/+1",
            "/a/list/9",
            "/a/b~1c",
            "/a/m~0n",
            "/a/",
            "/0",
            "a",
            "/a/list/x",
        ] {
            assert_eq!(value_at(&instance, pointer), instance.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn date_order() {
        let rules = json!([{"rule": "date-order", "start": "/from", "end": "/to"}]);
        check(rules.clone(), json!({"from": "2024-01-01", "to": "2024-01-01"}), &[]);
        check(rules.clone(), json!({"from": "2024-01-02", "to": "2024-01-01"}), &[(ErrorCode::DateOrder, "/to")]);
        check(rules.clone(), json!({"from": "2024-01-02"}), &[]);
        check(rules.clone(), json!({"from": "2024-02-31", "to": "2024-01-01"}), &[]);
        // A date-time where a date belongs is the format's to report, not this rule's.
        check(rules, json!({"from": "2024-01-02", "to": "2024-01-01T10:00:00Z"}), &[]);
    }

    #[test]
    fn not_after_compares_with_a_date_time() {
        let rules = json!([{"rule": "not-after", "date": "/d", "reference": "/t"}]);
        check(rules.clone(), json!({"d": "2024-05-01", "t": "2024-05-01T10:00:00Z"}), &[]);
        check(rules, json!({"d": "2024-05-02", "t": "2024-05-01T10:00:00Z"}), &[(ErrorCode::DateInFuture, "/d")]);
    }

    #[test]
    fn codice_fiscale_must_match_birth_date_and_sex() {
        let rules = json!([{"rule": "cf-matches-person", "cf": "/cf", "birthDate": "/b", "sex": "/s"}]);
        check(rules.clone(), json!({"cf": "BNCLRA85T55F205M", "b": "1985-12-15", "s": "F"}), &[]);
        check(
            rules.clone(),
            json!({"cf": "BNCLRA85T55F205M", "b": "1985-12-16", "s": "F"}),
            &[(ErrorCode::CfBirthDateMismatch, "/cf")],
        );
        check(
            rules.clone(),
            json!({"cf": "BNCLRA85T55F205M", "b": "1985-12-15", "s": "M"}),
            &[(ErrorCode::CfSexMismatch, "/cf")],
        );
        check(
            rules.clone(),
            json!({"cf": "BNCLRA85T55F205M", "b": "1985-12-16", "s": "M"}),
            &[(ErrorCode::CfBirthDateMismatch, "/cf"), (ErrorCode::CfSexMismatch, "/cf")],
        );
        // The sex is checked even without a birth date.
        check(rules.clone(), json!({"cf": "BNCLRA85T55F205M", "s": "M"}), &[(ErrorCode::CfSexMismatch, "/cf")]);
        // A numeric code encodes nothing to compare.
        check(rules, json!({"cf": "00743110157", "b": "1985-12-15", "s": "M"}), &[]);
    }

    #[test]
    fn weekly_hours_limits_depend_on_live_in() {
        let rules = json!([{"rule": "weekly-hours", "hours": "/h", "liveIn": "/l"}]);
        check(rules.clone(), json!({"h": 54, "l": true}), &[]);
        check(rules.clone(), json!({"h": 54.5, "l": true}), &[(ErrorCode::WeeklyHoursOverLimit, "/h")]);
        check(rules.clone(), json!({"h": 40, "l": false}), &[]);
        check(rules.clone(), json!({"h": 41, "l": false}), &[(ErrorCode::WeeklyHoursOverLimit, "/h")]);
        check(rules.clone(), json!({"h": 54}), &[]);
        check(rules, json!({"h": 55}), &[(ErrorCode::WeeklyHoursOverLimit, "/h")]);
    }

    #[test]
    fn permit_required_outside_free_movement() {
        let rules = json!([{"rule": "permit-required", "citizenship": "/c", "permit": "/p"}]);
        check(rules.clone(), json!({"c": "330"}), &[(ErrorCode::PermitRequired, "/p")]);
        check(rules.clone(), json!({"c": "330", "p": {}}), &[]);
        check(rules.clone(), json!({"c": "100"}), &[]);
        check(rules, json!({"c": "215"}), &[]);
    }

    #[test]
    fn malformed_rules_are_refused_at_compile_time() {
        assert!(parse_rules(&json!({})).is_err());
        assert!(parse_rules(&json!([{"rule": "nope"}])).is_err());
        assert!(parse_rules(&json!([{"rule": "date-order", "start": "x", "end": "/y"}])).is_err());
    }
}
