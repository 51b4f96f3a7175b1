//! Keeping personal identity codes out of error strings: what a national service or serde says
//! may quote the values it was given, and error strings end up in logs and the audit trail.

/// Replaces everything shaped like a Finnish personal identity code (DDMMYY, a century sign of
/// 2023, three digits, a check character; case-insensitive) with `[identity code]`. It errs on
/// the side of redacting too much: a run of digits in some other id may be caught too.
pub fn redact_identity_codes(text: &str) -> String {
    redact_identity_codes_as(text, "[identity code]")
}

/// [`redact_identity_codes`] with another placeholder.
pub fn redact_identity_codes_as(text: &str, placeholder: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let shaped = |w: &[char]| {
        w[..6].iter().all(char::is_ascii_digit)
            && "+-YXWVUABCDEFyxwvuabcdef".contains(w[6])
            && w[7..10].iter().all(char::is_ascii_digit)
            && w[10].is_ascii_alphanumeric()
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if i + 11 <= chars.len() && shaped(&chars[i..i + 11]) {
            out.push_str(placeholder);
            i += 11;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// serde's messages quote the offending value (`invalid type: string "…"`): every double-quoted
/// part becomes `"…"`. Field names (in backticks) stay. Redact identity codes afterwards.
pub fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                out.push_str("\"…\"");
                quoted = true;
            }
            ('"', true) => quoted = false,
            (c, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_century_sign_and_either_case_is_redacted() {
        assert_eq!(
            redact_identity_codes("a 131052-308T b 010594y9032 c 150370+501A"),
            "a [identity code] b [identity code] c [identity code]"
        );
        assert_eq!(redact_identity_codes_as("ä131052-308Tö", "<x>"), "ä<x>ö");
        assert_eq!(redact_identity_codes("1310523-08T"), "1310523-08T");
    }

    #[test]
    fn quoted_values_are_dropped_and_field_names_kept() {
        assert_eq!(
            without_quoted_values("invalid type: string \"131052-308T\", expected `person`"),
            "invalid type: string \"…\", expected `person`"
        );
    }
}
