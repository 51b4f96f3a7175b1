//! The assertion consumer service: a `SAMLResponse` (HTTP-POST binding) in, a verified
//! [`Login`] out, or a [`SamlError`] saying exactly why not.
//!
//! Order of the checks, and why:
//! 1. Base64, size, well-formedness, no DOCTYPE, root `samlp:Response`.
//! 2. No plaintext `saml:Assertion` anywhere (Suomi.fi always encrypts; a plaintext one next to
//!    an encrypted one is a wrapping attempt); exactly one `saml:EncryptedAssertion`, a child of
//!    the Response.
//! 3. If the Response carries a signature, it is verified now, over the bytes as received
//!    (it covers the EncryptedAssertion, so it must be checked before decryption).
//! 4. Destination, InResponseTo, Issuer, then Status (a failure status is reported as
//!    [`SamlError::StatusNotSuccess`] with its second-level code).
//! 5. Decryption with the SP's encryption key (libxmlsec1).
//! 6. The Assertion's own signature: required, by one of the IdP metadata's signing
//!    certificates (never a key from KeyInfo), Reference `#<its ID>`, SHA-256, exc-C14N.
//! 7. The assertion that is read is the one that was verified: exactly one `saml:Assertion` in
//!    the decrypted document, in its place, with the ID that the verification reports.
//! 8. Issuer, Subject (NameID, bearer SubjectConfirmation: Recipient, InResponseTo,
//!    NotOnOrAfter), Conditions (times with the clock skew, AudienceRestriction), the
//!    AuthnStatement's level of assurance, then the attributes.
//!
//! Text is always read as all of an element's text nodes joined, so a comment injected into a
//! signed value (which canonicalisation ignores) cannot truncate what is read.
//!
//! Not done here: **assertion-id replay**. The gateway's store must refuse a
//! [`Login::assertion_id`] it has seen before, keeping ids until [`Login::replay_expiry`].

use base64::Engine;
use chrono::{DateTime, Utc};
use portti_xmlsec::{IdAttribute, Verified, VerifyPolicy};

use crate::config::{loa, SpConfig};
use crate::error::SamlError;
use crate::metadata::{parse_time, IdpMetadata};
use crate::xml::{self, Element, MAX_XML_BYTES, NS_DS, NS_SAML, NS_SAMLP};

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
pub const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

/// Attribute names (Name, NameFormat uri) read from the assertion.
pub mod attr {
    /// Finnish personal identity code (henkilötunnus).
    pub const IDENTITY_CODE: &str = "urn:oid:1.2.246.21";
    pub const GIVEN_NAME: &str = "urn:oid:2.5.4.42";
    pub const SURNAME: &str = "urn:oid:2.5.4.4";
    pub const COMMON_NAME: &str = "urn:oid:2.5.4.3";
    pub const HOME_MUNICIPALITY: &str = "urn:oid:1.2.246.517.2002.2.18";
    pub const EIDAS_PERSON_IDENTIFIER: &str = "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier";
    pub const EIDAS_GIVEN_NAME: &str = "http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName";
    pub const EIDAS_FAMILY_NAME: &str = "http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName";
    pub const EIDAS_DATE_OF_BIRTH: &str = "http://eidas.europa.eu/attributes/naturalperson/DateOfBirth";
}

/// A person identified through eIDAS (no Finnish identity code).
#[derive(Clone, PartialEq, Eq)]
pub struct EidasPerson {
    pub person_identifier: String,
    pub first_names: Option<String>,
    pub family_name: Option<String>,
    /// As sent (`YYYY-MM-DD`).
    pub date_of_birth: Option<String>,
}

impl std::fmt::Debug for EidasPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EidasPerson { <redacted> }")
    }
}

/// A verified login. Personal data: `Debug` redacts it, never log the fields.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub assertion_id: String,
    /// The end of the assertion's validity: the earlier of the Conditions' and the bearer
    /// SubjectConfirmationData's NotOnOrAfter.
    pub not_on_or_after: DateTime<Utc>,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    /// The AuthnContextClassRef, one of `SpConfig::required_loa`.
    pub loa: String,
    pub identity_code: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub common_name: Option<String>,
    /// Municipality code (`urn:oid:1.2.246.517.2002.2.18`).
    pub home_municipality: Option<String>,
    pub eidas: Option<EidasPerson>,
    /// The IdP's entity id.
    pub issuer: String,
    /// Which of the IdP's signing certificates verified the assertion (key rotation).
    pub signing_cert_index: usize,
}

impl Login {
    /// Until when the gateway's replay store must remember `assertion_id`: past this, this
    /// crate refuses the assertion anyway (expired, clock skew included).
    pub fn replay_expiry(&self, sp: &SpConfig) -> DateTime<Utc> {
        self.not_on_or_after + sp.skew()
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("assertion_id", &self.assertion_id)
            .field("not_on_or_after", &self.not_on_or_after)
            .field("loa", &self.loa)
            .field("issuer", &self.issuer)
            .field("has_identity_code", &self.identity_code.is_some())
            .field("eidas", &self.eidas.is_some())
            .field("signing_cert_index", &self.signing_cert_index)
            .finish_non_exhaustive()
    }
}

/// Decodes the `SAMLResponse` form field (Base64; line breaks allowed).
fn decode_post(saml_response: &str) -> Result<Vec<u8>, SamlError> {
    if saml_response.len() > MAX_XML_BYTES / 3 * 4 + 4096 {
        return Err(SamlError::TooLarge(saml_response.len()));
    }
    let compact: String = saml_response.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SamlError::Malformed("SAMLResponse is not Base64".into()))
}

/// Issuer: required or optional; when present it must name the IdP (format `entity` or none).
pub(crate) fn check_issuer(issuer: Option<&Element>, idp: &IdpMetadata, required: bool) -> Result<(), SamlError> {
    match issuer {
        None if required => Err(SamlError::WrongIssuer(String::new())),
        None => Ok(()),
        Some(i) => {
            let value = i.simple_text()?;
            if value != idp.entity_id || i.attr("Format").is_some_and(|f| f != NAMEID_ENTITY) {
                return Err(SamlError::WrongIssuer(value.to_owned()));
            }
            Ok(())
        }
    }
}

/// Status/StatusCode must be Success.
pub(crate) fn check_status(root: &Element) -> Result<(), SamlError> {
    let code = root
        .required_child(NS_SAMLP, "Status")?
        .required_child(NS_SAMLP, "StatusCode")?;
    let value = code
        .attr("Value")
        .ok_or_else(|| SamlError::Malformed("StatusCode without Value".into()))?;
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let second_level = code
        .unique_child(NS_SAMLP, "StatusCode")?
        .and_then(|c| c.attr("Value"))
        .map(str::to_owned);
    Err(SamlError::StatusNotSuccess {
        status: value.to_owned(),
        second_level,
    })
}

/// Every element called `{ns}name` with its ancestors (root first).
fn find_all<'a>(root: &'a Element, ns: &str, name: &str) -> Vec<(Vec<&'a Element>, &'a Element)> {
    fn walk<'a>(
        e: &'a Element,
        ns: &str,
        name: &str,
        path: &mut Vec<&'a Element>,
        out: &mut Vec<(Vec<&'a Element>, &'a Element)>,
    ) {
        if e.is(ns, name) {
            out.push((path.clone(), e));
        }
        path.push(e);
        for c in &e.children {
            walk(c, ns, name, path, out);
        }
        path.pop();
    }
    let mut out = Vec::new();
    walk(root, ns, name, &mut Vec::new(), &mut out);
    out
}

/// Verifies the IdP's SAML Response to `expected_in_response_to` (the ID of the AuthnRequest
/// the gateway sent for this browser, looked up from RelayState) and returns the login.
///
/// `saml_response` is the `SAMLResponse` form field as posted (Base64). See the module
/// documentation for every check. Assertion-id replay is NOT checked here: the caller must
/// record [`Login::assertion_id`] until [`Login::replay_expiry`] and refuse a repeat.
pub fn parse_login_response(
    sp: &SpConfig,
    idp: &IdpMetadata,
    saml_response: &str,
    expected_in_response_to: &str,
    now: DateTime<Utc>,
) -> Result<Login, SamlError> {
    login_response(sp, idp, saml_response, expected_in_response_to, now).map_err(SamlError::redacted)
}

fn login_response(
    sp: &SpConfig,
    idp: &IdpMetadata,
    saml_response: &str,
    expected_in_response_to: &str,
    now: DateTime<Utc>,
) -> Result<Login, SamlError> {
    let bytes = decode_post(saml_response)?;
    let root = xml::parse(&bytes)?;
    if !root.is(NS_SAMLP, "Response") {
        return Err(SamlError::Malformed("the root is not samlp:Response".into()));
    }
    if root.attr("Version") != Some("2.0") {
        return Err(SamlError::Malformed("Version is not 2.0".into()));
    }

    // 2. Plaintext and encrypted assertions.
    let plain = find_all(&root, NS_SAML, "Assertion");
    let encrypted = find_all(&root, NS_SAML, "EncryptedAssertion");
    if !plain.is_empty() {
        let lone_direct = plain.len() == 1 && plain[0].0.len() == 1 && encrypted.is_empty();
        return Err(if lone_direct {
            SamlError::UnencryptedAssertion
        } else {
            SamlError::Wrapping("a plaintext assertion beside the encrypted one".into())
        });
    }
    if encrypted.len() > 1 {
        return Err(SamlError::Wrapping(format!("{} encrypted assertions", encrypted.len())));
    }
    if encrypted.iter().any(|(path, _)| path.len() != 1) {
        return Err(SamlError::Wrapping(
            "the encrypted assertion is not a child of the Response".into(),
        ));
    }

    // 3. The Response's own signature, if any, before anything is read from it.
    let trust = VerifyPolicy::new(&idp.signing_certificates).map_err(SamlError::from_verify)?;
    if root.children_named(NS_DS, "Signature").next().is_some() {
        let v = portti_xmlsec::verify_enveloped(&bytes, &trust.clone().with_id_attribute(IdAttribute::saml_response()))
            .map_err(SamlError::from_verify)?;
        if v.element != "Response" || v.id.as_deref() != root.attr("ID") {
            return Err(SamlError::Wrapping("the signed Response is not the one read".into()));
        }
    }

    // 4. The Response's envelope.
    match root.attr("Destination") {
        Some(d) if d == sp.acs_url => {}
        other => return Err(SamlError::WrongDestination(other.unwrap_or_default().to_owned())),
    }
    if expected_in_response_to.is_empty() || root.attr("InResponseTo") != Some(expected_in_response_to) {
        return Err(SamlError::UnknownInResponseTo);
    }
    check_issuer(root.unique_child(NS_SAML, "Issuer")?, idp, false)?;
    check_status(&root)?;
    if encrypted.is_empty() {
        return Err(SamlError::Malformed(
            "a successful Response without an assertion".into(),
        ));
    }

    // 5. Decryption.
    let decrypted = portti_xmlsec::decrypt_element(
        &bytes,
        sp.encryption_key_pem.as_bytes(),
        &portti_xmlsec::ElementName::saml_encrypted_assertion(),
    )
    .map_err(decryption_error)?;

    // 6. The assertion's signature.
    let verified = portti_xmlsec::verify_enveloped(&decrypted, &trust.with_id_attribute(IdAttribute::saml_assertion()))
        .map_err(SamlError::from_verify)?;

    // 7. Read exactly the element that was verified.
    let droot = xml::parse(&decrypted)?;
    let assertion = verified_assertion(&droot, &verified)?;

    // 8.
    read_assertion(
        sp,
        idp,
        assertion,
        expected_in_response_to,
        now,
        verified.trusted_cert_index,
    )
}

/// **For the fuzz target `saml_assertion` only** (cargo feature `fuzzing`; never enable it in
/// the gateway): reads the one assertion of a decrypted `samlp:Response` as if its signature had
/// verified with the IdP's first certificate, so that a fuzzer reaches the checks that follow the
/// signature, which it cannot forge. Everything after step 6 of [`parse_login_response`] is the
/// same code.
#[cfg(feature = "fuzzing")]
pub fn read_assertion_unverified(
    sp: &SpConfig,
    idp: &IdpMetadata,
    decrypted: &[u8],
    expected_in_response_to: &str,
    now: DateTime<Utc>,
) -> Result<Login, SamlError> {
    let read = || {
        let droot = xml::parse(decrypted)?;
        if !droot.is(NS_SAMLP, "Response") {
            return Err(SamlError::Malformed("the decrypted root is not samlp:Response".into()));
        }
        match find_all(&droot, NS_SAML, "Assertion").as_slice() {
            [(_, assertion)] => read_assertion(sp, idp, assertion, expected_in_response_to, now, 0),
            _ => Err(SamlError::Malformed("not exactly one assertion".into())),
        }
    };
    read().map_err(SamlError::redacted)
}

fn decryption_error(e: portti_xmlsec::XmlSecError) -> SamlError {
    use portti_xmlsec::XmlSecError as X;
    match e {
        X::DoctypeRefused => SamlError::Doctype,
        X::TooLarge(n) => SamlError::TooLarge(n),
        e @ (X::ElementNotUnique { .. } | X::DuplicateId(_)) => SamlError::Wrapping(e.to_string()),
        // libxml2's messages could quote decrypted (personal) content: keep only the kind.
        X::NotWellFormed(_) => SamlError::DecryptionFailed("the decrypted content is not well-formed".into()),
        X::InvalidKey(_) | X::Init(_) => SamlError::Config("the SP encryption key cannot be used".into()),
        X::DisallowedAlgorithm { what, algorithm } => SamlError::WeakAlgorithm(format!("{what} {algorithm}")),
        e => SamlError::DecryptionFailed(e.to_string()),
    }
}

/// The one Assertion of the decrypted document, where it belongs, with the verified ID.
pub(crate) fn verified_assertion<'a>(droot: &'a Element, verified: &Verified) -> Result<&'a Element, SamlError> {
    if !droot.is(NS_SAMLP, "Response") {
        return Err(SamlError::Malformed("the decrypted root is not samlp:Response".into()));
    }
    let all = find_all(droot, NS_SAML, "Assertion");
    let (path, assertion) = match all.as_slice() {
        [one] => (&one.0, one.1),
        [] => return Err(SamlError::Malformed("no assertion after decryption".into())),
        many => {
            return Err(SamlError::Wrapping(format!(
                "{} assertions after decryption",
                many.len()
            )))
        }
    };
    let in_place = match path.as_slice() {
        [_response] => true,
        [_response, wrapper] => wrapper.is(NS_SAML, "EncryptedAssertion"),
        _ => false,
    };
    if !in_place {
        return Err(SamlError::Wrapping(
            "the assertion is not where the Response carries it".into(),
        ));
    }
    let id = assertion.attr("ID");
    if verified.element != "Assertion"
        || verified.namespace.as_deref() != Some(NS_SAML)
        || id.is_none()
        || verified.id.as_deref() != id
        || verified.reference_uri != format!("#{}", id.unwrap_or_default())
    {
        return Err(SamlError::Wrapping(
            "the verified element is not the assertion read".into(),
        ));
    }
    Ok(assertion)
}

fn time_attr(e: &Element, name: &str) -> Result<Option<DateTime<Utc>>, SamlError> {
    e.attr(name).map(parse_time).transpose()
}

fn read_assertion(
    sp: &SpConfig,
    idp: &IdpMetadata,
    a: &Element,
    in_response_to: &str,
    now: DateTime<Utc>,
    signing_cert_index: usize,
) -> Result<Login, SamlError> {
    let skew = sp.skew();
    if a.attr("Version") != Some("2.0") {
        return Err(SamlError::Malformed("assertion Version is not 2.0".into()));
    }
    check_issuer(a.unique_child(NS_SAML, "Issuer")?, idp, true)?;
    if let Some(issued) = time_attr(a, "IssueInstant")? {
        if issued > now + skew {
            return Err(SamlError::NotYetValid(
                "the assertion's IssueInstant is in the future".into(),
            ));
        }
    } else {
        return Err(SamlError::Malformed("assertion without IssueInstant".into()));
    }

    // Subject.
    let subject = a.required_child(NS_SAML, "Subject")?;
    if subject.unique_child(NS_SAML, "EncryptedID")?.is_some() {
        return Err(SamlError::Malformed("an encrypted NameID is not supported".into()));
    }
    let name_id_el = subject
        .unique_child(NS_SAML, "NameID")?
        .ok_or(SamlError::MissingNameId)?;
    let name_id = name_id_el.simple_text()?.to_owned();
    if name_id.is_empty() {
        return Err(SamlError::MissingNameId);
    }
    let confirmation_until = bearer_confirmation(sp, subject, in_response_to, now)?;

    // Conditions.
    let conditions = a.required_child(NS_SAML, "Conditions")?;
    if let Some(nb) = time_attr(conditions, "NotBefore")? {
        if now + skew < nb {
            return Err(SamlError::NotYetValid("Conditions NotBefore".into()));
        }
    }
    let conditions_until = time_attr(conditions, "NotOnOrAfter")?
        .ok_or_else(|| SamlError::Malformed("Conditions without NotOnOrAfter".into()))?;
    if now - skew >= conditions_until {
        return Err(SamlError::Expired("Conditions NotOnOrAfter".into()));
    }
    let mut restrictions = 0;
    for c in &conditions.children {
        if c.is(NS_SAML, "AudienceRestriction") {
            restrictions += 1;
            let ok = c
                .children_named(NS_SAML, "Audience")
                .any(|aud| aud.simple_text().is_ok_and(|t| t == sp.entity_id));
            if !ok {
                return Err(SamlError::WrongAudience);
            }
        } else if c.is(NS_SAML, "OneTimeUse") || c.is(NS_SAML, "ProxyRestriction") {
            // OneTimeUse is what the gateway's replay store enforces for every assertion.
        } else {
            return Err(SamlError::Malformed(format!("unsupported condition {}", c.name)));
        }
    }
    if restrictions == 0 {
        return Err(SamlError::WrongAudience);
    }

    // AuthnStatement and level of assurance.
    let authn = a.required_child(NS_SAML, "AuthnStatement")?;
    if let Some(until) = time_attr(authn, "SessionNotOnOrAfter")? {
        if now - skew >= until {
            return Err(SamlError::Expired("SessionNotOnOrAfter".into()));
        }
    }
    let loa = authn
        .required_child(NS_SAML, "AuthnContext")?
        .required_child(NS_SAML, "AuthnContextClassRef")?
        .simple_text()?
        .to_owned();
    check_loa(sp, &loa)?;

    // Attributes.
    let attrs = Attributes::read(a)?;
    let eidas = match attrs.single(attr::EIDAS_PERSON_IDENTIFIER)? {
        Some(person_identifier) => Some(EidasPerson {
            person_identifier,
            first_names: attrs.single(attr::EIDAS_GIVEN_NAME)?,
            family_name: attrs.single(attr::EIDAS_FAMILY_NAME)?,
            date_of_birth: attrs.single(attr::EIDAS_DATE_OF_BIRTH)?,
        }),
        None => None,
    };
    Ok(Login {
        assertion_id: a.attr("ID").unwrap_or_default().to_owned(),
        not_on_or_after: conditions_until.min(confirmation_until),
        name_id,
        name_id_format: name_id_el.attr("Format").map(str::to_owned),
        session_index: authn.attr("SessionIndex").map(str::to_owned),
        loa,
        identity_code: attrs.single(attr::IDENTITY_CODE)?,
        given_name: attrs.single(attr::GIVEN_NAME)?,
        family_name: attrs.single(attr::SURNAME)?,
        common_name: attrs.single(attr::COMMON_NAME)?,
        home_municipality: attrs.single(attr::HOME_MUNICIPALITY)?,
        eidas,
        issuer: idp.entity_id.clone(),
        signing_cert_index,
    })
}

/// The LoA must be one of the accepted ones, and not ranked lower than the lowest of them.
pub(crate) fn check_loa(sp: &SpConfig, got: &str) -> Result<(), SamlError> {
    let min_required = sp.required_loa.iter().filter_map(|l| loa::rank(l)).min();
    let accepted = sp.required_loa.iter().any(|l| l == got);
    match (loa::rank(got), min_required) {
        (Some(rank), Some(min)) if accepted && rank >= min => Ok(()),
        _ => Err(SamlError::InsufficientLoa(got.to_owned())),
    }
}

/// A bearer SubjectConfirmation for our ACS URL and this request, still valid. Returns its
/// NotOnOrAfter.
fn bearer_confirmation(
    sp: &SpConfig,
    subject: &Element,
    in_response_to: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SamlError> {
    let skew = sp.skew();
    let mut first_error = None;
    for sc in subject.children_named(NS_SAML, "SubjectConfirmation") {
        if sc.attr("Method") != Some(CM_BEARER) {
            continue;
        }
        let check = || -> Result<DateTime<Utc>, SamlError> {
            let data = sc.required_child(NS_SAML, "SubjectConfirmationData")?;
            if data.attr("Recipient") != Some(sp.acs_url.as_str()) {
                return Err(SamlError::WrongRecipient(
                    data.attr("Recipient").unwrap_or_default().to_owned(),
                ));
            }
            if data.attr("InResponseTo") != Some(in_response_to) {
                return Err(SamlError::UnknownInResponseTo);
            }
            // Profiles §4.1.4.2: a bearer confirmation has no NotBefore.
            if let Some(nb) = time_attr(data, "NotBefore")? {
                if now + skew < nb {
                    return Err(SamlError::NotYetValid("SubjectConfirmationData NotBefore".into()));
                }
            }
            let until = time_attr(data, "NotOnOrAfter")?
                .ok_or_else(|| SamlError::Malformed("SubjectConfirmationData without NotOnOrAfter".into()))?;
            if now - skew >= until {
                return Err(SamlError::Expired("SubjectConfirmationData NotOnOrAfter".into()));
            }
            Ok(until)
        };
        match check() {
            Ok(until) => return Ok(until),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| SamlError::WrongRecipient("no bearer SubjectConfirmation".into())))
}

/// The AttributeStatements' attributes by Name; a Name may occur once.
struct Attributes<'a> {
    by_name: Vec<(&'a str, &'a Element)>,
}

impl<'a> Attributes<'a> {
    fn read(assertion: &'a Element) -> Result<Self, SamlError> {
        let mut by_name: Vec<(&str, &Element)> = Vec::new();
        for statement in assertion.children_named(NS_SAML, "AttributeStatement") {
            if statement.children_named(NS_SAML, "EncryptedAttribute").next().is_some() {
                return Err(SamlError::Malformed("encrypted attributes are not supported".into()));
            }
            for a in statement.children_named(NS_SAML, "Attribute") {
                let name = a
                    .attr("Name")
                    .ok_or_else(|| SamlError::Malformed("an Attribute without Name".into()))?;
                if by_name.iter().any(|(n, _)| *n == name) {
                    return Err(SamlError::Malformed(format!("attribute {name} repeated")));
                }
                by_name.push((name, a));
            }
        }
        Ok(Attributes { by_name })
    }

    /// The one value of a single-valued attribute (whole text, trimmed; empty = absent).
    fn single(&self, name: &str) -> Result<Option<String>, SamlError> {
        let Some((_, a)) = self.by_name.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let mut values = a.children_named(NS_SAML, "AttributeValue");
        let first = values.next();
        if values.next().is_some() {
            return Err(SamlError::Malformed(format!("attribute {name} has several values")));
        }
        match first {
            None => Ok(None),
            Some(v) => {
                let text = v.simple_text()?;
                Ok((!text.is_empty()).then(|| text.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
