//! The seam between Portti's broker and the national services: every adapter (Suomi.fi
//! Messages, Kanta, Identification, ODA, PTV) implements [`Adapter`]. An adapter knows its
//! service's wire format and error semantics and nothing of the store, the queue or the audit;
//! the broker knows retries, leases, circuit breakers and audit and nothing of wire formats.

pub mod http;
pub mod redact;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use http::{
    build_client, classify_status, classify_transport_error, describe_transport_error, sha256_hex, ClientIdentity,
    HttpClientConfig, HttpClientError,
};
pub use redact::{redact_identity_codes, redact_identity_codes_as, without_quoted_values};

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the broker tells an adapter about the call it is making.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub exchange_id: Uuid,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub correlation_id: String,
    /// The adapter must give up (and report [`AdapterError::Transient`]) by then.
    pub deadline: Instant,
}

impl CallContext {
    /// Time left before the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// One operation for a service, e.g. `send_electronic_message` with its canonical payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub name: String,
    pub payload: serde_json::Value,
}

/// A successful call: the service's own id for what was done, and what the broker should keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub upstream_id: Option<String>,
    pub body: serde_json::Value,
    /// SHA-256 of the bytes sent and received, hex, for the audit trail.
    pub request_digest: Option<String>,
    pub response_digest: Option<String>,
}

/// How a failure should be handled; the adapter classifies, the broker acts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// Worth retrying with backoff: 5xx, timeouts, dropped connections.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The service asked us to slow down; retry no earlier than `retry_after`.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// Credentials expired or were refused: re-authenticate, then retry.
    #[error("re-authentication needed: {0}")]
    Reauthenticate(String),
    /// Retrying cannot help: the request itself is wrong (4xx) or refused for good.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl AdapterError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, AdapterError::Permanent(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Degraded,
    Down,
}

/// A national service as the broker sees it.
pub trait Adapter: Send + Sync {
    /// A stable service name used in config, metrics and the audit trail, e.g. `suomifi-messages`.
    fn service(&self) -> &'static str;

    /// Performs one operation; must be safe to repeat (upstream idempotency keys).
    fn call<'a>(&'a self, cx: &'a CallContext, operation: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>>;

    /// A cheap check of whether the service can be reached now.
    fn health(&self) -> BoxFuture<'_, Health>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_permanent_errors_stop_retries() {
        assert!(AdapterError::Transient("503".into()).is_retryable());
        assert!(AdapterError::RateLimited {
            retry_after: Duration::from_secs(1)
        }
        .is_retryable());
        assert!(AdapterError::Reauthenticate("401".into()).is_retryable());
        assert!(!AdapterError::Permanent("400".into()).is_retryable());
    }

    #[test]
    fn remaining_time_never_goes_negative() {
        let cx = CallContext {
            exchange_id: Uuid::now_v7(),
            attempt: 1,
            correlation_id: "c".into(),
            deadline: Instant::now(),
        };
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(cx.remaining(), Duration::ZERO);
    }
}
