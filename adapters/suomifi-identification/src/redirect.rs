//! The HTTP-Redirect binding (SAML bindings §3.4): DEFLATE + Base64 + URL-encoding, and the
//! query signature of §3.4.4.1 over `SAMLRequest=…&RelayState=…&SigAlg=…` (or `SAMLResponse=…`)
//! exactly as the components appear in the URL. Only RSA-SHA256 is produced or accepted.

use std::io::{Read, Write};

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::config::{cert_from_pem, private_key};
use crate::error::SamlError;
use crate::xml::MAX_XML_BYTES;

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
/// SAML bindings §3.4.3: RelayState MUST NOT exceed 80 bytes.
pub const MAX_RELAY_STATE: usize = 80;
/// Largest query string accepted.
const MAX_QUERY: usize = 64 * 1024;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Which SAML message a redirect carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    SamlRequest,
    SamlResponse,
}

impl Param {
    pub fn as_str(self) -> &'static str {
        match self {
            Param::SamlRequest => "SAMLRequest",
            Param::SamlResponse => "SAMLResponse",
        }
    }
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// `application/x-www-form-urlencoded` decoding of one raw query component.
fn form_decode(raw: &str) -> Result<String, SamlError> {
    let plus = raw.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| SamlError::Malformed("a query parameter is not UTF-8".into()))
}

/// Raw DEFLATE (no zlib header) then Base64, as the binding sends a message.
pub fn deflate_base64(xml: &[u8]) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml).expect("writing into a Vec cannot fail");
    B64.encode(enc.finish().expect("writing into a Vec cannot fail"))
}

/// Base64 then raw INFLATE, bounded to 512 KiB (no decompression bombs).
pub fn inflate_base64(b64: &str) -> Result<Vec<u8>, SamlError> {
    // A '+' that was not percent-encoded arrives as a space after form decoding.
    let cleaned: String = b64
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    let compressed = B64
        .decode(cleaned)
        .map_err(|_| SamlError::Malformed("the message is not Base64".into()))?;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(compressed.as_slice())
        .take(MAX_XML_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| SamlError::Malformed("the message is not DEFLATE-compressed".into()))?;
    if out.len() > MAX_XML_BYTES {
        return Err(SamlError::TooLarge(out.len()));
    }
    Ok(out)
}

pub(crate) fn check_relay_state(relay_state: Option<&str>) -> Result<(), SamlError> {
    match relay_state {
        Some(r) if r.len() > MAX_RELAY_STATE => Err(SamlError::InvalidRelayState(format!(
            "{} bytes, at most {MAX_RELAY_STATE} are allowed",
            r.len()
        ))),
        _ => Ok(()),
    }
}

/// Builds `base_url?SAMLRequest=…[&RelayState=…]&SigAlg=…&Signature=…` signed with RSA-SHA256.
pub fn sign_redirect(
    base_url: &str,
    param: Param,
    xml: &[u8],
    relay_state: Option<&str>,
    key_pem: &str,
) -> Result<String, SamlError> {
    sign_with_key(base_url, param, xml, relay_state, &private_key(key_pem)?)
}

pub(crate) fn sign_with_key(
    base_url: &str,
    param: Param,
    xml: &[u8],
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String, SamlError> {
    check_relay_state(relay_state)?;
    let mut signed = format!("{}={}", param.as_str(), encode(&deflate_base64(xml)));
    if let Some(rs) = relay_state {
        signed.push_str("&RelayState=");
        signed.push_str(&encode(rs));
    }
    signed.push_str("&SigAlg=");
    signed.push_str(&encode(RSA_SHA256));
    let signature = sign_bytes(key, signed.as_bytes())?;
    let sep = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{base_url}{sep}{signed}&Signature={}",
        encode(&B64.encode(signature))
    ))
}

fn sign_bytes(key: &PKey<Private>, data: &[u8]) -> Result<Vec<u8>, SamlError> {
    let fail = |_| SamlError::Config("the signing key cannot sign with RSA-SHA256".into());
    let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(fail)?;
    signer.update(data).map_err(fail)?;
    signer.sign_to_vec().map_err(fail)
}

/// A verified redirect message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectMessage {
    /// The inflated XML (not yet parsed).
    pub xml: Vec<u8>,
    pub relay_state: Option<String>,
    /// Index into the trusted certificates of the one that verified.
    pub trusted_cert_index: usize,
}

/// The raw (still URL-encoded) components of a query string, each name at most once.
fn raw_components(query: &str) -> Result<Vec<(&str, &str)>, SamlError> {
    if query.len() > MAX_QUERY {
        return Err(SamlError::TooLarge(query.len()));
    }
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        if out.iter().any(|(n, _)| *n == name) {
            return Err(SamlError::Malformed(format!("query parameter {name:?} repeated")));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// One query parameter, decoded (`None` if absent or the query is malformed).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let components = raw_components(query).ok()?;
    let raw = components.iter().find(|(n, _)| *n == name)?.1;
    form_decode(raw).ok()
}

/// The RelayState of a redirect (the gateway uses it to find the outstanding request).
pub fn relay_state(query: &str) -> Option<String> {
    query_param(query, "RelayState")
}

/// Verifies the query signature over the raw components with one of the trusted certificates
/// (RSA-SHA256 only) and returns the inflated message.
pub fn verify_redirect(query: &str, param: Param, trusted_cert_pems: &[String]) -> Result<RedirectMessage, SamlError> {
    let components = raw_components(query)?;
    let get = |name: &str| components.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let message =
        get(param.as_str()).ok_or_else(|| SamlError::Malformed(format!("no {} parameter", param.as_str())))?;
    let relay_raw = get("RelayState");
    let (Some(sig_alg_raw), Some(signature_raw)) = (get("SigAlg"), get("Signature")) else {
        return Err(SamlError::Unsigned("the redirect has no SigAlg and Signature".into()));
    };
    let sig_alg = form_decode(sig_alg_raw)?;
    if sig_alg != RSA_SHA256 {
        let weak = if sig_alg == RSA_SHA1 { "rsa-sha1" } else { "unsupported" };
        return Err(SamlError::WeakAlgorithm(format!("SigAlg {weak}: {sig_alg}")));
    }
    let mut signed = format!("{}={message}", param.as_str());
    if let Some(rs) = relay_raw {
        signed.push_str("&RelayState=");
        signed.push_str(rs);
    }
    signed.push_str("&SigAlg=");
    signed.push_str(sig_alg_raw);
    let signature = B64
        .decode(form_decode(signature_raw)?.replace(' ', "+"))
        .map_err(|_| SamlError::InvalidSignature("Signature is not Base64".into()))?;

    let mut index = None;
    for (i, pem) in trusted_cert_pems.iter().enumerate() {
        let public = cert_from_pem(pem)?
            .public_key()
            .map_err(|_| SamlError::Config("a trusted certificate has no usable public key".into()))?;
        let ok = Verifier::new(MessageDigest::sha256(), &public)
            .and_then(|mut v| {
                v.update(signed.as_bytes())?;
                v.verify(&signature)
            })
            .unwrap_or(false);
        if ok {
            index = Some(i);
            break;
        }
    }
    let Some(trusted_cert_index) = index else {
        return Err(SamlError::InvalidSignature(
            "the query signature does not verify with any trusted certificate".into(),
        ));
    };
    let relay_state = relay_raw.map(form_decode).transpose()?;
    check_relay_state(relay_state.as_deref())?;
    let xml = inflate_base64(&form_decode(message)?)?;
    Ok(RedirectMessage {
        xml,
        relay_state,
        trusted_cert_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP_KEY: &str = include_str!("../../../certs-example/saml-sp-signing.key");
    const SP_CERT: &str = include_str!("../../../certs-example/saml-sp-signing.pem");
    const IDP_CERT: &str = include_str!("../../../certs-example/saml-idp-signing-1.pem");

    #[test]
    fn deflate_round_trips_and_bombs_are_refused() {
        let xml = "<a>ääkköset &amp; more</a>".repeat(50);
        assert_eq!(inflate_base64(&deflate_base64(xml.as_bytes())).unwrap(), xml.as_bytes());
        let bomb = deflate_base64(&vec![b' '; MAX_XML_BYTES + 10]);
        assert_eq!(inflate_base64(&bomb).unwrap_err().reason(), "too_large");
        assert_eq!(inflate_base64("!!!").unwrap_err().reason(), "malformed");
    }

    #[test]
    fn signed_redirect_verifies_and_tampering_is_refused() {
        let url = sign_redirect(
            "https://idp.example/sso?x=1",
            Param::SamlRequest,
            b"<r/>",
            Some("a b&c=d/é"),
            SP_KEY,
        )
        .unwrap();
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://idp.example/sso");
        let query = query.strip_prefix("x=1&").unwrap();
        let trusted = [IDP_CERT.to_owned(), SP_CERT.to_owned()];
        let msg = verify_redirect(query, Param::SamlRequest, &trusted).unwrap();
        assert_eq!(msg.xml, b"<r/>");
        assert_eq!(msg.relay_state.as_deref(), Some("a b&c=d/é"));
        assert_eq!(msg.trusted_cert_index, 1);
        assert_eq!(relay_state(query).as_deref(), Some("a b&c=d/é"));

        // Other key only.
        let err = verify_redirect(query, Param::SamlRequest, &trusted[..1]).unwrap_err();
        assert_eq!(err.reason(), "invalid_signature");
        // Changed RelayState.
        let tampered = query.replace("RelayState=a", "RelayState=b");
        assert_eq!(
            verify_redirect(&tampered, Param::SamlRequest, &trusted)
                .unwrap_err()
                .reason(),
            "invalid_signature"
        );
        // Re-encoding a component changes the signed bytes: the raw form is what counts.
        let reencoded = query.replace("%20", "+");
        assert_ne!(reencoded, query);
        assert!(verify_redirect(&reencoded, Param::SamlRequest, &trusted).is_err());
        // No signature, SHA-1, a repeated parameter, the wrong message kind.
        let unsigned = query.split("&SigAlg").next().unwrap();
        assert_eq!(
            verify_redirect(unsigned, Param::SamlRequest, &trusted)
                .unwrap_err()
                .reason(),
            "unsigned"
        );
        let sha1 = query
            .replace("rsa-sha256", "rsa-sha1")
            .replace("xmldsig-more", "xmldsig");
        assert_eq!(
            verify_redirect(&sha1, Param::SamlRequest, &trusted)
                .unwrap_err()
                .reason(),
            "weak_algorithm"
        );
        let repeated = format!("{query}&RelayState=x");
        assert_eq!(
            verify_redirect(&repeated, Param::SamlRequest, &trusted)
                .unwrap_err()
                .reason(),
            "malformed"
        );
        assert_eq!(
            verify_redirect(query, Param::SamlResponse, &trusted)
                .unwrap_err()
                .reason(),
            "malformed"
        );
    }

    #[test]
    fn relay_state_is_bounded() {
        let long = "x".repeat(MAX_RELAY_STATE + 1);
        let err = sign_redirect(
            "https://idp.example/sso",
            Param::SamlRequest,
            b"<r/>",
            Some(&long),
            SP_KEY,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "invalid_relay_state");
    }
}
