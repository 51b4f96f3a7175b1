//! The contact centre import's CSV reading (`POST /v1/imports/contact-centre`):
//! `portti::api::ContactCentreRows`, which gives every row the line of the body it starts on.
//! Needs the whole gateway crate (cargo feature `gateway`).
//!
//! Properties: lines increase from 2 and stay within the body; a rejected row carries its line
//! and no identity code; the same body with every line end (`\r\n`, `\r`) turned into `\n` has
//! the same rows on the same lines.
#![no_main]

mod common;
#[allow(dead_code)]
#[path = "../../../../src/case/hetu.rs"]
mod hetu;

use libfuzzer_sys::fuzz_target;
use portti::api::ContactCentreRows;

/// Each row's line and whether it could be read; `None` when the header cannot be.
fn rows(body: &[u8]) -> Option<Vec<(u64, bool)>> {
    let mut rows = ContactCentreRows::new(body).ok()?;
    let mut out = Vec::new();
    while let Some((line, read)) = rows.next_row() {
        if let Err(rejected) = &read {
            assert_eq!(rejected.line, line);
            for e in &rejected.errors {
                common::assert_no_identity_code("a row error", &e.detail);
            }
        }
        out.push((line, read.is_ok()));
    }
    Some(out)
}

fn with_lf_line_ends(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {}
            b'\r' => out.push(b'\n'),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some(got) = rows(data) else {
        return;
    };
    let line_ends = with_lf_line_ends(data).iter().filter(|&&b| b == b'\n').count() as u64;
    let mut previous = 1;
    for &(line, _) in &got {
        assert!(line > previous, "line {line} after line {previous}: {got:?}");
        assert!(
            line <= line_ends + 1,
            "line {line} of a body with {line_ends} line ends"
        );
        previous = line;
    }
    let lf = rows(&with_lf_line_ends(data)).expect("the header reads with LF line ends too");
    assert_eq!(got, lf, "the lines depend on the line ends");
});
