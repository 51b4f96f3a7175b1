//! The HL7 V3 message around every request (`WIRE.md`, "Message wrapper" and "Interactions").
//! The message id and creation time are new for every attempt; the document inside is not.

use crate::document::{hl7_time, DOCUMENT_TYPE_SYSTEM, PERSON_ID_ROOT};
use crate::model::InvalidationReason;
use crate::xml::{XmlOut, NS_HL7};
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// `interactionId/@root`.
pub const INTERACTION_ID_ROOT: &str = "2.16.840.1.113883.1.6";
/// `reasonCode/@codeSystem` of an invalidation.
pub const INVALIDATION_REASON_SYSTEM: &str = "1.2.246.537.5.40175";

/// The wrapper's own fields.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The root element name and `interactionId/@extension`.
    pub interaction_id: &'a str,
    pub message_id: Uuid,
    pub creation_time: DateTime<Utc>,
    /// `P`, `T` or `D`.
    pub processing_code: &'a str,
    pub receiver_oid: &'a str,
    pub sender_oid: &'a str,
}

/// What `controlActProcess` carries.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// A new document or (with `previous_document_oid`) a new version.
    Archive {
        document_oid: &'a str,
        set_id: &'a str,
        version: u32,
        type_code: &'a str,
        identity_code: &'a str,
        registry_keeper_oid: &'a str,
        previous_document_oid: Option<&'a str>,
        /// The signed CDA document, sent Base64 in `text`.
        signed_document: &'a [u8],
    },
    Invalidate {
        document_oid: &'a str,
        set_id: &'a str,
        version: u32,
        identity_code: &'a str,
        reason: InvalidationReason,
    },
    Search {
        query_id: Uuid,
        identity_code: &'a str,
    },
    Fetch {
        query_id: Uuid,
        document_oid: &'a str,
    },
}

/// The whole message, UTF-8 with an XML declaration.
pub fn build(header: &Header, payload: &Payload) -> Vec<u8> {
    let mut x = XmlOut::with_declaration();
    let root = header.interaction_id;
    let message_id = header.message_id.to_string();
    let creation_time = hl7_time(&header.creation_time);
    x.start(root, &[("xmlns", NS_HL7), ("ITSVersion", "XML_1.0")]);
    x.empty("id", &[("root", &message_id)]);
    x.empty("creationTime", &[("value", &creation_time)]);
    x.empty("interactionId", &[("root", INTERACTION_ID_ROOT), ("extension", root)]);
    x.empty("processingCode", &[("code", header.processing_code)]);
    x.empty("processingModeCode", &[("code", "T")]);
    x.empty("acceptAckCode", &[("code", "AL")]);
    device(&mut x, "receiver", "RCV", header.receiver_oid);
    device(&mut x, "sender", "SND", header.sender_oid);
    x.start("controlActProcess", &[("classCode", "CACT"), ("moodCode", "EVN")]);
    match *payload {
        Payload::Archive {
            document_oid,
            set_id,
            version,
            type_code,
            identity_code,
            registry_keeper_oid,
            previous_document_oid,
            signed_document,
        } => {
            let version = version.to_string();
            let base64 = base64::engine::general_purpose::STANDARD.encode(signed_document);
            x.start("subject", &[("typeCode", "SUBJ")]);
            x.start("document", &[("classCode", "DOCCLIN"), ("moodCode", "EVN")]);
            x.empty("id", &[("root", document_oid)]);
            x.empty("code", &[("code", type_code), ("codeSystem", DOCUMENT_TYPE_SYSTEM)]);
            x.leaf("text", &[("mediaType", "text/xml"), ("representation", "B64")], &base64);
            x.empty("setId", &[("root", set_id)]);
            x.empty("versionNumber", &[("value", &version)]);
            record_target(&mut x, identity_code);
            x.start("custodian", &[("typeCode", "CST")]);
            x.start("assignedEntity", &[("classCode", "ASSIGNED")]);
            x.empty("id", &[("root", registry_keeper_oid)]);
            x.end("assignedEntity").end("custodian");
            if let Some(previous) = previous_document_oid {
                x.start("relatedDocument", &[("typeCode", "RPLC")]);
                x.start("parentDocument", &[("classCode", "DOCCLIN"), ("moodCode", "EVN")]);
                x.empty("id", &[("root", previous)]);
                x.end("parentDocument").end("relatedDocument");
            }
            x.end("document").end("subject");
        }
        Payload::Invalidate {
            document_oid,
            set_id,
            version,
            identity_code,
            reason,
        } => {
            let version = version.to_string();
            x.start("subject", &[("typeCode", "SUBJ")]);
            x.start("document", &[("classCode", "DOCCLIN"), ("moodCode", "EVN")]);
            x.empty("id", &[("root", document_oid)]);
            x.empty("setId", &[("root", set_id)]);
            x.empty("versionNumber", &[("value", &version)]);
            record_target(&mut x, identity_code);
            x.empty(
                "reasonCode",
                &[("code", reason.code()), ("codeSystem", INVALIDATION_REASON_SYSTEM)],
            );
            x.end("document").end("subject");
        }
        Payload::Search {
            query_id,
            identity_code,
        } => {
            x.start("queryByParameter", &[]);
            x.empty("queryId", &[("root", &query_id.to_string())]);
            x.start("patientId", &[]);
            x.empty("value", &[("root", PERSON_ID_ROOT), ("extension", identity_code)]);
            x.end("patientId").end("queryByParameter");
        }
        Payload::Fetch { query_id, document_oid } => {
            x.start("queryByParameter", &[]);
            x.empty("queryId", &[("root", &query_id.to_string())]);
            x.start("documentId", &[]);
            x.empty("value", &[("root", document_oid)]);
            x.end("documentId").end("queryByParameter");
        }
    }
    x.end("controlActProcess");
    x.end(root);
    x.finish()
}

fn device(x: &mut XmlOut, element: &str, type_code: &str, oid: &str) {
    x.start(element, &[("typeCode", type_code)]);
    x.start("device", &[("classCode", "DEV"), ("determinerCode", "INSTANCE")]);
    x.empty("id", &[("root", oid)]);
    x.end("device").end(element);
}

fn record_target(x: &mut XmlOut, identity_code: &str) {
    x.start("recordTarget", &[("typeCode", "RCT")]);
    x.start("patient", &[("classCode", "PAT")]);
    x.empty("id", &[("root", PERSON_ID_ROOT), ("extension", identity_code)]);
    x.end("patient").end("recordTarget");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{parse, Element};
    use chrono::TimeZone;

    fn header(interaction_id: &str) -> Header<'_> {
        Header {
            interaction_id,
            message_id: Uuid::parse_str("0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a10").unwrap(),
            creation_time: Utc.with_ymd_and_hms(2025, 3, 4, 8, 15, 30).unwrap(),
            processing_code: "T",
            receiver_oid: "1.2.246.10.2.1",
            sender_oid: "1.2.246.10.1234567.14.1",
        }
    }

    fn names(element: &Element) -> Vec<&str> {
        element.children.iter().map(|c| c.name.as_str()).collect()
    }

    const CDA: &[u8] = b"<?xml version=\"1.0\"?><ClinicalDocument/>";

    fn archive(previous: Option<&str>) -> Payload<'_> {
        Payload::Archive {
            document_oid: "1.2.3.4",
            set_id: "1.2.3.5",
            version: if previous.is_some() { 2 } else { 1 },
            type_code: "contact_record",
            identity_code: "131052-308T",
            registry_keeper_oid: "1.2.246.10.1234567.10",
            previous_document_oid: previous,
            signed_document: CDA,
        }
    }

    #[test]
    fn the_wrapper_has_every_element_in_order() {
        let xml = build(&header("RCMR_IN000002FI01"), &archive(None));
        let root = parse(&xml).unwrap();
        assert!(root.is(NS_HL7, "RCMR_IN000002FI01"));
        assert_eq!(root.attr("ITSVersion"), Some("XML_1.0"));
        assert_eq!(
            names(&root),
            [
                "id",
                "creationTime",
                "interactionId",
                "processingCode",
                "processingModeCode",
                "acceptAckCode",
                "receiver",
                "sender",
                "controlActProcess"
            ]
        );
        let get = |path: &[&str], attr: &str| root.path(path).unwrap().attr(attr).unwrap().to_owned();
        assert_eq!(get(&["id"], "root"), "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a10");
        assert_eq!(get(&["creationTime"], "value"), "20250304081530");
        assert_eq!(get(&["interactionId"], "root"), "2.16.840.1.113883.1.6");
        assert_eq!(get(&["interactionId"], "extension"), "RCMR_IN000002FI01");
        assert_eq!(get(&["processingCode"], "code"), "T");
        assert_eq!(get(&["processingModeCode"], "code"), "T");
        assert_eq!(get(&["acceptAckCode"], "code"), "AL");
        assert_eq!(get(&["receiver"], "typeCode"), "RCV");
        assert_eq!(get(&["receiver", "device", "id"], "root"), "1.2.246.10.2.1");
        assert_eq!(get(&["receiver", "device"], "determinerCode"), "INSTANCE");
        assert_eq!(get(&["sender"], "typeCode"), "SND");
        assert_eq!(get(&["sender", "device", "id"], "root"), "1.2.246.10.1234567.14.1");
        assert_eq!(get(&["controlActProcess"], "classCode"), "CACT");
        assert_eq!(get(&["controlActProcess"], "moodCode"), "EVN");

        let document = root.path(&["controlActProcess", "subject", "document"]).unwrap();
        assert_eq!(
            names(document),
            [
                "id",
                "code",
                "text",
                "setId",
                "versionNumber",
                "recordTarget",
                "custodian"
            ]
        );
        let text = document.child("text").unwrap();
        assert_eq!(text.attr("representation"), Some("B64"));
        assert_eq!(text.attr("mediaType"), Some("text/xml"));
        assert_eq!(
            base64::engine::general_purpose::STANDARD.decode(&text.text).unwrap(),
            CDA
        );
        assert_eq!(
            document
                .path(&["recordTarget", "patient", "id"])
                .unwrap()
                .attr("extension"),
            Some("131052-308T")
        );
        assert_eq!(
            document
                .path(&["custodian", "assignedEntity", "id"])
                .unwrap()
                .attr("root"),
            Some("1.2.246.10.1234567.10")
        );
    }

    #[test]
    fn a_new_version_names_the_replaced_document_last() {
        let xml = build(&header("RCMR_IN000004FI01"), &archive(Some("1.2.3.3")));
        let root = parse(&xml).unwrap();
        let document = root.path(&["controlActProcess", "subject", "document"]).unwrap();
        assert_eq!(names(document).last(), Some(&"relatedDocument"));
        let related = document.child("relatedDocument").unwrap();
        assert_eq!(related.attr("typeCode"), Some("RPLC"));
        assert_eq!(
            related.path(&["parentDocument", "id"]).unwrap().attr("root"),
            Some("1.2.3.3")
        );
        assert_eq!(document.child("versionNumber").unwrap().attr("value"), Some("2"));
    }

    #[test]
    fn an_invalidation_carries_only_the_ids_and_the_reason() {
        let payload = Payload::Invalidate {
            document_oid: "1.2.3.4",
            set_id: "1.2.3.5",
            version: 1,
            identity_code: "131052-308T",
            reason: InvalidationReason::WrongPerson,
        };
        let root = parse(&build(&header("RCMR_IN000006FI01"), &payload)).unwrap();
        let document = root.path(&["controlActProcess", "subject", "document"]).unwrap();
        assert_eq!(
            names(document),
            ["id", "setId", "versionNumber", "recordTarget", "reasonCode"]
        );
        let reason = document.child("reasonCode").unwrap();
        assert_eq!(reason.attr("code"), Some("2"));
        assert_eq!(reason.attr("codeSystem"), Some("1.2.246.537.5.40175"));
    }

    #[test]
    fn queries_carry_their_parameters() {
        let query_id = Uuid::parse_str("0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a11").unwrap();
        let search = Payload::Search {
            query_id,
            identity_code: "131052-308T",
        };
        let root = parse(&build(&header("RCMR_IN100001FI01"), &search)).unwrap();
        let query = root.path(&["controlActProcess", "queryByParameter"]).unwrap();
        assert_eq!(names(query), ["queryId", "patientId"]);
        assert_eq!(
            query.child("queryId").unwrap().attr("root"),
            Some(query_id.to_string().as_str())
        );
        let value = query.path(&["patientId", "value"]).unwrap();
        assert_eq!(value.attr("root"), Some("1.2.246.21"));
        assert_eq!(value.attr("extension"), Some("131052-308T"));

        let fetch = Payload::Fetch {
            query_id,
            document_oid: "1.2.3.4",
        };
        let root = parse(&build(&header("RCMR_IN100003FI01"), &fetch)).unwrap();
        let query = root.path(&["controlActProcess", "queryByParameter"]).unwrap();
        assert_eq!(names(query), ["queryId", "documentId"]);
        assert_eq!(
            query.path(&["documentId", "value"]).unwrap().attr("root"),
            Some("1.2.3.4")
        );
        assert_eq!(
            root.path(&["interactionId"]).unwrap().attr("extension"),
            Some("RCMR_IN100003FI01")
        );
    }
}
