//! Scheduled jobs: cron expressions from the config, each run recorded (start, end, outcome,
//! counts). `portti jobs list` shows them, `portti jobs run NAME` or `POST /v1/jobs/{name}/run`
//! runs one now.

pub mod audit;
mod messages;
pub mod oda;
pub mod ptv;

/// Counts on success; counts and what failed otherwise.
type JobResult = Result<serde_json::Value, (serde_json::Value, String)>;

use crate::broker::Broker;
use crate::store::{JobLease, JobRun, Store, StoreError, Write};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::sync::Arc;
use utoipa::ToSchema;

pub const MESSAGES_EVENTS: &str = "suomifi-messages-events";
pub const MESSAGES_PASSWORD: &str = "suomifi-messages-password";
pub const IDENTIFICATION_METADATA: &str = "suomifi-identification-metadata";
pub const ODA_ASSESSMENTS: &str = "oda-assessments";
pub const AUDIT_CHECKPOINT: &str = "audit-checkpoint";
pub const EXCHANGE_PAYLOAD_RETENTION: &str = "exchange-payload-retention";
pub const PTV_SERVICES: &str = "ptv-services";

/// Cron expressions with seconds: `sec min hour day-of-month month day-of-week`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    pub suomifi_messages_events: String,
    pub suomifi_messages_password: String,
    pub suomifi_identification_metadata: String,
    pub oda_assessments: String,
    #[serde(default = "default_audit_checkpoint")]
    pub audit_checkpoint: String,
    #[serde(default = "default_exchange_payload_retention")]
    pub exchange_payload_retention: String,
    pub ptv_services: String,
}

/// Every five minutes: what can be cut off the chain's end unnoticed is at most that much.
fn default_audit_checkpoint() -> String {
    "0 */5 * * * *".into()
}

/// Daily, at night.
fn default_exchange_payload_retention() -> String {
    "0 40 2 * * *".into()
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            // Events are kept 60 days by the service; every five seconds keeps read receipts prompt.
            suomifi_messages_events: "*/5 * * * * *".into(),
            // Monthly, at night: the service asks for regular rotation.
            suomifi_messages_password: "0 0 3 1 * *".into(),
            // Hourly: the IdP publishes a new signing key in its metadata before using it.
            suomifi_identification_metadata: "0 17 * * * *".into(),
            // Every 30 s: self-assessments are handled by urgency.
            oda_assessments: "*/30 * * * * *".into(),
            audit_checkpoint: default_audit_checkpoint(),
            exchange_payload_retention: default_exchange_payload_retention(),
            // Nightly: the catalogue's maintainers advise a full read once a day.
            ptv_services: "0 40 2 * * *".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobInfo {
    pub name: String,
    pub schedule: String,
    pub next_run: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no job is called {0:?}")]
    Unknown(String),
    /// Another replica holds the job's lease (it runs the job now, or ran this slot already).
    #[error("job {0:?} is running on another replica")]
    Elsewhere(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Jobs {
    store: Store,
    broker: Arc<Broker>,
    identification: Option<Arc<crate::identification::Identification>>,
    oda: oda::OdaSync,
    audit: audit::AuditJobs,
    schedules: Vec<(String, String, cron::Schedule)>,
    /// One run of a job at a time: the schedule, the API and the CLI may ask together.
    running: tokio::sync::Mutex<()>,
    /// This process, as the holder of job leases (replicas share the database).
    replica: String,
}

/// How long a job's lease lasts before another replica may take it over; a running job renews
/// it every third of this, so only a replica that died leaves a job waiting this long.
const JOB_LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// Every job with its parsed schedule; a bad expression is a configuration error.
fn schedules(settings: &JobSettings) -> anyhow::Result<Vec<(String, String, cron::Schedule)>> {
    [
        (MESSAGES_EVENTS, &settings.suomifi_messages_events),
        (MESSAGES_PASSWORD, &settings.suomifi_messages_password),
        (IDENTIFICATION_METADATA, &settings.suomifi_identification_metadata),
        (ODA_ASSESSMENTS, &settings.oda_assessments),
        (AUDIT_CHECKPOINT, &settings.audit_checkpoint),
        (EXCHANGE_PAYLOAD_RETENTION, &settings.exchange_payload_retention),
        (PTV_SERVICES, &settings.ptv_services),
    ]
    .into_iter()
    .map(|(name, expression)| {
        let schedule = cron::Schedule::from_str(expression).map_err(|e| {
            anyhow::anyhow!(
                "jobs.{}: {expression:?} is not a cron expression: {e}",
                name.replace('-', "_")
            )
        })?;
        Ok((name.to_string(), expression.clone(), schedule))
    })
    .collect()
}

fn info((name, expression, schedule): &(String, String, cron::Schedule)) -> JobInfo {
    JobInfo {
        name: name.clone(),
        schedule: expression.clone(),
        next_run: schedule.upcoming(Utc).next(),
    }
}

/// The configured jobs and when each runs next.
pub fn describe(settings: &JobSettings) -> anyhow::Result<Vec<JobInfo>> {
    Ok(schedules(settings)?.iter().map(info).collect())
}

impl Jobs {
    pub fn new(
        settings: &JobSettings,
        store: Store,
        broker: Arc<Broker>,
        identification: Option<Arc<crate::identification::Identification>>,
        oda: oda::OdaSync,
        audit: audit::AuditJobs,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            store,
            broker,
            identification,
            oda,
            audit,
            schedules: schedules(settings)?,
            running: tokio::sync::Mutex::new(()),
            replica: uuid::Uuid::now_v7().to_string(),
        }))
    }

    pub fn list(&self) -> Vec<JobInfo> {
        self.schedules.iter().map(info).collect()
    }

    /// Runs a job now for every organisation and records the run, whatever its outcome.
    pub async fn run(&self, name: &str) -> Result<JobRun, JobError> {
        self.run_for(name, None).await
    }

    /// Runs a job for some organisations only (`None`: all of them).
    pub async fn run_for(&self, name: &str, organisations: Option<&[String]>) -> Result<JobRun, JobError> {
        self.run_slot(name, organisations, Utc::now()).await
    }

    /// Runs a job for one slot (its scheduled time) if this replica gets the job's lease.
    async fn run_slot(
        &self,
        name: &str,
        organisations: Option<&[String]>,
        slot: chrono::DateTime<Utc>,
    ) -> Result<JobRun, JobError> {
        if !self.schedules.iter().any(|(n, _, _)| n == name) {
            return Err(JobError::Unknown(name.to_string()));
        }
        let _one_at_a_time = self.running.lock().await;
        let lease = |until: chrono::DateTime<Utc>| JobLease {
            job: name.to_string(),
            holder: self.replica.clone(),
            slot,
            until,
            now: Utc::now(),
        };
        if !self.store.claim_job(lease(Utc::now() + JOB_LEASE)).await? {
            return Err(JobError::Elsewhere(name.to_string()));
        }
        let renewal = {
            let (store, renew) = (self.store.clone(), lease(Utc::now()));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval((JOB_LEASE / 3).to_std().unwrap_or_default());
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let now = Utc::now();
                    let renewed = JobLease {
                        until: now + JOB_LEASE,
                        now,
                        ..renew.clone()
                    };
                    if !matches!(store.claim_job(renewed).await, Ok(true)) {
                        tracing::warn!(job = %renew.job, "could not renew the job's lease");
                    }
                }
            })
        };
        let run = self.run_now(name, organisations).await;
        renewal.abort();
        if let Err(e) = self.store.claim_job(lease(Utc::now())).await {
            tracing::warn!(job = %name, error = %e, "could not give back the job's lease; it runs out by itself");
        }
        run
    }

    async fn run_now(&self, name: &str, organisations: Option<&[String]>) -> Result<JobRun, JobError> {
        let started_at = Utc::now();
        let result = match name {
            MESSAGES_EVENTS => messages::poll_events(&self.store, &self.broker, organisations).await,
            MESSAGES_PASSWORD => messages::rotate_passwords(&self.broker, organisations).await,
            AUDIT_CHECKPOINT => audit::checkpoint(&self.store, &self.audit).await,
            EXCHANGE_PAYLOAD_RETENTION => audit::prune_payloads(&self.store, &self.audit).await,
            ODA_ASSESSMENTS => oda::sync_assessments(&self.store, &self.broker, &self.oda, organisations).await,
            PTV_SERVICES => ptv::sync_services(&self.store, &self.broker, organisations).await,
            IDENTIFICATION_METADATA => match &self.identification {
                None => Ok(serde_json::json!({ "configured": false })),
                Some(identification) => match identification.refresh_metadata().await {
                    Ok(keys) => Ok(serde_json::json!({ "signing_keys": keys })),
                    // The metadata in force stays; the run says why the new one was refused.
                    Err(e) => Err((serde_json::json!({ "signing_keys": 0 }), e.to_string())),
                },
            },
            other => return Err(JobError::Unknown(other.to_string())),
        };
        let (outcome, counts, error) = match result {
            Ok(counts) => ("ok", counts, None),
            Err((counts, e)) => ("failed", counts, Some(e)),
        };
        let run = JobRun {
            id: uuid::Uuid::now_v7(),
            job: name.to_string(),
            started_at,
            finished_at: Utc::now(),
            outcome: outcome.to_string(),
            counts,
            error,
        };
        self.store
            .commit(Write {
                job_run: Some(run.clone()),
                ..Write::default()
            })
            .await?;
        Ok(run)
    }

    /// Runs each job at its scheduled times until the process ends.
    pub fn start(self: &Arc<Self>) {
        for (name, _, schedule) in self.schedules.clone() {
            let jobs = self.clone();
            tokio::spawn(async move {
                for next in schedule.upcoming(Utc) {
                    let wait = (next - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                    match jobs.run_slot(&name, None, next).await {
                        Err(JobError::Elsewhere(_)) => tracing::debug!(job = %name, "another replica runs it"),
                        Ok(run) if run.outcome != "ok" => {
                            tracing::warn!(job = %name, error = run.error.as_deref().unwrap_or(""), "job failed")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(job = %name, error = %e, "job could not run"),
                    }
                }
            });
        }
    }
}
