//! A crash between send and acknowledgement leads to exactly one archived document. The Kanta
//! archive simulator lives in this test process and stores every document before it answers,
//! then holds the acknowledgement back; the gateway is killed with SIGKILL while it waits, started
//! again on the same data directory, and must finish every accepted archive: the archive answers
//! the repeat `DOCUMENT_EXISTS_IDENTICAL`, keeps one document per OID, and the audit chain still
//! verifies.

use portti::auth::{sandbox, Scope};
use portti_simulators::kanta::{self as simulator, Fault};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, BIN};
const ARCHIVE_INTERACTION: &str = "RCMR_IN000002FI01";
/// Cases, each with one contact record to archive.
const DOCUMENTS: usize = 4;
/// How long the archive holds back its acknowledgement: far beyond the gateway's call budget
/// (`lease_s` minus a margin), so no acknowledgement reaches the gateway before the kill.
const HELD_ACK: Duration = Duration::from_secs(30);
/// The gateway's call budget with `lease_s = 2` (the lease minus its 500 ms margin), counted from
/// the lease: after it, the first process would record a timeout of its own instead of dying
/// mid-call.
const CALL_BUDGET: Duration = Duration::from_millis(1500);

/// Kills the gateway when the test ends, also on a failed assertion.
struct Gateway(Child);

impl Gateway {
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(dir: &Path, port: u16) -> Gateway {
    Gateway(
        common::sandbox_gateway(dir, port)
            .args(["--config", "portti.toml"])
            .env("PORTTI_LOG", "warn")
            .spawn()
            .unwrap(),
    )
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

async fn exchange(http: &reqwest::Client, base: &str, token: &str, id: &str) -> Value {
    http.get(format!("{base}/v1/exchanges/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn config(endpoint: &str) -> String {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs-example");
    let cert = |name: &str| certs.join(name).display().to_string();
    format!(
        r#"
[broker]
lease_s = 2
poll_interval_ms = 50

[kanta]
endpoint = "{endpoint}"
processing_code = "T"

[kanta.http]
root_ca_pem = "{ca}"
identity = {{ kind = "pem", cert = "{client_cert}", key = "{client_key}" }}

[kanta.organisations.853]
name = "Turun kaupunki"
sender_system_oid = "{sender}"
registry_keeper_oid = "{keeper}"
municipality_code = "853"
document_oid_root = "1.2.246.10.853.10.3"
signing_key = "{signing_key}"
signing_certificate = "{signing_cert}"
"#,
        ca = cert("demo-ca.pem"),
        client_cert = cert("portti-outbound.pem"),
        client_key = cert("portti-outbound.key"),
        sender = simulator::sender_system_oid("853"),
        keeper = simulator::registry_keeper_oid("853"),
        signing_key = cert("kanta-signing-853.key"),
        signing_cert = cert("kanta-signing-853.pem"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_send_and_acknowledgement_leads_to_exactly_one_archived_document() {
    let test_started = Instant::now();
    let sim = simulator::start(simulator::Config::sandbox(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("portti.toml"), config(&sim.endpoint())).unwrap();
    let key = sandbox::SigningKey::load_or_create(&dir.path().join("data")).unwrap();
    let token = sandbox::mint(
        &key,
        "portti-sandbox",
        "portti",
        "ohjaus",
        &[Scope::CasesWrite, Scope::KantaArchive, Scope::ExchangesRead],
        &["853".into()],
        600,
    )
    .unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let gateway = spawn(dir.path(), port);
    wait_ready(&base).await;
    let http = reqwest::Client::new();

    // Distinct cases: each gets its own id, and so its own document OID.
    let mut cases = Vec::new();
    for n in 0..DOCUMENTS {
        let mut body: Value = serde_json::from_str(portti::case::input::EXAMPLE).unwrap();
        body["received_at"] = json!(format!("2026-11-02T09:{:02}:00+02:00", 10 + n));
        body["notes"] = json!(format!("Kanta crash case {n}"));
        let created = http
            .post(format!("{base}/v1/cases"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
        let created: Value = created.json().await.unwrap();
        cases.push(created["id"].as_str().unwrap().to_string());
    }

    // Store first, answer late: the archive processes every archive request (the document is
    // archived), then holds the acknowledgement back far beyond the gateway's call budget.
    control.inject(
        Fault::latency(HELD_ACK)
            .on_interaction(ARCHIVE_INTERACTION)
            .after_processing(),
    );

    // No exchange is leased before this, so no first call ends before `archiving + CALL_BUDGET`.
    let archiving = Instant::now();
    let mut accepted = Vec::new(); // (exchange id, document OID)
    for case in &cases {
        let r = http
            .post(format!("{base}/v1/cases/{case}/kanta-documents"))
            .bearer_auth(&token)
            .json(&json!({ "kind": "contact_record" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "accepted");
        accepted.push((
            v["exchange_id"].as_str().unwrap().to_string(),
            v["document_oid"].as_str().unwrap().to_string(),
        ));
    }
    let oids: BTreeSet<String> = accepted.iter().map(|(_, oid)| oid.clone()).collect();
    assert_eq!(oids.len(), DOCUMENTS, "each case has its own document OID");

    // Wait until the archive has stored every document: each send has been processed and its
    // acknowledgement is being held back.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first_stored: Option<Instant> = None;
    loop {
        let stored = control.documents().len();
        if stored > 0 && first_stored.is_none() {
            first_stored = Some(Instant::now());
        }
        if stored == DOCUMENTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the archive stored {stored} of {DOCUMENTS} documents"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The gateway has heard nothing back.
    let mut before_crash = Vec::new();
    for (id, _) in &accepted {
        let e = exchange(&http, &base, &token, id).await;
        assert_ne!(e["status"], "succeeded", "{id} before the crash: {e}");
        before_crash.push(e);
    }
    gateway.kill();
    let killed_after = archiving.elapsed();
    let crash_after_store = first_stored.unwrap().elapsed();
    // Whether the kill came while every first call was still waiting for its acknowledgement
    // (always, unless the machine stalled for over a second): then the first process can have
    // recorded nothing, and the send before the crash is the only one before the restart.
    let mid_call = killed_after < CALL_BUDGET;
    if mid_call {
        for (e, (id, _)) in before_crash.iter().zip(&accepted) {
            assert_eq!(e["status"], "in_flight", "{id} before the crash: {e}");
        }
        for oid in &oids {
            assert_eq!(control.archive_count(oid), 1, "{oid} was sent once before the crash");
        }
    } else {
        eprintln!("the kill came after the first call's deadline: only the weaker checks apply");
    }
    assert!(
        control
            .request_log()
            .iter()
            .all(|r| r.interaction.as_deref() != Some(ARCHIVE_INTERACTION)),
        "no archive request was answered before the crash"
    );

    control.clear_faults();
    let restarted = Instant::now();
    let gateway = spawn(dir.path(), port);
    wait_ready(&base).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempts = Vec::new();
    for (id, _) in &accepted {
        loop {
            let e = exchange(&http, &base, &token, id).await;
            if e["status"] == "succeeded" {
                attempts.push(e["attempts"].as_array().cloned().unwrap_or_default());
                break;
            }
            assert!(Instant::now() < deadline, "{id} is still {}", e["status"]);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let recovered_in = restarted.elapsed();
    gateway.kill();

    // Exactly one archived document per accepted OID.
    let documents = control.documents();
    assert_eq!(documents.len(), accepted.len(), "nothing else was archived");
    let stored: BTreeSet<String> = documents.iter().map(|d| d.oid.clone()).collect();
    assert_eq!(stored, oids, "each accepted OID is archived once");
    for d in &documents {
        assert_eq!(d.status, simulator::DocumentStatus::Active, "{}", d.oid);
    }

    // The retry happened, and the archive answered it as already archived.
    let log = control.request_log();
    for oid in &oids {
        assert!(
            control.archive_count(oid) >= 2,
            "{oid} was sent again after the restart"
        );
        assert!(
            log.iter().any(|r| r.document_oid.as_deref() == Some(oid.as_str())
                && r.ack.as_deref() == Some("AA")
                && r.details.iter().any(|c| c == "DOCUMENT_EXISTS_IDENTICAL")),
            "{oid}: the repeat was answered DOCUMENT_EXISTS_IDENTICAL"
        );
    }

    // The first process died mid-call, so it recorded no outcome: the restarted gateway's attempt
    // is the one on record, and it succeeded. (Only when the kill came mid-call; later, the first
    // process could have recorded a timeout of its own first.)
    for ((id, _), attempts) in accepted.iter().zip(&attempts) {
        let last = attempts.last().unwrap_or_else(|| panic!("{id} has no attempts"));
        assert_eq!(last["outcome"], "succeeded", "{id}: {attempts:?}");
        if mid_call {
            assert_eq!(
                attempts.len(),
                1,
                "{id}: the crashed attempt left no record: {attempts:?}"
            );
        }
    }

    let verify = Command::new(BIN)
        .current_dir(dir.path())
        .args(["--config", "portti.toml", "audit", "verify"])
        .env_remove("PORTTI_CONFIG")
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    eprintln!(
        "killed {crash_after_store:?} after the first document was stored, {killed_after:?} after the first \
         archive request; recovered in {recovered_in:?}; whole test {:?}",
        test_started.elapsed()
    );
}
