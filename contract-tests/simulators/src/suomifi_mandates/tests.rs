//! The simulator over real loopback HTTP: signatures checked strictly, decisions from the mandate
//! table, the control endpoints, faults and the request log.

use super::*;
use serde_json::{json, Value};
use std::time::Instant;

const OTHER: &str = "260881-1233";

async fn sandbox() -> Running {
    start(Config::sandbox(), "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn target(client: &str, delegate: &str, principal: &str, issues: &[&str]) -> String {
    let mut t = format!("/service/rest/hpa/authorization/{client}/{delegate}/{principal}?requestId=r-1");
    for issue in issues {
        t.push_str("&issue=");
        t.push_str(&encode(issue));
    }
    t
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// GET `target` with the given header value (None: no header); status and JSON body.
async fn get(sim: &Running, target: &str, auth: Option<String>) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().get(format!("{}{target}", sim.base_url()));
    if let Some(auth) = auth {
        request = request.header("X-AsiointivaltuudetAuthorization", auth);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

/// A correctly signed query of the sandbox client.
async fn ask(sim: &Running, delegate: &str, principal: &str, issues: &[&str]) -> (u16, Value) {
    let t = target(SANDBOX_CLIENT_ID, delegate, principal, issues);
    let auth = auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &t, &now());
    let (status, body, _) = get(sim, &t, Some(auth)).await;
    (status, body)
}

async fn result(sim: &Running, delegate: &str, principal: &str, issues: &[&str]) -> String {
    let (status, body) = ask(sim, delegate, principal, issues).await;
    assert_eq!(status, 200, "{body}");
    body["result"].as_str().unwrap().to_owned()
}

#[test]
fn the_checksum_matches_the_published_recipe() {
    // The same vector as the adapter's, computed independently with `openssl dgst -sha256 -hmac`.
    let path = "/service/rest/hpa/authorization/portti01/010594Y9032/131052-308T\
                ?requestId=0190a0c1-0000-7000-8000-000000000001\
                &issue=http%3A%2F%2Fvaltuusrekisteri.suomi.fi%2Fterveydenhuollon_asioiden_hoito";
    assert_eq!(
        checksum("sandbox-api-key", path, "2026-03-01T09:30:00.000Z"),
        "au4hWDDc5b6rP0IXeuZyFV5Jhc4gQ/Ln18u7zHzbHSc="
    );
    // RFC 4231 test case 2: "what do ya want" + " " + "for nothing?".
    assert_eq!(
        checksum("Jefe", "what do ya want", "for nothing?"),
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    );
}

#[tokio::test]
async fn the_sandbox_relative_may_act_for_the_older_person_and_nobody_else_may() {
    let sim = sandbox().await;
    let (status, body) = ask(&sim, SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE]).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"result": "ALLOWED", "reasons": []}));
    // Lower case identity codes are the same persons.
    assert_eq!(
        result(
            &sim,
            &SANDBOX_DELEGATE.to_lowercase(),
            SANDBOX_PRINCIPAL,
            &[SANDBOX_ISSUE]
        )
        .await,
        "ALLOWED"
    );

    for (delegate, principal, issues) in [
        (SANDBOX_PRINCIPAL, SANDBOX_DELEGATE, vec![SANDBOX_ISSUE]), // the other way round
        (OTHER, SANDBOX_PRINCIPAL, vec![SANDBOX_ISSUE]),
        (SANDBOX_DELEGATE, OTHER, vec![SANDBOX_ISSUE]),
        (SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, vec!["urn:other:issue"]),
        (
            SANDBOX_DELEGATE,
            SANDBOX_PRINCIPAL,
            vec![SANDBOX_ISSUE, "urn:other:issue"],
        ),
        (SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, vec![]),
    ] {
        let (status, body) = ask(&sim, delegate, principal, &issues).await;
        assert_eq!(status, 200);
        assert_eq!(body["result"], "DISALLOWED", "{delegate} {principal} {issues:?}");
        assert!(body["reasons"][0]["reasonRule"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn signatures_are_checked_strictly() {
    let sim = sandbox().await;
    let t = target(SANDBOX_CLIENT_ID, SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE]);
    let at = |offset_seconds: i64| {
        (chrono::Utc::now() + chrono::Duration::seconds(offset_seconds))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let expect_401 = |code: &'static str| {
        move |(status, body, _): (u16, Value, reqwest::header::HeaderMap)| {
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["error"], code, "{body}");
            assert!(body["message"].is_string());
        }
    };

    expect_401("missing_or_malformed_header")(get(&sim, &t, None).await);
    expect_401("missing_or_malformed_header")(get(&sim, &t, Some("portti01 only-two".into())).await);
    let ts = now();
    expect_401("unknown_client")(get(&sim, &t, Some(auth_header("stranger", SANDBOX_API_KEY, &t, &ts))).await);
    expect_401("bad_checksum")(get(&sim, &t, Some(auth_header(SANDBOX_CLIENT_ID, "wrong key", &t, &ts))).await);
    // Signed for another query (the issue left out) than the one sent.
    let other = target(SANDBOX_CLIENT_ID, SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[]);
    expect_401("bad_checksum")(
        get(
            &sim,
            &t,
            Some(auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &other, &ts)),
        )
        .await,
    );
    // The header's timestamp is not the signed one.
    let value = format!(
        "{SANDBOX_CLIENT_ID} {} {}",
        at(-1),
        checksum(SANDBOX_API_KEY, &t, &at(-30))
    );
    expect_401("bad_checksum")(get(&sim, &t, Some(value)).await);
    expect_401("bad_timestamp")(
        get(
            &sim,
            &t,
            Some(auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &t, "yesterday")),
        )
        .await,
    );
    for stale in [-6 * 60, 6 * 60] {
        let value = auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &t, &at(stale));
        expect_401("timestamp_out_of_window")(get(&sim, &t, Some(value)).await);
    }
    // Within the window either way, and in the description's minute form with an offset.
    for fine in [-4 * 60, 4 * 60] {
        let (status, body, _) = get(
            &sim,
            &t,
            Some(auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &t, &at(fine))),
        )
        .await;
        assert_eq!((status, body["result"].as_str()), (200, Some("ALLOWED")));
    }
    // The description's example form: minutes and an offset, here +02:00.
    let minute_form = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M%:z")
        .to_string();
    let (status, _, _) = get(
        &sim,
        &t,
        Some(auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &t, &minute_form)),
    )
    .await;
    assert_eq!(status, 200, "{minute_form}");

    // A valid signature for another client's path.
    let theirs = target("someone1", SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE]);
    let (status, body, _) = get(
        &sim,
        &theirs,
        Some(auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &theirs, &now())),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("client_mismatch")));

    let log = sim.control().request_log();
    assert!(log.iter().all(|r| r.status.is_some()));
    assert_eq!(log.iter().filter(|r| r.status == Some(401)).count(), 9);
    assert!(log
        .iter()
        .filter(|r| r.status == Some(401))
        .all(|r| r.client_id.is_none() && r.result.is_none()));
}

#[tokio::test]
async fn malformed_queries_are_bad_requests() {
    let sim = sandbox().await;
    let (status, body) = ask(&sim, "010594Y9033", SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    assert!(body["message"].as_str().unwrap().contains("delegateId"));
    let (status, body) = ask(&sim, SANDBOX_DELEGATE, "x", &[SANDBOX_ISSUE]).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("principalId"));

    let t = format!("/service/rest/hpa/authorization/{SANDBOX_CLIENT_ID}/{SANDBOX_DELEGATE}/{SANDBOX_PRINCIPAL}");
    let (status, body, _) = get(
        &sim,
        &t,
        Some(auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &t, &now())),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("requestId"));

    let (status, body, _) = get(&sim, "/service/other", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn mandates_are_added_and_removed_over_http_and_from_rust() {
    let sim = sandbox().await;
    let http = reqwest::Client::new();
    let control_url = format!("{}/_simulator/mandates", sim.base_url());
    let issue = "urn:example:kotihoito";

    assert_eq!(result(&sim, OTHER, SANDBOX_PRINCIPAL, &[issue]).await, "DISALLOWED");
    let r = http
        .post(&control_url)
        .json(&json!({"delegate": OTHER, "principal": SANDBOX_PRINCIPAL.to_lowercase(), "issue": issue}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(result(&sim, OTHER, SANDBOX_PRINCIPAL, &[issue]).await, "ALLOWED");
    // Both issues now held by the sandbox relative? No: only the sandbox issue.
    assert_eq!(
        result(&sim, SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE, issue]).await,
        "DISALLOWED"
    );
    sim.control().grant(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, issue);
    assert_eq!(
        result(&sim, SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE, issue]).await,
        "ALLOWED"
    );

    let list: Value = http.get(&control_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert!(list.as_array().unwrap().contains(&json!({
        "delegate": OTHER, "principal": SANDBOX_PRINCIPAL, "issue": issue
    })));

    let r = http
        .post(&control_url)
        .json(&json!({"delegate": OTHER, "principal": SANDBOX_PRINCIPAL, "issue": issue, "action": "remove"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(result(&sim, OTHER, SANDBOX_PRINCIPAL, &[issue]).await, "DISALLOWED");
    assert!(sim.control().revoke(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, issue));
    assert!(!sim.control().revoke(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, issue));
    assert_eq!(sim.control().mandates(), Config::sandbox().mandates);

    for bad in [
        json!({"delegate": "nope", "principal": SANDBOX_PRINCIPAL, "issue": issue}),
        json!({"delegate": OTHER, "principal": SANDBOX_PRINCIPAL, "issue": " "}),
        json!({"delegate": OTHER, "principal": SANDBOX_PRINCIPAL, "issue": issue, "action": "maybe"}),
        json!({"delegate": OTHER}),
    ] {
        let r = http.post(&control_url).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    assert_eq!(http.delete(&control_url).send().await.unwrap().status(), 204);
    assert!(sim.control().mandates().is_empty());
    assert_eq!(
        result(&sim, SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE]).await,
        "DISALLOWED"
    );
    // Control requests are not in the request log.
    assert!(sim
        .control()
        .request_log()
        .iter()
        .all(|r| !r.path.starts_with("/_simulator")));
}

#[tokio::test]
async fn faults_replace_answers() {
    let sim = sandbox().await;
    let control = sim.control();
    let t = target(SANDBOX_CLIENT_ID, SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, &[SANDBOX_ISSUE]);
    let signed = || auth_header(SANDBOX_CLIENT_ID, SANDBOX_API_KEY, &t, &now());

    for code in [500, 502, 503] {
        control.inject(Fault::status(code).times(1));
        let (status, body, _) = get(&sim, &t, Some(signed())).await;
        assert_eq!((status, body["error"].as_str()), (code, Some("injected")));
    }
    control.inject(Fault::too_many_requests(9).times(1));
    let (status, _, headers) = get(&sim, &t, Some(signed())).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "9");

    control.inject(Fault::malformed_json().times(1));
    let (status, body, _) = get(&sim, &t, Some(signed())).await;
    assert_eq!(status, 200);
    assert!(body.is_string(), "not JSON: {body}");

    control.inject(Fault::drop_connection().times(1));
    let err = reqwest::Client::new()
        .get(format!("{}{t}", sim.base_url()))
        .header("X-AsiointivaltuudetAuthorization", signed())
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status());

    control.inject(Fault::latency(Duration::from_millis(300)).times(1));
    let started = Instant::now();
    let (status, body, _) = get(&sim, &t, Some(signed())).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!((status, body["result"].as_str()), (200, Some("ALLOWED")));
    assert!(control.faults().is_empty(), "counted faults are spent");

    // Injected over HTTP, only for a path prefix, after the request was decided.
    let http = reqwest::Client::new();
    let faults_url = format!("{}/_simulator/faults", sim.base_url());
    let r = http
        .post(&faults_url)
        .json(&json!({"kind": "malformedJson", "pathPrefix": "/service/rest/hpa/", "when": "after", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let listed: Value = http.get(&faults_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["kind"], "malformedJson");
    let (status, body, _) = get(&sim, &t, Some(signed())).await;
    assert_eq!(status, 200);
    let whole = serde_json::to_string(&json!({"result": "ALLOWED", "reasons": []})).unwrap();
    let cut = body.as_str().unwrap();
    assert!(cut.len() < whole.len() && whole.starts_with(cut), "{cut}");
    let r = http
        .post(&faults_url)
        .json(&json!({"kind": "status", "status": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    control.inject(Fault::status(500));
    assert_eq!(http.delete(&faults_url).send().await.unwrap().status(), 204);
    assert!(control.faults().is_empty());

    let log = control.request_log();
    let statuses: Vec<Option<u16>> = log.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            Some(500),
            Some(502),
            Some(503),
            Some(429),
            Some(200),
            None,
            Some(200),
            Some(200)
        ]
    );
    // Faulted answers carry no decision; the latency one does; the `after` one was decided but lost.
    let results: Vec<Option<&str>> = log.iter().map(|r| r.result.as_deref()).collect();
    assert_eq!(results, [None, None, None, None, None, None, Some("ALLOWED"), None]);
    assert_eq!(log[6].issues, [SANDBOX_ISSUE]);
    assert_eq!(log[6].client_id.as_deref(), Some(SANDBOX_CLIENT_ID));
    assert_eq!(log[6].path, t.split('?').next().unwrap());

    let r = http
        .delete(format!("{}/_simulator/requests", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(control.request_log().is_empty());
}

#[tokio::test]
async fn a_simulator_needs_a_client() {
    let config = Config {
        clients: vec![],
        ..Config::sandbox()
    };
    assert!(start(config, "127.0.0.1:0".parse().unwrap()).await.is_err());
    let config = Config {
        clients: vec![Client {
            client_id: "has space".into(),
            api_key: "k".into(),
        }],
        ..Config::sandbox()
    };
    assert!(start(config, "127.0.0.1:0".parse().unwrap()).await.is_err());
}
