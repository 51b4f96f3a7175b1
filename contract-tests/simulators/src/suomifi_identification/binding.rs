//! The SAML 2.0 bindings the IdP speaks (SAML Bindings §3.4 HTTP-Redirect, §3.5 HTTP-POST), public so that
//! tests can play the service provider: build a signed redirect URL, read one, read the auto-post form.
//!
//! HTTP-Redirect: the XML is DEFLATE-compressed (raw, RFC 1951), Base64-encoded and URL-encoded into
//! `SAMLRequest` or `SAMLResponse`; the signature (only RSA-SHA256 here) is over the octets
//! `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as they appear URL-encoded in the query (§3.4.4.1; RelayState
//! only when present), Base64 in `Signature`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use std::io::{Read, Write};

/// The one `SigAlg` accepted and used.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// A redirect message inflating to more than this is refused (a DEFLATE bomb).
pub const MAX_INFLATED_BYTES: u64 = 256 * 1024;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Raw DEFLATE, then Base64 (not yet URL-encoded).
pub fn deflate_base64(xml: &[u8]) -> String {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = e.write_all(xml);
    B64.encode(e.finish().unwrap_or_default())
}

/// Base64 (whitespace tolerated), then raw INFLATE, at most [`MAX_INFLATED_BYTES`].
pub fn inflate_base64(b64: &str) -> Result<Vec<u8>, String> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let deflated = B64.decode(compact).map_err(|e| format!("not Base64: {e}"))?;
    let mut out = Vec::new();
    DeflateDecoder::new(&deflated[..])
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("not DEFLATE data: {e}"))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(format!("inflates to more than {MAX_INFLATED_BYTES} bytes"));
    }
    Ok(out)
}

/// `{endpoint}?{param}=…[&RelayState=…]&SigAlg=…&Signature=…`, signed RSA-SHA256 with `key_pem` (PKCS#8 or
/// traditional PEM). `param` is `SAMLRequest` or `SAMLResponse`.
pub fn signed_redirect_url(
    endpoint: &str,
    param: &str,
    xml: &[u8],
    relay_state: Option<&str>,
    key_pem: &[u8],
) -> anyhow::Result<String> {
    let mut query = format!("{param}={}", enc(&deflate_base64(xml)));
    if let Some(rs) = relay_state {
        query.push_str(&format!("&RelayState={}", enc(rs)));
    }
    query.push_str(&format!("&SigAlg={}", enc(RSA_SHA256)));
    let key = PKey::private_key_from_pem(key_pem)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
    signer.update(query.as_bytes())?;
    let signature = signer.sign_to_vec()?;
    query.push_str(&format!("&Signature={}", enc(&B64.encode(signature))));
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{sep}{query}"))
}

/// A received HTTP-Redirect query, decoded.
#[derive(Clone, Debug)]
pub struct RedirectMessage {
    /// `SAMLRequest` or `SAMLResponse`.
    pub param: String,
    /// The inflated XML.
    pub xml: Vec<u8>,
    pub relay_state: Option<String>,
    pub sig_alg: Option<String>,
    signature: Option<Vec<u8>>,
    /// The octets the signature covers.
    signed_octets: String,
}

impl RedirectMessage {
    /// Reads a raw query string (still URL-encoded). Exactly one of `SAMLRequest` / `SAMLResponse`; no parameter
    /// twice.
    pub fn parse(raw_query: &str) -> Result<Self, String> {
        let mut raw: Vec<(String, &str, String)> = Vec::new();
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (name_raw, value_raw) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name_raw);
            if raw.iter().any(|(n, _, _)| *n == name) {
                return Err(format!("parameter {name} appears twice"));
            }
            raw.push((name, value_raw, decode(value_raw)));
        }
        let get = |n: &str| raw.iter().find(|(name, _, _)| name == n);
        let (param, message) = match (get("SAMLRequest"), get("SAMLResponse")) {
            (Some(m), None) => ("SAMLRequest", m),
            (None, Some(m)) => ("SAMLResponse", m),
            (None, None) => return Err("no SAMLRequest or SAMLResponse parameter".into()),
            (Some(_), Some(_)) => return Err("both SAMLRequest and SAMLResponse".into()),
        };
        let xml = inflate_base64(&message.2).map_err(|e| format!("{param}: {e}"))?;
        let mut signed_octets = format!("{param}={}", message.1);
        if let Some(rs) = get("RelayState") {
            signed_octets.push_str(&format!("&RelayState={}", rs.1));
        }
        if let Some(alg) = get("SigAlg") {
            signed_octets.push_str(&format!("&SigAlg={}", alg.1));
        }
        let signature = match get("Signature") {
            Some(s) => {
                let compact: String = s.2.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                Some(
                    B64.decode(compact)
                        .map_err(|e| format!("Signature is not Base64: {e}"))?,
                )
            }
            None => None,
        };
        Ok(RedirectMessage {
            param: param.into(),
            xml,
            relay_state: get("RelayState").map(|r| r.2.clone()),
            sig_alg: get("SigAlg").map(|a| a.2.clone()),
            signature,
            signed_octets,
        })
    }

    /// Checks the query signature with the public key of `cert_pem`: present, `SigAlg` RSA-SHA256, valid.
    pub fn verify(&self, cert_pem: &[u8]) -> Result<(), String> {
        let signature = self
            .signature
            .as_ref()
            .ok_or("the query is not signed (no Signature)")?;
        match self.sig_alg.as_deref() {
            Some(RSA_SHA256) => {}
            Some(other) => return Err(format!("SigAlg {other} is not accepted (only {RSA_SHA256})")),
            None => return Err("Signature without SigAlg".into()),
        }
        let key = X509::from_pem(cert_pem)
            .and_then(|c| c.public_key())
            .map_err(|e| format!("the signing certificate is not readable: {e}"))?;
        let ok = Verifier::new(MessageDigest::sha256(), &key)
            .and_then(|mut v| {
                v.update(self.signed_octets.as_bytes())?;
                v.verify(signature)
            })
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err("the query signature does not verify with the registered signing certificate".into())
        }
    }
}

fn decode(s: &str) -> String {
    // One `name=value` pair can be decoded on its own by the form decoder (`+` is a space).
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The HTTP-POST binding page: an HTML form posting `SAMLResponse` (and `RelayState`) to `action`, submitted
/// on load (a browser without script shows a button).
pub fn auto_post_form(action: &str, saml_response_b64: &str, relay_state: Option<&str>) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let relay = relay_state
        .map(|rs| format!("<input type=\"hidden\" name=\"RelayState\" value=\"{}\"/>", esc(rs)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"fi\"><head><meta charset=\"utf-8\"><title>Suomi.fi-tunnistus</title></head>\
         <body onload=\"document.forms[0].submit()\">\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"SAMLResponse\" value=\"{}\"/>{relay}\
         <noscript><p>Jatka palveluun / Fortsätt till tjänsten</p><button type=\"submit\">Jatka</button></noscript>\
         </form></body></html>\n",
        esc(action),
        esc(saml_response_b64)
    )
}

/// What an auto-post form posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoPostForm {
    pub action: String,
    pub saml_response: String,
    pub relay_state: Option<String>,
}

impl AutoPostForm {
    /// Reads a page made by [`auto_post_form`] (what a browser would submit).
    pub fn parse(html: &str) -> Option<Self> {
        fn attr_after(html: &str, marker: &str) -> Option<String> {
            let start = html.find(marker)? + marker.len();
            let end = html[start..].find('"')? + start;
            quick_xml::escape::unescape(&html[start..end])
                .ok()
                .map(|s| s.into_owned())
        }
        Some(AutoPostForm {
            action: attr_after(html, "<form method=\"post\" action=\"")?,
            saml_response: attr_after(html, "name=\"SAMLResponse\" value=\"")?,
            relay_state: attr_after(html, "name=\"RelayState\" value=\""),
        })
    }

    /// The form body as a browser sends it (`application/x-www-form-urlencoded`).
    pub fn form_body(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("SAMLResponse", &self.saml_response);
        if let Some(rs) = &self.relay_state {
            s.append_pair("RelayState", rs);
        }
        s.finish()
    }

    /// The Base64-decoded `samlp:Response`.
    pub fn response_xml(&self) -> Result<Vec<u8>, base64::DecodeError> {
        B64.decode(&self.saml_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(name: &str) -> Vec<u8> {
        std::fs::read(super::super::certs_example().join(name)).unwrap()
    }

    #[test]
    fn redirect_round_trip() {
        let xml = b"<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>";
        let url = signed_redirect_url(
            "http://127.0.0.1:1/idp/sso",
            "SAMLRequest",
            xml,
            Some("state with spaces & more"),
            &demo("saml-sp-signing.key"),
        )
        .unwrap();
        let query = url.split_once('?').unwrap().1;
        let m = RedirectMessage::parse(query).unwrap();
        assert_eq!(m.xml, xml);
        assert_eq!(m.relay_state.as_deref(), Some("state with spaces & more"));
        m.verify(&demo("saml-sp-signing.pem")).unwrap();
        assert!(m.verify(&demo("saml-idp-signing-1.pem")).is_err());
        // Another RelayState breaks the signature.
        let tampered = query.replace("RelayState=state", "RelayState=xtate");
        assert!(RedirectMessage::parse(&tampered)
            .unwrap()
            .verify(&demo("saml-sp-signing.pem"))
            .is_err());
    }

    #[test]
    fn form_round_trip() {
        let html = auto_post_form("http://sp/acs?a=1&b=2", "PHg+", Some("r\"s"));
        let form = AutoPostForm::parse(&html).unwrap();
        assert_eq!(form.action, "http://sp/acs?a=1&b=2");
        assert_eq!(form.saml_response, "PHg+");
        assert_eq!(form.relay_state.as_deref(), Some("r\"s"));
    }

    #[test]
    fn bomb_refused() {
        let big = vec![b'a'; (MAX_INFLATED_BYTES + 10) as usize];
        assert!(inflate_base64(&deflate_base64(&big)).is_err());
    }
}
