//! Kill -9 the gateway while it sends, start it again, and check that every accepted message
//! reached the service exactly once and the audit chain still verifies. The simulator lives in
//! this test process, so it outlives the gateway.

use portti::auth::{sandbox, Scope};
use portti_simulators::suomifi_messages::{self as simulator, Account, Fault};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portti");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path, port: u16) -> Child {
    Command::new(BIN)
        .current_dir(dir)
        .args(["--config", "portti.toml"])
        .env_remove("PORTTI_CONFIG")
        .env("PORTTI_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTTI_LOG", "warn")
        .env("PORTTI_SANDBOX_SERVICES__KANTA_LISTEN", "127.0.0.1:0")
        .env("PORTTI_SANDBOX_SERVICES__IDENTIFICATION_LISTEN", "127.0.0.1:0")
        .env("PORTTI_SANDBOX_SERVICES__MANDATES_LISTEN", "127.0.0.1:0")
        .env("PORTTI_SANDBOX_SERVICES__ODA_LISTEN", "127.0.0.1:0")
        .env("PORTTI_SANDBOX_SERVICES__TSA_LISTEN", "127.0.0.1:0")
        .env("PORTTI_SANDBOX_SERVICES__PTV_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(base: &str) {
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz"))
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_are_delivered_exactly_once_across_a_crash() {
    let account = Account {
        username: "portti-853".into(),
        password: format!("{}-853", simulator::SANDBOX_PASSWORD),
    };
    let mut sim_config = simulator::Config::sandbox();
    sim_config.accounts = vec![account.clone()];
    let sim = simulator::start(sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    // Slow answers keep many sends in flight when the gateway dies.
    control.inject(Fault::latency(Duration::from_millis(40)).on_path("/v2/messages"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("portti.password"), &account.password).unwrap();
    std::fs::write(
        dir.path().join("portti.toml"),
        format!(
            r#"
[broker]
lease_s = 2
poll_interval_ms = 50

[[suomifi_messages]]
organisation = "853"
[suomifi_messages.adapter]
base_url = "{}"
username = "{}"
password_file = "portti.password"
service_id = "portti-853"
"#,
            sim.base_url(),
            account.username
        ),
    )
    .unwrap();
    let key = sandbox::SigningKey::load_or_create(&dir.path().join("data")).unwrap();
    let token = sandbox::mint(
        &key,
        "portti-sandbox",
        "portti",
        "ohjaus",
        &[Scope::MessagesSend, Scope::ExchangesRead],
        &["853".into()],
        600,
    )
    .unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut gateway = Some(spawn(dir.path(), port));
    wait_ready(&base).await;

    let http = reqwest::Client::new();
    let persons = simulator::SANDBOX_PERSONS_WITH_MAILBOX;
    let mut accepted = Vec::new();
    for n in 0..150 {
        if n == 100 {
            let mut crashed = gateway.take().unwrap();
            crashed.kill().unwrap();
            crashed.wait().unwrap();
        }
        let body = json!({ "organisation": "853", "recipient": { "identity_code": persons[n % persons.len()] },
            "title": "Asiakasohjaus", "body": format!("Viesti {n}"), "language": "fi" });
        match http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == 202 => {
                let v: Value = r.json().await.unwrap();
                accepted.push(v["exchange_id"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    assert_eq!(accepted.len(), 100, "the first hundred were accepted before the crash");
    let delivered_before_restart = control.messages().len();
    assert!(
        delivered_before_restart < 100,
        "the crash came while sends were still due"
    );

    let mut gateway = spawn(dir.path(), port);
    wait_ready(&base).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &accepted {
        loop {
            let e: Value = http
                .get(format!("{base}/v1/exchanges/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if e["status"] == "succeeded" {
                break;
            }
            assert!(Instant::now() < deadline, "{id} is still {}", e["status"]);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    gateway.kill().unwrap();
    gateway.wait().unwrap();

    let sends = control.count_sends_by_external_id();
    for id in &accepted {
        assert_eq!(sends.get(id).map(|c| c.created), Some(1), "{id} delivered exactly once");
    }
    assert_eq!(control.messages().len(), 100, "nothing else was created");

    let verify = Command::new(BIN)
        .current_dir(dir.path())
        .args(["--config", "portti.toml", "audit", "verify"])
        .env_remove("PORTTI_CONFIG")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
