//! One request to the service endpoint: content type, XML, wrapper, authorisation, the CDA, its signature,
//! and the store. The answer is a [`Reply`]; the server adds faults and the request log around it.

use super::ack::{self, Ack, Detail, QueryResult};
use super::message::{self, Content, Header, Invalidation, WrappedDocument};
use super::xml::{self, HL7};
use super::{cda, signature, DocumentStatus, Inner, Operation, Sim, StoredDocument};
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

    #[test]
    fn content_types() {
        assert!(is_text_xml(Some("text/xml")));
        assert!(is_text_xml(Some("Text/XML; charset=\"UTF-8\"")));
        assert!(!is_text_xml(Some("text/xml; charset=iso-8859-1")));
        assert!(!is_text_xml(Some("application/xml")));
        assert!(!is_text_xml(None));
    }
}
