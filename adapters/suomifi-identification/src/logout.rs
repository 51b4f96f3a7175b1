//! Single logout over HTTP-Redirect, both ways: SP-initiated (LogoutRequest out, LogoutResponse
//! back) and IdP-initiated (LogoutRequest in, LogoutResponse out). Every message is signed with
//! the binding's query signature (RSA-SHA256).

use chrono::{DateTime, Utc};

use crate::config::SpConfig;
use crate::error::SamlError;
use crate::metadata::{format_time, parse_time, random_id, IdpMetadata};
use crate::redirect::{sign_with_key, verify_redirect, Param};
use crate::response::{check_issuer, check_status};
use crate::xml::{self, Element, XmlOut, NS_SAML, NS_SAMLP};

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";

/// A LogoutRequest from the IdP (IdP-initiated logout), verified.
#[derive(Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    /// The transient NameID of the session to end: the gateway ends the sessions that match it
    /// (and the session indexes, when given).
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_indexes: Vec<String>,
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// To be echoed in the LogoutResponse.
    pub relay_state: Option<String>,
}

impl std::fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutRequest")
            .field("id", &self.id)
            .field("name_id", &"<redacted>")
            .field("session_indexes", &self.session_indexes.len())
            .field("not_on_or_after", &self.not_on_or_after)
            .finish()
    }
}

/// SP-initiated logout: a signed LogoutRequest to the IdP's SLO endpoint for the session of
/// `name_id` (as received in [`crate::Login`]). Returns `(request_id, url)`; the gateway keeps
/// the id (keyed by `relay_state`) for [`parse_logout_response`].
pub fn logout_request_redirect(
    sp: &SpConfig,
    idp: &IdpMetadata,
    name_id: &str,
    name_id_format: Option<&str>,
    session_index: Option<&str>,
    relay_state: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, String), SamlError> {
    let id = random_id();
    let mut out = XmlOut::fragment();
    out.start(
        "samlp:LogoutRequest",
        &[
            ("xmlns:samlp", NS_SAMLP),
            ("xmlns:saml", NS_SAML),
            ("ID", &id),
            ("Version", "2.0"),
            ("IssueInstant", &format_time(now)),
            ("Destination", &idp.slo_redirect_url),
            ("NotOnOrAfter", &format_time(now + chrono::Duration::minutes(5))),
        ],
    )
    .leaf("saml:Issuer", &[], &sp.entity_id);
    let mut attrs = vec![
        ("NameQualifier", idp.entity_id.as_str()),
        ("SPNameQualifier", sp.entity_id.as_str()),
    ];
    if let Some(f) = name_id_format {
        attrs.insert(0, ("Format", f));
    }
    out.leaf("saml:NameID", &attrs, name_id);
    if let Some(si) = session_index {
        out.leaf("samlp:SessionIndex", &[], si);
    }
    out.end("samlp:LogoutRequest");
    let url = sign_with_key(
        &idp.slo_redirect_url,
        Param::SamlRequest,
        &out.finish(),
        relay_state,
        &sp.signing_key()?,
    )?;
    Ok((id, url))
}

/// Checks the root of an inbound logout message: name, version, ID, Destination = our SLO URL,
/// Issuer = the IdP.
fn check_root<'a>(xml: &'a Element, name: &str, sp: &SpConfig, idp: &IdpMetadata) -> Result<&'a str, SamlError> {
    if !xml.is(NS_SAMLP, name) {
        return Err(SamlError::Malformed(format!("expected samlp:{name}")));
    }
    if xml.attr("Version") != Some("2.0") {
        return Err(SamlError::Malformed("Version is not 2.0".into()));
    }
    let id = xml
        .attr("ID")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| SamlError::Malformed(format!("{name} without ID")))?;
    // Bindings §3.4.5.2: a signed message must carry its Destination.
    match xml.attr("Destination") {
        Some(d) if d == sp.slo_url => {}
        other => return Err(SamlError::WrongDestination(other.unwrap_or_default().to_owned())),
    }
    check_issuer(xml.unique_child(NS_SAML, "Issuer")?, idp, true)?;
    Ok(id)
}

/// The IdP's answer to our LogoutRequest (its query string as received on the SLO URL):
/// signature by a trusted IdP key, Destination, Issuer, InResponseTo = `expected_request_id`,
/// status Success (else [`SamlError::StatusNotSuccess`], e.g. PartialLogout).
pub fn parse_logout_response(
    sp: &SpConfig,
    query_string: &str,
    idp: &IdpMetadata,
    expected_request_id: &str,
) -> Result<(), SamlError> {
    logout_response(sp, query_string, idp, expected_request_id).map_err(SamlError::redacted)
}

fn logout_response(
    sp: &SpConfig,
    query_string: &str,
    idp: &IdpMetadata,
    expected_request_id: &str,
) -> Result<(), SamlError> {
    let msg = verify_redirect(query_string, Param::SamlResponse, &idp.signing_certificates)?;
    let root = xml::parse(&msg.xml)?;
    check_root(&root, "LogoutResponse", sp, idp)?;
    if expected_request_id.is_empty() || root.attr("InResponseTo") != Some(expected_request_id) {
        return Err(SamlError::UnknownInResponseTo);
    }
    check_status(&root)
}

/// A LogoutRequest from the IdP (its query string as received on the SLO URL): signature by a
/// trusted IdP key, Destination, Issuer, NotOnOrAfter (with the clock skew), a NameID. Answer
/// with [`logout_response_redirect`] after ending the matching sessions.
pub fn parse_logout_request(
    sp: &SpConfig,
    query_string: &str,
    idp: &IdpMetadata,
    now: DateTime<Utc>,
) -> Result<LogoutRequest, SamlError> {
    logout_request(sp, query_string, idp, now).map_err(SamlError::redacted)
}

fn logout_request(
    sp: &SpConfig,
    query_string: &str,
    idp: &IdpMetadata,
    now: DateTime<Utc>,
) -> Result<LogoutRequest, SamlError> {
    let msg = verify_redirect(query_string, Param::SamlRequest, &idp.signing_certificates)?;
    let root = xml::parse(&msg.xml)?;
    let id = check_root(&root, "LogoutRequest", sp, idp)?.to_owned();
    let not_on_or_after = root.attr("NotOnOrAfter").map(parse_time).transpose()?;
    if let Some(t) = not_on_or_after {
        if now - sp.skew() >= t {
            return Err(SamlError::Expired("the LogoutRequest's NotOnOrAfter has passed".into()));
        }
    }
    if root.unique_child(NS_SAML, "EncryptedID")?.is_some() {
        return Err(SamlError::Malformed(
            "an encrypted NameID in a LogoutRequest is not supported".into(),
        ));
    }
    let name_id_el = root.unique_child(NS_SAML, "NameID")?.ok_or(SamlError::MissingNameId)?;
    let name_id = name_id_el.simple_text()?.to_owned();
    if name_id.is_empty() {
        return Err(SamlError::MissingNameId);
    }
    let session_indexes = root
        .children_named(NS_SAMLP, "SessionIndex")
        .map(|s| s.simple_text().map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LogoutRequest {
        id,
        name_id,
        name_id_format: name_id_el.attr("Format").map(str::to_owned),
        session_indexes,
        not_on_or_after,
        relay_state: msg.relay_state,
    })
}

/// The signed LogoutResponse to an IdP-initiated logout, as a redirect URL to the IdP's SLO
/// (response) endpoint. `success = false` answers `Responder` / `PartialLogout`.
pub fn logout_response_redirect(
    sp: &SpConfig,
    idp: &IdpMetadata,
    in_response_to: &str,
    success: bool,
    relay_state: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, SamlError> {
    let destination = if idp.slo_redirect_response_url.is_empty() {
        &idp.slo_redirect_url
    } else {
        &idp.slo_redirect_response_url
    };
    let mut out = XmlOut::fragment();
    out.start(
        "samlp:LogoutResponse",
        &[
            ("xmlns:samlp", NS_SAMLP),
            ("xmlns:saml", NS_SAML),
            ("ID", &random_id()),
            ("Version", "2.0"),
            ("IssueInstant", &format_time(now)),
            ("Destination", destination),
            ("InResponseTo", in_response_to),
        ],
    )
    .leaf("saml:Issuer", &[], &sp.entity_id)
    .start("samlp:Status", &[]);
    if success {
        out.empty("samlp:StatusCode", &[("Value", STATUS_SUCCESS)]);
    } else {
        out.start("samlp:StatusCode", &[("Value", STATUS_RESPONDER)])
            .empty("samlp:StatusCode", &[("Value", STATUS_PARTIAL_LOGOUT)])
            .end("samlp:StatusCode");
    }
    out.end("samlp:Status").end("samlp:LogoutResponse");
    sign_with_key(
        destination,
        Param::SamlResponse,
        &out.finish(),
        relay_state,
        &sp.signing_key()?,
    )
}

#[cfg(test)]
mod tests;
