//! `/v1/imports/contact-centre`: a contact centre's CSV export of calls and chats becomes cases,
//! created or updated idempotently by call id. Every rejected row is reported with its line;
//! accepted rows are committed whatever happens to the others.

use super::cases::case_events;
use super::layers::{BodyLimit, RequestId};
use super::params::require;
use super::problem::{ApiError, InvalidField};
use super::AppState;
use crate::audit::{digest, AuditEvent};
use crate::auth::{Caller, Scope};
use crate::case::hetu::contains_identity_code;
use crate::case::{self, holidays, input::CaseInput, Case};
use crate::store::{IdempotencyClaim, NewCase, StoredResponse, Write, WriteOutcome};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The body limit of this route: exports are far larger than one case.
pub const CONTACT_CENTRE_BODY_BYTES: usize = 20 * 1024 * 1024;
pub const CONTACT_CENTRE_PATH: &str = "/v1/imports/contact-centre";

/// The idempotency namespace that maps `contact-centre/{organiser}/{call_id}` to its case,
/// whichever client imported it first.
const MAPPING_CLIENT: &str = "import:contact-centre";
/// Every claim has the same "request": a repeat always answers with the first case.
const MAPPING_HASH: &str = "contact-centre";
/// Rows committed concurrently (their writes share the store's group commits).
const WAVE: usize = 256;

const REQUIRED: [&str; 8] = [
    "call_id",
    "queue",
    "municipality",
    "language",
    "received",
    "answered",
    "ended",
    "outcome",
];

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportSummary {
    pub accepted: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: Vec<RejectedRow>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedRow {
    /// The line of the CSV body where the row starts (the header is line 1).
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// The column, as a JSON pointer (`/received`), or `/` for the whole row.
    pub field: String,
    pub detail: String,
}

fn row_error(field: &str, detail: impl Into<String>) -> RowError {
    RowError {
        field: field.to_string(),
        detail: detail.into(),
    }
}

/// A `text/csv` body within this route's limit.
pub struct CsvBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for CsvBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let is_csv = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("text/csv"));
        if !is_csv {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(CONTACT_CENTRE_BODY_BYTES);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(limit))?;
        Ok(Self(bytes))
    }
}

/// A row that normalised into a case.
struct Prepared {
    line: u64,
    call_id: String,
    key: String,
    case: Case,
}

enum RowOutcome {
    Created,
    Updated,
    Unchanged,
    Rejected(RejectedRow),
}

/// Import a contact centre's export of calls and chats (`text/csv`, header row
/// `call_id,queue,municipality,language,received,answered,ended,outcome[,channel]`).
/// Each call becomes an anonymous case of its municipality; importing the same call again
/// updates that case when a field changed and leaves it alone otherwise.
#[utoipa::path(post, path = "/v1/imports/contact-centre", tag = "cases",
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "What became of each row", body = ImportSummary),
        (status = 403, description = "Missing scope", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not text/csv", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The header row lacks a column", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn contact_centre(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    _headers: HeaderMap,
    CsvBody(body): CsvBody,
) -> Result<Response, ApiError> {
    require(&caller, Scope::CasesWrite)?;
    let request_hash = digest(&body);
    let now = Utc::now();
    let mut rows = ContactCentreRows::new(body.as_ref())?;
    let header = rows.header().clone();
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let missing: Vec<InvalidField> = REQUIRED
        .iter()
        .filter(|name| column(name).is_none())
        .map(|name| InvalidField::parameter("header", format!("lacks the column {name}")))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Invalid(missing));
    }
    let columns = Columns {
        call_id: column("call_id").unwrap_or(0),
        municipality: column("municipality").unwrap_or(0),
        language: column("language").unwrap_or(0),
        received: column("received").unwrap_or(0),
        answered: column("answered").unwrap_or(0),
        ended: column("ended").unwrap_or(0),
        outcome: column("outcome").unwrap_or(0),
        channel: column("channel"),
        width: header.len(),
    };

    let mut summary = ImportSummary::default();
    let mut prepared = Vec::new();
    let mut denied: Vec<AuditEvent> = Vec::new();
    while let Some((line, read)) = rows.next_row() {
        let record = match read {
            Ok(record) => record,
            Err(unreadable) => {
                summary.rejected.push(unreadable);
                continue;
            }
        };
        match prepare(&state, &caller, &columns, &record, line, now) {
            Ok(row) => {
                if !caller.acts_for(row.case.owner()) {
                    let mut events = case_events(&state, &caller, &request_id, "case.create", "denied", &row.case);
                    for event in &mut events {
                        event.request_digest = Some(request_hash.clone());
                    }
                    denied.extend(events);
                    summary.rejected.push(RejectedRow {
                        line,
                        call_id: Some(row.call_id),
                        errors: vec![row_error(
                            "/municipality",
                            format!("this client does not act for organisation {}", row.case.owner()),
                        )],
                    });
                } else {
                    prepared.push(row);
                }
            }
            Err(rejected) => summary.rejected.push(rejected),
        }
    }
    if !denied.is_empty() {
        state.store.append_audit(denied).await?;
    }

    // Waves of rows with distinct keys run concurrently; a call repeated in the file waits
    // for the next wave, so that its second row sees the case the first one made.
    let mut rows = prepared.into_iter().peekable();
    while rows.peek().is_some() {
        let mut keys = HashSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        while let Some(row) = rows.peek() {
            if keys.len() >= WAVE || keys.contains(&row.key) {
                break;
            }
            let row = rows.next().expect("peeked");
            keys.insert(row.key.clone());
            let (state, caller, request_id, request_hash) =
                (state.clone(), caller.clone(), request_id.clone(), request_hash.clone());
            tasks.spawn(async move { store_row(&state, &caller, &request_id, &request_hash, row).await });
        }
        while let Some(done) = tasks.join_next().await {
            match done.map_err(|_| ApiError::Internal)?? {
                RowOutcome::Created => summary.created += 1,
                RowOutcome::Updated => summary.updated += 1,
                RowOutcome::Unchanged => summary.unchanged += 1,
                RowOutcome::Rejected(row) => summary.rejected.push(row),
            }
        }
    }
    summary.accepted = summary.created + summary.updated + summary.unchanged;
    summary.rejected.sort_by_key(|r| r.line);
    for _ in 0..summary.accepted {
        state.metrics.case_intake("accepted");
    }
    let body = serde_json::to_vec(&summary).map_err(|_| ApiError::Internal)?;
    Ok(super::idempotency::json_response(StatusCode::OK, body))
}

/// The rows of a contact centre export as the CSV reader takes them, each with the line of the
/// body where it starts (the header is line 1), before any field is looked at. Public for the
/// fuzz target `csv_import`.
pub struct ContactCentreRows<'a> {
    reader: csv::Reader<&'a [u8]>,
    header: csv::StringRecord,
    lines: LineCounter<'a>,
    record: csv::StringRecord,
}

impl<'a> ContactCentreRows<'a> {
    /// Reads the header row; an unreadable one is a `422` naming the `header` parameter.
    pub fn new(body: &'a [u8]) -> Result<Self, ApiError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(body);
        let header = reader
            .headers()
            .map_err(|e| ApiError::Invalid(vec![InvalidField::parameter("header", format!("unreadable: {e}"))]))?
            .clone();
        Ok(Self {
            reader,
            header,
            lines: LineCounter {
                data: body,
                at: 0,
                line: 1,
            },
            record: csv::StringRecord::new(),
        })
    }

    pub fn header(&self) -> &csv::StringRecord {
        &self.header
    }

    /// The next row and its line, or the line of a row that cannot be read with why; `None` at
    /// the end. An I/O or UTF-8 error leaves the reader past the row, so reading carries on.
    pub fn next_row(&mut self) -> Option<(u64, Result<csv::StringRecord, RejectedRow>)> {
        let before = self.reader.position().byte();
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let start = self.record.position().map_or(before, |p| p.byte());
                let line = self.lines.line_at(start as usize);
                Some((line, Ok(self.record.clone())))
            }
            Err(e) => {
                let start = e.position().map_or(before, |p| p.byte());
                let line = self.lines.line_at(start as usize);
                Some((
                    line,
                    Err(RejectedRow {
                        line,
                        call_id: None,
                        errors: vec![row_error(
                            "/",
                            format!("not a readable CSV row: {}", csv_error_kind(&e)),
                        )],
                    }),
                ))
            }
        }
    }
}

/// Lines counted the way the CSV reader ends them: at `\r\n`, a lone `\r` or a lone `\n`.
/// (The reader's own `Position::line` counts only `\n`, so every row of a file with old Mac
/// line ends was "line 1".)
struct LineCounter<'a> {
    data: &'a [u8],
    at: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The line of the row the reader started reading at byte `offset`: past the blank lines
    /// the reader skips before it (its position is where it started looking). Offsets must not
    /// decrease from one call to the next.
    fn line_at(&mut self, offset: usize) -> u64 {
        let mut offset = offset.min(self.data.len());
        while offset < self.data.len() && matches!(self.data[offset], b'\r' | b'\n') {
            offset += 1;
        }
        while self.at < offset {
            match self.data[self.at] {
                b'\r' => self.line += 1,
                b'\n' if self.at == 0 || self.data[self.at - 1] != b'\r' => self.line += 1,
                _ => {}
            }
            self.at += 1;
        }
        self.line
    }
}

fn csv_error_kind(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
        _ => "malformed".to_string(),
    }
}

struct Columns {
    call_id: usize,
    municipality: usize,
    language: usize,
    received: usize,
    answered: usize,
    ended: usize,
    outcome: usize,
    channel: Option<usize>,
    width: usize,
}

/// CSV columns by the case fields the normaliser names.
const FIELD_OF_POINTER: &[(&str, &str)] = &[
    ("/organiser", "/municipality"),
    ("/received_at", "/received"),
    ("/answered_at", "/answered"),
    ("/closed_at", "/ended"),
];

fn prepare(
    state: &AppState,
    caller: &Caller,
    columns: &Columns,
    record: &csv::StringRecord,
    line: u64,
    now: DateTime<Utc>,
) -> Result<Prepared, RejectedRow> {
    let get = |i: usize| record.get(i).map(str::trim).filter(|v| !v.is_empty());
    let mut errors = Vec::new();
    let raw_call_id = get(columns.call_id);
    let call_id = match raw_call_id {
        None => {
            errors.push(row_error("/call_id", "is required"));
            None
        }
        Some(id) if contains_identity_code(id) => {
            errors.push(row_error(
                "/call_id",
                "must be the contact centre's id, not a personal identity code",
            ));
            None
        }
        Some(id) if id.chars().count() > 128 || id.chars().any(char::is_control) => {
            errors.push(row_error("/call_id", "at most 128 characters, no control characters"));
            None
        }
        Some(id) => Some(id.to_string()),
    };
    if record.len() != columns.width {
        errors.push(row_error(
            "/",
            format!("has {} fields, the header {}", record.len(), columns.width),
        ));
    }
    let channel = match columns.channel.and_then(get) {
        None => Some("phone"),
        Some(c) if c.eq_ignore_ascii_case("phone") => Some("phone"),
        Some(c) if c.eq_ignore_ascii_case("chat") => Some("chat"),
        Some(_) => {
            errors.push(row_error("/channel", "must be phone or chat"));
            None
        }
    };
    let mut time = |field: &str, i: usize| -> Option<String> {
        let value = get(i)?;
        match parse_time(value) {
            Some(t) => Some(t.to_rfc3339()),
            None => {
                errors.push(row_error(
                    field,
                    "must be RFC 3339 with an offset or YYYY-MM-DD HH:MM:SS in Helsinki time",
                ));
                None
            }
        }
    };
    let received = time("/received", columns.received);
    let answered = time("/answered", columns.answered);
    let ended = time("/ended", columns.ended);
    let received_bad = get(columns.received).is_some() && received.is_none();
    let answered_bad = get(columns.answered).is_some() && answered.is_none();
    let ended_bad = get(columns.ended).is_some() && ended.is_none();
    let outcome = get(columns.outcome);
    if let Some(o) = outcome {
        if !matches!(
            o,
            "resolved_first_contact" | "referred_service_need_assessment" | "transferred" | "open"
        ) {
            errors.push(row_error(
                "/outcome",
                "must be resolved_first_contact, referred_service_need_assessment, transferred or open",
            ));
        }
    }
    let input = CaseInput {
        organiser: get(columns.municipality).map(str::to_string),
        channel: channel.map(str::to_string),
        language: get(columns.language).map(str::to_string),
        received_at: received,
        answered_at: answered,
        closed_at: ended,
        outcome: outcome.map(str::to_string),
        ..CaseInput::default()
    };
    let normalised = case::normalise(
        input,
        &case::NormaliseContext {
            registry: &state.registry,
            limits: state.case_limits,
            now,
            id: Uuid::now_v7(),
            recorded_by: &caller.client_id,
        },
    );
    let case = match normalised {
        Ok(case) => Some(case),
        Err(problems) => {
            for problem in problems {
                let field = FIELD_OF_POINTER
                    .iter()
                    .find(|(pointer, _)| *pointer == problem.pointer)
                    .map(|(_, field)| *field)
                    .unwrap_or(problem.pointer.as_str())
                    .to_string();
                // Already reported by this import in its own words.
                let reported = (field == "/received" && received_bad)
                    || (field == "/answered" && answered_bad)
                    || (field == "/ended" && ended_bad)
                    || (field == "/channel" && channel.is_none())
                    || errors.iter().any(|e: &RowError| e.field == field);
                if !reported {
                    errors.push(RowError {
                        field,
                        detail: problem.detail,
                    });
                }
            }
            None
        }
    };
    match (case, call_id) {
        (Some(case), Some(call_id)) if errors.is_empty() => Ok(Prepared {
            line,
            key: format!("contact-centre/{}/{}", case.organiser, call_id),
            call_id,
            case,
        }),
        _ => Err(RejectedRow {
            line,
            call_id: raw_call_id.filter(|id| !contains_identity_code(id)).map(str::to_string),
            errors,
        }),
    }
}

/// RFC 3339 with an offset, or `YYYY-MM-DD HH:MM:SS` (also with a `T`) in Helsinki time.
fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(holidays::helsinki_to_utc)
}

/// Creates the call's case, or updates the one an earlier import made.
async fn store_row(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    request_hash: &str,
    row: Prepared,
) -> Result<RowOutcome, ApiError> {
    let existing = match state.store.idempotent_response(MAPPING_CLIENT, &row.key).await? {
        Some((_, stored)) => stored,
        None => {
            let response_body = serde_json::to_vec(&row.case).map_err(|_| ApiError::Internal)?;
            let mut events = case_events(state, caller, request_id, "case.create", "ok", &row.case);
            set_digests(&mut events, request_hash, &response_body);
            let write = Write {
                idempotency: Some(IdempotencyClaim {
                    client_id: MAPPING_CLIENT.to_string(),
                    key: row.key.clone(),
                    request_hash: MAPPING_HASH.to_string(),
                    response: StoredResponse {
                        status: 201,
                        location: Some(format!("/v1/cases/{}", row.case.id)),
                        body: response_body,
                    },
                }),
                new_case: Some(NewCase {
                    case: row.case.clone(),
                    person: None,
                }),
                audit: events,
                ..Write::default()
            };
            match state.store.commit(write).await? {
                WriteOutcome::Committed { .. } => return Ok(RowOutcome::Created),
                // Another import made the case meanwhile: update that one.
                WriteOutcome::Replayed(stored) => stored,
                WriteOutcome::KeyReused | WriteOutcome::Refused(_) => return Err(ApiError::Internal),
            }
        }
    };
    let first: Case = serde_json::from_slice(&existing.body).map_err(|_| ApiError::Internal)?;
    let Some(current) = state.store.case(first.id).await? else {
        return Err(ApiError::Internal);
    };
    if !current.organisations().iter().any(|o| caller.acts_for(o)) {
        return Ok(RowOutcome::Rejected(RejectedRow {
            line: row.line,
            call_id: Some(row.call_id),
            errors: vec![row_error(
                "/call_id",
                format!("the call's case belongs to organisation {}", current.owner()),
            )],
        }));
    }
    let updated = Case {
        id: current.id,
        recorded_at: current.recorded_at,
        recorded_by: current.recorded_by.clone(),
        // What an import does not carry stays as the case has it.
        handled_by: current.handled_by.clone(),
        client: current.client.clone(),
        contact_person: current.contact_person.clone(),
        topics: current.topics.clone(),
        notes: current.notes.clone(),
        reference: current.reference.clone(),
        due_by: current.due_by,
        source: current.source.clone(),
        ..row.case
    };
    if updated == current {
        return Ok(RowOutcome::Unchanged);
    }
    let response_body = serde_json::to_vec(&updated).map_err(|_| ApiError::Internal)?;
    let mut events = case_events(state, caller, request_id, "case.update", "ok", &updated);
    set_digests(&mut events, request_hash, &response_body);
    let person = updated.identity_code().map(|id| state.hasher.key_of(id));
    let write = Write {
        replaced_case: Some(NewCase { case: updated, person }),
        audit: events,
        ..Write::default()
    };
    match state.store.commit(write).await? {
        WriteOutcome::Committed { .. } => Ok(RowOutcome::Updated),
        _ => Err(ApiError::Internal),
    }
}

fn set_digests(events: &mut [AuditEvent], request: &str, response: &[u8]) {
    let response = digest(response);
    for event in events {
        event.request_digest = Some(request.to_string());
        event.response_digest = Some(response.clone());
    }
}

#[cfg(test)]
#[path = "imports_tests.rs"]
mod tests;
