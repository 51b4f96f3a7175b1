//! The reports through the whole router: cases submitted by `POST /v1/cases`, figures and
//! shares read back, every bad input named, the audit records written.

use super::*;
use crate::auth::sandbox::{self, SigningKey};
use crate::auth::Scope;
use crate::config::Config;
use crate::store::{AuditQuery, StoreConfig};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Harness {
    app: Router,
    state: Arc<AppState>,
    key: SigningKey,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
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
    let mut state = AppState::new(
        store,
        PersonHasher::new(vec![3; 32]).unwrap(),
        OrganisationRegistry::default(),
        verifier,
        CertificateClients::default(),
        Config::default().limits,
    );
    state.population_75_plus = [("853", 21_500), ("529", 2_600), ("680", 2_900)]
        .iter()
        .map(|&(k, v)| (k.to_string(), v))
        .collect();
    let state = Arc::new(state);
    Harness {
        app: router(state.clone()),
        state,
        key,
        _dir: dir,
    }
}

impl Harness {
    fn token(&self, scopes: &[Scope], orgs: &[&str]) -> String {
        let orgs: Vec<String> = orgs.iter().map(|s| s.to_string()).collect();
        sandbox::mint(&self.key, "portti-sandbox", "portti", "raportit", scopes, &orgs, 600).unwrap()
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn get(&self, token: &str, uri: &str) -> (StatusCode, HeaderMap, Value) {
        let (status, headers, text) = self
            .call(
                Request::get(uri)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let (status, _, text) = self
            .call(
                Request::post(path)
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        (status, serde_json::from_str(&text).unwrap())
    }

    /// An anonymous case; returns its id.
    async fn case(
        &self,
        organiser: &str,
        channel: &str,
        received: &str,
        answer_s: Option<i64>,
        outcome: &str,
    ) -> String {
        let token = self.token(&[Scope::CasesWrite], &[organiser]);
        let received_at = chrono::DateTime::parse_from_rfc3339(received).unwrap();
        let mut body = json!({ "organiser": organiser, "channel": channel, "language": "fi",
            "received_at": received, "outcome": outcome });
        if let Some(s) = answer_s {
            body["answered_at"] = json!((received_at + chrono::Duration::seconds(s)).to_rfc3339());
        }
        let (status, case) = self.post(&token, "/v1/cases", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
        case["id"].as_str().unwrap().to_string()
    }

    async fn audit_actions(&self, action: &str) -> Vec<(Option<String>, Option<String>)> {
        let page = self
            .state
            .store
            .audit_records(&AuditQuery {
                organisations: Some(vec!["853".into(), "529".into(), "680".into()]),
                person: None,
                from: None,
                to: None,
                actor: None,
                action: Some(action.into()),
                service: None,
                after_seq: None,
                limit: 100,
            })
            .await
            .unwrap();
        page.items
            .into_iter()
            .map(|r| {
                (
                    r.event.organisation.clone(),
                    r.event.person.as_ref().map(|p| format!("{p:?}")),
                )
            })
            .collect()
    }
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["pointer"].as_str().or(e["parameter"].as_str()).unwrap().to_string())
        .collect()
}

/// Four Turku and two Naantali contacts in January 2026 (Helsinki UTC+2), one Turku contact
/// on 1 February, outside a January period.
async fn january(h: &Harness) {
    h.case(
        "853",
        "phone",
        "2026-01-05T08:00:00Z",
        Some(5),
        "resolved_first_contact",
    )
    .await;
    h.case(
        "853",
        "phone",
        "2026-01-05T09:00:00Z",
        Some(9),
        "resolved_first_contact",
    )
    .await;
    h.case(
        "853",
        "chat",
        "2026-01-20T10:00:00Z",
        Some(40),
        "referred_service_need_assessment",
    )
    .await;
    h.case("853", "help_button", "2026-01-31T21:59:00Z", None, "open").await; // 31 Jan 23:59 in Helsinki
    h.case(
        "529",
        "phone",
        "2026-01-07T12:00:00Z",
        Some(12),
        "resolved_first_contact",
    )
    .await;
    h.case(
        "529",
        "email",
        "2025-12-31T22:00:00Z",
        Some(3600),
        "resolved_first_contact",
    )
    .await; // 1 Jan 00:00
    h.case(
        "853",
        "phone",
        "2026-01-31T22:00:00Z",
        Some(1),
        "resolved_first_contact",
    )
    .await; // 1 Feb 00:00
}

#[tokio::test]
async fn kpi_counts_a_january_in_helsinki_days_and_is_audited() {
    let h = harness().await;
    january(&h).await;
    let token = h.token(&[Scope::ReportsRead], &["853", "529"]);
    let (status, _, body) = h.get(&token, "/v1/reports/kpi?from=2026-01-01&to=2026-01-31").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["period"],
        json!({"from": "2025-12-31T22:00:00Z", "to": "2026-01-31T22:00:00Z"})
    );
    let rows = body["municipalities"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (naantali, turku) = (&rows[0], &rows[1]);
    assert_eq!(naantali["organisation"], "529");
    assert_eq!(naantali["name"], "Naantali");
    assert_eq!(naantali["contacts"], 2);
    assert_eq!(naantali["first_contact_resolution_rate"], 1.0);
    // 12 s and 3600 s: nearest-rank median of two is the lower one.
    assert_eq!(
        naantali["answer_time_s"],
        json!({"count": 2, "mean": 1806.0, "median": 12.0, "p90": 3600.0})
    );
    assert_eq!(turku["contacts"], 4);
    assert_eq!(turku["by_channel"]["phone"], 2);
    assert_eq!(turku["by_channel"]["help_button"], 1);
    assert_eq!(turku["outcomes"]["open"], 1);
    // Three with a final outcome: 2 resolved, 1 referred.
    assert_eq!(turku["first_contact_resolution_rate"], 0.6667);
    assert_eq!(turku["referral_rate"], 0.3333);
    assert_eq!(turku["phone_answer_time_s"]["median"], 5.0);
    assert_eq!(body["total"]["contacts"], 6);
    assert_eq!(body["total"]["by_language"]["fi"], 6);
    // 1 January (a Thursday) is in 2026-W01; 31 January in W05.
    let weeks: Vec<&str> = body["contacts_per_week"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["week"].as_str().unwrap())
        .collect();
    assert_eq!(weeks, ["2026-W01", "2026-W02", "2026-W03", "2026-W04", "2026-W05"]);
    // The same period as instants, `to` excluded, and one organisation.
    let (status, _, one) = h
        .get(
            &token,
            "/v1/reports/kpi?from=2025-12-31T22:00:00Z&to=2026-01-31T22:00:00%2B00:00&organisation=Naantali",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(
        one["total"],
        naantali
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("organisation");
                o.remove("name");
                Value::Object(o)
            })
            .unwrap()
    );
    // One record per organisation per report, no person.
    let records = h.audit_actions("report.kpi").await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|(org, person)| org.is_some() && person.is_none()));
}

#[tokio::test]
async fn kpi_refuses_bad_parameters_naming_each() {
    let h = harness().await;
    let token = h.token(&[Scope::ReportsRead], &["853"]);
    let (status, headers, body) = h.get(&token, "/v1/reports/kpi?from=2026-13-01&colour=red").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(fields(&body), ["colour", "from", "to"], "{body}");
    for (query, field) in [
        ("from=2026-02-01&to=2026-01-31", "to"),
        ("from=2026-01-01&to=2027-01-02", "to"),
        ("from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("from=2026-01-01&to=yesterday", "to"),
        ("from=1999-12-31&to=2026-01-01", "from"),
        ("from=2026-01-01&to=2026-01-31&organisation=Atlantis", "organisation"),
    ] {
        let (status, _, body) = h.get(&token, &format!("/v1/reports/kpi?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(fields(&body), [field], "{query}: {body}");
    }
    let (status, _, body) = h.get(&token, "/v1/reports/kpi?from=2000-01-01&to=2000-01-31").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A whole leap year is allowed.
    let (status, _, _) = h.get(&token, "/v1/reports/kpi?from=2028-01-01&to=2028-12-31").await;
    assert_eq!(status, StatusCode::OK);
    // Another organisation, or no scope.
    let (status, _, _) = h
        .get(&token, "/v1/reports/kpi?from=2026-01-01&to=2026-01-31&organisation=529")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let cases_only = h.token(&[Scope::CasesRead], &["853"]);
    let (status, _, body) = h
        .get(&cases_only, "/v1/reports/kpi?from=2026-01-01&to=2026-01-31")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["detail"].as_str().unwrap().contains("reports:read"));
}

#[tokio::test]
async fn kpi_counts_transfers_out_and_in() {
    let h = harness().await;
    let now = chrono::Utc::now();
    let received = (now - chrono::Duration::hours(1)).to_rfc3339();
    let id = h
        .case("853", "phone", &received, Some(4), "referred_service_need_assessment")
        .await;
    let token = h.token(&[Scope::CasesWrite], &["853"]);
    let (status, transfer) = h
        .post(
            &token,
            &format!("/v1/cases/{id}/transfers"),
            &json!({"to": "529", "reason": "service_need_assessment"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{transfer}");
    let reader = h.token(&[Scope::ReportsRead], &["853", "529"]);
    let from = (now - chrono::Duration::days(1)).format("%Y-%m-%d");
    let to = (now + chrono::Duration::days(1)).format("%Y-%m-%d");
    let (status, _, body) = h.get(&reader, &format!("/v1/reports/kpi?from={from}&to={to}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["municipalities"].as_array().unwrap();
    assert_eq!(rows[0]["transfers"], json!({"out": 0, "in": 1}), "{body}");
    assert_eq!(rows[1]["transfers"], json!({"out": 1, "in": 0}));
    // The case still counts for its organiser, Turku.
    assert_eq!(rows[1]["contacts"], 1);
    assert_eq!(body["total"]["transfers"], json!({"out": 1, "in": 1}));
}

#[tokio::test]
async fn charts_are_svg() {
    let h = harness().await;
    january(&h).await;
    let token = h.token(&[Scope::ReportsRead], &["853", "529"]);
    for chart in ["contacts-per-week.svg", "answer-times.svg"] {
        let (status, headers, body) = h
            .call(
                Request::get(format!(
                    "/v1/reports/kpi/charts/{chart}?from=2026-01-01&to=2026-01-31&organisation=853"
                ))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["content-type"], "image/svg+xml");
        assert!(body.starts_with("<svg "), "{body}");
        assert!(body.contains("853 Turku, 2026-01-01 – 2026-01-31"), "{body}");
    }
    let (status, _, _) = h
        .get(&token, "/v1/reports/kpi/charts/pie.svg?from=2026-01-01&to=2026-01-31")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cost_allocation_shares_the_budget_to_the_cent() {
    let h = harness().await;
    january(&h).await;
    let token = h.token(&[Scope::ReportsRead], &["853", "529"]);
    // Handled in January: Turku 3 (the open help request does not count), Naantali 2. C = 5.
    // Population 3 : 1, P = 4. Turku: 1000.01 € · (0.7 · 3/4 + 0.3 · 3/5) = 100 001 · 0.705
    // = 70 500.705 cents; Naantali: 100 001 · (0.175 + 0.12) = 29 500.295. Floors 70 500 +
    // 29 500 leave 1 cent: Turku's remainder .705 is the larger.
    let (status, body) = h
        .post(
            &token,
            "/v1/reports/cost-allocation",
            &json!({"budget": "1000.01", "from": "2026-01-01", "to": "2026-01-31",
                    "population_75_plus": {"853": 300, "Naantali": 100}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["budget_cents"], 100_001);
    assert_eq!(body["sum_cents"], 100_001);
    assert_eq!(body["performance_basis"], "handled_contacts");
    assert_eq!(body["population_source"], "request");
    let shares = body["shares"].as_array().unwrap();
    assert_eq!(shares[0]["organisation"], "529");
    assert_eq!(shares[0]["contacts"], 2);
    assert_eq!(shares[0]["share_cents"], 29_500);
    assert_eq!(shares[0]["share"], "295.00");
    assert_eq!(shares[1]["contacts"], 3);
    assert_eq!(shares[1]["share_cents"], 70_501);
    assert_eq!(shares[1]["share"], "705.01");
    // Turku's parts: 100 001 · 0.525 = 52 500.525 and 100 001 · 0.18 = 18 000.18; the cent
    // above the floors goes to the larger remainder.
    assert_eq!(shares[1]["population_share_cents"], 52_501);
    assert_eq!(shares[1]["performance_share_cents"], 18_000);
    let records = h.audit_actions("report.cost_allocation").await;
    assert_eq!(records.len(), 2);

    // The configured table (Turku 21 500, Naantali 2 600; Raisio's entry is not this client's)
    // and a number for the budget.
    let (status, body) = h
        .post(
            &token,
            "/v1/reports/cost-allocation",
            &json!({"budget": 1250000, "from": "2026-01-01", "to": "2026-12-31"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["population_source"], "configuration");
    assert_eq!(body["shares"].as_array().unwrap().len(), 2);
    assert_eq!(body["sum_cents"], 125_000_000);
}

#[tokio::test]
async fn cost_allocation_refuses_bad_input_naming_each_field() {
    let h = harness().await;
    let token = h.token(&[Scope::ReportsRead], &["853", "529"]);
    let path = "/v1/reports/cost-allocation";
    let (status, body) = h
        .post(
            &token,
            path,
            &json!({"budget": "12.345", "from": "2026-01-01",
                    "population_75_plus": {"853": -1, "Atlantis": 5, "529": 1.5}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&body),
        [
            "/budget",
            "/to",
            "/population_75_plus/529",
            "/population_75_plus/853",
            "/population_75_plus/Atlantis"
        ],
        "{body}"
    );
    for (budget, ok) in [
        (json!("0"), false),
        (json!(-5), false),
        (json!("1e3"), false),
        (json!(true), false),
        (json!("90071992547409.91"), true),
        (json!("90071992547409.92"), false),
        (json!(0.5), true),
    ] {
        let (status, body) = h
            .post(
                &token,
                path,
                &json!({"budget": budget, "from": "2026-01-01", "to": "2026-01-31"}),
            )
            .await;
        if ok {
            assert_eq!(status, StatusCode::OK, "{budget}: {body}");
        } else {
            assert_eq!(fields(&body), ["/budget"], "{budget}: {body}");
        }
    }
    // Unknown fields and missing ones.
    let (status, body) = h
        .post(&token, path, &json!({"budget": "1", "form": "2026-01-01"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["/form"], "{body}");
    let (_, body) = h.post(&token, path, &json!({})).await;
    assert_eq!(fields(&body), ["/budget", "/from", "/to"], "{body}");
    // A municipality the client does not act for.
    let (status, body) = h
        .post(
            &token,
            path,
            &json!({"budget": "1", "from": "2026-01-01", "to": "2026-01-31",
                                    "population_75_plus": {"853": 1, "680": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("680"));
}

#[tokio::test]
async fn cost_allocation_names_a_municipality_with_contacts_but_no_population() {
    let h = harness().await;
    january(&h).await;
    let token = h.token(&[Scope::ReportsRead], &["853", "529"]);
    let (status, body) = h
        .post(
            &token,
            "/v1/reports/cost-allocation",
            &json!({"budget": "100", "from": "2026-01-01", "to": "2026-01-31", "population_75_plus": {"853": 10}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["/population_75_plus/529"], "{body}");
    // Zero population in all: nothing to share by.
    let (_, body) = h
        .post(
            &token,
            "/v1/reports/cost-allocation",
            &json!({"budget": "100", "from": "2026-01-01", "to": "2026-01-31", "population_75_plus": {"853": 0, "529": 0}}),
        )
        .await;
    assert_eq!(fields(&body), ["/population_75_plus"], "{body}");
    // No contacts in the period: all by population.
    let (status, body) = h
        .post(
            &token,
            "/v1/reports/cost-allocation",
            &json!({"budget": "100", "from": "2025-01-01", "to": "2025-01-31", "population_75_plus": {"853": 1, "529": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["performance_basis"], "population");
    assert_eq!(body["shares"][0]["share_cents"], 7_500);
}

#[tokio::test]
async fn the_reports_are_in_the_openapi_document() {
    let h = harness().await;
    let (status, _, doc) = h.get("", "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/reports/kpi",
        "/v1/reports/kpi/charts/{chart}",
        "/v1/reports/cost-allocation",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}
