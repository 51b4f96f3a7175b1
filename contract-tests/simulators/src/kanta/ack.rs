//! `MCCI_IN000002UV01` acknowledgements, exactly as WIRE.md shows them.

use super::message::{Header, DOCUMENT_TYPE_CODE_SYSTEM, INTERACTION_ID_ROOT, PERSON_ID_ROOT};
use super::xml::esc;
use super::{StoredDocument, DETAIL_CODE_SYSTEM};
use base64::Engine;
use chrono::Utc;

pub const ACK_INTERACTION: &str = "MCCI_IN000002UV01";

/// One `acknowledgementDetail`.
#[derive(Clone, Debug)]
pub struct Detail {
    /// `E`, `W` or `I`.
    pub type_code: &'static str,
    pub code: String,
    pub text: String,
}

impl Detail {
    pub fn error(code: &str, text: impl Into<String>) -> Self {
        Detail {
            type_code: "E",
            code: code.into(),
            text: text.into(),
        }
    }

    pub fn info(code: &str, text: impl Into<String>) -> Self {
        Detail {
            type_code: "I",
            code: code.into(),
            text: text.into(),
        }
    }
}

/// The results of a query.
pub struct QueryResult {
    pub query_id: String,
    pub documents: Vec<StoredDocument>,
    /// Fetch: each document with its `text` (the CDA).
    pub with_text: bool,
}

pub struct Ack {
    /// `AA`, `AE` or `AR`.
    pub type_code: String,
    pub details: Vec<Detail>,
    pub query: Option<QueryResult>,
}

impl Ack {
    pub fn new(type_code: &str, details: Vec<Detail>) -> Self {
        Ack {
            type_code: type_code.into(),
            details,
            query: None,
        }
    }
}

/// The display name of a detail code (the sandbox list of WIRE.md).
pub fn display_name(code: &str) -> &'static str {
    match code {
        "DOCUMENT_EXISTS_IDENTICAL" => "A document with this OID and identical content is already archived",
        "DOCUMENT_EXISTS_DIFFERENT" => "The OID is taken by different content",
        "SYNTAX" => "The message does not follow the wrapper rules",
        "SCHEMA_INVALID" => "The CDA document breaks the schema or the Finnish header rules",
        "SIGNATURE_INVALID" => "System signature missing, broken or by an untrusted key",
        "METADATA_MISMATCH" => "Wrapper and document disagree",
        "UNKNOWN_DOCUMENT" => "No such document",
        "VERSION_CONFLICT" => "The version does not follow the current version",
        "NOT_AUTHORISED" => "The sending system may not act for this registry keeper",
        "SERVICE_BUSY" => "The archive is overloaded; try again",
        "TEMPORARY_FAILURE" => "An internal failure; try again",
        _ => "Simulated failure",
    }
}

fn hl7_now() -> String {
    Utc::now().format("%Y%m%d%H%M%S").to_string()
}

fn device(type_code: &str, oid: Option<&str>) -> String {
    let id = match oid {
        Some(oid) => format!("<id root=\"{}\"/>", esc(oid)),
        None => "<id nullFlavor=\"UNK\"/>".to_string(),
    };
    let tag = if type_code == "RCV" { "receiver" } else { "sender" };
    format!(
        "<{tag} typeCode=\"{type_code}\"><device classCode=\"DEV\" determinerCode=\"INSTANCE\">{id}</device></{tag}>"
    )
}

/// The acknowledgement of a request with `header`; `target` overrides the targetMessage id (faults).
pub fn render(ack: &Ack, header: &Header, receiver_oid: &str, target: Option<&str>) -> String {
    let processing_code = header
        .processing_code
        .as_deref()
        .filter(|c| ["P", "T", "D"].contains(c))
        .unwrap_or("P");
    let mut out = String::with_capacity(2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<{ACK_INTERACTION} xmlns=\"urn:hl7-org:v3\" ITSVersion=\"XML_1.0\">\
         <id root=\"{}\"/><creationTime value=\"{}\"/>\
         <interactionId root=\"{INTERACTION_ID_ROOT}\" extension=\"{ACK_INTERACTION}\"/>\
         <processingCode code=\"{processing_code}\"/><processingModeCode code=\"T\"/><acceptAckCode code=\"NE\"/>",
        uuid::Uuid::now_v7(),
        hl7_now(),
    ));
    out.push_str(&device("RCV", header.sender.as_deref()));
    out.push_str(&device("SND", Some(receiver_oid)));
    out.push_str(&format!(
        "<acknowledgement typeCode=\"{}\"><targetMessage>",
        esc(&ack.type_code)
    ));
    match target.or(header.message_id.as_deref()) {
        Some(id) => out.push_str(&format!("<id root=\"{}\"/>", esc(id))),
        None => out.push_str("<id nullFlavor=\"UNK\"/>"),
    }
    out.push_str("</targetMessage>");
    for d in &ack.details {
        out.push_str(&format!(
            "<acknowledgementDetail typeCode=\"{}\"><code code=\"{}\" codeSystem=\"{DETAIL_CODE_SYSTEM}\" displayName=\"{}\"/><text>{}</text></acknowledgementDetail>",
            d.type_code,
            esc(&d.code),
            esc(display_name(&d.code)),
            esc(&d.text)
        ));
    }
    out.push_str("</acknowledgement>");
    if let Some(query) = &ack.query {
        out.push_str("<controlActProcess classCode=\"CACT\" moodCode=\"EVN\">");
        for doc in &query.documents {
            out.push_str(&document(doc, query.with_text));
        }
        let response = if query.documents.is_empty() { "NF" } else { "OK" };
        out.push_str(&format!(
            "<queryAck><queryId root=\"{}\"/><queryResponseCode code=\"{response}\"/></queryAck></controlActProcess>",
            esc(&query.query_id)
        ));
    }
    out.push_str(&format!("</{ACK_INTERACTION}>\n"));
    out
}

/// A result `document`, its children in the HL7 RIM order.
fn document(doc: &StoredDocument, with_text: bool) -> String {
    let mut out = format!(
        "<subject typeCode=\"SUBJ\"><document classCode=\"DOCCLIN\" moodCode=\"EVN\"><id root=\"{}\"/><code code=\"{}\" codeSystem=\"{DOCUMENT_TYPE_CODE_SYSTEM}\"/>",
        esc(&doc.oid),
        esc(&doc.code)
    );
    if with_text {
        out.push_str(&format!(
            "<text mediaType=\"text/xml\" representation=\"B64\">{}</text>",
            base64::engine::general_purpose::STANDARD.encode(&doc.cda)
        ));
    }
    out.push_str(&format!(
        "<statusCode code=\"{}\"/><effectiveTime value=\"{}\"/><setId root=\"{}\"/><versionNumber value=\"{}\"/>\
         <recordTarget typeCode=\"RCT\"><patient classCode=\"PAT\"><id root=\"{PERSON_ID_ROOT}\" extension=\"{}\"/></patient></recordTarget>\
         <custodian typeCode=\"CST\"><assignedEntity classCode=\"ASSIGNED\"><id root=\"{}\"/></assignedEntity></custodian>\
         </document></subject>",
        doc.status.code(),
        esc(&doc.effective_time),
        esc(&doc.set_id),
        doc.version,
        esc(&doc.person),
        esc(&doc.custodian)
    ));
    out
}
