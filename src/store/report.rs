//! What the service-guidance reports read: the few facts of each case and transfer in a
//! period, never the client's or contact person's data.

use crate::case::{Channel, Language, Outcome};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Cases received in `[from, to)` whose organiser or handling organisation is one of
/// `organisations`, and transfers made in `[from, to)` from or to one of them.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub organisations: Vec<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One contact as the reports see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactFacts {
    pub id: Uuid,
    pub organiser: String,
    /// The organisation handling the case now.
    pub owner: String,
    pub channel: Channel,
    pub language: Language,
    pub received_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
}

/// One hand-over of a case between organisations.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferFacts {
    pub case_id: Uuid,
    pub from_org: String,
    pub to_org: String,
    pub at: DateTime<Utc>,
}
