//! `/v1/jobs`: the scheduled jobs, and running one now.

use super::params::require;
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::auth::{Caller, Scope};
use crate::jobs::{JobError, JobInfo};
use crate::store::JobRun;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use std::sync::Arc;

fn jobs(state: &AppState) -> Result<&Arc<crate::jobs::Jobs>, ApiError> {
    state
        .jobs
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("no job scheduler runs".into()))
}

/// The jobs, their schedules and next runs.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs",
    responses((status = 200, description = "The jobs", body = Vec<JobInfo>)),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<JobInfo>>, ApiError> {
    require(&caller, Scope::JobsRun)?;
    Ok(Json(jobs(&state)?.list()))
}

/// Run a job now; the answer is the recorded run.
#[utoipa::path(post, path = "/v1/jobs/{name}/run", tag = "jobs",
    params(("name" = String, Path, description = "e.g. suomifi-messages-events")),
    responses(
        (status = 200, description = "The run, with its outcome and counts", body = JobRun),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn run(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<JobRun>, ApiError> {
    require(&caller, Scope::JobsRun)?;
    match jobs(&state)?.run(&name).await {
        Ok(run) => Ok(Json(run)),
        Err(JobError::Unknown(_)) => Err(ApiError::NotFound("no such job".into())),
        Err(JobError::Store(e)) => Err(e.into()),
    }
}
