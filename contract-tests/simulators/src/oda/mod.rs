//! A simulator of ODA / Omaolo's FHIR R4 server and its OAuth 2.0 token endpoint (SMART Backend Services:
//! client credentials with a JWT client assertion, RFC 7523), served over real HTTP (or HTTPS) on loopback.
//!
//! # The API it serves
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /auth/token` | form `grant_type=client_credentials`, `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion=<JWT>`, optional `scope` → `{access_token, token_type: "bearer", expires_in, scope}`. The JWT must be ES384 or RS384, signed by a configured client's key (its `kid` when the client has one), `iss` = `sub` = the client id, `aud` = this endpoint's URL, `exp` in the future and at most 5 min (+ 60 s skew) away, a `jti` never seen before. Refusals: `400 {"error": "invalid_client" \| "invalid_request" \| "unsupported_grant_type", "error_description"}` |
//! | `GET /fhir/metadata` | a minimal `CapabilityStatement` (no token needed) |
//! | `GET /fhir/QuestionnaireResponse?…` | search: `status`, `_tag` (`system\|code`, FHIR escapes), `_lastUpdated` (prefixes `eq gt ge lt le`, repeatable), `_sort` (`_lastUpdated` or `-_lastUpdated`), `_count` (default 50, at most 1,000), `_id`; any other parameter is `400` (strict handling). Answers a `searchset` Bundle with `total`, `link` `self` and — when more remain — `next` = `/fhir/QuestionnaireResponse?_page=<opaque token>` over a snapshot of the matching ids taken at the first page |
//! | `GET /fhir/QuestionnaireResponse/{id}`, `GET /fhir/Task/{id}`, `GET /fhir/Communication/{id}` | read |
//! | `PUT /fhir/Task/{id}` | update-as-create: `201` new, `200` updated (`meta.versionId` + 1); the body's `id` must match |
//! | `POST /fhir/Task`, `POST /fhir/Communication` | create, conditional with `If-None-Exist: identifier=system\|value`: `200` with the existing resource on one match, `412` on several, else `201` |
//!
//! Every FHIR endpoint but `metadata` needs `Authorization: Bearer <token>` (missing, unknown, expired →
//! `401` `OperationOutcome` + `WWW-Authenticate: Bearer`). Written resources are checked: `resourceType`,
//! `meta.profile` one of the configured profiles, `Task.status` / `Task.intent` / `Communication.status`
//! from their R4 value sets, `Task.focus` a `QuestionnaireResponse` that exists, a non-empty
//! `Communication.payload`, no `null`/empty values; failures are `422`/`400` with an `OperationOutcome`.
//! Writes set `meta.versionId` and `meta.lastUpdated`, and answer with the resource, `Location` and `ETag`.
//!
//! # Sandbox data ([`Config::sandbox`])
//!
//! Five `QuestionnaireResponse`s, tagged with the receiving organisation ([`ORGANISATION_SYSTEM`] `853`
//! Turku / `529` Naantali), subject by identity code (`urn:oid:1.2.246.21`), an `urgency` item
//! ([`URGENCY_SYSTEM`] `emergency` / `urgent` / `non-urgent` / `self-care`) and `topic` items — see
//! [`sandbox_questionnaire_responses`]. One of them is `in-progress` (not completed).
//!
//! # Control endpoints (not part of the real API; never faulted, never in the request log)
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /_simulator/faults` | inject a [`Fault`] ([`faults`]) → `204`; `GET` lists, `DELETE` clears |
//! | `POST /_simulator/questionnaire-responses` | add a `QuestionnaireResponse` (JSON) → `{"id": …}` |
//! | `POST /_simulator/assessments` | `{"identityCode", "organisation", "urgency", "topics"?, "language"?}` → `{"id": …}` |
//! | `GET /_simulator/tasks`, `GET /_simulator/communications` | what was written |
//! | `POST /_simulator/tokens/expire` | every access token expires now → `204` |
//! | `GET /_simulator/requests` | the request log ([`LoggedRequest`]); `DELETE` clears it |

mod api;
pub mod faults;
mod server;

pub use faults::{Fault, FaultKind, When};

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The receiving organisation's tag system in the sandbox (municipality codes).
pub const ORGANISATION_SYSTEM: &str = "urn:oid:1.2.246.537.6.21";
pub const IDENTITY_CODE_SYSTEM: &str = "urn:oid:1.2.246.21";
pub const URGENCY_SYSTEM: &str = "urn:portti:oda:urgency";
pub const TOPIC_SYSTEM: &str = "urn:portti:oda:topic";
pub const SANDBOX_CLIENT_ID: &str = "portti-oda-sandbox";
pub const SANDBOX_KEY_ID: &str = "oda-client-demo";
/// Profiles accepted by default: the FHIR R4 base profiles.
pub const BASE_TASK_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/Task";
pub const BASE_COMMUNICATION_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/Communication";
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1_000;
/// A client assertion may be valid at most this long (SMART: five minutes), plus [`CLOCK_SKEW`].
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A registered OAuth client: its id and its public key (PEM `PUBLIC KEY`, EC P-384 or RSA).
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub public_key_pem: PathBuf,
    /// When set, the assertion's `kid` must equal it.
    pub key_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub clients: Vec<Client>,
    pub token_ttl: Duration,
    pub tls: Option<TlsFiles>,
    pub task_profiles: Vec<String>,
    pub communication_profiles: Vec<String>,
    /// Resources present at start.
    pub questionnaire_responses: Vec<Value>,
}

fn certs_example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
}

impl Config {
    /// One client ([`SANDBOX_CLIENT_ID`], key id [`SANDBOX_KEY_ID`], `certs-example/oda-client.pem`), tokens
    /// valid one hour, plain HTTP, base profiles, the sandbox assessments.
    pub fn sandbox() -> Self {
        Config {
            clients: vec![Client {
                client_id: SANDBOX_CLIENT_ID.into(),
                public_key_pem: certs_example().join("oda-client.pem"),
                key_id: Some(SANDBOX_KEY_ID.into()),
            }],
            token_ttl: Duration::from_secs(3600),
            tls: None,
            task_profiles: vec![BASE_TASK_PROFILE.into()],
            communication_profiles: vec![BASE_COMMUNICATION_PROFILE.into()],
            questionnaire_responses: sandbox_questionnaire_responses(),
        }
    }
}

/// A completed assessment as Omaolo would store it.
pub fn assessment(
    id: &str,
    identity_code: &str,
    organisation: &str,
    urgency: &str,
    topics: &[&str],
    language: &str,
    last_updated: &str,
) -> Value {
    let topics: Vec<Value> = (topics.iter())
        .map(|t| json!({"valueCoding": {"system": TOPIC_SYSTEM, "code": t}}))
        .collect();
    json!({
        "resourceType": "QuestionnaireResponse",
        "id": id,
        "meta": {
            "versionId": "1",
            "lastUpdated": last_updated,
            "tag": [{"system": ORGANISATION_SYSTEM, "code": organisation}]
        },
        "language": language,
        "questionnaire": "https://omaolo.example/fhir/Questionnaire/oirearvio|2026.1",
        "status": "completed",
        "subject": {"identifier": {"system": IDENTITY_CODE_SYSTEM, "value": identity_code}},
        "authored": last_updated,
        "item": [
            {"linkId": "topic", "text": "Aihe", "answer": topics},
            {"linkId": "symptoms", "text": "Oireet", "item": [
                {"linkId": "duration-days", "text": "Kesto (vrk)", "answer": [{"valueInteger": 3}]},
                {"linkId": "fever", "text": "Kuumetta", "answer": [{"valueBoolean": urgency != "self-care"}]}
            ]},
            {"linkId": "urgency", "text": "Kiireellisyys", "answer": [
                {"valueCoding": {"system": URGENCY_SYSTEM, "code": urgency}}
            ]}
        ]
    })
}

/// The sandbox's assessments: identity codes 010594Y9032 and 131052-308T, organisations 853 and 529.
pub fn sandbox_questionnaire_responses() -> Vec<Value> {
    let mut in_progress = assessment(
        "oa-853-4",
        "131052-308T",
        "853",
        "non-urgent",
        &["service-need"],
        "fi",
        "2026-01-05T09:30:00.000Z",
    );
    in_progress["status"] = json!("in-progress");
    vec![
        assessment(
            "oa-853-1",
            "010594Y9032",
            "853",
            "urgent",
            &["respiratory", "fever"],
            "fi",
            "2026-01-05T08:00:00.000Z",
        ),
        assessment(
            "oa-853-2",
            "131052-308T",
            "853",
            "non-urgent",
            &["back-pain"],
            "sv",
            "2026-01-05T08:15:00.000Z",
        ),
        assessment(
            "oa-529-1",
            "010594Y9032",
            "529",
            "emergency",
            &["chest-pain"],
            "fi",
            "2026-01-05T08:20:00.000Z",
        ),
        assessment(
            "oa-529-2",
            "131052-308T",
            "529",
            "self-care",
            &["service-need"],
            "fi",
            "2026-01-05T09:00:00.000Z",
        ),
        in_progress,
    ]
}

/// One request of the real API, as answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// None when the connection was dropped without a response.
    pub status: Option<u16>,
}

pub(crate) struct TokenState {
    client_id: String,
    expires_at: Instant,
}

pub(crate) struct SearchSnapshot {
    ids: Vec<String>,
    count: usize,
}

pub(crate) struct Inner {
    tokens: HashMap<String, TokenState>,
    /// (client id, jti) → when the assertion expires (kept until then).
    used_jti: HashMap<(String, String), i64>,
    /// id → resource, per type.
    questionnaire_responses: BTreeMap<String, Value>,
    tasks: BTreeMap<String, Value>,
    communications: BTreeMap<String, Value>,
    /// page token → (snapshot id, offset).
    pages: HashMap<String, (u64, usize)>,
    snapshots: BTreeMap<u64, SearchSnapshot>,
    next_snapshot: u64,
    faults: Vec<faults::Active>,
    request_log: Vec<LoggedRequest>,
    token_requests: u32,
    /// Strictly increasing `meta.lastUpdated` of writes (ms).
    last_write_ms: i64,
}

pub(crate) struct Sim {
    inner: Mutex<Inner>,
    clients: Vec<api::ClientKey>,
    token_ttl: Duration,
    task_profiles: Vec<String>,
    communication_profiles: Vec<String>,
    /// Set once the listener is bound: the token URL(s) accepted as `aud`.
    audiences: Vec<String>,
    base_url: String,
}

impl Sim {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// A new `meta.lastUpdated`, later than any before (ms precision).
    fn now_instant(&mut self) -> String {
        let now = chrono::Utc::now().timestamp_millis().max(self.last_write_ms + 1);
        self.last_write_ms = now;
        chrono::DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Adds (or replaces) a QuestionnaireResponse: an id and `meta.lastUpdated` are set when absent.
    fn add_questionnaire_response(&mut self, mut resource: Value) -> anyhow::Result<String> {
        anyhow::ensure!(
            resource.get("resourceType").and_then(Value::as_str) == Some("QuestionnaireResponse"),
            "not a QuestionnaireResponse"
        );
        let id = match resource.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => uuid::Uuid::now_v7().to_string(),
        };
        anyhow::ensure!(api::is_fhir_id(&id), "not a FHIR id");
        resource["id"] = json!(id);
        if !resource.get("meta").is_some_and(Value::is_object) {
            resource["meta"] = json!({});
        }
        if resource.pointer("/meta/lastUpdated").and_then(Value::as_str).is_none() {
            resource["meta"]["lastUpdated"] = json!(self.now_instant());
        }
        let version = (self.questionnaire_responses.get(&id))
            .and_then(|old| old.pointer("/meta/versionId")?.as_str()?.parse::<u64>().ok())
            .map_or(1, |v| v + 1);
        if resource.pointer("/meta/versionId").is_none() {
            resource["meta"]["versionId"] = json!(version.to_string());
        }
        self.questionnaire_responses.insert(id.clone(), resource);
        Ok(id)
    }
}

/// A cloneable handle to a running simulator's state.
#[derive(Clone)]
pub struct Control {
    sim: Arc<Sim>,
}

impl Control {
    /// Inject a fault. Panics on one that makes no sense (status outside 400–599, fraction outside 0–1).
    pub fn inject(&self, fault: Fault) {
        if let Err(e) = fault.check() {
            panic!("invalid fault: {e}");
        }
        self.sim.lock().faults.push(faults::Active::new(fault));
    }

    pub fn clear_faults(&self) {
        self.sim.lock().faults.clear();
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.sim.lock().faults.iter().map(|a| a.fault.clone()).collect()
    }

    /// Adds (or replaces, by id) a QuestionnaireResponse; `id` and `meta.lastUpdated` (now, strictly after
    /// every earlier write) are filled in when absent. Returns the id.
    pub fn add_questionnaire_response(&self, resource: Value) -> anyhow::Result<String> {
        self.sim.lock().add_questionnaire_response(resource)
    }

    /// Adds a completed assessment ([`assessment`]) with a new id, updated now.
    pub fn add_assessment(&self, identity_code: &str, organisation: &str, urgency: &str) -> String {
        let mut inner = self.sim.lock();
        let at = inner.now_instant();
        let id = uuid::Uuid::now_v7().to_string();
        let resource = assessment(&id, identity_code, organisation, urgency, &["respiratory"], "fi", &at);
        inner.add_questionnaire_response(resource).expect("a valid assessment")
    }

    pub fn questionnaire_responses(&self) -> Vec<Value> {
        self.sim.lock().questionnaire_responses.values().cloned().collect()
    }

    /// Every Task written, by id.
    pub fn tasks(&self) -> Vec<Value> {
        self.sim.lock().tasks.values().cloned().collect()
    }

    pub fn task(&self, id: &str) -> Option<Value> {
        self.sim.lock().tasks.get(id).cloned()
    }

    /// Every Communication written.
    pub fn communications(&self) -> Vec<Value> {
        self.sim.lock().communications.values().cloned().collect()
    }

    /// Every access token expires now.
    pub fn expire_tokens(&self) {
        self.sim.lock().tokens.clear();
    }

    /// Successful token requests so far.
    pub fn tokens_issued(&self) -> u32 {
        self.sim.lock().token_requests
    }

    /// Requests of the real API, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.sim.lock().request_log.clone()
    }

    pub fn clear_request_log(&self) {
        self.sim.lock().request_log.clear();
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Running {
    addr: SocketAddr,
    base_url: String,
    control: Control,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http(s)://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The FHIR base: `{base_url}/fhir`.
    pub fn fhir_base_url(&self) -> String {
        format!("{}/fhir", self.base_url)
    }

    /// The token endpoint (also the `aud` the client assertion must carry): `{base_url}/auth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/auth/token", self.base_url)
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    pub fn shutdown(self) {}
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Start the simulator on `listen` (port 0 picks a free port). Needs a tokio runtime.
pub async fn start(config: Config, listen: SocketAddr) -> anyhow::Result<Running> {
    anyhow::ensure!(!config.clients.is_empty(), "at least one client is needed");
    let clients = (config.clients.iter())
        .map(api::ClientKey::load)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let acceptor = match &config.tls {
        Some(tls) => Some(crate::net::acceptor(&tls.cert_pem, &tls.key_pem, None)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let host = match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let base_url = format!("{scheme}://{host}:{}", addr.port());
    let audiences = vec![
        format!("{base_url}/auth/token"),
        format!("{scheme}://localhost:{}/auth/token", addr.port()),
    ];
    let mut inner = Inner {
        tokens: HashMap::new(),
        used_jti: HashMap::new(),
        questionnaire_responses: BTreeMap::new(),
        tasks: BTreeMap::new(),
        communications: BTreeMap::new(),
        pages: HashMap::new(),
        snapshots: BTreeMap::new(),
        next_snapshot: 1,
        faults: Vec::new(),
        request_log: Vec::new(),
        token_requests: 0,
        last_write_ms: 0,
    };
    for resource in config.questionnaire_responses {
        inner.add_questionnaire_response(resource)?;
    }
    let sim = Arc::new(Sim {
        inner: Mutex::new(inner),
        clients,
        token_ttl: config.token_ttl,
        task_profiles: config.task_profiles,
        communication_profiles: config.communication_profiles,
        audiences,
        base_url: base_url.clone(),
    });
    let (shutdown, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(server::serve(
        listener,
        acceptor,
        api::router(sim.clone()),
        sim.clone(),
        stop,
    ));
    Ok(Running {
        addr,
        base_url,
        control: Control { sim },
        shutdown,
    })
}

#[cfg(test)]
mod tests;
