//! HTTPS with OpenSSL, and parties identified by their client certificates (mTLS).
//!
//! The handshake verifies a client certificate against the configured CAs and its validity
//! period; a certificate that fails is refused before any HTTP is spoken. The SHA-256
//! fingerprint of an accepted certificate travels with each request as a
//! [`ClientCertificate`] extension, and the configuration maps fingerprints to parties.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use openssl::hash::MessageDigest;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use tokio::net::TcpListener;
use tokio_openssl::SslStream;
use tower::ServiceExt;

use crate::config::TlsConfig;
use crate::error::Error;

/// The SHA-256 fingerprint (upper-case hex) of the client certificate of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub String);

/// Normalises a configured fingerprint: hex digits, upper case, no separators.
pub fn normalise_fingerprint(text: &str) -> String {
    text.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_uppercase()).collect()
}

/// The TLS acceptor the configuration describes.
pub fn acceptor(config: &TlsConfig) -> Result<SslAcceptor, Error> {
    let fail = |what: &str, error: openssl::error::ErrorStack| Error::Config {
        file: "config".into(),
        key: format!("tls.{what}"),
        reason: error.to_string(),
    };
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(|e| fail("", e))?;
    builder.set_certificate_chain_file(&config.certificate).map_err(|e| fail("certificate", e))?;
    builder.set_private_key_file(&config.private_key, SslFiletype::PEM).map_err(|e| fail("private_key", e))?;
    builder.check_private_key().map_err(|e| fail("private_key", e))?;
    if let Some(ca) = &config.client_ca {
        builder.set_ca_file(ca).map_err(|e| fail("client_ca", e))?;
        // Ask for a certificate and verify any given; a client without one may still use a
        // token (development setups). A bad certificate fails the handshake.
        builder.set_verify(SslVerifyMode::PEER);
    }
    Ok(builder.build())
}

/// Serves `app` over TLS until `shutdown` completes; connections already open finish.
pub async fn serve(listener: TcpListener, acceptor: SslAcceptor, app: Router, shutdown: impl Future<Output = ()>) {
    let acceptor = Arc::new(acceptor);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("accepting a connection: {error}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without it, a response written as several TLS records waits on Nagle's algorithm
        // and the peer's delayed ACK: tens of milliseconds per request.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, "TCP_NODELAY: {error}");
        }
        let acceptor = Arc::clone(&acceptor);
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(ssl) = Ssl::new(acceptor.context()) else { return };
            let Ok(mut stream) = SslStream::new(ssl, tcp) else { return };
            if let Err(error) = std::pin::Pin::new(&mut stream).accept().await {
                tracing::info!(%peer, "TLS handshake refused: {error}");
                return;
            }
            let certificate = stream
                .ssl()
                .peer_certificate()
                .and_then(|c| c.digest(MessageDigest::sha256()).ok())
                .map(|digest| ClientCertificate(digest.iter().map(|b| format!("{b:02X}")).collect()));
            let service = app.map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                if let Some(certificate) = &certificate {
                    request.extensions_mut().insert(certificate.clone());
                }
                request
            });
            let builder = Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "connection: {error}");
            }
        });
    }
}
