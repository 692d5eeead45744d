//! The configured parties compiled once for the lookups every request makes: by id, by URN
//! (a message's `source`), by bearer token and by client-certificate fingerprint, and the
//! operators by token. Built from a checked [`Config`]; the API asks it who is calling,
//! routing and delivery ask it about recipients.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{Config, OperatorConfig, PartyConfig};
use crate::mapping::apply::{Parties, PartyCodes};
use crate::store::Scope;

/// A configured party, with what is derived from its configuration once.
#[derive(Debug)]
pub struct Party {
    pub config: PartyConfig,
    /// `urn:raccordo:<kind>:<code>`, the `source` of what it sends.
    pub urn: String,
    /// Its client certificates' SHA-256 fingerprints, normalised.
    pub fingerprints: Vec<String>,
}

impl std::ops::Deref for Party {
    type Target = PartyConfig;

    fn deref(&self) -> &PartyConfig {
        &self.config
    }
}

/// An operator, with what the configuration lets it see.
#[derive(Debug)]
pub struct Operator {
    pub config: OperatorConfig,
    /// Its parties and types, as the store filters by them.
    pub scope: Scope,
}

impl std::ops::Deref for Operator {
    type Target = OperatorConfig;

    fn deref(&self) -> &OperatorConfig {
        &self.config
    }
}

/// Who a bearer token belongs to.
#[derive(Debug, Clone)]
pub enum Holder {
    Party(Arc<Party>),
    Operator(Arc<Operator>),
}

/// Every party and operator, indexed.
#[derive(Debug, Default)]
pub struct Directory {
    parties: Vec<Arc<Party>>,
    by_id: HashMap<String, Arc<Party>>,
    by_urn: HashMap<String, Arc<Party>>,
    by_fingerprint: HashMap<String, Arc<Party>>,
    /// Tokens by their SHA-256: a lookup's timing depends on the digest, which tells an
    /// attacker nothing about a token's prefix.
    by_token: HashMap<[u8; 32], Holder>,
}

impl Directory {
    /// Indexes a checked configuration's parties and operators.
    pub fn compile(config: &Config) -> Directory {
        let mut directory = Directory::default();
        for config in &config.parties {
            let party = Arc::new(Party {
                urn: config.urn(),
                fingerprints: config.auth.certificate_sha256.iter().map(|f| normalise_fingerprint(f)).collect(),
                config: config.clone(),
            });
            directory.by_id.insert(party.id.clone(), Arc::clone(&party));
            directory.by_urn.insert(party.urn.clone(), Arc::clone(&party));
            for fingerprint in &party.fingerprints {
                directory.by_fingerprint.insert(fingerprint.clone(), Arc::clone(&party));
            }
            for token in &party.auth.tokens {
                directory.by_token.insert(openssl::sha::sha256(token.as_bytes()), Holder::Party(Arc::clone(&party)));
            }
            directory.parties.push(party);
        }
        for config in &config.operators {
            // An empty list restricts nothing.
            let listed = |items: &[String]| (!items.is_empty()).then(|| items.to_vec());
            let scope = Scope { types: listed(&config.types), parties: listed(&config.parties) };
            let operator = Arc::new(Operator { config: config.clone(), scope });
            for token in &operator.tokens {
                directory
                    .by_token
                    .insert(openssl::sha::sha256(token.as_bytes()), Holder::Operator(Arc::clone(&operator)));
            }
        }
        directory
    }

    /// Who holds the token whose SHA-256 is `digest` (a console session remembers the
    /// digest of the token it was opened with, never the token).
    pub fn by_token_digest(&self, digest: &[u8; 32]) -> Option<&Holder> {
        self.by_token.get(digest)
    }

    /// Every party, in the configuration's order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Party>> {
        self.parties.iter()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Party>> {
        self.by_id.get(id)
    }

    /// The party whose URN is `urn`.
    pub fn by_urn(&self, urn: &str) -> Option<&Arc<Party>> {
        self.by_urn.get(urn)
    }

    /// Who holds `token`.
    pub fn by_token(&self, token: &str) -> Option<&Holder> {
        self.by_token.get(&openssl::sha::sha256(token.as_bytes()))
    }

    /// The party a client certificate (its normalised fingerprint) identifies.
    pub fn by_fingerprint(&self, fingerprint: &str) -> Option<&Arc<Party>> {
        self.by_fingerprint.get(fingerprint)
    }

    /// What mappings may take from the configuration when `message` is written for
    /// `recipient`: the sending party (the one whose URN is the message's `source`) and the
    /// recipient, with their entity codes.
    pub fn parties_of(&self, message: &Value, recipient: Option<&str>) -> Parties<'_> {
        fn codes(party: &Arc<Party>) -> PartyCodes<'_> {
            PartyCodes { id: party.id.as_str(), entity_code: party.entity_code.as_deref() }
        }
        let source = message["source"].as_str().unwrap_or_default();
        Parties { sender: self.by_urn(source).map(codes), recipient: recipient.and_then(|id| self.get(id)).map(codes) }
    }
}

/// Normalises a certificate fingerprint: hex digits, upper case, no separators.
pub fn normalise_fingerprint(text: &str) -> String {
    text.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_uppercase()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::assets::Assets;
    use crate::ingest::Catalog;

    #[test]
    fn parties_are_found_by_token_fingerprint_and_urn() {
        let catalog = Catalog::load(&Assets::Embedded).unwrap();
        let text = "[[parties]]\nid = \"a\"\nkind = \"cpi\"\ncode = \"A\"\nname = \"A\"\n\
            auth = { tokens = [\"token-of-a-0123456789\"], certificate_sha256 = [\"ab:cd:ef\"] }\n\
            [[operators]]\nname = \"ops\"\ntokens = [\"token-of-ops-0123456789\"]\n";
        let directory = Directory::compile(&Config::parse(text, "t.toml", &catalog).unwrap());
        assert!(matches!(directory.by_token("token-of-a-0123456789"), Some(Holder::Party(p)) if p.id == "a"));
        assert!(matches!(directory.by_token("token-of-ops-0123456789"), Some(Holder::Operator(o)) if o.name == "ops"));
        assert!(directory.by_token("token-of-a-012345678").is_none(), "a prefix is no token");
        assert_eq!(directory.by_fingerprint("ABCDEF").map(|p| p.id.as_str()), Some("a"));
        assert_eq!(directory.by_urn("urn:raccordo:cpi:A").map(|p| p.id.as_str()), Some("a"));
        assert_eq!(normalise_fingerprint("ab:CD:0f"), "ABCD0F");
    }
}
