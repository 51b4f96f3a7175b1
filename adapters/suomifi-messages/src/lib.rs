//! Suomi.fi Messages adapter: the REST API's wire format and error semantics, from the service's
//! official OpenAPI 3.0.1 document (`shared/specs/suomifi-messages-openapi.yaml`).
//!
//! | operation | payload | service |
//! |---|---|---|
//! | `send` | [`SendMessage`] | `POST /v2/attachments` per attachment, then `POST /v2/messages/electronic`, or `POST /v2/messages` (multichannel, paper fallback) when a paper address is given |
//! | `check_mailboxes` | `{"identity_codes": [...]}` | `POST /v1/mailboxes/active`, at most 10,000 ids a request |
//! | `events` | `{"continuation_token": null \| "..."}` | `GET /v2/events?continuationToken=`, one page |
//! | `change_password` | `{}` | `POST /v1/change-password` with a new random password |
//!
//! Authentication: `POST /v1/token {username, password}`; the token is cached (refreshed ahead of
//! `expires_in` when the service states it) and on a 401 a fresh token is fetched and the call
//! repeated once. `externalId` is always the broker's exchange id, so a repeated send is answered
//! 409 with the original `messageId`, which counts as success.
//!
//! Identity codes never reach logs or error strings: errors name JSON pointers, and text from
//! the service or from serde passes through a redactor first.

mod model;
mod multipart;
mod password;
mod validate;
mod wire;

pub use model::{
    event_kind, Attachment, BodyFormat, CheckMailboxes, EventKind, FetchEvents, PaperAddress, SendMessage,
};
pub use password::meets_policy as password_meets_policy;
pub use validate::{
    validate, ALLOWED_MEDIA_TYPES, COUNTRY_CODES, MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES, MAX_BODY_CHARS,
    MAX_FILE_NAME_CHARS, MAX_TITLE_CHARS,
};

use bytes::Bytes;
use portti_adapter_core::{
    build_client, classify_status, classify_transport_error, sha256_hex, Adapter, AdapterError, BoxFuture, CallContext,
    Health, HttpClientConfig, HttpClientError, Operation, Reply,
};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use validate::{check_identity_code, decode_base64, media_type_essence, normalise_identity_code};
use wire::{error_detail, id_string};

pub const SERVICE: &str = "suomifi-messages";
/// Operation names.
pub const OP_SEND: &str = "send";
pub const OP_CHECK_MAILBOXES: &str = "check_mailboxes";
pub const OP_EVENTS: &str = "events";
pub const OP_CHANGE_PASSWORD: &str = "change_password";
/// `EndUsers.endUsers.maxItems`.
pub const MAILBOX_BATCH: usize = 10_000;

const JSON: &str = "application/json";

/// Configuration of the adapter (deserializable with unknown keys refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesConfig {
    /// E.g. `https://api.messages.suomi.fi` (a path prefix is allowed).
    pub base_url: String,
    /// The API user name (`/v1/token`).
    pub username: String,
    /// A file holding the API password (one line). Rotation replaces it.
    pub password_file: PathBuf,
    #[serde(default)]
    pub http: HttpClientConfig,
    /// The organisation's service id at Suomi.fi Messages: `sender.serviceId` of every message
    /// (required by the spec, 1–64 characters).
    pub service_id: String,
    /// Needed for multichannel messages (a `paper_address` given); without it they are refused.
    #[serde(default)]
    pub paper_mail: Option<PaperMailConfig>,
}

/// The sender side of paper mail: `paperMail` of the multichannel request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperMailConfig {
    /// The sender's return address (`paperMail.sender.address`).
    pub sender_address: PaperAddress,
    /// Posti's printing and enveloping service: user name (6 characters).
    pub posti_username: String,
    /// A file holding Posti's password (4 characters).
    pub posti_password_file: PathBuf,
    /// `postiMessaging.contactDetails.email`.
    pub contact_email: String,
    /// `costPool`, 1–15 of `A-Z0-9`.
    #[serde(default)]
    pub cost_pool: Option<String>,
    #[serde(default)]
    pub color_printing: bool,
    /// Let the service add an address page (else the PDF must fit Posti's window envelope).
    #[serde(default = "yes")]
    pub create_address_page: bool,
    #[serde(default)]
    pub two_sided_printing: bool,
    #[serde(default)]
    pub rotate_landscape_pages: bool,
}

fn yes() -> bool {
    true
}

/// Why the adapter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("suomifi-messages: {0}")]
    Invalid(String),
    #[error("suomifi-messages: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("suomifi-messages: {0}")]
    Http(#[from] HttpClientError),
}

/// The Suomi.fi Messages adapter.
pub struct SuomifiMessages {
    base_url: String,
    username: String,
    password_file: PathBuf,
    service_id: String,
    paper: Option<(PaperMailConfig, String)>,
    request_timeout: Duration,
    client: reqwest::Client,
    auth: tokio::sync::Mutex<AuthState>,
}

impl fmt::Debug for SuomifiMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuomifiMessages")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("service_id", &self.service_id)
            .field("paper_mail", &self.paper.is_some())
            .finish_non_exhaustive()
    }
}

struct AuthState {
    /// The password the service accepts now: read from the file at start, replaced on rotation.
    password: String,
    token: Option<Token>,
    generation: u64,
}

#[derive(Clone)]
struct Token {
    value: String,
    generation: u64,
    refresh_at: Option<Instant>,
}

impl Token {
    fn fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| Instant::now() < at)
    }
}

/// A response read to its end.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Raw {
    fn json(&self, what: &str) -> Result<Value, AdapterError> {
        serde_json::from_slice(&self.body)
            .map_err(|_| AdapterError::Transient(format!("{what}: HTTP {} with a body that is not JSON", self.status)))
    }

    /// The error class of a non-success answer.
    fn error(&self) -> AdapterError {
        let detail = error_detail(&self.body);
        classify_status(self.status, &self.headers, &detail)
            .unwrap_or_else(|| AdapterError::Permanent(format!("unexpected HTTP {}: {detail}", self.status.as_u16())))
    }
}

fn read_secret(path: &Path, what: &str) -> Result<String, SetupError> {
    let secret = password::read(path).map_err(|source| SetupError::Read {
        path: path.to_owned(),
        source,
    })?;
    if secret.is_empty() {
        return Err(SetupError::Invalid(format!("{what} file {} is empty", path.display())));
    }
    Ok(secret)
}

impl SuomifiMessages {
    pub fn new(config: MessagesConfig) -> Result<Self, SetupError> {
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.query().is_none() => {}
            _ => {
                return Err(SetupError::Invalid(format!(
                    "base_url {base_url:?} is not an http(s) URL"
                )))
            }
        }
        if config.username.trim().is_empty() {
            return Err(SetupError::Invalid("username is empty".into()));
        }
        let service_id_chars = config.service_id.chars().count();
        if config.service_id.trim().is_empty() || service_id_chars > 64 {
            return Err(SetupError::Invalid("service_id must be 1–64 characters".into()));
        }
        let password = read_secret(&config.password_file, "password")?;
        let paper = match config.paper_mail {
            None => None,
            Some(paper) => {
                let posti_password = read_secret(&paper.posti_password_file, "Posti password")?;
                check_paper_config(&paper, &posti_password)?;
                Some((paper, posti_password))
            }
        };
        Ok(SuomifiMessages {
            base_url,
            username: config.username,
            password_file: config.password_file,
            service_id: config.service_id,
            paper,
            request_timeout: config.http.request_timeout,
            client: build_client(&config.http)?,
            auth: tokio::sync::Mutex::new(AuthState {
                password,
                token: None,
                generation: 0,
            }),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends one request, bounded by the call's deadline, and reads the whole answer.
    async fn send(&self, request: RequestBuilder, deadline: Instant) -> Result<Raw, AdapterError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AdapterError::Transient("the call's deadline passed".into()));
        }
        let response = request
            .timeout(remaining.min(self.request_timeout))
            .send()
            .await
            .map_err(|e| classify_transport_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| classify_transport_error(&e))?;
        Ok(Raw { status, headers, body })
    }

    /// `POST /v1/token`. A refusal (400 "Authentication failed", 401, 403) is
    /// [`AdapterError::Reauthenticate`]: the credentials need attention, the message does not.
    async fn fetch_token(&self, password: &str, deadline: Instant) -> Result<(String, Option<Instant>), AdapterError> {
        let body = serde_json::to_vec(&wire::AccessTokenRequest {
            username: &self.username,
            password,
        })
        .expect("serialisable");
        let request = self
            .client
            .post(self.url("/v1/token"))
            .header(CONTENT_TYPE, JSON)
            .body(body);
        let raw = self.send(request, deadline).await?;
        match raw.status {
            s if s.is_success() => {}
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(AdapterError::Reauthenticate(format!(
                    "the service refused the API credentials: HTTP {}: {}",
                    raw.status.as_u16(),
                    error_detail(&raw.body)
                )))
            }
            _ => return Err(raw.error()),
        }
        let json = raw.json("token")?;
        let token = json
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AdapterError::Transient("token answer without access_token".into()))?;
        // The service states no lifetime in its documentation; use expires_in when it is given.
        let refresh_at = json
            .get("expires_in")
            .and_then(Value::as_u64)
            .filter(|&s| s > 0)
            .map(|s| {
                let lifetime = Duration::from_secs(s);
                Instant::now() + lifetime - (lifetime / 10).min(Duration::from_secs(60))
            });
        Ok((token.to_owned(), refresh_at))
    }

    async fn lock_auth(&self, deadline: Instant) -> Result<tokio::sync::MutexGuard<'_, AuthState>, AdapterError> {
        tokio::time::timeout_at(deadline.into(), self.auth.lock())
            .await
            .map_err(|_| AdapterError::Transient("the call's deadline passed waiting for an access token".into()))
    }

    /// The cached token, or a new one. One fetch at a time: concurrent callers wait for it.
    async fn token(&self, deadline: Instant) -> Result<Token, AdapterError> {
        let mut state = self.lock_auth(deadline).await?;
        self.token_locked(&mut state, deadline).await
    }

    async fn token_locked(&self, state: &mut AuthState, deadline: Instant) -> Result<Token, AdapterError> {
        if let Some(token) = state.token.as_ref().filter(|t| t.fresh()) {
            return Ok(token.clone());
        }
        let password = state.password.clone();
        let (value, refresh_at) = self.fetch_token(&password, deadline).await?;
        state.generation += 1;
        let token = Token {
            value,
            generation: state.generation,
            refresh_at,
        };
        state.token = Some(token.clone());
        tracing::debug!(service = SERVICE, "new access token");
        Ok(token)
    }

    /// Forgets the token the service refused, unless another caller has already replaced it.
    async fn invalidate(&self, generation: u64) {
        let mut state = self.auth.lock().await;
        if state.token.as_ref().is_some_and(|t| t.generation == generation) {
            state.token = None;
        }
    }

    /// A request with the access token; on 401 a fresh token and one more try.
    /// POSTs a body with the current token, renewing it once on 401 (see [`Self::authed`]).
    async fn authed_post(
        &self,
        deadline: Instant,
        url: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Raw, AdapterError> {
        self.authed(deadline, |token| {
            self.client
                .post(url)
                .bearer_auth(token)
                .header(CONTENT_TYPE, content_type)
                .body(body.clone())
        })
        .await
    }

    async fn authed(&self, deadline: Instant, make: impl Fn(&str) -> RequestBuilder) -> Result<Raw, AdapterError> {
        let token = self.token(deadline).await?;
        let raw = self.send(make(&token.value), deadline).await?;
        if raw.status != StatusCode::UNAUTHORIZED {
            return Ok(raw);
        }
        self.invalidate(token.generation).await;
        let token = self.token(deadline).await?;
        let raw = self.send(make(&token.value), deadline).await?;
        if raw.status == StatusCode::UNAUTHORIZED {
            self.invalidate(token.generation).await;
            return Err(AdapterError::Reauthenticate(format!(
                "a fresh access token was refused: {}",
                error_detail(&raw.body)
            )));
        }
        Ok(raw)
    }

    async fn send_message(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        let message: SendMessage = parse_payload(operation)?;
        let problems = validate(&message);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|(p, d)| format!("{p}: {d}")).collect();
            return Err(AdapterError::Permanent(format!("invalid message: {}", list.join("; "))));
        }
        if message.paper_address.is_some() && self.paper.is_none() {
            return Err(AdapterError::Permanent(
                "a paper address was given but paper mail is not configured (paper_mail)".into(),
            ));
        }
        let mut attachment_ids = Vec::with_capacity(message.attachments.len());
        for attachment in &message.attachments {
            attachment_ids.push(self.upload(attachment, cx.deadline).await?);
        }
        let recipient = normalise_identity_code(&message.recipient_identity_code);
        let request = self.message_request(&message, &recipient, cx.exchange_id, &attachment_ids);
        let channel = if request.paper_mail.is_some() {
            "multichannel"
        } else {
            "electronic"
        };
        let path = if request.paper_mail.is_some() {
            "/v2/messages"
        } else {
            "/v2/messages/electronic"
        };
        let body = Bytes::from(serde_json::to_vec(&request).expect("serialisable"));
        let url = self.url(path);
        let raw = self.authed_post(cx.deadline, &url, JSON, body.clone()).await?;

        let already_sent = match raw.status {
            StatusCode::OK | StatusCode::CREATED => false,
            // MessageAlreadyExistsResponse: this externalId was accepted before; handled like 200.
            StatusCode::CONFLICT => true,
            _ => return Err(raw.error()),
        };
        let message_id = raw
            .json("message")
            .ok()
            .and_then(|json| id_string(json.get("messageId")))
            .ok_or_else(|| match already_sent {
                true => AdapterError::Permanent(format!("HTTP 409 without a messageId: {}", error_detail(&raw.body))),
                // Accepted but unreadable: a retry with the same externalId gets the id in a 409.
                false => AdapterError::Transient(format!("HTTP {} without a messageId", raw.status.as_u16())),
            })?;
        Ok(Reply {
            upstream_id: Some(message_id.clone()),
            body: json!({"message_id": message_id, "channel": channel, "already_sent": already_sent}),
            request_digest: Some(sha256_hex(&body)),
            response_digest: Some(sha256_hex(&raw.body)),
        })
    }

    /// The JSON of `POST /v2/messages/electronic`, or of `POST /v2/messages` when the message
    /// has a paper address (and paper mail is configured).
    fn message_request<'a>(
        &'a self,
        message: &'a SendMessage,
        recipient: &'a str,
        exchange_id: uuid::Uuid,
        attachment_ids: &[String],
    ) -> wire::MessageRequest<'a> {
        let references = |ids: &[String]| -> Vec<wire::AttachmentReference> {
            ids.iter()
                .map(|id| wire::AttachmentReference {
                    attachment_id: id.clone(),
                })
                .collect()
        };
        let paper = match (&message.paper_address, &self.paper) {
            (Some(address), Some((config, posti_password))) => Some((address, config, posti_password)),
            _ => None,
        };
        wire::MessageRequest {
            external_id: exchange_id.to_string(),
            recipient: wire::Recipient { id: recipient },
            sender: wire::Sender {
                service_id: &self.service_id,
            },
            electronic: wire::ElectronicPart {
                attachments: references(attachment_ids),
                body: &message.body,
                body_format: match message.body_format {
                    BodyFormat::Text => "Text",
                    BodyFormat::Markdown => "Markdown",
                },
                message_service_type: "Normal",
                notifications: wire::Notifications::default(),
                reply_allowed_by: "No one",
                title: message.title.trim(),
                visibility: "Normal",
            },
            paper_mail: paper.map(|(address, config, posti_password)| wire::PaperMailPart {
                // validate() made sure the first attachment is the PDF letter.
                attachments: references(&attachment_ids[..attachment_ids.len().min(1)]),
                color_printing: config.color_printing,
                create_address_page: config.create_address_page,
                message_service_type: "Normal",
                printing_and_enveloping_service: wire::PrintingAndEnvelopingService {
                    cost_pool: config.cost_pool.as_deref(),
                    posti_messaging: wire::PostiMessaging {
                        contact_details: wire::ContactDetails {
                            email: &config.contact_email,
                        },
                        password: posti_password,
                        username: &config.posti_username,
                    },
                },
                recipient: wire::PaperMailParty {
                    address: address.into(),
                },
                rotate_landscape_pages: config.rotate_landscape_pages,
                sender: wire::PaperMailParty {
                    address: (&config.sender_address).into(),
                },
                two_sided_printing: config.two_sided_printing,
            }),
        }
    }

    /// `POST /v2/attachments` → `attachmentId`.
    async fn upload(&self, attachment: &Attachment, deadline: Instant) -> Result<String, AdapterError> {
        let data = decode_base64(&attachment.content_base64)
            .map_err(|_| AdapterError::Permanent("an attachment is not standard Base64".into()))?;
        // Only the essence: parameters are not needed and could smuggle header lines.
        let media_type = media_type_essence(&attachment.media_type);
        let (content_type, body) = multipart::form_data(&attachment.file_name, &media_type, &data)
            .map_err(|e| AdapterError::Transient(format!("no randomness for a multipart boundary: {e}")))?;
        let body = Bytes::from(body);
        let url = self.url("/v2/attachments");
        let raw = self.authed_post(deadline, &url, &content_type, body).await?;
        if !raw.status.is_success() {
            return Err(raw.error());
        }
        id_string(raw.json("attachment")?.get("attachmentId"))
            .ok_or_else(|| AdapterError::Transient("attachment answer without attachmentId".into()))
    }

    async fn check_mailboxes(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        let request: CheckMailboxes = parse_payload(operation)?;
        let bad: Vec<String> = (request.identity_codes.iter().enumerate())
            .filter(|(_, code)| check_identity_code(code).is_err())
            .map(|(i, _)| format!("/identity_codes/{i}"))
            .collect();
        if !bad.is_empty() {
            return Err(AdapterError::Permanent(format!(
                "not valid personal identity codes: {}",
                bad.join(", ")
            )));
        }
        let mut seen = HashSet::new();
        let unique: Vec<String> = (request.identity_codes.iter())
            .map(|code| normalise_identity_code(code))
            .filter(|code| seen.insert(code.clone()))
            .collect();

        let (mut sent, mut received) = (Vec::new(), Vec::new());
        let mut active = HashSet::new();
        let url = self.url("/v1/mailboxes/active");
        for batch in unique.chunks(MAILBOX_BATCH) {
            let body = serde_json::to_vec(&wire::EndUsers {
                end_users: batch.iter().map(|id| wire::EndUserId { id }).collect(),
            })
            .expect("serialisable");
            let body = Bytes::from(body);
            let raw = self.authed_post(cx.deadline, &url, JSON, body.clone()).await?;
            if !raw.status.is_success() {
                return Err(raw.error());
            }
            let json = raw.json("mailboxes")?;
            let list = json
                .get("endUsersWithActiveMailbox")
                .and_then(Value::as_array)
                .ok_or_else(|| AdapterError::Transient("mailbox answer without endUsersWithActiveMailbox".into()))?;
            active.extend(
                list.iter()
                    .filter_map(|user| user.get("id").and_then(Value::as_str))
                    .map(normalise_identity_code),
            );
            sent.extend_from_slice(&body);
            received.extend_from_slice(&raw.body);
        }
        let mut reported = HashSet::new();
        let active: Vec<&String> = (request.identity_codes.iter())
            .filter(|code| {
                let code = normalise_identity_code(code);
                active.contains(&code) && reported.insert(code)
            })
            .collect();
        Ok(Reply {
            upstream_id: None,
            body: json!({ "active": active }),
            request_digest: (!sent.is_empty()).then(|| sha256_hex(&sent)),
            response_digest: (!received.is_empty()).then(|| sha256_hex(&received)),
        })
    }

    async fn events(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        let request: FetchEvents = match operation.payload {
            Value::Null => FetchEvents::default(),
            _ => parse_payload(operation)?,
        };
        let continuation = request.continuation_token.filter(|t| !t.is_empty());
        let url = self.url("/v2/events");
        let raw = self
            .authed(cx.deadline, |token| {
                let get = self.client.get(&url).bearer_auth(token);
                match &continuation {
                    Some(continuation) => get.query(&[("continuationToken", continuation)]),
                    None => get,
                }
            })
            .await?;
        if !raw.status.is_success() {
            return Err(raw.error());
        }
        let json = raw.json("events")?;
        Ok(Reply {
            upstream_id: None,
            body: events_page(&json, continuation)?,
            request_digest: None,
            response_digest: Some(sha256_hex(&raw.body)),
        })
    }

    async fn change_password(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        if !matches!(&operation.payload, Value::Null) && !operation.payload.as_object().is_some_and(|o| o.is_empty()) {
            return Err(AdapterError::Permanent(
                "change_password takes an empty payload {}".into(),
            ));
        }
        let rotated = Reply {
            upstream_id: None,
            body: json!({"rotated": true}),
            request_digest: None,
            response_digest: None,
        };
        let deadline = cx.deadline;
        // Held throughout: no token is fetched with a password that is being replaced.
        let mut state = self.lock_auth(deadline).await?;
        let pending = password::pending_path(&self.password_file);

        // A candidate left by an attempt whose answer was lost: did the service take it?
        if let Ok(candidate) = password::read(&pending) {
            match self.fetch_token(&candidate, deadline).await {
                Ok(_) => {
                    self.adopt(&mut state, candidate)?;
                    return Ok(rotated);
                }
                Err(AdapterError::Reauthenticate(_)) => password::discard(&self.password_file),
                Err(e) => return Err(e),
            }
        }

        let new = password::generate()
            .map_err(|e| AdapterError::Transient(format!("no randomness for a new password: {e}")))?;
        password::write_private(&pending, &new)
            .map_err(|e| AdapterError::Permanent(format!("cannot write {}: {e}", pending.display())))?;

        let mut outcome = self.post_change_password(&mut state, &new, deadline).await;
        if let Err(Change::Unauthorized(generation)) = outcome {
            if state.token.as_ref().is_some_and(|t| t.generation == generation) {
                state.token = None;
            }
            outcome = self.post_change_password(&mut state, &new, deadline).await;
        }
        match outcome {
            Ok(()) => {
                self.adopt(&mut state, new)?;
                Ok(rotated)
            }
            Err(Change::Unauthorized(_)) => {
                password::discard(&self.password_file);
                Err(AdapterError::Reauthenticate(
                    "change-password refused a fresh access token".into(),
                ))
            }
            Err(Change::Refused(e)) => {
                password::discard(&self.password_file);
                Err(e)
            }
            // The service may or may not have changed it: ask with the new password.
            Err(Change::Unknown(e)) => match self.fetch_token(&new, deadline).await {
                Ok(_) => {
                    self.adopt(&mut state, new)?;
                    Ok(rotated)
                }
                Err(AdapterError::Reauthenticate(_)) => {
                    password::discard(&self.password_file);
                    Err(e)
                }
                Err(_) => {
                    tracing::warn!(
                        service = SERVICE,
                        pending = %pending.display(),
                        "password change outcome unknown; the candidate is kept and tried first next time"
                    );
                    Err(e)
                }
            },
        }
    }

    /// `POST /v1/change-password` with the current token and password.
    async fn post_change_password(&self, state: &mut AuthState, new: &str, deadline: Instant) -> Result<(), Change> {
        let token = self.token_locked(state, deadline).await.map_err(Change::Refused)?;
        let body = serde_json::to_vec(&wire::ChangePasswordRequest {
            access_token: &token.value,
            current_password: &state.password,
            new_password: new,
        })
        .expect("serialisable");
        let request = self
            .client
            .post(self.url("/v1/change-password"))
            .header(CONTENT_TYPE, JSON)
            .body(body);
        let raw = match self.send(request, deadline).await {
            Ok(raw) => raw,
            // Sent or not? Only a connect failure is sure to have changed nothing.
            Err(e) => return Err(Change::Unknown(e)),
        };
        match raw.status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(Change::Unauthorized(token.generation)),
            s if s.is_server_error() => Err(Change::Unknown(raw.error())),
            _ => Err(Change::Refused(raw.error())),
        }
    }

    /// The service has the new password: save it (pending → password file) and use it.
    fn adopt(&self, state: &mut AuthState, new: String) -> Result<(), AdapterError> {
        state.password = new;
        state.token = None; // the service wants a new token after a change
        match password::commit(&self.password_file) {
            Ok(()) => {
                tracing::info!(service = SERVICE, "API password rotated");
                Ok(())
            }
            Err(e) => {
                let pending = password::pending_path(&self.password_file);
                tracing::error!(
                    service = SERVICE,
                    error = %e,
                    pending = %pending.display(),
                    "the service accepted a new password that could not be saved to the password file"
                );
                Err(AdapterError::Permanent(format!(
                    "the service accepted the new password but it could not be saved to {}: {e}; it is in {}",
                    self.password_file.display(),
                    pending.display()
                )))
            }
        }
    }
}

enum Change {
    /// 401: the token was refused (the generation of that token).
    Unauthorized(u64),
    /// The service answered and did not change the password.
    Refused(AdapterError),
    /// No answer or a 5xx: it may have changed.
    Unknown(AdapterError),
}

fn check_paper_config(paper: &PaperMailConfig, posti_password: &str) -> Result<(), SetupError> {
    let invalid = |what: &str| Err(SetupError::Invalid(format!("paper_mail: {what}")));
    if paper.posti_username.chars().count() != 6 {
        return invalid("posti_username must be 6 characters");
    }
    if posti_password.chars().count() != 4 {
        return invalid("the Posti password must be 4 characters");
    }
    if !(5..=256).contains(&paper.contact_email.chars().count()) || !paper.contact_email.contains('@') {
        return invalid("contact_email must be an e-mail address of 5–256 characters");
    }
    if let Some(pool) = &paper.cost_pool {
        if !(1..=15).contains(&pool.len()) || !pool.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return invalid("cost_pool must be 1–15 of A-Z and 0-9");
        }
    }
    if let Some((pointer, detail)) = validate::validate_address(&paper.sender_address).into_iter().next() {
        return invalid(&format!("sender_address{pointer}: {detail}"));
    }
    Ok(())
}

/// Reads an operation's payload; the error names no value (values may be identity codes).
fn parse_payload<T: DeserializeOwned>(operation: &Operation) -> Result<T, AdapterError> {
    T::deserialize(&operation.payload).map_err(|e| {
        AdapterError::Permanent(format!(
            "invalid payload for {}: {}",
            operation.name,
            without_values(&e.to_string())
        ))
    })
}

/// serde's messages quote the offending value (`invalid type: string "…"`): drop every quoted
/// part, then anything still shaped like an identity code.
fn without_values(message: &str) -> String {
    validate::redact_identity_codes(&portti_adapter_core::without_quoted_values(message))
}

/// One page of `GET /v2/events` (its JSON body) → `{"events": [...], "continuation_token": ...}`,
/// each event mapped by [`map_event`]. `continuation` is the token the page was asked with: an
/// answer without a token (against the spec) asks again from the same place rather than skip
/// anything. Public for the fuzz target `suomifi_events`.
pub fn events_page(json: &Value, continuation: Option<String>) -> Result<Value, AdapterError> {
    let events = json
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| AdapterError::Transient("events answer without events".into()))?;
    let events: Vec<Value> = events.iter().map(map_event).collect();
    let next = json
        .get("continuationToken")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(continuation);
    Ok(json!({ "events": events, "continuation_token": next }))
}

/// One `GetV2Event` → `{message_id, external_id?, kind, type, time}`.
fn map_event(event: &Value) -> Value {
    let service_type = event.get("type").and_then(Value::as_str).unwrap_or_default();
    let metadata = event.get("metadata");
    let time = event.get("eventTime").and_then(Value::as_str).map(|time| {
        chrono::DateTime::parse_from_rfc3339(time)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            })
            .unwrap_or_else(|_| time.to_owned())
    });
    let mut out = json!({
        "message_id": id_string(metadata.and_then(|m| m.get("messageId"))),
        "kind": event_kind(service_type),
        "type": service_type,
        "time": time,
    });
    if let Some(external_id) = metadata.and_then(|m| m.get("externalId")).and_then(Value::as_str) {
        out["external_id"] = json!(external_id);
    }
    out
}

impl Adapter for SuomifiMessages {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn call<'a>(&'a self, cx: &'a CallContext, operation: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        Box::pin(async move {
            match operation.name.as_str() {
                OP_SEND => self.send_message(cx, operation).await,
                OP_CHECK_MAILBOXES => self.check_mailboxes(cx, operation).await,
                OP_EVENTS => self.events(cx, operation).await,
                OP_CHANGE_PASSWORD => self.change_password(cx, operation).await,
                other => Err(AdapterError::Permanent(format!(
                    "unknown operation {:?} for {SERVICE}",
                    without_values(other)
                ))),
            }
        })
    }

    /// Up if an access token can be had (a cached one counts).
    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            match self.token(Instant::now() + self.request_timeout).await {
                Ok(_) => Health::Up,
                Err(_) => Health::Down,
            }
        })
    }
}

#[cfg(test)]
mod tests;
