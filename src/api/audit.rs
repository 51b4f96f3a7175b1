//! `/v1/audit`: auditors search, export and verify the trail, and answer a person's request
//! for the disclosure report.

use super::extract::QueryParams;
use super::layers::RequestId;
use super::params::{self, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, AppState};
use crate::audit::disclosure::{self, DisclosureReport};
use crate::audit::export::{self, ExportFormat, ExportWriter};
use crate::audit::{self, AuditRecord, AuditStatus, PersonKey};
use crate::auth::{Caller, Scope};
use crate::case::{IdentityCode, Language};
use crate::store::AuditQuery;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::{StreamExt, TryStreamExt};
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
        ("service" = Option<String>, Query, description = "National service, e.g. suomifi-messages, kanta"),
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
            "service",
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
        organisations: Some(organisations.clone()),
        person: person.clone(),
        from: params::time(&params, "from", &mut errors),
        to: params::time(&params, "to", &mut errors),
        actor: params.get("actor").map(str::to_string),
        action: params.get("action").map(str::to_string),
        service: params.get("service").map(str::to_string),
        after_seq,
        limit: params::limit(&params, state.limits.page_size_max, &mut errors),
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let page = state.store.audit_records(&query).await?;
    // One record per organisation searched, so that each one's auditors see the search.
    record_audit_use(&state, &caller, &request_id, "audit.query", person, &organisations).await?;
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

/// One record per organisation covered, so that each one's auditors see the use of their trail.
async fn record_audit_use(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    action: &str,
    person: Option<PersonKey>,
    organisations: &[String],
) -> Result<(), ApiError> {
    let events = organisations
        .iter()
        .map(|organisation| {
            let mut event = audit_event(caller, request_id, action, "ok");
            event.person = person.clone();
            event.organisation = Some(organisation.clone());
            event
        })
        .collect();
    state.store.append_audit(events).await?;
    Ok(())
}

/// Export the audit trail of the client's organisations as JSON lines, CSV or a FHIR R4 bundle
/// of AuditEvent resources. The body streams; the export itself is audited.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit",
    params(
        ("from" = Option<String>, Query, description = "At or after: a date (Helsinki) or RFC 3339"),
        ("to" = Option<String>, Query, description = "Before (RFC 3339), or through this date"),
        ("format" = Option<String>, Query, description = "jsonl (default), csv or fhir"),
        ("organisation" = Option<String>, Query, description = "Only this organisation"),
    ),
    responses(
        (status = 200, description = "The records in sequence order", content_type = "application/x-ndjson"),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn export(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::AuditRead)?;
    let mut errors = Vec::new();
    params.only(&["from", "to", "format", "organisation"], &mut errors);
    let organisations = params::organisations(&state, &caller, &params, &mut errors)?;
    let format = match params.get("format") {
        None => Some(ExportFormat::Jsonl),
        Some(f) => ExportFormat::parse(f).or_else(|| {
            errors.push(InvalidField::parameter("format", "must be jsonl, csv or fhir"));
            None
        }),
    };
    let from = params::day_or_time(&params, "from", false, &mut errors);
    let to = params::day_or_time(&params, "to", true, &mut errors);
    let (from, to) = params::period(from, to, &mut errors);
    let (Some(format), true) = (format, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    record_audit_use(&state, &caller, &request_id, "audit.export", None, &organisations).await?;
    let query = AuditQuery {
        organisations: Some(organisations),
        person: None,
        from,
        to,
        actor: None,
        action: None,
        service: None,
        after_seq: None,
        limit: 1_000,
    };
    let mut writer = ExportWriter::new(format);
    let head = futures_util::stream::once(std::future::ready(Ok(writer.start())));
    let body = export::stored(state.store.clone(), query)
        .map_ok(move |record| writer.record(&record))
        .chain(futures_util::stream::once(std::future::ready(Ok(ExportWriter::new(
            format,
        )
        .finish()))));
    let body = head.chain(body).map_err(|e: crate::store::StoreError| {
        // The body is already on its way: cutting it short is the only signal left.
        tracing::error!(error = %e, "audit export failed mid-stream");
        std::io::Error::other("audit export failed")
    });
    let filename = format!(
        "portti-audit-{}.{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.file_extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The disclosure report for a person (Act 703/2023 § 11): every use and disclosure of their
/// data through Portti in the client's organisations, as JSON or a printable HTML page
/// (`format=html`, or an Accept header that prefers text/html). Audited like any read of the trail.
#[utoipa::path(get, path = "/v1/audit/people/{identity_code}/report", tag = "audit",
    params(
        ("identity_code" = String, Path, description = "Personal identity code"),
        ("from" = Option<String>, Query, description = "At or after: a date (Helsinki) or RFC 3339"),
        ("to" = Option<String>, Query, description = "Before (RFC 3339), or through this date"),
        ("lang" = Option<String>, Query, description = "fi (default) or sv"),
        ("format" = Option<String>, Query, description = "json or html (default: by Accept)"),
        ("organisation" = Option<String>, Query, description = "Only this organisation"),
    ),
    responses(
        (status = 200, description = "The report", body = DisclosureReport),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn disclosure_report(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(identity_code): Path<String>,
    headers: HeaderMap,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::AuditRead)?;
    let mut errors = Vec::new();
    params.only(&["from", "to", "lang", "format", "organisation"], &mut errors);
    let organisations = params::organisations(&state, &caller, &params, &mut errors)?;
    let identity_code = match IdentityCode::parse(&identity_code) {
        Ok(id) => Some(id),
        Err(e) => {
            errors.push(InvalidField::parameter("identity_code", e.to_string()));
            None
        }
    };
    let language = match params.get("lang") {
        None | Some("fi") => Language::Fi,
        Some("sv") => Language::Sv,
        Some(_) => {
            errors.push(InvalidField::parameter("lang", "must be fi or sv"));
            Language::Fi
        }
    };
    let html = match params.get("format") {
        Some("html") => true,
        Some("json") => false,
        None => prefers_html(&headers),
        Some(_) => {
            errors.push(InvalidField::parameter("format", "must be json or html"));
            false
        }
    };
    let from = params::day_or_time(&params, "from", false, &mut errors);
    let to = params::day_or_time(&params, "to", true, &mut errors);
    let period = params::period(from, to, &mut errors);
    let (Some(identity_code), true) = (identity_code, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let person = state.hasher.key_of(&identity_code);
    // Recorded first: the report then lists its own making, as the client would expect.
    record_audit_use(
        &state,
        &caller,
        &request_id,
        "audit.disclosure_report",
        Some(person.clone()),
        &organisations,
    )
    .await?;
    let query = AuditQuery {
        organisations: Some(organisations.clone()),
        person: Some(person),
        from: period.0,
        to: period.1,
        actor: None,
        action: None,
        service: None,
        after_seq: None,
        limit: 1_000,
    };
    let mut records: Vec<AuditRecord> = export::stored(state.store.clone(), query)
        .take(disclosure::MAX_ENTRIES + 1)
        .try_collect()
        .await?;
    let truncated = records.len() > disclosure::MAX_ENTRIES;
    records.truncate(disclosure::MAX_ENTRIES);
    let report = disclosure::build(
        identity_code.as_str(),
        language,
        period,
        organisations,
        &records,
        truncated,
        &state.registry,
    );
    if html {
        Ok((
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            disclosure::render_html(&report),
        )
            .into_response())
    } else {
        Ok(([(header::CACHE_CONTROL, "no-store")], Json(report)).into_response())
    }
}

/// True when the Accept header names text/html before any JSON type (a browser's does).
fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let html = accept.find("text/html");
    let json = accept.find("json");
    match (html, json) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}
