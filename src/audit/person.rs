//! Keyed hashes of identity codes: auditors can search for a person without the trail
//! holding the code, and without the key nobody can test guesses against it.

use crate::case::IdentityCode;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonKey(String);

impl PersonKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a value read back from the store.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
}

impl std::fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PersonKey({})", &self.0)
    }
}

#[derive(Clone)]
pub struct PersonHasher {
    key: Vec<u8>,
}

impl PersonHasher {
    /// The key must be at least 32 bytes: it is all that stands between the trail and a
    /// dictionary of every possible identity code.
    pub fn new(key: Vec<u8>) -> anyhow::Result<Self> {
        anyhow::ensure!(key.len() >= 32, "the audit HMAC key must be at least 32 bytes");
        Ok(Self { key })
    }

    pub fn key_of(&self, id: &IdentityCode) -> PersonKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_str().as_bytes());
        PersonKey(hex::encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for PersonHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonHasher(<key>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_code_same_key_other_secret_other_key() {
        let a = PersonHasher::new(vec![1; 32]).unwrap();
        let b = PersonHasher::new(vec![2; 32]).unwrap();
        let id = IdentityCode::parse("131052-308T").unwrap();
        let lower = IdentityCode::parse("131052-308t").unwrap();
        assert_eq!(a.key_of(&id), a.key_of(&lower));
        assert_ne!(a.key_of(&id), b.key_of(&id));
        assert_eq!(a.key_of(&id).as_str().len(), 64);
        assert!(!a.key_of(&id).as_str().contains("131052"));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(PersonHasher::new(vec![0; 16]).is_err());
    }
}
