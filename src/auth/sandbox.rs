//! The sandbox's own token issuer: a P-256 key generated into the data directory on first
//! use, so that `portti token` and a running sandbox gateway agree without any setup.

use super::Scope;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::json;
use std::path::Path;

pub const PRIVATE_KEY_FILE: &str = "sandbox-token-signing.key.pem";
pub const PUBLIC_KEY_FILE: &str = "sandbox-token-signing.pub.pem";

pub struct SigningKey {
    pub private_pem: String,
    pub public_pem: String,
}

impl SigningKey {
    pub fn generate() -> anyhow::Result<Self> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        Ok(Self {
            private_pem: String::from_utf8(key.private_key_to_pem_pkcs8()?)?,
            public_pem: String::from_utf8(key.public_key_to_pem()?)?,
        })
    }

    /// Reads the key pair from `dir`, generating it (private key readable by the owner only) if absent.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let private = dir.join(PRIVATE_KEY_FILE);
        let public = dir.join(PUBLIC_KEY_FILE);
        if private.exists() && public.exists() {
            return Ok(Self {
                private_pem: std::fs::read_to_string(private)?,
                public_pem: std::fs::read_to_string(public)?,
            });
        }
        std::fs::create_dir_all(dir)?;
        let key = Self::generate()?;
        write_secret(&private, key.private_pem.as_bytes())?;
        std::fs::write(public, &key.public_pem)?;
        Ok(key)
    }
}

/// Writes a file only its owner can read.
pub fn write_secret(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    Ok(())
}

/// Signs a token for a client with the given scopes and organisations.
pub fn mint(
    key: &SigningKey,
    issuer: &str,
    audience: &str,
    client: &str,
    scopes: &[Scope],
    orgs: &[String],
    ttl_s: u64,
) -> anyhow::Result<String> {
    let now = jsonwebtoken::get_current_timestamp();
    let scope: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let claims = json!({
        "iss": issuer, "aud": audience, "sub": client, "client_id": client,
        "iat": now, "nbf": now, "exp": now + ttl_s,
        "scope": scope.join(" "), "orgs": orgs,
    });
    Ok(encode(
        &Header::new(Algorithm::ES256),
        &claims,
        &EncodingKey::from_ec_pem(key.private_pem.as_bytes())?,
    )?)
}
