//! Suomi.fi Identification: the SAML 2.0 service provider side, as logic without an HTTP server
//! (the gateway adds the routes, the sessions and the stores).
//!
//! The six messages Suomi.fi requires of a service:
//!
//! | message | binding | here |
//! | --- | --- | --- |
//! | AuthnRequest (out) | HTTP-Redirect, signed query | [`authn_request_redirect`] |
//! | Response (in) | HTTP-POST, assertion signed + encrypted | [`parse_login_response`] |
//! | LogoutRequest (out, SP-initiated) | HTTP-Redirect, signed query | [`logout_request_redirect`] |
//! | LogoutResponse (in) | HTTP-Redirect, signed query | [`parse_logout_response`] |
//! | LogoutRequest (in, IdP-initiated) | HTTP-Redirect, signed query | [`parse_logout_request`] |
//! | LogoutResponse (out) | HTTP-Redirect, signed query | [`logout_response_redirect`] |
//!
//! plus the metadata: [`IdpMetadata::parse`] and [`sp_metadata`].
//!
//! XML signatures and decryption go through `portti-xmlsec` (libxmlsec1): only the IdP
//! metadata's signing certificates are trusted (both during key rotation), never a key from
//! KeyInfo; only RSA-SHA256 / SHA-256 / exclusive C14N. Every refusal is a [`SamlError`] with a
//! stable [`SamlError::reason`] for the audit trail, and its message carries no personal data.
//!
//! What the caller (the gateway) must do itself:
//! - keep each outstanding request id, keyed by an opaque RelayState, and pass it back as
//!   `expected_in_response_to` / `expected_request_id` (a Response to anything else is refused);
//! - refuse a replayed [`Login::assertion_id`], remembering ids until [`Login::replay_expiry`];
//! - call [`IdpMetadata::check_valid_at`] when (re)loading metadata;
//! - never log [`Login`]'s personal fields (its `Debug` redacts them).

mod authn;
mod config;
mod error;
mod logout;
mod metadata;
pub mod redirect;
mod response;
mod xml;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use authn::authn_request_redirect;
pub use config::{loa, Locale, SpConfig, MAX_CLOCK_SKEW};
pub use error::SamlError;
pub use logout::{
    logout_request_redirect, logout_response_redirect, parse_logout_request, parse_logout_response, LogoutRequest,
};
pub use metadata::{sp_metadata, IdpMetadata, FINNISH_AUTH_METHOD, NAMEID_TRANSIENT};
#[cfg(feature = "fuzzing")]
pub use response::read_assertion_unverified;
pub use response::{attr, parse_login_response, EidasPerson, Login};

/// Namespace URIs used in the messages.
pub mod ns {
    pub use crate::xml::{NS_DS, NS_MD, NS_MDATTR, NS_SAML, NS_SAMLP, NS_VETUMA, NS_XENC};
}
