//! Shared pieces of the contract suites: where the demo certificates are, and HTTPS clients
//! that trust only the demo CA and present a demo client certificate.
//!
//! Simulators of the national services (Suomi.fi Messages, Kanta, Identification, ODA) live
//! beside this file as their adapters are built; each is a real HTTP(S) server on loopback.

use std::path::PathBuf;

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
