//! The "ask for help" (pyydä apua) button: a request from the public becomes an open case in
//! its municipality's guidance queue, anonymous unless the person leaves a name or contact.
//!
//! The request is checked field by field here; the case itself is made by [`super::normalise`],
//! so it holds to every rule of a case from a regional system. Each refusal names its field
//! and can be worded in Finnish and Swedish for the person at the form.

use super::input::{CaseInput, ContactPersonInput};
use super::{hetu, holidays, municipality, normalise, phone, Case, Language, NormaliseContext};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;
use utoipa::ToSchema;

/// Most characters in a message.
pub const MESSAGE_CHARS: usize = 2000;
/// Most characters in a name.
pub const NAME_CHARS: usize = 200;
/// The actor of help requests in the audit trail.
pub const ACTOR: &str = "help-button";

/// What the button's form (or a municipality's own page) sends.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HelpRequestInput {
    /// Municipality code, Finnish or Swedish name.
    #[schema(example = "853")]
    pub municipality: Option<String>,
    /// `fi` or `sv`.
    #[schema(example = "fi")]
    pub language: Option<String>,
    /// What the person needs help with (at most 2000 characters).
    #[schema(example = "Äitini tarvitsisi apua kotiin.")]
    pub message: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// A number to call back, when other than `phone`.
    pub callback_phone: Option<String>,
    /// Leave empty (a trap for robots: a value is refused).
    pub website: Option<String>,
}

impl HelpRequestInput {
    /// Whether the field that people never see was filled in, as robots do.
    pub fn honeypot_filled(&self) -> bool {
        self.website.as_deref().is_some_and(|w| !w.trim().is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpField {
    Municipality,
    Language,
    Message,
    Name,
    Phone,
    Email,
    CallbackPhone,
    Website,
}

impl HelpField {
    /// The field's name in the JSON body and the form.
    pub fn name(self) -> &'static str {
        match self {
            HelpField::Municipality => "municipality",
            HelpField::Language => "language",
            HelpField::Message => "message",
            HelpField::Name => "name",
            HelpField::Phone => "phone",
            HelpField::Email => "email",
            HelpField::CallbackPhone => "callback_phone",
            HelpField::Website => "website",
        }
    }

    pub fn pointer(self) -> String {
        format!("/{}", self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpProblem {
    Required,
    UnknownMunicipality,
    Language,
    TooLong(usize),
    IdentityCode,
    Phone,
    Email,
    Name,
    /// The honeypot was filled in.
    NotAccepted,
    /// Any other rule of a case (its English detail).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpFieldError {
    pub field: HelpField,
    pub problem: HelpProblem,
}

impl HelpFieldError {
    fn new(field: HelpField, problem: HelpProblem) -> Self {
        Self { field, problem }
    }

    /// The English detail of the API's problem document.
    pub fn detail(&self) -> String {
        match &self.problem {
            HelpProblem::Required => "is required".into(),
            HelpProblem::UnknownMunicipality => "is not a municipality code, Finnish or Swedish name".into(),
            HelpProblem::Language => "must be fi or sv".into(),
            HelpProblem::TooLong(n) => format!("at most {n} characters"),
            HelpProblem::IdentityCode => "must not contain a personal identity code".into(),
            HelpProblem::Phone => "is not a valid phone number".into(),
            HelpProblem::Email => "is not a valid e-mail address".into(),
            HelpProblem::Name => format!("at most {NAME_CHARS} characters, without digits or control characters"),
            HelpProblem::NotAccepted => "the request could not be accepted".into(),
            HelpProblem::Other(detail) => detail.clone(),
        }
    }

    /// The message shown next to the field in the person's language.
    pub fn text(&self, language: Language) -> String {
        let sv = language == Language::Sv;
        let pick = |fi: &str, sv_text: &str| if sv { sv_text.to_string() } else { fi.to_string() };
        match &self.problem {
            HelpProblem::Required if self.field == HelpField::Message => pick(
                "Kirjoita viesti: kerro, missä asiassa tarvitset apua.",
                "Skriv ett meddelande: berätta vad du behöver hjälp med.",
            ),
            HelpProblem::Required => pick("Tämä tieto on pakollinen.", "Uppgiften är obligatorisk."),
            HelpProblem::UnknownMunicipality => pick(
                "Kuntaa ei tunnistettu. Kirjoita kunnan nimi, esimerkiksi Turku.",
                "Kommunen kändes inte igen. Skriv kommunens namn, till exempel Åbo.",
            ),
            HelpProblem::Language => pick("Valitse kieleksi suomi tai ruotsi.", "Välj finska eller svenska."),
            HelpProblem::TooLong(n) => {
                if sv {
                    format!("Texten är för lång: högst {n} tecken.")
                } else {
                    format!("Teksti on liian pitkä: enintään {n} merkkiä.")
                }
            }
            HelpProblem::IdentityCode => pick(
                "Älä kirjoita viestiin henkilötunnusta.",
                "Skriv inte din personbeteckning i meddelandet.",
            ),
            HelpProblem::Phone => pick(
                "Puhelinnumero ei kelpaa. Kirjoita se esimerkiksi muodossa 040 123 4567.",
                "Telefonnumret är ogiltigt. Skriv det till exempel som 040 123 4567.",
            ),
            HelpProblem::Email => pick(
                "Sähköpostiosoite ei kelpaa. Tarkista osoite, esimerkiksi nimi@esimerkki.fi.",
                "E-postadressen är ogiltig. Kontrollera adressen, till exempel namn@exempel.fi.",
            ),
            HelpProblem::Name => pick(
                "Nimessä ei voi olla numeroita, ja se voi olla enintään 200 merkkiä.",
                "Namnet får inte innehålla siffror och kan vara högst 200 tecken.",
            ),
            HelpProblem::NotAccepted => pick("Pyyntöä ei voitu vastaanottaa.", "Begäran kunde inte tas emot."),
            HelpProblem::Other(_) => pick("Tieto ei kelpaa.", "Uppgiften är ogiltig."),
        }
    }
}

/// The request's language, when it is one the button speaks (Finnish or Swedish).
pub fn language(value: Option<&str>) -> Option<Language> {
    value
        .and_then(super::parse_language)
        .filter(|l| matches!(l, Language::Fi | Language::Sv))
}

/// Free text from the public: line breaks kept (as `\n`), every other control character and
/// the bidirectional overrides that can disguise text removed, NFC, trimmed.
pub fn sanitise_message(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String = unified
        .chars()
        .filter(|&c| c == '\n' || !(c.is_control() || is_bidi_control(c)))
        .nfc()
        .collect();
    kept.trim().to_string()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn optional(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Checks a help request and makes its case: channel `help_button`, outcome `open`, the
/// municipality as organiser, due at the end of the next working day; or lists every problem.
pub fn normalise_help_request(
    input: &HelpRequestInput,
    cx: &NormaliseContext<'_>,
) -> Result<Case, Vec<HelpFieldError>> {
    use HelpField as F;
    use HelpProblem as P;
    let mut errors = Vec::new();
    let mut refuse = |field, problem| errors.push(HelpFieldError::new(field, problem));

    let municipality = match optional(&input.municipality) {
        None => {
            refuse(F::Municipality, P::Required);
            None
        }
        Some(v) => municipality::resolve(v).or_else(|| {
            refuse(F::Municipality, P::UnknownMunicipality);
            None
        }),
    };
    let language = match optional(&input.language) {
        None => {
            refuse(F::Language, P::Required);
            None
        }
        Some(v) => language(Some(v)).or_else(|| {
            refuse(F::Language, P::Language);
            None
        }),
    };
    let message = sanitise_message(input.message.as_deref().unwrap_or(""));
    if message.is_empty() {
        refuse(F::Message, P::Required);
    } else if message.chars().count() > MESSAGE_CHARS {
        refuse(F::Message, P::TooLong(MESSAGE_CHARS));
    } else if hetu::contains_identity_code(&message) {
        refuse(F::Message, P::IdentityCode);
    }
    let name = optional(&input.name).and_then(|v| {
        let v: String = v.nfc().collect();
        if v.chars().count() > NAME_CHARS || v.chars().any(|c| c.is_control() || c.is_numeric()) {
            refuse(F::Name, P::Name);
            None
        } else {
            Some(v)
        }
    });
    let mut phone_of = |field, value: &Option<String>| {
        optional(value).and_then(|v| {
            phone::to_e164(v).or_else(|| {
                refuse(field, P::Phone);
                None
            })
        })
    };
    let phone = phone_of(F::Phone, &input.phone);
    let callback_phone = phone_of(F::CallbackPhone, &input.callback_phone);
    let email = optional(&input.email).and_then(|v| {
        if super::normalise::is_email(v) {
            Some(v.to_string())
        } else {
            refuse(F::Email, P::Email);
            None
        }
    });
    let (Some(municipality), Some(language)) = (municipality, language) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }

    // The number to call is the callback number if given; another number goes in the notes.
    let mut notes = message;
    if let (Some(own), Some(callback)) = (&phone, &callback_phone) {
        if own != callback {
            let label = if language == Language::Sv {
                "Annat telefonnummer"
            } else {
                "Toinen puhelinnumero"
            };
            notes.push_str(&format!("\n\n{label}: {own}"));
        }
    }
    let contact_phone = callback_phone.or(phone);
    // A name as written is split at its last space: given names, then the family name.
    let (given_name, family_name) = match name
        .as_deref()
        .map(str::trim)
        .map(|n| n.rsplit_once(char::is_whitespace))
    {
        Some(Some((given, family))) => (Some(given.trim().to_string()), Some(family.to_string())),
        Some(None) => (name.clone(), None),
        None => (None, None),
    };
    let contact_person =
        (given_name.is_some() || contact_phone.is_some() || email.is_some()).then(|| ContactPersonInput {
            relation: Some("other".into()),
            given_name,
            family_name,
            phone: contact_phone,
            email,
        });
    let case_input = CaseInput {
        organiser: Some(municipality.code.clone()),
        channel: Some("help_button".into()),
        language: Some(language.code().into()),
        received_at: Some(cx.now.to_rfc3339()),
        contact_person,
        outcome: Some("open".into()),
        notes: Some(notes),
        ..CaseInput::default()
    };
    let mut case = normalise(case_input, cx).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                let field = match e.pointer.as_str() {
                    "/organiser" => F::Municipality,
                    "/language" => F::Language,
                    "/contact_person/given_name" | "/contact_person/family_name" => F::Name,
                    "/contact_person/phone" => F::Phone,
                    "/contact_person/email" => F::Email,
                    _ => F::Message,
                };
                HelpFieldError::new(field, P::Other(e.detail))
            })
            .collect::<Vec<_>>()
    })?;
    case.due_by = Some(holidays::answer_due(case.received_at));
    Ok(case)
}

/// The municipality of a request, when it names one (for the audit record of a refusal).
pub fn municipality_code(input: &HelpRequestInput) -> Option<String> {
    optional(&input.municipality)
        .and_then(municipality::resolve)
        .map(|m| m.code.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Channel, Limits, OrganisationRegistry, Outcome, Relation};
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn run(input: HelpRequestInput) -> Result<Case, Vec<HelpFieldError>> {
        let registry = OrganisationRegistry::default();
        let now: DateTime<Utc> = "2026-04-02T09:00:00Z".parse().unwrap();
        normalise_help_request(
            &input,
            &NormaliseContext {
                registry: &registry,
                limits: Limits::default(),
                now,
                id: Uuid::now_v7(),
                recorded_by: ACTOR,
            },
        )
    }

    fn input() -> HelpRequestInput {
        HelpRequestInput {
            municipality: Some("Åbo".into()),
            language: Some("sv".into()),
            message: Some("  Min mamma behöver hjälp hemma.\r\nHon bor ensam. ".into()),
            ..HelpRequestInput::default()
        }
    }

    #[test]
    fn an_anonymous_request_becomes_an_open_case_of_its_municipality() {
        let case = run(input()).unwrap();
        assert_eq!(case.organiser, "853");
        assert_eq!(case.channel, Channel::HelpButton);
        assert_eq!(case.outcome, Outcome::Open);
        assert_eq!(case.language, Language::Sv);
        assert!(case.client.is_none() && case.contact_person.is_none());
        assert_eq!(
            case.notes.as_deref(),
            Some("Min mamma behöver hjälp hemma.\nHon bor ensam.")
        );
        assert_eq!(case.due_by, Some("2026-04-07T13:15:00Z".parse().unwrap()));
        assert_eq!(case.recorded_by, ACTOR);
    }

    #[test]
    fn a_name_and_phones_make_a_contact_person() {
        let case = run(HelpRequestInput {
            name: Some(" Anna-Liisa  Virtanen ".into()),
            phone: Some("040 123 4567".into()),
            callback_phone: Some("050 123 4567".into()),
            email: Some("anna@example.fi".into()),
            ..input()
        })
        .unwrap();
        let contact = case.contact_person.unwrap();
        assert_eq!(contact.relation, Relation::Other);
        assert_eq!(contact.given_name.as_deref(), Some("Anna-Liisa"));
        assert_eq!(contact.family_name.as_deref(), Some("Virtanen"));
        assert_eq!(contact.phone.as_deref(), Some("+358501234567"));
        assert_eq!(contact.email.as_deref(), Some("anna@example.fi"));
        assert!(case.notes.unwrap().ends_with("Annat telefonnummer: +358401234567"));
    }

    #[test]
    fn control_characters_go_and_line_breaks_stay() {
        assert_eq!(sanitise_message("a\u{0}b\u{7}\tc\r\nd\u{202E}e\n"), "abc\nde");
        // Decomposed "ä" becomes one character.
        assert_eq!(sanitise_message("a\u{308}iti"), "äiti");
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let errors = run(HelpRequestInput {
            municipality: Some("Atlantis".into()),
            language: Some("en".into()),
            message: Some("x".repeat(MESSAGE_CHARS + 1)),
            name: Some("R2D2".into()),
            phone: Some("123".into()),
            email: Some("not an address".into()),
            callback_phone: Some("abc".into()),
            website: None,
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                HelpField::Municipality,
                HelpField::Language,
                HelpField::Message,
                HelpField::Name,
                HelpField::Phone,
                HelpField::CallbackPhone,
                HelpField::Email
            ]
        );
        assert_eq!(errors[2].problem, HelpProblem::TooLong(MESSAGE_CHARS));
        assert!(errors[2].text(Language::Fi).contains("enintään 2000"));
        assert!(errors[2].text(Language::Sv).contains("högst 2000"));
    }

    #[test]
    fn a_message_of_exactly_the_limit_is_accepted_and_an_empty_one_is_not() {
        assert!(run(HelpRequestInput {
            message: Some("ä".repeat(MESSAGE_CHARS)),
            ..input()
        })
        .is_ok());
        let errors = run(HelpRequestInput {
            message: Some(" \u{7}\n ".into()),
            ..input()
        })
        .unwrap_err();
        assert_eq!(errors, [HelpFieldError::new(HelpField::Message, HelpProblem::Required)]);
    }

    #[test]
    fn identity_codes_stay_out_of_the_message() {
        let errors = run(HelpRequestInput {
            message: Some("Hetuni on 131052-308T".into()),
            ..input()
        })
        .unwrap_err();
        assert_eq!(errors[0].problem, HelpProblem::IdentityCode);
    }

    #[test]
    fn the_honeypot_is_seen() {
        assert!(!input().honeypot_filled());
        assert!(!HelpRequestInput {
            website: Some("  ".into()),
            ..input()
        }
        .honeypot_filled());
        assert!(HelpRequestInput {
            website: Some("http://spam.example".into()),
            ..input()
        }
        .honeypot_filled());
    }
}
