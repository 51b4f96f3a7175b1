// The one write path: a group-commit batch in one transaction. Included by each backend.

/// Rows per multi-row INSERT; 19 exchange columns × 1000 stays under SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
const ROWS_PER_INSERT: usize = 1000;

/// One transaction for the whole batch, with one multi-row INSERT per table: a statement
/// costs a round trip to the database, a row inside a statement almost nothing. The audit
/// records are sealed last, from the head `lock_chain_head` gives (this writer's own copy on
/// SQLite; on PostgreSQL read under the lock that keeps every replica's appends in one
/// chain), so that lock is held only for the audit inserts and the commit. `chain` is what
/// the backend's writer keeps of the chain between batches.
async fn write_batch(
    conn: &mut DbConnection,
    chain: &mut ChainState,
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
    let mut records: Vec<AuditEvent> = Vec::new();
    let mut audit_ranges = Vec::new();
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
        audit_ranges.push((i, records.len()..records.len() + write.audit.len()));
        records.extend(write.audit.iter().cloned());
        *outcome = Some(WriteOutcome::Committed {
            audit_seqs: Vec::new(),
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
        sqlx::query("INSERT INTO job_state (job, key, value) VALUES ($1, $2, $3) ON CONFLICT (job, key) DO UPDATE SET value = excluded.value")
            .bind(job)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    for lease in batch_writes(batch, &outcomes).filter_map(|w| w.job_lease.as_ref()) {
        sqlx::query(
            "INSERT INTO job_leases (job, holder, slot, until) VALUES ($1, $2, $3, $4) ON CONFLICT (job) DO UPDATE \
             SET holder = excluded.holder, slot = excluded.slot, until = excluded.until \
             WHERE (job_leases.until <= $5 AND job_leases.slot < excluded.slot) OR job_leases.holder = excluded.holder",
        )
        .bind(&lease.job)
        .bind(&lease.holder)
        .bind(stored_time(&lease.slot))
        .bind(stored_time(&lease.until))
        .bind(stored_time(&lease.now))
        .execute(&mut *tx)
        .await?;
    }
    for change in logins {
        apply_login(&mut tx, change).await?;
    }
    for sync in catalogue {
        apply_sync(&mut tx, sync).await?;
    }
    for chunk in claims.chunks(ROWS_PER_INSERT) {
        insert_idempotency(&mut tx, chunk).await?;
    }
    for (i, lease) in leases {
        let leased = lease_due(&mut tx, lease).await?;
        if let Some(audit_of) = lease.audit {
            records.extend(leased.iter().map(audit_of));
        }
        if let Some(WriteOutcome::Committed { leased: slot, .. }) = outcomes[i].as_mut() {
            *slot = leased;
        }
    }
    let mut new_head = lock_chain_head(&mut tx, chain).await?;
    let records: Vec<AuditRecord> = records.into_iter().map(|event| seal(&mut new_head, event)).collect();
    for chunk in records.chunks(ROWS_PER_INSERT) {
        insert_audit(&mut tx, chunk).await?;
    }
    for (i, range) in audit_ranges {
        if let Some(WriteOutcome::Committed { audit_seqs, .. }) = outcomes[i].as_mut() {
            *audit_seqs = records[range].iter().map(|r| r.seq).collect();
        }
    }
    for write in batch_writes(batch, &outcomes) {
        if let Some(checkpoint) = &write.audit_checkpoint {
            insert_checkpoint(&mut tx, checkpoint).await?;
        }
        if let Some(archive) = &write.audit_archive {
            archive_segment(&mut tx, archive).await?;
        }
        if let Some(prune) = &write.payload_prune {
            prune_payloads(&mut tx, prune).await?;
        }
    }
    tx.commit().await?;
    chain_committed(chain, new_head);
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
    tx: &mut DbConnection,
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
            let seen: Option<String> = sqlx::query_scalar("SELECT id FROM saml_assertions WHERE id = $1")
                .bind(assertion_id)
                .fetch_optional(&mut *tx)
                .await?;
            let request: Option<Option<String>> =
                sqlx::query_scalar("SELECT used_at FROM saml_requests WHERE relay_state = $1")
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

async fn apply_login(tx: &mut DbConnection, change: &LoginChange) -> Result<(), StoreError> {
    match change {
        LoginChange::RequestSent(r) => {
            sqlx::query(
                "INSERT INTO saml_requests (relay_state, request_id, return_to, locale, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
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
            sqlx::query("UPDATE saml_requests SET used_at = $1 WHERE relay_state = $2")
                .bind(&now)
                .bind(relay_state)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO saml_assertions (id, expires_at, seen_at) VALUES ($1, $2, $3)")
                .bind(assertion_id)
                .bind(stored_time(assertion_expires_at))
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO login_sessions (id, name_id, session_index, person_key, loa, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
            sqlx::query("UPDATE saml_requests SET used_at = $1 WHERE relay_state = $2 AND used_at IS NULL")
                .bind(stored_time(at))
                .bind(relay_state)
                .execute(&mut *tx)
                .await?;
        }
        LoginChange::SessionEnded { session_id, at } => {
            sqlx::query("UPDATE login_sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                .bind(stored_time(at))
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

async fn insert_exchanges(conn: &mut DbConnection, rows: &[&Exchange]) -> Result<(), StoreError> {
    let mut values = Rows::default();
    for e in rows {
        values
            .text(e.id.to_string())
            .text(&e.service)
            .text(&e.organisation)
            .text(&e.operation)
            .text(e.payload.to_string())
            .opt_text(e.person.as_ref().map(|p| p.as_str()))
            .opt_text(e.case_id.map(|id| id.to_string()))
            .text(e.status.as_str())
            .int(i64::from(e.attempts))
            .int(i64::from(e.budget_attempt))
            .text(stored_time(&e.budget_since))
            .text(stored_time(&e.due_at))
            .opt_text(e.lease_until.as_ref().map(stored_time))
            .opt_text(e.upstream_id.as_deref())
            .opt_text(e.last_error.as_deref())
            .text(&e.recorded_by)
            .text(&e.correlation_id)
            .text(stored_time(&e.created_at))
            .text(stored_time(&e.updated_at))
            .end_row();
    }
    let mut sql = QueryBuilder::<Db>::new(format!("INSERT INTO exchanges ({EXCHANGE_COLUMNS}) "));
    push_rows(&mut sql, values);
    execute_rows(conn, sql).await
}

/// All updates of a batch in one statement: UPDATE … FROM (VALUES …).
async fn update_exchanges(conn: &mut DbConnection, rows: &[&ExchangeUpdate]) -> Result<(), StoreError> {
    let now = stored_time(&Utc::now());
    let mut values = Rows::default();
    for u in rows {
        let (expect_status, expect_lease) = match u.expect {
            Expect::Leased(until) => (ExchangeStatus::InFlight, Some(stored_time(&until))),
            Expect::Status(status) => (status, None),
        };
        values
            .text(u.id.to_string())
            .text(u.status.as_str())
            .int(i64::from(u.attempts))
            .text(stored_time(&u.due_at))
            .opt_text(u.upstream_id.as_deref())
            .opt_text(u.last_error.as_deref())
            .opt_int(u.new_budget.map(|(a, _)| i64::from(a)))
            .opt_text(u.new_budget.map(|(_, t)| stored_time(&t)))
            .text(expect_status.as_str())
            .opt_text(expect_lease)
            .end_row();
    }
    let mut sql = QueryBuilder::<Db>::new(
        "WITH v(id, status, attempts, due_at, upstream_id, last_error, budget_attempt, budget_since, \
         expect_status, expect_lease) AS (",
    );
    push_rows(&mut sql, values);
    sql.push(") UPDATE exchanges SET status = v.status, attempts = v.attempts, due_at = v.due_at, ")
        .push("upstream_id = COALESCE(v.upstream_id, exchanges.upstream_id), last_error = v.last_error, ")
        .push("budget_attempt = COALESCE(v.budget_attempt, exchanges.budget_attempt), ")
        .push("budget_since = COALESCE(v.budget_since, exchanges.budget_since), ")
        .push("lease_until = NULL, updated_at = ")
        .push_bind(now)
        .push(" FROM v WHERE exchanges.id = v.id AND exchanges.status = v.expect_status ")
        .push("AND (v.expect_lease IS NULL OR exchanges.lease_until = v.expect_lease)");
    execute_rows(conn, sql).await
}

async fn insert_attempts(conn: &mut DbConnection, rows: &[&(Uuid, Attempt)]) -> Result<(), StoreError> {
    let mut values = Rows::default();
    for (id, a) in rows {
        values
            .text(id.to_string())
            .int(i64::from(a.attempt))
            .text(stored_time(&a.started_at))
            .text(&a.outcome)
            .int(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
            .opt_text(a.error.as_deref())
            .end_row();
    }
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO exchange_attempts (exchange_id, attempt, started_at, outcome, latency_ms, error) ",
    );
    push_rows(&mut sql, values);
    // A worker whose lease ran out may report an attempt another worker also made.
    sql.push(" ON CONFLICT (exchange_id, attempt) DO NOTHING");
    execute_rows(conn, sql).await
}

async fn insert_exchange_events(
    conn: &mut DbConnection,
    rows: &[&(Uuid, ExchangeEvent)],
) -> Result<(), StoreError> {
    let now = stored_time(&Utc::now());
    let mut values = Rows::default();
    for (id, e) in rows {
        values
            .text(id.to_string())
            .text(&e.kind)
            .text(&e.kind_upstream)
            .text(stored_time(&e.time))
            .text(&now)
            .end_row();
    }
    let mut sql = QueryBuilder::<Db>::new("INSERT INTO exchange_events (exchange_id, kind, type, time, recorded_at) ");
    push_rows(&mut sql, values);
    // The service may send an event again (an overlapping run, a reused token): keep one.
    sql.push(" ON CONFLICT (exchange_id, type, time) DO NOTHING");
    execute_rows(conn, sql).await
}

async fn insert_job_runs(conn: &mut DbConnection, rows: &[&JobRun]) -> Result<(), StoreError> {
    let mut values = Rows::default();
    for r in rows {
        values
            .text(r.id.to_string())
            .text(&r.job)
            .text(stored_time(&r.started_at))
            .text(stored_time(&r.finished_at))
            .text(&r.outcome)
            .text(r.counts.to_string())
            .opt_text(r.error.as_deref())
            .end_row();
    }
    let mut sql =
        QueryBuilder::<Db>::new("INSERT INTO job_runs (id, job, started_at, finished_at, outcome, counts, error) ");
    push_rows(&mut sql, values);
    execute_rows(conn, sql).await
}

async fn insert_cases(conn: &mut DbConnection, rows: &[&NewCase]) -> Result<(), StoreError> {
    let mut values = Rows::default();
    for new in rows {
        let case = &new.case;
        let document = serde_json::to_string(case).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        values
            .text(case.id.to_string())
            .text(&case.organiser)
            .text(case.owner().to_string())
            .text(stored_time(&case.received_at))
            .opt_text(new.person.as_ref().map(|p| p.as_str()))
            .text(&case.recorded_by)
            .text(stored_time(&case.recorded_at))
            .opt_text(case.reference.as_deref())
            .opt_text(case.due_by.as_ref().map(stored_time))
            .text(document)
            .end_row();
    }
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO cases (id, organiser, owner, received_at, person_key, recorded_by, recorded_at, reference, due_by, \
         document) ",
    );
    push_rows(&mut sql, values);
    execute_rows(conn, sql).await
}

/// Replaces an existing case's document and the columns derived from it; the id, recorder
/// and recording time stay those of the first write.
async fn replace_case(conn: &mut DbConnection, new: &NewCase) -> Result<(), StoreError> {
    let case = &new.case;
    let document = serde_json::to_string(case).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "UPDATE cases SET organiser = $1, owner = $2, received_at = $3, person_key = $4, reference = $5, due_by = $6, \
         document = $7 WHERE id = $8",
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
async fn apply_transfer(conn: &mut DbConnection, t: &NewTransfer) -> Result<(), StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let document = serde_json::to_string(&t.case).map_err(corrupt)?;
    let snapshot = serde_json::to_string(&t.snapshot).map_err(corrupt)?;
    sqlx::query("UPDATE cases SET owner = $1, document = $2 WHERE id = $3")
        .bind(t.case.owner().to_string())
        .bind(document)
        .bind(t.case.id.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO case_transfers (id, case_id, seq, from_org, to_org, reason, note, at, by_client, document) \
         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9 FROM case_transfers WHERE case_id = $10",
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

async fn insert_audit(conn: &mut DbConnection, records: &[AuditRecord]) -> Result<(), StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO audit_log (seq, time, client_id, end_user, role, action, purpose, person, organisation, \
         service, exchange_id, outcome, request_digest, response_digest, correlation_id, prev_hash, hash) ",
    );
    let mut values = Rows::default();
    for r in records {
        let e = &r.event;
        values
            .int(r.seq)
            .text(stored_time(&e.time))
            .text(&e.actor.client_id)
            .opt_text(e.actor.end_user.as_deref())
            .opt_text(e.actor.role.as_deref())
            .text(&e.action)
            .opt_text(e.purpose.as_deref())
            .opt_text(e.person.as_ref().map(|p| p.as_str()))
            .opt_text(e.organisation.as_deref())
            .opt_text(e.service.as_deref())
            .opt_text(e.exchange_id.map(|id| id.to_string()))
            .text(&e.outcome)
            .opt_text(e.request_digest.as_deref())
            .opt_text(e.response_digest.as_deref())
            .text(&e.correlation_id)
            .text(&r.prev_hash)
            .text(&r.hash)
            .end_row();
    }
    push_rows(&mut sql, values);
    execute_rows(conn, sql).await
}

async fn insert_idempotency(conn: &mut DbConnection, claims: &[&IdempotencyClaim]) -> Result<(), StoreError> {
    let now = stored_time(&Utc::now());
    let mut sql = QueryBuilder::<Db>::new(
        "INSERT INTO idempotency (client_id, key, request_hash, status, location, body, created_at) ",
    );
    let mut values = Rows::default();
    for claim in claims {
        values
            .text(&claim.client_id)
            .text(&claim.key)
            .text(&claim.request_hash)
            .int(i64::from(claim.response.status))
            .opt_text(claim.response.location.as_deref())
            .bytes(claim.response.body.clone())
            .text(&now)
            .end_row();
    }
    push_rows(&mut sql, values);
    execute_rows(conn, sql).await
}


/// Runs a statement whose rows came from `push_rows`.
async fn execute_rows(conn: &mut DbConnection, mut sql: QueryBuilder<'_, Db>) -> Result<(), StoreError> {
    sql.build().persistent(ROW_STATEMENTS_ARE_STABLE).execute(conn).await?;
    Ok(())
}
