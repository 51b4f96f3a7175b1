//! Deterministic OIDs: `{document OID root}.{n}` where `n` is the decimal of the first 128 bits
//! of a SHA-256 over the case id, the document kind and (for documents) the version. The same
//! inputs always give the same OID, so a retried archive sends the same document OID and the
//! archive recognises the repeat (`DOCUMENT_EXISTS_IDENTICAL`).

use crate::model::DocumentKind;
use sha2::{Digest, Sha256};

/// The OID of version `version` of the `kind` document of a case.
pub fn document_oid(root: &str, case_id: &str, kind: DocumentKind, version: u32) -> String {
    derive(root, &["document", case_id, kind.as_str(), &version.to_string()])
}

/// The set id of every version of the `kind` document of a case.
pub fn set_id(root: &str, case_id: &str, kind: DocumentKind) -> String {
    derive(root, &["set", case_id, kind.as_str()])
}

/// The id of the case's service event (`documentationOf/serviceEvent/id`).
pub fn service_event_oid(root: &str, case_id: &str) -> String {
    derive(root, &["service-event", case_id])
}

/// The ids of one document version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentIds {
    pub document_oid: String,
    pub set_id: String,
    pub service_event_oid: String,
}

impl DocumentIds {
    pub fn new(root: &str, case_id: &str, kind: DocumentKind, version: u32) -> Self {
        DocumentIds {
            document_oid: document_oid(root, case_id, kind, version),
            set_id: set_id(root, case_id, kind),
            service_event_oid: service_event_oid(root, case_id),
        }
    }
}

fn derive(root: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"portti-kanta-oid/1");
    for part in parts {
        // Length-prefixed, so no two part lists hash the same bytes.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    format!("{root}.{}", u128::from_be_bytes(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::is_oid;

    const ROOT: &str = "1.2.246.10.1234567.14.2";
    const CASE: &str = "0190f5a4-7c1e-7d3a-9c61-2b4f0e8d9a10";

    #[test]
    fn same_inputs_give_the_same_oid() {
        let a = document_oid(ROOT, CASE, DocumentKind::ContactRecord, 1);
        assert_eq!(a, document_oid(ROOT, CASE, DocumentKind::ContactRecord, 1));
        assert!(a.starts_with("1.2.246.10.1234567.14.2.") && is_oid(&a), "{a}");
        // Fixed forever: archived documents are found again by these OIDs.
        assert_eq!(a, "1.2.246.10.1234567.14.2.300196126463320762155330400752413634735");
        assert_eq!(
            DocumentIds::new(ROOT, CASE, DocumentKind::ContactRecord, 1).document_oid,
            a
        );
    }

    #[test]
    fn version_kind_case_and_root_each_change_the_oid() {
        let base = document_oid(ROOT, CASE, DocumentKind::ContactRecord, 1);
        let others = [
            document_oid(ROOT, CASE, DocumentKind::ContactRecord, 2),
            document_oid(ROOT, CASE, DocumentKind::ClientRelationship, 1),
            document_oid(ROOT, "another case", DocumentKind::ContactRecord, 1),
            document_oid("1.2.246.10.7654321.14.2", CASE, DocumentKind::ContactRecord, 1),
            set_id(ROOT, CASE, DocumentKind::ContactRecord),
            service_event_oid(ROOT, CASE),
        ];
        for other in &others {
            assert_ne!(&base, other);
            assert!(is_oid(other), "{other}");
        }
    }

    #[test]
    fn the_set_id_is_stable_across_versions() {
        let v1 = DocumentIds::new(ROOT, CASE, DocumentKind::ClientRelationship, 1);
        let v2 = DocumentIds::new(ROOT, CASE, DocumentKind::ClientRelationship, 2);
        assert_eq!(v1.set_id, v2.set_id);
        assert_eq!(v1.service_event_oid, v2.service_event_oid);
        assert_ne!(v1.document_oid, v2.document_oid);
        assert_ne!(
            v1.set_id,
            set_id(ROOT, CASE, DocumentKind::ContactRecord),
            "each kind has its own set"
        );
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        assert_ne!(derive(ROOT, &["ab", "c"]), derive(ROOT, &["a", "bc"]));
    }
}
