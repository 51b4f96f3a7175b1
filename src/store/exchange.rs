//! The outbox's records: exchanges with national services, their attempts and the events the
//! services report about them later; and the scheduled jobs' runs and state.

use crate::audit::PersonKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeStatus {
    /// Stored, waiting for its first attempt.
    Accepted,
    /// A worker holds its lease and is calling the service.
    InFlight,
    /// The last attempt failed in a way worth retrying; due again at `due_at`.
    RetryScheduled,
    Succeeded,
    /// Given up: a permanent failure, or out of attempts or time. `last_error` says why.
    Dead,
}

impl ExchangeStatus {
    pub const ALL: [ExchangeStatus; 5] = [
        ExchangeStatus::Accepted,
        ExchangeStatus::InFlight,
        ExchangeStatus::RetryScheduled,
        ExchangeStatus::Succeeded,
        ExchangeStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeStatus::Accepted => "accepted",
            ExchangeStatus::InFlight => "in_flight",
            ExchangeStatus::RetryScheduled => "retry_scheduled",
            ExchangeStatus::Succeeded => "succeeded",
            ExchangeStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub id: Uuid,
    pub service: String,
    /// The organisation on whose behalf the exchange is made.
    pub organisation: String,
    pub operation: String,
    /// The operation's canonical payload; may hold personal data and is never logged.
    pub payload: serde_json::Value,
    pub person: Option<PersonKey>,
    pub case_id: Option<Uuid>,
    pub status: ExchangeStatus,
    pub attempts: u32,
    /// Attempts made before the current retry budget began (0, or the count at a manual retry).
    pub budget_attempt: u32,
    /// When the current retry budget began.
    pub budget_since: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub upstream_id: Option<String>,
    pub last_error: Option<String>,
    pub recorded_by: String,
    pub correlation_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    /// `succeeded`, `transient`, `rate_limited`, `reauthenticate`, `permanent`, `timeout`.
    pub outcome: String,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExchangeEvent {
    /// Portti's name for it, e.g. `read`.
    pub kind: String,
    /// The service's own name for it.
    #[serde(rename = "type")]
    pub kind_upstream: String,
    pub time: DateTime<Utc>,
}

/// An exchange with its history, for `GET /v1/exchanges/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeDetail {
    pub exchange: Exchange,
    pub attempts: Vec<Attempt>,
    pub events: Vec<ExchangeEvent>,
}

/// The new state of an exchange after an attempt or an operator's retry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeUpdate {
    pub id: Uuid,
    pub status: ExchangeStatus,
    pub attempts: u32,
    pub due_at: DateTime<Utc>,
    pub upstream_id: Option<String>,
    pub last_error: Option<String>,
    /// Starts a new retry budget (an operator's retry).
    pub new_budget: Option<(u32, DateTime<Utc>)>,
    /// Applied only if the exchange is still as the writer last saw it; otherwise left alone.
    pub expect: Expect,
}

/// What an update requires of the stored exchange, so that a worker whose lease ran out cannot
/// overwrite the outcome of the worker that took the exchange after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// In flight under the lease that ends at this instant.
    Leased(DateTime<Utc>),
    Status(ExchangeStatus),
}

/// Takes due exchanges for a worker until `lease_until`; exchanges whose lease ran out (a
/// crashed worker) are due again.
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
    /// (service, organisation) pairs not to lease now, e.g. while their circuit breaker is open.
    pub exclude: Vec<(String, String)>,
    /// The audit event for each exchange leased, written in the lease's own transaction.
    pub audit: Option<fn(&Exchange) -> crate::audit::AuditEvent>,
}

#[derive(Debug, Clone)]
pub struct ExchangeQuery {
    pub organisations: Vec<String>,
    pub status: Option<ExchangeStatus>,
    pub service: Option<String>,
    /// Only the exchanges made for this case.
    pub case_id: Option<Uuid>,
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// How much waits in the outbox, per service.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDepth {
    pub service: String,
    pub waiting: u64,
    pub oldest_due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobRun {
    pub id: Uuid,
    pub job: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `ok` or `failed`.
    pub outcome: String,
    #[schema(value_type = Object)]
    pub counts: serde_json::Value,
    pub error: Option<String>,
}

/// How a lease orders the due exchanges of its three branches (first attempts, retries, leases
/// run out): by turns, the first of each branch, then the second of each, and so on, each
/// branch in due order. A failing service's retries come due again and again, ahead of anything
/// newer; in one queue by due time they would keep other services' new work waiting behind them.
pub(super) const LEASE_TURNS: &str = "SELECT id, at, ROW_NUMBER() OVER (PARTITION BY branch ORDER BY at) AS turn";
