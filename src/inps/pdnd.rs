//! Access to INPS through PDND Interoperabilità: a `client_assertion` JWT signed with the
//! gateway's key (RS256, through openssl) is exchanged at the token endpoint for a voucher,
//! which is cached until shortly before it expires and sent as a bearer token to the
//! e-service. docs/SECURITY.md cites the public material each claim comes from.
//!
//! The private key is read once, at start; it never appears in logs or errors.

use std::time::Duration;

use openssl::pkey::{PKey, Private};
use serde::Deserialize;
use serde_json::json;

use super::http::send_with_retries;
use crate::clock::Clock;
use crate::config::PdndConfig;
use crate::error::{Error, ErrorCode};
use crate::gateway::HttpClient;
use crate::jose;
use crate::retry::RetryPolicy;

/// The `client_assertion_type` of RFC 7523, the only one PDND takes.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a signed assertion is valid.
const ASSERTION_TTL_SECS: i64 = 300;

/// A voucher and when to stop using it.
#[derive(Debug, Clone)]
struct Voucher {
    token: String,
    /// Unix milliseconds.
    renew_at: i64,
}

/// Gets and caches PDND vouchers for one client.
pub struct PdndClient {
    config: PdndConfig,
    key: PKey<Private>,
    http: HttpClient,
    backoff: RetryPolicy,
    clock: Clock,
    voucher: tokio::sync::Mutex<Option<Voucher>>,
}

impl std::fmt::Debug for PdndClient {
    // The key stays out of every debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdndClient").field("client_id", &self.config.client_id).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

impl PdndClient {
    /// A client signing with `key` (loaded and checked with the gateway's keys).
    pub fn new(
        config: PdndConfig,
        key: PKey<Private>,
        http: HttpClient,
        backoff: RetryPolicy,
        clock: Clock,
    ) -> PdndClient {
        PdndClient { config, key, http, backoff, clock, voucher: tokio::sync::Mutex::new(None) }
    }

    /// A fresh client assertion, valid for five minutes from `now` (Unix seconds).
    pub fn assertion(&self, now: i64) -> Result<String, Error> {
        let header = json!({ "kid": self.config.kid, "alg": "RS256", "typ": "JWT" });
        let claims = json!({
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "aud": self.config.audience,
            "purposeId": self.config.purpose_id,
            "jti": uuid::Uuid::now_v7().to_string(),
            "iat": now,
            "exp": now + ASSERTION_TTL_SECS,
        });
        jose::sign_rs256(&self.key, &header, &claims)
            .map_err(|e| Error::Pull { code: ErrorCode::PullTokenRefused, reason: e.to_string() })
    }

    /// A valid voucher: the cached one, or a new one from the token endpoint; `true` when
    /// the private key signed a new assertion for it (an event the audit log records).
    pub async fn voucher(&self) -> Result<(String, bool), Error> {
        let mut cached = self.voucher.lock().await;
        let now = self.clock.now_millis();
        if let Some(voucher) = cached.as_ref().filter(|v| now < v.renew_at) {
            return Ok((voucher.token.clone(), false));
        }
        let voucher = self.fetch().await?;
        let token = voucher.token.clone();
        *cached = Some(voucher);
        Ok((token, true))
    }

    /// The id of the key assertions are signed with.
    pub fn kid(&self) -> &str {
        &self.config.kid
    }

    /// Forgets the cached voucher: the e-service said it expired.
    pub async fn invalidate(&self) {
        *self.voucher.lock().await = None;
    }

    async fn fetch(&self) -> Result<Voucher, Error> {
        let started = self.clock.now_millis();
        let assertion = self.assertion(started / 1000)?;
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_assertion", assertion.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("grant_type", "client_credentials"),
        ];
        let http = self.http.client().await?;
        let response = send_with_retries(&self.clock, &self.backoff, "the PDND token endpoint", || {
            http.post(&self.config.token_url).form(&form)
        })
        .await?;
        let status = response.status();
        if !status.is_success() {
            // 400/401: the assertion was refused (unknown key, wrong audience, bad claims).
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Pull {
                code: ErrorCode::PullTokenRefused,
                reason: format!("the token endpoint answered {status}: {}", snippet(&body)),
            });
        }
        let answer: TokenAnswer = response.json().await.map_err(|e| Error::Pull {
            code: ErrorCode::PullTokenRefused,
            reason: format!("the token endpoint's answer is not a voucher: {e}"),
        })?;
        // A day at most, whatever the endpoint says.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(600).min(86_400));
        let margin = Duration::from_secs(self.config.renew_before_secs).min(lifetime / 2);
        tracing::info!(client_id = %self.config.client_id, expires_in = lifetime.as_secs(), "PDND voucher obtained");
        let valid_for = i64::try_from((lifetime - margin).as_millis()).unwrap_or(0);
        Ok(Voucher { token: answer.access_token, renew_at: started + valid_for })
    }
}

/// The start of a body, for an error message.
pub(super) fn snippet(body: &str) -> String {
    let mut end = body.len().min(200);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn assertions_carry_what_pdnd_checks_and_verify_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::pki::rsa_key().unwrap();
        let path = dir.path().join("client.key");
        std::fs::write(&path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let config = PdndConfig {
            token_url: "https://127.0.0.1:1/token.oauth2".into(),
            audience: "auth.interop.pagopa.it/client-assertion".into(),
            client_id: "9b361d49-33f4-4f1e-a88b-4e12661f2309".into(),
            purpose_id: "1b361d49-33f4-4f1e-a88b-4e12661f2300".into(),
            kid: "k1".into(),
            private_key: path,
            renew_before_secs: 60,
        };
        let backoff = RetryPolicy { initial: Duration::from_millis(1), max: Duration::from_millis(1), max_attempts: 1 };
        let client = PdndClient::new(config, key.clone(), reqwest::Client::new().into(), backoff, Clock::System);
        assert!(!format!("{client:?}").contains("PRIVATE"));
        let token = client.assertion(1_800_000_000).unwrap();
        let public = PKey::public_key_from_pem(&key.public_key_to_pem().unwrap()).unwrap();
        let verified = jose::verify_rs256(&public, &token).unwrap();
        assert_eq!(verified.header, json!({ "kid": "k1", "alg": "RS256", "typ": "JWT" }));
        let claims = &verified.claims;
        assert_eq!(claims["iss"], "9b361d49-33f4-4f1e-a88b-4e12661f2309");
        assert_eq!(claims["sub"], claims["iss"]);
        assert_eq!(claims["aud"], "auth.interop.pagopa.it/client-assertion");
        assert_eq!(claims["purposeId"], "1b361d49-33f4-4f1e-a88b-4e12661f2300");
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(1_800_000_000), Some(1_800_000_300)));
        let other = client.assertion(1_800_000_000).unwrap();
        assert_ne!(jose::peek(&other).unwrap().claims["jti"], claims["jti"], "jti must be unique");
    }
}
