//! The service's wire format: the request path and query, the `X-AsiointivaltuudetAuthorization`
//! header, and reading the answer (leniently: unknown fields are ignored).

use crate::hetu;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::Deserialize;
use serde_json::Value;

/// The header that carries the client id, the timestamp and the checksum.
pub const AUTH_HEADER: &str = "X-AsiointivaltuudetAuthorization";
/// The header that names the end user of the e-service (for the service's own log).
pub const END_USER_HEADER: &str = "X-userId";
/// The path of the Authorization REST API, before `/{clientId}/{delegateId}/{principalId}`.
pub const AUTHORIZATION_PATH: &str = "/service/rest/hpa/authorization";

/// Percent-encodes everything but RFC 3986 unreserved characters (as JavaScript's
/// `encodeURIComponent`, and also `!'()*`), upper-case hex. What is signed is what is sent, so
/// the encoding must be one a URL parser leaves untouched.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{prefix}/service/rest/hpa/authorization/{clientId}/{delegateId}/{principalId}?requestId=…&issue=…`:
/// the path and query exactly as sent and signed. `prefix` is the base URL's path (usually empty).
pub fn authorization_path_and_query(
    prefix: &str,
    client_id: &str,
    delegate: &str,
    principal: &str,
    request_id: &str,
    issues: &[String],
) -> String {
    let mut path = format!(
        "{prefix}{AUTHORIZATION_PATH}/{}/{}/{}?requestId={}",
        percent_encode(client_id),
        percent_encode(delegate),
        percent_encode(principal),
        percent_encode(request_id),
    );
    for issue in issues {
        path.push_str("&issue=");
        path.push_str(&percent_encode(issue));
    }
    path
}

/// The checksum: Base64 (standard, padded) of HMAC-SHA256 with the API key (its UTF-8 bytes) as
/// the key over `"{path_and_query} {timestamp}"`.
pub fn checksum(api_key: &str, path_and_query: &str, timestamp: &str) -> Result<String, openssl::error::ErrorStack> {
    let key = PKey::hmac(api_key.as_bytes())?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
    signer.update(path_and_query.as_bytes())?;
    signer.update(b" ")?;
    signer.update(timestamp.as_bytes())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec()?))
}

/// The value of `X-AsiointivaltuudetAuthorization`: `"{clientId} {timestamp} {checksum}"`.
pub fn auth_header_value(
    client_id: &str,
    api_key: &str,
    path_and_query: &str,
    timestamp: &str,
) -> Result<String, openssl::error::ErrorStack> {
    Ok(format!(
        "{client_id} {timestamp} {}",
        checksum(api_key, path_and_query, timestamp)?
    ))
}

/// The timestamp of a request: ISO 8601 / RFC 3339 in UTC with milliseconds,
/// e.g. `2026-03-01T09:30:00.000Z`.
pub fn timestamp(now: chrono::DateTime<chrono::Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The answer of the Authorization REST API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// `ALLOWED` | `DISALLOWED`.
    pub result: Option<String>,
    /// Given only when the service's configuration allows disclosing them.
    #[serde(default)]
    pub reasons: Option<Vec<Reason>>,
    /// Not in the published client model; checked when present.
    #[serde(default)]
    pub principal_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    #[serde(default)]
    pub reason_rule: Option<String>,
}

/// A short reason from an error body for an error message: the `error` and `message` fields (or
/// the start of the text), identity codes redacted, at most 200 characters.
pub fn error_detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(json) => {
            let field = |name: &str| {
                json.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            let (error, message) = (field("error"), field("message"));
            match (error.is_empty(), message.is_empty()) {
                (false, false) => format!("{error}: {message}"),
                (false, true) => error,
                (true, false) => message,
                (true, true) => String::new(),
            }
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let text = hetu::redact(&text);
    let mut short: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if text.chars().count() > 200 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // Path and timestamp joined by one space make "what do ya want for nothing?".
        assert_eq!(
            checksum("Jefe", "what do ya want", "for nothing?").unwrap(),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
    }

    #[test]
    fn header_vector() {
        // Computed independently: printf '%s' "$path $ts" | openssl dgst -sha256 -hmac "$key" -binary | base64
        let path = authorization_path_and_query(
            "",
            "portti01",
            "010594Y9032",
            "131052-308T",
            "0190a0c1-0000-7000-8000-000000000001",
            &["http://valtuusrekisteri.suomi.fi/terveydenhuollon_asioiden_hoito".to_string()],
        );
        assert_eq!(
            path,
            "/service/rest/hpa/authorization/portti01/010594Y9032/131052-308T\
             ?requestId=0190a0c1-0000-7000-8000-000000000001\
             &issue=http%3A%2F%2Fvaltuusrekisteri.suomi.fi%2Fterveydenhuollon_asioiden_hoito"
        );
        let header = auth_header_value("portti01", "sandbox-api-key", &path, "2026-03-01T09:30:00.000Z").unwrap();
        assert_eq!(
            header,
            "portti01 2026-03-01T09:30:00.000Z au4hWDDc5b6rP0IXeuZyFV5Jhc4gQ/Ln18u7zHzbHSc="
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode("a b+c/ä"), "a%20b%2Bc%2F%C3%A4");
        // A URL parser leaves the encoded form as it is: what is signed is what goes out.
        let path = format!(
            "/x/{}?issue={}",
            percent_encode("131052-308T"),
            percent_encode("urn:a b/ä")
        );
        let url = reqwest::Url::parse(&format!("http://127.0.0.1{path}")).unwrap();
        assert_eq!(format!("{}?{}", url.path(), url.query().unwrap()), path);
    }

    #[test]
    fn timestamps_are_utc_with_millis() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-03-01T11:30:00.5+02:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(t), "2026-03-01T09:30:00.500Z");
    }

    #[test]
    fn answers_are_read_leniently() {
        let a: Answer = serde_json::from_str(
            r#"{"result":"ALLOWED","reasons":[{"reasonRule":"r1","reasonValue":"v","valueType":"DESCRIPTION","x":1}],"newField":{"a":[1]}}"#,
        )
        .unwrap();
        assert_eq!(a.result.as_deref(), Some("ALLOWED"));
        assert_eq!(a.reasons.unwrap()[0].reason_rule.as_deref(), Some("r1"));
        let a: Answer = serde_json::from_str(r#"{"result":"DISALLOWED","reasons":null}"#).unwrap();
        assert!(a.reasons.is_none());
    }

    #[test]
    fn error_details_are_short_and_redacted() {
        assert_eq!(
            error_detail(br#"{"error":"unauthorized","message":"bad checksum for 131052-308T"}"#),
            "unauthorized: bad checksum for <identity code>"
        );
        assert_eq!(error_detail(b"plain 010594Y9032"), "plain <identity code>");
        assert_eq!(error_detail(&[b'x'; 500]).chars().count(), 201);
        assert_eq!(error_detail(b""), "");
    }
}
