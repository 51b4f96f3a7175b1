//! Fault injection. A [`Fault`] is injected from Rust ([`super::Control::inject`]) or over HTTP
//! (`POST /_simulator/faults` with the same JSON shape), and applies to requests of the real API (never to
//! `/_simulator/…`) whose path starts with `pathPrefix` (all paths when absent).
//!
//! | kind | JSON | effect |
//! |---|---|---|
//! | [`FaultKind::Latency`] | `{"kind":"latency","millis":800}` | wait that long, then answer normally |
//! | [`FaultKind::Status`] | `{"kind":"status","status":503}` | answer that status with an `ErrorResponseV1` body |
//! | [`FaultKind::TooManyRequests`] | `{"kind":"tooManyRequests","retryAfterSeconds":2}` | `429` + `Retry-After` |
//! | [`FaultKind::Unauthorized`] | `{"kind":"unauthorized"}` | `401`, and the bearer token presented is revoked (as if it expired) |
//! | [`FaultKind::DropConnection`] | `{"kind":"dropConnection"}` | close the connection without any response |
//! | [`FaultKind::MalformedJson`] | `{"kind":"malformedJson"}` | a truncated JSON body (`application/json`) |
//!
//! Common fields: `pathPrefix` (string), `count` (fire for the next N matching requests, then the fault is
//! gone; absent = until cleared), `fraction` (0.0–1.0: fire for that share of matching requests,
//! deterministically — with 0.25 the 4th, 8th, … match fires), and `when`: `"before"` (default: the request is
//! not processed) or `"after"` (the request IS processed — a message really is created — and then the response
//! is replaced: the "lost response" case that exercises idempotent retries). With `after`, `malformedJson`
//! truncates the real response body and keeps its status.
//!
//! Several faults may match one request: latencies add up; of the others the first injected wins, and the rest
//! neither fire nor spend their `count` on that request.

use crate::injection::{Fired, Injected};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    #[serde(default)]
    pub when: When,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FaultKind {
    Latency { millis: u64 },
    Status { status: u16 },
    TooManyRequests { retry_after_seconds: u64 },
    Unauthorized,
    DropConnection,
    MalformedJson,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum When {
    /// The request is not processed.
    #[default]
    Before,
    /// The request is processed, then its response is replaced (or delayed, or the connection dropped).
    After,
}

impl Fault {
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            path_prefix: None,
            count: None,
            fraction: None,
            when: When::Before,
        }
    }
    /// Wait `delay`, then answer normally.
    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultKind::Latency {
            millis: delay.as_millis() as u64,
        })
    }
    /// Answer `status` (e.g. 500, 502, 503) with an `ErrorResponseV1` body.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status { status })
    }
    /// `429 Too Many Requests` with `Retry-After: retry_after_seconds`.
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self::new(FaultKind::TooManyRequests { retry_after_seconds })
    }
    /// `401`, revoking the presented token: the client must fetch a new one.
    pub fn unauthorized() -> Self {
        Self::new(FaultKind::Unauthorized)
    }
    /// Close the connection without a response.
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }
    /// A truncated JSON body.
    pub fn malformed_json() -> Self {
        Self::new(FaultKind::MalformedJson)
    }
    /// Only requests whose path starts with `prefix`.
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }
    /// Only that share (0.0–1.0) of matching requests, deterministically spread.
    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = Some(fraction);
        self
    }
    /// Process the request first, then apply the fault to its response.
    pub fn after_processing(mut self) -> Self {
        self.when = When::After;
        self
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if let Some(f) = self.fraction {
            if !(0.0..=1.0).contains(&f) {
                return Err("fraction must be between 0.0 and 1.0".into());
            }
        }
        match self.kind {
            FaultKind::Status { status } if !(400..=599).contains(&status) => {
                Err("status must be between 400 and 599".into())
            }
            _ => Ok(()),
        }
    }
}

/// An injected fault and its firing state.
pub(crate) struct Active {
    pub fault: Fault,
    accumulator: f64,
}

impl Active {
    pub fn new(fault: Fault) -> Self {
        Active {
            fault,
            accumulator: 0.0,
        }
    }

    /// Whether this fault fires for a request to `path` in `phase`; consumes one of its `count`.
    pub fn fire(&mut self, path: &str, phase: When) -> bool {
        if self.fault.when != phase || self.fault.count == Some(0) {
            return false;
        }
        if let Some(prefix) = &self.fault.path_prefix {
            if !path.starts_with(prefix.as_str()) {
                return false;
            }
        }
        crate::injection::spend(&mut self.accumulator, self.fault.fraction, &mut self.fault.count)
    }
}

impl Injected for Active {
    type Kind = FaultKind;

    fn kind(&self) -> &FaultKind {
        &self.fault.kind
    }

    fn latency(&self) -> Option<Duration> {
        match self.fault.kind {
            FaultKind::Latency { millis } => Some(Duration::from_millis(millis)),
            _ => None,
        }
    }

    fn count(&self) -> Option<u32> {
        self.fault.count
    }
}

/// The faults for a request to `path` in `phase`.
pub(crate) fn fire_all(active: &mut Vec<Active>, path: &str, phase: When) -> Fired<FaultKind> {
    crate::injection::fire_all(active, |a| a.fire(path, phase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let f: Fault = serde_json::from_str(
            r#"{"kind":"tooManyRequests","retryAfterSeconds":2,"pathPrefix":"/v2/","count":3,"when":"after"}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Fault::too_many_requests(2).on_path("/v2/").times(3).after_processing()
        );
        let f: Fault = serde_json::from_str(r#"{"kind":"dropConnection"}"#).unwrap();
        assert_eq!(f, Fault::drop_connection());
    }

    #[test]
    fn fraction_is_deterministic() {
        let mut a = Active::new(Fault::status(503).fraction(0.25));
        let fired: Vec<bool> = (0..8).map(|_| a.fire("/v2/events", When::Before)).collect();
        assert_eq!(fired, [false, false, false, true, false, false, false, true]);
    }
}
