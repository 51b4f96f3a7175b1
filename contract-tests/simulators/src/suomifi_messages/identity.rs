//! Finnish personal identity codes (henkilötunnus) and Business IDs (Y-tunnus): enough to tell a well-formed
//! recipient id from a typo, as the real service looks recipients up in the population and trade registers.

const CHECK_CHARS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
const CENTURY_SIGNS: &str = "+-YXWVUABCDEF";

/// `DDMMYYCNNNT` with a valid century sign and check character (upper case).
pub fn is_valid_identity_code(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 11 || !CENTURY_SIGNS.contains(b[6] as char) {
        return false;
    }
    let digits = [&code[0..6], &code[7..10]].concat();
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let Ok(n) = digits.parse::<u64>() else { return false };
    CHECK_CHARS[(n % 31) as usize] == b[10]
}

/// `NNNNNNN-C` with a valid check digit.
pub fn is_valid_business_id(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 9 || b[7] != b'-' || !b[..7].iter().chain(&b[8..]).all(u8::is_ascii_digit) {
        return false;
    }
    const WEIGHTS: [u32; 7] = [7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..7].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let check = match sum % 11 {
        0 => 0,
        1 => return false,
        r => 11 - r,
    };
    u32::from(b[8] - b'0') == check
}

/// The check character for a date part `DDMMYY` and individual number `NNN`.
#[cfg(test)]
pub fn check_char(date: &str, individual: &str) -> char {
    let n: u64 = format!("{date}{individual}").parse().unwrap();
    CHECK_CHARS[(n % 31) as usize] as char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_codes() {
        assert!(is_valid_identity_code("131052-308T"));
        assert!(is_valid_identity_code("010594Y9032"));
        assert!(!is_valid_identity_code("131052-308U"));
        assert!(!is_valid_identity_code("131052Z308T"));
        assert_eq!(check_char("260881", "123"), '3');
    }

    #[test]
    fn business_ids() {
        assert!(is_valid_business_id("0201256-6"));
        assert!(!is_valid_business_id("0201256-5"));
        assert!(is_valid_business_id("1234567-1"));
        assert!(!is_valid_business_id("1234567-2"));
        assert!(!is_valid_business_id("123456-12"));
    }
}
