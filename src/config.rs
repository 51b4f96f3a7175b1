//! Configuration: built-in sandbox defaults, then one TOML file, then `PORTTI_…` environment
//! variables (nested keys joined by `__`, e.g. `PORTTI_AUTH__ISSUER`).

use crate::case::Organisation;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the REST API.
    pub listen: SocketAddr,
    /// Where the SQLite database and the sandbox's generated keys live.
    pub data_dir: PathBuf,
    /// Sandbox mode generates missing keys into `data_dir` and says so at start.
    pub sandbox: bool,
    /// `postgres://user@host/db`: PostgreSQL, which several replicas may share (each with a
    /// data directory of its own); absent: SQLite in `data_dir` (`store.sqlite_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    pub store: StoreSettings,
    pub audit: AuditSettings,
    /// How long data outside the audit trail is kept.
    #[serde(default)]
    pub retention: RetentionSettings,
    pub auth: AuthSettings,
    /// Inbound HTTPS with optional client certificates; plain HTTP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    pub limits: LimitSettings,
    /// Joint authorities and wellbeing services counties (municipalities are built in).
    #[serde(default)]
    pub organisations: Vec<Organisation>,
    pub broker: crate::broker::BrokerSettings,
    pub jobs: crate::jobs::JobSettings,
    /// Suomi.fi Messages, one entry per sending organisation (own credentials and service id).
    /// Empty in the sandbox, which runs the simulator instead.
    #[serde(default, skip_serializing)]
    pub suomifi_messages: Vec<MessagesOrganisation>,
    /// Kanta's social welfare client data archive (one endpoint, per-organisation ids and keys).
    /// Absent in the sandbox, which runs the simulator instead.
    #[serde(default, skip_serializing)]
    pub kanta: Option<portti_kanta::KantaConfig>,
    /// Suomi.fi Identification (this gateway as a SAML service provider). Absent in the sandbox,
    /// which runs the IdP simulator instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identification: Option<crate::identification::IdentificationSettings>,
    /// Suomi.fi Mandates. Absent in the sandbox, which runs the simulator instead.
    #[serde(default, skip_serializing)]
    pub suomifi_mandates: Option<portti_suomifi_mandates::MandatesConfig>,
    /// ODA / Omaolo (FHIR): whose self-assessments to fetch, and how. Absent in the sandbox,
    /// which runs the FHIR simulator instead.
    #[serde(default, skip_serializing)]
    pub oda: Option<OdaSettings>,
    /// The Suomi.fi Finnish Service Catalogue (PTV): whose services to sync. Absent in the
    /// sandbox, which runs the simulator instead.
    #[serde(default, skip_serializing)]
    pub ptv: Option<PtvSettings>,
    /// Signed webhooks to receiving organisations' systems (`case.transferred`), one entry per
    /// organisation. None unless configured, in the sandbox too.
    #[serde(default, skip_serializing)]
    pub webhooks: Vec<WebhookSettings>,
    pub sandbox_services: SandboxServices,
    /// Service-guidance reports.
    #[serde(default)]
    pub reports: ReportSettings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Population aged 75+ by municipality code, for `POST /v1/reports/cost-allocation` when the
    /// request brings none. A whole table, not merged with anything; absent in the sandbox,
    /// which then uses example figures (`reports::cost_allocation::EXAMPLE_POPULATION_75_PLUS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population_75_plus: Option<std::collections::BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The receiving organisation (id or name, e.g. "529" or "Kaarina").
    pub organisation: String,
    pub url: String,
    /// The shared HMAC secret; relative to `data_dir`.
    pub secret_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesOrganisation {
    pub organisation: String,
    pub adapter: portti_suomifi_messages::MessagesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdaSettings {
    /// The organisations whose completed self-assessments become cases.
    pub organisations: Vec<String>,
    pub adapter: portti_oda::OdaConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtvSettings {
    /// The open API's root, e.g. `https://api.palvelutietovaranto.suomi.fi`.
    pub base_url: String,
    /// Municipality codes (or names) whose services are synced.
    pub municipalities: Vec<String>,
    #[serde(default)]
    pub http: portti_adapter_core::HttpClientConfig,
}

/// What the sandbox simulates when no real service is configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxServices {
    /// Where the Suomi.fi Messages simulator listens (its `/_simulator/…` endpoints play the citizen).
    pub messages_listen: SocketAddr,
    /// Organisations that get a simulated Suomi.fi Messages account.
    pub messages_organisations: Vec<String>,
    /// Where the Kanta archive simulator listens (HTTPS with client certificates).
    pub kanta_listen: SocketAddr,
    /// Organisations that archive to the simulated Kanta (each needs a system-signature key pair
    /// `certs-example/kanta-signing-{id}.key/.pem`).
    pub kanta_organisations: Vec<String>,
    /// Where the Suomi.fi Identification (SAML IdP) simulator listens.
    pub identification_listen: SocketAddr,
    /// Where the Suomi.fi Mandates simulator listens.
    pub mandates_listen: SocketAddr,
    /// Where the ODA / Omaolo FHIR simulator listens.
    pub oda_listen: SocketAddr,
    /// Where the RFC 3161 TSA simulator listens (used when `audit.tsa` is not set).
    pub tsa_listen: SocketAddr,
    /// Organisations whose sandbox self-assessments become cases.
    pub oda_organisations: Vec<String>,
    /// Origins a sandbox login may return to, besides the gateway itself.
    pub identification_return_origins: Vec<String>,
    /// Where the Suomi.fi Finnish Service Catalogue (PTV) simulator listens.
    pub ptv_listen: SocketAddr,
    /// Municipalities whose services the sandbox syncs from the simulator.
    pub ptv_municipalities: Vec<String>,
    /// The deadline of the gateway's calls to the sandbox's PTV, TSA and IdP-metadata
    /// simulators (real services take theirs from their own settings); tests shorten it.
    pub client_timeout_ms: u64,
}

impl Default for SandboxServices {
    fn default() -> Self {
        Self {
            messages_listen: "127.0.0.1:8091".parse().expect("valid address"),
            messages_organisations: ["853", "529", "680", "202", "445"].map(String::from).to_vec(),
            kanta_listen: "127.0.0.1:8092".parse().expect("valid address"),
            kanta_organisations: ["853", "529"].map(String::from).to_vec(),
            identification_listen: "127.0.0.1:8093".parse().expect("valid address"),
            mandates_listen: "127.0.0.1:8094".parse().expect("valid address"),
            oda_listen: "127.0.0.1:8095".parse().expect("valid address"),
            tsa_listen: "127.0.0.1:8096".parse().expect("valid address"),
            oda_organisations: ["853", "529"].map(String::from).to_vec(),
            identification_return_origins: vec!["http://localhost:3000".into()],
            ptv_listen: "127.0.0.1:8097".parse().expect("valid address"),
            ptv_municipalities: ["853", "202", "734"].map(String::from).to_vec(),
            client_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// SQLite file; relative paths are under `data_dir`.
    pub sqlite_file: PathBuf,
    pub max_batch: usize,
    pub read_connections: u32,
    /// The most the database may grow to, in MiB; past it writes are refused with 503 (and
    /// accepted again once retention or archiving has freed space). None: the disk is the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size_mb: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// File holding the HMAC key (hex or raw, ≥ 32 bytes) for person keys. Relative to `data_dir`.
    pub hmac_key_file: PathBuf,
    /// The audit key (PEM private key, ECDSA P-256 or RSA) that signs checkpoints of the chain;
    /// relative to `data_dir`. The sandbox generates a P-256 key if it is missing.
    #[serde(default = "default_checkpoint_key")]
    pub checkpoint_key: PathBuf,
    /// The public key or certificate (PEM) verifiers check checkpoints with; default: the
    /// public half of `checkpoint_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_public_key: Option<PathBuf>,
    /// Where `portti audit archive` writes segment files; relative to `data_dir`.
    #[serde(default = "default_archive_dir")]
    pub archive_dir: PathBuf,
    /// An RFC 3161 time-stamping authority for checkpoints. The sandbox runs a simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa: Option<TsaSettings>,
}

fn default_checkpoint_key() -> PathBuf {
    PathBuf::from("audit-checkpoint.key")
}

fn default_archive_dir() -> PathBuf {
    PathBuf::from("audit-archive")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsaSettings {
    /// Where to POST `application/timestamp-query`.
    pub url: String,
    /// PEM certificate(s) the TSA's signature must chain to; relative to `data_dir`.
    pub certificate: PathBuf,
    #[serde(default = "default_tsa_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_tsa_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Payloads of ended exchanges (succeeded or dead) are cleared this many days after their
    /// last change; the audit trail keeps only their digests, so it is not affected.
    pub exchange_payload_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            exchange_payload_days: 90,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    /// PEM public keys (RSA or EC P-256) that may sign tokens, relative to `data_dir`.
    #[serde(default)]
    pub public_keys: Vec<PathBuf>,
    /// A JWKS document of signing keys, relative to `data_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// Allowed clock skew for `exp` and `nbf`, seconds.
    pub leeway_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// CA whose client certificates are accepted; without it no client certificate is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
    /// Which certificate subject is which API client.
    #[serde(default)]
    pub clients: Vec<CertificateClient>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateClient {
    /// The certificate's subject common name.
    pub subject_cn: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub orgs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub body_bytes: usize,
    pub json_depth: usize,
    pub request_timeout_ms: u64,
    /// Requests one API client may have in flight; more get 429.
    pub per_client_concurrency: usize,
    pub page_size_max: u32,
    /// Help requests (`POST /v1/help-requests`, `POST /help`) one client address may make in
    /// `help_request_window_s`; more get 429. IPv6 addresses count by their /64. 0 turns it off.
    pub help_requests_per_window: u32,
    pub help_request_window_s: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("data"),
            sandbox: true,
            database_url: None,
            store: StoreSettings {
                sqlite_file: PathBuf::from("portti.db"),
                max_batch: 512,
                read_connections: 4,
                max_size_mb: None,
            },
            audit: AuditSettings {
                hmac_key_file: PathBuf::from("audit-hmac.key"),
                checkpoint_key: default_checkpoint_key(),
                checkpoint_public_key: None,
                archive_dir: default_archive_dir(),
                tsa: None,
            },
            retention: RetentionSettings::default(),
            auth: AuthSettings {
                issuer: "portti-sandbox".into(),
                audience: "portti".into(),
                public_keys: vec![PathBuf::from(crate::auth::sandbox::PUBLIC_KEY_FILE)],
                jwks_file: None,
                leeway_s: 30,
            },
            tls: None,
            limits: LimitSettings {
                body_bytes: 256 * 1024,
                json_depth: 32,
                request_timeout_ms: 10_000,
                per_client_concurrency: 256,
                page_size_max: 500,
                help_requests_per_window: 5,
                help_request_window_s: 600,
            },
            organisations: vec![],
            broker: Default::default(),
            jobs: Default::default(),
            suomifi_messages: vec![],
            kanta: None,
            identification: None,
            suomifi_mandates: None,
            oda: None,
            ptv: None,
            webhooks: vec![],
            sandbox_services: Default::default(),
            reports: Default::default(),
        }
    }
}

impl Config {
    /// Loads defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("PORTTI_").ignore(&["CONFIG", "LOG"]).split("__"));
        Ok(figment.extract()?)
    }

    /// A path from the config, relative to the data directory unless absolute.
    pub fn data_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.data_dir.join(path)
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's large error
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_sandbox() {
        // Config::default() reads no environment, so this needs no jail.
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.sandbox);
        assert_eq!(c.data_path(&c.store.sqlite_file), PathBuf::from("data/portti.db"));
    }

    #[test]
    fn a_file_then_the_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "portti.toml",
                r#"
                listen = "127.0.0.1:9000"
                [limits]
                body_bytes = 1000
                json_depth = 8
                request_timeout_ms = 100
                per_client_concurrency = 4
                page_size_max = 10
                [[organisations]]
                id = "varha"
                kind = "wellbeing_services_county"
                name_fi = "Varsinais-Suomen hyvinvointialue"
                name_sv = "Egentliga Finlands välfärdsområde"
                "#,
            )?;
            jail.set_env("PORTTI_LISTEN", "127.0.0.1:9100");
            jail.set_env("PORTTI_AUTH__ISSUER", "https://idp.example");
            let c = Config::load(Some(Path::new("portti.toml"))).expect("loads");
            assert_eq!(c.listen.port(), 9100);
            assert_eq!(c.auth.issuer, "https://idp.example");
            assert_eq!(c.limits.body_bytes, 1000);
            assert_eq!(c.organisations[0].id, "varha");
            Ok(())
        });
    }

    #[test]
    fn the_example_file_loads() {
        // Inside a jail too: the other tests set PORTTI_ variables, and jails take turns.
        figment::Jail::expect_with(|_| {
            let example = concat!(env!("CARGO_MANIFEST_DIR"), "/portti.example.toml");
            let c = Config::load(Some(Path::new(example))).expect("the shipped example is valid");
            assert_eq!(c.listen.port(), 8080);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("portti.toml", "listne = \"127.0.0.1:1\"")?;
            assert!(Config::load(Some(Path::new("portti.toml"))).is_err());
            Ok(())
        });
    }
}
