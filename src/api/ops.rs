//! Operational endpoints: liveness, readiness, metrics, and the answers for unknown routes.

use super::problem::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Liveness: the process answers. No I/O, so its rate is the server's ceiling.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready"), (status = 503, description = "The store is unreachable")))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ready")
}

/// How often a scrape may recount overdue cases.
const OVERDUE_REFRESH: std::time::Duration = std::time::Duration::from_secs(15);

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Metrics")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let stats = state.store.commit_stats();
    state.metrics.set_commit_stats(
        stats.batches.load(Ordering::Relaxed),
        stats.writes.load(Ordering::Relaxed),
        crate::store::CHAIN_LOCK_WAITS.load(Ordering::Relaxed),
    );
    // Overdue help requests are counted on scrape, at most every OVERDUE_REFRESH.
    if state
        .metrics
        .overdue_refresh_due(std::time::Instant::now(), OVERDUE_REFRESH)
    {
        match state.store.overdue_counts(chrono::Utc::now()).await {
            Ok(counts) => state.metrics.set_overdue(&counts),
            Err(e) => tracing::warn!(error = %e, "counting overdue cases failed"),
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

pub async fn method_not_allowed() -> impl IntoResponse {
    let mut problem = ApiError::NotFound(String::new()).problem();
    problem.kind = "/problems/method-not-allowed".into();
    problem.title = "Method not allowed".into();
    problem.status = 405;
    problem.detail = None;
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, super::problem::PROBLEM_JSON)],
        serde_json::to_vec(&problem).unwrap_or_default(),
    )
}
