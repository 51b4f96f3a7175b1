//! Signed webhooks: POSTs an event (no personal data) to a receiving organisation's system.
//!
//! Headers: `Portti-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
//! organisation's shared secret, and `Portti-Event-Id` = the exchange id, the same on every retry
//! (the receiver's idempotency key). 2xx is success; 5xx, 408 and timeouts are transient; 429 and
//! a 503 with `Retry-After` wait as asked; other 4xx, 401 included (no token to renew), are permanent.

use hmac::{Hmac, Mac};
use portti_adapter_core::{
    build_client, classify_status, classify_transport_error, sha256_hex, Adapter, AdapterError, BoxFuture, CallContext,
    Health, HttpClientConfig, Operation, Reply,
};
use serde::Deserialize;
use sha2::Sha256;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub const SERVICE: &str = "webhook";
/// The operation of a case handed to another organisation.
pub const OP_CASE_TRANSFERRED: &str = "case.transferred";
pub const SIGNATURE_HEADER: &str = "Portti-Signature";
pub const EVENT_ID_HEADER: &str = "Portti-Event-Id";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The shared secret (its bytes, surrounding whitespace trimmed).
    pub secret_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook secret {path}: {error}")]
    Secret { path: String, error: String },
    #[error("webhook client: {0}")]
    Client(String),
}

pub struct Webhook {
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(config: &WebhookConfig) -> Result<Self, WebhookError> {
        let secret = std::fs::read(&config.secret_file).map_err(|e| WebhookError::Secret {
            path: config.secret_file.display().to_string(),
            error: e.to_string(),
        })?;
        let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
        if secret.is_empty() {
            return Err(WebhookError::Secret {
                path: config.secret_file.display().to_string(),
                error: "empty".into(),
            });
        }
        let client = build_client(&HttpClientConfig::default()).map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(Self {
            url: config.url.clone(),
            secret,
            client,
        })
    }
}

impl Adapter for Webhook {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn call<'a>(&'a self, cx: &'a CallContext, operation: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&operation.payload).map_err(|e| AdapterError::Permanent(e.to_string()))?;
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let response = self
                .client
                .post(&self.url)
                .timeout(cx.remaining())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature(&self.secret, t, &body))
                .header(EVENT_ID_HEADER, cx.exchange_id.to_string())
                .body(body.clone())
                .send()
                .await
                .map_err(|e| classify_transport_error(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let received = response.bytes().await.unwrap_or_default();
            if let Some(error) = classify_status(status, &headers, "") {
                return Err(refused_signature_is_permanent(error));
            }
            Ok(Reply {
                upstream_id: None,
                body: serde_json::json!({ "status": status.as_u16() }),
                request_digest: Some(sha256_hex(&body)),
                response_digest: Some(sha256_hex(&received)),
            })
        })
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async { Health::Up })
    }
}

/// A webhook has no token to renew: a 401 means the receiver refuses the signature (the shared
/// secrets differ), which no retry mends. Dead-lettered at once, saying so.
fn refused_signature_is_permanent(error: AdapterError) -> AdapterError {
    match error {
        AdapterError::Reauthenticate(message) => AdapterError::Permanent(format!(
            "{message}: the receiver refused the signature (is the shared secret the same on both sides?)"
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_is_permanent_and_says_why() {
        let headers = reqwest::header::HeaderMap::new();
        let error = classify_status(reqwest::StatusCode::UNAUTHORIZED, &headers, "").unwrap();
        match refused_signature_is_permanent(error) {
            AdapterError::Permanent(m) => assert!(m.starts_with("HTTP 401") && m.contains("signature"), "{m}"),
            other => panic!("{other:?}"),
        }
        let error = classify_status(reqwest::StatusCode::BAD_GATEWAY, &headers, "").unwrap();
        assert!(matches!(
            refused_signature_is_permanent(error),
            AdapterError::Transient(_)
        ));
    }

    #[test]
    fn signature_covers_time_and_body() {
        let a = signature(b"secret", 1, b"{}");
        assert!(a.starts_with("t=1,v1="));
        assert_eq!(a.len(), "t=1,v1=".len() + 64);
        assert_ne!(a, signature(b"secret", 2, b"{}"));
        assert_ne!(a, signature(b"other", 1, b"{}"));
    }
}
