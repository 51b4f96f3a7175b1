//! `portti import contact-centre FILE` against a started sandbox gateway.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, BIN};

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_small_export_is_imported_and_rejected_rows_are_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _gateway = Gateway(common::sandbox_gateway(dir.path(), port).spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz"))
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "the sandbox did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let file = dir.path().join("calls.csv");
    std::fs::write(
        &file,
        "call_id,queue,municipality,language,received,answered,ended,outcome\n\
         c-1,neuvonta,853,fi,2026-11-02 09:15:00,2026-11-02 09:15:09,2026-11-02 09:24:00,resolved_first_contact\n\
         c-2,neuvonta,853,fi,2026-11-02 09:16:00,,,nonsense\n\
         c-3,neuvonta,Turku,sv,2026-11-02T10:00:00+02:00,,,open\n",
    )
    .unwrap();
    let run = || {
        Command::new(BIN)
            .current_dir(dir.path())
            .env_remove("PORTTI_CONFIG")
            .env_remove("PORTTI_TOKEN")
            .args(["import", "contact-centre", "calls.csv", "--url", &base])
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a rejected row fails the run: {stdout}");
    assert!(stdout.contains("accepted: 2"), "{stdout}\n{stderr}");
    assert!(stdout.contains("created: 2"), "{stdout}");
    assert!(stdout.contains("rejected: 1"), "{stdout}");
    assert!(stdout.contains("line 3 (call c-2): /outcome"), "{stdout}");
    assert!(stderr.contains("3/3 rows"), "a progress line: {stderr}");

    // The same file again changes nothing.
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("unchanged: 2"), "{stdout}");
    assert!(stdout.contains("created: 0"), "{stdout}");

    // What the import did is in the trail, and `portti audit export` writes it out.
    let export = |format: &str| {
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .env_remove("PORTTI_CONFIG")
            .args(["audit", "export", "--format", format, "--from", "2020-01-01"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let csv = export("csv");
    assert!(csv.starts_with("seq,time,client_id,end_user,role,action,"), "{csv}");
    assert!(
        csv.lines().filter(|l| l.contains(",case.create,")).count() >= 2,
        "{csv}"
    );
    let fhir: serde_json::Value = serde_json::from_str(&export("fhir")).unwrap();
    assert_eq!(fhir["resourceType"], "Bundle");
    assert_eq!(fhir["entry"].as_array().unwrap().len(), csv.lines().count() - 1);
}
