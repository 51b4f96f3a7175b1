//! **FOR TESTS ONLY** (cargo feature `testkit`): the IdP side of the conversation, built the way
//! Suomi.fi's test IdP builds it, signed with the DEMO keys committed in `certs-example/`.
//! This crate's tests, the IdP simulator and the contract tests use the same builders, including
//! to make attack messages. Nothing here belongs in a production code path.

use std::sync::OnceLock;

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use portti_xmlsec::IdAttribute;

use crate::config::{cert_base64, loa, SpConfig};
use crate::metadata::{format_time, random_id, IdpMetadata, BINDING_REDIRECT, NAMEID_TRANSIENT, PROTOCOL_SAML2};
use crate::redirect::{sign_redirect, Param};
use crate::response::{attr, CM_BEARER, NAMEID_ENTITY, STATUS_SUCCESS};
use crate::xml::{signature_template, XmlOut, NS_DS, NS_MD, NS_SAML, NS_SAMLP};

pub const SP_SIGNING_KEY: &str = include_str!("../../../certs-example/saml-sp-signing.key");
pub const SP_SIGNING_CERT: &str = include_str!("../../../certs-example/saml-sp-signing.pem");
pub const SP_ENCRYPTION_KEY: &str = include_str!("../../../certs-example/saml-sp-encryption.key");
pub const SP_ENCRYPTION_CERT: &str = include_str!("../../../certs-example/saml-sp-encryption.pem");
pub const IDP_SIGNING_KEY_1: &str = include_str!("../../../certs-example/saml-idp-signing-1.key");
pub const IDP_SIGNING_CERT_1: &str = include_str!("../../../certs-example/saml-idp-signing-1.pem");
pub const IDP_SIGNING_KEY_2: &str = include_str!("../../../certs-example/saml-idp-signing-2.key");
pub const IDP_SIGNING_CERT_2: &str = include_str!("../../../certs-example/saml-idp-signing-2.pem");

pub const SP_ENTITY_ID: &str = "https://portti.example/saml/sp";
pub const ACS_URL: &str = "https://portti.example/saml/acs";
pub const SLO_URL: &str = "https://portti.example/saml/slo";
pub const IDP_ENTITY_ID: &str = "https://tunnistus.example/idp1";
pub const IDP_SSO_URL: &str = "https://tunnistus.example/idp/profile/SAML2/Redirect/SSO";
pub const IDP_SLO_URL: &str = "https://tunnistus.example/idp/profile/SAML2/Redirect/SLO";

/// Suomi.fi's well-known demo person (Nordea demo credentials); not a real person.
pub const DEMO_IDENTITY_CODE: &str = "210281-9988";

/// A fixed "now" for deterministic tests.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, 10, 0, 0)
        .single()
        .expect("a valid time")
}

/// The SP with the demo keys, accepting every level Suomi.fi has, 2 minutes of clock skew.
pub fn sp_config() -> SpConfig {
    SpConfig {
        entity_id: SP_ENTITY_ID.into(),
        acs_url: ACS_URL.into(),
        slo_url: SLO_URL.into(),
        signing_key_pem: SP_SIGNING_KEY.into(),
        signing_cert_pem: SP_SIGNING_CERT.into(),
        encryption_key_pem: SP_ENCRYPTION_KEY.into(),
        encryption_cert_pem: SP_ENCRYPTION_CERT.into(),
        required_loa: loa::ALL.iter().map(|s| s.to_string()).collect(),
        clock_skew: std::time::Duration::from_secs(120),
        sign_metadata: true,
    }
}

/// A private key and its certificate (PEM).
#[derive(Clone)]
pub struct Signer {
    pub key_pem: String,
    pub cert_pem: String,
}

pub fn idp_signer_1() -> Signer {
    Signer {
        key_pem: IDP_SIGNING_KEY_1.into(),
        cert_pem: IDP_SIGNING_CERT_1.into(),
    }
}

pub fn idp_signer_2() -> Signer {
    Signer {
        key_pem: IDP_SIGNING_KEY_2.into(),
        cert_pem: IDP_SIGNING_CERT_2.into(),
    }
}

/// A well-formed RSA key and self-signed certificate that nobody trusts (made once per process).
pub fn rogue_signer() -> Signer {
    static ROGUE: OnceLock<Signer> = OnceLock::new();
    ROGUE
        .get_or_init(|| {
            use openssl::{asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
            let pkey = PKey::from_rsa(Rsa::generate(2048).expect("RSA key")).expect("PKey");
            let mut name = x509::X509NameBuilder::new().expect("name");
            name.append_entry_by_text("CN", IDP_ENTITY_ID).expect("CN");
            let name = name.build();
            let mut b = x509::X509::builder().expect("builder");
            b.set_version(2).expect("version");
            b.set_serial_number(&BigNum::from_u32(7).and_then(|n| n.to_asn1_integer()).expect("serial"))
                .expect("serial");
            b.set_subject_name(&name).expect("subject");
            b.set_issuer_name(&name).expect("issuer");
            b.set_pubkey(&pkey).expect("pubkey");
            b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
                .expect("nb");
            b.set_not_after(&Asn1Time::days_from_now(3650).expect("time"))
                .expect("na");
            b.sign(&pkey, MessageDigest::sha256()).expect("sign");
            Signer {
                key_pem: String::from_utf8(pkey.private_key_to_pem_pkcs8().expect("pem")).expect("utf8"),
                cert_pem: String::from_utf8(b.build().to_pem().expect("pem")).expect("utf8"),
            }
        })
        .clone()
}

/// IdP metadata like Suomi.fi's: one IDPSSODescriptor with a signing KeyDescriptor per
/// certificate (two during rotation), HTTP-Redirect SSO and SLO. Signed with `sign_with`.
pub fn idp_metadata_xml(signing_cert_pems: &[&str], sign_with: Option<&Signer>) -> Vec<u8> {
    let id = random_id();
    let mut out = XmlOut::with_declaration();
    out.start(
        "md:EntityDescriptor",
        &[
            ("xmlns:md", NS_MD),
            ("xmlns:ds", NS_DS),
            ("ID", &id),
            ("entityID", IDP_ENTITY_ID),
            ("validUntil", &format_time(now() + Duration::days(365))),
        ],
    );
    if sign_with.is_some() {
        out.raw(&signature_template(&id));
    }
    out.start("md:IDPSSODescriptor", &[("protocolSupportEnumeration", PROTOCOL_SAML2)]);
    for pem in signing_cert_pems {
        out.start("md:KeyDescriptor", &[("use", "signing")])
            .start("ds:KeyInfo", &[])
            .start("ds:X509Data", &[])
            .leaf(
                "ds:X509Certificate",
                &[],
                &cert_base64(pem).expect("a demo certificate"),
            )
            .end("ds:X509Data")
            .end("ds:KeyInfo")
            .end("md:KeyDescriptor");
    }
    out.empty(
        "md:SingleLogoutService",
        &[("Binding", BINDING_REDIRECT), ("Location", IDP_SLO_URL)],
    )
    .leaf("md:NameIDFormat", &[], NAMEID_TRANSIENT)
    .empty(
        "md:SingleSignOnService",
        &[("Binding", BINDING_REDIRECT), ("Location", IDP_SSO_URL)],
    )
    .end("md:IDPSSODescriptor")
    .end("md:EntityDescriptor");
    let xml = out.finish();
    match sign_with {
        None => xml,
        Some(s) => portti_xmlsec::sign_enveloped_with_id(
            &xml,
            s.key_pem.as_bytes(),
            s.cert_pem.as_bytes(),
            &IdAttribute::new(NS_MD, "EntityDescriptor", "ID"),
        )
        .expect("signing the demo metadata"),
    }
}

/// The IdP metadata with both demo signing certificates (rotation), read as a local file.
pub fn idp_metadata() -> IdpMetadata {
    IdpMetadata::parse(&idp_metadata_xml(&[IDP_SIGNING_CERT_1, IDP_SIGNING_CERT_2], None), None)
        .expect("the demo IdP metadata")
}

/// What Suomi.fi sends for a Finnish person identified with a Finnish method.
pub fn finnish_attributes() -> Vec<(String, String)> {
    [
        (attr::IDENTITY_CODE, DEMO_IDENTITY_CODE),
        (attr::GIVEN_NAME, "Nordea"),
        (attr::SURNAME, "Demo"),
        (attr::COMMON_NAME, "Demo Nordea"),
        (attr::HOME_MUNICIPALITY, "853"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

/// What Suomi.fi sends for a person identified through eIDAS (no identity code).
pub fn eidas_attributes() -> Vec<(String, String)> {
    [
        (attr::EIDAS_PERSON_IDENTIFIER, "SE/FI/199001011234"),
        (attr::EIDAS_GIVEN_NAME, "Astrid Maria"),
        (attr::EIDAS_FAMILY_NAME, "Lindqvist"),
        (attr::EIDAS_DATE_OF_BIRTH, "1990-01-01"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

/// A SAML Response as Suomi.fi's IdP makes it. Every field is public so that a test can make
/// it wrong in exactly one way.
#[derive(Clone)]
pub struct ResponseBuilder {
    pub response_id: String,
    pub assertion_id: String,
    /// Response/@InResponseTo.
    pub in_response_to: String,
    /// Response/@Destination.
    pub destination: String,
    /// Response and Assertion Issuer.
    pub issuer: String,
    pub status: String,
    pub second_level_status: Option<String>,
    pub audience: String,
    /// SubjectConfirmationData/@Recipient.
    pub recipient: String,
    /// SubjectConfirmationData/@InResponseTo.
    pub confirmation_in_response_to: String,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: String,
    pub loa: String,
    pub issue_instant: DateTime<Utc>,
    /// Conditions/@NotBefore.
    pub not_before: DateTime<Utc>,
    /// Conditions/@NotOnOrAfter and SubjectConfirmationData/@NotOnOrAfter.
    pub not_on_or_after: DateTime<Utc>,
    /// (Name, value) pairs, one AttributeValue each.
    pub attributes: Vec<(String, String)>,
    /// `None`: the assertion is not signed.
    pub assertion_signer: Option<Signer>,
    /// `Some`: the Response is signed too (after encryption).
    pub response_signer: Option<Signer>,
    /// Encrypt the assertion to the SP's encryption certificate (Suomi.fi always does).
    pub encrypt: bool,
}

impl ResponseBuilder {
    /// A successful login of the demo Finnish person at `loa3`, answering `in_response_to`.
    pub fn new(in_response_to: &str, now: DateTime<Utc>) -> Self {
        ResponseBuilder {
            response_id: random_id(),
            assertion_id: random_id(),
            in_response_to: in_response_to.into(),
            destination: ACS_URL.into(),
            issuer: IDP_ENTITY_ID.into(),
            status: STATUS_SUCCESS.into(),
            second_level_status: None,
            audience: SP_ENTITY_ID.into(),
            recipient: ACS_URL.into(),
            confirmation_in_response_to: in_response_to.into(),
            name_id: "AAdzZWNyZXQxz8mKzQWc2FsdC1wb3J0dGk=".into(),
            name_id_format: NAMEID_TRANSIENT.into(),
            session_index: "_4a1b7c9d2e".into(),
            loa: loa::LOA3.into(),
            issue_instant: now,
            not_before: now - Duration::seconds(5),
            not_on_or_after: now + Duration::minutes(5),
            attributes: finnish_attributes(),
            assertion_signer: Some(idp_signer_1()),
            response_signer: None,
            encrypt: true,
        }
    }

    fn write_assertion(&self, out: &mut XmlOut) {
        out.start(
            "saml2:Assertion",
            &[
                ("xmlns:saml2", NS_SAML),
                ("xmlns:xs", "http://www.w3.org/2001/XMLSchema"),
                ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                ("ID", &self.assertion_id),
                ("IssueInstant", &format_time(self.issue_instant)),
                ("Version", "2.0"),
            ],
        )
        .leaf("saml2:Issuer", &[("Format", NAMEID_ENTITY)], &self.issuer);
        if self.assertion_signer.is_some() {
            out.raw(&signature_template(&self.assertion_id));
        }
        out.start("saml2:Subject", &[])
            .leaf(
                "saml2:NameID",
                &[
                    ("Format", &self.name_id_format),
                    ("NameQualifier", &self.issuer),
                    ("SPNameQualifier", SP_ENTITY_ID),
                ],
                &self.name_id,
            )
            .start("saml2:SubjectConfirmation", &[("Method", CM_BEARER)])
            .empty(
                "saml2:SubjectConfirmationData",
                &[
                    ("Address", "192.0.2.10"),
                    ("InResponseTo", &self.confirmation_in_response_to),
                    ("NotOnOrAfter", &format_time(self.not_on_or_after)),
                    ("Recipient", &self.recipient),
                ],
            )
            .end("saml2:SubjectConfirmation")
            .end("saml2:Subject")
            .start(
                "saml2:Conditions",
                &[
                    ("NotBefore", &format_time(self.not_before)),
                    ("NotOnOrAfter", &format_time(self.not_on_or_after)),
                ],
            )
            .start("saml2:AudienceRestriction", &[])
            .leaf("saml2:Audience", &[], &self.audience)
            .end("saml2:AudienceRestriction")
            .end("saml2:Conditions")
            .start(
                "saml2:AuthnStatement",
                &[
                    ("AuthnInstant", &format_time(self.issue_instant)),
                    ("SessionIndex", &self.session_index),
                ],
            )
            .start("saml2:AuthnContext", &[])
            .leaf("saml2:AuthnContextClassRef", &[], &self.loa)
            .leaf("saml2:AuthenticatingAuthority", &[], "https://tunnistus.example/nordea")
            .end("saml2:AuthnContext")
            .end("saml2:AuthnStatement");
        if !self.attributes.is_empty() {
            out.start("saml2:AttributeStatement", &[]);
            for (name, value) in &self.attributes {
                out.start(
                    "saml2:Attribute",
                    &[
                        ("Name", name),
                        ("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"),
                    ],
                )
                .leaf("saml2:AttributeValue", &[("xsi:type", "xs:string")], value)
                .end("saml2:Attribute");
            }
            out.end("saml2:AttributeStatement");
        }
        out.end("saml2:Assertion");
    }

    /// The Response with the assertion in plaintext, signature templates empty. When
    /// `encrypt` is set the assertion already sits inside its `saml2:EncryptedAssertion`.
    pub fn unsigned_xml(&self) -> Vec<u8> {
        let mut out = XmlOut::with_declaration();
        out.start(
            "saml2p:Response",
            &[
                ("xmlns:saml2p", NS_SAMLP),
                ("xmlns:saml2", NS_SAML),
                ("Destination", &self.destination),
                ("ID", &self.response_id),
                ("InResponseTo", &self.in_response_to),
                ("IssueInstant", &format_time(self.issue_instant)),
                ("Version", "2.0"),
            ],
        )
        .leaf("saml2:Issuer", &[("Format", NAMEID_ENTITY)], &self.issuer);
        if self.response_signer.is_some() {
            out.raw(&signature_template(&self.response_id));
        }
        out.start("saml2p:Status", &[]);
        match &self.second_level_status {
            None => {
                out.empty("saml2p:StatusCode", &[("Value", &self.status)]);
            }
            Some(second) => {
                out.start("saml2p:StatusCode", &[("Value", &self.status)])
                    .empty("saml2p:StatusCode", &[("Value", second)])
                    .end("saml2p:StatusCode");
            }
        }
        out.end("saml2p:Status");
        if self.status == STATUS_SUCCESS {
            if self.encrypt {
                out.start("saml2:EncryptedAssertion", &[]);
            }
            self.write_assertion(&mut out);
            if self.encrypt {
                out.end("saml2:EncryptedAssertion");
            }
        }
        out.end("saml2p:Response");
        out.finish()
    }

    /// [`Self::unsigned_xml`] with the assertion signed (if `assertion_signer`), not yet
    /// encrypted: the place to tamper with the signed plaintext.
    pub fn signed_plaintext(&self) -> Vec<u8> {
        let xml = self.unsigned_xml();
        match (&self.assertion_signer, self.status == STATUS_SUCCESS) {
            (Some(s), true) => sign_assertion(&xml, s),
            _ => xml,
        }
    }

    /// Encrypts (if `encrypt`) and signs the Response (if `response_signer`).
    pub fn finish(&self, signed_plaintext: Vec<u8>) -> Vec<u8> {
        let mut xml = signed_plaintext;
        if self.encrypt && self.status == STATUS_SUCCESS {
            xml = encrypt_assertion(&xml);
        }
        if let Some(s) = &self.response_signer {
            xml = sign_response(&xml, s);
        }
        xml
    }

    /// The Response XML as sent.
    pub fn build(&self) -> Vec<u8> {
        self.finish(self.signed_plaintext())
    }

    /// The `SAMLResponse` form field.
    pub fn encoded(&self) -> String {
        post_encode(&self.build())
    }
}

/// Fills the assertion's signature template (enveloped, `#ID`, RSA-SHA256).
pub fn sign_assertion(xml: &[u8], signer: &Signer) -> Vec<u8> {
    portti_xmlsec::sign_enveloped_with_id(
        xml,
        signer.key_pem.as_bytes(),
        signer.cert_pem.as_bytes(),
        &IdAttribute::saml_assertion(),
    )
    .expect("signing the test assertion")
}

/// Fills the Response's signature template.
pub fn sign_response(xml: &[u8], signer: &Signer) -> Vec<u8> {
    portti_xmlsec::sign_enveloped_with_id(
        xml,
        signer.key_pem.as_bytes(),
        signer.cert_pem.as_bytes(),
        &IdAttribute::saml_response(),
    )
    .expect("signing the test Response")
}

/// Encrypts the one `saml2:Assertion` (inside its `saml2:EncryptedAssertion`) to the SP's
/// demo encryption certificate.
pub fn encrypt_assertion(xml: &[u8]) -> Vec<u8> {
    encrypt_assertion_to(xml, SP_ENCRYPTION_CERT)
}

pub fn encrypt_assertion_to(xml: &[u8], recipient_cert_pem: &str) -> Vec<u8> {
    portti_xmlsec::encrypt_element(
        xml,
        &portti_xmlsec::ElementName::saml_assertion(),
        recipient_cert_pem.as_bytes(),
        &portti_xmlsec::EncryptionAlgorithms::default(),
    )
    .expect("encrypting the test assertion")
}

/// Base64 for the HTTP-POST binding.
pub fn post_encode(xml: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// Replaces the first occurrence of `from` (which must occur).
pub fn replace_once(xml: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(xml).expect("UTF-8 XML");
    assert!(text.contains(from), "{from:?} not found");
    text.replacen(from, to, 1).into_bytes()
}

/// A LogoutRequest from the IdP (IdP-initiated logout) as the query string it sends to the
/// SP's SLO URL.
pub fn idp_logout_request_query(
    name_id: &str,
    session_index: &str,
    relay_state: Option<&str>,
    now: DateTime<Utc>,
    signer: &Signer,
) -> (String, String) {
    let id = random_id();
    let mut out = XmlOut::fragment();
    out.start(
        "saml2p:LogoutRequest",
        &[
            ("xmlns:saml2p", NS_SAMLP),
            ("xmlns:saml2", NS_SAML),
            ("Destination", SLO_URL),
            ("ID", &id),
            ("IssueInstant", &format_time(now)),
            ("NotOnOrAfter", &format_time(now + Duration::minutes(5))),
            ("Version", "2.0"),
        ],
    )
    .leaf("saml2:Issuer", &[], IDP_ENTITY_ID)
    .leaf(
        "saml2:NameID",
        &[
            ("Format", NAMEID_TRANSIENT),
            ("NameQualifier", IDP_ENTITY_ID),
            ("SPNameQualifier", SP_ENTITY_ID),
        ],
        name_id,
    )
    .leaf("saml2p:SessionIndex", &[], session_index)
    .end("saml2p:LogoutRequest");
    (
        id,
        idp_redirect_query(&out.finish(), Param::SamlRequest, relay_state, signer),
    )
}

/// A LogoutResponse from the IdP to our LogoutRequest `in_response_to`, as a query string.
pub fn idp_logout_response_query(
    in_response_to: &str,
    status: &str,
    relay_state: Option<&str>,
    now: DateTime<Utc>,
    signer: &Signer,
) -> String {
    let mut out = XmlOut::fragment();
    out.start(
        "saml2p:LogoutResponse",
        &[
            ("xmlns:saml2p", NS_SAMLP),
            ("xmlns:saml2", NS_SAML),
            ("Destination", SLO_URL),
            ("ID", &random_id()),
            ("InResponseTo", in_response_to),
            ("IssueInstant", &format_time(now)),
            ("Version", "2.0"),
        ],
    )
    .leaf("saml2:Issuer", &[], IDP_ENTITY_ID)
    .start("saml2p:Status", &[])
    .empty("saml2p:StatusCode", &[("Value", status)])
    .end("saml2p:Status")
    .end("saml2p:LogoutResponse");
    idp_redirect_query(&out.finish(), Param::SamlResponse, relay_state, signer)
}

/// Any XML as a signed redirect to the SP's SLO URL; returns only the query string.
pub fn idp_redirect_query(xml: &[u8], param: Param, relay_state: Option<&str>, signer: &Signer) -> String {
    let url = sign_redirect(SLO_URL, param, xml, relay_state, &signer.key_pem).expect("signing the test redirect");
    url.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default()
}

/// An HTTP-POST binding Response answering the SP with a plain error status (e.g. the user
/// cancelled: `Requester` / `AuthnFailed`).
pub fn error_response(in_response_to: &str, status: &str, second_level: Option<&str>, now: DateTime<Utc>) -> String {
    let mut b = ResponseBuilder::new(in_response_to, now);
    b.status = status.into();
    b.second_level_status = second_level.map(str::to_owned);
    b.encoded()
}

/// Encrypts any bytes as an `xenc:EncryptedData` (Type Element, AES-256-GCM, session key
/// wrapped with RSA-OAEP-MGF1P for `recipient_cert_pem`) WITHOUT looking at them: anybody can
/// encrypt to the SP's public certificate, so attack tests encrypt whatever an attacker would.
pub fn encrypt_raw(plaintext: &[u8], recipient_cert_pem: &str) -> String {
    use openssl::rsa::Padding;
    use openssl::symm::{encrypt_aead, Cipher};
    use portti_xmlsec::uri;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    openssl::rand::rand_bytes(&mut key).expect("random");
    openssl::rand::rand_bytes(&mut iv).expect("random");
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(Cipher::aes_256_gcm(), &key, Some(&iv), &[], plaintext, &mut tag).expect("AES-GCM");
    let mut data = iv.to_vec();
    data.extend_from_slice(&ct);
    data.extend_from_slice(&tag);
    let rsa = openssl::x509::X509::from_pem(recipient_cert_pem.as_bytes())
        .and_then(|c| c.public_key())
        .and_then(|k| k.rsa())
        .expect("an RSA certificate");
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(&key, &mut wrapped, Padding::PKCS1_OAEP)
        .expect("RSA-OAEP");
    wrapped.truncate(n);
    let mut out = XmlOut::fragment();
    out.start(
        "xenc:EncryptedData",
        &[("xmlns:xenc", uri::XMLENC_NS), ("Type", uri::XMLENC_ELEMENT)],
    )
    .empty("xenc:EncryptionMethod", &[("Algorithm", uri::AES256_GCM)])
    .start("ds:KeyInfo", &[("xmlns:ds", NS_DS)])
    .start("xenc:EncryptedKey", &[])
    .start("xenc:EncryptionMethod", &[("Algorithm", uri::RSA_OAEP_MGF1P)])
    .empty("ds:DigestMethod", &[("Algorithm", uri::SHA1)])
    .end("xenc:EncryptionMethod")
    .start("xenc:CipherData", &[])
    .leaf("xenc:CipherValue", &[], &b64.encode(wrapped))
    .end("xenc:CipherData")
    .end("xenc:EncryptedKey")
    .end("ds:KeyInfo")
    .start("xenc:CipherData", &[])
    .leaf("xenc:CipherValue", &[], &b64.encode(data))
    .end("xenc:CipherData")
    .end("xenc:EncryptedData");
    String::from_utf8(out.finish()).expect("UTF-8")
}

/// The `saml2:Assertion` element of a (plaintext) Response, as text, with its own namespace
/// declarations (as the builder writes them).
pub fn assertion_text(xml: &[u8]) -> String {
    let text = std::str::from_utf8(xml).expect("UTF-8 XML");
    let start = text.find("<saml2:Assertion").expect("an assertion");
    let end = text.find("</saml2:Assertion>").expect("an assertion end") + "</saml2:Assertion>".len();
    text[start..end].to_owned()
}
