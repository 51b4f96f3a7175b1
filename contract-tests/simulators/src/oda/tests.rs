//! The ODA simulator over real loopback HTTP: the token endpoint's checks, bearer tokens, search and
//! paging, writes and conditional create, faults.

use super::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;

fn key_pem() -> Vec<u8> {
    std::fs::read(certs_example().join("oda-client.key")).unwrap()
}

struct Claims {
    iss: String,
    sub: String,
    aud: String,
    jti: Option<String>,
    exp_in: i64,
    kid: Option<String>,
}

fn claims(sim: &Running) -> Claims {
    Claims {
        iss: SANDBOX_CLIENT_ID.into(),
        sub: SANDBOX_CLIENT_ID.into(),
        aud: sim.token_url(),
        jti: Some(uuid::Uuid::now_v7().to_string()),
        exp_in: 240,
        kid: Some(SANDBOX_KEY_ID.into()),
    }
}

fn sign(c: &Claims, key: &[u8]) -> String {
    let mut header = Header::new(Algorithm::ES384);
    header.kid = c.kid.clone();
    let now = chrono::Utc::now().timestamp();
    let mut body = json!({"iss": c.iss, "sub": c.sub, "aud": c.aud, "iat": now, "exp": now + c.exp_in});
    if let Some(jti) = &c.jti {
        body["jti"] = json!(jti);
    }
    jsonwebtoken::encode(&header, &body, &EncodingKey::from_ec_pem(key).unwrap()).unwrap()
}

async fn token_request(sim: &Running, assertion: &str, grant: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", grant),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    let r = reqwest::Client::new()
        .post(sim.token_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

async fn token(sim: &Running) -> String {
    let (status, body) = token_request(sim, &sign(&claims(sim), &key_pem()), "client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn sandbox() -> Running {
    start(Config::sandbox(), "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

async fn get(url: &str, token: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn oda_token_endpoint_checks_the_client_assertion() {
    let sim = sandbox().await;
    let (status, body) = token_request(&sim, &sign(&claims(&sim), &key_pem()), "client_credentials").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);

    // The same assertion again: a replayed jti.
    let c = claims(&sim);
    let jwt = sign(&c, &key_pem());
    assert_eq!(token_request(&sim, &jwt, "client_credentials").await.0, StatusCode::OK);
    let (status, body) = token_request(&sim, &jwt, "client_credentials").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error_description"].as_str().unwrap().contains("replay"), "{body}");

    let other_key = {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).unwrap();
        let ec = openssl::ec::EcKey::generate(&group).unwrap();
        openssl::pkey::PKey::from_ec_key(ec)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap()
    };
    let cases: Vec<(Claims, Vec<u8>, &str)> = vec![
        (claims(&sim), other_key, "signature"),
        (
            Claims {
                aud: "http://elsewhere/token".into(),
                ..claims(&sim)
            },
            key_pem(),
            "aud",
        ),
        (
            Claims {
                iss: "someone".into(),
                ..claims(&sim)
            },
            key_pem(),
            "iss",
        ),
        (
            Claims {
                sub: "someone".into(),
                ..claims(&sim)
            },
            key_pem(),
            "sub",
        ),
        (
            Claims {
                exp_in: -120,
                ..claims(&sim)
            },
            key_pem(),
            "expired",
        ),
        (
            Claims {
                exp_in: 3600,
                ..claims(&sim)
            },
            key_pem(),
            "five minutes",
        ),
        (
            Claims {
                jti: None,
                ..claims(&sim)
            },
            key_pem(),
            "jti",
        ),
        (
            Claims {
                kid: Some("other".into()),
                ..claims(&sim)
            },
            key_pem(),
            "kid",
        ),
    ];
    for (c, key, expected) in cases {
        let (status, body) = token_request(&sim, &sign(&c, &key), "client_credentials").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}");
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"].as_str().unwrap().contains(expected),
            "{expected}: {body}"
        );
    }
    let (_, body) = token_request(&sim, &sign(&claims(&sim), &key_pem()), "password").await;
    assert_eq!(body["error"], "unsupported_grant_type");
    assert_eq!(sim.control().tokens_issued(), 2);
}

#[tokio::test]
async fn oda_fhir_endpoints_need_a_live_bearer_token() {
    let sim = sandbox().await;
    let url = format!("{}/QuestionnaireResponse/oa-853-1", sim.fhir_base_url());
    let r = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(get(&url, "made-up").await.0, StatusCode::UNAUTHORIZED);

    let token = token(&sim).await;
    let (status, qr) = get(&url, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(qr["subject"]["identifier"]["value"], "010594Y9032");
    sim.control().expire_tokens();
    assert_eq!(get(&url, &token).await.0, StatusCode::UNAUTHORIZED);
    // metadata is open.
    let r = reqwest::get(format!("{}/metadata", sim.fhir_base_url())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn oda_search_filters_by_status_tag_and_last_updated() {
    let sim = sandbox().await;
    let token = token(&sim).await;
    let base = sim.fhir_base_url();
    let search = |q: &str| format!("{base}/QuestionnaireResponse?{q}");
    let ids = |bundle: &Value| -> Vec<String> {
        (bundle["entry"].as_array().into_iter().flatten())
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, bundle) = get(
        &search("status=completed&_tag=urn%3Aoid%3A1.2.246.537.6.21%7C853&_sort=_lastUpdated&_count=50"),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(ids(&bundle), ["oa-853-1", "oa-853-2"]);
    assert_eq!(bundle["entry"][0]["search"]["mode"], "match");
    assert!(bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["relation"] != "next"));

    let (_, bundle) = get(
        &search("status=completed&_tag=urn%3Aoid%3A1.2.246.537.6.21%7C853&_lastUpdated=gt2026-01-05T08:00:00.000Z"),
        &token,
    )
    .await;
    assert_eq!(ids(&bundle), ["oa-853-2"]);
    let (_, bundle) = get(
        &search("_lastUpdated=ge2026-01-05T08:20:00Z&_sort=-_lastUpdated"),
        &token,
    )
    .await;
    assert_eq!(ids(&bundle), ["oa-853-4", "oa-529-2", "oa-529-1"]);
    let (status, body) = get(&search("subject=x"), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["issue"][0]["code"], "not-supported");
}

#[tokio::test]
async fn oda_search_pages_with_opaque_next_links() {
    let sim = sandbox().await;
    let control = sim.control();
    let added: Vec<String> = (0..120)
        .map(|_| control.add_assessment("131052-308T", "529", "urgent"))
        .collect();
    let token = token(&sim).await;
    let mut url = format!(
        "{}/QuestionnaireResponse?status=completed&_tag=urn%3Aoid%3A1.2.246.537.6.21%7C529&_sort=_lastUpdated&_count=50",
        sim.fhir_base_url()
    );
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let (status, bundle) = get(&url, &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bundle["total"], 122);
        pages += 1;
        for e in bundle["entry"].as_array().unwrap() {
            seen.push(e["resource"]["id"].as_str().unwrap().to_owned());
        }
        let next = (bundle["link"].as_array().unwrap().iter()).find(|l| l["relation"] == "next");
        match next {
            Some(l) => {
                url = l["url"].as_str().unwrap().to_owned();
                assert!(url.contains("_page=") && !url.contains("_tag"), "{url}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 122);
    assert_eq!(&seen[..2], ["oa-529-1", "oa-529-2"]);
    assert_eq!(&seen[2..], &added[..]);
    let (status, _) = get(
        &format!("{}/QuestionnaireResponse?_page=nope", sim.fhir_base_url()),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
}

fn task(id: &str, status: &str, profile: &str, focus: &str) -> Value {
    json!({
        "resourceType": "Task", "id": id,
        "meta": {"profile": [profile]},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")}],
        "status": status, "intent": "order",
        "focus": {"reference": focus},
        "owner": {"type": "Organization", "identifier": {"system": ORGANISATION_SYSTEM, "value": "853"}}
    })
}

#[tokio::test]
async fn oda_tasks_are_updated_as_created_and_checked() {
    let sim = sandbox().await;
    let token = token(&sim).await;
    let id = "0195f0a0-0000-8000-8000-000000000001";
    let url = format!("{}/Task/{id}", sim.fhir_base_url());
    let put = |body: Value| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let r = reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .header("content-type", "application/fhir+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let (status, etag) = (r.status(), r.headers().get("etag").cloned());
            (status, etag, r.json::<Value>().await.unwrap())
        }
    };
    let (status, etag, body) = put(task(
        id,
        "accepted",
        BASE_TASK_PROFILE,
        "QuestionnaireResponse/oa-853-1",
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(etag.unwrap(), "W/\"1\"");
    assert_eq!(body["meta"]["versionId"], "1");
    let (status, _, body) = put(task(
        id,
        "completed",
        BASE_TASK_PROFILE,
        "QuestionnaireResponse/oa-853-1",
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["meta"]["versionId"], "2");
    assert_eq!(sim.control().task(id).unwrap()["status"], "completed");
    assert_eq!(sim.control().tasks().len(), 1);

    for (bad, expected) in [
        (
            task(id, "done", BASE_TASK_PROFILE, "QuestionnaireResponse/oa-853-1"),
            "task-status",
        ),
        (
            task(
                id,
                "accepted",
                "http://example.org/Other",
                "QuestionnaireResponse/oa-853-1",
            ),
            "meta.profile",
        ),
        (
            task(id, "accepted", BASE_TASK_PROFILE, "QuestionnaireResponse/nope"),
            "focus",
        ),
    ] {
        let (status, _, body) = put(bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.to_string().contains(expected), "{body}");
    }
    let mut with_empty = task(id, "accepted", BASE_TASK_PROFILE, "QuestionnaireResponse/oa-853-1");
    with_empty["note"] = json!([]);
    assert_eq!(put(with_empty).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = put(task(
        "other-id",
        "accepted",
        BASE_TASK_PROFILE,
        "QuestionnaireResponse/oa-853-1",
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oda_communications_are_created_once_per_identifier() {
    let sim = sandbox().await;
    let token = token(&sim).await;
    let communication = json!({
        "resourceType": "Communication",
        "meta": {"profile": [BASE_COMMUNICATION_PROFILE]},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0195f0a0-0000-7000-8000-00000000000a"}],
        "status": "completed",
        "about": [{"reference": "QuestionnaireResponse/oa-853-1"}],
        "payload": [{"contentString": "Soitamme tänään."}]
    });
    let post = |condition: Option<&'static str>| {
        let (url, token, body) = (
            format!("{}/Communication", sim.fhir_base_url()),
            token.clone(),
            communication.clone(),
        );
        async move {
            let mut request = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/fhir+json")
                .body(body.to_string());
            if let Some(c) = condition {
                request = request.header("If-None-Exist", c);
            }
            let r = request.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let condition = "identifier=urn:ietf:rfc:3986|urn:uuid:0195f0a0-0000-7000-8000-00000000000a";
    let (status, first) = post(Some(condition)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = post(Some(condition)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["id"], again["id"]);
    assert_eq!(sim.control().communications().len(), 1);
    // Without the condition a second one is made; then the condition matches two.
    assert_eq!(post(None).await.0, StatusCode::CREATED);
    assert_eq!(post(Some(condition)).await.0, StatusCode::PRECONDITION_FAILED);
    assert_eq!(post(Some("subject=x")).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oda_faults_are_injected_on_fhir_and_token_paths() {
    let sim = sandbox().await;
    let control = sim.control();
    let token = token(&sim).await;
    let url = format!("{}/QuestionnaireResponse/oa-853-1", sim.fhir_base_url());

    control.inject(Fault::status(503).on_path("/fhir/").times(1));
    let (status, body) = get(&url, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["resourceType"], "OperationOutcome");

    control.inject(Fault::too_many_requests(7).times(1));
    let r = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");

    control.inject(Fault::drop_connection().times(1));
    assert!(reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .is_err());

    control.inject(Fault::malformed_json().after_processing().times(1));
    let r = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());

    control.inject(Fault::latency(Duration::from_millis(150)).times(1));
    let started = Instant::now();
    assert_eq!(get(&url, &token).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    control.inject(Fault::unauthorized().times(1));
    assert_eq!(get(&url, &token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&url, &token).await.0,
        StatusCode::UNAUTHORIZED,
        "the token was revoked"
    );

    control.inject(Fault::status(502).on_path("/auth/token").times(1));
    let (status, _) = token_request(&sim, &sign(&claims(&sim), &key_pem()), "client_credentials").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(control.faults().is_empty());

    let log = control.request_log();
    assert_eq!(
        log.iter().filter(|r| r.status.is_none()).count(),
        1,
        "the dropped connection"
    );
    assert!(log.iter().all(|r| !r.path.starts_with("/_simulator")));
}

#[tokio::test]
async fn oda_control_endpoints_work_over_http() {
    let sim = sandbox().await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/_simulator/assessments", sim.base_url()))
        .json(&json!({"identityCode": "010594Y9032", "organisation": "853", "urgency": "emergency", "topics": ["chest-pain"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert!(sim.control().questionnaire_responses().iter().any(|q| q["id"] == id));
    let r = client
        .post(format!("{}/_simulator/faults", sim.base_url()))
        .json(&json!({"kind": "status", "status": 500, "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.control().faults().len(), 1);
    let tasks: Value = client
        .get(format!("{}/_simulator/tasks", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks, json!([]));
}
