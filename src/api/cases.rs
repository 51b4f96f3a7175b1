//! `/v1/cases`: intake, read and listing of service guidance cases.

use super::extract::{JsonBody, QueryParams};
use super::layers::RequestId;
use super::params::{self, not_acting_for, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, idempotency, AppState};
use crate::audit::{digest, AuditEvent};
use crate::auth::{Caller, Scope};
use crate::case::{self, input::CaseInput, Case};
use crate::store::{CaseQuery, IdempotencyClaim, NewCase, StoredResponse, Write, WriteOutcome};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// Audit events about one case: one per organisation the case belongs to, so that each
/// organisation's auditors find every touch of their data.
pub(super) fn case_events(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    action: &str,
    outcome: &str,
    case: &Case,
) -> Vec<AuditEvent> {
    let person = case.identity_code().map(|id| state.hasher.key_of(id));
    let [organiser, owner] = case.organisations();
    let organisations = if organiser == owner {
        vec![owner]
    } else {
        vec![owner, organiser]
    };
    organisations
        .into_iter()
        .map(|organisation| {
            let mut event = audit_event(caller, request_id, action, outcome);
            event.person = person.clone();
            event.organisation = Some(organisation.to_string());
            event
        })
        .collect()
}

fn set_digests(events: &mut [AuditEvent], request: Option<&str>, response: Option<&[u8]>) {
    let response = response.map(digest);
    for event in events {
        event.request_digest = request.map(str::to_string);
        event.response_digest = response.clone();
    }
}

/// Answers a repeated Idempotency-Key with the first response, after checking that this
/// token may still see that case; the repeat is audited like any other disclosure.
async fn replay(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    request_hash: &str,
    stored: StoredResponse,
) -> Result<Response, ApiError> {
    state.metrics.case_intake("replayed");
    let case: Case = serde_json::from_slice(&stored.body).map_err(|_| ApiError::Internal)?;
    let allowed = case.organisations().iter().any(|o| caller.acts_for(o));
    let outcome = if allowed { "replayed" } else { "denied" };
    let mut events = case_events(state, caller, request_id, "case.create", outcome, &case);
    set_digests(
        &mut events,
        Some(request_hash),
        allowed.then_some(stored.body.as_slice()),
    );
    state.store.append_audit(events).await?;
    if !allowed {
        return Err(not_acting_for(case.owner()));
    }
    Ok(idempotency::respond(stored, true))
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
    let key = idempotency::key(&headers)?;
    let request_hash = digest(&body.bytes);
    if let Some(key) = &key {
        if let Some((hash, stored)) = state.store.idempotent_response(&caller.client_id, key).await? {
            if hash != request_hash {
                return Err(ApiError::IdempotencyKeyReused);
            }
            return replay(&state, &caller, &request_id, &request_hash, stored).await;
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
    if !caller.acts_for(case.owner()) {
        state.metrics.case_intake("forbidden");
        let mut events = case_events(&state, &caller, &request_id, "case.create", "denied", &case);
        set_digests(&mut events, Some(&request_hash), None);
        state.store.append_audit(events).await?;
        return Err(not_acting_for(case.owner()));
    }

    let location = format!("/v1/cases/{}", case.id);
    let response_body = serde_json::to_vec(&case).map_err(|_| ApiError::Internal)?;
    let mut events = case_events(&state, &caller, &request_id, "case.create", "ok", &case);
    set_digests(&mut events, Some(&request_hash), Some(&response_body));
    let person = case.identity_code().map(|id| state.hasher.key_of(id));
    let first = StoredResponse {
        status: 201,
        location: Some(location),
        body: response_body,
    };
    let write = Write {
        idempotency: key.map(|key| IdempotencyClaim {
            client_id: caller.client_id.clone(),
            key,
            request_hash: request_hash.clone(),
            response: first.clone(),
        }),
        new_case: Some(NewCase { case, person }),
        audit: events,
        ..Write::default()
    };
    match state.store.commit(write).await? {
        WriteOutcome::Committed { .. } => {
            state.metrics.case_intake("accepted");
            Ok(idempotency::respond(first, false))
        }
        WriteOutcome::Replayed(stored) => replay(&state, &caller, &request_id, &request_hash, stored).await,
        WriteOutcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
        WriteOutcome::Refused(_) => Err(ApiError::Internal),
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
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    require(&caller, Scope::CasesRead)?;
    let not_found = || ApiError::NotFound("no such case".into());
    let Ok(Path(id)) = id else {
        return Err(not_found());
    };
    let case = state.store.case(id).await?.ok_or_else(not_found)?;
    let allowed = case.organisations().iter().any(|o| caller.acts_for(o));
    if !allowed {
        // A former owner reads the case as it sent it (see `transfers`).
        if let Some(transfer) = super::transfers::former_owner_snapshot(&state, &caller, id).await? {
            return super::transfers::snapshot_read(&state, &caller, &request_id, transfer).await;
        }
    }
    let outcome = if allowed { "ok" } else { "denied" };
    let mut events = case_events(&state, &caller, &request_id, "case.read", outcome, &case);
    if !allowed {
        state.store.append_audit(events).await?;
        return Err(not_found());
    }
    let body = serde_json::to_vec(&case).map_err(|_| ApiError::Internal)?;
    set_digests(&mut events, None, Some(&body));
    state.store.append_audit(events).await?;
    Ok(idempotency::json_response(StatusCode::OK, body))
}

#[derive(Serialize, ToSchema)]
pub struct CasePage {
    pub items: Vec<Case>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List cases of the client's organisations, oldest first, by received time.
#[utoipa::path(get, path = "/v1/cases", tag = "cases",
    params(
        ("organisation" = Option<String>, Query, description = "Only this organisation (one the client acts for)"),
        ("from" = Option<String>, Query, description = "Received at or after (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Received before (RFC 3339)"),
        ("overdue" = Option<bool>, Query, description = "true: only open cases (neither answered nor closed) past their due_by"),
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
    params.only(
        &["organisation", "from", "to", "overdue", "cursor", "limit"],
        &mut errors,
    );
    let organisations = params::organisations(&state, &caller, &params, &mut errors)?;
    let overdue = match params.get("overdue") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(InvalidField::parameter("overdue", "must be true or false"));
            false
        }
    };
    let query = CaseQuery {
        organisations,
        received_from: params::time(&params, "from", &mut errors),
        received_to: params::time(&params, "to", &mut errors),
        overdue_at: overdue.then(Utc::now),
        after: params.get("cursor").map(str::to_string),
        limit: params::limit(&params, state.limits.page_size_max, &mut errors),
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let page = state.store.cases(&query).await?;
    // Records for every case shown, so that a search by person finds this read too.
    let mut events: Vec<AuditEvent> = page
        .items
        .iter()
        .flat_map(|case| case_events(&state, &caller, &request_id, "case.list", "ok", case))
        .collect();
    let body = serde_json::to_vec(&CasePage {
        items: page.items,
        next_cursor: page.next,
    })
    .map_err(|_| ApiError::Internal)?;
    set_digests(&mut events, None, Some(&body));
    if !events.is_empty() {
        state.store.append_audit(events).await?;
    }
    Ok(idempotency::json_response(StatusCode::OK, body))
}
