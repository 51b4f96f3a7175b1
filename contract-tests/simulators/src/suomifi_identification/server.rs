//! The listener (plain HTTP/1.1), the IdP's endpoints, the control endpoints, and around every IdP request
//! the fault injection and the request log.

use super::binding::{self, RedirectMessage};
use super::faults::{self, FaultKind};
use super::protocol::{self, AuthnRequest, LogoutRequest, LogoutResponse};
use super::response::ResponseOptions;
use super::{
    Control, Fault, IdpSession, LoggedRequest, ReceivedAuthnRequest, ReceivedLogoutRequest, ReceivedLogoutResponse,
    Sim, SpEndpoints, TestUser, MAX_RELAY_STATE_BYTES,
};
use crate::net::{self, DropConnection};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use serde::Deserialize;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Why a request was refused, carried to the request log.
#[derive(Clone)]
struct Refusal(String);

pub async fn serve(listener: TcpListener, sim: Arc<Sim>, stop: watch::Receiver<bool>) {
    let app = router(sim.clone());
    net::serve(listener, None, stop, move |req| handle(app.clone(), sim.clone(), req)).await;
}

async fn handle(app: Router, sim: Arc<Sim>, req: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
    let path = req.uri().path().to_string();
    if path == "/_simulator" || path.starts_with("/_simulator/") {
        return Ok(app.oneshot(req).await.unwrap_or_else(|never| match never {}));
    }
    let method = req.method().to_string();
    let fired = faults::fire_all(&mut sim.lock().faults, &path);
    if !fired.delay.is_zero() {
        tokio::time::sleep(fired.delay).await;
    }
    let result = match fired.action {
        None => Ok(app.oneshot(req).await.unwrap_or_else(|never| match never {})),
        Some(FaultKind::DropConnection) => Err(DropConnection),
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Ok((status, format!("{status}\n")).into_response())
        }
        Some(FaultKind::MetadataSignedByUnknownKey) => Ok(match sim.unknown_key() {
            Ok(key) => metadata_response(sim.metadata(Some(&key))),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        }),
        Some(FaultKind::Latency { .. }) => unreachable!("latency is a delay, not an action"),
    };
    let (status, refusal) = match &result {
        Ok(r) => (
            Some(r.status().as_u16()),
            r.extensions().get::<Refusal>().map(|r| r.0.clone()),
        ),
        Err(_) => (None, None),
    };
    net::push_capped(
        &mut sim.lock().request_log,
        LoggedRequest {
            method,
            path,
            status,
            refusal,
        },
    );
    result
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/idp/metadata", get(metadata))
        .route("/idp/sso", get(sso))
        .route("/idp/slo", get(slo))
        .route(
            "/_simulator/faults",
            get(list_faults).post(inject_fault).delete(clear_faults),
        )
        .route("/_simulator/requests", get(request_log).delete(clear_request_log))
        .route("/_simulator/users", get(users))
        .route("/_simulator/next-user", post(next_user))
        .route("/_simulator/next-response", post(next_response))
        .route("/_simulator/authn-requests", get(authn_requests))
        .route("/_simulator/sessions", get(sessions))
        .route("/_simulator/idp-logout", post(idp_logout))
        .route("/_simulator/logout-requests", get(logout_requests))
        .route("/_simulator/logout-responses", get(logout_responses))
        .route("/_simulator/sp", get(sp).post(set_sp))
        .route("/_simulator/signing-key", post(signing_key))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(sim)
}

fn refuse(reason: impl Into<String>) -> Response<Body> {
    let reason = reason.into();
    let mut r = (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response();
    r.extensions_mut().insert(Refusal(reason));
    r
}

fn internal(e: anyhow::Error) -> Response<Body> {
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response()
}

fn metadata_response(xml: anyhow::Result<String>) -> Response<Body> {
    match xml {
        Ok(xml) => ([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response(),
        Err(e) => internal(e),
    }
}

async fn metadata(State(sim): State<Arc<Sim>>) -> Response<Body> {
    let signer = sim.sign_metadata.then(|| sim.current_key());
    metadata_response(sim.metadata(signer.as_ref()))
}

/// IssueInstant within `max_age` in the past and a minute in the future.
fn fresh(instant: DateTime<Utc>, sim: &Sim, what: &str) -> Result<(), String> {
    let now = Utc::now();
    let max_age = chrono::Duration::from_std(sim.max_request_age).unwrap_or(chrono::Duration::minutes(5));
    if instant < now - max_age {
        return Err(format!("{what} IssueInstant {instant} is too old"));
    }
    if instant > now + chrono::Duration::minutes(1) {
        return Err(format!("{what} IssueInstant {instant} is in the future"));
    }
    Ok(())
}

/// Parse the query and verify its signature with the SP's signing certificate.
fn signed_message(sim: &Sim, query: Option<&str>) -> Result<RedirectMessage, String> {
    let m = RedirectMessage::parse(query.unwrap_or_default())?;
    let cert = sim.lock().sp_signing_cert.clone();
    m.verify(&cert)?;
    if let Some(rs) = &m.relay_state {
        if rs.len() > MAX_RELAY_STATE_BYTES {
            return Err(format!("RelayState is longer than {MAX_RELAY_STATE_BYTES} bytes"));
        }
    }
    Ok(m)
}

fn check_authn_request(sim: &Sim, r: &AuthnRequest, sp: &SpEndpoints) -> Result<(), String> {
    if r.issuer != sp.entity_id {
        return Err(format!("unknown service provider {}", r.issuer));
    }
    match &r.destination {
        Some(d) if *d == sim.sso_url() => {}
        Some(d) => return Err(format!("Destination {d} is not {}", sim.sso_url())),
        None => return Err("a signed AuthnRequest must have a Destination".into()),
    }
    if let Some(acs) = &r.acs_url {
        if *acs != sp.acs_url {
            return Err(format!(
                "AssertionConsumerServiceURL {acs} is not registered for {}",
                sp.entity_id
            ));
        }
    }
    if let Some(b) = &r.protocol_binding {
        if b != protocol::HTTP_POST {
            return Err(format!("ProtocolBinding {b} is not supported (only HTTP-POST)"));
        }
    }
    if let Some(f) = &r.name_id_format {
        if f != protocol::TRANSIENT {
            return Err(format!("NameIDPolicy Format {f} is not supported (only transient)"));
        }
    }
    if let Some(unknown) = r
        .requested_loa
        .iter()
        .find(|l| !protocol::loa::ALL.contains(&l.as_str()))
    {
        return Err(format!("unknown level of assurance {unknown}"));
    }
    fresh(r.issue_instant, sim, "AuthnRequest")
}

async fn sso(State(sim): State<Arc<Sim>>, RawQuery(query): RawQuery) -> Response<Body> {
    let m = match signed_message(&sim, query.as_deref()) {
        Ok(m) => m,
        Err(e) => return refuse(e),
    };
    if m.param != "SAMLRequest" {
        return refuse("the SSO endpoint takes a SAMLRequest");
    }
    let request = match AuthnRequest::parse(&m.xml) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    let options = {
        let mut inner = sim.lock();
        if let Err(e) = check_authn_request(&sim, &request, &inner.sp) {
            return refuse(e);
        }
        if inner.authn_requests.iter().any(|r| r.request.id == request.id) {
            return refuse(format!("AuthnRequest ID {} was already used", request.id));
        }
        inner.authn_requests.push(ReceivedAuthnRequest {
            request: request.clone(),
            relay_state: m.relay_state.clone(),
            received_at: Utc::now(),
        });
        inner.next_response.take().unwrap_or_default()
    };
    let built = match sim.build(&options, Some(&request)) {
        Ok(b) => b,
        Err(e) => return internal(e),
    };
    if let (Some(name_id), Some(session_index), Some(loa)) = (&built.name_id, &built.session_index, &built.loa) {
        let mut inner = sim.lock();
        let sp_entity_id = inner.sp.entity_id.clone();
        inner.sessions.push(IdpSession {
            name_id: name_id.clone(),
            session_index: session_index.clone(),
            user: built.user.clone(),
            sp_entity_id,
            loa: loa.clone(),
            authn_request_id: request.id.clone(),
            created_at: Utc::now(),
        });
    }
    let html = binding::auto_post_form(&built.acs_url, &built.saml_response, m.relay_state.as_deref());
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store")),
        ],
        html,
    )
        .into_response()
}

async fn slo(State(sim): State<Arc<Sim>>, RawQuery(query): RawQuery) -> Response<Body> {
    let m = match signed_message(&sim, query.as_deref()) {
        Ok(m) => m,
        Err(e) => return refuse(e),
    };
    if m.param == "SAMLRequest" {
        sp_initiated_logout(&sim, m)
    } else {
        logout_response(&sim, m)
    }
}

fn check_sp_message(sim: &Sim, issuer: &str, destination: Option<&str>, sp: &SpEndpoints) -> Result<(), String> {
    if issuer != sp.entity_id {
        return Err(format!("unknown service provider {issuer}"));
    }
    match destination {
        Some(d) if d == sim.slo_url() => Ok(()),
        Some(d) => Err(format!("Destination {d} is not {}", sim.slo_url())),
        None => Err("a signed logout message must have a Destination".into()),
    }
}

fn sp_initiated_logout(sim: &Sim, m: RedirectMessage) -> Response<Body> {
    let request = match LogoutRequest::parse(&m.xml) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    if let Err(e) = fresh(request.issue_instant, sim, "LogoutRequest") {
        return refuse(e);
    }
    let (xml, slo_url) = {
        let mut inner = sim.lock();
        if let Err(e) = check_sp_message(sim, &request.issuer, request.destination.as_deref(), &inner.sp) {
            return refuse(e);
        }
        let before = inner.sessions.len();
        inner.sessions.retain(|s| {
            !(s.name_id == request.name_id
                && (request.session_indexes.is_empty() || request.session_indexes.contains(&s.session_index)))
        });
        let ended = before - inner.sessions.len();
        let status = if ended > 0 {
            protocol::status_xml(protocol::STATUS_SUCCESS, None)
        } else {
            protocol::status_xml(protocol::STATUS_REQUESTER, Some(protocol::STATUS_UNKNOWN_PRINCIPAL))
        };
        inner.logout_requests.push(ReceivedLogoutRequest {
            request: request.clone(),
            relay_state: m.relay_state.clone(),
            sessions_ended: ended,
            status: if ended > 0 {
                protocol::STATUS_SUCCESS.into()
            } else {
                protocol::STATUS_REQUESTER.into()
            },
            received_at: Utc::now(),
        });
        let xml = protocol::logout_response_xml(
            &protocol::new_id(),
            &request.id,
            Utc::now(),
            &inner.sp.slo_url,
            &sim.entity_id,
            &status,
        );
        (xml, inner.sp.slo_url.clone())
    };
    let key = sim.current_key();
    match binding::signed_redirect_url(
        &slo_url,
        "SAMLResponse",
        xml.as_bytes(),
        m.relay_state.as_deref(),
        &key.key_pem,
    ) {
        Ok(url) => match HeaderValue::from_str(&url) {
            Ok(location) => (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store")),
                ],
            )
                .into_response(),
            Err(e) => internal(e.into()),
        },
        Err(e) => internal(e),
    }
}

fn logout_response(sim: &Sim, m: RedirectMessage) -> Response<Body> {
    let response = match LogoutResponse::parse(&m.xml) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    if let Err(e) = fresh(response.issue_instant, sim, "LogoutResponse") {
        return refuse(e);
    }
    let mut inner = sim.lock();
    if let Err(e) = check_sp_message(sim, &response.issuer, response.destination.as_deref(), &inner.sp) {
        return refuse(e);
    }
    let Some(in_response_to) = response.in_response_to.clone() else {
        return refuse("LogoutResponse without InResponseTo");
    };
    let Some(position) = inner.pending_logouts.iter().position(|p| p.id == in_response_to) else {
        return refuse(format!(
            "LogoutResponse InResponseTo {in_response_to} answers no LogoutRequest the IdP sent"
        ));
    };
    let pending = inner.pending_logouts.remove(position);
    inner.logout_responses.push(ReceivedLogoutResponse {
        response,
        name_id: pending.name_id,
        received_at: Utc::now(),
    });
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html>\n<html lang=\"fi\"><head><meta charset=\"utf-8\"><title>Suomi.fi-tunnistus</title></head>\
         <body><p>Olet kirjautunut ulos palvelusta.</p></body></html>\n",
    )
        .into_response()
}

// ---------------------------------------------------------------- control endpoints

fn control(sim: Arc<Sim>) -> Control {
    Control { sim }
}

fn bad_json(e: impl std::fmt::Display) -> Response<Body> {
    (StatusCode::BAD_REQUEST, format!("bad JSON: {e}\n")).into_response()
}

async fn inject_fault(State(sim): State<Arc<Sim>>, body: Bytes) -> Response<Body> {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad_json(e),
    };
    if let Err(e) = fault.check() {
        return (StatusCode::BAD_REQUEST, format!("invalid fault: {e}\n")).into_response();
    }
    sim.lock().faults.push(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(sim): State<Arc<Sim>>) -> Json<Vec<Fault>> {
    Json(control(sim).faults())
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> StatusCode {
    control(sim).clear_faults();
    StatusCode::NO_CONTENT
}

async fn request_log(State(sim): State<Arc<Sim>>) -> Json<Vec<LoggedRequest>> {
    Json(control(sim).request_log())
}

async fn clear_request_log(State(sim): State<Arc<Sim>>) -> StatusCode {
    control(sim).clear_request_log();
    StatusCode::NO_CONTENT
}

async fn users(State(sim): State<Arc<Sim>>) -> Json<Vec<TestUser>> {
    Json(control(sim).users())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NextUser {
    Key { key: String },
    User(TestUser),
}

async fn next_user(State(sim): State<Arc<Sim>>, body: Bytes) -> Response<Body> {
    let user = match serde_json::from_slice::<NextUser>(&body) {
        Ok(NextUser::User(u)) => u,
        Ok(NextUser::Key { key }) => match sim.users.iter().find(|u| u.key() == key) {
            Some(u) => u.clone(),
            None => return (StatusCode::NOT_FOUND, format!("no configured user {key}\n")).into_response(),
        },
        Err(e) => return bad_json(e),
    };
    control(sim).set_next_user(user);
    StatusCode::NO_CONTENT.into_response()
}

async fn next_response(State(sim): State<Arc<Sim>>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<ResponseOptions>(&body) {
        Ok(options) => {
            control(sim).set_next_response(options);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_json(e),
    }
}

async fn authn_requests(State(sim): State<Arc<Sim>>) -> Json<Vec<ReceivedAuthnRequest>> {
    Json(control(sim).authn_requests())
}

async fn sessions(State(sim): State<Arc<Sim>>) -> Json<Vec<IdpSession>> {
    Json(control(sim).sessions())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdpLogout {
    name_id: String,
}

async fn idp_logout(State(sim): State<Arc<Sim>>, body: Bytes) -> Response<Body> {
    let req: IdpLogout = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_json(e),
    };
    match control(sim).idp_initiated_logout(&req.name_id) {
        Ok(url) => Json(serde_json::json!({ "url": url })).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
    }
}

async fn logout_requests(State(sim): State<Arc<Sim>>) -> Json<Vec<ReceivedLogoutRequest>> {
    Json(control(sim).logout_requests())
}

async fn logout_responses(State(sim): State<Arc<Sim>>) -> Json<Vec<ReceivedLogoutResponse>> {
    Json(control(sim).logout_responses())
}

async fn sp(State(sim): State<Arc<Sim>>) -> Json<SpEndpoints> {
    Json(control(sim).sp())
}

async fn set_sp(State(sim): State<Arc<Sim>>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<SpEndpoints>(&body) {
        Ok(sp) => {
            control(sim).set_sp(sp);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_json(e),
    }
}

#[derive(Deserialize)]
struct SigningKeyIndex {
    index: usize,
}

async fn signing_key(State(sim): State<Arc<Sim>>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<SigningKeyIndex>(&body) {
        Ok(k) => match control(sim).set_current_signing_key(k.index) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        },
        Err(e) => bad_json(e),
    }
}
