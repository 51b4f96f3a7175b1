//! SQL of the service catalogue (`ptv_services`, `ptv_channels`).

use super::{parse_time, stored_time, Sqlite};
use crate::store::services::{CatalogueHashes, CatalogueSync, ServiceQuery, StoredService};
use crate::store::{Page, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite as Db, SqliteConnection};

const LANGUAGES: [&str; 3] = ["fi", "sv", "en"];

/// Writes one municipality's sync: upserts what is new or changed (a reappearing row loses its
/// `removed_at`; `first_seen` stays), marks what disappeared. Unchanged rows are not touched.
pub(super) async fn apply_sync(conn: &mut SqliteConnection, sync: &CatalogueSync) -> Result<(), StoreError> {
    let at = stored_time(&sync.at);
    for s in &sync.services {
        sqlx::query(
            "INSERT INTO ptv_services (municipality, id, hash, document, search_fi, search_sv, search_en, \
             first_seen, changed_at, removed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) \
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
             VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (municipality, id) DO UPDATE SET hash = excluded.hash, \
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
                "UPDATE {table} SET removed_at = ? WHERE municipality = ? AND id = ? AND removed_at IS NULL"
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

fn service_row(row: &SqliteRow) -> Result<StoredService, StoreError> {
    Ok(StoredService {
        municipality: row.try_get("municipality")?,
        id: row.try_get("id")?,
        document: row.try_get("document")?,
        first_seen: parse_time(row.try_get("first_seen")?)?,
        changed_at: parse_time(row.try_get("changed_at")?)?,
    })
}

impl Sqlite {
    pub async fn catalogue_hashes(&self, municipality: &str) -> Result<CatalogueHashes, StoreError> {
        let mut hashes = CatalogueHashes::default();
        for (table, map) in [
            ("ptv_services", &mut hashes.services),
            ("ptv_channels", &mut hashes.channels),
        ] {
            let rows = sqlx::query(&format!(
                "SELECT id, hash FROM {table} WHERE municipality = ? AND removed_at IS NULL"
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
            sql.push(format!(" AND instr({column}, "));
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
             WHERE id = ? AND removed_at IS NULL ORDER BY municipality",
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

#[cfg(test)]
mod tests {
    use crate::store::{CatalogueChannel, CatalogueService, CatalogueSync, ServiceQuery, Store, StoreConfig, Write};
    use chrono::{DateTime, Duration, Utc};

    async fn open() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig {
            sqlite_path: dir.path().join("portti.db"),
            max_batch: 8,
            read_connections: 1,
            max_size_bytes: None,
        })
        .await
        .unwrap();
        (store, dir)
    }

    fn service(id: &str, hash: &str, sv: &str) -> CatalogueService {
        CatalogueService {
            id: id.into(),
            hash: hash.into(),
            document: format!("{{\"id\":\"{id}\",\"hash\":\"{hash}\"}}"),
            search: ["kotihoito".into(), sv.into(), "home care".into()],
        }
    }

    fn sync(at: DateTime<Utc>, services: Vec<CatalogueService>, removed: &[&str]) -> Write {
        Write {
            catalogue_sync: Some(CatalogueSync {
                municipality: "853".into(),
                at,
                services,
                removed_services: removed.iter().map(|r| r.to_string()).collect(),
                channels: vec![CatalogueChannel {
                    id: "c1".into(),
                    hash: "h".into(),
                    document: "{\"id\":\"c1\"}".into(),
                }],
                removed_channels: vec![],
            }),
            ..Write::default()
        }
    }

    fn query(text: Option<&str>, language: &str, after: Option<&str>, limit: u32) -> ServiceQuery {
        ServiceQuery {
            municipality: "853".into(),
            language: language.into(),
            text: text.map(str::to_owned),
            after: after.map(str::to_owned),
            limit,
        }
    }

    #[tokio::test]
    async fn changes_removals_and_a_return_keep_first_seen() {
        let (store, _dir) = open().await;
        let t1 = DateTime::from_timestamp(Utc::now().timestamp() - 7200, 0).unwrap();
        let (t2, t3) = (t1 + Duration::hours(1), t1 + Duration::hours(2));
        store
            .commit(sync(
                t1,
                vec![service("a", "1", "hemvård för äldre"), service("b", "2", "färdtjänst")],
                &[],
            ))
            .await
            .unwrap();
        let hashes = store.catalogue_hashes("853").await.unwrap();
        assert_eq!(hashes.services.len(), 2);
        assert_eq!(hashes.channels["c1"], "h");

        store
            .commit(sync(t2, vec![service("b", "3", "färdtjänst")], &["a"]))
            .await
            .unwrap();
        let page = store.catalogue_services(&query(None, "fi", None, 10)).await.unwrap();
        assert_eq!(page.items.len(), 1);
        let b = &page.items[0];
        assert_eq!((b.id.as_str(), b.first_seen, b.changed_at), ("b", t1, t2));
        assert!(store.catalogue_service("a").await.unwrap().is_empty());
        assert!(!store.catalogue_hashes("853").await.unwrap().services.contains_key("a"));

        store
            .commit(sync(t3, vec![service("a", "1", "hemvård för äldre")], &[]))
            .await
            .unwrap();
        let a = store.catalogue_service("a").await.unwrap();
        assert_eq!(
            (a[0].first_seen, a[0].changed_at),
            (t1, t3),
            "back again, first seen kept"
        );

        let found = store
            .catalogue_services(&query(Some("äldre"), "sv", None, 10))
            .await
            .unwrap();
        assert_eq!(found.items.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["a"]);
        assert!(store
            .catalogue_services(&query(Some("äldre"), "en", None, 10))
            .await
            .unwrap()
            .items
            .is_empty());
        let first = store.catalogue_services(&query(None, "fi", None, 1)).await.unwrap();
        assert_eq!(first.next.as_deref(), Some("a"));
        let rest = store
            .catalogue_services(&query(None, "fi", Some("a"), 1))
            .await
            .unwrap();
        assert_eq!((rest.items[0].id.as_str(), rest.next.as_deref()), ("b", None));
        assert_eq!(
            store
                .catalogue_channels("853", &["c1".into(), "x".into()])
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .catalogue_channels("202", &["c1".into()])
            .await
            .unwrap()
            .is_empty());
    }
}
