//! `POST /v1/cases/{id}/transfers`: who reads a case before and after it is handed to another
//! organisation, the audit of it, and the signed webhook to the receiver, retried by the broker.

use hmac::{Hmac, Mac};
use portti::auth::{sandbox, Scope};
use portti_contract_tests::{fast_broker, run_gateway, sandbox_config};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Running {
    base: String,
    key: sandbox::SigningKey,
    issuer: String,
    audience: String,
    _data: tempfile::TempDir,
}

async fn start(adjust: impl FnOnce(&mut portti::config::Config, &std::path::Path)) -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(data.path());
    fast_broker(&mut config);
    adjust(&mut config, data.path());
    let key = sandbox::SigningKey::load_or_create(data.path()).unwrap();
    let (issuer, audience) = (config.auth.issuer.clone(), config.auth.audience.clone());
    let (addr, ()) = run_gateway(config, |_| ()).await;
    Running {
        base: format!("http://{addr}"),
        key,
        issuer,
        audience,
        _data: data,
    }
}

impl Running {
    fn token(&self, org: &str) -> String {
        let scopes = [
            Scope::CasesRead,
            Scope::CasesWrite,
            Scope::AuditRead,
            Scope::ExchangesRead,
        ];
        sandbox::mint(
            &self.key,
            &self.issuer,
            &self.audience,
            &format!("client-{org}"),
            &scopes,
            &[org.to_string()],
            600,
        )
        .unwrap()
    }

    async fn get(&self, org: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token(org))
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or_default())
    }

    async fn post(&self, org: &str, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(org))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// A case organised by Kaarina (202), handled by the central service (853).
    async fn case(&self) -> String {
        let (status, case) = self
            .post(
                "853",
                "/v1/cases",
                json!({ "organiser": "202", "handled_by": { "organisation": "853" }, "channel": "phone",
                        "language": "fi", "received_at": "2026-11-02T09:15:00+02:00",
                        "client": { "identity_code": "131052-308T" }, "outcome": "open" }),
            )
            .await;
        assert_eq!(status, 201, "{case}");
        case["id"].as_str().unwrap().to_string()
    }

    async fn audit(&self, org: &str, action: &str) -> Vec<Value> {
        let (status, _, page) = self
            .get(org, &format!("/v1/audit?organisation={org}&action={action}&limit=500"))
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn a_transfer_moves_read_access_and_is_audited() {
    let gw = start(|_, _| {}).await;
    let id = gw.case().await;
    let case_path = format!("/v1/cases/{id}");
    let transfers_path = format!("/v1/cases/{id}/transfers");

    // Before: the handler (853) and the organiser (202) read it; 529 and 680 do not.
    assert_eq!(gw.get("853", &case_path).await.0, 200);
    assert_eq!(gw.get("202", &case_path).await.0, 200);
    assert_eq!(gw.get("529", &case_path).await.0, 404);
    assert_eq!(gw.get("680", &case_path).await.0, 404);

    // Only the owner may transfer, and only to another known organisation.
    let valid = json!({ "to": "529", "reason": "service_need_assessment" });
    assert_eq!(gw.post("529", &transfers_path, valid.clone()).await.0, 403);
    assert_eq!(gw.post("202", &transfers_path, valid.clone()).await.0, 403);
    for (body, pointer) in [
        (json!({ "to": "Atlantis", "reason": "x" }), "/to"),
        (json!({ "to": "853", "reason": "x" }), "/to"),
        (json!({ "reason": "x" }), "/to"),
        (json!({ "to": "529" }), "/reason"),
        (json!({ "to": "529", "reason": "x".repeat(501) }), "/reason"),
    ] {
        let (status, problem) = gw.post("853", &transfers_path, body.clone()).await;
        assert_eq!(status, 422, "{body} {problem}");
        assert!(problem.to_string().contains(pointer), "{problem}");
    }
    assert_eq!(gw.get("853", &transfers_path).await.2["items"], json!([]));

    let (status, created) = gw.post("853", &transfers_path, valid).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["case_id"], id.as_str());
    assert_eq!(created["from"], "853");
    assert_eq!(created["to"], "529");
    assert!(created["transfer_id"].is_string() && created["at"].is_string());

    // After: the receiver reads the case, it owns it.
    let (status, headers, case) = gw.get("529", &case_path).await;
    assert_eq!(status, 200);
    assert!(headers.get("portti-snapshot").is_none());
    assert_eq!(case["handled_by"]["organisation"], "529");
    assert_eq!(case["outcome"], "transferred");
    // The sender reads what it sent, marked as the snapshot.
    let (status, headers, snapshot) = gw.get("853", &case_path).await;
    assert_eq!(status, 200);
    assert_eq!(headers["portti-snapshot"], "transfer");
    assert_eq!(snapshot["handled_by"]["organisation"], "853");
    assert_eq!(snapshot["outcome"], "transferred");
    // The organiser still reads the current case; a third organisation still does not.
    let (status, headers, _) = gw.get("202", &case_path).await;
    assert_eq!(status, 200);
    assert!(headers.get("portti-snapshot").is_none());
    assert_eq!(gw.get("680", &case_path).await.0, 404);
    assert_eq!(gw.get("680", &transfers_path).await.0, 404);
    // The sender may not transfer again; the new owner may (to an organisation by name).
    let again = json!({ "to": "680", "reason": "service_need_assessment" });
    assert_eq!(gw.post("853", &transfers_path, again).await.0, 403);
    let (status, second) = gw
        .post(
            "529",
            &transfers_path,
            json!({ "to": "Kaarina", "reason": "asiakkaan kotikunta", "note": "soita" }),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["to"], "202");

    // The history, for the sender as well as the owner.
    for org in ["853", "529", "202"] {
        let (status, _, history) = gw.get(org, &transfers_path).await;
        assert_eq!(status, 200, "{org}");
        let items = history["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{history}");
        assert_eq!(
            (items[0]["seq"].as_i64(), &items[0]["from"], &items[0]["to"]),
            (Some(1), &json!("853"), &json!("529"))
        );
        assert_eq!(items[0]["reason"], "service_need_assessment");
        assert_eq!(items[0]["by_client"], "client-853");
        assert_eq!(
            (items[1]["seq"].as_i64(), &items[1]["from"], &items[1]["to"]),
            (Some(2), &json!("529"), &json!("202"))
        );
        assert_eq!(items[1]["note"], "soita");
    }
    // 529 now reads the snapshot of what it sent.
    let (status, headers, snapshot) = gw.get("529", &case_path).await;
    assert_eq!((status, headers.get("portti-snapshot").is_some()), (200, true));
    assert_eq!(snapshot["handled_by"]["organisation"], "529");

    // Audit: the transfer for both organisations, reads per organisation, the denied look.
    let transfer_of = |records: &[Value], outcome: &str| {
        records
            .iter()
            .filter(|r| r["outcome"] == outcome && r["actor"]["client_id"] == "client-853")
            .count()
    };
    assert_eq!(transfer_of(&gw.audit("853", "case.transfer").await, "ok"), 1);
    assert_eq!(transfer_of(&gw.audit("529", "case.transfer").await, "ok"), 1);
    let reads = gw.audit("853", "case.read").await;
    assert!(
        reads
            .iter()
            .any(|r| r["actor"]["client_id"] == "client-853" && r["outcome"] == "ok"),
        "{reads:?}"
    );
    let reads = gw.audit("529", "case.read").await;
    assert!(reads
        .iter()
        .any(|r| r["actor"]["client_id"] == "client-529" && r["outcome"] == "ok"));
    assert!(reads
        .iter()
        .any(|r| r["actor"]["client_id"] == "client-680" && r["outcome"] == "denied"));
}

type Hits = Arc<Mutex<Vec<(Option<String>, Option<String>, Vec<u8>)>>>;

/// A receiver that answers 500 to the first call and 200 after.
async fn receiver() -> (String, Hits) {
    use axum::http::HeaderMap;
    let hits: Hits = Arc::default();
    let seen = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                let mut hits = seen.lock().unwrap();
                hits.push((header("portti-signature"), header("portti-event-id"), body.to_vec()));
                if hits.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), hits)
}

fn verify(secret: &[u8], signature: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = signature.strip_prefix("t=").and_then(|s| s.split_once(",v1=")) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::decode(v1).is_ok_and(|v| mac.verify_slice(&v).is_ok())
}

#[tokio::test]
async fn the_receiver_gets_a_signed_webhook_retried_until_it_succeeds() {
    let (url, hits) = receiver().await;
    let secret = "s3cret-for-529";
    let gw = start(|config, data| {
        std::fs::write(data.join("webhook-529.secret"), format!("{secret}\n")).unwrap();
        config.webhooks.push(portti::config::WebhookSettings {
            organisation: "Kaarina".into(),
            url,
            secret_file: "webhook-529.secret".into(),
        });
    })
    .await;
    let id = gw.case().await;
    let (status, created) = gw
        .post(
            "853",
            &format!("/v1/cases/{id}/transfers"),
            json!({ "to": "202", "reason": "service_need_assessment" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");

    // The exchange succeeds after one retry.
    let deadline = Instant::now() + Duration::from_secs(10);
    let exchange = loop {
        let (_, _, page) = gw.get("202", "/v1/exchanges?limit=50").await;
        let done = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["service"] == "webhook" && e["status"] == "succeeded")
            .cloned();
        if let Some(done) = done {
            break done;
        }
        assert!(Instant::now() < deadline, "no succeeded webhook exchange: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2, "one 500, then the retry's 200");
    for (signature, event_id, body) in &hits {
        assert!(
            verify(secret.as_bytes(), signature.as_deref().unwrap(), body),
            "{signature:?}"
        );
        assert!(!verify(b"wrong", signature.as_deref().unwrap(), body));
        assert_eq!(event_id.as_deref(), exchange["id"].as_str());
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["event"], "case.transferred");
        assert_eq!(event["case_id"], id.as_str());
        assert_eq!((&event["from"], &event["to"]), (&json!("853"), &json!("202")));
        assert_eq!(event["transfer_id"], created["transfer_id"]);
        assert!(event["at"].is_string());
        // No personal data.
        assert!(!String::from_utf8_lossy(body).contains("131052"));
    }
}
