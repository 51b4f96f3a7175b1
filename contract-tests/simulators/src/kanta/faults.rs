//! Fault injection. A [`Fault`] is injected from Rust ([`super::Control::inject`]) or over HTTP
//! (`POST /_simulator/faults` with the same JSON shape), and applies to requests to the service (never to
//! `/_simulator/…`), optionally only to one interaction.
//!
//! | kind | JSON | effect |
//! |---|---|---|
//! | [`FaultKind::Latency`] | `{"kind":"latency","millis":800}` | wait that long, then answer normally |
//! | [`FaultKind::Status`] | `{"kind":"status","status":503,"retryAfterSeconds":2}` | that HTTP status (400–599) with a `text/plain` body; `Retry-After` when `retryAfterSeconds` is given (use it with `429` and `503`) |
//! | [`FaultKind::DropConnection`] | `{"kind":"dropConnection"}` | close the connection without any response |
//! | [`FaultKind::MalformedReply`] | `{"kind":"malformedReply","form":"truncated"}` | `200` with a broken body: `truncated` (an acknowledgement cut in half), `notXml` (plain text, as from a proxy), `wrongRoot` (well-formed XML whose root is not `MCCI_IN000002UV01`) |
//! | [`FaultKind::Ack`] | `{"kind":"ack","typeCode":"AR","code":"SERVICE_BUSY"}` | a well-formed acknowledgement of that type with that one detail code (`typeCode` `AA`/`AE`/`AR`; `code` optional) — e.g. `AR` `SERVICE_BUSY`, `AR` `TEMPORARY_FAILURE`, or `AE` with a code the adapter does not know |
//! | [`FaultKind::WrongTarget`] | `{"kind":"wrongTarget"}` | an acknowledgement whose `targetMessage` id is not the request's (`AA` when not processed; with `after`, the real acknowledgement with the id replaced) |
//! | [`FaultKind::TlsFailure`] | `{"kind":"tlsFailure"}` | the next TLS handshakes fail: the server reads the ClientHello and closes the connection. Counts connections, not requests; `interaction` and `when` do not apply |
//! | [`FaultKind::UntrustedServerCertificate`] | `{"kind":"untrustedServerCertificate"}` | the next handshakes present a self-signed server certificate no client trusts (an impostor, or a certificate renewed from the wrong CA). Connections, like `tlsFailure` |
//! | [`FaultKind::RefuseClientCertificate`] | `{"kind":"refuseClientCertificate"}` | the next handshakes demand a client certificate from a CA nobody has: the real client certificate is refused with a TLS alert (a revoked or expired certificate, as the client sees it). Connections, like `tlsFailure` |
//!
//! Common fields: `interaction` (only requests whose root element is this interaction id), `count` (fire for
//! the next N matching requests, then the fault is gone; absent = until cleared), `fraction` (0.0–1.0: fire for
//! that share of matching requests, deterministically — with 0.25 the 4th, 8th, … match fires), and `when`:
//! `"before"` (default: the request is not processed) or `"after"` (the request IS processed — a document
//! really is archived — and then the response is replaced: the "lost acknowledgement" case that exercises
//! idempotent retries). With `after`, `truncated` cuts the real acknowledgement.
//!
//! Several faults may match one request: latencies add up; of the others the first injected wins, and the
//! rest neither fire nor spend their `count` on that request.

use crate::injection::{Fired, Injected};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<String>,
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
    Latency {
        millis: u64,
    },
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_seconds: Option<u64>,
    },
    DropConnection,
    MalformedReply {
        form: Malformed,
    },
    Ack {
        type_code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    WrongTarget,
    TlsFailure,
    UntrustedServerCertificate,
    RefuseClientCertificate,
}

impl FaultKind {
    /// Whether this fault is about TLS handshakes (connections) rather than requests.
    pub fn is_handshake(&self) -> bool {
        matches!(
            self,
            FaultKind::TlsFailure | FaultKind::UntrustedServerCertificate | FaultKind::RefuseClientCertificate
        )
    }
}

impl FaultKind {
    /// The JSON `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Latency { .. } => "latency",
            FaultKind::Status { .. } => "status",
            FaultKind::DropConnection => "dropConnection",
            FaultKind::MalformedReply { .. } => "malformedReply",
            FaultKind::Ack { .. } => "ack",
            FaultKind::WrongTarget => "wrongTarget",
            FaultKind::TlsFailure => "tlsFailure",
            FaultKind::UntrustedServerCertificate => "untrustedServerCertificate",
            FaultKind::RefuseClientCertificate => "refuseClientCertificate",
        }
    }
}

/// How a malformed reply is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Malformed {
    /// An acknowledgement cut in half.
    Truncated,
    /// Plain text, not XML.
    NotXml,
    /// Well-formed XML with another root element.
    WrongRoot,
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

/// The detail code an "unknown code" fault uses: no adapter knows it.
pub const UNKNOWN_DETAIL_CODE: &str = "SIMULATED_UNKNOWN_CODE";

impl Fault {
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            interaction: None,
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
    /// Answer `status` (e.g. 500, 502, 503) without an acknowledgement.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status {
            status,
            retry_after_seconds: None,
        })
    }
    /// `503 Service Unavailable` with `Retry-After`.
    pub fn unavailable(retry_after_seconds: u64) -> Self {
        Self::new(FaultKind::Status {
            status: 503,
            retry_after_seconds: Some(retry_after_seconds),
        })
    }
    /// `429 Too Many Requests` with `Retry-After`.
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self::new(FaultKind::Status {
            status: 429,
            retry_after_seconds: Some(retry_after_seconds),
        })
    }
    /// Close the connection without a response.
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }
    /// A `200` whose body is broken.
    pub fn malformed(form: Malformed) -> Self {
        Self::new(FaultKind::MalformedReply { form })
    }
    /// An acknowledgement of `type_code` (`AA`/`AE`/`AR`) with one detail `code`.
    pub fn ack(type_code: &str, code: Option<&str>) -> Self {
        Self::new(FaultKind::Ack {
            type_code: type_code.into(),
            code: code.map(Into::into),
        })
    }
    /// `AR` `SERVICE_BUSY`.
    pub fn service_busy() -> Self {
        Self::ack("AR", Some("SERVICE_BUSY"))
    }
    /// `AE` with [`UNKNOWN_DETAIL_CODE`].
    pub fn unknown_code() -> Self {
        Self::ack("AE", Some(UNKNOWN_DETAIL_CODE))
    }
    /// An acknowledgement whose `targetMessage` id is not the request's.
    pub fn wrong_target() -> Self {
        Self::new(FaultKind::WrongTarget)
    }
    /// TLS handshakes fail (use [`Self::times`] for the next n connections).
    pub fn tls_failure() -> Self {
        Self::new(FaultKind::TlsFailure)
    }
    /// Handshakes present a server certificate no client trusts.
    pub fn untrusted_server_certificate() -> Self {
        Self::new(FaultKind::UntrustedServerCertificate)
    }
    /// Handshakes refuse the client's certificate.
    pub fn refuse_client_certificate() -> Self {
        Self::new(FaultKind::RefuseClientCertificate)
    }
    /// Only requests of this interaction id.
    pub fn on_interaction(mut self, interaction: impl Into<String>) -> Self {
        self.interaction = Some(interaction.into());
        self
    }
    /// Only the next `n` matching requests (connections, for a TLS failure).
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
        match &self.kind {
            FaultKind::Status { status, .. } if !(400..=599).contains(status) => {
                Err("status must be between 400 and 599".into())
            }
            FaultKind::Ack { type_code, .. } if !["AA", "AE", "AR"].contains(&type_code.as_str()) => {
                Err("typeCode must be AA, AE or AR".into())
            }
            FaultKind::Ack { code: Some(code), .. } if code.trim().is_empty() => Err("code must not be empty".into()),
            kind if kind.is_handshake() && (self.interaction.is_some() || self.when == When::After) => Err(format!(
                "{} applies to connections: no interaction, no when",
                kind.name()
            )),
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

    fn matches(&self, interaction: Option<&str>, phase: When) -> bool {
        if self.fault.when != phase || self.fault.count == Some(0) {
            return false;
        }
        match &self.fault.interaction {
            Some(wanted) => interaction == Some(wanted.as_str()),
            None => true,
        }
    }

    /// Whether it fires for this match; consumes one of its `count`.
    fn fire(&mut self) -> bool {
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

/// The request-level faults for a request of `interaction` in `phase` (TLS failures apply to connections).
pub(crate) fn fire_all(active: &mut Vec<Active>, interaction: Option<&str>, phase: When) -> Fired<FaultKind> {
    crate::injection::fire_all(active, |a| {
        !a.fault.kind.is_handshake() && a.matches(interaction, phase) && a.fire()
    })
}

/// The handshake fault that fires for a new connection, if any (the first injected that fires).
pub(crate) fn fire_tls(active: &mut Vec<Active>) -> Option<FaultKind> {
    let fired = active
        .iter_mut()
        .filter(|a| a.fault.kind.is_handshake() && a.fault.count != Some(0))
        .find_map(|a| a.fire().then(|| a.fault.kind.clone()));
    active.retain(|a| !a.exhausted());
    fired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let f: Fault = serde_json::from_str(
            r#"{"kind":"status","status":503,"retryAfterSeconds":2,"interaction":"RCMR_IN000002FI01","count":3,"when":"after"}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Fault::unavailable(2)
                .on_interaction("RCMR_IN000002FI01")
                .times(3)
                .after_processing()
        );
        let f: Fault = serde_json::from_str(r#"{"kind":"ack","typeCode":"AR","code":"SERVICE_BUSY"}"#).unwrap();
        assert_eq!(f, Fault::service_busy());
        let f: Fault = serde_json::from_str(r#"{"kind":"malformedReply","form":"notXml"}"#).unwrap();
        assert_eq!(f, Fault::malformed(Malformed::NotXml));
        assert_eq!(
            serde_json::to_value(Fault::tls_failure().times(2)).unwrap(),
            serde_json::json!({"kind":"tlsFailure","count":2,"when":"before"})
        );
    }

    #[test]
    fn checks() {
        assert!(Fault::status(200).check().is_err());
        assert!(Fault::ack("XX", None).check().is_err());
        assert!(Fault::tls_failure().on_interaction("X").check().is_err());
        assert!(Fault::refuse_client_certificate().after_processing().check().is_err());
        assert!(Fault::untrusted_server_certificate().times(1).check().is_ok());
        assert!(Fault::service_busy().check().is_ok());
    }

    #[test]
    fn interaction_filter_and_counts() {
        let mut active = vec![
            Active::new(Fault::service_busy().on_interaction("A").times(1)),
            Active::new(Fault::tls_failure().times(1)),
            Active::new(Fault::refuse_client_certificate().times(1)),
        ];
        assert!(fire_all(&mut active, Some("B"), When::Before).action.is_none());
        assert!(fire_all(&mut active, Some("A"), When::Before).action.is_some());
        assert!(fire_all(&mut active, Some("A"), When::Before).action.is_none());
        // Handshake faults fire per connection, in the order injected.
        assert_eq!(fire_tls(&mut active), Some(FaultKind::TlsFailure));
        assert_eq!(fire_tls(&mut active), Some(FaultKind::RefuseClientCertificate));
        assert_eq!(fire_tls(&mut active), None);
        assert!(active.is_empty());
    }
}
