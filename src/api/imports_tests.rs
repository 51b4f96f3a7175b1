//! The contact centre import through the whole router, with a real store on a temp file.

use super::super::*;
use crate::auth::sandbox::{self, SigningKey};
use crate::auth::Scope;
use crate::config::Config;
use crate::store::StoreConfig;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

struct Harness {
    app: Router,
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
    let state = AppState::new(
        store,
        PersonHasher::new(vec![3; 32]).unwrap(),
        OrganisationRegistry::default(),
        verifier,
        CertificateClients::default(),
        Config::default().limits,
    );
    Harness {
        app: router(Arc::new(state)),
        key,
        _dir: dir,
    }
}

impl Harness {
    fn token(&self, scopes: &[Scope], orgs: &[&str]) -> String {
        let orgs: Vec<String> = orgs.iter().map(|s| s.to_string()).collect();
        sandbox::mint(&self.key, "portti-sandbox", "portti", "keskus", scopes, &orgs, 600).unwrap()
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, body)
    }

    async fn import(&self, token: &str, content_type: &str, csv: &str) -> (StatusCode, Value) {
        self.call(
            Request::post("/v1/imports/contact-centre")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", content_type)
                .body(Body::from(csv.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn get(&self, token: &str, uri: &str) -> Value {
        let (status, body) = self
            .call(
                Request::get(uri)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

const HEADER: &str = "call_id,queue,municipality,language,received,answered,ended,outcome,channel\n";

fn rejected_lines(body: &Value) -> Vec<(u64, Vec<String>)> {
    body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let fields = r["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect();
            (r["line"].as_u64().unwrap(), fields)
        })
        .collect()
}

#[tokio::test]
async fn mixed_rows_are_each_accepted_or_rejected_with_their_line() {
    let h = harness().await;
    let token = h.token(&[Scope::CasesWrite, Scope::CasesRead, Scope::AuditRead], &["853"]);
    let csv = format!(
        "{HEADER}\
         c-1,neuvonta,853,fi,2026-11-02 09:15:00,2026-11-02 09:15:09,2026-11-02 09:24:00,resolved_first_contact,phone\n\
         c-2,neuvonta,Turku,svenska,2026-11-02T10:00:00+02:00,,,open,chat\n\
         c-3,neuvonta,Atlantis,fi,2026-11-02 09:15:00,,,open,phone\n\
         c-4,neuvonta,853,fi,yesterday,,,open,phone\n\
         c-5,neuvonta,853,fi,2026-11-02 09:15:00,,,solved,phone\n\
         c-6,neuvonta,091,fi,2026-11-02 09:15:00,,,open,phone\n\
         c-1,neuvonta,853,fi,2026-11-02 09:15:00,2026-11-02 09:15:09,2026-11-02 09:24:00,resolved_first_contact,phone\n\
         c-2,neuvonta,853,sv,2026-11-02T10:00:00+02:00,2026-11-02T10:01:00+02:00,,transferred,chat\n"
    );
    let (status, body) = h.import(&token, "text/csv", &csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 4, "{body}");
    assert_eq!(body["created"], 2, "{body}");
    assert_eq!(body["unchanged"], 1, "{body}");
    assert_eq!(body["updated"], 1, "{body}");
    assert_eq!(
        rejected_lines(&body),
        vec![
            (4, vec!["/municipality".to_string()]),
            (5, vec!["/received".to_string()]),
            (6, vec!["/outcome".to_string()]),
            (7, vec!["/municipality".to_string()]),
        ],
        "{body}"
    );
    assert_eq!(body["rejected"][0]["call_id"], "c-3");

    let cases = h.get(&token, "/v1/cases?organisation=853").await;
    let items = cases["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{cases}");
    let first = items.iter().find(|c| c["channel"] == "phone").unwrap();
    // Helsinki winter time: UTC+2.
    assert_eq!(first["received_at"], "2026-11-02T07:15:00Z");
    assert_eq!(first["outcome"], "resolved_first_contact");
    assert!(first.get("client").is_none());
    let chat = items.iter().find(|c| c["channel"] == "chat").unwrap();
    assert_eq!(chat["outcome"], "transferred");
    assert_eq!(chat["language"], "sv");
    assert_eq!(chat["answered_at"], "2026-11-02T08:01:00Z");

    let audit = h.get(&token, "/v1/audit?organisation=853&action=case.update").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    let audit = h.get(&token, "/v1/audit?organisation=853&action=case.create").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
    assert_eq!(audit["items"][0]["actor"]["client_id"], "keskus", "{audit}");
}

#[tokio::test]
async fn a_reimport_is_idempotent_and_a_changed_row_updates_its_case() {
    let h = harness().await;
    let token = h.token(&[Scope::CasesWrite, Scope::CasesRead], &["853"]);
    let csv = format!(
        "{HEADER}\
         c-1,neuvonta,853,fi,2026-11-02 09:15:00,,,open,phone\n\
         c-2,neuvonta,853,fi,2026-11-02 09:20:00,,,open,phone\n"
    );
    let (status, body) = h.import(&token, "text/csv", &csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["created"].as_u64(), body["accepted"].as_u64()),
        (Some(2), Some(2))
    );
    let before = h.get(&token, "/v1/cases?organisation=853").await;

    let (_, body) = h.import(&token, "text/csv", &csv).await;
    assert_eq!(body["unchanged"], 2, "{body}");
    assert_eq!(body["created"], 0, "{body}");
    assert_eq!(h.get(&token, "/v1/cases?organisation=853").await, before);

    let changed = format!(
        "{HEADER}\
         c-1,neuvonta,853,fi,2026-11-02 09:15:00,2026-11-02 09:16:00,2026-11-02 09:30:00,resolved_first_contact,phone\n\
         c-2,neuvonta,853,fi,2026-11-02 09:20:00,,,open,phone\n"
    );
    let (_, body) = h.import(&token, "text/csv", &changed).await;
    assert_eq!(
        (
            body["updated"].as_u64(),
            body["unchanged"].as_u64(),
            body["created"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{body}"
    );
    let after = h.get(&token, "/v1/cases?organisation=853").await;
    let items = after["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], before["items"][0]["id"]);
    assert_eq!(items[0]["outcome"], "resolved_first_contact");
    assert_eq!(items[0]["closed_at"], "2026-11-02T07:30:00Z");
    assert_eq!(items[0]["recorded_at"], before["items"][0]["recorded_at"]);
}

#[tokio::test]
async fn the_body_must_be_csv_with_every_column_and_the_scope_is_needed() {
    let h = harness().await;
    let token = h.token(&[Scope::CasesWrite], &["853"]);
    let csv = format!("{HEADER}c-1,neuvonta,853,fi,2026-11-02 09:15:00,,,open,phone\n");
    let (status, _) = h.import(&token, "application/json", &csv).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = h
        .import(&token, "text/csv", "call_id,queue,municipality\nc-1,q,853\n")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let read_only = h.token(&[Scope::CasesRead], &["853"]);
    let (status, _) = h.import(&read_only, "text/csv", &csv).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Larger than the global limit but within this route's.
    let mut big = String::from(HEADER);
    let mut n = 0;
    while big.len() < 300 * 1024 {
        n += 1;
        big.push_str(&format!("c-{n},neuvonta,853,fi,2026-11-02 09:15:00,,,open,phone\n"));
    }
    let (status, body) = h.import(&token, "text/csv; charset=utf-8", &big).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        body.to_string().chars().take(300).collect::<String>()
    );
    assert_eq!(
        body["created"],
        n,
        "{}",
        body.to_string().chars().take(300).collect::<String>()
    );
}

fn lines(body: &[u8]) -> Vec<(u64, Option<String>)> {
    let mut rows = super::ContactCentreRows::new(body).unwrap();
    std::iter::from_fn(|| rows.next_row())
        .map(|(line, read)| (line, read.ok().and_then(|r| r.get(0).map(str::to_owned))))
        .collect()
}

#[test]
fn lines_are_counted_at_every_line_end_the_reader_takes() {
    // Found by the fuzz target csv_import: with `\r` line ends every row was "line 1", and
    // a row after a quoted field spanning lines was off by the line ends inside it.
    for end in ["\n", "\r\n", "\r"] {
        let body = format!("call_id{end}a{end}b{end}\"c{end}c\"{end}{end}d{end}");
        let expected = [
            (2, Some("a".to_string())),
            (3, Some("b".to_string())),
            (4, Some(format!("c{end}c"))),
            (7, Some("d".to_string())),
        ];
        assert_eq!(lines(body.as_bytes()), expected, "{end:?}");
    }
    // Mixed line ends, and a blank line the reader skips.
    assert_eq!(
        lines(b"call_id\r\na\rb\n\r\nc\r\n"),
        [(2, Some("a".into())), (3, Some("b".into())), (5, Some("c".into()))]
    );
    // An unreadable row keeps its line and reading carries on.
    assert_eq!(
        lines(b"call_id\ra\r\xff\rc"),
        [(2, Some("a".into())), (3, None), (4, Some("c".into()))]
    );
}
