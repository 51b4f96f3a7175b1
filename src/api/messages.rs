//! `POST /v1/messages`: a message to a person through Suomi.fi Messages, accepted into the
//! outbox (202) after every check the service itself would make.

use super::extract::JsonBody;
use super::layers::RequestId;
use super::params::{not_acting_for, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, idempotency, AppState};
use crate::audit::digest;
use crate::auth::{Caller, Scope};
use crate::broker::{exchange_audit_event, NewExchange};
use crate::case::IdentityCode;
use crate::store::{IdempotencyClaim, StoredResponse, Write, WriteOutcome};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use portti_suomifi_messages::{self as messages, Attachment, BodyFormat, PaperAddress, SendMessage};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// The sending organisation: one the client acts for, with Suomi.fi Messages configured.
    #[schema(example = "853")]
    pub organisation: Option<String>,
    pub recipient: Option<RecipientInput>,
    #[schema(example = "Asiakasohjaus")]
    pub title: Option<String>,
    #[schema(example = "Hei! Soitamme teille huomenna.")]
    pub body: Option<String>,
    /// `text` (default) or `markdown`.
    #[schema(value_type = Option<String>, example = "text")]
    pub body_format: Option<BodyFormat>,
    #[schema(example = "fi")]
    pub language: Option<String>,
    /// The case this message belongs to.
    pub case_id: Option<Uuid>,
    /// With a paper address the message goes by paper mail when the person has no active mailbox.
    #[schema(value_type = Option<Object>)]
    pub paper_address: Option<PaperAddress>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientInput {
    #[schema(example = "010594Y9032")]
    pub identity_code: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub exchange_id: Uuid,
    /// Always `accepted`; follow `GET /v1/exchanges/{exchange_id}`.
    pub status: String,
}

fn field(pointer: &str, detail: &str) -> InvalidField {
    InvalidField {
        pointer: Some(pointer.to_string()),
        parameter: None,
        detail: detail.to_string(),
    }
}

/// Send a message. Nothing is queued unless every field is valid.
#[utoipa::path(post, path = "/v1/messages", tag = "messages",
    request_body = MessageInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat with the same key and body to get the first response again")),
    responses(
        (status = 202, description = "Accepted into the outbox", body = Accepted, headers(("Location" = String))),
        (status = 403, description = "Missing scope or another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn send(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require(&caller, Scope::MessagesSend)?;
    let broker = state
        .broker
        .clone()
        .ok_or_else(|| ApiError::Unavailable("no broker runs".into()))?;
    let key = idempotency::key(&headers)?;
    let request_hash = digest(&body.bytes);
    if let Some(key) = &key {
        if let Some((hash, stored)) = state.store.idempotent_response(&caller.client_id, key).await? {
            if hash != request_hash {
                return Err(ApiError::IdempotencyKeyReused);
            }
            return replay(&state, &caller, &request_id, stored).await;
        }
    }
    let input: MessageInput = body.parse()?;
    let mut errors = Vec::new();
    let organisation = match input.organisation.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        None => {
            errors.push(field("/organisation", "is required"));
            None
        }
        Some(o) => match state.registry.resolve(o) {
            None => {
                errors.push(field("/organisation", "is not a known organisation"));
                None
            }
            // Whether another organisation has the service configured is not this caller's business.
            Some(org) if !caller.acts_for(&org.id) => return Err(not_acting_for(&org.id)),
            Some(org) if !broker.has_adapter(messages::SERVICE, &org.id) => {
                errors.push(field("/organisation", "has no Suomi.fi Messages service configured"));
                None
            }
            Some(org) => Some(org.id),
        },
    };
    let identity = match input.recipient.as_ref().and_then(|r| r.identity_code.as_deref()) {
        None => {
            errors.push(field("/recipient/identity_code", "is required"));
            None
        }
        Some(code) => match IdentityCode::parse(code) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(field("/recipient/identity_code", &e.to_string()));
                None
            }
        },
    };
    let language = match input.language.as_deref() {
        None => {
            errors.push(field("/language", "is required"));
            None
        }
        Some(l) => match crate::case::parse_language(l) {
            Some(l) => Some(l),
            None => {
                errors.push(field("/language", "must be fi, sv or en"));
                None
            }
        },
    };
    for (name, value) in [("/title", &input.title), ("/body", &input.body)] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            errors.push(field(name, "is required"));
        }
    }
    let message = SendMessage {
        recipient_identity_code: identity.as_ref().map(|i| i.as_str().to_string()).unwrap_or_default(),
        title: input.title.clone().unwrap_or_default(),
        body: input.body.clone().unwrap_or_default(),
        body_format: input.body_format.unwrap_or(BodyFormat::Text),
        language: language.map(|l| l.code().to_string()).unwrap_or_else(|| "fi".into()),
        paper_address: input.paper_address,
        attachments: input.attachments,
    };
    // The service's own rules, from its adapter; fields already reported are not repeated.
    for (pointer, detail) in messages::validate(&message) {
        let pointer = if pointer == "/recipient_identity_code" {
            "/recipient/identity_code".to_string()
        } else {
            pointer
        };
        if !errors.iter().any(|e| e.pointer.as_deref() == Some(pointer.as_str())) {
            errors.push(field(&pointer, &detail));
        }
    }
    if let Some(case_id) = input.case_id {
        let visible = match state.store.case(case_id).await? {
            Some(case) => case.organisations().iter().any(|o| caller.acts_for(o)),
            None => false,
        };
        if !visible {
            errors.push(field("/case_id", "is not a case this client can see"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (Some(organisation), Some(identity)) = (organisation, identity) else {
        return Err(ApiError::Internal);
    };
    if !caller.acts_for(&organisation) {
        return Err(not_acting_for(&organisation));
    }

    let exchange = NewExchange {
        service: messages::SERVICE.to_string(),
        organisation,
        operation: messages::OP_SEND.to_string(),
        payload: serde_json::to_value(&message).map_err(|_| ApiError::Internal)?,
        person: Some(state.hasher.key_of(&identity)),
        case_id: input.case_id,
        recorded_by: caller.client_id.clone(),
        correlation_id: request_id.0.clone(),
    }
    .into_exchange();
    let response_body = serde_json::to_vec(&Accepted {
        exchange_id: exchange.id,
        status: "accepted".into(),
    })
    .map_err(|_| ApiError::Internal)?;
    let location = format!("/v1/exchanges/{}", exchange.id);
    let mut event = exchange_audit_event(&exchange, "message.send", "accepted");
    let caller_event = audit_event(&caller, &request_id, "message.send", "accepted");
    event.actor = caller_event.actor;
    event.purpose = caller_event.purpose;
    event.request_digest = Some(request_hash.clone());
    event.response_digest = Some(digest(&response_body));
    let first = StoredResponse {
        status: 202,
        location: Some(location),
        body: response_body,
    };
    let write = Write {
        idempotency: key.map(|key| IdempotencyClaim {
            client_id: caller.client_id.clone(),
            key,
            request_hash,
            response: first.clone(),
        }),
        new_exchange: Some(exchange),
        audit: vec![event],
        ..Write::default()
    };
    match state.store.commit(write).await? {
        WriteOutcome::Committed { .. } => {
            broker.wake();
            Ok(idempotency::respond(first, false))
        }
        WriteOutcome::Replayed(stored) => replay(&state, &caller, &request_id, stored).await,
        WriteOutcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
        WriteOutcome::Refused(_) => Err(ApiError::Internal),
    }
}

/// The first answer to a repeated key, if this token may still see that exchange.
async fn replay(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    stored: StoredResponse,
) -> Result<Response, ApiError> {
    let accepted: Accepted = serde_json::from_slice(&stored.body).map_err(|_| ApiError::Internal)?;
    let exchange = state
        .store
        .exchange(accepted.exchange_id)
        .await?
        .ok_or(ApiError::Internal)?
        .exchange;
    let allowed = caller.acts_for(&exchange.organisation);
    let mut event = exchange_audit_event(&exchange, "message.send", if allowed { "replayed" } else { "denied" });
    let caller_event = audit_event(caller, request_id, "message.send", "");
    event.actor = caller_event.actor;
    event.correlation_id = caller_event.correlation_id;
    state.store.append_audit(vec![event]).await?;
    if !allowed {
        return Err(not_acting_for(&exchange.organisation));
    }
    Ok(idempotency::respond(stored, true))
}
