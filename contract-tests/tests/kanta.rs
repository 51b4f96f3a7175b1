//! Kanta end to end: a case's documents go from the gateway (in this process) through the broker
//! and the Kanta adapter (mutual TLS, system signature) to the archive simulator; faults in the
//! simulator show retries and dead letters; searches and fetches read the archive back.

use portti::auth::{sandbox, Scope};
use portti_contract_tests::{fast_broker, get_json, post_json, run_gateway, sandbox_config};
use portti_simulators::kanta::{Control, Fault};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Running {
    base: String,
    token: String,
    control: Control,
    _data: tempfile::TempDir,
}

async fn start() -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(data.path());
    fast_broker(&mut config);
    config.broker.default_policy.max_attempts = 4;
    let key = sandbox::SigningKey::load_or_create(data.path()).unwrap();
    let token = sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "ohjaus",
        &[
            Scope::CasesWrite,
            Scope::CasesRead,
            Scope::KantaArchive,
            Scope::KantaRead,
            Scope::ExchangesRead,
            Scope::ExchangesRetry,
        ],
        &["853".into()],
        600,
    )
    .unwrap();
    let (addr, control) = run_gateway(config, |gateway| gateway.kanta_simulator.as_ref().unwrap().control()).await;
    Running {
        base: format!("http://{addr}"),
        token,
        control,
        _data: data,
    }
}

impl Running {
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        post_json(&self.base, &self.token, path, body).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        get_json(&self.base, &self.token, path).await
    }

    async fn new_case(&self) -> String {
        let body: Value = serde_json::from_str(portti::case::input::EXAMPLE).unwrap();
        let (status, case) = self.post("/v1/cases", &body).await;
        assert_eq!(status, 201, "{case}");
        case["id"].as_str().unwrap().to_string()
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, e) = self.get(&format!("/v1/exchanges/{id}")).await;
            if e["status"] == status {
                return e;
            }
            assert!(Instant::now() < deadline, "still {e}, wanted {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_contact_record_is_archived_versioned_found_and_invalidated() {
    let gw = start().await;
    let case = gw.new_case().await;
    let path = format!("/v1/cases/{case}/kanta-documents");

    let (status, accepted) = gw.post(&path, &json!({ "kind": "contact_record" })).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["version"], 1);
    let oid = accepted["document_oid"].as_str().unwrap().to_string();
    let exchange = accepted["exchange_id"].as_str().unwrap().to_string();
    let done = gw.wait_status(&exchange, "succeeded").await;
    assert_eq!(done["upstream_id"], oid.as_str());
    let stored = gw.control.document(&oid).expect("the archive holds the document");
    assert_eq!(stored.version, 1);
    assert_eq!(gw.control.archive_count(&oid), 1);

    // A repeat is answered with the first exchange, nothing is sent again.
    let (status, again) = gw.post(&path, &json!({ "kind": "contact_record" })).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["exchange_id"], exchange.as_str());
    assert_eq!(again["status"], "exists");

    // A new version replaces the first.
    let (status, v2) = gw
        .post(
            &path,
            &json!({ "kind": "contact_record", "new_version": true, "addendum": "Kotihoidon esite lähetetty.",
                     "author": { "id": "tt-4711", "name": "Sari Ohjaaja" } }),
        )
        .await;
    assert_eq!(status, 202, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["set_id"], accepted["set_id"]);
    let v2_oid = v2["document_oid"].as_str().unwrap().to_string();
    assert_ne!(v2_oid, oid);
    gw.wait_status(v2["exchange_id"].as_str().unwrap(), "succeeded").await;

    // The person's documents, read back from the archive (identity code of the example case).
    let (status, found) = gw.get("/v1/kanta/documents?person=131052-308T").await;
    assert_eq!(status, 200, "{found}");
    let documents = found["documents"].as_array().unwrap();
    let status_of = |oid: &str| {
        documents
            .iter()
            .find(|d| d["document_oid"] == oid)
            .map(|d| d["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of(&oid).as_deref(), Some("obsolete"), "{found}");
    assert_eq!(status_of(&v2_oid).as_deref(), Some("active"), "{found}");

    let (status, fetched) = gw.get(&format!("/v1/kanta/documents/{v2_oid}")).await;
    assert_eq!(status, 200, "{fetched}");
    assert!(
        fetched["documents"][0]["cda_base64"]
            .as_str()
            .is_some_and(|b| !b.is_empty()),
        "{fetched}"
    );

    // Invalidation of the current version.
    let (status, inv) = gw
        .post(
            &format!("{path}/invalidations"),
            &json!({ "kind": "contact_record", "reason": "written_in_error" }),
        )
        .await;
    assert_eq!(status, 202, "{inv}");
    gw.wait_status(inv["exchange_id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(gw.control.document(&v2_oid).unwrap().status.code(), "nullified");
}

#[tokio::test]
async fn bad_requests_name_every_field_and_queue_nothing() {
    let gw = start().await;
    let case = gw.new_case().await;
    let (status, problem) = gw
        .post(
            &format!("/v1/cases/{case}/kanta-documents"),
            &json!({ "kind": "diary", "language": "en" }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/kind") && pointers.contains(&"/language"),
        "{problem}"
    );
    let (status, problem) = gw
        .post(
            &format!("/v1/cases/{case}/kanta-documents"),
            &json!({ "kind": "contact_record", "new_version": true }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(gw.control.documents().is_empty());
    let (status, _) = gw.get("/v1/kanta/documents?person=131052-308A").await;
    assert_eq!(status, 422);
    let (status, _) = gw
        .post(
            "/v1/cases/0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a10/kanta-documents",
            &json!({ "kind": "contact_record" }),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn transient_faults_are_retried_and_the_document_is_archived_once() {
    let gw = start().await;
    let case = gw.new_case().await;
    // Only archive messages: the start-up health checks must not use the faults up.
    gw.control
        .inject(Fault::status(503).times(2).on_interaction("RCMR_IN000002FI01"));
    let (status, accepted) = gw
        .post(
            &format!("/v1/cases/{case}/kanta-documents"),
            &json!({ "kind": "client_relationship" }),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let done = gw
        .wait_status(accepted["exchange_id"].as_str().unwrap(), "succeeded")
        .await;
    assert!(done["attempts"].as_array().unwrap().len() >= 3, "{done}");
    let oid = accepted["document_oid"].as_str().unwrap();
    assert_eq!(gw.control.documents().len(), 1);
    assert!(gw.control.document(oid).is_some());
}

#[tokio::test]
async fn a_refused_document_is_dead_lettered_with_the_archives_reason() {
    let gw = start().await;
    let case = gw.new_case().await;
    gw.control.inject(Fault::unknown_code());
    let (status, accepted) = gw
        .post(
            &format!("/v1/cases/{case}/kanta-documents"),
            &json!({ "kind": "service_need_assessment_referral" }),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let dead = gw.wait_status(accepted["exchange_id"].as_str().unwrap(), "dead").await;
    assert!(dead["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{dead}");
    assert!(gw.control.documents().is_empty());
}

/// Every acknowledgement class and transport fault, each against its own case: what the
/// broker makes of it (retried to success, or dead-lettered) and what the archive holds.
#[tokio::test]
async fn every_acknowledgement_class_and_fault_ends_as_the_contract_says() {
    use portti_simulators::kanta::Malformed;
    let gw = start().await;
    let archive = "RCMR_IN000002FI01";
    let cases: Vec<(&str, Fault, &str)> = vec![
        ("AR SERVICE_BUSY twice", Fault::service_busy().times(2), "succeeded"),
        (
            "AR TEMPORARY_FAILURE",
            Fault::ack("AR", Some("TEMPORARY_FAILURE")).times(1),
            "succeeded",
        ),
        ("AR without a known code", Fault::ack("AR", None).times(1), "succeeded"),
        ("wrong targetMessage", Fault::wrong_target().times(1), "succeeded"),
        (
            "truncated ack",
            Fault::malformed(Malformed::Truncated).times(1),
            "succeeded",
        ),
        ("not XML", Fault::malformed(Malformed::NotXml).times(1), "succeeded"),
        (
            "wrong root",
            Fault::malformed(Malformed::WrongRoot).times(1),
            "succeeded",
        ),
        ("dropped connection", Fault::drop_connection().times(1), "succeeded"),
        ("500", Fault::status(500).times(1), "succeeded"),
        ("502", Fault::status(502).times(1), "succeeded"),
        ("429 Retry-After", Fault::too_many_requests(1).times(1), "succeeded"),
        (
            "ack lost after storing",
            Fault::drop_connection().times(1).after_processing(),
            "succeeded",
        ),
        ("AE SCHEMA_INVALID", Fault::ack("AE", Some("SCHEMA_INVALID")), "dead"),
        (
            "AE SIGNATURE_INVALID",
            Fault::ack("AE", Some("SIGNATURE_INVALID")),
            "dead",
        ),
        (
            "AE METADATA_MISMATCH",
            Fault::ack("AE", Some("METADATA_MISMATCH")),
            "dead",
        ),
        (
            "AE DOCUMENT_EXISTS_DIFFERENT",
            Fault::ack("AE", Some("DOCUMENT_EXISTS_DIFFERENT")),
            "dead",
        ),
        ("AR NOT_AUTHORISED", Fault::ack("AR", Some("NOT_AUTHORISED")), "dead"),
        ("AR SYNTAX", Fault::ack("AR", Some("SYNTAX")), "dead"),
        ("400", Fault::status(400), "dead"),
    ];
    for (name, fault, expected) in cases {
        let case = gw.new_case().await;
        gw.control.clear_faults();
        gw.control.inject(fault.on_interaction(archive));
        let (status, accepted) = gw
            .post(
                &format!("/v1/cases/{case}/kanta-documents"),
                &json!({ "kind": "contact_record" }),
            )
            .await;
        assert_eq!(status, 202, "{name}: {accepted}");
        let done = gw
            .wait_status(accepted["exchange_id"].as_str().unwrap(), expected)
            .await;
        let oid = accepted["document_oid"].as_str().unwrap();
        let stored = gw.control.document(oid);
        if expected == "succeeded" {
            assert_eq!(stored.map(|d| d.version), Some(1), "{name}: {done}");
        } else {
            assert!(stored.is_none(), "{name}: refused, yet stored");
            assert!(
                done["last_error"].as_str().is_some_and(|e| !e.is_empty()),
                "{name}: {done}"
            );
        }
    }
}
