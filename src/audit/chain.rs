//! The hash chain: each record's hash covers the previous hash and the record's canonical
//! bytes, so an edited, deleted, inserted or reordered record breaks every hash after it.

use super::{AuditEvent, AuditRecord};
use chrono::SecondsFormat;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The last sealed record's sequence number and hash; the next record links to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl Default for ChainHead {
    fn default() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

/// The bytes that are hashed: a fixed field order, UTC time with microseconds, absent
/// values as null. Changing this is changing the format of every chain ever written.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    seq: i64,
    time: String,
    client_id: &'a str,
    end_user: Option<&'a str>,
    role: Option<&'a str>,
    action: &'a str,
    purpose: Option<&'a str>,
    person: Option<&'a str>,
    organisation: Option<&'a str>,
    service: Option<&'a str>,
    exchange_id: Option<String>,
    outcome: &'a str,
    request_digest: Option<&'a str>,
    response_digest: Option<&'a str>,
    correlation_id: &'a str,
}

fn canonical_bytes(seq: i64, e: &AuditEvent) -> Vec<u8> {
    serde_json::to_vec(&Canonical {
        v: 1,
        seq,
        time: e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        client_id: &e.actor.client_id,
        end_user: e.actor.end_user.as_deref(),
        role: e.actor.role.as_deref(),
        action: &e.action,
        purpose: e.purpose.as_deref(),
        person: e.person.as_ref().map(|p| p.as_str()),
        organisation: e.organisation.as_deref(),
        service: e.service.as_deref(),
        exchange_id: e.exchange_id.map(|id| id.to_string()),
        outcome: &e.outcome,
        request_digest: e.request_digest.as_deref(),
        response_digest: e.response_digest.as_deref(),
        correlation_id: &e.correlation_id,
    })
    .expect("serialising plain strings cannot fail")
}

fn hash(prev_hash: &str, seq: i64, event: &AuditEvent) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical_bytes(seq, event));
    hex::encode(h.finalize())
}

/// Seals an event as the record after `head`, and moves `head` to it. Time is truncated to
/// microseconds first so that what the store gives back hashes the same.
pub fn seal(head: &mut ChainHead, mut event: AuditEvent) -> AuditRecord {
    event.time = truncate_to_micros(event.time);
    let seq = head.seq + 1;
    let hash = hash(&head.hash, seq, &event);
    let record = AuditRecord {
        seq,
        event,
        prev_hash: std::mem::replace(&mut head.hash, hash.clone()),
        hash,
    };
    head.seq = seq;
    record
}

pub(super) fn truncate_to_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// The first record that does not fit the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// The sequence number the verifier expected at this point.
    pub seq: i64,
    pub reason: String,
}

/// Walks records in sequence order, one at a time so that a chain of any length fits in memory.
#[derive(Debug, Default)]
pub struct Verification {
    head: ChainHead,
    broken: Option<Broken>,
}

impl Verification {
    /// Continues a chain whose earlier records are elsewhere (an archive): the next record
    /// must follow `head`.
    pub fn starting_at(head: ChainHead) -> Self {
        Self { head, broken: None }
    }

    /// Feeds the next record; after the first break, further records are ignored.
    pub fn push(&mut self, record: &AuditRecord) {
        if self.broken.is_some() {
            return;
        }
        let expected = self.head.seq + 1;
        let problem = if record.seq != expected {
            Some(format!(
                "expected sequence number {expected}, found {} (a record is missing or out of order)",
                record.seq
            ))
        } else if record.prev_hash != self.head.hash {
            Some("prev_hash does not match the previous record's hash".to_string())
        } else if hash(&record.prev_hash, record.seq, &record.event) != record.hash {
            Some("hash does not match the record's contents (the record was altered)".to_string())
        } else {
            None
        };
        match problem {
            Some(reason) => self.broken = Some(Broken { seq: expected, reason }),
            None => {
                self.head = ChainHead {
                    seq: record.seq,
                    hash: record.hash.clone(),
                }
            }
        }
    }

    /// The records verified so far and their last hash (worth writing down outside the
    /// system: the chain alone cannot show that records were cut off its end).
    pub fn head(&self) -> &ChainHead {
        &self.head
    }

    pub fn finish(self) -> Result<ChainHead, Broken> {
        match self.broken {
            Some(b) => Err(b),
            None => Ok(self.head),
        }
    }
}

/// Verifies a whole chain held in memory.
pub fn verify<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<ChainHead, Broken> {
    let mut v = Verification::default();
    for r in records {
        v.push(r);
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, PersonHasher};
    use crate::case::IdentityCode;

    fn event(n: usize) -> AuditEvent {
        let hasher = PersonHasher::new(vec![7; 32]).unwrap();
        AuditEvent {
            time: chrono::Utc::now(),
            actor: Actor {
                client_id: format!("client-{n}"),
                end_user: Some("tt-4711".into()),
                role: None,
            },
            action: "case.create".into(),
            purpose: None,
            person: Some(hasher.key_of(&IdentityCode::parse("131052-308T").unwrap())),
            organisation: Some("853".into()),
            service: None,
            exchange_id: None,
            outcome: "ok".into(),
            request_digest: Some(crate::audit::digest(b"{}")),
            response_digest: None,
            correlation_id: format!("req-{n}"),
        }
    }

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut head = ChainHead::default();
        (0..n).map(|i| seal(&mut head, event(i))).collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let records = chain(5);
        assert_eq!(records[0].prev_hash, GENESIS_HASH);
        let head = verify(&records).unwrap();
        assert_eq!(head.seq, 5);
        assert_eq!(head.hash, records[4].hash);
        assert_eq!(verify(&[]).unwrap(), ChainHead::default());
    }

    #[test]
    fn an_edited_record_is_found() {
        let mut records = chain(5);
        records[2].event.outcome = "denied".into();
        assert_eq!(verify(&records).unwrap_err().seq, 3);
        let mut records = chain(5);
        records[3].event.time += chrono::Duration::seconds(1);
        assert_eq!(verify(&records).unwrap_err().seq, 4);
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let mut records = chain(5);
        records[1].event.person = None;
        records[1].hash = hash(&records[1].prev_hash, 2, &records[1].event);
        let broken = verify(&records).unwrap_err();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("prev_hash"));
    }

    #[test]
    fn a_deleted_record_is_found() {
        let mut records = chain(5);
        records.remove(2);
        let broken = verify(&records).unwrap_err();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("missing"));
    }

    #[test]
    fn reordered_records_are_found() {
        let mut records = chain(5);
        records.swap(1, 2);
        assert_eq!(verify(&records).unwrap_err().seq, 2);
        // Renumbered to look contiguous: the links still give it away.
        let mut records = chain(5);
        records.swap(1, 2);
        records[1].seq = 2;
        records[2].seq = 3;
        assert_eq!(verify(&records).unwrap_err().seq, 2);
    }

    #[test]
    fn sealing_truncates_time_so_the_store_round_trip_verifies() {
        let records = chain(1);
        let json = serde_json::to_string(&records[0]).unwrap();
        let back: AuditRecord = serde_json::from_str(&json).unwrap();
        verify(&[back]).unwrap();
    }
}
