//! Message payloads encrypted at rest: AES-256-GCM through openssl, with data keys from key
//! files or environment variables the configuration names, and a keyed blind index of the
//! codici fiscali each row is about.
//!
//! A sealed value is `RACENC2:<key id>:` followed by the 12-byte nonce, the 16-byte tag and
//! the ciphertext (base64 in text columns). The authenticated data is the key id and the
//! row the value belongs to (a message's id, a quarantined record's id), so a value copied
//! onto another row does not open: swapping two payloads in the database is detected, not
//! read as the other person's data. Values of the first format, `RACENC1:` (key id only,
//! sealed before values were bound to their rows), still open; `raccordo storage upgrade`
//! seals them again, bound. A value with neither prefix was stored before encryption was
//! turned on and is read as it is. Each value carries the id of the key that sealed it, so
//! after a rotation (a new key first, the old ones after it) old rows stay readable.
//!
//! The blind index is HMAC-SHA-256 of a codice fiscale under a key of its own: a subject's
//! request finds its rows by the digest, without opening every payload, and the digest says
//! nothing of the code to whoever reads the database without the key.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, ErrorCode};

const PREFIX: &str = "RACENC2:";
/// Sealed before values were bound to their rows: the key id alone is authenticated.
const UNBOUND: &str = "RACENC1:";
const NONCE: usize = 12;
const TAG: usize = 16;

/// The data keys (the first seals, all open) and the blind-index key.
pub struct Sealer {
    current: String,
    keys: HashMap<String, [u8; 32]>,
    /// The blind-index key, its HMAC key schedule made once: setting one up per digest was
    /// a twentieth of an INPS pull's CPU.
    index: Option<HmacSha256>,
    /// AES-256-GCM, fetched from OpenSSL's providers once: the legacy `EVP_aes_256_gcm`
    /// is fetched again at every use, a sixth of what sealing a payload cost.
    cipher: Cipher,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

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

/// Where a sealed value lives, for the authenticated data and for messages: `message
/// 01a2…`, `quarantined record 01a3…`.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub table: &'a str,
    pub id: &'a str,
}

impl Row<'_> {
    pub fn message(id: &str) -> Row<'_> {
        Row { table: "message", id }
    }

    pub fn quarantined(id: &str) -> Row<'_> {
        Row { table: "quarantined record", id }
    }

    fn aad(&self, key: &str) -> Vec<u8> {
        format!("{key}\u{1f}{}\u{1f}{}", self.table, self.id).into_bytes()
    }
}

impl std::fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.table, self.id)
    }
}

impl Sealer {
    /// `keys` in order: the first is the current one. `index` keys the blind index.
    pub fn new(keys: Vec<(String, [u8; 32])>, index: Option<[u8; 32]>) -> Result<Sealer, Error> {
        let current = keys.first().map(|(id, _)| id.clone()).ok_or_else(|| Error::Config {
            file: "config".into(),
            key: "storage.encryption.keys".into(),
            reason: "at least one key".into(),
        })?;
        let index = index.map(|key| {
            <HmacSha256 as hmac::Mac>::new_from_slice(&key)
                .map_err(|e| Error::Internal(format!("the blind-index key: {e}")))
        });
        let cipher = Cipher::fetch(None, "AES-256-GCM", None)
            .map_err(|e| Error::Internal(format!("OpenSSL has no AES-256-GCM: {e}")))?;
        Ok(Sealer { current, keys: keys.into_iter().collect(), index: index.transpose()?, cipher })
    }

    fn seal_raw(&self, plain: &[u8], row: Row<'_>) -> Result<Vec<u8>, Error> {
        let key = self.keys.get(&self.current).ok_or_else(|| Error::Internal("the current key vanished".into()))?;
        let mut nonce = [0u8; NONCE];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| Error::Internal(format!("random: {e}")))?;
        let mut out = Vec::with_capacity(NONCE + TAG + plain.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&[0; TAG]);
        self.encrypt(key, &nonce, &row.aad(&self.current), plain, &mut out)
            .map_err(|e| Error::Internal(format!("encrypting: {e}")))?;
        Ok(out)
    }

    /// Appends `plain` encrypted to `out`, whose bytes `NONCE..NONCE + TAG` receive the tag.
    fn encrypt(
        &self,
        key: &[u8; 32],
        nonce: &[u8; NONCE],
        aad: &[u8],
        plain: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), openssl::error::ErrorStack> {
        let mut context = CipherCtx::new()?;
        context.encrypt_init(Some(&self.cipher), Some(key), Some(nonce))?;
        context.cipher_update(aad, None)?;
        context.cipher_update_vec(plain, out)?;
        context.cipher_final_vec(out)?;
        context.tag(&mut out[NONCE..NONCE + TAG])
    }

    /// `ciphertext` decrypted, if `tag` authenticates it with `aad`.
    fn decrypt(
        &self,
        key: &[u8; 32],
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut context = CipherCtx::new()?;
        context.decrypt_init(Some(&self.cipher), Some(key), Some(nonce))?;
        context.cipher_update(aad, None)?;
        let mut plain = Vec::with_capacity(ciphertext.len());
        context.cipher_update_vec(ciphertext, &mut plain)?;
        context.set_tag(tag)?;
        context.cipher_final_vec(&mut plain)?;
        Ok(plain)
    }

    /// Opens a value sealed with key `id` for `row`; `bound` is false for values of the
    /// unbound format, whose authenticated data is the key id alone.
    fn open_raw(&self, id: &str, sealed: &[u8], row: Row<'_>, bound: bool) -> Result<Vec<u8>, Error> {
        let key = self.keys.get(id).ok_or_else(|| {
            Error::coded(
                ErrorCode::KeyUnknown,
                format!("{row}: its payload is sealed with key {id:?}, which storage.encryption.keys lacks"),
            )
        })?;
        let invalid = || {
            Error::coded(
                ErrorCode::SealedValueInvalid,
                format!("{row}: its sealed payload does not open: altered, truncated or moved from another row"),
            )
        };
        if sealed.len() < NONCE + TAG {
            return Err(invalid());
        }
        let (nonce, rest) = sealed.split_at(NONCE);
        let (tag, ciphertext) = rest.split_at(TAG);
        let aad = if bound { row.aad(id) } else { id.as_bytes().to_vec() };
        self.decrypt(key, nonce, &aad, ciphertext, tag).map_err(|_| invalid())
    }

    /// Seals bytes (a BLOB/BYTEA column) for `row`.
    pub fn seal(&self, plain: &[u8], row: Row<'_>) -> Result<Vec<u8>, Error> {
        let mut out = format!("{PREFIX}{}:", self.current).into_bytes();
        out.extend(self.seal_raw(plain, row)?);
        Ok(out)
    }

    /// Seals text (a TEXT column) for `row`, as base64.
    pub fn seal_text(&self, plain: &str, row: Row<'_>) -> Result<String, Error> {
        Ok(format!("{PREFIX}{}:{}", self.current, STANDARD.encode(self.seal_raw(plain.as_bytes(), row)?)))
    }

    /// The blind-index digest of a codice fiscale, when an index key is configured.
    pub fn blind(&self, codice_fiscale: &str) -> Option<String> {
        let keyed = self.index.as_ref()?;
        Some(blind_with(keyed, codice_fiscale))
    }

    /// Whether a blind index is kept.
    pub fn indexes(&self) -> bool {
        self.index.is_some()
    }
}

/// HMAC-SHA-256 of a normalised codice fiscale, hex (the first 16 bytes).
fn blind_with(keyed: &HmacSha256, codice_fiscale: &str) -> String {
    use hmac::Mac;
    let normalised = codice_fiscale.trim().to_ascii_uppercase();
    let mut mac = keyed.clone();
    mac.update(normalised.as_bytes());
    let digest = mac.finalize().into_bytes();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .take(16)
        .flat_map(|byte| [char::from(HEX[usize::from(byte >> 4)]), char::from(HEX[usize::from(byte & 15)])])
        .collect()
}

/// How a stored value is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// Bound to its row (the current format).
    Bound,
    /// Sealed before values were bound to their rows.
    Unbound,
    /// Stored before encryption was turned on.
    Plain,
}

/// How `stored` is sealed, by its prefix.
pub fn sealing(stored: &[u8]) -> Sealing {
    if stored.starts_with(PREFIX.as_bytes()) {
        Sealing::Bound
    } else if stored.starts_with(UNBOUND.as_bytes()) {
        Sealing::Unbound
    } else {
        Sealing::Plain
    }
}

/// A stored value taken apart: the key that sealed it, the rest, and whether it is bound.
struct Parts<'s> {
    key: String,
    body: &'s [u8],
    bound: bool,
}

/// The parts of a sealed value; `None` for a value stored in clear.
fn split<'s>(stored: &'s [u8], row: Row<'_>) -> Result<Option<Parts<'s>>, Error> {
    let (rest, bound) = match sealing(stored) {
        Sealing::Bound => (&stored[PREFIX.len()..], true),
        Sealing::Unbound => (&stored[UNBOUND.len()..], false),
        Sealing::Plain => return Ok(None),
    };
    let colon = rest.iter().position(|b| *b == b':').ok_or_else(|| {
        Error::coded(ErrorCode::SealedValueInvalid, format!("{row}: a sealed payload without its key id"))
    })?;
    Ok(Some(Parts { key: String::from_utf8_lossy(&rest[..colon]).into_owned(), body: &rest[colon + 1..], bound }))
}

fn without_key(row: Row<'_>) -> Error {
    Error::coded(
        ErrorCode::KeyUnknown,
        format!("{row}: its payload is encrypted and storage.encryption configures no key"),
    )
}

/// Opens a stored value of `row`: sealed ones with their key, others (stored before
/// encryption) as they are. Without a sealer, a sealed value is an error: the key is missing.
pub fn open(sealer: Option<&Sealer>, stored: Vec<u8>, row: Row<'_>) -> Result<Vec<u8>, Error> {
    let Some(parts) = split(&stored, row)? else { return Ok(stored) };
    sealer.ok_or_else(|| without_key(row))?.open_raw(&parts.key, parts.body, row, parts.bound)
}

/// `open` for text columns (base64 after the prefix).
pub fn open_text(sealer: Option<&Sealer>, stored: String, row: Row<'_>) -> Result<String, Error> {
    let Some(parts) = split(stored.as_bytes(), row)? else { return Ok(stored) };
    let sealer = sealer.ok_or_else(|| without_key(row))?;
    let invalid = || Error::coded(ErrorCode::SealedValueInvalid, format!("{row}: its sealed text is not base64 UTF-8"));
    let sealed = STANDARD.decode(parts.body).map_err(|_| invalid())?;
    String::from_utf8(sealer.open_raw(&parts.key, &sealed, row, parts.bound)?).map_err(|_| invalid())
}

/// The codici fiscali a canonical message is about: every string under a key that names
/// one (`codiceFiscale`, `employerCodiceFiscale`, `workerCodiceFiscale`, ...).
pub fn codici_fiscali(message: &serde_json::Value) -> Vec<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        serde_json::Value::String(text) if key == "codiceFiscale" || key.ends_with("CodiceFiscale") => {
                            out.push(text.trim().to_ascii_uppercase())
                        }
                        _ => walk(value, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(message, &mut out);
    out.sort();
    out.dedup();
    out
}

/// `codici_fiscali` of the `data` of a canonical message given as JSON text, read without
/// building the message's `Value`; `None` when the text is not JSON. Sealing a pulled page
/// decoded each message again to index it, a twentieth of the page's translation time.
pub fn codici_fiscali_of_text(canonical: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(canonical);
    Walk { place: Place::Envelope, out: &mut out }.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    out.sort();
    out.dedup();
    Some(out)
}

/// Where `Walk` is in a canonical message.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The envelope: only its `data` is walked.
    Envelope,
    /// Anywhere under `data`.
    Data,
    /// The value of a key that names a codice fiscale: a string here is one.
    Code,
}

/// A visit of a JSON value that keeps the codici fiscali `codici_fiscali` would find.
struct Walk<'o> {
    place: Place,
    out: &'o mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        if let Place::Code = self.place {
            self.out.push(text.trim().to_ascii_uppercase());
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let place = match self.place {
            Place::Envelope => None,
            Place::Data | Place::Code => Some(Place::Data),
        };
        match place {
            Some(place) => while items.next_element_seed(Walk { place, out: &mut *self.out })?.is_some() {},
            None => while items.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeyOf(self.place))? {
            match key {
                Some(place) => map.next_value_seed(Walk { place, out: &mut *self.out })?,
                None => map.next_value::<IgnoredAny>().map(|_| ())?,
            }
        }
        Ok(())
    }
}

/// Reads a key of an object at a place: where its value is, or `None` to skip it.
struct KeyOf(Place);

impl<'de> DeserializeSeed<'de> for KeyOf {
    type Value = Option<Place>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Place>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyOf {
    type Value = Option<Place>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<Place>, E> {
        Ok(match self.0 {
            Place::Envelope => (key == "data").then_some(Place::Data),
            Place::Data | Place::Code if key == "codiceFiscale" || key.ends_with("CodiceFiscale") => Some(Place::Code),
            Place::Data | Place::Code => Some(Place::Data),
        })
    }
}

/// The codici fiscali in raw party bytes (a quarantined record, which may not translate):
/// every token of the 16-character personal shape or 11 digits.
pub fn codici_fiscali_in(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes).to_ascii_uppercase();
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|token| {
            let personal = token.len() == 16 && crate::standard::codice_fiscale::check(token).is_ok()
                || token.len() == 16 && token.bytes().take(6).all(|b| b.is_ascii_uppercase());
            let numeric = token.len() == 11 && token.bytes().all(|b| b.is_ascii_digit());
            personal || numeric
        })
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(byte: u8) -> [u8; 32] {
        [byte; 32]
    }

    const ROW: Row<'static> = Row { table: "message", id: "m1" };

    #[test]
    fn sealed_values_open_after_a_rotation_and_not_without_their_key() {
        let old = Sealer::new(vec![("k1".into(), key(1))], None).unwrap();
        let sealed = old.seal(b"RSSMRA80A41H501Y", ROW).unwrap();
        let text = old.seal_text("{\"codiceFiscale\":\"RSSMRA80A41H501Y\"}", ROW).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("RSSMRA"));
        let rotated = Sealer::new(vec![("k2".into(), key(2)), ("k1".into(), key(1))], None).unwrap();
        assert_eq!(open(Some(&rotated), sealed.clone(), ROW).unwrap(), b"RSSMRA80A41H501Y");
        assert!(open_text(Some(&rotated), text.clone(), ROW).unwrap().contains("RSSMRA"));
        assert!(rotated.seal(b"x", ROW).unwrap().starts_with(b"RACENC2:k2:"));
        let forgotten = Sealer::new(vec![("k2".into(), key(2))], None).unwrap();
        let error = open(Some(&forgotten), sealed.clone(), ROW).unwrap_err();
        assert_eq!(error.code(), ErrorCode::KeyUnknown);
        assert!(error.to_string().contains("message m1"), "{error}");
        assert_eq!(open(None, sealed.clone(), ROW).unwrap_err().code(), ErrorCode::KeyUnknown);
        // Not sealed: read as stored.
        assert_eq!(open(None, b"plain".to_vec(), ROW).unwrap(), b"plain");
        // A flipped bit fails authentication.
        let mut altered = sealed;
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(open(Some(&rotated), altered, ROW).unwrap_err().code(), ErrorCode::SealedValueInvalid);
    }

    #[test]
    fn a_value_moved_to_another_row_does_not_open() {
        let sealer = Sealer::new(vec![("k1".into(), key(1))], None).unwrap();
        let sealed = sealer.seal_text("{\"codiceFiscale\":\"RSSMRA80A41H501Y\"}", ROW).unwrap();
        let other = Row::message("m2");
        let error = open_text(Some(&sealer), sealed.clone(), other).unwrap_err();
        assert_eq!(error.code(), ErrorCode::SealedValueInvalid);
        assert!(error.to_string().contains("message m2") && !error.to_string().contains("RSSMRA"), "{error}");
        // Nor in another table with the same id.
        assert!(open_text(Some(&sealer), sealed, Row::quarantined("m1")).is_err());
    }

    /// The layout is `RACENC2:<key id>:`, nonce, tag, ciphertext, the authenticated data the
    /// key id and the row: OpenSSL's one-shot AEAD functions read it so.
    #[test]
    fn sealed_values_are_aes_256_gcm_as_the_format_says() {
        let sealer = Sealer::new(vec![("k1".into(), key(1))], None).unwrap();
        let sealed = sealer.seal(b"RSSMRA80A41H501Y", ROW).unwrap();
        let raw = sealed.strip_prefix(b"RACENC2:k1:").unwrap();
        let (nonce, rest) = raw.split_at(NONCE);
        let (tag, ciphertext) = rest.split_at(TAG);
        let aad = b"k1\x1fmessage\x1fm1";
        let cipher = openssl::symm::Cipher::aes_256_gcm();
        let plain = openssl::symm::decrypt_aead(cipher, &key(1), Some(nonce), aad, ciphertext, tag).unwrap();
        assert_eq!(plain, b"RSSMRA80A41H501Y");
        let other_row =
            openssl::symm::decrypt_aead(cipher, &key(1), Some(nonce), b"k1\x1fmessage\x1fm2", ciphertext, tag);
        assert!(other_row.is_err());
    }

    #[test]
    fn values_sealed_before_rows_were_bound_still_open() {
        // RACENC1: the key id alone authenticated, as raccordo sealed until values were bound.
        let mut nonce = [0u8; NONCE];
        openssl::rand::rand_bytes(&mut nonce).unwrap();
        let mut tag = [0u8; TAG];
        let ciphertext = openssl::symm::encrypt_aead(
            openssl::symm::Cipher::aes_256_gcm(),
            &key(1),
            Some(&nonce),
            b"k1",
            b"legacy",
            &mut tag,
        )
        .unwrap();
        let mut raw = Vec::new();
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&tag);
        raw.extend_from_slice(&ciphertext);
        let stored = format!("RACENC1:k1:{}", STANDARD.encode(&raw));
        assert_eq!(sealing(stored.as_bytes()), Sealing::Unbound);
        let sealer = Sealer::new(vec![("k1".into(), key(1))], None).unwrap();
        assert_eq!(open_text(Some(&sealer), stored, Row::message("any")).unwrap(), "legacy");
    }

    #[test]
    fn blind_digests_are_keyed_normalised_and_say_nothing_of_the_code() {
        let sealer = Sealer::new(vec![("k1".into(), key(1))], Some(key(9))).unwrap();
        let digest = sealer.blind("rssmra80a41h501y ").unwrap();
        assert_eq!(Some(digest.clone()), sealer.blind("RSSMRA80A41H501Y"));
        assert_eq!(digest.len(), 32);
        // HMAC-SHA-256 as any implementation computes it (Python's hmac module gave this),
        // so digests stored by earlier versions keep matching.
        assert_eq!(digest, "5a42aa0f74b884b4d1b344bc227a3d39");
        assert!(!digest.contains("RSSMRA"));
        let other = Sealer::new(vec![("k1".into(), key(1))], Some(key(8))).unwrap();
        assert_ne!(other.blind("RSSMRA80A41H501Y"), Some(digest));
        assert_eq!(Sealer::new(vec![("k1".into(), key(1))], None).unwrap().blind("X"), None);
    }

    #[test]
    fn codici_fiscali_are_found_in_messages_and_in_raw_records() {
        let message = serde_json::json!({ "data": {
            "employment": { "employerCodiceFiscale": "rssmra80a41h501y", "workerCodiceFiscale": "12345678901" },
            "worker": { "codiceFiscale": "RSSMRA80A41H501Y", "familyName": "ROSSI" }
        }});
        assert_eq!(codici_fiscali(&message), ["12345678901", "RSSMRA80A41H501Y"]);
        let raw = br#"{"datore":{"codice_fiscale":"RSSMRA80A41H501Y"},"codice_rapporto":"40012345678","note":"x"}"#;
        assert_eq!(codici_fiscali_in(raw), ["40012345678", "RSSMRA80A41H501Y"]);
    }

    /// Read from the text, a message's codici fiscali are those of its decoded `data`.
    #[test]
    fn codici_fiscali_read_from_text_are_those_of_the_decoded_data() {
        let messages = [
            r#"{"id":"m1","workerCodiceFiscale":"BNCLRA85B52F205X","data":{"worker":{"codiceFiscale":" rssmra80a41h501y ","age":41,"eu":false,"note":null},
               "employer":{"codiceFiscale":{"value":"x","ownerCodiceFiscale":"VRDGPP70C10L219K"}},
               "history":[{"employerCodiceFiscale":"12345678901"},[{"codiceFiscale":"RSSMRA80A41H501Y"}],3.5,"BNCLRA85B52F205X"],
               "escaped":{"workerCodiceFiscale":"BNC\u004cRA85B52F205X"},"items":[],"codiceFiscale":7}}"#,
            r#"{"data":[{"codiceFiscale":"RSSMRA80A41H501Y"}],"type":"x"}"#,
            r#"{"type":"no data","codiceFiscale":"RSSMRA80A41H501Y"}"#,
        ];
        for text in messages {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(codici_fiscali_of_text(text), Some(codici_fiscali(&value["data"])), "{text}");
        }
        assert_eq!(
            codici_fiscali_of_text(messages[0]).unwrap(),
            ["12345678901", "BNCLRA85B52F205X", "RSSMRA80A41H501Y", "VRDGPP70C10L219K"]
        );
        assert_eq!(codici_fiscali_of_text(r#"{"data":{"codiceFiscale":"A"}"#), None, "truncated");
        assert_eq!(codici_fiscali_of_text(r#"{"data":{}} trailing"#), None, "trailing text");
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_of_32_bytes() {
        assert_eq!(parse_key(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_key(&STANDARD.encode([7u8; 32])), Some([7; 32]));
        assert_eq!(parse_key("short"), None);
        assert_eq!(parse_key(&"ab".repeat(31)), None);
    }
}
