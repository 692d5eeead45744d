//! Which parties receive a message: the configured routes, their content conditions, the
//! ordering key of routes that keep order, and the fields each recipient may receive
//! (projections). Pure: a message and the configuration in, recipients and fields out.

use serde_json::Value;

use crate::config::{ConditionConfig, Config, PartyConfig};
use crate::mapping::apply::{Parties, PartyCodes};
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

/// The recipients of `message` (of short type `message_type`) sent by `sender`: every party
/// a route names for the type whose conditions hold, never the sender itself, each once.
pub fn recipients(
    config: &Config,
    tables: &CodeTables,
    sender: &str,
    message_type: &str,
    message: &Value,
) -> Vec<Recipient> {
    let mut recipients: Vec<Recipient> = Vec::new();
    for route in config.routes.iter().filter(|route| route.types.iter().any(|t| t == message_type)) {
        for party_id in &route.to {
            if party_id == sender {
                continue;
            }
            if let Some(known) = recipients.iter_mut().find(|r| &r.party == party_id) {
                // A party named by a mandatory route too is mandatory.
                if route.when.iter().all(|condition| {
                    config
                        .parties
                        .iter()
                        .find(|p| &p.id == party_id)
                        .is_some_and(|p| holds(condition, message, p, tables))
                }) {
                    known.optional &= route.optional;
                }
                continue;
            }
            let Some(party) = config.parties.iter().find(|p| &p.id == party_id) else { continue };
            let Some(receives) = &party.receives else { continue };
            if !route.when.iter().all(|condition| holds(condition, message, party, tables)) {
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

/// What mappings may take from the configuration when `message` is written for
/// `recipient`: the sending party (the one whose URN is the message's `source`) and the
/// recipient, with their entity codes.
pub fn parties<'c>(config: &'c Config, message: &Value, recipient: Option<&str>) -> Parties<'c> {
    let codes = |party: &'c PartyConfig| PartyCodes { id: &party.id, entity_code: party.entity_code.as_deref() };
    let source = message["source"].as_str().unwrap_or_default();
    Parties {
        sender: config.parties.iter().find(|party| party.urn() == source).map(codes),
        recipient: recipient.and_then(|id| config.parties.iter().find(|party| party.id == id)).map(codes),
    }
}

/// The fields of a message of `message_type` that `party` may receive: the union of the
/// `fields` of the routes that carry the type to it, or `None` (everything) when one of
/// them does not restrict.
pub fn projection<'a>(config: &'a Config, party: &str, message_type: &str) -> Option<Vec<&'a str>> {
    let mut fields = Vec::new();
    for route in
        config.routes.iter().filter(|r| r.types.iter().any(|t| t == message_type) && r.to.iter().any(|p| p == party))
    {
        if route.fields.is_empty() {
            return None;
        }
        fields.extend(route.fields.iter().map(String::as_str));
    }
    (!fields.is_empty()).then_some(fields)
}

/// The message with only the envelope and the `data` fields at `fields` (JSON pointers
/// under `/data`; a pointer to an object keeps all of it). Everything else is removed
/// before the message is written in the recipient's profile.
pub fn project(message: &Value, fields: &[&str]) -> Value {
    let mut out = message.clone();
    let mut data = Value::Object(serde_json::Map::new());
    for field in fields {
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

fn holds(condition: &ConditionConfig, message: &Value, recipient: &PartyConfig, tables: &CodeTables) -> bool {
    let Some(value) = message.pointer(&condition.pointer).and_then(Value::as_str) else { return false };
    if condition.non_eu {
        return tables.state(value).is_some_and(|state| !state.free_movement);
    }
    if condition.in_recipient_comuni {
        return recipient.comuni.iter().any(|comune| comune == value);
    }
    condition.equals.as_deref() == Some(value)
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
        let found: Vec<String> = recipients(&config, catalog.standard.tables(), sender, &message_type, &message)
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
        let found =
            recipients(&config, catalog.standard.tables(), "inps", "employment.started", &employment("100", "F205"));
        let key = found[0].ordering_key.clone().unwrap();
        assert_eq!(key.len(), 32);
        assert!(!key.contains("12345678901"));
    }
}
