//! Tests against a scripted loopback HTTP peer: what goes out on the wire (path, query, the
//! signed header), how every kind of answer maps to a decision, and that nothing but a clear
//! ALLOWED allows. The simulator-backed end-to-end tests are in `tests/simulator.rs`.

use super::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DELEGATE: &str = "010594Y9032";
const PRINCIPAL: &str = "131052-308T";
const ISSUE: &str = "http://valtuusrekisteri.suomi.fi/terveydenhuollon_asioiden_hoito";
const OTHER_ISSUE: &str = "urn:example:another issue";
const KEY: &str = "test-api-key-0123456789";

/// How the peer answers every request.
#[derive(Clone)]
enum Script {
    Answer {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static str,
    },
    /// Close the connection after reading the request.
    Drop,
    /// Read the request and never answer.
    Hang,
}

fn ok(body: &'static str) -> Script {
    Script::Answer {
        status: 200,
        headers: vec![("Content-Type", "application/json")],
        body,
    }
}

fn status(status: u16, body: &'static str) -> Script {
    Script::Answer {
        status,
        headers: vec![("Content-Type", "application/json")],
        body,
    }
}

/// A request as the peer saw it: the request target and the headers (names lower case).
#[derive(Clone, Debug)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

struct Peer {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn peer(script: Script) -> Peer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let text = String::from_utf8_lossy(&buf).into_owned();
            let mut lines = text.split("\r\n");
            let target = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or_default()
                .to_owned();
            let headers = lines
                .take_while(|l| !l.is_empty())
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            log.lock().unwrap().push(Seen { target, headers });
            match &script {
                Script::Answer { status, headers, body } => {
                    let mut response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        body.len()
                    );
                    for (n, v) in headers {
                        response.push_str(&format!("{n}: {v}\r\n"));
                    }
                    response.push_str("\r\n");
                    response.push_str(body);
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
                Script::Drop => drop(socket),
                Script::Hang => held.push(socket),
            }
        }
    });
    Peer {
        base_url: format!("http://{addr}"),
        seen,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: MandatesConfig,
}

fn fixture(base_url: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("mandates.key");
    std::fs::write(&secret, format!("{KEY}\n")).unwrap();
    Fixture {
        config: MandatesConfig {
            base_url: base_url.into(),
            client_id: "portti01".into(),
            client_secret_file: secret,
            issues: vec![ISSUE.into(), OTHER_ISSUE.into()],
            http: HttpClientConfig {
                connect_timeout: Duration::from_millis(500),
                request_timeout: Duration::from_millis(1500),
                ..HttpClientConfig::default()
            },
        },
        _dir: dir,
    }
}

fn adapter(base_url: &str) -> (Fixture, SuomifiMandates) {
    let f = fixture(base_url);
    let a = SuomifiMandates::new(f.config.clone()).unwrap();
    (f, a)
}

fn cx() -> CallContext {
    CallContext {
        exchange_id: uuid::Uuid::now_v7(),
        attempt: 1,
        correlation_id: "c-1".into(),
        deadline: Instant::now() + Duration::from_secs(5),
    }
}

fn check_op(issue: Option<&str>) -> Operation {
    let mut payload = json!({"delegate_identity_code": DELEGATE, "principal_identity_code": PRINCIPAL});
    if let Some(issue) = issue {
        payload["issue"] = json!(issue);
    }
    Operation {
        name: OP_CHECK.into(),
        payload,
    }
}

/// No identity code, in any case, anywhere in the decision's serialized and debug forms.
fn assert_no_identity_codes(decision: &Decision) {
    let text = format!("{decision:?} {}", serde_json::to_string(decision).unwrap()).to_ascii_uppercase();
    for code in [DELEGATE, PRINCIPAL] {
        assert!(!text.contains(code), "identity code leaked: {text}");
    }
}

#[tokio::test]
async fn the_request_is_signed_as_the_contract_says() {
    let peer = peer(ok(r#"{"result":"ALLOWED"}"#)).await;
    let (_f, adapter) = adapter(&format!("{}/prefix/", peer.base_url));
    let decision = adapter.check(" 010594y9032 ", PRINCIPAL).await;
    assert_eq!(decision.result, MandateResult::Allowed, "{decision:?}");

    let seen = peer.seen.lock().unwrap()[0].clone();
    let expected_path = format!(
        "/prefix/service/rest/hpa/authorization/portti01/{DELEGATE}/{PRINCIPAL}?requestId={}\
         &issue=http%3A%2F%2Fvaltuusrekisteri.suomi.fi%2Fterveydenhuollon_asioiden_hoito\
         &issue=urn%3Aexample%3Aanother%20issue",
        decision.request_id
    );
    assert_eq!(seen.target, expected_path);
    assert_eq!(seen.header("x-userid"), Some(END_USER_ID));
    let header = seen.header("x-asiointivaltuudetauthorization").unwrap();
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 3, "{header}");
    assert_eq!(parts[0], "portti01");
    let at = chrono::DateTime::parse_from_rfc3339(parts[1]).unwrap();
    assert!(
        (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
            .num_seconds()
            .abs()
            < 60
    );
    // The peer recomputes the checksum from what it received.
    assert_eq!(parts[2], checksum(KEY, &seen.target, parts[1]).unwrap());
    assert!(uuid::Uuid::parse_str(&decision.request_id).is_ok());
}

#[tokio::test]
async fn answers_map_to_decisions_and_unknown_fields_are_tolerated() {
    let peer1 = peer(ok(
        r#"{"result":"ALLOWED","reasons":[],"principalId":"131052-308T","future":{"x":[1,2]}}"#,
    ))
    .await;
    let (_f, a) = adapter(&peer1.base_url);
    let d = a.check(DELEGATE, PRINCIPAL).await;
    assert!(d.is_allowed());
    assert_eq!(d.error, None);
    assert_eq!(d.issues, vec![ISSUE.to_string(), OTHER_ISSUE.to_string()]);

    let peer2 = peer(ok(
        r#"{"result":"DISALLOWED","reasons":[{"reasonRule":"NO_MANDATE","reasonValue":"131052-308T has none","valueType":"DESCRIPTION"},{"reasonRule":"rule for 010594Y9032"}],"extra":true}"#,
    ))
    .await;
    let (_f, a) = adapter(&peer2.base_url);
    let d = a.check(DELEGATE, PRINCIPAL).await;
    assert_eq!(d.result, MandateResult::Disallowed);
    assert_eq!(d.error, None, "a DISALLOWED answer is not an error");
    assert_eq!(
        d.reasons,
        vec!["NO_MANDATE".to_string(), "rule for <identity code>".to_string()]
    );
    assert_no_identity_codes(&d);
}

#[tokio::test]
async fn every_failure_is_disallowed_with_its_class() {
    type Expect = fn(&AdapterError) -> bool;
    let cases: Vec<(Script, Expect)> = vec![
        (
            status(500, r#"{"error":"x"}"#),
            |e| matches!(e, AdapterError::Transient(m) if m.contains("500")),
        ),
        (status(502, ""), |e| matches!(e, AdapterError::Transient(_))),
        (
            Script::Answer {
                status: 503,
                headers: vec![("Retry-After", "7")],
                body: "",
            },
            |e| {
                *e == AdapterError::RateLimited {
                    retry_after: Duration::from_secs(7),
                }
            },
        ),
        (status(503, ""), |e| matches!(e, AdapterError::Transient(_))),
        (
            Script::Answer {
                status: 429,
                headers: vec![("Retry-After", "3")],
                body: "",
            },
            |e| {
                *e == AdapterError::RateLimited {
                    retry_after: Duration::from_secs(3),
                }
            },
        ),
        (
            status(
                401,
                r#"{"error":"unauthorized","message":"bad checksum for 131052-308T"}"#,
            ),
            |e| matches!(e, AdapterError::Permanent(m) if m.contains("401") && m.contains("bad checksum")),
        ),
        (
            status(403, r#"{"error":"forbidden"}"#),
            |e| matches!(e, AdapterError::Permanent(m) if m.contains("403")),
        ),
        (status(404, ""), |e| matches!(e, AdapterError::Permanent(_))),
        (status(400, r#"{"error":"bad_request"}"#), |e| {
            matches!(e, AdapterError::Permanent(_))
        }),
        (ok(r#"{"result":"ALLOW"#), |e| matches!(e, AdapterError::Transient(_))),
        (ok("<html>ALLOWED</html>"), |e| matches!(e, AdapterError::Transient(_))),
        (ok(r#"{"result":"allowed"}"#), |e| {
            matches!(e, AdapterError::Permanent(_))
        }),
        (ok(r#"{"result":"MAYBE 131052-308T"}"#), |e| {
            matches!(e, AdapterError::Permanent(_))
        }),
        (ok(r#"{"reasons":[]}"#), |e| matches!(e, AdapterError::Permanent(_))),
        (
            ok(r#"{"result":"ALLOWED","principalId":"260881-1233"}"#),
            |e| matches!(e, AdapterError::Permanent(m) if m.contains("another principal")),
        ),
        (Script::Drop, |e| matches!(e, AdapterError::Transient(_))),
        (
            Script::Hang,
            |e| matches!(e, AdapterError::Transient(m) if m.contains("timed out")),
        ),
    ];
    for (script, expect) in cases {
        let peer = peer(script).await;
        let (_f, a) = adapter(&peer.base_url);
        let d = a.check(DELEGATE, PRINCIPAL).await;
        assert_eq!(d.result, MandateResult::Disallowed, "{d:?}");
        let error = d.error.clone().expect("an error says why");
        assert!(expect(&error), "{error:?}");
        assert_no_identity_codes(&d);
    }
}

#[tokio::test]
async fn a_service_that_cannot_be_reached_is_disallowed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_f, a) = adapter(&format!("http://127.0.0.1:{port}"));
    let d = a.check(DELEGATE, PRINCIPAL).await;
    assert_eq!(d.result, MandateResult::Disallowed);
    assert!(matches!(d.error, Some(AdapterError::Transient(_))), "{d:?}");
    assert_no_identity_codes(&d);
    assert_eq!(a.health().await, Health::Down);
}

#[tokio::test]
async fn invalid_identity_codes_and_unknown_issues_are_refused_without_a_query() {
    let peer = peer(ok(r#"{"result":"ALLOWED"}"#)).await;
    let (_f, a) = adapter(&peer.base_url);
    let d = a.check("010594Y9033", PRINCIPAL).await;
    assert_eq!(d.result, MandateResult::Disallowed);
    assert!(
        matches!(&d.error, Some(AdapterError::Permanent(m)) if m.contains("delegate_identity_code") && !m.contains("principal_identity_code")),
        "{d:?}"
    );
    let d = a.check(DELEGATE, "not a code").await;
    assert!(matches!(&d.error, Some(AdapterError::Permanent(m)) if m.contains("principal_identity_code")));
    let d = a.check_issue(DELEGATE, PRINCIPAL, Some("urn:not:configured")).await;
    assert_eq!(d.result, MandateResult::Disallowed);
    assert!(matches!(&d.error, Some(AdapterError::Permanent(m)) if m.contains("configured")));
    assert!(peer.seen.lock().unwrap().is_empty(), "nothing may be sent");

    // A configured issue narrows the query to that issue.
    let d = a.check_issue(DELEGATE, PRINCIPAL, Some(OTHER_ISSUE)).await;
    assert!(d.is_allowed());
    assert_eq!(d.issues, vec![OTHER_ISSUE.to_string()]);
    let target = peer.seen.lock().unwrap()[0].target.clone();
    assert!(target.ends_with("&issue=urn%3Aexample%3Aanother%20issue"), "{target}");
    assert_eq!(target.matches("issue=").count(), 1);
}

#[tokio::test]
async fn the_adapter_operation_replies_with_result_and_issue() {
    let peer = peer(ok(r#"{"result":"ALLOWED"}"#)).await;
    let (_f, a) = adapter(&peer.base_url);
    assert_eq!(a.service(), "suomifi-mandates");
    let cx = cx();
    let reply = a.call(&cx, &check_op(Some(ISSUE))).await.unwrap();
    assert_eq!(reply.body["result"], "ALLOWED");
    assert_eq!(reply.body["issue"], ISSUE);
    assert_eq!(reply.body["issues"], json!([ISSUE]));
    assert_eq!(reply.upstream_id, Some(cx.exchange_id.to_string()));
    assert_eq!(reply.response_digest, Some(sha256_hex(br#"{"result":"ALLOWED"}"#)));
    assert_eq!(reply.request_digest.as_ref().map(String::len), Some(64));
    let target = peer.seen.lock().unwrap()[0].target.clone();
    assert!(target.contains(&format!("requestId={}", cx.exchange_id)), "{target}");

    // Without an issue: all configured issues, and no single `issue`.
    let reply = a.call(&cx, &check_op(None)).await.unwrap();
    assert_eq!(reply.body["issue"], Value::Null);
    assert_eq!(reply.body["issues"], json!([ISSUE, OTHER_ISSUE]));
    assert_eq!(a.health().await, Health::Up);
}

#[tokio::test]
async fn the_operation_fails_with_classes_the_broker_understands() {
    let peer = peer(status(500, "")).await;
    let (_f, a) = adapter(&peer.base_url);
    let cx = cx();
    assert!(matches!(
        a.call(&cx, &check_op(None)).await,
        Err(AdapterError::Transient(_))
    ));

    let bad = |payload: Value| Operation {
        name: OP_CHECK.into(),
        payload,
    };
    for payload in [
        json!({"delegate_identity_code": DELEGATE}),
        json!({"delegate_identity_code": DELEGATE, "principal_identity_code": 131052}),
        json!({"delegate_identity_code": DELEGATE, "principal_identity_code": PRINCIPAL, "extra": "131052-308T"}),
        json!("131052-308T"),
    ] {
        let err = a.call(&cx, &bad(payload)).await.unwrap_err();
        assert!(
            matches!(&err, AdapterError::Permanent(m) if m.starts_with("invalid payload")),
            "{err:?}"
        );
        let text = err.to_string().to_ascii_uppercase();
        assert!(!text.contains(PRINCIPAL) && !text.contains(DELEGATE), "{text}");
    }
    let err = a
        .call(
            &cx,
            &Operation {
                name: "131052-308T".into(),
                payload: Value::Null,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AdapterError::Permanent(m) if !m.contains(PRINCIPAL)),
        "{err:?}"
    );

    let expired = CallContext {
        deadline: Instant::now(),
        ..cx.clone()
    };
    assert!(matches!(
        a.call(&expired, &check_op(None)).await,
        Err(AdapterError::Transient(m)) if m.contains("deadline")
    ));
}

#[test]
fn configuration_is_checked() {
    let f = fixture("http://127.0.0.1:1");
    let with = |change: &dyn Fn(&mut MandatesConfig)| {
        let mut config = f.config.clone();
        change(&mut config);
        SuomifiMandates::new(config)
    };
    assert!(with(&|_| {}).is_ok());
    for bad in ["ftp://x", "not a url", "http://x/?q=1", ""] {
        assert!(
            matches!(with(&|c| c.base_url = bad.into()), Err(SetupError::Invalid(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        with(&|c| c.client_id = "two words".into()),
        Err(SetupError::Invalid(_))
    ));
    assert!(matches!(
        with(&|c| c.client_id = " ".into()),
        Err(SetupError::Invalid(_))
    ));
    assert!(matches!(
        with(&|c| c.client_secret_file = "/nonexistent/key".into()),
        Err(SetupError::Read { .. })
    ));
    let empty = f._dir.path().join("empty.key");
    std::fs::write(&empty, "\n").unwrap();
    assert!(matches!(
        with(&|c| c.client_secret_file = empty.clone()),
        Err(SetupError::Invalid(_))
    ));
    assert!(matches!(
        with(&|c| c.issues = vec![" ".into()]),
        Err(SetupError::Invalid(_))
    ));
    let a = with(&|c| c.issues = vec![ISSUE.into(), format!(" {ISSUE} ")]).unwrap();
    assert_eq!(a.issues(), [ISSUE.to_string()]);
    assert!(!format!("{a:?}").contains(KEY));

    let config: MandatesConfig = serde_json::from_value(json!({
        "base_url": "https://valtuudet.example",
        "client_id": "portti01",
        "client_secret_file": "/run/secrets/mandates.key",
        "issues": [ISSUE],
        "http": {"request_timeout": "5s"}
    }))
    .unwrap();
    assert_eq!(config.http.request_timeout, Duration::from_secs(5));
    assert!(serde_json::from_value::<MandatesConfig>(json!({
        "base_url": "x", "client_id": "y", "client_secret_file": "z", "secret": "no"
    }))
    .is_err());
}

#[test]
fn decisions_serialize_for_the_audit() {
    let d = Decision {
        result: MandateResult::Disallowed,
        issues: vec![ISSUE.into()],
        reasons: vec![],
        error: Some(AdapterError::Transient("timed out".into())),
        request_id: "r".into(),
    };
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["result"], "DISALLOWED");
    assert_eq!(v["error"], "transient failure: timed out");
    let allowed = Decision {
        result: MandateResult::Allowed,
        error: None,
        ..d
    };
    assert_eq!(serde_json::to_value(&allowed).unwrap()["error"], Value::Null);
}
