//! What the two SAML targets share: the demo SP and IdP the seeds were made for, and the checks
//! of a Login and of an error.

use crate::common::assert_no_identity_code;
use portti_suomifi_identification::testkit;
use portti_suomifi_identification::{IdpMetadata, Login, SamlError, SpConfig};
use std::sync::OnceLock;

/// The AuthnRequest the seeds answer (adapters/suomifi-identification/tests/fuzz_seeds.rs).
pub const IN_RESPONSE_TO: &str = "_fuzz0000000000000000000000000001";

pub fn setup() -> &'static (SpConfig, IdpMetadata) {
    static SETUP: OnceLock<(SpConfig, IdpMetadata)> = OnceLock::new();
    SETUP.get_or_init(|| (testkit::sp_config(), testkit::idp_metadata()))
}

/// A login is at an accepted level, not expired, and its `Debug` hides the person.
pub fn check_login(sp: &SpConfig, login: &Login, now: chrono::DateTime<chrono::Utc>) {
    assert!(sp.required_loa.contains(&login.loa));
    assert!(login.not_on_or_after > now - chrono::Duration::from_std(sp.clock_skew).expect("a skew"));
    assert_no_identity_code("a Login's Debug", &format!("{login:?}"));
}

/// An error never quotes an identity code.
pub fn check_error(e: &SamlError) {
    let _ = e.reason();
    assert_no_identity_code("a SAML error", &e.to_string());
}
