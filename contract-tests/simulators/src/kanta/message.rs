//! The HL7 V3 message wrapper and the `controlActProcess` content of each interaction, checked strictly as
//! WIRE.md shows them. Every error is the text of an `AR` `SYNTAX` detail.

use super::xml::{Element, Node, HL7};
use super::{Operation, Sim};
use base64::Engine;

pub const INTERACTION_ID_ROOT: &str = "2.16.840.1.113883.1.6";
pub const DOCUMENT_TYPE_CODE_SYSTEM: &str = "1.2.246.537.6.12.2002";
pub const PERSON_ID_ROOT: &str = "1.2.246.21";
pub const REASON_CODE_SYSTEM: &str = "1.2.246.537.5.40175";

/// What an acknowledgement needs of the request, read leniently (also from a message that fails the checks).
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub interaction: Option<String>,
    pub message_id: Option<String>,
    pub processing_code: Option<String>,
    pub sender: Option<String>,
    pub document_oid: Option<String>,
}

impl Header {
    pub fn lenient(root: &Element) -> Header {
        let attr = |path: &[&str], name: &str| root.path(HL7, path).and_then(|e| e.attr_value(name)).map(String::from);
        let act = root.child(HL7, "controlActProcess");
        let document_oid = act.and_then(|act| {
            act.path(HL7, &["subject", "document", "id"])
                .or_else(|| act.path(HL7, &["queryByParameter", "documentId", "value"]))
                .and_then(|e| e.attr_value("root"))
                .map(String::from)
        });
        Header {
            interaction: Some(root.name.clone()),
            message_id: attr(&["id"], "root"),
            processing_code: attr(&["processingCode"], "code"),
            sender: attr(&["sender", "device", "id"], "root"),
            document_oid,
        }
    }
}

/// A checked message.
pub struct Message {
    pub operation: Operation,
    pub sender: String,
    pub content: Content,
}

pub enum Content {
    Document(WrappedDocument),
    Invalidate(Invalidation),
    Search { query_id: String, person: String },
    Fetch { query_id: String, oid: String },
}

/// The `document` of an archive or new-version message.
pub struct WrappedDocument {
    pub oid: String,
    pub code: String,
    pub cda: Vec<u8>,
    pub set_id: String,
    pub version: u32,
    pub person: String,
    pub custodian: String,
    /// The previous version's OID (new version only).
    pub parent: Option<String>,
}

pub struct Invalidation {
    pub oid: String,
    pub set_id: String,
    pub version: u32,
    pub person: String,
    pub reason: String,
}

/// `0`, `1` or `2`, then `.` and arcs without leading zeros.
pub fn is_oid(s: &str) -> bool {
    let mut arcs = s.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let rest: Vec<&str> = arcs.collect();
    first_ok
        && !rest.is_empty()
        && rest
            .iter()
            .all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a.len() == 1 || !a.starts_with('0')))
}

/// A UTC `yyyyMMddHHmmss` that is a real instant.
pub fn is_hl7_ts(s: &str) -> bool {
    s.len() == 14
        && s.bytes().all(|b| b.is_ascii_digit())
        && chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").is_ok()
}

/// The element children of `e`, which must be exactly `names` in this order (all in the v3 namespace) with
/// no text between them.
pub fn exact_children<'e>(e: &'e Element, names: &[&str], what: &str) -> Result<Vec<&'e Element>, String> {
    if e.children
        .iter()
        .any(|n| matches!(n, Node::Text(t) if !t.trim().is_empty()))
    {
        return Err(format!("{what} contains text"));
    }
    let found: Vec<&Element> = e.elements().collect();
    for (i, name) in names.iter().enumerate() {
        match found.get(i) {
            None => return Err(format!("{what}: <{name}> is missing")),
            Some(child) if child.is(HL7, name) => {}
            Some(child) => {
                return Err(if child.ns != HL7 {
                    format!(
                        "{what}: <{}> in namespace '{}' where <{name}> belongs",
                        child.name, child.ns
                    )
                } else if names.contains(&child.name.as_str()) {
                    format!("{what}: <{}> where <{name}> belongs (wrong order)", child.name)
                } else {
                    format!("{what}: unexpected <{}> where <{name}> belongs", child.name)
                })
            }
        }
    }
    if let Some(extra) = found.get(names.len()) {
        return Err(format!(
            "{what}: unexpected <{}> after <{}>",
            extra.name,
            names[names.len() - 1]
        ));
    }
    Ok(found)
}

fn require_attr<'e>(e: &'e Element, name: &str, what: &str) -> Result<&'e str, String> {
    e.attr_value(name)
        .ok_or_else(|| format!("<{what}> has no {name} attribute"))
}

fn expect_attr(e: &Element, name: &str, expected: &str, what: &str) -> Result<(), String> {
    match e.attr(name) {
        Some(v) if v == expected => Ok(()),
        Some(v) => Err(format!("<{what}> {name} is '{v}', expected '{expected}'")),
        None => Err(format!("<{what}> has no {name} attribute (expected '{expected}')")),
    }
}

fn oid_attr<'e>(e: &'e Element, name: &str, what: &str) -> Result<&'e str, String> {
    let v = require_attr(e, name, what)?;
    if is_oid(v) {
        Ok(v)
    } else {
        Err(format!("<{what}> {name} '{v}' is not an OID"))
    }
}

fn version_attr(e: &Element, what: &str) -> Result<u32, String> {
    let v = require_attr(e, "value", what)?;
    match v.parse::<u32>() {
        Ok(n) if n >= 1 && !v.starts_with('+') => Ok(n),
        _ => Err(format!("<{what}> value '{v}' is not a positive integer")),
    }
}

/// `<device classCode="DEV" determinerCode="INSTANCE"><id root="…"/></device>` under receiver/sender.
fn device_id<'e>(party: &'e Element, type_code: &str, what: &str) -> Result<&'e str, String> {
    expect_attr(party, "typeCode", type_code, what)?;
    let [device] = exact_children(party, &["device"], &format!("<{what}>"))?[..] else {
        unreachable!()
    };
    expect_attr(device, "classCode", "DEV", &format!("{what}/device"))?;
    expect_attr(device, "determinerCode", "INSTANCE", &format!("{what}/device"))?;
    let ids: Vec<&Element> = device.children_named(HL7, "id").collect();
    match ids[..] {
        [id] => oid_attr(id, "root", &format!("{what}/device/id")),
        [] => Err(format!("<{what}/device> has no <id>")),
        _ => Err(format!("<{what}/device> has more than one <id>")),
    }
}

/// Check the wrapper and the interaction content. `root` is in the v3 namespace (else the caller answered 400).
pub fn check(sim: &Sim, root: &Element) -> Result<Message, String> {
    let interaction = root.name.as_str();
    let operation = sim
        .interactions
        .operation(interaction)
        .ok_or_else(|| format!("interaction {interaction} is not served at this endpoint"))?;
    expect_attr(root, "ITSVersion", "XML_1.0", interaction)?;
    let children = exact_children(
        root,
        &[
            "id",
            "creationTime",
            "interactionId",
            "processingCode",
            "processingModeCode",
            "acceptAckCode",
            "receiver",
            "sender",
            "controlActProcess",
        ],
        "the message",
    )?;
    let [id, creation_time, interaction_id, processing_code, processing_mode, accept_ack, receiver, sender, act] =
        children[..]
    else {
        unreachable!()
    };
    let message_id = require_attr(id, "root", "id")?;
    match uuid::Uuid::parse_str(message_id) {
        Ok(uuid) if uuid.hyphenated().to_string() == message_id => {}
        _ => return Err(format!("<id> root '{message_id}' is not a lower-case UUID")),
    }
    let time = require_attr(creation_time, "value", "creationTime")?;
    if !is_hl7_ts(time) {
        return Err(format!("<creationTime> value '{time}' is not a UTC yyyyMMddHHmmss"));
    }
    expect_attr(interaction_id, "root", INTERACTION_ID_ROOT, "interactionId")?;
    expect_attr(interaction_id, "extension", interaction, "interactionId")?;
    let code = require_attr(processing_code, "code", "processingCode")?;
    if !sim.processing_codes.iter().any(|c| c == code) {
        return Err(format!(
            "<processingCode> code '{code}' is not accepted (expected one of {})",
            sim.processing_codes.join(", ")
        ));
    }
    expect_attr(processing_mode, "code", "T", "processingModeCode")?;
    expect_attr(accept_ack, "code", "AL", "acceptAckCode")?;
    let receiver_oid = device_id(receiver, "RCV", "receiver")?;
    if receiver_oid != sim.receiver_oid {
        return Err(format!(
            "<receiver> is '{receiver_oid}', not this archive ('{}')",
            sim.receiver_oid
        ));
    }
    let sender = device_id(sender, "SND", "sender")?.to_string();
    expect_attr(act, "classCode", "CACT", "controlActProcess")?;
    expect_attr(act, "moodCode", "EVN", "controlActProcess")?;
    let content = match operation {
        Operation::Archive | Operation::NewVersion => {
            Content::Document(document(act, operation == Operation::NewVersion)?)
        }
        Operation::Invalidate => Content::Invalidate(invalidation(act)?),
        Operation::Search => {
            let (query_id, parameter) = query(act, "patientId")?;
            let value = single_value(parameter, "patientId")?;
            expect_attr(value, "root", PERSON_ID_ROOT, "patientId/value")?;
            let person = require_attr(value, "extension", "patientId/value")?.to_string();
            Content::Search { query_id, person }
        }
        Operation::Fetch => {
            let (query_id, parameter) = query(act, "documentId")?;
            let value = single_value(parameter, "documentId")?;
            let oid = oid_attr(value, "root", "documentId/value")?.to_string();
            Content::Fetch { query_id, oid }
        }
    };
    Ok(Message {
        operation,
        sender,
        content,
    })
}

/// `controlActProcess/subject[@typeCode=SUBJ]/document[@classCode=DOCCLIN][@moodCode=EVN]`.
fn subject_document(act: &Element) -> Result<&Element, String> {
    let [subject] = exact_children(act, &["subject"], "<controlActProcess>")?[..] else {
        unreachable!()
    };
    expect_attr(subject, "typeCode", "SUBJ", "subject")?;
    let [document] = exact_children(subject, &["document"], "<subject>")?[..] else {
        unreachable!()
    };
    expect_attr(document, "classCode", "DOCCLIN", "document")?;
    expect_attr(document, "moodCode", "EVN", "document")?;
    Ok(document)
}

/// `recordTarget[@typeCode=RCT]/patient[@classCode=PAT]/id[@root=1.2.246.21]/@extension`.
fn record_target(e: &Element) -> Result<String, String> {
    expect_attr(e, "typeCode", "RCT", "recordTarget")?;
    let [patient] = exact_children(e, &["patient"], "<recordTarget>")?[..] else {
        unreachable!()
    };
    expect_attr(patient, "classCode", "PAT", "recordTarget/patient")?;
    let [id] = exact_children(patient, &["id"], "<recordTarget/patient>")?[..] else {
        unreachable!()
    };
    expect_attr(id, "root", PERSON_ID_ROOT, "recordTarget/patient/id")?;
    Ok(require_attr(id, "extension", "recordTarget/patient/id")?.to_string())
}

fn document(act: &Element, new_version: bool) -> Result<WrappedDocument, String> {
    let document = subject_document(act)?;
    let mut names = vec![
        "id",
        "code",
        "text",
        "setId",
        "versionNumber",
        "recordTarget",
        "custodian",
    ];
    if new_version {
        names.push("relatedDocument");
    }
    let children = exact_children(document, &names, "<document>")?;
    let oid = oid_attr(children[0], "root", "document/id")?.to_string();
    let code = require_attr(children[1], "code", "document/code")?.to_string();
    expect_attr(children[1], "codeSystem", DOCUMENT_TYPE_CODE_SYSTEM, "document/code")?;
    let text = children[2];
    expect_attr(text, "mediaType", "text/xml", "document/text")?;
    expect_attr(text, "representation", "B64", "document/text")?;
    if text.elements().next().is_some() {
        return Err("<document/text> must hold Base64 text only".into());
    }
    let b64: String = text.text().chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if b64.is_empty() {
        return Err("<document/text> is empty".into());
    }
    let cda = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("<document/text> is not Base64: {e}"))?;
    let set_id = oid_attr(children[3], "root", "document/setId")?.to_string();
    let version = version_attr(children[4], "document/versionNumber")?;
    let person = record_target(children[5])?;
    let custodian_el = children[6];
    expect_attr(custodian_el, "typeCode", "CST", "custodian")?;
    let [entity] = exact_children(custodian_el, &["assignedEntity"], "<custodian>")?[..] else {
        unreachable!()
    };
    expect_attr(entity, "classCode", "ASSIGNED", "custodian/assignedEntity")?;
    let [id] = exact_children(entity, &["id"], "<custodian/assignedEntity>")?[..] else {
        unreachable!()
    };
    let custodian = oid_attr(id, "root", "custodian/assignedEntity/id")?.to_string();
    let parent = if new_version {
        let related = children[7];
        expect_attr(related, "typeCode", "RPLC", "relatedDocument")?;
        let [parent] = exact_children(related, &["parentDocument"], "<relatedDocument>")?[..] else {
            unreachable!()
        };
        // classCode/moodCode as WIRE.md shows them; checked when present.
        if parent.attr("classCode").is_some() {
            expect_attr(parent, "classCode", "DOCCLIN", "relatedDocument/parentDocument")?;
        }
        if parent.attr("moodCode").is_some() {
            expect_attr(parent, "moodCode", "EVN", "relatedDocument/parentDocument")?;
        }
        let [id] = exact_children(parent, &["id"], "<relatedDocument/parentDocument>")?[..] else {
            unreachable!()
        };
        Some(oid_attr(id, "root", "relatedDocument/parentDocument/id")?.to_string())
    } else {
        None
    };
    Ok(WrappedDocument {
        oid,
        code,
        cda,
        set_id,
        version,
        person,
        custodian,
        parent,
    })
}

fn invalidation(act: &Element) -> Result<Invalidation, String> {
    let document = subject_document(act)?;
    let children = exact_children(
        document,
        &["id", "setId", "versionNumber", "recordTarget", "reasonCode"],
        "<document>",
    )?;
    let oid = oid_attr(children[0], "root", "document/id")?.to_string();
    let set_id = oid_attr(children[1], "root", "document/setId")?.to_string();
    let version = version_attr(children[2], "document/versionNumber")?;
    let person = record_target(children[3])?;
    let reason_el = children[4];
    expect_attr(reason_el, "codeSystem", REASON_CODE_SYSTEM, "reasonCode")?;
    let reason = require_attr(reason_el, "code", "reasonCode")?;
    if !["1", "2"].contains(&reason) {
        return Err(format!(
            "<reasonCode> code '{reason}' is not a reason (1 written in error, 2 wrong person)"
        ));
    }
    Ok(Invalidation {
        oid,
        set_id,
        version,
        person,
        reason: reason.to_string(),
    })
}

/// `controlActProcess/queryByParameter` with `queryId` and one parameter element.
fn query<'e>(act: &'e Element, parameter: &str) -> Result<(String, &'e Element), String> {
    let [query] = exact_children(act, &["queryByParameter"], "<controlActProcess>")?[..] else {
        unreachable!()
    };
    let [query_id, parameter] = exact_children(query, &["queryId", parameter], "<queryByParameter>")?[..] else {
        unreachable!()
    };
    let id = require_attr(query_id, "root", "queryId")?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(format!("<queryId> root '{id}' is not a UUID"));
    }
    Ok((id.to_string(), parameter))
}

fn single_value<'e>(parameter: &'e Element, what: &str) -> Result<&'e Element, String> {
    let [value] = exact_children(parameter, &["value"], &format!("<{what}>"))?[..] else {
        unreachable!()
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_and_times() {
        assert!(is_oid("1.2.246.10.853.10.1"));
        assert!(!is_oid("1.2.03"));
        assert!(!is_oid("1"));
        assert!(!is_oid("3.1"));
        assert!(!is_oid("1..2"));
        assert!(is_hl7_ts("20260131235959"));
        assert!(!is_hl7_ts("20260231120000"));
        assert!(!is_hl7_ts("2026013123595"));
    }
}
