//! `/v1/services`: the services offered in a municipality and how to reach them (channels), from
//! the Suomi.fi Finnish Service Catalogue as the `ptv-services` job last synced it, in the
//! language asked for — Finnish where the catalogue has no version in it, and saying so.

use super::extract::QueryParams;
use super::params::{self, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::AppState;
use crate::auth::{Caller, Scope};
use crate::jobs::ptv::shown_language;
use crate::store::{ServiceQuery, StoredService};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use portti_ptv::{Channel, Localized, Service};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use utoipa::ToSchema;

const MAX_QUERY_CHARS: usize = 200;

/// A service in one language.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    /// The catalogue's id (a GUID).
    pub id: String,
    pub municipality: String,
    /// The language of the texts: the one asked for, or `fi` when the service has no version in it.
    pub language: String,
    /// True when `language` is not the one asked for.
    pub fallback: bool,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The languages the service is given in.
    pub languages: Vec<String>,
    /// When the catalogue last modified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// When the sync first saw it, and last saw it change.
    pub first_seen: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    pub channels: Vec<ChannelView>,
    /// Every municipality the service is offered in (single service only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipalities: Option<Vec<String>>,
}

/// A way to use the service: EChannel, WebPage, PrintableForm, Phone or ServiceLocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub id: String,
    #[serde(rename = "type")]
    pub channel_type: String,
    pub language: String,
    pub fallback: bool,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub urls: Vec<String>,
    pub phones: Vec<PhoneView>,
    pub emails: Vec<String>,
    pub addresses: Vec<String>,
    pub service_hours: Vec<ServiceHourView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhoneView {
    pub number: String,
    pub sms: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceHourView {
    /// DaysOfTheWeek, Exception or Special.
    pub kind: String,
    pub closed: bool,
    pub always_open: bool,
    /// `Monday–Friday 08:00:00–16:00:00`.
    pub opening: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServicePage {
    pub items: Vec<ServiceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A text in `language`, else Finnish.
fn text(texts: &Localized, language: &str) -> Option<String> {
    texts.get(language).or_else(|| texts.get("fi")).cloned()
}

/// The items in `language`, else the Finnish ones.
fn in_language<T: Clone>(items: &[(String, T)], language: &str) -> Vec<T> {
    let pick = |l: &str| -> Vec<T> { items.iter().filter(|(il, _)| il == l).map(|(_, t)| t.clone()).collect() };
    let chosen = pick(language);
    if chosen.is_empty() {
        pick("fi")
    } else {
        chosen
    }
}

fn flatten(lists: &BTreeMap<String, Vec<String>>) -> Vec<(String, String)> {
    (lists.iter())
        .flat_map(|(l, v)| v.iter().map(move |x| (l.clone(), x.clone())))
        .collect()
}

fn channel_view(c: Channel, wanted: &str) -> ChannelView {
    let language = shown_language(&c.names, wanted);
    let phones: Vec<(String, PhoneView)> = (c.phones.into_iter())
        .map(|p| {
            (
                p.language,
                PhoneView {
                    number: p.number,
                    sms: p.sms,
                    info: p.info,
                },
            )
        })
        .collect();
    let phones = in_language(&phones, &language);
    let addresses: Vec<String> = c.addresses.iter().filter_map(|a| text(&a.text, &language)).collect();
    ChannelView {
        id: c.id,
        channel_type: c.channel_type,
        fallback: language != wanted,
        name: text(&c.names, &language).unwrap_or_default(),
        summary: text(&c.summaries, &language),
        urls: in_language(&flatten(&c.urls), &language),
        phones,
        emails: in_language(&flatten(&c.emails), &language),
        addresses,
        service_hours: (c.service_hours.iter())
            .map(|h| ServiceHourView {
                kind: h.kind.clone(),
                closed: h.closed,
                always_open: h.always_open,
                opening: (h.opening.iter())
                    .map(|o| match &o.day_to {
                        Some(to) if *to != o.day_from => format!("{}–{to} {}–{}", o.day_from, o.from, o.to),
                        _ => format!("{} {}–{}", o.day_from, o.from, o.to),
                    })
                    .collect(),
                info: text(&h.info, &language),
            })
            .collect(),
        language,
    }
}

fn service_view(
    row: &StoredService,
    service: Service,
    channels: &HashMap<String, Channel>,
    wanted: &str,
) -> ServiceView {
    let language = shown_language(&service.names, wanted);
    ServiceView {
        id: service.id,
        municipality: row.municipality.clone(),
        fallback: language != wanted,
        name: text(&service.names, &language).unwrap_or_default(),
        summary: text(&service.summaries, &language),
        description: text(&service.descriptions, &language),
        languages: service.languages,
        modified: service.modified,
        first_seen: row.first_seen,
        changed_at: row.changed_at,
        channels: (service.channels.iter())
            .filter_map(|link| channels.get(&link.id).cloned())
            .map(|c| channel_view(c, wanted))
            .collect(),
        municipalities: None,
        language,
    }
}

fn unreadable(what: &str, e: &serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "a stored catalogue {what} is unreadable");
    ApiError::Internal
}

fn parse_service(row: &StoredService) -> Result<Service, ApiError> {
    serde_json::from_str(&row.document).map_err(|e| unreadable("service", &e))
}

/// The channels of these services, by id.
async fn channels_of(
    state: &AppState,
    municipality: &str,
    services: &[Service],
) -> Result<HashMap<String, Channel>, ApiError> {
    let mut ids: Vec<String> = services
        .iter()
        .flat_map(|s| s.channels.iter().map(|c| c.id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        for document in state.store.catalogue_channels(municipality, chunk).await? {
            let channel: Channel = serde_json::from_str(&document).map_err(|e| unreadable("channel", &e))?;
            found.insert(channel.id.clone(), channel);
        }
    }
    Ok(found)
}

fn language(params: &QueryParams, errors: &mut Vec<InvalidField>) -> String {
    match params.get("lang") {
        None => "fi".into(),
        Some(l) if portti_ptv::LANGUAGES.contains(&l) => l.to_owned(),
        Some(_) => {
            errors.push(InvalidField::parameter("lang", "must be fi, sv or en"));
            "fi".into()
        }
    }
}

fn municipality(value: Option<&str>, errors: &mut Vec<InvalidField>) -> Option<String> {
    let v = value?;
    let known = portti_ptv::is_municipality_code(v) && crate::case::municipality::resolve(v).is_some();
    if !known {
        errors.push(InvalidField::parameter(
            "municipality",
            "must be a municipality's three-digit code (Statistics Finland), e.g. 853",
        ));
        return None;
    }
    Some(v.to_owned())
}

/// The services offered in a municipality, in the language asked for, with their channels.
#[utoipa::path(get, path = "/v1/services", tag = "services",
    params(
        ("municipality" = String, Query, description = "Three-digit municipality code, e.g. 853"),
        ("lang" = Option<String>, Query, description = "fi (default), sv or en; texts missing in it are given in Finnish (`fallback: true`)"),
        ("q" = Option<String>, Query, description = "Only services whose name, summary or description in that language contains this, case-insensitively"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, default 100"),
    ),
    responses(
        (status = 200, description = "A page of services, by id", body = ServicePage),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    params: QueryParams,
) -> Result<Json<ServicePage>, ApiError> {
    require(&caller, Scope::ServicesRead)?;
    let mut errors = Vec::new();
    params.only(&["municipality", "lang", "q", "cursor", "limit"], &mut errors);
    let municipality = match params.get("municipality") {
        None => {
            errors.push(InvalidField::parameter("municipality", "is required"));
            None
        }
        some => municipality(some, &mut errors),
    };
    let language = language(&params, &mut errors);
    let text = params.get("q").map(str::trim).and_then(|q| {
        if q.chars().count() > MAX_QUERY_CHARS {
            errors.push(InvalidField::parameter(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
            return None;
        }
        Some(q.to_lowercase())
    });
    let after = params.get("cursor").and_then(|c| {
        if !portti_ptv::is_guid(c) {
            errors.push(InvalidField::parameter("cursor", "is not a cursor this API gave"));
            return None;
        }
        Some(c.to_owned())
    });
    let limit = params::limit(&params, state.limits.page_size_max, &mut errors);
    let (false, Some(municipality)) = (!errors.is_empty(), municipality) else {
        return Err(ApiError::Invalid(errors));
    };
    let page = state
        .store
        .catalogue_services(&ServiceQuery {
            municipality: municipality.clone(),
            language: language.clone(),
            text,
            after,
            limit,
        })
        .await?;
    let services = page.items.iter().map(parse_service).collect::<Result<Vec<_>, _>>()?;
    let channels = channels_of(&state, &municipality, &services).await?;
    let items = (page.items.iter().zip(services))
        .map(|(row, service)| service_view(row, service, &channels, &language))
        .collect();
    Ok(Json(ServicePage {
        items,
        next_cursor: page.next,
    }))
}

/// One service, with the municipalities it is offered in.
#[utoipa::path(get, path = "/v1/services/{id}", tag = "services",
    params(
        ("id" = String, Path, description = "The catalogue's service id (a GUID)"),
        ("lang" = Option<String>, Query, description = "fi (default), sv or en"),
        ("municipality" = Option<String>, Query, description = "Whose channels to show when the service is offered in several (default: the first)"),
    ),
    responses(
        (status = 200, description = "The service", body = ServiceView),
        (status = 404, description = "Not in the synced catalogue", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    params: QueryParams,
) -> Result<Json<ServiceView>, ApiError> {
    require(&caller, Scope::ServicesRead)?;
    let mut errors = Vec::new();
    params.only(&["lang", "municipality"], &mut errors);
    if !portti_ptv::is_guid(&id) {
        errors.push(InvalidField::parameter(
            "id",
            "is not a service id of the catalogue (a GUID)",
        ));
    }
    let language = language(&params, &mut errors);
    let wanted = municipality(params.get("municipality"), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let rows = state.store.catalogue_service(&id).await?;
    let not_found = || ApiError::NotFound("no such service in the synced catalogue".into());
    let row = match &wanted {
        Some(m) => rows.iter().find(|r| r.municipality == *m),
        None => rows.first(),
    }
    .ok_or_else(not_found)?;
    let service = parse_service(row)?;
    let channels = channels_of(&state, &row.municipality, std::slice::from_ref(&service)).await?;
    let mut view = service_view(row, service, &channels, &language);
    view.municipalities = Some(rows.iter().map(|r| r.municipality.clone()).collect());
    Ok(Json(view))
}
