//! `IdentityCode::parse` (src/case/hetu.rs, compiled here from the gateway's own source file so
//! that this target builds without the whole gateway) and the shared redactor
//! (`portti_adapter_core::redact_identity_codes`).
//!
//! Properties: a parsed code is canonical and round-trips; its `Debug` hides it; errors never
//! quote the input; `contains_identity_code` finds what `parse` accepts; the redactor leaves no
//! identity code behind in any text.
#![no_main]

mod common;
#[allow(dead_code)]
#[path = "../../../../src/case/hetu.rs"]
mod hetu;

use hetu::IdentityCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match IdentityCode::parse(text) {
        Ok(id) => {
            let code = id.as_str();
            assert_eq!(code.len(), 11, "{code:?}");
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'+' || b == b'-'),
                "not canonical: {code:?}"
            );
            let again = IdentityCode::parse(code).expect("the canonical form parses");
            assert!(again == id, "no round trip: {code:?}");
            assert_eq!(again.birth_date(), id.birth_date());
            assert_eq!(again.is_temporary(), id.is_temporary());
            assert!(!format!("{id:?}").contains(code), "Debug shows the code");
            assert!(
                hetu::contains_identity_code(text),
                "contains_identity_code misses {code:?}"
            );
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let redacted = portti_adapter_core::redact_identity_codes(&compact);
            assert!(
                !redacted.to_ascii_uppercase().contains(code),
                "redaction leaves {code:?}"
            );
        }
        Err(e) => common::assert_no_identity_code("a HetuError", &e.to_string()),
    }
    common::assert_no_identity_code("redacted text", &portti_adapter_core::redact_identity_codes(text));
});
