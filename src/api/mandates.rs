//! `GET /v1/mandates/check?for=…`: may the person logged in through Suomi.fi Identification act
//! on behalf of another (e.g. a relative for an older person)? ALLOWED only when Suomi.fi
//! Mandates says so; DISALLOWED on any error. Every check is audited, both persons as keyed hashes.

use super::extract::QueryParams;
use super::layers::RequestId;
use super::params::require;
use super::problem::{ApiError, InvalidField};
use super::{audit_event, idempotency, AppState};
use crate::auth::{Caller, Scope};
use crate::case::IdentityCode;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct MandateAnswer {
    /// `ALLOWED` or `DISALLOWED`.
    #[schema(example = "ALLOWED")]
    pub result: String,
    /// The mandate issues asked about.
    pub issues: Vec<String>,
    /// Why DISALLOWED was assumed when the service gave no usable answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether the logged-in person may act for the person `for`.
#[utoipa::path(get, path = "/v1/mandates/check", tag = "identification",
    params(("for" = String, Query, description = "The identity code of the person to act for")),
    responses(
        (status = 200, description = "The decision", body = MandateAnswer),
        (status = 401, description = "The login session has ended", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a login token, or no identity code", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn check(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::MandatesCheck)?;
    let mandates = state
        .mandates
        .clone()
        .ok_or_else(|| ApiError::Unavailable("Suomi.fi Mandates is not configured".into()))?;
    let Some(citizen) = caller.citizen.as_ref() else {
        return Err(ApiError::Forbidden("only a Suomi.fi login token can ask".into()));
    };
    let Some(delegate) = citizen.identity_code.as_ref() else {
        return Err(ApiError::Forbidden(
            "a person without a Finnish identity code has no mandates in Suomi.fi Mandates".into(),
        ));
    };
    let principal = match params.get("for").map(IdentityCode::parse) {
        None => return Err(ApiError::Invalid(vec![InvalidField::parameter("for", "is required")])),
        Some(Err(e)) => return Err(ApiError::Invalid(vec![InvalidField::parameter("for", e.to_string())])),
        Some(Ok(p)) => p,
    };
    let open = state
        .store
        .login_session(&citizen.session_id)
        .await?
        .is_some_and(|s| s.ended_at.is_none() && s.expires_at > chrono::Utc::now());
    if !open {
        return Err(ApiError::Unauthenticated("the login session has ended".into()));
    }
    let decision = mandates.check(delegate.as_str(), principal.as_str()).await;
    let outcome = match &decision.error {
        None => decision.result.as_str().to_string(),
        Some(e) => format!("{} (assumed: {e})", decision.result.as_str()),
    };
    // Two records: the person asked about, and the person asking (each searchable by their key).
    let mut about = audit_event(&caller, &request_id, "mandates.check", &outcome);
    about.service = Some(portti_suomifi_mandates::SERVICE.into());
    about.person = Some(state.hasher.key_of(&principal));
    let mut by = about.clone();
    by.person = Some(state.hasher.key_of(delegate));
    state.store.append_audit(vec![about, by]).await?;
    let body = serde_json::to_vec(&MandateAnswer {
        result: decision.result.as_str().to_string(),
        issues: decision.issues.clone(),
        error: decision.error.as_ref().map(|e| e.to_string()),
    })
    .map_err(|_| ApiError::Internal)?;
    Ok(idempotency::json_response(StatusCode::OK, body))
}
