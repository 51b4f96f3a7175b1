//! Fault injection. A [`Fault`] is injected from Rust ([`super::Control::inject`]) or over HTTP
//! (`POST /_simulator/faults` with the same JSON shape), and applies to requests of the IdP's endpoints
//! (never to `/_simulator/…`) whose path starts with `pathPrefix` (all paths when absent).
//!
//! | kind | JSON | effect |
//! |---|---|---|
//! | [`FaultKind::Latency`] | `{"kind":"latency","millis":800}` | wait that long, then answer normally |
//! | [`FaultKind::Status`] | `{"kind":"status","status":503}` | answer that status (`text/plain` body), nothing processed |
//! | [`FaultKind::DropConnection`] | `{"kind":"dropConnection"}` | close the connection without any response |
//! | [`FaultKind::MetadataSignedByUnknownKey`] | `{"kind":"metadataSignedByUnknownKey"}` | `GET /idp/metadata` only: the metadata is signed (correct shape, RSA-SHA256) by a key nobody trusts |
//!
//! Common fields: `pathPrefix` (string, e.g. `/idp/metadata` or `/idp/sso`) and `count` (fire for the next N
//! matching requests, then the fault is gone; absent = until cleared). Several faults may match one request:
//! latencies add up; of the others the first injected wins, and the rest neither fire nor spend their count.

use crate::injection::{Fired, Injected};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FaultKind {
    Latency { millis: u64 },
    Status { status: u16 },
    DropConnection,
    MetadataSignedByUnknownKey,
}

impl Fault {
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            path_prefix: None,
            count: None,
        }
    }
    /// Wait `delay`, then answer normally.
    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultKind::Latency {
            millis: delay.as_millis() as u64,
        })
    }
    /// Answer `status` (e.g. 500, 503).
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status { status })
    }
    /// Close the connection without a response.
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }
    /// The metadata signed by an unknown key (only `GET /idp/metadata` is affected).
    pub fn metadata_signed_by_unknown_key() -> Self {
        Self::new(FaultKind::MetadataSignedByUnknownKey).on_path("/idp/metadata")
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

    pub(crate) fn check(&self) -> Result<(), String> {
        match self.kind {
            FaultKind::Status { status } if !(400..=599).contains(&status) => {
                Err("status must be between 400 and 599".into())
            }
            _ => Ok(()),
        }
    }
}

fn matches(fault: &Fault, path: &str) -> bool {
    if fault.count == Some(0) {
        return false;
    }
    if matches!(fault.kind, FaultKind::MetadataSignedByUnknownKey) && path != "/idp/metadata" {
        return false;
    }
    fault
        .path_prefix
        .as_deref()
        .is_none_or(|prefix| path.starts_with(prefix))
}

impl Injected for Fault {
    type Kind = FaultKind;

    fn kind(&self) -> &FaultKind {
        &self.kind
    }

    fn latency(&self) -> Option<Duration> {
        match self.kind {
            FaultKind::Latency { millis } => Some(Duration::from_millis(millis)),
            _ => None,
        }
    }

    fn count(&self) -> Option<u32> {
        self.count
    }
}

/// The faults for a request to `path`.
pub(crate) fn fire_all(active: &mut Vec<Fault>, path: &str) -> Fired<FaultKind> {
    crate::injection::fire_all(active, |f| {
        if !matches(f, path) {
            return false;
        }
        if let Some(count) = &mut f.count {
            *count -= 1;
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_and_firing() {
        let f: Fault =
            serde_json::from_str(r#"{"kind":"status","status":503,"pathPrefix":"/idp/sso","count":1}"#).unwrap();
        assert_eq!(f, Fault::status(503).on_path("/idp/sso").times(1));
        let mut active = vec![f, Fault::metadata_signed_by_unknown_key()];
        assert!(fire_all(&mut active, "/idp/metadata").action == Some(FaultKind::MetadataSignedByUnknownKey));
        assert_eq!(
            fire_all(&mut active, "/idp/sso").action,
            Some(FaultKind::Status { status: 503 })
        );
        assert_eq!(fire_all(&mut active, "/idp/sso").action, None);
        assert_eq!(active.len(), 1);
    }
}
