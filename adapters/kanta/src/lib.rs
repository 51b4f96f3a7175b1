//! Kanta social welfare client data archive adapter: HL7 CDA R2 documents with the Finnish
//! extensions, system-signed (XML-DSig), inside HL7 V3 messages over HTTPS with mutual TLS.
//! The wire contract is `WIRE.md` beside this crate.
//!
//! | operation | payload | interaction (default) |
//! |---|---|---|
//! | [`OP_ARCHIVE`] | [`ArchiveDocument`], `version` 1 | `RCMR_IN000002FI01` |
//! | [`OP_ARCHIVE_VERSION`] | [`ArchiveDocument`], `version` ≥ 2 with `previous_document_oid` | `RCMR_IN000004FI01` |
//! | [`OP_INVALIDATE`] | [`InvalidateDocument`] | `RCMR_IN000006FI01` |
//! | [`OP_SEARCH`] | [`SearchDocuments`] | `RCMR_IN100001FI01` |
//! | [`OP_FETCH`] | [`FetchDocument`] | `RCMR_IN100003FI01` |
//!
//! One module per concept: [`config`], [`model`] (payloads and their validation), [`oid`]
//! (deterministic document OIDs), [`document`] (the CDA), [`signature`], [`message`] (the
//! HL7 V3 wrapper), [`ack`] (acknowledgements and query replies).
//!
//! Idempotency: the document OID is derived from the case id, the kind and the version, and the
//! document from the stored payload alone, so a retry sends the same document under the same
//! OID; the archive's `DOCUMENT_EXISTS_IDENTICAL` then counts as success. Only the message id
//! and creation time of the wrapper are new for each attempt.
//!
//! Personal data never reaches logs or error strings: errors name JSON pointers, and text from
//! the archive passes through a redactor of identity codes.

pub mod ack;
pub mod config;
pub mod document;
pub mod message;
pub mod model;
pub mod oid;
pub mod signature;
mod xml;

pub use config::{
    DocumentTypes, Interactions, KantaConfig, KantaOrganisation, ProcessingCode, DEFAULT_DETAIL_CODE_SYSTEM,
    DEFAULT_RECEIVER_OID,
};
pub use model::{
    check_identity_code, validate_archive, validate_fetch, validate_invalidate, validate_search, ArchiveDocument,
    Author, AuthorKind, DisplaySection, DocumentKind, FetchDocument, InvalidateDocument, InvalidationReason, Language,
    Person, Problem, SearchDocuments, OP_ARCHIVE, OP_ARCHIVE_VERSION, OP_FETCH, OP_INVALIDATE, OP_SEARCH, SERVICE,
};
pub use oid::DocumentIds;
pub use signature::{SigningError, SigningIdentity};

use portti_adapter_core::{
    build_client, classify_status, classify_transport_error, sha256_hex, Adapter, AdapterError, BoxFuture, CallContext,
    ClientIdentity, Health, HttpClientConfig, HttpClientError, Operation, Reply,
};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// The content type of every request.
pub const REQUEST_CONTENT_TYPE: &str = "text/xml; charset=utf-8";
/// The longest a health check waits.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the adapter could not be set up. Names keys and files, never secrets.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("kanta: invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("kanta: organisations.{organisation}: {source}")]
    Http {
        organisation: String,
        #[source]
        source: HttpClientError,
    },
    #[error("kanta: organisations.{organisation}: system signature: {source}")]
    Signing {
        organisation: String,
        #[source]
        source: SigningError,
    },
}

struct Organisation {
    config: KantaOrganisation,
    client: reqwest::Client,
    signer: SigningIdentity,
}

/// The Kanta adapter: one HTTPS client (with the organisation's client certificate) and one
/// signing identity per configured organisation.
pub struct KantaAdapter {
    endpoint: reqwest::Url,
    processing_code: ProcessingCode,
    receiver_oid: String,
    interactions: Interactions,
    detail_code_system: String,
    document_types: DocumentTypes,
    retention_period_class: String,
    request_timeout: Duration,
    organisations: BTreeMap<String, Organisation>,
    /// The client TLS identity each organisation uses (its own or the shared one).
    client_identities: BTreeMap<String, Option<ClientIdentity>>,
}

impl fmt::Debug for KantaAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KantaAdapter")
            .field("endpoint", &self.endpoint.as_str())
            .field("processing_code", &self.processing_code)
            .field("organisations", &self.organisations.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A document ready to send: its ids and the signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltDocument {
    pub ids: DocumentIds,
    pub signed: Vec<u8>,
}

/// A response read to its end.
struct Raw {
    status: StatusCode,
    body: Vec<u8>,
}

impl KantaAdapter {
    /// Checks the configuration, builds each organisation's HTTPS client and loads (and proves)
    /// each signing key. A missing or unreadable file is an error naming it.
    pub fn new(config: KantaConfig) -> Result<Self, SetupError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(SetupError::Invalid(problems));
        }
        let endpoint = reqwest::Url::parse(config.endpoint.trim())
            .map_err(|_| SetupError::Invalid(vec!["endpoint: must be an http(s) URL".into()]))?;
        let mut organisations = BTreeMap::new();
        let mut client_identities = BTreeMap::new();
        for (id, org) in config.organisations {
            let http = HttpClientConfig {
                identity: org.identity.clone().or_else(|| config.http.identity.clone()),
                ..config.http.clone()
            };
            client_identities.insert(id.clone(), http.identity.clone());
            let client = build_client(&http).map_err(|source| SetupError::Http {
                organisation: id.clone(),
                source,
            })?;
            let signer = SigningIdentity::load(&org.signing_key, &org.signing_certificate).map_err(|source| {
                SetupError::Signing {
                    organisation: id.clone(),
                    source,
                }
            })?;
            organisations.insert(
                id,
                Organisation {
                    config: org,
                    client,
                    signer,
                },
            );
        }
        Ok(KantaAdapter {
            endpoint,
            processing_code: config.processing_code,
            receiver_oid: config.receiver_oid,
            interactions: config.interactions,
            detail_code_system: config.detail_code_system,
            document_types: config.document_types,
            retention_period_class: config.retention_period_class,
            request_timeout: config.http.request_timeout,
            organisations,
            client_identities,
        })
    }

    /// The certificate files in use, with what each is for (operators watch their expiry).
    pub fn certificate_files(&self) -> Vec<(String, std::path::PathBuf)> {
        let mut files = Vec::new();
        for (id, org) in &self.organisations {
            files.push((
                format!("kanta {id} system signature"),
                org.config.signing_certificate.clone(),
            ));
            match self.client_identities.get(id).cloned().flatten() {
                Some(ClientIdentity::Pem { cert, .. }) => files.push((format!("kanta {id} client TLS"), cert)),
                Some(ClientIdentity::Pkcs12 { file, .. }) => {
                    files.push((format!("kanta {id} client TLS (PKCS#12)"), file))
                }
                None => {}
            }
        }
        files
    }

    /// The ids a document of this case, kind and version has (or will have) in the archive;
    /// `None` for an organisation not configured here.
    pub fn document_ids(
        &self,
        organisation: &str,
        case_id: &str,
        kind: DocumentKind,
        version: u32,
    ) -> Option<DocumentIds> {
        let org = self.organisations.get(organisation)?;
        Some(DocumentIds::new(&org.config.document_oid_root, case_id, kind, version))
    }

    /// The configured organisation ids.
    pub fn organisations(&self) -> impl Iterator<Item = &str> {
        self.organisations.keys().map(String::as_str)
    }

    /// Every problem of an operation, as (JSON pointer, detail): what the gateway reports as an
    /// RFC 9457 problem before it accepts an exchange. Empty when the adapter can send it.
    pub fn check(&self, operation: &Operation) -> Vec<Problem> {
        fn parsed<T: DeserializeOwned>(operation: &Operation) -> Result<T, Vec<Problem>> {
            T::deserialize(&operation.payload).map_err(|e| vec![("".into(), without_values(&e.to_string()))])
        }
        let (problems, organisation) = match operation.name.as_str() {
            OP_ARCHIVE | OP_ARCHIVE_VERSION => match parsed::<ArchiveDocument>(operation) {
                Ok(doc) => {
                    let mut problems = validate_archive(&doc);
                    if let Some(problem) = version_mismatch(&operation.name, doc.version) {
                        problems.push(problem);
                    }
                    (problems, doc.organisation)
                }
                Err(problems) => return problems,
            },
            OP_INVALIDATE => match parsed::<InvalidateDocument>(operation) {
                Ok(doc) => (validate_invalidate(&doc), doc.organisation),
                Err(problems) => return problems,
            },
            OP_SEARCH => match parsed::<SearchDocuments>(operation) {
                Ok(search) => (validate_search(&search), search.organisation),
                Err(problems) => return problems,
            },
            OP_FETCH => match parsed::<FetchDocument>(operation) {
                Ok(fetch) => (validate_fetch(&fetch), fetch.organisation),
                Err(problems) => return problems,
            },
            _ => return vec![("".into(), format!("unknown operation for {SERVICE}"))],
        };
        let mut problems = problems;
        if !organisation.trim().is_empty() && !self.organisations.contains_key(&organisation) {
            problems.push((
                "/organisation".into(),
                "is not an organisation configured for Kanta".into(),
            ));
        }
        problems
    }

    fn organisation(&self, id: &str) -> Result<&Organisation, AdapterError> {
        self.organisations.get(id).ok_or_else(|| {
            AdapterError::Permanent(format!(
                "organisation {:?} is not configured for {SERVICE}",
                without_values(id)
            ))
        })
    }

    /// Builds and signs the document of an archive payload (validated first). The same payload
    /// gives the same ids and the same unsigned document.
    pub fn build_document(&self, doc: &ArchiveDocument) -> Result<BuiltDocument, AdapterError> {
        reject(validate_archive(doc))?;
        let org = self.organisation(&doc.organisation)?;
        self.build_for(org, doc, Signing::Sign)
    }

    fn build_for(
        &self,
        org: &Organisation,
        doc: &ArchiveDocument,
        signing: Signing,
    ) -> Result<BuiltDocument, AdapterError> {
        let ids = DocumentIds::new(&org.config.document_oid_root, &doc.case_id, doc.kind, doc.version);
        let unsigned = document::build(
            doc,
            &document::DocumentContext {
                organisation: &org.config,
                ids: &ids,
                type_code: self.document_types.code(doc.kind),
                retention_period_class: &self.retention_period_class,
            },
        );
        if signing == Signing::Skip {
            return Ok(BuiltDocument { ids, signed: unsigned });
        }
        let signed = org
            .signer
            .sign(&unsigned)
            .map_err(|e| AdapterError::Permanent(format!("the document could not be signed: {e}")))?;
        Ok(BuiltDocument { ids, signed })
    }

    fn header<'a>(&'a self, org: &'a Organisation, interaction_id: &'a str, message_id: Uuid) -> message::Header<'a> {
        message::Header {
            interaction_id,
            message_id,
            creation_time: chrono::Utc::now(),
            processing_code: self.processing_code.as_str(),
            receiver_oid: &self.receiver_oid,
            sender_oid: &org.config.sender_system_oid,
        }
    }

    /// POSTs one message with the organisation's client, bounded by the call's deadline.
    async fn post(&self, org: &Organisation, cx: &CallContext, body: Vec<u8>) -> Result<Raw, AdapterError> {
        let remaining = cx.remaining();
        if remaining.is_zero() {
            return Err(AdapterError::Transient("the call's deadline passed".into()));
        }
        let response = org
            .client
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .timeout(remaining.min(self.request_timeout))
            .body(body)
            .send()
            .await
            .map_err(|e| classify_transport_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| classify_transport_error(&e))?
            .to_vec();
        if status.is_success() {
            return Ok(Raw { status, body });
        }
        let digest = sha256_hex(&body);
        let detail = match status {
            StatusCode::BAD_REQUEST => "the archive could not read the message",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "the archive refused the content type",
            _ => "",
        };
        let detail = match detail.is_empty() {
            true => format!("response sha256 {digest}"),
            false => format!("{detail} (response sha256 {digest})"),
        };
        Err(match status {
            // Mutual TLS has no credentials to renew: a refusal needs an operator.
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                AdapterError::Permanent(format!("HTTP {}: {detail}", status.as_u16()))
            }
            _ => classify_status(status, &headers, &detail)
                .unwrap_or_else(|| AdapterError::Permanent(format!("unexpected HTTP {}", status.as_u16()))),
        })
    }

    /// The message `call` would POST for this operation: validated, the document (if any) built
    /// and signed, wrapped in the HL7 V3 message with a new message id and creation time. Sends
    /// nothing.
    pub fn prepare(&self, operation: &Operation) -> Result<Vec<u8>, AdapterError> {
        Ok(self.prepared(operation, Signing::Sign)?.request)
    }

    /// [`KantaAdapter::prepare`] with the document's signature template left empty: what
    /// signing costs, for benchmarks. The archive refuses such a message.
    pub fn prepare_unsigned(&self, operation: &Operation) -> Result<Vec<u8>, AdapterError> {
        Ok(self.prepared(operation, Signing::Skip)?.request)
    }

    fn prepared(&self, operation: &Operation, signing: Signing) -> Result<Prepared<'_>, AdapterError> {
        match operation.name.as_str() {
            OP_ARCHIVE | OP_ARCHIVE_VERSION => self.prepare_archive(operation, signing),
            OP_INVALIDATE => self.prepare_invalidate(operation),
            OP_SEARCH | OP_FETCH => self.prepare_query(operation),
            other => Err(AdapterError::Permanent(format!(
                "unknown operation {:?} for {SERVICE}",
                without_values(other)
            ))),
        }
    }

    fn prepare_archive(&self, operation: &Operation, signing: Signing) -> Result<Prepared<'_>, AdapterError> {
        let doc: ArchiveDocument = parse_payload(operation)?;
        let mut problems = validate_archive(&doc);
        problems.extend(version_mismatch(&operation.name, doc.version));
        reject(problems)?;
        let org = self.organisation(&doc.organisation)?;
        let built = self.build_for(org, &doc, signing)?;
        let interaction = match doc.version {
            1 => &self.interactions.archive,
            _ => &self.interactions.archive_version,
        };
        let message_id = Uuid::now_v7();
        let request = message::build(
            &self.header(org, interaction, message_id),
            &message::Payload::Archive {
                document_oid: &built.ids.document_oid,
                set_id: &built.ids.set_id,
                version: doc.version,
                type_code: self.document_types.code(doc.kind),
                identity_code: &doc.person.identity_code,
                registry_keeper_oid: &org.config.registry_keeper_oid,
                previous_document_oid: doc.previous_document_oid.as_deref(),
                signed_document: &built.signed,
            },
        );
        Ok(Prepared {
            org,
            message_id,
            request,
            detail: Detail::Archive {
                document_digest: sha256_hex(&built.signed),
                ids: built.ids,
                version: doc.version,
            },
        })
    }

    fn prepare_invalidate(&self, operation: &Operation) -> Result<Prepared<'_>, AdapterError> {
        let doc: InvalidateDocument = parse_payload(operation)?;
        reject(validate_invalidate(&doc))?;
        let org = self.organisation(&doc.organisation)?;
        let ids = DocumentIds::new(&org.config.document_oid_root, &doc.case_id, doc.kind, doc.version);
        let message_id = Uuid::now_v7();
        let request = message::build(
            &self.header(org, &self.interactions.invalidate, message_id),
            &message::Payload::Invalidate {
                document_oid: &ids.document_oid,
                set_id: &ids.set_id,
                version: doc.version,
                identity_code: &doc.identity_code,
                reason: doc.reason,
            },
        );
        Ok(Prepared {
            org,
            message_id,
            request,
            detail: Detail::Invalidate {
                ids,
                version: doc.version,
            },
        })
    }

    fn prepare_query(&self, operation: &Operation) -> Result<Prepared<'_>, AdapterError> {
        let query_id = Uuid::now_v7();
        let (organisation, interaction, payload_owned) = match operation.name.as_str() {
            OP_SEARCH => {
                let search: SearchDocuments = parse_payload(operation)?;
                reject(validate_search(&search))?;
                (
                    search.organisation,
                    &self.interactions.search,
                    Query::Search(search.identity_code),
                )
            }
            _ => {
                let fetch: FetchDocument = parse_payload(operation)?;
                reject(validate_fetch(&fetch))?;
                (
                    fetch.organisation,
                    &self.interactions.fetch,
                    Query::Fetch(fetch.document_oid),
                )
            }
        };
        let org = self.organisation(&organisation)?;
        let payload = match &payload_owned {
            Query::Search(identity_code) => message::Payload::Search {
                query_id,
                identity_code,
            },
            Query::Fetch(document_oid) => message::Payload::Fetch { query_id, document_oid },
        };
        let message_id = Uuid::now_v7();
        let request = message::build(&self.header(org, interaction, message_id), &payload);
        Ok(Prepared {
            org,
            message_id,
            request,
            detail: Detail::Query { query_id },
        })
    }

    /// Sends a prepared message and reads the acknowledgement into the reply.
    async fn send(&self, cx: &CallContext, prepared: Prepared<'_>) -> Result<Reply, AdapterError> {
        let Prepared {
            org,
            message_id,
            request,
            detail,
        } = prepared;
        let request_digest = sha256_hex(&request);
        let raw = self.post(org, cx, request).await?;
        let query_id = match &detail {
            Detail::Query { query_id } => Some(query_id.to_string()),
            _ => None,
        };
        let accepted = ack::interpret(
            &raw.body,
            &message_id.to_string(),
            query_id.as_deref(),
            &self.detail_code_system,
        )?;
        let response_digest = sha256_hex(&raw.body);
        let (upstream_id, body) = match detail {
            Detail::Archive {
                ids,
                version,
                document_digest,
            } => {
                let outcome = match accepted.already_done {
                    true => "already_archived",
                    false => "archived",
                };
                (
                    Some(ids.document_oid.clone()),
                    json!({
                        "document_oid": ids.document_oid,
                        "set_id": ids.set_id,
                        "version": version,
                        "outcome": outcome,
                        "acknowledgement": ack_json(&accepted.ack),
                        "message_id": message_id.to_string(),
                        "document_digest": document_digest,
                        "request_digest": request_digest,
                        "response_digest": response_digest,
                        "http_status": raw.status.as_u16(),
                    }),
                )
            }
            Detail::Invalidate { ids, version } => (
                Some(ids.document_oid.clone()),
                json!({
                    "document_oid": ids.document_oid,
                    "set_id": ids.set_id,
                    "version": version,
                    "outcome": "invalidated",
                    "acknowledgement": ack_json(&accepted.ack),
                    "message_id": message_id.to_string(),
                    "request_digest": request_digest,
                    "response_digest": response_digest,
                }),
            ),
            Detail::Query { .. } => {
                let reply = accepted.ack.query.clone().unwrap_or_default();
                (
                    None,
                    json!({
                        "documents": reply.documents,
                        "query_response_code": reply.response_code,
                        "acknowledgement": ack_json(&accepted.ack),
                        "message_id": message_id.to_string(),
                        "request_digest": request_digest,
                        "response_digest": response_digest,
                    }),
                )
            }
        };
        Ok(Reply {
            upstream_id,
            body,
            request_digest: Some(request_digest),
            response_digest: Some(response_digest),
        })
    }

    /// One organisation's reachability: TCP, TLS with its client certificate, one HTTP answer.
    async fn reachable(&self, org: &Organisation) -> Health {
        let timeout = self.request_timeout.min(HEALTH_TIMEOUT);
        match org.client.get(self.endpoint.clone()).timeout(timeout).send().await {
            Ok(response) if response.status().is_server_error() => Health::Degraded,
            Ok(_) => Health::Up,
            Err(_) => Health::Down,
        }
    }
}

enum Query {
    Search(String),
    Fetch(String),
}

/// Whether the document is signed (always, except in [`KantaAdapter::prepare_unsigned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signing {
    Sign,
    Skip,
}

/// A message ready to POST, and what the reply needs to know about it.
struct Prepared<'a> {
    org: &'a Organisation,
    message_id: Uuid,
    request: Vec<u8>,
    detail: Detail,
}

enum Detail {
    Archive {
        ids: DocumentIds,
        version: u32,
        /// SHA-256 of the (signed) CDA document.
        document_digest: String,
    },
    Invalidate {
        ids: DocumentIds,
        version: u32,
    },
    Query {
        query_id: Uuid,
    },
}

/// `archive` with a version other than 1, or `archive_version` with version 1.
fn version_mismatch(operation: &str, version: u32) -> Option<Problem> {
    match (operation, version) {
        (OP_ARCHIVE, v) if v > 1 => Some((
            "/version".into(),
            format!("{OP_ARCHIVE} is for version 1; use {OP_ARCHIVE_VERSION} for a new version"),
        )),
        (OP_ARCHIVE_VERSION, 1) => Some((
            "/version".into(),
            format!("{OP_ARCHIVE_VERSION} is for versions 2 and later; use {OP_ARCHIVE} for a new document"),
        )),
        _ => None,
    }
}

fn reject(problems: Vec<Problem>) -> Result<(), AdapterError> {
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems.iter().map(|(p, d)| format!("{p}: {d}")).collect();
    Err(AdapterError::Permanent(format!("invalid payload: {}", list.join("; "))))
}

fn ack_json(ack: &ack::Acknowledgement) -> Value {
    json!({
        "type": ack.type_code,
        "details": ack.details,
    })
}

/// Reads an operation's payload; the error names no value (values may be identity codes).
fn parse_payload<T: DeserializeOwned>(operation: &Operation) -> Result<T, AdapterError> {
    T::deserialize(&operation.payload).map_err(|e| {
        AdapterError::Permanent(format!(
            "invalid payload for {}: {}",
            without_values(&operation.name),
            without_values(&e.to_string())
        ))
    })
}

/// serde's messages quote the offending value (`invalid type: string "…"`, or in backticks for
/// numbers): drop every quoted part except field and variant names (backticked identifiers,
/// e.g. "missing field `person`"), then anything still shaped like an identity code.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(['"', '`']) {
        let quote = rest[at..].chars().next().unwrap_or('"');
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(end) = after.find(quote) else {
            out.push_str(&format!("{quote}…"));
            rest = "";
            break;
        };
        let inner = &after[..end];
        let identifier = quote == '`'
            && inner.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match identifier {
            true => out.push_str(&format!("`{inner}`")),
            false => out.push_str(&format!("{quote}…{quote}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    model::redact_identity_codes(&out)
}

impl Adapter for KantaAdapter {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn call<'a>(&'a self, cx: &'a CallContext, operation: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        Box::pin(async move {
            let prepared = self.prepared(operation, Signing::Sign)?;
            self.send(cx, prepared).await
        })
    }

    /// Up when every organisation's client reaches the endpoint (TLS with its certificate and
    /// any HTTP answer), Down when none does, Degraded in between or on 5xx.
    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            let mut states = Vec::with_capacity(self.organisations.len());
            for org in self.organisations.values() {
                states.push(self.reachable(org).await);
            }
            if states.iter().all(|s| *s == Health::Up) {
                Health::Up
            } else if states.iter().all(|s| *s == Health::Down) {
                Health::Down
            } else {
                Health::Degraded
            }
        })
    }
}

#[cfg(test)]
mod testutil;

#[cfg(test)]
mod without_values_tests {
    #[test]
    fn values_are_dropped_and_names_kept() {
        assert_eq!(
            super::without_values("invalid type: string \"131052-308T\", expected u32"),
            "invalid type: string \"…\", expected u32"
        );
        assert_eq!(
            super::without_values("invalid type: integer `131052`, expected a string"),
            "invalid type: integer `…`, expected a string"
        );
        assert_eq!(
            super::without_values("missing field `person`"),
            "missing field `person`"
        );
        assert_eq!(super::without_values("open \"131052-308T"), "open \"…");
    }
}
#[cfg(test)]
mod tests;
