//! Statistics Finland's classification of municipalities, shipped as `data/municipalities.csv`.
//!
//! Regional systems name a municipality by code ("853", "91"), by its Finnish name ("Turku")
//! or by its Swedish name ("Åbo"); all of them resolve to the three-digit code.

use std::collections::HashMap;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

/// The classification file; its comment lines name the source and the year.
pub const CLASSIFICATION_CSV: &str = include_str!("data/municipalities.csv");

/// The code system OID of Statistics Finland's municipality codes.
pub const MUNICIPALITY_CODE_SYSTEM: &str = "1.2.246.537.6.21";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality {
    pub code: String,
    pub name_fi: String,
    pub name_sv: String,
}

struct Classification {
    by_code: HashMap<String, Municipality>,
    by_name: HashMap<String, String>,
}

static CLASSIFICATION: LazyLock<Classification> = LazyLock::new(|| {
    let mut by_code = HashMap::new();
    let mut by_name = HashMap::new();
    let rows = CLASSIFICATION_CSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1); // header
    for line in rows {
        let mut cols = line.split(';').map(str::trim);
        let (Some(code), Some(fi), Some(sv)) = (cols.next(), cols.next(), cols.next()) else {
            panic!("malformed municipality row: {line}");
        };
        let m = Municipality {
            code: code.to_string(),
            name_fi: fi.nfc().collect(),
            name_sv: sv.nfc().collect(),
        };
        // Bilingual official names ("Maarianhamina - Mariehamn") are also known by each half.
        for name in [&m.name_fi, &m.name_sv] {
            by_name.insert(super::fold(name), m.code.clone());
            for part in name.split(" - ") {
                by_name.entry(super::fold(part)).or_insert_with(|| m.code.clone());
            }
        }
        by_code.insert(m.code.clone(), m);
    }
    Classification { by_code, by_name }
});

/// Resolves a code (with or without leading zeros) or a Finnish or Swedish name.
pub fn resolve(input: &str) -> Option<&'static Municipality> {
    let input = input.trim();
    let classification = &*CLASSIFICATION;
    if !input.is_empty() && input.len() <= 3 && input.bytes().all(|b| b.is_ascii_digit()) {
        return classification.by_code.get(&format!("{input:0>3}"));
    }
    let code = classification.by_name.get(&super::fold(input))?;
    classification.by_code.get(code)
}

/// Every municipality in the classification, for listing and tests.
pub fn all() -> impl Iterator<Item = &'static Municipality> {
    CLASSIFICATION.by_code.values()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_classification_is_shipped() {
        let count = all().count();
        assert!(count >= 308, "only {count} municipalities in the data file");
        assert!(CLASSIFICATION_CSV.contains("Statistics Finland"));
        for m in all() {
            assert_eq!(m.code.len(), 3, "{m:?}");
            assert!(!m.name_fi.is_empty() && !m.name_sv.is_empty(), "{m:?}");
        }
    }

    #[test]
    fn names_in_both_languages_resolve_to_the_code() {
        let table = [
            ("Turku", "853"),
            ("Åbo", "853"),
            ("åbo", "853"),
            ("TURKU", "853"),
            ("Parainen", "445"),
            ("Pargas", "445"),
            ("Helsinki", "091"),
            ("Helsingfors", "091"),
            ("Raisio", "680"),
            ("Reso", "680"),
            ("Naantali", "529"),
            ("Nådendal", "529"),
            ("Kemiönsaari", "322"),
            ("Kimitoön", "322"),
            ("Maarianhamina", "478"),
            ("Mariehamn", "478"),
            ("Vaasa", "905"),
            ("Vasa", "905"),
            ("Kaarina", "202"),
            ("S:t Karins", "202"),
            ("Utsjoki", "890"),
            ("Alajärvi", "005"),
        ];
        for (name, code) in table {
            assert_eq!(resolve(name).map(|m| m.code.as_str()), Some(code), "{name}");
        }
    }

    #[test]
    fn codes_resolve_with_or_without_leading_zeros() {
        assert_eq!(resolve("91").unwrap().name_sv, "Helsingfors");
        assert_eq!(resolve("091").unwrap().name_fi, "Helsinki");
        assert_eq!(resolve(" 853 ").unwrap().name_sv, "Åbo");
        assert_eq!(resolve("5").unwrap().code, "005");
    }

    #[test]
    fn decomposed_unicode_is_accepted() {
        // "Åbo" with a combining ring above, as some systems send it.
        assert_eq!(resolve("A\u{30a}bo").unwrap().code, "853");
    }

    #[test]
    fn unknown_names_and_codes_are_not_resolved() {
        for input in ["Atlantis", "", "999", "0000", "Turku2", "000"] {
            assert!(resolve(input).is_none(), "{input}");
        }
    }
}
