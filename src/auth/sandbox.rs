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

    /// Reads the key from `dir`, generating it on first use. Two processes starting at once
    /// (a first `portti token` beside a first gateway start) end up with the same key.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let private = dir.join(PRIVATE_KEY_FILE);
        if !private.exists() {
            create_secret_once(&private, Self::generate()?.private_pem.as_bytes())?;
        }
        let private_pem = std::fs::read_to_string(&private)?;
        let key = PKey::private_key_from_pem(private_pem.as_bytes())?;
        let public_pem = String::from_utf8(key.public_key_to_pem()?)?;
        // The public half is derived, so rewriting it is harmless; the verifier's config names it.
        let public = dir.join(PUBLIC_KEY_FILE);
        if std::fs::read_to_string(&public).ok().as_deref() != Some(public_pem.as_str()) {
            // Unique per call: threads of one process may write it at the same time.
            let tmp = dir.join(format!(
                ".{PUBLIC_KEY_FILE}.{}.{}",
                std::process::id(),
                uuid::Uuid::now_v7()
            ));
            std::fs::write(&tmp, &public_pem)?;
            std::fs::rename(&tmp, &public)?;
        }
        Ok(Self {
            private_pem,
            public_pem,
        })
    }
}

/// Creates a file only its owner can read, atomically and only if it does not exist yet: the
/// contents are written aside and then linked into place, so nobody ever reads half a key,
/// and if another process got there first its file wins.
pub fn create_secret_once(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("secret");
    let tmp = dir.join(format!(".{name}.{}.{}", std::process::id(), uuid::Uuid::now_v7()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_first_uses_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| SigningKey::load_or_create(dir.path()).unwrap().public_pem))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        let on_disk = std::fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(on_disk, keys[0]);
    }

    #[test]
    fn a_lost_public_key_is_derived_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKey::load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(PUBLIC_KEY_FILE)).unwrap();
        let again = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_pem, again.public_pem);
    }
}
