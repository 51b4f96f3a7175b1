//! The service catalogue's store, on both backends.

use super::{open, Kind};
use crate::store::{CatalogueChannel, CatalogueService, CatalogueSync, ServiceQuery, Write};
use chrono::{DateTime, Duration, Utc};

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

async fn changes_removals_and_a_return_keep_first_seen(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let store = &t.store;
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

on_both_backends!(changes_removals_and_a_return_keep_first_seen);
