//! Message payloads encrypted at rest: AES-256-GCM through openssl, with a data key from a
//! key file or an environment variable the configuration names. Each sealed value carries
//! the id of the key that sealed it, so after a rotation (a new key first in the list, the
//! old ones after it) old messages stay readable while new ones use the new key.
//!
//! A sealed value is `RACENC1:<key id>:` followed by the 12-byte nonce, the 16-byte tag and
//! the ciphertext (base64 in text columns); the key id is authenticated too. A value
//! without the prefix was stored before encryption was turned on and is read as it is.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use crate::error::Error;

const PREFIX: &str = "RACENC1:";
const NONCE: usize = 12;
const TAG: usize = 16;

/// The data keys: the first seals, all open.
pub struct Sealer {
    current: String,
    keys: HashMap<String, [u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    // Key ids only: the keys stay out of every debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("current", &self.current).finish_non_exhaustive()
    }
}

/// Reads a 32-byte key written as 64 hex digits or as base64.
pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()).collect::<Option<Vec<u8>>>()?
    } else {
        STANDARD.decode(text).ok()?
    };
    bytes.try_into().ok()
}

impl Sealer {
    /// `keys` in order: the first is the current one.
    pub fn new(keys: Vec<(String, [u8; 32])>) -> Result<Sealer, Error> {
        let current = keys.first().map(|(id, _)| id.clone()).ok_or_else(|| Error::Config {
            file: "config".into(),
            key: "storage.encryption.keys".into(),
            reason: "at least one key".into(),
        })?;
        Ok(Sealer { current, keys: keys.into_iter().collect() })
    }

    fn seal_raw(&self, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let key = self.keys.get(&self.current).ok_or_else(|| Error::Internal("the current key vanished".into()))?;
        let mut nonce = [0u8; NONCE];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| Error::Internal(format!("random: {e}")))?;
        let mut tag = [0u8; TAG];
        let ciphertext =
            encrypt_aead(Cipher::aes_256_gcm(), key, Some(&nonce), self.current.as_bytes(), plain, &mut tag)
                .map_err(|e| Error::Internal(format!("encrypting: {e}")))?;
        let mut out = Vec::with_capacity(NONCE + TAG + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn open_raw(&self, id: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let key = self.keys.get(id).ok_or_else(|| {
            Error::Storage(format!("a payload sealed with key {id:?}, which the configuration lacks"))
        })?;
        if sealed.len() < NONCE + TAG {
            return Err(Error::Storage("a sealed payload is truncated".into()));
        }
        let (nonce, rest) = sealed.split_at(NONCE);
        let (tag, ciphertext) = rest.split_at(TAG);
        decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), id.as_bytes(), ciphertext, tag)
            .map_err(|_| Error::Storage(format!("a payload does not open with key {id:?}: altered, or another key")))
    }

    /// Seals bytes (a BLOB/BYTEA column).
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = format!("{PREFIX}{}:", self.current).into_bytes();
        out.extend(self.seal_raw(plain)?);
        Ok(out)
    }

    /// Seals text (a TEXT column), as base64.
    pub fn seal_text(&self, plain: &str) -> Result<String, Error> {
        Ok(format!("{PREFIX}{}:{}", self.current, STANDARD.encode(self.seal_raw(plain.as_bytes())?)))
    }
}

/// Opens a stored value: sealed ones with their key, others (stored before encryption)
/// as they are. Without a sealer, a sealed value is an error: the key is missing.
pub fn open(sealer: Option<&Sealer>, stored: Vec<u8>) -> Result<Vec<u8>, Error> {
    let Some(rest) = stored.strip_prefix(PREFIX.as_bytes()) else { return Ok(stored) };
    let colon = rest
        .iter()
        .position(|b| *b == b':')
        .ok_or_else(|| Error::Storage("a sealed payload without its key id".into()))?;
    let id = String::from_utf8_lossy(&rest[..colon]).into_owned();
    let sealer = sealer.ok_or_else(|| Error::Storage("payloads are encrypted and no key is configured".into()))?;
    sealer.open_raw(&id, &rest[colon + 1..])
}

/// `open` for text columns.
pub fn open_text(sealer: Option<&Sealer>, stored: String) -> Result<String, Error> {
    let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored) };
    let (id, encoded) =
        rest.split_once(':').ok_or_else(|| Error::Storage("a sealed payload without its key id".into()))?;
    let sealer = sealer.ok_or_else(|| Error::Storage("payloads are encrypted and no key is configured".into()))?;
    let sealed = STANDARD.decode(encoded).map_err(|_| Error::Storage("a sealed payload is not base64".into()))?;
    String::from_utf8(sealer.open_raw(id, &sealed)?).map_err(|_| Error::Storage("a sealed text is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(byte: u8) -> [u8; 32] {
        [byte; 32]
    }

    #[test]
    fn sealed_values_open_after_a_rotation_and_not_without_their_key() {
        let old = Sealer::new(vec![("k1".into(), key(1))]).unwrap();
        let sealed = old.seal(b"RSSMRA80A41H501Y").unwrap();
        let text = old.seal_text("{\"codiceFiscale\":\"RSSMRA80A41H501Y\"}").unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("RSSMRA"));
        let rotated = Sealer::new(vec![("k2".into(), key(2)), ("k1".into(), key(1))]).unwrap();
        assert_eq!(open(Some(&rotated), sealed.clone()).unwrap(), b"RSSMRA80A41H501Y");
        assert!(open_text(Some(&rotated), text.clone()).unwrap().contains("RSSMRA"));
        assert!(rotated.seal(b"x").unwrap().starts_with(b"RACENC1:k2:"));
        let forgotten = Sealer::new(vec![("k2".into(), key(2))]).unwrap();
        assert!(open(Some(&forgotten), sealed.clone()).is_err());
        assert!(open(None, sealed.clone()).is_err());
        // Not sealed: read as stored.
        assert_eq!(open(None, b"plain".to_vec()).unwrap(), b"plain");
        // A flipped bit fails authentication.
        let mut altered = sealed;
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(open(Some(&rotated), altered).is_err());
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_of_32_bytes() {
        assert_eq!(parse_key(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_key(&STANDARD.encode([7u8; 32])), Some([7; 32]));
        assert_eq!(parse_key("short"), None);
        assert_eq!(parse_key(&"ab".repeat(31)), None);
    }
}
