//! Writes the seed corpora of the fuzz targets `saml_response` and `saml_assertion`
//! (contract-tests/fuzz/targets/seeds/): valid messages from the testkit, signed and encrypted
//! with the demo keys. Not run by default; regenerate with
//! `cargo test -p portti-suomifi-identification --test fuzz_seeds -- --ignored`.

use portti_suomifi_identification::testkit::{self, ResponseBuilder};
use std::path::PathBuf;

/// The AuthnRequest ID the fuzz targets expect (`IN_RESPONSE_TO` in their sources).
const IN_RESPONSE_TO: &str = "_fuzz0000000000000000000000000001";

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contract-tests/fuzz/targets/seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
#[ignore = "writes files; run by hand to regenerate the fuzz seeds"]
fn write_the_fuzz_seeds() {
    let now = testkit::now();
    let finnish = ResponseBuilder::new(IN_RESPONSE_TO, now);
    write("saml_response", "finnish_person", &finnish.build());
    let mut signed = ResponseBuilder::new(IN_RESPONSE_TO, now);
    signed.response_signer = Some(testkit::idp_signer_1());
    write("saml_response", "response_signed_too", &signed.build());
    let mut cancelled = ResponseBuilder::new(IN_RESPONSE_TO, now);
    cancelled.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    cancelled.second_level_status = Some("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed".into());
    write("saml_response", "cancelled", &cancelled.build());

    let mut plain = ResponseBuilder::new(IN_RESPONSE_TO, now);
    plain.encrypt = false;
    plain.assertion_signer = None;
    write("saml_assertion", "finnish_person", &plain.unsigned_xml());
    plain.attributes = testkit::eidas_attributes();
    write("saml_assertion", "eidas_person", &plain.unsigned_xml());
}
