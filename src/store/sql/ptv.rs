// SQL of the service catalogue (`ptv_services`, `ptv_channels`).


const LANGUAGES: [&str; 3] = ["fi", "sv", "en"];

/// Writes one municipality's sync: upserts what is new or changed (a reappearing row loses its
/// `removed_at`; `first_seen` stays), marks what disappeared. Unchanged rows are not touched.
pub(super) async fn apply_sync(conn: &mut DbConnection, sync: &CatalogueSync) -> Result<(), StoreError> {
    let at = stored_time(&sync.at);
    for s in &sync.services {
        sqlx::query(
            "INSERT INTO ptv_services (municipality, id, hash, document, search_fi, search_sv, search_en, \
             first_seen, changed_at, removed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) \
             ON CONFLICT (municipality, id) DO UPDATE SET hash = excluded.hash, document = excluded.document, \
             search_fi = excluded.search_fi, search_sv = excluded.search_sv, search_en = excluded.search_en, \
             changed_at = excluded.changed_at, removed_at = NULL",
        )
        .bind(&sync.municipality)
        .bind(&s.id)
        .bind(&s.hash)
        .bind(&s.document)
        .bind(&s.search[0])
        .bind(&s.search[1])
        .bind(&s.search[2])
        .bind(&at)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    }
    for c in &sync.channels {
        sqlx::query(
            "INSERT INTO ptv_channels (municipality, id, hash, document, first_seen, changed_at, removed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT (municipality, id) DO UPDATE SET hash = excluded.hash, \
             document = excluded.document, changed_at = excluded.changed_at, removed_at = NULL",
        )
        .bind(&sync.municipality)
        .bind(&c.id)
        .bind(&c.hash)
        .bind(&c.document)
        .bind(&at)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    }
    for (table, ids) in [
        ("ptv_services", &sync.removed_services),
        ("ptv_channels", &sync.removed_channels),
    ] {
        for id in ids {
            sqlx::query(&format!(
                "UPDATE {table} SET removed_at = $1 WHERE municipality = $2 AND id = $3 AND removed_at IS NULL"
            ))
            .bind(&at)
            .bind(&sync.municipality)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

fn service_row(row: &DbRow) -> Result<StoredService, StoreError> {
    Ok(StoredService {
        municipality: row.try_get("municipality")?,
        id: row.try_get("id")?,
        document: row.try_get("document")?,
        first_seen: parse_time(row.try_get("first_seen")?)?,
        changed_at: parse_time(row.try_get("changed_at")?)?,
    })
}

impl Backend {
    pub async fn catalogue_hashes(&self, municipality: &str) -> Result<CatalogueHashes, StoreError> {
        let mut hashes = CatalogueHashes::default();
        for (table, map) in [
            ("ptv_services", &mut hashes.services),
            ("ptv_channels", &mut hashes.channels),
        ] {
            let rows = sqlx::query(&format!(
                "SELECT id, hash FROM {table} WHERE municipality = $1 AND removed_at IS NULL"
            ))
            .bind(municipality)
            .fetch_all(&self.readers)
            .await?;
            for row in rows {
                map.insert(row.try_get("id")?, row.try_get("hash")?);
            }
        }
        Ok(hashes)
    }

    /// A municipality's services in id order, optionally only those whose text shown in the
    /// query's language contains `text`.
    pub async fn catalogue_services(&self, q: &ServiceQuery) -> Result<Page<StoredService>, StoreError> {
        let column = match LANGUAGES.iter().position(|l| *l == q.language) {
            Some(i) => ["search_fi", "search_sv", "search_en"][i],
            None => return Err(StoreError::Corrupt(format!("no search text in {:?}", q.language))),
        };
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT municipality, id, document, first_seen, changed_at FROM ptv_services \
             WHERE removed_at IS NULL AND municipality = ",
        );
        sql.push_bind(&q.municipality);
        if let Some(text) = &q.text {
            sql.push(format!(" AND {POSITION}({column}, "));
            sql.push_bind(text);
            sql.push(") > 0");
        }
        if let Some(after) = &q.after {
            sql.push(" AND id > ");
            sql.push_bind(after);
        }
        sql.push(" ORDER BY id LIMIT ");
        sql.push_bind(i64::from(q.limit) + 1);
        let rows = sql.build().fetch_all(&self.readers).await?;
        let mut items = rows.iter().map(service_row).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > q.limit as usize {
            items.truncate(q.limit as usize);
            items.last().map(|s| s.id.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// A service in every municipality it is offered in (removed ones left out).
    pub async fn catalogue_service(&self, id: &str) -> Result<Vec<StoredService>, StoreError> {
        let rows = sqlx::query(
            "SELECT municipality, id, document, first_seen, changed_at FROM ptv_services \
             WHERE id = $1 AND removed_at IS NULL ORDER BY municipality",
        )
        .bind(id)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(service_row).collect()
    }

    /// The documents of these channels of a municipality (removed and unknown ones left out).
    pub async fn catalogue_channels(&self, municipality: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql =
            QueryBuilder::<Db>::new("SELECT document FROM ptv_channels WHERE removed_at IS NULL AND municipality = ");
        sql.push_bind(municipality);
        sql.push(" AND id IN (");
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(id);
        }
        sql.push(")");
        let rows = sql.build().fetch_all(&self.readers).await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("document").map_err(StoreError::from))
            .collect()
    }
}
