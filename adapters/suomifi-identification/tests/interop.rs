//! Interoperability of the ACS ([`parse_login_response`]) with SAML producers that share no code
//! with this crate's testkit:
//!
//! 1. pysaml2's IdP `Server` (tests/interop/pysaml2_idp.py): signs the assertion (RSA-SHA256,
//!    SHA-256), encrypts it (RSA-OAEP-MGF1P key transport) and generates its own IdP metadata,
//!    which is what the SP trusts here. Needs `pip install pysaml2` (and the `xmlsec1` binary,
//!    which pysaml2 runs); the tests FAIL, not skip, without it.
//! 2. The `xmlsec1` command line tool as the signer and encrypter of a Response written out by
//!    hand in this file (Shibboleth-like prefixes and indentation).
//!
//! Only the demo keys of certs-example/ are used.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use portti_suomifi_identification::testkit::{self, ACS_URL, IDP_ENTITY_ID, SP_ENTITY_ID};
use portti_suomifi_identification::{attr, loa, parse_login_response, sp_metadata, IdpMetadata, Login, SamlError};

const PIP_HINT: &str = "pysaml2 is required for this interop test: pip install pysaml2==7.5.5 \
                        (it also needs the xmlsec1 binary, Debian package xmlsec1)";

fn certs_example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../certs-example")
        .join(name)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "portti-interop-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("writing a temporary file");
        p
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Runs a command; panics with its output unless it succeeds.
fn run(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({e}); {PIP_HINT}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// ---------------------------------------------------------------------------------------------
// 1. pysaml2 as the IdP.

const PYSAML2_NAME_ID: &str = "AAdzZWNyZXQxpysaml2-interop";

struct Pysaml2Output {
    saml_response: String,
    idp_metadata: Vec<u8>,
    data_encryption: String,
}

/// Runs tests/interop/pysaml2_idp.py: a Response to `in_response_to` for the demo person,
/// assertion signed with saml-idp-signing-1 and encrypted with `data_encryption` (a choice of
/// the script) to the SP's demo encryption certificate.
fn pysaml2_response(in_response_to: &str, data_encryption: &str) -> Pysaml2Output {
    let dir = TempDir::new("pysaml2");
    let sp = testkit::sp_config();
    let sp_md = dir.write("sp-metadata.xml", sp_metadata(&sp).expect("the SP metadata").as_bytes());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/pysaml2_idp.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args(["--idp-key", path_str(&certs_example("saml-idp-signing-1.key"))])
        .args(["--idp-cert", path_str(&certs_example("saml-idp-signing-1.pem"))])
        .args(["--idp-entity-id", IDP_ENTITY_ID])
        .args([
            "--sp-encryption-cert",
            path_str(&certs_example("saml-sp-encryption.pem")),
        ])
        .args(["--sp-entity-id", SP_ENTITY_ID])
        .args(["--sp-metadata", path_str(&sp_md)])
        .args(["--acs-url", ACS_URL])
        .args(["--in-response-to", in_response_to])
        .args(["--name-id", PYSAML2_NAME_ID])
        .args(["--loa", loa::LOA3])
        .args(["--data-encryption", data_encryption])
        .args(["--out-dir", path_str(&dir.0)]);
    for (name, value) in [
        (attr::IDENTITY_CODE, testkit::DEMO_IDENTITY_CODE),
        (attr::GIVEN_NAME, "Nordea"),
        (attr::SURNAME, "Demo"),
        (attr::HOME_MUNICIPALITY, "853"),
    ] {
        cmd.args(["--attribute", &format!("{name}={value}")]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {PIP_HINT}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(3) && !stderr.contains("No module named 'saml2'"),
        "{PIP_HINT}\n{stderr}"
    );
    assert!(
        out.status.success(),
        "pysaml2_idp.py failed ({}):\n{}\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    let saml_response = String::from_utf8(dir.read("saml_response.b64")).expect("ASCII Base64");
    Pysaml2Output {
        saml_response,
        idp_metadata: dir.read("idp_metadata.xml"),
        data_encryption: String::from_utf8(dir.read("data_encryption.txt")).expect("a URI"),
    }
}

fn decoded(saml_response: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(saml_response.trim())
        .expect("Base64");
    String::from_utf8(bytes).expect("UTF-8 XML")
}

fn accept_pysaml2(out: &Pysaml2Output, in_response_to: &str) -> Result<Login, SamlError> {
    // The IdP as pysaml2 describes itself: its metadata, read as a local file.
    let idp = IdpMetadata::parse(&out.idp_metadata, None).expect("pysaml2's IdP metadata");
    assert_eq!(idp.entity_id, IDP_ENTITY_ID);
    idp.check_valid_at(Utc::now()).expect("pysaml2's metadata is valid now");
    // pysaml2 stamps the messages with the current time.
    parse_login_response(
        &testkit::sp_config(),
        &idp,
        &out.saml_response,
        in_response_to,
        Utc::now(),
    )
}

#[test]
fn pysaml2_idp_response_is_accepted() {
    for (data_encryption, uri) in [
        ("aes256-gcm", "http://www.w3.org/2009/xmlenc11#aes256-gcm"),
        ("aes128-cbc", "http://www.w3.org/2001/04/xmlenc#aes128-cbc"),
    ] {
        let in_response_to = format!("_pysaml2-{data_encryption}-0c2f7b4e9a1d3f5a");
        let out = pysaml2_response(&in_response_to, data_encryption);
        assert_eq!(out.data_encryption, uri);
        let xml = decoded(&out.saml_response);
        // What was sent really is pysaml2's encrypted assertion with the algorithms asked for.
        assert!(xml.contains("EncryptedAssertion"), "{xml}");
        assert!(
            !xml.contains(testkit::DEMO_IDENTITY_CODE),
            "the assertion is not encrypted"
        );
        assert!(xml.contains(uri), "{xml}");
        assert!(xml.contains("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"), "{xml}");

        let login = accept_pysaml2(&out, &in_response_to)
            .unwrap_or_else(|e| panic!("pysaml2's {data_encryption} Response refused: {} ({e})", e.reason()));
        assert_eq!(login.identity_code.as_deref(), Some(testkit::DEMO_IDENTITY_CODE));
        assert_eq!(login.given_name.as_deref(), Some("Nordea"));
        assert_eq!(login.family_name.as_deref(), Some("Demo"));
        assert_eq!(login.home_municipality.as_deref(), Some("853"));
        assert_eq!(login.name_id, PYSAML2_NAME_ID);
        assert_eq!(login.loa, loa::LOA3);
        assert_eq!(login.issuer, IDP_ENTITY_ID);
        assert_eq!(login.eidas, None);
        assert!(login.not_on_or_after > Utc::now());

        // The same Response to another request is refused: the acceptance is not vacuous.
        let other = accept_pysaml2(&out, "_another-request");
        assert_eq!(other.map_err(|e| e.reason()).err(), Some("unknown_in_response_to"));
        // And so is one whose assertion signature is checked against another IdP's key.
        let mut wrong_idp = IdpMetadata::parse(&out.idp_metadata, None).unwrap();
        wrong_idp.signing_certificates = vec![testkit::IDP_SIGNING_CERT_2.to_owned()];
        let refused = parse_login_response(
            &testkit::sp_config(),
            &wrong_idp,
            &out.saml_response,
            &in_response_to,
            Utc::now(),
        );
        assert_eq!(refused.map_err(|e| e.reason()).err(), Some("untrusted_key"));
    }
}

/// pysaml2 left to its own data cipher (it is not configurable, see pysaml2_idp.py) encrypts
/// the assertion with 3DES-CBC, which Suomi.fi does not use and the SP refuses.
#[test]
fn pysaml2_default_triple_des_is_refused() {
    let in_response_to = "_pysaml2-default-5a7c9e0b2d4f6a8c";
    let out = pysaml2_response(in_response_to, "pysaml2-default");
    let xml = decoded(&out.saml_response);
    assert!(
        xml.contains("http://www.w3.org/2001/04/xmlenc#tripledes-cbc"),
        "pysaml2's default data cipher is no longer 3DES: revisit pysaml2_idp.py\n{xml}"
    );
    let refused = accept_pysaml2(&out, in_response_to);
    assert_eq!(refused.map_err(|e| e.reason()).err(), Some("weak_algorithm"));
}

// ---------------------------------------------------------------------------------------------
// 2. xmlsec1 as the signer and encrypter.

const XMLSEC1_REQ: &str = "_8d1f3a5c7e9b0d2f4a6c8e1b3d5f7a9c";
const XMLSEC1_ASSERTION_ID: &str = "_a1b2c3d4e5f60718293a4b5c6d7e8f90";
const XMLSEC1_RESPONSE_ID: &str = "_f0e1d2c3b4a5968778695a4b3c2d1e0f";
const XMLSEC1_NAME_ID: &str = "AAdzZWNyZXQxeG1sc2VjMS1pbnRlcm9w";

fn t(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An enveloped signature template for `#id`: exclusive C14N, RSA-SHA256, SHA-256; xmlsec1
/// fills in DigestValue, SignatureValue and the certificate.
fn signature_template(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
        <ds:Reference URI="#{id}">
          <ds:Transforms>
            <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
            <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
          <ds:DigestValue/>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue/>
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate/>
        </ds:X509Data>
      </ds:KeyInfo>
    </ds:Signature>"##
    )
}

/// A Response as Shibboleth (Suomi.fi's IdP software) lays it out, written out by hand: the
/// assertion still in plaintext inside its EncryptedAssertion, with its own namespace
/// declarations (so that it can be encrypted on its own) and a signature template.
fn response_template(now: DateTime<Utc>) -> String {
    let until = t(now + Duration::minutes(5));
    let attribute = |name: &str, friendly: &str, value: &str| {
        format!(
            r#"
        <saml2:Attribute FriendlyName="{friendly}" Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
          <saml2:AttributeValue xsi:type="xs:string">{value}</saml2:AttributeValue>
        </saml2:Attribute>"#
        )
    };
    let attributes = [
        attribute(
            attr::IDENTITY_CODE,
            "nationalIdentificationNumber",
            testkit::DEMO_IDENTITY_CODE,
        ),
        attribute(attr::GIVEN_NAME, "givenName", "Nordea"),
        attribute(attr::SURNAME, "sn", "Demo"),
        attribute(attr::COMMON_NAME, "cn", "Demo Nordea"),
        attribute(attr::HOME_MUNICIPALITY, "KotikuntaKuntanumero", "853"),
    ]
    .concat();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" Destination="{ACS_URL}" ID="{XMLSEC1_RESPONSE_ID}" InResponseTo="{XMLSEC1_REQ}" IssueInstant="{now}" Version="2.0">
  <saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP_ENTITY_ID}</saml2:Issuer>
  <saml2p:Status>
    <saml2p:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>
  </saml2p:Status>
  <saml2:EncryptedAssertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"><saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{XMLSEC1_ASSERTION_ID}" IssueInstant="{now}" Version="2.0">
    <saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP_ENTITY_ID}</saml2:Issuer>
    {assertion_signature}
    <saml2:Subject>
      <saml2:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="{IDP_ENTITY_ID}" SPNameQualifier="{SP_ENTITY_ID}">{XMLSEC1_NAME_ID}</saml2:NameID>
      <saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml2:SubjectConfirmationData Address="192.0.2.10" InResponseTo="{XMLSEC1_REQ}" NotOnOrAfter="{until}" Recipient="{ACS_URL}"/>
      </saml2:SubjectConfirmation>
    </saml2:Subject>
    <saml2:Conditions NotBefore="{not_before}" NotOnOrAfter="{until}">
      <saml2:AudienceRestriction>
        <saml2:Audience>{SP_ENTITY_ID}</saml2:Audience>
      </saml2:AudienceRestriction>
    </saml2:Conditions>
    <saml2:AuthnStatement AuthnInstant="{now}" SessionIndex="_4a1b7c9d2e6f">
      <saml2:AuthnContext>
        <saml2:AuthnContextClassRef>{loa3}</saml2:AuthnContextClassRef>
        <saml2:AuthenticatingAuthority>https://tunnistus.example/nordea</saml2:AuthenticatingAuthority>
      </saml2:AuthnContext>
    </saml2:AuthnStatement>
    <saml2:AttributeStatement>{attributes}
    </saml2:AttributeStatement>
  </saml2:Assertion></saml2:EncryptedAssertion>
</saml2p:Response>
"#,
        now = t(now),
        not_before = t(now - Duration::seconds(5)),
        assertion_signature = signature_template(XMLSEC1_ASSERTION_ID),
        loa3 = loa::LOA3,
    )
}

/// The xmlenc template `xmlsec1 --encrypt` fills: EncryptedData (Type Element, `data_uri`) with
/// the session key wrapped by RSA-OAEP-MGF1P (SHA-1 digest) in its KeyInfo.
fn encryption_template(data_uri: &str) -> String {
    format!(
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">
  <xenc:EncryptionMethod Algorithm="{data_uri}"/>
  <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <xenc:EncryptedKey>
      <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p">
        <ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>
      </xenc:EncryptionMethod>
      <xenc:CipherData>
        <xenc:CipherValue/>
      </xenc:CipherData>
    </xenc:EncryptedKey>
  </ds:KeyInfo>
  <xenc:CipherData>
    <xenc:CipherValue/>
  </xenc:CipherData>
</xenc:EncryptedData>
"#
    )
}

/// `xmlsec1 --sign` of the element with the ID attribute `id_attr` (`ns:Element`) in `xml`.
fn xmlsec1_sign(dir: &TempDir, xml: &str, key: &str, cert: &str, id_attr: &str, name: &str) -> String {
    let input = dir.write(&format!("{name}.in.xml"), xml.as_bytes());
    let output = dir.0.join(format!("{name}.out.xml"));
    run(
        Command::new("xmlsec1")
            .arg("--sign")
            .args([
                "--privkey-pem",
                &format!("{},{}", path_str(&certs_example(key)), path_str(&certs_example(cert))),
            ])
            .args(["--id-attr:ID", id_attr])
            .args(["--output", path_str(&output)])
            .arg(&input),
        "xmlsec1 --sign (Debian package xmlsec1)",
    );
    String::from_utf8(dir.read(&format!("{name}.out.xml"))).expect("UTF-8")
}

/// `xmlsec1 --encrypt` of the Response's Assertion (inside its EncryptedAssertion) to the SP's
/// demo encryption certificate, with a fresh `session_key` (`aes-128`, `aes-256`).
fn xmlsec1_encrypt_assertion(dir: &TempDir, xml: &str, data_uri: &str, session_key: &str) -> String {
    let data = dir.write("plain.xml", xml.as_bytes());
    let template = dir.write("enc-template.xml", encryption_template(data_uri).as_bytes());
    let output = dir.0.join("encrypted.xml");
    run(
        Command::new("xmlsec1")
            .arg("--encrypt")
            .args(["--pubkey-cert-pem", path_str(&certs_example("saml-sp-encryption.pem"))])
            .args(["--session-key", session_key])
            .args(["--xml-data", path_str(&data)])
            .args([
                "--node-xpath",
                "/*[local-name()='Response']/*[local-name()='EncryptedAssertion']/*[local-name()='Assertion']",
            ])
            .args(["--output", path_str(&output)])
            .arg(&template),
        "xmlsec1 --encrypt (Debian package xmlsec1)",
    );
    String::from_utf8(dir.read("encrypted.xml")).expect("UTF-8")
}

#[test]
fn xmlsec1_signed_and_encrypted_response_is_accepted() {
    let now = testkit::now();
    let sp = testkit::sp_config();
    let idp = testkit::idp_metadata();
    for (data_uri, session_key, key, sign_response, expected_cert_index) in [
        // Assertion signed with the first rotation key, AES-128-GCM, unsigned Response.
        (
            "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            "aes-128",
            "saml-idp-signing-1",
            false,
            0,
        ),
        // Second rotation key, AES-256-CBC, and the Response signed too (over the ciphertext).
        (
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            "aes-256",
            "saml-idp-signing-2",
            true,
            1,
        ),
    ] {
        let dir = TempDir::new("xmlsec1");
        let (key_file, cert_file) = (format!("{key}.key"), format!("{key}.pem"));
        let template = response_template(now);
        let signed = xmlsec1_sign(
            &dir,
            &template,
            &key_file,
            &cert_file,
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "assertion",
        );
        assert!(!signed.contains("<ds:DigestValue/>"), "{signed}");
        let mut xml = xmlsec1_encrypt_assertion(&dir, &signed, data_uri, session_key);
        assert!(
            !xml.contains(testkit::DEMO_IDENTITY_CODE) && !xml.contains("<saml2:Assertion"),
            "the assertion is not encrypted:\n{xml}"
        );
        assert!(xml.contains(data_uri) && xml.contains("rsa-oaep-mgf1p"), "{xml}");
        if sign_response {
            // The Response's signature template goes after its Issuer (the only Issuer left in
            // plaintext), as the schema orders it.
            let with_template = xml.replacen(
                "</saml2:Issuer>",
                &format!("</saml2:Issuer>\n  {}", signature_template(XMLSEC1_RESPONSE_ID)),
                1,
            );
            xml = xmlsec1_sign(
                &dir,
                &with_template,
                &key_file,
                &cert_file,
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                "response",
            );
        }

        let encoded = testkit::post_encode(xml.as_bytes());
        let login = parse_login_response(&sp, &idp, &encoded, XMLSEC1_REQ, now)
            .unwrap_or_else(|e| panic!("xmlsec1's {data_uri} Response refused: {} ({e})\n{xml}", e.reason()));
        assert_eq!(login.assertion_id, XMLSEC1_ASSERTION_ID);
        assert_eq!(login.signing_cert_index, expected_cert_index);
        assert_eq!(login.name_id, XMLSEC1_NAME_ID);
        assert_eq!(login.session_index.as_deref(), Some("_4a1b7c9d2e6f"));
        assert_eq!(login.loa, loa::LOA3);
        assert_eq!(login.identity_code.as_deref(), Some(testkit::DEMO_IDENTITY_CODE));
        assert_eq!(login.given_name.as_deref(), Some("Nordea"));
        assert_eq!(login.family_name.as_deref(), Some("Demo"));
        assert_eq!(login.common_name.as_deref(), Some("Demo Nordea"));
        assert_eq!(login.home_municipality.as_deref(), Some("853"));
        assert_eq!(login.not_on_or_after, now + Duration::minutes(5));

        // Not vacuous: the same bytes for another request, or with one ciphertext byte changed,
        // are refused.
        let other = parse_login_response(&sp, &idp, &encoded, "_another-request", now);
        assert_eq!(other.map_err(|e| e.reason()).err(), Some("unknown_in_response_to"));
        if !sign_response {
            let tampered = tamper_data_cipher_value(&xml);
            let refused = parse_login_response(&sp, &idp, &testkit::post_encode(tampered.as_bytes()), XMLSEC1_REQ, now);
            let reason = refused.map_err(|e| e.reason()).err();
            assert!(
                matches!(reason, Some("decryption_failed" | "invalid_signature")),
                "{reason:?}"
            );
        }
    }
}

/// Flips one Base64 character in the middle of the EncryptedData's own (last) CipherValue.
fn tamper_data_cipher_value(xml: &str) -> String {
    let open = "<xenc:CipherValue>";
    let start = xml.rfind(open).expect("a CipherValue") + open.len();
    let end = start + xml[start..].find("</xenc:CipherValue>").expect("its end");
    let mut value: Vec<u8> = xml[start..end].bytes().collect();
    let i = value.len() / 2;
    let i = i + value[i..]
        .iter()
        .position(|b| b.is_ascii_alphanumeric())
        .expect("a Base64 char");
    value[i] = if value[i] == b'A' { b'B' } else { b'A' };
    format!("{}{}{}", &xml[..start], String::from_utf8(value).unwrap(), &xml[end..])
}
