//! The listener: plain HTTP/1.1 or HTTPS, and around every request of the real API the fault injection and
//! the request log (outside the router, so a fault can drop the connection).

use super::faults::{self, FaultKind, When};
use super::{LoggedRequest, Sim};
use crate::net::{self, DropConnection};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use openssl::ssl::SslAcceptor;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

pub async fn serve(
    listener: TcpListener,
    acceptor: Option<Arc<SslAcceptor>>,
    app: Router,
    sim: Arc<Sim>,
    stop: watch::Receiver<bool>,
) {
    net::serve(listener, acceptor, stop, move |req| {
        handle(app.clone(), sim.clone(), req)
    })
    .await;
}

async fn handle(app: Router, sim: Arc<Sim>, req: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
    let path = req.uri().path().to_string();
    if path == "/_simulator" || path.starts_with("/_simulator/") {
        return Ok(app.oneshot(req).await.unwrap_or_else(|never| match never {}));
    }
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_string);
    let token = super::api::bearer(req.headers()).map(str::to_string);

    let before = faults::fire_all(&mut sim.lock().faults, &path, When::Before);
    if !before.delay.is_zero() {
        tokio::time::sleep(before.delay).await;
    }
    let result = match before.action {
        Some(action) => apply(action, None, token.as_deref(), &sim).await,
        None => {
            let response = app.oneshot(req).await.unwrap_or_else(|never| match never {});
            let after = faults::fire_all(&mut sim.lock().faults, &path, When::After);
            if !after.delay.is_zero() {
                tokio::time::sleep(after.delay).await;
            }
            match after.action {
                Some(action) => apply(action, Some(response), token.as_deref(), &sim).await,
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

async fn apply(
    action: FaultKind,
    response: Option<Response<Body>>,
    token: Option<&str>,
    sim: &Sim,
) -> Result<Response<Body>, DropConnection> {
    use super::api::outcome;
    Ok(match action {
        FaultKind::Latency { .. } => unreachable!("latency is a delay, not an action"),
        FaultKind::DropConnection => return Err(DropConnection),
        FaultKind::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            outcome(status, "transient", status.canonical_reason().unwrap_or("Error"))
        }
        FaultKind::TooManyRequests { retry_after_seconds } => {
            let mut r = outcome(StatusCode::TOO_MANY_REQUESTS, "throttled", "Too Many Requests");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            r
        }
        FaultKind::Unauthorized => {
            if let Some(token) = token {
                sim.lock().tokens.remove(token);
            }
            super::api::unauthorized()
        }
        FaultKind::MalformedJson => match response {
            None => malformed(
                StatusCode::OK,
                HeaderMap::new(),
                br#"{"resourceType": "Bundle", "entry": ["#,
            ),
            Some(response) => {
                let (parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                let cut = bytes.len() / 2;
                let truncated = if cut == 0 { &b"{"[..] } else { &bytes[..cut] };
                malformed(parts.status, parts.headers, truncated)
            }
        },
    })
}

fn malformed(status: StatusCode, mut headers: HeaderMap, body: &[u8]) -> Response<Body> {
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json"));
    let mut response = Response::new(Body::from(body.to_vec()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
