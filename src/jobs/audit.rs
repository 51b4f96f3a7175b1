//! The audit trail's scheduled work: signing the chain's head (with an RFC 3161 timestamp when
//! a TSA is configured) and clearing old exchange payloads.

use super::JobResult;
use crate::audit::CheckpointSigner;
use crate::store::audit::PayloadPrune;
use crate::store::{Store, Write};
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use serde_json::json;

/// What the audit jobs need besides the store.
#[derive(Clone)]
pub struct AuditJobs {
    pub signer: CheckpointSigner,
    pub tsa: Option<portti_timestamp::TsaClient>,
    pub payload_retention_days: u32,
}

/// Signs the current head unless the last checkpoint already covers it (and is timestamped,
/// when a TSA is configured). A TSA that fails does not stop the checkpoint: it is stored
/// signed, without a token, the run fails naming the TSA's error, and the next run signs the
/// same head again and asks again.
pub async fn checkpoint(store: &Store, jobs: &AuditJobs) -> JobResult {
    let fail = |e: String| Err((json!({ "checkpoints": 0 }), e));
    let head = match store.audit_head().await {
        Ok(h) => h,
        Err(e) => return fail(e.to_string()),
    };
    if head.seq == 0 {
        return Ok(json!({ "checkpoints": 0, "reason": "the chain is empty" }));
    }
    let last = match store.last_checkpoint().await {
        Ok(l) => l,
        Err(e) => return fail(e.to_string()),
    };
    if let Some(last) = &last {
        let stamped_enough = last.timestamp_token.is_some() || jobs.tsa.is_none();
        if last.seq == head.seq && last.hash == head.hash && stamped_enough {
            return Ok(json!({ "checkpoints": 0, "seq": head.seq, "reason": "unchanged" }));
        }
    }
    let mut checkpoint = match jobs.signer.sign(&head, Utc::now()) {
        Ok(c) => c,
        Err(e) => return fail(format!("signing the checkpoint: {e}")),
    };
    let mut tsa_error = None;
    if let Some(tsa) = &jobs.tsa {
        match tsa.stamp(&checkpoint.signed_bytes()).await {
            Ok(token) => {
                checkpoint.timestamp_token = Some(STANDARD.encode(&token.der));
                checkpoint.timestamped_at = Some(token.gen_time);
            }
            Err(e) => tsa_error = Some(e.to_string()),
        }
    }
    let timestamped = checkpoint.timestamp_token.is_some();
    if let Err(e) = store
        .commit(Write {
            audit_checkpoint: Some(checkpoint),
            ..Write::default()
        })
        .await
    {
        return fail(e.to_string());
    }
    let counts = json!({ "checkpoints": 1, "seq": head.seq, "timestamped": timestamped });
    match tsa_error {
        None => Ok(counts),
        Some(e) => Err((counts, format!("the checkpoint is stored without a timestamp: {e}"))),
    }
}

/// Clears the payloads of exchanges that ended more than the retention period ago.
pub async fn prune_payloads(store: &Store, jobs: &AuditJobs) -> JobResult {
    let before = Utc::now() - chrono::Duration::days(i64::from(jobs.payload_retention_days));
    let mut pruned = 0usize;
    loop {
        let ids = match store.exchanges_with_payload_before(before, 1_000).await {
            Ok(ids) => ids,
            Err(e) => return Err((json!({ "pruned": pruned }), e.to_string())),
        };
        if ids.is_empty() {
            return Ok(json!({ "pruned": pruned }));
        }
        pruned += ids.len();
        let write = Write {
            payload_prune: Some(PayloadPrune {
                exchanges: ids,
                at: Utc::now(),
            }),
            ..Write::default()
        };
        if let Err(e) = store.commit(write).await {
            return Err((json!({ "pruned": pruned }), e.to_string()));
        }
    }
}
