//! The simulator over real HTTP, played from the service provider's side: requests are built here (DEFLATE and
//! an RSA-SHA256 query signature with the SP's demo key, by flate2 and openssl directly), responses are
//! decrypted and verified with portti-xmlsec as the gateway would.

use super::xml::{self, Element, MD, SAML, SAMLP};
use super::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use portti_xmlsec::{ElementName, IdAttribute, VerifyPolicy, XmlSecError};
use std::io::Write;

const SP_ENTITY: &str = "https://portti.sandbox.invalid/saml/sp";

fn demo(name: &str) -> Vec<u8> {
    std::fs::read(certs_example().join(name)).unwrap()
}

fn sp() -> SpEndpoints {
    SpEndpoints {
        entity_id: SP_ENTITY.into(),
        acs_url: "http://127.0.0.1:9/saml/acs".into(),
        slo_url: "http://127.0.0.1:9/saml/slo".into(),
    }
}

async fn sandbox() -> Running {
    start_with(Config::sandbox(sp())).await
}

async fn start_with(config: Config) -> Running {
    start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn now() -> String {
    protocol::instant(Utc::now())
}

fn authn_request(id: &str, destination: &str, issuer: &str, issue_instant: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issue_instant}" Destination="{destination}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{issuer}</saml:Issuer><samlp:Extensions><vetuma xmlns="urn:vetuma:SAML:2.0:extensions"><LG>sv</LG></vetuma></samlp:Extensions><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/><samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>http://ftn.ficora.fi/2017/loa3</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#,
        acs = sp().acs_url
    )
}

fn pct(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The HTTP-Redirect query, built independently of the simulator's own binding code.
fn redirect_query(param: &str, xml: &str, relay_state: Option<&str>, key_pem: &[u8]) -> String {
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflater.write_all(xml.as_bytes()).unwrap();
    let mut query = format!("{param}={}", pct(&B64.encode(deflater.finish().unwrap())));
    if let Some(rs) = relay_state {
        query.push_str(&format!("&RelayState={}", pct(rs)));
    }
    query.push_str(&format!("&SigAlg={}", pct(binding::RSA_SHA256)));
    let key = openssl::pkey::PKey::private_key_from_pem(key_pem).unwrap();
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    signer.update(query.as_bytes()).unwrap();
    query.push_str(&format!(
        "&Signature={}",
        pct(&B64.encode(signer.sign_to_vec().unwrap()))
    ));
    query
}

async fn get(url: &str) -> (u16, String, Option<String>) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    (status, r.text().await.unwrap(), location)
}

/// Log in through the SSO endpoint; returns the auto-post form.
async fn login(idp: &Running, id: &str) -> AutoPostForm {
    let xml = authn_request(id, &idp.control().sso_url(), SP_ENTITY, &now());
    let query = redirect_query("SAMLRequest", &xml, Some("rs-123"), &demo("saml-sp-signing.key"));
    let (status, body, _) = get(&format!("{}/idp/sso?{query}", idp.base_url())).await;
    assert_eq!(status, 200, "{body}");
    AutoPostForm::parse(&body).expect("an auto-post form")
}

/// Every EncryptedAssertion of the Response decrypted in place with the SP's encryption key.
fn decrypt_all(response_xml: &str) -> Result<String, XmlSecError> {
    const OPEN: &str = "<saml:EncryptedAssertion";
    const CLOSE: &str = "</saml:EncryptedAssertion>";
    let mut out = String::new();
    let mut rest = response_xml;
    while let Some(start) = rest.find(OPEN) {
        let end = rest[start..].find(CLOSE).unwrap() + start + CLOSE.len();
        out.push_str(&rest[..start]);
        let decrypted = portti_xmlsec::decrypt_element(
            &rest.as_bytes()[start..end],
            &demo("saml-sp-encryption.key"),
            &ElementName::saml_encrypted_assertion(),
        )?;
        let decrypted = String::from_utf8(decrypted).unwrap();
        let decrypted = decrypted.trim_start();
        let decrypted = match decrypted.strip_prefix("<?xml") {
            Some(r) => r.split_once("?>").unwrap().1.trim(),
            None => decrypted,
        };
        out.push_str(decrypted);
        rest = &rest[end..];
    }
    out.push_str(rest);
    Ok(out)
}

fn assertion_policy() -> VerifyPolicy {
    VerifyPolicy::new([demo("saml-idp-signing-1.pem"), demo("saml-idp-signing-2.pem")])
        .unwrap()
        .with_id_attribute(IdAttribute::saml_assertion())
}

fn verify_assertion(xml: &str) -> Result<portti_xmlsec::Verified, XmlSecError> {
    portti_xmlsec::verify_enveloped(xml.as_bytes(), &assertion_policy())
}

fn find<'e>(e: &'e Element, ns: &str, name: &str) -> Vec<&'e Element> {
    let mut all = vec![e];
    all.extend(e.descendants());
    all.into_iter().filter(|d| d.is(ns, name)).collect()
}

fn one<'e>(e: &'e Element, ns: &str, name: &str) -> &'e Element {
    let found = find(e, ns, name);
    assert_eq!(found.len(), 1, "{name}");
    found[0]
}

fn attribute(assertion: &Element, name: &str) -> Option<String> {
    find(assertion, SAML, "Attribute")
        .into_iter()
        .find(|a| a.attr("Name") == Some(name))
        .map(|a| a.child(SAML, "AttributeValue").unwrap().text())
}

/// An attribute of this assertion's own AttributeStatement (not of one nested in its Advice).
fn own_attribute(assertion: &Element, name: &str) -> Option<String> {
    assertion
        .child(SAML, "AttributeStatement")?
        .children_named(SAML, "Attribute")
        .find(|a| a.attr("Name") == Some(name))
        .map(|a| a.child(SAML, "AttributeValue").unwrap().text())
}

fn instant_of(e: &Element, attr: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(e.attr(attr).unwrap()).unwrap().into()
}

#[tokio::test]
async fn metadata_carries_two_signing_certificates() {
    let idp = sandbox().await;
    let r = client()
        .get(format!("{}/idp/metadata", idp.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/samlmetadata+xml");
    let md = xml::parse(&r.bytes().await.unwrap()).unwrap();
    assert!(md.is(MD, "EntityDescriptor"));
    assert_eq!(md.attr("entityID"), Some(SANDBOX_ENTITY_ID));
    let idp_sso = md.child(MD, "IDPSSODescriptor").unwrap();
    assert_eq!(idp_sso.attr("WantAuthnRequestsSigned"), Some("true"));
    let certs: Vec<String> = idp_sso
        .children_named(MD, "KeyDescriptor")
        .map(|k| {
            assert_eq!(k.attr("use"), Some("signing"));
            one(k, xml::DS, "X509Certificate").text()
        })
        .collect();
    let expected: Vec<String> = ["saml-idp-signing-1.pem", "saml-idp-signing-2.pem"]
        .iter()
        .map(|f| protocol::cert_der_b64(&demo(f)).unwrap())
        .collect();
    assert_eq!(certs, expected);
    for (service, path) in [("SingleSignOnService", "sso"), ("SingleLogoutService", "slo")] {
        let s = idp_sso.child(MD, service).unwrap();
        assert_eq!(s.attr("Binding"), Some(protocol::HTTP_REDIRECT));
        assert_eq!(s.attr("Location").unwrap(), format!("{}/idp/{path}", idp.base_url()));
    }
    assert_eq!(idp_sso.child(MD, "NameIDFormat").unwrap().text(), protocol::TRANSIENT);
    assert!(
        find(&md, xml::DS, "Signature").is_empty(),
        "the sandbox metadata is unsigned"
    );
}

#[tokio::test]
async fn signed_metadata_and_the_unknown_signer_fault() {
    let mut config = Config::sandbox(sp());
    config.sign_metadata = true;
    let idp = start_with(config).await;
    let policy = VerifyPolicy::new([demo("saml-idp-signing-1.pem")])
        .unwrap()
        .with_id_attribute(IdAttribute::new(MD, "EntityDescriptor", "ID"));
    let url = format!("{}/idp/metadata", idp.base_url());
    let (_, body, _) = get(&url).await;
    portti_xmlsec::verify_enveloped(body.as_bytes(), &policy).unwrap();

    idp.control().inject(Fault::metadata_signed_by_unknown_key().times(1));
    let (status, body, _) = get(&url).await;
    assert_eq!(status, 200);
    assert!(matches!(
        portti_xmlsec::verify_enveloped(body.as_bytes(), &policy),
        Err(XmlSecError::UntrustedKey)
    ));
    // Spent: signed by the IdP again.
    let (_, body, _) = get(&url).await;
    portti_xmlsec::verify_enveloped(body.as_bytes(), &policy).unwrap();
}

#[tokio::test]
async fn authn_requests_that_are_refused() {
    let idp = sandbox().await;
    let sso = idp.control().sso_url();
    let sp_key = demo("saml-sp-signing.key");
    let good = authn_request("_r1", &sso, SP_ENTITY, &now());
    let cases: Vec<(String, &str)> = vec![
        // Signed by another key than the SP's registered one.
        (
            redirect_query("SAMLRequest", &good, None, &demo("saml-idp-signing-1.key")),
            "does not verify",
        ),
        // Not signed at all.
        (
            redirect_query("SAMLRequest", &good, None, &sp_key)
                .split("&SigAlg")
                .next()
                .unwrap()
                .to_string(),
            "not signed",
        ),
        // RelayState added after signing.
        (
            redirect_query("SAMLRequest", &good, None, &sp_key).replace("&SigAlg", "&RelayState=x&SigAlg"),
            "does not verify",
        ),
        (
            redirect_query(
                "SAMLRequest",
                &authn_request("_r2", &sso, "https://evil.invalid/sp", &now()),
                None,
                &sp_key,
            ),
            "unknown service provider",
        ),
        (
            redirect_query(
                "SAMLRequest",
                &authn_request("_r3", "http://127.0.0.1:1/idp/sso", SP_ENTITY, &now()),
                None,
                &sp_key,
            ),
            "Destination",
        ),
        (
            redirect_query(
                "SAMLRequest",
                &authn_request(
                    "_r4",
                    &sso,
                    SP_ENTITY,
                    &protocol::instant(Utc::now() - chrono::Duration::hours(1)),
                ),
                None,
                &sp_key,
            ),
            "too old",
        ),
        (
            redirect_query(
                "SAMLRequest",
                &good.replace(&sp().acs_url, "http://127.0.0.1:9/other"),
                None,
                &sp_key,
            ),
            "AssertionConsumerServiceURL",
        ),
        (
            redirect_query("SAMLRequest", &good.replace("loa3", "loa9"), None, &sp_key),
            "level of assurance",
        ),
        (
            redirect_query(
                "SAMLRequest",
                &format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{good}"),
                None,
                &sp_key,
            ),
            "DOCTYPE",
        ),
        (
            redirect_query("SAMLRequest", &good, Some(&"x".repeat(81)), &sp_key),
            "RelayState",
        ),
    ];
    for (query, reason) in cases {
        let (status, body, _) = get(&format!("{sso}?{query}")).await;
        assert_eq!(status, 400, "{reason}: {body}");
        assert!(body.contains(reason), "expected '{reason}' in '{body}'");
    }
    assert!(idp.control().authn_requests().is_empty());
    assert!(idp
        .control()
        .request_log()
        .iter()
        .all(|r| r.status == Some(400) && r.refusal.is_some()));

    // A good one is accepted once; its ID cannot be replayed.
    let query = redirect_query("SAMLRequest", &good, None, &sp_key);
    assert_eq!(get(&format!("{sso}?{query}")).await.0, 200);
    let (status, body, _) = get(&format!("{sso}?{query}")).await;
    assert_eq!(status, 400);
    assert!(body.contains("already used"));
}

#[tokio::test]
async fn login_yields_an_encrypted_signed_assertion() {
    let idp = sandbox().await;
    let form = login(&idp, "_login1").await;
    assert_eq!(form.action, sp().acs_url);
    assert_eq!(form.relay_state.as_deref(), Some("rs-123"));

    let response = String::from_utf8(form.response_xml().unwrap()).unwrap();
    let parsed = xml::parse(response.as_bytes()).unwrap();
    assert!(parsed.is(SAMLP, "Response"));
    assert_eq!(parsed.attr("InResponseTo"), Some("_login1"));
    assert_eq!(parsed.attr("Destination"), Some(sp().acs_url.as_str()));
    assert_eq!(
        one(&parsed, SAMLP, "StatusCode").attr("Value"),
        Some(protocol::STATUS_SUCCESS)
    );
    let encrypted = one(&parsed, SAML, "EncryptedAssertion");
    assert!(encrypted.child(xml::XENC, "EncryptedData").is_some());
    assert!(find(&parsed, SAML, "Assertion").is_empty(), "no plaintext assertion");

    let decrypted = decrypt_all(&response).unwrap();
    let verified = verify_assertion(&decrypted).unwrap();
    assert_eq!(verified.trusted_cert_index, 0, "signed with key 1");
    let doc = xml::parse(decrypted.as_bytes()).unwrap();
    let assertion = one(&doc, SAML, "Assertion");
    assert_eq!(verified.id.as_deref(), assertion.attr("ID"));
    assert_eq!(assertion.child(SAML, "Issuer").unwrap().text(), SANDBOX_ENTITY_ID);
    let name_id = one(assertion, SAML, "NameID");
    assert_eq!(name_id.attr("Format"), Some(protocol::TRANSIENT));
    let scd = one(assertion, SAML, "SubjectConfirmationData");
    assert_eq!(scd.attr("Recipient"), Some(sp().acs_url.as_str()));
    assert_eq!(scd.attr("InResponseTo"), Some("_login1"));
    let expires = instant_of(scd, "NotOnOrAfter") - Utc::now();
    assert!(expires > chrono::Duration::minutes(4) && expires <= chrono::Duration::minutes(5));
    assert_eq!(one(assertion, SAML, "Audience").text(), SP_ENTITY);
    assert_eq!(one(assertion, SAML, "AuthnContextClassRef").text(), loa::LOA3);
    assert_eq!(
        attribute(assertion, "urn:oid:1.2.246.21").as_deref(),
        Some("010594Y9032")
    );
    assert_eq!(
        attribute(assertion, "urn:oid:2.5.4.42").as_deref(),
        Some("Mikko Juhani")
    );
    assert_eq!(attribute(assertion, "urn:oid:2.5.4.4").as_deref(), Some("Virtanen"));
    assert_eq!(
        attribute(assertion, "urn:oid:2.5.4.3").as_deref(),
        Some("Virtanen Mikko Juhani")
    );
    assert_eq!(
        attribute(assertion, "urn:oid:1.2.246.517.2002.2.18").as_deref(),
        Some("853")
    );

    let request = idp.control().last_authn_request().unwrap();
    assert_eq!(request.request.locale.as_deref(), Some("sv"));
    assert_eq!(request.request.requested_loa, vec![loa::LOA3.to_string()]);
    assert_eq!(request.relay_state.as_deref(), Some("rs-123"));
    let sessions = idp.control().sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].name_id, name_id.text());
    assert_eq!(
        Some(sessions[0].session_index.as_str()),
        one(assertion, SAML, "AuthnStatement").attr("SessionIndex")
    );

    // Key rotation: key 2 signs from now on; the metadata still lists both.
    idp.control().set_current_signing_key(1).unwrap();
    let form = login(&idp, "_login2").await;
    let decrypted = decrypt_all(&String::from_utf8(form.response_xml().unwrap()).unwrap()).unwrap();
    assert_eq!(verify_assertion(&decrypted).unwrap().trusted_cert_index, 1);
}

#[tokio::test]
async fn an_eidas_user_has_no_identity_code() {
    let idp = sandbox().await;
    let eidas = sandbox_users().into_iter().find(TestUser::is_eidas).unwrap();
    // Over the control endpoint, by key.
    let r = client()
        .post(format!("{}/_simulator/next-user", idp.base_url()))
        .body(r#"{"key":"DE/FI/123456789"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(idp.control().next_user(), eidas);
    let form = login(&idp, "_eidas").await;
    let decrypted = decrypt_all(&String::from_utf8(form.response_xml().unwrap()).unwrap()).unwrap();
    verify_assertion(&decrypted).unwrap();
    let doc = xml::parse(decrypted.as_bytes()).unwrap();
    assert_eq!(attribute(&doc, users::attributes::IDENTITY_CODE), None);
    assert_eq!(
        attribute(&doc, users::attributes::EIDAS_PERSON_IDENTIFIER).as_deref(),
        Some("DE/FI/123456789")
    );
    assert_eq!(
        attribute(&doc, users::attributes::EIDAS_GIVEN_NAME).as_deref(),
        Some("Erika")
    );
    assert_eq!(
        attribute(&doc, users::attributes::EIDAS_FAMILY_NAME).as_deref(),
        Some("Mustermann")
    );
    assert_eq!(
        attribute(&doc, users::attributes::EIDAS_DATE_OF_BIRTH).as_deref(),
        Some("1964-08-12")
    );
}

fn logout_request(id: &str, destination: &str, name_id: &str, session_index: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{destination}"><saml:Issuer>{SP_ENTITY}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">{name_id}</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        now()
    )
}

#[tokio::test]
async fn sp_initiated_logout() {
    let idp = sandbox().await;
    login(&idp, "_l1").await;
    let session = idp.control().sessions().remove(0);
    let slo = idp.control().slo_url();
    let query = redirect_query(
        "SAMLRequest",
        &logout_request("_lo1", &slo, &session.name_id, &session.session_index),
        Some("back-to-front"),
        &demo("saml-sp-signing.key"),
    );
    let (status, _, location) = get(&format!("{slo}?{query}")).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    let (endpoint, query) = location.split_once('?').unwrap();
    assert_eq!(endpoint, sp().slo_url);
    let m = RedirectMessage::parse(query).unwrap();
    assert_eq!(m.param, "SAMLResponse");
    assert_eq!(m.relay_state.as_deref(), Some("back-to-front"));
    m.verify(&demo("saml-idp-signing-1.pem")).unwrap();
    let response = LogoutResponse::parse(&m.xml).unwrap();
    assert_eq!(response.in_response_to.as_deref(), Some("_lo1"));
    assert_eq!(response.status, protocol::STATUS_SUCCESS);
    assert_eq!(response.destination.as_deref(), Some(sp().slo_url.as_str()));
    assert_eq!(response.issuer, SANDBOX_ENTITY_ID);
    assert!(idp.control().sessions().is_empty());

    // Again: no such session any more.
    let query = redirect_query(
        "SAMLRequest",
        &logout_request("_lo2", &slo, &session.name_id, &session.session_index),
        None,
        &demo("saml-sp-signing.key"),
    );
    let (status, _, location) = get(&format!("{slo}?{query}")).await;
    assert_eq!(status, 302);
    let m = RedirectMessage::parse(location.unwrap().split_once('?').unwrap().1).unwrap();
    let response = LogoutResponse::parse(&m.xml).unwrap();
    assert_eq!(response.status, protocol::STATUS_REQUESTER);
    assert_eq!(response.sub_status.as_deref(), Some(protocol::STATUS_UNKNOWN_PRINCIPAL));
    assert_eq!(idp.control().logout_requests().len(), 2);

    // A LogoutRequest signed with the wrong key is refused.
    let query = redirect_query(
        "SAMLRequest",
        &logout_request("_lo3", &slo, &session.name_id, &session.session_index),
        None,
        &demo("saml-sp-encryption.key"),
    );
    assert_eq!(get(&format!("{slo}?{query}")).await.0, 400);
}

#[tokio::test]
async fn idp_initiated_logout() {
    let idp = sandbox().await;
    login(&idp, "_i1").await;
    let session = idp.control().sessions().remove(0);
    let url = idp.control().idp_initiated_logout(&session.name_id).unwrap();
    assert!(idp.control().sessions().is_empty());
    let (endpoint, query) = url.split_once('?').unwrap();
    assert_eq!(endpoint, sp().slo_url);
    let m = RedirectMessage::parse(query).unwrap();
    m.verify(&demo("saml-idp-signing-1.pem")).unwrap();
    let request = LogoutRequest::parse(&m.xml).unwrap();
    assert_eq!(request.name_id, session.name_id);
    assert_eq!(request.session_indexes, vec![session.session_index.clone()]);
    assert_eq!(request.destination.as_deref(), Some(sp().slo_url.as_str()));

    // The SP answers.
    let slo = idp.control().slo_url();
    let answer = |in_response_to: &str| {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a{in_response_to}" InResponseTo="{in_response_to}" Version="2.0" IssueInstant="{}" Destination="{slo}"><saml:Issuer>{SP_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
            now()
        )
    };
    let query = redirect_query("SAMLResponse", &answer("_unknown"), None, &demo("saml-sp-signing.key"));
    assert_eq!(get(&format!("{slo}?{query}")).await.0, 400);
    let query = redirect_query("SAMLResponse", &answer(&request.id), None, &demo("saml-sp-signing.key"));
    let (status, body, _) = get(&format!("{slo}?{query}")).await;
    assert_eq!(status, 200, "{body}");
    let recorded = idp.control().logout_responses();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].name_id, session.name_id);
    assert_eq!(recorded[0].response.status, protocol::STATUS_SUCCESS);
    // Answered once only.
    assert_eq!(get(&format!("{slo}?{query}")).await.0, 400);

    assert!(idp.control().idp_initiated_logout("nobody").is_err());
}

/// The xmlsec1 CLI's verdict on the assertion signature with IdP key 1 (independent of portti-xmlsec).
fn xmlsec1_verifies(assertion: &str) -> bool {
    let dir = std::env::temp_dir().join(format!("portti-idp-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.xml");
    std::fs::write(&file, assertion).unwrap();
    let ok = std::process::Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(certs_example().join("saml-idp-signing-1.pem"))
        .arg("--id-attr:ID")
        .arg("urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
        .arg(&file)
        .output()
        .unwrap()
        .status
        .success();
    std::fs::remove_dir_all(&dir).unwrap();
    ok
}

#[tokio::test]
async fn every_variant_has_exactly_its_defect() {
    let idp = sandbox().await;
    let control = idp.control();
    assert!(
        control.build_response(ResponseOptions::default()).is_err(),
        "no request yet"
    );
    login(&idp, "_v1").await;

    for variant in Variant::ALL {
        let built = control.build_response(ResponseOptions::variant(variant)).unwrap();
        assert_eq!(B64.decode(&built.saml_response).unwrap(), built.response_xml.as_bytes());
        let response = xml::parse(built.response_xml.as_bytes()).unwrap();
        let decrypted = decrypt_all(&built.response_xml);
        if variant == Variant::TamperedCiphertext {
            assert!(matches!(decrypted, Err(XmlSecError::DecryptionFailed)), "{decrypted:?}");
            continue;
        }
        let decrypted = decrypted.unwrap_or_else(|e| panic!("{variant:?}: {e}"));
        let doc = xml::parse(decrypted.as_bytes()).unwrap();
        let verdict = verify_assertion(&decrypted);
        let assertions = find(&doc, SAML, "Assertion");
        let context = format!("{variant:?}: {verdict:?}");
        // The genuine assertion alone verifies for every variant meant to be validly signed.
        let genuine_ok = built.assertion_xml.as_deref().map(verify_assertion);
        match variant {
            Variant::Unsigned => {
                assert!(matches!(verdict, Err(XmlSecError::NoSignature(_))), "{context}")
            }
            Variant::SignedByUnknownKey => {
                assert!(matches!(verdict, Err(XmlSecError::UntrustedKey)), "{context}")
            }
            Variant::Sha1Signature => {
                assert!(
                    matches!(verdict, Err(XmlSecError::DisallowedAlgorithm { .. })),
                    "{context}"
                );
                assert!(decrypted.contains("xmldsig#rsa-sha1"));
                assert!(
                    xmlsec1_verifies(built.assertion_xml.as_deref().unwrap()),
                    "a real SHA-1 signature"
                );
            }
            Variant::WrappedInAdvice
            | Variant::WrappedInExtensions
            | Variant::ExtraUnsignedAssertion
            | Variant::DuplicateIds => {
                assert!(verdict.is_err(), "{context}");
                assert_eq!(assertions.len(), 2, "{context}");
                assert!(genuine_ok.unwrap().is_ok(), "{context}");
                let ids: Vec<_> = assertions.iter().map(|a| a.attr("ID").unwrap()).collect();
                assert_eq!(ids[0] == ids[1], variant == Variant::DuplicateIds, "{context}");
                // The genuine assertion is signed and names the user; the evil copy is unsigned and names
                // another one.
                let (signed, unsigned): (Vec<&Element>, Vec<&Element>) =
                    assertions.iter().partition(|a| a.child(xml::DS, "Signature").is_some());
                assert_eq!((signed.len(), unsigned.len()), (1, 1), "{context}");
                assert_eq!(
                    own_attribute(signed[0], users::attributes::IDENTITY_CODE),
                    Some("010594Y9032".into())
                );
                assert_eq!(
                    own_attribute(unsigned[0], users::attributes::IDENTITY_CODE),
                    Some("131052-308T".into())
                );
                assert_eq!(signed[0].attr("ID"), built.assertion_id.as_deref());
                if variant == Variant::WrappedInAdvice {
                    assert!(unsigned[0].child(SAML, "Advice").is_some());
                }
                if variant == Variant::WrappedInExtensions {
                    assert!(response
                        .child(SAMLP, "Extensions")
                        .unwrap()
                        .child(SAML, "Assertion")
                        .is_some());
                }
            }
            Variant::StatusNotSuccess => {
                assert!(assertions.is_empty());
                let codes = find(&response, SAMLP, "StatusCode");
                assert_eq!(codes[0].attr("Value"), Some(protocol::STATUS_REQUESTER));
                assert_eq!(codes[1].attr("Value"), Some(protocol::STATUS_AUTHN_FAILED));
            }
            _ => {
                let verified = verdict.unwrap_or_else(|e| panic!("{variant:?}: {e}"));
                assert_eq!(verified.trusted_cert_index, 0);
                assert_eq!(assertions.len(), 1, "{context}");
                let a = assertions[0];
                let scd = one(a, SAML, "SubjectConfirmationData");
                let conditions = one(a, SAML, "Conditions");
                match variant {
                    Variant::Valid => {
                        assert_eq!(scd.attr("InResponseTo"), Some("_v1"));
                        assert_eq!(response.attr("InResponseTo"), Some("_v1"));
                    }
                    Variant::CommentInNameId => {
                        assert!(decrypted.contains("<!---->"));
                        // The text read as a whole is the signed NameID.
                        assert_eq!(one(a, SAML, "NameID").text(), built.name_id.clone().unwrap());
                    }
                    Variant::CommentInIdentityCode => {
                        assert!(decrypted.contains("010594<!---->Y9032"), "{decrypted}");
                        assert_eq!(
                            attribute(a, users::attributes::IDENTITY_CODE).as_deref(),
                            Some("010594Y9032")
                        );
                    }
                    Variant::WrongAudience => assert_ne!(one(a, SAML, "Audience").text(), SP_ENTITY),
                    Variant::WrongDestination => {
                        assert_ne!(response.attr("Destination"), Some(sp().acs_url.as_str()))
                    }
                    Variant::WrongRecipient => assert_ne!(scd.attr("Recipient"), Some(sp().acs_url.as_str())),
                    Variant::Expired => {
                        assert!(instant_of(scd, "NotOnOrAfter") < Utc::now());
                        assert!(instant_of(conditions, "NotOnOrAfter") < Utc::now());
                    }
                    Variant::NotYetValid => assert!(instant_of(conditions, "NotBefore") > Utc::now()),
                    Variant::UnknownInResponseTo => {
                        assert_ne!(scd.attr("InResponseTo"), Some("_v1"));
                        assert_ne!(response.attr("InResponseTo"), Some("_v1"));
                    }
                    Variant::PlaintextAssertion => {
                        assert!(find(&response, SAML, "EncryptedAssertion").is_empty());
                        assert_eq!(find(&response, SAML, "Assertion").len(), 1);
                    }
                    Variant::LowerLoa => assert_eq!(one(a, SAML, "AuthnContextClassRef").text(), loa::LOA2),
                    other => unreachable!("{other:?}"),
                }
            }
        }
    }
}

#[tokio::test]
async fn response_signatures_on_variants() {
    let idp = sandbox().await;
    login(&idp, "_rs1").await;
    let policy = VerifyPolicy::new([demo("saml-idp-signing-1.pem")])
        .unwrap()
        .with_id_attribute(IdAttribute::saml_response());
    for variant in Variant::ALL {
        let built = idp
            .control()
            .build_response(ResponseOptions {
                sign_response: Some(true),
                ..ResponseOptions::variant(variant)
            })
            .unwrap();
        let verdict = portti_xmlsec::verify_enveloped(built.response_xml.as_bytes(), &policy);
        match variant {
            v if v.is_tampering() => assert!(matches!(verdict, Err(XmlSecError::NoSignature(_))), "{v:?}"),
            Variant::SignedByUnknownKey => assert!(matches!(verdict, Err(XmlSecError::UntrustedKey))),
            v => assert!(verdict.is_ok(), "{v:?}: {verdict:?}"),
        }
    }
}

#[tokio::test]
async fn signed_responses_and_the_next_response_over_sso() {
    let mut config = Config::sandbox(sp());
    config.sign_response = true;
    let idp = start_with(config).await;
    let form = login(&idp, "_s1").await;
    let xml = String::from_utf8(form.response_xml().unwrap()).unwrap();
    let policy = VerifyPolicy::new([demo("saml-idp-signing-1.pem")])
        .unwrap()
        .with_id_attribute(IdAttribute::saml_response());
    portti_xmlsec::verify_enveloped(xml.as_bytes(), &policy).unwrap();
    verify_assertion(&decrypt_all(&xml).unwrap()).unwrap();

    // The next SSO answer only is an attack, chosen over HTTP.
    let r = client()
        .post(format!("{}/_simulator/next-response", idp.base_url()))
        .body(r#"{"variant":"wrappedInAdvice","signResponse":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let form = login(&idp, "_s2").await;
    let xml = String::from_utf8(form.response_xml().unwrap()).unwrap();
    assert!(portti_xmlsec::verify_enveloped(xml.as_bytes(), &policy).is_err());
    assert!(verify_assertion(&decrypt_all(&xml).unwrap()).is_err());
    let form = login(&idp, "_s3").await;
    let xml = String::from_utf8(form.response_xml().unwrap()).unwrap();
    verify_assertion(&decrypt_all(&xml).unwrap()).unwrap();
}

#[tokio::test]
async fn faults_and_control_endpoints() {
    let idp = sandbox().await;
    let base = idp.base_url();
    let r = client()
        .post(format!("{base}/_simulator/faults"))
        .body(r#"{"kind":"status","status":503,"pathPrefix":"/idp/sso","count":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let xml = authn_request("_f1", &idp.control().sso_url(), SP_ENTITY, &now());
    let query = redirect_query("SAMLRequest", &xml, None, &demo("saml-sp-signing.key"));
    assert_eq!(get(&format!("{base}/idp/sso?{query}")).await.0, 503);
    assert!(idp.control().authn_requests().is_empty(), "not processed");
    assert_eq!(get(&format!("{base}/idp/sso?{query}")).await.0, 200);

    idp.control().inject(
        Fault::latency(std::time::Duration::from_millis(300))
            .on_path("/idp/metadata")
            .times(1),
    );
    let started = std::time::Instant::now();
    assert_eq!(get(&format!("{base}/idp/metadata")).await.0, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    idp.control()
        .inject(Fault::drop_connection().on_path("/idp/metadata").times(1));
    assert!(client().get(format!("{base}/idp/metadata")).send().await.is_err());
    let log = idp.control().request_log();
    assert_eq!(log.last().unwrap().status, None);

    let sessions: serde_json::Value = client()
        .get(format!("{base}/_simulator/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions[0]["user"]["identityCode"], "010594Y9032");

    // Another SP address, over HTTP.
    let new_sp = SpEndpoints {
        acs_url: "http://127.0.0.1:10/acs".into(),
        ..sp()
    };
    let r = client()
        .post(format!("{base}/_simulator/sp"))
        .body(serde_json::to_string(&new_sp).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(idp.control().sp(), new_sp);
    let r = client()
        .post(format!("{base}/_simulator/idp-logout"))
        .body(format!(r#"{{"nameId":"{}"}}"#, idp.control().sessions()[0].name_id))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["url"].as_str().unwrap().starts_with(&sp().slo_url));
}
