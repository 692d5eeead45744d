//! Parties identified by TLS client certificates, with a CA and certificates generated
//! here: a good certificate identifies its party; one from another CA, an expired one, and
//! none at all (without a token) get no further.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::path::Path;

use openssl::hash::MessageDigest;
use raccordo::api;
use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::pki::{Issued, Usage};
use raccordo::store::Store;

/// A certificate for `common_name`, signed by `issuer` (a self-signed CA when `None`),
/// valid from `from` to `until` (Unix seconds), for a server on 127.0.0.1 when `server`.
fn issue(common_name: &str, issuer: Option<&Issued>, from: i64, until: i64, server: bool) -> Issued {
    let usage = match (issuer, server) {
        (None, _) => Usage::Ca,
        (Some(_), true) => Usage::Server,
        (Some(_), false) => Usage::Client,
    };
    raccordo::pki::issue(common_name, issuer, from, until, usage).unwrap()
}

fn write(dir: &Path, name: &str, issued: &Issued) -> (String, String) {
    let (certificate, key) = issued.write(dir, name).unwrap();
    (certificate.display().to_string(), key.display().to_string())
}

fn fingerprint(issued: &Issued) -> String {
    issued.certificate.digest(MessageDigest::sha256()).unwrap().iter().map(|b| format!("{b:02x}:")).collect()
}

fn client(ca: &Issued, identity: Option<&Issued>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca.certificate.to_pem().unwrap()).unwrap());
    if let Some(identity) = identity {
        let pem = identity.certificate.to_pem().unwrap();
        let key = identity.key.private_key_to_pem_pkcs8().unwrap();
        builder = builder.identity(reqwest::Identity::from_pkcs8_pem(&pem, &key).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_identify_parties_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp();
    let day = 86_400;
    let ca = issue("raccordo test CA", None, now - day, now + 30 * day, false);
    let other_ca = issue("someone else's CA", None, now - day, now + 30 * day, false);
    let server = issue("127.0.0.1", Some(&ca), now - day, now + 30 * day, true);
    let party = issue("cpi-cremona", Some(&ca), now - day, now + 30 * day, false);
    let stranger = issue("not configured", Some(&ca), now - day, now + 30 * day, false);
    let foreign = issue("cpi-cremona", Some(&other_ca), now - day, now + 30 * day, false);
    let expired = issue("cpi-cremona", Some(&ca), now - 30 * day, now - day, false);

    let (server_pem, server_key) = write(dir.path(), "server", &server);
    let (ca_pem, _) = write(dir.path(), "ca", &ca);
    let config = format!(
        "[tls]\ncertificate = \"{server_pem}\"\nprivate_key = \"{server_key}\"\nclient_ca = \"{ca_pem}\"\n\n\
         [[parties]]\nid = \"cpi-cremona\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nsends = {{ profiles = [\"canonical\"] }}\n\
         auth = {{ certificate_sha256 = [\"{}\"], tokens = [\"token-for-development-01\"] }}\n",
        fingerprint(&party)
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&config, "mtls.toml", &catalog).unwrap();
    let store = Store::open(&format!("sqlite://{}/raccordo.db", dir.path().display())).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}/v1/messages", listener.local_addr().unwrap().port());
    tokio::spawn(api::serve(listener, state, std::future::pending()));

    let status = |response: reqwest::Result<reqwest::Response>| response.map(|r| r.status().as_u16());
    assert_eq!(status(client(&ca, Some(&party)).get(&url).send().await).unwrap(), 200, "the party's certificate");
    assert_eq!(
        status(client(&ca, Some(&stranger)).get(&url).send().await).unwrap(),
        401,
        "a good certificate of no party"
    );
    assert_eq!(status(client(&ca, None).get(&url).send().await).unwrap(), 401, "neither certificate nor token");
    let token = client(&ca, None).get(&url).bearer_auth("token-for-development-01").send().await;
    assert_eq!(status(token).unwrap(), 200, "a token, without a certificate");
    assert!(
        client(&ca, Some(&foreign)).get(&url).send().await.is_err(),
        "a certificate from another CA fails the handshake"
    );
    assert!(client(&ca, Some(&expired)).get(&url).send().await.is_err(), "an expired certificate fails the handshake");
}
