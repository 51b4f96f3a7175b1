//! Portti's inbound contract over real TLS on loopback: client certificates of the demo CA
//! map to configured API clients; certificates of other CAs never get a connection.

use portti::config::{CertificateClient, Config, TlsSettings};
use portti_contract_tests::{cert_path, https_client, run_gateway, sandbox_config};
use serde_json::{json, Value};

struct Running {
    base: String,
    _data: tempfile::TempDir,
}

async fn start() -> Running {
    let data = tempfile::tempdir().unwrap();
    let client = |cn: &str, org: &str| CertificateClient {
        subject_cn: cn.into(),
        client_id: cn.into(),
        scopes: vec!["cases:write".into(), "cases:read".into()],
        orgs: vec![org.into()],
    };
    let config = Config {
        tls: Some(TlsSettings {
            cert_file: cert_path("gateway.pem"),
            key_file: cert_path("gateway.key"),
            client_ca_file: Some(cert_path("demo-ca.pem")),
            clients: vec![client("ohjaus-853", "853"), client("yhteyskeskus-529", "529")],
        }),
        ..sandbox_config(data.path())
    };
    let (addr, ()) = run_gateway(config, |_| ()).await;
    Running {
        base: format!("https://localhost:{}", addr.port()),
        _data: data,
    }
}

fn case() -> Value {
    json!({ "organiser": "853", "channel": "chat", "language": "fi", "received_at": "2026-11-02T09:15:00+02:00",
            "client": { "identity_code": "131052-308T" }, "outcome": "open" })
}

#[tokio::test]
async fn a_client_certificate_is_an_api_client_with_its_organisations() {
    let gw = start().await;
    let turku = https_client(Some("ohjaus-853")).unwrap();
    let created = turku
        .post(format!("{}/v1/cases", gw.base))
        .json(&case())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let read = turku.get(format!("{}/v1/cases/{id}", gw.base)).send().await.unwrap();
    assert_eq!(read.status(), 200);

    let naantali = https_client(Some("yhteyskeskus-529")).unwrap();
    let foreign = naantali.get(format!("{}/v1/cases/{id}", gw.base)).send().await.unwrap();
    assert_eq!(foreign.status(), 404);
    let write_foreign = naantali
        .post(format!("{}/v1/cases", gw.base))
        .json(&case())
        .send()
        .await
        .unwrap();
    assert_eq!(write_foreign.status(), 403);
}

#[tokio::test]
async fn without_a_certificate_a_bearer_token_is_needed() {
    let gw = start().await;
    let anonymous = https_client(None).unwrap();
    let health = anonymous.get(format!("{}/healthz", gw.base)).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "the server certificate verifies against the demo CA"
    );
    let refused = anonymous
        .post(format!("{}/v1/cases", gw.base))
        .json(&case())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn a_certificate_from_another_ca_gets_no_connection() {
    let gw = start().await;
    let rogue = https_client(Some("untrusted-client")).unwrap();
    let result = rogue.get(format!("{}/healthz", gw.base)).send().await;
    assert!(result.is_err(), "the handshake must fail: {result:?}");
}
