//! ODA / Omaolo end to end: the gateway's `oda-assessments` job pages through completed
//! self-assessments of the FHIR simulator into cases (once each, from the saved cursor, through
//! faults), and a case's handling status and reply go back as brokered exchanges.

use portti::auth::{sandbox, Scope};
use portti_contract_tests::{fast_broker, get_json, post_json, run_gateway, sandbox_config};
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
        let (status, body) = get_json(&self.base, &self.token, path).await;
        assert!(!body.is_null(), "{path}: {status} without a JSON answer");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        post_json(&self.base, &self.token, path, &body).await
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

/// A gateway on its own runtime in a thread of its own, so that a test can stop it the way a
/// crash or a restart would: everything it runs is dropped and its data directory lock released.
struct Restartable {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    jobs: std::sync::Arc<portti::jobs::Jobs>,
}

impl Restartable {
    fn start(config: portti::config::Config) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                tokio::select! {
                    result = portti::app::run(config, move |_, gateway| {
                        let _ = ready_tx.send(gateway.jobs.clone());
                    }) => result.unwrap(),
                    _ = stop_rx => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        let jobs = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the gateway started");
        Restartable {
            stop: Some(stop),
            thread: Some(thread),
            jobs,
        }
    }

    fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
    }
}

#[test]
fn the_cursor_survives_a_restart_and_nothing_is_fetched_twice() {
    let data = tempfile::tempdir().unwrap();
    let support = tokio::runtime::Runtime::new().unwrap();
    // The FHIR server outlives the gateways.
    let simulator = support
        .block_on(portti_simulators::oda::start(
            portti_simulators::oda::Config::sandbox(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let control = simulator.control();
    let certs = portti_contract_tests::certs_dir();
    let config = || {
        let mut config = sandbox_config(data.path());
        config.jobs.oda_assessments = "0 0 0 1 1 * 2099".into();
        config.sandbox_services.oda_organisations = vec![];
        config.oda = Some(
            serde_json::from_value(json!({
                "organisations": ["853"],
                "adapter": {
                    "base_url": simulator.fhir_base_url(), "token_url": simulator.token_url(),
                    "client_id": portti_simulators::oda::SANDBOX_CLIENT_ID,
                    "client_key_file": certs.join("oda-client.key"),
                    "key_id": portti_simulators::oda::SANDBOX_KEY_ID,
                }
            }))
            .unwrap(),
        );
        config
    };
    let run = |jobs: &portti::jobs::Jobs| support.block_on(jobs.run(portti::jobs::ODA_ASSESSMENTS)).unwrap();

    let first = Restartable::start(config());
    let created = run(&first.jobs);
    assert_eq!(created.outcome, "ok", "{created:?}");
    assert_eq!(created.counts["cases_created"], 2, "{created:?}");
    first.stop();

    control.clear_request_log();
    control.add_assessment("010594Y9032", "853", "urgent");
    let second = Restartable::start(config());
    let after = run(&second.jobs);
    assert_eq!(after.outcome, "ok", "{after:?}");
    assert_eq!(after.counts["assessments"], 1, "only the new one is fetched: {after:?}");
    assert_eq!(after.counts["cases_created"], 1, "{after:?}");
    let searches: Vec<_> = control
        .request_log()
        .into_iter()
        .filter(|r| r.path.ends_with("/QuestionnaireResponse"))
        .collect();
    assert!(
        searches
            .iter()
            .all(|r| r.query.as_deref().is_some_and(|q| q.contains("_lastUpdated=ge"))),
        "the search after the restart starts from the saved cursor: {searches:?}"
    );
    second.stop();
}
