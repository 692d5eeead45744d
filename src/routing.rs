//! Which parties receive a message: the configured routes compiled once (per message
//! type, their content conditions, the ordering key of routes that keep order), and the
//! fields each recipient may receive (projections). Pure: a message in, recipients and
//! fields out.

use std::collections::HashMap;

use serde_json::Value;

use crate::config::{ConditionConfig, Config};
use crate::parties::{Directory, Party};
use crate::standard::codes::CodeTables;

/// One party a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub party: String,
    pub profile: String,
    /// Messages with the same key go to this party one at a time, in order.
    pub ordering_key: Option<String>,
    /// Every route that names this party for the message is `optional`: a message its
    /// profile can't write skips it instead of being refused.
    pub optional: bool,
}

/// A test on a message's content, for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    /// The value at the pointer is a citizenship outside the EU, EEA and Switzerland.
    NonEu(String),
    /// The value at the pointer is a comune the recipient serves.
    InRecipientComuni(String),
    /// The value at the pointer equals the text.
    Equals(String, String),
}

impl Condition {
    fn compile(condition: &ConditionConfig) -> Condition {
        let pointer = condition.pointer.clone();
        match &condition.equals {
            _ if condition.non_eu => Condition::NonEu(pointer),
            _ if condition.in_recipient_comuni => Condition::InRecipientComuni(pointer),
            Some(value) => Condition::Equals(pointer, value.clone()),
            // A checked configuration has exactly one test per condition.
            None => Condition::Equals(pointer, String::new()),
        }
    }

    fn holds(&self, message: &Value, recipient: &Party, tables: &CodeTables) -> bool {
        let text = |pointer: &str| message.pointer(pointer).and_then(Value::as_str);
        match self {
            Condition::NonEu(pointer) => {
                text(pointer).and_then(|value| tables.state(value)).is_some_and(|state| !state.free_movement)
            }
            Condition::InRecipientComuni(pointer) => {
                text(pointer).is_some_and(|value| recipient.comuni.iter().any(|comune| comune == value))
            }
            Condition::Equals(pointer, expected) => text(pointer) == Some(expected.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
struct Route {
    to: Vec<String>,
    when: Vec<Condition>,
    order_by: Option<String>,
    optional: bool,
}

/// The routes of a checked configuration, by message type (short name), and the fields
/// each (party, type) may receive.
#[derive(Debug, Default)]
pub struct Routes {
    by_type: HashMap<String, Vec<Route>>,
    /// `None`: every field; absent: the party gets no message of the type.
    projections: HashMap<(String, String), Option<Vec<String>>>,
}

impl Routes {
    pub fn compile(config: &Config) -> Routes {
        let mut routes = Routes::default();
        for route in &config.routes {
            let compiled = Route {
                to: route.to.clone(),
                when: route.when.iter().map(Condition::compile).collect(),
                order_by: route.order_by.clone(),
                optional: route.optional,
            };
            for message_type in &route.types {
                routes.by_type.entry(message_type.clone()).or_default().push(compiled.clone());
                for party in &route.to {
                    let fields = routes
                        .projections
                        .entry((party.clone(), message_type.clone()))
                        .or_insert_with(|| Some(Vec::new()));
                    // A route that does not restrict lets every field through.
                    match fields {
                        Some(fields) if !route.fields.is_empty() => fields.extend(route.fields.iter().cloned()),
                        _ => *fields = None,
                    }
                }
            }
        }
        routes
    }

    /// The recipients of `message` (of short type `message_type`) sent by `sender`: every
    /// party a route names for the type whose conditions hold, never the sender itself,
    /// each once.
    pub fn recipients(
        &self,
        parties: &Directory,
        tables: &CodeTables,
        sender: &str,
        message_type: &str,
        message: &Value,
    ) -> Vec<Recipient> {
        let mut recipients: Vec<Recipient> = Vec::new();
        for route in self.by_type.get(message_type).into_iter().flatten() {
            for party_id in &route.to {
                if party_id == sender {
                    continue;
                }
                let Some(party) = parties.get(party_id) else { continue };
                let Some(receives) = &party.receives else { continue };
                if !route.when.iter().all(|condition| condition.holds(message, party, tables)) {
                    continue;
                }
                if let Some(known) = recipients.iter_mut().find(|r| &r.party == party_id) {
                    // A party named by a mandatory route too is mandatory.
                    known.optional &= route.optional;
                    continue;
                }
                let ordering_key = route
                    .order_by
                    .as_deref()
                    .and_then(|pointer| message.pointer(pointer))
                    .map(|value| subject_key(party_id, value));
                recipients.push(Recipient {
                    party: party_id.clone(),
                    profile: receives.profile.clone(),
                    ordering_key,
                    optional: route.optional,
                });
            }
        }
        recipients
    }

    /// The fields of a message of `message_type` that `party` may receive: the union of
    /// the `fields` of the routes that carry the type to it, or `None` (everything) when
    /// one of them does not restrict.
    pub fn projection(&self, party: &str, message_type: &str) -> Option<&[String]> {
        self.projections.get(&(party.to_owned(), message_type.to_owned()))?.as_deref()
    }
}

/// The message with only the envelope and the `data` fields at `fields` (JSON pointers
/// under `/data`; a pointer to an object keeps all of it). Everything else is removed
/// before the message is written in the recipient's profile.
pub fn project<S: AsRef<str>>(message: &Value, fields: &[S]) -> Value {
    // The envelope is copied without its `data`, which is rebuilt from the fields kept:
    // copying the whole message only to replace its largest member was most of the cost.
    let mut out = match message {
        Value::Object(members) => Value::Object(
            members.iter().filter(|(name, _)| name.as_str() != "data").map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    };
    let mut data = Value::Object(serde_json::Map::new());
    for field in fields.iter().map(AsRef::as_ref) {
        if let Some(value) = message.pointer(field) {
            let Some(inner) = field.strip_prefix("/data") else { continue };
            set(&mut data, inner, value.clone());
        }
    }
    out["data"] = data;
    out
}

/// Sets the value at a JSON pointer, making the objects on the way.
fn set(target: &mut Value, pointer: &str, value: Value) {
    let mut current = target;
    let tokens: Vec<String> = pointer.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
    let Some((last, path)) = tokens.split_last() else {
        *current = value;
        return;
    };
    for token in path {
        if !current.get(token.as_str()).is_some_and(Value::is_object) {
            current[token.as_str()] = Value::Object(serde_json::Map::new());
        }
        current = &mut current[token.as_str()];
    }
    current[last.as_str()] = value;
}

/// The ordering key stored for a subject. It may be a codice fiscale: the database keeps a
/// hash of it, never the value.
fn subject_key(party: &str, value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let digest = openssl::sha::sha256(format!("{party}\u{1f}{text}").as_bytes());
    digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::Assets;
    use crate::ingest::Catalog;
    use serde_json::json;

    fn check(message: Value, sender: &str, expect: &[&str]) {
        let catalog = Catalog::load(&Assets::Embedded).unwrap();
        let config = Config::parse(crate::config::EXAMPLE, "example.toml", &catalog).unwrap();
        let message_type = message["type"].as_str().and_then(crate::standard::short_name).unwrap().to_owned();
        let (parties, routes) = (Directory::compile(&config), Routes::compile(&config));
        let found: Vec<String> = routes
            .recipients(&parties, catalog.standard.tables(), sender, &message_type, &message)
            .into_iter()
            .map(|r| r.party)
            .collect();
        assert_eq!(found, expect);
    }

    fn employment(citizenship: &str, comune: &str) -> Value {
        json!({
            "type": "it.raccordo.employment.started.v1",
            "data": {
                "inpsRelationshipCode": "12345678901",
                "worker": { "citizenship": citizenship },
                "contract": { "workplace": { "comune": comune } }
            }
        })
    }

    #[test]
    fn employments_reach_the_sui_for_non_eu_workers_only() {
        check(employment("243", "D150"), "inps", &["cpi-cremona", "social-cremona", "sui-cremona"]);
        check(employment("235", "D150"), "inps", &["cpi-cremona", "social-cremona"]);
        check(employment("100", "F205"), "inps", &["cpi-cremona"]);
    }

    #[test]
    fn the_sender_never_receives_its_own_message() {
        check(employment("243", "D150"), "cpi-cremona", &["social-cremona", "sui-cremona"]);
    }

    #[test]
    fn ordering_keys_are_hashes_per_party() {
        let catalog = Catalog::load(&Assets::Embedded).unwrap();
        let config = Config::parse(crate::config::EXAMPLE, "example.toml", &catalog).unwrap();
        let (parties, routes) = (Directory::compile(&config), Routes::compile(&config));
        let found = routes.recipients(
            &parties,
            catalog.standard.tables(),
            "inps",
            "employment.started",
            &employment("100", "F205"),
        );
        let key = found[0].ordering_key.clone().unwrap();
        assert_eq!(key.len(), 32);
        assert!(!key.contains("12345678901"));
    }
}
