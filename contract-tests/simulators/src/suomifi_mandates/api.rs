//! The Authorization REST API and the control endpoints under `/_simulator/`.

use super::{faults, Fault, Mandate, Sim};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The header carrying client id, timestamp and checksum.
pub const AUTH_HEADER: &str = "x-asiointivaltuudetauthorization";

/// What the handler decided, attached to its response for the request log.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub client_id: Option<String>,
    pub result: Option<&'static str>,
}

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route(
            "/service/rest/hpa/authorization/{client_id}/{delegate}/{principal}",
            get(authorization),
        )
        .route(
            "/_simulator/mandates",
            get(list_mandates).post(change_mandate).delete(clear_mandates),
        )
        .route(
            "/_simulator/faults",
            get(list_faults).post(inject_fault).delete(clear_faults),
        )
        .route("/_simulator/requests", get(request_log).delete(clear_request_log))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such resource") })
        .with_state(sim)
}

/// `{"error": code, "message": message}` with `status`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": code, "message": message}))).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn with_outcome(mut response: Response, outcome: Outcome) -> Response {
    response.extensions_mut().insert(outcome);
    response
}

/// The `issue` and `requestId` parameters of a raw query.
fn query_params(query: Option<&str>) -> (Vec<String>, Option<String>) {
    let mut issues = Vec::new();
    let mut request_id = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "issue" => issues.push(value.into_owned()),
            "requestId" => request_id = Some(value.into_owned()),
            _ => {}
        }
    }
    (issues, request_id)
}

/// The decoded `issue` parameters of a request target (for the request log).
pub fn issues_of(uri: &Uri) -> Vec<String> {
    query_params(uri.query()).0
}

/// ISO 8601 with an offset: RFC 3339 (fractions allowed), or without seconds as in the public
/// description's example `1997-07-16T19:20+01:00`.
fn parse_timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    let text = match text.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => text.to_owned(),
    };
    DateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M%:z").ok()
}

/// Checks `X-AsiointivaltuudetAuthorization` against the request target as received; the
/// authenticated client id, else a `401`. (The error is the response itself, the axum idiom; its
/// size does not matter here.)
#[allow(clippy::result_large_err)]
fn authenticate(sim: &Sim, headers: &HeaderMap, uri: &Uri, now: DateTime<Utc>) -> Result<String, Response> {
    let unauthorized = |code: &str, message: &str| error(StatusCode::UNAUTHORIZED, code, message);
    let value = headers.get(AUTH_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        unauthorized(
            "missing_or_malformed_header",
            "X-AsiointivaltuudetAuthorization is required",
        )
    })?;
    let parts: Vec<&str> = value.split(' ').collect();
    let [client_id, timestamp, given] = parts[..] else {
        return Err(unauthorized(
            "missing_or_malformed_header",
            "X-AsiointivaltuudetAuthorization must be \"{clientId} {timestamp} {checksum}\"",
        ));
    };
    let api_key = sim
        .clients
        .get(client_id)
        .ok_or_else(|| unauthorized("unknown_client", "unknown client id"))?;
    let at = parse_timestamp(timestamp)
        .ok_or_else(|| unauthorized("bad_timestamp", "the timestamp is not ISO 8601 with an offset"))?;
    let skew = (now - at.with_timezone(&Utc)).abs();
    if skew.to_std().map_or(true, |skew| skew > sim.max_clock_skew) {
        return Err(unauthorized(
            "timestamp_out_of_window",
            "the timestamp differs from the service's clock by more than allowed",
        ));
    }
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let expected = super::checksum(api_key, path_and_query, timestamp);
    if expected.len() != given.len() || !openssl::memcmp::eq(expected.as_bytes(), given.as_bytes()) {
        return Err(unauthorized(
            "bad_checksum",
            "the checksum does not match the request path, query and timestamp",
        ));
    }
    Ok(client_id.to_owned())
}

/// `GET /service/rest/hpa/authorization/{clientId}/{delegateId}/{principalId}`.
async fn authorization(
    State(sim): State<Arc<Sim>>,
    Path((path_client, delegate, principal)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let client_id = match authenticate(&sim, &headers, &uri, Utc::now()) {
        Ok(id) => id,
        Err(response) => return with_outcome(response, Outcome::default()),
    };
    let outcome = |result| Outcome {
        client_id: Some(client_id.clone()),
        result,
    };
    if path_client != client_id {
        return with_outcome(
            error(
                StatusCode::FORBIDDEN,
                "client_mismatch",
                "the client id in the path is not the authenticated client",
            ),
            outcome(None),
        );
    }
    let (issues, request_id) = query_params(uri.query());
    let mut problems = Vec::new();
    if request_id.as_deref().is_none_or(|r| r.trim().is_empty()) {
        problems.push("requestId is required");
    }
    if !is_valid_identity_code(&delegate) {
        problems.push("delegateId is not a valid personal identity code");
    }
    if !is_valid_identity_code(&principal) {
        problems.push("principalId is not a valid personal identity code");
    }
    if !problems.is_empty() {
        return with_outcome(
            error(StatusCode::BAD_REQUEST, "bad_request", &problems.join("; ")),
            outcome(None),
        );
    }

    let inner = sim.lock();
    let missing: Vec<&String> = issues
        .iter()
        .filter(|issue| !inner.allowed(&delegate, &principal, issue))
        .collect();
    drop(inner);
    let (result, reasons) = if issues.is_empty() {
        (
            "DISALLOWED",
            vec![reason(
                "NO_REGISTER_RELATION",
                "no issue was asked about, and no register-based relation (such as guardianship) is known",
            )],
        )
    } else if missing.is_empty() {
        ("ALLOWED", Vec::new())
    } else {
        (
            "DISALLOWED",
            missing
                .iter()
                .map(|issue| reason("NO_MANDATE", &format!("no mandate in the register for {issue}")))
                .collect(),
        )
    };
    with_outcome(
        axum::Json(json!({"result": result, "reasons": reasons})).into_response(),
        outcome(Some(result)),
    )
}

fn reason(rule: &str, value: &str) -> Value {
    json!({"reasonRule": rule, "reasonValue": value, "valueType": "DESCRIPTION"})
}

/// A Finnish personal identity code with a correct check character (all century signs in use
/// since 2023), compared case-insensitively.
pub fn is_valid_identity_code(code: &str) -> bool {
    const CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let code = code.trim().to_ascii_uppercase();
    let b = code.as_bytes();
    if b.len() != 11
        || !matches!(b[6], b'+' | b'-' | b'U'..=b'Y' | b'A'..=b'F')
        || !b[..6].iter().chain(&b[7..10]).all(u8::is_ascii_digit)
    {
        return false;
    }
    let n: u32 = format!("{}{}", &code[..6], &code[7..10]).parse().unwrap_or(0);
    let (day, month) = (n / 10_000_000, n / 100_000 % 100);
    (1..=31).contains(&day) && (1..=12).contains(&month) && CHECK[(n % 31) as usize] == b[10]
}

// ---- control ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MandateChange {
    delegate: String,
    principal: String,
    issue: String,
    #[serde(default)]
    action: Action,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Action {
    #[default]
    Add,
    Remove,
}

async fn change_mandate(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let change: MandateChange = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &format!("invalid mandate: {e}")),
    };
    if !is_valid_identity_code(&change.delegate) || !is_valid_identity_code(&change.principal) {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "delegate and principal must be valid personal identity codes",
        );
    }
    if change.issue.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "bad_request", "issue must not be empty");
    }
    let mandate = Mandate::new(&change.delegate, &change.principal, &change.issue);
    let mut inner = sim.lock();
    match change.action {
        Action::Add => inner.grant(&mandate),
        Action::Remove => {
            inner.revoke(&mandate);
        }
    }
    no_content()
}

async fn list_mandates(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(json!(sim.lock().mandates())).into_response()
}

async fn clear_mandates(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().table.clear();
    no_content()
}

async fn inject_fault(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &format!("invalid fault: {e}")),
    };
    if let Err(e) = fault.check() {
        return error(StatusCode::BAD_REQUEST, "bad_request", &format!("invalid fault: {e}"));
    }
    sim.lock().faults.push(faults::Active::new(fault));
    no_content()
}

async fn list_faults(State(sim): State<Arc<Sim>>) -> Response {
    let faults: Vec<Fault> = sim.lock().faults.iter().map(|a| a.fault.clone()).collect();
    axum::Json(json!(faults)).into_response()
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().faults.clear();
    no_content()
}

async fn request_log(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(json!(sim.lock().request_log)).into_response()
}

async fn clear_request_log(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().request_log.clear();
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_codes() {
        for ok in [
            "010594Y9032",
            "131052-308T",
            "131052-308t",
            "010101A123N",
            "260881-1233",
        ] {
            assert!(is_valid_identity_code(ok), "{ok}");
        }
        for bad in [
            "131052-308U",
            "131352-308T",
            "001052-308T",
            "131052*308T",
            "131052-308",
            "",
        ] {
            assert!(!is_valid_identity_code(bad), "{bad}");
        }
    }

    #[test]
    fn timestamps_in_the_forms_of_the_description() {
        let t = |s: &str| parse_timestamp(s).map(|t| t.with_timezone(&Utc).to_rfc3339());
        assert_eq!(
            t("1997-07-16T19:20+01:00").as_deref(),
            Some("1997-07-16T18:20:00+00:00")
        );
        assert_eq!(t("1997-07-16T18:20Z").as_deref(), Some("1997-07-16T18:20:00+00:00"));
        assert!(t("2026-03-01T09:30:00.123456789Z").is_some());
        assert_eq!(t("2026-03-01T09:30:00"), None, "an offset is required");
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn queries_decode_repeated_issues() {
        let (issues, request_id) =
            query_params(Some("requestId=r1&issue=http%3A%2F%2Fa%2Fb&issue=urn%3Ax%20y&other=1"));
        assert_eq!(issues, ["http://a/b", "urn:x y"]);
        assert_eq!(request_id.as_deref(), Some("r1"));
        assert_eq!(query_params(None), (vec![], None));
    }
}
