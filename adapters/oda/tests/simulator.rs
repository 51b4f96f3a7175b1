//! The adapter against the ODA simulator over real loopback HTTP: search with paging and cursors, Task and
//! Communication writes and their idempotency, tokens, and the classification of every injected fault.

use portti_adapter_core::{Adapter, AdapterError, CallContext, Health, Operation};
use portti_oda::*;
use portti_simulators::oda::{self as sim, Fault};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

type Check = fn(&AdapterError) -> bool;

fn certs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
}

async fn setup() -> (sim::Running, Oda) {
    let running = sim::start(sim::Config::sandbox(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let oda = adapter(&running, json!({}));
    (running, oda)
}

fn adapter(running: &sim::Running, extra: Value) -> Oda {
    let mut config = json!({
        "base_url": running.fhir_base_url(),
        "token_url": running.token_url(),
        "client_id": sim::SANDBOX_CLIENT_ID,
        "key_id": sim::SANDBOX_KEY_ID,
        "client_key_file": certs().join("oda-client.key"),
        "scope": "system/QuestionnaireResponse.read system/Task.write system/Communication.write",
        "http": {"request_timeout": "3s", "connect_timeout": "1s"}
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    Oda::new(serde_json::from_value(config).unwrap()).unwrap()
}

fn cx() -> CallContext {
    CallContext {
        exchange_id: uuid::Uuid::now_v7(),
        attempt: 1,
        correlation_id: "test".into(),
        deadline: Instant::now() + Duration::from_secs(5),
    }
}

fn op(name: &str, payload: Value) -> Operation {
    Operation {
        name: name.into(),
        payload,
    }
}

async fn search(oda: &Oda, organisation: &str, cursor: &Value) -> Value {
    let reply = oda
        .call(
            &cx(),
            &op(
                OP_SEARCH_COMPLETED,
                json!({"organisation": organisation, "cursor": cursor}),
            ),
        )
        .await
        .unwrap();
    reply.body
}

fn ids(body: &Value) -> Vec<String> {
    (body["assessments"].as_array().unwrap().iter())
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn completed_assessments_are_found_once_with_a_cursor() {
    let (running, oda) = setup().await;
    let body = search(&oda, "853", &Value::Null).await;
    assert_eq!(ids(&body), ["oa-853-1", "oa-853-2"]);
    assert_eq!(body["more"], false);
    assert_eq!(body["pages"], 1);
    assert_eq!(body["resources"].as_array().unwrap().len(), 2);
    assert_eq!(body["resources"][0]["resourceType"], "QuestionnaireResponse");
    let first = &body["assessments"][0];
    assert_eq!(first["person_identity_code"], "010594Y9032");
    assert_eq!(first["organisation"], "853");
    assert_eq!(first["urgency"], "urgent");
    assert_eq!(first["topics"], json!(["respiratory", "fever"]));
    assert_eq!(first["language"], "fi");
    assert_eq!(body["assessments"][1]["language"], "sv");
    assert_eq!(
        body["cursor"],
        json!({"last_updated": "2026-01-05T08:15:00Z", "ids": ["oa-853-2"]})
    );

    // Nothing new: nothing returned, the cursor stays.
    let again = search(&oda, "853", &body["cursor"]).await;
    assert!(ids(&again).is_empty());
    assert_eq!(again["cursor"], body["cursor"]);

    // A new one for 853 (and one for 529, not ours).
    let new = running.control().add_assessment("131052-308T", "853", "emergency");
    running.control().add_assessment("131052-308T", "529", "urgent");
    let next = search(&oda, "853", &body["cursor"]).await;
    assert_eq!(ids(&next), std::slice::from_ref(&new));
    assert_eq!(next["cursor"]["ids"], json!([new]));

    let other = search(&oda, "529", &Value::Null).await;
    assert_eq!(ids(&other).len(), 3);
    assert_eq!(other["assessments"][1]["urgency"], "self-care");
}

#[tokio::test]
async fn an_assessment_written_later_with_the_same_timestamp_is_not_lost() {
    let (running, oda) = setup().await;
    let control = running.control();
    let at = "2026-02-01T10:00:00.123Z";
    control
        .add_questionnaire_response(sim::assessment("same-a", "010594Y9032", "853", "urgent", &[], "fi", at))
        .unwrap();
    let cursor = json!({"last_updated": "2026-01-05T08:15:00Z", "ids": ["oa-853-2"]});
    let body = search(&oda, "853", &cursor).await;
    assert_eq!(ids(&body), ["same-a"]);
    assert_eq!(body["cursor"], json!({"last_updated": at, "ids": ["same-a"]}));

    control
        .add_questionnaire_response(sim::assessment("same-b", "131052-308T", "853", "urgent", &[], "fi", at))
        .unwrap();
    let next = search(&oda, "853", &body["cursor"]).await;
    assert_eq!(ids(&next), ["same-b"], "gt would have lost it; ge + ids does not");
    assert_eq!(next["cursor"], json!({"last_updated": at, "ids": ["same-a", "same-b"]}));
    let query = (control.request_log().into_iter()).rev().find_map(|r| r.query).unwrap();
    assert!(query.contains("_lastUpdated=ge2026-02-01T10%3A00%3A00.123Z"), "{query}");
}

#[tokio::test]
async fn searches_follow_next_links_and_stop_at_max_pages() {
    let (running, oda) = setup().await;
    let added: Vec<String> = (0..120)
        .map(|_| running.control().add_assessment("010594Y9032", "529", "non-urgent"))
        .collect();
    let all = search(&oda, "529", &Value::Null).await;
    assert_eq!(all["pages"], 3);
    assert_eq!(all["more"], false);
    assert_eq!(ids(&all).len(), 122);
    assert_eq!(&ids(&all)[2..], &added[..]);

    // Two pages a call: the rest comes with the cursor.
    let small = adapter(&running, json!({"page_size": 40, "max_pages": 2}));
    let first = search(&small, "529", &Value::Null).await;
    assert_eq!(first["pages"], 2);
    assert_eq!(first["more"], true);
    let mut seen = ids(&first);
    let mut cursor = first["cursor"].clone();
    loop {
        let next = search(&small, "529", &cursor).await;
        seen.extend(ids(&next));
        cursor = next["cursor"].clone();
        if next["more"] == false {
            break;
        }
    }
    assert_eq!(seen, ids(&all));
    let next_links = (running.control().request_log().into_iter())
        .filter(|r| r.query.as_deref().is_some_and(|q| q.starts_with("_page=")))
        .count();
    assert!(next_links > 2, "next links were followed: {next_links}");
}

#[tokio::test]
async fn task_status_is_written_idempotently_with_profile_focus_and_owner() {
    let (running, oda) = setup().await;
    let payload = |status: &str| {
        json!({"questionnaire_response_id": "oa-853-1", "organisation": "853", "status": status,
               "patient_identity_code": "010594Y9032", "business_status": "Soitetaan takaisin"})
    };
    let reply = oda
        .call(&cx(), &op(OP_UPDATE_TASK_STATUS, payload("accepted")))
        .await
        .unwrap();
    let id = Oda::task_id("853", "oa-853-1");
    assert_eq!(reply.upstream_id, Some(format!("Task/{id}")));
    assert_eq!(reply.body["created"], true);
    assert_eq!(reply.body["version_id"], "1");
    // A retry of the same call, then the next status: the same Task.
    let again = oda
        .call(&cx(), &op(OP_UPDATE_TASK_STATUS, payload("accepted")))
        .await
        .unwrap();
    assert_eq!(again.body["created"], false);
    oda.call(&cx(), &op(OP_UPDATE_TASK_STATUS, payload("completed")))
        .await
        .unwrap();
    let tasks = running.control().tasks();
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task["status"], "completed");
    assert_eq!(task["meta"]["versionId"], "3");
    assert_eq!(task["meta"]["profile"], json!([DEFAULT_TASK_PROFILE]));
    assert_eq!(task["focus"]["reference"], "QuestionnaireResponse/oa-853-1");
    assert_eq!(task["owner"]["identifier"]["value"], "853");

    // The server refuses a Task for an unknown assessment: 422 is permanent.
    let unknown = json!({"questionnaire_response_id": "nope", "organisation": "853", "status": "accepted"});
    let err = oda.call(&cx(), &op(OP_UPDATE_TASK_STATUS, unknown)).await.unwrap_err();
    assert!(
        matches!(&err, AdapterError::Permanent(m) if m.contains("422") && m.contains("focus")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_reply_is_created_once_per_exchange() {
    let (running, oda) = setup().await;
    let payload = json!({"questionnaire_response_id": "oa-853-2", "organisation": "853",
                         "message": "Hej, vi ringer er i dag.", "patient_identity_code": "131052-308T",
                         "language": "sv", "sender_display": "Åbo hälsostationer"});
    let call = cx();
    let first = oda.call(&call, &op(OP_SEND_REPLY, payload.clone())).await.unwrap();
    assert_eq!(first.body["already_sent"], false);
    let again = oda.call(&call, &op(OP_SEND_REPLY, payload.clone())).await.unwrap();
    assert_eq!(again.body["already_sent"], true);
    assert_eq!(first.upstream_id, again.upstream_id);
    assert_eq!(first.body["identifier"], format!("urn:uuid:{}", call.exchange_id));
    let stored = running.control().communications();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["payload"][0]["contentString"], "Hej, vi ringer er i dag.");
    assert_eq!(stored[0]["about"][0]["reference"], "QuestionnaireResponse/oa-853-2");
    assert_eq!(stored[0]["meta"]["profile"], json!([DEFAULT_COMMUNICATION_PROFILE]));
    // Another exchange is another reply.
    oda.call(&cx(), &op(OP_SEND_REPLY, payload)).await.unwrap();
    assert_eq!(running.control().communications().len(), 2);
}

#[tokio::test]
async fn the_token_is_cached_and_renewed_once_on_401() {
    let (running, oda) = setup().await;
    let control = running.control();
    assert_eq!(oda.health().await, Health::Up);
    for _ in 0..3 {
        search(&oda, "853", &Value::Null).await;
    }
    assert_eq!(control.tokens_issued(), 1);

    control.inject(Fault::unauthorized().on_path("/fhir/").times(1));
    search(&oda, "853", &Value::Null).await;
    assert_eq!(control.tokens_issued(), 2);

    // 401 twice in a row: renewed once, then reported.
    control.inject(Fault::unauthorized().on_path("/fhir/").times(2));
    let err = oda
        .call(&cx(), &op(OP_SEARCH_COMPLETED, json!({"organisation": "853"})))
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Reauthenticate(_)), "{err:?}");
    assert_eq!(control.tokens_issued(), 3);
}

#[tokio::test]
async fn faults_are_classified() {
    let (running, oda) = setup().await;
    let control = running.control();
    let search_op = op(OP_SEARCH_COMPLETED, json!({"organisation": "853"}));
    search(&oda, "853", &Value::Null).await; // a token first

    let cases: Vec<(Fault, Check)> = vec![
        (Fault::status(500), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::status(502), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::status(503), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::too_many_requests(7), |e| {
            *e == AdapterError::RateLimited {
                retry_after: Duration::from_secs(7),
            }
        }),
        (Fault::drop_connection(), |e| matches!(e, AdapterError::Transient(_))),
        (
            Fault::malformed_json().after_processing(),
            |e| matches!(e, AdapterError::Transient(m) if m.contains("not the expected JSON")),
        ),
    ];
    for (fault, expected) in cases {
        control.inject(fault.clone().on_path("/fhir/").times(1));
        let err = oda.call(&cx(), &search_op).await.unwrap_err();
        assert!(expected(&err), "{fault:?}: {err:?}");
    }

    control.inject(Fault::latency(Duration::from_millis(800)).on_path("/fhir/").times(1));
    let short = CallContext {
        deadline: Instant::now() + Duration::from_millis(300),
        ..cx()
    };
    let err = oda.call(&short, &search_op).await.unwrap_err();
    assert!(
        matches!(&err, AdapterError::Transient(m) if m.contains("timed out")),
        "{err:?}"
    );

    // The token endpoint failing: 5xx is transient; a refused client needs attention.
    control.expire_tokens();
    let fresh = adapter(&running, json!({}));
    control.inject(Fault::status(503).on_path("/auth/token").times(1));
    let err = fresh.call(&cx(), &search_op).await.unwrap_err();
    assert!(matches!(err, AdapterError::Transient(_)), "{err:?}");
    let wrong_kid = adapter(&running, json!({"key_id": "not-registered"}));
    let err = wrong_kid.call(&cx(), &search_op).await.unwrap_err();
    assert!(
        matches!(&err, AdapterError::Reauthenticate(m) if m.contains("invalid_client")),
        "{err:?}"
    );
    assert_eq!(wrong_kid.health().await, Health::Down);

    // After all that the adapter works.
    assert_eq!(ids(&search(&oda, "853", &Value::Null).await).len(), 2);
}

#[tokio::test]
async fn a_lost_create_response_is_repaired_by_the_retry() {
    let (running, oda) = setup().await;
    let control = running.control();
    let payload = json!({"questionnaire_response_id": "oa-529-1", "organisation": "529", "message": "Soitamme heti."});
    let call = cx();
    control.inject(
        Fault::drop_connection()
            .after_processing()
            .on_path("/fhir/Communication")
            .times(1),
    );
    let err = oda.call(&call, &op(OP_SEND_REPLY, payload.clone())).await.unwrap_err();
    assert!(matches!(err, AdapterError::Transient(_)), "{err:?}");
    assert_eq!(control.communications().len(), 1, "stored although the answer was lost");
    let retry = oda.call(&call, &op(OP_SEND_REPLY, payload)).await.unwrap();
    assert_eq!(retry.body["already_sent"], true);
    assert_eq!(control.communications().len(), 1);
}
