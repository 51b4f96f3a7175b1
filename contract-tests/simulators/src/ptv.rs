//! A simulator of the Suomi.fi Finnish Service Catalogue's (PTV) open API v11, the read side the
//! PTV adapter uses (`adapters/ptv/WIRE.md`), served over plain HTTP on loopback.
//!
//! # The API it serves (GET only; anything else `405`, unknown paths `404` with no body)
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /api/v11/Service/list/area/{area}/code/{code}?page=&includeWholeCountry=&serviceWithGD=&showHeader=` | the published services of a municipality, `{pageNumber, pageSize, pageCount, itemList}`, [`Control::set_page_size`] items a page in id order; a page past the last has `itemList: null` |
//! | `GET /api/v11/ServiceChannel/list?guids=a,b,…&showHeader=` | the channels among those ids (unknown ids left out), at most 100 ids |
//! | `GET /api/v11/Service/{id}`, `GET /api/v11/ServiceChannel/{id}` | one service or channel |
//!
//! Refusals in PTV's shapes: `400` with a model state `{"<parameter>": ["<message>"]}` for an
//! `area` other than Municipality, Province, BusinessRegions or HospitalRegions, a `code` that is
//! not 1–3 digits, a `page` that is not a number or is negative, a missing, malformed or too long
//! `guids`, a malformed id, and (stricter than PTV, which ignores them) any other query parameter;
//! `404 {"errorMessage": "Municipality with code '999' not found."}` for a municipality outside
//! Varsinais-Suomi ([`MUNICIPALITIES`]) or an area other than a municipality (not modelled), and
//! `404 {"errorMessage": …}` for an unknown id.
//!
//! # Sandbox data ([`Config::sandbox`])
//!
//! Services for older people in Turku (853), Kaarina (202) and Salo (734) in Finnish and Swedish
//! (see `ptv/seed.rs`), pages of [`SANDBOX_PAGE_SIZE`].
//!
//! # Faults and control endpoints (control endpoints are never faulted, never logged)
//!
//! The Suomi.fi Messages simulator's [`Fault`]s (latency, a status such as 500/503, 429 with
//! `Retry-After`, a dropped connection, malformed JSON; `pathPrefix`, `count`, `fraction`, `when`).
//! A page that fails mid-sync: `Fault::status(503).on_path("/api/v11/Service/list").fraction(0.5).times(1)`
//! lets page 1 through and fails page 2.
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /_simulator/services` | `{"municipalities": ["853"], "service": {v11 service}}` adds or replaces → `204` |
//! | `DELETE /_simulator/services/{id}` | the service is gone → `204` (`404` when unknown) |
//! | `POST /_simulator/page-size` | `{"pageSize": 2}` → `204` |
//! | `POST` / `GET` / `DELETE /_simulator/faults` | inject a fault / list / clear |
//! | `GET` / `DELETE /_simulator/requests` | the request log ([`LoggedRequest`]) / clear it |

mod seed;

pub use crate::suomifi_messages::faults::{Fault, FaultKind, When};
pub use seed::{channel_id, service, service_id};

use crate::net::{self, DropConnection};
use crate::suomifi_messages::faults;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tower::ServiceExt;

/// The municipalities of Varsinais-Suomi (Statistics Finland codes, 2026): the ones the simulator knows.
pub const MUNICIPALITIES: [&str; 27] = [
    "019", "202", "304", "322", "400", "423", "430", "445", "480", "481", "503", "529", "538", "561", "577", "631",
    "636", "680", "704", "734", "738", "761", "833", "853", "895", "918", "927",
];
pub const SANDBOX_PAGE_SIZE: usize = 5;
/// `guids` of one channel list at most.
pub const MAX_GUIDS: usize = 100;
const AREAS: [&str; 4] = ["Municipality", "Province", "BusinessRegions", "HospitalRegions"];

#[derive(Clone, Debug)]
pub struct Config {
    pub page_size: usize,
    /// Each service with the municipalities it is offered in.
    pub services: Vec<(Vec<String>, Value)>,
    pub channels: Vec<Value>,
}

impl Config {
    /// The sandbox catalogue ([`seed`]) in pages of [`SANDBOX_PAGE_SIZE`].
    pub fn sandbox() -> Self {
        let (services, channels) = seed::catalogue();
        Config {
            page_size: SANDBOX_PAGE_SIZE,
            services,
            channels,
        }
    }
}

/// One request of the real API, as answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// None when the connection was dropped without a response.
    pub status: Option<u16>,
}

struct Inner {
    page_size: usize,
    /// id → (service, municipality codes).
    services: BTreeMap<String, (Value, BTreeSet<String>)>,
    channels: BTreeMap<String, Value>,
    faults: Vec<faults::Active>,
    request_log: Vec<LoggedRequest>,
}

struct Sim {
    inner: Mutex<Inner>,
}

impl Sim {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// PTV's `modified`: UTC without an offset, as its API writes it.
fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

fn is_guid(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok() && id.len() == 36
}

impl Inner {
    fn put_service(&mut self, municipalities: &[String], mut service: Value) -> anyhow::Result<String> {
        let id = (service.get("id").and_then(Value::as_str))
            .filter(|id| is_guid(id))
            .ok_or_else(|| anyhow::anyhow!("a service needs a GUID id"))?
            .to_owned();
        anyhow::ensure!(
            municipalities.iter().all(|m| MUNICIPALITIES.contains(&m.as_str())),
            "unknown municipality"
        );
        service["modified"] = json!(now());
        self.services
            .insert(id.clone(), (service, municipalities.iter().cloned().collect()));
        Ok(id)
    }
}

/// A cloneable handle to a running simulator's state.
#[derive(Clone)]
pub struct Control {
    sim: Arc<Sim>,
}

impl Control {
    /// Items a page of the service lists (at least 1).
    pub fn set_page_size(&self, size: usize) {
        self.sim.lock().page_size = size.max(1);
    }

    /// Adds or replaces a service (v11 JSON, a GUID `id`) offered in `municipalities`; `modified` is set to now.
    pub fn put_service(&self, municipalities: &[&str], service: Value) -> anyhow::Result<String> {
        let municipalities: Vec<String> = municipalities.iter().map(|m| m.to_string()).collect();
        self.sim.lock().put_service(&municipalities, service)
    }

    /// Gives a service a new `Name` in `language` (as an editor would); whether it exists.
    pub fn rename_service(&self, id: &str, language: &str, name: &str) -> bool {
        let mut inner = self.sim.lock();
        let Some((service, _)) = inner.services.get_mut(id) else {
            return false;
        };
        let names = service["serviceNames"].as_array_mut().expect("serviceNames is a list");
        names.retain(|n| !(n["language"] == language && n["type"] == "Name"));
        names.push(json!({"language": language, "value": name, "type": "Name"}));
        service["modified"] = json!(now());
        true
    }

    /// Removes a service (archived in PTV): whether it existed.
    pub fn remove_service(&self, id: &str) -> bool {
        self.sim.lock().services.remove(id).is_some()
    }

    /// Adds or replaces a channel (v11 JSON).
    pub fn put_channel(&self, channel: Value) {
        let id = channel["id"].as_str().unwrap_or_default().to_owned();
        self.sim.lock().channels.insert(id, channel);
    }

    /// The services offered in a municipality, in id order.
    pub fn services(&self, municipality: &str) -> Vec<Value> {
        (self.sim.lock().services.values())
            .filter(|(_, m)| m.contains(municipality))
            .map(|(s, _)| s.clone())
            .collect()
    }

    crate::injection::fault_controls! {
        /// Inject a fault. Panics on one that makes no sense (status outside 400–599, fraction outside 0–1).
    }

    crate::injection::request_log_controls! {
        /// Requests of the real API, oldest first.
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Running {
    addr: SocketAddr,
    control: Control,
    _shutdown: net::StopOnDrop,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the API root (paths start with `/api/v11/`).
    pub fn base_url(&self) -> String {
        net::base_url("http", self.addr)
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    pub fn shutdown(self) {}
}

/// Start the simulator on `listen` (port 0 picks a free port). Needs a tokio runtime.
pub async fn start(config: Config, listen: SocketAddr) -> anyhow::Result<Running> {
    let mut inner = Inner {
        page_size: config.page_size.max(1),
        services: BTreeMap::new(),
        channels: BTreeMap::new(),
        faults: Vec::new(),
        request_log: Vec::new(),
    };
    for (municipalities, service) in config.services {
        inner.put_service(&municipalities, service)?;
    }
    for channel in config.channels {
        let id = (channel.get("id").and_then(Value::as_str))
            .filter(|id| is_guid(id))
            .ok_or_else(|| anyhow::anyhow!("a channel needs a GUID id"))?
            .to_owned();
        inner.channels.insert(id, channel);
    }
    let sim = Arc::new(Sim {
        inner: Mutex::new(inner),
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, stop) = net::stop_signal();
    let app = router(sim.clone());
    let served = sim.clone();
    tokio::spawn(net::serve(listener, None, stop, move |req| {
        handle(app.clone(), served.clone(), req)
    }));
    Ok(Running {
        addr,
        control: Control { sim },
        _shutdown: shutdown,
    })
}

// ---- the listener: faults and the request log around the real API ----

async fn handle(app: Router, sim: Arc<Sim>, req: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
    let path = req.uri().path().to_string();
    if path == "/_simulator" || path.starts_with("/_simulator/") {
        return Ok(app.oneshot(req).await.unwrap_or_else(|never| match never {}));
    }
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_string);
    let before = faults::fire_all(&mut sim.lock().faults, &path, When::Before);
    if !before.delay.is_zero() {
        tokio::time::sleep(before.delay).await;
    }
    let result = match before.action {
        Some(action) => apply(action, None).await,
        None => {
            let response = app.oneshot(req).await.unwrap_or_else(|never| match never {});
            let after = faults::fire_all(&mut sim.lock().faults, &path, When::After);
            if !after.delay.is_zero() {
                tokio::time::sleep(after.delay).await;
            }
            match after.action {
                Some(action) => apply(action, Some(response)).await,
                None => Ok(response),
            }
        }
    };
    let status = result.as_ref().ok().map(|r| r.status().as_u16());
    net::push_capped(
        &mut sim.lock().request_log,
        LoggedRequest {
            method,
            path,
            query,
            status,
        },
    );
    result
}

async fn apply(action: FaultKind, response: Option<Response<Body>>) -> Result<Response<Body>, DropConnection> {
    Ok(match action {
        FaultKind::Latency { .. } => unreachable!("latency is a delay, not an action"),
        FaultKind::DropConnection => return Err(DropConnection),
        FaultKind::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_message(status, status.canonical_reason().unwrap_or("Error"))
        }
        FaultKind::TooManyRequests { retry_after_seconds } => {
            let mut r = error_message(StatusCode::TOO_MANY_REQUESTS, "Too many requests.");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            r
        }
        FaultKind::Unauthorized => error_message(StatusCode::UNAUTHORIZED, "Unauthorized."),
        FaultKind::MalformedJson => {
            let (status, bytes) = match response {
                None => (
                    StatusCode::OK,
                    axum::body::Bytes::from_static(br#"{"pageNumber":1,"itemList":[{"id":"#),
                ),
                Some(response) => {
                    let (parts, body) = response.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                    let cut = (bytes.len() / 2).max(1).min(bytes.len());
                    (parts.status, bytes.slice(..cut))
                }
            };
            let mut r = Response::new(Body::from(bytes));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
    })
}

// ---- the API ----

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/api/v11/Service/list/area/{area}/code/{code}", get(services_by_area))
        .route("/api/v11/ServiceChannel/list", get(channel_list))
        .route("/api/v11/Service/{id}", get(one_service))
        .route("/api/v11/ServiceChannel/{id}", get(one_channel))
        .route("/_simulator/services", post(control_put_service))
        .route("/_simulator/services/{id}", delete(control_remove_service))
        .route("/_simulator/page-size", post(control_page_size))
        .route(
            "/_simulator/faults",
            post(control_inject).get(control_faults).delete(control_clear_faults),
        )
        .route(
            "/_simulator/requests",
            get(control_requests).delete(control_clear_requests),
        )
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(sim)
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// PTV's `IVmError` body.
fn error_message(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "errorMessage": message }))
}

/// ASP.NET's model state: `400 {"<field>": ["<message>"]}`.
fn model_error(field: &str, message: &str) -> Response<Body> {
    json_response(StatusCode::BAD_REQUEST, &json!({ field: [message] }))
}

/// A refused parameter and why; answered as a model state.
struct Refused(String, String);

impl Refused {
    fn response(self) -> Response<Body> {
        model_error(&self.0, &self.1)
    }
}

/// The query's pairs, or the refusal of an unknown one.
fn query(raw: Option<String>, known: &[&str]) -> Result<Vec<(String, String)>, Refused> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    for (name, _) in &pairs {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            return Err(Refused(
                name.clone(),
                format!("The query parameter '{name}' is not supported."),
            ));
        }
    }
    Ok(pairs)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    (pairs.iter())
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn boolean(pairs: &[(String, String)], name: &str) -> Result<(), Refused> {
    match param(pairs, name) {
        None => Ok(()),
        Some(v) if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => Ok(()),
        Some(v) => Err(Refused(name.to_owned(), format!("The value '{v}' is not valid."))),
    }
}

async fn services_by_area(
    State(sim): State<Arc<Sim>>,
    Path((area, code)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response<Body> {
    let pairs = match query(raw, &["page", "includeWholeCountry", "serviceWithGD", "showHeader"]) {
        Ok(p) => p,
        Err(r) => return r.response(),
    };
    if !AREAS.contains(&area.as_str()) {
        return model_error(
            "area",
            &format!("The field is invalid. Please use one of these: '{}'.", AREAS.join(", ")),
        );
    }
    if code.is_empty() || code.len() > 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return model_error("code", &format!("The field code '{code}' is not valid."));
    }
    for flag in ["includeWholeCountry", "serviceWithGD", "showHeader"] {
        if let Err(r) = boolean(&pairs, flag) {
            return r.response();
        }
    }
    let page = match param(&pairs, "page").map(str::parse::<i64>) {
        None => 1,
        Some(Ok(p)) if p < 0 => return model_error("page", "The page number cannot be negative value."),
        Some(Ok(p)) => p.max(1) as usize,
        Some(Err(_)) => {
            let v = param(&pairs, "page").unwrap_or_default();
            return model_error("page", &format!("The value '{v}' is not valid."));
        }
    };
    if area != "Municipality" {
        return error_message(
            StatusCode::NOT_FOUND,
            &format!("Area {area} with code '{code}' not found."),
        );
    }
    let code = format!("{code:0>3}");
    if !MUNICIPALITIES.contains(&code.as_str()) {
        return error_message(
            StatusCode::NOT_FOUND,
            &format!("Municipality with code '{code}' not found."),
        );
    }
    let inner = sim.lock();
    let services: Vec<&Value> = (inner.services.values())
        .filter(|(_, m)| m.contains(&code))
        .map(|(s, _)| s)
        .collect();
    let size = inner.page_size;
    let page_count = services.len().div_ceil(size);
    let items: Option<Vec<&Value>> =
        (page <= page_count).then(|| services.into_iter().skip((page - 1) * size).take(size).collect());
    json_response(
        StatusCode::OK,
        &json!({ "pageNumber": page, "pageSize": size, "pageCount": page_count, "itemList": items }),
    )
}

async fn channel_list(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> Response<Body> {
    let pairs = match query(raw, &["guids", "showHeader"]) {
        Ok(p) => p,
        Err(r) => return r.response(),
    };
    if let Err(r) = boolean(&pairs, "showHeader") {
        return r.response();
    }
    let Some(guids) = param(&pairs, "guids").filter(|g| !g.trim().is_empty()) else {
        return model_error("guids", "Property guids is required.");
    };
    let ids: Vec<&str> = guids.split(',').map(str::trim).collect();
    if ids.iter().any(|id| !is_guid(id)) {
        return model_error(
            "guids",
            "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).",
        );
    }
    if ids.len() > MAX_GUIDS {
        return model_error(
            "guids",
            &format!("Maximum of {MAX_GUIDS} guids can be added into list."),
        );
    }
    let inner = sim.lock();
    let found: Vec<&Value> = ids.iter().filter_map(|id| inner.channels.get(*id)).collect();
    json_response(StatusCode::OK, &json!(found))
}

async fn one_service(State(sim): State<Arc<Sim>>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response<Body> {
    if let Err(r) = query(raw, &["showHeader"]) {
        return r.response();
    }
    if !is_guid(&id) {
        return model_error(
            "id",
            "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).",
        );
    }
    match sim.lock().services.get(&id) {
        Some((service, _)) => json_response(StatusCode::OK, service),
        None => error_message(StatusCode::NOT_FOUND, &format!("Service with id '{id}' not found.")),
    }
}

async fn one_channel(State(sim): State<Arc<Sim>>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response<Body> {
    if let Err(r) = query(raw, &["showHeader"]) {
        return r.response();
    }
    if !is_guid(&id) {
        return model_error(
            "id",
            "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).",
        );
    }
    match sim.lock().channels.get(&id) {
        Some(channel) => json_response(StatusCode::OK, channel),
        None => error_message(
            StatusCode::NOT_FOUND,
            &format!("Service channel with id '{id}' not found."),
        ),
    }
}

// ---- control endpoints ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutService {
    municipalities: Vec<String>,
    service: Value,
}

async fn control_put_service(State(sim): State<Arc<Sim>>, Json(body): Json<PutService>) -> Response<Body> {
    match sim.lock().put_service(&body.municipalities, body.service) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_message(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn control_remove_service(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> StatusCode {
    match sim.lock().services.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PageSize {
    page_size: usize,
}

async fn control_page_size(State(sim): State<Arc<Sim>>, Json(body): Json<PageSize>) -> StatusCode {
    sim.lock().page_size = body.page_size.max(1);
    StatusCode::NO_CONTENT
}

async fn control_inject(State(sim): State<Arc<Sim>>, Json(fault): Json<Fault>) -> Response<Body> {
    if let Err(e) = fault.check() {
        return error_message(StatusCode::BAD_REQUEST, &e);
    }
    sim.lock().faults.push(faults::Active::new(fault));
    StatusCode::NO_CONTENT.into_response()
}

async fn control_faults(State(sim): State<Arc<Sim>>) -> Json<Vec<Fault>> {
    Json(sim.lock().faults.iter().map(|a| a.fault.clone()).collect())
}

async fn control_clear_faults(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn control_requests(State(sim): State<Arc<Sim>>) -> Json<Vec<LoggedRequest>> {
    Json(sim.lock().request_log.clone())
}

async fn control_clear_requests(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.lock().request_log.clear();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn running() -> Running {
        let mut config = Config::sandbox();
        config.page_size = 3;
        start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
    }

    async fn get(base: &str, path: &str) -> (u16, Value) {
        let r = reqwest::get(format!("{base}{path}")).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn pages_channels_and_refusals() {
        let sim = running().await;
        let base = sim.base_url();
        let (status, first) = get(&base, "/api/v11/Service/list/area/Municipality/code/853?page=1").await;
        assert_eq!(status, 200);
        assert_eq!(
            (first["pageNumber"].as_u64(), first["pageCount"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(first["itemList"].as_array().unwrap().len(), 3);
        let (_, past) = get(&base, "/api/v11/Service/list/area/Municipality/code/853?page=4").await;
        assert!(past["itemList"].is_null());
        let channel = first["itemList"][0]["serviceChannels"][0]["serviceChannel"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, channels) = get(&base, &format!("/api/v11/ServiceChannel/list?guids={channel}")).await;
        assert_eq!(status, 200);
        assert_eq!(channels[0]["id"], channel.as_str());

        let refusals = [
            ("/api/v11/Service/list/area/Kunta/code/853", 400, "area"),
            ("/api/v11/Service/list/area/Municipality/code/85a", 400, "code"),
            ("/api/v11/Service/list/area/Municipality/code/853?page=-1", 400, "page"),
            ("/api/v11/Service/list/area/Municipality/code/853?page=x", 400, "page"),
            (
                "/api/v11/Service/list/area/Municipality/code/853?pageSize=9",
                400,
                "pageSize",
            ),
            ("/api/v11/ServiceChannel/list", 400, "guids"),
            ("/api/v11/ServiceChannel/list?guids=123", 400, "guids"),
            ("/api/v11/Service/list/area/Municipality/code/091", 404, "errorMessage"),
        ];
        for (path, want, field) in refusals {
            let (status, body) = get(&base, path).await;
            assert_eq!(status, want, "{path}");
            assert!(body.get(field).is_some(), "{path}: {body}");
        }
        let (status, _) = get(&base, "/api/v12/Service").await;
        assert_eq!(status, 404);
        let post = reqwest::Client::new()
            .post(format!("{base}/api/v11/ServiceChannel/list?guids={channel}"))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status().as_u16(), 405);
    }

    #[tokio::test]
    async fn changes_and_a_fault_on_the_second_page() {
        let sim = running().await;
        let base = sim.base_url();
        let control = sim.control();
        let id = service_id("202", 1);
        assert!(control.rename_service(&id, "sv", "Hemvård och hemsjukvård"));
        assert!(control.remove_service(&service_id("202", 2)));
        let names: Vec<Value> = control
            .services("202")
            .iter()
            .map(|s| s["serviceNames"].clone())
            .collect();
        assert!(names.iter().any(|n| n.to_string().contains("hemsjukvård")));
        assert_eq!(control.services("202").len(), 4);

        control.inject(
            Fault::status(503)
                .on_path("/api/v11/Service/list")
                .fraction(0.5)
                .times(1),
        );
        let path = "/api/v11/Service/list/area/Municipality/code/853";
        assert_eq!(get(&base, &format!("{path}?page=1")).await.0, 200);
        assert_eq!(get(&base, &format!("{path}?page=2")).await.0, 503);
        assert_eq!(get(&base, &format!("{path}?page=2")).await.0, 200);
        assert_eq!(control.request_log().len(), 3);
    }
}
