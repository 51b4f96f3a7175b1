//! Who is calling and what they may do: bearer JWTs or client certificates become a [`Caller`]
//! with scopes and the organisations it may act for.

mod jwt;
pub mod sandbox;

pub use jwt::{TokenVerifier, VerifyError};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "cases:write")]
    CasesWrite,
    #[serde(rename = "cases:read")]
    CasesRead,
    #[serde(rename = "messages:send")]
    MessagesSend,
    #[serde(rename = "exchanges:read")]
    ExchangesRead,
    #[serde(rename = "exchanges:retry")]
    ExchangesRetry,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "jobs:run")]
    JobsRun,
    #[serde(rename = "kanta:archive")]
    KantaArchive,
    #[serde(rename = "kanta:read")]
    KantaRead,
    /// What a Suomi.fi login token grants: ask whether the person may act for another.
    #[serde(rename = "mandates:check")]
    MandatesCheck,
    /// Service-guidance reports: key figures and cost shares (aggregates, no person).
    #[serde(rename = "reports:read")]
    ReportsRead,
    /// Read the synced service catalogue (PTV).
    #[serde(rename = "services:read")]
    ServicesRead,
}

impl Scope {
    pub const ALL: [Scope; 12] = [
        Scope::CasesWrite,
        Scope::CasesRead,
        Scope::MessagesSend,
        Scope::ExchangesRead,
        Scope::ExchangesRetry,
        Scope::AuditRead,
        Scope::JobsRun,
        Scope::KantaArchive,
        Scope::KantaRead,
        Scope::MandatesCheck,
        Scope::ReportsRead,
        Scope::ServicesRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CasesWrite => "cases:write",
            Scope::CasesRead => "cases:read",
            Scope::MessagesSend => "messages:send",
            Scope::ExchangesRead => "exchanges:read",
            Scope::ExchangesRetry => "exchanges:retry",
            Scope::AuditRead => "audit:read",
            Scope::JobsRun => "jobs:run",
            Scope::KantaArchive => "kanta:archive",
            Scope::KantaRead => "kanta:read",
            Scope::MandatesCheck => "mandates:check",
            Scope::ReportsRead => "reports:read",
            Scope::ServicesRead => "services:read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// An authenticated API client and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<Scope>,
    /// Organisations (municipality codes or configured ids) this client acts for.
    pub orgs: Vec<String>,
    /// The professional using the client's system, when the token or request names one.
    pub end_user: Option<String>,
    pub role: Option<String>,
    pub purpose: Option<String>,
    /// A person logged in through Suomi.fi Identification (a login token), not a system.
    pub citizen: Option<Citizen>,
}

/// Who a login token speaks for.
#[derive(Clone, PartialEq, Eq)]
pub struct Citizen {
    /// The gateway's login session (ended by logout; the token dies with it).
    pub session_id: String,
    /// Absent for a foreign (eIDAS) person.
    pub identity_code: Option<crate::case::IdentityCode>,
}

impl std::fmt::Debug for Citizen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Citizen")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn acts_for(&self, organisation: &str) -> bool {
        self.orgs.iter().any(|o| o == organisation)
    }
}

/// Maps client certificates (by subject common name) to callers.
#[derive(Debug, Clone, Default)]
pub struct CertificateClients {
    by_cn: HashMap<String, Caller>,
}

impl CertificateClients {
    pub fn new(clients: &[crate::config::CertificateClient]) -> anyhow::Result<Self> {
        let mut by_cn = HashMap::new();
        for c in clients {
            let scopes = c
                .scopes
                .iter()
                .map(|s| Scope::parse(s).ok_or_else(|| anyhow::anyhow!("unknown scope {s:?} for {}", c.client_id)))
                .collect::<anyhow::Result<_>>()?;
            by_cn.insert(
                c.subject_cn.clone(),
                Caller {
                    client_id: c.client_id.clone(),
                    scopes,
                    orgs: c.orgs.clone(),
                    end_user: None,
                    role: None,
                    purpose: None,
                    citizen: None,
                },
            );
        }
        Ok(Self { by_cn })
    }

    /// The caller for a verified certificate's subject CN, if it is a configured client.
    pub fn caller(&self, subject_cn: &str) -> Option<Caller> {
        self.by_cn.get(subject_cn).cloned()
    }
}
