use std::time::Duration;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::error::SamlError;

/// Levels of assurance Suomi.fi knows.
pub mod loa {
    /// Finnish substantial (e.g. bank credentials).
    pub const LOA2: &str = "http://ftn.ficora.fi/2017/loa2";
    /// Finnish high (e.g. certificate card, mobile certificate).
    pub const LOA3: &str = "http://ftn.ficora.fi/2017/loa3";
    pub const EIDAS_SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";
    pub const EIDAS_HIGH: &str = "http://eidas.europa.eu/LoA/high";
    pub const ALL: &[&str] = &[LOA2, LOA3, EIDAS_SUBSTANTIAL, EIDAS_HIGH];

    /// 2 = substantial, 3 = high; `None` for a URI Suomi.fi does not use.
    pub fn rank(uri: &str) -> Option<u8> {
        match uri {
            LOA2 | EIDAS_SUBSTANTIAL => Some(2),
            LOA3 | EIDAS_HIGH => Some(3),
            _ => None,
        }
    }
}

/// The user interface language asked of Suomi.fi.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    Fi,
    Sv,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Fi => "fi",
            Locale::Sv => "sv",
            Locale::En => "en",
        }
    }

    /// `fi`, `sv` or `en` (case-insensitive; a region like `sv-FI` is accepted).
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "fi" => Some(Locale::Fi),
            "sv" => Some(Locale::Sv),
            "en" => Some(Locale::En),
            _ => None,
        }
    }
}

/// This service provider. PEM strings are the key and certificate files' contents (the gateway
/// reads them from paths or the environment; they are never committed).
#[derive(Clone)]
pub struct SpConfig {
    pub entity_id: String,
    /// AssertionConsumerService, HTTP-POST binding.
    pub acs_url: String,
    /// SingleLogoutService, HTTP-Redirect binding (requests and responses).
    pub slo_url: String,
    pub signing_key_pem: String,
    pub signing_cert_pem: String,
    pub encryption_key_pem: String,
    pub encryption_cert_pem: String,
    /// The accepted levels of assurance ([`loa`]); all are requested in every AuthnRequest
    /// and a Response must carry one of them.
    pub required_loa: Vec<String>,
    /// Allowed clock difference with the IdP for NotBefore / NotOnOrAfter checks.
    pub clock_skew: Duration,
    /// Sign the SP metadata with the signing key.
    pub sign_metadata: bool,
}

impl std::fmt::Debug for SpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpConfig")
            .field("entity_id", &self.entity_id)
            .field("acs_url", &self.acs_url)
            .field("slo_url", &self.slo_url)
            .field("signing_key_pem", &"<redacted>")
            .field("encryption_key_pem", &"<redacted>")
            .field("required_loa", &self.required_loa)
            .field("clock_skew", &self.clock_skew)
            .field("sign_metadata", &self.sign_metadata)
            .finish()
    }
}

/// Largest clock skew accepted in the configuration.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(600);

impl SpConfig {
    /// Checks the configuration once at start-up: URLs present, keys and certificates readable
    /// and matching, LoAs known, skew sane.
    pub fn check(&self) -> Result<(), SamlError> {
        for (what, v) in [
            ("entity_id", &self.entity_id),
            ("acs_url", &self.acs_url),
            ("slo_url", &self.slo_url),
        ] {
            if v.trim().is_empty() {
                return Err(SamlError::Config(format!("{what} is empty")));
            }
        }
        let (key, cert) = (self.signing_key()?, cert_from_pem(&self.signing_cert_pem)?);
        if !cert.public_key().map(|p| p.public_eq(&key)).unwrap_or(false) {
            return Err(SamlError::Config(
                "the signing key does not match the signing certificate".into(),
            ));
        }
        let key = private_key(&self.encryption_key_pem)?;
        let cert = cert_from_pem(&self.encryption_cert_pem)?;
        if !cert.public_key().map(|p| p.public_eq(&key)).unwrap_or(false) {
            return Err(SamlError::Config(
                "the encryption key does not match the encryption certificate".into(),
            ));
        }
        if self.required_loa.is_empty() {
            return Err(SamlError::Config("required_loa is empty".into()));
        }
        if let Some(unknown) = self.required_loa.iter().find(|l| loa::rank(l).is_none()) {
            return Err(SamlError::Config(format!("unknown level of assurance {unknown:?}")));
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(SamlError::Config("clock_skew is over 10 minutes".into()));
        }
        Ok(())
    }

    pub(crate) fn signing_key(&self) -> Result<PKey<Private>, SamlError> {
        private_key(&self.signing_key_pem)
    }

    pub(crate) fn skew(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.clock_skew.min(MAX_CLOCK_SKEW)).unwrap_or(chrono::Duration::zero())
    }
}

pub(crate) fn private_key(pem: &str) -> Result<PKey<Private>, SamlError> {
    PKey::private_key_from_pem(pem.as_bytes()).map_err(|_| SamlError::Config("unreadable private key PEM".into()))
}

pub(crate) fn cert_from_pem(pem: &str) -> Result<X509, SamlError> {
    X509::from_pem(pem.as_bytes()).map_err(|_| SamlError::Config("unreadable certificate PEM".into()))
}

/// The certificate's DER as Base64 (for KeyInfo / metadata).
pub(crate) fn cert_base64(pem: &str) -> Result<String, SamlError> {
    use base64::Engine;
    let der = cert_from_pem(pem)?
        .to_der()
        .map_err(|_| SamlError::Config("certificate cannot be encoded".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}
