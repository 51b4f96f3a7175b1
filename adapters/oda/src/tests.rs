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

/// The pip packages that give FHIR R4 (4.0.1) models: fhir.resources 6.2.x is the last line whose default
/// models are R4 4.0.1 (6.4+ is R4B 4.3.0, 7+ R5 with R4B and STU3 subpackages), and it needs pydantic 1.
pub const FHIR_R4_PIP: &str = "fhir.resources==6.2.2 pydantic==1.10.27";

const CHECK_R4: &str = r#"
import json, sys
try:
    import fhir.resources as fr
    from fhir.resources.task import Task
    from fhir.resources.communication import Communication
except ImportError as e:
    print("missing: %s" % e)
    sys.exit(3)
if fr.__fhir_version__ != "4.0.1":
    print("fhir.resources %s models FHIR %s, not R4 4.0.1" % (fr.__version__, fr.__fhir_version__))
    sys.exit(4)
models = {"Task": Task, "Communication": Communication}

def empties(value, path):
    # FHIR JSON: no null, no empty string, array or object anywhere.
    if value is None or value == "" or value == [] or value == {}:
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from empties(v, path + "/" + k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from empties(v, path + "/" + str(i))

def same(a, b):
    # Equal, but a dateTime/instant may come back as +00:00 with microseconds.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        from datetime import datetime
        try:
            return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b.replace("Z", "+00:00"))
        except ValueError:
            return False
    return a == b

for doc in json.load(sys.stdin):
    bad = list(empties(doc, ""))
    if bad:
        print("%s has empty values at %s" % (doc.get("resourceType"), bad))
        sys.exit(5)
    resource = models[doc["resourceType"]].parse_obj(doc)
    back = json.loads(resource.json())
    if not same(doc, back):
        print("%s does not round-trip: %s" % (doc["resourceType"], back))
        sys.exit(5)
print("ok FHIR %s fhir.resources %s" % (fr.__fhir_version__, fr.__version__))
"#;

/// Validates JSON resources with Python's `fhir.resources` R4 models; the interpreter is
/// `FHIR_R4_PYTHON` (e.g. a venv's python) or `python3`.
fn check_with_fhir_resources(resources: &[Value]) -> Result<String, String> {
    use std::io::Write;
    let python = std::env::var("FHIR_R4_PYTHON").unwrap_or_else(|_| "python3".into());
    let how_to = format!(
        "install the FHIR R4 models: `pip install {FHIR_R4_PIP}` (or in a venv: \
         `python3 -m venv /tmp/fhir-r4 && /tmp/fhir-r4/bin/pip install {FHIR_R4_PIP}` and \
         FHIR_R4_PYTHON=/tmp/fhir-r4/bin/python)"
    );
    let mut child = std::process::Command::new(&python)
        .args(["-c", CHECK_R4])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {python}: {e}; {how_to}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(resources).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(text),
        Some(3) | Some(4) => Err(format!("{text}\n{how_to}")),
        _ => Err(text),
    }
}

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
