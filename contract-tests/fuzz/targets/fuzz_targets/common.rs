//! What every target checks of the text it can see: no personal identity code in it.

use crate::hetu::IdentityCode;

/// The first valid identity code (check character included) written out in `text`, outside
/// runs of 32 or more hex digits (digests and ids, where `a`–`f` are century signs and a valid
/// code turns up by chance: a SHA-256 in a Kanta error did).
pub fn identity_code_in(text: &str) -> Option<String> {
    let mut chars: Vec<char> = text.chars().collect();
    let mut start = 0;
    while start < chars.len() {
        let run = chars[start..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if run >= 32 {
            chars[start..start + run].fill('#');
        }
        start += run.max(1);
    }
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
