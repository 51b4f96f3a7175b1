//! What the tests that run the `portti` binary share: one place that knows every sandbox
//! simulator, so a new simulator is given a free port in every such test at once.

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_portti");

/// Every sandbox simulator's listen address, as an environment variable.
pub const SIMULATOR_LISTENS: [&str; 7] = [
    "PORTTI_SANDBOX_SERVICES__MESSAGES_LISTEN",
    "PORTTI_SANDBOX_SERVICES__KANTA_LISTEN",
    "PORTTI_SANDBOX_SERVICES__IDENTIFICATION_LISTEN",
    "PORTTI_SANDBOX_SERVICES__MANDATES_LISTEN",
    "PORTTI_SANDBOX_SERVICES__ODA_LISTEN",
    "PORTTI_SANDBOX_SERVICES__TSA_LISTEN",
    "PORTTI_SANDBOX_SERVICES__PTV_LISTEN",
];

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sandbox gateway in `dir` on this port, its simulators on free ports, quiet.
pub fn sandbox_gateway(dir: &Path, port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_remove("PORTTI_CONFIG")
        .env("PORTTI_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for name in SIMULATOR_LISTENS {
        command.env(name, "127.0.0.1:0");
    }
    command
}

/// A gateway process run from the `portti.toml` in its own data directory, as an operator
/// would; killed with SIGKILL when the test says so or when it is dropped.
pub struct Gateway {
    pub dir: std::path::PathBuf,
    pub base: String,
    port: u16,
    child: Option<std::process::Child>,
}

impl Gateway {
    /// Starts the gateway in `dir` (which holds `portti.toml`) and waits until it is ready.
    pub async fn start(dir: &Path) -> Gateway {
        let port = free_port();
        let mut gateway = Gateway {
            dir: dir.to_path_buf(),
            base: format!("http://127.0.0.1:{port}"),
            port,
            child: None,
        };
        gateway.restart().await;
        gateway
    }

    /// Starts it again on the same port and data directory (after `kill`).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the gateway is still running");
        let child = sandbox_gateway(&self.dir, self.port)
            .args(["--config", "portti.toml"])
            .env("PORTTI_LOG", "warn")
            .spawn()
            .expect("start the gateway");
        self.child = Some(child);
        let started = std::time::Instant::now();
        while reqwest::get(format!("{}/readyz", self.base))
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the gateway did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// kill -9: no shutdown handler runs, whatever was in flight is cut off.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill the gateway");
            child.wait().expect("reap the gateway");
        }
    }

    /// A sandbox token this gateway accepts (its signing key is in its data directory).
    pub fn token(&self, scopes: &[portti::auth::Scope], organisations: &[&str]) -> String {
        let key = portti::auth::sandbox::SigningKey::load_or_create(&self.dir.join("data")).unwrap();
        let organisations: Vec<String> = organisations.iter().map(|o| o.to_string()).collect();
        portti::auth::sandbox::mint(&key, "portti-sandbox", "portti", "ohjaus", scopes, &organisations, 3600).unwrap()
    }

    /// `portti audit verify` on this gateway's configuration: success and what it printed.
    pub fn audit_verify(&self) -> (bool, String) {
        let output = Command::new(BIN)
            .current_dir(&self.dir)
            .args(["--config", "portti.toml", "audit", "verify"])
            .env_remove("PORTTI_CONFIG")
            .output()
            .unwrap();
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Suomi.fi Messages simulator of the test's own with one account (`portti-853`), answering
/// sends after `send_latency` so that many are in flight at any moment.
pub async fn messages_simulator(
    send_latency: Option<std::time::Duration>,
) -> (
    portti_simulators::suomifi_messages::Running,
    portti_simulators::suomifi_messages::Account,
) {
    use portti_simulators::suomifi_messages::{self as simulator, Account, Fault};
    let account = Account {
        username: "portti-853".into(),
        password: format!("{}-853", simulator::SANDBOX_PASSWORD),
    };
    let mut config = simulator::Config::sandbox();
    config.accounts = vec![account.clone()];
    let sim = simulator::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    if let Some(latency) = send_latency {
        sim.control().inject(Fault::latency(latency).on_path("/v2/messages"));
    }
    (sim, account)
}

/// Configuration of a gateway sending for organisation 853 through the test's simulator.
pub fn messages_config(
    simulator: &str,
    account: &portti_simulators::suomifi_messages::Account,
    database_url: Option<&str>,
) -> String {
    let database = database_url
        .map(|url| format!("database_url = \"{url}\"\n"))
        .unwrap_or_default();
    format!(
        r#"{database}
[broker]
lease_s = 2
poll_interval_ms = 50

[[suomifi_messages]]
organisation = "853"
[suomifi_messages.adapter]
base_url = "{simulator}"
username = "{}"
password_file = "portti.password"
service_id = "portti-853"
"#,
        account.username
    )
}

/// Keeps posting messages until told to stop, each to the next gateway in turn (a dead one
/// refuses at once); returns the ids answered 202.
pub async fn send_until(
    bases: std::sync::Arc<Vec<String>>,
    token: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sender: usize,
) -> Vec<String> {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let persons = portti_simulators::suomifi_messages::SANDBOX_PERSONS_WITH_MAILBOX;
    let mut accepted = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let base = &bases[(sender + n) % bases.len()];
        let body = serde_json::json!({ "organisation": "853",
            "recipient": { "identity_code": persons[(sender + n) % persons.len()] },
            "title": "Asiakasohjaus", "body": format!("Viesti {sender}-{n}"), "language": "fi" });
        match http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == 202 => {
                let v: serde_json::Value = r.json().await.unwrap();
                accepted.push(v["exchange_id"].as_str().unwrap().to_string());
            }
            // The gateway is down or restarting: nothing was promised.
            Ok(r) if r.status().is_server_error() => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(r) => panic!("unexpected answer {}", r.status()),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    accepted
}

/// Waits until every exchange has succeeded (two minutes at most).
pub async fn wait_until_succeeded(base: &str, token: &str, ids: &[String]) {
    use std::time::{Duration, Instant};
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let e: serde_json::Value = http
                .get(format!("{base}/v1/exchanges/{id}"))
                .bearer_auth(token)
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
}
