//! Suomi.fi Finnish Service Catalogue (Palvelutietovaranto, PTV) adapter: the services offered in
//! a municipality and their service channels, read from PTV's open API v11 (no credentials; the
//! wire contract and its sources are in `WIRE.md`).
//!
//! | operation | payload | v11 |
//! |---|---|---|
//! | [`OP_SERVICES_PAGE`] | [`ServicesPageRequest`] | `GET {base}/api/v11/Service/list/area/Municipality/code/{code}?page={n}` |
//! | [`OP_CHANNELS`] | [`ChannelsRequest`] | `GET {base}/api/v11/ServiceChannel/list?guids={id,id,…}` (at most [`MAX_GUIDS`]) |
//!
//! One call is one request, so the broker's deadline, breaker and metrics see each page; paging
//! to `pageCount` is the job's. Answers are mapped into [`Service`] and [`Channel`]: names,
//! summaries and descriptions per language (fi, sv, en; others dropped), channel web pages, phone
//! numbers, e-mail addresses, street addresses and service hours.
//!
//! Errors: 5xx, timeouts, dropped connections and unreadable JSON are transient; 429 (and 503
//! with `Retry-After`) rate-limited; 400 (PTV's `{"field": ["message"]}`) and 404
//! (`{"errorMessage"}`, e.g. an unknown municipality) permanent.

mod wire;

use bytes::Bytes;
use portti_adapter_core::{
    build_client, classify_status, classify_transport_error, sha256_hex, Adapter, AdapterError, BoxFuture, CallContext,
    Health, HttpClientConfig, HttpClientError, Operation, Reply,
};
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const SERVICE: &str = "ptv";
/// Operation names.
pub const OP_SERVICES_PAGE: &str = "services_page";
pub const OP_CHANNELS: &str = "channels";
/// `guids` of one `ServiceChannel/list` request at most (PTV's limit).
pub const MAX_GUIDS: usize = 100;
/// The languages kept, the catalogue's own three.
pub const LANGUAGES: [&str; 3] = ["fi", "sv", "en"];
/// The production address of the open API.
pub const DEFAULT_BASE_URL: &str = "https://api.palvelutietovaranto.suomi.fi";

/// Text per language code (`fi`, `sv`, `en`).
pub type Localized = BTreeMap<String, String>;

/// A published service of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    /// Service, PermitOrObligation or ProfessionalQualification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    pub names: Localized,
    pub summaries: Localized,
    pub descriptions: Localized,
    /// Languages the service is given in.
    pub languages: Vec<String>,
    pub channels: Vec<ChannelRef>,
    /// When PTV last modified it (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

/// A service's link to one of its channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A published service channel: EChannel, WebPage, PrintableForm, Phone or ServiceLocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub id: String,
    pub channel_type: String,
    pub names: Localized,
    pub summaries: Localized,
    pub descriptions: Localized,
    /// Web pages (the e-service or form itself for EChannel, WebPage, PrintableForm).
    pub urls: BTreeMap<String, Vec<String>>,
    pub phones: Vec<Phone>,
    pub emails: BTreeMap<String, Vec<String>>,
    pub addresses: Vec<Address>,
    pub service_hours: Vec<ServiceHour>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phone {
    pub language: String,
    /// As dialled: the prefix and the number without its leading 0 (`+358 2 262 6171`), or a
    /// Finnish service number as written.
    pub number: String,
    pub sms: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// A postal address rather than a place to visit.
    pub postal: bool,
    /// One line per language: `Street 1, 20100 Town`.
    pub text: Localized,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHour {
    /// DaysOfTheWeek (standard), Exception or Special (over midnight), as PTV names them.
    pub kind: String,
    pub closed: bool,
    pub always_open: bool,
    pub opening: Vec<OpeningTime>,
    pub info: Localized,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpeningTime {
    pub day_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_to: Option<String>,
    pub from: String,
    pub to: String,
}

/// Payload of [`OP_SERVICES_PAGE`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesPageRequest {
    /// Statistics Finland municipality code, three digits.
    pub municipality: String,
    /// From 1.
    pub page: u32,
}

/// What [`OP_SERVICES_PAGE`] answers (the reply's body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicesPage {
    pub page_number: u32,
    pub page_count: u32,
    /// The published services of the page.
    pub services: Vec<Service>,
    /// Items of the page that were not published (left out).
    pub skipped: u32,
}

/// Payload of [`OP_CHANNELS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsRequest {
    pub ids: Vec<String>,
}

/// Configuration (`[ptv]` in `portti.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtvConfig {
    /// The API's root, e.g. [`DEFAULT_BASE_URL`]; paths start with `/api/v11/`.
    pub base_url: String,
    #[serde(default)]
    pub http: HttpClientConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("ptv: {0}")]
    Invalid(String),
    #[error(transparent)]
    Http(#[from] HttpClientError),
}

#[derive(Debug)]
pub struct Ptv {
    base_url: String,
    request_timeout: Duration,
    client: reqwest::Client,
}

/// A response read to its end.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Raw {
    fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, AdapterError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let why = match e.classify() {
                serde_json::error::Category::Data => "unexpected content",
                serde_json::error::Category::Eof => "truncated",
                _ => "syntax error",
            };
            AdapterError::Transient(format!(
                "{what}: HTTP {} with a body that is not the expected JSON ({why})",
                self.status.as_u16()
            ))
        })
    }

    fn error(&self) -> AdapterError {
        let detail = error_detail(&self.body);
        classify_status(self.status, &self.headers, &detail)
            .unwrap_or_else(|| AdapterError::Permanent(format!("unexpected HTTP {}: {detail}", self.status.as_u16())))
    }
}

/// PTV's reason: `{"errorMessage": "…"}` (404, 500) or a model state `{"field": ["message", …]}`
/// (400), bounded. The catalogue holds no personal data, but the text is still cut short.
fn error_detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => match map.get("errorMessage").and_then(Value::as_str) {
            Some(message) => message.to_owned(),
            None => map
                .iter()
                .map(|(field, messages)| {
                    let messages: Vec<&str> = (messages.as_array().into_iter().flatten())
                        .filter_map(Value::as_str)
                        .collect();
                    format!("{field}: {}", messages.join(" "))
                })
                .collect::<Vec<_>>()
                .join("; "),
        },
        _ => String::new(),
    };
    text.chars().take(300).collect()
}

/// Three digits: Statistics Finland's municipality code.
pub fn is_municipality_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit())
}

/// PTV ids are GUIDs written `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn is_guid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn payload<T: serde::de::DeserializeOwned>(operation: &Operation) -> Result<T, AdapterError> {
    T::deserialize(&operation.payload)
        .map_err(|e| AdapterError::Permanent(format!("invalid payload for {}: {e}", operation.name)))
}

impl Ptv {
    pub fn new(config: PtvConfig) -> Result<Self, SetupError> {
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.query().is_none() && u.host().is_some() => {}
            _ => {
                return Err(SetupError::Invalid(format!(
                    "base_url {base_url:?} is not an http(s) URL"
                )))
            }
        }
        Ok(Ptv {
            base_url,
            request_timeout: config.http.request_timeout,
            client: build_client(&config.http)?,
        })
    }

    /// Sends one GET, bounded by the deadline, and reads the whole answer.
    async fn get(&self, url: &str, deadline: Instant) -> Result<Raw, AdapterError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AdapterError::Transient("the call's deadline passed".into()));
        }
        let response = (self.client.get(url))
            .header(ACCEPT, "application/json")
            .timeout(remaining.min(self.request_timeout))
            .send()
            .await
            .map_err(|e| classify_transport_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| classify_transport_error(&e))?;
        Ok(Raw { status, headers, body })
    }

    pub fn services_url(&self, municipality: &str, page: u32) -> String {
        format!(
            "{}/api/v11/Service/list/area/Municipality/code/{municipality}?page={page}",
            self.base_url
        )
    }

    /// One page of the published services of a municipality, with the body's digest.
    pub async fn services_page(
        &self,
        municipality: &str,
        page: u32,
        deadline: Instant,
    ) -> Result<(ServicesPage, String), AdapterError> {
        if !is_municipality_code(municipality) {
            return Err(AdapterError::Permanent("/municipality must be three digits".into()));
        }
        if page == 0 {
            return Err(AdapterError::Permanent("/page starts from 1".into()));
        }
        let raw = self.get(&self.services_url(municipality, page), deadline).await?;
        if !raw.status.is_success() {
            return Err(raw.error());
        }
        let wire: wire::ServicesPage = raw.json("Service/list/area")?;
        if wire.page_number != page {
            return Err(AdapterError::Transient(format!(
                "asked for page {page}, PTV answered page {}",
                wire.page_number
            )));
        }
        let total = wire.item_list.len();
        let services: Vec<Service> = wire
            .item_list
            .into_iter()
            .filter_map(wire::WireService::into_service)
            .collect();
        let skipped = (total - services.len()) as u32;
        Ok((
            ServicesPage {
                page_number: wire.page_number,
                page_count: wire.page_count,
                services,
                skipped,
            },
            sha256_hex(&raw.body),
        ))
    }

    pub fn channels_url(&self, ids: &[String]) -> String {
        format!("{}/api/v11/ServiceChannel/list?guids={}", self.base_url, ids.join(","))
    }

    /// The published channels among `ids` (1–[`MAX_GUIDS`]); ids PTV does not know are left out.
    pub async fn channels(&self, ids: &[String], deadline: Instant) -> Result<(Vec<Channel>, String), AdapterError> {
        if ids.is_empty() || ids.len() > MAX_GUIDS {
            return Err(AdapterError::Permanent(format!("/ids must hold 1–{MAX_GUIDS} ids")));
        }
        if let Some(i) = ids.iter().position(|id| !is_guid(id)) {
            return Err(AdapterError::Permanent(format!("/ids/{i} is not a PTV id")));
        }
        let raw = self.get(&self.channels_url(ids), deadline).await?;
        if !raw.status.is_success() {
            return Err(raw.error());
        }
        let wire: Vec<wire::WireChannel> = raw.json("ServiceChannel/list")?;
        let channels = (wire.into_iter())
            .filter(|c| ids.contains(&c.id))
            .filter_map(wire::WireChannel::into_channel)
            .collect();
        Ok((channels, sha256_hex(&raw.body)))
    }
}

impl Adapter for Ptv {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn call<'a>(&'a self, cx: &'a CallContext, operation: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        Box::pin(async move {
            let (body, digest) = match operation.name.as_str() {
                OP_SERVICES_PAGE => {
                    let request: ServicesPageRequest = payload(operation)?;
                    let (page, digest) = self
                        .services_page(&request.municipality, request.page, cx.deadline)
                        .await?;
                    (serde_json::to_value(page), digest)
                }
                OP_CHANNELS => {
                    let request: ChannelsRequest = payload(operation)?;
                    let (channels, digest) = self.channels(&request.ids, cx.deadline).await?;
                    (Ok(json!({ "channels": channels })), digest)
                }
                other => {
                    return Err(AdapterError::Permanent(format!(
                        "unknown operation {other:?} for {SERVICE}"
                    )))
                }
            };
            Ok(Reply {
                upstream_id: None,
                body: body.map_err(|e| AdapterError::Permanent(e.to_string()))?,
                request_digest: None,
                response_digest: Some(digest),
            })
        })
    }

    /// Up when the channel list answers (an unknown id gives an empty list): cheap, no paging.
    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            let url = self.channels_url(&["00000000-0000-0000-0000-000000000000".to_owned()]);
            match self.get(&url, Instant::now() + self.request_timeout).await {
                Ok(raw) if raw.status.is_success() || raw.status == StatusCode::NOT_FOUND => Health::Up,
                Ok(raw) if raw.status == StatusCode::TOO_MANY_REQUESTS => Health::Degraded,
                _ => Health::Down,
            }
        })
    }
}

#[cfg(test)]
mod tests;
