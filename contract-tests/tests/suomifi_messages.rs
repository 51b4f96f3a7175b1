//! Suomi.fi Messages end to end: the gateway (in this process) sends through its adapter to the
//! simulator over loopback HTTP; faults injected into the simulator show the broker's retries,
//! dead letters and idempotency, and the events job brings read receipts back.

use portti::auth::{sandbox, Scope};
use portti::config::Config;
use portti_contract_tests::{fast_broker, run_gateway, sandbox_config};
use portti_simulators::suomifi_messages::{Control, Fault};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Running {
    base: String,
    token: String,
    control: Control,
    jobs: std::sync::Arc<portti::jobs::Jobs>,
    _data: tempfile::TempDir,
}

async fn start(tweak: impl FnOnce(&mut Config)) -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(data.path());
    fast_broker(&mut config);
    // The tests run jobs themselves.
    config.jobs.suomifi_messages_events = "0 0 0 1 1 * 2099".into();
    tweak(&mut config);
    let key = sandbox::SigningKey::load_or_create(data.path()).unwrap();
    let token = sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "ohjaus",
        &[
            Scope::MessagesSend,
            Scope::ExchangesRead,
            Scope::ExchangesRetry,
            Scope::AuditRead,
        ],
        &["853".into()],
        600,
    )
    .unwrap();
    let (addr, (control, jobs)) = run_gateway(config, |gateway| {
        let control = gateway.messages_simulator.as_ref().unwrap().control();
        (control, gateway.jobs.clone())
    })
    .await;
    Running {
        base: format!("http://{addr}"),
        token,
        control,
        jobs,
        _data: data,
    }
}

fn message(identity_code: &str) -> Value {
    json!({ "organisation": "853", "recipient": { "identity_code": identity_code },
            "title": "Asiakasohjaus", "body": "Hei! Soitamme teille huomenna.", "body_format": "text", "language": "fi" })
}

impl Running {
    async fn send(&self, body: &Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/messages", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn exchange(&self, id: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}/v1/exchanges/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let e = self.exchange(id).await;
            if e["status"] == status {
                return e;
            }
            assert!(Instant::now() < deadline, "still {e}, wanted {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_message_is_delivered_and_its_read_receipt_flows_back() {
    let gw = start(|_| {}).await;
    let (status, accepted) = gw.send(&message("010594Y9032")).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    let id = accepted["exchange_id"].as_str().unwrap().to_string();
    let done = gw.wait_status(&id, "succeeded").await;
    let message_id = done["upstream_id"].as_str().unwrap().to_string();
    let stored = gw.control.message(message_id.parse().unwrap()).unwrap();
    assert_eq!(stored.external_id, id, "externalId is the exchange id");

    gw.control.mark_read(message_id.parse().unwrap()).unwrap();
    let run = gw.jobs.run(portti::jobs::MESSAGES_EVENTS).await.unwrap();
    assert_eq!(run.outcome, "ok", "{run:?}");
    let e = gw.exchange(&id).await;
    let kinds: Vec<&str> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"created") && kinds.contains(&"read"), "{kinds:?}");
    // A second run continues from the saved token: nothing twice.
    gw.jobs.run(portti::jobs::MESSAGES_EVENTS).await.unwrap();
    let again = gw.exchange(&id).await;
    assert_eq!(
        again["events"].as_array().unwrap().len(),
        e["events"].as_array().unwrap().len()
    );

    let verify: Value = reqwest::Client::new()
        .get(format!("{}/v1/audit/verify", gw.base))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["valid"], true);
}

#[tokio::test]
async fn invalid_messages_are_refused_before_anything_is_queued() {
    let gw = start(|_| {}).await;
    let (status, problem) = gw
        .send(
            &json!({ "organisation": "853", "recipient": { "identity_code": "010594Y9033" }, "title": "",
                       "body": "x", "language": "klingon" }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    for p in ["/recipient/identity_code", "/title", "/language"] {
        assert!(pointers.contains(&p), "{p} missing in {problem}");
    }
    let (status, _) = gw
        .send(
            &json!({ "organisation": "529", "recipient": { "identity_code": "010594Y9032" }, "title": "t",
                       "body": "b", "language": "fi" }),
        )
        .await;
    assert_eq!(status, 403, "a token for 853 cannot send for 529");
    assert!(gw.control.messages().is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_and_a_lost_response_is_not_sent_twice() {
    let gw = start(|_| {}).await;
    gw.control.inject(Fault::status(503).on_path("/v2/messages").times(2));
    let (_, a) = gw.send(&message("010594Y9032")).await;
    let first = gw.wait_status(a["exchange_id"].as_str().unwrap(), "succeeded").await;
    let outcomes: Vec<&str> = first["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["transient", "transient", "succeeded"]);

    // The service takes the message but the answer is lost: the retry gets 409 and the same id.
    gw.control.inject(
        Fault::drop_connection()
            .on_path("/v2/messages")
            .times(1)
            .after_processing(),
    );
    let (_, b) = gw.send(&message("260881-1233")).await;
    let id = b["exchange_id"].as_str().unwrap().to_string();
    let second = gw.wait_status(&id, "succeeded").await;
    let counts = gw.control.count_sends_by_external_id();
    assert_eq!(counts[&id].created, 1, "delivered exactly once");
    assert_eq!(second["attempts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_permanent_refusal_is_dead_and_can_be_retried_by_an_operator() {
    let gw = start(|_| {}).await;
    // 131052-308T has no mailbox: the service refuses an electronic-only message.
    let (_, a) = gw.send(&message("131052-308T")).await;
    let id = a["exchange_id"].as_str().unwrap().to_string();
    let dead = gw.wait_status(&id, "dead").await;
    assert!(
        dead["last_error"].as_str().unwrap().contains("MAILBOX_NOT_IN_USE"),
        "{dead}"
    );
    assert!(
        !dead.to_string().contains("131052"),
        "no identity code in the exchange view"
    );
    gw.control.set_mailbox_active("131052-308T", true);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/exchanges/{id}/retry", gw.base))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    gw.wait_status(&id, "succeeded").await;
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_the_call_repeated() {
    let gw = start(|_| {}).await;
    let (_, a) = gw.send(&message("010594Y9032")).await;
    gw.wait_status(a["exchange_id"].as_str().unwrap(), "succeeded").await;
    gw.control.expire_tokens();
    let (_, b) = gw.send(&message("010594Y9032")).await;
    let e = gw.wait_status(b["exchange_id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(
        e["attempts"].as_array().unwrap().len(),
        1,
        "the adapter renewed the token within one attempt"
    );
}

#[tokio::test]
async fn password_rotation_changes_the_password_and_sending_goes_on() {
    let gw = start(|_| {}).await;
    let before = gw.control.password("portti-sandbox-853").unwrap();
    let run = gw.jobs.run(portti::jobs::MESSAGES_PASSWORD).await.unwrap();
    assert_eq!(run.outcome, "ok", "{run:?}");
    let after = gw.control.password("portti-sandbox-853").unwrap();
    assert_ne!(before, after);
    assert!(portti_suomifi_messages::password_meets_policy(&after));
    gw.control.expire_tokens();
    let (_, a) = gw.send(&message("010594Y9032")).await;
    gw.wait_status(a["exchange_id"].as_str().unwrap(), "succeeded").await;
}

#[tokio::test]
async fn each_adapters_health_is_published_as_a_metric() {
    let gw = start(|_| {}).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(format!("{}/metrics", gw.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = metrics
            .lines()
            .find(|l| l.starts_with("portti_service_health{") && l.contains("organisation=\"853\""));
        if let Some(line) = line {
            assert!(line.ends_with(" 0"), "the simulator is up: {line}");
            break;
        }
        assert!(Instant::now() < deadline, "no health metric in {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
