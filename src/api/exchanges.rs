//! `/v1/exchanges`: what became of each exchange with a national service, and the operator's
//! rerun of a dead-lettered one.

use super::extract::QueryParams;
use super::layers::RequestId;
use super::params::{self, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, AppState};
use crate::auth::{Caller, Scope};
use crate::broker::rerun;
use crate::store::{Attempt, Exchange, ExchangeEvent, ExchangeQuery, ExchangeStatus, Write};
use axum::extract::{rejection::PathRejection, Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// An exchange as callers see it: never its payload (it holds personal data).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeView {
    pub id: Uuid,
    pub service: String,
    pub operation: String,
    pub organisation: String,
    pub status: ExchangeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<Uuid>,
    /// The service's own id, e.g. the Suomi.fi `messageId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<Attempt>>,
    /// What the service reported later (delivered, read…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<ExchangeEvent>>,
}

fn view(e: Exchange, attempts: Option<Vec<Attempt>>, events: Option<Vec<ExchangeEvent>>) -> ExchangeView {
    ExchangeView {
        id: e.id,
        service: e.service,
        operation: e.operation,
        organisation: e.organisation,
        status: e.status,
        case_id: e.case_id,
        upstream_id: e.upstream_id,
        last_error: e.last_error,
        due_at: e.due_at,
        created_at: e.created_at,
        updated_at: e.updated_at,
        attempts,
        events,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangePage {
    pub items: Vec<ExchangeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The exchange if this caller may see it; a look at another organisation's is audited as denied.
async fn visible(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    action: &str,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<crate::store::ExchangeDetail, ApiError> {
    let not_found = || ApiError::NotFound("no such exchange".into());
    let Ok(Path(id)) = id else { return Err(not_found()) };
    let detail = state.store.exchange(id).await?.ok_or_else(not_found)?;
    if !caller.acts_for(&detail.exchange.organisation) {
        state
            .store
            .append_audit(vec![exchange_event(
                caller,
                request_id,
                action,
                "denied",
                &detail.exchange,
            )])
            .await?;
        return Err(not_found());
    }
    Ok(detail)
}

fn exchange_event(
    caller: &Caller,
    request_id: &RequestId,
    action: &str,
    outcome: &str,
    exchange: &Exchange,
) -> crate::audit::AuditEvent {
    let mut event = audit_event(caller, request_id, action, outcome);
    event.person = exchange.person.clone();
    event.organisation = Some(exchange.organisation.clone());
    event.service = Some(exchange.service.clone());
    event.exchange_id = Some(exchange.id);
    event
}

/// One exchange with its attempts and the service's later events.
#[utoipa::path(get, path = "/v1/exchanges/{id}", tag = "exchanges",
    params(("id" = Uuid, Path, description = "The exchange id")),
    responses(
        (status = 200, description = "The exchange", body = ExchangeView),
        (status = 404, description = "No such exchange for this client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<ExchangeView>, ApiError> {
    require(&caller, Scope::ExchangesRead)?;
    let detail = visible(&state, &caller, &request_id, "exchange.read", id).await?;
    let event = exchange_event(&caller, &request_id, "exchange.read", "ok", &detail.exchange);
    state.store.append_audit(vec![event]).await?;
    Ok(Json(view(detail.exchange, Some(detail.attempts), Some(detail.events))))
}

/// Exchanges of the client's organisations, oldest first.
#[utoipa::path(get, path = "/v1/exchanges", tag = "exchanges",
    params(
        ("status" = Option<String>, Query, description = "accepted, in_flight, retry_scheduled, succeeded or dead"),
        ("service" = Option<String>, Query, description = "e.g. suomifi-messages"),
        ("organisation" = Option<String>, Query, description = "Only this organisation"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, default 100"),
    ),
    responses(
        (status = 200, description = "A page of exchanges", body = ExchangePage),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    params: QueryParams,
) -> Result<Json<ExchangePage>, ApiError> {
    require(&caller, Scope::ExchangesRead)?;
    let mut errors = Vec::new();
    params.only(&["status", "service", "organisation", "cursor", "limit"], &mut errors);
    let organisations = params::organisations(&state, &caller, &params, &mut errors)?;
    let status = params.get("status").and_then(|s| {
        let parsed = ExchangeStatus::parse(s);
        if parsed.is_none() {
            errors.push(InvalidField::parameter(
                "status",
                "must be accepted, in_flight, retry_scheduled, succeeded or dead",
            ));
        }
        parsed
    });
    let after = params.get("cursor").and_then(|c| {
        let parsed = c.parse::<Uuid>().ok();
        if parsed.is_none() {
            errors.push(InvalidField::parameter("cursor", "is not a cursor this API gave"));
        }
        parsed
    });
    let query = ExchangeQuery {
        organisations,
        status,
        service: params.get("service").map(str::to_string),
        case_id: None,
        after,
        limit: params::limit(&params, state.limits.page_size_max, &mut errors),
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let page = state.store.exchanges(&query).await?;
    Ok(Json(ExchangePage {
        items: page.items.into_iter().map(|e| view(e, None, None)).collect(),
        next_cursor: page.next,
    }))
}

/// Rerun a dead-lettered exchange with a fresh retry budget.
#[utoipa::path(post, path = "/v1/exchanges/{id}/retry", tag = "exchanges",
    params(("id" = Uuid, Path, description = "The exchange id")),
    responses(
        (status = 202, description = "Queued again", body = ExchangeView),
        (status = 404, description = "No such exchange for this client", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The exchange is not dead", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn retry(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<(StatusCode, Json<ExchangeView>), ApiError> {
    require(&caller, Scope::ExchangesRetry)?;
    let detail = visible(&state, &caller, &request_id, "exchange.retry", id).await?;
    if detail.exchange.status != ExchangeStatus::Dead {
        return Err(ApiError::Conflict(format!(
            "only dead exchanges are rerun; this one is {}",
            detail.exchange.status.as_str()
        )));
    }
    if let Some(at) = state.store.exchange_payload_pruned_at(detail.exchange.id).await? {
        return Err(ApiError::Conflict(format!(
            "its payload was removed by retention on {}; it cannot be rerun",
            at.to_rfc3339()
        )));
    }
    let update = rerun(&detail.exchange);
    let event = exchange_event(&caller, &request_id, "exchange.retry", "accepted", &detail.exchange);
    let mut exchange = detail.exchange;
    exchange.status = update.status;
    exchange.due_at = update.due_at;
    state
        .store
        .commit(Write {
            exchange_updates: vec![update],
            audit: vec![event],
            ..Write::default()
        })
        .await?;
    if let Some(broker) = &state.broker {
        broker.wake();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(view(exchange, Some(detail.attempts), Some(detail.events))),
    ))
}
