//! One request to the service endpoint: content type, XML, wrapper, authorisation, the CDA, its signature,
//! and the store. The answer is a [`Reply`]; the server adds faults and the request log around it.

use super::ack::{self, Ack, Detail, QueryResult};
use super::message::{self, Content, Header, Invalidation, WrappedDocument};
use super::xml::{self, HL7};
use super::{cda, schema, signature, DocumentStatus, Inner, Operation, Sim, StoredDocument};
use chrono::Utc;

pub const XML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// An answer before faults.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// What the request said, read leniently.
    pub header: Header,
    /// `AA`/`AE`/`AR` of the acknowledgement, if one was sent.
    pub ack: Option<String>,
    pub details: Vec<String>,
}

impl Reply {
    pub fn plain(status: u16, text: &str, header: Header) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{text}\n").into_bytes(),
            header,
            ack: None,
            details: Vec::new(),
        }
    }

    pub fn ack(sim: &Sim, header: Header, ack: Ack) -> Reply {
        let body = ack::render(&ack, &header, &sim.receiver_oid, None).into_bytes();
        Reply {
            status: 200,
            content_type: XML_CONTENT_TYPE,
            body,
            header,
            details: ack.details.iter().map(|d| d.code.clone()).collect(),
            ack: Some(ack.type_code),
        }
    }
}

/// Whether a `Content-Type` is `text/xml` (parameters allowed; a charset, when given, must be UTF-8).
fn is_text_xml(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else { return false };
    let mut parts = value.split(';');
    if !parts.next().unwrap_or("").trim().eq_ignore_ascii_case("text/xml") {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            let v = v.trim().trim_matches('"');
            v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    })
}

pub fn process(sim: &Sim, content_type: Option<&str>, body: &[u8]) -> Reply {
    if !is_text_xml(content_type) {
        return Reply::plain(415, "Content-Type must be text/xml; charset=utf-8", Header::default());
    }
    let root = match xml::parse(body) {
        Ok(root) => root,
        Err(e) => return Reply::plain(400, &format!("the message cannot be read: {e}"), Header::default()),
    };
    let header = Header::lenient(&root);
    if root.ns != HL7 {
        return Reply::plain(
            400,
            &format!(
                "the root element <{}> is in namespace '{}', not '{HL7}'",
                root.name, root.ns
            ),
            header,
        );
    }
    let message = match message::check(sim, &root) {
        Ok(m) => m,
        Err(text) => return Reply::ack(sim, header, Ack::new("AR", vec![Detail::error("SYNTAX", text)])),
    };
    let sender = message.sender.clone();
    let ack = match message.content {
        Content::Document(doc) => archive(sim, &sender, message.operation, doc),
        Content::Invalidate(inv) => invalidate(sim, &sender, inv),
        Content::Search { query_id, person } => search(sim, &sender, query_id, &person),
        Content::Fetch { query_id, oid } => fetch(sim, &sender, query_id, &oid),
    };
    Reply::ack(sim, header, ack)
}

fn rejected(type_code: &str, code: &str, text: impl Into<String>) -> Ack {
    Ack::new(type_code, vec![Detail::error(code, text)])
}

fn not_authorised(sender: &str, keeper: &str) -> Ack {
    rejected(
        "AR",
        "NOT_AUTHORISED",
        format!("sender system {sender} may not act for registry keeper {keeper}"),
    )
}

fn archive(sim: &Sim, sender: &str, operation: Operation, wrapped: WrappedDocument) -> Ack {
    *sim.lock().archive_counts.entry(wrapped.oid.clone()).or_default() += 1;
    if !sim.may_act_for(sender, &wrapped.custodian) {
        return not_authorised(sender, &wrapped.custodian);
    }
    let (doc, cda) = match cda::check(&wrapped.cda) {
        Ok(checked) => checked,
        Err(text) => return rejected("AE", "SCHEMA_INVALID", text),
    };
    if let Some(cda_schema) = &sim.cda_schema {
        if let Err(text) = schema::check(cda_schema, &wrapped.cda) {
            return rejected("AE", "SCHEMA_INVALID", text);
        }
    }
    if let Err(text) = signature::check(&wrapped.cda, &doc, &sim.trust) {
        return rejected("AE", "SIGNATURE_INVALID", text);
    }
    let mut mismatches = Vec::new();
    for (what, wrapper, document) in [
        ("id", &wrapped.oid, &cda.oid),
        ("setId", &wrapped.set_id, &cda.set_id),
        ("versionNumber", &wrapped.version.to_string(), &cda.version.to_string()),
        ("patient id", &wrapped.person, &cda.person),
        ("custodian", &wrapped.custodian, &cda.custodian),
    ] {
        if wrapper != document {
            mismatches.push(format!("{what}: wrapper '{wrapper}', document '{document}'"));
        }
    }
    if !mismatches.is_empty() {
        return rejected("AE", "METADATA_MISMATCH", mismatches.join("; "));
    }

    let mut inner = sim.lock();
    if let Some(existing) = inner.document(&wrapped.oid) {
        return if existing.content_digest == cda.digest {
            Ack::new(
                "AA",
                vec![Detail::info(
                    "DOCUMENT_EXISTS_IDENTICAL",
                    format!("document {} is already archived with identical content", wrapped.oid),
                )],
            )
        } else {
            rejected(
                "AE",
                "DOCUMENT_EXISTS_DIFFERENT",
                format!("document {} is already archived with different content", wrapped.oid),
            )
        };
    }
    let mut stored = StoredDocument {
        oid: wrapped.oid.clone(),
        set_id: cda.set_id,
        version: cda.version,
        person: cda.person,
        code: wrapped.code,
        cda_code: cda.code,
        title: cda.title,
        effective_time: cda.effective_time,
        custodian: cda.custodian,
        sender: sender.to_string(),
        status: DocumentStatus::Active,
        content_digest: cda.digest,
        archive_count: 0,
        archived_at: Utc::now(),
        replaces: None,
        replaced_by: None,
        nullification_reason: None,
        cda: wrapped.cda,
    };
    match operation {
        Operation::NewVersion => {
            let parent_oid = wrapped.parent.unwrap_or_default();
            if let Err(ack) = check_parent(sim, &inner, sender, &parent_oid, &stored) {
                return ack;
            }
            let parent = inner.document_mut(&parent_oid).expect("checked");
            parent.status = DocumentStatus::Obsolete;
            parent.replaced_by = Some(stored.oid.clone());
            stored.replaces = Some(parent_oid);
        }
        _ => {
            if let Some(other) = inner.documents.iter().find(|d| d.set_id == stored.set_id) {
                return rejected(
                    "AE",
                    "VERSION_CONFLICT",
                    format!(
                        "set {} already holds document {} (version {}): send a new version",
                        stored.set_id, other.oid, other.version
                    ),
                );
            }
        }
    }
    inner.insert(stored);
    Ack::new("AA", Vec::new())
}

fn check_parent(sim: &Sim, inner: &Inner, sender: &str, parent_oid: &str, new: &StoredDocument) -> Result<(), Ack> {
    let Some(parent) = inner.document(parent_oid) else {
        return Err(rejected(
            "AE",
            "UNKNOWN_DOCUMENT",
            format!("the previous version {parent_oid} is not archived"),
        ));
    };
    if !sim.may_act_for(sender, &parent.custodian) {
        return Err(not_authorised(sender, &parent.custodian));
    }
    if parent.set_id != new.set_id {
        return Err(rejected(
            "AE",
            "VERSION_CONFLICT",
            format!(
                "the previous version {parent_oid} belongs to set {}, not {}",
                parent.set_id, new.set_id
            ),
        ));
    }
    if parent.status != DocumentStatus::Active {
        return Err(rejected(
            "AE",
            "VERSION_CONFLICT",
            format!(
                "the previous version {parent_oid} is not current (it is {})",
                parent.status.code()
            ),
        ));
    }
    if new.version != parent.version + 1 {
        return Err(rejected(
            "AE",
            "VERSION_CONFLICT",
            format!(
                "version {} does not follow version {} of {parent_oid}",
                new.version, parent.version
            ),
        ));
    }
    if parent.person != new.person {
        return Err(rejected(
            "AE",
            "METADATA_MISMATCH",
            format!("the previous version {parent_oid} is of another person"),
        ));
    }
    Ok(())
}

fn invalidate(sim: &Sim, sender: &str, inv: Invalidation) -> Ack {
    let mut inner = sim.lock();
    let Some(doc) = inner.document_mut(&inv.oid) else {
        return rejected(
            "AE",
            "UNKNOWN_DOCUMENT",
            format!("document {} is not archived", inv.oid),
        );
    };
    if !sim.may_act_for(sender, &doc.custodian) {
        return not_authorised(sender, &doc.custodian);
    }
    let mut mismatches = Vec::new();
    if doc.set_id != inv.set_id {
        mismatches.push(format!("setId: message '{}', archive '{}'", inv.set_id, doc.set_id));
    }
    if doc.version != inv.version {
        mismatches.push(format!(
            "versionNumber: message '{}', archive '{}'",
            inv.version, doc.version
        ));
    }
    if doc.person != inv.person {
        mismatches.push("patient id differs from the archived document's".to_string());
    }
    if !mismatches.is_empty() {
        return rejected("AE", "METADATA_MISMATCH", mismatches.join("; "));
    }
    match doc.status {
        DocumentStatus::Nullified => Ack::new("AA", Vec::new()),
        DocumentStatus::Obsolete => rejected(
            "AE",
            "VERSION_CONFLICT",
            format!(
                "document {} is not the current version (replaced by {})",
                inv.oid,
                doc.replaced_by.as_deref().unwrap_or("?")
            ),
        ),
        DocumentStatus::Active => {
            doc.status = DocumentStatus::Nullified;
            doc.nullification_reason = Some(inv.reason);
            Ack::new("AA", Vec::new())
        }
    }
}

fn search(sim: &Sim, sender: &str, query_id: String, person: &str) -> Ack {
    if !sim.senders.contains_key(sender) {
        return rejected(
            "AR",
            "NOT_AUTHORISED",
            format!("sender system {sender} may not use the archive"),
        );
    }
    let inner = sim.lock();
    let documents = inner
        .documents
        .iter()
        .filter(|d| d.person == person && sim.may_act_for(sender, &d.custodian))
        .map(|d| inner.snapshot(d))
        .collect();
    Ack {
        type_code: "AA".into(),
        details: Vec::new(),
        query: Some(QueryResult {
            query_id,
            documents,
            with_text: false,
        }),
    }
}

fn fetch(sim: &Sim, sender: &str, query_id: String, oid: &str) -> Ack {
    if !sim.senders.contains_key(sender) {
        return rejected(
            "AR",
            "NOT_AUTHORISED",
            format!("sender system {sender} may not use the archive"),
        );
    }
    let inner = sim.lock();
    let Some(doc) = inner.document(oid) else {
        let mut ack = rejected("AE", "UNKNOWN_DOCUMENT", format!("document {oid} is not archived"));
        ack.query = Some(QueryResult {
            query_id,
            documents: Vec::new(),
            with_text: true,
        });
        return ack;
    };
    if !sim.may_act_for(sender, &doc.custodian) {
        return not_authorised(sender, &doc.custodian);
    }
    Ack {
        type_code: "AA".into(),
        details: Vec::new(),
        query: Some(QueryResult {
            query_id,
            documents: vec![inner.snapshot(doc)],
            with_text: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kanta::{schema, Config, Interactions};
    use std::collections::HashMap;
    use std::sync::Mutex;

    fn new_sim(with_schema: bool) -> Sim {
        let config = Config::sandbox();
        let pems = config.trusted_signers.iter().map(|p| p.read().unwrap()).collect();
        Sim {
            inner: Mutex::new(Inner {
                documents: Vec::new(),
                by_oid: HashMap::new(),
                archive_counts: HashMap::new(),
                faults: Vec::new(),
                request_log: Vec::new(),
            }),
            path: config.path,
            receiver_oid: config.receiver_oid,
            interactions: Interactions::default(),
            processing_codes: config.processing_codes,
            senders: config.senders,
            trust: signature::Trust::new(pems).unwrap(),
            max_body_bytes: config.max_body_bytes,
            cda_schema: with_schema.then(|| portti_xmlsec::Schema::from_file(schema::committed_schema()).unwrap()),
            closing: tokio::sync::Notify::new(),
        }
    }

    const KEEPER: &str = "1.2.246.10.853.10.1";
    const SENDER: &str = "1.2.246.10.853.10.2";
    const OID: &str = "1.2.246.10.853.10.3.77";
    const PERSON: &str = "010101-123N";

    /// A document that meets the Finnish header rules (as tests/kanta_support builds them), unsigned;
    /// `in_author` goes into `author/assignedAuthor` after its `id`.
    fn cda(in_author: &str) -> Vec<u8> {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:hl7fi="urn:hl7finland">
  <realmCode code="FI"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.2.246.777.11.2016.11"/>
  <id root="{OID}"/>
  <code code="SOSKERTOMUS" codeSystem="1.2.246.537.6.12.2002" displayName="Asiakaskertomus"/>
  <title>Asiakaskertomus</title>
  <effectiveTime value="20260301101500"/>
  <confidentialityCode code="3" codeSystem="1.2.246.537.5.40228"/>
  <languageCode code="fi-FI"/>
  <setId root="{OID}"/>
  <versionNumber value="1"/>
  <hl7fi:localHeader>
    <hl7fi:serviceTask code="10" codeSystem="1.2.246.537.6.1221"/>
    <hl7fi:documentGroup code="1" codeSystem="1.2.246.537.6.1505"/>
    <hl7fi:serviceProcess code="2" codeSystem="1.2.246.537.6.1277"/>
    <hl7fi:registryKeeper><hl7fi:id root="{KEEPER}"/><hl7fi:municipality code="853" codeSystem="1.2.246.537.6.21"/></hl7fi:registryKeeper>
    <hl7fi:retentionPeriodClass code="1"/>
    <hl7fi:fileFormat code="1"/>
  </hl7fi:localHeader>
  <recordTarget><patientRole><id root="1.2.246.21" extension="{PERSON}"/><patient><name><given>Testi</given><family>Henkilö</family></name></patient></patientRole></recordTarget>
  <author><time value="20260301101500"/><assignedAuthor><id root="{SENDER}"/>{in_author}<representedOrganization><id root="{KEEPER}"/><name>Turku</name></representedOrganization></assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization><id root="{KEEPER}"/></representedCustodianOrganization></assignedCustodian></custodian>
  <documentationOf><serviceEvent><id root="1.2.246.10.853.10.9.1"/><effectiveTime><low value="20260301"/></effectiveTime></serviceEvent></documentationOf>
  <component><structuredBody><component><section><title>Palvelutarve</title><text><paragraph>Teksti</paragraph></text><hl7fi:json>e30=</hl7fi:json></section></component></structuredBody></component>
  <hl7fi:signatures/>
</ClinicalDocument>
"#
        )
        .into_bytes()
    }

    fn wrapped(cda: Vec<u8>) -> WrappedDocument {
        WrappedDocument {
            oid: OID.into(),
            code: "SOSKERTOMUS".into(),
            cda,
            set_id: OID.into(),
            version: 1,
            person: PERSON.into(),
            custodian: KEEPER.into(),
            parent: None,
        }
    }

    fn codes(ack: &Ack) -> Vec<&str> {
        ack.details.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn schema_check_comes_after_the_finnish_header_and_before_the_signature() {
        let sim = new_sim(true);
        // Schema-valid once hl7fi: is removed: the archive goes on to the (missing) signature.
        let ack = archive(&sim, SENDER, Operation::Archive, wrapped(cda("")));
        assert_eq!(codes(&ack), ["SIGNATURE_INVALID"], "{:?}", ack.details[0].text);

        // An element CDA R2 does not allow, deep in the header (the Finnish checks do not look there).
        let ack = archive(&sim, SENDER, Operation::Archive, wrapped(cda("<bogusElement/>")));
        assert_eq!(ack.type_code, "AE");
        assert_eq!(codes(&ack), ["SCHEMA_INVALID"]);
        let text = &ack.details[0].text;
        assert!(text.contains("line 23: "), "{text}");
        assert!(text.contains("bogusElement") && text.contains("not expected"), "{text}");

        // Without a schema configured, the same document gets to the signature check.
        let ack = archive(
            &new_sim(false),
            SENDER,
            Operation::Archive,
            wrapped(cda("<bogusElement/>")),
        );
        assert_eq!(codes(&ack), ["SIGNATURE_INVALID"]);
    }

    #[test]
    fn content_types() {
        assert!(is_text_xml(Some("text/xml")));
        assert!(is_text_xml(Some("Text/XML; charset=\"UTF-8\"")));
        assert!(!is_text_xml(Some("text/xml; charset=iso-8859-1")));
        assert!(!is_text_xml(Some("application/xml")));
        assert!(!is_text_xml(None));
    }
}
