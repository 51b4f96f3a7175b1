//! The newcomer's path through the real binary: start the sandbox, get a token with
//! `portti token`, submit and read a case, query and verify the audit trail, and have
//! `portti audit verify` catch a tampered record.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, BIN};

struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(dir: &Path) -> Gateway {
    let port = free_port();
    let child = common::sandbox_gateway(dir, port).spawn().unwrap();
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
    Gateway { child, base }
}

fn portti(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("PORTTI_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

async fn get_json(http: &reqwest::Client, token: &str, url: String) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_quick_start_works_and_verify_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(dir.path()).await;
    assert!(
        dir.path().join("data/portti.db").exists(),
        "SQLite under ./data of the working directory"
    );

    let out = portti(
        dir.path(),
        &[
            "token",
            "--client",
            "ohjaus",
            "--scopes",
            "cases:write,cases:read,audit:read",
            "--orgs",
            "853,529",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();

    let http = reqwest::Client::new();
    let body = serde_json::from_str::<Value>(portti::case::input::EXAMPLE).unwrap();
    let created = http
        .post(format!("{}/v1/cases", gateway.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["client"]["identity_code"], "131052-308T");

    let read: Value = get_json(&http, &token, format!("{}{location}", gateway.base)).await;
    assert_eq!(read, created);

    let audit: Value = get_json(&http, &token, format!("{}/v1/audit?person=131052-308T", gateway.base)).await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
    let verify: Value = get_json(&http, &token, format!("{}/v1/audit/verify", gateway.base)).await;
    assert_eq!(verify["valid"], true);
    assert_eq!(verify["checkpoints"], 0);

    // A checkpoint now, through the jobs API, timestamped by the sandbox TSA.
    let out = portti(
        dir.path(),
        &["token", "--client", "ops", "--scopes", "jobs:run", "--orgs", "853"],
    );
    let ops = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let run: Value = http
        .post(format!("{}/v1/jobs/audit-checkpoint/run", gateway.base))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["outcome"], "ok", "{run}");
    let verify: Value = get_json(&http, &token, format!("{}/v1/audit/verify", gateway.base)).await;
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["checkpoints"], 1, "{verify}");
    assert_eq!(verify["last_checkpoint"]["timestamped"], true, "{verify}");
    drop(gateway);

    let ok = portti(dir.path(), &["audit", "verify"]);
    assert!(ok.status.success());
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("5 records"), // and the job run
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // An attacker with access to the file removes the guard and edits record 2.
    let db = dir.path().join("data/portti.db");
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET outcome = 'denied' WHERE seq = 2;")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let broken = portti(dir.path(), &["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(2));
    let said = String::from_utf8_lossy(&broken.stdout);
    assert!(said.contains("BROKEN at record 2"), "{said}");
}

#[test]
fn token_refuses_unknown_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let out = portti(
        dir.path(),
        &[
            "token",
            "--client",
            "x",
            "--scopes",
            "cases:everything",
            "--orgs",
            "853",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope"));
}

#[tokio::test]
async fn the_sandbox_shares_costs_by_its_example_population_table() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(dir.path()).await;
    let out = portti(
        dir.path(),
        &[
            "token",
            "--client",
            "raportit",
            "--scopes",
            "reports:read",
            "--orgs",
            "853,529,680",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{}/v1/reports/cost-allocation", gateway.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"budget": "1250000.00", "from": "2026-01-01", "to": "2026-12-31"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["population_source"], "configuration", "{body}");
    // No contacts yet: all by the example table, Turku 21 500, Naantali 2 600, Raisio 2 900.
    assert_eq!(body["performance_basis"], "population");
    let shares: Vec<(&str, u64)> = body["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["organisation"].as_str().unwrap(),
                s["population_75_plus"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shares, [("529", 2_600), ("680", 2_900), ("853", 21_500)]);
    assert_eq!(body["sum_cents"], 125_000_000);
}
