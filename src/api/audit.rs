//! `/v1/audit`: auditors search the trail and verify its chain.

use super::extract::QueryParams;
use super::layers::RequestId;
use super::params::{self, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, AppState};
use crate::audit::{self, AuditRecord, AuditStatus};
use crate::auth::{Caller, Scope};
use crate::case::IdentityCode;
use crate::store::AuditQuery;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Search the audit trail of the client's organisations. `person` is an identity code; it is
/// looked up by its keyed hash and never stored or logged in clear. The search itself is audited.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(
        ("person" = Option<String>, Query, description = "Personal identity code"),
        ("from" = Option<String>, Query, description = "At or after (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Before (RFC 3339)"),
        ("actor" = Option<String>, Query, description = "API client id"),
        ("action" = Option<String>, Query, description = "e.g. case.create, case.read"),
        ("organisation" = Option<String>, Query, description = "Only this organisation"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, default 100"),
    ),
    responses(
        (status = 200, description = "A page of records in sequence order", body = AuditPage),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn query(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Json<AuditPage>, ApiError> {
    require(&caller, Scope::AuditRead)?;
    let mut errors = Vec::new();
    params.only(
        &[
            "person",
            "from",
            "to",
            "actor",
            "action",
            "organisation",
            "cursor",
            "limit",
        ],
        &mut errors,
    );
    let organisations = params::organisations(&state, &caller, &params, &mut errors)?;
    let person = params.get("person").and_then(|p| match IdentityCode::parse(p) {
        Ok(id) => Some(state.hasher.key_of(&id)),
        Err(e) => {
            errors.push(InvalidField::parameter("person", e.to_string()));
            None
        }
    });
    let after_seq = params.get("cursor").and_then(|c| match c.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(InvalidField::parameter("cursor", "is not a cursor this API gave"));
            None
        }
    });
    let query = AuditQuery {
        person: person.clone(),
        from: params::time(&params, "from", &mut errors),
        to: params::time(&params, "to", &mut errors),
        actor: params.get("actor").map(str::to_string),
        action: params.get("action").map(str::to_string),
        after_seq,
        limit: params::limit(&params, state.limits.page_size_max, &mut errors),
        organisations,
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let page = state.store.audit_records(&query).await?;
    // One record per organisation searched, so that each one's auditors see the search.
    let events = query
        .organisations
        .iter()
        .map(|organisation| {
            let mut event = audit_event(&caller, &request_id, "audit.query", "ok");
            event.person = person.clone();
            event.organisation = Some(organisation.clone());
            event
        })
        .collect();
    state.store.append_audit(events).await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_cursor: page.next,
    }))
}

/// Recompute the whole hash chain (from the last archive's hash when rows were archived) and
/// check every checkpoint's signature, record and timestamp.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "The verification result; `problems` lists what failed, the first first", body = AuditStatus)),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AuditStatus>, ApiError> {
    require(&caller, Scope::AuditRead)?;
    if let Some(keys) = &state.audit_keys {
        return Ok(Json(audit::audit_status(&state.store, keys, &|_| {}).await?));
    }
    // Without the audit keys (an API under test alone) only the chain can be checked.
    let (head, broken) = audit::verify_stored(&state.store).await?;
    Ok(Json(AuditStatus {
        valid: broken.is_none(),
        records: head.seq,
        head_seq: head.seq,
        head_hash: head.hash,
        checkpoints: 0,
        last_checkpoint: None,
        archives: 0,
        archived_to_seq: 0,
        problems: broken
            .iter()
            .map(|b| format!("record {}: {}", b.seq, b.reason))
            .collect(),
        first_broken: broken,
    }))
}
