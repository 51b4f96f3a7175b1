//! Verifying everything the database holds of the trail: the chain (continuing from the last
//! archive's hash), every checkpoint (signature, the record it names, its timestamp), and the
//! archive bookkeeping. One status for the CLI, the API and the console.

use super::{Broken, ChainHead, Checkpoint, CheckpointKey, Verification};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// What checks checkpoints: the audit key's public half and the TSA certificate to trust.
#[derive(Clone)]
pub struct AuditKeys {
    pub key: CheckpointKey,
    pub tsa: Option<portti_timestamp::Trust>,
}

impl AuditKeys {
    /// The checkpoint's signature and, if it has one, its timestamp token.
    pub fn check(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        self.key.verify(checkpoint)?;
        let Some(token) = &checkpoint.timestamp_token else {
            return Ok(());
        };
        let Some(trust) = &self.tsa else {
            return Err(format!(
                "checkpoint of record {} has a timestamp, but no TSA certificate is configured to check it",
                checkpoint.seq
            ));
        };
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| format!("checkpoint of record {}: the timestamp is not Base64", checkpoint.seq))?;
        let gen_time = trust
            .verify_token(&der, &checkpoint.signed_bytes())
            .map_err(|e| format!("checkpoint of record {}: timestamp: {e}", checkpoint.seq))?;
        if checkpoint.timestamped_at != Some(gen_time) {
            return Err(format!(
                "checkpoint of record {}: the timestamp's time is not the one recorded",
                checkpoint.seq
            ));
        }
        Ok(())
    }
}

/// The newest checkpoint, as the console shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastCheckpoint {
    pub seq: i64,
    pub time: DateTime<Utc>,
    pub timestamped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamped_at: Option<DateTime<Utc>>,
}

/// The whole trail's state: what verified, and the problems found (the first one first).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditStatus {
    pub valid: bool,
    /// Records in the database verified before the first break.
    pub records: i64,
    /// The last verified record.
    pub head_seq: i64,
    pub head_hash: String,
    pub checkpoints: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<LastCheckpoint>,
    /// Segments written to archive files and removed from the database.
    pub archives: i64,
    /// The last archived record (0 when none).
    pub archived_to_seq: i64,
    /// The first break of the chain, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub first_broken: Option<Broken>,
    pub problems: Vec<String>,
}

const CHUNK: u32 = 10_000;
const MAX_PROBLEMS: usize = 50;

/// Verifies the database's part of the trail; `progress` gets the number of records just checked.
pub async fn audit_status(
    store: &Store,
    keys: &AuditKeys,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<AuditStatus, StoreError> {
    let mut problems = Vec::new();
    let archives = store.audit_archives().await?;
    let mut start = ChainHead::default();
    for a in &archives {
        if a.first_seq != start.seq + 1 || a.prev_hash != start.hash {
            problems.push(format!(
                "archive {} does not follow the archive before it (records {}–{})",
                a.file, a.first_seq, a.last_seq
            ));
        }
        start = ChainHead {
            seq: a.last_seq,
            hash: a.last_hash.clone(),
        };
    }

    // Checkpoints of archived records: their signature, and the archive's last hash if they close one.
    for c in store.audit_checkpoints(0, start.seq).await? {
        if let Err(e) = keys.check(&c) {
            push(&mut problems, e);
        }
        if let Some(a) = archives.iter().find(|a| a.last_seq == c.seq) {
            if a.last_hash != c.hash {
                push(
                    &mut problems,
                    format!("checkpoint of record {} does not match archive {}", c.seq, a.file),
                );
            }
        }
    }

    let mut verification = Verification::starting_at(start.clone());
    let mut after = start.seq;
    let mut first_stored: Option<i64> = None;
    loop {
        let records = store.audit_chain(after, CHUNK).await?;
        let Some(last) = records.last() else { break };
        first_stored.get_or_insert(records[0].seq);
        for r in &records {
            verification.push(r);
        }
        for c in store.audit_checkpoints(after, last.seq).await? {
            if let Err(e) = keys.check(&c) {
                push(&mut problems, e);
            }
            match records.iter().find(|r| r.seq == c.seq) {
                Some(r) if r.hash == c.hash => {}
                _ => push(
                    &mut problems,
                    format!("checkpoint of record {} does not match the chain's record", c.seq),
                ),
            }
        }
        progress(records.len() as u64);
        let full = records.len() == CHUNK as usize;
        after = last.seq;
        if !full {
            break;
        }
    }
    let head = verification.head().clone();
    let mut first_broken = verification.finish().err();
    if let (Some(first), Some(broken)) = (first_stored, first_broken.as_mut()) {
        if first > start.seq + 1 && broken.seq == start.seq + 1 {
            broken.reason = format!(
                "records {}–{} are gone and no archive records them",
                start.seq + 1,
                first - 1
            );
        }
    }
    if let Some(b) = &first_broken {
        problems.insert(0, format!("record {}: {}", b.seq, b.reason));
    }
    // A checkpoint past the end: records were cut off the chain's end.
    let beyond = store.audit_checkpoints(after.max(head.seq), i64::MAX).await?;
    if first_broken.is_none() {
        if let Some(c) = beyond.first() {
            push(
                &mut problems,
                format!(
                    "checkpoint of record {} but the chain ends at record {} (records were removed from its end)",
                    c.seq, head.seq
                ),
            );
        }
    }
    let last = store.last_checkpoint().await?;
    Ok(AuditStatus {
        valid: problems.is_empty(),
        records: head.seq - start.seq,
        head_seq: head.seq,
        head_hash: head.hash,
        checkpoints: store.checkpoint_count().await?,
        last_checkpoint: last.map(|c| LastCheckpoint {
            seq: c.seq,
            time: c.time,
            timestamped: c.timestamp_token.is_some(),
            timestamped_at: c.timestamped_at,
        }),
        archives: archives.len() as i64,
        archived_to_seq: start.seq,
        first_broken,
        problems,
    })
}

fn push(problems: &mut Vec<String>, problem: String) {
    if problems.len() < MAX_PROBLEMS {
        problems.push(problem);
    }
}
