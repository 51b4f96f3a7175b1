//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Portti", description = "Integration gateway between regional social and health care systems and Finland's national services."),
    paths(
        super::cases::create, super::cases::get_one, super::cases::list,
        super::imports::contact_centre,
        super::help::create,
        super::messages::send,
        super::kanta::archive, super::kanta::invalidate, super::kanta::search, super::kanta::fetch,
        super::mandates::check,
        super::oda::status, super::oda::reply,
        super::transfers::create, super::transfers::list,
        super::exchanges::get_one, super::exchanges::list, super::exchanges::retry,
        super::jobs::list, super::jobs::run,
        super::audit::query, super::audit::verify, super::audit::export, super::audit::disclosure_report,
        super::reports::kpi, super::reports::chart, super::reports::cost_allocation,
        super::services::list, super::services::get_one,
        super::ops::healthz, super::ops::readyz, super::ops::metrics,
    ),
    components(schemas(super::problem::Problem, super::problem::InvalidField)),
    modifiers(&Security, &ErrorResponses),
    tags((name = "cases", description = "Service guidance cases"),
        (name = "help", description = "The public \"ask for help\" (pyydä apua) button"),
        (name = "messages", description = "Messages to persons through Suomi.fi Messages"),
        (name = "kanta", description = "Documents in Kanta's social welfare client data archive"),
        (name = "identification", description = "Suomi.fi Identification logins and Suomi.fi Mandates"),
        (name = "exchanges", description = "The outbox: exchanges with national services"), (name = "audit", description = "The audit trail"),
        (name = "reports", description = "Service-guidance key figures and cost shares"),
        (name = "services", description = "The service catalogue (Suomi.fi PTV) of municipalities, as last synced"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "mtls",
            SecurityScheme::MutualTls {
                description: Some("A client certificate mapped to an API client in the configuration".into()),
                extensions: None,
            },
        );
    }
}

/// The problems any operation may answer with, added where a handler's annotation does not
/// name them, so that clients (and schema fuzzers) find every status the API uses documented.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete]
                .into_iter()
                .flatten()
            {
                let protected = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = operation.request_body.is_some();
                let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| problem(description).into());
                };
                if has_body {
                    add("400", "The body is not well-formed");
                    add("413", "The body is too large");
                    add("415", "The body has the wrong content type");
                }
                if has_body || has_parameters {
                    add("422", "Invalid fields or parameters, each named");
                }
                if protected {
                    add("401", "No valid token or client certificate");
                    add("403", "The token lacks the scope or organisation");
                    add("404", "No such resource visible to this client");
                    add("429", "Too many concurrent requests from this client");
                }
                add("503", "Temporarily unavailable or timed out");
            }
        }
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
