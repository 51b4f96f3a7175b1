//! Fixtures shared by the tests of this crate.

use crate::config::KantaOrganisation;
use portti_adapter_core::ClientIdentity;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

pub(crate) static CERTS: LazyLock<PathBuf> =
    LazyLock::new(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example"));
pub(crate) static SCHEMA: LazyLock<PathBuf> =
    LazyLock::new(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/cda-r2"));

/// Turku (853) with the demo certificates.
pub(crate) fn organisation() -> KantaOrganisation {
    KantaOrganisation {
        name: "Turun kaupunki".into(),
        sender_system_oid: "1.2.246.10.1234567.14.1".into(),
        registry_keeper_oid: "1.2.246.10.1234567.10".into(),
        municipality_code: "853".into(),
        document_oid_root: "1.2.246.10.1234567.14.2".into(),
        signing_key: CERTS.join("kanta-signing-853.key"),
        signing_certificate: CERTS.join("kanta-signing-853.pem"),
        identity: Some(ClientIdentity::Pem {
            cert: CERTS.join("ohjaus-853.pem"),
            key: CERTS.join("ohjaus-853.key"),
        }),
    }
}

/// Runs a command-line tool and returns (success, stdout + stderr). Panics, naming the Debian
/// package, when the tool is not installed: a missing tool must fail the test, not skip it.
pub(crate) fn run_tool(tool: &str, package: &str, args: &[&OsStr]) -> (bool, String) {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool} is needed by this test and could not be run ({e}): install the Debian package {package}")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}
