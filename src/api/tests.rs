//! API behaviour through the whole router and its layers, with a real store on a temp file.

use super::*;
use crate::auth::sandbox::{self, SigningKey};
use crate::auth::Scope;
use crate::config::Config;
use crate::store::StoreConfig;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Harness {
    app: Router,
    store: Store,
    key: SigningKey,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    harness_with(|_| {}).await
}

async fn harness_with(adjust: impl FnOnce(&mut LimitSettings)) -> Harness {
    harness_sized(adjust, None).await
}

async fn harness_sized(adjust: impl FnOnce(&mut LimitSettings), max_size_bytes: Option<u64>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let mut verifier = TokenVerifier::new("portti-sandbox", "portti", 0);
    verifier.add_pem(key.public_pem.as_bytes()).unwrap();
    let store = Store::open(&StoreConfig {
        sqlite_path: dir.path().join("portti.db"),
        database_url: None,
        max_batch: 64,
        read_connections: 2,
        max_size_bytes,
    })
    .await
    .unwrap();
    let mut limits = Config::default().limits;
    adjust(&mut limits);
    let state = AppState::new(
        store.clone(),
        PersonHasher::new(vec![3; 32]).unwrap(),
        OrganisationRegistry::default(),
        verifier,
        CertificateClients::default(),
        limits,
    );
    Harness {
        app: router(Arc::new(state)),
        store,
        key,
        _dir: dir,
    }
}

const ALL: &[Scope] = &[Scope::CasesWrite, Scope::CasesRead, Scope::AuditRead];

impl Harness {
    fn token(&self, client: &str, scopes: &[Scope], orgs: &[&str]) -> String {
        let orgs: Vec<String> = orgs.iter().map(|s| s.to_string()).collect();
        sandbox::mint(&self.key, "portti-sandbox", "portti", client, scopes, &orgs, 600).unwrap()
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, headers, body)
    }

    async fn get(&self, token: &str, uri: &str) -> (StatusCode, HeaderMap, Value) {
        self.call(
            Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, token: &str, body: &Value, extra: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::post("/v1/cases")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        self.call(req.body(Body::from(body.to_string())).unwrap()).await
    }

    async fn post_raw(&self, token: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, HeaderMap, Value) {
        self.call(
            Request::post("/v1/cases")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", content_type)
                .body(body.into())
                .unwrap(),
        )
        .await
    }
}

fn example() -> Value {
    serde_json::from_str(crate::case::input::EXAMPLE).unwrap()
}

fn assert_problem(headers: &HeaderMap, body: &Value, status: StatusCode) {
    assert_eq!(headers["content-type"], "application/problem+json", "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(body["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(body["title"].is_string());
}

fn pointers(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["pointer"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_example_case_is_accepted_normalised_and_read_back() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (status, headers, body) = h.post(&t, &example(), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("/v1/cases/{id}").as_str());
    for (field, expected) in [
        ("/language", "sv"),
        ("/received_at", "2026-11-02T07:15:00Z"),
        ("/client/identity_code", "131052-308T"),
        ("/client/birth_date", "1952-10-13"),
        ("/client/given_name", "Aino"),
        ("/client/municipality", "853"),
        ("/client/phone", "+358401234567"),
    ] {
        assert_eq!(body.pointer(field).and_then(Value::as_str), Some(expected), "{field}");
    }
    let (status, _, read) = h.get(&t, &format!("/v1/cases/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, body);
}

#[tokio::test]
async fn an_invalid_case_lists_every_problem_and_stores_nothing() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let mut body = example();
    body["client"]["identity_code"] = json!("131052-308A");
    body["client"]["municipality"] = json!("Atlantis");
    let (status, headers, problem) = h.post(&t, &body, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&headers, &problem, status);
    assert_eq!(pointers(&problem), ["/client/identity_code", "/client/municipality"]);
    let (_, _, list) = h.get(&t, "/v1/cases").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (_, _, verify) = h.get(&t, "/v1/audit/verify").await;
    assert_eq!(verify["records"], 0, "no audit record for a refused body");
}

#[tokio::test]
async fn malformed_bodies_get_problems_never_a_500() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (s, hd, b) = h.post_raw(&t, "application/json", "{\"organiser\": ").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_problem(&hd, &b, s);
    let (s, hd, b) = h.post_raw(&t, "text/plain", example().to_string()).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_problem(&hd, &b, s);
    let mut unknown = example();
    unknown["client"]["shoe_size"] = json!(44);
    let (s, hd, b) = h.post(&t, &unknown, &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&hd, &b, s);
    assert_eq!(pointers(&b), ["/client/shoe_size"]);
    let mut wrong_type = example();
    wrong_type["topics"] = json!("none");
    let (s, _, b) = h.post(&t, &wrong_type, &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&b), ["/topics"]);
    let (s, hd, b) = h.post_raw(&t, "application/json", "[]").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&hd, &b, s);
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let (s, hd, b) = h.post_raw(&t, "application/json", deep).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_problem(&hd, &b, s);
    let huge = json!({ "notes": "x".repeat(300 * 1024) }).to_string();
    let (s, hd, b) = h.post_raw(&t, "application/json", huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_problem(&hd, &b, s);
    let (s, hd, b) = h.get(&t, "/v1/nowhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_problem(&hd, &b, s);
    let (s, hd, b) = h.call(Request::delete("/v1/cases").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_problem(&hd, &b, s);
}

#[tokio::test]
async fn problems_never_echo_an_identity_code() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    for body in [
        json!({ "client": "131052-308T" }),
        json!({ "client": { "131052-308T": 1 } }),
        json!({ "organiser": "853", "channel": "phone", "language": "fi", "received_at": "2026-11-02T09:15:00Z",
                "outcome": "open", "notes": "soittaja 131052 -308T" }),
    ] {
        let (s, _, b) = h.post(&t, &body, &[]).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!b.to_string().contains("308T"), "{b}");
    }
    let (s, _, b) = h.get(&t, "/v1/cases?131052-308T=1").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!b.to_string().contains("308T"), "{b}");
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_refused() {
    let h = harness_with(|l| l.body_bytes = 1024).await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok("{\"notes\":\"".into()), Ok("x".repeat(2000)), Ok("\"}".into())];
    let body = Body::from_stream(futures_stream(chunks));
    let (s, hd, b) = h.post_raw(&t, "application/json", body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_problem(&hd, &b, s);
}

fn futures_stream(
    items: Vec<Result<String, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<String, std::io::Error>> {
    struct Iter(std::vec::IntoIter<Result<String, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<String, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test]
async fn authentication_and_scopes_are_enforced() {
    let h = harness().await;
    let (s, hd, b) = h.call(Request::get("/v1/cases").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_problem(&hd, &b, s);
    assert_eq!(hd["www-authenticate"], "Bearer");
    let (s, _, _) = h.get("garbage", "/v1/cases").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let stranger = SigningKey::generate().unwrap();
    let forged = sandbox::mint(&stranger, "portti-sandbox", "portti", "x", ALL, &["853".into()], 600).unwrap();
    let (s, _, b) = h.get(&forged, "/v1/cases").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let read_only = h.token("lukija", &[Scope::CasesRead], &["853"]);
    let (s, hd, b) = h.post(&read_only, &example(), &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_problem(&hd, &b, s);
    let (s, _, _) = h.get(&read_only, "/v1/audit").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let write_only = h.token("kirjoittaja", &[Scope::CasesWrite], &["853"]);
    let (s, _, _) = h.get(&write_only, "/v1/cases").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn no_client_reads_or_writes_another_organisations_data() {
    let h = harness().await;
    let turku = h.token("turku", ALL, &["853"]);
    let naantali = h.token("naantali", ALL, &["529"]);
    let (_, _, created) = h.post(&turku, &example(), &[]).await;
    let id = created["id"].as_str().unwrap();

    // Write for another organisation.
    let (s, _, b) = h.post(&naantali, &example(), &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // Read by id.
    let (s, _, _) = h.get(&naantali, &format!("/v1/cases/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // List, with and without naming the organisation.
    let (s, _, _) = h.get(&naantali, "/v1/cases?organisation=853").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = h.get(&naantali, "/v1/cases?organisation=Turku").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, _, list) = h.get(&naantali, "/v1/cases").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (_, _, list) = h.get(&turku, "/v1/cases?organisation=Åbo").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Audit trail.
    let (s, _, _) = h.get(&naantali, "/v1/audit?organisation=853").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, _, audit) = h.get(&naantali, "/v1/audit?person=131052-308T").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 0);
    let (_, _, audit) = h.get(&turku, "/v1/audit?person=131052-308T").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["case.create", "case.create", "case.read", "case.list"],
        "the refused write and the denied read are audited too"
    );
    let outcomes: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "denied", "denied", "ok"]);
    // A case organised by one municipality and handled by another is visible to both.
    let mut shared = example();
    shared["organiser"] = json!("529");
    let (s, _, created) = h.post(&turku, &shared, &[]).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = h
        .get(&naantali, &format!("/v1/cases/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn idempotency_keys_return_the_first_response_or_refuse_a_different_body() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (s1, h1, b1) = h.post(&t, &example(), &[("idempotency-key", "k-1")]).await;
    assert_eq!(s1, StatusCode::CREATED);
    let (s2, h2, b2) = h.post(&t, &example(), &[("idempotency-key", "k-1")]).await;
    assert_eq!(s2, StatusCode::CREATED);
    assert_eq!(b1, b2);
    assert_eq!(h1["location"], h2["location"]);
    let mut other = example();
    other["notes"] = json!("Something else.");
    let (s3, hd, b3) = h.post(&t, &other, &[("idempotency-key", "k-1")]).await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&hd, &b3, s3);
    assert_eq!(b3["type"], "/problems/idempotency-key-reused");
    let (_, _, list) = h.get(&t, "/v1/cases").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Another client may use the same key for its own request.
    let t2 = h.token("toinen", ALL, &["853"]);
    let (s4, _, b4) = h.post(&t2, &other, &[("idempotency-key", "k-1")]).await;
    assert_eq!(s4, StatusCode::CREATED);
    assert_ne!(b4["id"], b1["id"]);
}

#[tokio::test]
async fn a_replay_is_audited_and_refused_to_a_token_for_other_organisations() {
    let h = harness().await;
    let turku = h.token("ohjaus", ALL, &["853"]);
    let same_client_other_orgs = h.token("ohjaus", ALL, &["529"]);
    let (s, _, _) = h.post(&turku, &example(), &[("idempotency-key", "k")]).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, hd, b) = h
        .post(&same_client_other_orgs, &example(), &[("idempotency-key", "k")])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_problem(&hd, &b, s);
    let (s, hd, _) = h.post(&turku, &example(), &[("idempotency-key", "k")]).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(hd["idempotent-replayed"], "true");
    let (_, _, audit) = h.get(&turku, "/v1/audit?action=case.create").await;
    let outcomes: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "denied", "replayed"]);
}

#[tokio::test]
async fn organisations_in_tokens_are_compared_by_canonical_code() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["Åbo"]);
    let (s, _, b) = h.post(&t, &example(), &[]).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn each_organisation_of_a_case_sees_its_audit_records() {
    let h = harness().await;
    let turku = h.token("turku", ALL, &["853"]);
    let naantali = h.token("naantali", ALL, &["529"]);
    let mut body = example();
    body["organiser"] = json!("Nådendal");
    let (s, _, created) = h.post(&turku, &body, &[]).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(created["organiser"], "529");
    h.get(&turku, &format!("/v1/cases/{}", created["id"].as_str().unwrap()))
        .await;
    for token in [&turku, &naantali] {
        let (_, _, audit) = h.get(token, "/v1/audit?person=131052-308T").await;
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["case.create", "case.read"]);
    }
}

#[tokio::test]
async fn concurrent_repeats_of_one_key_create_one_case() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let app = h.app.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::post("/v1/cases")
                .header("authorization", format!("Bearer {t}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "same")
                .body(Body::from(example().to_string()))
                .unwrap();
            let r = app.oneshot(req).await.unwrap();
            let bytes = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()["id"].clone()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (_, _, list) = h.get(&t, "/v1/cases").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_audit_trail_records_who_did_what_and_verifies() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (_, _, created) = h
        .post(&t, &example(), &[("x-request-id", "corr-1"), ("x-end-user", "tt-4711")])
        .await;
    h.get(&t, &format!("/v1/cases/{}", created["id"].as_str().unwrap()))
        .await;
    h.get(&t, "/v1/cases").await;
    let (s, _, audit) = h.get(&t, "/v1/audit?person=131052-308t&action=case.create").await;
    assert_eq!(s, StatusCode::OK);
    let records = audit["items"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["actor"]["client_id"], "ohjaus");
    assert_eq!(r["actor"]["end_user"], "tt-4711");
    assert_eq!(r["correlation_id"], "corr-1");
    assert_eq!(r["organisation"], "853");
    assert_eq!(r["request_digest"].as_str().unwrap().len(), 64);
    assert_eq!(r["response_digest"].as_str().unwrap().len(), 64);
    assert!(
        !r.to_string().contains("131052"),
        "the trail never holds the identity code"
    );
    let (_, _, all) = h.get(&t, "/v1/audit?person=131052-308T").await;
    let actions: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["case.create", "case.read", "case.list", "audit.query"]);
    let (_, _, page) = h.get(&t, "/v1/audit?limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, _, next) = h.get(&t, &format!("/v1/audit?limit=2&cursor={cursor}")).await;
    assert!(next["items"][0]["seq"].as_i64().unwrap() > page["items"][1]["seq"].as_i64().unwrap());
    let (_, _, verify) = h.get(&t, "/v1/audit/verify").await;
    assert_eq!(verify["valid"], true, "{verify}");
    assert!(verify["records"].as_i64().unwrap() >= 6);
}

#[tokio::test]
async fn bad_query_parameters_are_each_named() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (s, hd, b) = h
        .get(&t, "/v1/audit?person=131052-308A&from=yesterday&limit=0&colour=red")
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&hd, &b, s);
    let mut params: Vec<&str> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["parameter"].as_str().unwrap())
        .collect();
    params.sort();
    assert_eq!(params, ["colour", "from", "limit", "person"]);
    assert!(
        !b.to_string().contains("131052"),
        "a problem never echoes an identity code"
    );
    let (s, _, _) = h.get(&t, "/v1/cases?cursor=not-a-cursor").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for bad in ["/v1/cases/not-a-uuid", "/v1/cases/%FF"] {
        let (s, hd, b) = h.get(&t, bad).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{bad}");
        assert_problem(&hd, &b, s);
    }
    let (s, _, b) = h.post(&t, &example(), &[("x-end-user", "131052-308T")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

#[tokio::test]
async fn cases_are_listed_in_pages() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853", "529"]);
    for hour in 0..5 {
        let mut body = example();
        body["received_at"] = json!(format!("2026-11-02T1{hour}:00:00Z"));
        body["answered_at"] = json!(null);
        body["closed_at"] = json!(null);
        assert_eq!(h.post(&t, &body, &[]).await.0, StatusCode::CREATED);
    }
    let (_, _, first) = h.get(&t, "/v1/cases?limit=2&from=2026-11-02T11:00:00Z").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, _, second) = h
        .get(
            &t,
            &format!("/v1/cases?limit=2&from=2026-11-02T11:00:00Z&cursor={cursor}"),
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second.get("next_cursor").is_none());
    assert_eq!(second["items"][1]["received_at"], "2026-11-02T14:00:00Z");
}

#[tokio::test]
async fn per_client_concurrency_and_timeouts_answer_with_problems() {
    let h = harness_with(|l| l.per_client_concurrency = 0).await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (s, hd, b) = h.get(&t, "/v1/cases").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_problem(&hd, &b, s);
    assert_eq!(hd["retry-after"], "1");

    let h = harness_with(|l| l.request_timeout_ms = 0).await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (s, hd, b) = h.post(&t, &example(), &[]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_problem(&hd, &b, s);
}

#[tokio::test]
async fn operations_endpoints_answer_without_a_token() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    h.post(&t, &example(), &[]).await;
    h.get(&t, "/v1/audit?person=131052-308T").await;
    for uri in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let (s, _, _) = h.call(Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
    }
    let (_, _, metrics) = h.call(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = metrics.as_str().unwrap();
    assert!(text.contains("portti_case_intakes_total"), "{text}");
    assert!(text.contains("route=\"/v1/cases\""));
    assert!(!text.contains("131052"), "metrics never hold identity codes");
    let (_, _, doc) = h.call(Request::get("/openapi.json").body(Body::empty()).unwrap()).await;
    for path in [
        "/v1/cases",
        "/v1/cases/{id}",
        "/v1/audit",
        "/v1/audit/verify",
        "/healthz",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("Case").is_some());
}

#[tokio::test]
async fn the_audit_trail_exports_as_json_lines_csv_and_fhir() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    h.post(&t, &example(), &[("x-end-user", "tt-4711")]).await;
    let other = h.token("other", ALL, &["529"]);
    h.get(&other, "/v1/cases").await;

    let (s, headers, jsonl) = h.get(&t, "/v1/audit/export?format=jsonl&from=2020-01-01").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert!(headers["content-disposition"].to_str().unwrap().contains(".jsonl"));
    let lines: Vec<Value> = jsonl
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["case.create", "audit.export"],
        "only 853's records, the export itself included"
    );
    assert!(!jsonl.to_string().contains("131052"));

    let (_, headers, csv) = h.get(&t, "/v1/audit/export?format=csv").await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let csv = csv.as_str().unwrap().to_string();
    assert!(csv.starts_with("seq,time,client_id,"));
    assert_eq!(csv.lines().count(), 4, "header, case.create and two exports: {csv}");

    let (_, headers, bundle) = h.get(&t, "/v1/audit/export?format=fhir&organisation=853").await;
    assert_eq!(headers["content-type"], "application/fhir+json");
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["resource"]["subtype"][0]["code"], "case.create");

    let (s, headers, problem) = h
        .get(
            &t,
            "/v1/audit/export?format=xml&from=2026-02-02&to=2026-02-01&organisation=529&x=1",
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{problem}");
    let (s, headers2, problem) = h
        .get(&t, "/v1/audit/export?format=xml&from=2026-02-02&to=2026-02-01&x=1")
        .await;
    assert_problem(&headers2, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    let named: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["parameter"].as_str().unwrap())
        .collect();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for name in ["format", "to", "x"] {
        assert!(named.contains(&name), "{name} in {named:?}");
    }
    drop(headers);
    let (s, _, _) = h
        .get(&h.token("ohjaus", &[Scope::CasesRead], &["853"]), "/v1/audit/export")
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_disclosure_report_lists_every_use_of_a_persons_data_and_is_audited() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let (_, _, created) = h.post(&t, &example(), &[("x-end-user", "tt-4711")]).await;
    h.get(&t, &format!("/v1/cases/{}", created["id"].as_str().unwrap()))
        .await;

    let (s, _, report) = h.get(&t, "/v1/audit/people/131052-308T/report?lang=sv").await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["identity_code"], "131052-308T");
    assert_eq!(report["language"], "sv");
    let described: Vec<&str> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        described,
        [
            "Kontakten registrerades",
            "Klientuppgifterna visades",
            "Denna utredning om utlämnanden upprättades"
        ]
    );
    assert_eq!(report["entries"][0]["user"], "tt-4711");
    assert_eq!(report["entries"][0]["organisation_name"], "Åbo");

    // Another person's report and another organisation's view are empty of this person's data.
    let (_, _, none) = h.get(&t, "/v1/audit/people/010101-123N/report").await;
    assert_eq!(
        none["entries"].as_array().unwrap().len(),
        1,
        "only its own making: {none}"
    );
    let other = h.token("other", ALL, &["529"]);
    let (_, _, theirs) = h.get(&other, "/v1/audit/people/131052-308T/report").await;
    assert_eq!(theirs["entries"].as_array().unwrap().len(), 1);

    let (s, headers, page) = h
        .get(&t, "/v1/audit/people/131052-308T/report?format=html&to=2999-01-01")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let page = page.as_str().unwrap();
    assert!(page.contains("Selvitys asiakastietojen käytöstä ja luovutuksista"));
    assert!(page.contains("Yhteydenotto kirjattiin"));

    let (_, _, audit) = h
        .get(&t, "/v1/audit?action=audit.disclosure_report&person=131052-308T")
        .await;
    assert_eq!(
        audit["items"].as_array().unwrap().len(),
        2,
        "each report request is audited: {audit}"
    );

    let (s, headers, problem) = h.get(&t, "/v1/audit/people/131052-308X/report?lang=en").await;
    assert_problem(&headers, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let named: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["parameter"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["identity_code", "lang"]);
    assert!(!problem.to_string().contains("131052"));
    let (s, _, _) = h
        .get(
            &h.token("ohjaus", &[Scope::CasesRead], &["853"]),
            "/v1/audit/people/131052-308T/report",
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// A console page for a browser holding this token in its cookie: status, headers, HTML.
async fn console_get(h: &Harness, cookie: &str, uri: &str) -> (StatusCode, HeaderMap, String) {
    let (s, headers, body) = h
        .call(
            Request::get(uri)
                .header("cookie", format!("portti_console={cookie}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    (
        s,
        headers,
        body.as_str().map(str::to_string).unwrap_or_else(|| body.to_string()),
    )
}

async fn console_post(h: &Harness, cookie: &str, uri: &str, form: &str) -> (StatusCode, HeaderMap, String) {
    let (s, headers, body) = h
        .call(
            Request::post(uri)
                .header("cookie", format!("portti_console={cookie}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form.to_string()))
                .unwrap(),
        )
        .await;
    (
        s,
        headers,
        body.as_str().map(str::to_string).unwrap_or_else(|| body.to_string()),
    )
}

fn form_token_in(page: &str) -> String {
    let at = page.find("name=\"form_token\" value=\"").expect("a form token") + 25;
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn the_console_signs_in_with_an_api_token_and_shows_what_its_scopes_allow() {
    let h = harness().await;
    let (s, headers, _) = h.call(Request::get("/console").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/console/login");

    let (s, _, page) = h
        .call(Request::get("/console/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("<textarea id=\"token\" name=\"token\""));

    let operator = h.token("valvomo", &[Scope::ExchangesRead, Scope::ExchangesRetry], &["853"]);
    let (s, headers, _) = h
        .call(
            Request::post("/console/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!("token={operator}")))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with(&format!("portti_console={operator};")), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console"));

    let (s, headers, page) = console_get(&h, &operator, "/console").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    assert!(page.contains("Outbox") && page.contains("Circuit breakers") && page.contains("Scheduled jobs"));
    assert!(page.contains("href=\"/console/exchanges?status=dead\""));
    assert!(
        !page.contains("href=\"/console/audit\""),
        "no audit link without audit:read"
    );
    assert!(!page.contains("<script"), "no JavaScript");

    let auditor = h.token("tarkastaja", &[Scope::AuditRead], &["853"]);
    let (_, _, page) = console_get(&h, &auditor, "/console").await;
    assert!(page.contains("href=\"/console/audit\""));
    assert!(!page.contains("Outbox"));
    let (s, _, page) = console_get(&h, &auditor, "/console/exchanges").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("exchanges:read"), "{page}");

    let (s, headers, _) = console_get(&h, "not-a-token", "/console").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/console/login?expired=1");
    assert!(headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let (s, _, _) = h
        .call(
            Request::post("/console/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("token=nonsense"))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_console_reruns_a_dead_letter_only_with_the_form_token_and_the_scope() {
    let h = harness().await;
    let now = chrono::Utc::now();
    let id = uuid::Uuid::now_v7();
    h.store
        .commit(crate::store::Write {
            new_exchange: Some(crate::store::Exchange {
                id,
                service: "suomifi-messages".into(),
                organisation: "853".into(),
                operation: "send_message".into(),
                payload: json!({}),
                person: None,
                case_id: None,
                status: crate::store::ExchangeStatus::Dead,
                attempts: 3,
                budget_attempt: 0,
                budget_since: now,
                due_at: now,
                lease_until: None,
                upstream_id: None,
                last_error: Some("permanent: 400 <b>bad</b> request".into()),
                recorded_by: "ohjaus".into(),
                correlation_id: "c".into(),
                created_at: now,
                updated_at: now,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let operator = h.token("valvomo", &[Scope::ExchangesRead, Scope::ExchangesRetry], &["853"]);
    let (s, _, page) = console_get(&h, &operator, "/console/exchanges?status=dead").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Dead letters"));
    assert!(
        page.contains("permanent: 400 &lt;b&gt;bad&lt;/b&gt; request"),
        "escaped: {page}"
    );
    assert!(page.contains(&format!("action=\"/console/exchanges/{id}/retry\"")));
    let token = form_token_in(&page);

    let retry = format!("/console/exchanges/{id}/retry");
    let (s, _, _) = console_post(&h, &operator, &retry, "form_token=0000").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a form from elsewhere is refused");
    let reader = h.token("valvomo", &[Scope::ExchangesRead], &["853"]);
    let (_, _, page) = console_get(&h, &reader, "/console/exchanges?status=dead").await;
    assert!(!page.contains("/retry"), "no rerun button without exchanges:retry");
    let (s, _, _) = console_post(&h, &reader, &retry, &format!("form_token={}", form_token_in(&page))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, headers, _) = console_post(&h, &operator, &retry, &format!("form_token={token}")).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], format!("/console/exchanges/{id}?rerun=1").as_str());
    let (_, _, page) = console_get(&h, &operator, &format!("/console/exchanges/{id}?rerun=1")).await;
    assert!(page.contains("Rerun accepted"));
    assert!(page.contains("retry_scheduled") || page.contains("accepted"), "{page}");
    let (s, _, page) = console_post(&h, &operator, &retry, &format!("form_token={token}")).await;
    assert_eq!(s, StatusCode::CONFLICT, "only dead exchanges are rerun: {page}");
}

#[tokio::test]
async fn the_console_searches_the_trail_by_person_and_links_the_disclosure_report() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    h.post(&t, &example(), &[]).await;
    let auditor = h.token("tarkastaja", &[Scope::AuditRead], &["853"]);
    let (s, _, page) = console_get(&h, &auditor, "/console/audit?person=131052-308T&from=2020-01-01").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("case.create"), "{page}");
    assert!(page.contains("/console/audit/report?person=131052-308T&amp;lang=sv"));
    let (s, _, page) = console_get(&h, &auditor, "/console/audit?verify=1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Chain verified"), "{page}");
    let (_, _, page) = console_get(&h, &auditor, "/console/audit?person=131052-308X").await;
    assert!(page.contains("role=\"alert\"") && page.contains("person"), "{page}");
    let (s, headers, report) = console_get(&h, &auditor, "/console/audit/report?person=131052-308T&lang=sv").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(report.contains("Kontakten registrerades"));
    let (_, _, audit) = h.get(&auditor, "/v1/audit?action=audit.query").await;
    assert!(
        !audit["items"].as_array().unwrap().is_empty(),
        "console searches are audited like the API's"
    );
}

#[tokio::test]
async fn the_console_shows_key_figures_and_charts_of_service_guidance() {
    let h = harness().await;
    let t = h.token("ohjaus", ALL, &["853"]);
    let mut case = example();
    let received = chrono::Utc::now() - chrono::Duration::days(1);
    case["received_at"] = json!(received.to_rfc3339());
    case["answered_at"] = json!((received + chrono::Duration::seconds(9)).to_rfc3339());
    case["closed_at"] = json!((received + chrono::Duration::minutes(10)).to_rfc3339());
    let (s, _, created) = h.post(&t, &case, &[]).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let planner = h.token("suunnittelu", &[Scope::ReportsRead], &["853"]);
    let (s, _, page) = console_get(&h, &planner, "/console/reports").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Service guidance"));
    assert!(
        page.contains("<svg") && page.matches("<svg").count() == 2,
        "two inline charts"
    );
    assert!(page.contains("<strong>Total</strong>"));
    assert!(page.contains("853 Turku"), "{page}");
    let (_, _, page) = console_get(&h, &planner, "/console/reports?from=2026-02-02&to=2026-02-01").await;
    assert!(page.contains("role=\"alert\"") && page.contains("to: "), "{page}");
    let (s, _, _) = console_get(&h, &h.token("x", &[Scope::AuditRead], &["853"]), "/console/reports").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, _, audit) = h.get(&t, "/v1/audit?action=report.kpi").await;
    assert_eq!(
        audit["items"].as_array().unwrap().len(),
        1,
        "the console's view is audited: {audit}"
    );
}

#[tokio::test]
async fn a_full_database_answers_503_loses_nothing_and_recovers_once_space_is_freed() {
    // This found a writer connection left inside a transaction after SQLITE_FULL: later cases
    // were answered 201 but never committed. The writer now starts over on a new connection.
    // 128 pages of 4 KiB: the schema and a large old payload take most of it.
    let h = harness_sized(|_| {}, Some(128 * 4096)).await;
    let now = chrono::Utc::now();
    let old = uuid::Uuid::now_v7();
    h.store
        .commit(crate::store::Write {
            new_exchange: Some(crate::store::Exchange {
                id: old,
                service: "suomifi-messages".into(),
                organisation: "853".into(),
                operation: "send_message".into(),
                payload: json!({ "body": "x".repeat(160 * 1024) }),
                person: None,
                case_id: None,
                status: crate::store::ExchangeStatus::Succeeded,
                attempts: 1,
                budget_attempt: 0,
                budget_since: now,
                due_at: now,
                lease_until: None,
                upstream_id: Some("1".into()),
                last_error: None,
                recorded_by: "ohjaus".into(),
                correlation_id: "c".into(),
                created_at: now,
                updated_at: now,
            }),
            ..Default::default()
        })
        .await
        .unwrap();

    let t = h.token("ohjaus", ALL, &["853"]);
    let mut created = 0;
    let refused = loop {
        let (s, headers, body) = h.post(&t, &example(), &[]).await;
        match s {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE => break (headers, body),
            other => panic!("{other}: {body}"),
        }
        assert!(created < 5_000, "the cap never bit");
    };
    assert!(created > 0, "some cases fit before the cap");
    assert_problem(&refused.0, &refused.1, StatusCode::SERVICE_UNAVAILABLE);
    // Reads are audited, so while nothing can be written they are refused too.
    let (s, _, _) = h.get(&t, "/v1/cases").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);

    // Nothing half-written: each accepted case has its audit record, and no refused one has.
    let query = |action: &str| crate::store::AuditQuery {
        organisations: None,
        person: None,
        from: None,
        to: None,
        actor: None,
        action: Some(action.into()),
        service: None,
        after_seq: None,
        limit: 10_000,
    };
    let records = h.store.audit_records(&query("case.create")).await.unwrap().items;
    assert_eq!(records.len(), created);
    let (_, broken) = crate::audit::verify_stored(&h.store).await.unwrap();
    assert!(broken.is_none(), "{broken:?}");

    // Payload retention frees the old payload's pages: writes are accepted again, no restart.
    let ids = h
        .store
        .exchanges_with_payload_before(now + chrono::Duration::days(1), 10)
        .await
        .unwrap();
    assert_eq!(ids, [old]);
    h.store
        .commit(crate::store::Write {
            payload_prune: Some(crate::store::audit::PayloadPrune {
                exchanges: ids,
                at: now,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let (s, _, body) = h.post(&t, &example(), &[]).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _, _) = h.get(&t, "/v1/cases").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h.store.audit_records(&query("case.create")).await.unwrap().items.len(),
        created + 1
    );
    let (_, broken) = crate::audit::verify_stored(&h.store).await.unwrap();
    assert!(broken.is_none(), "{broken:?}");
}
