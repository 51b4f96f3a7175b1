//! [`Assessment`]: the neutral, gateway-facing view of a completed Omaolo self-assessment, extracted from
//! its FHIR `QuestionnaireResponse`. The gateway maps it to its own case; this crate knows nothing of cases.
//!
//! Where each field comes from:
//!
//! | field | FHIR |
//! |---|---|
//! | `id` | `QuestionnaireResponse.id` |
//! | `last_updated` | `meta.lastUpdated` (UTC, RFC 3339) |
//! | `person_identity_code` | `subject.identifier.value` when `subject.identifier.system` is `urn:oid:1.2.246.21` (the personal identity code; upper-cased) |
//! | `organisation` | the `meta.tag` code whose system is the configured organisation system (default [`crate::DEFAULT_ORGANISATION_SYSTEM`]) |
//! | `urgency` | the answer of the item whose `linkId` is the configured urgency link id (default `urgency`), anywhere in the item tree: `valueCoding.code` (else `valueString`), lower-cased. Sandbox codes: `emergency`, `urgent`, `non-urgent`, `self-care` ([`URGENCY_SYSTEM`]) |
//! | `topics` | the `valueCoding.code`s of every answer of items whose `linkId` is the configured topic link id (default `topic`), in order, without repeats |
//! | `answers` | every answered item, depth first: `{link_id, text, answers: [display strings]}` |
//! | `language` | `QuestionnaireResponse.language` |
//! | `questionnaire`, `authored` | as in the resource |

use crate::fhir::{QuestionnaireResponse, QuestionnaireResponseAnswer, QuestionnaireResponseItem};
use serde::{Deserialize, Serialize};

/// The personal identity code's identifier system.
pub const IDENTITY_CODE_SYSTEM: &str = "urn:oid:1.2.246.21";
/// Code system of the sandbox's urgency answers (Portti's own; Omaolo's real value set is configuration).
pub const URGENCY_SYSTEM: &str = "urn:portti:oda:urgency";

/// Which items of a `QuestionnaireResponse` carry what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    pub organisation_system: String,
    pub urgency_link_id: String,
    pub topic_link_id: String,
}

impl Default for Extraction {
    fn default() -> Self {
        Extraction {
            organisation_system: crate::DEFAULT_ORGANISATION_SYSTEM.into(),
            urgency_link_id: crate::DEFAULT_URGENCY_LINK_ID.into(),
            topic_link_id: crate::DEFAULT_TOPIC_LINK_ID.into(),
        }
    }
}

/// A completed self-assessment, neutral of FHIR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub id: String,
    /// `meta.lastUpdated`, normalised to UTC RFC 3339 (as given when it does not parse).
    pub last_updated: Option<String>,
    pub person_identity_code: Option<String>,
    pub organisation: Option<String>,
    pub urgency: Option<String>,
    pub topics: Vec<String>,
    pub answers: Vec<AnswerSummary>,
    pub language: Option<String>,
    pub questionnaire: Option<String>,
    pub authored: Option<String>,
    pub status: String,
}

/// One answered item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerSummary {
    pub link_id: String,
    pub text: Option<String>,
    pub answers: Vec<String>,
}

impl Assessment {
    /// Extracts the assessment; None when the resource has no id.
    pub fn from_questionnaire_response(qr: &QuestionnaireResponse, how: &Extraction) -> Option<Assessment> {
        let id = qr.id.clone().filter(|id| !id.is_empty())?;
        let person_identity_code = (qr.subject.as_ref())
            .and_then(|s| s.identifier.as_ref())
            .filter(|i| i.system.as_deref() == Some(IDENTITY_CODE_SYSTEM))
            .and_then(|i| i.value.as_deref())
            .map(|v| v.trim().to_uppercase())
            .filter(|v| !v.is_empty());
        let organisation = (qr.meta.tag.iter())
            .find(|t| t.system.as_deref() == Some(how.organisation_system.as_str()))
            .and_then(|t| t.code.clone());

        let mut items = Vec::new();
        walk(&qr.item, &mut items);
        let urgency = (items.iter())
            .find(|i| i.link_id == how.urgency_link_id)
            .and_then(|i| i.answer.first())
            .and_then(|a| (a.value_coding.as_ref().and_then(|c| c.code.clone())).or(a.value_string.clone()))
            .map(|u| u.trim().to_lowercase());
        let mut topics: Vec<String> = Vec::new();
        for item in items.iter().filter(|i| i.link_id == how.topic_link_id) {
            for code in item.answer.iter().filter_map(|a| a.value_coding.as_ref()?.code.clone()) {
                if !topics.contains(&code) {
                    topics.push(code);
                }
            }
        }
        let answers = (items.iter())
            .filter(|i| !i.answer.is_empty())
            .map(|i| AnswerSummary {
                link_id: i.link_id.clone(),
                text: i.text.clone(),
                answers: i.answer.iter().filter_map(display).collect(),
            })
            .collect();
        Some(Assessment {
            id,
            last_updated: qr.meta.last_updated.as_deref().map(normalise_instant),
            person_identity_code,
            organisation,
            urgency,
            topics,
            answers,
            language: qr.language.clone(),
            questionnaire: qr.questionnaire.clone(),
            authored: qr.authored.clone(),
            status: qr.status.clone(),
        })
    }
}

/// Every item, depth first, including those nested under answers.
fn walk<'a>(items: &'a [QuestionnaireResponseItem], out: &mut Vec<&'a QuestionnaireResponseItem>) {
    for item in items {
        out.push(item);
        walk(&item.item, out);
        for answer in &item.answer {
            walk(&answer.item, out);
        }
    }
}

/// An answer as text: a coding's display (else `system|code`), or the primitive value.
fn display(answer: &QuestionnaireResponseAnswer) -> Option<String> {
    if let Some(c) = &answer.value_coding {
        return c.display.clone().or_else(|| c.code.clone());
    }
    (answer.value_string.clone())
        .or(answer.value_boolean.map(|b| b.to_string()))
        .or(answer.value_integer.map(|i| i.to_string()))
        .or(answer.value_decimal.as_ref().map(|d| d.to_string()))
        .or(answer.value_date.clone())
        .or(answer.value_date_time.clone())
        .or(answer.value_time.clone())
        .or(answer.value_uri.clone())
        .or(answer.value_quantity.as_ref().map(|q| {
            let value = q.get("value").map(|v| v.to_string()).unwrap_or_default();
            let unit = q.get("unit").and_then(|u| u.as_str()).unwrap_or_default();
            format!("{value} {unit}").trim().to_owned()
        }))
        .or(answer
            .value_reference
            .as_ref()
            .and_then(|r| r.display.clone().or(r.reference.clone())))
}

/// UTC, RFC 3339 with the precision given; the input when it is not a valid instant.
pub(crate) fn normalise_instant(value: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn qr() -> QuestionnaireResponse {
        serde_json::from_value(json!({
            "resourceType": "QuestionnaireResponse",
            "id": "qr-1",
            "language": "fi",
            "meta": {"lastUpdated": "2026-03-01T12:00:00.250+02:00",
                     "tag": [{"system": "urn:other", "code": "x"},
                             {"system": crate::DEFAULT_ORGANISATION_SYSTEM, "code": "853"}]},
            "questionnaire": "https://omaolo.example/Questionnaire/flunssa|1.0",
            "status": "completed",
            "subject": {"identifier": {"system": "urn:oid:1.2.246.21", "value": "010594y9032"}},
            "authored": "2026-03-01T11:58:00+02:00",
            "item": [
                {"linkId": "topic", "text": "Aihe", "answer": [
                    {"valueCoding": {"system": "urn:x", "code": "respiratory", "display": "Hengitystie"}},
                    {"valueCoding": {"system": "urn:x", "code": "fever"}},
                    {"valueCoding": {"system": "urn:x", "code": "respiratory"}}]},
                {"linkId": "group", "item": [
                    {"linkId": "temperature", "text": "Lämpö", "answer": [{"valueDecimal": 38.5}]},
                    {"linkId": "urgency", "answer": [{"valueCoding": {"system": URGENCY_SYSTEM, "code": "Urgent"}}]}
                ]},
                {"linkId": "cough", "answer": [{"valueBoolean": true, "item": [
                    {"linkId": "cough-days", "answer": [{"valueInteger": 3}]}]}]},
                {"linkId": "unanswered", "text": "Ei vastausta"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn an_assessment_is_extracted() {
        let a = Assessment::from_questionnaire_response(&qr(), &Extraction::default()).unwrap();
        assert_eq!(a.id, "qr-1");
        assert_eq!(a.last_updated.as_deref(), Some("2026-03-01T10:00:00.250Z"));
        assert_eq!(a.person_identity_code.as_deref(), Some("010594Y9032"));
        assert_eq!(a.organisation.as_deref(), Some("853"));
        assert_eq!(a.urgency.as_deref(), Some("urgent"));
        assert_eq!(a.topics, ["respiratory", "fever"]);
        assert_eq!(a.language.as_deref(), Some("fi"));
        assert_eq!(a.status, "completed");
        let ids: Vec<&str> = a.answers.iter().map(|s| s.link_id.as_str()).collect();
        assert_eq!(ids, ["topic", "temperature", "urgency", "cough", "cough-days"]);
        assert_eq!(a.answers[0].answers, ["Hengitystie", "fever", "respiratory"]);
        assert_eq!(a.answers[1].answers, ["38.5"]);
        assert_eq!(a.answers[3].answers, ["true"]);
        assert_eq!(a.answers[4].answers, ["3"]);
    }

    #[test]
    fn missing_parts_are_none() {
        let mut q = qr();
        q.subject.as_mut().unwrap().identifier.as_mut().unwrap().system = Some("urn:oid:other".into());
        q.meta.tag.clear();
        q.item.clear();
        let a = Assessment::from_questionnaire_response(&q, &Extraction::default()).unwrap();
        assert_eq!(a.person_identity_code, None);
        assert_eq!(a.organisation, None);
        assert_eq!(a.urgency, None);
        assert!(a.topics.is_empty() && a.answers.is_empty());
        q.id = None;
        assert!(Assessment::from_questionnaire_response(&q, &Extraction::default()).is_none());
    }

    #[test]
    fn the_item_link_ids_are_configurable() {
        let how = Extraction {
            urgency_link_id: "temperature".into(),
            topic_link_id: "none".into(),
            ..Extraction::default()
        };
        let a = Assessment::from_questionnaire_response(&qr(), &how).unwrap();
        assert_eq!(a.urgency, None, "a decimal answer is no urgency code");
        assert!(a.topics.is_empty());
    }
}
