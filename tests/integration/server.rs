//! The server under the API keeps its time limits and its shutdown promise, over plain
//! HTTP and over TLS with certificates made here: a request whose body dawdles is answered
//! 408 and nothing is stored, headers that never end and a handshake that never starts
//! lose their connection, and a shutdown lets the request under way finish before `serve`
//! returns (and the store is closed).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use raccordo::api;
use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::simulate::generate::Generator;
use raccordo::store::{ListFilter, Store};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "server-test-token-0123";

struct Served {
    state: Arc<Gateway>,
    address: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A gateway with one sending party, a request timeout of one second, over TLS when `tls`.
async fn start(tls: bool) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let tls_section = if tls {
        let now = chrono::Utc::now().timestamp();
        let ca = raccordo::pki::issue("test CA", None, now - 60, now + 86_400, raccordo::pki::Usage::Ca).unwrap();
        let server =
            raccordo::pki::issue("127.0.0.1", Some(&ca), now - 60, now + 86_400, raccordo::pki::Usage::Server).unwrap();
        let (certificate, key) = server.write(dir.path(), "server").unwrap();
        format!("[tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n\n", certificate.display(), key.display())
    } else {
        String::new()
    };
    let text = format!(
        "{tls_section}[storage]\nurl = \"sqlite://{}/raccordo.db\"\n[limits]\nrequest_timeout_secs = 1\n\n\
         [[parties]]\nid = \"sender\"\nkind = \"cpi\"\ncode = \"S1\"\nname = \"S\"\nsends = {{ profiles = [\"canonical\"] }}\n\
         auth = {{ tokens = [\"{TOKEN}\"] }}\n",
        dir.path().display()
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "server.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(api::serve(listener, Arc::clone(&state), async {
        let _ = stopped.await;
    }));
    let serving = tokio::spawn(async move { serving.await.unwrap().unwrap() });
    Served { state, address, stop, serving, _dir: dir }
}

fn message() -> String {
    let mut message = Generator::new(3).message("worker.registered").unwrap();
    message["source"] = json!("urn:raccordo:cpi:S1");
    message.to_string()
}

fn head(length: usize) -> String {
    format!(
        "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Everything the server sends until it closes the connection (or 10 s pass).
async fn read_all(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status and JSON body of a raw HTTP/1.1 response.
fn parse(response: &str) -> (u16, Value) {
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    // A chunked body: the JSON is between the first chunk size and the closing chunk.
    let json = body.find('{').zip(body.rfind('}')).map_or("", |(a, b)| &body[a..=b]);
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

async fn tls_connect(address: std::net::SocketAddr) -> tokio_openssl::SslStream<TcpStream> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.set_verify(SslVerifyMode::NONE);
    let ssl = builder.build().configure().unwrap().into_ssl("127.0.0.1").unwrap();
    let mut stream = tokio_openssl::SslStream::new(ssl, TcpStream::connect(address).await.unwrap()).unwrap();
    std::pin::Pin::new(&mut stream).connect().await.unwrap();
    stream
}

async fn stored(state: &Gateway) -> usize {
    let filter = ListFilter { limit: 100, ..ListFilter::default() };
    state.store.list(&filter).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_dawdles_is_answered_408_and_nothing_is_stored() {
    let served = start(false).await;
    let body = message();
    let mut stream = TcpStream::connect(served.address).await.unwrap();
    stream.write_all(head(body.len()).as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..20]).await.unwrap();
    let started = Instant::now();
    let (status, problem) = parse(&read_all(&mut stream).await);
    assert_eq!(status, 408, "{problem}");
    assert_eq!(problem["code"], "RAC-8009");
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
    assert_eq!(stored(&served.state).await, 0);
    // The same message, sent at once, is taken.
    let mut stream = TcpStream::connect(served.address).await.unwrap();
    stream.write_all(format!("{}{body}", head(body.len())).as_bytes()).await.unwrap();
    let mut response = vec![0; 4096];
    let read = stream.read(&mut response).await.unwrap();
    assert!(String::from_utf8_lossy(&response[..read]).starts_with("HTTP/1.1 202"));
    assert_eq!(stored(&served.state).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_and_silent_handshakes_lose_their_connection() {
    let plain = start(false).await;
    let mut stream = TcpStream::connect(plain.address).await.unwrap();
    stream.write_all(b"POST /v1/messages HTTP/1.1\r\nHost: 127.").await.unwrap();
    let started = Instant::now();
    read_all(&mut stream).await;
    assert!(started.elapsed() < Duration::from_secs(5), "headers waited for {:?}", started.elapsed());

    let tls = start(true).await;
    let mut silent = TcpStream::connect(tls.address).await.unwrap();
    let started = Instant::now();
    let answered = read_all(&mut silent).await;
    assert!(answered.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5), "the handshake waited for {:?}", started.elapsed());
    // A client that does shake hands is served.
    let mut stream = tls_connect(tls.address).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    assert!(read_all(&mut stream).await.starts_with("HTTP/1.1 200"));
}

/// Starts a request, stops the server while its body is half sent, then sends the rest:
/// the request is answered, `serve` returns only after that, and no new connection is
/// taken meanwhile.
async fn shutdown_drains<S: AsyncRead + AsyncWrite + Unpin>(served: Served, mut stream: S) {
    let body = message();
    stream.write_all(head(body.len()).as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    served.stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!served.serving.is_finished(), "serve returned with a request under way");
    assert!(TcpStream::connect(served.address).await.is_err(), "a new connection was taken after the shutdown began");
    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let (status, answer) = parse(&read_all(&mut stream).await);
    assert_eq!(status, 202, "{answer}");
    tokio::time::timeout(Duration::from_secs(5), served.serving).await.unwrap().unwrap();
    // Drained, so closing the store now leaves no request without it.
    assert_eq!(stored(&served.state).await, 1);
    served.state.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_over_tls_lets_the_request_under_way_finish() {
    let served = start(true).await;
    let stream = tls_connect(served.address).await;
    shutdown_drains(served, stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_over_plain_http_lets_the_request_under_way_finish() {
    let served = start(false).await;
    let stream = TcpStream::connect(served.address).await.unwrap();
    shutdown_drains(served, stream).await;
}
