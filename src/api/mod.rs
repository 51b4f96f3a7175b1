//! The REST API: routes, shared state and the layers around them. Handlers are thin: they
//! check scope and organisation, call the case model and the store, and write audit events.

mod audit;
mod cases;
mod console;
mod exchanges;
mod extract;
mod help;
mod help_form;
mod idempotency;
mod identification;
mod imports;
mod jobs;
mod kanta;
pub mod layers;
mod mandates;
mod messages;
mod oda;
mod openapi;
mod ops;
mod outbox;
mod params;
pub mod problem;
pub mod rate_limit;
mod reports;
mod services;
pub mod tls;
mod transfers;

use crate::audit::PersonHasher;
use crate::auth::{CertificateClients, TokenVerifier};
use crate::case::OrganisationRegistry;
use crate::config::LimitSettings;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::routing::{get, post};
use axum::{middleware, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub use imports::{ContactCentreRows, RejectedRow, RowError};
pub use openapi::ApiDoc;

pub struct AppState {
    pub store: Store,
    pub hasher: PersonHasher,
    pub registry: OrganisationRegistry,
    pub case_limits: crate::case::Limits,
    pub verifier: TokenVerifier,
    pub certificate_clients: CertificateClients,
    pub limits: LimitSettings,
    pub metrics: Arc<Metrics>,
    pub(crate) client_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Help requests per client address (`limits.help_requests_per_window`).
    pub help_limiter: rate_limit::RateLimiter,
    /// The reference sequence of help requests.
    pub help_references: help::References,
    /// The outbox's workers; absent in tests of the case API alone.
    pub broker: Option<Arc<crate::broker::Broker>>,
    pub jobs: Option<Arc<crate::jobs::Jobs>>,
    /// The Kanta adapter itself (also in the broker), for its checks and document ids.
    pub kanta: Option<Arc<portti_kanta::KantaAdapter>>,
    /// This gateway as a Suomi.fi Identification service provider.
    pub identification: Option<Arc<crate::identification::Identification>>,
    pub mandates: Option<Arc<portti_suomifi_mandates::SuomifiMandates>>,
    /// Held while the gateway runs; see `app::lock_data_dir`.
    pub data_dir_lock: Option<std::fs::File>,
    /// Certificate files in use, with their purpose (the console shows their expiry).
    pub certificate_files: Vec<(String, std::path::PathBuf)>,
    /// Keys the console's form tokens; new at every start, which only expires open forms.
    pub console_secret: [u8; 32],
    /// The configured population aged 75+ by municipality, for cost allocation.
    pub population_75_plus: std::collections::BTreeMap<String, u64>,
    /// What verifies the audit trail's checkpoints; without it checkpoints are not checked.
    pub audit_keys: Option<Arc<crate::audit::AuditKeys>>,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        hasher: PersonHasher,
        registry: OrganisationRegistry,
        verifier: TokenVerifier,
        certificate_clients: CertificateClients,
        limits: LimitSettings,
    ) -> Self {
        let help_limiter = rate_limit::RateLimiter::new(
            limits.help_requests_per_window,
            std::time::Duration::from_secs(limits.help_request_window_s),
        );
        Self {
            help_limiter,
            help_references: help::References::default(),
            store,
            hasher,
            registry,
            case_limits: crate::case::Limits::default(),
            verifier,
            certificate_clients,
            limits,
            metrics: Arc::new(Metrics::default()),
            client_slots: Mutex::new(HashMap::new()),
            broker: None,
            jobs: None,
            kanta: None,
            identification: None,
            mandates: None,
            data_dir_lock: None,
            certificate_files: Vec::new(),
            console_secret: {
                let mut secret = [0u8; 32];
                openssl::rand::rand_bytes(&mut secret).expect("the system random source works");
                secret
            },
            population_75_plus: Default::default(),
            audit_keys: None,
        }
    }
}

/// The whole API with its layers. Layers listed later wrap the ones before them.
pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/v1/cases", get(cases::list).post(cases::create))
        .route("/v1/cases/{id}", get(cases::get_one))
        .route("/v1/cases/{id}/transfers", get(transfers::list).post(transfers::create))
        .route(imports::CONTACT_CENTRE_PATH, post(imports::contact_centre))
        .route("/v1/messages", post(messages::send))
        .route("/v1/cases/{id}/kanta-documents", post(kanta::archive))
        .route("/v1/cases/{id}/oda-status", post(oda::status))
        .route("/v1/cases/{id}/oda-replies", post(oda::reply))
        .route("/v1/cases/{id}/kanta-documents/invalidations", post(kanta::invalidate))
        .route("/v1/kanta/documents", get(kanta::search))
        .route("/v1/kanta/documents/{oid}", get(kanta::fetch))
        .route("/saml/logout", post(identification::logout))
        .route("/v1/mandates/check", get(mandates::check))
        .route("/v1/services", get(services::list))
        .route("/v1/services/{id}", get(services::get_one))
        .route("/v1/exchanges", get(exchanges::list))
        .route("/v1/exchanges/{id}", get(exchanges::get_one))
        .route("/v1/exchanges/{id}/retry", post(exchanges::retry))
        .route("/v1/jobs", get(jobs::list))
        .route("/v1/jobs/{name}/run", post(jobs::run))
        .route("/v1/audit", get(audit::query))
        .route("/v1/audit/verify", get(audit::verify))
        .route("/v1/audit/export", get(audit::export))
        .route("/v1/audit/people/{identity_code}/report", get(audit::disclosure_report))
        .route("/v1/reports/kpi", get(reports::kpi))
        .route("/v1/reports/kpi/charts/{chart}", get(reports::chart))
        .route("/v1/reports/cost-allocation", post(reports::cost_allocation))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            layers::per_client_concurrency,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), layers::authenticate));
    let public = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/saml/metadata", get(identification::metadata))
        .route("/saml/login", get(identification::login))
        .route("/saml/acs", post(identification::acs))
        .route("/saml/slo", get(identification::slo))
        .route("/v1/help-requests", post(help::create))
        .route("/help", get(help_form::page_get).post(help_form::page_post));
    let console = console::protected()
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            layers::per_client_concurrency,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), layers::authenticate))
        .route_layer(middleware::from_fn(console::session));
    public
        .merge(console::public())
        .merge(console)
        .merge(protected)
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), layers::metrics))
        .layer(middleware::from_fn_with_state(state.clone(), layers::body_limits))
        .layer(middleware::from_fn_with_state(state.clone(), layers::timeout))
        .layer(middleware::from_fn(layers::request_id))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            layers::panic_to_problem,
        ))
        .layer(tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
        ]))
        .with_state(state)
}

#[cfg(test)]
mod help_tests;
#[cfg(test)]
mod reports_tests;
#[cfg(test)]
mod tests;

/// An audit event for this caller and request; handlers fill in person, organisation, digests.
fn audit_event(
    caller: &crate::auth::Caller,
    request: &layers::RequestId,
    action: &str,
    outcome: &str,
) -> crate::audit::AuditEvent {
    crate::audit::AuditEvent {
        time: chrono::Utc::now(),
        actor: crate::audit::Actor {
            client_id: caller.client_id.clone(),
            end_user: caller.end_user.clone(),
            role: caller.role.clone(),
        },
        action: action.to_string(),
        purpose: caller.purpose.clone(),
        person: None,
        organisation: None,
        service: None,
        exchange_id: None,
        outcome: outcome.to_string(),
        request_digest: None,
        response_digest: None,
        correlation_id: request.0.clone(),
    }
}
