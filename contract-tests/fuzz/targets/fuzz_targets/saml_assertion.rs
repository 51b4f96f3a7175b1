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
mod saml;

use libfuzzer_sys::fuzz_target;
use portti_suomifi_identification::read_assertion_unverified;
use portti_suomifi_identification::testkit;
use saml::{check_error, check_login, setup, IN_RESPONSE_TO};

fuzz_target!(|data: &[u8]| {
    let (sp, idp) = setup();
    let now = testkit::now();
    match read_assertion_unverified(sp, idp, data, IN_RESPONSE_TO, now) {
        Ok(login) => {
            check_login(sp, &login, now);
            assert!(!login.name_id.is_empty());
            if let Some(code) = &login.identity_code {
                assert!(String::from_utf8_lossy(data).contains(code.as_str()) || code.contains('&'));
            }
        }
        Err(e) => check_error(&e),
    }
});
