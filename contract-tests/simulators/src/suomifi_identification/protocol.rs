//! Reading the service provider's messages (AuthnRequest, LogoutRequest, LogoutResponse) and writing the
//! IdP's unsigned protocol messages (metadata, LogoutRequest, LogoutResponse). Every read error is the text of
//! a `400` refusal.

use super::xml::{self, esc, Element, SAML, SAMLP, VETUMA};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

pub const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_AUTHN_FAILED: &str = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed";
pub const STATUS_UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";

/// The levels of assurance Suomi.fi knows, lowest first within each family.
pub mod loa {
    pub const LOA2: &str = "http://ftn.ficora.fi/2017/loa2";
    pub const LOA3: &str = "http://ftn.ficora.fi/2017/loa3";
    pub const SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";
    pub const HIGH: &str = "http://eidas.europa.eu/LoA/high";
    pub const ALL: [&str; 4] = [LOA2, LOA3, SUBSTANTIAL, HIGH];

    /// The level just below: `loa3` → `loa2`, `high` → `substantial`, `substantial` → `loa2`. Nothing is below
    /// `loa2`, so it (and anything unknown) maps to a made-up `http://ftn.ficora.fi/2017/loa1` that no service
    /// accepts.
    pub fn lower(level: &str) -> &'static str {
        match level {
            LOA3 => LOA2,
            HIGH => SUBSTANTIAL,
            SUBSTANTIAL => LOA2,
            _ => "http://ftn.ficora.fi/2017/loa1",
        }
    }
}

/// `2026-01-31T12:00:00.123Z`.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A fresh SAML ID: `_` and 160 random bits in hex.
pub fn new_id() -> String {
    let mut b = [0u8; 20];
    // OpenSSL's CSPRNG; failing would mean the process is unusable anyway.
    openssl::rand::rand_bytes(&mut b).expect("random bytes");
    format!("_{}", hex::encode(b))
}

fn parse_instant(s: &str, what: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{what} '{s}' is not an xs:dateTime"))
}

fn required<'e>(e: &'e Element, attr: &str) -> Result<&'e str, String> {
    e.attr_value(attr).ok_or_else(|| format!("<{}> has no {attr}", e.name))
}

fn issuer(root: &Element) -> Result<String, String> {
    root.child(SAML, "Issuer")
        .map(|i| i.text().trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("<{}> has no <saml:Issuer>", root.name))
}

fn version(root: &Element) -> Result<(), String> {
    match root.attr("Version") {
        Some("2.0") => Ok(()),
        other => Err(format!("<{}> Version is {other:?}, expected 2.0", root.name)),
    }
}

fn root(xml_bytes: &[u8], name: &str) -> Result<Element, String> {
    let root = xml::parse(xml_bytes)?;
    if !root.is(SAMLP, name) {
        return Err(format!(
            "expected samlp:{name}, found <{}> in {{{}}}",
            root.name, root.ns
        ));
    }
    version(&root)?;
    Ok(root)
}

/// A received AuthnRequest, as the IdP read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthnRequest {
    pub id: String,
    pub issuer: String,
    pub destination: Option<String>,
    /// `AssertionConsumerServiceURL` when given.
    pub acs_url: Option<String>,
    pub protocol_binding: Option<String>,
    pub issue_instant: DateTime<Utc>,
    /// `RequestedAuthnContext/AuthnContextClassRef` values, in order (empty when none was requested).
    pub requested_loa: Vec<String>,
    /// `RequestedAuthnContext/@Comparison` (`exact` when absent but a context was requested).
    pub comparison: Option<String>,
    /// `Extensions/vetuma:vetuma/vetuma:LG` (`fi`, `sv`, `en`).
    pub locale: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    /// `NameIDPolicy/@Format`.
    pub name_id_format: Option<String>,
}

impl AuthnRequest {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let root = root(bytes, "AuthnRequest")?;
        let bool_attr = |name: &str| -> Result<bool, String> {
            match root.attr(name).map(str::trim) {
                None | Some("false") | Some("0") => Ok(false),
                Some("true") | Some("1") => Ok(true),
                Some(other) => Err(format!("{name} '{other}' is not a boolean")),
            }
        };
        let (requested_loa, comparison) = match root.child(SAMLP, "RequestedAuthnContext") {
            Some(rac) => {
                let refs: Vec<String> = rac
                    .children_named(SAML, "AuthnContextClassRef")
                    .map(|r| r.text().trim().to_string())
                    .collect();
                if refs.is_empty() {
                    return Err("RequestedAuthnContext without AuthnContextClassRef".into());
                }
                let comparison = rac.attr_value("Comparison").unwrap_or("exact").to_string();
                (refs, Some(comparison))
            }
            None => (Vec::new(), None),
        };
        let locale = root
            .child(SAMLP, "Extensions")
            .and_then(|ext| ext.child(VETUMA, "vetuma"))
            .and_then(|v| v.child(VETUMA, "LG"))
            .map(|lg| lg.text().trim().to_string());
        Ok(AuthnRequest {
            id: required(&root, "ID")?.to_string(),
            issuer: issuer(&root)?,
            destination: root.attr_value("Destination").map(str::to_string),
            acs_url: root.attr_value("AssertionConsumerServiceURL").map(str::to_string),
            protocol_binding: root.attr_value("ProtocolBinding").map(str::to_string),
            issue_instant: parse_instant(required(&root, "IssueInstant")?, "IssueInstant")?,
            requested_loa,
            comparison,
            locale,
            force_authn: bool_attr("ForceAuthn")?,
            is_passive: bool_attr("IsPassive")?,
            name_id_format: root
                .child(SAMLP, "NameIDPolicy")
                .and_then(|p| p.attr_value("Format"))
                .map(str::to_string),
        })
    }
}

/// A LogoutRequest (from the SP, or one the IdP sent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogoutRequest {
    pub id: String,
    pub issuer: String,
    pub destination: Option<String>,
    pub issue_instant: DateTime<Utc>,
    pub name_id: String,
    pub session_indexes: Vec<String>,
}

impl LogoutRequest {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let root = root(bytes, "LogoutRequest")?;
        let name_id = root
            .child(SAML, "NameID")
            .map(|n| n.text().trim().to_string())
            .filter(|n| !n.is_empty())
            .ok_or("LogoutRequest without <saml:NameID> (an encrypted NameID is not used with Suomi.fi)")?;
        Ok(LogoutRequest {
            id: required(&root, "ID")?.to_string(),
            issuer: issuer(&root)?,
            destination: root.attr_value("Destination").map(str::to_string),
            issue_instant: parse_instant(required(&root, "IssueInstant")?, "IssueInstant")?,
            name_id,
            session_indexes: root
                .children_named(SAMLP, "SessionIndex")
                .map(|s| s.text().trim().to_string())
                .collect(),
        })
    }
}

/// A LogoutResponse (from the SP, answering an IdP-initiated logout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogoutResponse {
    pub id: String,
    pub in_response_to: Option<String>,
    pub issuer: String,
    pub destination: Option<String>,
    pub issue_instant: DateTime<Utc>,
    /// The top-level StatusCode.
    pub status: String,
    /// The second-level StatusCode, if any.
    pub sub_status: Option<String>,
}

impl LogoutResponse {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let root = root(bytes, "LogoutResponse")?;
        let code = root
            .path(SAMLP, &["Status", "StatusCode"])
            .ok_or("LogoutResponse without Status/StatusCode")?;
        Ok(LogoutResponse {
            id: required(&root, "ID")?.to_string(),
            in_response_to: root.attr_value("InResponseTo").map(str::to_string),
            issuer: issuer(&root)?,
            destination: root.attr_value("Destination").map(str::to_string),
            issue_instant: parse_instant(required(&root, "IssueInstant")?, "IssueInstant")?,
            status: required(code, "Value")?.to_string(),
            sub_status: code
                .child(SAMLP, "StatusCode")
                .and_then(|c| c.attr_value("Value"))
                .map(str::to_string),
        })
    }
}

pub fn status_xml(top: &str, sub: Option<&str>) -> String {
    match sub {
        None => format!("<samlp:Status><samlp:StatusCode Value=\"{}\"/></samlp:Status>", esc(top)),
        Some(sub) => format!(
            "<samlp:Status><samlp:StatusCode Value=\"{}\"><samlp:StatusCode Value=\"{}\"/></samlp:StatusCode></samlp:Status>",
            esc(top),
            esc(sub)
        ),
    }
}

pub fn issuer_xml(entity_id: &str) -> String {
    format!("<saml:Issuer Format=\"{ENTITY}\">{}</saml:Issuer>", esc(entity_id))
}

/// The IdP's LogoutRequest (IdP-initiated logout).
pub fn logout_request_xml(
    id: &str,
    now: DateTime<Utc>,
    destination: &str,
    issuer: &str,
    name_id: &str,
    sp_entity_id: &str,
    session_index: &str,
) -> String {
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\">{}\
         <saml:NameID Format=\"{TRANSIENT}\" NameQualifier=\"{}\" SPNameQualifier=\"{}\">{}</saml:NameID>\
         <samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
        esc(id),
        instant(now),
        esc(destination),
        issuer_xml(issuer),
        esc(issuer),
        esc(sp_entity_id),
        esc(name_id),
        esc(session_index),
    )
}

/// The IdP's LogoutResponse (answering an SP-initiated logout).
pub fn logout_response_xml(
    id: &str,
    in_response_to: &str,
    now: DateTime<Utc>,
    destination: &str,
    issuer: &str,
    status: &str,
) -> String {
    format!(
        "<samlp:LogoutResponse xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"{}\" InResponseTo=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\">{}{}</samlp:LogoutResponse>",
        esc(id),
        esc(in_response_to),
        instant(now),
        esc(destination),
        issuer_xml(issuer),
        status,
    )
}

/// The base64 DER of a PEM certificate's first block.
pub fn cert_der_b64(cert_pem: &[u8]) -> anyhow::Result<String> {
    use base64::Engine;
    let cert = openssl::x509::X509::from_pem(cert_pem)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cert.to_der()?))
}

/// The ds:Signature template portti-xmlsec fills in: exclusive C14N, RSA-SHA256, one Reference `#id` with the
/// enveloped-signature and exclusive C14N transforms, SHA-256, KeyInfo with the certificate.
pub fn signature_template(id: &str) -> String {
    signature_template_with(
        id,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    )
}

pub fn signature_template_with(id: &str, signature_method: &str, digest_method: &str) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"{signature_method}\"/>\
         <ds:Reference URI=\"#{}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{digest_method}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>\
         </ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>\
         <ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        esc(id)
    )
}

/// The IdP metadata. With `signed`, a signature template (`#id`) is its first child, where SAML metadata's
/// schema wants `ds:Signature`, for the caller to sign.
pub fn metadata_xml(
    id: &str,
    entity_id: &str,
    signing_certs_b64: &[String],
    sso_url: &str,
    slo_url: &str,
    valid_until: DateTime<Utc>,
    signed: bool,
) -> String {
    let keys: String = signing_certs_b64
        .iter()
        .map(|c| {
            format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        })
        .collect();
    let signature = if signed { signature_template(id) } else { String::new() };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ID=\"{}\" entityID=\"{}\" validUntil=\"{}\">{signature}\
         <md:IDPSSODescriptor WantAuthnRequestsSigned=\"true\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{keys}\
         <md:SingleLogoutService Binding=\"{HTTP_REDIRECT}\" Location=\"{}\"/>\
         <md:NameIDFormat>{TRANSIENT}</md:NameIDFormat>\
         <md:SingleSignOnService Binding=\"{HTTP_REDIRECT}\" Location=\"{}\"/>\
         </md:IDPSSODescriptor>\
         <md:Organization><md:OrganizationName xml:lang=\"fi\">Portti-hiekkalaatikko: Suomi.fi-tunnistuksen simulaattori</md:OrganizationName>\
         <md:OrganizationDisplayName xml:lang=\"fi\">Suomi.fi-tunnistus (simulaattori)</md:OrganizationDisplayName>\
         <md:OrganizationURL xml:lang=\"fi\">{}</md:OrganizationURL></md:Organization>\
         </md:EntityDescriptor>\n",
        esc(id),
        esc(entity_id),
        instant(valid_until),
        esc(slo_url),
        esc(sso_url),
        esc(sso_url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authn_request_fields() {
        let xml = br#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
            ID="_a1" Version="2.0" IssueInstant="2026-01-01T10:00:00Z" Destination="http://idp/sso"
            AssertionConsumerServiceURL="http://sp/acs" ForceAuthn="true">
            <saml:Issuer>sp</saml:Issuer>
            <samlp:Extensions><vetuma xmlns="urn:vetuma:SAML:2.0:extensions"><LG>sv</LG></vetuma></samlp:Extensions>
            <samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/>
            <samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>http://ftn.ficora.fi/2017/loa3</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>
            </samlp:AuthnRequest>"#;
        let r = AuthnRequest::parse(xml).unwrap();
        assert_eq!(r.id, "_a1");
        assert_eq!(r.issuer, "sp");
        assert_eq!(r.locale.as_deref(), Some("sv"));
        assert_eq!(r.requested_loa, vec![loa::LOA3.to_string()]);
        assert!(r.force_authn);
        assert_eq!(r.name_id_format.as_deref(), Some(TRANSIENT));
    }
}
