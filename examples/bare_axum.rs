//! The ceiling for the intake benchmark: an axum server that answers every POST with a
//! small 202 JSON body and does nothing else. benches/load.sh runs it beside `raccordo
//! serve` with the same load generator, so the two figures come from one run.

use axum::routing::post;
use axum::Router;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8479".to_owned());
    let app = Router::new().route(
        "/v1/messages",
        post(|_body: axum::body::Bytes| async { (axum::http::StatusCode::ACCEPTED, "{\"status\":\"accepted\"}") }),
    );
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
