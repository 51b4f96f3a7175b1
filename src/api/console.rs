//! `/console`: server-rendered pages for operators and auditors, with no external assets and
//! no JavaScript. Behind the API's own authentication: the browser presents the same bearer
//! token (pasted once, kept in an HttpOnly cookie) or a client certificate, and every page is
//! drawn from the same handlers the REST API uses, so scopes, organisations and audit records
//! are exactly the API's.

use super::extract::QueryParams;
use super::layers::RequestId;
use super::problem::ApiError;
use super::{audit, exchanges, reports, AppState};
use crate::auth::{Caller, Scope};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::Utc;
use hmac::{Hmac, Mac};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::Sha256;
use std::sync::Arc;
use uuid::Uuid;

const COOKIE: &str = "portti_console";

/// The console's pages that need a caller; `authenticate` runs inside `session`.
pub fn protected() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(overview))
        .route("/console/exchanges", get(exchange_list))
        .route("/console/exchanges/{id}", get(exchange_detail))
        .route("/console/exchanges/{id}/retry", post(exchange_retry))
        .route("/console/audit", get(audit_search))
        .route("/console/audit/report", get(audit_report))
        .route("/console/reports", get(service_reports))
        .route("/console/logout", post(logout))
}

pub fn public() -> Router<Arc<AppState>> {
    Router::new().route("/console/login", get(login_page).post(login))
}

/// Lets the cookie stand in for the Authorization header, and sends a browser without either
/// (or with a token that no longer verifies) to the login page instead of a JSON problem.
pub async fn session(req: Request, next: Next) -> Response {
    let mut req = req;
    let has_authorization = req.headers().contains_key(header::AUTHORIZATION);
    let has_certificate = req.extensions().get::<super::layers::PeerCertificate>().is_some();
    if !has_authorization {
        match cookie_token(req.headers()) {
            Some(token) => {
                if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                    req.headers_mut().insert(header::AUTHORIZATION, value);
                }
            }
            None if !has_certificate => return Redirect::to("/console/login").into_response(),
            None => {}
        }
    }
    let response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        let mut redirect = Redirect::to("/console/login?expired=1").into_response();
        redirect.headers_mut().insert(header::SET_COOKIE, clear_cookie());
        return redirect;
    }
    response
}

fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("portti_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Ties a form to the caller who was shown it: a page elsewhere cannot make the browser post
/// to the console, because it cannot know this value.
fn form_token(state: &AppState, caller: &Caller) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&state.console_secret).expect("HMAC takes any key");
    mac.update(caller.client_id.as_bytes());
    mac.update(b"\n");
    mac.update(caller.end_user.as_deref().unwrap_or("").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn form_token_ok(state: &AppState, caller: &Caller, form: &super::extract::FormBody) -> bool {
    let expected = form_token(state, caller);
    form.get("form_token")
        .map(|given| given.len() == expected.len() && openssl::memcmp::eq(given.as_bytes(), expected.as_bytes()))
        .unwrap_or(false)
}

// ---- pages ----

async fn login_page(params: QueryParams) -> Response {
    let expired = params.get("expired").is_some();
    page_response(
        StatusCode::OK,
        "Sign in",
        None,
        html! {
            h1 { "Portti console" }
            @if expired { p.warning role="alert" { "Your session ended or the token is no longer valid. Sign in again." } }
            p { "Paste the same bearer token your organisation uses for the Portti API. The console shows what its scopes allow: "
                code { "exchanges:read" } " and " code { "exchanges:retry" } " for operators, "
                code { "audit:read" } " for auditors. A browser with a configured client certificate needs no token." }
            form method="post" action="/console/login" {
                label for="token" { "Token" }
                textarea id="token" name="token" rows="6" cols="80" required autocomplete="off" {}
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn login(
    State(state): State<Arc<AppState>>,
    over_tls: Option<Extension<super::layers::OverTls>>,
    form: super::extract::FormBody,
) -> Response {
    let token = form.get("token").map(str::trim).unwrap_or("");
    match state.verifier.verify(token) {
        Ok(caller) if caller.citizen.is_none() => {
            let secure = if over_tls.is_some() { "; Secure" } else { "" };
            let cookie = format!("{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}");
            let mut response = Redirect::to("/console").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        _ => page_response(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            None,
            html! {
                h1 { "Portti console" }
                p.warning role="alert" { "That token was not accepted." }
                p { a href="/console/login" { "Try again" } }
            },
        ),
    }
}

async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    form: super::extract::FormBody,
) -> Response {
    if !form_token_ok(&state, &caller, &form) {
        return forbidden_form(&state, &caller);
    }
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    response
}

async fn overview(State(state): State<Arc<AppState>>, Extension(caller): Extension<Caller>) -> Response {
    let operator = caller.has(Scope::ExchangesRead);
    let now = Utc::now();
    let queue = if operator {
        state.store.queue_depth().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let circuits = match (&state.broker, operator) {
        (Some(broker), true) => broker.circuits(),
        _ => Vec::new(),
    };
    let mut runs = Vec::new();
    if let (Some(jobs), true) = (&state.jobs, operator) {
        for job in jobs.list() {
            let last = state
                .store
                .job_runs(&job.name, 1)
                .await
                .ok()
                .and_then(|r| r.into_iter().next());
            runs.push((job, last));
        }
    }
    let certificates: Vec<_> = if operator {
        state
            .certificate_files
            .iter()
            .map(|(purpose, file)| crate::certificates::inspect(purpose, file))
            .collect()
    } else {
        Vec::new()
    };
    let body = html! {
        h1 { "Overview" }
        @if !operator && !caller.has(Scope::AuditRead) && !caller.has(Scope::ReportsRead) {
            p { "This token has no operator, auditor or reporting scope; there is nothing to show." }
        }
        @if caller.has(Scope::ReportsRead) {
            section aria-labelledby="guidance" {
                h2 #guidance { "Service guidance" }
                p { a href="/console/reports" { "Key figures and charts of the last 12 weeks" } }
            }
        }
        @if operator {
            section aria-labelledby="queue" {
                h2 #queue { "Outbox" }
                @if queue.is_empty() { p { "Nothing is waiting." } } @else {
                    table { thead { tr { th { "Service" } th { "Waiting" } th { "Oldest due" } } }
                        tbody { @for q in &queue { tr {
                            td { a href={ "/console/exchanges?service=" (q.service) } { (q.service) } }
                            td.num { (q.waiting) }
                            td { @if let Some(t) = q.oldest_due { (time(t)) } }
                        } } } }
                }
                p { a href="/console/exchanges?status=dead" { "Dead letters" } " · " a href="/console/exchanges" { "All exchanges" } }
            }
            section aria-labelledby="breakers" {
                h2 #breakers { "Circuit breakers" }
                @if circuits.is_empty() { p { "No service has been called since the gateway started." } } @else {
                    table { thead { tr { th { "Service" } th { "Organisation" } th { "State" } } }
                        tbody { @for c in &circuits { tr {
                            td { (c.service) } td { (c.organisation) }
                            td { span class={ "state " (c.state) } { (c.state.replace('_', "-")) }
                                @if let Some(s) = c.reopens_in_s { " (probe in " (s) " s)" } }
                        } } } }
                }
            }
            section aria-labelledby="jobs" {
                h2 #jobs { "Scheduled jobs" }
                table { thead { tr { th { "Job" } th { "Schedule" } th { "Next run" } th { "Last run" } th { "Outcome" } } }
                    tbody { @for (job, last) in &runs { tr {
                        td { (job.name) } td { code { (job.schedule) } }
                        td { @if let Some(t) = job.next_run { (time(t)) } }
                        @match last {
                            Some(run) => {
                                td { (time(run.started_at)) }
                                td { span class={ "state " (run.outcome) } { (run.outcome) }
                                    @if let Some(e) = &run.error { " — " (e) } }
                            }
                            None => { td { "never" } td {} }
                        }
                    } } } }
            }
            section aria-labelledby="certificates" {
                h2 #certificates { "Certificates" }
                @if certificates.is_empty() { p { "No certificate files are configured." } } @else {
                    table { thead { tr { th { "Purpose" } th { "Subject" } th { "Expires" } th { "Days left" } } }
                        tbody { @for c in &certificates { tr {
                            td { (c.purpose) }
                            td { (c.subject) }
                            td { @if let Some(t) = c.not_after { (time(t)) } @if let Some(p) = &c.problem { "unreadable: " (p) } }
                            td.num { @if let Some(d) = c.days_left(now) {
                                span class=(if d < 0 { "state dead" } else if d < 30 { "state open" } else { "state ok" }) { (d) }
                            } }
                        } } } }
                }
            }
        }
        @if caller.has(Scope::AuditRead) {
            section aria-labelledby="audit" {
                h2 #audit { "Audit trail" }
                p { a href="/console/audit" { "Search the trail" } " · " a href="/console/audit?verify=1" { "Verify the chain" } }
            }
        }
    };
    page_response(StatusCode::OK, "Overview", Some((&state, &caller)), body)
}

const STATUSES: [&str; 5] = ["accepted", "in_flight", "retry_scheduled", "succeeded", "dead"];

async fn exchange_list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    params: QueryParams,
) -> Response {
    let wanted: Vec<(String, String)> = params
        .0
        .iter()
        .filter(|(k, v)| ["status", "service", "cursor"].contains(&k.as_str()) && !v.is_empty())
        .cloned()
        .collect();
    let page = match exchanges::list(State(state.clone()), Extension(caller.clone()), QueryParams(wanted)).await {
        Ok(page) => page.0,
        Err(e) => return error_page(&state, &caller, e),
    };
    let status = params.get("status").unwrap_or("");
    let service = params.get("service").unwrap_or("");
    let retry = caller.has(Scope::ExchangesRetry);
    let next = page
        .next_cursor
        .as_ref()
        .map(|cursor| format!("/console/exchanges?status={status}&service={service}&cursor={cursor}"));
    let body = html! {
        h1 { @if status == "dead" { "Dead letters" } @else { "Exchanges" } }
        form method="get" action="/console/exchanges" class="filters" {
            label for="status" { "Status" }
            select id="status" name="status" {
                option value="" selected[status.is_empty()] { "any" }
                @for s in STATUSES { option value=(s) selected[status == s] { (s) } }
            }
            label for="service" { "Service" }
            input id="service" name="service" value=(service) placeholder="e.g. suomifi-messages";
            button type="submit" { "Show" }
        }
        @if page.items.is_empty() { p { "No exchanges match." } } @else {
            table {
                thead { tr { th { "Exchange" } th { "Service" } th { "Operation" } th { "Organisation" } th { "Status" } th { "Last error" } th { "Updated" } @if retry { th { "Action" } } } }
                tbody { @for e in &page.items { tr {
                    td { a href={ "/console/exchanges/" (e.id) } { code { (short(&e.id)) } } }
                    td { (e.service) } td { (e.operation) } td { (e.organisation) }
                    td { span class={ "state " (e.status.as_str()) } { (e.status.as_str()) } }
                    td { @if let Some(err) = &e.last_error { (err) } }
                    td { (time(e.updated_at)) }
                    @if retry { td { @if e.status.as_str() == "dead" { (rerun_button(&state, &caller, e.id)) } } }
                } } }
            }
        }
        @if let Some(next) = next { p { a href=(next) { "Next page →" } } }
    };
    page_response(StatusCode::OK, "Exchanges", Some((&state, &caller)), body)
}

fn rerun_button(state: &AppState, caller: &Caller, id: Uuid) -> Markup {
    html! {
        form method="post" action={ "/console/exchanges/" (id) "/retry" } class="inline" {
            input type="hidden" name="form_token" value=(form_token(state, caller));
            button type="submit" { "Rerun" }
        }
    }
}

async fn exchange_detail(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    params: QueryParams,
) -> Response {
    let e = match exchanges::get_one(
        State(state.clone()),
        Extension(caller.clone()),
        Extension(request_id),
        id,
    )
    .await
    {
        Ok(view) => view.0,
        Err(e) => return error_page(&state, &caller, e),
    };
    let rerun = params.get("rerun").is_some();
    let body = html! {
        h1 { "Exchange " code { (e.id) } }
        @if rerun { p.notice role="status" { "Rerun accepted: the exchange is due again with a fresh retry budget." } }
        dl {
            dt { "Service" } dd { (e.service) " · " (e.operation) }
            dt { "Organisation" } dd { (e.organisation) }
            dt { "Status" } dd { span class={ "state " (e.status.as_str()) } { (e.status.as_str()) } }
            @if let Some(u) = &e.upstream_id { dt { "Service's id" } dd { code { (u) } } }
            @if let Some(err) = &e.last_error { dt { "Last error" } dd { (err) } }
            dt { "Due" } dd { (time(e.due_at)) }
            dt { "Created" } dd { (time(e.created_at)) }
            dt { "Updated" } dd { (time(e.updated_at)) }
        }
        @if e.status.as_str() == "dead" && caller.has(Scope::ExchangesRetry) { (rerun_button(&state, &caller, e.id)) }
        h2 { "Attempts" }
        @match &e.attempts {
            Some(attempts) if !attempts.is_empty() => {
                table { thead { tr { th { "#" } th { "Started" } th { "Outcome" } th { "Latency (ms)" } th { "Error" } } }
                    tbody { @for a in attempts { tr {
                        td.num { (a.attempt) } td { (time(a.started_at)) }
                        td { span class={ "state " (a.outcome) } { (a.outcome) } }
                        td.num { (a.latency_ms) } td { @if let Some(err) = &a.error { (err) } }
                    } } } }
            }
            _ => { p { "No attempts yet." } }
        }
        @if let Some(events) = e.events.as_ref().filter(|v| !v.is_empty()) {
            h2 { "Reported by the service" }
            ul { @for ev in events { li { (time(ev.time)) ": " (ev.kind) " (" (ev.kind_upstream) ")" } } }
        }
        p { a href="/console/exchanges" { "← Exchanges" } }
    };
    page_response(StatusCode::OK, "Exchange", Some((&state, &caller)), body)
}

async fn exchange_retry(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    form: super::extract::FormBody,
) -> Response {
    if !form_token_ok(&state, &caller, &form) {
        return forbidden_form(&state, &caller);
    }
    match exchanges::retry(
        State(state.clone()),
        Extension(caller.clone()),
        Extension(request_id),
        id,
    )
    .await
    {
        Ok((_, view)) => Redirect::to(&format!("/console/exchanges/{}?rerun=1", view.0.id)).into_response(),
        Err(e) => error_page(&state, &caller, e),
    }
}

const AUDIT_FIELDS: [&str; 7] = ["person", "from", "to", "service", "actor", "action", "cursor"];

async fn audit_search(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Response {
    if let Err(e) = super::params::require(&caller, Scope::AuditRead) {
        return error_page(&state, &caller, e);
    }
    let mut asked: Vec<(String, String)> = params
        .0
        .iter()
        .filter(|(k, v)| AUDIT_FIELDS.contains(&k.as_str()) && !v.is_empty())
        .cloned()
        .collect();
    // Dates from the form's date inputs mean whole Helsinki days.
    for (k, v) in asked.iter_mut() {
        if k == "from" || k == "to" {
            if let Some(t) = crate::case::holidays::period_bound(v, k == "to") {
                *v = t.to_rfc3339();
            }
        }
    }
    let searched = !asked.is_empty();
    let (page, problem) = if searched {
        match audit::query(
            State(state.clone()),
            Extension(caller.clone()),
            Extension(request_id.clone()),
            QueryParams(asked),
        )
        .await
        {
            Ok(page) => (Some(page.0), None),
            Err(e) => (None, Some(e.problem())),
        }
    } else {
        (None, None)
    };
    let verification = if params.get("verify").is_some() {
        audit::verify(State(state.clone()), Extension(caller.clone()))
            .await
            .ok()
            .map(|v| v.0)
    } else {
        None
    };
    let value = |name: &str| params.get(name).unwrap_or("").to_string();
    let person = value("person");
    let next = page.as_ref().and_then(|p| p.next_cursor.clone()).map(|cursor| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        for name in AUDIT_FIELDS.iter().filter(|n| **n != "cursor") {
            pairs.append_pair(name, &value(name));
        }
        pairs.append_pair("cursor", &cursor);
        format!("/console/audit?{}", pairs.finish())
    });
    let body = html! {
        h1 { "Audit trail" }
        @if let Some(v) = &verification {
            @if v.valid {
                p.notice role="status" { "Chain verified: " (v.records) " records, head hash " code { (v.head_hash) } }
            } @else {
                div.warning role="alert" {
                    p { "Chain BROKEN after " (v.records) " verified records"
                        @if let Some(b) = &v.first_broken { ": record " (b.seq) " — " (b.reason) } }
                    ul { @for problem in &v.problems { li { (problem) } } }
                }
            }
            table {
                tbody {
                    tr { th scope="row" { "Signed checkpoints" } td.num { (v.checkpoints) } }
                    tr { th scope="row" { "Last checkpoint" } td { @match &v.last_checkpoint {
                        Some(c) => {
                            "record " (c.seq) " at " (time(c.time)) " — "
                            @if let Some(at) = c.timestamped_at { "timestamped by the TSA at " (time(at)) }
                            @else { span.state.open { "no RFC 3161 timestamp" } }
                        }
                        None => { span.state.open { "none yet" } }
                    } } }
                    tr { th scope="row" { "Archived segments" } td { (v.archives) @if v.archives > 0 { " (records up to " (v.archived_to_seq) ")" } } }
                }
            }
        } @else {
            p { a href="/console/audit?verify=1" { "Verify the chain now" } }
        }
        form method="get" action="/console/audit" class="filters" {
            label for="person" { "Identity code" }
            input id="person" name="person" value=(person) autocomplete="off" size="12";
            label for="from" { "From" } input id="from" name="from" type="date" value=(value("from"));
            label for="to" { "To" } input id="to" name="to" type="date" value=(value("to"));
            label for="service" { "Service" } input id="service" name="service" value=(value("service")) size="16";
            label for="actor" { "Actor" } input id="actor" name="actor" value=(value("actor")) size="12";
            label for="action" { "Action" } input id="action" name="action" value=(value("action")) size="14";
            button type="submit" { "Search" }
        }
        @if let Some(problem) = &problem {
            div.warning role="alert" {
                p { (problem.title) @if let Some(d) = &problem.detail { ": " (d) } }
                ul { @for e in &problem.errors { li { (e.parameter.clone().or(e.pointer.clone()).unwrap_or_default()) ": " (e.detail) } } }
            }
        }
        @if !person.is_empty() && problem.is_none() {
            p { "Disclosure report for this person: "
                a href={ "/console/audit/report?person=" (urlencode(&person)) "&lang=fi" } { "suomeksi" } " · "
                a href={ "/console/audit/report?person=" (urlencode(&person)) "&lang=sv" } { "på svenska" } }
        }
        @if let Some(page) = &page {
            @if page.items.is_empty() { p { "No records match." } } @else {
                table {
                    thead { tr { th { "#" } th { "Time" } th { "Actor" } th { "Action" } th { "Organisation" } th { "Service" } th { "Outcome" } th { "Hash" } } }
                    tbody { @for r in &page.items { tr {
                        td.num { (r.seq) } td { (time(r.event.time)) }
                        td { (r.event.actor.client_id) @if let Some(u) = &r.event.actor.end_user { br; (u) } }
                        td { (r.event.action) }
                        td { @if let Some(o) = &r.event.organisation { (o) } }
                        td { @if let Some(s) = &r.event.service { (s) } }
                        td { span class={ "state " (r.event.outcome) } { (r.event.outcome) } }
                        td { code title=(r.hash) { (&r.hash[..12]) "…" } }
                    } } }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) { "Next page →" } } }
    };
    page_response(StatusCode::OK, "Audit trail", Some((&state, &caller)), body)
}

/// The disclosure report's printable page, reached from an audit search.
async fn audit_report(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Response {
    let Some(person) = params.get("person").map(str::to_string) else {
        return Redirect::to("/console/audit").into_response();
    };
    let lang = params.get("lang").unwrap_or("fi").to_string();
    let forwarded = QueryParams(vec![("lang".into(), lang), ("format".into(), "html".into())]);
    match audit::disclosure_report(
        State(state.clone()),
        Extension(caller.clone()),
        Extension(request_id),
        Path(person),
        axum::http::HeaderMap::new(),
        forwarded,
    )
    .await
    {
        Ok(response) => response,
        Err(e) => error_page(&state, &caller, e),
    }
}

/// Key figures of service guidance with the two charts, for a period (the last 12 weeks unless
/// asked otherwise), from the same computation and audit as `GET /v1/reports/kpi`.
async fn service_reports(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Response {
    if let Err(e) = super::params::require(&caller, Scope::ReportsRead) {
        return error_page(&state, &caller, e);
    }
    let today = crate::case::holidays::helsinki_local(Utc::now()).date();
    let from = params
        .get("from")
        .map(str::to_string)
        .unwrap_or_else(|| (today - chrono::Duration::weeks(12)).to_string());
    let to = params
        .get("to")
        .map(str::to_string)
        .unwrap_or_else(|| today.to_string());
    let organisation = params.get("organisation").unwrap_or("").to_string();
    let mut asked = vec![("from".to_string(), from.clone()), ("to".to_string(), to.clone())];
    if !organisation.is_empty() {
        asked.push(("organisation".into(), organisation.clone()));
    }
    let (figures, problem) = match reports::kpi_report(&state, &caller, &QueryParams(asked)).await {
        Ok((organisations, _, report)) => {
            let subtitle = format!("{} – {}", from, to);
            let week_chart = crate::reports::charts::contacts_per_week(&report.contacts_per_week, &subtitle);
            let time_chart = crate::reports::charts::answer_times(&report.answer_time_distribution, &subtitle);
            let shown = format!("{week_chart}{time_chart}");
            if let Err(e) = reports::audit_report(
                &state,
                &caller,
                &request_id,
                "report.kpi",
                &organisations,
                None,
                shown.as_bytes(),
            )
            .await
            {
                return error_page(&state, &caller, e);
            }
            (Some((report, week_chart, time_chart)), None)
        }
        Err(ApiError::Invalid(errors)) => (None, Some(ApiError::Invalid(errors).problem())),
        Err(e) => return error_page(&state, &caller, e),
    };
    let rate = |r: Option<f64>| r.map(|r| format!("{:.1} %", r * 100.0)).unwrap_or_else(|| "–".into());
    let secs = |s: Option<f64>| s.map(|s| format!("{s:.0}")).unwrap_or_else(|| "–".into());
    let body = html! {
        h1 { "Service guidance" }
        form method="get" action="/console/reports" class="filters" {
            label for="from" { "From" } input id="from" name="from" type="date" value=(from);
            label for="to" { "To" } input id="to" name="to" type="date" value=(to);
            label for="organisation" { "Organisation" }
            select id="organisation" name="organisation" {
                option value="" selected[organisation.is_empty()] { "all of mine" }
                @for o in &caller.orgs { option value=(o) selected[&organisation == o] { (o) } }
            }
            button type="submit" { "Show" }
        }
        @if let Some(problem) = &problem {
            div.warning role="alert" {
                p { (problem.title) }
                ul { @for e in &problem.errors { li { (e.parameter.clone().unwrap_or_default()) ": " (e.detail) } } }
            }
        }
        @if let Some((report, week_chart, time_chart)) = &figures {
            table {
                thead { tr {
                    th { "Municipality" } th { "Contacts" } th { "Phone" } th { "Chat" } th { "Help button" }
                    th { "fi / sv" } th { "First-contact resolution" } th { "Referral rate" }
                    th { "Answer time median / p90 (s)" } th { "Handling time median / p90 (s)" } th { "Transfers out / in" }
                } }
                tbody {
                    @for f in report.municipalities.iter().chain(std::iter::once(&report.total)) {
                        tr {
                            td { @match (&f.organisation, &f.name) {
                                (Some(code), Some(name)) => { (code) " " (name) }
                                (Some(code), None) => { (code) }
                                _ => { strong { "Total" } }
                            } }
                            td.num { (f.contacts) }
                            td.num { (f.by_channel.phone) } td.num { (f.by_channel.chat) } td.num { (f.by_channel.help_button) }
                            td.num { (f.by_language.fi) " / " (f.by_language.sv) }
                            td.num { (rate(f.first_contact_resolution_rate)) }
                            td.num { (rate(f.referral_rate)) }
                            td.num { (secs(f.answer_time_s.median)) " / " (secs(f.answer_time_s.p90)) }
                            td.num { (secs(f.handling_time_s.median)) " / " (secs(f.handling_time_s.p90)) }
                            td.num { (f.transfers.out) " / " (f.transfers.into) }
                        }
                    }
                }
            }
            div.charts {
                figure { (PreEscaped(week_chart)) }
                figure { (PreEscaped(time_chart)) }
            }
        }
    };
    page_response(StatusCode::OK, "Service guidance", Some((&state, &caller)), body)
}

// ---- layout ----

fn error_page(state: &AppState, caller: &Caller, error: ApiError) -> Response {
    let problem = error.problem();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page_response(
        status,
        &problem.title,
        Some((state, caller)),
        html! {
            h1 { (problem.title) }
            @if let Some(d) = &problem.detail { p { (d) } }
            ul { @for e in &problem.errors { li { (e.parameter.clone().or(e.pointer.clone()).unwrap_or_default()) ": " (e.detail) } } }
            p { a href="/console" { "← Overview" } }
        },
    )
}

fn forbidden_form(state: &AppState, caller: &Caller) -> Response {
    page_response(
        StatusCode::FORBIDDEN,
        "Form expired",
        Some((state, caller)),
        html! {
            h1 { "The form has expired" }
            p { "Go back, reload the page and try again." }
        },
    )
}

fn page_response(status: StatusCode, title: &str, who: Option<(&AppState, &Caller)>, body: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Portti console" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some((state, caller)) = who {
                    header {
                        nav aria-label="Console" {
                            a href="/console" { "Overview" }
                            @if caller.has(Scope::ExchangesRead) {
                                a href="/console/exchanges" { "Exchanges" }
                                a href="/console/exchanges?status=dead" { "Dead letters" }
                            }
                            @if caller.has(Scope::AuditRead) { a href="/console/audit" { "Audit" } }
                            @if caller.has(Scope::ReportsRead) { a href="/console/reports" { "Service guidance" } }
                        }
                        div.who {
                            (caller.client_id) " · " (caller.orgs.join(", "))
                            form method="post" action="/console/logout" class="inline" {
                                input type="hidden" name="form_token" value=(form_token(state, caller));
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    let mut response = (status, page.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn time(t: chrono::DateTime<Utc>) -> String {
    crate::case::holidays::helsinki_local(t)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn short(id: &Uuid) -> String {
    id.to_string()[..13].to_string()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#111;background:#fafafa}\
header{display:flex;justify-content:space-between;align-items:center;background:#123;color:#fff;padding:.5rem 1rem}\
header a{color:#fff;margin-right:1rem}main{padding:1rem 1.5rem}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem;background:#fff}\
th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#e8e8e8}\
td.num{text-align:right}.state{padding:0 .3rem;border-radius:.2rem;background:#ddd}\
.state.dead,.state.failed,.state.open,.state.denied{background:#f3c0c0}\
.state.succeeded,.state.ok,.state.closed{background:#c7e8c7}\
.state.retry_scheduled,.state.half_open,.state.in_flight{background:#f5e3a8}\
.warning{border:2px solid #b00;padding:.5rem;background:#fff}.notice{border:2px solid #070;padding:.5rem;background:#fff}\
form.filters{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.5rem 0}\
form.inline{display:inline}textarea{display:block;margin:.5rem 0;font-family:monospace}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:bold}\
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts figure{margin:0;background:#fff;border:1px solid #bbb}";
