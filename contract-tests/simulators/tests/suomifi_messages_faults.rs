//! Fault injection in the Suomi.fi Messages simulator, and HTTPS.

mod common;

use common::*;
use portti_simulators::suomifi_messages::{Config, Fault, LoggedRequest, SendCount, TlsFiles};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn status_faults_hit_the_next_n_requests_of_a_path_prefix() {
    let sim = Sim::start().await;
    let control = sim.running.control();
    let token = sim.token().await;
    control.inject(Fault::status(503).on_path("/v2/messages").times(2));
    let request = electronic_message("s-1", WITH_MAILBOX);
    for _ in 0..2 {
        // Another path is untouched.
        assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);
        let response = sim.post("/v2/messages/electronic", &token, &request).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({ "reason": "Service Unavailable" })
        );
    }
    assert!(control.faults().is_empty());
    assert_eq!(
        sim.post("/v2/messages/electronic", &token, &request).await.status(),
        StatusCode::OK
    );
    assert_eq!(control.messages().len(), 1, "a faulted request is not processed");

    for status in [500, 502] {
        control.inject(Fault::status(status).times(1));
        assert_eq!(sim.get("/v2/events", &token).await.status().as_u16(), status);
    }
    let statuses: Vec<Option<u16>> = control.request_log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 503, 200, 503, 200, 500, 502].map(Some)); // the first is /v1/token
}

#[tokio::test]
async fn fraction_faults_fire_for_that_share_of_requests() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    sim.running.control().inject(Fault::status(500).fraction(0.5));
    let mut failed = 0;
    for _ in 0..10 {
        if sim.get("/v2/events", &token).await.status() == StatusCode::INTERNAL_SERVER_ERROR {
            failed += 1;
        }
    }
    assert_eq!(failed, 5);
    sim.running.control().clear_faults();
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    sim.running.control().inject(Fault::too_many_requests(7).times(1));
    let response = sim.get("/v2/events", &token).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    assert!(response.json::<Value>().await.unwrap()["reason"].is_string());
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unauthorized_fault_revokes_the_token_so_the_client_must_fetch_a_new_one() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    sim.running.control().inject(Fault::unauthorized().times(1));
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        sim.get("/v2/events", &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the token stays revoked"
    );
    let fresh = sim.token().await;
    assert_eq!(sim.get("/v2/events", &fresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn dropped_connection_gives_no_response() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    sim.running
        .control()
        .inject(Fault::drop_connection().on_path("/v2/events").times(1));
    let result = sim.http.get(sim.url("/v2/events")).bearer_auth(&token).send().await;
    let error = result.expect_err("no response expected");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);
    let log = sim.running.control().request_log();
    assert_eq!(
        log[log.len() - 2],
        LoggedRequest {
            method: "GET".into(),
            path: "/v2/events".into(),
            status: None
        }
    );
}

#[tokio::test]
async fn malformed_json_body() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    sim.running.control().inject(Fault::malformed_json().times(1));
    let response = sim.get("/v2/events", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.json::<Value>().await.is_err());
}

#[tokio::test]
async fn latency_delays_but_answers() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    sim.running
        .control()
        .inject(Fault::latency(Duration::from_millis(300)).times(1));
    let started = Instant::now();
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_lost_response_after_processing_then_a_retry_gets_409_with_the_same_id() {
    let sim = Sim::start().await;
    let control = sim.running.control();
    let token = sim.token().await;
    let request = electronic_message("lost-1", WITH_MAILBOX);
    for fault in [Fault::status(502), Fault::drop_connection(), Fault::malformed_json()] {
        control.inject(fault.on_path("/v2/messages/electronic").times(1).after_processing());
        let _ = sim
            .http
            .post(sim.url("/v2/messages/electronic"))
            .bearer_auth(&token)
            .json(&request)
            .send()
            .await;
    }
    assert_eq!(control.messages().len(), 1, "the first attempt was processed");
    let response = sim.post("/v2/messages/electronic", &token, &request).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        response.json::<Value>().await.unwrap()["messageId"],
        control.messages()[0].message_id
    );
    assert_eq!(
        control.count_sends_by_external_id()["lost-1"],
        SendCount {
            created: 1,
            duplicates: 3
        }
    );
}

#[tokio::test]
async fn faults_over_the_control_endpoint() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let inject = |fault: Value| sim.http.post(sim.url("/_simulator/faults")).json(&fault).send();
    let response = inject(json!({ "kind": "status", "status": 503, "pathPrefix": "/v2/events", "count": 1 })).await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    let response = inject(json!({ "kind": "tooManyRequests", "retryAfterSeconds": 3, "count": 1 })).await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(
        inject(json!({ "kind": "status", "status": 200 }))
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        inject(json!({ "kind": "explode" })).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let listed: Value = sim
        .http
        .get(sim.url("/_simulator/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["kind"], "status");
    assert_eq!(
        sim.get("/v2/events", &token).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        sim.get("/v2/events", &token).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);

    inject(json!({ "kind": "dropConnection" })).await.unwrap();
    assert!(sim
        .http
        .get(sim.url("/v2/events"))
        .bearer_auth(&token)
        .send()
        .await
        .is_err());
    let cleared = sim.http.delete(sim.url("/_simulator/faults")).send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);

    let expire = sim
        .http
        .post(sim.url("/_simulator/tokens/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(expire.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::UNAUTHORIZED);

    let log: Value = sim
        .http
        .get(sim.url("/_simulator/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<Value> = log.as_array().unwrap().iter().map(|r| r["status"].clone()).collect();
    assert_eq!(
        statuses,
        [
            json!(200),
            json!(503),
            json!(429),
            json!(200),
            Value::Null,
            json!(200),
            json!(401)
        ]
    );
}

#[tokio::test]
async fn https_with_the_demo_certificate() {
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example");
    let mut config = Config::sandbox();
    config.tls = Some(TlsFiles {
        cert_pem: certs.join("simulator.pem"),
        key_pem: certs.join("simulator.key"),
    });
    let running = portti_simulators::suomifi_messages::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    assert!(running.base_url().starts_with("https://127.0.0.1:"));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(certs.join("demo-ca.pem")).unwrap()).unwrap();
    let http = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let sim = Sim {
        base: running.base_url(),
        running,
        http,
    };
    let token = sim.token().await;
    let response = sim
        .post(
            "/v2/messages/electronic",
            &token,
            &electronic_message("tls-1", WITH_MAILBOX),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Dropping a connection works over TLS too.
    sim.running.control().inject(Fault::drop_connection().times(1));
    assert!(sim
        .http
        .get(sim.url("/v2/events"))
        .bearer_auth(&token)
        .send()
        .await
        .is_err());

    // A client that does not trust the demo CA cannot connect.
    let untrusting = reqwest::Client::new();
    assert!(untrusting.get(sim.url("/v2/events")).send().await.is_err());
}
