//! Finnish personal identity codes (henkilötunnus): the syntax check made before anything is sent,
//! and the redactor every error string passes through so that no identity code reaches a log.

/// The check characters, indexed by the nine digits modulo 31.
const CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// Century signs: `+` (1800s); `-`, `Y`, `X`, `W`, `V`, `U` (1900s); `A`–`F` (2000s). The extra
/// signs are in use since 1 January 2023.
fn is_century_sign(b: u8) -> bool {
    matches!(b, b'+' | b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' | b'A'..=b'F')
}

/// The identity code in its canonical form: trimmed, upper case.
pub fn normalise(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Whether `code` (already normalised) is a syntactically valid identity code with a correct
/// check character. The date is checked for its ranges (day 01–31, month 01–12), not the calendar.
pub fn is_valid(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 11 || !is_century_sign(b[6]) {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if !digits(0..6) || !digits(7..10) {
        return false;
    }
    let number = |range: std::ops::Range<usize>| b[range].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let (day, month) = (number(0..2), number(2..4));
    if !(1..=31).contains(&day) || !(1..=12).contains(&month) {
        return false;
    }
    let n = number(0..6) * 1000 + number(7..10);
    CHECK[(n % 31) as usize] == b[10]
}

/// Replaces anything shaped like an identity code, wherever it stands, by `<identity code>`
/// (the shared redactor of `portti-adapter-core`, with this crate's placeholder).
pub fn redact(text: &str) -> String {
    portti_adapter_core::redact_identity_codes_as(text, "<identity code>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes_pass_and_wrong_ones_fail() {
        for code in [
            "010594Y9032",
            "131052-308T",
            "260881-1233",
            "150370-501A",
            "010101A123N",
        ] {
            assert!(is_valid(code), "{code}");
        }
        for code in [
            "131052-308U", // wrong check character
            "131052*308T", // no century sign
            "131352-308T", // month 13
            "131052-308",  // too short
            "131052-308TT",
            "13105Z-308T",
            "",
        ] {
            assert!(!is_valid(code), "{code}");
        }
        assert_eq!(normalise(" 010594y9032 "), "010594Y9032");
        assert!(is_valid(&normalise(" 010594y9032 ")));
    }

    #[test]
    fn redaction_removes_every_code_shape() {
        assert_eq!(
            redact("delegate 010594Y9032 for 131052-308t/x"),
            "delegate <identity code> for <identity code>/x"
        );
        assert_eq!(redact("/a/131052-308T?x=1"), "/a/<identity code>?x=1");
        assert_eq!(redact("nothing here 12345"), "nothing here 12345");
        // Even an invalid check character is redacted: it is still someone's code mistyped.
        assert_eq!(redact("131052-308U"), "<identity code>");
        assert_eq!(redact("ä131052-308Tö"), "ä<identity code>ö");
    }
}
