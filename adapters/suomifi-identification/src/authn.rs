//! The AuthnRequest, sent signed over HTTP-Redirect.

use chrono::{DateTime, Utc};

use crate::config::{Locale, SpConfig};
use crate::error::SamlError;
use crate::metadata::{format_time, random_id, IdpMetadata, BINDING_POST, NAMEID_TRANSIENT};
use crate::redirect::{sign_with_key, Param};
use crate::xml::{XmlOut, NS_SAML, NS_SAMLP, NS_VETUMA};

/// The AuthnRequest XML (unsigned: the redirect binding signs the query instead).
pub(crate) fn authn_request_xml(
    sp: &SpConfig,
    idp: &IdpMetadata,
    id: &str,
    locale: Locale,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let mut out = XmlOut::fragment();
    out.start(
        "samlp:AuthnRequest",
        &[
            ("xmlns:samlp", NS_SAMLP),
            ("xmlns:saml", NS_SAML),
            ("ID", id),
            ("Version", "2.0"),
            ("IssueInstant", &format_time(now)),
            ("Destination", &idp.sso_redirect_url),
            ("AssertionConsumerServiceURL", &sp.acs_url),
            ("ProtocolBinding", BINDING_POST),
        ],
    )
    .leaf("saml:Issuer", &[], &sp.entity_id)
    // Suomi.fi reads the user interface language from this extension.
    .start("samlp:Extensions", &[])
    .start("vetuma", &[("xmlns", NS_VETUMA)])
    .leaf("LG", &[], locale.as_str())
    .end("vetuma")
    .end("samlp:Extensions")
    .empty(
        "samlp:NameIDPolicy",
        &[("Format", NAMEID_TRANSIENT), ("AllowCreate", "true")],
    )
    .start("samlp:RequestedAuthnContext", &[("Comparison", "exact")]);
    for loa in &sp.required_loa {
        out.leaf("saml:AuthnContextClassRef", &[], loa);
    }
    out.end("samlp:RequestedAuthnContext").end("samlp:AuthnRequest");
    out.finish()
}

/// A signed AuthnRequest as an HTTP-Redirect URL to the IdP's SSO endpoint. Returns
/// `(request_id, url)`: the gateway keeps the id (keyed by `relay_state`) and passes it as
/// `expected_in_response_to` to [`crate::parse_login_response`]. Every LoA in
/// `sp.required_loa` is requested (Comparison `exact`: the IdP answers with one of them).
/// `relay_state` is at most 80 bytes and must not reveal anything (an opaque random key).
pub fn authn_request_redirect(
    sp: &SpConfig,
    idp: &IdpMetadata,
    locale: Locale,
    relay_state: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, String), SamlError> {
    if sp.required_loa.is_empty() {
        return Err(SamlError::Config("required_loa is empty".into()));
    }
    let id = random_id();
    let xml = authn_request_xml(sp, idp, &id, locale, now);
    let url = sign_with_key(
        &idp.sso_redirect_url,
        Param::SamlRequest,
        &xml,
        relay_state,
        &sp.signing_key()?,
    )?;
    Ok((id, url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redirect::{inflate_base64, query_param, verify_redirect};
    use crate::testkit;
    use crate::xml::{parse, NS_VETUMA};
    use openssl::hash::MessageDigest;
    use openssl::sign::Verifier;
    use openssl::x509::X509;

    #[test]
    fn authn_request_is_signed_deflated_and_complete() {
        let sp = testkit::sp_config();
        let idp = testkit::idp_metadata();
        let now = testkit::now();
        let (id, url) = authn_request_redirect(&sp, &idp, Locale::Sv, Some("rs-123"), now).unwrap();
        assert!(id.starts_with('_') && id.len() == 33);
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, idp.sso_redirect_url);

        // The signature over the raw components, checked with OpenSSL directly.
        let (signed, signature) = query.split_once("&Signature=").unwrap();
        assert!(signed.starts_with("SAMLRequest=") && signed.contains("&RelayState=rs-123&SigAlg="));
        let signature = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            percent_encoding::percent_decode_str(signature)
                .decode_utf8()
                .unwrap()
                .as_ref(),
        )
        .unwrap();
        let cert = X509::from_pem(testkit::SP_SIGNING_CERT.as_bytes()).unwrap();
        let public = cert.public_key().unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(signed.as_bytes()).unwrap();
        assert!(verifier.verify(&signature).unwrap());
        assert_eq!(
            query_param(query, "SigAlg").as_deref(),
            Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
        );
        let msg = verify_redirect(query, Param::SamlRequest, &[testkit::SP_SIGNING_CERT.to_owned()]).unwrap();
        assert_eq!(msg.relay_state.as_deref(), Some("rs-123"));

        // The DEFLATE round-trips to the request.
        let xml = inflate_base64(&query_param(query, "SAMLRequest").unwrap()).unwrap();
        assert_eq!(msg.xml, xml);
        let req = parse(&xml).unwrap();
        assert!(req.is(NS_SAMLP, "AuthnRequest"));
        assert_eq!(req.attr("ID"), Some(id.as_str()));
        assert_eq!(req.attr("Version"), Some("2.0"));
        assert_eq!(req.attr("Destination"), Some(idp.sso_redirect_url.as_str()));
        assert_eq!(req.attr("AssertionConsumerServiceURL"), Some(sp.acs_url.as_str()));
        assert_eq!(req.attr("IssueInstant"), Some(format_time(now).as_str()));
        assert_eq!(req.required_child(NS_SAML, "Issuer").unwrap().text, sp.entity_id);
        let ext = req.required_child(NS_SAMLP, "Extensions").unwrap();
        let vetuma = ext.required_child(NS_VETUMA, "vetuma").unwrap();
        assert_eq!(vetuma.required_child(NS_VETUMA, "LG").unwrap().text, "sv");
        assert_eq!(
            req.required_child(NS_SAMLP, "NameIDPolicy").unwrap().attr("Format"),
            Some(NAMEID_TRANSIENT)
        );
        let ctx = req.required_child(NS_SAMLP, "RequestedAuthnContext").unwrap();
        let loas: Vec<&str> = ctx
            .children_named(NS_SAML, "AuthnContextClassRef")
            .map(|c| c.text.as_str())
            .collect();
        assert_eq!(loas, sp.required_loa.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn ids_are_random() {
        let sp = testkit::sp_config();
        let idp = testkit::idp_metadata();
        let a = authn_request_redirect(&sp, &idp, Locale::Fi, None, testkit::now()).unwrap();
        let b = authn_request_redirect(&sp, &idp, Locale::Fi, None, testkit::now()).unwrap();
        assert_ne!(a.0, b.0);
        assert!(!a.1.contains("RelayState"));
    }
}
