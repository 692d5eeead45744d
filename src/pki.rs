//! Keys and certificates made with openssl: the bundled example's PKI (made on first use,
//! so no private key ships in the repository) and the tests' CAs, servers and clients.
//! Nothing here is for production: real deployments use the certificates their CA issues.

use std::path::{Path, PathBuf};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Name, X509NameBuilder, X509};

use crate::error::Error;

/// A certificate and its private key.
pub struct Issued {
    pub certificate: X509,
    pub key: PKey<Private>,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A self-signed CA.
    Ca,
    /// A server on 127.0.0.1 and localhost.
    Server,
    /// A client.
    Client,
}

fn name(common_name: &str) -> Result<X509Name, ErrorStack> {
    let mut builder = X509NameBuilder::new()?;
    builder.append_entry_by_text("CN", common_name)?;
    Ok(builder.build())
}

/// A 2048-bit RSA key.
pub fn rsa_key() -> Result<PKey<Private>, ErrorStack> {
    PKey::from_rsa(Rsa::generate(2048)?)
}

/// A certificate for `common_name`, signed by `issuer` (self-signed when `None`), valid
/// from `from` to `until` (Unix seconds).
pub fn issue(
    common_name: &str,
    issuer: Option<&Issued>,
    from: i64,
    until: i64,
    usage: Usage,
) -> Result<Issued, ErrorStack> {
    issue_for(rsa_key()?, common_name, issuer, from, until, usage)
}

/// [`issue`] for a key of the caller's (tests give it keys OpenSSL would refuse).
pub fn issue_for(
    key: PKey<Private>,
    common_name: &str,
    issuer: Option<&Issued>,
    from: i64,
    until: i64,
    usage: Usage,
) -> Result<Issued, ErrorStack> {
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = BigNum::from_u32(fastrand::u32(1..u32::MAX))?;
    let serial = Asn1Integer::from_bn(&serial)?;
    builder.set_serial_number(&serial)?;
    let subject = name(common_name)?;
    builder.set_subject_name(&subject)?;
    builder.set_issuer_name(issuer.map_or(subject.as_ref(), |i| i.certificate.subject_name()))?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (Asn1Time::from_unix(from)?, Asn1Time::from_unix(until)?);
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    if usage == Usage::Ca {
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    }
    if usage == Usage::Server {
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&builder.x509v3_context(issuer.map(|i| i.certificate.as_ref()), None))?;
        builder.append_extension(san)?;
    }
    builder.sign(issuer.map_or(&key, |i| &i.key), MessageDigest::sha256())?;
    Ok(Issued { certificate: builder.build(), key })
}

impl Issued {
    /// Writes `<name>.crt` and `<name>.key` (PKCS#8) into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), Error> {
        let certificate = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let pem = self.certificate.to_pem().map_err(|e| Error::Internal(format!("PEM: {e}")))?;
        let key_pem = self.key.private_key_to_pem_pkcs8().map_err(|e| Error::Internal(format!("PEM: {e}")))?;
        write_file(&certificate, &pem)?;
        write_private(&key, &key_pem)?;
        Ok((certificate, key))
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|source| Error::Io { path: path.to_owned(), source })
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| Error::Io { path: path.to_owned(), source })?;
    file.write_all(bytes).map_err(|source| Error::Io { path: path.to_owned(), source })
}

/// Makes the bundled example's keys and certificates in `dir` unless they are there:
/// `ca.crt`; `server.crt`/`.key` (127.0.0.1) for the INPS simulator; `client.crt`/`.key`
/// that raccordo presents; `pdnd-client.key` that signs PDND client assertions, with its
/// public half `pdnd-client.pub` that PDND (here, the simulator) verifies with.
pub fn ensure_example(dir: &Path) -> Result<(), Error> {
    if dir.join("pdnd-client.pub").exists() {
        return Ok(());
    }
    // Made in a sibling folder and renamed, so a reader never sees half a PKI.
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_owned(), source })?;
    let staging = parent.join(format!(".example-pki-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(|source| Error::Io { path: staging.clone(), source })?;
    let openssl = |e: ErrorStack| Error::Internal(format!("making the example PKI: {e}"));
    let now = chrono::Utc::now().timestamp();
    let until = now + 10 * 365 * 86_400;
    let ca = issue("raccordo example CA", None, now - 3600, until, Usage::Ca).map_err(openssl)?;
    let server = issue("127.0.0.1", Some(&ca), now - 3600, until, Usage::Server).map_err(openssl)?;
    let client = issue("raccordo example client", Some(&ca), now - 3600, until, Usage::Client).map_err(openssl)?;
    write_file(&staging.join("ca.crt"), &ca.certificate.to_pem().map_err(openssl)?)?;
    server.write(&staging, "server")?;
    client.write(&staging, "client")?;
    let pdnd = rsa_key().map_err(openssl)?;
    write_private(&staging.join("pdnd-client.key"), &pdnd.private_key_to_pem_pkcs8().map_err(openssl)?)?;
    write_file(&staging.join("pdnd-client.pub"), &pdnd.public_key_to_pem().map_err(openssl)?)?;
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        // Another process made it first: theirs stands.
        Err(_) if dir.join("pdnd-client.pub").exists() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(source) => Err(Error::Io { path: dir.to_owned(), source }),
    }
}

/// Makes the example gateway's own signing identity, `gateway.crt` and `gateway.key` in
/// `dir`, unless they are there: a self-signed certificate, which signs the audit log's
/// checkpoints (and deliveries to parties that ask for signed ones).
pub fn ensure_example_signing(dir: &Path) -> Result<(), Error> {
    if dir.join("gateway.crt").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    let now = chrono::Utc::now().timestamp();
    let issued = issue("raccordo example gateway", None, now - 3600, now + 10 * 365 * 86_400, Usage::Client)
        .map_err(|e| Error::Internal(format!("making the example signing key: {e}")))?;
    // The key first: a certificate without its key would stop this function for good.
    let staging = dir.join(format!(".gateway-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(|source| Error::Io { path: staging.clone(), source })?;
    issued.write(&staging, "gateway")?;
    for name in ["gateway.key", "gateway.crt"] {
        std::fs::rename(staging.join(name), dir.join(name))
            .map_err(|source| Error::Io { path: dir.join(name), source })?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}

/// Makes a 32-byte data key (64 hex digits) at `path` unless it is there, readable by its
/// owner only, in a folder only its owner can enter: the bundled example's keys for sealing
/// payloads and for the blind index, made on first use like its PKI.
pub fn ensure_example_key(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if path.exists() {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|source| Error::Io { path: parent.to_owned(), source })?;
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key).map_err(|e| Error::Internal(format!("making a key: {e}")))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    // create_new: of two processes starting at once, one writes and the other keeps its key.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(hex.as_bytes()).map_err(|source| Error::Io { path: path.to_owned(), source })
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::Io { path: path.to_owned(), source }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn example_keys_are_made_once_for_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("example-keys").join("payload.key");
        ensure_example_key(&key).unwrap();
        let first = std::fs::read_to_string(&key).unwrap();
        assert!(crate::store::seal::parse_key(&first).is_some());
        ensure_example_key(&key).unwrap();
        assert_eq!(std::fs::read_to_string(&key).unwrap(), first, "made again");
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o077, 0);
        assert_eq!(std::fs::metadata(key.parent().unwrap()).unwrap().permissions().mode() & 0o077, 0);
    }

    #[test]
    fn the_example_pki_is_made_once_and_chains() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("example-pki");
        ensure_example(&pki).unwrap();
        let first = std::fs::read(pki.join("ca.crt")).unwrap();
        ensure_example(&pki).unwrap();
        assert_eq!(std::fs::read(pki.join("ca.crt")).unwrap(), first, "made again");
        let ca = X509::from_pem(&first).unwrap();
        let server = X509::from_pem(&std::fs::read(pki.join("server.crt")).unwrap()).unwrap();
        assert!(server.verify(&ca.public_key().unwrap()).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(pki.join("pdnd-client.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the private key is readable by others");
    }
}
