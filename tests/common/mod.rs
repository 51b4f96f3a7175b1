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
