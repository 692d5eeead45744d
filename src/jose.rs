//! Compact JWS (RFC 7515) signed and verified with RS256 through openssl: what the PDND
//! client assertion needs (`inps::pdnd`), and what the simulators verify. Only RS256: the PDND
//! authorization server accepts no other algorithm (docs/SECURITY.md), and a verifier that
//! takes the algorithm from the token is the classic JWT mistake.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPrivate, HasPublic, PKeyRef};
use openssl::sign::{Signer, Verifier};
use serde_json::Value;

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS (three base64url segments)")]
    Malformed,
    #[error("the {0} segment is not a JSON object")]
    Segment(&'static str),
    #[error("algorithm {0:?} is not RS256")]
    Algorithm(String),
    #[error("the signature does not verify with the key")]
    Signature,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A verified token's header and claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub header: Value,
    pub claims: Value,
}

/// Signs `claims` under `header` (whose `alg` must be RS256) and returns the compact form.
pub fn sign_rs256<T: HasPrivate>(key: &PKeyRef<T>, header: &Value, claims: &Value) -> Result<String, JwsError> {
    if header["alg"] != "RS256" {
        return Err(JwsError::Algorithm(header["alg"].to_string()));
    }
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signing = |input: &str| -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut signer = Signer::new(MessageDigest::sha256(), key)?;
        signer.update(input.as_bytes())?;
        signer.sign_to_vec()
    };
    let signature = signing(&input).map_err(|e| JwsError::Signing(e.to_string()))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The header and claims of a token, not verified: to pick the key (`kid`) before verifying.
pub fn peek(token: &str) -> Result<Verified, JwsError> {
    let (header, claims, _, _) = split(token)?;
    Ok(Verified { header, claims })
}

/// Verifies an RS256 token with `key`; claims are returned for the caller to check.
pub fn verify_rs256<T: HasPublic>(key: &PKeyRef<T>, token: &str) -> Result<Verified, JwsError> {
    let (header, claims, input, signature) = split(token)?;
    if header["alg"] != "RS256" {
        return Err(JwsError::Algorithm(header["alg"].as_str().unwrap_or_default().to_owned()));
    }
    let verified = (|| -> Result<bool, openssl::error::ErrorStack> {
        let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
        verifier.update(input.as_bytes())?;
        verifier.verify(&signature)
    })()
    .unwrap_or(false);
    if !verified {
        return Err(JwsError::Signature);
    }
    Ok(Verified { header, claims })
}

fn split(token: &str) -> Result<(Value, Value, &str, Vec<u8>), JwsError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let object = |segment: &str, name: &'static str| -> Result<Value, JwsError> {
        let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| JwsError::Malformed)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(JwsError::Segment(name)),
        }
    };
    let header_value = object(header, "header")?;
    let claims_value = object(claims, "claims")?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwsError::Malformed)?;
    let input_len = header.len() + 1 + claims.len();
    Ok((header_value, claims_value, &token[..input_len], signature))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use serde_json::json;

    fn key() -> PKey<openssl::pkey::Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    #[test]
    fn signed_tokens_verify_with_their_key_only() {
        let (mine, other) = (key(), key());
        let token =
            sign_rs256(&mine, &json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}), &json!({"sub": "a"})).unwrap();
        let verified = verify_rs256(&mine, &token).unwrap();
        assert_eq!(verified.claims["sub"], "a");
        assert_eq!(verified.header["kid"], "k1");
        assert_eq!(verify_rs256(&other, &token), Err(JwsError::Signature));
    }

    #[test]
    fn tampering_and_other_algorithms_are_refused() {
        let mine = key();
        let token = sign_rs256(&mine, &json!({"alg": "RS256"}), &json!({"sub": "a"})).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "b"}).to_string());
        parts[1] = &forged;
        assert_eq!(verify_rs256(&mine, &parts.join(".")), Err(JwsError::Signature));
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode("{}"));
        assert_eq!(verify_rs256(&mine, &none), Err(JwsError::Algorithm("none".into())));
        assert_eq!(verify_rs256(&mine, "a.b"), Err(JwsError::Malformed));
        assert!(sign_rs256(&mine, &json!({"alg": "HS256"}), &json!({})).is_err());
    }
}
