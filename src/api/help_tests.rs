//! The help button through the whole router: `POST /v1/help-requests`, the HTML form, the
//! rate limit, the honeypot, due times, the overdue listing and its metric.

use super::*;
use crate::audit::Actor;
use crate::auth::sandbox::{self, SigningKey};
use crate::auth::Scope;
use crate::case::holidays;
use crate::config::Config;
use crate::store::{NewCase, StoreConfig, Write};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{json, Value};
use std::net::SocketAddr;
use tower::ServiceExt;

struct Harness {
    app: Router,
    state: Arc<AppState>,
    key: SigningKey,
    _dir: tempfile::TempDir,
}

async fn harness_with(adjust: impl FnOnce(&mut LimitSettings)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let mut verifier = TokenVerifier::new("portti-sandbox", "portti", 0);
    verifier.add_pem(key.public_pem.as_bytes()).unwrap();
    let store = Store::open(&StoreConfig {
        sqlite_path: dir.path().join("portti.db"),
        database_url: None,
        max_batch: 64,
        read_connections: 2,
        max_size_bytes: None,
    })
    .await
    .unwrap();
    let mut limits = Config::default().limits;
    adjust(&mut limits);
    let state = Arc::new(AppState::new(
        store,
        PersonHasher::new(vec![3; 32]).unwrap(),
        OrganisationRegistry::default(),
        verifier,
        CertificateClients::default(),
        limits,
    ));
    Harness {
        app: router(state.clone()),
        state,
        key,
        _dir: dir,
    }
}

async fn harness() -> Harness {
    harness_with(|_| {}).await
}

const PEER: &str = "192.0.2.10:40000";

fn request_json(body: &Value, peer: &str) -> Request<Body> {
    let mut req = Request::post("/v1/help-requests")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    req
}

fn request_form(fields: &[(&str, &str)], peer: &str) -> Request<Body> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut req = Request::post("/help")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    req
}

impl Harness {
    fn token(&self, scopes: &[Scope], orgs: &[&str]) -> String {
        let orgs: Vec<String> = orgs.iter().map(|s| s.to_string()).collect();
        sandbox::mint(&self.key, "portti-sandbox", "portti", "ohjaus", scopes, &orgs, 600).unwrap()
    }

    async fn raw(&self, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let (status, headers, text) = self.raw(req).await;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    async fn ask(&self, body: &Value) -> (StatusCode, HeaderMap, Value) {
        self.call(request_json(body, PEER)).await
    }

    async fn get(&self, token: &str, uri: &str) -> (StatusCode, Value) {
        let (status, _, body) = self
            .call(
                Request::get(uri)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (status, body)
    }

    async fn audit(&self) -> Vec<Value> {
        let t = self.token(&[Scope::AuditRead], &["853"]);
        let (status, body) = self.get(&t, "/v1/audit?actor=help-button").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    async fn cases_of_853(&self) -> Vec<Value> {
        let t = self.token(&[Scope::CasesRead], &["853"]);
        let (status, body) = self.get(&t, "/v1/cases").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }
}

fn request() -> Value {
    json!({ "municipality": "Turku", "language": "fi",
            "message": "  Äitini tarvitsisi apua kotiin.\r\nHän asuu yksin.\u{0} ",
            "name": "Mikko Virtanen", "phone": "040 123 4567", "website": "" })
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

fn assert_problem(headers: &HeaderMap, body: &Value, status: StatusCode) {
    assert_eq!(headers["content-type"], "application/problem+json", "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
}

#[tokio::test]
async fn a_help_request_becomes_an_open_case_with_a_reference() {
    let h = harness().await;
    let (status, headers, body) = h.ask(&request()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    let reference = body["reference"].as_str().unwrap();
    let year = holidays::helsinki_local(Utc::now()).year();
    assert_eq!(reference, format!("APU-{year}-000001"));
    let id = body["case_id"].as_str().unwrap();

    let t = h.token(&[Scope::CasesRead], &["853"]);
    let (status, case) = h.get(&t, &format!("/v1/cases/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["organiser"], "853");
    assert_eq!(case["channel"], "help_button");
    assert_eq!(case["outcome"], "open");
    assert_eq!(case["language"], "fi");
    assert_eq!(case["reference"], reference);
    assert_eq!(case["due_by"], body["due_by"]);
    assert_eq!(case["recorded_by"], "help-button");
    assert_eq!(case["notes"], "Äitini tarvitsisi apua kotiin.\nHän asuu yksin.");
    assert!(case.get("client").is_none(), "no identity code is taken");
    assert_eq!(case["contact_person"]["phone"], "+358401234567");
    assert_eq!(case["contact_person"]["given_name"], "Mikko");
    assert_eq!(case["contact_person"]["family_name"], "Virtanen");

    // The next one gets the next number; an anonymous one has no contact person.
    let (status, _, second) = h
        .ask(&json!({ "municipality": "853", "language": "sv", "message": "Hjälp" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["reference"], format!("APU-{year}-000002"));
    let (_, anonymous) = h
        .get(&t, &format!("/v1/cases/{}", second["case_id"].as_str().unwrap()))
        .await;
    assert!(anonymous.get("contact_person").is_none(), "{anonymous}");

    // Audited like case creation, by the help button, with no person and no text in clear.
    let records = h.audit().await;
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["actor"]["client_id"], "help-button");
        assert_eq!(r["action"], "case.create");
        assert_eq!(r["outcome"], "ok");
        assert_eq!(r["organisation"], "853");
        assert!(r.get("person").is_none());
        assert!(r["request_digest"].is_string() && r["response_digest"].is_string());
        assert!(!r.to_string().contains("Virtanen"));
    }
}

#[tokio::test]
async fn due_by_is_the_end_of_the_next_working_day_in_helsinki() {
    let h = harness().await;
    let (_, _, body) = h.ask(&request()).await;
    let due: DateTime<Utc> = body["due_by"].as_str().unwrap().parse().unwrap();
    let t = h.token(&[Scope::CasesRead], &["853"]);
    let (_, case) = h
        .get(&t, &format!("/v1/cases/{}", body["case_id"].as_str().unwrap()))
        .await;
    let received: DateTime<Utc> = case["received_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, holidays::answer_due(received));
    let local = holidays::helsinki_local(due);
    assert_eq!((local.hour(), local.minute()), (16, 15));
    assert!(holidays::is_working_day(local.date()));
    assert!(local.date() > holidays::helsinki_local(received).date());
    assert!(body["due_by"].as_str().unwrap().ends_with('Z'), "RFC 3339 in UTC");
}

#[tokio::test]
async fn the_honeypot_is_refused_audited_and_nothing_is_stored() {
    let h = harness().await;
    let mut body = request();
    body["website"] = json!("http://cheap-pills.example");
    let (status, headers, problem) = h.ask(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&headers, &problem, status);
    assert_eq!(pointers(&problem), ["/website"]);
    assert!(h.cases_of_853().await.is_empty());
    let records = h.audit().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "denied");
    assert_eq!(records[0]["organisation"], "853");
    assert!(records[0].get("response_digest").is_none());
}

#[tokio::test]
async fn invalid_requests_name_their_fields_and_store_nothing() {
    let h = harness().await;
    let mut body = request();
    body["municipality"] = json!("Atlantis");
    let (status, headers, problem) = h.ask(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&headers, &problem, status);
    assert_eq!(pointers(&problem), ["/municipality"]);

    let mut body = request();
    body["message"] = json!("x".repeat(2001));
    let (status, _, problem) = h.ask(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&problem), ["/message"]);
    assert_eq!(problem["errors"][0]["detail"], "at most 2000 characters");

    let (status, _, problem) = h
        .ask(
            &json!({ "municipality": "853", "language": "en", "message": " ", "phone": "123",
                      "email": "nobody", "callback_phone": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        pointers(&problem),
        ["/language", "/message", "/phone", "/callback_phone", "/email"]
    );

    // No identity code is taken here: the field is unknown.
    let mut body = request();
    body["identity_code"] = json!("131052-308T");
    let (status, _, problem) = h.ask(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&problem), ["/identity_code"]);

    let mut body = request();
    body["message"] = json!("Hetuni on 131052-308T");
    let (_, _, problem) = h.ask(&body).await;
    assert_eq!(pointers(&problem), ["/message"]);

    assert!(h.cases_of_853().await.is_empty());
    assert!(h.audit().await.is_empty());
}

#[tokio::test]
async fn an_address_gets_429_with_retry_after_past_its_limit() {
    let h = harness_with(|l| {
        l.help_requests_per_window = 2;
        l.help_request_window_s = 600;
    })
    .await;
    // Invalid requests do not use up the budget.
    let mut invalid = request();
    invalid["municipality"] = json!("Atlantis");
    for _ in 0..3 {
        assert_eq!(h.ask(&invalid).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(h.ask(&request()).await.0, StatusCode::CREATED);
    assert_eq!(h.ask(&request()).await.0, StatusCode::CREATED);
    let (status, headers, problem) = h.ask(&request()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_problem(&headers, &problem, status);
    assert_eq!(problem["type"], "/problems/rate-limited");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((590..=600).contains(&retry), "{retry}");
    // The form shares the budget of the address.
    let (status, headers, html) = h
        .raw(request_form(
            &[("municipality", "853"), ("language", "sv"), ("message", "Hjälp")],
            PEER,
        ))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    assert!(html.contains("<html lang=\"sv\">") && html.contains("Försök igen om 10 minuter"));
    // Another address is not held back.
    let (status, _, _) = h.call(request_json(&request(), "198.51.100.7:1234")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(h.cases_of_853().await.len(), 3);
}

#[tokio::test]
async fn overdue_lists_open_cases_past_their_due_time_and_feeds_the_metric() {
    let h = harness().await;
    // A fresh request is not overdue.
    let (status, _, _) = h.ask(&request()).await;
    assert_eq!(status, StatusCode::CREATED);
    // Cases from a week ago: one still open, one answered; and one of another organisation.
    let received = Utc::now() - chrono::Duration::days(7);
    let case = |organiser: &str, answered: bool| {
        let mut c = crate::case::help::normalise_help_request(
            &crate::case::help::HelpRequestInput {
                municipality: Some(organiser.into()),
                language: Some("fi".into()),
                message: Some("Apua".into()),
                ..Default::default()
            },
            &crate::case::NormaliseContext {
                registry: &OrganisationRegistry::default(),
                limits: crate::case::Limits::default(),
                now: received,
                id: uuid::Uuid::now_v7(),
                recorded_by: "help-button",
            },
        )
        .unwrap();
        if answered {
            c.answered_at = Some(received + chrono::Duration::hours(2));
        }
        c
    };
    let overdue = case("853", false);
    for c in [overdue.clone(), case("853", true), case("529", false)] {
        let event = crate::audit::AuditEvent {
            time: Utc::now(),
            actor: Actor {
                client_id: "test".into(),
                end_user: None,
                role: None,
            },
            action: "case.create".into(),
            purpose: None,
            person: None,
            organisation: Some(c.organiser.clone()),
            service: None,
            exchange_id: None,
            outcome: "ok".into(),
            request_digest: None,
            response_digest: None,
            correlation_id: "t".into(),
        };
        h.state
            .store
            .commit(Write {
                new_case: Some(NewCase { case: c, person: None }),
                audit: vec![event],
                ..Write::default()
            })
            .await
            .unwrap();
    }
    let t = h.token(&[Scope::CasesRead], &["853"]);
    let (status, page) = h.get(&t, "/v1/cases?overdue=true").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["id"], overdue.id.to_string());
    assert_eq!(items[0]["channel"], "help_button");
    let (_, all) = h.get(&t, "/v1/cases?overdue=false").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let (status, problem) = h.get(&t, "/v1/cases?overdue=yes").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["parameter"], "overdue");

    let (status, _, metrics) = h.raw(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("portti_help_requests_overdue{organisation=\"853\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("portti_help_requests_overdue{organisation=\"529\"} 1"));
    assert!(metrics.contains("portti_help_requests_total{outcome=\"accepted\"} 1"));
}

#[tokio::test]
async fn the_form_page_speaks_the_chosen_language() {
    let h = harness().await;
    let (status, headers, html) = h
        .raw(
            Request::get("/help?municipality=853&lang=sv")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(html.contains("<html lang=\"sv\">"));
    assert!(html.contains("Be om hjälp – Åbo"));
    assert!(html.contains("<form method=\"post\" action=\"/help\""));
    let (_, _, fi) = h
        .raw(
            Request::get("/help?municipality=Åbo".replace('Å', "%C3%85"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(
        fi.contains("<html lang=\"fi\">") && fi.contains("Pyydä apua – Turku"),
        "{fi}"
    );
    // Without a known municipality the person names it.
    let (_, _, open) = h.raw(Request::get("/help").body(Body::empty()).unwrap()).await;
    assert!(open.contains("<label for=\"municipality\">Kunta (pakollinen)</label>"));
}

#[tokio::test]
async fn the_form_post_answers_with_a_page() {
    let h = harness().await;
    let (status, headers, html) = h
        .raw(request_form(
            &[
                ("municipality", "853"),
                ("language", "sv"),
                ("message", "Min pappa behöver hjälp <snälla>"),
                ("phone", "040 765 4321"),
                ("website", ""),
            ],
            PEER,
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains("<html lang=\"sv\">"));
    let year = holidays::helsinki_local(Utc::now()).year();
    assert!(html.contains(&format!("APU-{year}-000001")), "{html}");
    assert!(html.contains("Vi svarar senast"));
    assert!(html.contains("Vi kontaktar dig"));
    let cases = h.cases_of_853().await;
    assert_eq!(cases[0]["notes"], "Min pappa behöver hjälp <snälla>");
    assert_eq!(cases[0]["contact_person"]["phone"], "+358407654321");

    // Refusals come back next to their fields, in the chosen language, values escaped.
    let (status, _, html) = h
        .raw(request_form(
            &[
                ("municipality", "853"),
                ("language", "fi"),
                ("message", ""),
                ("phone", "\"><script>alert(1)</script>"),
            ],
            PEER,
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("<html lang=\"fi\">"));
    assert!(html.contains("id=\"message-error\""));
    assert!(html.contains("aria-describedby=\"message-hint message-error\" aria-invalid=\"true\""));
    assert!(html.contains("id=\"phone-error\""));
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&quot;&gt;&lt;script&gt;"));

    // The honeypot: a general refusal, nothing stored.
    let (status, _, html) = h
        .raw(request_form(
            &[
                ("municipality", "853"),
                ("language", "fi"),
                ("message", "x"),
                ("website", "spam"),
            ],
            PEER,
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Pyyntöä ei voitu vastaanottaa."));
    assert_eq!(h.cases_of_853().await.len(), 1);
}
