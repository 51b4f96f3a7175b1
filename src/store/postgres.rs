//! The PostgreSQL backend, for several gateway replicas on one database. Each replica writes
//! through its own group-commit writer (one connection); readers share a pool. Replicas
//! coordinate only inside the database: workers lease exchanges with `FOR UPDATE SKIP LOCKED`,
//! and appends to the one audit chain take a transaction-scoped advisory lock just before they
//! seal their records, so the chain stays linear while each replica still appends a whole
//! batch per lock. The SQL it shares with SQLite is in `sql/`, compiled here for PostgreSQL.

use super::exchange::LEASE_TURNS;
use super::group_commit::{BatchWriter, GroupCommit, Stats};
use super::rows::{Column, Rows};
use super::{
    Attempt, AuditQuery, CaseQuery, Exchange, ExchangeDetail, ExchangeEvent, ExchangeQuery, ExchangeStatus,
    ExchangeUpdate, Expect, IdempotencyClaim, JobRun, LeaseRequest, LoginChange, LoginRefusal, LoginSession, NewCase,
    OutstandingRequest, Page, QueueDepth, StoreError, StoredResponse, Write, WriteOutcome,
};
use super::{ContactFacts, ReportQuery, TransferFacts};
use super::{NewTransfer, Transfer};
use crate::audit::{seal, Actor, AuditEvent, AuditRecord, ChainHead, Checkpoint, PersonKey};
use crate::case::Case;
use crate::store::audit::{ArchiveEntry, PayloadPrune};
use crate::store::services::{CatalogueHashes, CatalogueSync, ServiceQuery, StoredService};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row};
use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

type Db = sqlx::Postgres;
type DbRow = PgRow;
type DbConnection = PgConnection;
type Backend = Postgres;

include!("sql/reads.rs");
include!("sql/writes.rs");
include!("sql/audit.rs");
include!("sql/reports.rs");
include!("sql/ptv.rs");

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/postgres/0001_initial.sql")),
    (2, "exchanges", include_str!("migrations/postgres/0002_exchanges.sql")),
    (
        3,
        "exchanges by case",
        include_str!("migrations/postgres/0003_exchanges_by_case.sql"),
    ),
    (
        4,
        "identification",
        include_str!("migrations/postgres/0004_identification.sql"),
    ),
    (
        5,
        "help requests",
        include_str!("migrations/postgres/0005_help_requests.sql"),
    ),
    (
        6,
        "case transfers",
        include_str!("migrations/postgres/0006_case_transfers.sql"),
    ),
    (
        7,
        "audit archive",
        include_str!("migrations/postgres/0007_audit_archive.sql"),
    ),
    (
        8,
        "service catalogue",
        include_str!("migrations/postgres/0008_service_catalogue.sql"),
    ),
    (9, "job leases", include_str!("migrations/postgres/0009_job_leases.sql")),
    (
        10,
        "audit head",
        include_str!("migrations/postgres/0010_audit_head.sql"),
    ),
];

/// The advisory lock key that serialises appends to the audit chain ("portti" in ASCII).
const CHAIN_LOCK: i64 = 0x706f_7274_7469;

/// How often a batch found the chain lock held by another writer and waited for it (all
/// PostgreSQL stores of this process): the coordination cost that replicas add.
pub static CHAIN_LOCK_WAITS: AtomicU64 = AtomicU64::new(0);

/// How long reaching the server may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one batch may take. Shorter than the API's request timeout, so that a caller is
/// answered from the write's own outcome rather than by the timeout while the write goes on.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// A transaction left open by a replica that lost its network would hold the chain lock
/// until the server noticed; the server ends such sessions after this long.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "15s";

#[derive(Clone)]
pub struct Postgres {
    readers: PgPool,
    writer: GroupCommit,
}

impl Postgres {
    pub async fn open(url: &str, max_batch: usize, read_connections: u32) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?
            .application_name("portti")
            .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_TIMEOUT)])
            .log_statements(tracing::log::LevelFilter::Trace);
        let mut conn = connect(&options).await?;
        // The migrator holds an advisory lock while it runs, so replicas starting together
        // migrate once.
        migrator(MIGRATIONS).run_direct(&mut conn).await?;
        let readers = PgPoolOptions::new()
            .max_connections(read_connections.max(1))
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let writer = GroupCommit::start(
            PgWriter {
                conn: Some(conn),
                options,
                chain: ChainState::default(),
            },
            max_batch.max(1),
        );
        Ok(Self { readers, writer })
    }

    pub async fn commit(&self, write: Write) -> Result<WriteOutcome, StoreError> {
        self.writer.commit(write).await
    }

    pub fn commit_stats(&self) -> &Stats {
        self.writer.stats()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::WriterGone);
        }
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    /// Test hook: runs SQL the way someone with database access could.
    #[cfg(test)]
    pub(super) async fn tamper(&self, sql: &str) -> anyhow::Result<()> {
        sqlx::raw_sql(sql).execute(&self.readers).await?;
        Ok(())
    }
}

struct PgWriter {
    /// None after the server went away, until a reconnect succeeds.
    conn: Option<PgConnection>,
    options: PgConnectOptions,
    chain: ChainState,
}

/// What a replica's writer keeps of the chain between batches. Not the head: each batch reads
/// that under the chain lock, since other replicas append too.
#[derive(Default)]
struct ChainState {
    /// When a batch last found another replica holding the chain lock.
    contended_at: Option<std::time::Instant>,
}

impl ChainState {
    /// Other replicas have been appending lately.
    fn contended(&self) -> bool {
        self.contended_at.is_some_and(|at| at.elapsed() < CONTENTION_MEMORY)
    }
}

/// How long one wait for the chain lock counts as "other replicas are appending".
const CONTENTION_MEMORY: Duration = Duration::from_secs(1);

/// How long a replica's writer gathers writes before a batch while other replicas append: a
/// batch would wait about that long for the chain lock anyway, and fewer, larger transactions
/// are what keep coordination cheap (one transaction costs as much CPU as ≈ 8 intakes).
const CONTENDED_GATHER: Duration = Duration::from_millis(1);

impl BatchWriter for PgWriter {
    fn gather_window(&self) -> Option<Duration> {
        self.chain.contended().then_some(CONTENDED_GATHER)
    }

    async fn write_batch(&mut self, batch: &[Write]) -> Result<Vec<WriteOutcome>, StoreError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(connect(&self.options).await?),
        };
        let result = match tokio::time::timeout(WRITE_DEADLINE, write_batch(conn, &mut self.chain, batch)).await {
            Ok(result) => result,
            // A server that stopped answering: the transaction is abandoned with its connection.
            Err(_) => Err(StoreError::Unreachable(format!(
                "no answer in {} s",
                WRITE_DEADLINE.as_secs()
            ))),
        };
        if result.is_err() {
            // A connection whose server restarted or whose socket broke cannot be trusted with
            // the next batch; a fresh one can. Closing the old one ends whatever it still held.
            // Without the server, the next batch tries again.
            if let Some(old) = self.conn.take() {
                let _ = tokio::time::timeout(CONNECT_TIMEOUT, old.close()).await;
            }
            match connect(&self.options).await {
                Ok(fresh) => self.conn = Some(fresh),
                Err(e) => tracing::error!(error = %e, "cannot reconnect to PostgreSQL after a failed write"),
            }
        }
        result
    }
}

/// A connection, or `Unreachable` when the server does not answer within [`CONNECT_TIMEOUT`].
async fn connect(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(StoreError::Unreachable(e.to_string())),
        Err(_) => Err(StoreError::Unreachable(format!(
            "no connection in {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// A text field of a case's JSON document, as SQL.
fn document_field(field: &str) -> String {
    format!("(document::jsonb ->> '{field}')")
}

/// `SELECT * FROM UNNEST($1::text[], …)`: one array per column, so the text is the same
/// for any number of rows.
fn push_rows(sql: &mut QueryBuilder<'_, Db>, rows: Rows) {
    sql.push("SELECT * FROM UNNEST(");
    let mut arrays = sql.separated(", ");
    for column in rows.columns {
        match column {
            Column::Text(values) => arrays.push_bind(values).push_unseparated("::text[]"),
            Column::Int(values) => arrays.push_bind(values).push_unseparated("::int8[]"),
            Column::Bytes(values) => arrays.push_bind(values).push_unseparated("::bytea[]"),
        };
    }
    sql.push(")");
}

/// Prepared once per connection, planned once: see `push_rows`.
const ROW_STATEMENTS_ARE_STABLE: bool = true;

/// SQL's "position of a substring" function.
const POSITION: &str = "strpos";

/// Takes the chain lock (counting a wait when another writer holds it) and reads the head
/// after it was granted, so that it includes the previous holder's records: one round trip
/// (`portti_lock_chain_head`, migration 10).
async fn lock_chain_head(tx: &mut DbConnection, chain: &mut ChainState) -> Result<ChainHead, StoreError> {
    let (seq, hash, waited): (Option<i64>, Option<String>, bool) =
        sqlx::query_as("SELECT seq, hash, waited FROM portti_lock_chain_head($1)")
            .bind(CHAIN_LOCK)
            .fetch_one(&mut *tx)
            .await?;
    if waited {
        CHAIN_LOCK_WAITS.fetch_add(1, Ordering::Relaxed);
        chain.contended_at = Some(std::time::Instant::now());
    }
    Ok(match (seq, hash) {
        (Some(seq), Some(hash)) => ChainHead { seq, hash },
        _ => ChainHead::default(),
    })
}

fn chain_committed(_chain: &mut ChainState, _head: ChainHead) {}

/// Takes due exchanges that no other replica is taking right now: each branch walks its own
/// index in order, skipping rows another transaction has locked, and stops at `limit`. The
/// branches take turns (see `LEASE_TURNS`).
async fn lease_due(conn: &mut DbConnection, lease: &LeaseRequest) -> Result<Vec<Exchange>, StoreError> {
    let now = stored_time(&lease.now);
    let limit = i64::from(lease.limit);
    let mut sql = QueryBuilder::<Db>::new("WITH ");
    for (i, (status, column)) in [
        ("accepted", "due_at"),
        ("retry_scheduled", "due_at"),
        ("in_flight", "lease_until"),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(format!(
            "b{i} AS (SELECT id, {column} AS at FROM exchanges WHERE status = '{status}' AND {column} <= "
        ))
        .push_bind(now.clone());
        for (service, organisation) in &lease.exclude {
            sql.push(" AND NOT (service = ")
                .push_bind(service.clone())
                .push(" AND organisation = ")
                .push_bind(organisation.clone())
                .push(")");
        }
        sql.push(format!(" ORDER BY {column} LIMIT "))
            .push_bind(limit)
            .push(" FOR UPDATE SKIP LOCKED)");
    }
    sql.push(format!(
        ", picked AS (SELECT id FROM ({LEASE_TURNS} FROM (SELECT id, at, 0 AS branch FROM b0 UNION ALL \
         SELECT id, at, 1 FROM b1 UNION ALL SELECT id, at, 2 FROM b2) AS due) AS turns ORDER BY turn, at LIMIT "
    ))
    .push_bind(limit)
    .push(") UPDATE exchanges SET status = 'in_flight', lease_until = ")
    .push_bind(stored_time(&lease.lease_until))
    .push(", updated_at = ")
    .push_bind(now)
    .push(format!(
        " WHERE id IN (SELECT id FROM picked) RETURNING {EXCHANGE_COLUMNS}"
    ));
    let rows = sql.build().persistent(false).fetch_all(conn).await?;
    rows.iter().map(exchange_row).collect()
}
