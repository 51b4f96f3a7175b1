//! The canonical payloads of this adapter's operations: what the broker stores as JSON when an
//! exchange is accepted and passes in `Operation.payload`. An archive payload determines the
//! document completely (no clock, no randomness), so a retry builds the same document.

use crate::config::is_oid;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The service name of the adapter (config, metrics, audit).
pub const SERVICE: &str = "kanta";
/// Archive a new document ([`ArchiveDocument`] with `version` 1).
pub const OP_ARCHIVE: &str = "archive";
/// Archive a new version of a document ([`ArchiveDocument`] with `version` ≥ 2).
pub const OP_ARCHIVE_VERSION: &str = "archive_version";
/// Invalidate (nullify) an archived document ([`InvalidateDocument`]).
pub const OP_INVALIDATE: &str = "invalidate";
/// List a person's documents ([`SearchDocuments`]).
pub const OP_SEARCH: &str = "search";
/// Fetch one document with its content ([`FetchDocument`]).
pub const OP_FETCH: &str = "fetch";

/// Longest free text (title, heading, name, paragraph) accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Longest short text (title, names, ids), in characters.
pub const MAX_SHORT_CHARS: usize = 500;

/// The kinds of document the gateway archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Asiakkuusasiakirja: the client relationship document.
    ClientRelationship,
    /// Yhteydenottotiedot: a contact (call, chat, visit) and how it was handled.
    ContactRecord,
    /// A referral to a service need assessment in the client's own municipality.
    ServiceNeedAssessmentReferral,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ClientRelationship => "client_relationship",
            DocumentKind::ContactRecord => "contact_record",
            DocumentKind::ServiceNeedAssessmentReferral => "service_need_assessment_referral",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Fi,
    Sv,
}

impl Language {
    /// `languageCode/@code`.
    pub fn code(self) -> &'static str {
        match self {
            Language::Fi => "fi-FI",
            Language::Sv => "sv-FI",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    /// The gateway or the regional system wrote it (system signature).
    System,
    /// A named professional.
    Professional,
}

/// Payload of [`OP_ARCHIVE`] and [`OP_ARCHIVE_VERSION`].
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveDocument {
    /// The organisation's id in the adapter's config (`organisations.<id>`), e.g. `853`.
    pub organisation: String,
    /// The gateway's case id: with `kind` and `version` it determines the document OID.
    pub case_id: String,
    pub kind: DocumentKind,
    /// 1 for a new document, previous + 1 for a new version.
    #[serde(default = "one")]
    pub version: u32,
    /// The OID of the version this one replaces; required when `version` > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_document_oid: Option<String>,
    /// `documentationOf/serviceEvent/id`; absent: derived from the case id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_event_oid: Option<String>,
    pub person: Person,
    pub author: Author,
    pub language: Language,
    /// When the documented event happened (from the case; never the time of sending).
    pub effective_time: DateTime<Utc>,
    /// Social welfare service task (code system `1.2.246.537.6.1221`).
    pub service_task: String,
    /// Document group (code system `1.2.246.537.6.1505`).
    pub document_group: String,
    /// Service process (code system `1.2.246.537.6.1277`).
    pub service_process: String,
    /// `confidentialityCode` (code system `1.2.246.537.5.40228`): 1, 2 or 3 (secret, default).
    #[serde(default = "secret")]
    pub confidentiality: u8,
    pub title: String,
    /// The canonical case fields, carried as Base64 JSON in `hl7fi:json`. Must be an object.
    pub content: Value,
    /// The display form, already in `language`.
    #[serde(default)]
    pub sections: Vec<DisplaySection>,
}

fn one() -> u32 {
    1
}

fn secret() -> u8 {
    3
}

impl fmt::Debug for ArchiveDocument {
    // Personal data (identity code, names, title, texts, content) never reaches logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveDocument")
            .field("organisation", &self.organisation)
            .field("case_id", &self.case_id)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("language", &self.language)
            .field("sections", &self.sections.len())
            .finish_non_exhaustive()
    }
}

/// The client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Finnish personal identity code in canonical form (upper case, no spaces).
    pub identity_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Person(<redacted>)")
    }
}

/// Who wrote the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    pub kind: AuthorKind,
    /// An OID, or an id local to the sending system (then sent under the system's OID).
    pub id: String,
    /// The professional's name, or the system's name.
    pub name: String,
}

/// One part of the display form: a heading and its paragraphs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplaySection {
    pub heading: String,
    #[serde(default)]
    pub paragraphs: Vec<String>,
}

impl fmt::Debug for DisplaySection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisplaySection")
            .field("paragraphs", &self.paragraphs.len())
            .finish_non_exhaustive()
    }
}

/// Why a document is invalidated (`reasonCode`, code system `1.2.246.537.5.40175`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidationReason {
    /// `1`: written in error.
    WrittenInError,
    /// `2`: about the wrong person.
    WrongPerson,
}

impl InvalidationReason {
    pub fn code(self) -> &'static str {
        match self {
            InvalidationReason::WrittenInError => "1",
            InvalidationReason::WrongPerson => "2",
        }
    }
}

/// Payload of [`OP_INVALIDATE`]: the document is named as when it was archived (its OID and
/// set id are derived again from the case id, kind and version).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidateDocument {
    pub organisation: String,
    pub case_id: String,
    pub kind: DocumentKind,
    pub version: u32,
    pub identity_code: String,
    pub reason: InvalidationReason,
}

impl fmt::Debug for InvalidateDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidateDocument")
            .field("organisation", &self.organisation)
            .field("case_id", &self.case_id)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Payload of [`OP_SEARCH`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchDocuments {
    pub organisation: String,
    pub identity_code: String,
}

impl fmt::Debug for SearchDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchDocuments")
            .field("organisation", &self.organisation)
            .finish_non_exhaustive()
    }
}

/// Payload of [`OP_FETCH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchDocument {
    pub organisation: String,
    pub document_oid: String,
}

/// One problem: a JSON pointer into the payload and what is wrong (never the value itself).
pub type Problem = (String, String);

/// Every problem of an archive payload (empty when it can be sent).
pub fn validate_archive(doc: &ArchiveDocument) -> Vec<Problem> {
    let mut p = Problems::default();
    p.short("/organisation", &doc.organisation);
    p.short("/case_id", &doc.case_id);
    if doc.version == 0 {
        p.add("/version", "must be 1 for a new document or the previous version + 1");
    }
    match (&doc.previous_document_oid, doc.version) {
        (None, v) if v > 1 => p.add(
            "/previous_document_oid",
            "is required for a new version (version > 1): the OID of the version it replaces",
        ),
        (Some(_), 1) => p.add(
            "/previous_document_oid",
            "must be absent for a new document (version 1)",
        ),
        (Some(oid), _) if !is_oid(oid) => p.add("/previous_document_oid", "must be an OID"),
        _ => {}
    }
    if doc.service_event_oid.as_deref().is_some_and(|oid| !is_oid(oid)) {
        p.add("/service_event_oid", "must be an OID");
    }
    p.identity_code("/person/identity_code", &doc.person.identity_code);
    if let Some(name) = &doc.person.given_name {
        p.short("/person/given_name", name);
    }
    if let Some(name) = &doc.person.family_name {
        p.short("/person/family_name", name);
    }
    p.short("/author/id", &doc.author.id);
    p.short("/author/name", &doc.author.name);
    for (pointer, code) in [
        ("/service_task", &doc.service_task),
        ("/document_group", &doc.document_group),
        ("/service_process", &doc.service_process),
    ] {
        if !crate::config::is_code(code) {
            p.add(pointer, "must be a code: 1–64 of A-Z a-z 0-9 . _ -");
        }
    }
    if !(1..=3).contains(&doc.confidentiality) {
        p.add("/confidentiality", "must be 1, 2 or 3 (secret)");
    }
    p.short("/title", &doc.title);
    if !doc.content.is_object() {
        p.add("/content", "must be a JSON object of the canonical case fields");
    }
    for (i, section) in doc.sections.iter().enumerate() {
        p.text(&format!("/sections/{i}/heading"), &section.heading, MAX_SHORT_CHARS);
        for (j, paragraph) in section.paragraphs.iter().enumerate() {
            p.text(&format!("/sections/{i}/paragraphs/{j}"), paragraph, MAX_TEXT_CHARS);
        }
    }
    p.0
}

/// Every problem of an invalidation payload.
pub fn validate_invalidate(doc: &InvalidateDocument) -> Vec<Problem> {
    let mut p = Problems::default();
    p.short("/organisation", &doc.organisation);
    p.short("/case_id", &doc.case_id);
    if doc.version == 0 {
        p.add("/version", "must be the archived version, 1 or more");
    }
    p.identity_code("/identity_code", &doc.identity_code);
    p.0
}

/// Every problem of a search payload.
pub fn validate_search(search: &SearchDocuments) -> Vec<Problem> {
    let mut p = Problems::default();
    p.short("/organisation", &search.organisation);
    p.identity_code("/identity_code", &search.identity_code);
    p.0
}

/// Every problem of a fetch payload.
pub fn validate_fetch(fetch: &FetchDocument) -> Vec<Problem> {
    let mut p = Problems::default();
    p.short("/organisation", &fetch.organisation);
    if !is_oid(&fetch.document_oid) {
        p.add("/document_oid", "must be an OID");
    }
    p.0
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, pointer: &str, detail: &str) {
        self.0.push((pointer.to_owned(), detail.to_owned()));
    }

    fn short(&mut self, pointer: &str, value: &str) {
        self.text(pointer, value, MAX_SHORT_CHARS)
    }

    fn text(&mut self, pointer: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(pointer, "must not be empty");
        } else if value.chars().count() > max {
            self.add(pointer, &format!("must be at most {max} characters"));
        } else if value.chars().any(|c| !is_xml_char(c)) {
            self.add(
                pointer,
                "must not contain control characters other than tab and line breaks",
            );
        }
    }

    fn identity_code(&mut self, pointer: &str, code: &str) {
        if let Err(detail) = check_identity_code(code) {
            self.add(pointer, detail);
        }
    }
}

/// A character XML 1.0 allows in a document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

const CHECK_CHARS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// Checks a Finnish personal identity code in canonical form: exactly DDMMYY, a century sign in
/// use since 2023, three digits 002–999 and the check character, upper case, no spaces. The
/// error never contains the code.
pub fn check_identity_code(code: &str) -> Result<(), &'static str> {
    let b = code.as_bytes();
    if b.len() != 11 || !b[..6].iter().all(u8::is_ascii_digit) || !b[7..10].iter().all(u8::is_ascii_digit) {
        return Err(
            "must be a Finnish personal identity code in canonical form: DDMMYY, century sign, three digits, \
             check character, upper case, no spaces",
        );
    }
    let century = match b[6] {
        b'+' => 1800,
        b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => 1900,
        b'A' | b'B' | b'C' | b'D' | b'E' | b'F' => 2000,
        _ => return Err("has an unknown century sign (allowed: + - Y X W V U A B C D E F, upper case)"),
    };
    let number = |range: std::ops::Range<usize>| code[range].parse::<u32>().unwrap_or(0);
    let (day, month, year) = (number(0..2), number(2..4), century + number(4..6));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if day == 0 || day > days_in_month {
        return Err("has an impossible birth date");
    }
    if number(7..10) < 2 {
        return Err("has an individual number outside 002–999");
    }
    let nine: u64 = format!("{}{}", &code[0..6], &code[7..10]).parse().unwrap_or(0);
    if b[10] != CHECK_CHARS[(nine % 31) as usize] {
        return Err("has a wrong check character (upper case expected)");
    }
    Ok(())
}

pub use portti_adapter_core::redact_identity_codes;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) const CODE: &str = "131052-308T";

    /// The example archive payload (also in the crate's documentation).
    pub(crate) fn example_json() -> Value {
        json!({
            "organisation": "853",
            "case_id": "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a10",
            "kind": "contact_record",
            "version": 1,
            "person": {"identity_code": CODE, "given_name": "Maija", "family_name": "Meikäläinen"},
            "author": {"kind": "professional", "id": "ohjaaja-17", "name": "Sari Ohjaaja"},
            "language": "fi",
            "effective_time": "2025-03-04T08:15:00Z",
            "service_task": "10",
            "document_group": "1",
            "service_process": "2",
            "confidentiality": 3,
            "title": "Yhteydenotto: asiakasohjaus",
            "content": {"channel": "phone", "topic": "home_care", "resolved_on_first_contact": true},
            "sections": [
                {"heading": "Yhteydenoton syy", "paragraphs": ["Asiakas kysyi kotihoidosta."]},
                {"heading": "Toimenpiteet", "paragraphs": ["Neuvottu.", "Ohjattu palvelutarpeen arviointiin."]}
            ]
        })
    }

    pub(crate) fn example() -> ArchiveDocument {
        serde_json::from_value(example_json()).unwrap()
    }

    fn pointers(problems: Vec<Problem>) -> Vec<String> {
        for (_, detail) in &problems {
            assert!(!detail.contains("131052"), "{detail}");
        }
        problems.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn the_example_is_valid_and_round_trips() {
        let doc = example();
        assert!(validate_archive(&doc).is_empty(), "{:?}", validate_archive(&doc));
        let again: ArchiveDocument = serde_json::from_value(serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(again, doc);
        assert_eq!(doc.effective_time.to_rfc3339(), "2025-03-04T08:15:00+00:00");
    }

    #[test]
    fn every_bad_field_is_listed_with_its_pointer() {
        let mut doc = example();
        doc.version = 2;
        doc.person.identity_code = "131052-308t".into();
        doc.person.given_name = Some(" ".into());
        doc.author.name = String::new();
        doc.service_task = "a b".into();
        doc.confidentiality = 4;
        doc.title = "bell\u{7}".into();
        doc.content = json!([1, 2]);
        doc.sections[1].paragraphs[1] = "x".repeat(MAX_TEXT_CHARS + 1);
        doc.service_event_oid = Some("1.2.x".into());
        assert_eq!(
            pointers(validate_archive(&doc)),
            [
                "/previous_document_oid",
                "/service_event_oid",
                "/person/identity_code",
                "/person/given_name",
                "/author/name",
                "/service_task",
                "/confidentiality",
                "/title",
                "/content",
                "/sections/1/paragraphs/1",
            ]
        );
    }

    #[test]
    fn versions_and_previous_oids_must_agree() {
        let mut doc = example();
        doc.previous_document_oid = Some("1.2.3".into());
        assert_eq!(pointers(validate_archive(&doc)), ["/previous_document_oid"]);
        doc.version = 2;
        assert!(validate_archive(&doc).is_empty());
        doc.previous_document_oid = Some("not an oid".into());
        assert_eq!(pointers(validate_archive(&doc)), ["/previous_document_oid"]);
        doc.version = 0;
        doc.previous_document_oid = None;
        assert_eq!(pointers(validate_archive(&doc)), ["/version"]);
    }

    #[test]
    fn identity_codes_must_be_canonical() {
        assert!(check_identity_code(CODE).is_ok());
        assert!(check_identity_code("010101A123N").is_ok());
        for bad in [
            " 131052-308T",
            "131052-308t",
            "131052-308U",
            "311152-308T",
            "131052-001T",
            "131052/308T",
            "",
        ] {
            assert!(check_identity_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let mut json = example_json();
        json["colour"] = "red".into();
        assert!(serde_json::from_value::<ArchiveDocument>(json).is_err());
        let mut json = example_json();
        json["kind"] = "diary".into();
        assert!(serde_json::from_value::<ArchiveDocument>(json).is_err());
        let mut json = example_json();
        json["effective_time"] = "yesterday".into();
        assert!(serde_json::from_value::<ArchiveDocument>(json).is_err());
    }

    #[test]
    fn other_payloads_validate() {
        let search = SearchDocuments {
            organisation: "853".into(),
            identity_code: "131052-308X".into(),
        };
        assert_eq!(pointers(validate_search(&search)), ["/identity_code"]);
        let fetch = FetchDocument {
            organisation: String::new(),
            document_oid: "1.2".into(),
        };
        assert_eq!(pointers(validate_fetch(&fetch)), ["/organisation"]);
        let invalidate = InvalidateDocument {
            organisation: "853".into(),
            case_id: "c".into(),
            kind: DocumentKind::ContactRecord,
            version: 0,
            identity_code: CODE.into(),
            reason: InvalidationReason::WrongPerson,
        };
        assert_eq!(pointers(validate_invalidate(&invalidate)), ["/version"]);
    }

    #[test]
    fn debug_output_holds_no_personal_data() {
        let text = format!("{:?}", example());
        assert!(!text.contains("131052") && !text.contains("Maija") && !text.contains("kotihoidosta"));
        let search = SearchDocuments {
            organisation: "853".into(),
            identity_code: CODE.into(),
        };
        assert!(!format!("{search:?}").contains("131052"));
    }

    #[test]
    fn identity_codes_are_redacted_from_foreign_text() {
        assert_eq!(
            redact_identity_codes("patient 131052-308T unknown"),
            "patient [identity code] unknown"
        );
    }
}
