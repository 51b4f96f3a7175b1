//! Signed checkpoints: the chain's head (sequence, hash, time) signed with the gateway's audit
//! key, so that cutting records off the end of the chain, or rewriting it whole, shows.

use super::ChainHead;
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, SecondsFormat, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use utoipa::ToSchema;

/// A signed statement that the chain's record `seq` had hash `hash` at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub time: DateTime<Utc>,
    /// SHA-256 of the signing key's SubjectPublicKeyInfo (DER), hex.
    pub key_id: String,
    /// `ecdsa-p256-sha256` or `rsa-pkcs1-sha256`.
    pub algorithm: String,
    /// Over [`Checkpoint::signed_bytes`], Base64 (ECDSA: DER-encoded).
    pub signature: String,
    /// An RFC 3161 timestamp token (DER, Base64) over the signed bytes, if a TSA gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_token: Option<String>,
    /// The token's generation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamped_at: Option<DateTime<Utc>>,
}

impl Checkpoint {
    /// The bytes signed and timestamped. Changing this changes every checkpoint ever written.
    pub fn signed_bytes(&self) -> Vec<u8> {
        signed_bytes(self.seq, &self.hash, &self.time)
    }
}

fn signed_bytes(seq: i64, hash: &str, time: &DateTime<Utc>) -> Vec<u8> {
    format!(
        "portti-audit-checkpoint v1\n{seq}\n{hash}\n{}\n",
        time.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
    .into_bytes()
}

fn key_id(public_der: &[u8]) -> String {
    hex::encode(Sha256::digest(public_der))
}

fn algorithm(id: Id) -> anyhow::Result<&'static str> {
    match id {
        Id::EC => Ok("ecdsa-p256-sha256"),
        Id::RSA => Ok("rsa-pkcs1-sha256"),
        other => anyhow::bail!("audit checkpoint keys are ECDSA P-256 or RSA, not {other:?}"),
    }
}

/// The gateway's audit key: signs checkpoints.
#[derive(Clone)]
pub struct CheckpointSigner {
    key: PKey<Private>,
    key_id: String,
    algorithm: &'static str,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl CheckpointSigner {
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let key = PKey::private_key_from_pem(pem)?;
        if let Ok(ec) = key.ec_key() {
            anyhow::ensure!(
                ec.group().curve_name() == Some(openssl::nid::Nid::X9_62_PRIME256V1),
                "audit checkpoint EC keys must be on P-256"
            );
        }
        let algorithm = algorithm(key.id())?;
        let key_id = key_id(&key.public_key_to_der()?);
        Ok(Self { key, key_id, algorithm })
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("audit checkpoint key {}: {e}", path.display()))?;
        Self::from_pem(&pem)
    }

    /// A new P-256 key as PKCS#8 PEM (the sandbox's).
    pub fn generate_pem() -> anyhow::Result<Vec<u8>> {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(openssl::ec::EcKey::generate(&group)?)?;
        Ok(key.private_key_to_pem_pkcs8()?)
    }

    /// Whoever verifies needs only this.
    pub fn public_key(&self) -> anyhow::Result<CheckpointKey> {
        CheckpointKey::from_pem(&self.key.public_key_to_pem()?)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn sign(&self, head: &ChainHead, time: DateTime<Utc>) -> anyhow::Result<Checkpoint> {
        let time = super::chain::truncate_to_micros(time);
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(&signed_bytes(head.seq, &head.hash, &time))?;
        Ok(Checkpoint {
            seq: head.seq,
            hash: head.hash.clone(),
            time,
            key_id: self.key_id.clone(),
            algorithm: self.algorithm.to_string(),
            signature: STANDARD.encode(signer.sign_to_vec()?),
            timestamp_token: None,
            timestamped_at: None,
        })
    }
}

/// The public half of the audit key (a PEM public key or certificate): verifies checkpoints.
#[derive(Clone)]
pub struct CheckpointKey {
    key: PKey<Public>,
    key_id: String,
}

impl CheckpointKey {
    /// A `PUBLIC KEY` or a `CERTIFICATE` PEM.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let key = match openssl::x509::X509::from_pem(pem) {
            Ok(cert) => cert.public_key()?,
            Err(_) => PKey::public_key_from_pem(pem)?,
        };
        algorithm(key.id())?;
        let key_id = key_id(&key.public_key_to_der()?);
        Ok(Self { key, key_id })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether this key signed the checkpoint as it stands.
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        if checkpoint.key_id != self.key_id {
            return Err(format!(
                "checkpoint of record {} names key {}, not the configured audit key {}",
                checkpoint.seq, checkpoint.key_id, self.key_id
            ));
        }
        let expected = algorithm(self.key.id()).map_err(|e| e.to_string())?;
        if checkpoint.algorithm != expected {
            return Err(format!(
                "checkpoint of record {} says algorithm {:?}, the key is {expected}",
                checkpoint.seq, checkpoint.algorithm
            ));
        }
        let signature = STANDARD
            .decode(&checkpoint.signature)
            .map_err(|_| format!("checkpoint of record {}: the signature is not Base64", checkpoint.seq))?;
        let good = Verifier::new(MessageDigest::sha256(), &self.key)
            .and_then(|mut v| {
                v.update(&checkpoint.signed_bytes())?;
                v.verify(&signature)
            })
            .unwrap_or(false);
        if good {
            Ok(())
        } else {
            Err(format!(
                "checkpoint of record {}: the signature does not match (the checkpoint was altered or signed by another key)",
                checkpoint.seq
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> ChainHead {
        ChainHead {
            seq: 42,
            hash: "ab".repeat(32),
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key_only() {
        let signer = CheckpointSigner::from_pem(&CheckpointSigner::generate_pem().unwrap()).unwrap();
        let checkpoint = signer.sign(&head(), Utc::now()).unwrap();
        assert_eq!(checkpoint.algorithm, "ecdsa-p256-sha256");
        signer.public_key().unwrap().verify(&checkpoint).unwrap();

        let other = CheckpointSigner::from_pem(&CheckpointSigner::generate_pem().unwrap()).unwrap();
        let err = other.public_key().unwrap().verify(&checkpoint).unwrap_err();
        assert!(err.contains("not the configured audit key"), "{err}");
        // Another key claiming the right key id still fails on the signature.
        let mut forged = other.sign(&head(), checkpoint.time).unwrap();
        forged.key_id = checkpoint.key_id.clone();
        let err = signer.public_key().unwrap().verify(&forged).unwrap_err();
        assert!(err.contains("signature does not match"), "{err}");
    }

    #[test]
    fn an_edited_checkpoint_fails() {
        let signer = CheckpointSigner::from_pem(&CheckpointSigner::generate_pem().unwrap()).unwrap();
        let key = signer.public_key().unwrap();
        let checkpoint = signer.sign(&head(), Utc::now()).unwrap();
        let mut edited = checkpoint.clone();
        edited.seq = 41;
        assert!(key.verify(&edited).is_err());
        let mut edited = checkpoint.clone();
        edited.hash = "cd".repeat(32);
        assert!(key.verify(&edited).is_err());
        let mut edited = checkpoint;
        edited.time += chrono::Duration::seconds(1);
        assert!(key.verify(&edited).is_err());
    }

    #[test]
    fn rsa_keys_sign_too() {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let pem = PKey::from_rsa(rsa).unwrap().private_key_to_pem_pkcs8().unwrap();
        let signer = CheckpointSigner::from_pem(&pem).unwrap();
        let checkpoint = signer.sign(&head(), Utc::now()).unwrap();
        assert_eq!(checkpoint.algorithm, "rsa-pkcs1-sha256");
        signer.public_key().unwrap().verify(&checkpoint).unwrap();
    }
}
