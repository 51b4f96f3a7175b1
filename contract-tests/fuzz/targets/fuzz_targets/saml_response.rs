//! Suomi.fi Identification's SAML Response at the ACS:
//! `portti_suomifi_identification::parse_login_response` (envelope checks, libxmlsec1 signature
//! verification and decryption through portti-xmlsec). The input is the Response XML; the target
//! Base64-encodes it as the HTTP-POST binding does. The seeds are valid Responses signed and
//! encrypted with the demo keys (certs-example/), so mutations reach every check.
//!
//! Properties: no identity code in an error; a login is the demo IdP's, at an accepted level,
//! not expired, and its `Debug` hides the person.
#![no_main]

mod common;
#[allow(dead_code)]
#[path = "../../../../src/case/hetu.rs"]
mod hetu;
mod saml;

use libfuzzer_sys::fuzz_target;
use portti_suomifi_identification::parse_login_response;
use portti_suomifi_identification::testkit;
use saml::{check_error, check_login, setup, IN_RESPONSE_TO};

fuzz_target!(|data: &[u8]| {
    let (sp, idp) = setup();
    let now = testkit::now();
    match parse_login_response(sp, idp, &testkit::post_encode(data), IN_RESPONSE_TO, now) {
        Ok(login) => {
            assert_eq!(login.issuer, idp.entity_id);
            check_login(sp, &login, now);
        }
        Err(e) => check_error(&e),
    }
});
