//! The SAML Response the IdP posts to the service provider, and the attack / defect variants of it for negative
//! tests. Every variant is made by real signing (libxmlsec1 through portti-xmlsec, or the `xmlsec1` CLI for
//! SHA-1) and real encryption, so that its only defect is the intended one.

use super::protocol::{self, instant, issuer_xml, loa, new_id, signature_template, status_xml, TRANSIENT};
use super::users::{attributes::NAME_FORMAT_URI, TestUser};
use super::xml::{esc, SAML, SAMLP};
use super::KeyPair;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use portti_xmlsec::IdAttribute;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What to produce instead of (or as) the correct Response. JSON: the variant's name in camelCase
/// (`"wrappedInAdvice"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Variant {
    /// The correct Response: the assertion signed with the current IdP key, encrypted for the SP.
    #[default]
    Valid,
    /// The assertion carries no signature (and the Response none either).
    Unsigned,
    /// The assertion is signed (RSA-SHA256, correct shape) by a key the SP does not trust, whose certificate
    /// is in KeyInfo.
    SignedByUnknownKey,
    /// The assertion is signed by the current IdP key with RSA-SHA1 and a SHA-1 digest (by the `xmlsec1` CLI).
    Sha1Signature,
    /// XML signature wrapping: an evil unsigned assertion (fresh ID, another user) is what the
    /// EncryptedAssertion holds; the genuine signed assertion sits inside its `saml:Advice`.
    WrappedInAdvice,
    /// XML signature wrapping: the genuine signed assertion (plaintext) is moved into
    /// `samlp:Response/samlp:Extensions`; the EncryptedAssertion holds an evil unsigned copy (fresh ID,
    /// another user).
    WrappedInExtensions,
    /// Two EncryptedAssertions: first an evil unsigned assertion (fresh ID, another user), then the genuine
    /// signed one.
    ExtraUnsignedAssertion,
    /// Two EncryptedAssertions: first an evil unsigned assertion with the SAME ID as the signed one (another
    /// user), then the genuine signed one.
    DuplicateIds,
    /// After signing, a comment is put into the NameID text (`AAAA<!---->BBBB`): exclusive C14N drops
    /// comments, so the signature still verifies; a reader taking the first text node reads a prefix.
    CommentInNameId,
    /// After signing, a comment is put into the identity code (`010594<!---->Y9032`, or into the eIDAS
    /// PersonIdentifier): the signature still verifies.
    CommentInIdentityCode,
    /// Audience is not the SP's entity id.
    WrongAudience,
    /// `Response/@Destination` is not the ACS URL.
    WrongDestination,
    /// `SubjectConfirmationData/@Recipient` is not the ACS URL.
    WrongRecipient,
    /// Issued an hour ago: every NotOnOrAfter (Conditions, SubjectConfirmationData) is in the past.
    Expired,
    /// `Conditions/@NotBefore` ten minutes in the future.
    NotYetValid,
    /// InResponseTo (Response and SubjectConfirmationData) names no request the SP sent.
    UnknownInResponseTo,
    /// One bit of the EncryptedData's CipherValue (the AES ciphertext) is flipped.
    TamperedCiphertext,
    /// The signed assertion is not encrypted (`saml:Assertion` directly in the Response).
    PlaintextAssertion,
    /// `Status` `Requester` / `AuthnFailed`, no assertion (the user cancelled or failed).
    StatusNotSuccess,
    /// AuthnContextClassRef one level below the requested one ([`loa::lower`]).
    LowerLoa,
}

impl Variant {
    /// Variants that stand for an attacker's changes to a genuine Response: never carry a Response signature
    /// (the attacker cannot make one), whatever [`ResponseOptions::sign_response`] says.
    pub fn is_tampering(self) -> bool {
        matches!(
            self,
            Variant::Unsigned
                | Variant::WrappedInAdvice
                | Variant::WrappedInExtensions
                | Variant::ExtraUnsignedAssertion
                | Variant::DuplicateIds
                | Variant::CommentInNameId
                | Variant::CommentInIdentityCode
                | Variant::TamperedCiphertext
        )
    }

    pub const ALL: [Variant; 20] = [
        Variant::Valid,
        Variant::Unsigned,
        Variant::SignedByUnknownKey,
        Variant::Sha1Signature,
        Variant::WrappedInAdvice,
        Variant::WrappedInExtensions,
        Variant::ExtraUnsignedAssertion,
        Variant::DuplicateIds,
        Variant::CommentInNameId,
        Variant::CommentInIdentityCode,
        Variant::WrongAudience,
        Variant::WrongDestination,
        Variant::WrongRecipient,
        Variant::Expired,
        Variant::NotYetValid,
        Variant::UnknownInResponseTo,
        Variant::TamperedCiphertext,
        Variant::PlaintextAssertion,
        Variant::StatusNotSuccess,
        Variant::LowerLoa,
    ];
}

/// How to build a Response ([`super::Control::build_response`], or the next SSO answer with
/// [`super::Control::set_next_response`] / `POST /_simulator/next-response`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResponseOptions {
    pub variant: Variant,
    /// None: the ID of the last AuthnRequest received (for the SSO endpoint: the request being answered).
    pub in_response_to: Option<String>,
    /// None: the user chosen with [`super::Control::set_next_user`].
    pub user: Option<TestUser>,
    /// AuthnContextClassRef. None: the first one the AuthnRequest asked for, else `loa3`.
    pub loa: Option<String>,
    /// Sign the Response too (by the key that signs the assertion). None: [`super::Config::sign_response`].
    /// Ignored for the tampering variants ([`Variant::is_tampering`]).
    pub sign_response: Option<bool>,
}

impl ResponseOptions {
    pub fn variant(variant: Variant) -> Self {
        ResponseOptions {
            variant,
            ..Default::default()
        }
    }
}

/// A built Response and what went into it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuiltResponse {
    pub variant: Variant,
    /// The `SAMLResponse` form value: Base64 of [`BuiltResponse::response_xml`].
    pub saml_response: String,
    pub response_xml: String,
    /// The genuine assertion exactly as signed (and, for the comment variants, commented) before encryption;
    /// None for [`Variant::StatusNotSuccess`].
    pub assertion_xml: Option<String>,
    pub assertion_id: Option<String>,
    pub name_id: Option<String>,
    pub session_index: Option<String>,
    pub in_response_to: String,
    pub acs_url: String,
    pub loa: Option<String>,
    pub user: TestUser,
}

/// What building needs from the simulator's state (copied, so no lock is held while signing).
pub(crate) struct Context {
    pub idp_entity_id: String,
    pub signing: KeyPair,
    /// The key nobody trusts: only for [`Variant::SignedByUnknownKey`] (generating one takes a moment).
    pub unknown: Option<KeyPair>,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub sp_encryption_cert: Vec<u8>,
    pub assertion_lifetime: Duration,
    /// Users to pick the evil copy's user from (the first whose key differs).
    pub users: Vec<TestUser>,
}

/// Values fixed for one Response.
pub(crate) struct Resolved {
    pub in_response_to: String,
    pub user: TestUser,
    pub loa: String,
    pub sign_response: bool,
}

struct AssertionParts<'a> {
    id: &'a str,
    issue: DateTime<Utc>,
    not_before: DateTime<Utc>,
    not_on_or_after: DateTime<Utc>,
    name_id: &'a str,
    session_index: &'a str,
    in_response_to: &'a str,
    recipient: &'a str,
    audience: &'a str,
    loa: &'a str,
    user: &'a TestUser,
    /// Inserted right after Issuer (a signature template).
    after_issuer: &'a str,
    /// Inserted after Conditions (an Advice).
    advice: &'a str,
}

fn assertion_xml(idp: &str, p: &AssertionParts<'_>) -> String {
    let attributes: String = p
        .user
        .attributes()
        .iter()
        .map(|(name, friendly, value)| {
            format!(
                "<saml:Attribute Name=\"{name}\" NameFormat=\"{NAME_FORMAT_URI}\" FriendlyName=\"{friendly}\">\
                 <saml:AttributeValue xsi:type=\"xs:string\">{}</saml:AttributeValue></saml:Attribute>",
                esc(value)
            )
        })
        .collect();
    format!(
        "<saml:Assertion xmlns:saml=\"{SAML}\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{issue}\">\
         {issuer}{after_issuer}\
         <saml:Subject><saml:NameID Format=\"{TRANSIENT}\" NameQualifier=\"{idp_q}\" SPNameQualifier=\"{aud}\">{name_id}</saml:NameID>\
         <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
         <saml:SubjectConfirmationData InResponseTo=\"{irt}\" NotOnOrAfter=\"{nooa}\" Recipient=\"{recipient}\"/>\
         </saml:SubjectConfirmation></saml:Subject>\
         <saml:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{nooa}\"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
         {advice}\
         <saml:AuthnStatement AuthnInstant=\"{issue}\" SessionIndex=\"{si}\"><saml:AuthnContext><saml:AuthnContextClassRef>{loa}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
         <saml:AttributeStatement>{attributes}</saml:AttributeStatement></saml:Assertion>",
        id = esc(p.id),
        issue = instant(p.issue),
        issuer = issuer_xml(idp),
        after_issuer = p.after_issuer,
        idp_q = esc(idp),
        aud = esc(p.audience),
        name_id = esc(p.name_id),
        irt = esc(p.in_response_to),
        nooa = instant(p.not_on_or_after),
        recipient = esc(p.recipient),
        nb = instant(p.not_before),
        advice = p.advice,
        si = esc(p.session_index),
        loa = esc(p.loa),
    )
}

/// Drop an XML declaration (and the newline after it) from libxml2's output.
fn strip_decl(xml: &[u8]) -> anyhow::Result<String> {
    let s = std::str::from_utf8(xml)?.trim_start();
    let s = match s.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, r)| r).unwrap_or(rest),
        None => s,
    };
    Ok(s.trim().to_string())
}

/// Sign a standalone assertion (its template after Issuer) with `key`.
pub(crate) fn sign_assertion(xml: &str, key: &KeyPair) -> anyhow::Result<String> {
    let signed = portti_xmlsec::sign_enveloped_with_id(
        xml.as_bytes(),
        &key.key_pem,
        &key.cert_pem,
        &IdAttribute::saml_assertion(),
    )
    .map_err(|e| anyhow::anyhow!("signing the assertion: {e}"))?;
    strip_decl(&signed)
}

/// Sign with RSA-SHA1 / SHA-1 by the `xmlsec1` command-line tool (portti-xmlsec refuses to make such a
/// signature).
fn sign_assertion_sha1(xml: &str, key: &KeyPair) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("portti-idp-sha1-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| {
        let (tmpl, k, c) = (dir.join("tmpl.xml"), dir.join("key.pem"), dir.join("cert.pem"));
        std::fs::write(&tmpl, xml)?;
        std::fs::write(&k, &key.key_pem)?;
        std::fs::write(&c, &key.cert_pem)?;
        let out = std::process::Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(format!("{},{}", k.display(), c.display()))
            .arg("--id-attr:ID")
            .arg("urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
            .arg(&tmpl)
            .output()
            .map_err(|e| anyhow::anyhow!("running xmlsec1 (apt package xmlsec1): {e}"))?;
        anyhow::ensure!(
            out.status.success(),
            "xmlsec1 --sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        strip_decl(&out.stdout)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `<saml:EncryptedAssertion>` holding `assertion` encrypted for the SP (EncryptedData Type=Element,
/// EncryptedKey inside its KeyInfo).
fn encrypt_assertion(assertion: &str, cert_pem: &[u8]) -> anyhow::Result<String> {
    let doc = format!("<saml:EncryptedAssertion xmlns:saml=\"{SAML}\">{assertion}</saml:EncryptedAssertion>");
    let encrypted = portti_xmlsec::encrypt_element(
        doc.as_bytes(),
        &portti_xmlsec::ElementName::saml_assertion(),
        cert_pem,
        &portti_xmlsec::EncryptionAlgorithms::default(),
    )
    .map_err(|e| anyhow::anyhow!("encrypting the assertion: {e}"))?;
    strip_decl(&encrypted)
}

/// The same shape as [`encrypt_assertion`], encrypted here with OpenSSL (AES-256-GCM, RSA-OAEP-MGF1P) rather
/// than by portti-xmlsec, which encrypts only a unique element: the wrapping variant nests one assertion in
/// another.
fn encrypt_nested(assertion: &str, cert_pem: &[u8]) -> anyhow::Result<String> {
    use openssl::rsa::Padding;
    use openssl::symm::{encrypt_aead, Cipher};
    use portti_xmlsec::uri;
    let cert = openssl::x509::X509::from_pem(cert_pem)?;
    let rsa = cert.public_key()?.rsa()?;
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    openssl::rand::rand_bytes(&mut key)?;
    openssl::rand::rand_bytes(&mut iv)?;
    let mut tag = [0u8; 16];
    let ciphertext = encrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(&iv),
        &[],
        assertion.as_bytes(),
        &mut tag,
    )?;
    let mut data = iv.to_vec();
    data.extend_from_slice(&ciphertext);
    data.extend_from_slice(&tag);
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa.public_encrypt(&key, &mut wrapped, Padding::PKCS1_OAEP)?;
    wrapped.truncate(n);
    Ok(format!(
        "<saml:EncryptedAssertion xmlns:saml=\"{SAML}\"><xenc:EncryptedData xmlns:xenc=\"{xenc}\" Type=\"{element}\">\
         <xenc:EncryptionMethod Algorithm=\"{aes}\"/><ds:KeyInfo xmlns:ds=\"{ds}\"><xenc:EncryptedKey>\
         <xenc:EncryptionMethod Algorithm=\"{oaep}\"><ds:DigestMethod Algorithm=\"{sha1}\"/></xenc:EncryptionMethod>\
         <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
         <xenc:CipherData><xenc:CipherValue>{wrapped}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>\
         <xenc:CipherData><xenc:CipherValue>{data}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>",
        xenc = uri::XMLENC_NS,
        element = uri::XMLENC_ELEMENT,
        aes = uri::AES256_GCM,
        ds = uri::DSIG_NS,
        oaep = uri::RSA_OAEP_MGF1P,
        sha1 = uri::SHA1,
        cert = B64.encode(cert.to_der()?),
        wrapped = B64.encode(wrapped),
        data = B64.encode(data),
    ))
}

/// Flip one bit in the middle of the last CipherValue (the EncryptedData's own; the EncryptedKey's comes
/// first, inside KeyInfo).
fn tamper_ciphertext(encrypted: &str) -> anyhow::Result<String> {
    let open = encrypted
        .rfind("CipherValue>")
        .and_then(|end_tag| encrypted[..end_tag].rfind("CipherValue>").map(|s| (s, end_tag)))
        .ok_or_else(|| anyhow::anyhow!("no CipherValue in the EncryptedData"))?;
    let start = open.0 + "CipherValue>".len();
    // The closing tag is `</xenc:CipherValue>`: its `<` and prefix come before `CipherValue>`.
    let end = encrypted[..open.1].rfind("</").unwrap_or(open.1);
    let b64: String = encrypted[start..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let mut bytes = B64.decode(&b64)?;
    anyhow::ensure!(bytes.len() > 32, "ciphertext too short");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    Ok(format!(
        "{}{}{}",
        &encrypted[..start],
        B64.encode(bytes),
        &encrypted[end..]
    ))
}

/// Put `<!---->` into the text of the first element whose whole text is `value`, after `at` characters.
fn inject_comment(xml: &str, value: &str, at: usize) -> anyhow::Result<String> {
    let escaped = esc(value);
    let needle = format!(">{escaped}<");
    let pos = xml
        .find(&needle)
        .ok_or_else(|| anyhow::anyhow!("value {value} not found in the signed assertion"))?;
    let split = escaped
        .char_indices()
        .nth(at.min(escaped.chars().count().saturating_sub(1)))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let insert_at = pos + 1 + split;
    Ok(format!("{}<!---->{}", &xml[..insert_at], &xml[insert_at..]))
}

fn unknown(ctx: &Context) -> anyhow::Result<&KeyPair> {
    ctx.unknown
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no unknown key in the context"))
}

/// Build the Response for `r` as `variant` says.
pub(crate) fn build(ctx: &Context, r: &Resolved, variant: Variant) -> anyhow::Result<BuiltResponse> {
    let now = Utc::now();
    let lifetime = ChronoDuration::from_std(ctx.assertion_lifetime)?;
    let response_id = new_id();
    let in_response_to = match variant {
        Variant::UnknownInResponseTo => new_id(),
        _ => r.in_response_to.clone(),
    };
    let destination = match variant {
        Variant::WrongDestination => format!("{}-other", ctx.acs_url),
        _ => ctx.acs_url.clone(),
    };
    let mut built = BuiltResponse {
        variant,
        saml_response: String::new(),
        response_xml: String::new(),
        assertion_xml: None,
        assertion_id: None,
        name_id: None,
        session_index: None,
        in_response_to: in_response_to.clone(),
        acs_url: ctx.acs_url.clone(),
        loa: None,
        user: r.user.clone(),
    };

    let mut extensions = String::new();
    let mut assertions: Vec<String> = Vec::new();
    let status = if variant == Variant::StatusNotSuccess {
        status_xml(protocol::STATUS_REQUESTER, Some(protocol::STATUS_AUTHN_FAILED))
    } else {
        let issue = if variant == Variant::Expired {
            now - ChronoDuration::hours(1)
        } else {
            now
        };
        let not_before = if variant == Variant::NotYetValid {
            now + ChronoDuration::minutes(10)
        } else {
            issue
        };
        let not_on_or_after = not_before.max(issue) + lifetime;
        let assertion_id = new_id();
        let name_id = new_id()[1..].to_string();
        let session_index = new_id();
        let level = match variant {
            Variant::LowerLoa => loa::lower(&r.loa).to_string(),
            _ => r.loa.clone(),
        };
        let recipient = match variant {
            Variant::WrongRecipient => format!("{}-other", ctx.acs_url),
            _ => ctx.acs_url.clone(),
        };
        let audience = match variant {
            Variant::WrongAudience => format!("{}-other", ctx.sp_entity_id),
            _ => ctx.sp_entity_id.clone(),
        };
        let template = match variant {
            Variant::Unsigned => String::new(),
            Variant::Sha1Signature => protocol::signature_template_with(
                &assertion_id,
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                "http://www.w3.org/2000/09/xmldsig#sha1",
            ),
            _ => signature_template(&assertion_id),
        };
        let parts = AssertionParts {
            id: &assertion_id,
            issue,
            not_before,
            not_on_or_after,
            name_id: &name_id,
            session_index: &session_index,
            in_response_to: &in_response_to,
            recipient: &recipient,
            audience: &audience,
            loa: &level,
            user: &r.user,
            after_issuer: &template,
            advice: "",
        };
        let unsigned = assertion_xml(&ctx.idp_entity_id, &parts);
        let mut genuine = match variant {
            Variant::Unsigned => unsigned,
            Variant::Sha1Signature => sign_assertion_sha1(&unsigned, &ctx.signing)?,
            Variant::SignedByUnknownKey => sign_assertion(&unsigned, unknown(ctx)?)?,
            _ => sign_assertion(&unsigned, &ctx.signing)?,
        };
        match variant {
            Variant::CommentInNameId => genuine = inject_comment(&genuine, &name_id, name_id.len() / 2)?,
            Variant::CommentInIdentityCode => genuine = inject_comment(&genuine, r.user.key(), 6)?,
            _ => {}
        }

        // The evil copy for the wrapping variants: another user, unsigned.
        let evil_user = ctx
            .users
            .iter()
            .find(|u| u.key() != r.user.key())
            .cloned()
            .unwrap_or_else(|| r.user.clone());
        let evil_id = if variant == Variant::DuplicateIds {
            assertion_id.clone()
        } else {
            new_id()
        };
        let evil_advice = format!("<saml:Advice>{genuine}</saml:Advice>");
        let evil = |advice: &str| {
            assertion_xml(
                &ctx.idp_entity_id,
                &AssertionParts {
                    id: &evil_id,
                    user: &evil_user,
                    after_issuer: "",
                    advice,
                    ..parts
                },
            )
        };
        let encrypt = |a: &str| encrypt_assertion(a, &ctx.sp_encryption_cert);
        match variant {
            Variant::PlaintextAssertion => assertions.push(genuine.clone()),
            Variant::WrappedInAdvice => assertions.push(encrypt_nested(&evil(&evil_advice), &ctx.sp_encryption_cert)?),
            Variant::WrappedInExtensions => {
                extensions = format!("<samlp:Extensions>{genuine}</samlp:Extensions>");
                assertions.push(encrypt(&evil(""))?);
            }
            Variant::ExtraUnsignedAssertion | Variant::DuplicateIds => {
                assertions.push(encrypt(&evil(""))?);
                assertions.push(encrypt(&genuine)?);
            }
            Variant::TamperedCiphertext => assertions.push(tamper_ciphertext(&encrypt(&genuine)?)?),
            _ => assertions.push(encrypt(&genuine)?),
        }
        built.assertion_xml = Some(genuine);
        built.assertion_id = Some(assertion_id);
        built.name_id = Some(name_id);
        built.session_index = Some(session_index);
        built.loa = Some(level);
        status_xml(protocol::STATUS_SUCCESS, None)
    };

    let sign_response = r.sign_response && !variant.is_tampering();
    let template = if sign_response {
        signature_template(&response_id)
    } else {
        String::new()
    };
    let mut response = format!(
        "<samlp:Response xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"{}\" InResponseTo=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\">\
         {}{template}{extensions}{status}{}</samlp:Response>",
        esc(&response_id),
        esc(&in_response_to),
        instant(now),
        esc(&destination),
        issuer_xml(&ctx.idp_entity_id),
        assertions.concat(),
    );
    if sign_response {
        let key = if variant == Variant::SignedByUnknownKey {
            unknown(ctx)?
        } else {
            &ctx.signing
        };
        let signed = portti_xmlsec::sign_enveloped_with_id(
            response.as_bytes(),
            &key.key_pem,
            &key.cert_pem,
            &IdAttribute::saml_response(),
        )
        .map_err(|e| anyhow::anyhow!("signing the Response: {e}"))?;
        response = strip_decl(&signed)?;
    }
    built.saml_response = B64.encode(response.as_bytes());
    built.response_xml = response;
    Ok(built)
}

/// A fresh RSA-2048 key and a self-signed certificate for it (CN=unknown-idp-signing): the "unknown key" of
/// the attack variants and the metadata fault.
pub(crate) fn generate_unknown_key() -> anyhow::Result<KeyPair> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509NameBuilder, X509};
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("C", "FI")?;
    name.append_entry_by_text("O", "Nobody the SP trusts")?;
    name.append_entry_by_text("CN", "unknown-idp-signing")?;
    let name = name.build();
    let mut cert = X509::builder()?;
    cert.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    cert.set_serial_number(&serial)?;
    cert.set_subject_name(&name)?;
    cert.set_issuer_name(&name)?;
    cert.set_pubkey(&key)?;
    cert.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    cert.set_not_after(&*Asn1Time::days_from_now(3650)?)?;
    cert.sign(&key, MessageDigest::sha256())?;
    Ok(KeyPair {
        key_pem: key.private_key_to_pem_pkcs8()?,
        cert_pem: cert.build().to_pem()?,
    })
}
