//! `ptv-services`: each configured municipality's services and their channels from the Suomi.fi
//! Finnish Service Catalogue, every page to `pageCount`, compared by content hash with what is
//! stored. Only a sync that read every page is written, in one transaction, so a failed page
//! leaves the previous catalogue as it was and only a complete sync marks anything removed; the
//! next run starts over (retries are the schedule's, as with the other jobs).

use super::JobResult;
use crate::broker::Broker;
use crate::store::{CatalogueChannel, CatalogueService, CatalogueSync, Store, Write};
use chrono::Utc;
use portti_adapter_core::Operation;
use portti_ptv::{Channel, ChannelsRequest, Localized, Service, ServicesPage, ServicesPageRequest, MAX_GUIDS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

const JOB: &str = super::PTV_SERVICES;
/// Pages of one municipality at most: a catalogue that never ends is an error, not a loop.
const MAX_PAGES: u32 = 1_000;

/// The language a text is shown in: the one asked for when the service (or channel) has a name
/// in it, else Finnish, else whatever it has.
pub fn shown_language(names: &Localized, wanted: &str) -> String {
    if names.contains_key(wanted) {
        wanted.to_owned()
    } else if names.contains_key("fi") || names.is_empty() {
        "fi".to_owned()
    } else {
        names.keys().next().cloned().unwrap_or_else(|| "fi".to_owned())
    }
}

/// Lower-cased name, summary and description as shown in `language`: what a search matches.
pub fn search_text(service: &Service, language: &str) -> String {
    let shown = shown_language(&service.names, language);
    [&service.names, &service.summaries, &service.descriptions]
        .iter()
        .filter_map(|texts| texts.get(&shown))
        .map(|t| t.to_lowercase())
        .collect::<Vec<_>>()
        .join("\n")
}

fn hash(document: &str) -> String {
    hex::encode(Sha256::digest(document.as_bytes()))
}

async fn call(broker: &Broker, municipality: &str, name: &str, payload: Value) -> Result<Value, String> {
    let operation = Operation {
        name: name.into(),
        payload,
    };
    (broker.call_now(portti_ptv::SERVICE, municipality, &operation).await)
        .map(|reply| reply.body)
        .map_err(|e| e.to_string())
}

/// Every page of a municipality's services and the channels they link to.
async fn fetch(broker: &Broker, municipality: &str) -> Result<(Vec<Service>, Vec<Channel>), String> {
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    let (mut page, mut page_count) = (1u32, None);
    loop {
        let body = call(
            broker,
            municipality,
            portti_ptv::OP_SERVICES_PAGE,
            json!(ServicesPageRequest {
                municipality: municipality.into(),
                page
            }),
        )
        .await
        .map_err(|e| format!("page {page}: {e}"))?;
        let answer: ServicesPage = serde_json::from_value(body).map_err(|e| format!("page {page}: {e}"))?;
        // Pages are offsets: a catalogue that changes size while we page could skip or repeat
        // services, and a torn snapshot must never mark anything removed.
        if page_count.is_some_and(|count| count != answer.page_count) {
            return Err(format!(
                "page {page}: the page count changed from {} to {} while paging",
                page_count.unwrap_or_default(),
                answer.page_count
            ));
        }
        page_count = Some(answer.page_count);
        for service in answer.services {
            services.insert(service.id.clone(), service);
        }
        if page >= answer.page_count {
            break;
        }
        if page >= MAX_PAGES {
            return Err(format!("more than {MAX_PAGES} pages"));
        }
        page += 1;
    }
    let ids: BTreeSet<String> = services
        .values()
        .flat_map(|s| s.channels.iter().map(|c| c.id.clone()))
        .collect();
    let ids: Vec<String> = ids.into_iter().filter(|id| portti_ptv::is_guid(id)).collect();
    let mut channels = Vec::new();
    for chunk in ids.chunks(MAX_GUIDS) {
        let body = call(
            broker,
            municipality,
            portti_ptv::OP_CHANNELS,
            json!(ChannelsRequest { ids: chunk.to_vec() }),
        )
        .await
        .map_err(|e| format!("channels: {e}"))?;
        let found: Vec<Channel> = serde_json::from_value(body.get("channels").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("channels: {e}"))?;
        channels.extend(found);
    }
    Ok((services.into_values().collect(), channels))
}

/// What changed against the stored hashes: (to write, removed ids, counts).
fn diff<T>(
    fetched: Vec<(String, String, T)>,
    stored: &std::collections::HashMap<String, String>,
) -> (Vec<(String, String, T)>, Vec<String>, Value) {
    let (mut added, mut changed, mut unchanged) = (0u64, 0u64, 0u64);
    let seen: BTreeSet<String> = fetched.iter().map(|f| f.0.clone()).collect();
    let total = fetched.len();
    let mut write = Vec::new();
    for (id, hash, item) in fetched {
        match stored.get(&id) {
            None => added += 1,
            Some(old) if *old == hash => {
                unchanged += 1;
                continue;
            }
            Some(_) => changed += 1,
        }
        write.push((id, hash, item));
    }
    let mut removed: Vec<String> = stored.keys().filter(|id| !seen.contains(*id)).cloned().collect();
    removed.sort();
    let counts = json!({
        "fetched": total, "added": added, "changed": changed, "removed": removed.len(), "unchanged": unchanged,
    });
    (write, removed, counts)
}

async fn sync_municipality(store: &Store, broker: &Broker, municipality: &str) -> Result<Value, String> {
    let (services, channels) = fetch(broker, municipality).await?;
    let stored = store.catalogue_hashes(municipality).await.map_err(|e| e.to_string())?;
    let documents = |items: Vec<(String, String)>| -> Vec<(String, String, String)> {
        items.into_iter().map(|(id, doc)| (id, hash(&doc), doc)).collect()
    };
    let service_docs: Vec<(String, String, (String, Service))> = services
        .into_iter()
        .map(|s| {
            let doc = serde_json::to_string(&s).unwrap_or_default();
            (s.id.clone(), hash(&doc), (doc, s))
        })
        .collect();
    let channel_docs = documents(
        channels
            .iter()
            .map(|c| (c.id.clone(), serde_json::to_string(c).unwrap_or_default()))
            .collect(),
    );
    let (write_services, removed_services, service_counts) = diff(service_docs, &stored.services);
    let (write_channels, removed_channels, channel_counts) = diff(channel_docs, &stored.channels);
    let now = Utc::now();
    let sync = CatalogueSync {
        municipality: municipality.to_owned(),
        at: now,
        services: write_services
            .into_iter()
            .map(|(id, hash, (document, service))| CatalogueService {
                id,
                hash,
                document,
                search: portti_ptv::LANGUAGES.map(|l| search_text(&service, l)),
            })
            .collect(),
        removed_services,
        channels: write_channels
            .into_iter()
            .map(|(id, hash, document)| CatalogueChannel { id, hash, document })
            .collect(),
        removed_channels,
    };
    store
        .commit(Write {
            catalogue_sync: Some(sync),
            job_state: vec![(JOB.into(), municipality.to_owned(), now.to_rfc3339())],
            ..Write::default()
        })
        .await
        .map_err(|e| format!("not stored: {e}"))?;
    let mut counts = service_counts;
    counts["channels"] = channel_counts;
    Ok(counts)
}

/// Syncs every municipality with a PTV adapter (or only those in `only`); counts per municipality.
pub async fn sync_services(store: &Store, broker: &Broker, only: Option<&[String]>) -> JobResult {
    let mut counts = serde_json::Map::new();
    let mut failures = Vec::new();
    for municipality in broker.adapters().organisations(portti_ptv::SERVICE) {
        if only.is_some_and(|o| !o.contains(&municipality)) {
            continue;
        }
        match sync_municipality(store, broker, &municipality).await {
            Ok(c) => {
                counts.insert(municipality, c);
            }
            Err(e) => {
                counts.insert(municipality.clone(), json!({ "failed": true }));
                failures.push(format!("{municipality}: {e}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(Value::Object(counts))
    } else {
        Err((Value::Object(counts), failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn localized(pairs: &[(&str, &str)]) -> Localized {
        pairs.iter().map(|(l, v)| (l.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_missing_language_falls_back_to_finnish() {
        let names = localized(&[("fi", "Päivätoiminta"), ("en", "Day activities")]);
        assert_eq!(shown_language(&names, "sv"), "fi");
        assert_eq!(shown_language(&names, "en"), "en");
        assert_eq!(shown_language(&localized(&[("sv", "Hemvård")]), "en"), "sv");
    }

    #[test]
    fn search_text_is_lower_case_beyond_ascii() {
        let service = Service {
            id: "x".into(),
            service_type: None,
            names: localized(&[("fi", "Ikäihmisten PALVELUT"), ("sv", "Service för ÄLDRE")]),
            summaries: localized(&[("sv", "Rådgivning")]),
            descriptions: Localized::new(),
            languages: vec![],
            channels: vec![],
            modified: None,
        };
        assert_eq!(search_text(&service, "sv"), "service för äldre\nrådgivning");
        assert_eq!(search_text(&service, "en"), "ikäihmisten palvelut");
    }

    #[test]
    fn the_diff_counts_added_changed_unchanged_and_removed() {
        let stored: std::collections::HashMap<String, String> = [("a", "1"), ("b", "2"), ("gone", "3")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let fetched = vec![
            ("a".to_string(), "1".to_string(), ()),
            ("b".to_string(), "changed".to_string(), ()),
            ("new".to_string(), "4".to_string(), ()),
        ];
        let (write, removed, counts) = diff(fetched, &stored);
        let written: Vec<&str> = write.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(written, ["b", "new"], "an unchanged entry is not rewritten");
        assert_eq!(removed, ["gone"]);
        assert_eq!(
            counts,
            json!({"fetched": 3, "added": 1, "changed": 1, "removed": 1, "unchanged": 1})
        );
    }
}
