//! A faithful simulator of the Suomi.fi Messages REST API, built from the official OpenAPI 3.0.1 document
//! (`shared/specs/suomifi-messages-openapi.yaml`), served over real HTTP (or HTTPS) on loopback.
//!
//! # The API it serves
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /v1/token` | `AccessTokenRequestBody` → `AccessTokenResponse` (`access_token`, `expires_in`, `token_type: Bearer`); bad credentials `400` `ErrorResponseV1` |
//! | `POST /v1/change-password` | `ChangePasswordRequestBody` (`accessToken`, `currentPassword`, `newPassword`) → `200 {}`; the old password stops working and the account's tokens are revoked |
//! | `POST /v1/mailboxes/active` | `EndUsers` (1–10,000 ids of 9–11 chars) → `EndUsersWithActiveMailbox` |
//! | `POST /v2/attachments` | `multipart/form-data` with a `file` part → `201 {attachmentId}`; `413` text/plain over 10,485,760 bytes of HTTP content, `415` for a type outside the spec's list |
//! | `POST /v2/messages/electronic` | `ElectronicMessageRequestBody` → `MessageResponse`; `400` `ValidationErrorResponseV1` (`MAILBOX_NOT_IN_USE`, `MESSAGE_BEING_REPLIED_TO_NOT_FOUND`); `409` `MessageAlreadyExistsResponse` |
//! | `POST /v2/messages` | `MultichannelMessageRequestBody` → electronic when the mailbox is active, else paper mail; `409` as above |
//! | `POST /v2/paper-mail-without-id` | `PaperMailWithoutIdRequestBody` → `PaperMailResponse`; `409` `ErrorResponseV1` |
//! | `GET /v2/events?continuationToken=` | `Response` (`continuationToken`, `events`): at most 1,000 a page, empty = none now |
//! | `GET /v2/messages/{id}` | a message an end user sent (`MessageFromEndUserResponseV2`) |
//!
//! Every endpoint but `/v1/token` and `/v1/change-password` needs `Authorization: Bearer <access_token>`
//! (missing, unknown, expired or revoked → `401` `ErrorResponseV1`). Every response carries a `traceId` header.
//! `externalId` is unique per account; a repeat returns `409` with the original `messageId` whatever the body.
//!
//! # Events emitted (the spec's `GetV2Event` discriminator values)
//!
//! - `Electronic message created` — an electronic message (electronic endpoint, or multichannel with an active
//!   mailbox) was accepted.
//! - `Paper mail created`, then `Sent for printing and enveloping` — a multichannel message went to paper (no
//!   active mailbox), or paper mail without id.
//! - `Electronic message read` — the citizen read it ([`Control::mark_read`], `POST /_simulator/citizen/read`);
//!   once per message. For `messageServiceType: Verifiable` also `Receipt confirmed` (`receiptConfirmedBy` =
//!   the recipient id).
//! - `Electronic message from end user` — the citizen replied ([`Control::reply_as_citizen`],
//!   `POST /_simulator/citizen/reply`); fetch it with `GET /v2/messages/{id}`.
//!
//! # Control endpoints (not part of the real API; never faulted, never in the request log)
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /_simulator/faults` | inject a [`Fault`] (JSON shape in [`faults`]) → `204` |
//! | `GET /_simulator/faults` | the faults still active |
//! | `DELETE /_simulator/faults` | clear all faults |
//! | `GET /_simulator/messages` | every [`StoredMessage`] |
//! | `POST /_simulator/citizen/read` | `{"messageId": n}`: the recipient reads an electronic message → `204` |
//! | `POST /_simulator/citizen/reply` | `{"inReplyToMessageId": n, "title": "…", "body": "…"}` → `{"messageId": m}` |
//! | `POST /_simulator/mailboxes` | `{"id": "131052-308T", "active": true}`: open or close a mailbox → `204` |
//! | `POST /_simulator/tokens/expire` | every access token expires now → `204` |
//! | `GET /_simulator/requests` | the request log ([`LoggedRequest`]); `DELETE` clears it |
//! | `GET /_simulator/sends` | [`SendCount`] per `externalId` |

mod api;
pub mod faults;
mod identity;
mod schema;
mod server;

pub use faults::{Fault, FaultKind, When};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The largest HTTP content of `POST /v2/attachments`, as the spec's `413` text says.
pub const MAX_ATTACHMENT_CONTENT_LENGTH: usize = 10_485_760;
/// At most this many events a page of `GET /v2/events`.
pub const MAX_EVENTS_PER_PAGE: usize = 1_000;
/// At most this many ids in one `POST /v1/mailboxes/active`.
pub const MAX_END_USERS: usize = 10_000;

/// Username of the sandbox account.
pub const SANDBOX_USERNAME: &str = "portti-sandbox";
/// Password of the sandbox account: `Portti-Sandbox-Salasana-2026!#Demo` (34 characters, satisfies the policy).
pub const SANDBOX_PASSWORD: &str = "Portti-Sandbox-Salasana-2026!#Demo";

/// Sandbox persons WITH an active Suomi.fi mailbox (valid check characters).
pub const SANDBOX_PERSONS_WITH_MAILBOX: [&str; 5] = [
    "010594Y9032",
    "260881-1233",
    "150370-501A",
    "020202A222K",
    "311299-045N",
];
/// Sandbox persons WITHOUT a mailbox: electronic messages to them are refused (`MAILBOX_NOT_IN_USE`),
/// multichannel messages go to paper.
pub const SANDBOX_PERSONS_WITHOUT_MAILBOX: [&str; 3] = ["131052-308T", "230445-117E", "171254-690U"];

/// An organisation's API account (the real service issues these).
#[derive(Clone, Debug)]
pub struct Account {
    pub username: String,
    pub password: String,
}

/// Server certificate and key, PEM files, for HTTPS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub accounts: Vec<Account>,
    /// Identity codes (or Business IDs) with an active mailbox; compared case-insensitively.
    pub persons_with_mailbox: Vec<String>,
    /// Lifetime of an access token (`expires_in`).
    pub token_ttl: Duration,
    /// HTTPS when set, else plain HTTP.
    pub tls: Option<TlsFiles>,
}

impl Config {
    /// One account ([`SANDBOX_USERNAME`] / [`SANDBOX_PASSWORD`]), mailboxes for
    /// [`SANDBOX_PERSONS_WITH_MAILBOX`] (and none for [`SANDBOX_PERSONS_WITHOUT_MAILBOX`]), tokens valid one
    /// hour, plain HTTP.
    pub fn sandbox() -> Self {
        Config {
            accounts: vec![Account {
                username: SANDBOX_USERNAME.into(),
                password: SANDBOX_PASSWORD.into(),
            }],
            persons_with_mailbox: SANDBOX_PERSONS_WITH_MAILBOX.iter().map(|s| s.to_string()).collect(),
            token_ttl: Duration::from_secs(3600),
            tls: None,
        }
    }
}

/// The channel a message went by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Channel {
    Electronic,
    Paper,
}

/// A message as the simulator accepted it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMessage {
    pub message_id: i64,
    pub external_id: String,
    /// `recipient.id` as sent (None for paper mail without id).
    pub recipient_id: Option<String>,
    /// `electronic.title` (None for paper mail without id).
    pub title: Option<String>,
    /// `electronic.body` (None for paper mail without id).
    pub body: Option<String>,
    pub channel: Channel,
    pub read: bool,
    /// The username of the account that sent it.
    pub sender_account: String,
    pub service_id: String,
    pub attachment_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The request body exactly as received.
    pub request: Value,
}

/// An uploaded attachment.
#[derive(Clone, Debug)]
pub struct StoredAttachment {
    pub attachment_id: Uuid,
    pub owner_account: String,
    pub file_name: String,
    pub content_type: String,
    pub content: Bytes,
}

/// One request of the real API, as answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// None when the connection was dropped without a response.
    pub status: Option<u16>,
}

/// Sends seen for one `externalId`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SendCount {
    /// Messages created (`200`): exactly-once delivery means this is 1.
    pub created: u32,
    /// Repeats answered `409` with the original `messageId`.
    pub duplicates: u32,
}

struct TokenState {
    username: String,
    expires_at: Instant,
}

struct EndUserMessage {
    message_id: i64,
    account: String,
    service_id: String,
    sender_id: String,
    root_message_id: i64,
    thread_external_id: String,
    title: String,
    body: String,
    created_at: DateTime<Utc>,
}

struct Inner {
    passwords: HashMap<String, String>,
    tokens: HashMap<String, TokenState>,
    mailboxes: BTreeSet<String>,
    next_message_id: i64,
    messages: Vec<StoredMessage>,
    by_external_id: HashMap<(String, String), i64>,
    send_counts: BTreeMap<String, SendCount>,
    attachments: HashMap<Uuid, StoredAttachment>,
    /// Per account, in order; a continuation token is an index into it.
    events: HashMap<String, Vec<Value>>,
    end_user_messages: HashMap<i64, EndUserMessage>,
    faults: Vec<faults::Active>,
    request_log: Vec<LoggedRequest>,
    event_page_size: usize,
}

pub(crate) struct Sim {
    inner: Mutex<Inner>,
    token_ttl: Duration,
}

impl Sim {
    fn new(config: &Config) -> Self {
        Sim {
            inner: Mutex::new(Inner {
                passwords: config
                    .accounts
                    .iter()
                    .map(|a| (a.username.clone(), a.password.clone()))
                    .collect(),
                tokens: HashMap::new(),
                mailboxes: config
                    .persons_with_mailbox
                    .iter()
                    .map(|s| s.trim().to_uppercase())
                    .collect(),
                next_message_id: 100_001,
                messages: Vec::new(),
                by_external_id: HashMap::new(),
                send_counts: BTreeMap::new(),
                attachments: HashMap::new(),
                events: HashMap::new(),
                end_user_messages: HashMap::new(),
                faults: Vec::new(),
                request_log: Vec::new(),
                event_page_size: MAX_EVENTS_PER_PAGE,
            }),
            token_ttl: config.token_ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (no multi-step invariants span a panic point).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn event(kind: &str, metadata: Value) -> Value {
    serde_json::json!({
        "type": kind,
        "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "metadata": metadata,
    })
}

fn message_metadata(m: &StoredMessage) -> Value {
    serde_json::json!({"messageId": m.message_id, "serviceId": m.service_id, "externalId": m.external_id})
}

impl Inner {
    fn push_event(&mut self, account: &str, event: Value) {
        self.events.entry(account.to_string()).or_default().push(event);
    }

    fn has_mailbox(&self, id: &str) -> bool {
        self.mailboxes.contains(&id.trim().to_uppercase())
    }

    fn mark_read(&mut self, message_id: i64) -> anyhow::Result<()> {
        let m = self
            .messages
            .iter_mut()
            .find(|m| m.message_id == message_id)
            .ok_or_else(|| anyhow::anyhow!("no message {message_id}"))?;
        anyhow::ensure!(
            m.channel == Channel::Electronic,
            "message {message_id} went by paper mail"
        );
        if m.read {
            return Ok(());
        }
        m.read = true;
        let m = m.clone();
        self.push_event(
            &m.sender_account,
            event("Electronic message read", message_metadata(&m)),
        );
        if m.request
            .pointer("/electronic/messageServiceType")
            .and_then(Value::as_str)
            == Some("Verifiable")
        {
            let mut metadata = message_metadata(&m);
            metadata["receiptConfirmedBy"] = Value::from(m.recipient_id.clone().unwrap_or_default());
            self.push_event(&m.sender_account, event("Receipt confirmed", metadata));
        }
        Ok(())
    }

    fn reply_as_citizen(&mut self, in_reply_to: i64, title: &str, body: &str) -> anyhow::Result<i64> {
        let original = self
            .messages
            .iter()
            .find(|m| m.message_id == in_reply_to)
            .ok_or_else(|| anyhow::anyhow!("no message {in_reply_to}"))?
            .clone();
        anyhow::ensure!(
            original.channel == Channel::Electronic,
            "message {in_reply_to} went by paper mail"
        );
        anyhow::ensure!(
            original
                .request
                .pointer("/electronic/replyAllowedBy")
                .and_then(Value::as_str)
                == Some("Anyone"),
            "message {in_reply_to} does not allow replies"
        );
        let message_id = self.next_message_id;
        self.next_message_id += 1;
        let reply = EndUserMessage {
            message_id,
            account: original.sender_account.clone(),
            service_id: original.service_id.clone(),
            sender_id: original.recipient_id.clone().unwrap_or_default(),
            root_message_id: original.message_id,
            thread_external_id: original.external_id.clone(),
            title: title.to_string(),
            body: body.to_string(),
            created_at: Utc::now(),
        };
        self.push_event(
            &reply.account,
            event(
                "Electronic message from end user",
                serde_json::json!({"messageId": message_id, "serviceId": reply.service_id}),
            ),
        );
        self.end_user_messages.insert(message_id, reply);
        Ok(message_id)
    }
}

/// A cloneable handle to a running simulator's state, for tests and the sandbox.
#[derive(Clone)]
pub struct Control {
    sim: Arc<Sim>,
}

impl Control {
    crate::injection::fault_controls! {
        /// Inject a fault (see [`faults`]). Panics on a fault that makes no sense (status outside 400–599,
        /// fraction outside 0–1).
    }

    /// Every accepted message, oldest first.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.sim.lock().messages.clone()
    }

    /// How many messages were created, without copying them (for polling under load).
    pub fn message_count(&self) -> usize {
        self.sim.lock().messages.len()
    }

    pub fn message(&self, message_id: i64) -> Option<StoredMessage> {
        self.sim
            .lock()
            .messages
            .iter()
            .find(|m| m.message_id == message_id)
            .cloned()
    }

    /// The recipient reads an electronic message: `Electronic message read` (and `Receipt confirmed` for a
    /// verifiable one). Reading twice is a no-op. Errors for an unknown or paper message.
    pub fn mark_read(&self, message_id: i64) -> anyhow::Result<()> {
        self.sim.lock().mark_read(message_id)
    }

    /// The recipient replies to an electronic message that allows replies (`replyAllowedBy: Anyone`):
    /// `Electronic message from end user`. Returns the new message's id.
    pub fn reply_as_citizen(&self, in_reply_to: i64, title: &str, body: &str) -> anyhow::Result<i64> {
        self.sim.lock().reply_as_citizen(in_reply_to, title, body)
    }

    /// Every access token expires now.
    pub fn expire_tokens(&self) {
        self.sim.lock().tokens.clear();
    }

    /// Messages created and `409` repeats per `externalId` (across accounts).
    pub fn count_sends_by_external_id(&self) -> BTreeMap<String, SendCount> {
        self.sim.lock().send_counts.clone()
    }

    crate::injection::request_log_controls! {
        /// Requests of the real API (not `/_simulator/…`), oldest first (the most recent 100,000).
    }

    /// Open or close a person's mailbox.
    pub fn set_mailbox_active(&self, id: &str, active: bool) {
        let id = id.trim().to_uppercase();
        let mut inner = self.sim.lock();
        if active {
            inner.mailboxes.insert(id);
        } else {
            inner.mailboxes.remove(&id);
        }
    }

    /// Page size of `GET /v2/events` (clamped to 1–1,000; default 1,000), to test paging without thousands
    /// of messages. The spec warns clients not to rely on the number of events in a page.
    pub fn set_event_page_size(&self, size: usize) {
        self.sim.lock().event_page_size = size.clamp(1, MAX_EVENTS_PER_PAGE);
    }

    /// Every uploaded attachment.
    pub fn attachments(&self) -> Vec<StoredAttachment> {
        self.sim.lock().attachments.values().cloned().collect()
    }

    /// The events of an account, oldest first, as `GET /v2/events` would return them.
    pub fn events(&self, username: &str) -> Vec<Value> {
        self.sim.lock().events.get(username).cloned().unwrap_or_default()
    }

    /// An account's current password (None for an unknown account).
    pub fn password(&self, username: &str) -> Option<String> {
        self.sim.lock().passwords.get(username).cloned()
    }
}

/// A running simulator. Dropping it stops the server (open connections are closed).
pub struct Running {
    addr: SocketAddr,
    https: bool,
    control: Control,
    /// Stops the server when the handle is dropped.
    _shutdown: crate::net::StopOnDrop,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://127.0.0.1:PORT` with TLS (the demo `simulator.pem` carries
    /// `IP:127.0.0.1` and `DNS:localhost`). A wildcard listen address is shown as 127.0.0.1.
    pub fn base_url(&self) -> String {
        crate::net::base_url(if self.https { "https" } else { "http" }, self.addr)
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stop serving now.
    pub fn shutdown(self) {}
}

/// Start the simulator on `listen` (port 0 picks a free port; meant for loopback). Returns once it accepts
/// connections. Needs a tokio runtime.
pub async fn start(config: Config, listen: SocketAddr) -> anyhow::Result<Running> {
    anyhow::ensure!(!config.accounts.is_empty(), "at least one account is needed");
    let acceptor = config.tls.as_ref().map(server::acceptor).transpose()?;
    let sim = Arc::new(Sim::new(&config));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, stop) = crate::net::stop_signal();
    let https = acceptor.is_some();
    tokio::spawn(server::serve(
        listener,
        acceptor,
        api::router(sim.clone()),
        sim.clone(),
        stop,
    ));
    Ok(Running {
        addr,
        https,
        control: Control { sim },
        _shutdown: shutdown,
    })
}
