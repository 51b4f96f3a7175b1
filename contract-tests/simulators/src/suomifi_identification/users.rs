//! The test users the simulated IdP can "log in", and the attributes it releases for them.

use serde::{Deserialize, Serialize};

/// Attribute names (SAML `NameFormat` uri) and the FriendlyNames Suomi.fi uses with them.
pub mod attributes {
    /// Personal identity code (henkilötunnus).
    pub const IDENTITY_CODE: &str = "urn:oid:1.2.246.21";
    pub const GIVEN_NAME: &str = "urn:oid:2.5.4.42";
    pub const SURNAME: &str = "urn:oid:2.5.4.4";
    pub const COMMON_NAME: &str = "urn:oid:2.5.4.3";
    /// Home municipality code (three digits).
    pub const HOME_MUNICIPALITY: &str = "urn:oid:1.2.246.517.2002.2.18";
    pub const EIDAS_PERSON_IDENTIFIER: &str = "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier";
    pub const EIDAS_GIVEN_NAME: &str = "http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName";
    pub const EIDAS_FAMILY_NAME: &str = "http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName";
    pub const EIDAS_DATE_OF_BIRTH: &str = "http://eidas.europa.eu/attributes/naturalperson/DateOfBirth";
    /// `NameFormat` of every attribute.
    pub const NAME_FORMAT_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
}

/// A person the IdP can authenticate. JSON (`POST /_simulator/next-user`):
/// `{"kind":"finnish","identityCode":"010594Y9032","givenNames":"Mikko Juhani","surname":"Virtanen","homeMunicipality":"853"}`
/// or `{"kind":"eidas","personIdentifier":"DE/FI/123456789","givenName":"Erika","familyName":"Mustermann","dateOfBirth":"1964-08-12"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TestUser {
    /// A person in the Finnish Population Information System, authenticated with a Finnish means
    /// (bank credentials, mobile certificate, ID card).
    Finnish {
        identity_code: String,
        /// All given names, space-separated (`urn:oid:2.5.4.42`).
        given_names: String,
        surname: String,
        /// Home municipality code, three digits (`urn:oid:1.2.246.517.2002.2.18`).
        home_municipality: String,
    },
    /// A foreign person authenticated through the eIDAS network: no identity code.
    Eidas {
        /// `CC/FI/identifier` (the issuing country, the receiving country, the identifier).
        person_identifier: String,
        given_name: String,
        family_name: String,
        /// `YYYY-MM-DD`.
        date_of_birth: String,
    },
}

impl TestUser {
    /// The identity code, or the eIDAS PersonIdentifier: what selects a user.
    pub fn key(&self) -> &str {
        match self {
            TestUser::Finnish { identity_code, .. } => identity_code,
            TestUser::Eidas { person_identifier, .. } => person_identifier,
        }
    }

    pub fn identity_code(&self) -> Option<&str> {
        match self {
            TestUser::Finnish { identity_code, .. } => Some(identity_code),
            TestUser::Eidas { .. } => None,
        }
    }

    pub fn is_eidas(&self) -> bool {
        matches!(self, TestUser::Eidas { .. })
    }

    /// The attributes released, in order: (Name, FriendlyName, value). A Finnish person gets identity code,
    /// given names, surname, cn (`Surname GivenNames`, as the Population Information System writes it) and
    /// home municipality; an eIDAS person the four natural-person attributes and no identity code.
    pub fn attributes(&self) -> Vec<(&'static str, &'static str, String)> {
        use attributes::*;
        match self {
            TestUser::Finnish {
                identity_code,
                given_names,
                surname,
                home_municipality,
            } => vec![
                (IDENTITY_CODE, "nationalIdentificationNumber", identity_code.clone()),
                (GIVEN_NAME, "givenName", given_names.clone()),
                (SURNAME, "sn", surname.clone()),
                (COMMON_NAME, "cn", format!("{surname} {given_names}")),
                (HOME_MUNICIPALITY, "KotikuntaKuntanumero", home_municipality.clone()),
            ],
            TestUser::Eidas {
                person_identifier,
                given_name,
                family_name,
                date_of_birth,
            } => vec![
                (EIDAS_PERSON_IDENTIFIER, "PersonIdentifier", person_identifier.clone()),
                (EIDAS_GIVEN_NAME, "FirstName", given_name.clone()),
                (EIDAS_FAMILY_NAME, "FamilyName", family_name.clone()),
                (EIDAS_DATE_OF_BIRTH, "DateOfBirth", date_of_birth.clone()),
            ],
        }
    }
}

fn finnish(identity_code: &str, given_names: &str, surname: &str, home_municipality: &str) -> TestUser {
    TestUser::Finnish {
        identity_code: identity_code.into(),
        given_names: given_names.into(),
        surname: surname.into(),
        home_municipality: home_municipality.into(),
    }
}

/// The sandbox users, in this order (the first is logged in unless a test chooses another):
///
/// | # | who | identity code / PersonIdentifier | home municipality |
/// |---|---|---|---|
/// | 0 | Mikko Juhani Virtanen (Finnish-speaking) | `010594Y9032` | 853 Turku |
/// | 1 | Anna-Lena Margareta Lindqvist (Swedish-speaking) | `131052-308T` | 091 Helsinki |
/// | 2 | Erika Mustermann, a German citizen through eIDAS, born 1964-08-12 | `DE/FI/123456789` | — |
///
/// The identity codes are the ones the other sandbox simulators use (valid check characters).
pub fn sandbox_users() -> Vec<TestUser> {
    vec![
        finnish("010594Y9032", "Mikko Juhani", "Virtanen", "853"),
        finnish("131052-308T", "Anna-Lena Margareta", "Lindqvist", "091"),
        TestUser::Eidas {
            person_identifier: "DE/FI/123456789".into(),
            given_name: "Erika".into(),
            family_name: "Mustermann".into(),
            date_of_birth: "1964-08-12".into(),
        },
    ]
}

/// Whether a personal identity code has a valid century sign and check character.
pub fn identity_code_is_valid(code: &str) -> bool {
    const CHECK: &[u8] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let b = code.as_bytes();
    if b.len() != 11 || !b"+-ABCDEFUVWXY".contains(&b[6]) {
        return false;
    }
    let digits: String = code[..6].chars().chain(code[7..10].chars()).collect();
    let Ok(n) = digits.parse::<u64>() else { return false };
    digits.len() == 9 && digits.bytes().all(|d| d.is_ascii_digit()) && CHECK[(n % 31) as usize] == b[10]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_identity_codes_are_valid() {
        for u in sandbox_users() {
            if let Some(code) = u.identity_code() {
                assert!(identity_code_is_valid(code), "{code}");
            }
        }
        assert!(!identity_code_is_valid("010594Y9033"));
    }

    #[test]
    fn json_shape() {
        let u: TestUser = serde_json::from_str(
            r#"{"kind":"eidas","personIdentifier":"DE/FI/1","givenName":"A","familyName":"B","dateOfBirth":"1970-01-01"}"#,
        )
        .unwrap();
        assert!(u.is_eidas());
        let json = serde_json::to_value(&sandbox_users()[0]).unwrap();
        assert_eq!(json["identityCode"], "010594Y9032");
        assert_eq!(json["kind"], "finnish");
    }
}
