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

use common::assert_no_identity_code;
use libfuzzer_sys::fuzz_target;
use portti_suomifi_identification::testkit;
use portti_suomifi_identification::{parse_login_response, IdpMetadata, SpConfig};
use std::sync::OnceLock;

/// The AuthnRequest the seeds answer (adapters/suomifi-identification/tests/fuzz_seeds.rs).
const IN_RESPONSE_TO: &str = "_fuzz0000000000000000000000000001";

fn setup() -> &'static (SpConfig, IdpMetadata) {
    static SETUP: OnceLock<(SpConfig, IdpMetadata)> = OnceLock::new();
    SETUP.get_or_init(|| (testkit::sp_config(), testkit::idp_metadata()))
}

fuzz_target!(|data: &[u8]| {
    let (sp, idp) = setup();
    let now = testkit::now();
    match parse_login_response(sp, idp, &testkit::post_encode(data), IN_RESPONSE_TO, now) {
        Ok(login) => {
            assert_eq!(login.issuer, idp.entity_id);
            assert!(sp.required_loa.contains(&login.loa));
            assert!(login.not_on_or_after > now - chrono::Duration::from_std(sp.clock_skew).expect("a skew"));
            assert_no_identity_code("a Login's Debug", &format!("{login:?}"));
        }
        Err(e) => {
            let _ = e.reason();
            assert_no_identity_code("a SAML error", &e.to_string());
        }
    }
});
