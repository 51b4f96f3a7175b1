//! XML Encryption: round trips, interoperability with the `xmlsec1` command line tool in both
//! directions, and refusals.

use super::*;

/// The SP's encryption key pair (the recipient).
fn sp() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("SP encryption", false))
}

/// Another RSA key: not the recipient.
fn other_sp() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("Another SP", false))
}

const PERSON: &str = "010101-123N";

/// A Response whose Assertion `_a1` (inside EncryptedAssertion, signed by alice) waits to be
/// encrypted.
fn signed_response() -> Vec<u8> {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let sig = signature_template(uri::RSA_SHA256, &std_transforms(), uri::SHA256, "#_a1");
        let tmpl = format!(
            r#"<samlp:Response xmlns:samlp="{SAML_PROTOCOL}" xmlns:saml="{SAML_ASSERTION}" ID="_r1" Version="2.0" IssueInstant="2024-03-01T10:00:00Z" Destination="https://portti.example/saml/acs"><saml:Issuer>https://tunnistus.example/idp</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:EncryptedAssertion><saml:Assertion ID="_a1" Version="2.0" IssueInstant="2024-03-01T10:00:00Z"><saml:Issuer>https://tunnistus.example/idp</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">AAdzZWNyZXQx</saml:NameID></saml:Subject><saml:AttributeStatement><saml:Attribute Name="urn:oid:1.2.246.21"><saml:AttributeValue>{PERSON}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="urn:oid:2.5.4.3"><saml:AttributeValue>Åsa Mäkelä &amp; co</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></saml:EncryptedAssertion></samlp:Response>"#
        );
        let signed = sign_enveloped_with_id(
            tmpl.as_bytes(),
            &alice().key_pem,
            &alice().cert_pem,
            &IdAttribute::saml_assertion(),
        )
        .unwrap();
        verify_enveloped(&signed, &assertion_policy(alice())).unwrap();
        signed
    })
    .clone()
}

fn algs(data: DataAlgorithm) -> EncryptionAlgorithms {
    EncryptionAlgorithms {
        data,
        key_transport: KeyTransport::RsaOaepMgf1p,
    }
}

fn encrypted(data: DataAlgorithm) -> Vec<u8> {
    encrypt_element(
        &signed_response(),
        &ElementName::saml_assertion(),
        &sp().cert_pem,
        &algs(data),
    )
    .unwrap()
}

fn decrypt(xml: &[u8]) -> Result<Vec<u8>, XmlSecError> {
    decrypt_element(xml, &sp().key_pem, &ElementName::saml_encrypted_assertion())
}

/// Decrypted, the assertion inside EncryptedAssertion verifies with the IdP's key.
fn assert_decrypted_and_verified(decrypted: &[u8]) {
    let text = String::from_utf8(decrypted.to_vec()).unwrap();
    assert!(text.contains("<saml:EncryptedAssertion><saml:Assertion"), "{text}");
    assert!(!text.contains("EncryptedData"), "{text}");
    assert!(text.contains(PERSON));
    let v = verify_enveloped(decrypted, &assertion_policy(alice())).unwrap();
    assert_eq!((v.element.as_str(), v.id.as_deref()), ("Assertion", Some("_a1")));
}

/// Byte range of the text of the EncryptedKey's CipherValue (`key`, the first one) or of the
/// EncryptedData's (the last one).
fn cipher_value_range(doc: &str, key: bool) -> (usize, usize) {
    const OPEN: &str = "<xenc:CipherValue>";
    let start = if key { doc.find(OPEN) } else { doc.rfind(OPEN) }.unwrap() + OPEN.len();
    let end = doc[start..].find("</xenc:CipherValue>").unwrap() + start;
    (start, end)
}

fn cipher_value(doc: &str, key: bool) -> (usize, usize, Vec<u8>) {
    let (start, end) = cipher_value_range(doc, key);
    let b64: String = doc[start..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    (start, end, openssl::base64::decode_block(&b64).unwrap())
}

/// Flips one bit of the decoded CipherValue at `byte` (negative: from the end) of the
/// EncryptedData (`key` false) or the EncryptedKey (`key` true).
fn tamper_cipher_value(doc: &[u8], key: bool, byte: isize) -> Vec<u8> {
    let s = String::from_utf8(doc.to_vec()).unwrap();
    let (start, end, mut raw) = cipher_value(&s, key);
    let at = if byte < 0 {
        raw.len() - byte.unsigned_abs()
    } else {
        byte as usize
    };
    raw[at] ^= 0x01;
    format!("{}{}{}", &s[..start], openssl::base64::encode_block(&raw), &s[end..]).into_bytes()
}

// ---------------------------------------------------------------- xmlsec1 CLI

fn enc_template(data_uri: &str, key_uri: &str, key_method_body: &str) -> String {
    format!(
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{data_uri}"/><ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{key_uri}">{key_method_body}</xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#
    )
}

const SHA1_DIGEST: &str = r#"<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>"#;

/// Encrypts the Assertion of `xml` with the command line tool (`--session-key aes-<bits>`).
fn cli_encrypt(template: &str, xml: &[u8], session_key: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let tmpl = write(dir.path(), "tmpl.xml", template.as_bytes());
    let data = write(dir.path(), "data.xml", xml);
    let cert = write(dir.path(), "cert.pem", &sp().cert_pem);
    let out = dir.path().join("out.xml");
    let node = format!("{SAML_ASSERTION}:Assertion");
    let o = xmlsec1(&[
        "--encrypt",
        "--pubkey-cert-pem",
        &cert,
        "--session-key",
        session_key,
        "--xml-data",
        &data,
        "--node-name",
        &node,
        "--output",
        out.to_str().unwrap(),
        &tmpl,
    ]);
    assert!(
        o.status.success(),
        "xmlsec1 --encrypt failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(out).unwrap()
}

/// Encrypts `data` as binary with the command line tool: for plaintexts that are not one element.
fn cli_encrypt_binary(template: &str, data: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let tmpl = write(dir.path(), "tmpl.xml", template.as_bytes());
    let data = write(dir.path(), "data.bin", data);
    let cert = write(dir.path(), "cert.pem", &sp().cert_pem);
    let out = dir.path().join("out.xml");
    let o = xmlsec1(&[
        "--encrypt",
        "--pubkey-cert-pem",
        &cert,
        "--session-key",
        "aes-256",
        "--binary-data",
        &data,
        "--output",
        out.to_str().unwrap(),
        &tmpl,
    ]);
    assert!(
        o.status.success(),
        "xmlsec1 --encrypt failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(out).unwrap()
}

fn cli_decrypt(xml: &[u8], key_pem: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "enc.xml", xml);
    let key = write(dir.path(), "key.pem", key_pem);
    let out = dir.path().join("out.xml");
    let o = xmlsec1(&[
        "--decrypt",
        "--privkey-pem",
        &key,
        "--output",
        out.to_str().unwrap(),
        &file,
    ]);
    o.status.success().then(|| std::fs::read(out).unwrap())
}

/// The Response with the Assertion wrapped as `<saml:EncryptedAssertion>{encrypted_data}`.
fn response_around(encrypted_data: &str) -> String {
    let s = String::from_utf8(signed_response()).unwrap();
    let start = s.find("<saml:EncryptedAssertion>").unwrap() + "<saml:EncryptedAssertion>".len();
    let end = s.find("</saml:EncryptedAssertion>").unwrap();
    format!("{}{}{}", &s[..start], encrypted_data, &s[end..])
}

// ---------------------------------------------------------------- positive

#[test]
fn round_trip_every_algorithm() {
    for data in DataAlgorithm::ALL {
        let enc = encrypted(data);
        let text = String::from_utf8(enc.clone()).unwrap();
        assert!(!text.contains(PERSON), "{data:?}: plaintext visible");
        assert!(!text.contains("<saml:Assertion"), "{data:?}");
        assert!(
            text.contains(&format!(
                r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{}"/>"#,
                data.uri()
            )),
            "{text}"
        );
        assert!(text.contains(uri::RSA_OAEP_MGF1P), "{text}");
        assert!(text.contains("<ds:X509Certificate>"), "{text}");
        assert_decrypted_and_verified(&decrypt(&enc).unwrap());
    }
    assert_eq!(EncryptionAlgorithms::default(), algs(DataAlgorithm::Aes256Gcm));
}

#[test]
fn fresh_session_key_every_time() {
    let a = encrypted(DataAlgorithm::Aes256Gcm);
    let b = encrypted(DataAlgorithm::Aes256Gcm);
    assert_ne!(a, b);
}

#[test]
fn xmlsec1_cli_decrypts_ours() {
    for data in DataAlgorithm::ALL {
        let enc = encrypted(data);
        let out = cli_decrypt(&enc, &sp().key_pem).unwrap_or_else(|| panic!("{data:?}: xmlsec1 --decrypt failed"));
        assert_decrypted_and_verified(&out);
        assert!(cli_decrypt(&enc, &other_sp().key_pem).is_none(), "{data:?}: other key");
    }
}

#[test]
fn we_decrypt_xmlsec1_cli_output() {
    for (data, session) in [
        (DataAlgorithm::Aes256Gcm, "aes-256"),
        (DataAlgorithm::Aes128Gcm, "aes-128"),
        (DataAlgorithm::Aes256Cbc, "aes-256"),
        (DataAlgorithm::Aes128Cbc, "aes-128"),
    ] {
        for body in ["", SHA1_DIGEST] {
            let tmpl = enc_template(data.uri(), uri::RSA_OAEP_MGF1P, body);
            let enc = cli_encrypt(&tmpl, &signed_response(), session);
            assert!(!String::from_utf8_lossy(&enc).contains(PERSON));
            let out = decrypt(&enc).unwrap_or_else(|e| panic!("{data:?} {body:?}: {e}"));
            assert_decrypted_and_verified(&out);
        }
    }
}

#[test]
fn committed_demo_keys_work() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example");
    let key = std::fs::read(dir.join("saml-sp-encryption.key")).unwrap();
    let cert = std::fs::read(dir.join("saml-sp-encryption.pem")).unwrap();
    let enc = encrypt_element(
        &signed_response(),
        &ElementName::saml_assertion(),
        &cert,
        &EncryptionAlgorithms::default(),
    )
    .unwrap();
    let out = decrypt_element(&enc, &key, &ElementName::saml_encrypted_assertion()).unwrap();
    assert_decrypted_and_verified(&out);
    assert_eq!(
        decrypt(&enc),
        Err(XmlSecError::DecryptionFailed),
        "encrypted for the demo key, not the test key"
    );
}

#[test]
fn encrypt_any_element_without_namespace() {
    let xml = b"<root><wrap><secret a=\"1\">x &lt; y</secret></wrap><other/></root>";
    let enc = encrypt_element(
        xml,
        &ElementName::new("", "secret"),
        &sp().cert_pem,
        &EncryptionAlgorithms::default(),
    )
    .unwrap();
    assert!(!String::from_utf8_lossy(&enc).contains("x &lt; y"));
    let out = decrypt_element(&enc, &sp().key_pem, &ElementName::new("", "wrap")).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("<root><wrap><secret a=\"1\">x &lt; y</secret></wrap><other/></root>"),
        "{out}"
    );
    // The root as the container: the EncryptedData must be its only child.
    let xml = b"<root><secret>x</secret></root>";
    let enc = encrypt_element(
        xml,
        &ElementName::new("", "secret"),
        &sp().cert_pem,
        &EncryptionAlgorithms::default(),
    )
    .unwrap();
    let out = decrypt_element(&enc, &sp().key_pem, &ElementName::new("", "root")).unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("<root><secret>x</secret></root>"));
}

#[test]
fn many_threads_at_once() {
    let response = signed_response();
    std::thread::scope(|s| {
        for t in 0..8 {
            let response = &response;
            s.spawn(move || {
                for i in 0..6 {
                    let data = DataAlgorithm::ALL[(t + i) % 4];
                    let enc =
                        encrypt_element(response, &ElementName::saml_assertion(), &sp().cert_pem, &algs(data)).unwrap();
                    assert_decrypted_and_verified(&decrypt(&enc).unwrap());
                    assert_eq!(
                        decrypt(&tamper_cipher_value(&enc, false, 20)),
                        Err(XmlSecError::DecryptionFailed)
                    );
                }
            });
        }
    });
}

// ---------------------------------------------------------------- keys and tampering

#[test]
fn wrong_private_key_fails() {
    for data in DataAlgorithm::ALL {
        let enc = encrypted(data);
        assert_eq!(
            decrypt_element(&enc, &other_sp().key_pem, &ElementName::saml_encrypted_assertion()),
            Err(XmlSecError::DecryptionFailed)
        );
    }
}

#[test]
fn unusable_keys_are_refused() {
    let enc = encrypted(DataAlgorithm::Aes256Gcm);
    let container = ElementName::saml_encrypted_assertion();
    for (name, key) in [
        ("certificate", sp().cert_pem.clone()),
        ("public key", sp().pkey.public_key_to_pem().unwrap()),
        ("EC key", ec_signer().key_pem.clone()),
        (
            "garbage",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
        ),
        ("empty", Vec::new()),
    ] {
        assert!(
            matches!(decrypt_element(&enc, &key, &container), Err(XmlSecError::InvalidKey(_))),
            "{name}"
        );
    }
    let encrypted_pem = sp()
        .pkey
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_128_cbc(), b"secret")
        .unwrap();
    assert!(matches!(
        decrypt_element(&enc, &encrypted_pem, &container),
        Err(XmlSecError::InvalidKey(_))
    ));
    // Encrypting for a certificate without an RSA key, or for no certificate.
    for cert in [&ec_signer().cert_pem, &sp().key_pem] {
        assert!(matches!(
            encrypt_element(
                &signed_response(),
                &ElementName::saml_assertion(),
                cert,
                &EncryptionAlgorithms::default()
            ),
            Err(XmlSecError::InvalidKey(_))
        ));
    }
}

#[test]
fn tampered_ciphertext_fails_the_same_way() {
    for data in DataAlgorithm::ALL {
        let enc = encrypted(data);
        // First byte (IV), a middle byte, the last byte (GCM tag / CBC padding block), and the
        // wrapped key: one and the same error for all.
        for (key, byte) in [
            (false, 0),
            (false, 40),
            (false, -1),
            (false, -17),
            (true, 0),
            (true, -1),
        ] {
            let bad = tamper_cipher_value(&enc, key, byte);
            assert_eq!(
                decrypt(&bad),
                Err(XmlSecError::DecryptionFailed),
                "{data:?} key={key} byte={byte}"
            );
        }
    }
}

#[test]
fn cbc_without_valid_padding_and_with_garbled_xml_is_one_error() {
    // Truncating the CBC ciphertext by a block keeps the padding check meaningful but cuts the
    // XML; swapping a middle block keeps the padding but garbles the XML.
    let enc = String::from_utf8(encrypted(DataAlgorithm::Aes128Cbc)).unwrap();
    let (start, end, raw) = cipher_value(&enc, false);
    assert!(raw.len() > 64 && raw.len() % 16 == 0);
    let truncated = raw[..raw.len() - 16].to_vec();
    let mut swapped = raw.clone();
    swapped[16..32].copy_from_slice(&raw[32..48]);
    swapped[32..48].copy_from_slice(&raw[16..32]);
    for variant in [truncated, swapped] {
        let doc = format!(
            "{}{}{}",
            &enc[..start],
            openssl::base64::encode_block(&variant),
            &enc[end..]
        );
        assert_eq!(decrypt(doc.as_bytes()), Err(XmlSecError::DecryptionFailed));
    }
}

#[test]
fn plaintext_must_be_one_element() {
    for plaintext in [
        &b"<saml:Assertion xmlns:saml=\"urn:x\"/><b/>"[..],
        b"just text",
        b"<a>unclosed",
    ] {
        let enc = cli_encrypt_binary(&enc_template(uri::AES256_GCM, uri::RSA_OAEP_MGF1P, ""), plaintext);
        let body = String::from_utf8(enc).unwrap();
        let body = body.split_once("?>").map(|(_, b)| b.trim()).unwrap_or(&body).to_owned();
        let doc = response_around(&body);
        assert_eq!(
            decrypt(doc.as_bytes()),
            Err(XmlSecError::DecryptionFailed),
            "{}",
            String::from_utf8_lossy(plaintext)
        );
    }
    // Control: the same path with one element works.
    let enc = cli_encrypt_binary(
        &enc_template(uri::AES256_GCM, uri::RSA_OAEP_MGF1P, ""),
        b"<saml:Assertion ID=\"_x\"/>",
    );
    let body = String::from_utf8(enc).unwrap();
    let body = body.split_once("?>").map(|(_, b)| b.trim()).unwrap_or(&body).to_owned();
    let out = String::from_utf8(decrypt(response_around(&body).as_bytes()).unwrap()).unwrap();
    assert!(
        out.contains("<saml:EncryptedAssertion><saml:Assertion ID=\"_x\"/></saml:EncryptedAssertion>"),
        "{out}"
    );
}

// ---------------------------------------------------------------- algorithms

#[test]
fn rsa_pkcs1_v15_key_transport_is_refused() {
    let tmpl = enc_template(uri::AES256_GCM, uri::RSA_1_5, "");
    let enc = cli_encrypt(&tmpl, &signed_response(), "aes-256");
    let out = cli_decrypt(&enc, &sp().key_pem).expect("fixture decrypts with the CLI");
    assert_decrypted_and_verified(&out);
    assert_eq!(
        decrypt(&enc),
        Err(XmlSecError::DisallowedAlgorithm {
            what: "EncryptedKey EncryptionMethod",
            algorithm: uri::RSA_1_5.into()
        })
    );
}

#[test]
fn other_algorithms_are_refused() {
    let enc = String::from_utf8(encrypted(DataAlgorithm::Aes256Gcm)).unwrap();
    for (from, to, what) in [
        (
            uri::AES256_GCM,
            "http://www.w3.org/2009/xmlenc11#aes192-gcm",
            "EncryptionMethod",
        ),
        (
            uri::AES256_GCM,
            "http://www.w3.org/2001/04/xmlenc#tripledes-cbc",
            "EncryptionMethod",
        ),
        (
            uri::RSA_OAEP_MGF1P,
            uri::RSA_OAEP_XMLENC11,
            "EncryptedKey EncryptionMethod",
        ),
        (
            uri::RSA_OAEP_MGF1P,
            "http://www.w3.org/2001/04/xmlenc#kw-aes256",
            "EncryptedKey EncryptionMethod",
        ),
        (
            uri::SHA1,
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "EncryptedKey DigestMethod",
        ),
    ] {
        let bad = enc.replacen(from, to, 1);
        assert_eq!(
            decrypt(bad.as_bytes()),
            Err(XmlSecError::DisallowedAlgorithm {
                what,
                algorithm: to.into()
            }),
            "{to}"
        );
    }
    // OAEPparams are not accepted either.
    let params = enc.replacen(
        "</xenc:EncryptionMethod><ds:KeyInfo>",
        "<xenc:OAEPparams>AAAA</xenc:OAEPparams></xenc:EncryptionMethod><ds:KeyInfo>",
        1,
    );
    assert_ne!(params, enc, "fixture layout");
    assert!(matches!(
        decrypt(params.as_bytes()),
        Err(XmlSecError::MalformedEncryption(_))
    ));
}

/// The fences inside the shim hold without the Rust-side checks: only RSA-OAEP unwraps a key,
/// only the named data algorithm decrypts.
#[test]
fn libxmlsec1_fences_hold_without_the_rust_checks() {
    init().unwrap();
    let key = Key::rsa_private(&sp().key_pem).unwrap();
    let raw_decrypt = |xml: &[u8], code: i32| -> i32 {
        let doc = Doc::parse(xml).unwrap();
        let all = doc.root().unwrap().descendants_or_self();
        let data = *all.iter().find(|n| n.is(uri::XMLENC_NS, "EncryptedData")).unwrap();
        let key_node = *all.iter().find(|n| n.is(uri::XMLENC_NS, "EncryptedKey")).unwrap();
        unsafe { ffi::portti_decrypt(data.as_ptr(), key_node.as_ptr(), key.as_ptr(), code) }
    };
    let ours = encrypted(DataAlgorithm::Aes256Cbc);
    assert_eq!(raw_decrypt(&ours, 4), 0, "control");
    assert_ne!(
        raw_decrypt(&ours, 2),
        0,
        "aes256-cbc data under an aes256-gcm-only context"
    );
    assert_ne!(
        raw_decrypt(&ours, 3),
        0,
        "aes256-cbc data under an aes128-cbc-only context"
    );
    let pkcs1 = cli_encrypt(
        &enc_template(uri::AES256_GCM, uri::RSA_1_5, ""),
        &signed_response(),
        "aes-256",
    );
    assert_ne!(raw_decrypt(&pkcs1, 2), 0, "rsa-1_5 under an rsa-oaep-only context");
    let control = cli_encrypt(
        &enc_template(uri::AES256_GCM, uri::RSA_OAEP_MGF1P, ""),
        &signed_response(),
        "aes-256",
    );
    assert_eq!(raw_decrypt(&control, 2), 0, "control (CLI)");

    // CipherReference to a local file holding the very ciphertext: the CLI decrypts it, the
    // shim cannot read it (no URI enabled, and no IO callbacks in this process).
    let text = String::from_utf8(ours.clone()).unwrap();
    let (start, end, raw) = cipher_value(&text, false);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "cipher.bin", &raw);
    let cv_start = start - "<xenc:CipherValue>".len();
    let cv_end = end + "</xenc:CipherValue>".len();
    let referenced = format!(
        "{}<xenc:CipherReference URI=\"file://{file}\"/>{}",
        &text[..cv_start],
        &text[cv_end..]
    );
    let cli = {
        let enc = write(dir.path(), "enc.xml", referenced.as_bytes());
        let key = write(dir.path(), "key.pem", &sp().key_pem);
        xmlsec1(&["--decrypt", "--privkey-pem", &key, &enc])
    };
    assert!(
        cli.status.success() && String::from_utf8_lossy(&cli.stdout).contains(PERSON),
        "control: the CLI follows the CipherReference: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_ne!(raw_decrypt(referenced.as_bytes(), 4), 0, "CipherReference followed");
    assert!(matches!(
        decrypt(referenced.as_bytes()),
        Err(XmlSecError::MalformedEncryption(_))
    ));
}

// ---------------------------------------------------------------- structure

#[test]
fn structure_is_checked() {
    let enc = String::from_utf8(encrypted(DataAlgorithm::Aes256Gcm)).unwrap();
    let start = enc.find("<xenc:EncryptedData").unwrap();
    let end = enc.find("</xenc:EncryptedData>").unwrap() + "</xenc:EncryptedData>".len();
    let data = &enc[start..end];

    // Two EncryptedData, none, no container, two containers.
    let two = format!("{}{}{}", &enc[..end], data, &enc[end..]);
    assert_eq!(decrypt(two.as_bytes()), Err(XmlSecError::MultipleEncryptedData(2)));
    let none = format!("{}{}", &enc[..start], &enc[end..]);
    assert!(matches!(decrypt(none.as_bytes()), Err(XmlSecError::NoEncryptedData(_))));
    assert!(matches!(
        decrypt(
            &signed_response().as_slice()[..0]
                .iter()
                .chain(b"<a/>")
                .copied()
                .collect::<Vec<_>>()
        ),
        Err(XmlSecError::ElementNotFound(_))
    ));
    let two_containers = enc.replacen("<samlp:Status>", "<saml:EncryptedAssertion/><samlp:Status>", 1);
    assert!(matches!(
        decrypt(two_containers.as_bytes()),
        Err(XmlSecError::ElementNotUnique { count: 2, .. })
    ));
    // EncryptedData elsewhere than directly in the container.
    let nested = enc.replacen(data, &format!("<saml:Wrapper>{data}</saml:Wrapper>"), 1);
    assert!(matches!(
        decrypt(nested.as_bytes()),
        Err(XmlSecError::NoEncryptedData(_))
    ));

    let malformed = |doc: String, why: &str| {
        assert!(
            matches!(decrypt(doc.as_bytes()), Err(XmlSecError::MalformedEncryption(_))),
            "{why}: {:?}",
            decrypt(doc.as_bytes())
        );
    };
    // Peer EncryptedKey (RetrievalMethod style) and other children of the container.
    let key_start = enc.find("<xenc:EncryptedKey").unwrap();
    let key_end = enc.find("</xenc:EncryptedKey>").unwrap() + "</xenc:EncryptedKey>".len();
    let key = &enc[key_start..key_end];
    let peer_key = key.replacen(
        "<xenc:EncryptedKey>",
        r#"<xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">"#,
        1,
    );
    malformed(
        format!("{}{}{}", &enc[..end], peer_key, &enc[end..]),
        "peer EncryptedKey",
    );
    malformed(
        enc.replacen(
            key,
            r##"<ds:RetrievalMethod URI="#_k" Type="http://www.w3.org/2001/04/xmlenc#EncryptedKey"/>"##,
            1,
        ),
        "RetrievalMethod",
    );
    malformed(enc.replacen(key, "<ds:KeyName>sp</ds:KeyName>", 1), "KeyName only");
    malformed(
        enc.replacen(key, &format!("<ds:KeyName>sp</ds:KeyName>{key}"), 1),
        "KeyName beside the EncryptedKey",
    );
    assert_eq!(
        decrypt(enc.replacen(key, &format!("{key}{key}"), 1).as_bytes()),
        Err(XmlSecError::EncryptedKeyCount(2))
    );
    assert_eq!(
        decrypt(enc.replacen(key, "", 1).as_bytes()),
        Err(XmlSecError::EncryptedKeyCount(0))
    );
    malformed(
        enc.replacen(uri::XMLENC_ELEMENT, "http://www.w3.org/2001/04/xmlenc#Content", 1),
        "Type Content",
    );
    malformed(
        enc.replacen(&format!(" Type=\"{}\"", uri::XMLENC_ELEMENT), "", 1),
        "no Type",
    );
    // CipherReference (external data) in EncryptedData and in EncryptedKey.
    let last_cv = enc.rfind("<xenc:CipherValue>").unwrap();
    let last_cv_end = enc.rfind("</xenc:CipherValue>").unwrap() + "</xenc:CipherValue>".len();
    malformed(
        format!(
            "{}<xenc:CipherReference URI=\"file:///etc/passwd\"/>{}",
            &enc[..last_cv],
            &enc[last_cv_end..]
        ),
        "CipherReference",
    );
    let first_cv = enc.find("<xenc:CipherValue>").unwrap();
    let first_cv_end = enc.find("</xenc:CipherValue>").unwrap() + "</xenc:CipherValue>".len();
    malformed(
        format!(
            "{}<xenc:CipherReference URI=\"http://127.0.0.1:9/k\"/>{}",
            &enc[..first_cv],
            &enc[first_cv_end..]
        ),
        "CipherReference in EncryptedKey",
    );
    malformed(
        enc.replacen(
            "</xenc:EncryptedData>",
            "<xenc:EncryptionProperties/></xenc:EncryptedData>",
            1,
        ),
        "EncryptionProperties",
    );
    malformed(
        enc.replacen("</xenc:EncryptedData>", "</xenc:EncryptedData><saml:Extra/>", 1),
        "another child of the container",
    );
}

// ---------------------------------------------------------------- hostile input

#[test]
fn doctype_is_refused() {
    let enc = String::from_utf8(encrypted(DataAlgorithm::Aes256Gcm)).unwrap();
    let body = enc.split_once("?>").map(|(_, b)| b).unwrap();
    for dtd in [
        "<!DOCTYPE samlp:Response>".to_owned(),
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>".to_owned(),
        "<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/x.dtd\">".to_owned(),
    ] {
        assert_eq!(
            decrypt(format!("<?xml version=\"1.0\"?>{dtd}{body}").as_bytes()),
            Err(XmlSecError::DoctypeRefused)
        );
    }
    let tmpl = format!(
        "<!DOCTYPE samlp:Response>{}",
        String::from_utf8(signed_response())
            .unwrap()
            .split_once("?>")
            .unwrap()
            .1
    );
    assert_eq!(
        encrypt_element(
            tmpl.as_bytes(),
            &ElementName::saml_assertion(),
            &sp().cert_pem,
            &EncryptionAlgorithms::default()
        ),
        Err(XmlSecError::DoctypeRefused)
    );
}

#[test]
fn encrypt_target_must_be_unique() {
    let cert = &sp().cert_pem;
    let a = EncryptionAlgorithms::default();
    assert!(matches!(
        encrypt_element(b"<a/>", &ElementName::saml_assertion(), cert, &a),
        Err(XmlSecError::ElementNotFound(_))
    ));
    assert!(matches!(
        encrypt_element(b"<a><b/><b/></a>", &ElementName::new("", "b"), cert, &a),
        Err(XmlSecError::ElementNotUnique { count: 2, .. })
    ));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let container = ElementName::saml_encrypted_assertion();
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\0".to_vec(),
        vec![0xff; 64],
        b"<".to_vec(),
        b"<saml:EncryptedAssertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion>".to_vec(),
        "<a>".repeat(100_000).into_bytes(),
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for len in [1usize, 16, 300, 4096] {
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
        assert!(decrypt_element(input, &sp().key_pem, &container).is_err());
        assert!(encrypt_element(
            input,
            &ElementName::saml_assertion(),
            &sp().cert_pem,
            &EncryptionAlgorithms::default()
        )
        .is_err());
    }
    // Every truncation of an encrypted document.
    let enc = encrypted(DataAlgorithm::Aes128Gcm);
    for cut in (0..enc.len() - 2).step_by(7) {
        assert!(decrypt(&enc[..cut]).is_err(), "prefix of {cut} bytes");
    }
    // Empty, non-base64 and huge-looking cipher values.
    let s = String::from_utf8(enc).unwrap();
    let (start, end) = cipher_value_range(&s, true);
    for value in ["", "!!!!", "AAAA", &"QUFB".repeat(5000)] {
        let bad = format!("{}{}{}", &s[..start], value, &s[end..]);
        assert_eq!(
            decrypt(bad.as_bytes()),
            Err(XmlSecError::DecryptionFailed),
            "{}",
            value.len()
        );
    }
}
