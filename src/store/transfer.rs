//! Cases handed from one organisation's guidance to another's (`case_transfers`).

use crate::case::Case;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A transfer to record in a [`super::Write`]: the case's new document (its handler is the
/// receiver) replaces the stored one, and a history row keeps the document as sent.
#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub id: Uuid,
    /// The case after the transfer.
    pub case: Case,
    /// The case as the sender sent it.
    pub snapshot: Case,
    pub from_org: String,
    pub to_org: String,
    pub reason: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub by_client: String,
}

/// One row of a case's transfer history.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub id: Uuid,
    pub case_id: Uuid,
    /// 1 for the case's first transfer.
    pub seq: i64,
    pub from_org: String,
    pub to_org: String,
    pub reason: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub by_client: String,
    /// The case document as it was sent.
    pub snapshot: Case,
}
