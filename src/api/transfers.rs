//! `/v1/cases/{id}/transfers`: a case handed to another organisation's guidance (e.g. from the
//! central service to the client's municipality for a service need assessment).
//!
//! Read access after a transfer: the receiver (now the case's owner) reads the current case;
//! the sender keeps read access to what it sent: `GET /v1/cases/{id}` by a caller acting only for
//! a former owner answers the case document as it was at that organisation's latest transfer,
//! marked with the header `Portti-Snapshot: transfer`. Every read is audited per organisation.
//! A transferred case no longer appears in the sender's `GET /v1/cases` listing.

use super::extract::JsonBody;
use super::layers::RequestId;
use super::outbox::{accepted_event, visible_case};
use super::params::require;
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, idempotency, AppState};
use crate::audit::{digest, AuditEvent};
use crate::auth::{Caller, Scope};
use crate::broker::NewExchange;
use crate::case::{Case, HandledBy, Outcome};
use crate::store::{NewTransfer, Transfer, Write};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The header that marks a case answered as the snapshot a former owner sent.
pub const SNAPSHOT_HEADER: &str = "portti-snapshot";
const MAX_REASON_CHARS: usize = 500;
const MAX_NOTE_CHARS: usize = 4000;

/// Transfers run one at a time (one gateway per data directory), so that the owner checked is
/// still the owner when the transfer commits.
static TRANSFERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    /// The receiving organisation: its id or name.
    #[schema(example = "529")]
    pub to: Option<String>,
    /// `service_need_assessment` or free text (at most 500 characters).
    #[schema(example = "service_need_assessment")]
    pub reason: Option<String>,
    /// A note for the receiver (kept in the transfer history, never sent in the webhook).
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferCreated {
    pub transfer_id: Uuid,
    pub case_id: Uuid,
    pub from: String,
    pub to: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    pub transfer_id: Uuid,
    pub seq: i64,
    pub from: String,
    pub to: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub by_client: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferList {
    pub items: Vec<TransferView>,
}

fn field(pointer: &str, detail: impl Into<String>) -> InvalidField {
    InvalidField {
        pointer: Some(pointer.to_string()),
        parameter: None,
        detail: detail.into(),
    }
}

/// One audit event per organisation named, with the case's person.
fn events_for(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    case: &Case,
    organisations: &[&str],
    action: &str,
    outcome: &str,
) -> Vec<AuditEvent> {
    let person = case.identity_code().map(|id| state.hasher.key_of(id));
    let mut seen: Vec<&str> = Vec::new();
    for org in organisations {
        if !seen.contains(org) {
            seen.push(org);
        }
    }
    seen.into_iter()
        .map(|organisation| {
            let mut event = audit_event(caller, request_id, action, outcome);
            event.person = person.clone();
            event.organisation = Some(organisation.to_string());
            event
        })
        .collect()
}

/// For a caller who may not read the current case: the snapshot of the latest transfer sent by
/// an organisation the caller acts for.
pub(super) async fn former_owner_snapshot(
    state: &AppState,
    caller: &Caller,
    case_id: Uuid,
) -> Result<Option<Transfer>, ApiError> {
    let transfers = state.store.case_transfers(case_id).await?;
    Ok(transfers.into_iter().rev().find(|t| caller.acts_for(&t.from_org)))
}

/// Answers a former owner's read of a case with the snapshot it sent, audited like any read.
pub(super) async fn snapshot_read(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    transfer: Transfer,
) -> Result<Response, ApiError> {
    let snapshot = &transfer.snapshot;
    let body = serde_json::to_vec(snapshot).map_err(|_| ApiError::Internal)?;
    let mut events = events_for(
        state,
        caller,
        request_id,
        snapshot,
        &snapshot.organisations(),
        "case.read",
        "ok",
    );
    let response_digest = digest(&body);
    for event in &mut events {
        event.response_digest = Some(response_digest.clone());
    }
    state.store.append_audit(events).await?;
    let mut response = idempotency::json_response(StatusCode::OK, body);
    response
        .headers_mut()
        .insert(SNAPSHOT_HEADER, axum::http::HeaderValue::from_static("transfer"));
    Ok(response)
}

/// Hand a case to another organisation's guidance. The caller must act for the case's owner;
/// from then on the receiver owns the case and the sender reads the snapshot it sent. When the
/// receiver has a webhook configured, a signed `case.transferred` event is queued with it.
#[utoipa::path(post, path = "/v1/cases/{id}/transfers", tag = "cases",
    params(("id" = Uuid, Path, description = "The case id")),
    request_body = TransferInput,
    responses(
        (status = 201, description = "Transferred", body = TransferCreated, headers(("Location" = String))),
        (status = 403, description = "Missing scope or not the case's owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require(&caller, Scope::CasesWrite)?;
    let Ok(Path(id)) = id else {
        return Err(ApiError::NotFound("no such case".into()));
    };
    let _one_at_a_time = TRANSFERS.lock().await;
    let case = visible_case(&state, &caller, &request_id, id, "case.transfer").await?;
    let input: TransferInput = body.parse()?;
    let mut errors = Vec::new();
    let to = match input.to.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(field("/to", "is required"));
            None
        }
        Some(to) => match state.registry.resolve(to) {
            None => {
                errors.push(field("/to", "is not a known organisation"));
                None
            }
            Some(org) if org.id == case.owner() => {
                errors.push(field("/to", "is the case's current owner"));
                None
            }
            Some(org) => Some(org.id),
        },
    };
    let reason = input.reason.as_deref().map(str::trim).unwrap_or_default().to_string();
    if reason.is_empty() {
        errors.push(field("/reason", "is required"));
    } else if reason.chars().count() > MAX_REASON_CHARS {
        errors.push(field(
            "/reason",
            format!("is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    let note = input.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        errors.push(field("/note", format!("is longer than {MAX_NOTE_CHARS} characters")));
    }
    let Some(to) = to.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };

    let at = Utc::now();
    let from = case.owner().to_string();
    let mut snapshot = case.clone();
    snapshot.outcome = Outcome::Transferred;
    let mut transferred = snapshot.clone();
    transferred.handled_by = Some(HandledBy {
        organisation: to.clone(),
        professional: None,
    });
    let transfer_id = Uuid::now_v7();
    let created = TransferCreated {
        transfer_id,
        case_id: case.id,
        from: from.clone(),
        to: to.clone(),
        at,
    };
    let response_body = serde_json::to_vec(&created).map_err(|_| ApiError::Internal)?;

    let organisations = [from.as_str(), to.as_str(), case.organiser.as_str()];
    let mut audit = events_for(
        &state,
        &caller,
        &request_id,
        &case,
        &organisations,
        "case.transfer",
        "ok",
    );
    let (request_digest, response_digest) = (digest(&body.bytes), digest(&response_body));
    for event in &mut audit {
        event.request_digest = Some(request_digest.clone());
        event.response_digest = Some(response_digest.clone());
    }

    let broker = state
        .broker
        .clone()
        .filter(|b| b.has_adapter(portti_webhook::SERVICE, &to));
    let exchange = broker.as_ref().map(|_| {
        NewExchange {
            service: portti_webhook::SERVICE.to_string(),
            organisation: to.clone(),
            operation: portti_webhook::OP_CASE_TRANSFERRED.to_string(),
            // No personal data: the receiver reads the case through the API.
            payload: serde_json::json!({
                "event": portti_webhook::OP_CASE_TRANSFERRED, "case_id": case.id, "from": from,
                "to": to, "at": at, "transfer_id": transfer_id,
            }),
            person: case.identity_code().map(|id| state.hasher.key_of(id)),
            case_id: Some(case.id),
            recorded_by: caller.client_id.clone(),
            correlation_id: request_id.0.clone(),
        }
        .into_exchange()
    });
    if let Some(exchange) = &exchange {
        audit.push(accepted_event(
            exchange,
            &caller,
            &request_id,
            "webhook.case_transferred",
            &body.bytes,
        ));
    }
    state
        .store
        .commit(Write {
            case_transfer: Some(NewTransfer {
                id: transfer_id,
                case: transferred,
                snapshot,
                from_org: from,
                to_org: to,
                reason,
                note,
                at,
                by_client: caller.client_id.clone(),
            }),
            new_exchange: exchange,
            audit,
            ..Write::default()
        })
        .await?;
    if let Some(broker) = broker {
        broker.wake();
    }
    let mut response = idempotency::json_response(StatusCode::CREATED, response_body);
    if let Ok(value) = format!("/v1/cases/{id}/transfers").parse() {
        response.headers_mut().insert(axum::http::header::LOCATION, value);
    }
    Ok(response)
}

/// A case's transfer history, oldest first: for the case's organisations and its former owners.
#[utoipa::path(get, path = "/v1/cases/{id}/transfers", tag = "cases",
    params(("id" = Uuid, Path, description = "The case id")),
    responses(
        (status = 200, description = "The transfers", body = TransferList),
        (status = 404, description = "No such case for this client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn list(
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
    let transfers = state.store.case_transfers(id).await?;
    let allowed = case.organisations().iter().any(|o| caller.acts_for(o))
        || transfers.iter().any(|t| caller.acts_for(&t.from_org));
    let outcome = if allowed { "ok" } else { "denied" };
    let mut events = events_for(
        &state,
        &caller,
        &request_id,
        &case,
        &case.organisations(),
        "case.transfer.list",
        outcome,
    );
    if !allowed {
        state.store.append_audit(events).await?;
        return Err(not_found());
    }
    let body = serde_json::to_vec(&TransferList {
        items: transfers
            .into_iter()
            .map(|t| TransferView {
                transfer_id: t.id,
                seq: t.seq,
                from: t.from_org,
                to: t.to_org,
                reason: t.reason,
                note: t.note,
                at: t.at,
                by_client: t.by_client,
            })
            .collect(),
    })
    .map_err(|_| ApiError::Internal)?;
    let response_digest = digest(&body);
    for event in &mut events {
        event.response_digest = Some(response_digest.clone());
    }
    state.store.append_audit(events).await?;
    Ok(idempotency::json_response(StatusCode::OK, body))
}
