//! Fault injection in the Kanta simulator: every kind, `count`, `interaction`, `when`, the JSON endpoint.

mod kanta_support;

use kanta_support::*;
use portti_simulators::kanta::{Fault, Malformed};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn status_faults_hit_the_next_n_requests_and_are_not_processed() {
    let sim = Sim::start().await;
    let control = sim.control();
    control.inject(Fault::status(500).times(1));
    control.inject(Fault::status(502).times(1));
    let doc = Doc::new(1);
    for expected in [500, 502] {
        let (status, _) = sim.post(doc.archive_message()).await;
        assert_eq!(status.as_u16(), expected);
    }
    assert!(control.documents().is_empty(), "a faulted request is not processed");
    assert_eq!(control.archive_count(&doc.oid), 0);

    control.inject(Fault::unavailable(3).times(1));
    control.inject(Fault::too_many_requests(7).times(1));
    for (status, retry_after) in [(503, "3"), (429, "7")] {
        let response = sim
            .http
            .post(sim.running.endpoint())
            .header("Content-Type", "text/xml")
            .body(doc.archive_message())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["retry-after"], retry_after);
    }
    assert!(control.faults().is_empty());
    sim.archive_ok(&doc).await;
    let log = control.request_log();
    let statuses: Vec<Option<u16>> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 502, 503, 429, 200].map(Some));
    assert_eq!(log[0].fault.as_deref(), Some("status"));
    assert_eq!(
        log[0].document_oid.as_deref(),
        Some(doc.oid.as_str()),
        "logged even when faulted"
    );
    assert_eq!(log[4].fault, None);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let sim = Sim::start().await;
    sim.control()
        .inject(Fault::latency(Duration::from_millis(300)).times(1));
    let started = Instant::now();
    sim.archive_ok(&Doc::new(1)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.control().request_log()[0].fault.as_deref(), Some("latency"));
}

#[tokio::test]
async fn a_dropped_connection_before_or_after_processing() {
    let sim = Sim::start().await;
    let control = sim.control();
    let doc = Doc::new(1);
    control.inject(Fault::drop_connection().times(1));
    let sent = sim
        .http
        .post(sim.running.endpoint())
        .header("Content-Type", "text/xml")
        .body(doc.archive_message())
        .send()
        .await;
    assert!(sent.is_err());
    assert!(control.documents().is_empty());

    // After processing: the document IS archived, the answer is lost; the retry finds it identical.
    control.inject(Fault::drop_connection().after_processing().times(1));
    let sent = sim
        .http
        .post(sim.running.endpoint())
        .header("Content-Type", "text/xml")
        .body(doc.archive_message())
        .send()
        .await;
    assert!(sent.is_err());
    assert_eq!(control.documents().len(), 1);
    sim.ack(doc.archive_message())
        .await
        .expect("AA", "DOCUMENT_EXISTS_IDENTICAL");
    assert_eq!(control.archive_count(&doc.oid), 2);
    let log = control.request_log();
    assert_eq!(log[0].status, None);
    assert_eq!(log[1].status, None);
    assert_eq!(log[1].fault.as_deref(), Some("dropConnection"));
}

#[tokio::test]
async fn malformed_replies() {
    let sim = Sim::start().await;
    let control = sim.control();
    let doc = Doc::new(1);

    control.inject(Fault::malformed(Malformed::Truncated).times(1));
    let (status, body) = sim.post(doc.archive_message()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with("<?xml") && !body.contains("</MCCI_IN000002UV01>"),
        "{body}"
    );
    assert!(control.documents().is_empty());

    control.inject(Fault::malformed(Malformed::NotXml).times(1));
    let (status, body) = sim.post(doc.archive_message()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains('<'), "{body}");

    control.inject(Fault::malformed(Malformed::WrongRoot).times(1));
    let (status, body) = sim.post(doc.archive_message()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("soap:Envelope") && !body.contains("MCCI_IN000002UV01"),
        "{body}"
    );
    assert!(control.documents().is_empty());

    // After processing, the real acknowledgement is cut.
    control.inject(Fault::malformed(Malformed::Truncated).after_processing().times(1));
    let (status, body) = sim.post(doc.archive_message()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<MCCI_IN000002UV01") && !body.contains("</MCCI_IN000002UV01>"));
    assert_eq!(control.documents().len(), 1);
}

#[tokio::test]
async fn acknowledgement_faults_busy_and_unknown_code() {
    let sim = Sim::start().await;
    let control = sim.control();
    let doc = Doc::new(1);
    let id = message_id();
    control.inject(Fault::service_busy().times(1));
    let ack = sim
        .ack(message_with_id(
            ARCHIVE,
            &doc.sender(),
            &doc.document_element(&doc.cda()),
            &id,
        ))
        .await;
    ack.expect("AR", "SERVICE_BUSY");
    assert_eq!(ack.target, id, "a well-formed acknowledgement of this request");

    control.inject(Fault::unknown_code().times(1));
    let ack = sim.ack(doc.archive_message()).await;
    ack.expect("AE", "SIMULATED_UNKNOWN_CODE");
    assert!(control.documents().is_empty());

    control.inject(Fault::ack("AR", Some("TEMPORARY_FAILURE")).times(1));
    sim.ack(doc.archive_message()).await.expect("AR", "TEMPORARY_FAILURE");
    sim.archive_ok(&doc).await;
    let log = control.request_log();
    assert_eq!(log[0].ack.as_deref(), Some("AR"));
    assert_eq!(log[0].details, ["SERVICE_BUSY"]);
    assert_eq!(log[0].fault.as_deref(), Some("ack"));
}

#[tokio::test]
async fn wrong_target_before_and_after_processing() {
    let sim = Sim::start().await;
    let control = sim.control();
    let doc = Doc::new(1);
    let id = message_id();
    let body = message_with_id(ARCHIVE, &doc.sender(), &doc.document_element(&doc.cda()), &id);
    control.inject(Fault::wrong_target().times(1));
    let ack = sim.ack(body.clone()).await;
    assert_eq!(ack.type_code, "AA");
    assert_ne!(ack.target, id);
    assert!(control.documents().is_empty());

    control.inject(Fault::wrong_target().after_processing().times(1));
    let ack = sim.ack(body.clone()).await;
    assert_eq!(ack.type_code, "AA");
    assert_ne!(ack.target, id);
    assert_eq!(control.documents().len(), 1);
    let ack = sim.ack(body).await;
    assert_eq!(ack.target, id);
    ack.expect("AA", "DOCUMENT_EXISTS_IDENTICAL");
}

#[tokio::test]
async fn tls_failures_for_the_next_connections() {
    let sim = Sim::start().await;
    let control = sim.control();
    control.inject(Fault::tls_failure().times(2));
    let url = sim.url("/_simulator/documents");
    for _ in 0..2 {
        // A new client each time: a new connection, a new handshake.
        assert!(client_with(Some("portti-outbound")).get(&url).send().await.is_err());
    }
    assert!(control.faults().is_empty());
    let ok = client_with(Some("portti-outbound")).get(&url).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(control.request_log().is_empty(), "no request reached the service");
}

#[tokio::test]
async fn faults_for_one_interaction_only() {
    let sim = Sim::start().await;
    let control = sim.control();
    control.inject(Fault::service_busy().on_interaction(SEARCH));
    let doc = Doc::new(1);
    sim.archive_ok(&doc).await;
    sim.ack(search_message(&doc.sender(), PERSON))
        .await
        .expect("AR", "SERVICE_BUSY");
    sim.ack(search_message(&doc.sender(), PERSON))
        .await
        .expect("AR", "SERVICE_BUSY");
    let ack = sim.ack(fetch_message(&doc.sender(), &doc.oid)).await;
    assert_eq!(ack.type_code, "AA");
    assert_eq!(control.faults().len(), 1, "without a count it stays");
    control.clear_faults();
    assert_eq!(sim.ack(search_message(&doc.sender(), PERSON)).await.type_code, "AA");
}

#[tokio::test]
async fn fault_control_endpoint_speaks_json() {
    let sim = Sim::start().await;
    let faults = sim.url("/_simulator/faults");
    let injected = sim
        .http
        .post(&faults)
        .json(&json!({"kind": "ack", "typeCode": "AR", "code": "SERVICE_BUSY", "interaction": ARCHIVE, "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::NO_CONTENT);
    for bad in [
        json!({"kind": "status", "status": 200}),
        json!({"kind": "nonsense"}),
        json!({"kind": "tlsFailure", "interaction": ARCHIVE}),
    ] {
        let response = sim.http.post(&faults).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let listed: Value = sim.http.get(&faults).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        listed,
        json!([{"kind": "ack", "typeCode": "AR", "code": "SERVICE_BUSY", "interaction": ARCHIVE, "count": 1, "when": "before"}])
    );
    let doc = Doc::new(1);
    sim.ack(doc.archive_message()).await.expect("AR", "SERVICE_BUSY");
    sim.http
        .post(&faults)
        .json(&json!({"kind": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.post(doc.archive_message()).await.0, StatusCode::SERVICE_UNAVAILABLE);
    // Control endpoints are never faulted.
    let cleared = sim.http.delete(&faults).send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    sim.archive_ok(&doc).await;
}
