//! The adapter as the broker uses it, against a plain-HTTP stand-in on loopback that answers
//! with canned acknowledgements (the contract tests run the real simulator over mutual TLS).

use super::*;
use crate::model::tests::{example, example_json};
use crate::testutil::{organisation, CERTS};
use crate::xml::parse;
use base64::Engine;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(endpoint: &str) -> KantaConfig {
    let mut organisations = BTreeMap::new();
    organisations.insert("853".to_owned(), organisation());
    KantaConfig {
        endpoint: endpoint.into(),
        http: HttpClientConfig {
            root_ca_pem: Some(CERTS.join("demo-ca.pem")),
            ..HttpClientConfig::default()
        },
        processing_code: ProcessingCode::T,
        receiver_oid: DEFAULT_RECEIVER_OID.into(),
        interactions: Interactions::default(),
        detail_code_system: DEFAULT_DETAIL_CODE_SYSTEM.into(),
        document_types: DocumentTypes::default(),
        retention_period_class: "1".into(),
        organisations,
    }
}

fn cx() -> CallContext {
    CallContext {
        exchange_id: Uuid::now_v7(),
        attempt: 1,
        correlation_id: "test".into(),
        deadline: Instant::now() + Duration::from_secs(10),
    }
}

fn operation(name: &str, payload: Value) -> Operation {
    Operation {
        name: name.into(),
        payload,
    }
}

/// What the stand-in answers: status, extra headers, body; from the request body.
type Answer = Box<dyn Fn(&[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync>;

struct StandIn {
    url: String,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

async fn stand_in(answer: Answer) -> StandIn {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sosiaalihuolto/arkisto", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut chunk = [0u8; 65536];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&chunk[..n]);
                    if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..at]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse::<usize>().unwrap())
                            .unwrap_or(0);
                        break (at + 4, length);
                    }
                };
                while data.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                let body = data[head_end..head_end + length].to_vec();
                let (status, headers, reply) = if head.starts_with("GET ") {
                    (405, vec![], Vec::new())
                } else {
                    assert!(head
                        .to_ascii_lowercase()
                        .contains("content-type: text/xml; charset=utf-8"));
                    seen.lock().unwrap().push(body.clone());
                    answer(&body)
                };
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n",
                    reply.len()
                );
                for (k, v) in headers {
                    response.push_str(&format!("{k}: {v}\r\n"));
                }
                response.push_str("\r\n");
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    StandIn { url, requests }
}

/// The request's message id and (for queries) query id.
fn ids_of(request: &[u8]) -> (String, Option<String>) {
    let root = parse(request).unwrap();
    let message_id = root.child("id").unwrap().attr("root").unwrap().to_owned();
    let query_id = root
        .path(&["controlActProcess", "queryByParameter", "queryId"])
        .and_then(|q| q.attr("root"))
        .map(str::to_owned);
    (message_id, query_id)
}

fn ack_for(request: &[u8], type_code: &str, code: Option<&str>, control: &str) -> Vec<u8> {
    let (message_id, query_id) = ids_of(request);
    let detail = code
        .map(|c| {
            format!(
                r#"<acknowledgementDetail typeCode="E"><code code="{c}" codeSystem="1.2.246.537.5.40177"/></acknowledgementDetail>"#
            )
        })
        .unwrap_or_default();
    let control = control.replace("{query_id}", &query_id.unwrap_or_default());
    format!(
        r#"<MCCI_IN000002UV01 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0"><id root="0190f5a4-0000-7000-8000-000000000009"/><acknowledgement typeCode="{type_code}"><targetMessage><id root="{message_id}"/></targetMessage>{detail}</acknowledgement>{control}</MCCI_IN000002UV01>"#
    )
    .into_bytes()
}

fn fixed(type_code: &'static str, code: Option<&'static str>) -> Answer {
    Box::new(move |request| (200, vec![], ack_for(request, type_code, code, "")))
}

fn embedded_document(request: &[u8]) -> Vec<u8> {
    let root = parse(request).unwrap();
    let text = root
        .path(&["controlActProcess", "subject", "document", "text"])
        .unwrap();
    base64::engine::general_purpose::STANDARD.decode(&text.text).unwrap()
}

#[tokio::test]
async fn an_archive_is_sent_and_acknowledged() {
    let server = stand_in(fixed("AA", None)).await;
    let adapter = KantaAdapter::new(config(&server.url)).unwrap();
    assert_eq!(adapter.organisations().collect::<Vec<_>>(), ["853"]);
    let reply = adapter
        .call(&cx(), &operation(OP_ARCHIVE, example_json()))
        .await
        .unwrap();
    let built = adapter.build_document(&example()).unwrap();
    assert_eq!(reply.upstream_id.as_deref(), Some(built.ids.document_oid.as_str()));
    assert_eq!(reply.body["outcome"], "archived");
    assert_eq!(reply.body["document_oid"], built.ids.document_oid.as_str());
    assert_eq!(reply.body["set_id"], built.ids.set_id.as_str());
    assert_eq!(reply.body["version"], 1);
    assert_eq!(reply.body["acknowledgement"]["type"], "AA");
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(reply.request_digest, Some(sha256_hex(&requests[0])));
    assert_eq!(reply.body["request_digest"], sha256_hex(&requests[0]));
    let root = parse(&requests[0]).unwrap();
    assert!(root.is(xml::NS_HL7, "RCMR_IN000002FI01"));
    assert_eq!(root.child("processingCode").unwrap().attr("code"), Some("T"));
    assert_eq!(embedded_document(&requests[0]), built.signed);
}

#[tokio::test]
async fn a_retry_sends_the_same_document_in_a_new_message() {
    let server = stand_in(fixed("AE", Some("DOCUMENT_EXISTS_IDENTICAL"))).await;
    let adapter = KantaAdapter::new(config(&server.url)).unwrap();
    let op = operation(OP_ARCHIVE, example_json());
    let first = adapter.call(&cx(), &op).await.unwrap();
    let second = adapter.call(&cx(), &op).await.unwrap();
    assert_eq!(first.body["outcome"], "already_archived");
    assert_eq!(first.upstream_id, second.upstream_id);
    assert_eq!(first.body["document_digest"], second.body["document_digest"]);
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(embedded_document(&requests[0]), embedded_document(&requests[1]));
    assert_ne!(
        ids_of(&requests[0]).0,
        ids_of(&requests[1]).0,
        "each attempt is a new message"
    );
}

#[tokio::test]
async fn a_new_version_uses_its_own_interaction() {
    let server = stand_in(fixed("AA", None)).await;
    let adapter = KantaAdapter::new(config(&server.url)).unwrap();
    let mut payload = example_json();
    payload["version"] = 2.into();
    payload["previous_document_oid"] = adapter.build_document(&example()).unwrap().ids.document_oid.into();
    let reply = adapter
        .call(&cx(), &operation(OP_ARCHIVE_VERSION, payload.clone()))
        .await
        .unwrap();
    assert_eq!(reply.body["version"], 2);
    let requests = server.requests.lock().unwrap().clone();
    let root = parse(&requests[0]).unwrap();
    assert!(root.is(xml::NS_HL7, "RCMR_IN000004FI01"));
    assert!(root
        .path(&[
            "controlActProcess",
            "subject",
            "document",
            "relatedDocument",
            "parentDocument",
            "id"
        ])
        .is_some());
    // The version under the wrong operation is refused before anything is sent.
    let err = adapter.call(&cx(), &operation(OP_ARCHIVE, payload)).await.unwrap_err();
    assert!(matches!(err, AdapterError::Permanent(m) if m.contains("/version")));
    assert_eq!(server.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn http_statuses_and_unreadable_answers_are_classified() {
    type Expected = fn(&AdapterError) -> bool;
    let cases: Vec<(Answer, Expected)> = vec![
        (
            Box::new(|_| (429, vec![("retry-after".into(), "7".into())], Vec::new())),
            |e| {
                *e == AdapterError::RateLimited {
                    retry_after: Duration::from_secs(7),
                }
            },
        ),
        (
            Box::new(|_| (503, vec![("retry-after".into(), "3".into())], Vec::new())),
            |e| {
                *e == AdapterError::RateLimited {
                    retry_after: Duration::from_secs(3),
                }
            },
        ),
        (Box::new(|_| (503, vec![], Vec::new())), |e| {
            matches!(e, AdapterError::Transient(_))
        }),
        (Box::new(|_| (502, vec![], Vec::new())), |e| {
            matches!(e, AdapterError::Transient(_))
        }),
        (
            Box::new(|_| (400, vec![], b"not well-formed".to_vec())),
            |e| matches!(e, AdapterError::Permanent(m) if m.contains("400")),
        ),
        (Box::new(|_| (415, vec![], Vec::new())), |e| {
            matches!(e, AdapterError::Permanent(_))
        }),
        (
            Box::new(|_| (200, vec![], b"<html>proxy error</html>".to_vec())),
            |e| matches!(e, AdapterError::Transient(m) if m.contains("sha256")),
        ),
        (fixed("AR", Some("SERVICE_BUSY")), |e| {
            matches!(e, AdapterError::Transient(_))
        }),
        (
            fixed("AE", Some("SIGNATURE_INVALID")),
            |e| matches!(e, AdapterError::Permanent(m) if m.contains("SIGNATURE_INVALID")),
        ),
    ];
    for (i, (answer, expected)) in cases.into_iter().enumerate() {
        let server = stand_in(answer).await;
        let adapter = KantaAdapter::new(config(&server.url)).unwrap();
        let err = adapter
            .call(&cx(), &operation(OP_ARCHIVE, example_json()))
            .await
            .unwrap_err();
        assert!(expected(&err), "case {i}: {err:?}");
        assert!(!err.to_string().contains("131052"), "case {i}: {err}");
    }
}

#[tokio::test]
async fn refused_connections_and_passed_deadlines_are_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let adapter = KantaAdapter::new(config(&format!("http://127.0.0.1:{port}/arkisto"))).unwrap();
    let err = adapter
        .call(&cx(), &operation(OP_ARCHIVE, example_json()))
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Transient(_)), "{err:?}");
    assert_eq!(adapter.health().await, Health::Down);

    let late = CallContext {
        deadline: Instant::now(),
        ..cx()
    };
    let err = adapter
        .call(&late, &operation(OP_ARCHIVE, example_json()))
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Transient(m) if m.contains("deadline")));
}

#[tokio::test]
async fn searches_and_fetches_list_documents() {
    const LISTED: &str = r#"<controlActProcess classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ"><document classCode="DOCCLIN" moodCode="EVN"><id root="1.2.3.4"/><code code="contact_record" codeSystem="1.2.246.537.6.12.2002"/><text mediaType="text/xml" representation="B64">PGEvPg==</text><setId root="1.2.3.5"/><versionNumber value="1"/><effectiveTime value="20250304081500"/><statusCode code="active"/></document></subject><queryAck><queryId root="{query_id}"/><queryResponseCode code="OK"/></queryAck></controlActProcess>"#;
    let server = stand_in(Box::new(|request| (200, vec![], ack_for(request, "AA", None, LISTED)))).await;
    let adapter = KantaAdapter::new(config(&server.url)).unwrap();
    let search = operation(
        OP_SEARCH,
        json!({"organisation": "853", "identity_code": "131052-308T"}),
    );
    let reply = adapter.call(&cx(), &search).await.unwrap();
    assert_eq!(reply.upstream_id, None);
    assert_eq!(reply.body["query_response_code"], "OK");
    assert_eq!(reply.body["documents"][0]["document_oid"], "1.2.3.4");
    assert_eq!(reply.body["documents"][0]["status"], "active");
    assert_eq!(reply.body["documents"][0]["version"], 1);
    let fetch = operation(OP_FETCH, json!({"organisation": "853", "document_oid": "1.2.3.4"}));
    let reply = adapter.call(&cx(), &fetch).await.unwrap();
    assert_eq!(reply.body["documents"][0]["cda_base64"], "PGEvPg==");
    let requests = server.requests.lock().unwrap().clone();
    assert!(parse(&requests[0]).unwrap().is(xml::NS_HL7, "RCMR_IN100001FI01"));
    assert!(parse(&requests[1]).unwrap().is(xml::NS_HL7, "RCMR_IN100003FI01"));
    assert!(!reply.body.to_string().contains("131052"));
    assert_eq!(adapter.health().await, Health::Up);
}

#[tokio::test]
async fn an_invalidation_names_the_derived_document() {
    let server = stand_in(fixed("AA", None)).await;
    let adapter = KantaAdapter::new(config(&server.url)).unwrap();
    let payload = json!({
        "organisation": "853",
        "case_id": example().case_id,
        "kind": "contact_record",
        "version": 1,
        "identity_code": "131052-308T",
        "reason": "written_in_error"
    });
    let reply = adapter.call(&cx(), &operation(OP_INVALIDATE, payload)).await.unwrap();
    let built = adapter.build_document(&example()).unwrap();
    assert_eq!(reply.body["outcome"], "invalidated");
    assert_eq!(reply.upstream_id.as_deref(), Some(built.ids.document_oid.as_str()));
    let requests = server.requests.lock().unwrap().clone();
    let root = parse(&requests[0]).unwrap();
    assert!(root.is(xml::NS_HL7, "RCMR_IN000006FI01"));
    let document = root.path(&["controlActProcess", "subject", "document"]).unwrap();
    assert_eq!(
        document.child("id").unwrap().attr("root"),
        Some(built.ids.document_oid.as_str())
    );
    assert_eq!(document.child("reasonCode").unwrap().attr("code"), Some("1"));
}

#[test]
fn check_lists_every_problem_before_anything_is_queued() {
    let adapter = KantaAdapter::new(config("https://127.0.0.1:8092/sosiaalihuolto/arkisto")).unwrap();
    assert!(adapter.check(&operation(OP_ARCHIVE, example_json())).is_empty());
    let mut payload = example_json();
    payload["organisation"] = "091".into();
    payload["person"]["identity_code"] = "131052-308t".into();
    let problems = adapter.check(&operation(OP_ARCHIVE, payload));
    let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(pointers, ["/person/identity_code", "/organisation"]);
    let problems = adapter.check(&operation(OP_ARCHIVE, json!({"organisation": "853"})));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].1.contains("missing field `case_id`"), "{problems:?}");
    let problems = adapter.check(&operation(
        OP_SEARCH,
        json!({"organisation": "853", "identity_code": 131052}),
    ));
    assert!(!problems[0].1.contains("131052"), "{problems:?}");
    assert_eq!(adapter.check(&operation("archive_all", json!({}))).len(), 1);
}

#[tokio::test]
async fn bad_payloads_and_unknown_operations_are_permanent() {
    let adapter = KantaAdapter::new(config("http://127.0.0.1:9/arkisto")).unwrap();
    let mut payload = example_json();
    payload["title"] = "".into();
    let err = adapter.call(&cx(), &operation(OP_ARCHIVE, payload)).await.unwrap_err();
    assert!(matches!(err, AdapterError::Permanent(m) if m.contains("/title")));
    let mut payload = example_json();
    payload["organisation"] = "999".into();
    let err = adapter.call(&cx(), &operation(OP_ARCHIVE, payload)).await.unwrap_err();
    assert!(matches!(err, AdapterError::Permanent(m) if m.contains("not configured")));
    let err = adapter.call(&cx(), &operation("delete", json!({}))).await.unwrap_err();
    assert!(matches!(err, AdapterError::Permanent(_)));
}

#[test]
fn prepare_makes_the_message_call_sends_without_sending() {
    let adapter = KantaAdapter::new(config("http://127.0.0.1:9/arkisto")).unwrap();
    let op = operation(OP_ARCHIVE, example_json());
    let message = adapter.prepare(&op).unwrap();
    let root = parse(&message).unwrap();
    assert!(root.is(xml::NS_HL7, "RCMR_IN000002FI01"));
    assert_eq!(
        embedded_document(&message),
        adapter.build_document(&example()).unwrap().signed
    );
    // A new message id each time, the same document.
    let again = adapter.prepare(&op).unwrap();
    assert_ne!(ids_of(&message).0, ids_of(&again).0);
    assert_eq!(embedded_document(&message), embedded_document(&again));

    // Unsigned: the same document with the signature template still empty.
    let unsigned = embedded_document(&adapter.prepare_unsigned(&op).unwrap());
    let document = parse(&unsigned).unwrap();
    let signatures = document.children.last().unwrap();
    assert!(signatures.is(xml::NS_HL7FI, "signatures"));
    let signature = &signatures.children[0];
    let value = signature
        .children
        .iter()
        .find(|c| c.is(xml::NS_DS, "SignatureValue"))
        .unwrap();
    assert!(value.text.is_empty());
    assert_ne!(unsigned, embedded_document(&message));

    // Other operations, and the same refusals as call.
    let search = json!({"organisation": "853", "identity_code": "131052-308T"});
    assert!(parse(&adapter.prepare(&operation(OP_SEARCH, search)).unwrap())
        .unwrap()
        .is(xml::NS_HL7, "RCMR_IN100001FI01"));
    let err = adapter.prepare(&operation("delete", json!({}))).unwrap_err();
    assert!(matches!(err, AdapterError::Permanent(_)));
}

#[test]
fn setup_names_the_missing_file_and_every_bad_key() {
    let mut bad = config("https://127.0.0.1:8092/arkisto");
    bad.organisations.get_mut("853").unwrap().signing_key = CERTS.join("missing-signing.key");
    let err = KantaAdapter::new(bad).unwrap_err();
    assert!(matches!(err, SetupError::Signing { .. }));
    assert!(
        err.to_string().contains("missing-signing.key") && err.to_string().contains("853"),
        "{err}"
    );

    let mut bad = config("https://127.0.0.1:8092/arkisto");
    bad.organisations.get_mut("853").unwrap().identity = Some(portti_adapter_core::ClientIdentity::Pem {
        cert: CERTS.join("missing-client.pem"),
        key: CERTS.join("ohjaus-853.key"),
    });
    let err = KantaAdapter::new(bad).unwrap_err();
    assert!(err.to_string().contains("missing-client.pem"), "{err}");

    let mut bad = config("not a url");
    bad.organisations.get_mut("853").unwrap().identity = None;
    match KantaAdapter::new(bad).unwrap_err() {
        SetupError::Invalid(problems) => assert_eq!(problems.len(), 2, "{problems:?}"),
        other => panic!("{other}"),
    }
}
