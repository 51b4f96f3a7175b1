//! Phone numbers to E.164, using the libphonenumber metadata (the `phonenumber` crate).

use phonenumber::{country, Mode};

/// Parses a number as a Finnish system writes it ("040 123 4567", "+358 50 123 4567",
/// "00358 40 1234567") and returns it in E.164 ("+358401234567") if it is a valid number.
pub fn to_e164(input: &str) -> Option<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 32 {
        return None;
    }
    let international = trimmed
        .strip_prefix("00")
        .map(|rest| format!("+{rest}"))
        .unwrap_or_else(|| trimmed.to_string());
    let number = phonenumber::parse(Some(country::Id::FI), &international).ok()?;
    if !phonenumber::is_valid(&number) {
        return None;
    }
    Some(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finnish_numbers_in_the_ways_people_write_them() {
        let table = [
            ("040 123 4567", "+358401234567"),
            ("040-1234567", "+358401234567"),
            ("+358 40 123 4567", "+358401234567"),
            ("+358 50 123 4567", "+358501234567"),
            ("00358 40 1234567", "+358401234567"),
            ("(02) 262 6262", "+35822626262"),
            ("09 310 1691", "+35893101691"),
        ];
        for (input, expected) in table {
            assert_eq!(to_e164(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(to_e164("+46 8 123 456 78").as_deref(), Some("+46812345678"));
        assert_eq!(to_e164("0046 70 123 45 67").as_deref(), Some("+46701234567"));
    }

    #[test]
    fn garbage_is_refused() {
        for input in ["", "abc", "123", "040", "+358", "040 123 4567 8901 2345 6789 0123 45"] {
            assert_eq!(to_e164(input), None, "{input}");
        }
    }
}
