//! Request extractors that answer with problem details instead of axum's plain-text rejections.

use super::problem::{ApiError, InvalidField};
use crate::case::hetu::contains_identity_code;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap};
use serde::de::DeserializeOwned;

/// The raw JSON body with its digest, checked for content type and size; parse with [`JsonBody::parse`].
pub struct JsonBody {
    pub bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<super::layers::BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(usize::MAX);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(limit))?;
        Ok(Self { bytes })
    }
}

impl JsonBody {
    /// Parses into `T`; a type mismatch or unknown field is named by its JSON pointer.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let mut de = serde_json::Deserializer::from_slice(&self.bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                ApiError::MalformedJson(inner.to_string())
            } else {
                ApiError::Invalid(vec![InvalidField {
                    pointer: Some(pointer_of(e.path())),
                    parameter: None,
                    detail: shown(strip_position(&inner.to_string())),
                }])
            }
        })?;
        de.end().map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        Ok(value)
    }
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&shown(key.replace('~', "~0").replace('/', "~1")))
            }
            Segment::Unknown => pointer.push('?'),
        }
    }
    pointer
}

/// Caller text echoed in a problem (serde quotes the offending value or key) is replaced if
/// it may hold an identity code: problems end up in the caller's logs.
fn shown(text: String) -> String {
    if contains_identity_code(&text) {
        "(not shown: it looks like a personal identity code)".to_string()
    } else {
        text
    }
}

/// serde's messages end in " at line 1 column 42"; the pointer says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Query parameters parsed leniently into strings, so that each bad one can be named.
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = serde_urlencoded_pairs(query)
            .ok_or_else(|| ApiError::Invalid(vec![InvalidField::parameter("?", "the query string is not valid")]))?;
        Ok(Self(pairs))
    }
}

fn serde_urlencoded_pairs(query: &str) -> Option<Vec<(String, String)>> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{query}").parse().ok()?)
        .ok()
        .map(|q| q.0)
}

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Refuses parameters the endpoint does not know, so a typo is not silently ignored.
    pub fn only(&self, known: &[&str], errors: &mut Vec<InvalidField>) {
        for (k, _) in &self.0 {
            if !known.contains(&k.as_str()) {
                errors.push(InvalidField::parameter(
                    &shown(k.clone()),
                    format!("unknown parameter; known are {}", known.join(", ")),
                ));
            }
        }
    }
}

/// A form-urlencoded body (as a browser posts a form), read within the body limit; its fields
/// in order. The content type is not insisted on: a browser's plain form always sends this one.
pub struct FormBody {
    pub bytes: Bytes,
    pub fields: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req
            .extensions()
            .get::<super::layers::BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(usize::MAX);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(limit))?;
        let fields = form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Self { bytes, fields })
    }
}

impl FormBody {
    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}
