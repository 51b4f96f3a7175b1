//! SAML metadata: reading the IdP's (entity id, endpoints, signing certificates, optionally its
//! signature) and writing the SP's.

use base64::Engine;
use chrono::{DateTime, Utc};
use portti_xmlsec::{IdAttribute, VerifyPolicy};

use crate::config::{cert_base64, SpConfig};
use crate::error::SamlError;
use crate::xml::{self, Element, XmlOut, NS_DS, NS_MD, NS_MDATTR, NS_SAML};

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const PROTOCOL_SAML2: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const ATTRNAME_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
/// The entity attribute by which an SP states the level of assurance it requires.
pub const FINNISH_AUTH_METHOD: &str = "FinnishAuthMethod";

/// What the SP needs of the IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// SingleSignOnService, HTTP-Redirect.
    pub sso_redirect_url: String,
    /// SingleLogoutService, HTTP-Redirect: where SP-initiated LogoutRequests go.
    pub slo_redirect_url: String,
    /// Where LogoutResponses to IdP-initiated logouts go (its ResponseLocation, else Location).
    pub slo_redirect_response_url: String,
    /// PEM certificates of every signing KeyDescriptor (two during key rotation); messages
    /// signed by any of them are accepted.
    pub signing_certificates: Vec<String>,
    pub valid_until: Option<DateTime<Utc>>,
}

impl IdpMetadata {
    /// Reads an `md:EntityDescriptor` with an `md:IDPSSODescriptor`.
    ///
    /// `signature_trust`: `Some(certs)` — the EntityDescriptor must carry an enveloped signature
    /// by one of these metadata-signing certificates (what a fetched metadata document needs).
    /// `None` — the caller vouches for the file (e.g. read from disk in the sandbox) and no
    /// signature is checked, even if one is present.
    ///
    /// `valid_until` is returned, not enforced: call [`IdpMetadata::check_valid_at`] with the
    /// current time before use.
    pub fn parse(xml: &[u8], signature_trust: Option<&[String]>) -> Result<IdpMetadata, SamlError> {
        let root = xml::parse(xml)?;
        if !root.is(NS_MD, "EntityDescriptor") {
            return Err(SamlError::Malformed(
                "the metadata root is not md:EntityDescriptor".into(),
            ));
        }
        if let Some(trusted) = signature_trust {
            let mut policy = VerifyPolicy::new(trusted).map_err(SamlError::from_verify)?;
            if root.attr("ID").is_some() {
                policy = policy.with_id_attribute(IdAttribute::new(NS_MD, "EntityDescriptor", "ID"));
            }
            portti_xmlsec::verify_enveloped(xml, &policy).map_err(SamlError::from_verify)?;
        }
        let entity_id = root
            .attr("entityID")
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| SamlError::Malformed("EntityDescriptor without entityID".into()))?
            .to_owned();
        let valid_until = root.attr("validUntil").map(parse_time).transpose()?;
        let idp = root.required_child(NS_MD, "IDPSSODescriptor")?;
        if !idp
            .attr("protocolSupportEnumeration")
            .is_some_and(|p| p.split_whitespace().any(|p| p == PROTOCOL_SAML2))
        {
            return Err(SamlError::Malformed(
                "the IDPSSODescriptor does not support SAML 2.0".into(),
            ));
        }

        let mut signing_certificates = Vec::new();
        for kd in idp.children_named(NS_MD, "KeyDescriptor") {
            if kd.attr("use").is_some_and(|u| u != "signing") {
                continue;
            }
            let key_info = kd.required_child(NS_DS, "KeyInfo")?;
            for data in key_info.children_named(NS_DS, "X509Data") {
                for cert in data.children_named(NS_DS, "X509Certificate") {
                    signing_certificates.push(der_b64_to_pem(cert.simple_text()?)?);
                }
            }
        }
        if signing_certificates.is_empty() {
            return Err(SamlError::Malformed(
                "the IdP metadata has no signing certificate".into(),
            ));
        }

        let endpoint = |name: &str| -> Option<&Element> {
            idp.children_named(NS_MD, name)
                .find(|e| e.attr("Binding") == Some(BINDING_REDIRECT) && e.attr("Location").is_some())
        };
        let sso = endpoint("SingleSignOnService")
            .ok_or_else(|| SamlError::Malformed("no HTTP-Redirect SingleSignOnService".into()))?;
        let slo = endpoint("SingleLogoutService")
            .ok_or_else(|| SamlError::Malformed("no HTTP-Redirect SingleLogoutService".into()))?;
        let location =
            |e: &Element, attr: &str| e.attr(attr).map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned);
        Ok(IdpMetadata {
            entity_id,
            sso_redirect_url: location(sso, "Location")
                .ok_or_else(|| SamlError::Malformed("empty SingleSignOnService Location".into()))?,
            slo_redirect_url: location(slo, "Location")
                .ok_or_else(|| SamlError::Malformed("empty SingleLogoutService Location".into()))?,
            slo_redirect_response_url: location(slo, "ResponseLocation")
                .or_else(|| location(slo, "Location"))
                .unwrap_or_default(),
            signing_certificates,
            valid_until,
        })
    }

    /// Refuses metadata past its `validUntil`.
    pub fn check_valid_at(&self, now: DateTime<Utc>) -> Result<(), SamlError> {
        match self.valid_until {
            Some(until) if now >= until => Err(SamlError::Expired("the IdP metadata's validUntil has passed".into())),
            _ => Ok(()),
        }
    }
}

/// A certificate from metadata/KeyInfo (Base64 DER, whitespace allowed) as PEM, checked to parse.
fn der_b64_to_pem(b64: &str) -> Result<String, SamlError> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| SamlError::Malformed("an X509Certificate is not Base64".into()))?;
    let cert = openssl::x509::X509::from_der(&der)
        .map_err(|_| SamlError::Malformed("an X509Certificate is not a certificate".into()))?;
    let pem = cert
        .to_pem()
        .map_err(|_| SamlError::Malformed("an X509Certificate cannot be encoded".into()))?;
    String::from_utf8(pem).map_err(|_| SamlError::Malformed("PEM is not UTF-8".into()))
}

/// SAML's xs:dateTime (UTC, RFC 3339 compatible).
pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, SamlError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| SamlError::Malformed("a time is not an xs:dateTime".into()))
}

pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random SAML ID: `_` and 32 hex digits from OpenSSL's CSPRNG.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).expect("OpenSSL's random generator failed");
    let mut id = String::with_capacity(33);
    id.push('_');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The SP's metadata: entity id, signing and encryption certificates, the HTTP-POST ACS, the
/// HTTP-Redirect SLO, transient NameIDs, and the accepted levels of assurance as the
/// `FinnishAuthMethod` entity attribute. Signed (enveloped, `#ID`) when `sign_metadata` is set.
pub fn sp_metadata(sp: &SpConfig) -> Result<String, SamlError> {
    let id = random_id();
    let signing_cert = cert_base64(&sp.signing_cert_pem)?;
    let encryption_cert = cert_base64(&sp.encryption_cert_pem)?;
    let mut out = XmlOut::with_declaration();
    out.start(
        "md:EntityDescriptor",
        &[
            ("xmlns:md", NS_MD),
            ("xmlns:ds", NS_DS),
            ("xmlns:saml", NS_SAML),
            ("xmlns:mdattr", NS_MDATTR),
            ("ID", &id),
            ("entityID", &sp.entity_id),
        ],
    );
    if sp.sign_metadata {
        out.raw(&xml::signature_template(&id));
    }
    out.start("md:Extensions", &[])
        .start("mdattr:EntityAttributes", &[])
        .start(
            "saml:Attribute",
            &[("Name", FINNISH_AUTH_METHOD), ("NameFormat", ATTRNAME_URI)],
        );
    for loa in &sp.required_loa {
        out.leaf("saml:AttributeValue", &[], loa);
    }
    out.end("saml:Attribute")
        .end("mdattr:EntityAttributes")
        .end("md:Extensions");
    out.start(
        "md:SPSSODescriptor",
        &[
            ("AuthnRequestsSigned", "true"),
            ("WantAssertionsSigned", "true"),
            ("protocolSupportEnumeration", PROTOCOL_SAML2),
        ],
    );
    for (usage, cert) in [("signing", &signing_cert), ("encryption", &encryption_cert)] {
        out.start("md:KeyDescriptor", &[("use", usage)])
            .start("ds:KeyInfo", &[])
            .start("ds:X509Data", &[])
            .leaf("ds:X509Certificate", &[], cert)
            .end("ds:X509Data")
            .end("ds:KeyInfo")
            .end("md:KeyDescriptor");
    }
    out.empty(
        "md:SingleLogoutService",
        &[("Binding", BINDING_REDIRECT), ("Location", &sp.slo_url)],
    )
    .leaf("md:NameIDFormat", &[], NAMEID_TRANSIENT)
    .empty(
        "md:AssertionConsumerService",
        &[
            ("Binding", BINDING_POST),
            ("Location", &sp.acs_url),
            ("index", "1"),
            ("isDefault", "true"),
        ],
    )
    .end("md:SPSSODescriptor")
    .end("md:EntityDescriptor");
    let mut bytes = out.finish();
    if sp.sign_metadata {
        bytes = portti_xmlsec::sign_enveloped_with_id(
            &bytes,
            sp.signing_key_pem.as_bytes(),
            sp.signing_cert_pem.as_bytes(),
            &IdAttribute::new(NS_MD, "EntityDescriptor", "ID"),
        )
        .map_err(|e| SamlError::Config(format!("signing the SP metadata: {e}")))?;
    }
    String::from_utf8(bytes).map_err(|_| SamlError::Config("signed metadata is not UTF-8".into()))
}

#[cfg(test)]
mod tests;
