//! The listener (plain HTTP/1.1 on loopback, one task per connection) and, around every request of
//! the real API, the fault injection and the request log. Faults live outside the axum router
//! because dropping a connection without a response needs the service itself to fail.

use super::api::{self, Outcome};
use super::faults::{self, FaultKind, When};
use super::{LoggedRequest, Sim};
use crate::net::{self, DropConnection};
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

pub async fn serve(listener: TcpListener, app: Router, sim: Arc<Sim>, stop: watch::Receiver<bool>) {
    net::serve(listener, None, stop, move |req| handle(app.clone(), sim.clone(), req)).await;
}

async fn handle(app: Router, sim: Arc<Sim>, req: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
    let path = req.uri().path().to_string();
    if path == "/_simulator" || path.starts_with("/_simulator/") {
        return Ok(app.oneshot(req).await.unwrap_or_else(|never| match never {}));
    }
    let method = req.method().to_string();
    let issues = api::issues_of(req.uri());

    let before = faults::fire_all(&mut sim.lock().faults, &path, When::Before);
    if !before.delay.is_zero() {
        tokio::time::sleep(before.delay).await;
    }
    let result = match before.action {
        Some(action) => apply(action, None).await.map(|r| (r, Outcome::default())),
        None => {
            let response = app.oneshot(req).await.unwrap_or_else(|never| match never {});
            let outcome = response.extensions().get::<Outcome>().cloned().unwrap_or_default();
            let after = faults::fire_all(&mut sim.lock().faults, &path, When::After);
            if !after.delay.is_zero() {
                tokio::time::sleep(after.delay).await;
            }
            match after.action {
                // The answer was decided but the client never sees it: no result in the log.
                Some(action) => apply(action, Some(response)).await.map(|r| {
                    (
                        r,
                        Outcome {
                            result: None,
                            ..outcome
                        },
                    )
                }),
                None => Ok((response, outcome)),
            }
        }
    };
    let (status, outcome) = match &result {
        Ok((response, outcome)) => (Some(response.status().as_u16()), outcome.clone()),
        Err(_) => (None, Outcome::default()),
    };
    net::push_capped(
        &mut sim.lock().request_log,
        LoggedRequest {
            method,
            path,
            issues,
            client_id: outcome.client_id,
            status,
            result: outcome.result.map(str::to_owned),
        },
    );
    result.map(|(response, _)| response)
}

async fn apply(action: FaultKind, response: Option<Response<Body>>) -> Result<Response<Body>, DropConnection> {
    Ok(match action {
        FaultKind::Latency { .. } => unreachable!("latency is a delay, not an action"),
        FaultKind::DropConnection => return Err(DropConnection),
        FaultKind::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            api::error(status, "injected", status.canonical_reason().unwrap_or("error"))
        }
        FaultKind::TooManyRequests { retry_after_seconds } => {
            let mut r = api::error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "slow down");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            r
        }
        FaultKind::Unauthorized => api::error(StatusCode::UNAUTHORIZED, "unauthorized", "injected"),
        FaultKind::MalformedJson => match response {
            None => malformed(StatusCode::OK, br#"{"result": "ALLO"#.to_vec()),
            Some(response) => {
                let (parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                let cut = if bytes.len() > 1 { bytes.len() / 2 } else { 0 };
                let truncated = if cut == 0 { b"{".to_vec() } else { bytes[..cut].to_vec() };
                malformed(parts.status, truncated)
            }
        },
    })
}

fn malformed(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
