//! The adapter's configuration (`[kanta]` in the gateway's TOML file): where the archive is,
//! the HL7 V3 message settings Kela gives a connected system, and per organisation the ids and
//! key material it sends and signs with. The sandbox defaults are those of `WIRE.md`.

use crate::model::DocumentKind;
use portti_adapter_core::{ClientIdentity, HttpClientConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Kanta social welfare archive (`receiver` of every message), sandbox default.
pub const DEFAULT_RECEIVER_OID: &str = "1.2.246.10.2.1";
/// Code system of the acknowledgement detail codes, sandbox default.
pub const DEFAULT_DETAIL_CODE_SYSTEM: &str = "1.2.246.537.5.40177";

/// Configuration of the adapter (unknown keys refused).
///
/// ```toml
/// [kanta]
/// endpoint = "https://127.0.0.1:8092/sosiaalihuolto/arkisto"
/// processing_code = "T"                  # P production (default), T training/test, D debugging
///
/// [kanta.http]                           # timeouts and trusted roots, shared by all organisations
/// root_ca_pem = "certs-example/demo-ca.pem"
///
/// [kanta.organisations.853]
/// name = "Turun kaupunki"
/// sender_system_oid = "1.2.246.10.1234567.14.1"
/// registry_keeper_oid = "1.2.246.10.1234567.10"
/// municipality_code = "853"
/// document_oid_root = "1.2.246.10.1234567.14.2"
/// signing_key = "certs-example/kanta-signing-853.key"
/// signing_certificate = "certs-example/kanta-signing-853.pem"
/// identity = { kind = "pem", cert = "certs-example/ohjaus-853.pem", key = "certs-example/ohjaus-853.key" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KantaConfig {
    /// `POST` target of every message, e.g. `https://127.0.0.1:8092/sosiaalihuolto/arkisto`.
    pub endpoint: String,
    /// Timeouts and trusted roots. `http.identity` is the client certificate of an organisation
    /// that does not name its own `identity`.
    #[serde(default)]
    pub http: HttpClientConfig,
    #[serde(default)]
    pub processing_code: ProcessingCode,
    /// `receiver/device/id/@root`.
    #[serde(default = "default_receiver_oid")]
    pub receiver_oid: String,
    #[serde(default)]
    pub interactions: Interactions,
    /// The code system of `acknowledgementDetail/code`; codes of other systems are not read.
    #[serde(default = "default_detail_code_system")]
    pub detail_code_system: String,
    /// Document type codes (`code/@code`, code system `1.2.246.537.6.12.2002`) per kind.
    #[serde(default)]
    pub document_types: DocumentTypes,
    /// `hl7fi:retentionPeriodClass/@code` of every document.
    #[serde(default = "default_retention_period_class")]
    pub retention_period_class: String,
    /// The organisations this adapter sends for, by the id the gateway uses (e.g. `853`).
    pub organisations: BTreeMap<String, KantaOrganisation>,
}

impl KantaConfig {
    /// An endpoint and its organisations, everything else at the defaults of `WIRE.md`.
    pub fn new(endpoint: impl Into<String>, organisations: BTreeMap<String, KantaOrganisation>) -> Self {
        KantaConfig {
            endpoint: endpoint.into(),
            http: HttpClientConfig::default(),
            processing_code: ProcessingCode::default(),
            receiver_oid: default_receiver_oid(),
            interactions: Interactions::default(),
            detail_code_system: default_detail_code_system(),
            document_types: DocumentTypes::default(),
            retention_period_class: default_retention_period_class(),
            organisations,
        }
    }
}

/// One registry keeper (rekisterinpitäjä) and the system that sends for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KantaOrganisation {
    /// The organisation's name as written in documents (custodian, author organisation).
    pub name: String,
    /// `sender/device/id/@root`: the sending system's OID.
    pub sender_system_oid: String,
    /// The registry keeper's OID (custodian, `hl7fi:registryKeeper`).
    pub registry_keeper_oid: String,
    /// Municipality code (code system `1.2.246.537.6.21`), three digits.
    pub municipality_code: String,
    /// Document OIDs, set ids and service event ids are `{document_oid_root}.{number}`.
    pub document_oid_root: String,
    /// The system-signature private key (PEM, RSA).
    pub signing_key: PathBuf,
    /// The system-signature certificate (PEM), put in `KeyInfo`.
    pub signing_certificate: PathBuf,
    /// The client certificate for mutual TLS; absent: `http.identity`.
    #[serde(default)]
    pub identity: Option<ClientIdentity>,
}

/// `processingCode/@code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ProcessingCode {
    /// Production.
    #[default]
    P,
    /// Training / test.
    T,
    /// Debugging.
    D,
}

impl ProcessingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessingCode::P => "P",
            ProcessingCode::T => "T",
            ProcessingCode::D => "D",
        }
    }
}

/// Interaction ids (the root element of each message), sandbox defaults from `WIRE.md`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Interactions {
    pub archive: String,
    pub archive_version: String,
    pub invalidate: String,
    pub search: String,
    pub fetch: String,
}

impl Default for Interactions {
    fn default() -> Self {
        Interactions {
            archive: "RCMR_IN000002FI01".into(),
            archive_version: "RCMR_IN000004FI01".into(),
            invalidate: "RCMR_IN000006FI01".into(),
            search: "RCMR_IN100001FI01".into(),
            fetch: "RCMR_IN100003FI01".into(),
        }
    }
}

/// Document type codes per document kind (sandbox defaults: the kind's name).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentTypes {
    pub client_relationship: String,
    pub contact_record: String,
    pub service_need_assessment_referral: String,
}

impl Default for DocumentTypes {
    fn default() -> Self {
        DocumentTypes {
            client_relationship: DocumentKind::ClientRelationship.as_str().into(),
            contact_record: DocumentKind::ContactRecord.as_str().into(),
            service_need_assessment_referral: DocumentKind::ServiceNeedAssessmentReferral.as_str().into(),
        }
    }
}

impl DocumentTypes {
    pub fn code(&self, kind: DocumentKind) -> &str {
        match kind {
            DocumentKind::ClientRelationship => &self.client_relationship,
            DocumentKind::ContactRecord => &self.contact_record,
            DocumentKind::ServiceNeedAssessmentReferral => &self.service_need_assessment_referral,
        }
    }
}

fn default_receiver_oid() -> String {
    DEFAULT_RECEIVER_OID.into()
}

fn default_detail_code_system() -> String {
    DEFAULT_DETAIL_CODE_SYSTEM.into()
}

fn default_retention_period_class() -> String {
    "1".into()
}

/// An ISO OID in the form HL7 `oid` allows (`[0-2](\.(0|[1-9][0-9]*))*`) with at least two arcs.
pub fn is_oid(text: &str) -> bool {
    let mut arcs = text.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    first_ok
        && text.contains('.')
        && text.len() <= 128
        && arcs.all(|arc| {
            !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()) && (arc == "0" || !arc.starts_with('0'))
        })
}

/// A code or interaction id: 1–64 of `A-Z a-z 0-9 . _ -`.
pub(crate) fn is_code(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl KantaConfig {
    /// Every problem of the configuration, as `key: detail` (empty when usable). Files are not
    /// read here; the adapter's constructor reads them.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(self.endpoint.trim()) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {}
            _ => problems.push("endpoint: must be an http(s) URL".to_owned()),
        }
        if !is_oid(&self.receiver_oid) {
            problems.push("receiver_oid: must be an OID".into());
        }
        if !is_oid(&self.detail_code_system) {
            problems.push("detail_code_system: must be an OID".into());
        }
        let i = &self.interactions;
        for (key, id) in [
            ("archive", &i.archive),
            ("archive_version", &i.archive_version),
            ("invalidate", &i.invalidate),
            ("search", &i.search),
            ("fetch", &i.fetch),
        ] {
            let ok = is_code(id) && id.as_bytes()[0].is_ascii_alphabetic() && !id.contains('.');
            if !ok {
                problems.push(format!("interactions.{key}: must be an XML name of A-Z, 0-9 and _"));
            }
        }
        let t = &self.document_types;
        for (key, code) in [
            ("client_relationship", &t.client_relationship),
            ("contact_record", &t.contact_record),
            ("service_need_assessment_referral", &t.service_need_assessment_referral),
        ] {
            if !is_code(code) {
                problems.push(format!("document_types.{key}: must be 1–64 of A-Z a-z 0-9 . _ -"));
            }
        }
        if !is_code(&self.retention_period_class) {
            problems.push("retention_period_class: must be 1–64 of A-Z a-z 0-9 . _ -".into());
        }
        if self.organisations.is_empty() {
            problems.push("organisations: at least one organisation is needed".into());
        }
        for (id, org) in &self.organisations {
            let mut problem = |key: &str, detail: &str| problems.push(format!("organisations.{id}.{key}: {detail}"));
            if org.name.trim().is_empty() || org.name.chars().any(char::is_control) {
                problem("name", "must be a non-empty name without control characters");
            }
            for (key, oid) in [
                ("sender_system_oid", &org.sender_system_oid),
                ("registry_keeper_oid", &org.registry_keeper_oid),
                ("document_oid_root", &org.document_oid_root),
            ] {
                if !is_oid(oid) {
                    problem(key, "must be an OID");
                }
            }
            let m = &org.municipality_code;
            if m.len() != 3 || !m.bytes().all(|b| b.is_ascii_digit()) {
                problem("municipality_code", "must be three digits");
            }
            if org.identity.is_none() && self.http.identity.is_none() {
                problem(
                    "identity",
                    "the archive demands a client certificate: set it here or as http.identity",
                );
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML_EXAMPLE: &str = r#"
endpoint = "https://127.0.0.1:8092/sosiaalihuolto/arkisto"
processing_code = "T"

[http]
root_ca_pem = "demo-ca.pem"
request_timeout = "10s"

[organisations.853]
name = "Turun kaupunki"
sender_system_oid = "1.2.246.10.1234567.14.1"
registry_keeper_oid = "1.2.246.10.1234567.10"
municipality_code = "853"
document_oid_root = "1.2.246.10.1234567.14.2"
signing_key = "kanta-signing-853.key"
signing_certificate = "kanta-signing-853.pem"
identity = { kind = "pem", cert = "ohjaus-853.pem", key = "ohjaus-853.key" }
"#;

    fn parse(text: &str) -> Result<KantaConfig, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_toml_shape_parses() {
        let config: KantaConfig = toml::from_str(TOML_EXAMPLE).unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(config.http.request_timeout, std::time::Duration::from_secs(10));
        assert!(matches!(
            config.organisations["853"].identity,
            Some(ClientIdentity::Pem { .. })
        ));
    }

    fn example() -> serde_json::Value {
        serde_json::json!({
            "endpoint": "https://127.0.0.1:8092/sosiaalihuolto/arkisto",
            "processing_code": "T",
            "http": {"root_ca_pem": "demo-ca.pem", "request_timeout": "10s"},
            "organisations": {"853": {
                "name": "Turun kaupunki",
                "sender_system_oid": "1.2.246.10.1234567.14.1",
                "registry_keeper_oid": "1.2.246.10.1234567.10",
                "municipality_code": "853",
                "document_oid_root": "1.2.246.10.1234567.14.2",
                "signing_key": "kanta-signing-853.key",
                "signing_certificate": "kanta-signing-853.pem",
                "identity": {"kind": "pem", "cert": "ohjaus-853.pem", "key": "ohjaus-853.key"}
            }}
        })
    }

    #[test]
    fn defaults_are_the_sandbox_values_of_the_wire_contract() {
        let config = parse(&example().to_string()).unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(config.processing_code, ProcessingCode::T);
        assert_eq!(config.receiver_oid, "1.2.246.10.2.1");
        assert_eq!(config.detail_code_system, "1.2.246.537.5.40177");
        assert_eq!(config.interactions.archive, "RCMR_IN000002FI01");
        assert_eq!(config.interactions.archive_version, "RCMR_IN000004FI01");
        assert_eq!(config.interactions.invalidate, "RCMR_IN000006FI01");
        assert_eq!(config.interactions.search, "RCMR_IN100001FI01");
        assert_eq!(config.interactions.fetch, "RCMR_IN100003FI01");
        assert_eq!(config.organisations["853"].municipality_code, "853");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut json = example();
        json["organisations"]["853"]["colour"] = "blue".into();
        assert!(parse(&json.to_string()).is_err());
        let mut json = example();
        json["interactions"] = serde_json::json!({"archiv": "X"});
        assert!(parse(&json.to_string()).is_err());
        let mut json = example();
        json["processing_code"] = "X".into();
        assert!(parse(&json.to_string()).is_err());
    }

    #[test]
    fn problems_name_every_bad_key() {
        let mut json = example();
        json["endpoint"] = "ftp://x".into();
        json["receiver_oid"] = "1.02.3".into();
        json["interactions"] = serde_json::json!({"search": "RCMR IN"});
        let org = &mut json["organisations"]["853"];
        org["municipality_code"] = "85".into();
        org["document_oid_root"] = "root".into();
        org.as_object_mut().unwrap().remove("identity");
        let problems = parse(&json.to_string()).unwrap().problems();
        for key in [
            "endpoint",
            "receiver_oid",
            "interactions.search",
            "organisations.853.municipality_code",
            "organisations.853.document_oid_root",
            "organisations.853.identity",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(key)), "{key} in {problems:?}");
        }
    }

    #[test]
    fn oids_follow_the_hl7_pattern() {
        for good in [
            "1.2.246.21",
            "2.25.0",
            "2.25",
            "1.2.246.10.340282366920938463463374607431768211455",
        ] {
            assert!(is_oid(good), "{good}");
        }
        for bad in ["", "0", "3.1", "1..2", "1.02", "1.2.", ".1", "1.2.a", "1.2 .3"] {
            assert!(!is_oid(bad), "{bad}");
        }
    }
}
