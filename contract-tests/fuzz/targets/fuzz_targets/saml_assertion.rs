//! The assertion of a Suomi.fi Identification Response after its signature:
//! `portti_suomifi_identification::read_assertion_unverified` (cargo feature `fuzzing`), the same
//! code `parse_login_response` runs once the signature verified, which a fuzzer cannot forge.
//! The input is a decrypted Response with its assertion in plaintext.
//!
//! Properties: no identity code in an error; a login is at an accepted level, not expired, its
//! identity code (when it has one) is what the assertion carries, and its `Debug` hides it.
#![no_main]

mod common;
#[allow(dead_code)]
#[path = "../../../../src/case/hetu.rs"]
mod hetu;

use common::assert_no_identity_code;
use libfuzzer_sys::fuzz_target;
use portti_suomifi_identification::testkit;
use portti_suomifi_identification::{read_assertion_unverified, IdpMetadata, SpConfig};
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
    match read_assertion_unverified(sp, idp, data, IN_RESPONSE_TO, now) {
        Ok(login) => {
            assert!(sp.required_loa.contains(&login.loa));
            assert!(login.not_on_or_after > now - chrono::Duration::from_std(sp.clock_skew).expect("a skew"));
            assert!(!login.name_id.is_empty());
            if let Some(code) = &login.identity_code {
                assert!(String::from_utf8_lossy(data).contains(code.as_str()) || code.contains('&'));
            }
            assert_no_identity_code("a Login's Debug", &format!("{login:?}"));
        }
        Err(e) => {
            let _ = e.reason();
            assert_no_identity_code("a SAML error", &e.to_string());
        }
    }
});
