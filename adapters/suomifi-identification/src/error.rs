use portti_xmlsec::XmlSecError;

/// Why a SAML message (or configuration) was refused. [`SamlError::reason`] is a stable machine
/// reason for the audit trail; messages name elements, URIs and algorithms but never carry
/// personal data (no identity codes, names or NameIDs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamlError {
    #[error("malformed SAML message: {0}")]
    Malformed(String),
    #[error("a DOCTYPE is refused (DTDs and entities are not accepted)")]
    Doctype,
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    #[error("not signed: {0}")]
    Unsigned(String),
    #[error("signed by a key that is not among the IdP's trusted signing certificates")]
    UntrustedKey,
    #[error("the signature does not verify: {0}")]
    InvalidSignature(String),
    #[error("signature wrapping: {0}")]
    Wrapping(String),
    #[error("duplicate ID values in the document")]
    DuplicateId,
    #[error("weak or disallowed algorithm: {0}")]
    WeakAlgorithm(String),
    #[error("an assertion in plaintext: Suomi.fi always encrypts assertions")]
    UnencryptedAssertion,
    #[error("the encrypted assertion could not be decrypted: {0}")]
    DecryptionFailed(String),
    #[error("wrong issuer {0:?}")]
    WrongIssuer(String),
    #[error("wrong Destination {0:?}")]
    WrongDestination(String),
    #[error("no bearer SubjectConfirmation for this ACS URL: {0}")]
    WrongRecipient(String),
    #[error("the audience restriction does not name this service provider")]
    WrongAudience,
    #[error("expired: {0}")]
    Expired(String),
    #[error("not yet valid: {0}")]
    NotYetValid(String),
    #[error("InResponseTo does not match the outstanding request")]
    UnknownInResponseTo,
    #[error("status is not Success: {status}{}", second_level.as_deref().map(|s| format!(" / {s}")).unwrap_or_default())]
    StatusNotSuccess {
        /// The top-level StatusCode value.
        status: String,
        /// The second-level StatusCode (e.g. `urn:oasis:names:tc:SAML:2.0:status:AuthnFailed`
        /// when the user cancelled), if any.
        second_level: Option<String>,
    },
    #[error("level of assurance {0:?} is not among the accepted ones")]
    InsufficientLoa(String),
    #[error("the assertion has no NameID")]
    MissingNameId,
    #[error("invalid RelayState: {0}")]
    InvalidRelayState(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl SamlError {
    /// A stable machine reason for audit records and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SamlError::Malformed(_) => "malformed",
            SamlError::Doctype => "doctype",
            SamlError::TooLarge(_) => "too_large",
            SamlError::Unsigned(_) => "unsigned",
            SamlError::UntrustedKey => "untrusted_key",
            SamlError::InvalidSignature(_) => "invalid_signature",
            SamlError::Wrapping(_) => "wrapping",
            SamlError::DuplicateId => "duplicate_id",
            SamlError::WeakAlgorithm(_) => "weak_algorithm",
            SamlError::UnencryptedAssertion => "unencrypted_assertion",
            SamlError::DecryptionFailed(_) => "decryption_failed",
            SamlError::WrongIssuer(_) => "wrong_issuer",
            SamlError::WrongDestination(_) => "wrong_destination",
            SamlError::WrongRecipient(_) => "wrong_recipient",
            SamlError::WrongAudience => "wrong_audience",
            SamlError::Expired(_) => "expired",
            SamlError::NotYetValid(_) => "not_yet_valid",
            SamlError::UnknownInResponseTo => "unknown_in_response_to",
            SamlError::StatusNotSuccess { .. } => "status_not_success",
            SamlError::InsufficientLoa(_) => "insufficient_loa",
            SamlError::MissingNameId => "missing_name_id",
            SamlError::InvalidRelayState(_) => "invalid_relay_state",
            SamlError::Config(_) => "config",
        }
    }

    /// The same error with anything shaped like a personal identity code redacted from its
    /// texts, which may quote names, attribute values or URIs from the message. Every public
    /// function that reads a message returns its errors through this (found by the fuzz targets
    /// saml_response and saml_assertion).
    pub fn redacted(self) -> SamlError {
        let r = |s: String| portti_adapter_core::redact_identity_codes(&s);
        match self {
            SamlError::Malformed(s) => SamlError::Malformed(r(s)),
            SamlError::Unsigned(s) => SamlError::Unsigned(r(s)),
            SamlError::InvalidSignature(s) => SamlError::InvalidSignature(r(s)),
            SamlError::Wrapping(s) => SamlError::Wrapping(r(s)),
            SamlError::WeakAlgorithm(s) => SamlError::WeakAlgorithm(r(s)),
            SamlError::DecryptionFailed(s) => SamlError::DecryptionFailed(r(s)),
            SamlError::WrongIssuer(s) => SamlError::WrongIssuer(r(s)),
            SamlError::WrongDestination(s) => SamlError::WrongDestination(r(s)),
            SamlError::WrongRecipient(s) => SamlError::WrongRecipient(r(s)),
            SamlError::Expired(s) => SamlError::Expired(r(s)),
            SamlError::NotYetValid(s) => SamlError::NotYetValid(r(s)),
            SamlError::StatusNotSuccess { status, second_level } => SamlError::StatusNotSuccess {
                status: r(status),
                second_level: second_level.map(r),
            },
            SamlError::InsufficientLoa(s) => SamlError::InsufficientLoa(r(s)),
            SamlError::InvalidRelayState(s) => SamlError::InvalidRelayState(r(s)),
            SamlError::Config(s) => SamlError::Config(r(s)),
            e @ (SamlError::Doctype
            | SamlError::TooLarge(_)
            | SamlError::UntrustedKey
            | SamlError::DuplicateId
            | SamlError::UnencryptedAssertion
            | SamlError::WrongAudience
            | SamlError::UnknownInResponseTo
            | SamlError::MissingNameId) => e,
        }
    }

    /// The user cancelled (or failed) the authentication at the IdP: Suomi.fi answers with
    /// `Requester`/`Responder` and the second-level `AuthnFailed`.
    pub fn is_authn_failed(&self) -> bool {
        matches!(self, SamlError::StatusNotSuccess { second_level: Some(s), .. }
            if s == "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
    }

    /// Maps a verification failure of libxmlsec1 (through `portti-xmlsec`).
    pub(crate) fn from_verify(e: XmlSecError) -> SamlError {
        match e {
            XmlSecError::TooLarge(n) => SamlError::TooLarge(n),
            XmlSecError::NotWellFormed(m) => SamlError::Malformed(m),
            XmlSecError::DoctypeRefused => SamlError::Doctype,
            XmlSecError::NoSignature(m) => SamlError::Unsigned(m),
            XmlSecError::MultipleSignatures(n) => SamlError::Wrapping(format!("{n} signatures in scope")),
            XmlSecError::MalformedSignature(m) => SamlError::InvalidSignature(format!("malformed signature: {m}")),
            XmlSecError::DisallowedAlgorithm { what, algorithm } => {
                SamlError::WeakAlgorithm(format!("{what} {algorithm}"))
            }
            XmlSecError::ReferenceCount(n) => SamlError::Wrapping(format!("{n} references, exactly one is required")),
            e @ XmlSecError::ReferenceNotCovering { .. } => SamlError::Wrapping(e.to_string()),
            e @ XmlSecError::ElementNotUnique { .. } => SamlError::Wrapping(e.to_string()),
            e @ XmlSecError::ElementNotFound(_) => SamlError::Malformed(e.to_string()),
            e @ XmlSecError::MissingId { .. } => SamlError::Malformed(e.to_string()),
            XmlSecError::DuplicateId(_) => SamlError::DuplicateId,
            XmlSecError::DigestMismatch => {
                SamlError::InvalidSignature("digest mismatch: the content was altered".into())
            }
            XmlSecError::UntrustedKey | XmlSecError::NoUsableKey(_) => SamlError::UntrustedKey,
            XmlSecError::SignatureMismatch => {
                SamlError::InvalidSignature("SignatureValue does not verify with any trusted key".into())
            }
            e @ (XmlSecError::InvalidKey(_) | XmlSecError::InvalidPolicy(_) | XmlSecError::Init(_)) => {
                SamlError::Config(e.to_string())
            }
            other => SamlError::InvalidSignature(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_stable_and_messages_name_no_values() {
        let e = SamlError::StatusNotSuccess {
            status: "urn:oasis:names:tc:SAML:2.0:status:Requester".into(),
            second_level: Some("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed".into()),
        };
        assert_eq!(e.reason(), "status_not_success");
        assert!(e.is_authn_failed());
        assert!(e
            .to_string()
            .ends_with("Requester / urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"));
        assert_eq!(
            SamlError::from_verify(XmlSecError::DuplicateId("_x".into())).reason(),
            "duplicate_id"
        );
        assert_eq!(
            SamlError::from_verify(XmlSecError::UntrustedKey).reason(),
            "untrusted_key"
        );
    }
}
