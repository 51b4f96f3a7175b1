//! `oda-assessments`: completed Omaolo self-assessments addressed to each organisation become
//! cases (channel e-service, urgency and topics mapped, the source resource linked), from a
//! cursor kept in the store. A case is created once per assessment whatever happens (the
//! assessment id is the write's idempotency key), and the cursor only moves after its cases.

use super::JobResult;
use crate::audit::{Actor, AuditEvent, PersonHasher};
use crate::broker::Broker;
use crate::case::{input, normalise, CaseSource, Limits, NormaliseContext, OrganisationRegistry};
use crate::store::{IdempotencyClaim, NewCase, Store, StoredResponse, Write, WriteOutcome};
use chrono::Utc;
use portti_adapter_core::Operation;
use portti_oda::{Assessment, Cursor};
use serde_json::{json, Value};

/// What turning an assessment into a case needs besides the store.
#[derive(Clone)]
pub struct OdaSync {
    pub registry: OrganisationRegistry,
    pub hasher: PersonHasher,
    pub limits: Limits,
}

const JOB: &str = super::ODA_ASSESSMENTS;
/// The recorded_by of the cases and the idempotency namespace of the assessments.
const CLIENT: &str = "oda-sync";

pub async fn sync_assessments(store: &Store, broker: &Broker, sync: &OdaSync, only: Option<&[String]>) -> JobResult {
    let (mut created, mut seen, mut refused) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    for organisation in broker.adapters().organisations(portti_oda::SERVICE) {
        if only.is_some_and(|o| !o.contains(&organisation)) {
            continue;
        }
        let cursor: Option<Cursor> = match store.job_state(JOB, &organisation).await {
            Ok(state) => state.and_then(|s| serde_json::from_str(&s).ok()),
            Err(e) => {
                failures.push(format!("{organisation}: {e}"));
                continue;
            }
        };
        let operation = Operation {
            name: portti_oda::OP_SEARCH_COMPLETED.into(),
            payload: json!({ "organisation": organisation, "cursor": cursor }),
        };
        let reply = match broker.call_now(portti_oda::SERVICE, &organisation, &operation).await {
            Ok(reply) => reply,
            Err(e) => {
                failures.push(format!("{organisation}: {e}"));
                continue;
            }
        };
        let assessments: Vec<Assessment> =
            serde_json::from_value(reply.body.get("assessments").cloned().unwrap_or(Value::Null)).unwrap_or_default();
        for assessment in &assessments {
            seen += 1;
            match create_case(store, sync, &organisation, assessment).await {
                Ok(true) => created += 1,
                Ok(false) => {}
                Err(reason) => {
                    refused += 1;
                    failures.push(format!(
                        "{organisation}: QuestionnaireResponse/{}: {reason}",
                        assessment.id
                    ));
                }
            }
        }
        // Only after every case of the page is durable (or refused for good) does the cursor move.
        if let Some(next) = reply.body.get("cursor").filter(|c| !c.is_null()) {
            let write = Write {
                job_state: vec![(JOB.into(), organisation.clone(), next.to_string())],
                ..Write::default()
            };
            if let Err(e) = store.commit(write).await {
                failures.push(format!("{organisation}: cursor not saved: {e}"));
            }
        }
    }
    let counts = json!({ "assessments": seen, "cases_created": created, "refused": refused });
    if failures.is_empty() {
        Ok(counts)
    } else {
        Err((counts, failures.join("; ")))
    }
}

/// Ok(true) created, Ok(false) already there, Err(reason) refused (the reason names no person).
async fn create_case(
    store: &Store,
    sync: &OdaSync,
    organisation: &str,
    assessment: &Assessment,
) -> Result<bool, String> {
    // Case topics are coded with OID code systems; Omaolo's urgency and topic codes are not,
    // so they travel in the notes and (urgency) in the case's source link.
    let mut notes = format!("Omaolo self-assessment QuestionnaireResponse/{}", assessment.id);
    if let Some(urgency) = &assessment.urgency {
        notes.push_str(&format!("; urgency: {urgency}"));
    }
    if !assessment.topics.is_empty() {
        notes.push_str(&format!("; topics: {}", assessment.topics.join(", ")));
    }
    let received = assessment
        .authored
        .clone()
        .or_else(|| assessment.last_updated.clone())
        .unwrap_or_else(|| Utc::now().to_rfc3339());
    let body = json!({
        "organiser": organisation,
        "channel": "e_service",
        "language": assessment.language.clone().unwrap_or_else(|| "fi".into()),
        "received_at": received,
        "client": assessment.person_identity_code.as_ref().map(|code| json!({ "identity_code": code })),
        "topics": [],
        "outcome": "open",
        "notes": notes,
    });
    let case_input: input::CaseInput = serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
    let now = Utc::now();
    let mut case = normalise(
        case_input,
        &NormaliseContext {
            registry: &sync.registry,
            limits: sync.limits,
            now,
            id: uuid::Uuid::now_v7(),
            recorded_by: CLIENT,
        },
    )
    .map_err(|errors| {
        let fields: Vec<String> = errors.iter().map(|e| e.pointer.clone()).collect();
        format!("invalid fields {}", fields.join(", "))
    })?;
    case.source = Some(CaseSource {
        system: portti_oda::SERVICE.into(),
        resource: format!("QuestionnaireResponse/{}", assessment.id),
        urgency: assessment.urgency.clone(),
    });
    let person = case.identity_code().map(|id| sync.hasher.key_of(id));
    let event = AuditEvent {
        time: now,
        actor: Actor {
            client_id: CLIENT.into(),
            end_user: None,
            role: None,
        },
        action: "case.create".into(),
        purpose: None,
        person: person.clone(),
        organisation: Some(organisation.to_string()),
        service: Some(portti_oda::SERVICE.into()),
        exchange_id: None,
        outcome: "created".into(),
        request_digest: Some(crate::audit::digest(body.to_string().as_bytes())),
        response_digest: None,
        correlation_id: format!("oda:{}", assessment.id),
    };
    let response = serde_json::to_vec(&json!({ "case_id": case.id })).map_err(|e| e.to_string())?;
    let write = Write {
        idempotency: Some(IdempotencyClaim {
            client_id: CLIENT.into(),
            key: format!("{organisation}/QuestionnaireResponse/{}", assessment.id),
            request_hash: assessment.id.clone(),
            response: StoredResponse {
                status: 201,
                location: Some(format!("/v1/cases/{}", case.id)),
                body: response,
            },
        }),
        new_case: Some(NewCase { case, person }),
        audit: vec![event],
        ..Write::default()
    };
    match store.commit(write).await.map_err(|e| e.to_string())? {
        WriteOutcome::Committed { .. } => Ok(true),
        _ => Ok(false),
    }
}
