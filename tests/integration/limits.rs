//! A flood from one party is refused with 429 and Retry-After while another party's
//! messages keep being accepted, over HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use raccordo::api;
use raccordo::assets::Assets;
use raccordo::config::Config;
use raccordo::gateway::Gateway;
use raccordo::ingest::Catalog;
use raccordo::simulate::generate::Generator;
use raccordo::store::Store;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_party_is_limited_and_another_party_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[storage]\nurl = \"sqlite://{}/raccordo.db\"\n[limits]\nparty_requests_per_second = 1000\n\n\
         [[parties]]\nid = \"flooder\"\nkind = \"cpi\"\ncode = \"FLOOD\"\nname = \"F\"\nsends = {{ profiles = [\"canonical\"] }}\n\
         auth = {{ tokens = [\"flooder-token-0123456789\"] }}\nlimits = {{ requests_per_second = 5, burst = 5 }}\n\n\
         [[parties]]\nid = \"steady\"\nkind = \"cpi\"\ncode = \"STEADY\"\nname = \"S\"\nsends = {{ profiles = [\"canonical\"] }}\n\
         auth = {{ tokens = [\"steady-token-01234567890\"] }}\n",
        dir.path().display()
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "limits.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, state, std::future::pending()));

    let client = reqwest::Client::new();
    let mut generator = Generator::new(8);
    let mut message = |source: &str, n: usize| {
        let mut message = generator.message("worker.registered").unwrap();
        message["source"] = json!(source);
        message["id"] = json!(format!("{source}-{n}"));
        message.to_string()
    };
    let flood: Vec<String> = (0..60).map(|n| message("urn:raccordo:cpi:FLOOD", n)).collect();
    let steady: Vec<String> = (0..10).map(|n| message("urn:raccordo:cpi:STEADY", n)).collect();
    let send = |body: String, token: &'static str| {
        let request = client.post(&url).bearer_auth(token).header("content-type", "application/json").body(body);
        async move { request.send().await.unwrap() }
    };
    let flooding = futures_all(flood.into_iter().map(|body| send(body, "flooder-token-0123456789")).collect());
    let steadily = async {
        let mut statuses = Vec::new();
        for body in steady {
            statuses.push(send(body, "steady-token-01234567890").await.status().as_u16());
        }
        statuses
    };
    let started = std::time::Instant::now();
    let (flooded, steady) = tokio::join!(flooding, steadily);
    // The burst, and what the rate refills while the flood lasts.
    let most = 5 + (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    assert_eq!(steady, vec![202; 10], "the steady party was held back by the flood");
    let accepted = flooded.iter().filter(|r| r.status() == 202).count();
    let limited: Vec<_> = flooded.iter().filter(|r| r.status() == 429).collect();
    assert!((5..=most).contains(&accepted), "{accepted} of the flood accepted, at most {most} allowed");
    assert!(accepted < 30, "the flood was hardly limited");
    assert_eq!(accepted + limited.len(), 60);
    let retry: u64 = limited[0].headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let problem: Value = flooded.into_iter().find(|r| r.status() == 429).unwrap().json().await.unwrap();
    assert_eq!(problem["code"], "RAC-8008");
}

/// Runs every future at once and collects their outputs in order.
async fn futures_all<F: std::future::Future<Output = reqwest::Response> + Send + 'static>(
    futures: Vec<F>,
) -> Vec<reqwest::Response> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_depth_and_element_limits_come_from_the_configuration() {
    let xml = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("conformance/profiles/cpi-unilav/employment.started/valid/extra-ue-live-in-open-ended.xml"),
    )
    .unwrap();
    for (limit, code) in [("max_xml_depth = 3", "RAC-1004"), ("max_xml_elements = 10", "RAC-1014"), ("", "")] {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[storage]\nurl = \"sqlite://{}/raccordo.db\"\n[limits]\n{limit}\n\
             [[parties]]\nid = \"cpi\"\nkind = \"cpi\"\ncode = \"CR01\"\nname = \"CPI\"\nsends = {{ profiles = [\"cpi-unilav\"] }}\n\
             auth = {{ tokens = [\"cpi-token-012345678901\"] }}\n",
            dir.path().display()
        );
        let catalog = Catalog::load(&Assets::Embedded).unwrap();
        let config = Config::parse(&text, "limits.toml", &catalog).unwrap();
        let store = Store::open(&config.storage_url()).await.unwrap();
        let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/validate", listener.local_addr().unwrap());
        tokio::spawn(api::serve(listener, state, std::future::pending()));
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth("cpi-token-012345678901")
            .header("content-type", "application/xml")
            .header("raccordo-profile", "cpi-unilav")
            .body(xml.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if code.is_empty() {
            assert_eq!(status, 200, "{body}");
        } else {
            assert_eq!(body["errors"][0]["code"], code, "{limit}: {body}");
        }
    }
}
