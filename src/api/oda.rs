//! A case that came from an Omaolo self-assessment answers back to it: its handling status (a
//! FHIR Task) and the professional's reply (a Communication), each a brokered exchange with
//! retries and audit.

use super::extract::JsonBody;
use super::layers::RequestId;
use super::outbox::{accepted_event, commit_accepted, visible_case};
use super::params::require;
use super::problem::{ApiError, InvalidField, Problem};
use super::AppState;
use crate::auth::{Caller, Scope};
use crate::broker::NewExchange;
use crate::case::Case;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OdaStatusInput {
    /// `accepted`, `in-progress`, `completed` (FHIR R4 task status) …
    #[schema(example = "in-progress")]
    pub status: Option<String>,
    /// A short description of the handling state shown to the citizen.
    pub business_status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OdaReplyInput {
    #[schema(example = "Hei! Soitamme teille huomenna aamupäivällä.")]
    pub message: Option<String>,
    /// The professional's name as the citizen sees it.
    pub sender_display: Option<String>,
}

/// The statuses of FHIR R4's task-status value set a handler sets.
const TASK_STATUSES: [&str; 8] = [
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "in-progress",
    "on-hold",
    "completed",
];
const MAX_REPLY_CHARS: usize = 4000;

fn field(pointer: &str, detail: &str) -> InvalidField {
    InvalidField {
        pointer: Some(pointer.to_string()),
        parameter: None,
        detail: detail.to_string(),
    }
}

/// The self-assessment a case came from, if ODA is configured for its organisation.
fn source_of(state: &AppState, case: &Case) -> Result<String, ApiError> {
    let broker = state.broker.as_ref().ok_or(ApiError::Internal)?;
    let resource = case
        .source
        .as_ref()
        .filter(|s| s.system == portti_oda::SERVICE)
        .and_then(|s| s.resource.strip_prefix("QuestionnaireResponse/"))
        .ok_or_else(|| ApiError::Conflict("the case did not come from an Omaolo self-assessment".into()))?;
    if !broker.has_adapter(portti_oda::SERVICE, case.owner()) {
        return Err(ApiError::Conflict(
            "the case's organisation has no ODA connection configured".into(),
        ));
    }
    Ok(resource.to_string())
}

async fn queue(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    case: &Case,
    operation: portti_adapter_core::Operation,
    action: &str,
    request: &[u8],
) -> Result<Response, ApiError> {
    let broker = state
        .broker
        .clone()
        .ok_or_else(|| ApiError::Unavailable("no broker runs".into()))?;
    let exchange = NewExchange {
        service: portti_oda::SERVICE.to_string(),
        organisation: case.owner().to_string(),
        operation: operation.name,
        payload: operation.payload,
        person: case.identity_code().map(|id| state.hasher.key_of(id)),
        case_id: Some(case.id),
        recorded_by: caller.client_id.clone(),
        correlation_id: request_id.0.clone(),
    }
    .into_exchange();
    let body = serde_json::to_vec(&super::messages::Accepted {
        exchange_id: exchange.id,
        status: "accepted".into(),
    })
    .map_err(|_| ApiError::Internal)?;
    let event = accepted_event(&exchange, caller, request_id, action, request);
    commit_accepted(state, &broker, exchange, event, body).await
}

/// Send the case's handling status back to Omaolo (a Task on the self-assessment).
#[utoipa::path(post, path = "/v1/cases/{id}/oda-status", tag = "cases",
    params(("id" = Uuid, Path, description = "The case id")),
    request_body = OdaStatusInput,
    responses(
        (status = 202, description = "Accepted into the outbox", body = super::messages::Accepted),
        (status = 409, description = "Not a case from Omaolo", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn status(
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
    let case = visible_case(&state, &caller, &request_id, id, "oda.status").await?;
    let input: OdaStatusInput = body.parse()?;
    let status = match input.status.as_deref().map(str::trim) {
        Some(s) if TASK_STATUSES.contains(&s) => s.to_string(),
        Some(_) => {
            return Err(ApiError::Invalid(vec![field(
                "/status",
                &format!("must be one of {}", TASK_STATUSES.join(", ")),
            )]))
        }
        None => return Err(ApiError::Invalid(vec![field("/status", "is required")])),
    };
    let resource = source_of(&state, &case)?;
    let payload = serde_json::json!({
        "questionnaire_response_id": resource, "organisation": case.owner(), "status": status,
        "patient_identity_code": case.identity_code().map(|c| c.as_str().to_string()),
        "business_status": input.business_status,
    });
    queue(
        &state,
        &caller,
        &request_id,
        &case,
        portti_adapter_core::Operation {
            name: portti_oda::OP_UPDATE_TASK_STATUS.into(),
            payload,
        },
        "oda.status",
        &body.bytes,
    )
    .await
}

/// Send the professional's reply to the citizen through Omaolo (a Communication about the
/// self-assessment). Repeats with the same Idempotency-Key are not needed: each reply is its own.
#[utoipa::path(post, path = "/v1/cases/{id}/oda-replies", tag = "cases",
    params(("id" = Uuid, Path, description = "The case id")),
    request_body = OdaReplyInput,
    responses(
        (status = 202, description = "Accepted into the outbox", body = super::messages::Accepted),
        (status = 409, description = "Not a case from Omaolo", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn reply(
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
    let case = visible_case(&state, &caller, &request_id, id, "oda.reply").await?;
    let input: OdaReplyInput = body.parse()?;
    let message = input.message.as_deref().map(str::trim).unwrap_or_default();
    if message.is_empty() {
        return Err(ApiError::Invalid(vec![field("/message", "is required")]));
    }
    if message.chars().count() > MAX_REPLY_CHARS {
        return Err(ApiError::Invalid(vec![field(
            "/message",
            &format!("is longer than {MAX_REPLY_CHARS} characters"),
        )]));
    }
    let resource = source_of(&state, &case)?;
    // The reply's identifier is minted now, so a retried exchange cannot post it twice.
    let payload = serde_json::json!({
        "questionnaire_response_id": resource, "organisation": case.owner(), "message": message,
        "patient_identity_code": case.identity_code().map(|c| c.as_str().to_string()),
        "reply_id": Uuid::now_v7().to_string(), "sender_display": input.sender_display,
        "language": case.language.code(),
    });
    queue(
        &state,
        &caller,
        &request_id,
        &case,
        portti_adapter_core::Operation {
            name: portti_oda::OP_SEND_REPLY.into(),
            payload,
        },
        "oda.reply",
        &body.bytes,
    )
    .await
}
