//! Persistence. Callers see [`Store`] and the plain types of this module; which database sits
//! behind it (SQLite by default, PostgreSQL for replicas) and every line of SQL stay inside
//! this module: `sql/` holds the SQL both share, `sqlite.rs` and `postgres.rs` the rest.

pub mod audit;
mod exchange;
mod group_commit;
mod login;
mod postgres;
mod report;
mod rows;
mod services;
mod sqlite;
pub mod testing;
mod transfer;

pub use exchange::{
    Attempt, Exchange, ExchangeDetail, ExchangeEvent, ExchangeQuery, ExchangeStatus, ExchangeUpdate, Expect, JobRun,
    LeaseRequest, QueueDepth,
};

pub use transfer::{NewTransfer, Transfer};

pub use report::{ContactFacts, ReportQuery, TransferFacts};
pub use services::{CatalogueChannel, CatalogueHashes, CatalogueService, CatalogueSync, ServiceQuery, StoredService};

pub use login::{LoginChange, LoginRefusal, LoginSession, OutstandingRequest};
pub use postgres::CHAIN_LOCK_WAITS;

use crate::audit::{AuditEvent, AuditRecord, PersonKey};
use crate::case::Case;
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The SQLite database file (when no `database_url` is given).
    pub sqlite_path: PathBuf,
    /// `postgres://…`: PostgreSQL instead of SQLite; several gateways may share it.
    pub database_url: Option<String>,
    /// Most writes committed in one transaction (one fsync).
    pub max_batch: usize,
    pub read_connections: u32,
    /// Writes that would grow the database past this fail (the API answers 503) instead of
    /// filling the disk that the WAL, the archive and the operating system also need.
    pub max_size_bytes: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("the paging cursor was not made by this store")]
    InvalidCursor,
    /// The database server could not be reached, or did not answer in time: nothing was written.
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
}

impl StoreError {
    /// Errors of the connection rather than of the write: retrying the same write on its own
    /// would only meet the same closed door.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Unreachable(_) => true,
            StoreError::Database(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            ),
            _ => false,
        }
    }
}

/// One atomic write: everything in it is committed together with its audit records, or nothing is.
#[derive(Debug, Default)]
pub struct Write {
    pub new_case: Option<NewCase>,
    pub new_exchange: Option<Exchange>,
    pub exchange_updates: Vec<ExchangeUpdate>,
    pub attempts: Vec<(Uuid, Attempt)>,
    pub exchange_events: Vec<(Uuid, ExchangeEvent)>,
    pub job_run: Option<JobRun>,
    /// (job, key, value) to set.
    pub job_state: Vec<(String, String, String)>,
    /// Takes, renews or gives back a job's lease; see [`Store::claim_job`].
    pub job_lease: Option<JobLease>,
    /// Leases due exchanges in the same transaction; they come back in the outcome.
    pub lease: Option<LeaseRequest>,
    pub idempotency: Option<IdempotencyClaim>,
    /// Replaces the stored document (and its indexed columns) of an existing case with this
    /// one, found by its id: a re-import with changed fields. Nothing happens if no case has the id.
    pub replaced_case: Option<NewCase>,
    /// Hands a case to another organisation and records the transfer in its history.
    pub case_transfer: Option<NewTransfer>,
    /// Suomi.fi Identification state changes.
    pub login: Vec<LoginChange>,
    /// One municipality's service catalogue sync (PTV).
    pub catalogue_sync: Option<CatalogueSync>,
    pub audit: Vec<AuditEvent>,
    /// A signed checkpoint of a record of the chain; refused unless the chain has that record.
    pub audit_checkpoint: Option<crate::audit::Checkpoint>,
    /// Records an archived segment and removes its rows from the database.
    pub audit_archive: Option<audit::ArchiveEntry>,
    /// Exchange payload retention.
    pub payload_prune: Option<audit::PayloadPrune>,
}

/// A claim on running a scheduled job. It is granted when the job has no lease, when its lease
/// ran out and was for an earlier slot, or when `holder` already holds it (a renewal, or a
/// release with `until` = now).
#[derive(Debug, Clone)]
pub struct JobLease {
    pub job: String,
    /// The replica asking.
    pub holder: String,
    /// The scheduled time the run is for (for a manual run, the time it was asked for): every
    /// replica wakes for the same slot, and only the first runs it.
    pub slot: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

#[derive(Debug)]
pub struct NewCase {
    pub case: Case,
    pub person: Option<PersonKey>,
}

/// Claims an Idempotency-Key for the response this write produces.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub client_id: String,
    pub key: String,
    pub request_hash: String,
    pub response: StoredResponse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub enum WriteOutcome {
    Committed {
        audit_seqs: Vec<i64>,
        /// The exchanges a lease in the write took.
        leased: Vec<Exchange>,
    },
    /// The key was used before with the same request: here is the first response.
    Replayed(StoredResponse),
    /// The key was used before with a different request; nothing was written.
    KeyReused,
    /// A login could not complete (replayed assertion, request already answered); nothing was written.
    Refused(LoginRefusal),
}

/// Keyset paging: results come in a stable order and `after` continues from a cursor.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CaseQuery {
    /// Cases whose organiser or handling organisation is one of these.
    pub organisations: Vec<String>,
    pub received_from: Option<DateTime<Utc>>,
    pub received_to: Option<DateTime<Utc>>,
    /// Only open cases (neither answered nor closed) whose `due_by` is at or before this time.
    pub overdue_at: Option<DateTime<Utc>>,
    pub after: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct AuditQuery {
    /// Only records of these organisations; `None` (operators' own tools only): every record.
    pub organisations: Option<Vec<String>>,
    pub person: Option<PersonKey>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only records of exchanges with this national service.
    pub service: Option<String>,
    pub after_seq: Option<i64>,
    pub limit: u32,
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Calls the same method on whichever backend the store has.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*).await,
            Backend::Postgres(b) => b.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens the store, running migrations first.
    pub async fn open(config: &StoreConfig) -> anyhow::Result<Self> {
        let backend = match &config.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Backend::Postgres(postgres::Postgres::open(url, config.max_batch, config.read_connections).await?)
            }
            Some(url) => anyhow::bail!(
                "database_url {:?}: only postgres:// URLs are supported (leave it out for SQLite)",
                url.split('@').next_back().unwrap_or_default()
            ),
            None => Backend::Sqlite(sqlite::Sqlite::open(config).await?),
        };
        Ok(Self { backend })
    }

    /// Which database this is, for logs and metrics: `sqlite` or `postgresql`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgresql",
        }
    }

    /// Commits a write through the group-commit writer: returns once it is durable.
    pub async fn commit(&self, write: Write) -> Result<WriteOutcome, StoreError> {
        dispatch!(self.commit(write))
    }

    /// Appends audit records that come with no other write (reads, queries, refusals).
    pub async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        self.commit(Write {
            audit: events,
            ..Write::default()
        })
        .await
        .map(|_| ())
    }

    pub async fn case(&self, id: Uuid) -> Result<Option<Case>, StoreError> {
        dispatch!(self.case(id))
    }

    /// A case's transfer history, oldest first.
    pub async fn case_transfers(&self, case_id: Uuid) -> Result<Vec<Transfer>, StoreError> {
        dispatch!(self.case_transfers(case_id))
    }

    pub async fn cases(&self, query: &CaseQuery) -> Result<Page<Case>, StoreError> {
        dispatch!(self.cases(query))
    }

    /// Calls `each` with every contact of the report's period and organisations, oldest
    /// first, read in chunks; returns how many there were.
    pub async fn report_contacts(
        &self,
        query: &ReportQuery,
        each: &mut (dyn FnMut(ContactFacts) + Send),
    ) -> Result<u64, StoreError> {
        dispatch!(self.report_contacts(query, each))
    }

    /// Transfers made in the report's period from or to one of its organisations, oldest first.
    pub async fn report_transfers(&self, query: &ReportQuery) -> Result<Vec<TransferFacts>, StoreError> {
        dispatch!(self.report_transfers(query))
    }

    /// Open cases past their due time at `now`, counted by organiser (for the overdue metric).
    pub async fn overdue_counts(&self, now: DateTime<Utc>) -> Result<Vec<(String, u64)>, StoreError> {
        dispatch!(self.overdue_counts(now))
    }

    /// The highest number among case references `{prefix}NNNNNN` (prefix e.g. `APU-2026-`), 0 if none.
    pub async fn max_reference_number(&self, prefix: &str) -> Result<u64, StoreError> {
        dispatch!(self.max_reference_number(prefix))
    }

    /// The stored response for an Idempotency-Key, with the hash of the request that made it.
    pub async fn idempotent_response(
        &self,
        client_id: &str,
        key: &str,
    ) -> Result<Option<(String, StoredResponse)>, StoreError> {
        dispatch!(self.idempotent_response(client_id, key))
    }

    pub async fn audit_records(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        dispatch!(self.audit_records(query))
    }

    /// Records in sequence order after `after_seq`, for verifying the chain in chunks.
    pub async fn audit_chain(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        dispatch!(self.audit_chain(after_seq, limit))
    }

    /// The chain's last record (the last archived one when every row was archived).
    pub async fn audit_head(&self) -> Result<crate::audit::ChainHead, StoreError> {
        dispatch!(self.audit_head())
    }

    /// Records in the database (archived ones not counted).
    pub async fn audit_count(&self) -> Result<i64, StoreError> {
        dispatch!(self.audit_count())
    }

    pub async fn last_checkpoint(&self) -> Result<Option<crate::audit::Checkpoint>, StoreError> {
        dispatch!(self.last_checkpoint())
    }

    pub async fn checkpoint_count(&self) -> Result<i64, StoreError> {
        dispatch!(self.checkpoint_count())
    }

    /// Checkpoints of records `after_seq < seq <= to_seq`, in sequence order.
    pub async fn audit_checkpoints(
        &self,
        after_seq: i64,
        to_seq: i64,
    ) -> Result<Vec<crate::audit::Checkpoint>, StoreError> {
        dispatch!(self.audit_checkpoints(after_seq, to_seq))
    }

    /// The newest checkpoint of a record in `after_seq < seq < before_seq`.
    pub async fn checkpoint_below(
        &self,
        after_seq: i64,
        before_seq: i64,
    ) -> Result<Option<crate::audit::Checkpoint>, StoreError> {
        dispatch!(self.checkpoint_below(after_seq, before_seq))
    }

    /// The first stored record written at or after `time`.
    pub async fn audit_first_seq_from(&self, time: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        dispatch!(self.audit_first_seq_from(time))
    }

    /// Archived segments in sequence order.
    pub async fn audit_archives(&self) -> Result<Vec<audit::ArchiveEntry>, StoreError> {
        dispatch!(self.audit_archives())
    }

    /// Ended exchanges last changed before `before` whose payload is still kept.
    pub async fn exchanges_with_payload_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        dispatch!(self.exchanges_with_payload_before(before, limit))
    }

    /// When retention removed an exchange's payload (then `payload` reads as null).
    pub async fn exchange_payload_pruned_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        dispatch!(self.exchange_payload_pruned_at(id))
    }

    /// Takes up to `limit` due exchanges (and ones whose lease expired) for a worker.
    pub async fn lease_due(&self, request: LeaseRequest) -> Result<Vec<Exchange>, StoreError> {
        match self
            .commit(Write {
                lease: Some(request),
                ..Write::default()
            })
            .await?
        {
            WriteOutcome::Committed { leased, .. } => Ok(leased),
            _ => Ok(Vec::new()),
        }
    }

    pub async fn exchange(&self, id: Uuid) -> Result<Option<ExchangeDetail>, StoreError> {
        dispatch!(self.exchange(id))
    }

    pub async fn exchanges(&self, query: &ExchangeQuery) -> Result<Page<Exchange>, StoreError> {
        dispatch!(self.exchanges(query))
    }

    /// Exchanges of a service by the ids the service gave them.
    pub async fn exchanges_by_upstream(
        &self,
        service: &str,
        upstream_ids: &[String],
    ) -> Result<Vec<Exchange>, StoreError> {
        dispatch!(self.exchanges_by_upstream(service, upstream_ids))
    }

    /// Exchanges by their ids (unknown ids are left out).
    pub async fn exchanges_by_ids(&self, ids: &[Uuid]) -> Result<Vec<Exchange>, StoreError> {
        dispatch!(self.exchanges_by_ids(ids))
    }

    /// Exchanges waiting (accepted, retry scheduled or in flight) per service.
    pub async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        dispatch!(self.queue_depth())
    }

    pub async fn job_state(&self, job: &str, key: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self.job_state(job, key))
    }

    /// Claims (or renews, or with `until` = now gives back) a job's lease; true when `holder`
    /// holds it afterwards.
    pub async fn claim_job(&self, lease: JobLease) -> Result<bool, StoreError> {
        let (job, holder) = (lease.job.clone(), lease.holder.clone());
        self.commit(Write {
            job_lease: Some(lease),
            ..Write::default()
        })
        .await?;
        Ok(dispatch!(self.job_lease_holder(&job))?.as_deref() == Some(holder.as_str()))
    }

    /// The newest runs of a job, newest first.
    pub async fn job_runs(&self, job: &str, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        dispatch!(self.job_runs(job, limit))
    }

    /// Whether the database answers and the writer runs.
    /// An outstanding (or answered) AuthnRequest by its RelayState.
    pub async fn saml_request(&self, relay_state: &str) -> Result<Option<OutstandingRequest>, StoreError> {
        dispatch!(self.saml_request(relay_state))
    }

    /// A login session by id.
    pub async fn login_session(&self, id: &str) -> Result<Option<LoginSession>, StoreError> {
        dispatch!(self.login_session(id))
    }

    /// The open sessions the IdP means by this NameID (and SessionIndex, when it names one).
    pub async fn login_sessions_by_name_id(
        &self,
        name_id: &str,
        session_index: Option<&str>,
    ) -> Result<Vec<LoginSession>, StoreError> {
        dispatch!(self.login_sessions_by_name_id(name_id, session_index))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.ping())
    }

    /// Content hashes of a municipality's stored catalogue (removed entries left out).
    pub async fn catalogue_hashes(&self, municipality: &str) -> Result<CatalogueHashes, StoreError> {
        dispatch!(self.catalogue_hashes(municipality))
    }

    /// A municipality's services, keyset paged by id.
    pub async fn catalogue_services(&self, query: &ServiceQuery) -> Result<Page<StoredService>, StoreError> {
        dispatch!(self.catalogue_services(query))
    }

    /// A service in each municipality it is offered in.
    pub async fn catalogue_service(&self, id: &str) -> Result<Vec<StoredService>, StoreError> {
        dispatch!(self.catalogue_service(id))
    }

    /// Channel documents of a municipality by id.
    pub async fn catalogue_channels(&self, municipality: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
        dispatch!(self.catalogue_channels(municipality, ids))
    }

    /// Statistics of the group-commit writer, for metrics.
    pub fn commit_stats(&self) -> &group_commit::Stats {
        match &self.backend {
            Backend::Sqlite(b) => b.commit_stats(),
            Backend::Postgres(b) => b.commit_stats(),
        }
    }
}

pub use group_commit::Stats as CommitStats;

#[cfg(test)]
impl Store {
    /// [`Store::report_contacts`] with a chosen chunk size, to test the paging between chunks.
    pub(crate) async fn report_contacts_in_chunks(
        &self,
        query: &ReportQuery,
        each: &mut (dyn FnMut(ContactFacts) + Send),
        chunk: i64,
    ) -> Result<u64, StoreError> {
        dispatch!(self.report_contacts_in_chunks(query, each, chunk))
    }
}

#[cfg(test)]
mod tests;
