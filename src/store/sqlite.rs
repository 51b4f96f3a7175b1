//! The SQLite backend: one writer connection behind group commit, a small pool of readers.
//! WAL lets readers run beside the writer; `synchronous = FULL` makes each commit durable.
//! The SQL it shares with the PostgreSQL backend is in `sql/`, compiled here for SQLite.

use super::exchange::LEASE_TURNS;
use super::group_commit::{BatchWriter, GroupCommit, Stats};
use super::rows::{Cell, Rows};
use super::{
    Attempt, AuditQuery, CaseQuery, Exchange, ExchangeDetail, ExchangeEvent, ExchangeQuery, ExchangeStatus,
    ExchangeUpdate, Expect, IdempotencyClaim, JobRun, LeaseRequest, LoginChange, LoginRefusal, LoginSession, NewCase,
    OutstandingRequest, Page, QueueDepth, StoreConfig, StoreError, StoredResponse, Write, WriteOutcome,
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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, SqliteConnection};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

type Db = sqlx::Sqlite;
type DbRow = SqliteRow;
type DbConnection = SqliteConnection;
type Backend = Sqlite;

include!("sql/reads.rs");
include!("sql/writes.rs");
include!("sql/audit.rs");
include!("sql/reports.rs");
include!("sql/ptv.rs");

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/sqlite/0001_initial.sql")),
    (2, "exchanges", include_str!("migrations/sqlite/0002_exchanges.sql")),
    (
        3,
        "exchanges by case",
        include_str!("migrations/sqlite/0003_exchanges_by_case.sql"),
    ),
    (
        4,
        "identification",
        include_str!("migrations/sqlite/0004_identification.sql"),
    ),
    (
        5,
        "help requests",
        include_str!("migrations/sqlite/0005_help_requests.sql"),
    ),
    (
        6,
        "case transfers",
        include_str!("migrations/sqlite/0006_case_transfers.sql"),
    ),
    (
        7,
        "audit archive",
        include_str!("migrations/sqlite/0007_audit_archive.sql"),
    ),
    (
        8,
        "service catalogue",
        include_str!("migrations/sqlite/0008_service_catalogue.sql"),
    ),
    (9, "job leases", include_str!("migrations/sqlite/0009_job_leases.sql")),
    (10, "audit head", include_str!("migrations/sqlite/0010_audit_head.sql")),
];

#[derive(Clone)]
pub struct Sqlite {
    readers: SqlitePool,
    writer: GroupCommit,
}

impl Sqlite {
    pub async fn open(config: &StoreConfig) -> anyhow::Result<Self> {
        if let Some(dir) = config.sqlite_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&config.sqlite_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            // Checkpoints run beside the writer (see `checkpoint_in_background`), not inside its commits.
            .pragma("wal_autocheckpoint", "0");
        let options = match config.max_size_bytes {
            // The default page size; a cap smaller than the schema's few pages is no cap at all.
            Some(bytes) => options.pragma("max_page_count", (bytes / 4096).max(64).to_string()),
            None => options,
        };
        let mut conn = SqliteConnection::connect_with(&options).await?;
        migrator(MIGRATIONS).run_direct(&mut conn).await?;
        let head = chain_head(&mut conn).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(config.read_connections.max(1))
            .connect_with(options.clone().read_only(true))
            .await?;
        let writer = GroupCommit::start(
            SqliteWriter {
                conn,
                options: options.clone(),
                head,
            },
            config.max_batch.max(1),
        );
        tokio::spawn(checkpoint_in_background(
            SqliteConnection::connect_with(&options).await?,
        ));
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
}

/// Copies the WAL into the database file every half second on a connection of its own, so that
/// a commit never waits for a checkpoint's writes and fsync. PASSIVE never blocks the writer
/// or readers; the WAL restarts from its beginning once a checkpoint has caught up.
async fn checkpoint_in_background(mut conn: SqliteConnection) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

struct SqliteWriter {
    conn: SqliteConnection,
    /// For a new connection after a failed batch (see `write_batch`).
    options: SqliteConnectOptions,
    /// The chain's last record, kept here so sealing needs no read; restored on rollback.
    head: ChainHead,
}

impl BatchWriter for SqliteWriter {
    async fn write_batch(&mut self, batch: &[Write]) -> Result<Vec<WriteOutcome>, StoreError> {
        let result = write_batch(&mut self.conn, &mut self.head, batch).await;
        if result.is_err() {
            // After some errors (a full disk or database: SQLITE_FULL, I/O errors) SQLite may or
            // may not have rolled the transaction back itself, and the driver's idea of it can
            // differ from SQLite's: a connection left inside a transaction would take every later
            // "commit" as a savepoint of a transaction that never commits. A new connection has
            // no such past; closing the old one rolls back whatever it still held.
            match SqliteConnection::connect_with(&self.options).await {
                Ok(fresh) => {
                    let old = std::mem::replace(&mut self.conn, fresh);
                    let _ = old.close().await;
                }
                Err(e) => tracing::error!(error = %e, "cannot reopen the database after a failed write"),
            }
        }
        result
    }
}

/// A text field of a case's JSON document, as SQL.
fn document_field(field: &str) -> String {
    format!("json_extract(document, '$.{field}')")
}

/// SQL's "position of a substring" function.
const POSITION: &str = "instr";

/// `VALUES (…), (…)` with one parameter per cell.
fn push_rows(sql: &mut QueryBuilder<'_, Db>, rows: Rows) {
    sql.push_values(rows.into_rows(), |mut row, cells| {
        for cell in cells {
            match cell {
                Cell::Text(value) => row.push_bind(value),
                Cell::Int(value) => row.push_bind(value),
                Cell::Bytes(value) => row.push_bind(value),
            };
        }
    });
}

/// A statement's text depends on its row count: not worth keeping prepared.
const ROW_STATEMENTS_ARE_STABLE: bool = false;

/// One writer per database, so the head this writer keeps is the chain's head.
type ChainState = ChainHead;

/// The head to seal a batch's records from: the writer's own copy.
async fn lock_chain_head(_tx: &mut DbConnection, head: &mut ChainHead) -> Result<ChainHead, StoreError> {
    Ok(head.clone())
}

fn chain_committed(kept: &mut ChainHead, head: ChainHead) {
    *kept = head;
}

/// Each branch walks its own index in order and stops at `limit`, so leasing costs the same
/// with ten or a million exchanges waiting. The branches take turns (see `LEASE_TURNS`).
async fn lease_due(conn: &mut DbConnection, lease: &LeaseRequest) -> Result<Vec<Exchange>, StoreError> {
    let now = stored_time(&lease.now);
    let limit = i64::from(lease.limit);
    let mut sql = QueryBuilder::<Db>::new("UPDATE exchanges SET status = 'in_flight', lease_until = ");
    sql.push_bind(stored_time(&lease.lease_until))
        .push(", updated_at = ")
        .push_bind(now.clone())
        .push(format!(" WHERE id IN (SELECT id FROM ({LEASE_TURNS} FROM ("));
    for (i, (status, column)) in [
        ("accepted", "due_at"),
        ("retry_scheduled", "due_at"),
        ("in_flight", "lease_until"),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(format!(
            "SELECT id, at, {i} AS branch FROM (SELECT id, {column} AS at FROM exchanges WHERE status = '{status}' AND {column} <= "
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
            .push(")");
    }
    sql.push(")) ORDER BY turn, at LIMIT ")
        .push_bind(limit)
        .push(format!(") RETURNING {EXCHANGE_COLUMNS}"));
    let rows = sql.build().persistent(false).fetch_all(conn).await?;
    rows.iter().map(exchange_row).collect()
}

/// Test hook: lets a test tamper with the trail the way an attacker with file access could.
#[cfg(test)]
pub(super) async fn tamper(path: &std::path::Path, sql: &str) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path)).await?;
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    Ok(())
}
