// SQL of the audit trail's checkpoints and archives, and of exchange payload retention.


const CHECKPOINT_COLUMNS: &str = "seq, hash, time, key_id, algorithm, signature, timestamp_token, timestamped_at";

fn checkpoint_row(row: &DbRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        time: parse_time(row.try_get("time")?)?,
        key_id: row.try_get("key_id")?,
        algorithm: row.try_get("algorithm")?,
        signature: row.try_get("signature")?,
        timestamp_token: row.try_get("timestamp_token")?,
        timestamped_at: row
            .try_get::<Option<String>, _>("timestamped_at")?
            .map(|t| parse_time(&t))
            .transpose()?,
    })
}

fn archive_row(row: &DbRow) -> Result<ArchiveEntry, StoreError> {
    Ok(ArchiveEntry {
        first_seq: row.try_get("first_seq")?,
        last_seq: row.try_get("last_seq")?,
        prev_hash: row.try_get("prev_hash")?,
        last_hash: row.try_get("last_hash")?,
        file: row.try_get("file")?,
        sha256: row.try_get("sha256")?,
        created_at: parse_time(row.try_get("created_at")?)?,
    })
}

impl Backend {
    /// The chain's last record: the last stored row, or the last archived one if none is left.
    pub async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let mut conn = self.readers.acquire().await?;
        chain_head(&mut conn).await
    }

    pub async fn audit_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
            .fetch_one(&self.readers)
            .await?)
    }

    pub async fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1"
        ))
        .fetch_optional(&self.readers)
        .await?
        .map(|r| checkpoint_row(&r))
        .transpose()
    }

    pub async fn checkpoint_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_checkpoints")
            .fetch_one(&self.readers)
            .await?)
    }

    /// Checkpoints of records `after_seq < seq <= to_seq`, in sequence order.
    pub async fn audit_checkpoints(&self, after_seq: i64, to_seq: i64) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq, id"
        ))
        .bind(after_seq)
        .bind(to_seq)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// The newest checkpoint of a record in `after_seq < seq < before_seq`.
    pub async fn checkpoint_below(&self, after_seq: i64, before_seq: i64) -> Result<Option<Checkpoint>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq > $1 AND seq < $2 \
             ORDER BY seq DESC, id DESC LIMIT 1"
        ))
        .bind(after_seq)
        .bind(before_seq)
        .fetch_optional(&self.readers)
        .await?
        .map(|r| checkpoint_row(&r))
        .transpose()
    }

    /// The first stored record written at or after `time`.
    pub async fn audit_first_seq_from(&self, time: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MIN(seq) FROM audit_log WHERE time >= $1")
            .bind(stored_time(&time))
            .fetch_one(&self.readers)
            .await?)
    }

    pub async fn audit_archives(&self) -> Result<Vec<ArchiveEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT first_seq, last_seq, prev_hash, last_hash, file, sha256, created_at FROM audit_archives \
             ORDER BY first_seq",
        )
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(archive_row).collect()
    }

    /// Ended exchanges (succeeded or dead) last changed before `before` whose payload is still kept.
    pub async fn exchanges_with_payload_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM exchanges WHERE status IN ('succeeded', 'dead') AND updated_at < $1 \
             AND payload_pruned_at IS NULL ORDER BY updated_at LIMIT $2",
        )
        .bind(stored_time(&before))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        ids.iter()
            .map(|s| s.parse().map_err(|_| StoreError::Corrupt("exchange id".into())))
            .collect()
    }

    /// When an exchange's payload was removed by retention, if it was.
    pub async fn exchange_payload_pruned_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<Option<String>> = sqlx::query_scalar("SELECT payload_pruned_at FROM exchanges WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        at.flatten().map(|t| parse_time(&t)).transpose()
    }
}

/// The chain's last record; when every row was archived, the last archive's.
async fn chain_head(conn: &mut DbConnection) -> Result<ChainHead, StoreError> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head")
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => ChainHead {
            seq: r.try_get("seq")?,
            hash: r.try_get("hash")?,
        },
        None => ChainHead::default(),
    })
}

/// Stores a checkpoint only if the chain really has that record with that hash.
async fn insert_checkpoint(conn: &mut DbConnection, c: &Checkpoint) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO audit_checkpoints (seq, hash, time, key_id, algorithm, signature, timestamp_token, timestamped_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM audit_log WHERE seq = $9 AND hash = $10) \
         OR EXISTS (SELECT 1 FROM audit_archives WHERE last_seq = $11 AND last_hash = $12)",
    )
    .bind(c.seq)
    .bind(&c.hash)
    .bind(stored_time(&c.time))
    .bind(&c.key_id)
    .bind(&c.algorithm)
    .bind(&c.signature)
    .bind(&c.timestamp_token)
    .bind(c.timestamped_at.as_ref().map(stored_time))
    .bind(c.seq)
    .bind(&c.hash)
    .bind(c.seq)
    .bind(&c.hash)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(StoreError::Corrupt(format!(
            "a checkpoint of record {} does not match the chain",
            c.seq
        )));
    }
    Ok(())
}

/// Records an archived segment and removes its rows (the trigger allows only archived ones).
async fn archive_segment(conn: &mut DbConnection, a: &ArchiveEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_archives (first_seq, last_seq, prev_hash, last_hash, file, sha256, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(a.first_seq)
    .bind(a.last_seq)
    .bind(&a.prev_hash)
    .bind(&a.last_hash)
    .bind(&a.file)
    .bind(&a.sha256)
    .bind(stored_time(&a.created_at))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM audit_log WHERE seq >= $1 AND seq <= $2")
        .bind(a.first_seq)
        .bind(a.last_seq)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn prune_payloads(conn: &mut DbConnection, p: &PayloadPrune) -> Result<(), StoreError> {
    for chunk in p.exchanges.chunks(500) {
        let mut sql =
            QueryBuilder::<Db>::new("UPDATE exchanges SET payload = 'null', payload_pruned_at = ");
        sql.push_bind(stored_time(&p.at))
            .push(" WHERE status IN ('succeeded', 'dead') AND payload_pruned_at IS NULL AND id IN (");
        let mut list = sql.separated(", ");
        for id in chunk {
            list.push_bind(id.to_string());
        }
        sql.push(")");
        sql.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}
