//! The archive's answers: `MCCI_IN000002UV01` acknowledgements (`WIRE.md`, "Acknowledgement"
//! and "Detail codes"), with the documents of a query reply. Read namespace-aware with
//! quick-xml; unknown elements are ignored, a DOCTYPE is refused.

use crate::model::redact_identity_codes;
use crate::xml::{parse, Element, NS_HL7};
use portti_adapter_core::{sha256_hex, AdapterError};
use serde::Serialize;

pub const ACK_ROOT: &str = "MCCI_IN000002UV01";

/// `acknowledgement/@typeCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AckType {
    /// Accepted.
    AA,
    /// Application error: the request was read and refused.
    AE,
    /// Rejected: the request could not be processed (now).
    AR,
}

/// One `acknowledgementDetail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// `E`, `W` or `I`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_code: Option<String>,
    /// The detail code, when it is of the configured detail-code system (or names none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The archive's explanation, with anything shaped like an identity code redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A document listed in a query reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedDocument {
    pub document_oid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// HL7 `TS` as sent (`yyyyMMddHHmmss`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_time: Option<String>,
    /// `active`, `nullified` or `obsolete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The CDA document, Base64 (fetch only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cda_base64: Option<String>,
}

/// `controlActProcess` of a query reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryReply {
    pub query_id: Option<String>,
    /// `OK` or `NF`.
    pub response_code: Option<String>,
    pub documents: Vec<ListedDocument>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub type_code: AckType,
    pub target_message_id: String,
    pub details: Vec<Detail>,
    pub query: Option<QueryReply>,
}

impl Acknowledgement {
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.details.iter().filter_map(|d| d.code.as_deref())
    }
}

/// What a detail code means for the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailClass {
    /// The document is already there with this content: done.
    AlreadyDone,
    Permanent,
    Transient,
}

pub const DOCUMENT_EXISTS_IDENTICAL: &str = "DOCUMENT_EXISTS_IDENTICAL";

/// The class of a known detail code; `None` for codes the contract does not list.
pub fn detail_class(code: &str) -> Option<DetailClass> {
    Some(match code {
        DOCUMENT_EXISTS_IDENTICAL => DetailClass::AlreadyDone,
        "DOCUMENT_EXISTS_DIFFERENT"
        | "SYNTAX"
        | "SCHEMA_INVALID"
        | "SIGNATURE_INVALID"
        | "METADATA_MISMATCH"
        | "UNKNOWN_DOCUMENT"
        | "VERSION_CONFLICT"
        | "NOT_AUTHORISED" => DetailClass::Permanent,
        "SERVICE_BUSY" | "TEMPORARY_FAILURE" => DetailClass::Transient,
        _ => return None,
    })
}

/// Reads an acknowledgement. Detail codes of other code systems than `detail_code_system` are
/// kept without their code. Anything shaped like an identity code is redacted from the detail
/// codes, display names and texts, and from the error (which may quote names from the body).
pub fn parse_ack(body: &[u8], detail_code_system: &str) -> Result<Acknowledgement, String> {
    read_ack(body, detail_code_system).map_err(|why| redact_identity_codes(&why))
}

fn read_ack(body: &[u8], detail_code_system: &str) -> Result<Acknowledgement, String> {
    let root = parse(body)?;
    if !root.is(NS_HL7, ACK_ROOT) {
        return Err(format!(
            "the root element is {{{}}}{}, not {{{NS_HL7}}}{ACK_ROOT}",
            root.namespace.as_deref().unwrap_or(""),
            root.name
        ));
    }
    let ack = root.child("acknowledgement").ok_or("no acknowledgement element")?;
    let type_code = match ack.attr("typeCode") {
        Some("AA") => AckType::AA,
        Some("AE") => AckType::AE,
        Some("AR") => AckType::AR,
        _ => return Err("acknowledgement/@typeCode is not AA, AE or AR".into()),
    };
    let target_message_id = ack
        .path(&["targetMessage", "id"])
        .and_then(|id| id.attr("root"))
        .ok_or("no acknowledgement/targetMessage/id/@root")?
        .to_owned();
    let details = ack
        .children_named("acknowledgementDetail")
        .map(|detail| {
            let code = detail.child("code");
            let own_system = code.is_some_and(|c| c.attr("codeSystem").is_none_or(|s| s == detail_code_system));
            Detail {
                type_code: detail.attr("typeCode").map(str::to_owned),
                code: code
                    .filter(|_| own_system)
                    .and_then(|c| c.attr("code"))
                    .map(redact_identity_codes),
                display_name: code.and_then(|c| c.attr("displayName")).map(redact_identity_codes),
                text: detail
                    .child("text")
                    .map(|t| redact_identity_codes(t.text.trim()))
                    .filter(|t| !t.is_empty()),
            }
        })
        .collect();
    let query = root.child("controlActProcess").map(query_reply).transpose()?;
    Ok(Acknowledgement {
        type_code,
        target_message_id,
        details,
        query,
    })
}

fn query_reply(control: &Element) -> Result<QueryReply, String> {
    let mut documents = Vec::new();
    for subject in control.children_named("subject") {
        let Some(document) = subject.child("document") else {
            continue;
        };
        let document_oid = document
            .child("id")
            .and_then(|id| id.attr("root"))
            .ok_or("a listed document without id/@root")?
            .to_owned();
        let attr = |name: &str, attr: &str| document.child(name).and_then(|e| e.attr(attr)).map(str::to_owned);
        let version = match attr("versionNumber", "value") {
            Some(v) => Some(v.trim().parse().map_err(|_| "a versionNumber that is not a number")?),
            None => None,
        };
        let cda_base64 = document
            .child("text")
            .map(|t| t.text.chars().filter(|c| !c.is_ascii_whitespace()).collect::<String>())
            .filter(|t| !t.is_empty());
        documents.push(ListedDocument {
            document_oid,
            code: attr("code", "code"),
            set_id: attr("setId", "root"),
            version,
            effective_time: attr("effectiveTime", "value"),
            status: attr("statusCode", "code"),
            cda_base64,
        });
    }
    let query_ack = control.child("queryAck");
    Ok(QueryReply {
        query_id: query_ack
            .and_then(|q| q.child("queryId"))
            .and_then(|id| id.attr("root"))
            .map(str::to_owned),
        response_code: query_ack
            .and_then(|q| q.child("queryResponseCode"))
            .and_then(|c| c.attr("code"))
            .map(str::to_owned),
        documents,
    })
}

/// An accepted request: the acknowledgement and whether the archive already had the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub ack: Acknowledgement,
    pub already_done: bool,
}

/// Reads and classifies the answer to the message `message_id` (and, for queries, the query
/// `query_id`). Unreadable answers, a wrong root or an answer to another message are
/// [`AdapterError::Transient`] naming the response digest; AE/AR follow the detail-code table.
pub fn interpret(
    body: &[u8],
    message_id: &str,
    query_id: Option<&str>,
    detail_code_system: &str,
) -> Result<Accepted, AdapterError> {
    let unusable = |why: &str| {
        AdapterError::Transient(format!(
            "unusable acknowledgement (response sha256 {}): {why}",
            sha256_hex(body)
        ))
    };
    let ack = parse_ack(body, detail_code_system).map_err(|why| unusable(&why))?;
    if !ack.target_message_id.eq_ignore_ascii_case(message_id) {
        return Err(unusable("targetMessage/id is not the id of the message sent"));
    }
    let classes: Vec<DetailClass> = ack.codes().filter_map(detail_class).collect();
    if classes.contains(&DetailClass::AlreadyDone) {
        return Ok(Accepted {
            ack,
            already_done: true,
        });
    }
    let error = match ack.type_code {
        AckType::AA => None,
        kind => {
            let what = describe(&ack);
            Some(if classes.contains(&DetailClass::Permanent) {
                AdapterError::Permanent(what)
            } else if classes.contains(&DetailClass::Transient) {
                AdapterError::Transient(what)
            } else if kind == AckType::AE {
                AdapterError::Permanent(what)
            } else {
                AdapterError::Transient(what)
            })
        }
    };
    if let Some(error) = error {
        return Err(error);
    }
    if let Some(expected) = query_id {
        let reply = ack
            .query
            .as_ref()
            .ok_or_else(|| unusable("a query reply without controlActProcess"))?;
        if reply
            .query_id
            .as_deref()
            .is_some_and(|id| !id.eq_ignore_ascii_case(expected))
        {
            return Err(unusable("queryAck/queryId is not the id of the query sent"));
        }
    }
    Ok(Accepted {
        ack,
        already_done: false,
    })
}

/// `archive answered AE: SCHEMA_INVALID (text); …`, identity codes redacted, bounded length.
fn describe(ack: &Acknowledgement) -> String {
    let kind = match ack.type_code {
        AckType::AA => "AA",
        AckType::AE => "AE",
        AckType::AR => "AR",
    };
    let details: Vec<String> = ack
        .details
        .iter()
        .map(|d| {
            let code = d.code.as_deref().unwrap_or("(no code)");
            match d.text.as_deref().or(d.display_name.as_deref()) {
                Some(text) => format!("{code}: {text}"),
                None => code.to_owned(),
            }
        })
        .collect();
    let mut text = match details.is_empty() {
        true => format!("archive answered {kind} without details"),
        false => format!("archive answered {kind}: {}", details.join("; ")),
    };
    if text.chars().count() > 1000 {
        text = text.chars().take(1000).collect::<String>() + "…";
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE_ID: &str = "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a10";
    const QUERY_ID: &str = "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a11";
    const SYSTEM: &str = "1.2.246.537.5.40177";

    fn ack(type_code: &str, details: &[(&str, &str)], extra: &str) -> Vec<u8> {
        let details: String = details
            .iter()
            .map(|(code, system)| {
                format!(
                    r#"<acknowledgementDetail typeCode="E"><code code="{code}" codeSystem="{system}" displayName="d"/><text>about 131052-308T</text></acknowledgementDetail>"#
                )
            })
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<MCCI_IN000002UV01 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">
  <id root="0190f5a4-0000-7000-8000-000000000001"/>
  <creationTime value="20250304081531"/>
  <interactionId root="2.16.840.1.113883.1.6" extension="MCCI_IN000002UV01"/>
  <processingCode code="P"/><processingModeCode code="T"/><acceptAckCode code="NE"/>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="1.2.3"/></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="1.2.246.10.2.1"/></device></sender>
  <acknowledgement typeCode="{type_code}">
    <targetMessage><id root="{MESSAGE_ID}"/></targetMessage>
    <futureElement xmlns="urn:example:unknown">tolerated</futureElement>
    {details}
  </acknowledgement>
  {extra}
</MCCI_IN000002UV01>"#
        )
        .into_bytes()
    }

    fn run(body: &[u8]) -> Result<Accepted, AdapterError> {
        interpret(body, MESSAGE_ID, None, SYSTEM)
    }

    #[test]
    fn aa_is_success() {
        let accepted = run(&ack("AA", &[], "")).unwrap();
        assert_eq!(accepted.ack.type_code, AckType::AA);
        assert!(!accepted.already_done);
        // Ids compare without regard to case.
        interpret(&ack("AA", &[], ""), &MESSAGE_ID.to_uppercase(), None, SYSTEM).unwrap();
    }

    #[test]
    fn an_identical_document_already_archived_is_success() {
        for kind in ["AA", "AE"] {
            let accepted = run(&ack(kind, &[(DOCUMENT_EXISTS_IDENTICAL, SYSTEM)], "")).unwrap();
            assert!(accepted.already_done, "{kind}");
        }
    }

    #[test]
    fn each_listed_code_is_classified_per_the_contract() {
        for code in [
            "DOCUMENT_EXISTS_DIFFERENT",
            "SCHEMA_INVALID",
            "SIGNATURE_INVALID",
            "METADATA_MISMATCH",
            "UNKNOWN_DOCUMENT",
            "VERSION_CONFLICT",
        ] {
            match run(&ack("AE", &[(code, SYSTEM)], "")) {
                Err(AdapterError::Permanent(m)) => {
                    assert!(m.contains(code), "{m}");
                    assert!(!m.contains("131052"), "identity code leaked: {m}");
                }
                other => panic!("AE {code}: {other:?}"),
            }
        }
        for code in ["SYNTAX", "NOT_AUTHORISED"] {
            assert!(
                matches!(run(&ack("AR", &[(code, SYSTEM)], "")), Err(AdapterError::Permanent(_))),
                "AR {code}"
            );
        }
        for code in ["SERVICE_BUSY", "TEMPORARY_FAILURE"] {
            assert!(
                matches!(run(&ack("AR", &[(code, SYSTEM)], "")), Err(AdapterError::Transient(m)) if m.contains(code)),
                "AR {code}"
            );
        }
    }

    #[test]
    fn unknown_codes_follow_the_acknowledgement_type() {
        assert!(matches!(
            run(&ack("AE", &[("SOMETHING_NEW", SYSTEM)], "")),
            Err(AdapterError::Permanent(_))
        ));
        assert!(matches!(
            run(&ack("AR", &[("SOMETHING_NEW", SYSTEM)], "")),
            Err(AdapterError::Transient(_))
        ));
        assert!(matches!(run(&ack("AE", &[], "")), Err(AdapterError::Permanent(_))));
        assert!(matches!(run(&ack("AR", &[], "")), Err(AdapterError::Transient(_))));
        // A listed code of another code system is not that code.
        assert!(matches!(
            run(&ack("AR", &[("SCHEMA_INVALID", "1.2.3")], "")),
            Err(AdapterError::Transient(_))
        ));
        // A permanent code outweighs a transient one.
        assert!(matches!(
            run(&ack("AR", &[("SERVICE_BUSY", SYSTEM), ("SYNTAX", SYSTEM)], "")),
            Err(AdapterError::Permanent(_))
        ));
    }

    #[test]
    fn detail_texts_are_kept_without_identity_codes() {
        let body = ack("AA", &[("INFO", SYSTEM)], "");
        let parsed = parse_ack(&body, SYSTEM).unwrap();
        assert_eq!(parsed.details.len(), 1);
        assert_eq!(parsed.details[0].code.as_deref(), Some("INFO"));
        assert_eq!(parsed.details[0].type_code.as_deref(), Some("E"));
        assert_eq!(parsed.details[0].text.as_deref(), Some("about [identity code]"));
    }

    #[test]
    fn an_identity_code_in_a_detail_code_is_redacted() {
        // Found by the fuzz target kanta_ack: the code went into the error as sent.
        let body = ack("AE", &[("131052-308T", SYSTEM)], "");
        let Err(AdapterError::Permanent(why)) = run(&body) else {
            panic!("AE is permanent")
        };
        assert!(!why.contains("131052-308T"), "{why}");
        assert!(why.contains("[identity code]"), "{why}");
        let parsed = parse_ack(&body, SYSTEM).unwrap();
        assert_eq!(parsed.details[0].code.as_deref(), Some("[identity code]"));
        // Names the body chooses that end up in an error are redacted too.
        let other_root = String::from_utf8(ack("AA", &[], ""))
            .unwrap()
            .replace("xmlns=\"urn:hl7-org:v3\"", "xmlns=\"urn:131052-308T\"");
        let why = parse_ack(other_root.as_bytes(), SYSTEM).unwrap_err();
        assert!(!why.contains("131052-308T"), "{why}");
    }

    #[test]
    fn garbage_wrong_roots_and_other_messages_are_transient_with_the_digest() {
        let wrong_target = String::from_utf8(ack("AA", &[], ""))
            .unwrap()
            .replace(MESSAGE_ID, "0190f5a4-7c1e-7d3a-9c61-000000000000");
        let wrong_root = String::from_utf8(ack("AA", &[], ""))
            .unwrap()
            .replace("MCCI_IN000002UV01 ", "MCCI_IN000001UV01 ")
            .replace("</MCCI_IN000002UV01>", "</MCCI_IN000001UV01>");
        let wrong_namespace = String::from_utf8(ack("AA", &[], ""))
            .unwrap()
            .replace("xmlns=\"urn:hl7-org:v3\"", "xmlns=\"urn:other\"");
        let doctype = format!(
            "<!DOCTYPE MCCI_IN000002UV01 [<!ENTITY x \"y\">]>{}",
            String::from_utf8(ack("AA", &[], ""))
                .unwrap()
                .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
        );
        let bodies: Vec<Vec<u8>> = vec![
            b"<html>Bad gateway</html>".to_vec(),
            b"not xml at all".to_vec(),
            b"".to_vec(),
            ack("AA", &[], "")[..200].to_vec(),
            wrong_target.into_bytes(),
            wrong_root.into_bytes(),
            wrong_namespace.into_bytes(),
            doctype.into_bytes(),
            ack("AX", &[], ""),
        ];
        for body in bodies {
            match run(&body) {
                Err(AdapterError::Transient(m)) => {
                    assert!(m.contains(&sha256_hex(&body)), "{m}")
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(&body)),
            }
        }
    }

    fn query_reply(documents: &str, query_id: &str, code: &str) -> Vec<u8> {
        ack(
            "AA",
            &[],
            &format!(
                r#"<controlActProcess classCode="CACT" moodCode="EVN">{documents}
                <queryAck><queryId root="{query_id}"/><queryResponseCode code="{code}"/></queryAck></controlActProcess>"#
            ),
        )
    }

    const LISTED: &str = r#"
      <subject typeCode="SUBJ"><document classCode="DOCCLIN" moodCode="EVN">
        <id root="1.2.3.4"/><code code="contact_record" codeSystem="1.2.246.537.6.12.2002"/>
        <setId root="1.2.3.5"/><versionNumber value="2"/><effectiveTime value="20250304081500"/>
        <statusCode code="active"/></document></subject>
      <subject typeCode="SUBJ"><document classCode="DOCCLIN" moodCode="EVN">
        <id root="1.2.3.3"/><code code="contact_record" codeSystem="1.2.246.537.6.12.2002"/>
        <text mediaType="text/xml" representation="B64">PENs
          aW5pY2FsRG9jdW1lbnQvPg==</text>
        <setId root="1.2.3.5"/><versionNumber value="1"/><effectiveTime value="20250301081500"/>
        <statusCode code="obsolete"/></document></subject>"#;

    #[test]
    fn query_replies_list_their_documents() {
        let body = query_reply(LISTED, QUERY_ID, "OK");
        let accepted = interpret(&body, MESSAGE_ID, Some(QUERY_ID), SYSTEM).unwrap();
        let reply = accepted.ack.query.unwrap();
        assert_eq!(reply.response_code.as_deref(), Some("OK"));
        assert_eq!(reply.documents.len(), 2);
        let first = &reply.documents[0];
        assert_eq!(first.document_oid, "1.2.3.4");
        assert_eq!(first.code.as_deref(), Some("contact_record"));
        assert_eq!(first.set_id.as_deref(), Some("1.2.3.5"));
        assert_eq!(first.version, Some(2));
        assert_eq!(first.effective_time.as_deref(), Some("20250304081500"));
        assert_eq!(first.status.as_deref(), Some("active"));
        assert_eq!(first.cda_base64, None);
        assert_eq!(
            reply.documents[1].cda_base64.as_deref(),
            Some("PENsaW5pY2FsRG9jdW1lbnQvPg==")
        );
        assert_eq!(reply.documents[1].status.as_deref(), Some("obsolete"));

        let none = query_reply("", QUERY_ID, "NF");
        let reply = interpret(&none, MESSAGE_ID, Some(QUERY_ID), SYSTEM)
            .unwrap()
            .ack
            .query
            .unwrap();
        assert_eq!(reply.response_code.as_deref(), Some("NF"));
        assert!(reply.documents.is_empty());
    }

    #[test]
    fn a_reply_to_another_query_is_transient() {
        let body = query_reply(LISTED, "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a99", "OK");
        assert!(matches!(
            interpret(&body, MESSAGE_ID, Some(QUERY_ID), SYSTEM),
            Err(AdapterError::Transient(_))
        ));
        assert!(matches!(
            interpret(&ack("AA", &[], ""), MESSAGE_ID, Some(QUERY_ID), SYSTEM),
            Err(AdapterError::Transient(_))
        ));
        let bad_version = query_reply(&LISTED.replace("value=\"2\"", "value=\"two\""), QUERY_ID, "OK");
        assert!(matches!(
            interpret(&bad_version, MESSAGE_ID, Some(QUERY_ID), SYSTEM),
            Err(AdapterError::Transient(_))
        ));
    }
}
