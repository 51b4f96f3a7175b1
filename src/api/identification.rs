//! Suomi.fi Identification for the e-service platform: `/saml/metadata`, `/saml/login`,
//! `/saml/acs`, `/saml/slo` and `/saml/logout`. Every login, refusal (with its reason) and logout
//! is audited, the person as a keyed hash; nothing personal reaches the tracing logs.

use super::extract::QueryParams;
use super::layers::RequestId;
use super::problem::{ApiError, InvalidField};
use super::AppState;
use crate::audit::{Actor, AuditEvent};
use crate::auth::Caller;
use crate::case::IdentityCode;
use crate::identification::Identification;
use crate::store::{LoginChange, LoginSession, OutstandingRequest, Write, WriteOutcome};
use axum::extract::{Form, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::Utc;
use portti_suomifi_identification as saml;
use serde::Deserialize;
use std::sync::Arc;

fn service(state: &AppState) -> Result<Arc<Identification>, ApiError> {
    state
        .identification
        .clone()
        .ok_or_else(|| ApiError::NotFound("Suomi.fi Identification is not configured".into()))
}

/// An audit event of the login flow: the actor is the browser's user, not an API client.
fn login_event(request_id: &RequestId, action: &str, outcome: String) -> AuditEvent {
    AuditEvent {
        time: Utc::now(),
        actor: Actor {
            client_id: "suomifi-login".into(),
            end_user: None,
            role: None,
        },
        action: action.to_string(),
        purpose: None,
        person: None,
        organisation: None,
        service: Some("suomifi-identification".into()),
        exchange_id: None,
        outcome,
        request_digest: None,
        response_digest: None,
        correlation_id: request_id.0.clone(),
    }
}

fn redirect(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_string())]).into_response()
}

fn random_handle() -> String {
    let mut bytes = [0u8; 24];
    openssl::rand::rand_bytes(&mut bytes).expect("OpenSSL's random generator");
    hex::encode(bytes)
}

/// This service provider's SAML metadata (signed), for registration with Suomi.fi.
pub async fn metadata(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let id = service(&state)?;
    let xml = saml::sp_metadata(&id.sp).map_err(|_| ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response())
}

/// Starts a login: a signed AuthnRequest to the IdP over HTTP-Redirect; the RelayState is an
/// opaque handle of the request kept server-side with `return_to`.
pub async fn login(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let id = service(&state)?;
    let mut errors = Vec::new();
    let return_to = match params.get("return_to") {
        None => {
            errors.push(InvalidField::parameter("return_to", "is required"));
            None
        }
        Some(r) if !id.return_allowed(r) => {
            errors.push(InvalidField::parameter(
                "return_to",
                "is not on an origin this gateway may return to",
            ));
            None
        }
        Some(r) => Some(r.to_string()),
    };
    let locale = match params.get("locale").map(saml::Locale::parse) {
        None => Some(saml::Locale::Fi),
        Some(Some(l)) => Some(l),
        Some(None) => {
            errors.push(InvalidField::parameter("locale", "must be fi, sv or en"));
            None
        }
    };
    let (Some(return_to), Some(locale)) = (return_to, locale) else {
        return Err(ApiError::Invalid(errors));
    };
    let now = Utc::now();
    let relay_state = random_handle();
    let (request, url) = saml::authn_request_redirect(&id.sp, &id.idp(), locale, Some(&relay_state), now)
        .map_err(|e| ApiError::Unavailable(format!("cannot make the login request: {}", e.reason())))?;
    state
        .store
        .commit(Write {
            login: vec![LoginChange::RequestSent(OutstandingRequest {
                relay_state,
                request_id: request,
                return_to,
                locale: locale.as_str().to_string(),
                created_at: now,
                expires_at: now + chrono::Duration::seconds(id.settings.request_ttl_s as i64),
                used_at: None,
            })],
            audit: vec![login_event(&request_id, "saml.login_request", "sent".into())],
            ..Write::default()
        })
        .await?;
    Ok(redirect(&url))
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// The IdP's answer (HTTP-POST binding). On success the browser goes to `return_to` with the
/// token in the fragment (never in a server log); on failure with `error` and the reason.
pub async fn acs(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    Form(form): Form<AcsForm>,
) -> Result<Response, ApiError> {
    let id = service(&state)?;
    let now = Utc::now();
    let outstanding = match form.relay_state.as_deref() {
        Some(rs) if !rs.is_empty() && rs.len() <= 128 => state.store.saml_request(rs).await?,
        _ => None,
    };
    let fail = |reason: &str, outstanding: Option<&OutstandingRequest>| {
        let event = login_event(&request_id, "saml.login", format!("failed: {reason}"));
        let back = outstanding.map(|o| format!("{}#error=login_failed&reason={reason}", o.return_to));
        (event, back)
    };
    let refuse = |state: Arc<AppState>, (event, back): (AuditEvent, Option<String>), reason: String| async move {
        state.store.append_audit(vec![event]).await?;
        Ok::<Response, ApiError>(match back {
            Some(location) => redirect(&location),
            None => ApiError::Invalid(vec![InvalidField::parameter("SAMLResponse", reason)]).into_response(),
        })
    };
    let Some(request) = outstanding else {
        let why = "unknown_in_response_to";
        return refuse(
            state.clone(),
            fail(why, None),
            "answers no login this gateway is waiting for".into(),
        )
        .await;
    };
    // A second post of the same answer (a replay) or one after the login window.
    let stale = if request.used_at.is_some() {
        Some("request_already_answered")
    } else if request.expires_at <= now || request.locale == "logout" {
        Some("request_expired")
    } else {
        None
    };
    if let Some(why) = stale {
        return refuse(state.clone(), fail(why, Some(&request)), why.into()).await;
    }
    let Some(response) = form.saml_response.as_deref() else {
        return refuse(state.clone(), fail("malformed", Some(&request)), "is required".into()).await;
    };
    let login = match saml::parse_login_response(&id.sp, &id.idp(), response, &request.request_id, now) {
        Ok(login) => login,
        Err(e) => {
            let reason = e.reason();
            return refuse(state.clone(), fail(reason, Some(&request)), reason.into()).await;
        }
    };
    let person = login
        .identity_code
        .as_deref()
        .and_then(|c| IdentityCode::parse(c).ok())
        .map(|c| state.hasher.key_of(&c));
    let session = LoginSession {
        id: uuid::Uuid::now_v7().to_string(),
        name_id: login.name_id.clone(),
        session_index: login.session_index.clone(),
        person: person.clone(),
        loa: login.loa.clone(),
        created_at: now,
        expires_at: now + chrono::Duration::seconds(id.settings.session_ttl_s as i64),
        ended_at: None,
    };
    let mut event = login_event(&request_id, "saml.login", "ok".into());
    event.person = person;
    let outcome = state
        .store
        .commit(Write {
            login: vec![LoginChange::Completed {
                relay_state: request.relay_state.clone(),
                assertion_id: login.assertion_id.clone(),
                assertion_expires_at: login.replay_expiry(&id.sp),
                session: session.clone(),
            }],
            audit: vec![event],
            ..Write::default()
        })
        .await?;
    if let WriteOutcome::Refused(refusal) = outcome {
        let reason = refusal.reason();
        return refuse(state.clone(), fail(reason, Some(&request)), reason.into()).await;
    }
    let token = id.mint_token(&session, &login, now).map_err(|_| ApiError::Internal)?;
    Ok(redirect(&format!(
        "{}#token={token}&expires_in={}",
        request.return_to, id.settings.token_ttl_s
    )))
}

/// SP-initiated logout, for the e-service platform with the user's login token: the local
/// session ends first, then the browser goes to the IdP (303 to a signed LogoutRequest).
pub async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let id = service(&state)?;
    let Some(citizen) = caller.citizen.as_ref() else {
        return Err(ApiError::Forbidden("only a login token can log out".into()));
    };
    let return_to = params.get("return_to").map(str::to_string);
    if let Some(r) = &return_to {
        if !id.return_allowed(r) {
            return Err(ApiError::Invalid(vec![InvalidField::parameter(
                "return_to",
                "is not on an origin this gateway may return to",
            )]));
        }
    }
    let session = state
        .store
        .login_session(&citizen.session_id)
        .await?
        .filter(|s| s.ended_at.is_none())
        .ok_or_else(|| ApiError::Conflict("the login session has already ended".into()))?;
    let now = Utc::now();
    let relay_state = random_handle();
    let (logout_id, url) = saml::logout_request_redirect(
        &id.sp,
        &id.idp(),
        &session.name_id,
        Some(saml::NAMEID_TRANSIENT),
        session.session_index.as_deref(),
        Some(&relay_state),
        now,
    )
    .map_err(|e| ApiError::Unavailable(format!("cannot make the logout request: {}", e.reason())))?;
    let mut event = login_event(
        &request_id,
        "saml.logout",
        "local session ended; sent to the IdP".into(),
    );
    event.person = session.person.clone();
    state
        .store
        .commit(Write {
            login: vec![
                LoginChange::SessionEnded {
                    session_id: session.id.clone(),
                    at: now,
                },
                LoginChange::RequestSent(OutstandingRequest {
                    relay_state,
                    request_id: logout_id,
                    return_to: return_to.unwrap_or_default(),
                    locale: "logout".into(),
                    created_at: now,
                    expires_at: now + chrono::Duration::seconds(id.settings.request_ttl_s as i64),
                    used_at: None,
                }),
            ],
            audit: vec![event],
            ..Write::default()
        })
        .await?;
    Ok(redirect(&url))
}

/// Single logout, HTTP-Redirect: a `SAMLRequest` is an IdP-initiated logout (found by NameID and
/// SessionIndex, since the IdP runs it in an iframe without our cookies); a `SAMLResponse`
/// answers our own LogoutRequest.
pub async fn slo(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = service(&state)?;
    let query = query.unwrap_or_default();
    let now = Utc::now();
    let idp = id.idp();
    if saml::redirect::query_param(&query, "SAMLRequest").is_some() {
        let request = match saml::parse_logout_request(&id.sp, &query, &idp, now) {
            Ok(r) => r,
            Err(e) => {
                let reason = e.reason();
                state
                    .store
                    .append_audit(vec![login_event(
                        &request_id,
                        "saml.logout",
                        format!("refused: {reason}"),
                    )])
                    .await?;
                return Err(ApiError::Invalid(vec![InvalidField::parameter("SAMLRequest", reason)]));
            }
        };
        let mut sessions = Vec::new();
        if request.session_indexes.is_empty() {
            sessions = state.store.login_sessions_by_name_id(&request.name_id, None).await?;
        } else {
            for index in &request.session_indexes {
                sessions.extend(
                    state
                        .store
                        .login_sessions_by_name_id(&request.name_id, Some(index))
                        .await?,
                );
            }
        }
        let events = if sessions.is_empty() {
            vec![login_event(
                &request_id,
                "saml.logout",
                "idp-initiated: no open session".into(),
            )]
        } else {
            sessions
                .iter()
                .map(|s| {
                    let mut e = login_event(&request_id, "saml.logout", "idp-initiated: session ended".into());
                    e.person = s.person.clone();
                    e
                })
                .collect()
        };
        state
            .store
            .commit(Write {
                login: sessions
                    .iter()
                    .map(|s| LoginChange::SessionEnded {
                        session_id: s.id.clone(),
                        at: now,
                    })
                    .collect(),
                audit: events,
                ..Write::default()
            })
            .await?;
        let url = saml::logout_response_redirect(&id.sp, &idp, &request.id, true, request.relay_state.as_deref(), now)
            .map_err(|_| ApiError::Internal)?;
        return Ok(redirect(&url));
    }
    if saml::redirect::query_param(&query, "SAMLResponse").is_some() {
        let relay_state = saml::redirect::relay_state(&query).unwrap_or_default();
        let pending = state
            .store
            .saml_request(&relay_state)
            .await?
            .filter(|r| r.used_at.is_none() && r.locale == "logout");
        let Some(pending) = pending else {
            return Err(ApiError::Invalid(vec![InvalidField::parameter(
                "RelayState",
                "answers no logout this gateway is waiting for",
            )]));
        };
        let outcome = match saml::parse_logout_response(&id.sp, &query, &idp, &pending.request_id) {
            Ok(()) => "idp confirmed".to_string(),
            Err(e) => format!("idp answer refused: {}", e.reason()),
        };
        state
            .store
            .commit(Write {
                login: vec![LoginChange::RequestUsed {
                    relay_state: pending.relay_state.clone(),
                    at: now,
                }],
                audit: vec![login_event(&request_id, "saml.logout", outcome)],
                ..Write::default()
            })
            .await?;
        return Ok(if pending.return_to.is_empty() {
            (StatusCode::OK, "Logged out.").into_response()
        } else {
            redirect(&pending.return_to)
        });
    }
    Err(ApiError::Invalid(vec![InvalidField::parameter(
        "SAMLRequest",
        "SAMLRequest or SAMLResponse is required",
    )]))
}
