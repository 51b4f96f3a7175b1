//! Shared pieces of the contract suites: where the demo certificates are, HTTPS clients that
//! trust only the demo CA and present a demo client certificate, and the gateway run in-process
//! with its sandbox simulators on loopback.
//!
//! Simulators of the national services (Suomi.fi Messages, Kanta, Identification, ODA) live
//! beside this file as their adapters are built; each is a real HTTP(S) server on loopback.

use portti::app::Gateway;
use portti::config::{Config, SandboxServices};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `certs-example/` of the workspace.
pub fn certs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs-example")
}

pub fn cert_path(name: &str) -> PathBuf {
    certs_dir().join(name)
}

fn read(name: &str) -> anyhow::Result<Vec<u8>> {
    let path = cert_path(name);
    std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// An HTTPS client that trusts only the demo CA and, if named, presents `<identity>.pem/.key`.
pub fn https_client(identity: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&read("demo-ca.pem")?)?);
    if let Some(name) = identity {
        let cert = read(&format!("{name}.pem"))?;
        let key = read(&format!("{name}.key"))?;
        builder = builder.identity(reqwest::Identity::from_pkcs8_pem(&cert, &key)?);
    }
    Ok(builder.build()?)
}

/// The gateway's config for a suite: it and every sandbox simulator on a free loopback port
/// (`127.0.0.1:0`), its data in `data`; the rest as [`Config::default`].
pub fn sandbox_config(data: &Path) -> Config {
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
    Config {
        listen: any_port,
        data_dir: data.to_path_buf(),
        sandbox_services: SandboxServices {
            messages_listen: any_port,
            kanta_listen: any_port,
            identification_listen: any_port,
            mandates_listen: any_port,
            oda_listen: any_port,
            tsa_listen: any_port,
            ptv_listen: any_port,
            ..Default::default()
        },
        ..Config::default()
    }
}

/// Fast broker timings for a suite: polling every 20 ms, retries backing off from 10 ms to 50 ms.
pub fn fast_broker(config: &mut Config) {
    config.broker.poll_interval_ms = 20;
    config.broker.default_policy.base_delay_ms = 10;
    config.broker.default_policy.max_delay_ms = 50;
}

/// Run the gateway in a task of its own; once it listens, returns its address and what `pick`
/// takes from it (a simulator's control, the jobs). Panics when the gateway fails to start.
pub async fn run_gateway<T, F>(config: Config, pick: F) -> (SocketAddr, T)
where
    T: Send + 'static,
    F: FnOnce(&Gateway) -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        portti::app::run(config, move |addr, gateway: &Gateway| {
            let _ = tx.send((addr, pick(gateway)));
        })
        .await
        .unwrap();
    });
    rx.await.expect("the gateway started")
}

/// POSTs `body` as JSON to the gateway at `base` with a bearer token: the status and the JSON
/// answer (`null` when there is none).
pub async fn post_json(base: &str, token: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

/// GETs `path` from the gateway at `base` with a bearer token: the status and the JSON answer
/// (`null` when there is none).
pub async fn get_json(base: &str, token: &str, path: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}
