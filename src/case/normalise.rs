//! Turns a [`CaseInput`] into a canonical [`Case`], collecting every problem on the way.

use super::input::{CaseInput, ClientInput, ContactPersonInput, HandledByInput, TopicInput};
use super::{
    hetu, municipality, phone, Case, Channel, Client, ContactPerson, HandledBy, IdentityCode, Language,
    OrganisationRegistry, Outcome, Relation, Topic,
};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use utoipa::ToSchema;
use uuid::Uuid;

/// One invalid field: an RFC 6901 JSON pointer into the request body and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    #[schema(example = "/client/identity_code")]
    pub pointer: String,
    pub detail: String,
}

/// Bounds on free text and lists, so one case cannot grow without limit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub notes_chars: usize,
    pub name_chars: usize,
    pub topics: usize,
    /// How far in the future a timestamp may be (clock skew between systems).
    pub future_skew: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            notes_chars: 10_000,
            name_chars: 200,
            topics: 50,
            future_skew: Duration::minutes(5),
        }
    }
}

/// What normalisation needs besides the input.
pub struct Context<'a> {
    pub registry: &'a OrganisationRegistry,
    pub limits: Limits,
    pub now: DateTime<Utc>,
    pub id: Uuid,
    pub recorded_by: &'a str,
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, pointer: &str, detail: impl Into<String>) {
        self.0.push(FieldError {
            pointer: pointer.to_string(),
            detail: detail.into(),
        });
    }

    fn required<'v>(&mut self, pointer: &str, value: &'v Option<String>) -> Option<&'v str> {
        match value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                self.add(pointer, "is required");
                None
            }
        }
    }
}

/// Normalises a case or returns every problem found, each with its JSON pointer.
pub fn normalise(input: CaseInput, cx: &Context<'_>) -> Result<Case, Vec<FieldError>> {
    let mut e = Errors(Vec::new());

    let organiser = e
        .required("/organiser", &input.organiser)
        .and_then(|v| organisation(&mut e, cx, "/organiser", v));
    let handled_by = input.handled_by.and_then(|h| handled_by(&mut e, cx, h));
    let channel = e
        .required("/channel", &input.channel)
        .and_then(|v| pick(&mut e, "/channel", v, channel_of, CHANNELS));
    let language = e
        .required("/language", &input.language)
        .and_then(|v| pick(&mut e, "/language", v, language_of, LANGUAGES));
    let outcome = e
        .required("/outcome", &input.outcome)
        .and_then(|v| pick(&mut e, "/outcome", v, outcome_of, OUTCOMES));
    let received_at = e
        .required("/received_at", &input.received_at)
        .and_then(|v| timestamp(&mut e, cx, "/received_at", v));
    let answered_at = optional(&input.answered_at).and_then(|v| timestamp(&mut e, cx, "/answered_at", v));
    let closed_at = optional(&input.closed_at).and_then(|v| timestamp(&mut e, cx, "/closed_at", v));
    if let (Some(received), Some(answered)) = (received_at, answered_at) {
        if answered < received {
            e.add("/answered_at", "must not be before received_at");
        }
    }
    if let (Some(received), Some(closed)) = (received_at, closed_at) {
        if closed < received {
            e.add("/closed_at", "must not be before received_at");
        }
    }
    let client = input.client.and_then(|c| client(&mut e, cx, c));
    let contact_person = input.contact_person.and_then(|c| contact_person(&mut e, cx, c));
    if input.topics.len() > cx.limits.topics {
        e.add("/topics", format!("at most {} topics", cx.limits.topics));
    }
    let topics: Vec<Topic> = input
        .topics
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| topic(&mut e, &format!("/topics/{i}"), t))
        .collect();
    let notes = optional(&input.notes).and_then(|v| {
        let notes = free_text(&mut e, "/notes", v, cx.limits.notes_chars)?;
        if hetu::contains_identity_code(&notes) {
            e.add(
                "/notes",
                "must not contain a personal identity code; give it in client.identity_code",
            );
            return None;
        }
        Some(notes)
    });

    if !e.0.is_empty() {
        return Err(e.0);
    }
    // Every required value is Some here: a None was recorded as an error above.
    match (organiser, channel, language, received_at, outcome) {
        (Some(organiser), Some(channel), Some(language), Some(received_at), Some(outcome)) => Ok(Case {
            id: cx.id,
            organiser,
            handled_by,
            channel,
            language,
            received_at,
            answered_at,
            closed_at,
            client,
            contact_person,
            topics,
            outcome,
            notes,
            reference: None,
            due_by: None,
            source: None,
            recorded_at: cx.now,
            recorded_by: cx.recorded_by.to_string(),
        }),
        _ => unreachable!("a missing required field is always reported as an error"),
    }
}

fn optional(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn organisation(e: &mut Errors, cx: &Context<'_>, pointer: &str, value: &str) -> Option<String> {
    match cx.registry.resolve(value) {
        Some(org) => Some(org.id),
        None => {
            e.add(
                pointer,
                "is not a known municipality (code, Finnish or Swedish name) or configured organisation",
            );
            None
        }
    }
}

fn handled_by(e: &mut Errors, cx: &Context<'_>, input: HandledByInput) -> Option<HandledBy> {
    let organisation = e
        .required("/handled_by/organisation", &input.organisation)
        .and_then(|v| organisation(e, cx, "/handled_by/organisation", v));
    let professional = optional(&input.professional).and_then(|p| {
        if p.chars().count() > 64 {
            e.add("/handled_by/professional", "at most 64 characters");
            None
        } else if hetu::contains_identity_code(p) {
            e.add(
                "/handled_by/professional",
                "must be a user id, not a personal identity code",
            );
            None
        } else {
            Some(p.to_string())
        }
    });
    Some(HandledBy {
        organisation: organisation?,
        professional,
    })
}

fn timestamp(e: &mut Errors, cx: &Context<'_>, pointer: &str, value: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            if t > cx.now + cx.limits.future_skew {
                e.add(pointer, "is in the future");
                None
            } else {
                Some(t)
            }
        }
        Err(_) => {
            e.add(
                pointer,
                "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-02T09:15:00+02:00",
            );
            None
        }
    }
}

fn client(e: &mut Errors, cx: &Context<'_>, input: ClientInput) -> Option<Client> {
    let identity = match optional(&input.identity_code) {
        None => {
            e.add(
                "/client/identity_code",
                "is required for an identified client; omit client for an anonymous contact",
            );
            None
        }
        Some(v) => match IdentityCode::parse(v) {
            Ok(id) => Some(id),
            Err(err) => {
                e.add("/client/identity_code", err.to_string());
                None
            }
        },
    };
    let given_name = name(e, cx, "/client/given_name", &input.given_name);
    let family_name = name(e, cx, "/client/family_name", &input.family_name);
    let municipality = optional(&input.municipality).and_then(|v| match municipality::resolve(v) {
        Some(m) => Some(m.code.clone()),
        None => {
            e.add(
                "/client/municipality",
                "is not a municipality code, Finnish or Swedish name",
            );
            None
        }
    });
    let phone = phone_number(e, "/client/phone", &input.phone);
    let email = email(e, "/client/email", &input.email);
    let identity = identity?;
    Some(Client {
        birth_date: identity.birth_date(),
        temporary_identity_code: identity.is_temporary(),
        identity_code: identity,
        given_name,
        family_name,
        municipality,
        phone,
        email,
    })
}

fn contact_person(e: &mut Errors, cx: &Context<'_>, input: ContactPersonInput) -> Option<ContactPerson> {
    let relation = e
        .required("/contact_person/relation", &input.relation)
        .and_then(|v| pick(e, "/contact_person/relation", v, relation_of, RELATIONS));
    let given_name = name(e, cx, "/contact_person/given_name", &input.given_name);
    let family_name = name(e, cx, "/contact_person/family_name", &input.family_name);
    let phone = phone_number(e, "/contact_person/phone", &input.phone);
    let email = email(e, "/contact_person/email", &input.email);
    Some(ContactPerson {
        relation: relation?,
        given_name,
        family_name,
        phone,
        email,
    })
}

fn topic(e: &mut Errors, pointer: &str, input: TopicInput) -> Option<Topic> {
    let code = e.required(&format!("{pointer}/code"), &input.code).and_then(|c| {
        if c.chars().count() > 64 {
            e.add(&format!("{pointer}/code"), "at most 64 characters");
            None
        } else {
            Some(c.to_string())
        }
    });
    let code_system = e
        .required(&format!("{pointer}/code_system"), &input.code_system)
        .and_then(|s| {
            if is_oid(s) {
                Some(s.to_string())
            } else {
                e.add(
                    &format!("{pointer}/code_system"),
                    "must be an OID, e.g. 1.2.246.537.6.1221",
                );
                None
            }
        });
    let display = optional(&input.display).and_then(|d| free_text(e, &format!("{pointer}/display"), d, 200));
    Some(Topic {
        code: code?,
        code_system: code_system?,
        display,
    })
}

fn is_oid(s: &str) -> bool {
    let mut arcs = s.split('.');
    matches!(arcs.next(), Some("0" | "1" | "2"))
        && s.contains('.')
        && arcs.all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a == "0" || !a.starts_with('0')))
}

fn name(e: &mut Errors, cx: &Context<'_>, pointer: &str, value: &Option<String>) -> Option<String> {
    let v = optional(value)?;
    let v = free_text(e, pointer, v, cx.limits.name_chars)?;
    if v.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
        e.add(pointer, "must not contain digits or control characters");
        return None;
    }
    Some(v)
}

/// NFC-normalised, trimmed text with inner runs of whitespace kept as they are.
fn free_text(e: &mut Errors, pointer: &str, value: &str, max_chars: usize) -> Option<String> {
    let text: String = value.trim().nfc().collect();
    if text.chars().count() > max_chars {
        e.add(pointer, format!("at most {max_chars} characters"));
        return None;
    }
    Some(text)
}

fn phone_number(e: &mut Errors, pointer: &str, value: &Option<String>) -> Option<String> {
    let v = optional(value)?;
    let normalised = phone::to_e164(v);
    if normalised.is_none() {
        e.add(pointer, "is not a valid phone number");
    }
    normalised
}

fn email(e: &mut Errors, pointer: &str, value: &Option<String>) -> Option<String> {
    let v = optional(value)?;
    if is_email(v) {
        Some(v.to_string())
    } else {
        e.add(pointer, "is not a valid e-mail address");
        None
    }
}

/// A plausible e-mail address: one `@`, a dotted domain, no whitespace, at most 254 bytes.
pub(crate) fn is_email(v: &str) -> bool {
    v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !v.chars().any(char::is_whitespace)
        && v.matches('@').count() == 1
}

/// Picks an enumerated value through an alias table, naming the canonical values on failure.
fn pick<T>(e: &mut Errors, pointer: &str, value: &str, of: fn(&str) -> Option<T>, allowed: &str) -> Option<T> {
    let key: String = super::fold(value).replace(['-', ' '], "_");
    let found = of(&key);
    if found.is_none() {
        e.add(pointer, format!("must be one of {allowed}"));
    }
    found
}

const CHANNELS: &str = "phone, chat, email, face_to_face, e_service, help_button";
fn channel_of(key: &str) -> Option<Channel> {
    Some(match key {
        "phone" | "telephone" | "puhelin" | "telefon" => Channel::Phone,
        "chat" | "chatti" => Channel::Chat,
        "email" | "e_mail" | "sähköposti" | "e_post" => Channel::Email,
        "face_to_face" | "in_person" | "kasvokkain" => Channel::FaceToFace,
        "e_service" | "eservice" | "sähköinen_asiointi" | "asiointipalvelu" => Channel::EService,
        "help_button" | "ask_for_help" | "pyydä_apua" | "apua_nappi" => Channel::HelpButton,
        _ => return None,
    })
}

/// Reads a language the way regional systems write it (`fi-FI`, `suomi`, `svenska`…).
pub fn parse_language(value: &str) -> Option<Language> {
    language_of(&super::fold(value).replace(['-', ' '], "_"))
}

pub(crate) const LANGUAGES: &str = "fi, sv, en (or fi-FI, suomi, svenska, english…)";
fn language_of(key: &str) -> Option<Language> {
    Some(match key {
        "fi" | "fi_fi" | "fin" | "suomi" | "suomeksi" | "finnish" | "finska" => Language::Fi,
        "sv" | "sv_fi" | "sv_se" | "swe" | "svenska" | "ruotsi" | "ruotsiksi" | "swedish" | "på_svenska" => {
            Language::Sv
        }
        "en" | "en_gb" | "en_us" | "en_fi" | "eng" | "english" | "englanti" | "engelska" => Language::En,
        _ => return None,
    })
}

const OUTCOMES: &str = "resolved_first_contact, referred_service_need_assessment, transferred, open";
fn outcome_of(key: &str) -> Option<Outcome> {
    Some(match key {
        "resolved_first_contact" | "resolved" => Outcome::ResolvedFirstContact,
        "referred_service_need_assessment" | "service_need_assessment" => Outcome::ReferredServiceNeedAssessment,
        "transferred" => Outcome::Transferred,
        "open" => Outcome::Open,
        _ => return None,
    })
}

const RELATIONS: &str =
    "spouse, child, grandchild, parent, sibling, other_relative, friend, neighbour, guardian, professional, other";
fn relation_of(key: &str) -> Option<Relation> {
    Some(match key {
        "spouse" | "partner" | "puoliso" => Relation::Spouse,
        "child" | "son" | "daughter" | "lapsi" => Relation::Child,
        "grandchild" | "lapsenlapsi" => Relation::Grandchild,
        "parent" | "vanhempi" => Relation::Parent,
        "sibling" | "sisarus" => Relation::Sibling,
        "other_relative" | "relative" | "omainen" | "sukulainen" => Relation::OtherRelative,
        "friend" | "ystävä" => Relation::Friend,
        "neighbour" | "neighbor" | "naapuri" => Relation::Neighbour,
        "guardian" | "edunvalvoja" => Relation::Guardian,
        "professional" | "ammattilainen" => Relation::Professional,
        "other" | "muu" => Relation::Other,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> serde_json::Value {
        serde_json::from_str(crate::case::input::EXAMPLE).unwrap()
    }

    fn run(body: serde_json::Value) -> Result<Case, Vec<FieldError>> {
        let registry = OrganisationRegistry::default();
        let cx = Context {
            registry: &registry,
            limits: Limits::default(),
            now: "2026-11-26T08:00:00Z".parse().unwrap(),
            id: Uuid::now_v7(),
            recorded_by: "test-client",
        };
        normalise(serde_json::from_value(body).unwrap(), &cx)
    }

    fn pointers(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.pointer.as_str()).collect()
    }

    #[test]
    fn the_issue_example_normalises() {
        let case = run(example()).unwrap();
        let out = serde_json::to_value(&case).unwrap();
        assert_eq!(out["language"], "sv");
        assert_eq!(out["received_at"], "2026-11-02T07:15:00Z");
        assert_eq!(out["client"]["identity_code"], "131052-308T");
        assert_eq!(out["client"]["birth_date"], "1952-10-13");
        assert_eq!(out["client"]["given_name"], "Aino");
        assert_eq!(out["client"]["municipality"], "853");
        assert_eq!(out["client"]["phone"], "+358401234567");
        assert_eq!(out["contact_person"]["phone"], "+358501234567");
        assert_eq!(out["contact_person"]["relation"], "child");
        assert_eq!(out["handled_by"]["organisation"], "853");
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let mut body = example();
        body["client"]["identity_code"] = json!("131052-308A");
        body["client"]["municipality"] = json!("Atlantis");
        let errors = run(body).unwrap_err();
        assert_eq!(pointers(&errors), ["/client/identity_code", "/client/municipality"]);

        let errors = run(json!({ "topics": [{ "code": "x", "code_system": "not-an-oid" }],
            "answered_at": "yesterday", "client": {} }))
        .unwrap_err();
        let p = pointers(&errors);
        for expected in [
            "/organiser",
            "/channel",
            "/language",
            "/outcome",
            "/received_at",
            "/answered_at",
            "/client/identity_code",
            "/topics/0/code_system",
        ] {
            assert!(p.contains(&expected), "{expected} missing from {p:?}");
        }
    }

    #[test]
    fn only_the_five_required_fields_are_needed() {
        let case = run(json!({ "organiser": "Pargas", "channel": "chat", "language": "fi-FI",
            "received_at": "2026-11-02T09:15:00Z", "outcome": "open" }))
        .unwrap();
        assert_eq!(case.organiser, "445");
        assert!(case.client.is_none());
        assert_eq!(case.owner(), "445");
    }

    #[test]
    fn a_client_may_be_given_by_identity_code_alone() {
        let mut body = example();
        body["client"] = json!({ "identity_code": "131052-308T" });
        let case = run(body).unwrap();
        assert_eq!(case.client.unwrap().identity_code.as_str(), "131052-308T");
    }

    #[test]
    fn languages_in_their_many_spellings() {
        for (input, expected) in [
            ("fi", Language::Fi),
            ("fi-FI", Language::Fi),
            ("suomi", Language::Fi),
            ("FI", Language::Fi),
            ("sv", Language::Sv),
            ("sv-FI", Language::Sv),
            ("svenska", Language::Sv),
            ("Svenska", Language::Sv),
            ("en", Language::En),
            ("en-GB", Language::En),
        ] {
            let mut body = example();
            body["language"] = json!(input);
            assert_eq!(run(body).unwrap().language, expected, "{input}");
        }
        let mut body = example();
        body["language"] = json!("klingon");
        assert_eq!(pointers(&run(body).unwrap_err()), ["/language"]);
    }

    #[test]
    fn timestamps_with_any_offset_become_utc_and_order_is_checked() {
        let mut body = example();
        body["received_at"] = json!("2026-11-02T03:15:00-04:00");
        body["answered_at"] = json!("2026-11-02T07:15:00Z");
        body["closed_at"] = json!("2026-11-02T12:15:00+05:00");
        let case = run(body).unwrap();
        assert_eq!(case.received_at.to_rfc3339(), "2026-11-02T07:15:00+00:00");
        let mut body = example();
        body["answered_at"] = json!("2026-11-02T09:14:00+02:00");
        body["closed_at"] = json!("2030-01-01T00:00:00Z");
        let errors = run(body).unwrap_err();
        let mut p = pointers(&errors);
        p.sort();
        assert_eq!(p, ["/answered_at", "/closed_at"]);
        let mut body = example();
        body["received_at"] = json!("2026-11-02T09:15:00");
        assert_eq!(pointers(&run(body).unwrap_err()), ["/received_at"]);
    }

    #[test]
    fn names_are_trimmed_and_nfc_normalised() {
        let mut body = example();
        body["client"]["family_name"] = json!("  Ha\u{308}ma\u{308}la\u{308}inen ");
        let case = run(body).unwrap();
        assert_eq!(case.client.unwrap().family_name.as_deref(), Some("Hämäläinen"));
    }

    #[test]
    fn notes_are_bounded_and_may_not_carry_identity_codes() {
        let mut body = example();
        body["notes"] = json!("x".repeat(10_001));
        assert_eq!(pointers(&run(body).unwrap_err()), ["/notes"]);
        let mut body = example();
        body["notes"] = json!("hetu 131052-308T");
        assert_eq!(pointers(&run(body).unwrap_err()), ["/notes"]);
    }

    #[test]
    fn temporary_identity_codes_are_flagged() {
        let mut body = example();
        body["client"]["identity_code"] = json!("010150-900C");
        // 010150900 mod 31 = 12 -> C
        let case = run(body).unwrap();
        assert!(case.client.unwrap().temporary_identity_code);
    }

    #[test]
    fn oids_are_checked() {
        assert!(is_oid("1.2.246.537.6.1221"));
        assert!(!is_oid("1"));
        assert!(!is_oid("3.2.1"));
        assert!(!is_oid("1.02.3"));
        assert!(!is_oid("1..2"));
    }
}
