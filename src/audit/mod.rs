//! The audit trail: one append-only, hash-chained record per API call that touches personal
//! data. Persons appear only as a keyed hash of their identity code (see [`PersonHasher`]).

pub mod archive;
mod chain;
mod checkpoint;
pub mod disclosure;
pub mod export;
mod person;
mod status;

pub use chain::{seal, verify, Broken, ChainHead, Verification, GENESIS_HASH};
pub use checkpoint::{Checkpoint, CheckpointKey, CheckpointSigner};
pub use person::{PersonHasher, PersonKey};
pub use status::{audit_status, AuditKeys, AuditStatus, LastCheckpoint};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who did it: the API client, and the end user and role it acts for if it said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// What happened, as the code that did it describes it; sealed into an [`AuditRecord`] by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub time: DateTime<Utc>,
    pub actor: Actor,
    /// e.g. `case.create`, `case.read`, `case.list`, `audit.query`.
    pub action: String,
    /// Purpose of use or legal basis, if the caller gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// HMAC-SHA256 of the person's identity code, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub person: Option<PersonKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The national service involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_id: Option<Uuid>,
    /// `ok`, `denied`, `not_found`, …
    pub outcome: String,
    /// SHA-256 of the request body, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_digest: Option<String>,
    /// SHA-256 of the response body, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_digest: Option<String>,
    pub correlation_id: String,
}

/// A sealed record: the event, its place in the chain and the hashes that link it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// SHA-256 of a body, hex: what the audit trail keeps instead of the body itself.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Verifies the stored chain from the first record, in chunks. Returns the last good head and
/// the first break, if any.
pub async fn verify_stored(
    store: &crate::store::Store,
) -> Result<(ChainHead, Option<Broken>), crate::store::StoreError> {
    const CHUNK: u32 = 10_000;
    let mut verification = Verification::default();
    let mut after = 0;
    loop {
        let records = store.audit_chain(after, CHUNK).await?;
        for r in &records {
            verification.push(r);
        }
        match records.last() {
            Some(last) if records.len() == CHUNK as usize => after = last.seq,
            _ => break,
        }
    }
    let head = verification.head().clone();
    Ok((head, verification.finish().err()))
}
