//! `/v1/reports`: service-guidance key figures, their charts, and the municipalities' cost
//! shares. Aggregates only: no person is read out, and the audit records name none.
//!
//! Periods: `from` and `to` are dates (`YYYY-MM-DD`, days in Helsinki time, `to` the last day
//! included) or RFC 3339 timestamps (`to` excluded, as in `GET /v1/cases`); at most 366 days.

use super::extract::{JsonBody, QueryParams};
use super::layers::RequestId;
use super::params::{self, require};
use super::problem::{ApiError, InvalidField, Problem};
use super::{audit_event, idempotency, AppState};
use crate::audit::digest;
use crate::auth::{Caller, Scope};
use crate::case::holidays::helsinki_local;
use crate::reports::charts;
use crate::reports::cost_allocation::{self, AllocationError};
use crate::reports::kpi::{AnswerTimeBucket, Figures, KpiBuilder, KpiReport, WeekCount};
use crate::store::ReportQuery;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// The longest period a report covers: a leap year.
const MAX_PERIOD_DAYS: i64 = 366;
/// The largest budget: cents stay exact in every JSON reader (2^53 − 1).
const MAX_BUDGET_CENTS: u128 = 9_007_199_254_740_991;
/// A municipality's population aged 75+ above this is a typing error (Finland has ~6 million people).
const MAX_POPULATION: u64 = 10_000_000;

/// The period a report covers, as instants: `to` is excluded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    pub from: DateTime<Utc>,
    /// The first instant after the period.
    pub to: DateTime<Utc>,
}

/// Where a bad input was: a query parameter or a member of the JSON body.
#[derive(Clone, Copy)]
enum Input {
    Query,
    Body,
}

impl Input {
    fn invalid(self, name: &str, detail: impl Into<String>) -> InvalidField {
        match self {
            Input::Query => InvalidField::parameter(name, detail),
            Input::Body => InvalidField {
                pointer: Some(format!("/{}", name.replace('~', "~0").replace('/', "~1"))),
                parameter: None,
                detail: detail.into(),
            },
        }
    }
}

/// One end of a period: a Helsinki date (its start, or for `to` the start of the next day)
/// or an RFC 3339 instant.
fn bound(value: &str, is_end: bool) -> Result<DateTime<Utc>, &'static str> {
    const FORMAT: &str = "must be a date YYYY-MM-DD (a day in Helsinki time) or an RFC 3339 timestamp with an offset";
    let instant = crate::case::holidays::period_bound(value, is_end).ok_or(FORMAT)?;
    // By the Helsinki calendar, so that 2000-01-01 (22:00 UTC the day before) is in.
    if !(2000..=2200).contains(&helsinki_local(instant).year()) {
        return Err("must be in the years 2000–2199");
    }
    Ok(instant)
}

fn period(from: Option<&str>, to: Option<&str>, input: Input, errors: &mut Vec<InvalidField>) -> Option<Period> {
    let mut end = |name: &str, value: Option<&str>, is_end: bool| match value {
        None => {
            errors.push(input.invalid(name, "is required"));
            None
        }
        Some(v) => bound(v, is_end)
            .map_err(|detail| errors.push(input.invalid(name, detail)))
            .ok(),
    };
    let (from, to) = (end("from", from, false), end("to", to, true));
    let (from, to) = (from?, to?);
    if to <= from {
        errors.push(input.invalid("to", "must be after from (a date `to` is the last day included)"));
        return None;
    }
    if to - from > Duration::days(MAX_PERIOD_DAYS) {
        errors.push(input.invalid("to", format!("the period may be at most {MAX_PERIOD_DAYS} days")));
        return None;
    }
    Some(Period { from, to })
}

/// The key figures, as [`KpiReport`] with the period.
#[derive(Serialize, ToSchema)]
pub struct KpiResponse {
    pub period: Period,
    /// One row per organisation asked about (and per organiser of a case they handled), by code.
    pub municipalities: Vec<Figures>,
    pub total: Figures,
    pub contacts_per_week: Vec<WeekCount>,
    pub answer_time_distribution: Vec<AnswerTimeBucket>,
}

/// The organisations and the period of a KPI request, checked.
pub(super) async fn kpi_report(
    state: &AppState,
    caller: &Caller,
    params: &QueryParams,
) -> Result<(Vec<String>, Period, KpiReport), ApiError> {
    let mut errors = Vec::new();
    params.only(&["from", "to", "organisation"], &mut errors);
    let organisations = params::organisations(state, caller, params, &mut errors)?;
    let period = period(params.get("from"), params.get("to"), Input::Query, &mut errors);
    let Some(period) = period.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let query = ReportQuery {
        organisations: organisations.clone(),
        from: period.from,
        to: period.to,
    };
    let mut builder = KpiBuilder::new(&organisations, period.from, period.to);
    state
        .store
        .report_contacts(&query, &mut |contact| builder.add_contact(&contact))
        .await?;
    for transfer in state.store.report_transfers(&query).await? {
        builder.add_transfer(&transfer);
    }
    let mut report = builder.finish();
    for row in &mut report.municipalities {
        row.name = row
            .organisation
            .as_deref()
            .and_then(|o| state.registry.resolve(o))
            .map(|o| o.name_fi);
    }
    Ok((organisations, period, report))
}

/// Records that the caller read a report of these organisations: one record each, no person.
pub(super) async fn audit_report(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    action: &str,
    organisations: &[String],
    request: Option<&[u8]>,
    response: &[u8],
) -> Result<(), ApiError> {
    let response = digest(response);
    let request = request.map(digest);
    let events = organisations
        .iter()
        .map(|organisation| {
            let mut event = audit_event(caller, request_id, action, "ok");
            event.organisation = Some(organisation.clone());
            event.request_digest = request.clone();
            event.response_digest = Some(response.clone());
            event
        })
        .collect();
    state.store.append_audit(events).await?;
    Ok(())
}

/// Key figures of service guidance per municipality and in total: contacts by channel and
/// language, first-contact resolution and referral rates (of contacts with a final outcome),
/// answer and handling times (mean, nearest-rank median and 90th percentile, seconds),
/// transfers. Cases count by their organiser; the caller sees the cases its organisations
/// organise or handle. Audited as `report.kpi`.
#[utoipa::path(get, path = "/v1/reports/kpi", tag = "reports",
    params(
        ("from" = String, Query, description = "First day (YYYY-MM-DD, Helsinki) or instant (RFC 3339)"),
        ("to" = String, Query, description = "Last day included (YYYY-MM-DD, Helsinki) or first instant after the period (RFC 3339); at most 366 days after from"),
        ("organisation" = Option<String>, Query, description = "Only this organisation (one the client acts for); default all of the client's"),
    ),
    responses(
        (status = 200, description = "The key figures", body = KpiResponse),
        (status = 403, description = "Missing scope reports:read, or another organisation asked for", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters, each named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn kpi(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::ReportsRead)?;
    let (organisations, period, report) = kpi_report(&state, &caller, &params).await?;
    let body = serde_json::to_vec(&KpiResponse {
        period,
        municipalities: report.municipalities,
        total: report.total,
        contacts_per_week: report.contacts_per_week,
        answer_time_distribution: report.answer_time_distribution,
    })
    .map_err(|_| ApiError::Internal)?;
    audit_report(&state, &caller, &request_id, "report.kpi", &organisations, None, &body).await?;
    Ok(idempotency::json_response(StatusCode::OK, body))
}

/// A chart of the key figures as SVG (720 × 360, with a title and a description in words):
/// `contacts-per-week.svg` (ISO weeks, Helsinki time) or `answer-times.svg` (the answer-time
/// distribution). Same parameters and audit as `GET /v1/reports/kpi`.
#[utoipa::path(get, path = "/v1/reports/kpi/charts/{chart}", tag = "reports",
    params(
        ("chart" = String, Path, description = "contacts-per-week.svg or answer-times.svg"),
        ("from" = String, Query, description = "As for /v1/reports/kpi"),
        ("to" = String, Query, description = "As for /v1/reports/kpi"),
        ("organisation" = Option<String>, Query, description = "As for /v1/reports/kpi"),
    ),
    responses(
        (status = 200, description = "The chart", body = String, content_type = "image/svg+xml"),
        (status = 404, description = "No such chart", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters, each named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn chart(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(chart): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    require(&caller, Scope::ReportsRead)?;
    if !matches!(chart.as_str(), "contacts-per-week.svg" | "answer-times.svg") {
        return Err(ApiError::NotFound(
            "no such chart; there are contacts-per-week.svg and answer-times.svg".into(),
        ));
    }
    let (organisations, period, report) = kpi_report(&state, &caller, &params).await?;
    let last_day = helsinki_local(period.to - Duration::milliseconds(1)).date();
    let whose = if organisations.len() == 1 {
        let name = state.registry.resolve(&organisations[0]).map(|o| o.name_fi);
        format!("{} {}", organisations[0], name.unwrap_or_default())
    } else {
        format!("organisations {}", organisations.join(", "))
    };
    let subtitle = format!(
        "{}, {} – {}",
        whose.trim(),
        helsinki_local(period.from).date(),
        last_day
    );
    let svg = if chart == "contacts-per-week.svg" {
        charts::contacts_per_week(&report.contacts_per_week, &subtitle)
    } else {
        charts::answer_times(&report.answer_time_distribution, &subtitle)
    };
    audit_report(
        &state,
        &caller,
        &request_id,
        "report.kpi",
        &organisations,
        None,
        svg.as_bytes(),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// What to share, and between whom.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    /// Euros, at most two decimals, as a string or a number.
    #[schema(value_type = String, example = "1250000.00")]
    pub budget: Option<serde_json::Value>,
    /// First day (YYYY-MM-DD, Helsinki) or instant (RFC 3339).
    #[schema(example = "2026-01-01")]
    pub from: Option<String>,
    /// Last day included (YYYY-MM-DD) or first instant after the period (RFC 3339).
    #[schema(example = "2026-12-31")]
    pub to: Option<String>,
    /// Population aged 75+ by municipality; default the configured table.
    #[schema(value_type = Option<BTreeMap<String, u64>>)]
    pub population_75_plus: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct ShareOut {
    #[schema(example = "853")]
    pub organisation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub population_75_plus: u64,
    /// Handled contacts (answered or with an outcome) received in the period.
    pub contacts: u64,
    pub population_share_cents: u64,
    pub performance_share_cents: u64,
    pub share_cents: u64,
    /// The share in euros.
    #[schema(example = "123456.78")]
    pub share: String,
}

#[derive(Serialize, ToSchema)]
pub struct AllocationResponse {
    pub period: Period,
    pub budget_cents: u64,
    /// `handled_contacts`, or `population` when there were no contacts to share the 30 % by.
    pub performance_basis: String,
    /// `request` or `configuration`.
    pub population_source: String,
    pub shares: Vec<ShareOut>,
    /// Always equal to `budget_cents`.
    pub sum_cents: u64,
}

fn budget_cents(value: Option<&serde_json::Value>, errors: &mut Vec<InvalidField>) -> Option<u128> {
    let text = match value {
        None => {
            errors.push(Input::Body.invalid("budget", "is required"));
            return None;
        }
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => String::new(),
    };
    match cost_allocation::parse_euros(&text) {
        Some(0) => errors.push(Input::Body.invalid("budget", "must be positive")),
        Some(c) if c > MAX_BUDGET_CENTS => {
            errors.push(Input::Body.invalid("budget", "is too large"));
        }
        Some(c) => return Some(c),
        None => errors.push(Input::Body.invalid(
            "budget",
            "must be an amount in euros with at most two decimals, e.g. \"1250000.00\"",
        )),
    }
    None
}

/// The population table of the request (each municipality checked and resolved to its code),
/// or the configured one.
fn population(
    state: &AppState,
    caller: &Caller,
    given: Option<&BTreeMap<String, serde_json::Value>>,
    errors: &mut Vec<InvalidField>,
) -> Result<(BTreeMap<String, u64>, &'static str), ApiError> {
    let Some(given) = given else {
        let table: BTreeMap<String, u64> = state
            .population_75_plus
            .iter()
            .filter(|(org, _)| caller.acts_for(org))
            .map(|(org, &n)| (org.clone(), n))
            .collect();
        if state.population_75_plus.is_empty() {
            errors.push(Input::Body.invalid(
                "population_75_plus",
                "is required: no table is configured (reports.population_75_plus)",
            ));
        }
        return Ok((table, "configuration"));
    };
    let mut table = BTreeMap::new();
    let mut foreign = Vec::new();
    for (key, value) in given {
        let field = |detail: &str| InvalidField {
            pointer: Some(format!(
                "/population_75_plus/{}",
                key.replace('~', "~0").replace('/', "~1")
            )),
            parameter: None,
            detail: detail.to_string(),
        };
        let Some(org) = state.registry.resolve(key) else {
            errors.push(field("is not a known organisation"));
            continue;
        };
        let Some(n) = value.as_u64().filter(|&n| n <= MAX_POPULATION) else {
            errors.push(field(&format!("must be a whole number from 0 to {MAX_POPULATION}")));
            continue;
        };
        if !caller.acts_for(&org.id) {
            foreign.push(org.id);
            continue;
        }
        if table.insert(org.id.clone(), n).is_some() {
            errors.push(field(&format!("names {} a second time", org.id)));
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(ApiError::Forbidden(format!(
            "this client may not act for organisation {}",
            foreign.join(", ")
        )));
    }
    Ok((table, "request"))
}

/// Shares a budget between the client's municipalities for a period: 70 % by population aged
/// 75+ (from the request, else the configured table), 30 % by handled contacts (answered or
/// with an outcome) received in the period, counted by organiser; without any contacts all of
/// it goes by population. Exact to the cent: the shares add up to the budget. Audited as
/// `report.cost_allocation`.
#[utoipa::path(post, path = "/v1/reports/cost-allocation", tag = "reports",
    request_body = AllocationRequest,
    responses(
        (status = 200, description = "The shares, by municipality code", body = AllocationResponse),
        (status = 403, description = "Missing scope reports:read, or a municipality the client does not act for", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named (budget, from, to, population_75_plus/<code>)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn cost_allocation(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require(&caller, Scope::ReportsRead)?;
    let request: AllocationRequest = body.parse()?;
    let mut errors = Vec::new();
    let budget = budget_cents(request.budget.as_ref(), &mut errors);
    let period = period(request.from.as_deref(), request.to.as_deref(), Input::Body, &mut errors);
    let (population, source) = population(&state, &caller, request.population_75_plus.as_ref(), &mut errors)?;
    let (Some(budget), Some(period), true) = (budget, period, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };

    let query = ReportQuery {
        organisations: caller.orgs.clone(),
        from: period.from,
        to: period.to,
    };
    let mut contacts: BTreeMap<String, u64> = BTreeMap::new();
    state
        .store
        .report_contacts(&query, &mut |c| {
            if caller.acts_for(&c.organiser) && cost_allocation::handled(&c) {
                *contacts.entry(c.organiser).or_default() += 1;
            }
        })
        .await?;
    let allocation = cost_allocation::allocate(budget, &population, &contacts).map_err(|e| match e {
        AllocationError::MissingPopulation(orgs) => ApiError::Invalid(
            orgs.iter()
                .map(|o| InvalidField {
                    pointer: Some(format!("/population_75_plus/{o}")),
                    parameter: None,
                    detail: "is missing: the municipality has contacts in the period".into(),
                })
                .collect(),
        ),
        AllocationError::ZeroPopulation => ApiError::Invalid(vec![Input::Body.invalid(
            "population_75_plus",
            "adds up to zero for the client's municipalities: nothing to share by",
        )]),
        AllocationError::TooLarge => ApiError::Invalid(vec![Input::Body.invalid("budget", "is too large")]),
    })?;
    let cents = |c: u128| u64::try_from(c).map_err(|_| ApiError::Internal);
    let shares = allocation
        .shares
        .iter()
        .map(|s| {
            Ok(ShareOut {
                organisation: s.organisation.clone(),
                name: state.registry.resolve(&s.organisation).map(|o| o.name_fi),
                population_75_plus: s.population_75_plus,
                contacts: s.contacts,
                population_share_cents: cents(s.population_share_cents)?,
                performance_share_cents: cents(s.performance_share_cents)?,
                share_cents: cents(s.share_cents)?,
                share: cost_allocation::euros(s.share_cents),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let organisations: Vec<String> = shares.iter().map(|s| s.organisation.clone()).collect();
    let response = serde_json::to_vec(&AllocationResponse {
        period,
        budget_cents: cents(allocation.budget_cents)?,
        performance_basis: if allocation.performance_by_contacts {
            "handled_contacts"
        } else {
            "population"
        }
        .into(),
        population_source: source.into(),
        sum_cents: cents(allocation.sum_cents())?,
        shares,
    })
    .map_err(|_| ApiError::Internal)?;
    audit_report(
        &state,
        &caller,
        &request_id,
        "report.cost_allocation",
        &organisations,
        Some(&body.bytes),
        &response,
    )
    .await?;
    Ok(idempotency::json_response(StatusCode::OK, response))
}
