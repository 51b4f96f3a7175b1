//! `/v1/cases`: intake, read and listing of service guidance cases.

use super::extract::{JsonBody, QueryParams};
use super::layers::RequestId;
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, AppState};
use crate::audit::digest;
use crate::auth::{Caller, Scope};
use crate::case::{self, input::CaseInput, Case};
use crate::store::{CaseQuery, IdempotencyClaim, NewCase, StoredResponse, Write, WriteOutcome};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) fn require(caller: &Caller, scope: Scope) -> Result<(), ApiError> {
    if caller.has(scope) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the token lacks the scope {}",
            scope.as_str()
        )))
    }
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(v) if (1..=255).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(v.to_string())),
        _ => Err(ApiError::Invalid(vec![InvalidField::parameter(
            "Idempotency-Key",
            "must be 1–255 visible ASCII characters",
        )])),
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], stored.body).into_response();
    if let Some(location) = stored.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Submit a case. The case is normalised, or refused with every problem listed; an accepted
/// case and its audit record are durable before the 201.
#[utoipa::path(post, path = "/v1/cases", tag = "cases",
    request_body = CaseInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat with the same key and body to get the first response again")),
    responses(
        (status = 201, description = "Accepted and stored", body = Case, headers(("Location" = String))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope or another organisation's case", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require(&caller, Scope::CasesWrite)?;
    let key = idempotency_key(&headers)?;
    let request_hash = digest(&body.bytes);
    if let Some(key) = &key {
        if let Some((hash, stored)) = state.store.idempotent_response(&caller.client_id, key).await? {
            state.metrics.case_intake("replayed");
            return if hash == request_hash {
                Ok(replay(stored))
            } else {
                Err(ApiError::IdempotencyKeyReused)
            };
        }
    }
    let input: CaseInput = body.parse().inspect_err(|_| state.metrics.case_intake("invalid"))?;
    let now = Utc::now();
    let case = case::normalise(
        input,
        &case::NormaliseContext {
            registry: &state.registry,
            limits: state.case_limits,
            now,
            id: Uuid::now_v7(),
            recorded_by: &caller.client_id,
        },
    )
    .inspect_err(|_| state.metrics.case_intake("invalid"))?;
    let person = case.identity_code().map(|id| state.hasher.key_of(id));
    let mut event = audit_event(&caller, &request_id, "case.create", "ok");
    event.person = person.clone();
    event.organisation = Some(case.owner().to_string());
    event.request_digest = Some(request_hash.clone());

    if !caller.acts_for(case.owner()) {
        state.metrics.case_intake("forbidden");
        event.outcome = "denied".into();
        state.store.append_audit(vec![event]).await?;
        return Err(ApiError::Forbidden(format!(
            "this client may not act for organisation {}",
            case.owner()
        )));
    }

    let location = format!("/v1/cases/{}", case.id);
    let response_body = serde_json::to_vec(&case).map_err(|_| ApiError::Internal)?;
    event.response_digest = Some(digest(&response_body));
    let write = Write {
        idempotency: key.map(|key| IdempotencyClaim {
            client_id: caller.client_id.clone(),
            key,
            request_hash,
            response: StoredResponse {
                status: 201,
                location: Some(location.clone()),
                body: response_body.clone(),
            },
        }),
        new_case: Some(NewCase { case, person }),
        audit: vec![event],
    };
    match state.store.commit(write).await? {
        WriteOutcome::Committed { .. } => {
            state.metrics.case_intake("accepted");
            Ok((
                StatusCode::CREATED,
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::LOCATION, location),
                ],
                response_body,
            )
                .into_response())
        }
        WriteOutcome::Replayed(stored) => {
            state.metrics.case_intake("replayed");
            Ok(replay(stored))
        }
        WriteOutcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
    }
}

/// Read one case. Cases of organisations the client does not act for are not found.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = Uuid, Path, description = "The case id")),
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 404, description = "No such case for this client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&caller, Scope::CasesRead)?;
    let not_found = || ApiError::NotFound("no such case".into());
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let case = state.store.case(id).await?.ok_or_else(not_found)?;
    let allowed = case.organisations().iter().any(|o| caller.acts_for(o));
    let mut event = audit_event(&caller, &request_id, "case.read", if allowed { "ok" } else { "denied" });
    event.person = case.identity_code().map(|id| state.hasher.key_of(id));
    event.organisation = Some(case.owner().to_string());
    let body = if allowed {
        serde_json::to_vec(&case).map_err(|_| ApiError::Internal)?
    } else {
        Vec::new()
    };
    if allowed {
        event.response_digest = Some(digest(&body));
    }
    state.store.append_audit(vec![event]).await?;
    if !allowed {
        return Err(not_found());
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct CasePage {
    pub items: Vec<Case>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub(super) fn parse_time_param(
    params: &QueryParams,
    name: &str,
    errors: &mut Vec<InvalidField>,
) -> Option<DateTime<Utc>> {
    let v = params.get(name)?;
    match DateTime::parse_from_rfc3339(v) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(InvalidField::parameter(
                name,
                "must be an RFC 3339 timestamp with an offset",
            ));
            None
        }
    }
}

pub(super) fn parse_limit(params: &QueryParams, max: u32, errors: &mut Vec<InvalidField>) -> u32 {
    match params.get("limit").map(str::parse::<u32>) {
        None => max.min(100),
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => {
            errors.push(InvalidField::parameter("limit", format!("must be between 1 and {max}")));
            max.min(100)
        }
    }
}

/// The organisations a query covers: the one asked for (which the client must act for), or all of the client's.
pub(super) fn organisations(
    state: &AppState,
    caller: &Caller,
    params: &QueryParams,
    errors: &mut Vec<InvalidField>,
) -> Result<Vec<String>, ApiError> {
    match params.get("organisation") {
        None => Ok(caller.orgs.clone()),
        Some(v) => match state.registry.resolve(v) {
            None => {
                errors.push(InvalidField::parameter("organisation", "is not a known organisation"));
                Ok(Vec::new())
            }
            Some(org) if caller.acts_for(&org.id) => Ok(vec![org.id]),
            Some(org) => Err(ApiError::Forbidden(format!(
                "this client may not act for organisation {}",
                org.id
            ))),
        },
    }
}

/// List cases of the client's organisations, oldest first, by received time.
#[utoipa::path(get, path = "/v1/cases", tag = "cases",
    params(
        ("organisation" = Option<String>, Query, description = "Only this organisation (one the client acts for)"),
        ("from" = Option<String>, Query, description = "Received at or after (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Received before (RFC 3339)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, default 100"),
    ),
    responses(
        (status = 200, description = "A page of cases", body = CasePage),
        (status = 403, description = "Another organisation asked for", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::CasesRead)?;
    let mut errors = Vec::new();
    params.only(&["organisation", "from", "to", "cursor", "limit"], &mut errors);
    let organisations = organisations(&state, &caller, &params, &mut errors)?;
    let query = CaseQuery {
        organisations,
        received_from: parse_time_param(&params, "from", &mut errors),
        received_to: parse_time_param(&params, "to", &mut errors),
        after: params.get("cursor").map(str::to_string),
        limit: parse_limit(&params, state.limits.page_size_max, &mut errors),
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let page = state.store.cases(&query).await.map_err(|e| match e {
        crate::store::StoreError::Corrupt(_) => {
            ApiError::Invalid(vec![InvalidField::parameter("cursor", "is not a cursor this API gave")])
        }
        other => other.into(),
    })?;
    // One audit record per case shown, so that a search by person finds this read too.
    let mut audit = page
        .items
        .iter()
        .map(|case| {
            let mut event = audit_event(&caller, &request_id, "case.list", "ok");
            event.person = case.identity_code().map(|id| state.hasher.key_of(id));
            event.organisation = Some(case.owner().to_string());
            event
        })
        .collect::<Vec<_>>();
    let body = serde_json::to_vec(&CasePage {
        items: page.items,
        next_cursor: page.next,
    })
    .map_err(|_| ApiError::Internal)?;
    let body_digest = digest(&body);
    for event in &mut audit {
        event.response_digest = Some(body_digest.clone());
    }
    if !audit.is_empty() {
        state.store.append_audit(audit).await?;
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
