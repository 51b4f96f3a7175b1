//! The control endpoints under `/_simulator/` (never faulted, never in the request log).

use super::{faults, Control, Fault, Sim};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route(
            "/_simulator/faults",
            get(list_faults).post(inject_fault).delete(clear_faults),
        )
        .route("/_simulator/documents", get(documents))
        .route("/_simulator/requests", get(request_log).delete(clear_request_log))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such control endpoint\n") })
        .with_state(sim)
}

fn control(sim: Arc<Sim>) -> Control {
    Control { sim }
}

async fn inject_fault(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a fault: {e}\n")).into_response(),
    };
    if let Err(e) = fault.check() {
        return (StatusCode::BAD_REQUEST, format!("invalid fault: {e}\n")).into_response();
    }
    sim.lock().faults.push(faults::Active::new(fault));
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(sim): State<Arc<Sim>>) -> Json<Vec<Fault>> {
    Json(control(sim).faults())
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> StatusCode {
    control(sim).clear_faults();
    StatusCode::NO_CONTENT
}

async fn documents(State(sim): State<Arc<Sim>>) -> Response {
    Json(control(sim).documents()).into_response()
}

async fn request_log(State(sim): State<Arc<Sim>>) -> Response {
    Json(control(sim).request_log()).into_response()
}

async fn clear_request_log(State(sim): State<Arc<Sim>>) -> StatusCode {
    control(sim).clear_request_log();
    StatusCode::NO_CONTENT
}
