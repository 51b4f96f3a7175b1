use super::*;
use crate::testkit::{self, IDP_SIGNING_CERT_1, IDP_SIGNING_CERT_2};
use crate::xml::parse;

#[test]
fn idp_metadata_with_two_signing_certificates() {
    let xml = testkit::idp_metadata_xml(&[IDP_SIGNING_CERT_1, IDP_SIGNING_CERT_2], None);
    let md = IdpMetadata::parse(&xml, None).unwrap();
    assert_eq!(md.entity_id, testkit::IDP_ENTITY_ID);
    assert_eq!(md.sso_redirect_url, testkit::IDP_SSO_URL);
    assert_eq!(md.slo_redirect_url, testkit::IDP_SLO_URL);
    assert_eq!(md.slo_redirect_response_url, testkit::IDP_SLO_URL);
    assert_eq!(md.signing_certificates.len(), 2);
    let der = |pem: &str| openssl::x509::X509::from_pem(pem.as_bytes()).unwrap().to_der().unwrap();
    assert_eq!(der(&md.signing_certificates[0]), der(IDP_SIGNING_CERT_1));
    assert_eq!(der(&md.signing_certificates[1]), der(IDP_SIGNING_CERT_2));
    let until = md.valid_until.unwrap();
    assert!(md.check_valid_at(until - chrono::Duration::seconds(1)).is_ok());
    assert_eq!(md.check_valid_at(until).unwrap_err().reason(), "expired");
}

#[test]
fn signed_metadata_must_be_signed_by_a_trusted_key() {
    let trusted = [IDP_SIGNING_CERT_2.to_owned()];
    let signed = testkit::idp_metadata_xml(&[IDP_SIGNING_CERT_1], Some(&testkit::idp_signer_2()));
    let md = IdpMetadata::parse(&signed, Some(&trusted)).unwrap();
    assert_eq!(md.signing_certificates.len(), 1);

    let unsigned = testkit::idp_metadata_xml(&[IDP_SIGNING_CERT_1], None);
    assert_eq!(
        IdpMetadata::parse(&unsigned, Some(&trusted)).unwrap_err().reason(),
        "unsigned"
    );

    let rogue = testkit::idp_metadata_xml(&[IDP_SIGNING_CERT_1], Some(&testkit::rogue_signer()));
    assert_eq!(
        IdpMetadata::parse(&rogue, Some(&trusted)).unwrap_err().reason(),
        "untrusted_key"
    );

    // An attacker swapping in their own signing certificate breaks the digest.
    let swapped = testkit::replace_once(
        &signed,
        "https://tunnistus.example/idp/profile/SAML2/Redirect/SSO",
        "https://evil.example/sso",
    );
    assert_eq!(
        IdpMetadata::parse(&swapped, Some(&trusted)).unwrap_err().reason(),
        "invalid_signature"
    );
    // The caller vouching for a local file accepts it unchecked.
    assert!(IdpMetadata::parse(&swapped, None).is_ok());
}

#[test]
fn keydescriptors_for_encryption_are_not_signing_keys() {
    let xml = testkit::idp_metadata_xml(&[IDP_SIGNING_CERT_1, IDP_SIGNING_CERT_2], None);
    let xml = testkit::replace_once(&xml, r#"use="signing""#, r#"use="encryption""#);
    let md = IdpMetadata::parse(&xml, None).unwrap();
    assert_eq!(md.signing_certificates.len(), 1);
    // No `use` at all means both.
    let xml = testkit::replace_once(&xml, r#" use="signing""#, "");
    assert_eq!(IdpMetadata::parse(&xml, None).unwrap().signing_certificates.len(), 1);
}

#[test]
fn broken_metadata_is_refused() {
    let good = testkit::idp_metadata_xml(&[IDP_SIGNING_CERT_1], None);
    for (from, to) in [
        ("md:IDPSSODescriptor protocol", "md:SPSSODescriptor protocol"),
        ("urn:oasis:names:tc:SAML:2.0:protocol\"", "urn:other\""),
        (
            "SAML2:bindings:HTTP-Redirect\" Location=\"https://tunnistus.example/idp/profile/SAML2/Redirect/SSO",
            "x",
        ),
        ("<ds:X509Certificate>MII", "<ds:X509Certificate>!!"),
    ] {
        let s = String::from_utf8(good.clone()).unwrap();
        if !s.contains(from) {
            continue;
        }
        let bad = s.replacen(from, to, 1);
        assert!(IdpMetadata::parse(bad.as_bytes(), None).is_err(), "{from}");
    }
    let doctype = format!(
        "<!DOCTYPE x>{}",
        String::from_utf8(good).unwrap().split_once("?>").unwrap().1
    );
    assert_eq!(
        IdpMetadata::parse(doctype.as_bytes(), None).unwrap_err().reason(),
        "doctype"
    );
}

#[test]
fn sp_metadata_has_everything_suomifi_needs_and_is_signed() {
    let sp = testkit::sp_config();
    sp.check().unwrap();
    let xml = sp_metadata(&sp).unwrap();
    let root = parse(xml.as_bytes()).unwrap();
    assert!(root.is(NS_MD, "EntityDescriptor"));
    assert_eq!(root.attr("entityID"), Some(testkit::SP_ENTITY_ID));

    // Signed with the SP signing key, verifiable with its certificate.
    let policy = VerifyPolicy::new([testkit::SP_SIGNING_CERT])
        .unwrap()
        .with_id_attribute(IdAttribute::new(NS_MD, "EntityDescriptor", "ID"));
    let v = portti_xmlsec::verify_enveloped(xml.as_bytes(), &policy).unwrap();
    assert_eq!(v.id.as_deref(), root.attr("ID"));

    let attribute = root
        .required_child(NS_MD, "Extensions")
        .unwrap()
        .required_child(NS_MDATTR, "EntityAttributes")
        .unwrap()
        .required_child(NS_SAML, "Attribute")
        .unwrap();
    assert_eq!(attribute.attr("Name"), Some(FINNISH_AUTH_METHOD));
    let values: Vec<&str> = attribute
        .children_named(NS_SAML, "AttributeValue")
        .map(|v| v.text.as_str())
        .collect();
    assert_eq!(values, crate::loa::ALL);

    let spsso = root.required_child(NS_MD, "SPSSODescriptor").unwrap();
    assert_eq!(spsso.attr("AuthnRequestsSigned"), Some("true"));
    assert_eq!(spsso.attr("WantAssertionsSigned"), Some("true"));
    let uses: Vec<&str> = spsso
        .children_named(NS_MD, "KeyDescriptor")
        .map(|k| k.attr("use").unwrap())
        .collect();
    assert_eq!(uses, ["signing", "encryption"]);
    let enc_cert = spsso.children_named(NS_MD, "KeyDescriptor").nth(1).unwrap().children[0].children[0].children[0]
        .text
        .clone();
    assert_eq!(enc_cert, cert_base64(testkit::SP_ENCRYPTION_CERT).unwrap());
    let acs = spsso.required_child(NS_MD, "AssertionConsumerService").unwrap();
    assert_eq!(acs.attr("Binding"), Some(BINDING_POST));
    assert_eq!(acs.attr("Location"), Some(testkit::ACS_URL));
    let slo = spsso.required_child(NS_MD, "SingleLogoutService").unwrap();
    assert_eq!(slo.attr("Binding"), Some(BINDING_REDIRECT));
    assert_eq!(slo.attr("Location"), Some(testkit::SLO_URL));
    assert_eq!(
        spsso.required_child(NS_MD, "NameIDFormat").unwrap().text,
        NAMEID_TRANSIENT
    );

    // Unsigned on request.
    let unsigned = sp_metadata(&SpConfig {
        sign_metadata: false,
        ..sp
    })
    .unwrap();
    assert!(!unsigned.contains("Signature"));
}

#[test]
fn sp_config_check_catches_mistakes() {
    let sp = testkit::sp_config();
    let swapped = SpConfig {
        signing_cert_pem: testkit::SP_ENCRYPTION_CERT.into(),
        ..sp.clone()
    };
    assert_eq!(swapped.check().unwrap_err().reason(), "config");
    let unknown_loa = SpConfig {
        required_loa: vec!["http://example/loa9".into()],
        ..sp.clone()
    };
    assert!(unknown_loa.check().is_err());
    // Debug never prints keys.
    assert!(!format!("{sp:?}").contains("PRIVATE"));
}
