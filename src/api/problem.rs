//! RFC 9457 problem details: every error a caller sees, with each bad field named.

use crate::case::FieldError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input: a JSON pointer into the body, or the name of a query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvalidField {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub detail: String,
}

impl InvalidField {
    pub fn parameter(name: &str, detail: impl Into<String>) -> Self {
        Self {
            pointer: None,
            parameter: Some(name.to_string()),
            detail: detail.into(),
        }
    }
}

impl From<FieldError> for InvalidField {
    fn from(e: FieldError) -> Self {
        Self {
            pointer: Some(e.pointer),
            parameter: None,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A relative URI naming the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<InvalidField>,
}

/// Everything a handler or layer can answer with instead of success.
#[derive(Debug)]
pub enum ApiError {
    /// The body parsed but its content is wrong: every problem at once.
    Invalid(Vec<InvalidField>),
    MalformedJson(String),
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    PayloadTooLarge(usize),
    UnsupportedMediaType,
    IdempotencyKeyReused,
    Conflict(String),
    TooManyRequests,
    /// Too many requests from one address in the rate limit's window: wait this long.
    RateLimited(std::time::Duration),
    Timeout,
    Unavailable(String),
    /// A national service refused the request for good (its reason, without personal data).
    Upstream(String),
    Internal,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str, Option<String>) {
        use ApiError::*;
        match self {
            Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "The request has invalid fields",
                None,
            ),
            MalformedJson(d) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "The body is not valid JSON",
                Some(d.clone()),
            ),
            Unauthenticated(d) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                Some(d.clone()),
            ),
            Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed", Some(d.clone())),
            NotFound(d) => (StatusCode::NOT_FOUND, "not-found", "Not found", Some(d.clone())),
            PayloadTooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "The body is too large",
                Some(format!("at most {max} bytes")),
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be JSON",
                Some("send Content-Type: application/json".into()),
            ),
            IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "The Idempotency-Key was used with a different request",
                Some("use a new key for a new request".into()),
            ),
            Conflict(d) => (
                StatusCode::CONFLICT,
                "conflict",
                "The resource is not in a state for this",
                Some(d.clone()),
            ),
            TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many concurrent requests from this client",
                None,
            ),
            RateLimited(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests from this address",
                Some(format!(
                    "try again in {} seconds (see Retry-After)",
                    retry_after_seconds(*wait)
                )),
            ),
            Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "The request took too long",
                None,
            ),
            Unavailable(d) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
                Some(d.clone()),
            ),
            Upstream(d) => (
                StatusCode::BAD_GATEWAY,
                "upstream-refused",
                "The national service refused the request",
                Some(d.clone()),
            ),
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", None),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, slug, title, detail) = self.parts();
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            errors: match self {
                ApiError::Invalid(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Invalid(errors.into_iter().map(Into::into).collect())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::InvalidCursor => {
                ApiError::Invalid(vec![InvalidField::parameter("cursor", "is not a cursor this API gave")])
            }
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "stored data is corrupt");
                ApiError::Internal
            }
            StoreError::Database(_) | StoreError::WriterGone | StoreError::Unreachable(_) => {
                tracing::error!(error = %e, "store failed");
                ApiError::Unavailable("the store is not available; retry later".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            body,
        )
            .into_response();
        match self {
            ApiError::Unauthenticated(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests | ApiError::Unavailable(_) | ApiError::Timeout => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::RateLimited(wait) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds(wait)));
            }
            _ => {}
        }
        response
    }
}

/// Whole seconds to wait, rounded up, at least one.
pub fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}
