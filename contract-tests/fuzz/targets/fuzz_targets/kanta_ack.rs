//! Kanta's acknowledgements (`MCCI_IN000002UV01`): `portti_kanta::ack::parse_ack` and
//! `interpret`, which classifies them into the adapter's errors.
//!
//! Properties: no identity code in a parsed detail (code, display name, text) or in any error;
//! `interpret` accepts only an acknowledgement `parse_ack` reads, for the message sent.
#![no_main]

mod common;
#[allow(dead_code)]
#[path = "../../../../src/case/hetu.rs"]
mod hetu;

use common::assert_no_identity_code;
use libfuzzer_sys::fuzz_target;
use portti_kanta::ack::{interpret, parse_ack};

/// The ids in the seeds (seeds/kanta_ack).
const MESSAGE_ID: &str = "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a10";
const QUERY_ID: &str = "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a11";
const SYSTEM: &str = "1.2.246.537.5.40177";

fuzz_target!(|data: &[u8]| {
    let parsed = parse_ack(data, SYSTEM);
    match &parsed {
        Ok(ack) => {
            for d in &ack.details {
                for text in [&d.code, &d.display_name, &d.text].into_iter().flatten() {
                    assert_no_identity_code("a detail", text);
                }
            }
        }
        Err(why) => assert_no_identity_code("a parse error", why),
    }
    for query in [None, Some(QUERY_ID)] {
        match interpret(data, MESSAGE_ID, query, SYSTEM) {
            Ok(accepted) => {
                let ack = parsed.as_ref().expect("interpret accepted what parse_ack refused");
                assert_eq!(&accepted.ack, ack);
                assert!(ack.target_message_id.eq_ignore_ascii_case(MESSAGE_ID));
            }
            Err(e) => assert_no_identity_code("an interpret error", &e.to_string()),
        }
    }
});
