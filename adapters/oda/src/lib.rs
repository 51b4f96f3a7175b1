//! ODA / Omaolo adapter. Omaolo is FHIR R4 based: citizens complete symptom and service-need
//! self-assessments (`QuestionnaireResponse` against a `Questionnaire`, Kanta PHR profiles), and the
//! organisation's professionals handle them by urgency. Portti reads the completed assessments addressed to
//! an organisation, writes their handling status back as a `Task`, and the professional's reply as a
//! `Communication`.
//!
//! | operation | payload | FHIR |
//! |---|---|---|
//! | [`OP_SEARCH_COMPLETED`] | [`SearchCompleted`] | `GET {base}/QuestionnaireResponse?status=completed&_tag={organisation_system}\|{org}&_sort=_lastUpdated&_count={page_size}[&_lastUpdated=ge{cursor}]`, then `Bundle.link[next]` |
//! | [`OP_UPDATE_TASK_STATUS`] | [`UpdateTaskStatus`] | `PUT {base}/Task/{deterministic id}` (update as create) |
//! | [`OP_SEND_REPLY`] | [`SendReply`] | `POST {base}/Communication` with `If-None-Exist: identifier=urn:ietf:rfc:3986\|urn:uuid:…` (conditional create) |
//!
//! # Choices (documented, configurable where it matters)
//!
//! - **Organisation filter**: the receiving organisation is a `meta.tag` of the `QuestionnaireResponse`,
//!   system [`OdaConfig::organisation_system`] (default [`DEFAULT_ORGANISATION_SYSTEM`], the municipality code
//!   system, so Turku is `urn:oid:1.2.246.537.6.21|853`), code = the organisation's id. `_tag` is a search
//!   parameter of every FHIR resource, so no custom `SearchParameter` is needed and the search is independent
//!   of `subject`. The adapter also drops any returned resource without that tag or not `completed`.
//! - **Cursor**: `{"last_updated": "<instant>", "ids": [ids at that instant]}`. The search asks
//!   `_lastUpdated=ge<instant>` (not `gt`) and drops the ids already delivered at that instant, so a resource
//!   written later with the same timestamp is not lost; `gt` could lose it.
//! - **Task id**: a UUID derived from SHA-256 of the organisation and the `QuestionnaireResponse` id (the
//!   same assessment and organisation always give the same Task), written with `PUT` (FHIR update-as-create;
//!   the server must allow client-assigned ids). Its identifier is `urn:ietf:rfc:3986|urn:uuid:<that id>`.
//! - **Communication identifier**: `urn:ietf:rfc:3986|urn:uuid:<uuid>` where the UUID is the payload's
//!   `reply_id` when it is one, a UUID derived from it when it is another string, else the broker's exchange
//!   id; a repeat is answered `200` with the existing resource.
//! - **Profiles** (`meta.profile` of what is written): [`OdaConfig::task_profile`] and
//!   [`OdaConfig::communication_profile`], by default the FHIR R4 base profiles
//!   ([`DEFAULT_TASK_PROFILE`], [`DEFAULT_COMMUNICATION_PROFILE`]); set the Kanta PHR / Omaolo profile
//!   canonicals in production.
//! - **Assessment** fields: see [`assessment`].
//!
//! Authentication: OAuth 2.0 client credentials with a JWT client assertion signed by the client's key
//! ([`auth`]); the token is cached until shortly before `expires_in`, and a `401` from the FHIR server drops
//! it, fetches a new one and repeats the request once.
//!
//! Identity codes never reach logs or error strings: errors name JSON pointers, and text from the server
//! passes through a redactor first.

pub mod assessment;
pub mod auth;
pub mod fhir;

pub use assessment::{AnswerSummary, Assessment, Extraction, IDENTITY_CODE_SYSTEM, URGENCY_SYSTEM};

use auth::ClientKey;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use fhir::{
    Annotation, Bundle, CodeableConcept, Communication, CommunicationPayload, Identifier, Meta, OperationOutcome,
    QuestionnaireResponse, Reference, Task,
};
use portti_adapter_core::{
    build_client, classify_status, classify_transport_error, sha256_hex, Adapter, AdapterError, BoxFuture, CallContext,
    Health, HttpClientConfig, HttpClientError, Operation, Reply,
};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const SERVICE: &str = "oda";
/// Operation names.
pub const OP_SEARCH_COMPLETED: &str = "search_completed";
pub const OP_UPDATE_TASK_STATUS: &str = "update_task_status";
pub const OP_SEND_REPLY: &str = "send_reply";

/// The municipality code system (Kuntaluettelo): organisations `853` (Turku), `529` (Naantali).
pub const DEFAULT_ORGANISATION_SYSTEM: &str = "urn:oid:1.2.246.537.6.21";
pub const DEFAULT_URGENCY_LINK_ID: &str = "urgency";
pub const DEFAULT_TOPIC_LINK_ID: &str = "topic";
/// FHIR R4 base profiles (stand-ins until the Kanta PHR canonicals are configured).
pub const DEFAULT_TASK_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/Task";
pub const DEFAULT_COMMUNICATION_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/Communication";
/// Identifier system of URN values (`urn:uuid:…`), FHIR's own convention.
pub const URN_SYSTEM: &str = "urn:ietf:rfc:3986";
/// `Task.status` codes (FHIR R4 `task-status`) the adapter writes.
pub const TASK_STATUSES: [&str; 10] = [
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
];
/// Largest `_count` the adapter asks for.
pub const MAX_PAGE_SIZE: u32 = 1_000;

const FHIR_JSON: &str = "application/fhir+json";

/// Configuration of the adapter (`[oda]` in `portti.toml`; unknown keys refused).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdaConfig {
    /// The FHIR base, e.g. `https://fhir.omaolo.example/fhir/R4` (no trailing slash needed).
    pub base_url: String,
    /// The OAuth 2.0 token endpoint; also the `aud` of the client assertion.
    pub token_url: String,
    /// The OAuth client id: `iss` and `sub` of the client assertion.
    pub client_id: String,
    /// PEM private key, EC P-384 (ES384) or RSA ≥ 2048 (RS384).
    pub client_key_file: PathBuf,
    /// `kid` of the assertion's header (the key's id in the JWKS registered with the server).
    #[serde(default)]
    pub key_id: Option<String>,
    /// `scope` of the token request, e.g. `system/QuestionnaireResponse.read system/Task.write system/Communication.write`.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default = "default_organisation_system")]
    pub organisation_system: String,
    #[serde(default = "default_task_profile")]
    pub task_profile: String,
    #[serde(default = "default_communication_profile")]
    pub communication_profile: String,
    #[serde(default = "default_urgency_link_id")]
    pub urgency_link_id: String,
    #[serde(default = "default_topic_link_id")]
    pub topic_link_id: String,
    /// `_count` of a search (1–1,000, default 50).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Pages one `search_completed` call follows at most (default 20); `more: true` tells there are more.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    #[serde(default)]
    pub http: HttpClientConfig,
}

fn default_organisation_system() -> String {
    DEFAULT_ORGANISATION_SYSTEM.into()
}
fn default_task_profile() -> String {
    DEFAULT_TASK_PROFILE.into()
}
fn default_communication_profile() -> String {
    DEFAULT_COMMUNICATION_PROFILE.into()
}
fn default_urgency_link_id() -> String {
    DEFAULT_URGENCY_LINK_ID.into()
}
fn default_topic_link_id() -> String {
    DEFAULT_TOPIC_LINK_ID.into()
}
fn default_page_size() -> u32 {
    50
}
fn default_max_pages() -> u32 {
    20
}

/// Payload of [`OP_SEARCH_COMPLETED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchCompleted {
    pub organisation: String,
    /// Absent or null: from the beginning.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// Overrides [`OdaConfig::max_pages`] for this call.
    #[serde(default)]
    pub max_pages: Option<u32>,
}

/// Where a search got to: the greatest `meta.lastUpdated` delivered, and the ids delivered at that instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub last_updated: String,
    #[serde(default)]
    pub ids: Vec<String>,
}

/// Payload of [`OP_UPDATE_TASK_STATUS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskStatus {
    pub questionnaire_response_id: String,
    pub organisation: String,
    /// One of [`TASK_STATUSES`].
    pub status: String,
    /// `Task.for`, by identity code.
    #[serde(default)]
    pub patient_identity_code: Option<String>,
    /// `Task.businessStatus.text`, e.g. "Soitetaan takaisin tänään".
    #[serde(default)]
    pub business_status: Option<String>,
    /// `Task.note`.
    #[serde(default)]
    pub note: Option<String>,
}

/// Payload of [`OP_SEND_REPLY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendReply {
    pub questionnaire_response_id: String,
    pub organisation: String,
    /// `payload.contentString`.
    pub message: String,
    /// `subject` and `recipient`, by identity code.
    #[serde(default)]
    pub patient_identity_code: Option<String>,
    /// The idempotency key; the broker's exchange id when absent.
    #[serde(default)]
    pub reply_id: Option<String>,
    /// `sender.display`, e.g. the unit's name.
    #[serde(default)]
    pub sender_display: Option<String>,
    /// `Communication.language`.
    #[serde(default)]
    pub language: Option<String>,
}

/// Why the adapter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("oda: {0}")]
    Invalid(String),
    #[error("oda: {0}")]
    Http(#[from] HttpClientError),
}

/// The ODA / Omaolo adapter.
pub struct Oda {
    base_url: String,
    token_url: String,
    client_id: String,
    scope: Option<String>,
    key: ClientKey,
    extraction: Extraction,
    task_profile: String,
    communication_profile: String,
    page_size: u32,
    max_pages: u32,
    request_timeout: Duration,
    client: reqwest::Client,
    auth: tokio::sync::Mutex<AuthState>,
}

impl fmt::Debug for Oda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oda")
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct AuthState {
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
    fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, AdapterError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            AdapterError::Transient(format!(
                "{what}: HTTP {} with a body that is not the expected JSON ({})",
                self.status.as_u16(),
                e.classify_name()
            ))
        })
    }

    fn error(&self) -> AdapterError {
        let detail = error_detail(&self.body);
        classify_status(self.status, &self.headers, &detail)
            .unwrap_or_else(|| AdapterError::Permanent(format!("unexpected HTTP {}: {detail}", self.status.as_u16())))
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected content",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

fn check_url(what: &str, url: &str) -> Result<String, SetupError> {
    let url = url.trim().trim_end_matches('/').to_owned();
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.query().is_none() && u.host().is_some() => Ok(url),
        _ => Err(SetupError::Invalid(format!("{what} {url:?} is not an http(s) URL"))),
    }
}

impl Oda {
    pub fn new(config: OdaConfig) -> Result<Self, SetupError> {
        let base_url = check_url("base_url", &config.base_url)?;
        let token_url = check_url("token_url", &config.token_url)?;
        if config.client_id.trim().is_empty() {
            return Err(SetupError::Invalid("client_id is empty".into()));
        }
        for (what, value) in [
            ("organisation_system", &config.organisation_system),
            ("task_profile", &config.task_profile),
            ("communication_profile", &config.communication_profile),
            ("urgency_link_id", &config.urgency_link_id),
            ("topic_link_id", &config.topic_link_id),
        ] {
            if value.trim().is_empty() {
                return Err(SetupError::Invalid(format!("{what} is empty")));
            }
        }
        if !(1..=MAX_PAGE_SIZE).contains(&config.page_size) {
            return Err(SetupError::Invalid(format!("page_size must be 1–{MAX_PAGE_SIZE}")));
        }
        if config.max_pages == 0 {
            return Err(SetupError::Invalid("max_pages must be at least 1".into()));
        }
        let key = ClientKey::from_file(&config.client_key_file, config.key_id.clone())
            .map_err(|e| SetupError::Invalid(format!("client_key_file: {e}")))?;
        Ok(Oda {
            base_url,
            token_url,
            client_id: config.client_id.trim().to_owned(),
            scope: config.scope,
            key,
            extraction: Extraction {
                organisation_system: config.organisation_system,
                urgency_link_id: config.urgency_link_id,
                topic_link_id: config.topic_link_id,
            },
            task_profile: config.task_profile,
            communication_profile: config.communication_profile,
            page_size: config.page_size,
            max_pages: config.max_pages,
            request_timeout: config.http.request_timeout,
            client: build_client(&config.http)?,
            auth: tokio::sync::Mutex::new(AuthState::default()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// How assessments are extracted with this configuration.
    pub fn extraction(&self) -> &Extraction {
        &self.extraction
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

    /// The token endpoint. A refusal (`400` `invalid_client` and the like, `401`, `403`) is
    /// [`AdapterError::Reauthenticate`]: the client's registration or key needs attention.
    async fn fetch_token(&self, deadline: Instant) -> Result<(String, Option<Instant>), AdapterError> {
        let assertion = (self.key.assertion(&self.client_id, &self.token_url)).map_err(AdapterError::Permanent)?;
        let form = auth::token_form(&assertion, self.scope.as_deref());
        let request = self
            .client
            .post(&self.token_url)
            .header(ACCEPT, "application/json")
            .form(&form);
        let raw = self.send(request, deadline).await?;
        match raw.status {
            s if s.is_success() => {}
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(AdapterError::Reauthenticate(format!(
                    "the token endpoint refused the client: HTTP {}: {}",
                    raw.status.as_u16(),
                    error_detail(&raw.body)
                )))
            }
            _ => return Err(raw.error()),
        }
        let json: Value = raw.json("token")?;
        let token = (json.get("access_token").and_then(Value::as_str))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AdapterError::Transient("token answer without access_token".into()))?;
        if let Some(kind) = json.get("token_type").and_then(Value::as_str) {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(AdapterError::Permanent(format!("token_type {kind:?} is not Bearer")));
            }
        }
        let refresh_at = (json.get("expires_in").and_then(Value::as_u64))
            .filter(|&s| s > 0)
            .map(|s| {
                let lifetime = Duration::from_secs(s);
                Instant::now() + lifetime - (lifetime / 10).min(Duration::from_secs(60))
            });
        Ok((token.to_owned(), refresh_at))
    }

    /// The cached token, or a new one. One fetch at a time: concurrent callers wait for it.
    async fn token(&self, deadline: Instant) -> Result<Token, AdapterError> {
        let mut state = tokio::time::timeout_at(deadline.into(), self.auth.lock())
            .await
            .map_err(|_| AdapterError::Transient("the call's deadline passed waiting for an access token".into()))?;
        if let Some(token) = state.token.as_ref().filter(|t| t.fresh()) {
            return Ok(token.clone());
        }
        let (value, refresh_at) = self.fetch_token(deadline).await?;
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

    /// Forgets the token the server refused, unless another caller has already replaced it.
    async fn invalidate(&self, generation: u64) {
        let mut state = self.auth.lock().await;
        if state.token.as_ref().is_some_and(|t| t.generation == generation) {
            state.token = None;
        }
    }

    /// A request with the access token; on `401` a fresh token and one more try.
    async fn authed(&self, deadline: Instant, make: impl Fn(&str) -> RequestBuilder) -> Result<Raw, AdapterError> {
        let token = self.token(deadline).await?;
        let raw = self.send(make(&token.value), deadline).await?;
        if raw.status != StatusCode::UNAUTHORIZED {
            return Ok(raw);
        }
        self.invalidate(token.generation).await;
        let token = self.token(deadline).await?;
        self.send(make(&token.value), deadline).await
    }

    // ---- search_completed ----

    /// The first search URL (query included) for an organisation and cursor.
    pub fn search_url(&self, organisation: &str, since: Option<&DateTime<Utc>>) -> String {
        let mut url = reqwest::Url::parse(&self.url("/QuestionnaireResponse")).expect("checked at setup");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("status", "completed");
            query.append_pair(
                "_tag",
                &format!(
                    "{}|{}",
                    escape_token(&self.extraction.organisation_system),
                    escape_token(organisation)
                ),
            );
            if let Some(since) = since {
                query.append_pair("_lastUpdated", &format!("ge{}", format_instant(since)));
            }
            query.append_pair("_sort", "_lastUpdated");
            query.append_pair("_count", &self.page_size.to_string());
        }
        url.to_string()
    }

    /// A `next` link is followed only when it is under `base_url` (the token goes nowhere else).
    fn check_next(&self, next: &str) -> Result<String, AdapterError> {
        let base = reqwest::Url::parse(&self.base_url).expect("checked at setup");
        let ok = reqwest::Url::parse(next).ok().filter(|n| {
            n.scheme() == base.scheme()
                && n.host() == base.host()
                && n.port_or_known_default() == base.port_or_known_default()
                && n.path().starts_with(base.path().trim_end_matches('/'))
        });
        ok.map(|u| u.to_string())
            .ok_or_else(|| AdapterError::Permanent("the server's next link points outside base_url".into()))
    }

    async fn search_completed(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        let request: SearchCompleted = parse_payload(operation)?;
        let organisation = request.organisation.trim();
        if organisation.is_empty() {
            return Err(AdapterError::Permanent("/organisation is empty".into()));
        }
        let since = match &request.cursor {
            None => None,
            Some(c) => Some(
                parse_instant(&c.last_updated)
                    .ok_or_else(|| AdapterError::Permanent("/cursor/last_updated is not an RFC 3339 instant".into()))?,
            ),
        };
        let seen_at_since: BTreeSet<&str> = (request.cursor.iter())
            .flat_map(|c| c.ids.iter().map(String::as_str))
            .collect();
        let max_pages = request.max_pages.unwrap_or(self.max_pages).max(1);

        let mut url = self.search_url(organisation, since.as_ref());
        let (mut pages, mut more) = (0u32, false);
        let mut received = Vec::new();
        let mut found: Vec<(DateTime<Utc>, String, Value, QuestionnaireResponse)> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        loop {
            let raw = self
                .authed(cx.deadline, |token| {
                    self.client.get(&url).bearer_auth(token).header(ACCEPT, FHIR_JSON)
                })
                .await?;
            if !raw.status.is_success() {
                return Err(raw.error());
            }
            let bundle: Bundle = raw.json("search")?;
            if bundle.resource_type != "Bundle" {
                return Err(AdapterError::Transient(format!(
                    "search answered a {} rather than a Bundle",
                    redact(&bundle.resource_type)
                )));
            }
            pages += 1;
            received.extend_from_slice(&raw.body);
            let next = bundle.link("next").map(str::to_owned);
            for entry in bundle.entry {
                let mode = entry.search.as_ref().and_then(|s| s.mode.as_deref());
                if matches!(mode, Some("include" | "outcome")) {
                    continue;
                }
                let Some(resource) = entry.resource else { continue };
                if resource.get("resourceType").and_then(Value::as_str) != Some("QuestionnaireResponse") {
                    continue;
                }
                let id = resource.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                let parsed = serde_json::from_value::<QuestionnaireResponse>(resource.clone());
                let (Ok(qr), false) = (parsed, id.is_empty()) else {
                    skipped.push(id);
                    continue;
                };
                let Some(at) = qr.meta.last_updated.as_deref().and_then(parse_instant) else {
                    skipped.push(id);
                    continue;
                };
                let ours = (qr.meta.tag.iter()).any(|t| {
                    t.system.as_deref() == Some(self.extraction.organisation_system.as_str())
                        && t.code.as_deref() == Some(organisation)
                });
                if !ours || qr.status != "completed" {
                    continue;
                }
                if let Some(since) = &since {
                    if at < *since || (at == *since && seen_at_since.contains(id.as_str())) {
                        continue;
                    }
                }
                // Updated while we paged: keep the newest copy only.
                found.retain(|(_, other, _, _)| *other != id);
                found.push((at, id, resource, qr));
            }
            match next {
                Some(next) if pages < max_pages => url = self.check_next(&next)?,
                Some(_) => {
                    more = true;
                    break;
                }
                None => break,
            }
        }
        found.sort_by_key(|a| a.0);

        let cursor = match found.last().map(|f| f.0) {
            None => request.cursor.clone(),
            Some(max) => {
                let mut ids: BTreeSet<String> = (found.iter()).filter(|f| f.0 == max).map(|f| f.1.clone()).collect();
                if since == Some(max) {
                    ids.extend(seen_at_since.iter().map(|s| s.to_string()));
                }
                Some(Cursor {
                    last_updated: format_instant(&max),
                    ids: ids.into_iter().collect(),
                })
            }
        };
        let assessments: Vec<Assessment> = (found.iter())
            .filter_map(|f| Assessment::from_questionnaire_response(&f.3, &self.extraction))
            .collect();
        let resources: Vec<Value> = found.into_iter().map(|f| f.2).collect();
        if !skipped.is_empty() {
            tracing::warn!(
                service = SERVICE,
                count = skipped.len(),
                "QuestionnaireResponses skipped: not readable or without meta.lastUpdated"
            );
        }
        Ok(Reply {
            upstream_id: None,
            body: json!({
                "resources": resources,
                "assessments": assessments,
                "cursor": cursor,
                "pages": pages,
                "more": more,
                "skipped": skipped,
            }),
            request_digest: None,
            response_digest: Some(sha256_hex(&received)),
        })
    }

    // ---- update_task_status ----

    /// The deterministic id of the Task of an organisation for an assessment.
    pub fn task_id(organisation: &str, questionnaire_response_id: &str) -> String {
        derived_uuid(&["portti-oda-task", organisation, questionnaire_response_id]).to_string()
    }

    /// The Task exactly as [`OP_UPDATE_TASK_STATUS`] sends it.
    pub fn build_task(&self, request: &UpdateTaskStatus, now: DateTime<Utc>) -> Result<Task, AdapterError> {
        let qr_id = request.questionnaire_response_id.trim();
        let organisation = request.organisation.trim();
        let mut problems = Vec::new();
        if !is_fhir_id(qr_id) {
            problems.push("/questionnaire_response_id is not a FHIR id");
        }
        if organisation.is_empty() {
            problems.push("/organisation is empty");
        }
        if !TASK_STATUSES.contains(&request.status.as_str()) {
            problems.push("/status is not a task-status code");
        }
        if request
            .patient_identity_code
            .as_deref()
            .is_some_and(|c| !looks_like_identity_code(c))
        {
            problems.push("/patient_identity_code is not a personal identity code");
        }
        if !problems.is_empty() {
            return Err(AdapterError::Permanent(problems.join("; ")));
        }
        let id = Self::task_id(organisation, qr_id);
        let now = format_instant(&now);
        Ok(Task {
            resource_type: "Task".into(),
            id: Some(id.clone()),
            meta: Meta {
                profile: vec![self.task_profile.clone()],
                ..Meta::default()
            },
            identifier: vec![Identifier::new(URN_SYSTEM, &format!("urn:uuid:{id}"))],
            status: request.status.clone(),
            business_status: (request.business_status.as_deref())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|text| CodeableConcept {
                    coding: vec![],
                    text: Some(text.into()),
                }),
            intent: "order".into(),
            focus: Some(Reference::literal(format!("QuestionnaireResponse/{qr_id}"))),
            for_: request.patient_identity_code.as_deref().map(|code| {
                Reference::logical(
                    "Patient",
                    Identifier::new(IDENTITY_CODE_SYSTEM, &code.trim().to_uppercase()),
                )
            }),
            last_modified: Some(now),
            owner: Some(self.organisation_reference(organisation)),
            note: (request.note.as_deref())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|text| Annotation {
                    author_string: None,
                    time: None,
                    text: text.into(),
                })
                .into_iter()
                .collect(),
            ..Task::default()
        })
    }

    fn organisation_reference(&self, organisation: &str) -> Reference {
        Reference::logical(
            "Organization",
            Identifier::new(&self.extraction.organisation_system, organisation),
        )
    }

    async fn update_task_status(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        let request: UpdateTaskStatus = parse_payload(operation)?;
        let task = self.build_task(&request, Utc::now())?;
        let id = task.id.clone().expect("built with an id");
        let body = Bytes::from(serde_json::to_vec(&task).expect("serialisable"));
        let url = self.url(&format!("/Task/{id}"));
        let raw = self
            .authed(cx.deadline, |token| {
                self.client
                    .put(&url)
                    .bearer_auth(token)
                    .header(CONTENT_TYPE, FHIR_JSON)
                    .header(ACCEPT, FHIR_JSON)
                    .header("Prefer", "return=representation")
                    .body(body.clone())
            })
            .await?;
        if !raw.status.is_success() {
            return Err(raw.error());
        }
        let version = version_of(&raw);
        Ok(Reply {
            upstream_id: Some(format!("Task/{id}")),
            body: json!({
                "task_id": id,
                "version_id": version,
                "status": request.status,
                "created": raw.status == StatusCode::CREATED,
            }),
            request_digest: Some(sha256_hex(&body)),
            response_digest: Some(sha256_hex(&raw.body)),
        })
    }

    // ---- send_reply ----

    /// The value of the Communication's `urn:ietf:rfc:3986` identifier: `urn:uuid:…` of `reply_id` (derived
    /// when it is not a UUID), else of the exchange id.
    pub fn reply_identifier(reply_id: Option<&str>, exchange_id: uuid::Uuid) -> String {
        let uuid = match reply_id.map(str::trim).filter(|r| !r.is_empty()) {
            None => exchange_id,
            Some(r) => uuid::Uuid::parse_str(r).unwrap_or_else(|_| derived_uuid(&["portti-oda-reply", r])),
        };
        format!("urn:uuid:{uuid}")
    }

    /// The Communication exactly as [`OP_SEND_REPLY`] sends it.
    pub fn build_communication(
        &self,
        request: &SendReply,
        identifier: &str,
        now: DateTime<Utc>,
    ) -> Result<Communication, AdapterError> {
        let qr_id = request.questionnaire_response_id.trim();
        let organisation = request.organisation.trim();
        let mut problems = Vec::new();
        if !is_fhir_id(qr_id) {
            problems.push("/questionnaire_response_id is not a FHIR id");
        }
        if organisation.is_empty() {
            problems.push("/organisation is empty");
        }
        if request.message.trim().is_empty() {
            problems.push("/message is empty");
        }
        if request
            .patient_identity_code
            .as_deref()
            .is_some_and(|c| !looks_like_identity_code(c))
        {
            problems.push("/patient_identity_code is not a personal identity code");
        }
        if (request.language.as_deref())
            .is_some_and(|l| l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            problems.push("/language is not a language tag");
        }
        if !problems.is_empty() {
            return Err(AdapterError::Permanent(problems.join("; ")));
        }
        let patient = (request.patient_identity_code.as_deref()).map(|code| {
            Reference::logical(
                "Patient",
                Identifier::new(IDENTITY_CODE_SYSTEM, &code.trim().to_uppercase()),
            )
        });
        let mut sender = self.organisation_reference(organisation);
        sender.display = request.sender_display.clone().filter(|d| !d.trim().is_empty());
        Ok(Communication {
            resource_type: "Communication".into(),
            meta: Meta {
                profile: vec![self.communication_profile.clone()],
                ..Meta::default()
            },
            language: request.language.clone(),
            identifier: vec![Identifier::new(URN_SYSTEM, identifier)],
            status: "completed".into(),
            subject: patient.clone(),
            about: vec![Reference::literal(format!("QuestionnaireResponse/{qr_id}"))],
            sent: Some(format_instant(&now)),
            recipient: patient.into_iter().collect(),
            sender: Some(sender),
            payload: vec![CommunicationPayload {
                content_string: Some(request.message.clone()),
            }],
            ..Communication::default()
        })
    }

    async fn send_reply(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        let request: SendReply = parse_payload(operation)?;
        let identifier = Self::reply_identifier(request.reply_id.as_deref(), cx.exchange_id);
        let communication = self.build_communication(&request, &identifier, Utc::now())?;
        let body = Bytes::from(serde_json::to_vec(&communication).expect("serialisable"));
        let url = self.url("/Communication");
        let condition = format!("identifier={URN_SYSTEM}|{identifier}");
        let raw = self
            .authed(cx.deadline, |token| {
                self.client
                    .post(&url)
                    .bearer_auth(token)
                    .header(CONTENT_TYPE, FHIR_JSON)
                    .header(ACCEPT, FHIR_JSON)
                    .header("Prefer", "return=representation")
                    .header("If-None-Exist", &condition)
                    .body(body.clone())
            })
            .await?;
        let already_sent = match raw.status {
            StatusCode::CREATED => false,
            // Conditional create found the identifier: the reply was stored before.
            StatusCode::OK => true,
            _ => return Err(raw.error()),
        };
        let id = id_of(&raw, "Communication").ok_or_else(|| {
            // Stored but unreadable: a retry finds it by the identifier and answers 200 with it.
            AdapterError::Transient(format!("HTTP {} without the Communication's id", raw.status.as_u16()))
        })?;
        Ok(Reply {
            upstream_id: Some(format!("Communication/{id}")),
            body: json!({
                "communication_id": id,
                "identifier": identifier,
                "version_id": version_of(&raw),
                "already_sent": already_sent,
            }),
            request_digest: Some(sha256_hex(&body)),
            response_digest: Some(sha256_hex(&raw.body)),
        })
    }
}

/// The id of a written resource: from the body (`return=representation`), else from `Location`.
fn id_of(raw: &Raw, resource_type: &str) -> Option<String> {
    let from_body = serde_json::from_slice::<Value>(&raw.body)
        .ok()
        .filter(|v| v.get("resourceType").and_then(Value::as_str) == Some(resource_type))
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
    from_body.or_else(|| {
        let location = raw.headers.get(LOCATION)?.to_str().ok()?;
        let after = location.split(&format!("{resource_type}/")).nth(1)?;
        let id = after.split('/').next()?;
        is_fhir_id(id).then(|| id.to_owned())
    })
}

/// `meta.versionId` of the body, else the `ETag` (`W/"3"`).
fn version_of(raw: &Raw) -> Option<String> {
    serde_json::from_slice::<Value>(&raw.body)
        .ok()
        .and_then(|v| v.pointer("/meta/versionId").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| {
            let etag = raw.headers.get(reqwest::header::ETAG)?.to_str().ok()?;
            Some(etag.trim_start_matches("W/").trim_matches('"').to_owned())
        })
}

/// A UUID (version 8, RFC 9562) from SHA-256 of the parts, NUL-separated.
fn derived_uuid(parts: &[&str]) -> uuid::Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// FHIR `id`: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The shape of a Finnish personal identity code (`DDMMYYCNNNQ`, any century sign of 2023).
fn looks_like_identity_code(code: &str) -> bool {
    let b = code.trim().as_bytes();
    b.len() == 11
        && b[..6].iter().all(u8::is_ascii_digit)
        && b"-+ABCDEFYXWVUabcdefyxwvu".contains(&b[6])
        && b[7..10].iter().all(u8::is_ascii_digit)
        && b[10].is_ascii_alphanumeric()
}

pub use portti_adapter_core::redact_identity_codes as redact;

/// The server's reason, from an `OperationOutcome` or an OAuth error, redacted and bounded.
fn error_detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome") => {
            serde_json::from_value::<OperationOutcome>(v)
                .map(|o| o.summary())
                .unwrap_or_default()
        }
        Ok(v) if v.get("error").is_some() => {
            let error = v.get("error").and_then(Value::as_str).unwrap_or_default();
            match v.get("error_description").and_then(Value::as_str) {
                Some(d) => format!("{error}: {d}"),
                None => error.to_owned(),
            }
        }
        _ => String::new(),
    };
    let text: String = text.chars().take(300).collect();
    redact(&text)
}

/// A search token part with FHIR's escapes (`\`, `|`, `,`, `$`).
fn escape_token(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | '|' | ',' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

/// UTC, `Z`, with as many fraction digits as needed (0, 3, 6 or 9).
fn format_instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
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

/// serde's messages quote the offending value: drop every quoted part, then identity codes.
fn without_values(message: &str) -> String {
    redact(&portti_adapter_core::without_quoted_values(message))
}

impl Adapter for Oda {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn call<'a>(&'a self, cx: &'a CallContext, operation: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        Box::pin(async move {
            match operation.name.as_str() {
                OP_SEARCH_COMPLETED => self.search_completed(cx, operation).await,
                OP_UPDATE_TASK_STATUS => self.update_task_status(cx, operation).await,
                OP_SEND_REPLY => self.send_reply(cx, operation).await,
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
