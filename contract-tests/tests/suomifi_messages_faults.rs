//! Suomi.fi Messages under every fault the simulator can inject, through the whole gateway: the
//! gateway runs in this process, sends through its adapter to the simulator over loopback HTTP,
//! and each test asserts what a caller (and the service) can observe: the exchange's status and
//! attempts, the messages the service created, the gateway's metrics.

use portti::auth::{sandbox, Scope};
use portti::config::{Config, MessagesOrganisation};
use portti_contract_tests::{fast_broker, run_gateway};
use portti_simulators::suomifi_messages::{self as simulator, Control, Fault};
use portti_suomifi_messages::MessagesConfig;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Running {
    base: String,
    token: String,
    control: Control,
    /// A simulator the test started itself (when the config names the organisations' adapters).
    _simulator: Option<simulator::Running>,
    _data: tempfile::TempDir,
}

/// The sandbox config: loopback ports, fast polling and backoff, no scheduled jobs.
fn sandbox_config(data: &tempfile::TempDir) -> Config {
    let mut config = portti_contract_tests::sandbox_config(data.path());
    fast_broker(&mut config);
    // The tests run jobs themselves (none here).
    config.jobs.suomifi_messages_events = "0 0 0 1 1 * 2099".into();
    config.jobs.suomifi_messages_password = "0 0 0 1 1 * 2099".into();
    config
}

/// The gateway with the sandbox's own simulator (organisation 853).
async fn start(tweak: impl FnOnce(&mut Config)) -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(&data);
    tweak(&mut config);
    launch(config, data, &["853"], None).await
}

/// Runs the gateway; `simulator` is the one the config's adapters point at, else the sandbox's.
async fn launch(
    config: Config,
    data: tempfile::TempDir,
    organisations: &[&str],
    simulator: Option<simulator::Running>,
) -> Running {
    let key = sandbox::SigningKey::load_or_create(data.path()).unwrap();
    let orgs: Vec<String> = organisations.iter().map(|o| o.to_string()).collect();
    let token = sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "ohjaus",
        &[Scope::MessagesSend, Scope::ExchangesRead, Scope::ExchangesRetry],
        &orgs,
        600,
    )
    .unwrap();
    let external = simulator.as_ref().map(|s| s.control());
    let adapters = if simulator.is_some() {
        config.suomifi_messages.len()
    } else {
        config.sandbox_services.messages_organisations.len()
    };
    let (addr, control) = run_gateway(config, |gateway| {
        let control = external.or_else(|| gateway.messages_simulator.as_ref().map(|s| s.control()));
        control.expect("a simulator runs")
    })
    .await;
    // The broker checks every adapter's health at start (fetching tokens): let that pass, then
    // start the request log afresh so that the tests count only their own requests.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics
            .lines()
            .filter(|l| l.starts_with("portti_service_health{") && l.contains("service=\"suomifi-messages\""))
            .count()
            >= adapters
        {
            break;
        }
        assert!(Instant::now() < deadline, "the start-up health checks did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    control.clear_request_log();
    Running {
        base: format!("http://{addr}"),
        token,
        control,
        _simulator: simulator,
        _data: data,
    }
}

fn message(organisation: &str, identity_code: &str) -> Value {
    json!({ "organisation": organisation, "recipient": { "identity_code": identity_code },
            "title": "Asiakasohjaus", "body": "Hei! Soitamme teille huomenna.", "body_format": "text", "language": "fi" })
}

impl Running {
    /// Accepts a message and returns its exchange id.
    async fn send(&self, body: &Value) -> String {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/messages", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let accepted: Value = r.json().await.unwrap();
        assert_eq!(status, 202, "{accepted}");
        accepted["exchange_id"].as_str().unwrap().to_string()
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
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let e = self.exchange(id).await;
            if e["status"] == status {
                return e;
            }
            assert!(Instant::now() < deadline, "still {e}, wanted {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Messages created (200) and repeats answered 409 for one externalId.
    fn sends(&self, external_id: &str) -> (u32, u32) {
        let counts = self.control.count_sends_by_external_id();
        let c = counts.get(external_id).copied().unwrap_or_default();
        (c.created, c.duplicates)
    }

    /// The simulator's message id for an externalId (there must be exactly one).
    fn message_id_for(&self, external_id: &str) -> String {
        let found: Vec<i64> = (self.control.messages().iter())
            .filter(|m| m.external_id == external_id)
            .map(|m| m.message_id)
            .collect();
        assert_eq!(found.len(), 1, "messages for {external_id}: {found:?}");
        found[0].to_string()
    }

    /// The answered statuses of requests to the real API whose path starts with `prefix`.
    fn logged(&self, method: &str, prefix: &str) -> Vec<Option<u16>> {
        (self.control.request_log().into_iter())
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .map(|r| r.status)
            .collect()
    }
}

fn attempts(exchange: &Value) -> &Vec<Value> {
    exchange["attempts"].as_array().expect("attempts")
}

fn outcomes(exchange: &Value) -> Vec<&str> {
    attempts(exchange)
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect()
}

fn attempt_error(exchange: &Value, n: usize) -> &str {
    attempts(exchange)[n]["error"].as_str().unwrap_or_default()
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-01-31T12:34:56.123456Z`); the test
/// crate has no date library.
fn epoch_seconds(time: &str) -> f64 {
    let (date, clock) = time.split_once('T').expect("a date and a time");
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let clock = clock
        .strip_suffix('Z')
        .or_else(|| clock.strip_suffix("+00:00"))
        .expect("UTC");
    let c: Vec<f64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + c[0] * 3600.0 + c[1] * 60.0 + c[2]
}

/// A metric's value for the line whose labels include every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_call_slower_than_its_timeout_is_retried_and_the_message_is_created_once() {
    let gw = start(|c| c.broker.default_policy.call_timeout_ms = 300).await;
    gw.control.inject(
        Fault::latency(Duration::from_millis(1000))
            .on_path("/v2/messages")
            .times(1),
    );
    let sent = Instant::now();
    let id = gw.send(&message("853", "010594Y9032")).await;
    let done = gw.wait_status(&id, "succeeded").await;
    assert_eq!(outcomes(&done), ["transient", "succeeded"], "{done}");
    let first = &attempts(&done)[0];
    assert!(
        first["latency_ms"].as_u64().unwrap() < 900,
        "the slow call was cut off at its deadline, not waited out: {first}"
    );
    assert_eq!(done["upstream_id"].as_str().unwrap(), gw.message_id_for(&id));
    // The slow request may still be processed by the service after the gateway gave up on it:
    // wait it out, then the externalId must still stand for exactly one message.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(sent.elapsed())).await;
    let (created, duplicates) = gw.sends(&id);
    assert_eq!(created, 1, "delivered exactly once");
    assert!(duplicates <= 1, "{duplicates} repeats");
    assert_eq!(gw.control.messages().len(), 1);
}

#[tokio::test]
async fn server_errors_500_and_502_are_retried_to_success() {
    let gw = start(|_| {}).await;
    gw.control.inject(Fault::status(500).on_path("/v2/messages").times(1));
    gw.control.inject(Fault::status(502).on_path("/v2/messages").times(1));
    let id = gw.send(&message("853", "260881-1233")).await;
    let done = gw.wait_status(&id, "succeeded").await;
    assert_eq!(outcomes(&done), ["transient", "transient", "succeeded"], "{done}");
    assert!(attempt_error(&done, 0).contains("500"), "{done}");
    assert!(attempt_error(&done, 1).contains("502"), "{done}");
    assert_eq!(gw.sends(&id), (1, 0));
    assert_eq!(done["upstream_id"].as_str().unwrap(), gw.message_id_for(&id));
    assert_eq!(gw.logged("POST", "/v2/messages"), [Some(500), Some(502), Some(200)]);
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after_before_the_next_attempt() {
    let gw = start(|_| {}).await;
    gw.control
        .inject(Fault::too_many_requests(1).on_path("/v2/messages").times(1));
    let id = gw.send(&message("853", "150370-501A")).await;
    let done = gw.wait_status(&id, "succeeded").await;
    assert_eq!(outcomes(&done), ["rate_limited", "succeeded"], "{done}");
    let started: Vec<f64> = attempts(&done)
        .iter()
        .map(|a| epoch_seconds(a["started_at"].as_str().unwrap()))
        .collect();
    let spacing = started[1] - started[0];
    assert!(
        spacing >= 1.0,
        "the second attempt came {spacing:.3} s after the first; Retry-After asked for 1 s"
    );
    assert!(spacing < 5.0, "no needless wait: {spacing:.3} s");
    assert_eq!(gw.sends(&id), (1, 0));
}

#[tokio::test]
async fn a_malformed_success_answer_is_not_success_and_the_message_is_created_once() {
    let gw = start(|_| {}).await;

    // Before processing: a 200 with a truncated body, and no message was created.
    gw.control
        .inject(Fault::malformed_json().on_path("/v2/messages").times(1));
    let a = gw.send(&message("853", "010594Y9032")).await;
    let done = gw.wait_status(&a, "succeeded").await;
    assert_eq!(outcomes(&done), ["transient", "succeeded"], "{done}");
    assert!(attempt_error(&done, 0).contains("200"), "{done}");
    assert_eq!(gw.sends(&a), (1, 0));
    assert_eq!(done["upstream_id"].as_str().unwrap(), gw.message_id_for(&a));

    // After processing: the message exists but its answer is unreadable; the retry gets 409 with
    // the original messageId.
    gw.control.inject(
        Fault::malformed_json()
            .on_path("/v2/messages")
            .times(1)
            .after_processing(),
    );
    let b = gw.send(&message("853", "260881-1233")).await;
    let done = gw.wait_status(&b, "succeeded").await;
    assert_eq!(outcomes(&done), ["transient", "succeeded"], "{done}");
    assert_eq!(gw.sends(&b), (1, 1), "created once, the retry answered 409");
    assert_eq!(done["upstream_id"].as_str().unwrap(), gw.message_id_for(&b));
    assert_eq!(gw.control.messages().len(), 2);
}

#[tokio::test]
async fn repeated_401s_make_the_adapter_renew_its_token_and_the_exchange_succeeds() {
    let gw = start(|_| {}).await;
    gw.control
        .inject(Fault::unauthorized().on_path("/v2/messages").times(3));
    let id = gw.send(&message("853", "020202A222K")).await;
    let done = gw.wait_status(&id, "succeeded").await;
    // Attempt 1: 401, a new token, 401 again → the credentials need attention this time.
    // Attempt 2: 401, a new token, 200.
    assert_eq!(outcomes(&done), ["reauthenticate", "succeeded"], "{done}");
    assert_eq!(
        gw.logged("POST", "/v2/messages"),
        [Some(401), Some(401), Some(401), Some(200)]
    );
    // The first token came with the start-up health check (before the log was cleared).
    let tokens = gw.logged("POST", "/v1/token");
    assert_eq!(tokens, [Some(200); 3], "a fresh token after every refusal");
    assert_eq!(gw.sends(&id), (1, 0));
}

#[tokio::test]
async fn a_connection_dropped_before_processing_is_retried_to_one_message() {
    let gw = start(|_| {}).await;
    gw.control
        .inject(Fault::drop_connection().on_path("/v2/messages").times(1));
    let id = gw.send(&message("853", "311299-045N")).await;
    let done = gw.wait_status(&id, "succeeded").await;
    assert_eq!(outcomes(&done), ["transient", "succeeded"], "{done}");
    assert_eq!(gw.logged("POST", "/v2/messages"), [None, Some(200)]);
    assert_eq!(gw.sends(&id), (1, 0));
    assert_eq!(done["upstream_id"].as_str().unwrap(), gw.message_id_for(&id));
}

#[tokio::test]
async fn a_failing_organisation_opens_its_own_circuit_and_the_other_is_unaffected() {
    let data = tempfile::tempdir().unwrap();
    let sim = simulator::start(
        simulator::Config {
            accounts: vec![simulator::Account {
                username: "kunta-529".into(),
                password: simulator::SANDBOX_PASSWORD.into(),
            }],
            ..simulator::Config::sandbox()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    // Every call for 853 has its connection dropped at once. (A merely closed port could be
    // taken by another loopback server of the same test run before the calls are made.)
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                drop(stream);
            }
        });
        port
    };
    let adapter = |org: &str, base_url: String| {
        let password_file = data.path().join(format!("messages-{org}.password"));
        std::fs::write(&password_file, simulator::SANDBOX_PASSWORD).unwrap();
        MessagesOrganisation {
            organisation: org.into(),
            adapter: MessagesConfig {
                base_url,
                username: format!("kunta-{org}"),
                password_file,
                service_id: format!("kunta-{org}"),
                ..MessagesConfig::default()
            },
        }
    };
    let mut config = sandbox_config(&data);
    config.suomifi_messages = vec![
        adapter("853", format!("http://127.0.0.1:{closed}")),
        adapter("529", sim.base_url()),
    ];
    config.broker.default_policy.breaker_failures = 3;
    config.broker.default_policy.breaker_open_ms = 30_000;
    let gw = launch(config, data, &["853", "529"], Some(sim)).await;

    let persons = simulator::SANDBOX_PERSONS_WITH_MAILBOX;
    let mut failing = Vec::new();
    let mut healthy = Vec::new();
    for i in 0..10 {
        failing.push(gw.send(&message("853", persons[i % persons.len()])).await);
        healthy.push(gw.send(&message("529", persons[i % persons.len()])).await);
    }
    for id in &healthy {
        gw.wait_status(id, "succeeded").await;
        assert_eq!(gw.sends(id), (1, 0));
    }

    // Breaker states are published every 2 s.
    let deadline = Instant::now() + Duration::from_secs(6);
    let text = loop {
        let text = gw.metrics().await;
        let state = metric(
            &text,
            "portti_circuit_breaker_state",
            &["organisation=\"853\"", "service=\"suomifi-messages\""],
        );
        if state == Some(2.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "853's circuit is not shown open:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        metric(&text, "portti_circuit_breaker_state", &["organisation=\"529\""]),
        Some(0.0),
        "529's circuit stays closed:\n{text}"
    );

    let (mut attempted, mut failed_attempts) = (0, 0);
    for id in &failing {
        let e = gw.exchange(id).await;
        let status = e["status"].as_str().unwrap();
        let tried = attempts(&e);
        // Tried and failed, or postponed by the open circuit: waiting, never given up on. One
        // accepted while the circuit is open is not even leased: it stays "accepted", untried.
        match status {
            "retry_scheduled" => {}
            "accepted" => assert!(tried.is_empty(), "{e}"),
            _ => panic!("853's exchange should wait for the circuit, not be {status}: {e}"),
        }
        assert!(tried.iter().all(|a| a["outcome"] == "transient"), "{e}");
        assert!(tried.len() < 8, "the open circuit spares the attempts: {e}");
        failed_attempts += tried.len();
        if !tried.is_empty() {
            attempted += 1;
            assert!(
                e["last_error"].as_str().unwrap().contains("connect")
                    || e["last_error"].as_str().unwrap().contains("circuit open"),
                "{e}"
            );
        }
    }
    assert!(
        failed_attempts >= 3,
        "the circuit opened after 3 consecutive failures, not before"
    );
    assert!(
        attempted < failing.len(),
        "once open, the circuit keeps the rest from being attempted"
    );
}

#[tokio::test]
async fn exhausted_attempts_are_dead_and_an_operator_retry_succeeds() {
    let gw = start(|c| c.broker.default_policy.max_attempts = 3).await;
    gw.control.inject(Fault::status(503).on_path("/v2/messages"));
    let id = gw.send(&message("853", "010594Y9032")).await;
    let dead = gw.wait_status(&id, "dead").await;
    assert_eq!(outcomes(&dead), ["transient"; 3], "{dead}");
    let last_error = dead["last_error"].as_str().unwrap();
    assert!(last_error.contains("gave up after 3 attempts"), "{dead}");
    assert!(last_error.contains("503"), "{dead}");
    assert_eq!(gw.sends(&id), (0, 0));

    gw.control.clear_faults();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/exchanges/{id}/retry", gw.base))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let done = gw.wait_status(&id, "succeeded").await;
    assert_eq!(
        outcomes(&done),
        ["transient", "transient", "transient", "succeeded"],
        "{done}"
    );
    assert_eq!(gw.sends(&id), (1, 0));
    assert_eq!(done["upstream_id"].as_str().unwrap(), gw.message_id_for(&id));
}
