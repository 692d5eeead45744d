//! Signed checkpoints of the audit log: its head (entry number, hash, time) signed with the
//! gateway's signing key and kept outside the database, in a file (one compact JWS a line)
//! or at a URL. The hash chain shows edits to the log, but whoever can write the database
//! can also rebuild the chain from its first entry with valid hashes; a checkpoint signed
//! earlier, kept elsewhere, shows that the rebuilt chain is not the one that was signed.

use std::io::Write;
use std::path::Path;

use openssl::pkey::{PKey, Private, Public};
use openssl::x509::X509;
use serde_json::{json, Value};

use crate::error::{Error, ErrorCode};
use crate::store::Store;

/// What a checkpoint attests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last entry's number (0: an empty log).
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When the checkpoint was made, in Unix milliseconds.
    pub at: i64,
}

/// The gateway's signing key and certificate (`[signing]`), read for checkpoints.
pub struct CheckpointKey {
    key: PKey<Private>,
    public: PKey<Public>,
    issuer: String,
}

impl CheckpointKey {
    pub fn load(certificate: &Path, private_key: &Path, issuer: &str) -> Result<CheckpointKey, Error> {
        let read = |path: &Path| std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source });
        let invalid = |key: &str, what: &str| Error::Config {
            file: "config".into(),
            key: key.into(),
            reason: format!("not a PEM {what}"),
        };
        let key = PKey::private_key_from_pem(&read(private_key)?).map_err(|_| invalid("signing.private_key", "key"))?;
        let certificate =
            X509::from_pem(&read(certificate)?).map_err(|_| invalid("signing.certificate", "certificate"))?;
        let public = certificate.public_key().map_err(|_| invalid("signing.certificate", "certificate"))?;
        Ok(CheckpointKey { key, public, issuer: issuer.to_owned() })
    }

    /// The checkpoint as a compact JWS (RS256).
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, Error> {
        let header = json!({ "alg": "RS256", "typ": "raccordo-audit-checkpoint" });
        let claims = json!({
            "iss": self.issuer,
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "at": checkpoint.at,
        });
        crate::jose::sign_rs256(&self.key, &header, &claims).map_err(|e| Error::Internal(format!("signing: {e}")))
    }

    /// Reads a signed checkpoint, or says why it is not one of this key's.
    fn read(&self, token: &str) -> Result<Checkpoint, String> {
        let verified = crate::jose::verify_rs256(&self.public, token.trim()).map_err(|e| e.to_string())?;
        let claims = &verified.claims;
        if verified.header["typ"] != "raccordo-audit-checkpoint" {
            return Err("not an audit checkpoint".into());
        }
        match (claims["seq"].as_i64(), claims["hash"].as_str(), claims["at"].as_i64()) {
            (Some(seq), Some(hash), Some(at)) => Ok(Checkpoint { seq, hash: hash.to_owned(), at }),
            _ => Err("its claims lack seq, hash or at".into()),
        }
    }
}

/// Makes a checkpoint of the log's head now, signs it and keeps it: appended to `file`,
/// and POSTed (as JSON with the JWS) to `url`. Returns it.
pub async fn make(
    store: &Store,
    key: &CheckpointKey,
    now: i64,
    file: Option<&Path>,
    url: Option<&str>,
) -> Result<Checkpoint, Error> {
    let (seq, hash) = store.audit_head().await?;
    let checkpoint = Checkpoint { seq, hash, at: now };
    let token = key.sign(&checkpoint)?;
    if let Some(file) = file {
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_owned(), source })?;
        }
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(|source| Error::Io { path: file.to_owned(), source })?;
        writeln!(out, "{token}").map_err(|source| Error::Io { path: file.to_owned(), source })?;
        out.sync_all().map_err(|source| Error::Io { path: file.to_owned(), source })?;
    }
    if let Some(url) = url {
        let body = json!({ "checkpoint": token, "seq": checkpoint.seq, "hash": checkpoint.hash });
        let response = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Internal(format!("posting the checkpoint to {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(Error::Internal(format!("posting the checkpoint to {url}: {}", response.status())));
        }
    }
    Ok(checkpoint)
}

/// Checks the log against every checkpoint of `file`: each line must be a checkpoint this
/// key signed (`RAC-7009` naming the line otherwise), and the entry each names must still
/// have the hash signed (`RAC-4005` otherwise: the chain was rewritten or cut after it).
/// Returns how many checkpoints were checked.
pub async fn verify(store: &Store, key: &CheckpointKey, file: &Path) -> Result<usize, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io { path: file.to_owned(), source })?;
    let mut checked = 0;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let checkpoint = key.read(line).map_err(|why| {
            Error::coded(
                ErrorCode::CheckpointInvalid,
                format!(
                    "{}, line {}: not a checkpoint signed by this gateway's key ({why})",
                    file.display(),
                    index + 1
                ),
            )
        })?;
        if checkpoint.seq > 0 {
            let hash = store.audit_hash(checkpoint.seq).await?;
            if hash.as_deref() != Some(checkpoint.hash.as_str()) {
                let what = match hash {
                    None => "is no longer in the log",
                    Some(_) => "has another hash than the one signed",
                };
                return Err(Error::coded(
                    ErrorCode::AuditCheckpointMismatch,
                    format!(
                        "entry {} {what} (checkpoint of {}, {}, line {}): the log was rewritten after it",
                        checkpoint.seq,
                        crate::clock::rfc3339(checkpoint.at),
                        file.display(),
                        index + 1
                    ),
                ));
            }
        }
        checked += 1;
    }
    Ok(checked)
}

/// A checkpoint's claims as JSON, for reports.
pub fn describe(checkpoint: &Checkpoint) -> Value {
    json!({ "seq": checkpoint.seq, "hash": checkpoint.hash, "at": crate::clock::rfc3339(checkpoint.at) })
}
