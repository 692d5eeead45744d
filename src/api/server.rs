//! The connections under the API: plain HTTP or HTTPS with OpenSSL, parties identified by
//! their client certificates (mTLS), time limits on every stage, and a shutdown that lets
//! open requests finish.
//!
//! A TLS handshake verifies a client certificate against the configured CAs and its
//! validity period; a certificate that fails is refused before any HTTP is spoken. The
//! SHA-256 fingerprint of an accepted certificate travels with each request as a
//! [`ClientCertificate`] extension, and the gateway's party directory maps fingerprints to
//! parties.
//!
//! Time limits: a handshake gets [`Timeouts::handshake`], a request's headers
//! [`Timeouts::headers`] (then the connection is closed), a whole request, body included,
//! the API's request timeout (answered 408 by the router's middleware). On shutdown the
//! listener stops accepting, each connection finishes the request it is serving and
//! closes, and `serve` returns once all are closed (or `Timeouts::drain` has passed), so
//! the store can be closed after it with no request still using it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openssl::hash::MessageDigest;
use openssl::ssl::{Ssl, SslContext};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;
use tower::ServiceExt;

/// The SHA-256 fingerprint (upper-case hex) of the client certificate of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub String);

/// How long each stage of a connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The TLS handshake.
    pub handshake: Duration,
    /// A request's headers, from the first byte (or the previous response) on.
    pub headers: Duration,
    /// Open connections finishing their requests at shutdown.
    pub drain: Duration,
}

impl Timeouts {
    /// The limits for a request timeout of `request`: headers and drain get as long as a
    /// request, a handshake at most ten seconds.
    pub fn for_request(request: Duration) -> Timeouts {
        Timeouts { handshake: request.min(Duration::from_secs(10)), headers: request, drain: request }
    }
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Option<SslContext>,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let tls = tls.map(Arc::new);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!("accepting a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
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
        let watcher = graceful.watcher();
        let (tls, app) = (tls.clone(), app.clone());
        tokio::spawn(async move {
            let (io, certificate): (Box<dyn Io>, _) = match tls {
                None => (Box::new(tcp), None),
                Some(context) => match tokio::time::timeout(timeouts.handshake, handshake(&context, tcp)).await {
                    Ok(Ok((stream, certificate))) => (Box::new(stream), certificate),
                    Ok(Err(error)) => {
                        tracing::info!(%peer, "TLS handshake refused: {error}");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            let service = app.map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                if let Some(certificate) = &certificate {
                    request.extensions_mut().insert(certificate.clone());
                }
                request
            });
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.headers);
            let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, "connection: {error}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(timeouts.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open {} s after shutdown: closing them", timeouts.drain.as_secs());
    }
}

/// A connection's byte stream, plain or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// The server side of a TLS handshake, and the client certificate it verified.
async fn handshake(
    context: &SslContext,
    tcp: TcpStream,
) -> Result<(SslStream<TcpStream>, Option<ClientCertificate>), String> {
    let ssl = Ssl::new(context).map_err(|e| e.to_string())?;
    let mut stream = SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    Pin::new(&mut stream).accept().await.map_err(|e| e.to_string())?;
    let certificate = stream
        .ssl()
        .peer_certificate()
        .and_then(|c| c.digest(MessageDigest::sha256()).ok())
        .map(|digest| ClientCertificate(digest.iter().map(|b| format!("{b:02X}")).collect()));
    Ok((stream, certificate))
}
