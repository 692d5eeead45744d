//! Least data: for each example party of the bundled configuration, exactly which fields
//! of each message type routed to it leave the gateway (after its routes' projections).
//! The snapshot below is the answer; `UPDATE_EXPECT=1` rewrites it after a deliberate change.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::collections::BTreeSet;

use expect_test::expect;
use raccordo::assets::Assets;
use raccordo::config::{Config, EXAMPLE};
use raccordo::ingest::Catalog;
use raccordo::routing::{project, Routes};
use raccordo::simulate::generate::{Generator, TYPES};
use serde_json::Value;

/// The leaf pointers under `/data`, array indexes as `*`.
fn leaves(value: &Value, at: String, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                leaves(value, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => items.iter().for_each(|item| leaves(item, format!("{at}/*"), out)),
        _ => {
            out.insert(at);
        }
    }
}

#[test]
fn each_example_party_receives_only_its_projection() {
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(EXAMPLE, "example.toml", &catalog).unwrap();
    let mut generator = Generator::new(1);
    let mut report = String::new();
    let routes = Routes::compile(&config);
    for party in config.parties.iter().filter(|p| p.receives.is_some()) {
        for (message_type, _) in TYPES {
            let routed =
                config.routes.iter().any(|r| r.types.iter().any(|t| t == message_type) && r.to.contains(&party.id));
            if !routed {
                continue;
            }
            // The generator fills optional fields too, so every field a type can carry shows.
            let mut all = BTreeSet::new();
            let mut sent = BTreeSet::new();
            for _ in 0..20 {
                let message = generator.message(message_type).unwrap();
                leaves(&message["data"], "/data".into(), &mut all);
                let leaving = match routes.projection(&party.id, message_type) {
                    Some(fields) => project(&message, fields),
                    None => message,
                };
                leaves(&leaving["data"], "/data".into(), &mut sent);
            }
            let withheld: Vec<&String> = all.difference(&sent).collect();
            if withheld.is_empty() {
                report.push_str(&format!("{} {message_type}: every field\n", party.id));
            } else {
                report.push_str(&format!(
                    "{} {message_type}: {}\n",
                    party.id,
                    sent.iter().cloned().collect::<Vec<_>>().join(" ")
                ));
                report.push_str(&format!(
                    "  withheld: {}\n",
                    withheld.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
                ));
            }
        }
    }
    expect![[r#"
        cpi-cremona vacancy.published: every field
        cpi-cremona vacancy.closed: every field
        cpi-cremona employment.started: every field
        cpi-cremona employment.changed: every field
        cpi-cremona employment.ended: every field
        cpi-cremona permit.status: every field
        cpi-cremona subsidy.granted: every field
        cpi-cremona subsidy.revoked: every field
        cpi-cremona care.monitoring.recorded: every field
        social-cremona worker.registered: every field
        social-cremona worker.updated: every field
        social-cremona worker.withdrawn: every field
        social-cremona match.proposed: every field
        social-cremona match.outcome: every field
        social-cremona employment.started: /data/contract/board/lodging /data/contract/board/meals /data/contract/ccnlLevel /data/contract/contractType /data/contract/endDate /data/contract/liveIn /data/contract/occupation /data/contract/pay/amount /data/contract/pay/period /data/contract/startDate /data/contract/weeklyHours /data/contract/workplace/cap /data/contract/workplace/comune /data/contract/workplace/street /data/employer/birthDate /data/employer/birthPlace/comune /data/employer/birthPlace/state /data/employer/citizenship /data/employer/codiceFiscale /data/employer/familyName /data/employer/givenName /data/employer/sex /data/employerResidence/cap /data/employerResidence/comune /data/employerResidence/street /data/inpsRelationshipCode /data/worker/birthDate /data/worker/birthPlace/comune /data/worker/birthPlace/state /data/worker/citizenship /data/worker/codiceFiscale /data/worker/familyName /data/worker/givenName /data/worker/sex
          withheld: /data/inpsCommunicationCode /data/notifiedOn /data/residencePermit/documentType /data/residencePermit/expiresOn /data/residencePermit/issuedOn /data/residencePermit/number /data/residencePermit/questura /data/residencePermit/reason /data/workerResidence/cap /data/workerResidence/comune /data/workerResidence/street
        social-cremona permit.status: every field
        sui-cremona employment.started: /data/contract/endDate /data/contract/startDate /data/employer/codiceFiscale /data/inpsRelationshipCode /data/residencePermit/documentType /data/residencePermit/expiresOn /data/residencePermit/issuedOn /data/residencePermit/number /data/residencePermit/questura /data/residencePermit/reason /data/worker/birthDate /data/worker/birthPlace/comune /data/worker/birthPlace/state /data/worker/citizenship /data/worker/codiceFiscale /data/worker/familyName /data/worker/givenName /data/worker/sex
          withheld: /data/contract/board/lodging /data/contract/board/meals /data/contract/ccnlLevel /data/contract/contractType /data/contract/liveIn /data/contract/occupation /data/contract/pay/amount /data/contract/pay/period /data/contract/weeklyHours /data/contract/workplace/cap /data/contract/workplace/comune /data/contract/workplace/street /data/employer/birthDate /data/employer/birthPlace/comune /data/employer/birthPlace/state /data/employer/citizenship /data/employer/familyName /data/employer/givenName /data/employer/sex /data/employerResidence/cap /data/employerResidence/comune /data/employerResidence/street /data/inpsCommunicationCode /data/notifiedOn /data/workerResidence/cap /data/workerResidence/comune /data/workerResidence/street
        sui-cremona permit.verification.requested: every field
        social-crema vacancy.published: every field
        social-crema vacancy.closed: every field
        cpi-crema employment.started: every field
        cpi-crema employment.changed: every field
        cpi-crema employment.ended: every field
        sil-lombardia worker.registered: every field
        sil-lombardia worker.updated: every field
        siuss-cremona subsidy.granted: every field
    "#]].assert_eq(&report);
}

/// The deliverer applies the projection: the recipient gets only the fields its route grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_carry_only_the_projected_fields() {
    use axum::body::Bytes;
    use axum::routing::post;
    use raccordo::delivery::Deliverer;
    use raccordo::gateway::Gateway;

    use raccordo::store::Store;
    use std::sync::{Arc, Mutex};

    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/in",
        post(move |body: Bytes| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[storage]\nurl = \"sqlite://{}/raccordo.db\"\n[delivery]\npoll_interval_ms = 20\n\
         [[parties]]\nid = \"inps\"\nkind = \"inps\"\ncode = \"INPS\"\nname = \"INPS\"\nsends = {{ profiles = [\"canonical\"] }}\n\
         [[parties]]\nid = \"sui\"\nkind = \"sui\"\ncode = \"SUI\"\nname = \"SUI\"\nreceives = {{ profile = \"canonical\", endpoint = \"{url}\" }}\n\
         [[routes]]\ntypes = [\"employment.started\"]\nto = [\"sui\"]\nfields = [\"/data/worker\", \"/data/employer/codiceFiscale\", \"/data/contract/startDate\"]\n",
        dir.path().display()
    );
    let catalog = Catalog::load(&Assets::Embedded).unwrap();
    let config = Config::parse(&text, "projection.toml", &catalog).unwrap();
    let store = Store::open(&config.storage_url()).await.unwrap();
    let state = Gateway::new(catalog, config, store, "urn:raccordo:gateway:test").unwrap();
    let sender = Arc::clone(state.parties.iter().next().unwrap());
    let intake = state.intake();
    let mut message = Generator::new(2).message("employment.started").unwrap();
    message["source"] = serde_json::json!(sender.urn);
    intake.receive(&sender, "canonical", message.to_string().as_bytes(), false).await.unwrap();
    let deliverer = Arc::new(Deliverer::new(Arc::clone(&state), "test".into()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(Arc::clone(&deliverer).run(stopped));
    let start = std::time::Instant::now();
    while received.lock().unwrap().is_empty() {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "nothing was delivered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    worker.await.unwrap();
    let delivered = received.lock().unwrap()[0].clone();
    let mut sent = BTreeSet::new();
    leaves(&delivered["data"], "/data".into(), &mut sent);
    assert!(
        sent.iter().all(|p| p.starts_with("/data/worker/")
            || p == "/data/employer/codiceFiscale"
            || p == "/data/contract/startDate"),
        "{sent:?}"
    );
    assert!(sent.contains("/data/worker/codiceFiscale") && sent.contains("/data/contract/startDate"));
    assert_eq!(delivered["id"], message["id"], "the envelope goes whole");
    assert!(delivered["data"]["contract"]["pay"].is_null());
}
