//! `/v1/jobs`: the scheduled jobs, and running one now.

use super::layers::RequestId;
use super::params::require;
use super::problem::{ApiError, Problem};
use super::{audit_event, AppState};
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
        (status = 409, description = "Another replica is running the job", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn run(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(name): Path<String>,
) -> Result<Json<JobRun>, ApiError> {
    require(&caller, Scope::JobsRun)?;
    let jobs = jobs(&state)?.clone();
    // Only for the caller's organisations; spawned so that a request timeout cannot cut a run
    // short before it is recorded.
    let organisations = caller.orgs.clone();
    let job = name.clone();
    let run = tokio::spawn(async move { jobs.run_for(&job, Some(&organisations)).await })
        .await
        .map_err(|_| ApiError::Internal)?;
    let run = match run {
        Ok(run) => run,
        Err(JobError::Unknown(_)) => return Err(ApiError::NotFound("no such job".into())),
        Err(e @ JobError::Elsewhere(_)) => return Err(ApiError::Conflict(e.to_string())),
        Err(JobError::Store(e)) => return Err(e.into()),
    };
    let events = caller
        .orgs
        .iter()
        .map(|organisation| {
            let mut event = audit_event(&caller, &request_id, &format!("job.run.{name}"), &run.outcome);
            event.organisation = Some(organisation.clone());
            event
        })
        .collect();
    state.store.append_audit(events).await?;
    Ok(Json(run))
}
