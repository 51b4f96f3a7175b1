//! The canonical case: one client contact handled by service guidance, after normalisation.
//!
//! Whatever a regional system sent (`input::CaseInput`), the rest of Portti only ever sees a
//! [`Case`]: codes instead of names, E.164 phone numbers, UTC timestamps, verified identity codes.

pub mod help;
pub mod hetu;
pub mod holidays;
pub mod input;
pub mod municipality;
mod normalise;
pub mod organisation;
pub mod phone;

pub use hetu::IdentityCode;
pub use normalise::{normalise, parse_language, Context as NormaliseContext, FieldError, Limits};
pub use organisation::{Organisation, OrganisationKind, OrganisationRegistry};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Case {
    pub id: Uuid,
    /// The organisation responsible for organising the service (municipality or county).
    pub organiser: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<HandledBy>,
    pub channel: Channel,
    pub language: Language,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Absent for an anonymous contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Client>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_person: Option<ContactPerson>,
    pub topics: Vec<Topic>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The reference given to the person who asked for help (`APU-2026-000123`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "APU-2026-000123")]
    pub reference: Option<String>,
    /// When an answer is due (a help request: the end of the next working day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_by: Option<DateTime<Utc>>,
    /// Where the case came from when a national service brought it (an Omaolo self-assessment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CaseSource>,
    /// When Portti accepted the case.
    pub recorded_at: DateTime<Utc>,
    /// The API client that submitted the case.
    pub recorded_by: String,
}

/// The resource a case was made from, kept so that status and replies can go back to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseSource {
    /// The adapter's service name, e.g. `oda`.
    pub system: String,
    /// E.g. `QuestionnaireResponse/oa-853-1`.
    pub resource: String,
    /// The urgency the self-assessment gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
}

impl Case {
    /// The organisation whose data this case is: the handler's, else the organiser's.
    pub fn owner(&self) -> &str {
        self.handled_by
            .as_ref()
            .map(|h| h.organisation.as_str())
            .unwrap_or(&self.organiser)
    }

    /// Every organisation that may read this case.
    pub fn organisations(&self) -> [&str; 2] {
        [self.organiser.as_str(), self.owner()]
    }

    pub fn identity_code(&self) -> Option<&IdentityCode> {
        self.client.as_ref().map(|c| &c.identity_code)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HandledBy {
    pub organisation: String,
    /// The professional's user id in the handling organisation's system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub professional: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    Chat,
    Email,
    FaceToFace,
    EService,
    HelpButton,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Fi,
    Sv,
    En,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Fi => "fi",
            Language::Sv => "sv",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    ResolvedFirstContact,
    ReferredServiceNeedAssessment,
    Transferred,
    Open,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Client {
    #[schema(value_type = String, example = "131052-308T")]
    pub identity_code: IdentityCode,
    pub birth_date: NaiveDate,
    /// True for a temporary identity code (individual number 900–999).
    pub temporary_identity_code: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Home municipality as a Statistics Finland code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    /// E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Spouse,
    Child,
    Grandchild,
    Parent,
    Sibling,
    OtherRelative,
    Friend,
    Neighbour,
    /// Edunvalvoja: a guardian appointed by the court.
    Guardian,
    Professional,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContactPerson {
    pub relation: Relation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Topic {
    pub code: String,
    /// The OID of the code system, e.g. THL's social welfare service task 1.2.246.537.6.1221.
    pub code_system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Trimmed, NFC, lower case: how names and aliases are compared, whatever a system sent.
pub(crate) fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.trim().nfc().flat_map(char::to_lowercase).collect()
}

impl Serialize for IdentityCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IdentityCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IdentityCode::parse(&s).map_err(serde::de::Error::custom)
    }
}
