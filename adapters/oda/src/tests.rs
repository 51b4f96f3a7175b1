//! Tests that need no server: configuration, the resources written, the search URL, refusals made
//! before anything is sent, and the independent FHIR R4 model check of what is written. HTTP behaviour
//! against the simulator is in `tests/simulator.rs`.

use super::*;
use serde_json::json;
use std::path::Path;

const CODE: &str = "131052-308T";

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
}

fn config() -> OdaConfig {
    serde_json::from_value(json!({
        "base_url": "http://127.0.0.1:9/fhir/",
        "token_url": "http://127.0.0.1:9/auth/token",
        "client_id": "portti-varha",
        "client_key_file": certs().join("oda-client.key"),
        "key_id": "oda-1",
        "http": {"request_timeout": "2s"}
    }))
    .unwrap()
}

fn adapter() -> Oda {
    Oda::new(config()).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-03-02T08:30:00.125Z".parse().unwrap()
}

fn update() -> UpdateTaskStatus {
    UpdateTaskStatus {
        questionnaire_response_id: "qr-853-1".into(),
        organisation: "853".into(),
        status: "in-progress".into(),
        patient_identity_code: Some(" 131052-308t".into()),
        business_status: Some("Soitetaan takaisin tänään".into()),
        note: Some("Hoitaja Virtanen".into()),
    }
}

fn reply() -> SendReply {
    SendReply {
        questionnaire_response_id: "qr-853-1".into(),
        organisation: "853".into(),
        message: "Hei, soitamme teille tänään kello 14 mennessä.".into(),
        patient_identity_code: Some(CODE.into()),
        reply_id: None,
        sender_display: Some("Turun terveysasemat".into()),
        language: Some("fi".into()),
    }
}

fn assert_no_identity_code(text: &str) {
    assert!(
        !text.contains("131052") && !text.to_uppercase().contains("308T"),
        "{text}"
    );
}

#[test]
fn the_adapter_is_built_from_its_config_with_defaults() {
    let oda = adapter();
    assert_eq!(oda.service(), SERVICE);
    assert_eq!(oda.base_url, "http://127.0.0.1:9/fhir");
    assert_eq!(oda.page_size, 50);
    assert_eq!(oda.max_pages, 20);
    assert_eq!(oda.extraction, Extraction::default());
    assert_eq!(oda.task_profile, DEFAULT_TASK_PROFILE);
    let debug = format!("{oda:?}");
    assert!(debug.contains("ES384") && !debug.contains("PRIVATE"), "{debug}");
}

#[test]
fn bad_configs_are_refused() {
    let with = |change: &dyn Fn(&mut OdaConfig)| {
        let mut c = config();
        change(&mut c);
        Oda::new(c).unwrap_err().to_string()
    };
    assert!(with(&|c| c.base_url = "ftp://x".into()).contains("base_url"));
    assert!(with(&|c| c.token_url = "token".into()).contains("token_url"));
    assert!(with(&|c| c.client_id = " ".into()).contains("client_id"));
    assert!(with(&|c| c.page_size = 0).contains("page_size"));
    assert!(with(&|c| c.page_size = 1001).contains("page_size"));
    assert!(with(&|c| c.max_pages = 0).contains("max_pages"));
    assert!(with(&|c| c.organisation_system = "".into()).contains("organisation_system"));
    assert!(with(&|c| c.client_key_file = certs().join("oda-client.pem")).contains("client_key_file"));
    assert!(with(&|c| c.client_key_file = certs().join("nope.key")).contains("nope.key"));
    let unknown = serde_json::from_value::<OdaConfig>(json!({
        "base_url": "http://x", "token_url": "http://x/t", "client_id": "c",
        "client_key_file": "k", "client_secret": "s"
    }));
    assert!(unknown.is_err());
}

#[test]
fn the_search_url_filters_by_organisation_tag_and_cursor() {
    let oda = adapter();
    let url = oda.search_url("853", None);
    assert_eq!(
        url,
        "http://127.0.0.1:9/fhir/QuestionnaireResponse?status=completed\
         &_tag=urn%3Aoid%3A1.2.246.537.6.21%7C853&_sort=_lastUpdated&_count=50"
    );
    let since: DateTime<Utc> = "2026-03-01T10:00:00.5+02:00".parse().unwrap();
    let url = reqwest::Url::parse(&oda.search_url("a|b,c", Some(&since))).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
    assert!(pairs.contains(&("_lastUpdated".into(), "ge2026-03-01T08:00:00.500Z".into())));
    assert!(pairs.contains(&("_tag".into(), "urn:oid:1.2.246.537.6.21|a\\|b\\,c".into())));
}

#[test]
fn next_links_are_followed_only_under_the_base_url() {
    let oda = adapter();
    assert!(oda.check_next("http://127.0.0.1:9/fhir?_page=abc").is_ok());
    assert!(oda
        .check_next("http://127.0.0.1:9/fhir/QuestionnaireResponse?_page=abc")
        .is_ok());
    for bad in [
        "http://evil.example/fhir?_page=abc",
        "https://127.0.0.1:9/fhir?_page=abc",
        "http://127.0.0.1:10/fhir?_page=abc",
        "http://127.0.0.1:9/other?_page=abc",
        "not a url",
    ] {
        assert!(matches!(oda.check_next(bad), Err(AdapterError::Permanent(_))), "{bad}");
    }
}

#[test]
fn the_task_is_deterministic_and_carries_profile_focus_owner() {
    let oda = adapter();
    let task = oda.build_task(&update(), now()).unwrap();
    let id = Oda::task_id("853", "qr-853-1");
    assert_eq!(id, Oda::task_id("853", "qr-853-1"));
    assert_ne!(id, Oda::task_id("529", "qr-853-1"));
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 8);
    assert_eq!(
        serde_json::to_value(&task).unwrap(),
        json!({
            "resourceType": "Task",
            "id": id,
            "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/Task"]},
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")}],
            "status": "in-progress",
            "businessStatus": {"text": "Soitetaan takaisin tänään"},
            "intent": "order",
            "focus": {"reference": "QuestionnaireResponse/qr-853-1"},
            "for": {"type": "Patient", "identifier": {"system": "urn:oid:1.2.246.21", "value": CODE}},
            "lastModified": "2026-03-02T08:30:00.125Z",
            "owner": {"type": "Organization", "identifier": {"system": "urn:oid:1.2.246.537.6.21", "value": "853"}},
            "note": [{"text": "Hoitaja Virtanen"}]
        })
    );
    let minimal = UpdateTaskStatus {
        patient_identity_code: None,
        business_status: Some(" ".into()),
        note: None,
        ..update()
    };
    let value = serde_json::to_value(oda.build_task(&minimal, now()).unwrap()).unwrap();
    assert!(value.get("for").is_none() && value.get("note").is_none() && value.get("businessStatus").is_none());
}

#[test]
fn the_communication_is_about_the_assessment() {
    let oda = adapter();
    let exchange = uuid::Uuid::now_v7();
    let identifier = Oda::reply_identifier(None, exchange);
    assert_eq!(identifier, format!("urn:uuid:{exchange}"));
    let c = oda.build_communication(&reply(), &identifier, now()).unwrap();
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        json!({
            "resourceType": "Communication",
            "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/Communication"]},
            "language": "fi",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": identifier}],
            "status": "completed",
            "subject": {"type": "Patient", "identifier": {"system": "urn:oid:1.2.246.21", "value": CODE}},
            "about": [{"reference": "QuestionnaireResponse/qr-853-1"}],
            "sent": "2026-03-02T08:30:00.125Z",
            "recipient": [{"type": "Patient", "identifier": {"system": "urn:oid:1.2.246.21", "value": CODE}}],
            "sender": {"type": "Organization", "identifier": {"system": "urn:oid:1.2.246.537.6.21", "value": "853"},
                       "display": "Turun terveysasemat"},
            "payload": [{"contentString": "Hei, soitamme teille tänään kello 14 mennessä."}]
        })
    );
}

#[test]
fn reply_identifiers_come_from_reply_id_or_the_exchange() {
    let exchange = uuid::Uuid::now_v7();
    let given = "0196a5b2-7c1e-7d55-9a3b-5f2e8c0d1a22";
    assert_eq!(
        Oda::reply_identifier(Some(given), exchange),
        format!("urn:uuid:{given}")
    );
    let derived = Oda::reply_identifier(Some("vastaus-42"), exchange);
    assert_eq!(
        derived,
        Oda::reply_identifier(Some(" vastaus-42 "), uuid::Uuid::now_v7())
    );
    assert_ne!(derived, Oda::reply_identifier(Some("vastaus-43"), exchange));
    assert_eq!(
        Oda::reply_identifier(Some(""), exchange),
        format!("urn:uuid:{exchange}")
    );
}

#[test]
fn bad_requests_are_permanent_and_name_no_identity_code() {
    let oda = adapter();
    let bad = UpdateTaskStatus {
        questionnaire_response_id: "a/b".into(),
        organisation: " ".into(),
        status: "done".into(),
        patient_identity_code: Some("131052-308".into()),
        ..update()
    };
    let Err(AdapterError::Permanent(m)) = oda.build_task(&bad, now()) else {
        panic!("refused")
    };
    for part in [
        "/questionnaire_response_id",
        "/organisation",
        "/status",
        "/patient_identity_code",
    ] {
        assert!(m.contains(part), "{m}");
    }
    assert_no_identity_code(&m);
    let bad = SendReply {
        message: " ".into(),
        language: Some("fi fi".into()),
        ..reply()
    };
    let Err(AdapterError::Permanent(m)) = oda.build_communication(&bad, "urn:uuid:x", now()) else {
        panic!("refused")
    };
    assert!(m.contains("/message") && m.contains("/language"), "{m}");
}

#[tokio::test]
async fn payload_errors_and_unknown_operations_are_permanent_without_values() {
    let oda = adapter();
    let cx = CallContext {
        exchange_id: uuid::Uuid::now_v7(),
        attempt: 1,
        correlation_id: "t".into(),
        deadline: Instant::now() + Duration::from_secs(2),
    };
    let op = |name: &str, payload: Value| Operation {
        name: name.into(),
        payload,
    };
    let cases = [
        op(
            OP_UPDATE_TASK_STATUS,
            json!({"questionnaire_response_id": CODE, "status": 1}),
        ),
        op(
            OP_SEND_REPLY,
            json!({"questionnaire_response_id": "x", "organisation": "853", "message": "m", "extra": CODE}),
        ),
        op(
            OP_SEARCH_COMPLETED,
            json!({"organisation": "853", "cursor": {"last_updated": CODE}}),
        ),
        op(OP_SEARCH_COMPLETED, json!({"organisation": ""})),
        op(CODE, json!({})),
    ];
    for operation in cases {
        match oda.call(&cx, &operation).await {
            Err(AdapterError::Permanent(m)) => assert_no_identity_code(&m),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn identity_codes_are_redacted_from_server_text() {
    assert_eq!(
        redact("subject 131052-308T and 010594Y9032, not 1310523-08T"),
        "subject [identity code] and [identity code], not 1310523-08T"
    );
    let outcome = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "no patient 131052-308T"}]});
    assert_eq!(
        error_detail(outcome.to_string().as_bytes()),
        "error invalid: no patient [identity code]"
    );
    assert_eq!(
        error_detail(br#"{"error":"invalid_client","error_description":"bad signature"}"#),
        "invalid_client: bad signature"
    );
    assert_eq!(error_detail(b"<html>"), "");
}

// ---- the independent FHIR R4 model check ----

use portti_adapter_core::testkit::check_with_fhir_resources;

#[test]
fn written_resources_validate_under_an_independent_fhir_r4_model() {
    let oda = adapter();
    let mut resources = vec![];
    for status in TASK_STATUSES {
        let request = UpdateTaskStatus {
            status: status.into(),
            ..update()
        };
        resources.push(serde_json::to_value(oda.build_task(&request, now()).unwrap()).unwrap());
    }
    let minimal = UpdateTaskStatus {
        patient_identity_code: None,
        business_status: None,
        note: None,
        ..update()
    };
    resources.push(serde_json::to_value(oda.build_task(&minimal, now()).unwrap()).unwrap());
    let identifier = Oda::reply_identifier(None, uuid::Uuid::now_v7());
    resources.push(serde_json::to_value(oda.build_communication(&reply(), &identifier, now()).unwrap()).unwrap());
    let anonymous = SendReply {
        patient_identity_code: None,
        sender_display: None,
        language: None,
        ..reply()
    };
    resources.push(serde_json::to_value(oda.build_communication(&anonymous, &identifier, now()).unwrap()).unwrap());
    // Exactly the bytes the adapter sends: serde_json::to_vec of the same values.
    match check_with_fhir_resources(&resources) {
        Ok(text) => assert!(text.starts_with("ok FHIR 4.0.1"), "{text}"),
        Err(e) => panic!("FHIR R4 model check failed: {e}"),
    }
}

#[test]
fn the_r4_model_check_catches_an_invalid_resource() {
    let missing_intent = json!({"resourceType": "Task", "status": "requested"});
    let wrong_type = json!({"resourceType": "Communication", "status": "completed", "about": {"reference": "x"}});
    let empty_array =
        json!({"resourceType": "Task", "status": "requested", "intent": "order", "meta": {"profile": []}});
    for (invalid, expected) in [
        (missing_intent, "intent"),
        (wrong_type, "about"),
        (empty_array, "/meta/profile"),
    ] {
        match check_with_fhir_resources(&[invalid]) {
            Err(text) => assert!(text.contains(expected) && !text.contains("pip install"), "{text}"),
            Ok(text) => panic!("an invalid resource passed: {text}"),
        }
    }
}
