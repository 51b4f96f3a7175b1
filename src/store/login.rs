//! What the store keeps of Suomi.fi Identification logins: outstanding AuthnRequests (bound to
//! their RelayState), every assertion id ever accepted (so a replay is refused even after a
//! restart) and the login sessions that single logout ends.

use crate::audit::PersonKey;
use chrono::{DateTime, Utc};

/// A state change of the login flow, written in the same transaction as its audit record.
#[derive(Debug, Clone)]
pub enum LoginChange {
    /// An AuthnRequest went to the IdP; its answer must come back with this RelayState.
    RequestSent(OutstandingRequest),
    /// A verified assertion: the request is used up, the assertion id is burnt and a session
    /// starts. Refused as a whole ([`super::WriteOutcome::Refused`]) when the assertion id was
    /// seen before or the request was already answered.
    Completed {
        relay_state: String,
        assertion_id: String,
        assertion_expires_at: DateTime<Utc>,
        session: LoginSession,
    },
    /// A request other than a login's (e.g. our LogoutRequest) was answered.
    RequestUsed { relay_state: String, at: DateTime<Utc> },
    /// The session ended (SP- or IdP-initiated logout).
    SessionEnded { session_id: String, at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutstandingRequest {
    /// An unguessable handle sent as RelayState.
    pub relay_state: String,
    /// The AuthnRequest's ID, which the response's InResponseTo must name.
    pub request_id: String,
    pub return_to: String,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    pub id: String,
    /// The IdP's (transient) NameID and SessionIndex: how the IdP names the session at logout.
    pub name_id: String,
    pub session_index: Option<String>,
    pub person: Option<PersonKey>,
    pub loa: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Why a [`LoginChange::Completed`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    AssertionReplayed,
    RequestAlreadyAnswered,
    UnknownRequest,
}

impl LoginRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            LoginRefusal::AssertionReplayed => "replayed_assertion",
            LoginRefusal::RequestAlreadyAnswered => "request_already_answered",
            LoginRefusal::UnknownRequest => "unknown_in_response_to",
        }
    }
}
