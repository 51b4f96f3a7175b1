//! The token endpoint, the FHIR endpoints and the control endpoints under `/_simulator/`.

// Handlers return the error response itself (`Result<_, Response>`), the axum idiom.
#![allow(clippy::result_large_err)]

use super::{
    Client, Fault, Inner, SearchSnapshot, Sim, TokenState, CLOCK_SKEW, DEFAULT_PAGE_SIZE, MAX_ASSERTION_LIFETIME,
    MAX_PAGE_SIZE,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

type Result<T, E = Response> = std::result::Result<T, E>;

const FHIR_JSON: &str = "application/fhir+json";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TASK_STATUSES: [&str; 12] = [
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
];
const REQUEST_INTENTS: [&str; 8] = [
    "unknown",
    "proposal",
    "plan",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
];
const EVENT_STATUSES: [&str; 8] = [
    "preparation",
    "in-progress",
    "not-done",
    "on-hold",
    "stopped",
    "completed",
    "entered-in-error",
    "unknown",
];
/// Search snapshots kept for paging (the oldest go first).
const MAX_SNAPSHOTS: usize = 1_000;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/auth/token", post(token))
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/QuestionnaireResponse", get(search))
        .route("/fhir/QuestionnaireResponse/{id}", get(read_questionnaire_response))
        .route("/fhir/Task", post(create_task))
        .route("/fhir/Task/{id}", put(update_task).get(read_task))
        .route("/fhir/Communication", post(create_communication))
        .route("/fhir/Communication/{id}", get(read_communication))
        .route(
            "/_simulator/faults",
            post(inject_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_simulator/questionnaire-responses", post(add_questionnaire_response))
        .route("/_simulator/assessments", post(add_assessment))
        .route("/_simulator/tasks", get(list_tasks))
        .route("/_simulator/communications", get(list_communications))
        .route("/_simulator/tokens/expire", post(expire_tokens))
        .route("/_simulator/requests", get(request_log).delete(clear_request_log))
        .fallback(|| async { outcome(StatusCode::NOT_FOUND, "not-found", "Not found") })
        .with_state(sim)
}

// ---- responses ----

fn fhir(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

/// An `OperationOutcome` with one error issue.
pub fn outcome(status: StatusCode, code: &str, text: &str) -> Response {
    issues(status, code, &[text.to_owned()])
}

fn issues(status: StatusCode, code: &str, texts: &[String]) -> Response {
    let issue: Vec<Value> = (texts.iter())
        .map(|t| json!({"severity": "error", "code": code, "diagnostics": t}))
        .collect();
    fhir(status, &json!({"resourceType": "OperationOutcome", "issue": issue}))
}

pub fn unauthorized() -> Response {
    let mut r = outcome(StatusCode::UNAUTHORIZED, "login", "Unauthorized");
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

// ---- authentication ----

/// A registered client's verification key.
pub(crate) struct ClientKey {
    client_id: String,
    key_id: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

impl ClientKey {
    pub fn load(client: &Client) -> anyhow::Result<ClientKey> {
        let pem = std::fs::read(&client.public_key_pem)?;
        let pkey = openssl::pkey::PKey::public_key_from_pem(&pem)?;
        let (algorithm, key) = match pkey.id() {
            openssl::pkey::Id::EC => {
                let curve = pkey.ec_key()?.group().curve_name();
                anyhow::ensure!(
                    curve == Some(openssl::nid::Nid::SECP384R1),
                    "an EC client key must be P-384"
                );
                (Algorithm::ES384, DecodingKey::from_ec_pem(&pem)?)
            }
            openssl::pkey::Id::RSA => (
                Algorithm::RS384,
                DecodingKey::from_rsa_pem(&pkey.rsa()?.public_key_to_pem_pkcs1()?)?,
            ),
            _ => anyhow::bail!("a client key must be EC P-384 or RSA"),
        };
        Ok(ClientKey {
            client_id: client.client_id.clone(),
            key_id: client.key_id.clone(),
            algorithm,
            key,
        })
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn authenticate(sim: &Sim, headers: &HeaderMap) -> Result<String> {
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let mut inner = sim.lock();
    match inner.tokens.get(token) {
        Some(state) if state.expires_at > Instant::now() => Ok(state.client_id.clone()),
        Some(_) => {
            inner.tokens.remove(token);
            Err(unauthorized())
        }
        None => Err(unauthorized()),
    }
}

/// Checks a client assertion; the client id it authenticates.
fn verify_assertion(sim: &Sim, assertion: &str) -> Result<String, String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "the client assertion is not a JWT".to_owned())?;
    if !matches!(header.alg, Algorithm::ES384 | Algorithm::RS384) {
        return Err(format!("alg {:?} is not ES384 or RS384", header.alg));
    }
    let mut reason = "no registered client has a key for this assertion".to_owned();
    for client in sim.clients.iter().filter(|c| c.algorithm == header.alg) {
        if client.key_id.is_some() && client.key_id != header.kid {
            reason = "kid does not name a registered key".into();
            continue;
        }
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&sim.audiences);
        validation.set_issuer(&[&client.client_id]);
        validation.sub = Some(client.client_id.clone());
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.leeway = CLOCK_SKEW.as_secs();
        let claims = match jsonwebtoken::decode::<Value>(assertion, &client.key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind::*;
                reason = match e.kind() {
                    InvalidSignature => "signature does not verify".into(),
                    ExpiredSignature => "the assertion has expired".into(),
                    InvalidAudience => "aud is not this token endpoint".into(),
                    InvalidIssuer => "iss is not the client id".into(),
                    InvalidSubject => "sub is not the client id".into(),
                    MissingRequiredClaim(c) => format!("claim {c} is missing"),
                    other => format!("invalid assertion: {other:?}"),
                };
                continue;
            }
        };
        let now = Utc::now().timestamp();
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp - now > (MAX_ASSERTION_LIFETIME + CLOCK_SKEW).as_secs() as i64 {
            return Err("exp is more than five minutes away".into());
        }
        let jti = (claims.get("jti").and_then(Value::as_str))
            .filter(|j| !j.is_empty())
            .ok_or("claim jti is missing")?;
        let mut inner = sim.lock();
        inner
            .used_jti
            .retain(|_, until| *until + CLOCK_SKEW.as_secs() as i64 >= now);
        let key = (client.client_id.clone(), jti.to_owned());
        if inner.used_jti.contains_key(&key) {
            return Err("jti has been used already (replay)".into());
        }
        inner.used_jti.insert(key, exp);
        return Ok(client.client_id.clone());
    }
    Err(reason)
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).expect("randomness");
    hex::encode(bytes)
}

async fn token(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let form_type = (headers.get(header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if field("grant_type") != Some("client_credentials") {
        return oauth_error("unsupported_grant_type", "grant_type must be client_credentials");
    }
    if field("client_assertion_type") != Some(JWT_BEARER) {
        return oauth_error("invalid_client", "client_assertion_type must be jwt-bearer");
    }
    let Some(assertion) = field("client_assertion") else {
        return oauth_error("invalid_client", "client_assertion is missing");
    };
    let client_id = match verify_assertion(&sim, assertion) {
        Ok(id) => id,
        Err(reason) => return oauth_error("invalid_client", &reason),
    };
    let scope = field("scope").unwrap_or("system/*.*").to_owned();
    let token = new_token();
    let mut inner = sim.lock();
    inner.tokens.insert(
        token.clone(),
        TokenState {
            client_id,
            expires_at: Instant::now() + sim.token_ttl,
        },
    );
    inner.token_requests += 1;
    axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": sim.token_ttl.as_secs(),
        "scope": scope,
    }))
    .into_response()
}

async fn metadata(State(sim): State<Arc<Sim>>) -> Response {
    let search = |names: &[&str]| -> Vec<Value> { names.iter().map(|n| json!({"name": n, "type": "token"})).collect() };
    fhir(
        StatusCode::OK,
        &json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-01-01",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "implementation": {"description": "Portti's ODA simulator", "url": format!("{}/fhir", sim.base_url)},
            "rest": [{"mode": "server", "resource": [
                {"type": "QuestionnaireResponse", "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": search(&["status", "_tag", "_lastUpdated", "_id"])},
                {"type": "Task", "interaction": [{"code": "read"}, {"code": "update"}, {"code": "create"}],
                 "updateCreate": true, "conditionalCreate": true},
                {"type": "Communication", "interaction": [{"code": "read"}, {"code": "create"}], "conditionalCreate": true}
            ]}]
        }),
    )
}

// ---- search ----

pub(crate) fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Splits on `sep` not escaped with `\`, and unescapes.
fn split_escaped(value: &str, sep: char) -> Vec<String> {
    let (mut parts, mut current, mut escaped) = (Vec::new(), String::new(), false);
    for c in value.chars() {
        match (c, escaped) {
            ('\\', false) => escaped = true,
            (c, false) if c == sep => parts.push(std::mem::take(&mut current)),
            (c, _) => {
                if escaped && c != sep && !matches!(c, '\\' | '|' | ',' | '$') {
                    current.push('\\');
                }
                current.push(c);
                escaped = false;
            }
        }
    }
    parts.push(current);
    parts
}

/// A token search value: `code`, `system|code`, `|code` (no system) or `system|`.
fn parse_token(value: &str) -> (Option<String>, Option<String>) {
    // Split on the first unescaped '|' only; keep the escapes of the rest for the second pass.
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match (c, escaped) {
            ('\\', false) => escaped = true,
            ('|', false) => {
                let unescape = |s: &str| split_escaped(s, '\u{0}').remove(0);
                let code = unescape(&value[i + 1..]);
                return (Some(unescape(&value[..i])), (!code.is_empty()).then_some(code));
            }
            _ => escaped = false,
        }
    }
    (None, Some(split_escaped(value, '\u{0}').remove(0)))
}

fn tag_matches(resource: &Value, system: &Option<String>, code: &Option<String>) -> bool {
    let tags = resource.pointer("/meta/tag").and_then(Value::as_array);
    tags.into_iter().flatten().any(|tag| {
        let s = tag.get("system").and_then(Value::as_str);
        let c = tag.get("code").and_then(Value::as_str);
        let system_ok = match system.as_deref() {
            None => true,
            Some("") => s.is_none(),
            Some(want) => s == Some(want),
        };
        system_ok && code.as_deref().is_none_or(|want| c == Some(want))
    })
}

fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

fn last_updated(resource: &Value) -> Option<DateTime<Utc>> {
    parse_instant(resource.pointer("/meta/lastUpdated")?.as_str()?)
}

type Comparison = (String, DateTime<Utc>);

fn compare(at: DateTime<Utc>, (prefix, value): &Comparison) -> bool {
    match prefix.as_str() {
        "eq" => at == *value,
        "ne" => at != *value,
        "gt" | "sa" => at > *value,
        "ge" => at >= *value,
        "lt" | "eb" => at < *value,
        "le" => at <= *value,
        _ => false,
    }
}

async fn search(State(sim): State<Arc<Sim>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response> {
    authenticate(&sim, &headers)?;
    let query = query.unwrap_or_default();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let self_url = format!("{}/fhir/QuestionnaireResponse?{query}", sim.base_url);
    let mut inner = sim.lock();

    if let Some((_, page)) = params.iter().find(|(k, _)| k == "_page") {
        let Some(&(snapshot, offset)) = inner.pages.get(page) else {
            return Err(outcome(
                StatusCode::GONE,
                "not-found",
                "the page token is unknown or expired",
            ));
        };
        return Ok(render_page(&sim, &mut inner, snapshot, offset, &self_url));
    }

    let mut statuses: Option<Vec<String>> = None;
    let mut tags: Vec<Vec<(Option<String>, Option<String>)>> = Vec::new();
    let mut ids: Option<Vec<String>> = None;
    let mut comparisons: Vec<Comparison> = Vec::new();
    let mut descending = false;
    let mut count = DEFAULT_PAGE_SIZE;
    let mut problems = Vec::new();
    for (name, value) in &params {
        match name.as_str() {
            "status" => statuses = Some(split_escaped(value, ',')),
            "_tag" => tags.push(split_escaped_keep(value).iter().map(|v| parse_token(v)).collect()),
            "_id" => ids = Some(split_escaped(value, ',')),
            "_lastUpdated" => {
                let (prefix, rest) = match value.get(..2) {
                    Some(p) if p.bytes().all(|b| b.is_ascii_lowercase()) => (p.to_owned(), &value[2..]),
                    _ => ("eq".to_owned(), value.as_str()),
                };
                let known = ["eq", "ne", "gt", "ge", "lt", "le", "sa", "eb"].contains(&prefix.as_str());
                match (known, parse_instant(rest)) {
                    (true, Some(at)) => comparisons.push((prefix, at)),
                    _ => problems.push(format!("_lastUpdated {value:?} is not a date search value")),
                }
            }
            "_sort" => match value.as_str() {
                "_lastUpdated" => descending = false,
                "-_lastUpdated" => descending = true,
                other => problems.push(format!("_sort {other:?} is not supported")),
            },
            "_count" => match value.parse::<usize>() {
                Ok(n) => count = n.clamp(1, MAX_PAGE_SIZE),
                Err(_) => problems.push("_count must be a non-negative integer".into()),
            },
            other => problems.push(format!("search parameter {other:?} is not supported")),
        }
    }
    if !problems.is_empty() {
        return Err(issues(StatusCode::BAD_REQUEST, "not-supported", &problems));
    }
    let mut matches: Vec<(DateTime<Utc>, String)> = (inner.questionnaire_responses.iter())
        .filter(|(_, r)| {
            let status = r.get("status").and_then(Value::as_str).unwrap_or_default();
            statuses.as_ref().is_none_or(|s| s.iter().any(|w| w == status))
        })
        .filter(|(id, _)| ids.as_ref().is_none_or(|ids| ids.contains(id)))
        .filter(|(_, r)| (tags.iter()).all(|any| any.iter().any(|(system, code)| tag_matches(r, system, code))))
        .filter_map(|(id, r)| Some((last_updated(r)?, id.clone())))
        .filter(|(at, _)| comparisons.iter().all(|c| compare(*at, c)))
        .collect();
    matches.sort();
    if descending {
        matches.reverse();
    }
    let snapshot = inner.next_snapshot;
    inner.next_snapshot += 1;
    inner.snapshots.insert(
        snapshot,
        SearchSnapshot {
            ids: matches.into_iter().map(|(_, id)| id).collect(),
            count,
        },
    );
    while inner.snapshots.len() > MAX_SNAPSHOTS {
        let oldest = *inner.snapshots.keys().next().expect("not empty");
        inner.snapshots.remove(&oldest);
        inner.pages.retain(|_, (s, _)| *s != oldest);
    }
    Ok(render_page(&sim, &mut inner, snapshot, 0, &self_url))
}

/// Splits a token list on unescaped `,`, keeping the escapes (for [`parse_token`]).
fn split_escaped_keep(value: &str) -> Vec<String> {
    let (mut parts, mut current, mut escaped) = (Vec::new(), String::new(), false);
    for c in value.chars() {
        if c == ',' && !escaped {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        escaped = c == '\\' && !escaped;
        current.push(c);
    }
    parts.push(current);
    parts
}

fn render_page(sim: &Sim, inner: &mut Inner, snapshot: u64, offset: usize, self_url: &str) -> Response {
    let Some(snap) = inner.snapshots.get(&snapshot) else {
        return outcome(StatusCode::GONE, "not-found", "the search has expired");
    };
    let (total, count) = (snap.ids.len(), snap.count);
    let page_ids: Vec<String> = snap.ids.iter().skip(offset).take(count).cloned().collect();
    let entries: Vec<Value> = (page_ids.iter())
        .filter_map(|id| inner.questionnaire_responses.get(id))
        .map(|r| {
            json!({
                "fullUrl": format!("{}/fhir/QuestionnaireResponse/{}", sim.base_url, r["id"].as_str().unwrap_or_default()),
                "resource": r,
                "search": {"mode": "match"}
            })
        })
        .collect();
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if offset + count < total {
        let token = super::api::new_token()[..32].to_owned();
        inner.pages.insert(token.clone(), (snapshot, offset + count));
        links.push(json!({
            "relation": "next",
            "url": format!("{}/fhir/QuestionnaireResponse?_page={token}", sim.base_url)
        }));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::now_v7().to_string(),
        "meta": {"lastUpdated": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)},
        "type": "searchset",
        "total": total,
        "link": links,
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    fhir(StatusCode::OK, &bundle)
}

// ---- read ----

fn read(sim: &Sim, headers: &HeaderMap, kind: &str, id: &str) -> Result<Response> {
    authenticate(sim, headers)?;
    let inner = sim.lock();
    let store = match kind {
        "QuestionnaireResponse" => &inner.questionnaire_responses,
        "Task" => &inner.tasks,
        _ => &inner.communications,
    };
    match store.get(id) {
        Some(r) => Ok(fhir(StatusCode::OK, r)),
        None => Err(outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("{kind}/{id} is not known"),
        )),
    }
}

async fn read_questionnaire_response(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    read(&sim, &headers, "QuestionnaireResponse", &id)
}

async fn read_task(State(sim): State<Arc<Sim>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    read(&sim, &headers, "Task", &id)
}

async fn read_communication(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    read(&sim, &headers, "Communication", &id)
}

// ---- write ----

/// JSON pointers of `null`, `""`, `[]` and `{}` (forbidden in FHIR JSON).
fn empties(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(path.to_owned()),
        Value::String(s) if s.is_empty() => out.push(path.to_owned()),
        Value::Array(a) if a.is_empty() => out.push(path.to_owned()),
        Value::Object(o) if o.is_empty() => out.push(path.to_owned()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| empties(v, &format!("{path}/{i}"), out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| empties(v, &format!("{path}/{k}"), out)),
        _ => {}
    }
}

/// The problems of a resource to be written (empty = acceptable).
fn check_resource(sim: &Sim, inner: &Inner, kind: &str, r: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if r.get("resourceType").and_then(Value::as_str) != Some(kind) {
        problems.push(format!("resourceType must be {kind}"));
        return problems;
    }
    let mut empty = Vec::new();
    empties(r, "", &mut empty);
    problems.extend(
        empty
            .into_iter()
            .map(|p| format!("{p}: empty values are not allowed in FHIR JSON")),
    );
    if r.get("id").and_then(Value::as_str).is_some_and(|id| !is_fhir_id(id)) {
        problems.push("id is not a FHIR id".into());
    }
    let allowed = if kind == "Task" {
        &sim.task_profiles
    } else {
        &sim.communication_profiles
    };
    let profiles: Vec<&str> = (r.pointer("/meta/profile").and_then(Value::as_array))
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !profiles.iter().any(|p| allowed.iter().any(|a| a == p)) {
        problems.push(format!("meta.profile must include one of {allowed:?}"));
    }
    let status = r.get("status").and_then(Value::as_str).unwrap_or_default();
    let qr_exists = |reference: Option<&str>| {
        reference
            .and_then(|r| r.strip_prefix("QuestionnaireResponse/"))
            .is_some_and(|id| inner.questionnaire_responses.contains_key(id))
    };
    if kind == "Task" {
        if !TASK_STATUSES.contains(&status) {
            problems.push("status is not a task-status code".into());
        }
        let intent = r.get("intent").and_then(Value::as_str).unwrap_or_default();
        if !REQUEST_INTENTS.contains(&intent) {
            problems.push("intent is not a task-intent code".into());
        }
        if !qr_exists(r.pointer("/focus/reference").and_then(Value::as_str)) {
            problems.push("focus must reference an existing QuestionnaireResponse".into());
        }
        if r.pointer("/owner/identifier/value").and_then(Value::as_str).is_none() {
            problems.push("owner must identify the organisation".into());
        }
    } else {
        if !EVENT_STATUSES.contains(&status) {
            problems.push("status is not an event-status code".into());
        }
        let has_content = (r.get("payload").and_then(Value::as_array)).is_some_and(|p| {
            !p.is_empty()
                && p.iter().all(|p| {
                    p.get("contentString").is_some()
                        || p.get("contentAttachment").is_some()
                        || p.get("contentReference").is_some()
                })
        });
        if !has_content {
            problems.push("payload must carry content".into());
        }
        let about: Vec<&str> = (r.get("about").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("reference").and_then(Value::as_str))
            .collect();
        if about
            .iter()
            .any(|a| a.starts_with("QuestionnaireResponse/") && !qr_exists(Some(a)))
        {
            problems.push("about references an unknown QuestionnaireResponse".into());
        }
        if (r.get("inResponseTo").and_then(Value::as_array).into_iter().flatten()).any(|x| {
            x.get("reference")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.starts_with("Communication/"))
        }) {
            problems.push("inResponseTo may reference a Communication only (R4)".into());
        }
    }
    problems
}

fn parse_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|_| outcome(StatusCode::BAD_REQUEST, "structure", "the body is not JSON"))
}

/// Sets id, `meta.versionId` and `meta.lastUpdated`; returns the version.
fn stamp(inner: &mut Inner, r: &mut Value, id: &str, previous: Option<&Value>) -> u64 {
    let version = previous
        .and_then(|p| p.pointer("/meta/versionId")?.as_str()?.parse::<u64>().ok())
        .map_or(1, |v| v + 1);
    r["id"] = json!(id);
    if !r.get("meta").is_some_and(Value::is_object) {
        r["meta"] = json!({});
    }
    r["meta"]["versionId"] = json!(version.to_string());
    r["meta"]["lastUpdated"] = json!(inner.now_instant());
    version
}

fn written(sim: &Sim, status: StatusCode, kind: &str, id: &str, version: u64, r: &Value) -> Response {
    let mut response = fhir(status, r);
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/fhir/{kind}/{id}/_history/{version}", sim.base_url)) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
        h.insert(header::ETAG, v);
    }
    response
}

async fn update_task(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    authenticate(&sim, &headers)?;
    let mut task = parse_body(&body)?;
    if !is_fhir_id(&id) || task.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(outcome(
            StatusCode::BAD_REQUEST,
            "invariant",
            "the body's id must equal the URL's id",
        ));
    }
    let mut inner = sim.lock();
    let problems = check_resource(&sim, &inner, "Task", &task);
    if !problems.is_empty() {
        return Err(issues(StatusCode::UNPROCESSABLE_ENTITY, "processing", &problems));
    }
    let previous = inner.tasks.get(&id).cloned();
    let version = stamp(&mut inner, &mut task, &id, previous.as_ref());
    inner.tasks.insert(id.clone(), task.clone());
    let status = if previous.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(written(&sim, status, "Task", &id, version, &task))
}

/// `If-None-Exist: identifier=system|value` → (system, value).
fn condition(headers: &HeaderMap) -> Result<Option<(Option<String>, Option<String>)>> {
    let Some(value) = headers.get("if-none-exist") else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(value.as_bytes()).into_owned().collect();
    match pairs.as_slice() {
        [(name, token)] if name == "identifier" => Ok(Some(parse_token(token))),
        _ => Err(outcome(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "If-None-Exist supports identifier=system|value only",
        )),
    }
}

fn identifier_matches(r: &Value, (system, value): &(Option<String>, Option<String>)) -> bool {
    (r.get("identifier").and_then(Value::as_array).into_iter().flatten()).any(|i| {
        let s = i.get("system").and_then(Value::as_str);
        let v = i.get("value").and_then(Value::as_str);
        system.as_deref().is_none_or(|want| s == Some(want)) && value.as_deref().is_none_or(|want| v == Some(want))
    })
}

fn create(sim: &Sim, headers: &HeaderMap, body: &[u8], kind: &str) -> Result<Response> {
    authenticate(sim, headers)?;
    let condition = condition(headers)?;
    let mut resource = parse_body(body)?;
    let mut inner = sim.lock();
    let problems = check_resource(sim, &inner, kind, &resource);
    if !problems.is_empty() {
        return Err(issues(StatusCode::UNPROCESSABLE_ENTITY, "processing", &problems));
    }
    let store = if kind == "Task" {
        &inner.tasks
    } else {
        &inner.communications
    };
    if let Some(condition) = &condition {
        let found: Vec<&Value> = store.values().filter(|r| identifier_matches(r, condition)).collect();
        match found.as_slice() {
            [] => {}
            [existing] => {
                let id = existing["id"].as_str().unwrap_or_default().to_owned();
                let version = (existing.pointer("/meta/versionId").and_then(Value::as_str))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                return Ok(written(sim, StatusCode::OK, kind, &id, version, existing));
            }
            _ => {
                return Err(outcome(
                    StatusCode::PRECONDITION_FAILED,
                    "duplicate",
                    "If-None-Exist matches more than one resource",
                ))
            }
        }
    }
    let id = uuid::Uuid::now_v7().to_string();
    let version = stamp(&mut inner, &mut resource, &id, None);
    let store = if kind == "Task" {
        &mut inner.tasks
    } else {
        &mut inner.communications
    };
    store.insert(id.clone(), resource.clone());
    Ok(written(sim, StatusCode::CREATED, kind, &id, version, &resource))
}

async fn create_task(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    create(&sim, &headers, &body, "Task")
}

async fn create_communication(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    create(&sim, &headers, &body, "Communication")
}

// ---- control ----

fn control_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())
}

async fn inject_fault(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response> {
    let fault: Fault = serde_json::from_value(control_json(&body)?)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())?;
    fault
        .check()
        .map_err(|e| (StatusCode::BAD_REQUEST, e).into_response())?;
    sim.lock().faults.push(super::faults::Active::new(fault));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_faults(State(sim): State<Arc<Sim>>) -> Response {
    let faults: Vec<Fault> = sim.lock().faults.iter().map(|a| a.fault.clone()).collect();
    axum::Json(faults).into_response()
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn add_questionnaire_response(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response> {
    let resource = control_json(&body)?;
    let id = (sim.lock().add_questionnaire_response(resource))
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())?;
    Ok(axum::Json(json!({"id": id})).into_response())
}

async fn add_assessment(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response> {
    let v = control_json(&body)?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(code), Some(org), Some(urgency)) = (text("identityCode"), text("organisation"), text("urgency")) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "identityCode, organisation and urgency are needed",
        )
            .into_response());
    };
    let topics: Vec<String> = (v.get("topics").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    let language = text("language").unwrap_or_else(|| "fi".into());
    let mut inner = sim.lock();
    let at = inner.now_instant();
    let id = uuid::Uuid::now_v7().to_string();
    let resource = super::assessment(&id, &code, &org, &urgency, &topics, &language, &at);
    let id = (inner.add_questionnaire_response(resource))
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())?;
    Ok(axum::Json(json!({"id": id})).into_response())
}

async fn list_tasks(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(sim.lock().tasks.values().cloned().collect::<Vec<_>>()).into_response()
}

async fn list_communications(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(sim.lock().communications.values().cloned().collect::<Vec<_>>()).into_response()
}

async fn expire_tokens(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().tokens.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn request_log(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(sim.lock().request_log.clone()).into_response()
}

async fn clear_request_log(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().request_log.clear();
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oda_token_values_split_on_unescaped_separators() {
        assert_eq!(parse_token("urn:x|853"), (Some("urn:x".into()), Some("853".into())));
        assert_eq!(parse_token("853"), (None, Some("853".into())));
        assert_eq!(parse_token("|853"), (Some("".into()), Some("853".into())));
        assert_eq!(parse_token("urn:x|"), (Some("urn:x".into()), None));
        assert_eq!(parse_token(r"a\|b|c\,d"), (Some("a|b".into()), Some("c,d".into())));
        assert_eq!(split_escaped_keep(r"a\,b,c"), vec![r"a\,b".to_owned(), "c".to_owned()]);
        assert_eq!(split_escaped("completed,amended", ','), vec!["completed", "amended"]);
    }
}
