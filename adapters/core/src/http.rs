//! The one outbound HTTPS client every adapter uses, and the shared helpers around it: body
//! digests for the audit trail and the classification of transport errors and HTTP statuses
//! into [`AdapterError`] classes. An adapter only adds what is particular to its service (for
//! example, that a 409 means "already done").

use crate::AdapterError;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long a 429 without a usable `Retry-After` asks us to wait.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Settings of an outbound client. Timeouts deserialize from seconds (`5`, `0.5`) or strings
/// (`"500ms"`, `"5s"`, `"2m"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpClientConfig {
    /// Time allowed for TCP connect and the TLS handshake.
    #[serde(deserialize_with = "deserialize_duration")]
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, response body included.
    #[serde(deserialize_with = "deserialize_duration")]
    pub request_timeout: Duration,
    /// A PEM file of trusted root certificates. When set, the built-in roots are not trusted.
    pub root_ca_pem: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    pub identity: Option<ClientIdentity>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            root_ca_pem: None,
            identity: None,
        }
    }
}

/// A client certificate and its private key, either as PEM files or as one PKCS#12 file.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientIdentity {
    /// `cert`: the certificate (and optionally its chain) in PEM; `key`: its private key in PEM
    /// (PKCS#8, PKCS#1 RSA or SEC1 EC).
    Pem {
        cert: PathBuf,
        key: PathBuf,
    },
    Pkcs12 {
        file: PathBuf,
        password: String,
    },
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIdentity::Pem { cert, key } => f.debug_struct("Pem").field("cert", cert).field("key", key).finish(),
            ClientIdentity::Pkcs12 { file, .. } => f
                .debug_struct("Pkcs12")
                .field("file", file)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// Why an outbound client could not be built. Names the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not usable: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

fn read(path: &Path) -> Result<Vec<u8>, HttpClientError> {
    std::fs::read(path).map_err(|source| HttpClientError::Read {
        path: path.to_owned(),
        source,
    })
}

fn invalid(path: &Path, reason: impl fmt::Display) -> HttpClientError {
    HttpClientError::Invalid {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Builds the outbound client: native TLS (OpenSSL), the given timeouts, optional custom roots
/// (which replace the built-in ones) and an optional client identity. Redirects are not followed:
/// the national APIs do not redirect, and a redirected POST with credentials is never wanted.
pub fn build_client(config: &HttpClientConfig) -> Result<reqwest::Client, HttpClientError> {
    let mut builder = reqwest::Client::builder()
        .use_native_tls()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("portti/", env!("CARGO_PKG_VERSION")));

    if let Some(path) = &config.root_ca_pem {
        let pem = read(path)?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(path, e))?;
        if roots.is_empty() {
            return Err(invalid(path, "no PEM certificate in the file"));
        }
        builder = builder.tls_built_in_root_certs(false);
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
    }

    if let Some(identity) = &config.identity {
        builder = builder.identity(load_identity(identity)?);
    }

    builder.build().map_err(|e| HttpClientError::Build(error_chain(&e)))
}

fn load_identity(identity: &ClientIdentity) -> Result<reqwest::Identity, HttpClientError> {
    match identity {
        ClientIdentity::Pem { cert, key } => {
            let cert_pem = read(cert)?;
            openssl::x509::X509::stack_from_pem(&cert_pem)
                .map_err(|e| invalid(cert, e))
                .and_then(|certs| match certs.is_empty() {
                    true => Err(invalid(cert, "no PEM certificate in the file")),
                    false => Ok(()),
                })?;
            // native-tls wants PKCS#8; accept the older PKCS#1 and SEC1 forms too.
            let key_pem = read(key)?;
            let pkey = openssl::pkey::PKey::private_key_from_pem(&key_pem).map_err(|e| invalid(key, e))?;
            let pkcs8 = pkey.private_key_to_pem_pkcs8().map_err(|e| invalid(key, e))?;
            reqwest::Identity::from_pkcs8_pem(&cert_pem, &pkcs8).map_err(|e| invalid(cert, error_chain(&e)))
        }
        ClientIdentity::Pkcs12 { file, password } => {
            let der = read(file)?;
            reqwest::Identity::from_pkcs12_der(&der, password).map_err(|e| invalid(file, error_chain(&e)))
        }
    }
}

/// SHA-256 of `bytes`, lower-case hex: the request and response digests of a [`crate::Reply`].
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Classifies a failed request (no HTTP status received). Timeouts, refused or failed connects,
/// TLS failures and dropped connections are [`AdapterError::Transient`]; a request that could
/// not even be built (bad URL) or an unexpected redirect is [`AdapterError::Permanent`].
pub fn classify_transport_error(err: &reqwest::Error) -> AdapterError {
    let text = describe_transport_error(err);
    if err.is_builder() || err.is_redirect() {
        return AdapterError::Permanent(text);
    }
    AdapterError::Transient(text)
}

/// What went wrong with a request that got no HTTP status, cause first and without the URL:
/// `timed out: …`, `TLS handshake failed: … certificate verify failed …`, `connect failed: …`,
/// `connection closed: …`. For every client of a remote service (adapters, the TSA, metadata),
/// so that a dead letter or a failed job run names the cause, not "error sending request".
pub fn describe_transport_error(err: &reqwest::Error) -> String {
    let chain = error_chain(err);
    if err.is_builder() {
        return format!("request could not be built: {chain}");
    }
    if err.is_redirect() {
        return format!("unexpected redirect: {chain}");
    }
    let lower = chain.to_ascii_lowercase();
    let what = if err.is_timeout() {
        "timed out"
    } else if ["ssl", "tls", "certificate", "handshake"]
        .iter()
        .any(|w| lower.contains(w))
    {
        "TLS handshake failed"
    } else if err.is_connect()
        && err.url().is_some_and(|u| u.scheme() == "https")
        && (lower.contains("eof") || lower.contains("reset"))
    {
        // Connected (a refused connect says so), then closed or reset before the handshake
        // finished: the server refused the handshake.
        "TLS handshake failed (the server closed the connection)"
    } else if err.is_connect() {
        "connect failed"
    } else if connection_closed(err) || lower.contains("closed") || lower.contains("reset") {
        "connection closed"
    } else {
        "request failed"
    };
    format!("{what}: {chain}")
}

fn connection_closed(err: &reqwest::Error) -> bool {
    use std::io::ErrorKind::*;
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

/// The messages of an error's sources, without the top level (whose text names the URL).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !parts.contains(&text) {
            parts.push(text);
        }
        source = e.source();
    }
    if parts.is_empty() {
        // Only the top level: drop a "(url)" suffix, which reqwest adds.
        let text = err.to_string();
        return match text.find(" for url (") {
            Some(i) => text[..i].to_owned(),
            None => text,
        };
    }
    parts.join(": ")
}

/// Classifies an HTTP status: `None` for 2xx. 429 → [`AdapterError::RateLimited`] (after
/// `Retry-After`, default 1 s), 401 → [`AdapterError::Reauthenticate`], 5xx and 408 →
/// [`AdapterError::Transient`], any other status → [`AdapterError::Permanent`]. `detail` (the
/// service's reason, already free of personal data) is put in the message.
pub fn classify_status(status: StatusCode, headers: &HeaderMap, detail: &str) -> Option<AdapterError> {
    if status.is_success() {
        return None;
    }
    let message = match detail.is_empty() {
        true => format!("HTTP {}", status.as_u16()),
        false => format!("HTTP {}: {detail}", status.as_u16()),
    };
    Some(match status {
        StatusCode::TOO_MANY_REQUESTS => AdapterError::RateLimited {
            retry_after: retry_after(headers, SystemTime::now()).unwrap_or(DEFAULT_RETRY_AFTER),
        },
        StatusCode::UNAUTHORIZED => AdapterError::Reauthenticate(message),
        StatusCode::REQUEST_TIMEOUT => AdapterError::Transient(message),
        // A 503 that says when to come back is a request to slow down, like 429.
        StatusCode::SERVICE_UNAVAILABLE if headers.contains_key(RETRY_AFTER) => AdapterError::RateLimited {
            retry_after: retry_after(headers, SystemTime::now()).unwrap_or(DEFAULT_RETRY_AFTER),
        },
        s if s.is_server_error() => AdapterError::Transient(message),
        _ => AdapterError::Permanent(message),
    })
}

/// The wait a `Retry-After` header asks for, if it is present and valid.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date (a date in the past means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn deserialize_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    let bad = |what: &str| {
        serde::de::Error::custom(format!(
            "invalid duration {what:?}: use seconds or e.g. \"500ms\", \"5s\", \"2m\""
        ))
    };
    let seconds = match Raw::deserialize(deserializer)? {
        Raw::Seconds(s) => s,
        Raw::Text(text) => {
            let t = text.trim();
            let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
                (n, 0.001)
            } else if let Some(n) = t.strip_suffix('s') {
                (n, 1.0)
            } else if let Some(n) = t.strip_suffix('m') {
                (n, 60.0)
            } else {
                (t, 1.0)
            };
            number.trim().parse::<f64>().map_err(|_| bad(&text))? * scale
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad(&seconds.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn certs() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
    }

    fn config(identity: Option<ClientIdentity>) -> HttpClientConfig {
        HttpClientConfig {
            root_ca_pem: Some(certs().join("demo-ca.pem")),
            identity,
            ..HttpClientConfig::default()
        }
    }

    #[test]
    fn a_pem_identity_loads() {
        let identity = ClientIdentity::Pem {
            cert: certs().join("portti-outbound.pem"),
            key: certs().join("portti-outbound.key"),
        };
        build_client(&config(Some(identity))).expect("PEM identity");
    }

    #[test]
    fn a_pkcs12_identity_loads() {
        let identity = ClientIdentity::Pkcs12 {
            file: certs().join("portti-outbound.p12"),
            password: "demo".into(),
        };
        build_client(&config(Some(identity))).expect("PKCS#12 identity");
    }

    #[test]
    fn a_client_without_identity_or_custom_roots_builds() {
        build_client(&HttpClientConfig::default()).unwrap();
        build_client(&config(None)).unwrap();
    }

    #[test]
    fn a_wrong_pkcs12_password_is_refused_naming_the_file() {
        let identity = ClientIdentity::Pkcs12 {
            file: certs().join("portti-outbound.p12"),
            password: "not-demo".into(),
        };
        let err = build_client(&config(Some(identity))).unwrap_err();
        assert!(matches!(&err, HttpClientError::Invalid { path, .. } if path.ends_with("portti-outbound.p12")));
        assert!(!err.to_string().contains("not-demo"));
    }

    #[test]
    fn missing_and_wrong_files_are_refused() {
        let missing = HttpClientConfig {
            root_ca_pem: Some(certs().join("no-such.pem")),
            ..HttpClientConfig::default()
        };
        assert!(matches!(build_client(&missing), Err(HttpClientError::Read { .. })));

        // A key given as the certificate and the other way round.
        let swapped = ClientIdentity::Pem {
            cert: certs().join("portti-outbound.key"),
            key: certs().join("portti-outbound.pem"),
        };
        assert!(matches!(
            build_client(&config(Some(swapped))),
            Err(HttpClientError::Invalid { .. })
        ));

        let not_a_ca = HttpClientConfig {
            root_ca_pem: Some(certs().join("portti-outbound.key")),
            ..HttpClientConfig::default()
        };
        assert!(build_client(&not_a_ca).is_err());
    }

    #[test]
    fn debug_hides_the_pkcs12_password() {
        let identity = ClientIdentity::Pkcs12 {
            file: "x.p12".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{identity:?}").contains("hunter2"));
    }

    #[test]
    fn config_deserializes_with_durations_and_identity() {
        let config: HttpClientConfig = serde_json::from_value(serde_json::json!({
            "connect_timeout": "500ms",
            "request_timeout": 12,
            "identity": {"kind": "pkcs12", "file": "a.p12", "password": "p"}
        }))
        .unwrap();
        assert_eq!(config.connect_timeout, Duration::from_millis(500));
        assert_eq!(config.request_timeout, Duration::from_secs(12));
        assert_eq!(
            config.identity,
            Some(ClientIdentity::Pkcs12 {
                file: "a.p12".into(),
                password: "p".into()
            })
        );
        let config: HttpClientConfig = serde_json::from_value(serde_json::json!({"request_timeout": "2m"})).unwrap();
        assert_eq!(config.request_timeout, Duration::from_secs(120));
        assert_eq!(config.connect_timeout, HttpClientConfig::default().connect_timeout);
        assert!(serde_json::from_value::<HttpClientConfig>(serde_json::json!({"request_timeout": "soon"})).is_err());
        assert!(serde_json::from_value::<HttpClientConfig>(serde_json::json!({"request_timeout": -1})).is_err());
        assert!(serde_json::from_value::<HttpClientConfig>(serde_json::json!({"timeout": 1})).is_err());
    }

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(b"").len(), 64);
    }

    fn with_retry_after(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn statuses_map_to_classes() {
        let none = HeaderMap::new();
        assert_eq!(classify_status(StatusCode::OK, &none, ""), None);
        assert_eq!(classify_status(StatusCode::CREATED, &none, ""), None);
        for code in [500, 502, 503, 504, 599] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(
                classify_status(status, &none, "x"),
                Some(AdapterError::Transient(_))
            ));
        }
        assert!(matches!(
            classify_status(StatusCode::REQUEST_TIMEOUT, &none, ""),
            Some(AdapterError::Transient(_))
        ));
        assert!(matches!(
            classify_status(StatusCode::UNAUTHORIZED, &none, ""),
            Some(AdapterError::Reauthenticate(_))
        ));
        for code in [400, 403, 404, 409, 413, 415, 422, 301] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(
                classify_status(status, &none, ""),
                Some(AdapterError::Permanent(_))
            ));
        }
        assert_eq!(
            classify_status(StatusCode::BAD_REQUEST, &none, "reason: bad title"),
            Some(AdapterError::Permanent("HTTP 400: reason: bad title".into()))
        );
    }

    #[test]
    fn rate_limits_honour_retry_after_or_wait_one_second() {
        let rate_limited = |headers: &HeaderMap| classify_status(StatusCode::TOO_MANY_REQUESTS, headers, "");
        assert_eq!(
            rate_limited(&with_retry_after("7")),
            Some(AdapterError::RateLimited {
                retry_after: Duration::from_secs(7)
            })
        );
        for useless in ["soon", "-3", ""] {
            assert_eq!(
                rate_limited(&with_retry_after(useless)),
                Some(AdapterError::RateLimited {
                    retry_after: DEFAULT_RETRY_AFTER
                })
            );
        }
        assert_eq!(
            rate_limited(&HeaderMap::new()),
            Some(AdapterError::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER
            })
        );
    }

    #[test]
    fn retry_after_reads_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // The obsolete RFC 850 form is still valid HTTP-date.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("1.5", now), None);
    }

    #[tokio::test]
    async fn transport_failures_are_transient() {
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = build_client(&HttpClientConfig::default()).unwrap();
        let err = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(classify_transport_error(&err), AdapterError::Transient(m) if !m.contains("127.0.0.1")));

        // A peer that accepts and closes without answering.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let err = client.get(format!("http://{addr}/")).send().await.unwrap_err();
        assert!(
            matches!(classify_transport_error(&err), AdapterError::Transient(_)),
            "{err:?}"
        );

        // A TLS handshake against a peer that closes the connection: named as a TLS failure.
        let err = client.get(format!("https://{addr}/")).send().await.unwrap_err();
        assert!(
            matches!(classify_transport_error(&err), AdapterError::Transient(m) if m.starts_with("TLS handshake failed")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn timeouts_are_transient() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket); // accept, never answer
            }
        });
        let client = build_client(&HttpClientConfig {
            request_timeout: Duration::from_millis(100),
            ..HttpClientConfig::default()
        })
        .unwrap();
        let err = client.get(format!("http://{addr}/")).send().await.unwrap_err();
        assert!(matches!(classify_transport_error(&err), AdapterError::Transient(m) if m.starts_with("timed out")));
    }

    #[test]
    fn a_bad_url_is_permanent() {
        let client = build_client(&HttpClientConfig::default()).unwrap();
        let err = client.get("not a url").build().unwrap_err();
        assert!(matches!(classify_transport_error(&err), AdapterError::Permanent(_)));
    }
}
