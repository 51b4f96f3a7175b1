//! Archive files: a closed segment of the chain (every record up to a signed checkpoint) written
//! out as JSON lines, with the previous segment's last hash, so that segments verify on their
//! own and in sequence after their rows have left the database.

use super::{AuditKeys, AuditRecord, ChainHead, Checkpoint, Verification, GENESIS_HASH};
use crate::store::audit::ArchiveEntry;
use crate::store::{Store, Write};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "portti-audit-archive/1";

/// The first line of an archive file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHeader {
    pub format: String,
    pub first_seq: i64,
    pub last_seq: i64,
    /// The hash of record `first_seq - 1` ([`GENESIS_HASH`] for the first segment).
    pub prev_hash: String,
    pub last_hash: String,
    /// The signed checkpoint of record `last_seq` that closes the segment.
    pub checkpoint: Checkpoint,
}

/// `audit-<first>-<last>.jsonl`, zero-padded so that name order is chain order.
pub fn file_name(first_seq: i64, last_seq: i64) -> String {
    format!("audit-{first_seq:012}-{last_seq:012}.jsonl")
}

/// Writes the records before `before` that a checkpoint closes into one new file in `dir`,
/// records it and removes its rows. None when no such segment exists yet.
pub async fn archive_before(
    store: &Store,
    keys: &AuditKeys,
    dir: &Path,
    before: DateTime<Utc>,
) -> anyhow::Result<Option<ArchiveEntry>> {
    let archives = store.audit_archives().await?;
    let start = archives
        .last()
        .map(|a| ChainHead {
            seq: a.last_seq,
            hash: a.last_hash.clone(),
        })
        .unwrap_or_default();
    let bound = store.audit_first_seq_from(before).await?.unwrap_or(i64::MAX);
    let Some(checkpoint) = store.checkpoint_below(start.seq, bound).await? else {
        return Ok(None);
    };
    keys.check(&checkpoint)
        .map_err(|e| anyhow::anyhow!("the closing checkpoint does not verify: {e}"))?;

    std::fs::create_dir_all(dir)?;
    let name = file_name(start.seq + 1, checkpoint.seq);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut sha = Sha256::new();
    let mut line = |bytes: Vec<u8>, out: &mut std::io::BufWriter<std::fs::File>| -> std::io::Result<()> {
        sha.update(&bytes);
        sha.update(b"\n");
        out.write_all(&bytes)?;
        out.write_all(b"\n")
    };
    let header = SegmentHeader {
        format: FORMAT.into(),
        first_seq: start.seq + 1,
        last_seq: checkpoint.seq,
        prev_hash: start.hash.clone(),
        last_hash: checkpoint.hash.clone(),
        checkpoint: checkpoint.clone(),
    };
    line(serde_json::to_vec(&header)?, &mut out)?;
    let mut verification = Verification::starting_at(start.clone());
    let mut after = start.seq;
    while after < checkpoint.seq {
        let records = store.audit_chain(after, 5_000).await?;
        let Some(last) = records.last() else { break };
        after = last.seq;
        for r in records.iter().filter(|r| r.seq <= checkpoint.seq) {
            verification.push(r);
            line(serde_json::to_vec(r)?, &mut out)?;
        }
    }
    let head = verification.finish().map_err(|b| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!(
            "the chain is broken at record {}: {}; nothing archived",
            b.seq,
            b.reason
        )
    })?;
    if head.seq != checkpoint.seq || head.hash != checkpoint.hash {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!(
            "the chain does not reach its checkpoint of record {}; nothing archived",
            checkpoint.seq
        );
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(&name))?;
    std::fs::File::open(dir)?.sync_all()?;
    let entry = ArchiveEntry {
        first_seq: header.first_seq,
        last_seq: header.last_seq,
        prev_hash: header.prev_hash,
        last_hash: header.last_hash,
        file: name,
        sha256: hex::encode(sha.finalize()),
        created_at: Utc::now(),
    };
    store
        .commit(Write {
            audit_archive: Some(entry.clone()),
            ..Write::default()
        })
        .await?;
    Ok(Some(entry))
}

/// What verifying an archive directory found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveReport {
    pub segments: Vec<ArchiveEntry>,
    pub records: i64,
    /// The last archived record (seq 0 and GENESIS when there is none).
    pub head: (i64, String),
    pub problems: Vec<String>,
}

/// Verifies every `audit-*.jsonl` in `dir` on its own and in sequence: the header, each
/// record's hash and link, the last hash, the closing checkpoint's signature and timestamp.
/// With `recorded` (the database's archive table), each recorded segment must be there unchanged.
pub fn verify_dir(
    dir: &Path,
    keys: &AuditKeys,
    recorded: Option<&[ArchiveEntry]>,
    progress: &dyn Fn(u64),
) -> anyhow::Result<ArchiveReport> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("archive directory {}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
        .collect();
    names.sort();
    let mut report = ArchiveReport {
        head: (0, GENESIS_HASH.to_string()),
        ..ArchiveReport::default()
    };
    for name in &names {
        match verify_segment(&dir.join(name), name, keys, &report.head, progress) {
            Ok(entry) => {
                report.records += entry.last_seq - entry.first_seq + 1;
                report.head = (entry.last_seq, entry.last_hash.clone());
                report.segments.push(entry);
            }
            Err(problem) => {
                report.problems.push(format!("{name}: {problem}"));
                break;
            }
        }
    }
    if let Some(recorded) = recorded {
        for r in recorded {
            match report.segments.iter().find(|s| s.file == r.file) {
                None if report.problems.is_empty() => report.problems.push(format!(
                    "{}: recorded as archived but missing from {}",
                    r.file,
                    dir.display()
                )),
                None => {}
                Some(s) if s.sha256 != r.sha256 => report
                    .problems
                    .push(format!("{}: differs from the file that was archived (SHA-256)", r.file)),
                Some(s) if (s.first_seq, s.last_seq, &s.last_hash) != (r.first_seq, r.last_seq, &r.last_hash) => report
                    .problems
                    .push(format!("{}: covers other records than were archived", r.file)),
                Some(_) => {}
            }
        }
    }
    Ok(report)
}

fn verify_segment(
    path: &PathBuf,
    name: &str,
    keys: &AuditKeys,
    prev: &(i64, String),
    progress: &dyn Fn(u64),
) -> Result<ArchiveEntry, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut sha = Sha256::new();
    let mut lines = std::io::BufReader::new(file).lines();
    let mut next_line = || -> Result<Option<String>, String> {
        match lines.next() {
            None => Ok(None),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok(l)) => {
                sha.update(l.as_bytes());
                sha.update(b"\n");
                Ok(Some(l))
            }
        }
    };
    let header: SegmentHeader = next_line()?
        .ok_or("the file is empty")
        .and_then(|l| serde_json::from_str(&l).map_err(|_| "the header is not a segment header"))?;
    if header.format != FORMAT {
        return Err(format!("unknown format {:?}", header.format));
    }
    if name != file_name(header.first_seq, header.last_seq) {
        return Err(format!(
            "the file name does not match its records {}–{} (renamed or out of order)",
            header.first_seq, header.last_seq
        ));
    }
    if header.first_seq != prev.0 + 1 {
        return Err(format!(
            "starts at record {}, but the previous segment ends at {} (a segment is missing or out of order)",
            header.first_seq, prev.0
        ));
    }
    if header.prev_hash != prev.1 {
        return Err("its linking hash is not the previous segment's last hash".into());
    }
    let checkpoint = &header.checkpoint;
    if checkpoint.seq != header.last_seq || checkpoint.hash != header.last_hash {
        return Err("its checkpoint is not of its last record".into());
    }
    keys.check(checkpoint)?;
    let mut verification = Verification::starting_at(ChainHead {
        seq: prev.0,
        hash: header.prev_hash.clone(),
    });
    let mut count = 0u64;
    while let Some(line) = next_line()? {
        let record: AuditRecord =
            serde_json::from_str(&line).map_err(|_| format!("line {} is not an audit record", count + 2))?;
        verification.push(&record);
        count += 1;
        if count.is_multiple_of(10_000) {
            progress(10_000);
        }
    }
    progress(count % 10_000);
    let head = verification
        .finish()
        .map_err(|b| format!("record {}: {}", b.seq, b.reason))?;
    if head.seq != header.last_seq || head.hash != header.last_hash {
        return Err(format!(
            "the records end at {} but the header says {} (records are missing)",
            head.seq, header.last_seq
        ));
    }
    Ok(ArchiveEntry {
        first_seq: header.first_seq,
        last_seq: header.last_seq,
        prev_hash: header.prev_hash,
        last_hash: header.last_hash,
        file: name.to_string(),
        sha256: hex::encode(sha.finalize()),
        created_at: checkpoint.time,
    })
}
