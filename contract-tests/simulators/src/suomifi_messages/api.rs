//! The endpoints of the real API and the control endpoints under `/_simulator/`.

// Handlers and their helpers return the error response itself (`Result<_, Response>`), the axum idiom; the
// size of `Response` does not matter on this path.
#![allow(clippy::result_large_err)]

use super::identity::{is_valid_business_id, is_valid_identity_code};
use super::schema::{self, Schema};
use super::{
    event, message_metadata, Channel, Fault, Inner, Sim, StoredAttachment, StoredMessage, TokenState,
    MAX_ATTACHMENT_CONTENT_LENGTH,
};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

type Result<T, E = Response> = std::result::Result<T, E>;

/// Content types `POST /v2/attachments` accepts (the spec's list).
pub const ALLOWED_ATTACHMENT_TYPES: [&str; 12] = [
    "application/msword",
    "application/pdf",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "image/jpeg",
    "image/png",
    "text/plain",
];

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v1/token", post(token))
        .route("/v1/change-password", post(change_password))
        .route("/v1/mailboxes/active", post(mailboxes_active))
        .route("/v2/attachments", post(upload_attachment))
        .route("/v2/messages/electronic", post(send_electronic))
        .route("/v2/messages", post(send_multichannel))
        .route("/v2/paper-mail-without-id", post(send_paper_without_id))
        .route("/v2/events", get(events))
        .route("/v2/messages/{id}", get(end_user_message))
        .route(
            "/_simulator/faults",
            post(inject_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_simulator/messages", get(list_messages))
        .route("/_simulator/citizen/read", post(citizen_read))
        .route("/_simulator/citizen/reply", post(citizen_reply))
        .route("/_simulator/mailboxes", post(set_mailbox))
        .route("/_simulator/tokens/expire", post(expire_tokens))
        .route("/_simulator/requests", get(request_log).delete(clear_request_log))
        .route("/_simulator/sends", get(send_counts))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found") })
        .with_state(sim)
}

// ---- responses ----

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `ErrorResponseV1`.
pub fn error(status: StatusCode, reason: &str) -> Response {
    json_response(status, json!({ "reason": reason }))
}

/// `400` `ValidationErrorResponseV1`; each error is (message, errorCode).
fn validation_errors(errors: &[(String, Option<&str>)]) -> Response {
    let list: Vec<Value> = errors
        .iter()
        .map(|(error, code)| match code {
            Some(code) => json!({ "error": error, "errorCode": code }),
            None => json!({ "error": error }),
        })
        .collect();
    json_response(
        StatusCode::BAD_REQUEST,
        json!({ "reason": "Bad request", "validationErrors": list }),
    )
}

/// How an endpoint shapes its `400`.
#[derive(Clone, Copy)]
enum Shape {
    /// `ErrorResponseV1`: the problems joined into `reason`.
    Reason,
    /// `ValidationErrorResponseV1`: one `validationErrors` entry per problem.
    Validation,
}

fn bad_request(shape: Shape, errors: Vec<String>) -> Response {
    match shape {
        Shape::Reason => error(StatusCode::BAD_REQUEST, &format!("Bad request: {}", errors.join("; "))),
        Shape::Validation => validation_errors(&errors.into_iter().map(|e| (e, None)).collect::<Vec<_>>()),
    }
}

// ---- request helpers ----

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The account of a valid bearer token, else `401`.
fn authenticate(sim: &Sim, headers: &HeaderMap) -> Result<String> {
    let unauthorized = || error(StatusCode::UNAUTHORIZED, "Unauthorized");
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let mut inner = sim.lock();
    match inner.tokens.get(token) {
        Some(state) if state.expires_at > Instant::now() => Ok(state.username.clone()),
        Some(_) => {
            inner.tokens.remove(token);
            Err(unauthorized())
        }
        None => Err(unauthorized()),
    }
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// A JSON body valid against `schema`.
fn parse(headers: &HeaderMap, body: &[u8], schema: &Schema, shape: Shape) -> Result<Value> {
    if media_type(headers).as_deref() != Some("application/json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(shape, vec![format!("request body: malformed JSON ({e})")]))?;
    let errors = schema::validate(&value, schema);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(bad_request(shape, errors))
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn new_token() -> String {
    format!("sim.{}.{}", Uuid::now_v7().simple(), Uuid::now_v7().simple())
}

// ---- /v1/token, /v1/change-password ----

async fn token(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let request = parse(&headers, &body, &schema::ACCESS_TOKEN_REQUEST, Shape::Reason)?;
    let username = str_at(&request, "/username");
    let mut inner = sim.lock();
    if inner.passwords.get(username).map(String::as_str) != Some(str_at(&request, "/password")) {
        return Err(error(StatusCode::BAD_REQUEST, "Authentication failed"));
    }
    let token = new_token();
    let expires_at = Instant::now() + sim.token_ttl;
    inner.tokens.insert(
        token.clone(),
        TokenState {
            username: username.to_string(),
            expires_at,
        },
    );
    Ok(json_response(
        StatusCode::OK,
        json!({ "access_token": token, "expires_in": sim.token_ttl.as_secs(), "token_type": "Bearer" }),
    ))
}

/// The spec's policy: at least 32 characters with a lower case letter, an upper case letter, a number and a
/// symbol (ASCII punctuation or space, as Cognito counts them).
pub fn password_policy_problems(password: &str) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if password.chars().count() < 32 {
        problems.push("at least 32 characters");
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        problems.push("a lower case letter");
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        problems.push("an upper case letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        problems.push("a number");
    }
    if !password.chars().any(|c| c.is_ascii_punctuation() || c == ' ') {
        problems.push("a symbol");
    }
    problems
}

async fn change_password(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let request = parse(&headers, &body, &schema::CHANGE_PASSWORD_REQUEST, Shape::Reason)?;
    let (access_token, current, new) = (
        str_at(&request, "/accessToken"),
        str_at(&request, "/currentPassword"),
        str_at(&request, "/newPassword"),
    );
    let mut inner = sim.lock();
    let username = match inner.tokens.get(access_token) {
        Some(t) if t.expires_at > Instant::now() => t.username.clone(),
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "Authentication failed: invalid or expired accessToken",
            ))
        }
    };
    if inner.passwords.get(&username).map(String::as_str) != Some(current) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Authentication failed: incorrect currentPassword",
        ));
    }
    let problems = password_policy_problems(new);
    if !problems.is_empty() {
        let reason = format!(
            "newPassword does not conform to the password policy: needs {}",
            problems.join(", ")
        );
        return Err(error(StatusCode::BAD_REQUEST, &reason));
    }
    if new == current {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "newPassword must differ from currentPassword",
        ));
    }
    inner.passwords.insert(username.clone(), new.to_string());
    // "Fetch a new access token after updating the password": the account's tokens stop working.
    inner.tokens.retain(|_, t| t.username != username);
    Ok(json_response(StatusCode::OK, json!({})))
}

// ---- /v1/mailboxes/active ----

async fn mailboxes_active(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    authenticate(&sim, &headers)?;
    let request = parse(&headers, &body, &schema::END_USERS, Shape::Reason)?;
    let inner = sim.lock();
    let mut seen = std::collections::HashSet::new();
    let active: Vec<Value> = request["endUsers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["id"].as_str())
        .filter(|id| inner.has_mailbox(id) && seen.insert(id.to_string()))
        .map(|id| json!({ "id": id }))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "endUsersWithActiveMailbox": active }),
    ))
}

// ---- /v2/attachments ----

async fn upload_attachment(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Body) -> Result<Response> {
    let account = authenticate(&sim, &headers)?;
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("HTTP content length exceeded {MAX_ATTACHMENT_CONTENT_LENGTH} bytes."),
        )
            .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_ATTACHMENT_CONTENT_LENGTH as u64) {
        return Err(too_large());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if media_type(&headers).as_deref() != Some("multipart/form-data") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Content-Type must be multipart/form-data",
        ));
    }
    let Some(boundary) = boundary(content_type) else {
        return Err(error(StatusCode::BAD_REQUEST, "multipart/form-data without a boundary"));
    };
    let body = axum::body::to_bytes(body, MAX_ATTACHMENT_CONTENT_LENGTH)
        .await
        .map_err(|_| too_large())?;
    let parts = parse_multipart(&body, &boundary)
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("Malformed multipart body: {e}")))?;
    let mut file = None;
    for part in parts {
        match part.name.as_str() {
            "file" if file.is_none() => file = Some(part),
            "file" => return Err(error(StatusCode::BAD_REQUEST, "More than one part named 'file'")),
            other => return Err(error(StatusCode::BAD_REQUEST, &format!("Unknown part '{other}'"))),
        }
    }
    let Some(file) = file else {
        return Err(error(StatusCode::BAD_REQUEST, "Required part 'file' is missing"));
    };
    let Some(file_name) = file.file_name.filter(|n| !n.trim().is_empty()) else {
        return Err(error(StatusCode::BAD_REQUEST, "Part 'file' has no filename"));
    };
    let part_type = file.content_type.unwrap_or_default();
    if !ALLOWED_ATTACHMENT_TYPES.contains(&part_type.as_str()) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported media type '{part_type}'"),
        ));
    }
    if file.content.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "Part 'file' is empty"));
    }
    let attachment_id = Uuid::now_v7();
    sim.lock().attachments.insert(
        attachment_id,
        StoredAttachment {
            attachment_id,
            owner_account: account,
            file_name,
            content_type: part_type,
            content: body.slice_ref(file.content),
        },
    );
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "attachmentId": attachment_id }),
    ))
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

struct Part<'a> {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    content: &'a [u8],
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// RFC 7578 `multipart/form-data`, strictly enough for a simulator.
fn parse_multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    if boundary.is_empty() || boundary.len() > 70 {
        return Err("invalid boundary".into());
    }
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut pos = find(body, delimiter.as_bytes(), 0).ok_or("no opening boundary")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return if parts.is_empty() {
                Err("no parts".into())
            } else {
                Ok(parts)
            };
        }
        // Transport padding, then CRLF.
        while body.get(pos).is_some_and(|&b| b == b' ' || b == b'\t') {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err("boundary line not followed by CRLF".into());
        }
        pos += 2;
        let headers_end = find(body, b"\r\n\r\n", pos).ok_or("part headers not terminated")?;
        let head = std::str::from_utf8(&body[pos..headers_end]).map_err(|_| "part headers are not UTF-8")?;
        let content_start = headers_end + 4;
        let content_end = find(body, next_delimiter.as_bytes(), content_start).ok_or("no closing boundary")?;
        let (mut name, mut file_name, mut content_type) = (None, None, None);
        for line in head.split("\r\n") {
            let (key, value) = line.split_once(':').ok_or("malformed part header")?;
            let key = key.trim().to_ascii_lowercase();
            if key == "content-disposition" {
                let params = split_params(value);
                if !params
                    .first()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("form-data"))
                {
                    return Err("Content-Disposition must be form-data".into());
                }
                for param in &params[1..] {
                    if let Some((k, v)) = param.split_once('=') {
                        let v = unquote(v.trim());
                        match k.trim().to_ascii_lowercase().as_str() {
                            "name" => name = Some(v),
                            "filename" => file_name = Some(v),
                            _ => {}
                        }
                    }
                }
            } else if key == "content-type" {
                content_type = Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
            }
        }
        parts.push(Part {
            name: name.ok_or("part without a Content-Disposition name")?,
            file_name,
            content_type,
            content: &body[content_start..content_end],
        });
        pos = content_end + next_delimiter.len();
    }
}

/// Header parameters split at `;` outside quoted strings.
fn split_params(value: &str) -> Vec<&str> {
    let (mut params, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                params.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    params.push(&value[start..]);
    params
}

/// A token or an RFC 7230 quoted-string.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    out
}

// ---- /v2/messages/electronic, /v2/messages, /v2/paper-mail-without-id ----

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Electronic,
    Multichannel,
    PaperWithoutId,
}

async fn send_electronic(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    send(&sim, &headers, &body, Kind::Electronic)
}

async fn send_multichannel(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    send(&sim, &headers, &body, Kind::Multichannel)
}

async fn send_paper_without_id(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    send(&sim, &headers, &body, Kind::PaperWithoutId)
}

fn send(sim: &Sim, headers: &HeaderMap, body: &[u8], kind: Kind) -> Result<Response> {
    let account = authenticate(sim, headers)?;
    let (schema, shape) = match kind {
        Kind::Electronic => (&schema::ELECTRONIC_MESSAGE_REQUEST, Shape::Validation),
        Kind::Multichannel => (&schema::MULTICHANNEL_MESSAGE_REQUEST, Shape::Reason),
        Kind::PaperWithoutId => (&schema::PAPER_MAIL_WITHOUT_ID_REQUEST, Shape::Reason),
    };
    let request = parse(headers, body, schema, shape)?;
    let external_id = str_at(&request, "/externalId").to_string();
    let recipient_id = request
        .pointer("/recipient/id")
        .and_then(Value::as_str)
        .map(str::to_string);

    let mut errors = Vec::new();
    if let Some(id) = &recipient_id {
        if !is_valid_identity_code(id) && !is_valid_business_id(id) {
            errors.push("recipient.id: not a valid personal identity code or Business ID".to_string());
        }
    }
    let mut inner = sim.lock();

    // Idempotency first: a repeat is answered with the original id whatever else it says.
    if let Some(&message_id) = inner.by_external_id.get(&(account.clone(), external_id.clone())) {
        inner.send_counts.entry(external_id).or_default().duplicates += 1;
        let reason = "Message with the given externalId already exists";
        return Err(match kind {
            Kind::PaperWithoutId => error(StatusCode::CONFLICT, reason),
            _ => json_response(
                StatusCode::CONFLICT,
                json!({ "messageId": message_id, "reason": reason }),
            ),
        });
    }

    let mut attachment_ids = Vec::new();
    check_attachments(
        &inner,
        &account,
        &request,
        "/electronic/attachments",
        false,
        &mut attachment_ids,
        &mut errors,
    );
    check_attachments(
        &inner,
        &account,
        &request,
        "/paperMail/attachments",
        true,
        &mut attachment_ids,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(bad_request(shape, errors));
    }

    if let Some(reply_to) = request
        .pointer("/electronic/inReplyToMessageId")
        .and_then(Value::as_i64)
    {
        let found = inner
            .end_user_messages
            .get(&reply_to)
            .is_some_and(|m| m.account == account && Some(&m.sender_id) == recipient_id.as_ref());
        if !found {
            return Err(coded_error(
                shape,
                "The message you replied to does not exist",
                "MESSAGE_BEING_REPLIED_TO_NOT_FOUND",
            ));
        }
    }

    let channel = match kind {
        Kind::PaperWithoutId => Channel::Paper,
        _ if recipient_id.as_deref().is_some_and(|id| inner.has_mailbox(id)) => Channel::Electronic,
        Kind::Electronic => {
            return Err(coded_error(
                shape,
                "Recipient mailbox is not active",
                "MAILBOX_NOT_IN_USE",
            ));
        }
        Kind::Multichannel => Channel::Paper,
    };

    let message_id = inner.next_message_id;
    inner.next_message_id += 1;
    let message = StoredMessage {
        message_id,
        external_id: external_id.clone(),
        recipient_id,
        title: request
            .pointer("/electronic/title")
            .and_then(Value::as_str)
            .map(str::to_string),
        body: request
            .pointer("/electronic/body")
            .and_then(Value::as_str)
            .map(str::to_string),
        channel,
        read: false,
        sender_account: account.clone(),
        service_id: str_at(&request, "/sender/serviceId").to_string(),
        attachment_ids,
        created_at: Utc::now(),
        request,
    };
    let metadata = message_metadata(&message);
    match channel {
        Channel::Electronic => inner.push_event(&account, event("Electronic message created", metadata)),
        Channel::Paper => {
            inner.push_event(&account, event("Paper mail created", metadata.clone()));
            inner.push_event(&account, event("Sent for printing and enveloping", metadata));
        }
    }
    inner.messages.push(message);
    inner.by_external_id.insert((account, external_id.clone()), message_id);
    inner.send_counts.entry(external_id).or_default().created += 1;
    Ok(json_response(StatusCode::OK, json!({ "messageId": message_id })))
}

fn coded_error(shape: Shape, message: &str, code: &str) -> Response {
    match shape {
        Shape::Validation => validation_errors(&[(message.to_string(), Some(code))]),
        Shape::Reason => error(StatusCode::BAD_REQUEST, &format!("{code}: {message}")),
    }
}

/// Referenced attachments must be this account's uploads; a printed one must be a PDF.
fn check_attachments(
    inner: &Inner,
    account: &str,
    request: &Value,
    pointer: &str,
    printed: bool,
    ids: &mut Vec<Uuid>,
    errors: &mut Vec<String>,
) {
    let Some(list) = request.pointer(pointer).and_then(Value::as_array) else {
        return;
    };
    let path = pointer.trim_start_matches('/').replace('/', ".");
    for (i, item) in list.iter().enumerate() {
        let id = item["attachmentId"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        match id.and_then(|id| inner.attachments.get(&id)) {
            Some(a) if a.owner_account == account => {
                if printed && a.content_type != "application/pdf" {
                    errors.push(format!("{path}[{i}].attachmentId: paper mail can only print a PDF"));
                }
                if !ids.contains(&a.attachment_id) {
                    ids.push(a.attachment_id);
                }
            }
            _ => errors.push(format!("{path}[{i}].attachmentId: attachment not found")),
        }
    }
}

// ---- /v2/events ----

const TOKEN_PREFIX: &str = "sim-ct-";

fn encode_continuation(index: usize) -> String {
    format!("{TOKEN_PREFIX}{index:012x}")
}

fn decode_continuation(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix(TOKEN_PREFIX)?, 16).ok()
}

async fn events(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response> {
    let account = authenticate(&sim, &headers)?;
    let Ok(Query(query)) = query else {
        return Err(error(StatusCode::BAD_REQUEST, "Malformed query string"));
    };
    let inner = sim.lock();
    let all = inner.events.get(&account).map(Vec::as_slice).unwrap_or_default();
    let start = match query.get("continuationToken").map(String::as_str) {
        None | Some("") => 0,
        Some(token) => match decode_continuation(token) {
            Some(i) if i <= all.len() => i,
            _ => return Err(error(StatusCode::BAD_REQUEST, "Invalid continuationToken")),
        },
    };
    let end = (start + inner.event_page_size).min(all.len());
    Ok(json_response(
        StatusCode::OK,
        json!({ "continuationToken": encode_continuation(end), "events": &all[start..end] }),
    ))
}

// ---- /v2/messages/{id} ----

async fn end_user_message(State(sim): State<Arc<Sim>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let account = authenticate(&sim, &headers)?;
    let Ok(id) = id.parse::<i64>() else {
        return Err(error(StatusCode::BAD_REQUEST, "id must be an integer"));
    };
    let inner = sim.lock();
    let Some(m) = inner.end_user_messages.get(&id).filter(|m| m.account == account) else {
        return Err(error(StatusCode::NOT_FOUND, "Message not found"));
    };
    let created_at = m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(json_response(
        StatusCode::OK,
        json!({
            "messageId": m.message_id,
            "createdAt": created_at,
            "electronic": {
                "messageId": m.message_id,
                "createdAt": created_at,
                "title": m.title,
                "body": m.body,
                "attachments": [],
                "thread": { "rootMessageId": m.root_message_id, "threadExternalId": m.thread_external_id },
            },
            "sender": { "mailboxOwner": { "id": m.sender_id, "name": "Sandbox Citizen" } },
        }),
    ))
}

// ---- /_simulator/… ----

fn control_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("malformed JSON: {e}")))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn inject_fault(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response> {
    let fault: Fault =
        serde_json::from_slice(&body).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")))?;
    fault
        .check()
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")))?;
    sim.lock().faults.push(super::faults::Active::new(fault));
    Ok(no_content())
}

async fn list_faults(State(sim): State<Arc<Sim>>) -> Response {
    let faults: Vec<Fault> = sim.lock().faults.iter().map(|a| a.fault.clone()).collect();
    json_response(StatusCode::OK, json!(faults))
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().faults.clear();
    no_content()
}

async fn list_messages(State(sim): State<Arc<Sim>>) -> Response {
    json_response(StatusCode::OK, json!(sim.lock().messages))
}

async fn citizen_read(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response> {
    let request = control_json(&body)?;
    let id = request["messageId"]
        .as_i64()
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "messageId required"))?;
    sim.lock()
        .mark_read(id)
        .map_err(|e| error(StatusCode::NOT_FOUND, &e.to_string()))?;
    Ok(no_content())
}

async fn citizen_reply(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response> {
    let request = control_json(&body)?;
    let id = request["inReplyToMessageId"]
        .as_i64()
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "inReplyToMessageId required"))?;
    let title = request["title"].as_str().unwrap_or("Re: message");
    let text = request["body"].as_str().unwrap_or("");
    let message_id = sim
        .lock()
        .reply_as_citizen(id, title, text)
        .map_err(|e| error(StatusCode::NOT_FOUND, &e.to_string()))?;
    Ok(json_response(StatusCode::OK, json!({ "messageId": message_id })))
}

async fn set_mailbox(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response> {
    let request = control_json(&body)?;
    let (Some(id), Some(active)) = (request["id"].as_str(), request["active"].as_bool()) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "id (string) and active (boolean) required",
        ));
    };
    super::Control { sim: sim.clone() }.set_mailbox_active(id, active);
    Ok(no_content())
}

async fn expire_tokens(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().tokens.clear();
    no_content()
}

async fn request_log(State(sim): State<Arc<Sim>>) -> Response {
    json_response(StatusCode::OK, json!(sim.lock().request_log))
}

async fn clear_request_log(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().request_log.clear();
    no_content()
}

async fn send_counts(State(sim): State<Arc<Sim>>) -> Response {
    json_response(StatusCode::OK, json!(sim.lock().send_counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_with_quoted_parameters() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a;b \\\"c\\\".pdf\"\r\n\
                     Content-Type: application/pdf\r\n\r\n%PDF\r\n--b--\r\n";
        let parts = parse_multipart(body, "b").unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].file_name.as_deref(), Some("a;b \"c\".pdf"));
        assert_eq!(parts[0].content, b"%PDF");
        assert_eq!(parts[0].content_type.as_deref(), Some("application/pdf"));
        assert!(parse_multipart(b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "b").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(password_policy_problems(super::super::SANDBOX_PASSWORD).is_empty());
        assert_eq!(password_policy_problems("aA1!"), ["at least 32 characters"]);
    }
}
