use super::*;
use crate::redirect::{inflate_base64, query_param};
use crate::testkit::{self, idp_signer_1, idp_signer_2, rogue_signer};

fn query_of(url: &str) -> &str {
    url.split_once('?').unwrap().1
}

#[test]
fn sp_initiated_logout_round_trip() {
    let sp = testkit::sp_config();
    let idp = testkit::idp_metadata();
    let now = testkit::now();
    let (id, url) = logout_request_redirect(
        &sp,
        &idp,
        "AAdzZWNyZXQx",
        Some(crate::NAMEID_TRANSIENT),
        Some("_sess1"),
        Some("rs-9"),
        now,
    )
    .unwrap();
    assert!(url.starts_with(testkit::IDP_SLO_URL));
    // What the IdP receives: signed by the SP, the NameID and SessionIndex of the session.
    let msg = crate::redirect::verify_redirect(query_of(&url), Param::SamlRequest, &[testkit::SP_SIGNING_CERT.into()])
        .unwrap();
    assert_eq!(msg.relay_state.as_deref(), Some("rs-9"));
    let req = xml::parse(&msg.xml).unwrap();
    assert!(req.is(NS_SAMLP, "LogoutRequest"));
    assert_eq!(req.attr("ID"), Some(id.as_str()));
    assert_eq!(req.attr("Destination"), Some(testkit::IDP_SLO_URL));
    assert_eq!(
        req.required_child(NS_SAML, "Issuer").unwrap().text,
        testkit::SP_ENTITY_ID
    );
    let name_id = req.required_child(NS_SAML, "NameID").unwrap();
    assert_eq!(name_id.text, "AAdzZWNyZXQx");
    assert_eq!(name_id.attr("Format"), Some(crate::NAMEID_TRANSIENT));
    assert_eq!(name_id.attr("NameQualifier"), Some(testkit::IDP_ENTITY_ID));
    assert_eq!(req.required_child(NS_SAMLP, "SessionIndex").unwrap().text, "_sess1");

    // The IdP answers; signed by either rotation key.
    for signer in [idp_signer_1(), idp_signer_2()] {
        let q = testkit::idp_logout_response_query(&id, STATUS_SUCCESS, Some("rs-9"), now, &signer);
        assert_eq!(crate::redirect::relay_state(&q).as_deref(), Some("rs-9"));
        parse_logout_response(&sp, &q, &idp, &id).unwrap();
    }
    let q = testkit::idp_logout_response_query(&id, STATUS_SUCCESS, None, now, &idp_signer_1());
    assert_eq!(
        parse_logout_response(&sp, &q, &idp, "_other").unwrap_err().reason(),
        "unknown_in_response_to"
    );
    let q = testkit::idp_logout_response_query(&id, STATUS_RESPONDER, None, now, &idp_signer_1());
    assert_eq!(
        parse_logout_response(&sp, &q, &idp, &id).unwrap_err().reason(),
        "status_not_success"
    );
    let q = testkit::idp_logout_response_query(&id, STATUS_SUCCESS, None, now, &rogue_signer());
    assert_eq!(
        parse_logout_response(&sp, &q, &idp, &id).unwrap_err().reason(),
        "invalid_signature"
    );
}

#[test]
fn tampered_or_unsigned_logout_response_is_refused() {
    let sp = testkit::sp_config();
    let idp = testkit::idp_metadata();
    let q = testkit::idp_logout_response_query("_req", STATUS_SUCCESS, Some("abc"), testkit::now(), &idp_signer_1());
    // A different (valid, re-deflated) message under the old signature.
    let xml = inflate_base64(&query_param(&q, "SAMLResponse").unwrap()).unwrap();
    let other = String::from_utf8(xml).unwrap().replace("_req", "_rex");
    let forged = format!(
        "SAMLResponse={}&{}",
        percent_encoding::utf8_percent_encode(
            &crate::redirect::deflate_base64(other.as_bytes()),
            percent_encoding::NON_ALPHANUMERIC
        ),
        q.split_once('&').unwrap().1
    );
    assert_eq!(
        parse_logout_response(&sp, &forged, &idp, "_rex").unwrap_err().reason(),
        "invalid_signature"
    );
    // The Signature itself altered.
    let sig_start = q.find("&Signature=").unwrap() + "&Signature=".len();
    let mut tampered = q.clone();
    let c = if &q[sig_start..sig_start + 1] == "A" { "B" } else { "A" };
    tampered.replace_range(sig_start..sig_start + 1, c);
    assert_eq!(
        parse_logout_response(&sp, &tampered, &idp, "_req")
            .unwrap_err()
            .reason(),
        "invalid_signature"
    );
    let unsigned = q.split("&SigAlg=").next().unwrap();
    assert_eq!(
        parse_logout_response(&sp, unsigned, &idp, "_req").unwrap_err().reason(),
        "unsigned"
    );
}

#[test]
fn idp_initiated_logout_round_trip() {
    let sp = testkit::sp_config();
    let idp = testkit::idp_metadata();
    let now = testkit::now();
    let (id, q) = testkit::idp_logout_request_query("AAdzZWNyZXQx", "_sess1", Some("r"), now, &idp_signer_2());
    let req = parse_logout_request(&sp, &q, &idp, now).unwrap();
    assert_eq!(req.id, id);
    assert_eq!(req.name_id, "AAdzZWNyZXQx");
    assert_eq!(req.name_id_format.as_deref(), Some(crate::NAMEID_TRANSIENT));
    assert_eq!(req.session_indexes, ["_sess1"]);
    assert_eq!(req.relay_state.as_deref(), Some("r"));
    assert_eq!(req.not_on_or_after, Some(now + chrono::Duration::minutes(5)));
    assert!(!format!("{req:?}").contains("AAdzZWNyZXQx"));

    // Expired (past NotOnOrAfter plus the skew).
    let late = now + chrono::Duration::minutes(5) + sp.skew();
    assert_eq!(
        parse_logout_request(&sp, &q, &idp, late).unwrap_err().reason(),
        "expired"
    );
    // Untrusted signer.
    let (_, rogue) = testkit::idp_logout_request_query("x", "y", None, now, &rogue_signer());
    assert_eq!(
        parse_logout_request(&sp, &rogue, &idp, now).unwrap_err().reason(),
        "invalid_signature"
    );
    // For another SP (Destination).
    let other_sp = SpConfig {
        slo_url: "https://other.example/slo".into(),
        ..sp.clone()
    };
    assert_eq!(
        parse_logout_request(&other_sp, &q, &idp, now).unwrap_err().reason(),
        "wrong_destination"
    );
    // From another IdP.
    let other_idp = IdpMetadata {
        entity_id: "https://other-idp.example".into(),
        ..idp.clone()
    };
    assert_eq!(
        parse_logout_request(&sp, &q, &other_idp, now).unwrap_err().reason(),
        "wrong_issuer"
    );

    // Our answer, signed by the SP.
    for success in [true, false] {
        let url = logout_response_redirect(&sp, &idp, &req.id, success, req.relay_state.as_deref(), now).unwrap();
        assert!(url.starts_with(testkit::IDP_SLO_URL));
        let msg =
            crate::redirect::verify_redirect(query_of(&url), Param::SamlResponse, &[testkit::SP_SIGNING_CERT.into()])
                .unwrap();
        assert_eq!(msg.relay_state.as_deref(), Some("r"));
        let resp = xml::parse(&msg.xml).unwrap();
        assert!(resp.is(NS_SAMLP, "LogoutResponse"));
        assert_eq!(resp.attr("InResponseTo"), Some(id.as_str()));
        let status = check_status(&resp);
        assert_eq!(status.is_ok(), success);
        if !success {
            assert_eq!(
                status.unwrap_err(),
                SamlError::StatusNotSuccess {
                    status: STATUS_RESPONDER.into(),
                    second_level: Some(STATUS_PARTIAL_LOGOUT.into())
                }
            );
        }
    }
}
