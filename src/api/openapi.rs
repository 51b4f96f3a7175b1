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
        super::services::list, super::services::get_one,
        super::audit::query, super::audit::verify,
        super::ops::healthz, super::ops::readyz, super::ops::metrics,
    ),
    components(schemas(super::problem::Problem, super::problem::InvalidField)),
    modifiers(&Security),
    tags((name = "cases", description = "Service guidance cases"),
        (name = "help", description = "The public \"ask for help\" (pyydä apua) button"),
        (name = "messages", description = "Messages to persons through Suomi.fi Messages"),
        (name = "kanta", description = "Documents in Kanta's social welfare client data archive"),
        (name = "identification", description = "Suomi.fi Identification logins and Suomi.fi Mandates"),
        (name = "exchanges", description = "The outbox: exchanges with national services"), (name = "audit", description = "The audit trail"),
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

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
