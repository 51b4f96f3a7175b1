// Reads of the store, and the row decoding both backends share. Included by each backend
// module (`sqlite.rs`, `postgres.rs`), which defines `Backend`, `Db`, `DbRow`, `DbConnection`
// and the few dialect items (`document_field`, `POSITION`, `lease_due`, `lock_chain_head`).

/// Timestamps are stored as fixed-width RFC 3339 UTC text so that text order is time order.
fn stored_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

/// Both backends run the same numbered migrations, each from its own directory.
fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = migrations
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

impl Backend {
    pub async fn case(&self, id: Uuid) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query("SELECT document FROM cases WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        row.map(|r| case_document(&r)).transpose()
    }

    pub async fn case_transfers(&self, case_id: Uuid) -> Result<Vec<Transfer>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, seq, from_org, to_org, reason, note, at, by_client, document FROM case_transfers \
             WHERE case_id = $1 ORDER BY seq",
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
                .push(open_case());
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
            "SELECT organiser, COUNT(*) AS n FROM cases WHERE due_by IS NOT NULL AND due_by <= $1{} \
             GROUP BY organiser ORDER BY organiser",
            open_case()
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
            "SELECT MAX(CAST(substr(reference, CAST($1 AS INTEGER)) AS BIGINT)) AS n FROM cases \
             WHERE reference IS NOT NULL AND substr(reference, 1, CAST($2 AS INTEGER)) = $3",
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
        let row = sqlx::query(&format!("SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let exchange = exchange_row(&row)?;
        let attempts = sqlx::query(
            "SELECT attempt, started_at, outcome, latency_ms, error FROM exchange_attempts WHERE exchange_id = $1 ORDER BY attempt",
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
        let events = sqlx::query("SELECT kind, type, time FROM exchange_events WHERE exchange_id = $1 ORDER BY time")
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
             FROM saml_requests WHERE relay_state = $1",
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
            "SELECT {LOGIN_SESSION_COLUMNS} FROM login_sessions WHERE id = $1"
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
            "SELECT {LOGIN_SESSION_COLUMNS} FROM login_sessions WHERE name_id = $1 AND ended_at IS NULL \
             AND ($2 IS NULL OR session_index = $2)"
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
            sqlx::query_scalar("SELECT value FROM job_state WHERE job = $1 AND key = $2")
                .bind(job)
                .bind(key)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    pub async fn job_lease_holder(&self, job: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT holder FROM job_leases WHERE job = $1")
            .bind(job)
            .fetch_optional(&self.readers)
            .await?)
    }

    pub async fn job_runs(&self, job: &str, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, job, started_at, finished_at, outcome, counts, error FROM job_runs WHERE job = $1 \
             ORDER BY started_at DESC LIMIT $2",
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
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(audit_record).collect()
    }
}
/// A case not yet answered nor closed (both live only in the case document).
fn open_case() -> String {
    format!(
        " AND {} IS NULL AND {} IS NULL",
        document_field("answered_at"),
        document_field("closed_at")
    )
}

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

fn case_document(row: &DbRow) -> Result<Case, StoreError> {
    let doc: String = row.try_get("document")?;
    serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(format!("case document: {e}")))
}

fn stored_response(row: &DbRow) -> Result<(String, StoredResponse), StoreError> {
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

fn audit_record(row: &DbRow) -> Result<AuditRecord, StoreError> {
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

fn login_session_row(row: &DbRow) -> Result<LoginSession, StoreError> {
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

fn exchange_row(row: &DbRow) -> Result<Exchange, StoreError> {
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
        sqlx::query("SELECT request_hash, status, location, body FROM idempotency WHERE client_id = $1 AND key = $2")
            .bind(client_id)
            .bind(key)
            .fetch_optional(conn)
            .await?;
    row.map(|r| stored_response(&r)).transpose()
}

fn transfer_row(row: &DbRow) -> Result<Transfer, StoreError> {
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
