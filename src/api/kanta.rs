//! Kanta: archive a case's documents to the social welfare client data archive (through the
//! outbox), invalidate them, and read a person's archived documents back (synchronously, each
//! read audited as a disclosure).

use super::extract::{JsonBody, QueryParams};
use super::layers::RequestId;
use super::outbox::{accepted_event, commit_accepted, visible_case};
use super::params::{not_acting_for, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, idempotency, AppState};
use crate::audit::digest;
use crate::auth::{Caller, Scope};
use crate::broker::NewExchange;
use crate::case::{Case, IdentityCode, Language, Outcome};
use crate::store::{Exchange, ExchangeQuery, ExchangeStatus};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use portti_adapter_core::{AdapterError, Operation};
use portti_kanta::{self as kanta, DocumentKind, KantaAdapter};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// Codes sent when a request names none. They are the sandbox's; a registry keeper sets its own
/// per request (`service_task`, `document_group`, `service_process`).
const DEFAULT_SERVICE_TASK: &str = "10";
const DEFAULT_SERVICE_PROCESS: &str = "2";

fn default_document_group(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::ClientRelationship => "1",
        DocumentKind::ContactRecord => "2",
        DocumentKind::ServiceNeedAssessmentReferral => "3",
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KantaDocumentInput {
    /// `client_relationship`, `contact_record` or `service_need_assessment_referral`.
    #[schema(example = "contact_record")]
    pub kind: Option<String>,
    /// Archive a new version replacing the current one (e.g. with an `addendum`).
    #[serde(default)]
    pub new_version: bool,
    /// The professional who wrote it; absent: the regional system (system signature only).
    pub author: Option<AuthorInput>,
    /// A correction or addition shown in this version's display form.
    pub addendum: Option<String>,
    /// `fi` or `sv`; default the case's language (Swedish cases in Swedish, others in Finnish).
    pub language: Option<String>,
    /// Social welfare service task (code system 1.2.246.537.6.1221).
    pub service_task: Option<String>,
    /// Document group (code system 1.2.246.537.6.1505).
    pub document_group: Option<String>,
    /// Service process (code system 1.2.246.537.6.1277).
    pub service_process: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorInput {
    /// The professional's id in the regional system.
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentAccepted {
    pub exchange_id: Uuid,
    /// `accepted` when queued now, `exists` when this version was already queued or archived.
    pub status: String,
    pub kind: String,
    pub version: u32,
    pub document_oid: String,
    pub set_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidationInput {
    #[schema(example = "contact_record")]
    pub kind: Option<String>,
    /// `written_in_error` or `wrong_person`.
    #[schema(example = "written_in_error")]
    pub reason: Option<String>,
}

fn field(pointer: &str, detail: &str) -> InvalidField {
    InvalidField {
        pointer: Some(pointer.to_string()),
        parameter: None,
        detail: detail.to_string(),
    }
}

fn parse_kind(kind: Option<&str>, errors: &mut Vec<InvalidField>) -> Option<DocumentKind> {
    let Some(kind) = kind else {
        errors.push(field("/kind", "is required"));
        return None;
    };
    let parsed = serde_json::from_value::<DocumentKind>(serde_json::Value::String(kind.trim().to_string())).ok();
    if parsed.is_none() {
        errors.push(field(
            "/kind",
            "must be client_relationship, contact_record or service_need_assessment_referral",
        ));
    }
    parsed
}

fn kanta_adapter(state: &AppState) -> Result<Arc<KantaAdapter>, ApiError> {
    state
        .kanta
        .clone()
        .ok_or_else(|| ApiError::Unavailable("Kanta is not configured".into()))
}

/// The Kanta archive exchanges already made for a case's document of one kind, oldest first.
async fn document_exchanges(state: &AppState, case: &Case, kind: DocumentKind) -> Result<Vec<Exchange>, ApiError> {
    let page = state
        .store
        .exchanges(&ExchangeQuery {
            organisations: vec![case.owner().to_string()],
            status: None,
            service: Some(kanta::SERVICE.to_string()),
            case_id: Some(case.id),
            after: None,
            limit: 1000,
        })
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter(|e| e.payload.get("kind").and_then(|k| k.as_str()) == Some(kind.as_str()))
        .collect())
}

fn version_of(exchange: &Exchange) -> u32 {
    exchange.payload.get("version").and_then(|v| v.as_u64()).unwrap_or(1) as u32
}

/// Archive a document of a case. A repeat for a version already queued or archived answers 200
/// with that exchange; `new_version: true` archives the next version.
#[utoipa::path(post, path = "/v1/cases/{id}/kanta-documents", tag = "kanta",
    params(("id" = Uuid, Path, description = "The case id")),
    request_body = KantaDocumentInput,
    responses(
        (status = 202, description = "Accepted into the outbox", body = DocumentAccepted, headers(("Location" = String))),
        (status = 200, description = "This version was already accepted", body = DocumentAccepted),
        (status = 403, description = "Missing scope or another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn archive(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require(&caller, Scope::KantaArchive)?;
    let Ok(Path(id)) = id else {
        return Err(ApiError::NotFound("no such case".into()));
    };
    let broker = state
        .broker
        .clone()
        .ok_or_else(|| ApiError::Unavailable("no broker runs".into()))?;
    let adapter = kanta_adapter(&state)?;
    let case = visible_case(&state, &caller, &request_id, id, "kanta.document").await?;
    let input: KantaDocumentInput = body.parse()?;
    let organisation = case.owner().to_string();
    let mut errors = Vec::new();
    if !adapter.organisations().any(|o| o == organisation) {
        errors.push(field(
            "/organisation",
            "the case's organisation has no Kanta archive configured",
        ));
    }
    let kind = parse_kind(input.kind.as_deref(), &mut errors);
    let language = match input.language.as_deref().map(str::trim) {
        None => Some(if case.language == Language::Sv {
            kanta::Language::Sv
        } else {
            kanta::Language::Fi
        }),
        Some("fi") => Some(kanta::Language::Fi),
        Some("sv") => Some(kanta::Language::Sv),
        Some(_) => {
            errors.push(field("/language", "must be fi or sv"));
            None
        }
    };
    if case.client.is_none() {
        errors.push(field(
            "/client",
            "the case is anonymous: a client document needs the client's identity code",
        ));
    }
    let (Some(kind), Some(language), Some(client)) = (kind, language, case.client.clone()) else {
        return Err(ApiError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }

    let earlier: Vec<Exchange> = document_exchanges(&state, &case, kind)
        .await?
        .into_iter()
        .filter(|e| e.status != ExchangeStatus::Dead)
        .collect();
    let current = earlier.iter().max_by_key(|e| version_of(e));
    let version = match (current, input.new_version) {
        (None, false) => 1,
        (None, true) => {
            return Err(ApiError::Invalid(vec![field(
                "/new_version",
                "nothing of this kind is archived for the case yet",
            )]))
        }
        (Some(current), false) => {
            let version = version_of(current);
            let ids = adapter
                .document_ids(&organisation, &case.id.to_string(), kind, version)
                .ok_or(ApiError::Internal)?;
            let body = accepted_body(current.id, "exists", kind, version, &ids)?;
            return Ok(idempotency::json_response(StatusCode::OK, body));
        }
        (Some(current), true) => version_of(current) + 1,
    };
    let previous_document_oid = (version > 1)
        .then(|| adapter.document_ids(&organisation, &case.id.to_string(), kind, version - 1))
        .flatten()
        .map(|ids| ids.document_oid);
    let author = match &input.author {
        Some(a) => kanta::Author {
            kind: kanta::AuthorKind::Professional,
            id: a.id.clone(),
            name: a.name.clone(),
        },
        None => kanta::Author {
            kind: kanta::AuthorKind::System,
            id: caller.client_id.clone(),
            name: caller.client_id.clone(),
        },
    };
    let document = kanta::ArchiveDocument {
        organisation: organisation.clone(),
        case_id: case.id.to_string(),
        kind,
        version,
        previous_document_oid,
        service_event_oid: None,
        person: kanta::Person {
            identity_code: client.identity_code.as_str().to_string(),
            given_name: client.given_name.clone(),
            family_name: client.family_name.clone(),
        },
        author,
        language,
        effective_time: case.received_at,
        service_task: input
            .service_task
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVICE_TASK.into()),
        document_group: input
            .document_group
            .clone()
            .unwrap_or_else(|| default_document_group(kind).into()),
        service_process: input
            .service_process
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVICE_PROCESS.into()),
        confidentiality: 3,
        title: display::title(kind, language).to_string(),
        content: serde_json::to_value(&case).map_err(|_| ApiError::Internal)?,
        sections: display::sections(&case, kind, language, input.addendum.as_deref()),
    };
    let operation = Operation {
        name: if version == 1 {
            kanta::OP_ARCHIVE
        } else {
            kanta::OP_ARCHIVE_VERSION
        }
        .to_string(),
        payload: serde_json::to_value(&document).map_err(|_| ApiError::Internal)?,
    };
    // The adapter's own rules; the pointers name the request's fields where they come from it.
    let problems = adapter.check(&operation);
    if !problems.is_empty() {
        return Err(ApiError::Invalid(
            problems
                .into_iter()
                .map(|(pointer, detail)| field(&request_pointer(&pointer), &detail))
                .collect(),
        ));
    }
    let ids = adapter
        .document_ids(&organisation, &case.id.to_string(), kind, version)
        .ok_or(ApiError::Internal)?;
    let exchange = NewExchange {
        service: kanta::SERVICE.to_string(),
        organisation,
        operation: operation.name,
        payload: operation.payload,
        person: Some(state.hasher.key_of(&client.identity_code)),
        case_id: Some(case.id),
        recorded_by: caller.client_id.clone(),
        correlation_id: request_id.0.clone(),
    }
    .into_exchange();
    let response_body = accepted_body(exchange.id, "accepted", kind, version, &ids)?;
    let mut event = accepted_event(&exchange, &caller, &request_id, "kanta.archive", &body.bytes);
    event.response_digest = Some(digest(&response_body));
    commit_accepted(&state, &broker, exchange, event, response_body).await
}

/// Adapter payload pointers that come from the request body keep their name; the others
/// (derived from the case) point at the case.
fn request_pointer(pointer: &str) -> String {
    const FROM_REQUEST: [&str; 5] = [
        "/service_task",
        "/document_group",
        "/service_process",
        "/author",
        "/language",
    ];
    if FROM_REQUEST.iter().any(|p| pointer.starts_with(p)) {
        pointer.to_string()
    } else if pointer.starts_with("/sections") {
        "/addendum".to_string()
    } else {
        format!("/case{pointer}")
    }
}

fn accepted_body(
    exchange_id: Uuid,
    status: &str,
    kind: DocumentKind,
    version: u32,
    ids: &kanta::DocumentIds,
) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&DocumentAccepted {
        exchange_id,
        status: status.to_string(),
        kind: kind.as_str().to_string(),
        version,
        document_oid: ids.document_oid.clone(),
        set_id: ids.set_id.clone(),
    })
    .map_err(|_| ApiError::Internal)
}

/// Invalidate the current version of a case's document (written in error or about the wrong person).
#[utoipa::path(post, path = "/v1/cases/{id}/kanta-documents/invalidations", tag = "kanta",
    params(("id" = Uuid, Path, description = "The case id")),
    request_body = InvalidationInput,
    responses(
        (status = 202, description = "Accepted into the outbox", body = super::messages::Accepted, headers(("Location" = String))),
        (status = 403, description = "Missing scope or another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn invalidate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require(&caller, Scope::KantaArchive)?;
    let Ok(Path(id)) = id else {
        return Err(ApiError::NotFound("no such case".into()));
    };
    let broker = state
        .broker
        .clone()
        .ok_or_else(|| ApiError::Unavailable("no broker runs".into()))?;
    let case = visible_case(&state, &caller, &request_id, id, "kanta.document").await?;
    let input: InvalidationInput = body.parse()?;
    let mut errors = Vec::new();
    let kind = parse_kind(input.kind.as_deref(), &mut errors);
    let reason = match input.reason.as_deref().map(str::trim) {
        Some("written_in_error") => Some(kanta::InvalidationReason::WrittenInError),
        Some("wrong_person") => Some(kanta::InvalidationReason::WrongPerson),
        Some(_) => {
            errors.push(field("/reason", "must be written_in_error or wrong_person"));
            None
        }
        None => {
            errors.push(field("/reason", "is required"));
            None
        }
    };
    let (Some(kind), Some(reason), Some(client)) = (kind, reason, case.client.clone()) else {
        if case.client.is_none() {
            errors.push(field("/client", "the case is anonymous: nothing was archived for it"));
        }
        return Err(ApiError::Invalid(errors));
    };
    let archived = document_exchanges(&state, &case, kind).await?;
    let Some(current) = archived
        .iter()
        .filter(|e| e.operation != kanta::OP_INVALIDATE && e.status == ExchangeStatus::Succeeded)
        .max_by_key(|e| version_of(e))
    else {
        return Err(ApiError::Invalid(vec![field(
            "/kind",
            "no document of this kind has been archived for the case",
        )]));
    };
    let payload = kanta::InvalidateDocument {
        organisation: case.owner().to_string(),
        case_id: case.id.to_string(),
        kind,
        version: version_of(current),
        identity_code: client.identity_code.as_str().to_string(),
        reason,
    };
    let exchange = NewExchange {
        service: kanta::SERVICE.to_string(),
        organisation: case.owner().to_string(),
        operation: kanta::OP_INVALIDATE.to_string(),
        payload: serde_json::to_value(&payload).map_err(|_| ApiError::Internal)?,
        person: Some(state.hasher.key_of(&client.identity_code)),
        case_id: Some(case.id),
        recorded_by: caller.client_id.clone(),
        correlation_id: request_id.0.clone(),
    }
    .into_exchange();
    let response_body = serde_json::to_vec(&super::messages::Accepted {
        exchange_id: exchange.id,
        status: "accepted".into(),
    })
    .map_err(|_| ApiError::Internal)?;
    let event = accepted_event(&exchange, &caller, &request_id, "kanta.invalidate", &body.bytes);
    commit_accepted(&state, &broker, exchange, event, response_body).await
}

/// A person's documents in the archive, as the archive lists them (current, replaced and
/// invalidated versions). Every look is audited as a disclosure of that person's data.
#[utoipa::path(get, path = "/v1/kanta/documents", tag = "kanta",
    params(
        ("person" = String, Query, description = "The person's identity code"),
        ("organisation" = Option<String>, Query, description = "The registry keeper asking (one the client acts for); default the client's only one with Kanta"),
    ),
    responses(
        (status = 200, description = "The archive's answer", body = Object),
        (status = 403, description = "Missing scope or another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The archive refused or failed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::KantaRead)?;
    let adapter = kanta_adapter(&state)?;
    let mut errors = Vec::new();
    let person = match params.get("person").map(IdentityCode::parse) {
        None => {
            errors.push(InvalidField::parameter("person", "is required"));
            None
        }
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            errors.push(InvalidField::parameter("person", e.to_string()));
            None
        }
    };
    let organisation = reading_organisation(&state, &caller, &adapter, &params, &mut errors)?;
    let (Some(person), Some(organisation)) = (person, organisation) else {
        return Err(ApiError::Invalid(errors));
    };
    let operation = Operation {
        name: kanta::OP_SEARCH.into(),
        payload: serde_json::to_value(kanta::SearchDocuments {
            organisation: organisation.clone(),
            identity_code: person.as_str().to_string(),
        })
        .map_err(|_| ApiError::Internal)?,
    };
    read_through(
        &state,
        &caller,
        &request_id,
        &organisation,
        &person,
        "kanta.search",
        operation,
    )
    .await
}

/// One archived document with its content (the signed CDA R2 document).
#[utoipa::path(get, path = "/v1/kanta/documents/{oid}", tag = "kanta",
    params(
        ("oid" = String, Path, description = "The document OID"),
        ("organisation" = Option<String>, Query, description = "The registry keeper asking"),
    ),
    responses(
        (status = 200, description = "The archive's answer", body = Object),
        (status = 403, description = "Missing scope or another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The archive refused or failed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn fetch(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(oid): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::KantaRead)?;
    let adapter = kanta_adapter(&state)?;
    let mut errors = Vec::new();
    let organisation = reading_organisation(&state, &caller, &adapter, &params, &mut errors)?;
    let Some(organisation) = organisation else {
        return Err(ApiError::Invalid(errors));
    };
    let operation = Operation {
        name: kanta::OP_FETCH.into(),
        payload: serde_json::to_value(kanta::FetchDocument {
            organisation: organisation.clone(),
            document_oid: oid,
        })
        .map_err(|_| ApiError::Internal)?,
    };
    let problems = adapter.check(&operation);
    if !problems.is_empty() {
        return Err(ApiError::Invalid(
            problems
                .into_iter()
                .map(|(pointer, detail)| field(&pointer, &detail))
                .collect(),
        ));
    }
    let reply = call(&state, &organisation, &operation).await;
    let mut event = audit_event(
        &caller,
        &request_id,
        "kanta.fetch",
        if reply.is_ok() { "ok" } else { "failed" },
    );
    event.organisation = Some(organisation.clone());
    event.service = Some(kanta::SERVICE.into());
    let person = reply
        .as_ref()
        .ok()
        .and_then(|r| {
            r.body
                .pointer("/documents/0/identity_code")
                .or_else(|| r.body.get("identity_code"))
        })
        .and_then(|v| v.as_str())
        .and_then(|code| IdentityCode::parse(code).ok());
    event.person = person.map(|p| state.hasher.key_of(&p));
    finish_read(&state, event, reply).await
}

/// The organisation a read is made for: the one named (which the caller must act for and
/// which must have Kanta), else the caller's only organisation with Kanta.
fn reading_organisation(
    state: &AppState,
    caller: &Caller,
    adapter: &KantaAdapter,
    params: &QueryParams,
    errors: &mut Vec<InvalidField>,
) -> Result<Option<String>, ApiError> {
    let configured = |o: &str| adapter.organisations().any(|c| c == o);
    match params.get("organisation") {
        Some(name) => match state.registry.resolve(name) {
            None => {
                errors.push(InvalidField::parameter("organisation", "is not a known organisation"));
                Ok(None)
            }
            Some(org) if !caller.acts_for(&org.id) => Err(not_acting_for(&org.id)),
            Some(org) if !configured(&org.id) => {
                errors.push(InvalidField::parameter(
                    "organisation",
                    "has no Kanta archive configured",
                ));
                Ok(None)
            }
            Some(org) => Ok(Some(org.id)),
        },
        None => {
            let mut with_kanta = caller.orgs.iter().filter(|o| configured(o));
            match (with_kanta.next(), with_kanta.next()) {
                (Some(only), None) => Ok(Some(only.clone())),
                (None, _) => Err(ApiError::Forbidden(
                    "none of this client's organisations has a Kanta archive configured".into(),
                )),
                (Some(_), Some(_)) => {
                    errors.push(InvalidField::parameter(
                        "organisation",
                        "is required: this client acts for several organisations with Kanta",
                    ));
                    Ok(None)
                }
            }
        }
    }
}

async fn call(
    state: &AppState,
    organisation: &str,
    operation: &Operation,
) -> Result<portti_adapter_core::Reply, AdapterError> {
    let broker = state
        .broker
        .clone()
        .ok_or_else(|| AdapterError::Transient("no broker runs".into()))?;
    broker.call_now(kanta::SERVICE, organisation, operation).await
}

#[allow(clippy::too_many_arguments)]
async fn read_through(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    organisation: &str,
    person: &IdentityCode,
    action: &str,
    operation: Operation,
) -> Result<Response, ApiError> {
    let reply = call(state, organisation, &operation).await;
    let mut event = audit_event(caller, request_id, action, if reply.is_ok() { "ok" } else { "failed" });
    event.organisation = Some(organisation.to_string());
    event.service = Some(kanta::SERVICE.into());
    event.person = Some(state.hasher.key_of(person));
    finish_read(state, event, reply).await
}

/// Audits the read (before answering) and turns the archive's answer into the response.
async fn finish_read(
    state: &AppState,
    mut event: crate::audit::AuditEvent,
    reply: Result<portti_adapter_core::Reply, AdapterError>,
) -> Result<Response, ApiError> {
    match reply {
        Ok(reply) => {
            let body = serde_json::to_vec(&reply.body).map_err(|_| ApiError::Internal)?;
            event.request_digest = reply.request_digest;
            event.response_digest = reply.response_digest;
            state.store.append_audit(vec![event]).await?;
            Ok(idempotency::json_response(StatusCode::OK, body))
        }
        Err(error) => {
            state.store.append_audit(vec![event]).await?;
            Err(match error {
                AdapterError::Permanent(reason) => ApiError::Upstream(reason),
                other => ApiError::Unavailable(format!("the Kanta archive cannot answer now: {other}")),
            })
        }
    }
}

/// The display form (XHTML in the document) in Finnish or Swedish, from the canonical case.
mod display {
    use super::*;
    use portti_kanta::DisplaySection;

    pub fn title(kind: DocumentKind, language: kanta::Language) -> &'static str {
        use kanta::Language::*;
        match (kind, language) {
            (DocumentKind::ClientRelationship, Fi) => "Asiakkuusasiakirja",
            (DocumentKind::ClientRelationship, Sv) => "Klientrelationshandling",
            (DocumentKind::ContactRecord, Fi) => "Yhteydenotto",
            (DocumentKind::ContactRecord, Sv) => "Kontakt",
            (DocumentKind::ServiceNeedAssessmentReferral, Fi) => "Ohjaus palvelutarpeen arviointiin",
            (DocumentKind::ServiceNeedAssessmentReferral, Sv) => "Hänvisning till bedömning av servicebehov",
        }
    }

    fn label(fi: &'static str, sv: &'static str, language: kanta::Language) -> &'static str {
        if language == kanta::Language::Sv {
            sv
        } else {
            fi
        }
    }

    fn outcome(outcome: Outcome, language: kanta::Language) -> &'static str {
        match outcome {
            Outcome::ResolvedFirstContact => label(
                "Ratkaistu ensimmäisellä yhteydenotolla",
                "Löst vid första kontakten",
                language,
            ),
            Outcome::ReferredServiceNeedAssessment => label(
                "Ohjattu palvelutarpeen arviointiin",
                "Hänvisad till bedömning av servicebehov",
                language,
            ),
            Outcome::Transferred => label(
                "Siirretty toiselle organisaatiolle",
                "Överförd till en annan organisation",
                language,
            ),
            Outcome::Open => label("Kesken", "Pågående", language),
        }
    }

    fn channel(case: &Case, language: kanta::Language) -> &'static str {
        use crate::case::Channel::*;
        match case.channel {
            Phone => label("puhelin", "telefon", language),
            Chat => label("chat", "chatt", language),
            Email => label("sähköposti", "e-post", language),
            FaceToFace => label("käynti", "besök", language),
            EService => label("sähköinen asiointi", "e-tjänst", language),
            HelpButton => label("pyydä apua -painike", "be om hjälp-knappen", language),
        }
    }

    pub fn sections(
        case: &Case,
        kind: DocumentKind,
        language: kanta::Language,
        addendum: Option<&str>,
    ) -> Vec<DisplaySection> {
        let received = case.received_at.format("%d.%m.%Y %H:%M UTC").to_string();
        let mut contact = vec![
            format!("{}: {received}", label("Vastaanotettu", "Mottagen", language)),
            format!("{}: {}", label("Kanava", "Kanal", language), channel(case, language)),
        ];
        if let Some(person) = &case.contact_person {
            let name = [person.given_name.as_deref(), person.family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if !name.is_empty() {
                contact.push(format!("{}: {name}", label("Yhteyshenkilö", "Kontaktperson", language)));
            }
        }
        let topics: Vec<String> = case
            .topics
            .iter()
            .map(|t| t.display.clone().unwrap_or_else(|| t.code.clone()))
            .collect();
        let mut sections = vec![DisplaySection {
            heading: title(kind, language).to_string(),
            paragraphs: contact,
        }];
        if !topics.is_empty() {
            sections.push(DisplaySection {
                heading: label("Asia", "Ärende", language).to_string(),
                paragraphs: topics,
            });
        }
        let mut handling = vec![outcome(case.outcome, language).to_string()];
        if let Some(notes) = case.notes.as_deref().filter(|n| !n.trim().is_empty()) {
            handling.push(notes.to_string());
        }
        sections.push(DisplaySection {
            heading: label("Käsittely", "Handläggning", language).to_string(),
            paragraphs: handling,
        });
        if let Some(addendum) = addendum.filter(|a| !a.trim().is_empty()) {
            sections.push(DisplaySection {
                heading: label("Lisäys tai korjaus", "Tillägg eller rättelse", language).to_string(),
                paragraphs: vec![addendum.to_string()],
            });
        }
        sections
    }
}
