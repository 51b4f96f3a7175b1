use super::*;
use crate::document::tests::{assert_schema_valid, build_example};
use crate::model::tests::example;
use crate::testutil::{run_tool, CERTS};
use crate::xml::{parse, NS_DS, NS_HL7FI};

fn identity() -> SigningIdentity {
    SigningIdentity::load(
        &CERTS.join("kanta-signing-853.key"),
        &CERTS.join("kanta-signing-853.pem"),
    )
    .expect("the demo signing identity loads")
}

fn signed_example() -> Vec<u8> {
    identity().sign(&build_example(&example())).expect("signs")
}

/// `xmlsec1 --verify` trusting only the demo CA; panics (never skips) without xmlsec1.
fn xmlsec1_verifies(xml: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.xml");
    std::fs::write(&path, xml).unwrap();
    let ca = CERTS.join("demo-ca.pem");
    run_tool(
        "xmlsec1",
        "xmlsec1",
        &[
            "--verify".as_ref(),
            "--enabled-reference-uris".as_ref(),
            "empty".as_ref(),
            "--trusted-pem".as_ref(),
            ca.as_os_str(),
            path.as_os_str(),
        ],
    )
}

#[test]
fn the_signed_document_verifies_with_the_xmlsec1_cli() {
    let signed = signed_example();
    let (ok, output) = xmlsec1_verifies(&signed);
    assert!(ok, "xmlsec1 --verify failed:\n{output}");
    assert!(output.contains("OK"), "{output}");
}

#[test]
fn a_changed_document_no_longer_verifies() {
    let signed = String::from_utf8(signed_example()).unwrap();
    let tampered = signed.replacen("Yhteydenotto: asiakasohjaus", "Yhteydenotto: muutettu", 1);
    assert_ne!(tampered, signed);
    let (ok, output) = xmlsec1_verifies(tampered.as_bytes());
    assert!(!ok, "a tampered document verified:\n{output}");
}

#[test]
fn the_signed_document_verifies_with_portti_xmlsec_against_the_pinned_certificate() {
    let signed = signed_example();
    let policy = portti_xmlsec::VerifyPolicy::new([identity().certificate_pem()]).unwrap();
    let verified = portti_xmlsec::verify_enveloped(&signed, &policy).expect("verifies");
    assert_eq!(verified.element, "ClinicalDocument");
    assert_eq!(verified.reference_uri, "");

    let other = std::fs::read(CERTS.join("kanta-signing-529.pem")).unwrap();
    let wrong = portti_xmlsec::VerifyPolicy::new([other]).unwrap();
    assert!(portti_xmlsec::verify_enveloped(&signed, &wrong).is_err());
}

#[test]
fn signing_fills_the_template_in_place_and_is_repeatable() {
    let signed = signed_example();
    assert_eq!(signed, signed_example(), "the same document signs to the same bytes");
    let root = parse(&signed).unwrap();
    let signatures = root.children.last().unwrap();
    assert!(signatures.is(NS_HL7FI, "signatures"));
    assert_eq!(signatures.children.len(), 1);
    let signature = &signatures.children[0];
    assert!(signature.is(NS_DS, "Signature"));
    let find = |path: &[&str]| {
        path.iter()
            .try_fold(signature, |e, name| e.children.iter().find(|c| c.is(NS_DS, name)))
            .unwrap_or_else(|| panic!("{path:?}"))
    };
    assert!(!find(&["SignedInfo", "Reference", "DigestValue"]).text.trim().is_empty());
    assert!(!find(&["SignatureValue"]).text.trim().is_empty());
    let certificate = find(&["KeyInfo", "X509Data", "X509Certificate"])
        .text
        .replace(['\n', '\r', ' '], "");
    let pem = String::from_utf8(identity().certificate_pem().to_vec()).unwrap();
    let pem_body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(certificate, pem_body);
    // Everything before the signature is unchanged.
    let unsigned = build_example(&example());
    let cut = |xml: &[u8]| {
        let text = String::from_utf8(xml.to_vec()).unwrap();
        let at = text.find("<hl7fi:signatures>").unwrap();
        text[..at].split_once("?>").unwrap().1.trim().to_owned()
    };
    assert_eq!(cut(&signed), cut(&unsigned));
    assert_schema_valid(&signed);
}

#[test]
fn missing_and_unusable_files_are_named() {
    let missing = CERTS.join("no-such-signing.key");
    let err = SigningIdentity::load(&missing, &CERTS.join("kanta-signing-853.pem")).unwrap_err();
    assert!(matches!(&err, SigningError::Read { path, .. } if path == &missing));
    assert!(err.to_string().contains("no-such-signing.key"), "{err}");

    // Key and certificate swapped.
    let err = SigningIdentity::load(
        &CERTS.join("kanta-signing-853.pem"),
        &CERTS.join("kanta-signing-853.key"),
    )
    .unwrap_err();
    assert!(matches!(err, SigningError::Invalid { .. }), "{err}");

    // A key that is not the certificate's.
    let err = SigningIdentity::load(
        &CERTS.join("kanta-signing-529.key"),
        &CERTS.join("kanta-signing-853.pem"),
    )
    .unwrap_err();
    assert!(matches!(err, SigningError::Invalid { .. }), "{err}");

    // An EC key cannot make the rsa-sha256 signature the contract requires.
    let err = SigningIdentity::load(&CERTS.join("ohjaus-853.key"), &CERTS.join("ohjaus-853.pem")).unwrap_err();
    assert!(matches!(err, SigningError::Invalid { .. }), "{err}");
    assert!(!format!("{:?}", identity()).contains("PRIVATE"));
}
