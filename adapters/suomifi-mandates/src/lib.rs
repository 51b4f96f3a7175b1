//! Suomi.fi Mandates (Suomi.fi-valtuudet, e-Authorizations) adapter: may a person (the delegate,
//! *asiamies*) act on behalf of another person (the principal, *päämies*) in a given matter (the
//! issue, *valtuusasia*)? The answer is ALLOWED or DISALLOWED, and DISALLOWED is the default:
//! anything short of a clear ALLOWED from the service — an error, a timeout, an unreadable
//! answer — is DISALLOWED ([`SuomifiMandates::check`]).
//!
//! | operation | payload | reply body |
//! |---|---|---|
//! | `check` ([`OP_CHECK`]) | `{"delegate_identity_code", "principal_identity_code", "issue"?}` | `{"result": "ALLOWED" \| "DISALLOWED", "issue", "issues", "reasons"}` |
//!
//! # The contract implemented
//!
//! The person-to-person ("HPA", *henkilön puolesta asiointi*) **Authorization REST API** of the
//! Web API connection: a system-level query, without the end user's browser session, made with the
//! identity codes of both parties. It needs a separately activated REST API key.
//!
//! **Request**
//!
//! ```text
//! GET {base_url}/service/rest/hpa/authorization/{clientId}/{delegateId}/{principalId}?requestId={requestId}[&issue={issue}]…
//! X-AsiointivaltuudetAuthorization: {clientId} {timestamp} {checksum}
//! X-userId: portti
//! Accept: application/json
//! ```
//!
//! - `clientId`: the Web API client id (8 alphanumeric characters) the service issued; the same
//!   value in the path and in the header.
//! - `delegateId`, `principalId`: personal identity codes, upper case, checked (check character
//!   included) before anything is sent.
//! - `requestId`: a UUID per query, the broker's exchange id for [`Adapter::call`] (repeats of one
//!   exchange carry the same id), a fresh UUIDv7 for [`SuomifiMandates::check`]. It is also the
//!   reply's `upstream_id`.
//! - `issue`: one parameter per issue URI (e.g. `http://valtuusrekisteri.suomi.fi/terveydenhuollon_asioiden_hoito`),
//!   percent-encoded like JavaScript's `encodeURIComponent`. With no issue the service checks the
//!   basic registers only (a guardian of a minor).
//! - `X-userId`: the e-service's end user, for the service's own log; always the constant `portti`,
//!   so that nothing personal travels in it.
//! - `timestamp`: ISO 8601 in UTC with milliseconds, e.g. `2026-03-01T09:30:00.000Z`. The service
//!   refuses a timestamp more than 5 minutes from NTP time.
//! - `checksum`: `Base64(HMAC-SHA256(key = UTF-8 bytes of the API key, message = "{path_and_query} {timestamp}"))`,
//!   standard alphabet with padding, where `path_and_query` is everything after the host exactly
//!   as sent (`/service/rest/…?requestId=…&issue=…`, base URL path prefix included), and one space
//!   separates it from the timestamp. See `wire::tests::header_vector` for a worked example,
//!   cross-checked with `openssl dgst -sha256 -hmac`.
//!
//! **Answer** (`200 application/json`; unknown fields are ignored):
//!
//! ```json
//! {"result": "ALLOWED" | "DISALLOWED", "reasons": [{"reasonRule": "…", "reasonValue": "…", "valueType": "…"}]}
//! ```
//!
//! `reasons` is given only when the service's configuration allows disclosing why; the reply keeps
//! the `reasonRule`s (identity codes redacted). A `principalId` in the answer is not in the
//! published model; if present it must name the principal asked about. Any other `result` is an
//! error.
//!
//! **Errors**: `401` (the signature, the client id or the clock was refused; the public
//! description says a 401 also answers an expired Web API session) and `403` →
//! [`AdapterError::Permanent`] (there is no token to renew: re-sending cannot help until the
//! configuration is fixed); `400`/`404`/other 4xx → permanent; `429`, and `503` with
//! `Retry-After` → [`AdapterError::RateLimited`]; other 5xx, `408`, timeouts and dropped
//! connections → [`AdapterError::Transient`]; a `200` whose body is not JSON → transient. The
//! simulator's error body is `{"error": "<code>", "message": "<text>"}`; its fields feed the error
//! message.
//!
//! **Sources**: the service's public interface descriptions (kehittajille.suomi.fi: "Web API and
//! selection interface" — the header, its fields, the ±5 minute window, HMAC-SHA256 + Base64,
//! 401 on an expired session; "Three ways to use the Authorization REST API of Suomi.fi
//! e-Authorizations" — delegate and principal identity codes in, ALLOWED / DISALLOWED out, separate
//! REST API key; "Technical documentation" — DISALLOWED is the default, ALLOWED only when every
//! rule of the service's rule set allows), the Finnish original on esuomi.fi ("Web-API-rajapinta ja
//! valintakäyttöliittymä": *pyynnön polulla tarkoitetaan URL:n domain-osan jälkeistä osuutta*), and
//! the Population Register Centre's MIT-licensed reference clients (the `rova` Java client's
//! `HpaRestRiClient` and `Authorization` / `DecisionReason` models, and its Node.js example: path
//! `/service/rest/hpa/authorization/{clientId}/{delegateId}/{principalId}`, `requestId` and `issue`
//! query parameters, `X-userId`, the signed string `path + "?" + rawQuery + " " + timestamp`).
//! Not taken from them: code. Chosen here where they are silent: the millisecond UTC timestamp
//! form, the encoding of `issue`, the constant `X-userId`, the handling of `principalId`, and the
//! error body (the simulator's).
//!
//! Identity codes never reach logs or error strings: errors name fields, and every text from the
//! service, from serde or from the HTTP stack passes through a redactor.

mod hetu;
mod wire;

pub use hetu::is_valid as is_valid_identity_code;
pub use wire::{auth_header_value, checksum, AUTHORIZATION_PATH, AUTH_HEADER, END_USER_HEADER};

use portti_adapter_core::{
    build_client, classify_status, classify_transport_error, sha256_hex, Adapter, AdapterError, BoxFuture, CallContext,
    Health, HttpClientConfig, HttpClientError, Operation, Reply,
};
use reqwest::header::ACCEPT;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

pub const SERVICE: &str = "suomifi-mandates";
/// Operation name: may the delegate act for the principal?
pub const OP_CHECK: &str = "check";
/// The `X-userId` sent with every query.
pub const END_USER_ID: &str = "portti";

/// Configuration of the adapter (deserializable with unknown keys refused).
///
/// ```toml
/// [adapters.suomifi_mandates]
/// base_url = "https://…"                  # the Web API host (a path prefix is allowed)
/// client_id = "portti01"                  # Web API client id
/// client_secret_file = "/run/secrets/mandates-api-key"   # the REST API key, one line
/// issues = ["http://valtuusrekisteri.suomi.fi/…"]        # the issue(s) checked
/// [adapters.suomifi_mandates.http]
/// request_timeout = "5s"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MandatesConfig {
    /// The Web API's base URL, e.g. the service's test or production host.
    pub base_url: String,
    /// The Web API client id the service issued.
    pub client_id: String,
    /// A file holding the REST API key (the HMAC key), one line.
    pub client_secret_file: PathBuf,
    /// The mandate issue URIs a check asks about (all of them must be allowed). Empty: the basic
    /// registers only (guardianship of a minor).
    #[serde(default)]
    pub issues: Vec<String>,
    #[serde(default)]
    pub http: HttpClientConfig,
}

/// Why the adapter could not be set up. Names files, never secrets.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("suomifi-mandates: {0}")]
    Invalid(String),
    #[error("suomifi-mandates: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("suomifi-mandates: {0}")]
    Http(#[from] HttpClientError),
}

/// The service's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MandateResult {
    Allowed,
    Disallowed,
}

impl MandateResult {
    pub fn as_str(self) -> &'static str {
        match self {
            MandateResult::Allowed => "ALLOWED",
            MandateResult::Disallowed => "DISALLOWED",
        }
    }
}

/// What [`SuomifiMandates::check`] decided. `result` is ALLOWED only when the service said so;
/// `error` says why DISALLOWED was assumed when it did not (for the audit trail: it never holds
/// an identity code).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub result: MandateResult,
    /// The issue URIs asked about.
    pub issues: Vec<String>,
    /// The service's reason rules for a DISALLOWED, when it discloses them.
    pub reasons: Vec<String>,
    /// Set when the service gave no usable answer; serialized as its message.
    #[serde(serialize_with = "serialize_error")]
    pub error: Option<AdapterError>,
    /// The `requestId` sent (the service's log knows the query by it).
    pub request_id: String,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.result == MandateResult::Allowed
    }
}

fn serialize_error<S: Serializer>(error: &Option<AdapterError>, serializer: S) -> Result<S::Ok, S::Error> {
    match error {
        Some(e) => serializer.serialize_some(&e.to_string()),
        None => serializer.serialize_none(),
    }
}

/// The payload of [`OP_CHECK`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The person who wants to act (the logged-in relative).
    pub delegate_identity_code: String,
    /// The person acted for.
    pub principal_identity_code: String,
    /// One of the configured issues; absent: all configured issues.
    #[serde(default)]
    pub issue: Option<String>,
}

/// A successful query.
struct Answered {
    result: MandateResult,
    reasons: Vec<String>,
    request_digest: String,
    response_digest: String,
}

/// The Suomi.fi Mandates adapter.
pub struct SuomifiMandates {
    /// Scheme, host and port, without a path.
    origin: String,
    /// The base URL's path without its final `/` (usually empty).
    prefix: String,
    client_id: String,
    api_key: String,
    issues: Vec<String>,
    request_timeout: std::time::Duration,
    client: reqwest::Client,
}

impl fmt::Debug for SuomifiMandates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuomifiMandates")
            .field("base_url", &format!("{}{}", self.origin, self.prefix))
            .field("client_id", &self.client_id)
            .field("api_key", &"<redacted>")
            .field("issues", &self.issues)
            .finish_non_exhaustive()
    }
}

impl SuomifiMandates {
    pub fn new(config: MandatesConfig) -> Result<Self, SetupError> {
        let invalid = |what: String| Err(SetupError::Invalid(what));
        let base_url = config.base_url.trim();
        let url = match reqwest::Url::parse(base_url) {
            Ok(url)
                if matches!(url.scheme(), "https" | "http")
                    && url.has_host()
                    && url.query().is_none()
                    && url.fragment().is_none() =>
            {
                url
            }
            _ => return invalid(format!("base_url {base_url:?} is not an http(s) URL")),
        };
        let origin = url.origin().ascii_serialization();
        let prefix = url.path().trim_end_matches('/').to_owned();

        let client_id = config.client_id.trim().to_owned();
        if client_id.is_empty() || !client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return invalid("client_id must be non-empty visible ASCII without spaces".into());
        }
        let api_key = std::fs::read_to_string(&config.client_secret_file)
            .map_err(|source| SetupError::Read {
                path: config.client_secret_file.clone(),
                source,
            })?
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        if api_key.is_empty() {
            return invalid(format!(
                "client_secret_file {} is empty",
                config.client_secret_file.display()
            ));
        }
        let mut issues: Vec<String> = Vec::with_capacity(config.issues.len());
        for (i, issue) in config.issues.iter().enumerate() {
            let issue = issue.trim();
            if issue.is_empty() || issue.chars().any(char::is_control) {
                return invalid(format!("issues[{i}] is empty or has control characters"));
            }
            if !issues.iter().any(|known| known == issue) {
                issues.push(issue.to_owned());
            }
        }
        Ok(SuomifiMandates {
            origin,
            prefix,
            client_id,
            api_key,
            issues,
            request_timeout: config.http.request_timeout,
            client: build_client(&config.http)?,
        })
    }

    /// The configured issues.
    pub fn issues(&self) -> &[String] {
        &self.issues
    }

    /// May `delegate` act for `principal` in all the configured issues? DISALLOWED on any error,
    /// with the reason in [`Decision::error`]. One attempt, bounded by the request timeout.
    pub async fn check(&self, delegate: &str, principal: &str) -> Decision {
        self.check_issue(delegate, principal, None).await
    }

    /// As [`Self::check`], for one of the configured issues (`None`: all of them). An issue that
    /// is not configured is refused (DISALLOWED with an error) without a query.
    pub async fn check_issue(&self, delegate: &str, principal: &str, issue: Option<&str>) -> Decision {
        let request_id = uuid::Uuid::now_v7().to_string();
        let deadline = Instant::now() + self.request_timeout;
        let (issues, outcome) = match self.select_issues(issue) {
            Ok(issues) => {
                let outcome = self.query(delegate, principal, &issues, &request_id, deadline).await;
                (issues, outcome)
            }
            Err(e) => (issue.map(|i| vec![i.trim().to_owned()]).unwrap_or_default(), Err(e)),
        };
        let decision = match outcome {
            Ok(answered) => Decision {
                result: answered.result,
                issues,
                reasons: answered.reasons,
                error: None,
                request_id,
            },
            Err(error) => Decision {
                result: MandateResult::Disallowed,
                issues,
                reasons: Vec::new(),
                error: Some(error),
                request_id,
            },
        };
        match &decision.error {
            None => tracing::debug!(service = SERVICE, result = decision.result.as_str(), "mandate checked"),
            Some(e) => tracing::warn!(service = SERVICE, error = %e, "mandate check failed: DISALLOWED"),
        }
        decision
    }

    fn select_issues(&self, issue: Option<&str>) -> Result<Vec<String>, AdapterError> {
        match issue.map(str::trim) {
            None => Ok(self.issues.clone()),
            Some(issue) if self.issues.iter().any(|known| known == issue) => Ok(vec![issue.to_owned()]),
            Some(_) => Err(AdapterError::Permanent(
                "issue is not one of the configured issues".into(),
            )),
        }
    }

    /// One query of the Authorization REST API.
    async fn query(
        &self,
        delegate: &str,
        principal: &str,
        issues: &[String],
        request_id: &str,
        deadline: Instant,
    ) -> Result<Answered, AdapterError> {
        let delegate = hetu::normalise(delegate);
        let principal = hetu::normalise(principal);
        let mut bad = Vec::new();
        if !hetu::is_valid(&delegate) {
            bad.push("delegate_identity_code");
        }
        if !hetu::is_valid(&principal) {
            bad.push("principal_identity_code");
        }
        if !bad.is_empty() {
            return Err(AdapterError::Permanent(format!(
                "not valid personal identity codes: {}",
                bad.join(", ")
            )));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AdapterError::Transient("the call's deadline passed".into()));
        }

        let path_and_query = wire::authorization_path_and_query(
            &self.prefix,
            &self.client_id,
            &delegate,
            &principal,
            request_id,
            issues,
        );
        let timestamp = wire::timestamp(chrono::Utc::now());
        let auth = wire::auth_header_value(&self.client_id, &self.api_key, &path_and_query, &timestamp)
            .map_err(|e| AdapterError::Transient(format!("cannot compute the checksum: {e}")))?;
        let request = self
            .client
            .get(format!("{}{path_and_query}", self.origin))
            .header(wire::AUTH_HEADER, auth)
            .header(wire::END_USER_HEADER, END_USER_ID)
            .header(ACCEPT, "application/json")
            .timeout(remaining.min(self.request_timeout));
        let response = request
            .send()
            .await
            .map_err(|e| redacted(classify_transport_error(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| redacted(classify_transport_error(&e)))?;

        if !status.is_success() {
            let detail = wire::error_detail(&body);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => AdapterError::Permanent(format!(
                    "the service refused the client (client id, API key or clock): HTTP {}: {detail}",
                    status.as_u16()
                )),
                _ => classify_status(status, &headers, &detail).unwrap_or_else(|| {
                    AdapterError::Permanent(format!("unexpected HTTP {}: {detail}", status.as_u16()))
                }),
            });
        }
        let answer: wire::Answer = serde_json::from_slice(&body).map_err(|_| {
            AdapterError::Transient(format!(
                "HTTP {} with a body that is not the expected JSON",
                status.as_u16()
            ))
        })?;
        let result = match answer.result.as_deref() {
            Some("ALLOWED") => MandateResult::Allowed,
            Some("DISALLOWED") => MandateResult::Disallowed,
            Some(other) => {
                return Err(AdapterError::Permanent(format!(
                    "unexpected result {:?}",
                    hetu::redact(&other.chars().take(40).collect::<String>())
                )))
            }
            None => return Err(AdapterError::Permanent("an answer without a result".into())),
        };
        if let Some(named) = &answer.principal_id {
            if hetu::normalise(named) != principal {
                return Err(AdapterError::Permanent(
                    "the answer names another principal than the one asked about".into(),
                ));
            }
        }
        let reasons = answer
            .reasons
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.reason_rule)
            .map(|rule| hetu::redact(&rule.chars().take(100).collect::<String>()))
            .collect();
        Ok(Answered {
            result,
            reasons,
            request_digest: sha256_hex(format!("GET {path_and_query}").as_bytes()),
            response_digest: sha256_hex(&body),
        })
    }

    async fn call_check(&self, cx: &CallContext, operation: &Operation) -> Result<Reply, AdapterError> {
        let request: CheckRequest = CheckRequest::deserialize(&operation.payload).map_err(|e| {
            AdapterError::Permanent(format!(
                "invalid payload for {OP_CHECK}: {}",
                without_values(&e.to_string())
            ))
        })?;
        let issues = self.select_issues(request.issue.as_deref())?;
        let request_id = cx.exchange_id.to_string();
        let answered = self
            .query(
                &request.delegate_identity_code,
                &request.principal_identity_code,
                &issues,
                &request_id,
                cx.deadline,
            )
            .await?;
        let issue = match issues.as_slice() {
            [one] => Value::from(one.clone()),
            _ => Value::Null,
        };
        Ok(Reply {
            upstream_id: Some(request_id),
            body: json!({
                "result": answered.result.as_str(),
                "issue": issue,
                "issues": issues,
                "reasons": answered.reasons,
            }),
            request_digest: Some(answered.request_digest),
            response_digest: Some(answered.response_digest),
        })
    }
}

/// The same error class with its message redacted.
fn redacted(error: AdapterError) -> AdapterError {
    match error {
        AdapterError::Transient(m) => AdapterError::Transient(hetu::redact(&m)),
        AdapterError::Reauthenticate(m) => AdapterError::Reauthenticate(hetu::redact(&m)),
        AdapterError::Permanent(m) => AdapterError::Permanent(hetu::redact(&m)),
        e @ AdapterError::RateLimited { .. } => e,
    }
}

/// serde's messages quote the offending value (`invalid type: string "…"`): drop every quoted
/// part (field names are kept in backticks), then anything still shaped like an identity code.
fn without_values(message: &str) -> String {
    hetu::redact(&portti_adapter_core::without_quoted_values(message))
}

impl Adapter for SuomifiMandates {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn call<'a>(&'a self, cx: &'a CallContext, operation: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        Box::pin(async move {
            match operation.name.as_str() {
                OP_CHECK => self.call_check(cx, operation).await,
                other => Err(AdapterError::Permanent(format!(
                    "unknown operation {:?} for {SERVICE}",
                    without_values(&other.chars().take(64).collect::<String>())
                ))),
            }
        })
    }

    /// Up when the service's host answers HTTP at all (a query would need real identity codes,
    /// and the service's terms forbid checks the user does not know of).
    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            let url = format!("{}{}/", self.origin, self.prefix);
            match self.client.get(url).timeout(self.request_timeout).send().await {
                Ok(_) => Health::Up,
                Err(_) => Health::Down,
            }
        })
    }
}

#[cfg(test)]
mod tests;
