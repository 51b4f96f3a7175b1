//! A faithful simulator of Kanta's social welfare client data archive as Portti models it in
//! `adapters/kanta/WIRE.md`: HL7 V3 messages carrying HL7 CDA R2 documents with the Finnish extensions
//! (`urn:hl7finland`), over HTTPS with mutual TLS, answered with `MCCI_IN000002UV01` acknowledgements. It keeps
//! the archived documents in memory.
//!
//! # Transport
//!
//! HTTPS only. The server presents [`TlsFiles::cert_pem`] and demands a client certificate chaining to
//! [`TlsFiles::client_ca_pem`]: without one, or with an untrusted one, the handshake fails. The client
//! certificate's subject CN is recorded with every request ([`LoggedRequest::client_cn`]).
//!
//! | request | answer |
//! |---|---|
//! | `POST {path}` (sandbox `/sosiaalihuolto/arkisto`), `Content-Type: text/xml`, one HL7 V3 message | `200` `text/xml; charset=utf-8` acknowledgement, also for `AE`/`AR` |
//! | another content type | `415` |
//! | a body over [`Config::max_body_bytes`] | `413` |
//! | not well-formed XML (also: not UTF-8, a DOCTYPE, an entity other than the predefined ones), or a root element outside `urn:hl7-org:v3` | `400` `text/plain` saying what is wrong |
//! | another path | `404`; another method on the path: `405` |
//!
//! # What the archive checks, in this order, and its answers
//!
//! 1. The wrapper, strictly (WIRE.md "Message wrapper"): the root is a served interaction id,
//!    `ITSVersion="XML_1.0"`, the children exactly `id` (a lower-case UUID), `creationTime` (UTC
//!    `yyyyMMddHHmmss`), `interactionId` (root `2.16.840.1.113883.1.6`, extension = the root name),
//!    `processingCode` (one of [`Config::processing_codes`]), `processingModeCode` `T`, `acceptAckCode` `AL`,
//!    `receiver` (`RCV`/`DEV`/`INSTANCE`, id = [`Config::receiver_oid`]), `sender` (`SND`/`DEV`/`INSTANCE`,
//!    an id), `controlActProcess` (`CACT`/`EVN`), in that order and nothing else; then the interaction's
//!    `controlActProcess` content as WIRE.md shows it (every interaction that carries a `document` wraps it in
//!    `<subject typeCode="SUBJ">`; the `document` children in the order shown). Anything wrong → `AR`
//!    `SYNTAX`, the detail text naming it.
//! 2. Authorisation: the sender system must be allowed to act for the registry keeper (the wrapper's
//!    custodian; for invalidate and fetch the stored document's) by [`Config::senders`] → `AR`
//!    `NOT_AUTHORISED`. A search returns only documents of the registry keepers the sender may act for.
//! 3. The embedded CDA (archive, new version): well-formed, `ClinicalDocument` in `urn:hl7-org:v3`, the
//!    Finnish header elements of WIRE.md present and valued, the CDA R2 header elements in schema order,
//!    `hl7fi:json` Base64 of UTF-8 JSON → else `AE` `SCHEMA_INVALID` naming the element. Then, when
//!    [`Config::cda_schema`] is set (the sandbox: the committed HL7 CDA R2 schema), the document with every
//!    `urn:hl7finland` element (with its subtree, `hl7fi:signatures` included) and attribute removed must
//!    validate against that schema → else `AE` `SCHEMA_INVALID` with libxml2's first message (its line is
//!    the line in the document as sent).
//! 4. The system signature: `hl7fi:signatures` the last child of `ClinicalDocument`, exactly one
//!    `ds:Signature` with the algorithms WIRE.md fixes, verifying against [`Config::trusted_signers`] → else
//!    `AE` `SIGNATURE_INVALID`.
//! 5. Wrapper against document: id, setId, versionNumber, the patient id and the custodian → `AE`
//!    `METADATA_MISMATCH`.
//! 6. The store: an OID already archived → `AA` with `I` `DOCUMENT_EXISTS_IDENTICAL` when the content digest
//!    is the same (the original is kept), else `AE` `DOCUMENT_EXISTS_DIFFERENT`. Archive of a new document
//!    whose setId is already used → `AE` `VERSION_CONFLICT`. New version: the parent must exist
//!    (`UNKNOWN_DOCUMENT`), be the current version of the same set with version = parent + 1
//!    (`VERSION_CONFLICT`); the parent becomes `obsolete`. Invalidate: the document must exist
//!    (`UNKNOWN_DOCUMENT`), its setId, versionNumber and patient must match (`METADATA_MISMATCH`), it must be
//!    current (`VERSION_CONFLICT` for an obsolete one); it becomes `nullified`; invalidating a nullified
//!    document again is `AA` (idempotent). Search: `AA` with every document of the person (without `text`),
//!    `queryAck` `OK`, or `NF` when none. Fetch: `AA` with the document (with `text`, the CDA as archived) and
//!    `OK`; an unknown OID → `AE` `UNKNOWN_DOCUMENT` with `queryAck` `NF`.
//!
//! "Identical content" compares [`StoredDocument::content_digest`]: SHA-256 over a canonical form of the CDA
//! without its `hl7fi:signatures` subtree — names as `{namespace}local`, attributes sorted, whitespace-only
//! text, comments and processing instructions dropped (see `xml::content_digest`). So a re-signature, other
//! prefixes, attribute order or indentation do not make a document different; any changed value or text does.
//!
//! # Sandbox ([`Config::sandbox`])
//!
//! Interaction ids as in WIRE.md ([`Interactions::default`]), receiver OID [`SANDBOX_RECEIVER_OID`], and for
//! each of the municipalities [`SANDBOX_MUNICIPALITIES`] (853 Turku, 529 Naantali, 680 Raisio, 202 Kaarina,
//! 445 Parainen) the registry keeper `1.2.246.10.{code}.10.1` ([`registry_keeper_oid`]) and its sender system
//! `1.2.246.10.{code}.10.2` ([`sender_system_oid`]), each system allowed to act for its own registry keeper
//! only. The demo certificates of `certs-example/`: server `simulator.pem` / `.key`, client CA `demo-ca.pem`,
//! and the trusted system-signature certificates `kanta-signing-853.pem` and `kanta-signing-529.pem` (RSA; the
//! other sandbox municipalities have none, so their documents fail `SIGNATURE_INVALID` unless a test adds a
//! signer to [`Config::trusted_signers`]). The adapter's sandbox configuration uses the same values.
//!
//! # Control endpoints (not part of the real service; never faulted, never in the request log)
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /_simulator/faults` | inject a [`Fault`] (JSON shape in [`faults`]) → `204`; `400` for a nonsensical one |
//! | `GET /_simulator/faults` | the faults still active |
//! | `DELETE /_simulator/faults` | clear all faults → `204` |
//! | `GET /_simulator/documents` | every [`StoredDocument`] (without the CDA bytes), oldest first |
//! | `GET /_simulator/requests` | the request log ([`LoggedRequest`]), oldest first; `DELETE` clears it |
//!
//! The same from Rust, [`Control`] (from [`Running::control`]):
//!
//! | method | what |
//! |---|---|
//! | `inject(Fault)`, `faults()`, `clear_faults()` | fault injection ([`faults`]) |
//! | `documents()`, `document(oid)` | the archived [`StoredDocument`]s (with the CDA bytes) |
//! | `archive_count(oid)` | archive and new-version requests processed for an OID, for exactly-once checks |
//! | `request_log()`, `clear_request_log()` | the [`LoggedRequest`]s |

mod ack;
mod archive;
mod cda;
mod control;
pub mod faults;
mod message;
mod schema;
mod server;
mod signature;
mod xml;

pub use faults::{Fault, FaultKind, Malformed, When};

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// The endpoint path of the sandbox.
pub const SANDBOX_PATH: &str = "/sosiaalihuolto/arkisto";
/// The sandbox port of WIRE.md (`https://127.0.0.1:8092/sosiaalihuolto/arkisto`).
pub const SANDBOX_PORT: u16 = 8092;
/// The receiver OID of the sandbox (Kanta social welfare archive).
pub const SANDBOX_RECEIVER_OID: &str = "1.2.246.10.2.1";
/// Municipality codes of the sandbox organisations: Turku, Naantali, Raisio, Kaarina, Parainen.
pub const SANDBOX_MUNICIPALITIES: [&str; 5] = ["853", "529", "680", "202", "445"];
/// The largest message body by default (5 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// Code system of the detail codes.
pub const DETAIL_CODE_SYSTEM: &str = "1.2.246.537.5.40177";

/// The sandbox registry keeper OID of a municipality: `1.2.246.10.{code}.10.1`.
pub fn registry_keeper_oid(municipality: &str) -> String {
    format!("1.2.246.10.{municipality}.10.1")
}

/// The sandbox sender system OID of a municipality: `1.2.246.10.{code}.10.2`.
pub fn sender_system_oid(municipality: &str) -> String {
    format!("1.2.246.10.{municipality}.10.2")
}

/// The interaction ids served at the endpoint (config `kanta.interactions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interactions {
    pub archive: String,
    pub new_version: String,
    pub invalidate: String,
    pub search: String,
    pub fetch: String,
}

impl Default for Interactions {
    /// The sandbox defaults of WIRE.md.
    fn default() -> Self {
        Interactions {
            archive: "RCMR_IN000002FI01".into(),
            new_version: "RCMR_IN000004FI01".into(),
            invalidate: "RCMR_IN000006FI01".into(),
            search: "RCMR_IN100001FI01".into(),
            fetch: "RCMR_IN100003FI01".into(),
        }
    }
}

/// What an interaction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Archive,
    NewVersion,
    Invalidate,
    Search,
    Fetch,
}

impl Interactions {
    pub(crate) fn operation(&self, interaction: &str) -> Option<Operation> {
        [
            (&self.archive, Operation::Archive),
            (&self.new_version, Operation::NewVersion),
            (&self.invalidate, Operation::Invalidate),
            (&self.search, Operation::Search),
            (&self.fetch, Operation::Fetch),
        ]
        .into_iter()
        .find(|(id, _)| id.as_str() == interaction)
        .map(|(_, op)| op)
    }
}

/// Server certificate and key, and the CA client certificates must chain to (PEM files).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub client_ca_pem: PathBuf,
}

/// PEM text, or a file holding it.
#[derive(Clone, Debug)]
pub enum Pem {
    File(PathBuf),
    Text(String),
}

impl Pem {
    fn read(&self) -> anyhow::Result<Vec<u8>> {
        match self {
            Pem::File(path) => std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display())),
            Pem::Text(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tls: TlsFiles,
    /// The endpoint path.
    pub path: String,
    /// The archive's own OID: a message's `receiver` must name it.
    pub receiver_oid: String,
    pub interactions: Interactions,
    /// Accepted `processingCode` values (`P` production, `T` training/test, `D` debugging).
    pub processing_codes: Vec<String>,
    /// Sender system OID → the registry keeper OIDs it may act for. A sender not listed may do nothing.
    pub senders: BTreeMap<String, Vec<String>>,
    /// The certificates trusted for system signatures (PEM; a PEM may hold several, e.g. during key
    /// rotation). They are pinned keys: a signature verifies only with the key of one of them — a CA
    /// certificate here does not extend trust to what it issued, and chains, validity dates and revocation
    /// are not checked (portti-xmlsec's policy).
    pub trusted_signers: Vec<Pem>,
    /// The largest message body (`413` beyond).
    pub max_body_bytes: usize,
    /// The HL7 CDA R2 XML schema (`CDA.xsd`, which includes the rest relative to itself) that archived
    /// documents must validate against once their `urn:hl7finland` extensions are removed; None skips the
    /// check. Compiled once at start (an unreadable schema fails [`start`]); local files only, never the
    /// network.
    pub cda_schema: Option<PathBuf>,
}

fn certs_example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
}

impl Config {
    /// The sandbox: see the module documentation.
    pub fn sandbox() -> Self {
        let certs = certs_example();
        Config {
            tls: TlsFiles {
                cert_pem: certs.join("simulator.pem"),
                key_pem: certs.join("simulator.key"),
                client_ca_pem: certs.join("demo-ca.pem"),
            },
            path: SANDBOX_PATH.into(),
            receiver_oid: SANDBOX_RECEIVER_OID.into(),
            interactions: Interactions::default(),
            processing_codes: vec!["P".into(), "T".into(), "D".into()],
            senders: SANDBOX_MUNICIPALITIES
                .iter()
                .map(|m| (sender_system_oid(m), vec![registry_keeper_oid(m)]))
                .collect(),
            trusted_signers: ["853", "529"]
                .iter()
                .map(|m| Pem::File(certs.join(format!("kanta-signing-{m}.pem"))))
                .collect(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            cda_schema: Some(schema::committed_schema()),
        }
    }
}

/// The state of an archived document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// The current version.
    Active,
    /// Replaced by a newer version.
    Obsolete,
    /// Invalidated.
    Nullified,
}

impl DocumentStatus {
    pub fn code(self) -> &'static str {
        match self {
            DocumentStatus::Active => "active",
            DocumentStatus::Obsolete => "obsolete",
            DocumentStatus::Nullified => "nullified",
        }
    }
}

/// A document as archived.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDocument {
    pub oid: String,
    pub set_id: String,
    pub version: u32,
    /// The identity code (`1.2.246.21` extension).
    pub person: String,
    /// The document type (the wrapper's `code`, code system `1.2.246.537.6.12.2002`).
    pub code: String,
    /// `ClinicalDocument/code/@code`.
    pub cda_code: String,
    pub title: String,
    /// `ClinicalDocument/effectiveTime/@value`.
    pub effective_time: String,
    /// The registry keeper OID (custodian).
    pub custodian: String,
    /// The sender system OID that archived it.
    pub sender: String,
    pub status: DocumentStatus,
    /// SHA-256 (hex) of the canonical document without `hl7fi:signatures` (module documentation).
    pub content_digest: String,
    /// How many archive or new-version requests for this OID the archive processed (the first included,
    /// whatever their answer; requests a fault kept from processing are not counted). Exactly-once
    /// delivery means 1.
    pub archive_count: u32,
    pub archived_at: DateTime<Utc>,
    /// The previous version's OID, for a new version.
    pub replaces: Option<String>,
    /// The next version's OID, once replaced.
    pub replaced_by: Option<String>,
    /// The reason code of an invalidation.
    pub nullification_reason: Option<String>,
    /// The CDA document exactly as received (UTF-8 XML).
    #[serde(skip)]
    pub cda: Vec<u8>,
}

/// One request to the service endpoint (any non-control path), as answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    pub time: DateTime<Utc>,
    pub method: String,
    pub path: String,
    /// The root element's name, when the body looked like XML.
    pub interaction: Option<String>,
    /// The message `id/@root`.
    pub message_id: Option<String>,
    /// The document OID the message names (archive, new version, invalidate, fetch).
    pub document_oid: Option<String>,
    /// The client certificate's subject CN.
    pub client_cn: Option<String>,
    /// The HTTP status; None when the connection was dropped without a response.
    pub status: Option<u16>,
    /// `AA`, `AE` or `AR` when an acknowledgement was sent (as sent, after faults).
    pub ack: Option<String>,
    /// The acknowledgement's detail codes.
    pub details: Vec<String>,
    /// The kind of the injected fault that changed the answer, if any (`latency` included).
    pub fault: Option<String>,
}

struct Inner {
    documents: Vec<StoredDocument>,
    by_oid: HashMap<String, usize>,
    /// Archive and new-version requests processed, per document OID (also for OIDs never stored).
    archive_counts: HashMap<String, u32>,
    faults: Vec<faults::Active>,
    request_log: Vec<LoggedRequest>,
}

impl Inner {
    fn document(&self, oid: &str) -> Option<&StoredDocument> {
        self.by_oid.get(oid).map(|&i| &self.documents[i])
    }

    fn document_mut(&mut self, oid: &str) -> Option<&mut StoredDocument> {
        self.by_oid.get(oid).map(|&i| &mut self.documents[i])
    }

    /// A copy with its current `archive_count`.
    fn snapshot(&self, doc: &StoredDocument) -> StoredDocument {
        let mut doc = doc.clone();
        doc.archive_count = self.archive_counts.get(&doc.oid).copied().unwrap_or(0);
        doc
    }

    fn insert(&mut self, doc: StoredDocument) {
        self.by_oid.insert(doc.oid.clone(), self.documents.len());
        self.documents.push(doc);
    }
}

pub(crate) struct Sim {
    inner: Mutex<Inner>,
    path: String,
    receiver_oid: String,
    interactions: Interactions,
    processing_codes: Vec<String>,
    senders: BTreeMap<String, Vec<String>>,
    trust: signature::Trust,
    max_body_bytes: usize,
    cda_schema: Option<portti_xmlsec::Schema>,
    /// Wakes every open connection to close it ([`Control::close_connections`]).
    closing: tokio::sync::Notify,
}

impl Sim {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (no multi-step invariants span a panic point).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn may_act_for(&self, sender: &str, registry_keeper: &str) -> bool {
        self.senders
            .get(sender)
            .is_some_and(|keepers| keepers.iter().any(|k| k == registry_keeper))
    }
}

/// A cloneable handle to a running simulator's state, for tests and the sandbox.
#[derive(Clone)]
pub struct Control {
    sim: Arc<Sim>,
}

impl Control {
    crate::injection::fault_controls! {
        /// Inject a fault (see [`faults`]). Panics on a fault that makes no sense.
    }

    /// Closes every open connection, as a restart or a certificate rotation of the server does: clients
    /// connect and handshake anew, so the handshake faults (which fire per connection) reach them even when
    /// they kept a connection alive.
    pub fn close_connections(&self) {
        self.sim.closing.notify_waiters();
    }

    /// Every archived document, oldest first.
    pub fn documents(&self) -> Vec<StoredDocument> {
        let inner = self.sim.lock();
        inner.documents.iter().map(|d| inner.snapshot(d)).collect()
    }

    pub fn document(&self, oid: &str) -> Option<StoredDocument> {
        let inner = self.sim.lock();
        inner.document(oid).map(|d| inner.snapshot(d))
    }

    /// How many archive or new-version requests naming this OID the archive processed, whatever their answer
    /// (0 when none; requests kept from processing by a fault are not counted).
    pub fn archive_count(&self, oid: &str) -> u32 {
        self.sim.lock().archive_counts.get(oid).copied().unwrap_or(0)
    }

    crate::injection::request_log_controls! {
        /// Requests to the service endpoint, oldest first (the most recent 100,000).
    }
}

/// A running simulator. Dropping it stops the server (open connections are closed).
pub struct Running {
    addr: SocketAddr,
    path: String,
    control: Control,
    /// Stops the server when the handle is dropped.
    _shutdown: crate::net::StopOnDrop,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (the demo `simulator.pem` carries `IP:127.0.0.1` and `DNS:localhost`). A
    /// wildcard listen address is shown as 127.0.0.1.
    pub fn base_url(&self) -> String {
        crate::net::base_url("https", self.addr)
    }

    /// The service endpoint: [`Self::base_url`] + [`Config::path`].
    pub fn endpoint(&self) -> String {
        format!("{}{}", self.base_url(), self.path)
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stop serving now.
    pub fn shutdown(self) {}
}

/// Start the simulator on `listen` (port 0 picks a free port; meant for loopback). Returns once it accepts
/// connections. Needs a tokio runtime.
pub async fn start(config: Config, listen: SocketAddr) -> anyhow::Result<Running> {
    anyhow::ensure!(config.path.starts_with('/'), "the path must start with '/'");
    anyhow::ensure!(
        !config.path.starts_with("/_simulator"),
        "the path must not be under /_simulator"
    );
    let acceptors = Arc::new(server::Acceptors {
        normal: crate::net::acceptor(
            &config.tls.cert_pem,
            &config.tls.key_pem,
            Some(&config.tls.client_ca_pem),
        )?,
        untrusted_server: crate::net::untrusted_acceptor()?,
        refusing_client: crate::net::refusing_acceptor(&config.tls.cert_pem, &config.tls.key_pem)?,
    });
    let mut pems = Vec::new();
    for pem in &config.trusted_signers {
        pems.push(pem.read()?);
    }
    let trust = signature::Trust::new(pems)?;
    let cda_schema = config
        .cda_schema
        .as_ref()
        .map(|path| {
            portti_xmlsec::Schema::from_file(path)
                .map_err(|e| anyhow::anyhow!("the CDA schema {} cannot be used: {e}", path.display()))
        })
        .transpose()?;
    let sim = Arc::new(Sim {
        inner: Mutex::new(Inner {
            documents: Vec::new(),
            by_oid: HashMap::new(),
            archive_counts: HashMap::new(),
            faults: Vec::new(),
            request_log: Vec::new(),
        }),
        path: config.path.clone(),
        receiver_oid: config.receiver_oid,
        interactions: config.interactions,
        processing_codes: config.processing_codes,
        senders: config.senders,
        trust,
        max_body_bytes: config.max_body_bytes,
        closing: tokio::sync::Notify::new(),
        cda_schema,
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, stop) = crate::net::stop_signal();
    tokio::spawn(server::serve(
        listener,
        acceptors,
        control::router(sim.clone()),
        sim.clone(),
        stop,
    ));
    Ok(Running {
        addr,
        path: config.path,
        control: Control { sim },
        _shutdown: shutdown,
    })
}
