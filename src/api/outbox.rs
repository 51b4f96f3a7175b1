//! What every endpoint that queues an exchange for a case shares: the case visibility check and
//! the one write that puts the exchange and its audit record in the outbox before the 202.

use super::layers::RequestId;
use super::params::not_acting_for;
use super::problem::ApiError;
use super::{audit_event, idempotency, AppState};
use crate::audit::{digest, AuditEvent};
use crate::auth::Caller;
use crate::broker::{exchange_audit_event, Broker};
use crate::case::Case;
use crate::store::{Exchange, Write};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

/// The case, if this caller acts for its owner (the handler's organisation, else the
/// organiser's); a denied look is audited under `action`.
pub(super) async fn visible_case(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    id: Uuid,
    action: &str,
) -> Result<Case, ApiError> {
    let not_found = || ApiError::NotFound("no such case".into());
    let case = state.store.case(id).await?.ok_or_else(not_found)?;
    if !caller.acts_for(case.owner()) {
        let mut event = audit_event(caller, request_id, action, "denied");
        event.organisation = Some(case.owner().to_string());
        state.store.append_audit(vec![event]).await?;
        return Err(not_acting_for(case.owner()));
    }
    Ok(case)
}

/// The audit event of a request accepted into the outbox: the exchange's, with the
/// caller's actor and purpose and the request's digest.
pub(super) fn accepted_event(
    exchange: &Exchange,
    caller: &Caller,
    request_id: &RequestId,
    action: &str,
    request: &[u8],
) -> AuditEvent {
    let mut event = exchange_audit_event(exchange, action, "accepted");
    let caller_event = audit_event(caller, request_id, action, "accepted");
    event.actor = caller_event.actor;
    event.purpose = caller_event.purpose;
    event.request_digest = Some(digest(request));
    event
}

/// Commit an accepted exchange with its audit event, wake the broker, and answer `202` with
/// `response_body` and the exchange's `Location`.
pub(super) async fn commit_accepted(
    state: &AppState,
    broker: &Broker,
    exchange: Exchange,
    event: AuditEvent,
    response_body: Vec<u8>,
) -> Result<Response, ApiError> {
    let location = format!("/v1/exchanges/{}", exchange.id);
    state
        .store
        .commit(Write {
            new_exchange: Some(exchange),
            audit: vec![event],
            ..Write::default()
        })
        .await?;
    broker.wake();
    let mut response = idempotency::json_response(StatusCode::ACCEPTED, response_body);
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(axum::http::header::LOCATION, value);
    }
    Ok(response)
}
