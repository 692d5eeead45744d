//! The path of one message through raccordo: decode, validate (and, as the gateway grows,
//! map and store). Every entry point (CLI, API, conformance runner) goes through here, so
//! they agree on every verdict.

use crate::formats;
use crate::standard::{Standard, Validation};

/// Decodes canonical JSON bytes and validates the message against the standard. A decode
/// problem is reported like any other diagnostic, with no type.
pub fn validate_canonical(standard: &Standard, bytes: &[u8], max_bytes: u64) -> Validation {
    match formats::json::decode(bytes, max_bytes) {
        Ok(message) => standard.validate(&message),
        Err(diagnostic) => Validation { message_type: None, diagnostics: vec![diagnostic] },
    }
}
