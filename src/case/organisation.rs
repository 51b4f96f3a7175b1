//! Organisations that organise or handle service guidance: every municipality of the
//! classification, plus the joint authorities and wellbeing services counties named in config.

use super::municipality;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    Municipality,
    JointAuthority,
    WellbeingServicesCounty,
}

/// An organisation as configured (`[[organisations]]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organisation {
    /// The id callers use and tokens carry in `orgs`, e.g. "853" or "varha".
    pub id: String,
    pub kind: OrganisationKind,
    /// The organisation's OID in the national social and health care organisation register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    pub name_fi: String,
    pub name_sv: String,
}

/// Looks organisations up by id, OID or name.
#[derive(Debug, Clone, Default)]
pub struct OrganisationRegistry {
    configured: HashMap<String, Organisation>,
}

impl OrganisationRegistry {
    pub fn new(configured: impl IntoIterator<Item = Organisation>) -> Self {
        let mut map = HashMap::new();
        for org in configured {
            map.insert(org.id.clone(), org);
        }
        Self { configured: map }
    }

    /// Resolves a configured organisation (id, OID or name) or a municipality (code or name)
    /// to its canonical organisation.
    pub fn resolve(&self, input: &str) -> Option<Organisation> {
        let input = input.trim();
        if let Some(org) = self.configured.get(input) {
            return Some(org.clone());
        }
        let key = super::fold;
        let wanted = key(input);
        if let Some(org) = self
            .configured
            .values()
            .find(|o| o.oid.as_deref() == Some(input) || key(&o.name_fi) == wanted || key(&o.name_sv) == wanted)
        {
            return Some(org.clone());
        }
        municipality::resolve(input).map(|m| Organisation {
            id: m.code.clone(),
            kind: OrganisationKind::Municipality,
            oid: None,
            name_fi: m.name_fi.clone(),
            name_sv: m.name_sv.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varha() -> Organisation {
        Organisation {
            id: "varha".into(),
            kind: OrganisationKind::WellbeingServicesCounty,
            oid: Some("1.2.246.10.1234567.10".into()),
            name_fi: "Varsinais-Suomen hyvinvointialue".into(),
            name_sv: "Egentliga Finlands välfärdsområde".into(),
        }
    }

    #[test]
    fn configured_organisations_resolve_by_id_oid_and_name() {
        let registry = OrganisationRegistry::new([varha()]);
        for input in [
            "varha",
            "1.2.246.10.1234567.10",
            "Varsinais-Suomen hyvinvointialue",
            "egentliga finlands välfärdsområde",
        ] {
            assert_eq!(registry.resolve(input).unwrap().id, "varha", "{input}");
        }
    }

    #[test]
    fn municipalities_resolve_without_configuration() {
        let registry = OrganisationRegistry::default();
        let turku = registry.resolve("Åbo").unwrap();
        assert_eq!(turku.id, "853");
        assert_eq!(turku.kind, OrganisationKind::Municipality);
        assert!(registry.resolve("Atlantis").is_none());
    }
}
