//! Signed messages, AgID ModI pattern INTEGRITY_REST_01 (docs/SECURITY.md cites the
//! source): a `Digest` header (RFC 3230, `SHA-256=<base64>`) of the body, and an
//! `Agid-JWT-Signature` header holding a JWS (RS256, the signer's certificate chain in
//! `x5c`) whose claims cover the digest and the signed headers (`signed_headers`), with
//! `aud`, `iat`, `exp` and `jti`.
//!
//! `Signer` signs raccordo's deliveries; `Verifier` checks a party's request: the digest
//! against the body, the signature with the leaf certificate, the chain against the
//! configured CAs and its validity, the audience, the time window, and that the signed
//! headers are the ones sent. Refusing a replayed `jti` needs the store and is the
//! caller's (`Store::remember_jti`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509StoreContext, X509};
use serde_json::{json, Value};

use crate::error::{Error, ErrorCode};
use crate::jose;

/// The header carrying the JWS.
pub const SIGNATURE_HEADER: &str = "Agid-JWT-Signature";
/// Seconds a signature is valid after `iat`, and the clock skew tolerated.
pub const LIFETIME_SECS: i64 = 300;
pub const SKEW_SECS: i64 = 60;

/// `SHA-256=<base64>` of a body, as the `Digest` header carries it.
pub fn digest(body: &[u8]) -> String {
    format!("SHA-256={}", STANDARD.encode(openssl::sha::sha256(body)))
}

/// raccordo's signing identity.
pub struct Signer {
    key: PKey<Private>,
    /// The chain as `x5c` carries it: base64 DER, leaf first.
    x5c: Vec<String>,
    issuer: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

fn config_error(key: &str, reason: impl Into<String>) -> Error {
    Error::Config { file: "config".into(), key: key.into(), reason: reason.into() }
}

impl Signer {
    /// Reads the certificate chain (PEM, leaf first) and its private key.
    pub fn load(certificate: &std::path::Path, private_key: &std::path::Path, issuer: &str) -> Result<Signer, Error> {
        let read =
            |path: &std::path::Path| std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source });
        let chain = X509::stack_from_pem(&read(certificate)?)
            .map_err(|_| config_error("signing.certificate", "not a PEM certificate chain"))?;
        if chain.is_empty() {
            return Err(config_error("signing.certificate", "no certificate"));
        }
        let key = PKey::private_key_from_pem(&read(private_key)?)
            .map_err(|_| config_error("signing.private_key", "not a PEM private key"))?;
        let mut x5c = Vec::with_capacity(chain.len());
        for certificate in &chain {
            let der = certificate.to_der().map_err(|e| Error::Internal(e.to_string()))?;
            x5c.push(STANDARD.encode(der));
        }
        Ok(Signer { key, x5c, issuer: issuer.to_owned() })
    }

    /// The `Digest` and `Agid-JWT-Signature` values for a body sent to `audience`.
    pub fn sign(&self, body: &[u8], content_type: &str, audience: &str, now: i64) -> Result<(String, String), Error> {
        let digest = digest(body);
        let header = json!({ "alg": "RS256", "typ": "JWT", "x5c": self.x5c });
        let claims = json!({
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME_SECS,
            "jti": uuid::Uuid::now_v7().to_string(),
            "signed_headers": [ { "digest": digest }, { "content-type": content_type } ],
        });
        let jws = jose::sign_rs256(&self.key, &header, &claims).map_err(|e| Error::Internal(e.to_string()))?;
        Ok((digest, jws))
    }
}

/// What a verified signature tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub jti: String,
    /// Unix seconds after which the `jti` may be forgotten.
    pub expires: i64,
    /// SHA-256 fingerprint (upper-case hex) of the signer's certificate.
    pub fingerprint: String,
}

/// Checks signatures against the configured CAs and audience.
pub struct Verifier {
    trusted: X509Store,
    audience: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("audience", &self.audience).finish_non_exhaustive()
    }
}

/// A refusal: the code and a message that names no value.
pub type Refusal = (ErrorCode, String);

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    (code, message.into())
}

impl Verifier {
    pub fn load(trusted_ca: &[std::path::PathBuf], audience: &str) -> Result<Verifier, Error> {
        let mut builder = X509StoreBuilder::new().map_err(|e| Error::Internal(e.to_string()))?;
        for path in trusted_ca {
            let pem = std::fs::read(path).map_err(|source| Error::Io { path: path.clone(), source })?;
            for certificate in
                X509::stack_from_pem(&pem).map_err(|_| config_error("signing.trusted_ca", "not PEM certificates"))?
            {
                builder.add_cert(certificate).map_err(|e| config_error("signing.trusted_ca", e.to_string()))?;
            }
        }
        Ok(Verifier { trusted: builder.build(), audience: audience.to_owned() })
    }

    /// Checks a request's `Digest` and `Agid-JWT-Signature` at `now` (Unix seconds).
    pub fn verify(
        &self,
        body: &[u8],
        digest_header: Option<&str>,
        signature_header: Option<&str>,
        content_type: Option<&str>,
        now: i64,
    ) -> Result<Signed, Refusal> {
        let (Some(digest_header), Some(token)) = (digest_header, signature_header) else {
            return Err(refuse(ErrorCode::SignatureMissing, "the Digest and Agid-JWT-Signature headers are required"));
        };
        if digest_header.trim() != digest(body) {
            return Err(refuse(ErrorCode::DigestMismatch, "the Digest header is not the SHA-256 of the body"));
        }
        let peeked =
            jose::peek(token).map_err(|_| refuse(ErrorCode::SignatureInvalid, "the signature is not a JWS"))?;
        let chain: Vec<X509> = peeked.header["x5c"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|b64| STANDARD.decode(b64).ok())
                    .filter_map(|der| X509::from_der(&der).ok())
                    .collect()
            })
            .unwrap_or_default();
        let Some(leaf) = chain.first() else {
            return Err(refuse(ErrorCode::SignatureInvalid, "the signature's header has no x5c certificate"));
        };
        self.check_chain(leaf, &chain[1..])?;
        let public =
            leaf.public_key().map_err(|_| refuse(ErrorCode::SignatureInvalid, "the certificate has no key"))?;
        let verified = jose::verify_rs256(&public, token)
            .map_err(|_| refuse(ErrorCode::SignatureInvalid, "the signature does not verify with its certificate"))?;
        let claims = &verified.claims;
        let audience_ok = match &claims["aud"] {
            Value::String(aud) => *aud == self.audience,
            Value::Array(list) => list.iter().any(|a| *a == self.audience.as_str()),
            _ => false,
        };
        if !audience_ok {
            return Err(refuse(ErrorCode::AudienceMismatch, "the signature is for another audience"));
        }
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err(refuse(ErrorCode::SignatureExpired, "iat and exp are required"));
        };
        let nbf = claims["nbf"].as_i64().unwrap_or(iat);
        // A signature lives at most LIFETIME_SECS: one valid for years could be held and
        // replayed once its jti is forgotten.
        let too_long = exp - iat > LIFETIME_SECS + SKEW_SECS || iat < now - LIFETIME_SECS - SKEW_SECS;
        if iat > now + SKEW_SECS || nbf > now + SKEW_SECS || exp + SKEW_SECS < now || exp <= iat || too_long {
            return Err(refuse(ErrorCode::SignatureExpired, "the signature is not valid at this time"));
        }
        // The signed headers must be those sent: the digest always, the content type if any.
        let signed: Vec<(String, String)> = claims["signed_headers"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .flat_map(|map| {
                        map.iter().map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap_or_default().to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let signed_value = |name: &str| signed.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if signed_value("digest") != Some(digest_header.trim()) {
            return Err(refuse(ErrorCode::SignedHeadersMismatch, "the signed digest is not the Digest header sent"));
        }
        if let Some(content_type) = content_type {
            if signed_value("content-type") != Some(content_type) {
                return Err(refuse(ErrorCode::SignedHeadersMismatch, "the Content-Type sent is not the one signed"));
            }
        }
        let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty() && j.len() <= 128) else {
            return Err(refuse(ErrorCode::SignatureInvalid, "the signature has no jti"));
        };
        let fingerprint = leaf
            .digest(MessageDigest::sha256())
            .map(|d| d.iter().map(|b| format!("{b:02X}")).collect())
            .unwrap_or_default();
        Ok(Signed { jti: jti.to_owned(), expires: exp + SKEW_SECS, fingerprint })
    }

    fn check_chain(&self, leaf: &X509, intermediates: &[X509]) -> Result<(), Refusal> {
        let internal = |_| refuse(ErrorCode::SignerUntrusted, "the certificate chain could not be checked");
        let mut stack = Stack::new().map_err(internal)?;
        for certificate in intermediates {
            stack.push(certificate.clone()).map_err(internal)?;
        }
        let mut context = X509StoreContext::new().map_err(internal)?;
        let (ok, error) = context
            .init(&self.trusted, leaf, &stack, |context| Ok((context.verify_cert()?, context.error())))
            .map_err(internal)?;
        if ok {
            return Ok(());
        }
        if error.as_raw() == CERT_HAS_EXPIRED || error.as_raw() == CERT_NOT_YET_VALID {
            Err(refuse(ErrorCode::SignerCertificateExpired, "the signer's certificate has expired"))
        } else {
            Err(refuse(
                ErrorCode::SignerUntrusted,
                format!("the signer's certificate is not trusted: {}", error.error_string()),
            ))
        }
    }
}

/// OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED.
const CERT_NOT_YET_VALID: i32 = 9;
const CERT_HAS_EXPIRED: i32 = 10;
