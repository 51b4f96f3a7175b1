//! `POST /v1/help-requests`: the public "ask for help" (pyydä apua) button. No token: abuse is
//! held back by a per-address rate limit, the body size limit and a honeypot field.
//!
//! [`submit`] is the one way a help request becomes a case; the HTML form (`help_form`) calls
//! it too. The case and its audit record (actor `help-button`) are written in one `Write`.

use super::layers::RequestId;
use super::problem::{ApiError, InvalidField, Problem};
use super::AppState;
use crate::audit::{digest, Actor, AuditEvent};
use crate::case::help::{self, HelpFieldError, HelpRequestInput};
use crate::case::{holidays, Case, NormaliseContext};
use crate::store::{NewCase, Store, StoreError, Write, WriteOutcome};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use uuid::Uuid;

/// References read `APU-2026-000123`: "apu" is "help".
pub const REFERENCE_PREFIX: &str = "APU";

/// Hands out references: one sequence per year (Helsinki time), continuing from the highest
/// number in the store. The sequence is kept here because one gateway serves one data
/// directory (a lock file enforces it); the store's unique index on references backs it up.
#[derive(Default)]
pub struct References {
    next: tokio::sync::Mutex<HashMap<i32, u64>>,
}

impl References {
    pub async fn allocate(&self, store: &Store, year: i32) -> Result<String, StoreError> {
        let prefix = format!("{REFERENCE_PREFIX}-{year}-");
        let mut next = self.next.lock().await;
        let number = match next.get_mut(&year) {
            Some(n) => n,
            None => {
                let highest = store.max_reference_number(&prefix).await?;
                next.entry(year).or_insert(highest + 1)
            }
        };
        let reference = format!("{prefix}{number:06}");
        *number += 1;
        Ok(reference)
    }
}

/// The answer to an accepted help request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HelpRequestAccepted {
    /// Give this when calling guidance about the request.
    #[schema(example = "APU-2026-000123")]
    pub reference: String,
    pub case_id: Uuid,
    /// An answer is due by then: 16:15 Helsinki time on the next working day.
    pub due_by: DateTime<Utc>,
}

/// Why a help request was not taken.
#[derive(Debug)]
pub(crate) enum Refusal {
    Invalid(Vec<HelpFieldError>),
    /// The honeypot field was filled in (audited; nothing stored).
    Honeypot,
    RateLimited(Duration),
    Failed(ApiError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(errors) => ApiError::Invalid(
                errors
                    .iter()
                    .map(|e| InvalidField {
                        pointer: Some(e.field.pointer()),
                        parameter: None,
                        detail: e.detail(),
                    })
                    .collect(),
            ),
            Refusal::Honeypot => ApiError::Invalid(vec![InvalidField {
                pointer: Some(help::HelpField::Website.pointer()),
                parameter: None,
                detail: "the request could not be accepted; leave this field empty".into(),
            }]),
            Refusal::RateLimited(wait) => ApiError::RateLimited(wait),
            Refusal::Failed(e) => e,
        }
    }
}

/// What an accepted request produced: the answer (and its JSON, as audited) and the case.
pub(crate) struct Submitted {
    pub accepted: HelpRequestAccepted,
    pub body: Vec<u8>,
    pub case: Case,
}

fn event(request_id: &RequestId, outcome: &str, organisation: Option<String>, request_digest: &str) -> AuditEvent {
    AuditEvent {
        time: Utc::now(),
        actor: Actor {
            client_id: help::ACTOR.to_string(),
            end_user: None,
            role: None,
        },
        action: "case.create".into(),
        purpose: None,
        person: None,
        organisation,
        service: None,
        exchange_id: None,
        outcome: outcome.into(),
        request_digest: Some(request_digest.to_string()),
        response_digest: None,
        correlation_id: request_id.0.clone(),
    }
}

/// Takes a help request: rate limit, honeypot, normalisation, reference, one write with its
/// audit record. An invalid request does not count against the address's limit.
pub(crate) async fn submit(
    state: &AppState,
    peer: Option<IpAddr>,
    request_id: &RequestId,
    input: &HelpRequestInput,
    request_digest: &str,
) -> Result<Submitted, Refusal> {
    // Without a peer address (a server started without ConnectInfo) all share one budget.
    let address = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let slot = state.help_limiter.acquire(address, Instant::now()).map_err(|wait| {
        state.metrics.help_request("rate_limited");
        Refusal::RateLimited(wait)
    })?;
    if input.honeypot_filled() {
        state.metrics.help_request("honeypot");
        let organisation = help::municipality_code(input);
        state
            .store
            .append_audit(vec![event(request_id, "denied", organisation, request_digest)])
            .await?;
        return Err(Refusal::Honeypot);
    }
    let now = Utc::now();
    let case = help::normalise_help_request(
        input,
        &NormaliseContext {
            registry: &state.registry,
            limits: state.case_limits,
            now,
            id: Uuid::now_v7(),
            recorded_by: help::ACTOR,
        },
    );
    let mut case = match case {
        Ok(case) => case,
        Err(errors) => {
            state.help_limiter.release(slot);
            state.metrics.help_request("invalid");
            return Err(Refusal::Invalid(errors));
        }
    };
    let year = holidays::helsinki_local(case.received_at).year();
    let reference = state.help_references.allocate(&state.store, year).await?;
    case.reference = Some(reference.clone());
    let accepted = HelpRequestAccepted {
        reference,
        case_id: case.id,
        due_by: case.due_by.unwrap_or(now),
    };
    let body = serde_json::to_vec(&accepted).map_err(|_| Refusal::Failed(ApiError::Internal))?;
    let [organiser, owner] = case.organisations();
    let mut organisations = vec![owner.to_string()];
    if organiser != owner {
        organisations.push(organiser.to_string());
    }
    let response_digest = digest(&body);
    let audit = organisations
        .into_iter()
        .map(|organisation| AuditEvent {
            response_digest: Some(response_digest.clone()),
            ..event(request_id, "ok", Some(organisation), request_digest)
        })
        .collect();
    let write = Write {
        new_case: Some(NewCase {
            case: case.clone(),
            person: None,
        }),
        audit,
        ..Write::default()
    };
    match state.store.commit(write).await? {
        WriteOutcome::Committed { .. } => {
            state.metrics.help_request("accepted");
            Ok(Submitted { accepted, body, case })
        }
        _ => Err(Refusal::Failed(ApiError::Internal)),
    }
}

/// The peer's address, when the server was started with `ConnectInfo`.
pub(crate) fn peer_ip(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
}

/// Ask for help (public, no token). Creates an open case in the municipality's guidance queue,
/// anonymous unless a name or contact is given, due at the end of the next working day.
#[utoipa::path(post, path = "/v1/help-requests", tag = "help",
    request_body = HelpRequestInput,
    responses(
        (status = 201, description = "Accepted: the reference to give, the case, when an answer is due", body = HelpRequestAccepted),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each named by its pointer), or the request was refused", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: super::extract::JsonBody,
) -> Result<Response, ApiError> {
    let input: HelpRequestInput = body.parse().inspect_err(|_| state.metrics.help_request("invalid"))?;
    let submitted = submit(&state, peer_ip(peer), &request_id, &input, &digest(&body.bytes)).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        submitted.body,
    )
        .into_response())
}
