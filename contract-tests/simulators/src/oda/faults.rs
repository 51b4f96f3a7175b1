//! Fault injection for the ODA simulator. A [`Fault`] is injected from Rust ([`super::Control::inject`]) or
//! over HTTP (`POST /_simulator/faults`, same JSON), and applies to requests of the real API — the FHIR
//! endpoints under `/fhir/` and the token endpoint `/auth/token`, never `/_simulator/…` — whose path starts
//! with `pathPrefix` (all when absent).
//!
//! | kind | JSON | effect |
//! |---|---|---|
//! | `latency` | `{"kind":"latency","millis":800}` | wait that long, then answer normally |
//! | `status` | `{"kind":"status","status":503}` | that status with an `OperationOutcome` (500, 502, 503, …) |
//! | `tooManyRequests` | `{"kind":"tooManyRequests","retryAfterSeconds":2}` | `429` + `Retry-After` |
//! | `unauthorized` | `{"kind":"unauthorized"}` | `401`, and the bearer token presented is revoked (token expiry) |
//! | `dropConnection` | `{"kind":"dropConnection"}` | close the connection without a response |
//! | `malformedJson` | `{"kind":"malformedJson"}` | a truncated JSON body (`application/fhir+json`) |
//!
//! Common fields: `pathPrefix`, `count` (the next N matching requests; absent = until cleared), `fraction`
//! (0.0–1.0, deterministic: 0.25 fires on the 4th, 8th, … match) and `when`: `"before"` (default: not
//! processed) or `"after"` (processed — a Task really is written — then the response is replaced: the lost
//! response). Latencies add up; of the other faults matching one request the first injected wins.

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
    #[default]
    Before,
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
    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultKind::Latency {
            millis: delay.as_millis() as u64,
        })
    }
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status { status })
    }
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self::new(FaultKind::TooManyRequests { retry_after_seconds })
    }
    pub fn unauthorized() -> Self {
        Self::new(FaultKind::Unauthorized)
    }
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }
    pub fn malformed_json() -> Self {
        Self::new(FaultKind::MalformedJson)
    }
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }
    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = Some(fraction);
        self
    }
    pub fn after_processing(mut self) -> Self {
        self.when = When::After;
        self
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.fraction.is_some_and(|f| !(0.0..=1.0).contains(&f)) {
            return Err("fraction must be between 0.0 and 1.0".into());
        }
        match self.kind {
            FaultKind::Status { status } if !(400..=599).contains(&status) => {
                Err("status must be between 400 and 599".into())
            }
            _ => Ok(()),
        }
    }
}

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

    fn fire(&mut self, path: &str, phase: When) -> bool {
        if self.fault.when != phase || self.fault.count == Some(0) {
            return false;
        }
        if self.fault.path_prefix.as_deref().is_some_and(|p| !path.starts_with(p)) {
            return false;
        }
        if let Some(fraction) = self.fault.fraction {
            self.accumulator += fraction;
            if self.accumulator < 1.0 - 1e-9 {
                return false;
            }
            self.accumulator -= 1.0;
        }
        if let Some(count) = &mut self.fault.count {
            *count -= 1;
        }
        true
    }
}

#[derive(Default)]
pub(crate) struct Fired {
    pub delay: Duration,
    pub action: Option<FaultKind>,
}

pub(crate) fn fire_all(active: &mut Vec<Active>, path: &str, phase: When) -> Fired {
    let mut fired = Fired::default();
    for a in active.iter_mut() {
        let is_latency = matches!(a.fault.kind, FaultKind::Latency { .. });
        if !is_latency && fired.action.is_some() {
            continue;
        }
        if a.fire(path, phase) {
            match &a.fault.kind {
                FaultKind::Latency { millis } => fired.delay += Duration::from_millis(*millis),
                other => fired.action = Some(other.clone()),
            }
        }
    }
    active.retain(|a| a.fault.count != Some(0));
    fired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oda_fault_json_shape_and_fraction() {
        let f: Fault =
            serde_json::from_str(r#"{"kind":"tooManyRequests","retryAfterSeconds":2,"pathPrefix":"/fhir/","count":3}"#)
                .unwrap();
        assert_eq!(f, Fault::too_many_requests(2).on_path("/fhir/").times(3));
        let mut a = Active::new(Fault::status(503).fraction(0.5));
        let fired: Vec<bool> = (0..4).map(|_| a.fire("/fhir/Task", When::Before)).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert!(Fault::status(200).check().is_err());
    }
}
