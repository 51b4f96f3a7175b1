//! The SQLite backend: one writer connection behind group commit, a small pool of readers.
//! WAL lets readers run beside the writer; `synchronous = FULL` makes each commit durable.

use super::group_commit::{BatchWriter, GroupCommit, Stats};
use super::{
    Attempt, AuditQuery, CaseQuery, Exchange, ExchangeDetail, ExchangeEvent, ExchangeQuery, ExchangeStatus,
    ExchangeUpdate, Expect, IdempotencyClaim, JobRun, LeaseRequest, LoginChange, LoginRefusal, LoginSession, NewCase,
    OutstandingRequest, Page, QueueDepth, StoreConfig, StoreError, StoredResponse, Write, WriteOutcome,
};
use super::{NewTransfer, Transfer};
use crate::audit::{seal, Actor, AuditEvent, AuditRecord, ChainHead, PersonKey};
use crate::case::Case;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite as Db, SqliteConnection};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

mod audit;
mod ptv;
mod reports;

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
];

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Timestamps are stored as fixed-width RFC 3339 UTC text so that text order is time order.
fn stored_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

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
        migrator().run_direct(&mut conn).await?;
        let head = audit::chain_head(&mut conn).await?;
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

    pub async fn case(&self, id: Uuid) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query("SELECT document FROM cases WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        row.map(|r| case_document(&r)).transpose()
    }

    pub async fn case_transfers(&self, case_id: Uuid) -> Result<Vec<Transfer>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, seq, from_org, to_org, reason, note, at, by_client, document FROM case_transfers \
             WHERE case_id = ? ORDER BY seq",
        )
        .bind(case_id.to_string())
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(transfer_row).collect()
    }

    pub async fn cases(&self, q: &CaseQuery) -> Result<Page<Case>, StoreError> {
        let mut sql = QueryBuilder::<Db>::new("SELECT document, received_at, id FROM cases WHERE (owner IN (");
        push_list(&mut sql, &q.organisations);
        sql.push(") OR organiser IN (");
        push_list(&mut sql, &q.organisations);
        sql.push("))");
        if let Some(from) = &q.received_from {
            sql.push(" AND received_at >= ").push_bind(stored_time(from));
        }
        if let Some(to) = &q.received_to {
            sql.push(" AND received_at < ").push_bind(stored_time(to));
        }
        if let Some(now) = &q.overdue_at {
            sql.push(" AND due_by IS NOT NULL AND due_by <= ")
                .push_bind(stored_time(now))
                .push(OPEN_CASE);
        }
        if let Some(cursor) = &q.after {
            let (at, id) = decode_case_cursor(cursor)?;
            sql.push(" AND (received_at > ")
                .push_bind(at.clone())
                .push(" OR (received_at = ")
                .push_bind(at)
                .push(" AND id > ")
                .push_bind(id)
                .push("))");
        }
        sql.push(" ORDER BY received_at, id LIMIT ")
            .push_bind(i64::from(q.limit) + 1);
        let rows = sql.build().fetch_all(&self.readers).await?;
        let more = rows.len() > q.limit as usize;
        let rows = &rows[..rows.len().min(q.limit as usize)];
        let next = match rows.last() {
            Some(last) if more => Some(encode_case_cursor(last.try_get("received_at")?, last.try_get("id")?)),
            _ => None,
        };
        let items = rows.iter().map(case_document).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// Open cases past their due time, counted by organiser.
    pub async fn overdue_counts(&self, now: DateTime<Utc>) -> Result<Vec<(String, u64)>, StoreError> {
        let sql = format!(
            "SELECT organiser, COUNT(*) AS n FROM cases WHERE due_by IS NOT NULL AND due_by <= ?{OPEN_CASE} \
             GROUP BY organiser ORDER BY organiser"
        );
        let rows = sqlx::query(&sql)
            .bind(stored_time(&now))
            .fetch_all(&self.readers)
            .await?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n")?;
                Ok((r.try_get("organiser")?, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// The highest number among references `{prefix}NNNNNN` (e.g. prefix `APU-2026-`), 0 if none.
    pub async fn max_reference_number(&self, prefix: &str) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT MAX(CAST(substr(reference, ?) AS INTEGER)) AS n FROM cases \
             WHERE reference IS NOT NULL AND substr(reference, 1, ?) = ?",
        )
        .bind(i64::try_from(prefix.len()).unwrap_or(i64::MAX) + 1)
        .bind(i64::try_from(prefix.len()).unwrap_or(i64::MAX))
        .bind(prefix)
        .fetch_one(&self.readers)
        .await?;
        let n: Option<i64> = row.try_get("n")?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    pub async fn idempotent_response(
        &self,
        client_id: &str,
        key: &str,
    ) -> Result<Option<(String, StoredResponse)>, StoreError> {
        stored_idempotency(&self.readers, client_id, key).await
    }

    pub async fn audit_records(&self, q: &AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        let mut sql = QueryBuilder::<Db>::new("SELECT * FROM audit_log WHERE 1 = 1");
        if let Some(organisations) = &q.organisations {
            sql.push(" AND organisation IN (");
            push_list(&mut sql, organisations);
            sql.push(")");
        }
        if let Some(person) = &q.person {
            sql.push(" AND person = ").push_bind(person.as_str().to_string());
        }
        if let Some(from) = &q.from {
            sql.push(" AND time >= ").push_bind(stored_time(from));
        }
        if let Some(to) = &q.to {
            sql.push(" AND time < ").push_bind(stored_time(to));
        }
        if let Some(actor) = &q.actor {
            sql.push(" AND client_id = ").push_bind(actor.clone());
        }
        if let Some(action) = &q.action {
            sql.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(service) = &q.service {
            sql.push(" AND service = ").push_bind(service.clone());
        }
        if let Some(after) = q.after_seq {
            sql.push(" AND seq > ").push_bind(after);
        }
        sql.push(" ORDER BY seq LIMIT ").push_bind(i64::from(q.limit) + 1);
        let rows = sql.build().fetch_all(&self.readers).await?;
        let more = rows.len() > q.limit as usize;
        let items: Vec<AuditRecord> = rows
            .iter()
            .take(q.limit as usize)
            .map(audit_record)
            .collect::<Result<_, _>>()?;
        let next = if more {
            items.last().map(|r| r.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    pub async fn exchange(&self, id: Uuid) -> Result<Option<ExchangeDetail>, StoreError> {
        let row = sqlx::query(&format!("SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let exchange = exchange_row(&row)?;
        let attempts = sqlx::query(
            "SELECT attempt, started_at, outcome, latency_ms, error FROM exchange_attempts WHERE exchange_id = ? ORDER BY attempt",
        )
        .bind(id.to_string())
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(|r| {
            let attempt: i64 = r.try_get("attempt")?;
            let latency: i64 = r.try_get("latency_ms")?;
            Ok(Attempt {
                attempt: u32::try_from(attempt).unwrap_or(0),
                started_at: parse_time(r.try_get("started_at")?)?,
                outcome: r.try_get("outcome")?,
                latency_ms: u64::try_from(latency).unwrap_or(0),
                error: r.try_get("error")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let events = sqlx::query("SELECT kind, type, time FROM exchange_events WHERE exchange_id = ? ORDER BY time")
            .bind(id.to_string())
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(|r| {
                Ok(ExchangeEvent {
                    kind: r.try_get("kind")?,
                    kind_upstream: r.try_get("type")?,
                    time: parse_time(r.try_get("time")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(ExchangeDetail {
            exchange,
            attempts,
            events,
        }))
    }

    pub async fn exchanges(&self, q: &ExchangeQuery) -> Result<Page<Exchange>, StoreError> {
        let mut sql = QueryBuilder::<Db>::new(format!(
            "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE organisation IN ("
        ));
        push_list(&mut sql, &q.organisations);
        sql.push(")");
        if let Some(status) = q.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(service) = &q.service {
            sql.push(" AND service = ").push_bind(service.clone());
        }
        if let Some(case_id) = q.case_id {
            sql.push(" AND case_id = ").push_bind(case_id.to_string());
        }
        if let Some(after) = q.after {
            sql.push(" AND id > ").push_bind(after.to_string());
        }
        sql.push(" ORDER BY id LIMIT ").push_bind(i64::from(q.limit) + 1);
        let rows = sql.build().fetch_all(&self.readers).await?;
        let more = rows.len() > q.limit as usize;
        let items: Vec<Exchange> = rows
            .iter()
            .take(q.limit as usize)
            .map(exchange_row)
            .collect::<Result<_, _>>()?;
        let next = if more {
            items.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    pub async fn exchanges_by_upstream(
        &self,
        service: &str,
        upstream_ids: &[String],
    ) -> Result<Vec<Exchange>, StoreError> {
        let mut found = Vec::new();
        for chunk in upstream_ids.chunks(500) {
            let mut sql = QueryBuilder::<Db>::new(format!("SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE service = "));
            sql.push_bind(service.to_string()).push(" AND upstream_id IN (");
            push_list(&mut sql, chunk);
            sql.push(")");
            for row in sql.build().fetch_all(&self.readers).await? {
                found.push(exchange_row(&row)?);
            }
        }
        Ok(found)
    }

    pub async fn exchanges_by_ids(&self, ids: &[Uuid]) -> Result<Vec<Exchange>, StoreError> {
        let mut found = Vec::new();
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        for chunk in ids.chunks(500) {
            let mut sql = QueryBuilder::<Db>::new(format!("SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE id IN ("));
            push_list(&mut sql, chunk);
            sql.push(")");
            for row in sql.build().fetch_all(&self.readers).await? {
                found.push(exchange_row(&row)?);
            }
        }
        Ok(found)
    }

    pub async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        let rows = sqlx::query(
            "SELECT service, COUNT(*) AS waiting, MIN(due_at) AS oldest FROM exchanges \
             WHERE status IN ('accepted', 'retry_scheduled', 'in_flight') GROUP BY service",
        )
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|r| {
                let waiting: i64 = r.try_get("waiting")?;
                Ok(QueueDepth {
                    service: r.try_get("service")?,
                    waiting: u64::try_from(waiting).unwrap_or(0),
                    oldest_due: r
                        .try_get::<Option<String>, _>("oldest")?
                        .map(|t| parse_time(&t))
                        .transpose()?,
                })
            })
            .collect()
    }

    pub async fn saml_request(&self, relay_state: &str) -> Result<Option<OutstandingRequest>, StoreError> {
        let row = sqlx::query(
            "SELECT relay_state, request_id, return_to, locale, created_at, expires_at, used_at \
             FROM saml_requests WHERE relay_state = ?",
        )
        .bind(relay_state)
        .fetch_optional(&self.readers)
        .await?;
        row.map(|row| -> Result<OutstandingRequest, StoreError> {
            Ok(OutstandingRequest {
                relay_state: row.try_get("relay_state")?,
                request_id: row.try_get("request_id")?,
                return_to: row.try_get("return_to")?,
                locale: row.try_get("locale")?,
                created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
                expires_at: parse_time(&row.try_get::<String, _>("expires_at")?)?,
                used_at: row
                    .try_get::<Option<String>, _>("used_at")?
                    .map(|t| parse_time(&t))
                    .transpose()?,
            })
        })
        .transpose()
    }

    pub async fn login_session(&self, id: &str) -> Result<Option<LoginSession>, StoreError> {
        sqlx::query(&format!(
            "SELECT {LOGIN_SESSION_COLUMNS} FROM login_sessions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.readers)
        .await?
        .map(|row| login_session_row(&row))
        .transpose()
    }

    pub async fn login_sessions_by_name_id(
        &self,
        name_id: &str,
        session_index: Option<&str>,
    ) -> Result<Vec<LoginSession>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOGIN_SESSION_COLUMNS} FROM login_sessions WHERE name_id = ? AND ended_at IS NULL \
             AND (? IS NULL OR session_index = ?)"
        ))
        .bind(name_id)
        .bind(session_index)
        .bind(session_index)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(login_session_row).collect()
    }

    pub async fn job_state(&self, job: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM job_state WHERE job = ? AND key = ?")
                .bind(job)
                .bind(key)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    pub async fn job_runs(&self, job: &str, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, job, started_at, finished_at, outcome, counts, error FROM job_runs WHERE job = ? \
             ORDER BY started_at DESC LIMIT ?",
        )
        .bind(job)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let counts: String = r.try_get("counts")?;
                Ok(JobRun {
                    id: id.parse().map_err(|_| StoreError::Corrupt("job run id".into()))?,
                    job: r.try_get("job")?,
                    started_at: parse_time(r.try_get("started_at")?)?,
                    finished_at: parse_time(r.try_get("finished_at")?)?,
                    outcome: r.try_get("outcome")?,
                    counts: serde_json::from_str(&counts).unwrap_or(serde_json::Value::Null),
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }

    pub async fn audit_chain(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(audit_record).collect()
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

/// A case not yet answered nor closed (both live only in the case document).
const OPEN_CASE: &str =
    " AND json_extract(document, '$.answered_at') IS NULL AND json_extract(document, '$.closed_at') IS NULL";

fn push_list(sql: &mut QueryBuilder<'_, Db>, values: &[String]) {
    if values.is_empty() {
        // `IN ()` is a syntax error; NULL matches nothing.
        sql.push("NULL");
        return;
    }
    let mut list = sql.separated(", ");
    for v in values {
        list.push_bind(v.clone());
    }
}

fn encode_case_cursor(received_at: String, id: String) -> String {
    URL_SAFE_NO_PAD.encode(format!("{received_at}|{id}"))
}

fn decode_case_cursor(cursor: &str) -> Result<(String, String), StoreError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once('|').map(|(a, b)| (a.to_string(), b.to_string())))
        .ok_or(StoreError::InvalidCursor)
}

fn case_document(row: &SqliteRow) -> Result<Case, StoreError> {
    let doc: String = row.try_get("document")?;
    serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(format!("case document: {e}")))
}

fn stored_response(row: &SqliteRow) -> Result<(String, StoredResponse), StoreError> {
    let status: i64 = row.try_get("status")?;
    Ok((
        row.try_get("request_hash")?,
        StoredResponse {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt("status".into()))?,
            location: row.try_get("location")?,
            body: row.try_get("body")?,
        },
    ))
}

fn audit_record(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    let exchange_id: Option<String> = row.try_get("exchange_id")?;
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        event: AuditEvent {
            time: parse_time(row.try_get("time")?)?,
            actor: Actor {
                client_id: row.try_get("client_id")?,
                end_user: row.try_get("end_user")?,
                role: row.try_get("role")?,
            },
            action: row.try_get("action")?,
            purpose: row.try_get("purpose")?,
            person: row.try_get::<Option<String>, _>("person")?.map(PersonKey::from_stored),
            organisation: row.try_get("organisation")?,
            service: row.try_get("service")?,
            exchange_id: exchange_id
                .map(|s| s.parse().map_err(|e| StoreError::Corrupt(format!("exchange_id: {e}"))))
                .transpose()?,
            outcome: row.try_get("outcome")?,
            request_digest: row.try_get("request_digest")?,
            response_digest: row.try_get("response_digest")?,
            correlation_id: row.try_get("correlation_id")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
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
        let before = self.head.clone();
        let result = write_batch(&mut self.conn, &mut self.head, batch).await;
        if result.is_err() {
            self.head = before;
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

/// Rows per multi-row INSERT; 17 audit columns × 1000 stays under SQLite's 32,766 variables.
const ROWS_PER_INSERT: usize = 1000;

/// One transaction for the whole batch, with one multi-row INSERT per table: a statement
/// costs a round trip to SQLite's thread, a row inside a statement almost nothing.
async fn write_batch(
    conn: &mut SqliteConnection,
    head: &mut ChainHead,
    batch: &[Write],
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut tx = conn.begin().await?;
    let mut outcomes: Vec<Option<WriteOutcome>> = Vec::with_capacity(batch.len());
    // A key claimed earlier in this same batch answers like a stored one.
    let mut claimed: HashMap<(&str, &str), (&str, &StoredResponse)> = HashMap::new();
    for write in batch {
        let Some(claim) = &write.idempotency else {
            outcomes.push(None);
            continue;
        };
        let earlier = match claimed.get(&(claim.client_id.as_str(), claim.key.as_str())) {
            Some(&(hash, response)) => Some((hash.to_string(), response.clone())),
            None => stored_idempotency(&mut *tx, &claim.client_id, &claim.key).await?,
        };
        outcomes.push(match earlier {
            Some((hash, response)) if hash == claim.request_hash => Some(WriteOutcome::Replayed(response)),
            Some(_) => Some(WriteOutcome::KeyReused),
            None => {
                claimed.insert((&claim.client_id, &claim.key), (&claim.request_hash, &claim.response));
                None
            }
        });
    }

    refuse_unusable_logins(&mut tx, batch, &mut outcomes).await?;

    let mut cases = Vec::new();
    let mut transfers = Vec::new();
    let mut replaced = Vec::new();
    let mut records = Vec::new();
    let mut claims = Vec::new();
    let mut exchanges = Vec::new();
    let mut updates = Vec::new();
    let mut attempts = Vec::new();
    let mut events = Vec::new();
    let mut job_runs = Vec::new();
    let mut job_state = Vec::new();
    let mut leases = Vec::new();
    let mut logins = Vec::new();
    let mut catalogue = Vec::new();
    for (i, (write, outcome)) in batch.iter().zip(outcomes.iter_mut()).enumerate() {
        if outcome.is_some() {
            continue;
        }
        cases.extend(&write.new_case);
        transfers.extend(&write.case_transfer);
        replaced.extend(&write.replaced_case);
        claims.extend(&write.idempotency);
        exchanges.extend(&write.new_exchange);
        updates.extend(&write.exchange_updates);
        attempts.extend(&write.attempts);
        events.extend(&write.exchange_events);
        job_runs.extend(&write.job_run);
        job_state.extend(&write.job_state);
        logins.extend(&write.login);
        catalogue.extend(&write.catalogue_sync);
        if let Some(lease) = &write.lease {
            leases.push((i, lease));
        }
        let first = records.len();
        records.extend(write.audit.iter().map(|event| seal(head, event.clone())));
        *outcome = Some(WriteOutcome::Committed {
            audit_seqs: records[first..].iter().map(|r| r.seq).collect(),
            leased: Vec::new(),
        });
    }
    for chunk in cases.chunks(ROWS_PER_INSERT) {
        insert_cases(&mut tx, chunk).await?;
    }
    for new in replaced {
        replace_case(&mut tx, new).await?;
    }
    for transfer in transfers {
        apply_transfer(&mut tx, transfer).await?;
    }
    for chunk in exchanges.chunks(ROWS_PER_INSERT) {
        insert_exchanges(&mut tx, chunk).await?;
    }
    for chunk in updates.chunks(ROWS_PER_INSERT) {
        update_exchanges(&mut tx, chunk).await?;
    }
    for chunk in attempts.chunks(ROWS_PER_INSERT) {
        insert_attempts(&mut tx, chunk).await?;
    }
    for chunk in events.chunks(ROWS_PER_INSERT) {
        insert_exchange_events(&mut tx, chunk).await?;
    }
    for chunk in job_runs.chunks(ROWS_PER_INSERT) {
        insert_job_runs(&mut tx, chunk).await?;
    }
    for (job, key, value) in job_state {
        sqlx::query("INSERT INTO job_state (job, key, value) VALUES (?, ?, ?) ON CONFLICT (job, key) DO UPDATE SET value = excluded.value")
            .bind(job)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    for change in logins {
        apply_login(&mut tx, change).await?;
    }
    for sync in catalogue {
        ptv::apply_sync(&mut tx, sync).await?;
    }
    for chunk in records.chunks(ROWS_PER_INSERT) {
        insert_audit(&mut tx, chunk).await?;
    }
    for chunk in claims.chunks(ROWS_PER_INSERT) {
        insert_idempotency(&mut tx, chunk).await?;
    }
    for write in batch_writes(batch, &outcomes) {
        if let Some(checkpoint) = &write.audit_checkpoint {
            audit::insert_checkpoint(&mut tx, checkpoint).await?;
        }
        if let Some(archive) = &write.audit_archive {
            audit::archive_segment(&mut tx, archive).await?;
        }
        if let Some(prune) = &write.payload_prune {
            audit::prune_payloads(&mut tx, prune).await?;
        }
    }
    for (i, lease) in leases {
        let leased = lease_due(&mut tx, lease).await?;
        if let Some(audit_of) = lease.audit {
            let records: Vec<AuditRecord> = leased.iter().map(|e| seal(head, audit_of(e))).collect();
            for chunk in records.chunks(ROWS_PER_INSERT) {
                insert_audit(&mut tx, chunk).await?;
            }
        }
        if let Some(WriteOutcome::Committed { leased: slot, .. }) = outcomes[i].as_mut() {
            *slot = leased;
        }
    }
    tx.commit().await?;
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every write has an outcome"))
        .collect())
}

/// The writes of a batch that were not answered otherwise (replayed, refused).
fn batch_writes<'a>(batch: &'a [Write], outcomes: &'a [Option<WriteOutcome>]) -> impl Iterator<Item = &'a Write> {
    batch
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| matches!(o, Some(WriteOutcome::Committed { .. })))
        .map(|(w, _)| w)
}

/// A completed login needs its request unanswered and its assertion id never seen, counting
/// the earlier writes of the same batch; otherwise the whole write is refused.
async fn refuse_unusable_logins(
    tx: &mut SqliteConnection,
    batch: &[Write],
    outcomes: &mut [Option<WriteOutcome>],
) -> Result<(), StoreError> {
    let mut used_requests: Vec<&str> = Vec::new();
    let mut seen_assertions: Vec<&str> = Vec::new();
    for (write, outcome) in batch.iter().zip(outcomes.iter_mut()) {
        if outcome.is_some() {
            continue;
        }
        for change in &write.login {
            let LoginChange::Completed {
                relay_state,
                assertion_id,
                ..
            } = change
            else {
                continue;
            };
            let seen: Option<i64> = sqlx::query_scalar("SELECT 1 FROM saml_assertions WHERE id = ?")
                .bind(assertion_id)
                .fetch_optional(&mut *tx)
                .await?;
            let request: Option<Option<String>> =
                sqlx::query_scalar("SELECT used_at FROM saml_requests WHERE relay_state = ?")
                    .bind(relay_state)
                    .fetch_optional(&mut *tx)
                    .await?;
            let refusal = if seen.is_some() || seen_assertions.contains(&assertion_id.as_str()) {
                Some(LoginRefusal::AssertionReplayed)
            } else {
                match request {
                    None => Some(LoginRefusal::UnknownRequest),
                    Some(Some(_)) => Some(LoginRefusal::RequestAlreadyAnswered),
                    Some(None) if used_requests.contains(&relay_state.as_str()) => {
                        Some(LoginRefusal::RequestAlreadyAnswered)
                    }
                    Some(None) => None,
                }
            };
            if let Some(refusal) = refusal {
                *outcome = Some(WriteOutcome::Refused(refusal));
                break;
            }
            used_requests.push(relay_state);
            seen_assertions.push(assertion_id);
        }
    }
    Ok(())
}

async fn apply_login(tx: &mut SqliteConnection, change: &LoginChange) -> Result<(), StoreError> {
    match change {
        LoginChange::RequestSent(r) => {
            sqlx::query(
                "INSERT INTO saml_requests (relay_state, request_id, return_to, locale, created_at, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.relay_state)
            .bind(&r.request_id)
            .bind(&r.return_to)
            .bind(&r.locale)
            .bind(stored_time(&r.created_at))
            .bind(stored_time(&r.expires_at))
            .execute(&mut *tx)
            .await?;
        }
        LoginChange::Completed {
            relay_state,
            assertion_id,
            assertion_expires_at,
            session,
        } => {
            let now = stored_time(&session.created_at);
            sqlx::query("UPDATE saml_requests SET used_at = ? WHERE relay_state = ?")
                .bind(&now)
                .bind(relay_state)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO saml_assertions (id, expires_at, seen_at) VALUES (?, ?, ?)")
                .bind(assertion_id)
                .bind(stored_time(assertion_expires_at))
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO login_sessions (id, name_id, session_index, person_key, loa, created_at, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&session.id)
            .bind(&session.name_id)
            .bind(&session.session_index)
            .bind(session.person.as_ref().map(|p| p.as_str().to_string()))
            .bind(&session.loa)
            .bind(&now)
            .bind(stored_time(&session.expires_at))
            .execute(&mut *tx)
            .await?;
        }
        LoginChange::RequestUsed { relay_state, at } => {
            sqlx::query("UPDATE saml_requests SET used_at = ? WHERE relay_state = ? AND used_at IS NULL")
                .bind(stored_time(at))
                .bind(relay_state)
                .execute(&mut *tx)
                .await?;
        }
        LoginChange::SessionEnded { session_id, at } => {
            sqlx::query("UPDATE login_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL")
                .bind(stored_time(at))
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

fn login_session_row(row: &SqliteRow) -> Result<LoginSession, StoreError> {
    Ok(LoginSession {
        id: row.try_get("id")?,
        name_id: row.try_get("name_id")?,
        session_index: row.try_get("session_index")?,
        person: row
            .try_get::<Option<String>, _>("person_key")?
            .map(PersonKey::from_stored),
        loa: row.try_get("loa")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        expires_at: parse_time(&row.try_get::<String, _>("expires_at")?)?,
        ended_at: row
            .try_get::<Option<String>, _>("ended_at")?
            .map(|t| parse_time(&t))
            .transpose()?,
    })
}

const LOGIN_SESSION_COLUMNS: &str = "id, name_id, session_index, person_key, loa, created_at, expires_at, ended_at";

const EXCHANGE_COLUMNS: &str = "id, service, organisation, operation, payload, person_key, case_id, status, attempts, \
     budget_attempt, budget_since, due_at, lease_until, upstream_id, last_error, recorded_by, correlation_id, \
     created_at, updated_at";

async fn insert_exchanges(conn: &mut SqliteConnection, rows: &[&Exchange]) -> Result<(), StoreError> {
    let mut sql = QueryBuilder::<Db>::new(format!("INSERT INTO exchanges ({EXCHANGE_COLUMNS}) "));
    sql.push_values(rows, |mut row, e| {
        row.push_bind(e.id.to_string())
            .push_bind(e.service.clone())
            .push_bind(e.organisation.clone())
            .push_bind(e.operation.clone())
            .push_bind(e.payload.to_string())
            .push_bind(e.person.as_ref().map(|p| p.as_str().to_string()))
            .push_bind(e.case_id.map(|id| id.to_string()))
            .push_bind(e.status.as_str())
            .push_bind(i64::from(e.attempts))
            .push_bind(i64::from(e.budget_attempt))
            .push_bind(stored_time(&e.budget_since))
            .push_bind(stored_time(&e.due_at))
            .push_bind(e.lease_until.as_ref().map(stored_time))
            .push_bind(e.upstream_id.clone())
            .push_bind(e.last_error.clone())
            .push_bind(e.recorded_by.clone())
            .push_bind(e.correlation_id.clone())
            .push_bind(stored_time(&e.created_at))
            .push_bind(stored_time(&e.updated_at));
    });
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

/// All updates of a batch in one statement: UPDATE … FROM (VALUES …).
async fn update_exchanges(conn: &mut SqliteConnection, rows: &[&ExchangeUpdate]) -> Result<(), StoreError> {
    let now = stored_time(&Utc::now());
    let mut sql = QueryBuilder::<Db>::new(
        "WITH v(id, status, attempts, due_at, upstream_id, last_error, budget_attempt, budget_since, \
         expect_status, expect_lease) AS (",
    );
    sql.push_values(rows, |mut row, u| {
        let (expect_status, expect_lease) = match u.expect {
            Expect::Leased(until) => (ExchangeStatus::InFlight, Some(stored_time(&until))),
            Expect::Status(status) => (status, None),
        };
        row.push_bind(u.id.to_string())
            .push_bind(u.status.as_str())
            .push_bind(i64::from(u.attempts))
            .push_bind(stored_time(&u.due_at))
            .push_bind(u.upstream_id.clone())
            .push_bind(u.last_error.clone())
            .push_bind(u.new_budget.map(|(a, _)| i64::from(a)))
            .push_bind(u.new_budget.map(|(_, t)| stored_time(&t)))
            .push_bind(expect_status.as_str())
            .push_bind(expect_lease);
    });
    sql.push(") UPDATE exchanges SET status = v.status, attempts = v.attempts, due_at = v.due_at, ")
        .push("upstream_id = COALESCE(v.upstream_id, exchanges.upstream_id), last_error = v.last_error, ")
        .push("budget_attempt = COALESCE(v.budget_attempt, exchanges.budget_attempt), ")
        .push("budget_since = COALESCE(v.budget_since, exchanges.budget_since), ")
        .push("lease_until = NULL, updated_at = ")
        .push_bind(now)
        .push(" FROM v WHERE exchanges.id = v.id AND exchanges.status = v.expect_status ")
        .push("AND (v.expect_lease IS NULL OR exchanges.lease_until = v.expect_lease)");
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

async fn insert_attempts(conn: &mut SqliteConnection, rows: &[&(Uuid, Attempt)]) -> Result<(), StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO exchange_attempts (exchange_id, attempt, started_at, outcome, latency_ms, error) ",
    );
    sql.push_values(rows, |mut row, (id, a)| {
        row.push_bind(id.to_string())
            .push_bind(i64::from(a.attempt))
            .push_bind(stored_time(&a.started_at))
            .push_bind(a.outcome.clone())
            .push_bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
            .push_bind(a.error.clone());
    });
    // A worker whose lease ran out may report an attempt another worker also made.
    sql.push(" ON CONFLICT (exchange_id, attempt) DO NOTHING");
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

async fn insert_exchange_events(
    conn: &mut SqliteConnection,
    rows: &[&(Uuid, ExchangeEvent)],
) -> Result<(), StoreError> {
    let now = stored_time(&Utc::now());
    let mut sql = QueryBuilder::<Db>::new("INSERT INTO exchange_events (exchange_id, kind, type, time, recorded_at) ");
    sql.push_values(rows, |mut row, (id, e)| {
        row.push_bind(id.to_string())
            .push_bind(e.kind.clone())
            .push_bind(e.kind_upstream.clone())
            .push_bind(stored_time(&e.time))
            .push_bind(now.clone());
    });
    // The service may send an event again (an overlapping run, a reused token): keep one.
    sql.push(" ON CONFLICT (exchange_id, type, time) DO NOTHING");
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

async fn insert_job_runs(conn: &mut SqliteConnection, rows: &[&JobRun]) -> Result<(), StoreError> {
    let mut sql =
        QueryBuilder::<Db>::new("INSERT INTO job_runs (id, job, started_at, finished_at, outcome, counts, error) ");
    sql.push_values(rows, |mut row, r| {
        row.push_bind(r.id.to_string())
            .push_bind(r.job.clone())
            .push_bind(stored_time(&r.started_at))
            .push_bind(stored_time(&r.finished_at))
            .push_bind(r.outcome.clone())
            .push_bind(r.counts.to_string())
            .push_bind(r.error.clone());
    });
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

/// Each branch walks its own index in order and stops at `limit`, so leasing costs the same
/// with ten or a million exchanges waiting.
async fn lease_due(conn: &mut SqliteConnection, lease: &LeaseRequest) -> Result<Vec<Exchange>, StoreError> {
    let now = stored_time(&lease.now);
    let limit = i64::from(lease.limit);
    let mut sql = QueryBuilder::<Db>::new("UPDATE exchanges SET status = 'in_flight', lease_until = ");
    sql.push_bind(stored_time(&lease.lease_until))
        .push(", updated_at = ")
        .push_bind(now.clone())
        .push(" WHERE id IN (SELECT id FROM (");
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
            "SELECT id, at FROM (SELECT id, {column} AS at FROM exchanges WHERE status = '{status}' AND {column} <= "
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
    sql.push(") ORDER BY at LIMIT ")
        .push_bind(limit)
        .push(format!(") RETURNING {EXCHANGE_COLUMNS}"));
    let rows = sql.build().persistent(false).fetch_all(conn).await?;
    rows.iter().map(exchange_row).collect()
}

fn exchange_row(row: &SqliteRow) -> Result<Exchange, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("exchange {what}"));
    let uuid = |s: String| s.parse::<Uuid>().map_err(|_| corrupt("id"));
    let payload: String = row.try_get("payload")?;
    let status: String = row.try_get("status")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(Exchange {
        id: uuid(row.try_get("id")?)?,
        service: row.try_get("service")?,
        organisation: row.try_get("organisation")?,
        operation: row.try_get("operation")?,
        payload: serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?,
        person: row
            .try_get::<Option<String>, _>("person_key")?
            .map(PersonKey::from_stored),
        case_id: row.try_get::<Option<String>, _>("case_id")?.map(uuid).transpose()?,
        status: ExchangeStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        attempts: u32::try_from(attempts).map_err(|_| corrupt("attempts"))?,
        budget_attempt: u32::try_from(row.try_get::<i64, _>("budget_attempt")?).map_err(|_| corrupt("budget"))?,
        budget_since: parse_time(row.try_get("budget_since")?)?,
        due_at: parse_time(row.try_get("due_at")?)?,
        lease_until: row
            .try_get::<Option<String>, _>("lease_until")?
            .map(|t| parse_time(&t))
            .transpose()?,
        upstream_id: row.try_get("upstream_id")?,
        last_error: row.try_get("last_error")?,
        recorded_by: row.try_get("recorded_by")?,
        correlation_id: row.try_get("correlation_id")?,
        created_at: parse_time(row.try_get("created_at")?)?,
        updated_at: parse_time(row.try_get("updated_at")?)?,
    })
}

async fn stored_idempotency<'e>(
    conn: impl sqlx::Executor<'e, Database = Db>,
    client_id: &str,
    key: &str,
) -> Result<Option<(String, StoredResponse)>, StoreError> {
    let row =
        sqlx::query("SELECT request_hash, status, location, body FROM idempotency WHERE client_id = ? AND key = ?")
            .bind(client_id)
            .bind(key)
            .fetch_optional(conn)
            .await?;
    row.map(|r| stored_response(&r)).transpose()
}

async fn insert_cases(conn: &mut SqliteConnection, rows: &[&NewCase]) -> Result<(), StoreError> {
    let documents = rows
        .iter()
        .map(|new| serde_json::to_string(&new.case).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO cases (id, organiser, owner, received_at, person_key, recorded_by, recorded_at, reference, due_by, \
         document) ",
    );
    sql.push_values(rows.iter().zip(documents), |mut row, (new, document)| {
        let case = &new.case;
        row.push_bind(case.id.to_string())
            .push_bind(case.organiser.clone())
            .push_bind(case.owner().to_string())
            .push_bind(stored_time(&case.received_at))
            .push_bind(new.person.as_ref().map(|p| p.as_str().to_string()))
            .push_bind(case.recorded_by.clone())
            .push_bind(stored_time(&case.recorded_at))
            .push_bind(case.reference.clone())
            .push_bind(case.due_by.as_ref().map(stored_time))
            .push_bind(document);
    });
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

/// Replaces an existing case's document and the columns derived from it; the id, recorder
/// and recording time stay those of the first write.
async fn replace_case(conn: &mut SqliteConnection, new: &NewCase) -> Result<(), StoreError> {
    let case = &new.case;
    let document = serde_json::to_string(case).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "UPDATE cases SET organiser = ?, owner = ?, received_at = ?, person_key = ?, reference = ?, due_by = ?, \
         document = ? WHERE id = ?",
    )
    .bind(case.organiser.clone())
    .bind(case.owner().to_string())
    .bind(stored_time(&case.received_at))
    .bind(new.person.as_ref().map(|p| p.as_str().to_string()))
    .bind(case.reference.clone())
    .bind(case.due_by.as_ref().map(stored_time))
    .bind(document)
    .bind(case.id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Hands a case to its receiver (the new document and owner) and appends the history row with
/// the document as sent; the row's `seq` follows the case's earlier transfers.
async fn apply_transfer(conn: &mut SqliteConnection, t: &NewTransfer) -> Result<(), StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let document = serde_json::to_string(&t.case).map_err(corrupt)?;
    let snapshot = serde_json::to_string(&t.snapshot).map_err(corrupt)?;
    sqlx::query("UPDATE cases SET owner = ?, document = ? WHERE id = ?")
        .bind(t.case.owner().to_string())
        .bind(document)
        .bind(t.case.id.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO case_transfers (id, case_id, seq, from_org, to_org, reason, note, at, by_client, document) \
         SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM case_transfers WHERE case_id = ?",
    )
    .bind(t.id.to_string())
    .bind(t.case.id.to_string())
    .bind(&t.from_org)
    .bind(&t.to_org)
    .bind(&t.reason)
    .bind(&t.note)
    .bind(stored_time(&t.at))
    .bind(&t.by_client)
    .bind(snapshot)
    .bind(t.case.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn transfer_row(row: &SqliteRow) -> Result<Transfer, StoreError> {
    let uuid = |column: &str| -> Result<Uuid, StoreError> {
        let text: String = row.try_get(column)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
    };
    let document: String = row.try_get("document")?;
    Ok(Transfer {
        id: uuid("id")?,
        case_id: uuid("case_id")?,
        seq: row.try_get("seq")?,
        from_org: row.try_get("from_org")?,
        to_org: row.try_get("to_org")?,
        reason: row.try_get("reason")?,
        note: row.try_get("note")?,
        at: parse_time(&row.try_get::<String, _>("at")?)?,
        by_client: row.try_get("by_client")?,
        snapshot: serde_json::from_str(&document).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

async fn insert_audit(conn: &mut SqliteConnection, records: &[AuditRecord]) -> Result<(), StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO audit_log (seq, time, client_id, end_user, role, action, purpose, person, organisation, \
         service, exchange_id, outcome, request_digest, response_digest, correlation_id, prev_hash, hash) ",
    );
    sql.push_values(records, |mut row, r| {
        let e = &r.event;
        row.push_bind(r.seq)
            .push_bind(stored_time(&e.time))
            .push_bind(e.actor.client_id.clone())
            .push_bind(e.actor.end_user.clone())
            .push_bind(e.actor.role.clone())
            .push_bind(e.action.clone())
            .push_bind(e.purpose.clone())
            .push_bind(e.person.as_ref().map(|p| p.as_str().to_string()))
            .push_bind(e.organisation.clone())
            .push_bind(e.service.clone())
            .push_bind(e.exchange_id.map(|id| id.to_string()))
            .push_bind(e.outcome.clone())
            .push_bind(e.request_digest.clone())
            .push_bind(e.response_digest.clone())
            .push_bind(e.correlation_id.clone())
            .push_bind(r.prev_hash.clone())
            .push_bind(r.hash.clone());
    });
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

async fn insert_idempotency(conn: &mut SqliteConnection, claims: &[&IdempotencyClaim]) -> Result<(), StoreError> {
    let now = stored_time(&Utc::now());
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO idempotency (client_id, key, request_hash, status, location, body, created_at) ",
    );
    sql.push_values(claims, |mut row, claim| {
        row.push_bind(claim.client_id.clone())
            .push_bind(claim.key.clone())
            .push_bind(claim.request_hash.clone())
            .push_bind(i64::from(claim.response.status))
            .push_bind(claim.response.location.clone())
            .push_bind(claim.response.body.clone())
            .push_bind(now.clone());
    });
    sql.build().persistent(false).execute(conn).await?;
    Ok(())
}

/// Test hook: lets a test tamper with the trail the way an attacker with file access could.
#[cfg(test)]
pub(super) async fn tamper(path: &std::path::Path, sql: &str) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path)).await?;
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    Ok(())
}
