//! Cross-cutting behaviour as middleware, composed in one place (`super::router`): request ids,
//! body size and JSON depth limits, timeouts, authentication, per-client concurrency, metrics.

use super::extract::is_json;
use super::problem::ApiError;
use super::AppState;
use crate::auth::Caller;
use crate::case::hetu::contains_identity_code;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use uuid::Uuid;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The correlation id of a request: the caller's `X-Request-Id` if sane, else a new UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The body size limit, for extractors that read the body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Marks a request that came over TLS (cookies set in its answer may be `Secure`).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// The verified subject of a client certificate, set by the TLS listener.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    pub subject_cn: String,
}

pub async fn request_id(mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
                && !contains_identity_code(v)
        })
        .map(str::to_string);
    let id = given.unwrap_or_else(|| Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Refuses bodies over the limit (413) and JSON nested deeper than the limit (400) before
/// any handler or parser sees them.
pub async fn body_limits(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    // A contact centre export is far larger than any JSON request; only its route allows that.
    let max = if req.uri().path() == super::imports::CONTACT_CENTRE_PATH {
        state.limits.body_bytes.max(super::imports::CONTACT_CENTRE_BODY_BYTES)
    } else {
        state.limits.body_bytes
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return ApiError::PayloadTooLarge(max).into_response();
    }
    req.extensions_mut().insert(BodyLimit(max));
    if !is_json(req.headers()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge(max).into_response(),
    };
    if json_depth(&bytes) > state.limits.json_depth {
        return ApiError::MalformedJson(format!("nested deeper than {} levels", state.limits.json_depth))
            .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// The deepest nesting of arrays and objects, counted without parsing (strings skipped).
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A panic in a handler or a library it calls becomes a 500 problem, not a dropped connection.
pub fn panic_to_problem(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::Internal.into_response()
}

pub async fn timeout(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let limit = Duration::from_millis(state.limits.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Turns a client certificate or a bearer token into a [`Caller`]; the end user, role and
/// purpose of use may come from headers when the token does not name them.
pub async fn authenticate(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let by_certificate = req
        .extensions()
        .get::<PeerCertificate>()
        .and_then(|p| state.certificate_clients.caller(&p.subject_cn));
    let caller = match by_certificate {
        Some(caller) => Ok(caller),
        None => bearer(&req).and_then(|token| {
            state
                .verifier
                .verify(token)
                .map_err(|e| ApiError::Unauthenticated(e.to_string()))
        }),
    };
    let mut caller = match caller {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let headers = req.headers();
    let mut errors = Vec::new();
    for (name, slot) in [
        ("x-end-user", &mut caller.end_user),
        ("x-end-user-role", &mut caller.role),
        ("x-purpose-of-use", &mut caller.purpose),
    ] {
        if let Some(value) = headers.get(name) {
            match value.to_str() {
                Ok(v) if v.len() <= 128 && !contains_identity_code(v) => {
                    if slot.is_none() {
                        *slot = Some(v.trim().to_string());
                    }
                }
                _ => errors.push(super::problem::InvalidField {
                    pointer: None,
                    parameter: Some(name.to_string()),
                    detail: "header must be at most 128 visible characters and hold no identity code".into(),
                }),
            }
        }
    }
    if !errors.is_empty() {
        return ApiError::Invalid(errors).into_response();
    }
    // Tokens may name organisations as "91", "Turku" or an OID: compare canonical ids.
    for org in &mut caller.orgs {
        if let Some(resolved) = state.registry.resolve(org) {
            *org = resolved.id;
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn bearer(req: &Request) -> Result<&str, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthenticated("send Authorization: Bearer <token> or a client certificate".into())
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthenticated("the Authorization header is not a Bearer token".into()))
}

/// Bounds the requests one client has in flight, so one busy system cannot starve the rest.
pub async fn per_client_concurrency(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions().get::<Caller>() else {
        return next.run(req).await;
    };
    let semaphore = {
        let mut map = state.client_slots.lock().expect("client slots lock");
        map.entry(caller.client_id.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(state.limits.per_client_concurrency)))
            .clone()
    };
    match semaphore.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::TooManyRequests.into_response(),
    }
}

/// Counts requests and their latency by route template (never the concrete path: it may hold ids).
pub async fn metrics(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .observe_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::json_depth;

    #[test]
    fn depth_counts_nesting_outside_strings() {
        assert_eq!(json_depth(b"{}"), 1);
        assert_eq!(json_depth(br#"{"a":[{"b":[]}]}"#), 4);
        assert_eq!(json_depth(br#"{"a":"[[[[{{{{\"]]]"}"#), 1);
        assert_eq!(json_depth(b"1"), 0);
    }
}
