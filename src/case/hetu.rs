//! Finnish personal identity code (henkilötunnus, "hetu").
//!
//! Regional systems send codes in lower case, with spaces, or with the century signs that
//! came into use in 2023; the canonical form is upper case with the sign as given, because
//! `010101-123N` and `010101Y123N` are two different people.

use chrono::NaiveDate;
use std::fmt;

const CHECK_CHARS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// A verified identity code with what can be derived from it.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityCode {
    code: String,
    birth_date: NaiveDate,
    temporary: bool,
}

/// Why a string is not a valid identity code; shown to callers, never containing the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HetuError {
    #[error("must be 11 characters: DDMMYY, a century sign, three digits and a check character")]
    Length,
    #[error("the first six characters must be digits (DDMMYY)")]
    DateDigits,
    #[error("unknown century sign; allowed are + - Y X W V U A B C D E F")]
    CenturySign,
    #[error("the individual number must be three digits between 002 and 999")]
    IndividualNumber,
    #[error("the birth date is not a real date")]
    ImpossibleDate,
    #[error("the check character does not match")]
    Checksum,
}

impl IdentityCode {
    /// Parses what a regional system sent: case-insensitive, whitespace anywhere ignored.
    pub fn parse(input: &str) -> Result<Self, HetuError> {
        let code: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = code.as_bytes();
        if bytes.len() != 11 || !code.is_ascii() {
            return Err(HetuError::Length);
        }
        if !bytes[..6].iter().all(u8::is_ascii_digit) {
            return Err(HetuError::DateDigits);
        }
        let century = match bytes[6] {
            b'+' => 1800,
            b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => 1900,
            b'A' | b'B' | b'C' | b'D' | b'E' | b'F' => 2000,
            _ => return Err(HetuError::CenturySign),
        };
        if !bytes[7..10].iter().all(u8::is_ascii_digit) {
            return Err(HetuError::IndividualNumber);
        }
        let individual: u32 = code[7..10].parse().map_err(|_| HetuError::IndividualNumber)?;
        if individual < 2 {
            return Err(HetuError::IndividualNumber);
        }
        let two = |i: usize| -> u32 { code[i..i + 2].parse().unwrap_or(0) };
        let birth_date =
            NaiveDate::from_ymd_opt(century + two(4) as i32, two(2), two(0)).ok_or(HetuError::ImpossibleDate)?;
        let number: u64 = format!("{}{}", &code[..6], &code[7..10])
            .parse()
            .map_err(|_| HetuError::DateDigits)?;
        if check_char(number) as u8 != bytes[10] {
            return Err(HetuError::Checksum);
        }
        Ok(Self {
            code,
            birth_date,
            temporary: individual >= 900,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.code
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Individual numbers 900–999 are temporary codes given by e.g. hospitals, not by DVV.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }
}

/// Debug output never shows the code, so a stray `{:?}` cannot leak it into a log.
impl fmt::Debug for IdentityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityCode(<redacted>)")
    }
}

/// Whether a free-text value looks like it contains an identity code (used to refuse such
/// values in fields that end up in logs or the audit trail in clear).
/// Whitespace is ignored, as [`IdentityCode::parse`] ignores it.
pub fn contains_identity_code(text: &str) -> bool {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    chars.windows(11).any(|w| {
        let s: String = w.iter().collect();
        IdentityCode::parse(&s).is_ok()
    })
}

/// The check character for the nine digits DDMMYY + individual number.
pub fn check_char(nine_digits: u64) -> char {
    CHECK_CHARS[(nine_digits % 31) as usize] as char
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid code for a date, sign and individual number, computing the check char.
    fn make(ddmmyy: &str, sign: char, individual: &str) -> String {
        let n: u64 = format!("{ddmmyy}{individual}").parse().unwrap();
        format!("{ddmmyy}{sign}{individual}{}", check_char(n))
    }

    #[test]
    fn accepts_the_example_in_any_case_and_spacing() {
        for input in ["131052-308T", "131052-308t", " 131052 -308t ", "131052-308T\n"] {
            let id = IdentityCode::parse(input).unwrap();
            assert_eq!(id.as_str(), "131052-308T");
            assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1952, 10, 13).unwrap());
            assert!(!id.is_temporary());
        }
    }

    #[test]
    fn every_century_sign_gives_its_century() {
        let table = [
            ('+', 1852),
            ('-', 1952),
            ('Y', 1952),
            ('X', 1952),
            ('W', 1952),
            ('V', 1952),
            ('U', 1952),
            ('A', 2052),
            ('B', 2052),
            ('C', 2052),
            ('D', 2052),
            ('E', 2052),
            ('F', 2052),
        ];
        for (sign, year) in table {
            let code = make("131052", sign, "308");
            let id = IdentityCode::parse(&code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(id.birth_date().to_string(), format!("{year}-10-13"), "{sign}");
            assert_eq!(id.as_str(), code);
            let lower = IdentityCode::parse(&code.to_lowercase()).unwrap();
            assert_eq!(lower.as_str(), code, "lower-case sign {sign}");
        }
    }

    #[test]
    fn unknown_century_signs_are_refused() {
        for sign in ['G', 'Z', '*', '/', '0', 'T'] {
            let code = make("131052", sign, "308");
            assert_eq!(IdentityCode::parse(&code), Err(HetuError::CenturySign), "{sign}");
        }
    }

    #[test]
    fn invalid_checksums_are_refused() {
        let good = make("131052", '-', "308");
        for c in CHECK_CHARS.iter().map(|&b| b as char) {
            let candidate = format!("{}{c}", &good[..10]);
            if candidate != good {
                assert_eq!(IdentityCode::parse(&candidate), Err(HetuError::Checksum));
            }
        }
        assert_eq!(IdentityCode::parse("131052-308A"), Err(HetuError::Checksum));
    }

    #[test]
    fn impossible_dates_are_refused() {
        for ddmmyy in ["310452", "300200", "290221", "000152", "011352", "320152"] {
            let code = make(ddmmyy, '-', "308");
            assert_eq!(IdentityCode::parse(&code), Err(HetuError::ImpossibleDate), "{ddmmyy}");
        }
        // 29 February exists in 2000 and 1952 but not in 1900.
        assert!(IdentityCode::parse(&make("290200", 'A', "123")).is_ok());
        assert!(IdentityCode::parse(&make("290252", '-', "123")).is_ok());
        assert_eq!(
            IdentityCode::parse(&make("290200", '-', "123")),
            Err(HetuError::ImpossibleDate)
        );
    }

    #[test]
    fn temporary_codes_are_flagged_and_reserved_numbers_refused() {
        assert!(IdentityCode::parse(&make("010150", '-', "900")).unwrap().is_temporary());
        assert!(IdentityCode::parse(&make("010150", '-', "999")).unwrap().is_temporary());
        assert!(!IdentityCode::parse(&make("010150", '-', "899")).unwrap().is_temporary());
        assert!(IdentityCode::parse(&make("010150", '-', "002")).is_ok());
        for n in ["000", "001"] {
            assert_eq!(
                IdentityCode::parse(&make("010150", '-', n)),
                Err(HetuError::IndividualNumber)
            );
        }
    }

    #[test]
    fn malformed_shapes_are_refused() {
        assert_eq!(IdentityCode::parse(""), Err(HetuError::Length));
        assert_eq!(IdentityCode::parse("131052-308"), Err(HetuError::Length));
        assert_eq!(IdentityCode::parse("131052-308TT"), Err(HetuError::Length));
        assert_eq!(IdentityCode::parse("13105a-308T"), Err(HetuError::DateDigits));
        assert_eq!(IdentityCode::parse("131052-3O8T"), Err(HetuError::IndividualNumber));
        assert_eq!(IdentityCode::parse("131052-3ä8T"), Err(HetuError::Length));
    }

    #[test]
    fn debug_never_shows_the_code() {
        let id = IdentityCode::parse("131052-308T").unwrap();
        assert!(!format!("{id:?}").contains("131052"));
    }

    #[test]
    fn finds_codes_inside_text() {
        assert!(contains_identity_code("caller 131052-308T asked"));
        assert!(contains_identity_code("131052 -308T"), "spaces inside do not hide it");
        assert!(!contains_identity_code("tt-4711"));
    }
}
