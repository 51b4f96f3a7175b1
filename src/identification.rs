//! Suomi.fi Identification as the gateway runs it: this service provider's configuration, the
//! IdP's metadata (loaded from a file or URL, refreshed by a job, swapped atomically) and the
//! short-lived tokens given to the e-service platform after a login. The SAML messages
//! themselves are the adapter's (`portti-suomifi-identification`); the routes are in
//! `api::identification`.

use crate::auth::Scope;
use crate::store::LoginSession;
use chrono::{DateTime, Utc};
use portti_suomifi_identification::{IdpMetadata, Login, SpConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// `[identification]` in the config; absent in the sandbox, which runs the IdP simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentificationSettings {
    /// This service provider's entity id (registered with Suomi.fi).
    pub entity_id: String,
    /// The gateway's public address: ACS is `{public_url}/saml/acs`, SLO `{public_url}/saml/slo`.
    pub public_url: String,
    pub signing_key: PathBuf,
    pub signing_certificate: PathBuf,
    pub encryption_key: PathBuf,
    pub encryption_certificate: PathBuf,
    /// Accepted levels of assurance, e.g. `http://ftn.ficora.fi/2017/loa3`.
    #[serde(default = "default_loa")]
    pub required_loa: Vec<String>,
    #[serde(default = "default_skew")]
    pub clock_skew_s: u64,
    /// The IdP's metadata: a file path or an `https://` URL.
    pub idp_metadata: String,
    /// Certificates that must have signed fetched metadata (PEM files). Empty: only a local
    /// file is accepted, unsigned.
    #[serde(default)]
    pub metadata_signing_certificates: Vec<PathBuf>,
    /// Origins (`https://asiointi.example`) a login may return to; nothing else (no open redirect).
    pub allowed_return_origins: Vec<String>,
    /// The ES256 (P-256) private key the login tokens are signed with; its public key must be in
    /// `auth.public_keys` for the API to accept them. Absent in the sandbox: the sandbox key.
    #[serde(default)]
    pub token_signing_key: Option<PathBuf>,
    #[serde(default = "default_token_ttl")]
    pub token_ttl_s: u64,
    #[serde(default = "default_session_ttl")]
    pub session_ttl_s: u64,
    /// How long a login may take at the IdP.
    #[serde(default = "default_request_ttl")]
    pub request_ttl_s: u64,
    /// The deadline of one fetch of the IdP's metadata.
    #[serde(default = "default_metadata_timeout")]
    pub metadata_timeout_ms: u64,
}

fn default_loa() -> Vec<String> {
    vec![
        "http://ftn.ficora.fi/2017/loa3".into(),
        "http://eidas.europa.eu/LoA/substantial".into(),
        "http://eidas.europa.eu/LoA/high".into(),
    ]
}
fn default_skew() -> u64 {
    60
}
fn default_token_ttl() -> u64 {
    900
}
fn default_session_ttl() -> u64 {
    8 * 3600
}
fn default_request_ttl() -> u64 {
    600
}

fn default_metadata_timeout() -> u64 {
    10_000
}

/// Where the IdP metadata comes from.
#[derive(Debug, Clone)]
pub enum MetadataSource {
    File(PathBuf),
    Url(String),
}

/// The running service provider.
pub struct Identification {
    pub sp: SpConfig,
    pub settings: IdentificationSettings,
    source: MetadataSource,
    /// `None`: the source is trusted as is (a local file, the sandbox's simulator).
    metadata_trust: Option<Vec<String>>,
    idp: RwLock<Arc<IdpMetadata>>,
    token_key: jsonwebtoken::EncodingKey,
    issuer: String,
    audience: String,
    http: reqwest::Client,
}

impl Identification {
    /// Reads the keys, loads the IdP metadata once (a gateway that cannot check logins does not start).
    pub async fn new(
        settings: IdentificationSettings,
        source: MetadataSource,
        metadata_trust: Option<Vec<String>>,
        token_key_pem: &[u8],
        issuer: &str,
        audience: &str,
    ) -> anyhow::Result<Self> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("identification: {}: {e}", p.display()))
        };
        let base = settings.public_url.trim_end_matches('/').to_string();
        let sp = SpConfig {
            entity_id: settings.entity_id.clone(),
            acs_url: format!("{base}/saml/acs"),
            slo_url: format!("{base}/saml/slo"),
            signing_key_pem: read(&settings.signing_key)?,
            signing_cert_pem: read(&settings.signing_certificate)?,
            encryption_key_pem: read(&settings.encryption_key)?,
            encryption_cert_pem: read(&settings.encryption_certificate)?,
            required_loa: settings.required_loa.clone(),
            clock_skew: Duration::from_secs(settings.clock_skew_s),
            sign_metadata: true,
        };
        sp.check()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.metadata_timeout_ms))
            .build()?;
        let idp = load_metadata(&http, &source, metadata_trust.as_deref()).await?;
        Ok(Identification {
            sp,
            settings,
            source,
            metadata_trust,
            idp: RwLock::new(Arc::new(idp)),
            token_key: jsonwebtoken::EncodingKey::from_ec_pem(token_key_pem)?,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            http,
        })
    }

    /// The IdP metadata in force.
    pub fn idp(&self) -> Arc<IdpMetadata> {
        self.idp.read().expect("metadata lock").clone()
    }

    /// Loads the metadata again; the old stays in force if the new cannot be read, is not signed
    /// by a trusted key or has expired.
    pub async fn refresh_metadata(&self) -> anyhow::Result<usize> {
        let idp = load_metadata(&self.http, &self.source, self.metadata_trust.as_deref()).await?;
        let keys = idp.signing_certificates.len();
        *self.idp.write().expect("metadata lock") = Arc::new(idp);
        Ok(keys)
    }

    /// Whether `return_to` is on an allowed origin (scheme, host and port exactly).
    pub fn return_allowed(&self, return_to: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(return_to) else {
            return false;
        };
        let origin = url.origin().ascii_serialization();
        url.username().is_empty()
            && url.password().is_none()
            && self
                .settings
                .allowed_return_origins
                .iter()
                .any(|o| o.trim_end_matches('/') == origin)
    }

    /// The token the e-service platform gets: who logged in (identity code when there is one),
    /// the login session it belongs to and the one scope it grants.
    pub fn mint_token(&self, session: &LoginSession, login: &Login, now: DateTime<Utc>) -> anyhow::Result<String> {
        let iat = now.timestamp().max(0) as u64;
        let expires = iat + self.settings.token_ttl_s;
        let claims = serde_json::json!({
            "iss": self.issuer, "aud": self.audience, "sub": format!("login:{}", session.id),
            "client_id": "suomifi-login", "iat": iat, "nbf": iat, "exp": expires,
            "scope": Scope::MandatesCheck.as_str(), "orgs": Vec::<String>::new(),
            "sid": session.id, "loa": login.loa,
            "identity_code": login.identity_code, "given_name": login.given_name, "family_name": login.family_name,
            "home_municipality": login.home_municipality,
            "foreign_person": login.eidas.is_some() && login.identity_code.is_none(),
        });
        Ok(jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &self.token_key,
        )?)
    }
}

async fn load_metadata(
    http: &reqwest::Client,
    source: &MetadataSource,
    trust: Option<&[String]>,
) -> anyhow::Result<IdpMetadata> {
    let bytes = match source {
        MetadataSource::File(path) => {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("IdP metadata {}: {e}", path.display()))?
        }
        MetadataSource::Url(url) => {
            // The cause, not reqwest's "error sending request for url (…)".
            let fetch = |e: reqwest::Error| {
                anyhow::anyhow!(
                    "IdP metadata could not be fetched: {}",
                    portti_adapter_core::describe_transport_error(&e)
                )
            };
            let response = http.get(url).send().await.map_err(fetch)?;
            let status = response.status();
            if !status.is_success() {
                anyhow::bail!("IdP metadata could not be fetched: HTTP {}", status.as_u16());
            }
            response.bytes().await.map_err(fetch)?.to_vec()
        }
    };
    let idp = IdpMetadata::parse(&bytes, trust)?;
    idp.check_valid_at(Utc::now())?;
    Ok(idp)
}
