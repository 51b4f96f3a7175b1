//! What regional systems send: every field is loosely typed text so that normalisation can
//! accept the many ways systems write it and report every problem at once.

use serde::Deserialize;
use utoipa::ToSchema;

/// The issue's example of what a regional system sends: used by tests and the benchmark.
pub const EXAMPLE: &str = r#"{ "organiser": "853", "handled_by": { "organisation": "853", "professional": "tt-4711" },
  "channel": "phone", "language": "svenska",
  "received_at": "2026-11-02T09:15:00+02:00", "answered_at": "2026-11-02T09:15:09+02:00",
  "closed_at": "2026-11-02T09:24:00+02:00",
  "client": { "identity_code": "131052-308t", "given_name": " Aino ", "family_name": "Virtanen",
              "municipality": "Åbo", "phone": "040 123 4567" },
  "contact_person": { "relation": "child", "given_name": "Mikko", "family_name": "Virtanen",
                      "phone": "+358 50 123 4567" },
  "topics": [], "outcome": "resolved_first_contact", "notes": "Asked about home care." }"#;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    /// Municipality code or name, or a configured organisation id or OID.
    #[schema(example = "853")]
    pub organiser: Option<String>,
    pub handled_by: Option<HandledByInput>,
    /// phone, chat, email, face_to_face, e_service or help_button.
    #[schema(example = "phone")]
    pub channel: Option<String>,
    /// fi, sv or en in any common spelling (fi-FI, suomi, svenska…).
    #[schema(example = "svenska")]
    pub language: Option<String>,
    /// RFC 3339 with an offset.
    #[schema(example = "2026-11-02T09:15:00+02:00")]
    pub received_at: Option<String>,
    pub answered_at: Option<String>,
    pub closed_at: Option<String>,
    /// Omit (or null) for an anonymous contact.
    pub client: Option<ClientInput>,
    pub contact_person: Option<ContactPersonInput>,
    #[serde(default)]
    pub topics: Vec<TopicInput>,
    /// resolved_first_contact, referred_service_need_assessment, transferred or open.
    #[schema(example = "resolved_first_contact")]
    pub outcome: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandledByInput {
    pub organisation: Option<String>,
    pub professional: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    #[schema(example = "131052-308T")]
    pub identity_code: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Home municipality: code, Finnish or Swedish name.
    pub municipality: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPersonInput {
    pub relation: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicInput {
    pub code: Option<String>,
    pub code_system: Option<String>,
    pub display: Option<String>,
}
