//! What every target checks of the text it can see: no personal identity code in it.

use crate::hetu::IdentityCode;

/// The first valid identity code (check character included) written out in `text`.
pub fn identity_code_in(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(11).find_map(|w| {
        let s: String = w.iter().collect();
        IdentityCode::parse(&s).ok().map(|_| s)
    })
}

/// Panics (a finding) when `text` contains an identity code.
pub fn assert_no_identity_code(what: &str, text: &str) {
    if let Some(code) = identity_code_in(text) {
        panic!("{what} contains the identity code {code:?}: {text:?}");
    }
}
