//! The audit trail's archive bookkeeping: which segments of the chain were written out to files.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A segment of the chain written to an archive file; its rows may leave the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveEntry {
    pub first_seq: i64,
    pub last_seq: i64,
    /// The hash of the record before `first_seq` (the previous segment's last).
    pub prev_hash: String,
    pub last_hash: String,
    /// The file's name in the archive directory.
    pub file: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

/// Clears the payloads of these exchanges (ended ones only; others are left alone).
#[derive(Debug, Clone)]
pub struct PayloadPrune {
    pub exchanges: Vec<uuid::Uuid>,
    pub at: DateTime<Utc>,
}
