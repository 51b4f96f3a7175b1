//! A simulator of the Suomi.fi Mandates (Suomi.fi-valtuudet) Authorization REST API for
//! person-to-person mandates ("HPA"), served over plain HTTP on loopback. The contract is the one
//! `adapters/suomifi-mandates/src/lib.rs` documents, with its public sources.
//!
//! # The API it serves
//!
//! `GET /service/rest/hpa/authorization/{clientId}/{delegateId}/{principalId}?requestId=…[&issue=…]…`
//! with `X-AsiointivaltuudetAuthorization: {clientId} {timestamp} {checksum}`, where `checksum` is
//! `Base64(HMAC-SHA256(api key, "{path_and_query} {timestamp}"))` over the request target exactly as
//! received ([`checksum`]). Checked strictly, in this order:
//!
//! | problem | answer |
//! |---|---|
//! | header missing, or not three space-separated parts | `401 {"error":"missing_or_malformed_header"}` |
//! | client id unknown | `401 {"error":"unknown_client"}` |
//! | timestamp not ISO 8601 with an offset | `401 {"error":"bad_timestamp"}` |
//! | timestamp more than [`Config::max_clock_skew`] (5 minutes) from the simulator's clock, either way | `401 {"error":"timestamp_out_of_window"}` |
//! | checksum wrong | `401 {"error":"bad_checksum"}` |
//! | the path's client id is not the header's | `403 {"error":"client_mismatch"}` |
//! | `requestId` missing or empty | `400 {"error":"bad_request"}` |
//! | delegate or principal not a valid personal identity code | `400 {"error":"bad_request"}` |
//!
//! Every error body is `{"error": "<code>", "message": "<text>"}`. Otherwise `200`:
//! `{"result": "ALLOWED", "reasons": []}` when the mandate table grants the delegate every `issue`
//! asked about for that principal, else `{"result": "DISALLOWED", "reasons": [{"reasonRule": …,
//! "reasonValue": …, "valueType": "DESCRIPTION"}]}`. A query without any `issue` is DISALLOWED
//! (`NO_REGISTER_RELATION`): the basic registers (guardianship of minors) are not modelled. Identity
//! codes are compared case-insensitively.
//!
//! # Sandbox ([`Config::sandbox`])
//!
//! One client, [`SANDBOX_CLIENT_ID`] with the API key [`SANDBOX_API_KEY`], and one mandate: the
//! relative [`SANDBOX_DELEGATE`] (`010594Y9032`) may act for [`SANDBOX_PRINCIPAL`] (`131052-308T`)
//! in [`SANDBOX_ISSUE`]. Nobody else may act for anybody.
//!
//! # Faults
//!
//! The same [`Fault`]s as the Suomi.fi Messages simulator (latency, a status such as 500/502/503,
//! 429 with `Retry-After`, 401, a dropped connection, malformed JSON; `pathPrefix`, `count`,
//! `fraction`, `when`), applied to the real API only.
//!
//! # Control endpoints (never faulted, never in the request log)
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /_simulator/mandates` | `{"delegate", "principal", "issue", "action": "add" \| "remove"}` (default `add`) → `204` |
//! | `GET /_simulator/mandates` | every [`Mandate`] |
//! | `DELETE /_simulator/mandates` | remove every mandate → `204` |
//! | `POST` / `GET` / `DELETE /_simulator/faults` | inject a fault / list / clear |
//! | `GET` / `DELETE /_simulator/requests` | the request log ([`LoggedRequest`]) / clear it |

mod api;
mod server;

pub use crate::suomifi_messages::faults::{Fault, FaultKind, When};

use crate::suomifi_messages::faults;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The Web API client id of the sandbox (eight alphanumeric characters, as the service issues).
pub const SANDBOX_CLIENT_ID: &str = "portti01";
/// The sandbox client's REST API key (the HMAC key). Demo material only.
pub const SANDBOX_API_KEY: &str = "portti-sandbox-valtuudet-rest-api-key-2026";
/// The sandbox's mandate issue. Not a real issue URI: real ones come from DVV's list of issues
/// when the service is taken into use (their form is `http://valtuusrekisteri.suomi.fi/<name>`).
pub const SANDBOX_ISSUE: &str = "http://valtuusrekisteri.suomi.fi/portti_sandbox_sosiaalihuollon_asiointi";
/// The sandbox relative (the delegate).
pub const SANDBOX_DELEGATE: &str = "010594Y9032";
/// The older person the sandbox relative may act for (the principal).
pub const SANDBOX_PRINCIPAL: &str = "131052-308T";
/// How far a request's timestamp may be from the clock, as the public description says.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// A Web API client the simulated service knows.
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub api_key: String,
}

/// One mandate in the simulated register: `delegate` may act for `principal` in `issue`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mandate {
    pub delegate: String,
    pub principal: String,
    pub issue: String,
}

impl Mandate {
    pub fn new(delegate: &str, principal: &str, issue: &str) -> Self {
        Mandate {
            delegate: delegate.into(),
            principal: principal.into(),
            issue: issue.into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub clients: Vec<Client>,
    pub mandates: Vec<Mandate>,
    /// Requests whose timestamp is further than this from the clock are refused (401).
    pub max_clock_skew: Duration,
}

impl Config {
    /// One client ([`SANDBOX_CLIENT_ID`] / [`SANDBOX_API_KEY`]) and one mandate:
    /// [`SANDBOX_DELEGATE`] may act for [`SANDBOX_PRINCIPAL`] in [`SANDBOX_ISSUE`].
    pub fn sandbox() -> Self {
        Config {
            clients: vec![Client {
                client_id: SANDBOX_CLIENT_ID.into(),
                api_key: SANDBOX_API_KEY.into(),
            }],
            mandates: vec![Mandate::new(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL, SANDBOX_ISSUE)],
            max_clock_skew: MAX_CLOCK_SKEW,
        }
    }
}

/// The checksum of the `X-AsiointivaltuudetAuthorization` header: Base64 of HMAC-SHA256 with the
/// API key over `"{path_and_query} {timestamp}"`.
pub fn checksum(api_key: &str, path_and_query: &str, timestamp: &str) -> String {
    let key = PKey::hmac(api_key.as_bytes()).expect("an HMAC key");
    let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("HMAC-SHA256");
    signer
        .update(format!("{path_and_query} {timestamp}").as_bytes())
        .expect("HMAC update");
    base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().expect("HMAC"))
}

/// The whole header value for a request target, as a client computes it.
pub fn auth_header(client_id: &str, api_key: &str, path_and_query: &str, timestamp: &str) -> String {
    format!(
        "{client_id} {timestamp} {}",
        checksum(api_key, path_and_query, timestamp)
    )
}

/// One request of the real API, as answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The `issue` parameters, decoded.
    pub issues: Vec<String>,
    /// The client the header named, once it was authenticated.
    pub client_id: Option<String>,
    /// None when the connection was dropped without a response.
    pub status: Option<u16>,
    /// `ALLOWED` / `DISALLOWED` when the request was answered (and not replaced by a fault).
    pub result: Option<String>,
}

/// delegate → principal → issues.
type Table = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

struct Inner {
    table: Table,
    faults: Vec<faults::Active>,
    request_log: Vec<LoggedRequest>,
}

pub(crate) struct Sim {
    inner: Mutex<Inner>,
    clients: BTreeMap<String, String>,
    max_clock_skew: Duration,
}

fn key(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

impl Inner {
    fn grant(&mut self, m: &Mandate) {
        (self.table.entry(key(&m.delegate)).or_default())
            .entry(key(&m.principal))
            .or_default()
            .insert(m.issue.trim().to_owned());
    }

    /// Whether the mandate was there.
    fn revoke(&mut self, m: &Mandate) -> bool {
        let (delegate, principal) = (key(&m.delegate), key(&m.principal));
        let Some(principals) = self.table.get_mut(&delegate) else {
            return false;
        };
        let Some(issues) = principals.get_mut(&principal) else {
            return false;
        };
        let removed = issues.remove(m.issue.trim());
        if issues.is_empty() {
            principals.remove(&principal);
        }
        if principals.is_empty() {
            self.table.remove(&delegate);
        }
        removed
    }

    fn allowed(&self, delegate: &str, principal: &str, issue: &str) -> bool {
        (self.table.get(&key(delegate)))
            .and_then(|p| p.get(&key(principal)))
            .is_some_and(|issues| issues.contains(issue))
    }

    fn mandates(&self) -> Vec<Mandate> {
        let mut out = Vec::new();
        for (delegate, principals) in &self.table {
            for (principal, issues) in principals {
                for issue in issues {
                    out.push(Mandate::new(delegate, principal, issue));
                }
            }
        }
        out
    }
}

impl Sim {
    fn new(config: &Config) -> Self {
        let mut inner = Inner {
            table: Table::new(),
            faults: Vec::new(),
            request_log: Vec::new(),
        };
        for m in &config.mandates {
            inner.grant(m);
        }
        Sim {
            inner: Mutex::new(inner),
            clients: config
                .clients
                .iter()
                .map(|c| (c.client_id.clone(), c.api_key.clone()))
                .collect(),
            max_clock_skew: config.max_clock_skew,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A cloneable handle to a running simulator's state, for tests and the sandbox.
#[derive(Clone)]
pub struct Control {
    sim: Arc<Sim>,
}

impl Control {
    /// Record a mandate: `delegate` may act for `principal` in `issue`.
    pub fn grant(&self, delegate: &str, principal: &str, issue: &str) {
        self.sim.lock().grant(&Mandate::new(delegate, principal, issue));
    }

    /// Remove a mandate; whether it was there.
    pub fn revoke(&self, delegate: &str, principal: &str, issue: &str) -> bool {
        self.sim.lock().revoke(&Mandate::new(delegate, principal, issue))
    }

    /// Every mandate (identity codes upper case), sorted.
    pub fn mandates(&self) -> Vec<Mandate> {
        self.sim.lock().mandates()
    }

    /// Remove every mandate.
    pub fn clear_mandates(&self) {
        self.sim.lock().table.clear();
    }

    crate::injection::fault_controls! {
        /// Inject a fault. Panics on a fault that makes no sense (status outside 400–599, fraction
        /// outside 0–1).
    }

    crate::injection::request_log_controls! {
        /// Requests of the real API, oldest first (the most recent 100,000).
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Running {
    addr: SocketAddr,
    control: Control,
    /// Stops the server when the handle is dropped.
    _shutdown: crate::net::StopOnDrop,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (a wildcard listen address is shown as 127.0.0.1).
    pub fn base_url(&self) -> String {
        crate::net::base_url("http", self.addr)
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stop serving now.
    pub fn shutdown(self) {}
}

/// Start the simulator on `listen` (port 0 picks a free port; meant for loopback). Returns once it
/// accepts connections. Needs a tokio runtime.
pub async fn start(config: Config, listen: SocketAddr) -> anyhow::Result<Running> {
    anyhow::ensure!(!config.clients.is_empty(), "at least one client is needed");
    for client in &config.clients {
        anyhow::ensure!(
            !client.client_id.is_empty() && client.client_id.bytes().all(|b| b.is_ascii_graphic()),
            "a client id must be visible ASCII without spaces"
        );
        anyhow::ensure!(!client.api_key.is_empty(), "an API key must not be empty");
    }
    let sim = Arc::new(Sim::new(&config));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, stop) = crate::net::stop_signal();
    tokio::spawn(server::serve(listener, api::router(sim.clone()), sim.clone(), stop));
    Ok(Running {
        addr,
        control: Control { sim },
        _shutdown: shutdown,
    })
}

#[cfg(test)]
mod tests;
