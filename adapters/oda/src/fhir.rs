//! FHIR R4 (4.0.1) JSON for the resources ODA exchanges, only the elements Portti reads or writes.
//!
//! Reading is lenient: elements not modelled here are ignored (no `deny_unknown_fields`), so a server
//! that adds extensions, narrative or newer elements is still understood. Writing is strict in the FHIR
//! sense: empty arrays and absent values are left out (FHIR JSON forbids `null`, `[]` and `{}`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

fn is_false(b: &bool) -> bool {
    !*b
}

/// `Meta`: version, last update and the profiles a resource claims.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// FHIR `instant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<Coding>,
}

impl Meta {
    pub fn is_empty(&self) -> bool {
        self == &Meta::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub user_selected: bool,
}

impl Coding {
    pub fn new(system: &str, code: &str) -> Self {
        Coding {
            system: Some(system.into()),
            code: Some(code.into()),
            ..Coding::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeableConcept {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identifier {
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Identifier {
    pub fn new(system: &str, value: &str) -> Self {
        Identifier {
            use_: None,
            system: Some(system.into()),
            value: Some(value.into()),
        }
    }

    /// `system|value`, the token form of a search parameter.
    pub fn token(&self) -> String {
        format!(
            "{}|{}",
            self.system.as_deref().unwrap_or_default(),
            self.value.as_deref().unwrap_or_default()
        )
    }
}

/// `Reference`: literal (`reference`), logical (`identifier`) or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    /// A literal reference, e.g. `QuestionnaireResponse/123`.
    pub fn literal(reference: String) -> Self {
        Reference {
            reference: Some(reference),
            ..Reference::default()
        }
    }

    /// A logical reference by identifier to a resource of `type_`.
    pub fn logical(type_: &str, identifier: Identifier) -> Self {
        Reference {
            type_: Some(type_.into()),
            identifier: Some(identifier),
            ..Reference::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub text: String,
}

/// `QuestionnaireResponse`: a completed self-assessment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResponse {
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    /// The resource's language (BCP 47), e.g. `fi`, `sv`, `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// 0..1 in R4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<Reference>,
    /// Canonical URL of the Questionnaire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questionnaire: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<QuestionnaireResponseItem>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResponseItem {
    pub link_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer: Vec<QuestionnaireResponseAnswer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<QuestionnaireResponseItem>,
}

/// `QuestionnaireResponse.item.answer`: one `value[x]` (the common types; others are kept as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResponseAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_boolean: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_decimal: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_integer: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_coding: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_reference: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_attachment: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<QuestionnaireResponseItem>,
}

/// `Task`: how the organisation handles an assessment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_status: Option<CodeableConcept>,
    pub intent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<Reference>,
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// `Communication`: the professional's reply to the citizen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Communication {
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<Reference>,
    /// Reference(Communication) only in R4.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_response_to: Vec<Reference>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// Reference(Any): the QuestionnaireResponse replied to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub about: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipient: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payload: Vec<CommunicationPayload>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunicationPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_string: Option<String>,
}

/// `Bundle` of type `searchset`: entries as JSON (typed by the caller), `link` for paging.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<BundleLink>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
}

impl Bundle {
    /// The URL of the link with this relation (`self`, `next`, …).
    pub fn link(&self, relation: &str) -> Option<&str> {
        self.link
            .iter()
            .find(|l| l.relation == relation)
            .map(|l| l.url.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleLink {
    pub relation: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<BundleEntrySearch>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntrySearch {
    /// `match`, `include` or `outcome`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `OperationOutcome`: the errors (and warnings) of a FHIR interaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    pub resource_type: String,
    #[serde(default)]
    pub issue: Vec<OperationOutcomeIssue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcomeIssue {
    pub severity: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

impl OperationOutcome {
    /// `severity code: text` of each issue, `; `-joined.
    pub fn summary(&self) -> String {
        (self.issue.iter())
            .map(|i| {
                let text = (i.details.as_ref().and_then(|d| d.text.as_deref()))
                    .or(i.diagnostics.as_deref())
                    .unwrap_or("");
                match text.is_empty() {
                    true => format!("{} {}", i.severity, i.code),
                    false => format!("{} {}: {text}", i.severity, i.code),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_elements_are_tolerated_and_empty_ones_not_written() {
        let qr: QuestionnaireResponse = serde_json::from_value(json!({
            "resourceType": "QuestionnaireResponse",
            "id": "a1",
            "meta": {"lastUpdated": "2026-01-02T03:04:05.678Z", "profile": ["p"], "extension": []},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "extension": [{"url": "http://example.org/x", "valueString": "y"}],
            "status": "completed",
            "item": [{"linkId": "1", "answer": [{"valueCoding": {"code": "c"}, "extension": []}],
                      "futureElement": true}]
        }))
        .unwrap();
        assert_eq!(qr.meta.last_updated.as_deref(), Some("2026-01-02T03:04:05.678Z"));
        assert_eq!(
            qr.item[0].answer[0].value_coding.as_ref().unwrap().code.as_deref(),
            Some("c")
        );
        let back = serde_json::to_value(&qr).unwrap();
        assert_eq!(
            back,
            json!({
                "resourceType": "QuestionnaireResponse", "id": "a1",
                "meta": {"lastUpdated": "2026-01-02T03:04:05.678Z", "profile": ["p"]},
                "status": "completed",
                "item": [{"linkId": "1", "answer": [{"valueCoding": {"code": "c"}}]}]
            })
        );
    }

    #[test]
    fn bundle_links_and_outcomes() {
        let bundle: Bundle = serde_json::from_value(json!({
            "resourceType": "Bundle", "type": "searchset", "total": 3,
            "link": [{"relation": "self", "url": "http://x/a"}, {"relation": "next", "url": "http://x/b"}],
            "entry": [{"fullUrl": "http://x/QuestionnaireResponse/1", "resource": {"resourceType": "QuestionnaireResponse"},
                       "search": {"mode": "match", "score": 1}}]
        }))
        .unwrap();
        assert_eq!(bundle.link("next"), Some("http://x/b"));
        assert_eq!(bundle.link("previous"), None);
        assert_eq!(bundle.entry[0].search.as_ref().unwrap().mode.as_deref(), Some("match"));

        let outcome: OperationOutcome = serde_json::from_value(json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "diagnostics": "bad status"},
                      {"severity": "warning", "code": "informational"}]
        }))
        .unwrap();
        assert_eq!(outcome.summary(), "error invalid: bad status; warning informational");
    }
}
