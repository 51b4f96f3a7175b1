//! A simulator of the Suomi.fi Identification IdP (SAML 2.0 Web SSO as the service's test IdP speaks it),
//! served over plain HTTP on loopback: the gateway's tests drive it the way a browser would.
//!
//! # Endpoints
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /idp/metadata` | `md:EntityDescriptor` (`application/samlmetadata+xml`): IDPSSODescriptor with `WantAuthnRequestsSigned="true"`, one `KeyDescriptor use="signing"` per configured IdP signing certificate (two in the sandbox: key rotation), SingleLogoutService and SingleSignOnService (HTTP-Redirect), NameIDFormat transient, `validUntil` now + [`Config::metadata_validity`]; signed (enveloped, `#ID`, current key) when [`Config::sign_metadata`] |
//! | `GET /idp/sso?SAMLRequest=&RelayState=&SigAlg=&Signature=` | an AuthnRequest (HTTP-Redirect) → `200` HTML page with an auto-submitting form (HTTP-POST binding) to the ACS URL carrying `SAMLResponse` and `RelayState` |
//! | `GET /idp/slo?SAMLRequest=…` | an SP-initiated LogoutRequest → `302` to the SP's SLO URL with a signed LogoutResponse (HTTP-Redirect, the same RelayState) |
//! | `GET /idp/slo?SAMLResponse=…` | the SP's LogoutResponse to an IdP-initiated logout → `200` small HTML page; recorded ([`Control::logout_responses`]) |
//!
//! Any refusal is `400` `text/plain` with the reason (also in the request log): an unsigned or badly signed
//! query (only `SigAlg` RSA-SHA256 over the raw query components, SAML Bindings §3.4.4.1, verified with
//! [`Config::sp_signing_cert`]), a message that does not inflate or parse (DOCTYPE refused), an Issuer other
//! than the SP's entity id, a Destination other than the IdP's own endpoint URL, an
//! `AssertionConsumerServiceURL` other than [`SpEndpoints::acs_url`] (absent = that URL), a ProtocolBinding
//! other than HTTP-POST, an IssueInstant older than [`Config::max_request_age`] or more than a minute ahead, an
//! AuthnRequest ID seen before, an unknown level of assurance, a NameIDPolicy format other than transient, a
//! RelayState over 80 bytes, a LogoutResponse answering no LogoutRequest the IdP sent.
//!
//! # The Response
//!
//! `samlp:Response` (ID, InResponseTo, Version, IssueInstant, Destination = ACS, Issuer, Status `Success`)
//! holding `saml:EncryptedAssertion/xenc:EncryptedData`: the `saml:Assertion` (ID, Issuer, enveloped
//! ds:Signature by the CURRENT IdP key — RSA-SHA256, exclusive C14N, `#ID`, certificate in KeyInfo —, Subject
//! with a transient NameID and a bearer SubjectConfirmation whose SubjectConfirmationData has Recipient = ACS,
//! InResponseTo and NotOnOrAfter = now + [`Config::assertion_lifetime`], Conditions NotBefore / NotOnOrAfter
//! with AudienceRestriction = the SP's entity id, AuthnStatement with SessionIndex and AuthnContextClassRef =
//! the level of assurance, AttributeStatement with the user's attributes ([`TestUser::attributes`])) encrypted
//! for [`Config::sp_encryption_cert`] by portti-xmlsec. The Response itself is signed too when
//! [`Config::sign_response`]. The level of assurance answered is the first the AuthnRequest asked for
//! (`loa3` when it asked for none).
//!
//! Every SSO answer but [`Variant::StatusNotSuccess`] opens an IdP session ([`IdpSession`]: NameID,
//! SessionIndex, user), listed by [`Control::sessions`] and `GET /_simulator/sessions`; a LogoutRequest from
//! the SP ends the sessions with its NameID (and SessionIndex when given) and is answered `Success`, or
//! `Requester`/`UnknownPrincipal` when there was none. An IdP-initiated logout
//! ([`Control::idp_initiated_logout`]) ends the session and returns the URL the IdP's logout iframe would load:
//! the SP's SLO URL with a signed LogoutRequest.
//!
//! Negative tests get attack and defect variants of the Response ([`Variant`], [`ResponseOptions`]): built
//! directly ([`Control::build_response`]) or served as the next SSO answer ([`Control::set_next_response`]).
//!
//! # Sandbox ([`Config::sandbox`])
//!
//! Entity id [`SANDBOX_ENTITY_ID`] (fixed, so the gateway's configuration need not know the port; the
//! endpoints in the metadata are the real `http://127.0.0.1:PORT/idp/…`). The demo keys of `certs-example/`:
//! IdP signing keys `saml-idp-signing-1` (current) and `saml-idp-signing-2` (both in the metadata), the SP's
//! signing certificate `saml-sp-signing.pem` and encryption certificate `saml-sp-encryption.pem`. The SP's
//! entity id, ACS and SLO URLs are parameters ([`SpEndpoints`]; the gateway's address is known only at run
//! time; [`Control::set_sp`] changes them later). Users: [`sandbox_users`] — the first is logged in until a
//! test picks another ([`Control::set_next_user`]).
//!
//! # Control endpoints (not part of the real service; never faulted, never in the request log)
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /_simulator/faults` | inject a [`Fault`] (JSON shape in [`faults`]) → `204`; `GET` lists, `DELETE` clears |
//! | `GET /_simulator/requests` | the request log ([`LoggedRequest`]); `DELETE` clears it |
//! | `GET /_simulator/users` | the configured test users |
//! | `POST /_simulator/next-user` | a [`TestUser`] (JSON in [`users`]) or `{"key":"131052-308T"}` (a configured user by identity code or PersonIdentifier) → `204`: logged in from now on |
//! | `POST /_simulator/next-response` | [`ResponseOptions`] (e.g. `{"variant":"wrappedInAdvice"}`) → `204`: used for the next SSO answer only |
//! | `GET /_simulator/authn-requests` | every accepted AuthnRequest ([`ReceivedAuthnRequest`]) |
//! | `GET /_simulator/sessions` | the open IdP sessions ([`IdpSession`]) |
//! | `POST /_simulator/idp-logout` | `{"nameId":"…"}` → `{"url":"…"}`: an IdP-initiated logout |
//! | `GET /_simulator/logout-requests` | LogoutRequests received from the SP ([`ReceivedLogoutRequest`]) |
//! | `GET /_simulator/logout-responses` | LogoutResponses received from the SP ([`ReceivedLogoutResponse`]) |
//! | `POST /_simulator/sp` | [`SpEndpoints`] JSON (`entityId`, `acsUrl`, `sloUrl`) → `204`; `GET` shows the current one |
//! | `POST /_simulator/signing-key` | `{"index":1}` (0-based into [`Config::signing_keys`]) → `204`: the current signing key |

pub mod binding;
pub mod faults;
pub mod protocol;
pub mod response;
mod server;
pub mod users;
mod xml;

#[cfg(test)]
mod tests;

pub use binding::{AutoPostForm, RedirectMessage};
pub use faults::{Fault, FaultKind};
pub use protocol::{loa, AuthnRequest, LogoutRequest, LogoutResponse};
pub use response::{BuiltResponse, ResponseOptions, Variant};
pub use users::{sandbox_users, TestUser};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The sandbox IdP's entity id (a reserved `.invalid` name: clearly not the real service's).
pub const SANDBOX_ENTITY_ID: &str = "https://tunnistus.sandbox.portti.invalid/idp1";
/// RelayState longer than this is refused (SAML Bindings §3.4.3).
pub const MAX_RELAY_STATE_BYTES: usize = 80;

/// PEM data: a file (read at [`start`]) or the bytes themselves.
#[derive(Clone, Debug)]
pub enum Pem {
    File(PathBuf),
    Inline(Vec<u8>),
}

impl Pem {
    fn load(&self) -> anyhow::Result<Vec<u8>> {
        match self {
            Pem::File(path) => std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display())),
            Pem::Inline(bytes) => Ok(bytes.clone()),
        }
    }
}

/// A private key and its certificate, PEM.
#[derive(Clone, Debug)]
pub struct KeyPair {
    pub key_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
}

/// A signing key as configured.
#[derive(Clone, Debug)]
pub struct SigningKey {
    pub key: Pem,
    pub cert: Pem,
}

/// The service provider the IdP serves (one; Suomi.fi registers each SP's metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpEndpoints {
    pub entity_id: String,
    /// AssertionConsumerService (HTTP-POST).
    pub acs_url: String,
    /// SingleLogoutService (HTTP-Redirect).
    pub slo_url: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The IdP's entity id; None = `{base_url}/idp`.
    pub entity_id: Option<String>,
    /// The base URL of the endpoints (Destination checks, metadata); None = `http://127.0.0.1:PORT`.
    pub public_base_url: Option<String>,
    pub sp: SpEndpoints,
    /// Verifies the SP's query signatures.
    pub sp_signing_cert: Pem,
    /// Assertions are encrypted for it.
    pub sp_encryption_cert: Pem,
    /// Every one is published in the metadata; [`Config::current_signing_key`] signs.
    pub signing_keys: Vec<SigningKey>,
    /// Index into [`Config::signing_keys`].
    pub current_signing_key: usize,
    pub sign_metadata: bool,
    /// Sign the Response as well as the assertion.
    pub sign_response: bool,
    pub users: Vec<TestUser>,
    /// NotOnOrAfter − IssueInstant of an assertion.
    pub assertion_lifetime: Duration,
    /// An AuthnRequest / LogoutRequest / LogoutResponse issued longer ago is refused.
    pub max_request_age: Duration,
    /// `validUntil` of the metadata, from now.
    pub metadata_validity: Duration,
}

pub(crate) fn certs_example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
}

impl Config {
    /// The sandbox: see the module documentation. Metadata and Response unsigned (the assertion always is).
    pub fn sandbox(sp: SpEndpoints) -> Self {
        let certs = certs_example();
        let key = |n: u8| SigningKey {
            key: Pem::File(certs.join(format!("saml-idp-signing-{n}.key"))),
            cert: Pem::File(certs.join(format!("saml-idp-signing-{n}.pem"))),
        };
        Config {
            entity_id: Some(SANDBOX_ENTITY_ID.into()),
            public_base_url: None,
            sp,
            sp_signing_cert: Pem::File(certs.join("saml-sp-signing.pem")),
            sp_encryption_cert: Pem::File(certs.join("saml-sp-encryption.pem")),
            signing_keys: vec![key(1), key(2)],
            current_signing_key: 0,
            sign_metadata: false,
            sign_response: false,
            users: sandbox_users(),
            assertion_lifetime: Duration::from_secs(300),
            max_request_age: Duration::from_secs(300),
            metadata_validity: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// An accepted AuthnRequest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedAuthnRequest {
    #[serde(flatten)]
    pub request: AuthnRequest,
    pub relay_state: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A session at the IdP (what single logout ends).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdpSession {
    pub name_id: String,
    pub session_index: String,
    pub user: TestUser,
    pub sp_entity_id: String,
    pub loa: String,
    /// The AuthnRequest it answered.
    pub authn_request_id: String,
    pub created_at: DateTime<Utc>,
}

/// A LogoutRequest from the SP, and what it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedLogoutRequest {
    #[serde(flatten)]
    pub request: LogoutRequest,
    pub relay_state: Option<String>,
    pub sessions_ended: usize,
    /// The status answered.
    pub status: String,
    pub received_at: DateTime<Utc>,
}

/// A LogoutResponse from the SP (to an IdP-initiated logout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedLogoutResponse {
    #[serde(flatten)]
    pub response: LogoutResponse,
    /// The NameID of the logout it answers.
    pub name_id: String,
    pub received_at: DateTime<Utc>,
}

/// One request to the IdP's endpoints, as answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// None when the connection was dropped without a response.
    pub status: Option<u16>,
    /// Why a `400` refused it.
    pub refusal: Option<String>,
}

/// An IdP-initiated LogoutRequest awaiting the SP's answer.
struct PendingLogout {
    id: String,
    name_id: String,
}

struct Inner {
    sp: SpEndpoints,
    sp_signing_cert: Vec<u8>,
    sp_encryption_cert: Vec<u8>,
    current_signing_key: usize,
    next_user: TestUser,
    next_response: Option<ResponseOptions>,
    authn_requests: Vec<ReceivedAuthnRequest>,
    sessions: Vec<IdpSession>,
    pending_logouts: Vec<PendingLogout>,
    logout_requests: Vec<ReceivedLogoutRequest>,
    logout_responses: Vec<ReceivedLogoutResponse>,
    faults: Vec<Fault>,
    request_log: Vec<LoggedRequest>,
}

pub(crate) struct Sim {
    inner: Mutex<Inner>,
    entity_id: String,
    base_url: String,
    signing_keys: Vec<KeyPair>,
    users: Vec<TestUser>,
    sign_metadata: bool,
    sign_response: bool,
    assertion_lifetime: Duration,
    max_request_age: Duration,
    metadata_validity: Duration,
    unknown_key: OnceLock<KeyPair>,
}

impl Sim {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (no multi-step invariants span a panic point).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sso_url(&self) -> String {
        format!("{}/idp/sso", self.base_url)
    }

    fn slo_url(&self) -> String {
        format!("{}/idp/slo", self.base_url)
    }

    fn unknown_key(&self) -> anyhow::Result<KeyPair> {
        if let Some(k) = self.unknown_key.get() {
            return Ok(k.clone());
        }
        let k = response::generate_unknown_key()?;
        Ok(self.unknown_key.get_or_init(|| k).clone())
    }

    fn current_key(&self) -> KeyPair {
        let index = self.lock().current_signing_key;
        self.signing_keys[index].clone()
    }

    /// The metadata document, signed by `signer` if any.
    fn metadata(&self, signer: Option<&KeyPair>) -> anyhow::Result<String> {
        let certs = self
            .signing_keys
            .iter()
            .map(|k| protocol::cert_der_b64(&k.cert_pem))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let xml = protocol::metadata_xml(
            &protocol::new_id(),
            &self.entity_id,
            &certs,
            &self.sso_url(),
            &self.slo_url(),
            Utc::now() + chrono::Duration::from_std(self.metadata_validity)?,
            signer.is_some(),
        );
        match signer {
            None => Ok(xml),
            Some(k) => {
                let id = portti_xmlsec::IdAttribute::new(xml::MD, "EntityDescriptor", "ID");
                let signed = portti_xmlsec::sign_enveloped_with_id(xml.as_bytes(), &k.key_pem, &k.cert_pem, &id)
                    .map_err(|e| anyhow::anyhow!("signing the metadata: {e}"))?;
                Ok(String::from_utf8(signed)?)
            }
        }
    }

    /// Fill in the defaults of `options` (from the AuthnRequest `request`, else the last one received).
    fn resolve(&self, options: &ResponseOptions, request: Option<&AuthnRequest>) -> anyhow::Result<response::Resolved> {
        let inner = self.lock();
        let last = request.or_else(|| inner.authn_requests.last().map(|r| &r.request));
        let in_response_to = match (&options.in_response_to, last) {
            (Some(id), _) => id.clone(),
            (None, Some(r)) => r.id.clone(),
            (None, None) => anyhow::bail!("no AuthnRequest received yet: give in_response_to"),
        };
        let loa = options
            .loa
            .clone()
            .or_else(|| last.and_then(|r| r.requested_loa.first().cloned()))
            .unwrap_or_else(|| loa::LOA3.to_string());
        Ok(response::Resolved {
            in_response_to,
            user: options.user.clone().unwrap_or_else(|| inner.next_user.clone()),
            loa,
            sign_response: options.sign_response.unwrap_or(self.sign_response),
        })
    }

    fn build(&self, options: &ResponseOptions, request: Option<&AuthnRequest>) -> anyhow::Result<BuiltResponse> {
        let resolved = self.resolve(options, request)?;
        let unknown = match options.variant {
            Variant::SignedByUnknownKey => Some(self.unknown_key()?),
            _ => None,
        };
        let ctx = {
            let inner = self.lock();
            response::Context {
                idp_entity_id: self.entity_id.clone(),
                signing: self.signing_keys[inner.current_signing_key].clone(),
                unknown,
                sp_entity_id: inner.sp.entity_id.clone(),
                acs_url: inner.sp.acs_url.clone(),
                sp_encryption_cert: inner.sp_encryption_cert.clone(),
                assertion_lifetime: self.assertion_lifetime,
                users: self.users.clone(),
            }
        };
        response::build(&ctx, &resolved, options.variant)
    }
}

/// A cloneable handle to a running simulator's state, for tests and the sandbox.
#[derive(Clone)]
pub struct Control {
    sim: Arc<Sim>,
}

impl Control {
    /// Inject a fault (see [`faults`]). Panics on a status outside 400–599.
    pub fn inject(&self, fault: Fault) {
        if let Err(e) = fault.check() {
            panic!("invalid fault: {e}");
        }
        self.sim.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.sim.lock().faults.clear();
    }

    /// The faults still active (with their remaining `count`).
    pub fn faults(&self) -> Vec<Fault> {
        self.sim.lock().faults.clone()
    }

    crate::injection::request_log_controls! {
        /// Requests to the IdP's endpoints (not `/_simulator/…`), oldest first (the most recent 100,000).
    }

    /// The IdP's entity id.
    pub fn entity_id(&self) -> String {
        self.sim.entity_id.clone()
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/idp/metadata", self.sim.base_url)
    }

    pub fn sso_url(&self) -> String {
        self.sim.sso_url()
    }

    pub fn slo_url(&self) -> String {
        self.sim.slo_url()
    }

    /// The metadata document as `GET /idp/metadata` serves it now (no faults).
    pub fn metadata(&self) -> anyhow::Result<String> {
        let signer = self.sim.sign_metadata.then(|| self.sim.current_key());
        self.sim.metadata(signer.as_ref())
    }

    pub fn sp(&self) -> SpEndpoints {
        self.sim.lock().sp.clone()
    }

    /// Serve another SP (entity id, ACS, SLO URLs) from now on.
    pub fn set_sp(&self, sp: SpEndpoints) {
        self.sim.lock().sp = sp;
    }

    /// Replace the SP's certificates (PEM): query signatures are verified with `signing_cert`, assertions
    /// encrypted for `encryption_cert`.
    pub fn set_sp_certificates(&self, signing_cert: Vec<u8>, encryption_cert: Vec<u8>) {
        let mut inner = self.sim.lock();
        inner.sp_signing_cert = signing_cert;
        inner.sp_encryption_cert = encryption_cert;
    }

    /// The IdP signing certificates (PEM) in metadata order: what the SP should trust.
    pub fn signing_certificates(&self) -> Vec<Vec<u8>> {
        self.sim.signing_keys.iter().map(|k| k.cert_pem.clone()).collect()
    }

    /// Which signing key signs from now on (0-based index into [`Config::signing_keys`]): key rotation.
    pub fn set_current_signing_key(&self, index: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            index < self.sim.signing_keys.len(),
            "there are {} signing keys",
            self.sim.signing_keys.len()
        );
        self.sim.lock().current_signing_key = index;
        Ok(())
    }

    pub fn current_signing_key(&self) -> usize {
        self.sim.lock().current_signing_key
    }

    /// The certificate (PEM) of the key no SP trusts, used by [`Variant::SignedByUnknownKey`] and
    /// [`FaultKind::MetadataSignedByUnknownKey`] (generated on first use).
    pub fn unknown_key_certificate(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self.sim.unknown_key()?.cert_pem)
    }

    /// The configured test users.
    pub fn users(&self) -> Vec<TestUser> {
        self.sim.users.clone()
    }

    /// The user every following SSO request logs in (until changed); need not be a configured one.
    pub fn set_next_user(&self, user: TestUser) {
        self.sim.lock().next_user = user;
    }

    pub fn next_user(&self) -> TestUser {
        self.sim.lock().next_user.clone()
    }

    /// The next SSO request (only that one) is answered as `options` say (its `in_response_to`, when None,
    /// is the request being answered).
    pub fn set_next_response(&self, options: ResponseOptions) {
        self.sim.lock().next_response = Some(options);
    }

    /// Every accepted AuthnRequest, oldest first.
    pub fn authn_requests(&self) -> Vec<ReceivedAuthnRequest> {
        self.sim.lock().authn_requests.clone()
    }

    pub fn last_authn_request(&self) -> Option<ReceivedAuthnRequest> {
        self.sim.lock().authn_requests.last().cloned()
    }

    /// Build a Response (by default for the last AuthnRequest) without opening a session.
    pub fn build_response(&self, options: ResponseOptions) -> anyhow::Result<BuiltResponse> {
        self.sim.build(&options, None)
    }

    /// The Base64 `SAMLResponse` of [`Control::build_response`].
    pub fn response(&self, options: ResponseOptions) -> anyhow::Result<String> {
        Ok(self.build_response(options)?.saml_response)
    }

    /// The open IdP sessions, oldest first.
    pub fn sessions(&self) -> Vec<IdpSession> {
        self.sim.lock().sessions.clone()
    }

    /// End the session of `name_id` at the IdP and return the URL its logout iframe would load: the SP's
    /// SLO URL with a LogoutRequest (HTTP-Redirect, signed with the current key). The SP's LogoutResponse to
    /// it, at `GET /idp/slo?SAMLResponse=…`, is recorded in [`Control::logout_responses`].
    pub fn idp_initiated_logout(&self, name_id: &str) -> anyhow::Result<String> {
        let key = self.sim.current_key();
        let (xml, slo_url) = {
            let mut inner = self.sim.lock();
            let position = inner
                .sessions
                .iter()
                .position(|s| s.name_id == name_id)
                .ok_or_else(|| anyhow::anyhow!("no IdP session with NameID {name_id}"))?;
            let session = inner.sessions.remove(position);
            let id = protocol::new_id();
            let xml = protocol::logout_request_xml(
                &id,
                Utc::now(),
                &inner.sp.slo_url,
                &self.sim.entity_id,
                name_id,
                &session.sp_entity_id,
                &session.session_index,
            );
            inner.pending_logouts.push(PendingLogout {
                id,
                name_id: name_id.to_string(),
            });
            (xml, inner.sp.slo_url.clone())
        };
        binding::signed_redirect_url(&slo_url, "SAMLRequest", xml.as_bytes(), None, &key.key_pem)
    }

    /// LogoutRequests received from the SP, oldest first.
    pub fn logout_requests(&self) -> Vec<ReceivedLogoutRequest> {
        self.sim.lock().logout_requests.clone()
    }

    /// LogoutResponses received from the SP, oldest first.
    pub fn logout_responses(&self) -> Vec<ReceivedLogoutResponse> {
        self.sim.lock().logout_responses.clone()
    }
}

/// A running simulator. Dropping it stops the server (open connections are closed).
pub struct Running {
    addr: SocketAddr,
    base_url: String,
    control: Control,
    /// Stops the server when the handle is dropped.
    _shutdown: crate::net::StopOnDrop,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (or [`Config::public_base_url`]).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
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
    anyhow::ensure!(
        !config.signing_keys.is_empty(),
        "at least one IdP signing key is needed"
    );
    anyhow::ensure!(
        config.current_signing_key < config.signing_keys.len(),
        "current_signing_key is out of range"
    );
    anyhow::ensure!(!config.users.is_empty(), "at least one test user is needed");
    let signing_keys = config
        .signing_keys
        .iter()
        .map(|k| {
            Ok(KeyPair {
                key_pem: k.key.load()?,
                cert_pem: k.cert.load()?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sp_signing_cert = config.sp_signing_cert.load()?;
    let sp_encryption_cert = config.sp_encryption_cert.load()?;
    openssl::x509::X509::from_pem(&sp_signing_cert).map_err(|e| anyhow::anyhow!("SP signing certificate: {e}"))?;
    openssl::x509::X509::from_pem(&sp_encryption_cert)
        .map_err(|e| anyhow::anyhow!("SP encryption certificate: {e}"))?;

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let base_url = match &config.public_base_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => crate::net::base_url("http", addr),
    };
    let sim = Arc::new(Sim {
        inner: Mutex::new(Inner {
            sp: config.sp.clone(),
            sp_signing_cert,
            sp_encryption_cert,
            current_signing_key: config.current_signing_key,
            next_user: config.users[0].clone(),
            next_response: None,
            authn_requests: Vec::new(),
            sessions: Vec::new(),
            pending_logouts: Vec::new(),
            logout_requests: Vec::new(),
            logout_responses: Vec::new(),
            faults: Vec::new(),
            request_log: Vec::new(),
        }),
        entity_id: config.entity_id.clone().unwrap_or_else(|| format!("{base_url}/idp")),
        base_url: base_url.clone(),
        signing_keys,
        users: config.users.clone(),
        sign_metadata: config.sign_metadata,
        sign_response: config.sign_response,
        assertion_lifetime: config.assertion_lifetime,
        max_request_age: config.max_request_age,
        metadata_validity: config.metadata_validity,
        unknown_key: OnceLock::new(),
    });
    // Sign once now so that a key that libxmlsec1 cannot use fails here, not on the first request.
    sim.metadata(Some(&sim.current_key()))?;
    let (shutdown, stop) = crate::net::stop_signal();
    tokio::spawn(server::serve(listener, sim.clone(), stop));
    Ok(Running {
        addr,
        base_url,
        control: Control { sim },
        _shutdown: shutdown,
    })
}
