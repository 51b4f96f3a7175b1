//! The Suomi.fi Messages jobs: reading the service's events back onto their exchanges, and
//! rotating each organisation's password.

use crate::broker::{exchange_audit_event, Broker};
use crate::store::{ExchangeEvent, Store, Write};
use chrono::{DateTime, Utc};
use portti_adapter_core::{CallContext, Operation};
use portti_suomifi_messages as messages;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::JobResult;

/// At most this many pages per organisation and run, so one run cannot go on for ever.
const MAX_PAGES: usize = 50;

fn context() -> CallContext {
    CallContext {
        exchange_id: uuid::Uuid::now_v7(),
        attempt: 1,
        correlation_id: uuid::Uuid::now_v7().to_string(),
        deadline: Instant::now() + Duration::from_secs(30),
    }
}

/// Pages through each organisation's events from its saved continuation token, attaching each
/// event to the exchange whose message it is, and saving the new token in the same write.
/// The organisations with a Suomi.fi Messages adapter, limited to `only` if given.
fn organisations(broker: &Broker, only: Option<&[String]>) -> Vec<String> {
    broker
        .adapters()
        .organisations(messages::SERVICE)
        .into_iter()
        .filter(|o| only.is_none_or(|only| only.contains(o)))
        .collect()
}

pub async fn poll_events(store: &Store, broker: &Broker, only: Option<&[String]>) -> JobResult {
    let (mut pages, mut events, mut matched) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    for organisation in organisations(broker, only) {
        let Some(adapter) = broker.adapters().get(messages::SERVICE, &organisation) else {
            continue;
        };
        for _ in 0..MAX_PAGES {
            let token = store
                .job_state(super::MESSAGES_EVENTS, &organisation)
                .await
                .map_err(|e| (json!({}), e.to_string()))?;
            let operation = Operation {
                name: messages::OP_EVENTS.into(),
                payload: json!({ "continuation_token": token }),
            };
            let reply = match adapter.call(&context(), &operation).await {
                Ok(reply) => reply,
                Err(e) => {
                    failures.push(format!("{organisation}: {e}"));
                    break;
                }
            };
            pages += 1;
            let page: Vec<Value> = reply.body["events"].as_array().cloned().unwrap_or_default();
            let next_token = reply.body["continuation_token"].as_str().map(str::to_string);
            events += page.len() as u64;
            // The external id is the exchange id: it finds an event even before the send's
            // outcome (and so its message id) was recorded. The message id is the fallback.
            let external: Vec<uuid::Uuid> = page
                .iter()
                .filter_map(|e| e["external_id"].as_str().and_then(|id| id.parse().ok()))
                .collect();
            let message_ids: Vec<String> = page
                .iter()
                .filter_map(|e| e["message_id"].as_str().map(str::to_string))
                .collect();
            let mut found = store
                .exchanges_by_ids(&external)
                .await
                .map_err(|e| (json!({}), e.to_string()))?;
            found.extend(
                store
                    .exchanges_by_upstream(messages::SERVICE, &message_ids)
                    .await
                    .map_err(|e| (json!({}), e.to_string()))?,
            );
            let found: Vec<crate::store::Exchange> = found
                .into_iter()
                .filter(|x| x.organisation == organisation && x.service == messages::SERVICE)
                .collect();
            let by_external: HashMap<String, &crate::store::Exchange> =
                found.iter().map(|x| (x.id.to_string(), x)).collect();
            let by_message: HashMap<String, &crate::store::Exchange> = found
                .iter()
                .filter_map(|x| x.upstream_id.clone().map(|id| (id, x)))
                .collect();
            let mut write = Write::default();
            for event in &page {
                let exchange = event["external_id"]
                    .as_str()
                    .and_then(|id| by_external.get(id))
                    .or_else(|| event["message_id"].as_str().and_then(|id| by_message.get(id)));
                let Some(exchange) = exchange.copied() else {
                    continue;
                };
                matched += 1;
                let kind = event["kind"].as_str().unwrap_or("other").to_string();
                let time = event["time"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(Utc::now);
                write.exchange_events.push((
                    exchange.id,
                    ExchangeEvent {
                        kind: kind.clone(),
                        kind_upstream: event["type"].as_str().unwrap_or("").to_string(),
                        time,
                    },
                ));
                write
                    .audit
                    .push(exchange_audit_event(exchange, "exchange.event", &kind));
            }
            let advanced = next_token.is_some() && next_token != token;
            if let Some(next) = next_token {
                write
                    .job_state
                    .push((super::MESSAGES_EVENTS.into(), organisation.clone(), next));
            }
            store.commit(write).await.map_err(|e| (json!({}), e.to_string()))?;
            if page.is_empty() || !advanced {
                break;
            }
        }
    }
    let counts = json!({ "pages": pages, "events": events, "matched": matched });
    if failures.is_empty() {
        Ok(counts)
    } else {
        Err((counts, failures.join("; ")))
    }
}

pub async fn rotate_passwords(broker: &Broker, only: Option<&[String]>) -> JobResult {
    let (mut rotated, mut failures) = (0u64, Vec::new());
    for organisation in organisations(broker, only) {
        let Some(adapter) = broker.adapters().get(messages::SERVICE, &organisation) else {
            continue;
        };
        let operation = Operation {
            name: messages::OP_CHANGE_PASSWORD.into(),
            payload: json!({}),
        };
        match adapter.call(&context(), &operation).await {
            Ok(_) => rotated += 1,
            Err(e) => failures.push(format!("{organisation}: {e}")),
        }
    }
    let counts = json!({ "rotated": rotated, "failed": failures.len() });
    if failures.is_empty() {
        Ok(counts)
    } else {
        Err((counts, failures.join("; ")))
    }
}
