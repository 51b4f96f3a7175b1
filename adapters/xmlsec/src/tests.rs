//! Signing, verification, and an independent check with the `xmlsec1` command line tool
//! (Debian package `xmlsec1`), which these tests require.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::{X509NameBuilder, X509};

use super::*;

struct Identity {
    key_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    pkey: PKey<Private>,
}

fn make_identity(cn: &str, ec: bool) -> Identity {
    let pkey = if ec {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    } else {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    };
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&pkey).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    b.sign(&pkey, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    Identity {
        key_pem: pkey.private_key_to_pem_pkcs8().unwrap(),
        cert_pem: cert.to_pem().unwrap(),
        pkey,
    }
}

/// The signer the tests trust.
fn alice() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("Kanta test signer", false))
}

/// Someone else: a well-formed signature, but not by a trusted key.
fn mallory() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("Mallory", false))
}

fn ec_signer() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("EC signer", true))
}

fn trust(id: &Identity) -> VerifyPolicy {
    VerifyPolicy::new([&id.cert_pem]).unwrap()
}

fn transform(alg: &str) -> String {
    format!(r#"<ds:Transform Algorithm="{alg}"/>"#)
}

fn std_transforms() -> Vec<String> {
    vec![transform(uri::ENVELOPED_SIGNATURE), transform(uri::EXC_C14N)]
}

fn signature_template(sig_method: &str, transforms: &[String], digest: &str, reference_uri: &str) -> String {
    format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{sig_method}"/><ds:Reference URI="{reference_uri}"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"#,
        c14n = uri::EXC_C14N,
        transforms = transforms.concat(),
    )
}

fn cda_with(signature: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <id root="1.2.246.10.12345678.14.2024.7"/>
  <code code="21" codeSystem="1.2.246.537.6.1505"/>
  <title>Palvelutarpeen arviointi</title>
  <effectiveTime value="20240301120000+0200"/>
  <component><structuredBody><component><section ID="s1">
    <text>Asiakas tarvitsee kotihoitoa &amp; ateriapalvelun. Åäö.</text>
  </section></component></structuredBody></component>
  <hl7fi:signatureCollection xmlns:hl7fi="urn:hl7finland">{signature}</hl7fi:signatureCollection>
</ClinicalDocument>
"#
    )
}

fn cda_template() -> String {
    cda_with(&signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, ""))
}

const SAML_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// A SAML-like Response whose Assertion `_def` carries `signature` after its Issuer.
fn saml_with(signature: &str, response_id: &str, extra: &str) -> String {
    format!(
        r#"<samlp:Response xmlns:samlp="{SAML_PROTOCOL}" xmlns:saml="{SAML_ASSERTION}" ID="{response_id}" Version="2.0" IssueInstant="2024-03-01T10:00:00Z"><saml:Issuer>https://tunnistus.example/idp</saml:Issuer>{extra}<saml:Assertion ID="_def" Version="2.0" IssueInstant="2024-03-01T10:00:00Z"><saml:Issuer>https://tunnistus.example/idp</saml:Issuer>{signature}<saml:Subject><saml:NameID>AAdzZWNyZXQx</saml:NameID></saml:Subject><saml:AttributeStatement><saml:Attribute Name="urn:oid:1.2.246.21"><saml:AttributeValue>010101-123N</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#
    )
}

fn saml_template() -> String {
    saml_with(
        &signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, "#_def"),
        "_abc",
        "",
    )
}

fn assertion_policy(id: &Identity) -> VerifyPolicy {
    trust(id).with_id_attribute(IdAttribute::saml_assertion())
}

fn signed_cda() -> Vec<u8> {
    sign_enveloped(cda_template().as_bytes(), &alice().key_pem, &alice().cert_pem).unwrap()
}

fn replace_once(haystack: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(haystack.to_vec()).unwrap();
    assert!(s.contains(from), "test fixture lacks {from:?}");
    s.replacen(from, to, 1).into_bytes()
}

// ---------------------------------------------------------------- xmlsec1 CLI

fn xmlsec1(args: &[&str]) -> std::process::Output {
    match Command::new("xmlsec1").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("the xmlsec1 command line tool is required by these tests: apt-get install -y xmlsec1")
        }
        Err(e) => panic!("running xmlsec1: {e}"),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

/// Verifies with the command line tool, with the key pinned to `cert_pem`.
fn cli_verify(xml: &[u8], cert_pem: &[u8], id_attr: Option<&str>) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "doc.xml", xml);
    let cert = write(dir.path(), "cert.pem", cert_pem);
    let mut args = vec!["--verify", "--pubkey-cert-pem", cert.as_str()];
    if let Some(id) = id_attr {
        args.extend(["--id-attr:ID", id]);
    }
    args.push(&file);
    xmlsec1(&args).status.success()
}

/// Verifies with the command line tool, trusting `cert_pem` as a root for the KeyInfo cert.
fn cli_verify_trusted(xml: &[u8], cert_pem: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "doc.xml", xml);
    let cert = write(dir.path(), "cert.pem", cert_pem);
    xmlsec1(&["--verify", "--trusted-pem", &cert, &file]).status.success()
}

/// Signs with the command line tool: for signatures our own signer rightly refuses to make.
fn cli_sign(template: &str, id: &Identity, id_attr: Option<&str>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tmpl.xml", template.as_bytes());
    let key = write(dir.path(), "key.pem", &id.key_pem);
    let cert = write(dir.path(), "cert.pem", &id.cert_pem);
    let out = dir.path().join("out.xml");
    let keyarg = format!("{key},{cert}");
    let mut args = vec![
        "--sign",
        "--privkey-pem",
        keyarg.as_str(),
        "--output",
        out.to_str().unwrap(),
    ];
    if let Some(a) = id_attr {
        args.extend(["--id-attr:ID", a]);
    }
    args.push(&file);
    let o = xmlsec1(&args);
    assert!(
        o.status.success(),
        "xmlsec1 --sign failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(out).unwrap()
}

// ---------------------------------------------------------------- positive

#[test]
fn signs_and_verifies_a_cda_document() {
    let signed = signed_cda();
    let text = String::from_utf8(signed.clone()).unwrap();
    assert!(text.contains("<ds:DigestValue>") && !text.contains("<ds:DigestValue/>"));
    assert!(!text.contains("<ds:SignatureValue/>"));
    assert!(!text.contains("<ds:X509Certificate/>"), "KeyInfo certificate filled in");

    let v = verify_enveloped(&signed, &trust(alice())).unwrap();
    assert_eq!(
        v,
        Verified {
            element: "ClinicalDocument".into(),
            namespace: Some("urn:hl7-org:v3".into()),
            id: None,
            reference_uri: String::new(),
            signature_method: uri::RSA_SHA256.into(),
            trusted_cert_index: 0,
        }
    );
}

#[test]
fn xmlsec1_cli_accepts_our_signatures() {
    let signed = signed_cda();
    assert!(cli_verify(&signed, &alice().cert_pem, None));
    assert!(cli_verify_trusted(&signed, &alice().cert_pem));
    // ...and is a real check: it refuses another key and a tampered document.
    assert!(!cli_verify(&signed, &mallory().cert_pem, None));
    assert!(!cli_verify(
        &replace_once(&signed, "kotihoitoa", "kotihoito"),
        &alice().cert_pem,
        None
    ));

    let saml = sign_enveloped_with_id(
        saml_template().as_bytes(),
        &alice().key_pem,
        &alice().cert_pem,
        &IdAttribute::saml_assertion(),
    )
    .unwrap();
    assert!(cli_verify(
        &saml,
        &alice().cert_pem,
        Some(&format!("{SAML_ASSERTION}:Assertion"))
    ));
}

#[test]
fn we_accept_xmlsec1_cli_signatures() {
    let signed = cli_sign(&cda_template(), alice(), None);
    assert!(verify_enveloped(&signed, &trust(alice())).is_ok());
    let saml = cli_sign(&saml_template(), alice(), Some(&format!("{SAML_ASSERTION}:Assertion")));
    let v = verify_enveloped(&saml, &assertion_policy(alice())).unwrap();
    assert_eq!(v.id.as_deref(), Some("_def"));
}

#[test]
fn saml_assertion_with_id_reference() {
    let signed = sign_enveloped_with_id(
        saml_template().as_bytes(),
        &alice().key_pem,
        &alice().cert_pem,
        &IdAttribute::saml_assertion(),
    )
    .unwrap();
    let v = verify_enveloped(&signed, &assertion_policy(alice())).unwrap();
    assert_eq!(v.element, "Assertion");
    assert_eq!(v.namespace.as_deref(), Some(SAML_ASSERTION));
    assert_eq!(v.id.as_deref(), Some("_def"));
    assert_eq!(v.reference_uri, "#_def");

    // The assertion's signature does not cover the Response around it, by design.
    let outer_changed = replace_once(
        &signed,
        "Version=\"2.0\" IssueInstant",
        "Version=\"2.0\" Destination=\"x\" IssueInstant",
    );
    assert!(verify_enveloped(&outer_changed, &assertion_policy(alice())).is_ok());
    // But it covers the assertion.
    let inner_changed = replace_once(&signed, "010101-123N", "020202-456M");
    assert_eq!(
        verify_enveloped(&inner_changed, &assertion_policy(alice())),
        Err(XmlSecError::DigestMismatch)
    );
    // Without the ID policy the same document is refused: "#_def" is not the whole document.
    assert!(matches!(
        verify_enveloped(&signed, &trust(alice())),
        Err(XmlSecError::ReferenceNotCovering { .. })
    ));
}

#[test]
fn signed_response_around_signed_assertion() {
    let inner = sign_enveloped_with_id(
        saml_template().as_bytes(),
        &alice().key_pem,
        &alice().cert_pem,
        &IdAttribute::saml_assertion(),
    )
    .unwrap();
    // The Response's own signature goes right after its Issuer.
    let text = String::from_utf8(inner).unwrap();
    let body = text.split_once("?>").map(|(_, b)| b).unwrap_or(&text);
    let at = body.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let tmpl = format!(
        "{}{}{}",
        &body[..at],
        signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, "#_abc"),
        &body[at..]
    );
    let both = sign_enveloped_with_id(
        tmpl.as_bytes(),
        &alice().key_pem,
        &alice().cert_pem,
        &IdAttribute::saml_response(),
    )
    .unwrap();
    let response_policy = trust(alice()).with_id_attribute(IdAttribute::saml_response());
    let v = verify_enveloped(&both, &response_policy).unwrap();
    assert_eq!((v.element.as_str(), v.id.as_deref()), ("Response", Some("_abc")));
    let v = verify_enveloped(&both, &assertion_policy(alice())).unwrap();
    assert_eq!((v.element.as_str(), v.id.as_deref()), ("Assertion", Some("_def")));
    assert!(cli_verify(
        &both,
        &alice().cert_pem,
        Some(&format!("{SAML_PROTOCOL}:Response"))
    ));
}

#[test]
fn ecdsa_sha256_signature() {
    let tmpl = cda_with(&signature_template(
        uri::ECDSA_SHA256,
        &std_transforms(),
        uri::SHA256,
        "",
    ));
    let signed = sign_enveloped(tmpl.as_bytes(), &ec_signer().key_pem, &ec_signer().cert_pem).unwrap();
    let v = verify_enveloped(&signed, &trust(ec_signer())).unwrap();
    assert_eq!(v.signature_method, uri::ECDSA_SHA256);
    assert!(cli_verify(&signed, &ec_signer().cert_pem, None));
    // An RSA-only trust list cannot check it.
    assert!(verify_enveloped(&signed, &trust(alice())).is_err());
}

#[test]
fn key_rotation_and_bundles() {
    let signed = signed_cda();
    let two = VerifyPolicy::new([&mallory().cert_pem, &alice().cert_pem]).unwrap();
    assert_eq!(verify_enveloped(&signed, &two).unwrap().trusted_cert_index, 1);

    let mut bundle = alice().cert_pem.clone();
    bundle.extend_from_slice(b"\n");
    bundle.extend_from_slice(&mallory().cert_pem);
    let bundled = VerifyPolicy::new([bundle]).unwrap();
    assert_eq!(bundled.trusted_count(), 2);
    assert_eq!(verify_enveloped(&signed, &bundled).unwrap().trusted_cert_index, 0);
}

#[test]
fn many_threads_at_once() {
    let policy = trust(alice());
    let template = cda_template();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..10 {
                    let signed = sign_enveloped(template.as_bytes(), &alice().key_pem, &alice().cert_pem).unwrap();
                    verify_enveloped(&signed, &policy).unwrap();
                    let bad = replace_once(&signed, "kotihoitoa", "laitoshoitoa");
                    assert_eq!(verify_enveloped(&bad, &policy), Err(XmlSecError::DigestMismatch));
                }
            });
        }
    });
}

// ---------------------------------------------------------------- tampering and keys

#[test]
fn tampered_text_is_refused() {
    let signed = signed_cda();
    let bad = replace_once(&signed, "kotihoitoa", "laitoshoitoa");
    assert_eq!(
        verify_enveloped(&bad, &trust(alice())),
        Err(XmlSecError::DigestMismatch)
    );
}

#[test]
fn tampered_attribute_is_refused() {
    let signed = signed_cda();
    let bad = replace_once(&signed, "code=\"21\"", "code=\"22\"");
    assert_eq!(
        verify_enveloped(&bad, &trust(alice())),
        Err(XmlSecError::DigestMismatch)
    );
    let added = replace_once(&signed, "<title>", "<title xml:lang=\"fi\">");
    assert_eq!(
        verify_enveloped(&added, &trust(alice())),
        Err(XmlSecError::DigestMismatch)
    );
}

#[test]
fn tampered_signed_info_is_refused() {
    let signed = signed_cda();
    // Swap the canonicalisation method: the digest still matches, the SignatureValue does not.
    let bad = replace_once(
        &signed,
        &format!(r#"<ds:CanonicalizationMethod Algorithm="{}"/>"#, uri::EXC_C14N),
        &format!(r#"<ds:CanonicalizationMethod Algorithm="{}"/>"#, uri::C14N),
    );
    assert_eq!(
        verify_enveloped(&bad, &trust(alice())),
        Err(XmlSecError::SignatureMismatch)
    );
}

#[test]
fn untrusted_signer_is_refused_even_with_its_cert_in_key_info() {
    let by_mallory = sign_enveloped(cda_template().as_bytes(), &mallory().key_pem, &mallory().cert_pem).unwrap();
    // The KeyInfo certificate verifies the signature (the CLI agrees), but it is not trusted.
    assert!(cli_verify(&by_mallory, &mallory().cert_pem, None));
    assert_eq!(
        verify_enveloped(&by_mallory, &trust(alice())),
        Err(XmlSecError::UntrustedKey)
    );

    // Mallory swaps in Alice's certificate: KeyInfo is never used, so still refused.
    let alice_b64: String = String::from_utf8(alice().cert_pem.clone())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let text = String::from_utf8(by_mallory).unwrap();
    let start = text.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
    let end = text.find("</ds:X509Certificate>").unwrap();
    let swapped = format!("{}{}{}", &text[..start], alice_b64, &text[end..]);
    assert_eq!(
        verify_enveloped(swapped.as_bytes(), &trust(alice())),
        Err(XmlSecError::SignatureMismatch)
    );
}

#[test]
fn bad_keys_are_errors() {
    let tmpl = cda_template();
    let encrypted = alice()
        .pkey
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"secret")
        .unwrap();
    assert!(matches!(
        sign_enveloped(tmpl.as_bytes(), &encrypted, &alice().cert_pem),
        Err(XmlSecError::InvalidKey(_))
    ));
    assert!(matches!(
        sign_enveloped(tmpl.as_bytes(), &alice().key_pem, &mallory().cert_pem),
        Err(XmlSecError::InvalidKey(_))
    ));
    assert!(matches!(
        sign_enveloped(tmpl.as_bytes(), b"junk", b"junk"),
        Err(XmlSecError::InvalidKey(_))
    ));
    assert!(matches!(
        VerifyPolicy::new([&alice().key_pem]),
        Err(XmlSecError::InvalidKey(_))
    ));
    assert!(matches!(
        VerifyPolicy::new([b"not pem".as_slice()]),
        Err(XmlSecError::InvalidKey(_))
    ));
    assert!(matches!(
        VerifyPolicy::new([b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".as_slice()]),
        Err(XmlSecError::InvalidKey(_))
    ));
    assert!(matches!(
        VerifyPolicy::new(Vec::<Vec<u8>>::new()),
        Err(XmlSecError::InvalidPolicy(_))
    ));
}

// ---------------------------------------------------------------- algorithms and transforms

#[test]
fn sha1_digest_is_refused() {
    let tmpl = cda_with(&signature_template(
        uri::RSA_SHA256,
        &std_transforms(),
        "http://www.w3.org/2000/09/xmldsig#sha1",
        "",
    ));
    let signed = cli_sign(&tmpl, alice(), None);
    assert!(
        cli_verify(&signed, &alice().cert_pem, None),
        "fixture is a valid signature"
    );
    assert!(matches!(
        verify_enveloped(&signed, &trust(alice())),
        Err(XmlSecError::DisallowedAlgorithm {
            what: "DigestMethod",
            ..
        })
    ));
    // We do not make such signatures either.
    assert!(matches!(
        sign_enveloped(tmpl.as_bytes(), &alice().key_pem, &alice().cert_pem),
        Err(XmlSecError::DisallowedAlgorithm { .. })
    ));
}

#[test]
fn rsa_sha1_is_refused() {
    let tmpl = cda_with(&signature_template(
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        &std_transforms(),
        uri::SHA256,
        "",
    ));
    let signed = cli_sign(&tmpl, alice(), None);
    assert!(
        cli_verify(&signed, &alice().cert_pem, None),
        "fixture is a valid signature"
    );
    assert!(matches!(
        verify_enveloped(&signed, &trust(alice())),
        Err(XmlSecError::DisallowedAlgorithm {
            what: "SignatureMethod",
            ..
        })
    ));
    assert!(matches!(
        sign_enveloped(tmpl.as_bytes(), &alice().key_pem, &alice().cert_pem),
        Err(XmlSecError::DisallowedAlgorithm { .. })
    ));
}

fn xpath_template() -> String {
    let xpath = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"#;
    cda_with(&signature_template(
        uri::RSA_SHA256,
        &[xpath.to_owned(), transform(uri::EXC_C14N)],
        uri::SHA256,
        "",
    ))
}

#[test]
fn xpath_transform_is_refused() {
    let signed = cli_sign(&xpath_template(), alice(), None);
    assert!(
        cli_verify(&signed, &alice().cert_pem, None),
        "fixture is a valid signature"
    );
    assert!(matches!(
        verify_enveloped(&signed, &trust(alice())),
        Err(XmlSecError::DisallowedAlgorithm { what: "Transform", .. })
    ));
}

#[test]
fn c14n_with_comments_is_refused() {
    let signed = signed_cda();
    let bad = replace_once(
        &signed,
        uri::EXC_C14N,
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    );
    assert!(matches!(
        verify_enveloped(&bad, &trust(alice())),
        Err(XmlSecError::DisallowedAlgorithm {
            what: "CanonicalizationMethod",
            ..
        })
    ));
}

/// The allow-lists set on libxmlsec1's own contexts (enabledReferenceTransforms, the signature
/// context's enabledTransforms, enabledReferenceUris) refuse these even without the Rust-side
/// checks: proof that the shim reaches the right struct fields.
#[test]
fn libxmlsec1_allow_lists_hold_without_the_rust_checks() {
    init().unwrap();
    let key = Key::from_cert(&alice().cert_pem).unwrap();
    let raw_verify = |xml: &[u8]| -> i32 {
        let doc = Doc::parse(xml).unwrap();
        let root = doc.root().unwrap();
        let sig = root
            .descendants_or_self()
            .into_iter()
            .find(|n| n.is(uri::DSIG_NS, "Signature"))
            .unwrap();
        unsafe { ffi::portti_verify(sig.as_ptr(), key.as_ptr()) }
    };
    assert_eq!(raw_verify(&signed_cda()), ffi::VALID, "control");

    let sha1 = cli_sign(
        &cda_with(&signature_template(
            uri::RSA_SHA256,
            &std_transforms(),
            "http://www.w3.org/2000/09/xmldsig#sha1",
            "",
        )),
        alice(),
        None,
    );
    let rsa_sha1 = cli_sign(
        &cda_with(&signature_template(
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            &std_transforms(),
            uri::SHA256,
            "",
        )),
        alice(),
        None,
    );
    let xpath = cli_sign(&xpath_template(), alice(), None);
    let inclusive = cli_sign(
        &cda_with(&signature_template(
            uri::RSA_SHA256,
            &[transform(uri::ENVELOPED_SIGNATURE), transform(uri::C14N)],
            uri::SHA256,
            "",
        )),
        alice(),
        None,
    );
    for (name, doc) in [
        ("sha1", &sha1),
        ("rsa-sha1", &rsa_sha1),
        ("xpath", &xpath),
        ("inclusive c14n transform", &inclusive),
    ] {
        assert!(
            cli_verify(doc, &alice().cert_pem, None),
            "{name} fixture is valid for the CLI"
        );
        assert_ne!(
            raw_verify(doc),
            ffi::VALID,
            "{name} must be refused by libxmlsec1 itself"
        );
    }
    // An external reference cannot even be attempted.
    let external = cda_with(&signature_template(
        uri::RSA_SHA256,
        &std_transforms(),
        uri::SHA256,
        "file:///etc/hostname",
    ));
    assert_ne!(raw_verify(external.as_bytes()), ffi::VALID);
}

// ---------------------------------------------------------------- structure and wrapping

#[test]
fn reference_to_another_element_is_refused() {
    // The Assertion's signature is valid, but it covers the Response, not the Assertion.
    let tmpl = saml_with(
        &signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, "#_abc"),
        "_abc",
        "",
    );
    let signed = cli_sign(&tmpl, alice(), Some(&format!("{SAML_PROTOCOL}:Response")));
    assert!(cli_verify(
        &signed,
        &alice().cert_pem,
        Some(&format!("{SAML_PROTOCOL}:Response"))
    ));
    assert!(matches!(
        verify_enveloped(&signed, &assertion_policy(alice())),
        Err(XmlSecError::ReferenceNotCovering { .. })
    ));
    // And "" from inside a non-root element covers more than the element: refused too.
    let whole = saml_with(
        &signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, ""),
        "_abc",
        "",
    );
    let signed = cli_sign(&whole, alice(), None);
    assert!(matches!(
        verify_enveloped(&signed, &assertion_policy(alice())),
        Err(XmlSecError::ReferenceNotCovering { .. })
    ));
}

#[test]
fn wrapped_assertion_is_refused() {
    let signed = String::from_utf8(
        sign_enveloped_with_id(
            saml_template().as_bytes(),
            &alice().key_pem,
            &alice().cert_pem,
            &IdAttribute::saml_assertion(),
        )
        .unwrap(),
    )
    .unwrap();
    let start = signed.find("<saml:Assertion").unwrap();
    let end = signed.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let genuine = &signed[start..end];
    let evil = genuine.replace("010101-123N", "020202-456M");
    // Classic wrapping: the genuine signed assertion hidden in an extension, an evil one beside.
    let wrapped = format!(
        "{}<samlp:Extensions>{}</samlp:Extensions>{}{}",
        &signed[..start],
        genuine,
        evil.replace("ID=\"_def\"", "ID=\"_evil\""),
        &signed[end..]
    );
    assert!(matches!(
        verify_enveloped(wrapped.as_bytes(), &assertion_policy(alice())),
        Err(XmlSecError::ElementNotUnique { count: 2, .. })
    ));
    // Same ID on both.
    let same_id = format!(
        "{}<samlp:Extensions>{}</samlp:Extensions>{}{}",
        &signed[..start],
        genuine,
        evil,
        &signed[end..]
    );
    assert!(matches!(
        verify_enveloped(same_id.as_bytes(), &assertion_policy(alice())),
        Err(XmlSecError::DuplicateId(_) | XmlSecError::ElementNotUnique { .. })
    ));
}

#[test]
fn duplicate_ids_are_refused() {
    let signed = sign_enveloped_with_id(
        saml_template().as_bytes(),
        &alice().key_pem,
        &alice().cert_pem,
        &IdAttribute::saml_assertion(),
    )
    .unwrap();
    // The Response takes the Assertion's ID.
    let dup = replace_once(&signed, "ID=\"_abc\"", "ID=\"_def\"");
    assert_eq!(
        verify_enveloped(&dup, &assertion_policy(alice())),
        Err(XmlSecError::DuplicateId("_def".into()))
    );
    // An xml:id elsewhere with the same value.
    let xml_id = replace_once(&signed, "<saml:Issuer>", "<saml:Issuer xml:id=\"_def\">");
    assert_eq!(
        verify_enveloped(&xml_id, &assertion_policy(alice())),
        Err(XmlSecError::DuplicateId("_def".into()))
    );
}

#[test]
fn two_signatures_are_refused() {
    let signed = String::from_utf8(signed_cda()).unwrap();
    let start = signed.find("<ds:Signature").unwrap();
    let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &signed[start..end];
    let two = signed.replacen("<title>", &format!("{sig}<title>"), 1);
    assert_eq!(
        verify_enveloped(two.as_bytes(), &trust(alice())),
        Err(XmlSecError::MultipleSignatures(2))
    );
    // And in the SAML case, two Signature children of the Assertion.
    let saml = String::from_utf8(
        sign_enveloped_with_id(
            saml_template().as_bytes(),
            &alice().key_pem,
            &alice().cert_pem,
            &IdAttribute::saml_assertion(),
        )
        .unwrap(),
    )
    .unwrap();
    let start = saml.find("<ds:Signature").unwrap();
    let end = saml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let two = format!("{}{}{}", &saml[..end], &saml[start..end], &saml[end..]);
    assert_eq!(
        verify_enveloped(two.as_bytes(), &assertion_policy(alice())),
        Err(XmlSecError::MultipleSignatures(2))
    );
    // Two signature templates: nothing is signed.
    let two_tmpl = cda_template().replacen(
        "<title>",
        &format!(
            "{}<title>",
            signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, "")
        ),
        1,
    );
    assert_eq!(
        sign_enveloped(two_tmpl.as_bytes(), &alice().key_pem, &alice().cert_pem),
        Err(XmlSecError::MultipleSignatures(2))
    );
}

#[test]
fn missing_or_misplaced_signature() {
    let plain = b"<a xmlns=\"urn:x\"><b/></a>";
    assert!(matches!(
        verify_enveloped(plain, &trust(alice())),
        Err(XmlSecError::NoSignature(_))
    ));
    let root_sig = signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, "");
    assert!(matches!(
        verify_enveloped(root_sig.as_bytes(), &trust(alice())),
        Err(XmlSecError::MalformedSignature(_))
    ));
    let no_assertion = b"<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_a\"/>";
    assert!(matches!(
        verify_enveloped(no_assertion, &assertion_policy(alice())),
        Err(XmlSecError::ElementNotFound(_))
    ));
    let no_id = saml_template().replace("ID=\"_def\" ", "");
    assert!(matches!(
        verify_enveloped(no_id.as_bytes(), &assertion_policy(alice())),
        Err(XmlSecError::MissingId { .. })
    ));
    // Two References.
    let signed = String::from_utf8(signed_cda()).unwrap();
    let start = signed.find("<ds:Reference").unwrap();
    let end = signed.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
    let two_refs = format!("{}{}{}", &signed[..end], &signed[start..end], &signed[end..]);
    assert_eq!(
        verify_enveloped(two_refs.as_bytes(), &trust(alice())),
        Err(XmlSecError::ReferenceCount(2))
    );
}

// ---------------------------------------------------------------- hostile input

#[test]
fn doctype_and_entities_are_refused() {
    let signed = String::from_utf8(signed_cda()).unwrap();
    let body = signed.split_once("?>").map(|(_, b)| b).unwrap();
    let external =
        format!("<?xml version=\"1.0\"?><!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{body}");
    let external = external.replacen("kotihoitoa", "&x;", 1);
    assert_eq!(
        verify_enveloped(external.as_bytes(), &trust(alice())),
        Err(XmlSecError::DoctypeRefused)
    );

    let internal =
        format!("<!DOCTYPE ClinicalDocument [<!ENTITY x \"kotihoitoa\">]>{body}").replacen("kotihoitoa", "&x;", 1);
    assert_eq!(
        verify_enveloped(internal.as_bytes(), &trust(alice())),
        Err(XmlSecError::DoctypeRefused)
    );

    let laughs = "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]><r>&g;</r>";
    assert!(verify_enveloped(laughs.as_bytes(), &trust(alice())).is_err());

    let ext_dtd = format!("<!DOCTYPE ClinicalDocument SYSTEM \"http://127.0.0.1:9/x.dtd\">{body}");
    assert_eq!(
        verify_enveloped(ext_dtd.as_bytes(), &trust(alice())),
        Err(XmlSecError::DoctypeRefused)
    );

    let tmpl = format!(
        "<!DOCTYPE ClinicalDocument>{}",
        cda_template().split_once("?>").unwrap().1
    );
    assert_eq!(
        sign_enveloped(tmpl.as_bytes(), &alice().key_pem, &alice().cert_pem),
        Err(XmlSecError::DoctypeRefused)
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let policy = trust(alice());
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\0".to_vec(),
        vec![0xff; 64],
        b"<".to_vec(),
        b"<a>".to_vec(),
        b"<a xmlns:p=\"\"><p:b/></a>".to_vec(),
        b"<p:a/>".to_vec(),
        "\u{feff}<a/>".as_bytes().to_vec(),
        b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>".to_vec(),
        b"<?xml version=\"1.0\" encoding=\"x-nonsense\"?><a/>".to_vec(),
        "<a>".repeat(100_000).into_bytes(),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [1usize, 7, 100, 4096] {
        inputs.push(
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect(),
        );
    }
    for input in &inputs {
        assert!(verify_enveloped(input, &policy).is_err());
        assert!(sign_enveloped(input, &alice().key_pem, &alice().cert_pem).is_err());
    }
    // Every truncation of a valid signed document.
    let signed = signed_cda();
    for cut in (0..signed.len() - 2).step_by(3) {
        assert!(
            verify_enveloped(&signed[..cut], &policy).is_err(),
            "prefix of {cut} bytes"
        );
    }
}

#[test]
fn errors_say_why() {
    let signed = signed_cda();
    let e = verify_enveloped(b"<a>", &trust(alice())).unwrap_err().to_string();
    assert!(e.starts_with("XML is not well-formed"), "{e}");
    let e = verify_enveloped(&replace_once(&signed, "kotihoitoa", "x"), &trust(alice()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("digest mismatch"), "{e}");
}

#[test]
fn library_errors_are_captured() {
    // A key type that cannot check the signature: the reason comes from libxmlsec1.
    let tmpl = cda_with(&signature_template(
        uri::ECDSA_SHA256,
        &std_transforms(),
        uri::SHA256,
        "",
    ));
    let signed = sign_enveloped(tmpl.as_bytes(), &ec_signer().key_pem, &ec_signer().cert_pem).unwrap();
    let no_key_info = {
        let s = String::from_utf8(signed).unwrap();
        let a = s.find("<ds:KeyInfo>").unwrap();
        let b = s.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
        format!("{}{}", &s[..a], &s[b..])
    };
    match verify_enveloped(no_key_info.as_bytes(), &trust(alice())) {
        Err(XmlSecError::NoUsableKey(msg)) => assert!(msg.contains("xmlSec"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

/// Keys are decoded once per distinct PEM; the cache is bounded, evicts the oldest entry first,
/// and a policy (or a call) still holding an evicted key keeps a working key.
#[test]
fn key_cache_reuses_and_evicts() {
    init().unwrap();
    let first = make_identity("cache 0", true);
    let tmpl = cda_with(&signature_template(
        uri::ECDSA_SHA256,
        &std_transforms(),
        uri::SHA256,
        "",
    ));
    let signed = sign_enveloped(tmpl.as_bytes(), &first.key_pem, &first.cert_pem).unwrap();
    let policy = trust(&first);
    assert!(verify_enveloped(&signed, &policy).is_ok());

    let a = Key::from_cert(&first.cert_pem).unwrap();
    let b = Key::from_cert(&first.cert_pem).unwrap();
    assert_eq!(a.as_ptr(), b.as_ptr(), "decoded once, shared");
    let p1 = Key::private(&first.key_pem, &first.cert_pem).unwrap();
    let p2 = Key::private(&first.key_pem, &first.cert_pem).unwrap();
    assert_eq!(p1.as_ptr(), p2.as_ptr());
    assert_ne!(
        p1.as_ptr(),
        a.as_ptr(),
        "a key pair and a certificate are distinct entries"
    );

    // Fill the cache with other certificates: the first ones are evicted.
    for i in 1..=keys::CAPACITY {
        let other = make_identity(&format!("cache {i}"), true);
        Key::from_cert(&other.cert_pem).unwrap();
        assert!(keys::cached_count() <= keys::CAPACITY);
    }
    let c = Key::from_cert(&first.cert_pem).unwrap();
    assert_ne!(a.as_ptr(), c.as_ptr(), "evicted, decoded again");
    // Still usable by whoever held them.
    assert!(verify_enveloped(&signed, &policy).is_ok());
    drop((a, b, c, p1, p2));
    assert!(verify_enveloped(&signed, &policy).is_ok());
    assert!(sign_enveloped(tmpl.as_bytes(), &first.key_pem, &first.cert_pem).is_ok());
}

mod encryption;
mod schema;
