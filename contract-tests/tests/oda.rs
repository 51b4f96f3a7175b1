//! ODA / Omaolo end to end: the gateway's `oda-assessments` job pages through completed
//! self-assessments of the FHIR simulator into cases (once each, from the saved cursor, through
//! faults), and a case's handling status and reply go back as brokered exchanges.

use portti::auth::{sandbox, Scope};
use portti_contract_tests::{fast_broker, run_gateway, sandbox_config};
use portti_simulators::oda::{Control, Fault};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Running {
    base: String,
    token: String,
    oda: Control,
    jobs: std::sync::Arc<portti::jobs::Jobs>,
    _data: tempfile::TempDir,
}

async fn start() -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(data.path());
    fast_broker(&mut config);
    // The tests run the job themselves.
    config.jobs.oda_assessments = "0 0 0 1 1 * 2099".into();
    let key = sandbox::SigningKey::load_or_create(data.path()).unwrap();
    let token = sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "ohjaus",
        &[Scope::CasesRead, Scope::CasesWrite, Scope::ExchangesRead],
        &["853".into()],
        600,
    )
    .unwrap();
    let (addr, (oda, jobs)) = run_gateway(config, |gateway| {
        (gateway.oda_simulator.as_ref().unwrap().control(), gateway.jobs.clone())
    })
    .await;
    Running {
        base: format!("http://{addr}"),
        token,
        oda,
        jobs,
        _data: data,
    }
}

impl Running {
    async fn get(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// The cases of 853 that came from Omaolo.
    async fn oda_cases(&self) -> Vec<Value> {
        self.get("/v1/cases?organisation=853&limit=500").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["source"]["system"] == "oda")
            .cloned()
            .collect()
    }

    async fn sync(&self) -> portti::store::JobRun {
        self.jobs.run(portti::jobs::ODA_ASSESSMENTS).await.unwrap()
    }
}

#[tokio::test]
async fn completed_assessments_become_cases_once_and_answers_go_back() {
    let gw = start().await;
    let run = gw.sync().await;
    assert_eq!(run.outcome, "ok", "{run:?}");
    let cases = gw.oda_cases().await;
    assert_eq!(cases.len(), 2, "{cases:?}");
    for case in &cases {
        assert_eq!(case["channel"], "e_service");
        assert_eq!(case["outcome"], "open");
        assert!(case["source"]["resource"]
            .as_str()
            .unwrap()
            .starts_with("QuestionnaireResponse/"));
        assert!(
            case["source"]["urgency"].as_str().is_some_and(|u| !u.is_empty()),
            "{case}"
        );
    }

    // Nothing twice: a second run from the saved cursor creates nothing.
    let again = gw.sync().await;
    assert_eq!(again.counts["cases_created"], 0, "{again:?}");
    assert_eq!(gw.oda_cases().await.len(), 2);

    // More than one page, and a fault on the way: the failed run leaves the cursor, the next one
    // goes on, and still nothing twice.
    for _ in 0..60 {
        gw.oda.add_assessment("010594Y9032", "853", "urgent");
    }
    gw.oda.inject(Fault::status(503).times(1));
    let failed = gw.sync().await;
    assert_eq!(failed.outcome, "failed", "{failed:?}");
    let recovered = gw.sync().await;
    assert_eq!(recovered.outcome, "ok", "{recovered:?}");
    let rest = gw.sync().await;
    assert_eq!(rest.outcome, "ok");
    assert_eq!(gw.oda_cases().await.len(), 62);

    // Handling status and the reply go back through the outbox.
    let case = gw.oda_cases().await[0]["id"].as_str().unwrap().to_string();
    let (status, accepted) = gw
        .post(
            &format!("/v1/cases/{case}/oda-status"),
            json!({ "status": "in-progress" }),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let (status, reply) = gw
        .post(
            &format!("/v1/cases/{case}/oda-replies"),
            json!({ "message": "Hei! Soitamme teille huomenna.", "sender_display": "Sari Ohjaaja" }),
        )
        .await;
    assert_eq!(status, 202, "{reply}");
    for id in [&accepted["exchange_id"], &reply["exchange_id"]] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let e = gw.get(&format!("/v1/exchanges/{}", id.as_str().unwrap())).await;
            if e["status"] == "succeeded" {
                break;
            }
            assert!(Instant::now() < deadline, "{e}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(gw.oda.tasks().len(), 1);
    assert_eq!(gw.oda.tasks()[0]["status"], "in-progress");
    assert_eq!(gw.oda.communications().len(), 1);

    let (status, problem) = gw
        .post(&format!("/v1/cases/{case}/oda-status"), json!({ "status": "done" }))
        .await;
    assert_eq!(status, 422, "{problem}");
}
