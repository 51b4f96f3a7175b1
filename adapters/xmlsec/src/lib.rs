//! XML signatures through libxmlsec1 and its OpenSSL engine: enveloped signing of templates and
//! strict verification against pinned certificates; and XML Encryption of one element (SAML
//! EncryptedAssertion): [`decrypt_element`] and [`encrypt_element`]; and XML Schema validation
//! of whole documents with libxml2 ([`Schema`]).
//!
//! libxmlsec1 does all canonicalisation, digesting and signing; this crate decides *what* may be
//! signed or accepted and turns every failure into an [`XmlSecError`].
//!
//! Global state (process-wide, set once on first use, see `csrc/shim.c`): libxml2, libxmlsec1
//! and its OpenSSL engine are initialised once; libxmlsec1's error callback is replaced by one
//! that writes into a thread-local buffer (nothing is printed to stderr); libxmlsec1's IO
//! callbacks are removed, so no Reference in this process can read a file or URL; libxml2's
//! external entity loader is replaced by its no-network one (`xmlNoNetExternalEntityLoader`),
//! so nothing libxml2 loads in this process (schema includes in particular) comes from HTTP or
//! FTP. Keys and certificates are decoded once per distinct PEM and kept in a process-wide,
//! bounded cache (64 entries, oldest evicted first, a mutex around the map; see `src/keys.rs`),
//! and a [`VerifyPolicy`] holds its decoded certificates. Every call otherwise builds its own
//! document, libxmlsec1 key objects and signature or encryption context and frees them before
//! returning, so the API can be used from many threads at once.

mod doc;
mod enc;
mod error;
mod ffi;
mod inspect;
mod keys;
mod schema;

#[cfg(test)]
mod tests;

pub use enc::{decrypt_element, encrypt_element, DataAlgorithm, ElementName, EncryptionAlgorithms, KeyTransport};
pub use error::XmlSecError;
pub use schema::{Schema, SchemaErrorKind, SchemaErrors, SchemaMessage, MAX_SCHEMA_MESSAGES};

use doc::{init, last_error, Doc};
use keys::Key;

/// Algorithm and namespace URIs, for building signature templates.
pub mod uri {
    pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
    pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
    pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

    /// CanonicalizationMethod values accepted (no "with comments" variants).
    pub const ALLOWED_C14N: &[&str] = &[C14N, EXC_C14N];
    pub const ALLOWED_SIGNATURE_METHODS: &[&str] = &[RSA_SHA256, ECDSA_SHA256];
    /// Reference transforms accepted; DigestMethod must be [`SHA256`].
    pub const ALLOWED_TRANSFORMS: &[&str] = &[ENVELOPED_SIGNATURE, EXC_C14N];

    pub const SAML_ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

    /// XML Encryption.
    pub const XMLENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
    /// EncryptedData Type: the whole element is encrypted (the only Type accepted).
    pub const XMLENC_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
    pub const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
    pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
    pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    /// RSA-OAEP with MGF1/SHA-1: the only key transport accepted.
    pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
    /// XML Encryption 1.1 RSA-OAEP: not implemented by libxmlsec1 1.2.x, refused.
    pub const RSA_OAEP_XMLENC11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
    /// RSA PKCS#1 v1.5 key transport: always refused (padding oracle).
    pub const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
    /// The OAEP digest of [`RSA_OAEP_MGF1P`] (also the default when DigestMethod is absent).
    pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
}

/// An ID attribute to register before resolving `#id` references: XML has no built-in notion of
/// which attribute is an ID (SAML's is the unqualified `ID` of `saml2:Assertion`, for example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdAttribute {
    namespace: String,
    element: String,
    attribute: String,
}

impl IdAttribute {
    /// `namespace` "" means an element in no namespace; `attribute` is unqualified.
    pub fn new(namespace: impl Into<String>, element: impl Into<String>, attribute: impl Into<String>) -> Self {
        IdAttribute {
            namespace: namespace.into(),
            element: element.into(),
            attribute: attribute.into(),
        }
    }

    /// `saml2:Assertion/@ID`.
    pub fn saml_assertion() -> Self {
        Self::new("urn:oasis:names:tc:SAML:2.0:assertion", "Assertion", "ID")
    }

    /// `saml2p:Response/@ID`.
    pub fn saml_response() -> Self {
        Self::new("urn:oasis:names:tc:SAML:2.0:protocol", "Response", "ID")
    }
}

#[derive(Clone)]
struct TrustedCert {
    /// Its public key, decoded once (shared with the process-wide key cache, see `keys`).
    key: Key,
    /// The DER as base64 without whitespace, to compare with KeyInfo for error messages only.
    der_b64: String,
}

/// What verification accepts. Algorithms are fixed (see [`uri`]) and cannot be loosened.
#[derive(Clone)]
pub struct VerifyPolicy {
    trusted: Vec<TrustedCert>,
    id_attribute: Option<IdAttribute>,
}

impl std::fmt::Debug for VerifyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyPolicy")
            .field("trusted_certificates", &self.trusted.len())
            .field("id_attribute", &self.id_attribute)
            .finish()
    }
}

impl VerifyPolicy {
    /// Trusts the public keys of these PEM certificates (several, or bundles of several, for key
    /// rotation). Certificates are pinned keys: chains, validity dates and revocation are not
    /// checked, the caller's trust list is the whole trust decision.
    pub fn new<I, P>(trusted_cert_pems: I) -> Result<Self, XmlSecError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        init()?;
        let mut trusted = Vec::new();
        for pem in trusted_cert_pems {
            for cert in split_pem_certificates(pem.as_ref())? {
                // Decoded here, once (or taken from the key cache): fails at configuration time,
                // not on the first message, and costs nothing per verification.
                trusted.push(TrustedCert {
                    key: Key::from_cert(&cert.pem)?,
                    der_b64: cert.der_b64,
                });
            }
        }
        if trusted.is_empty() {
            return Err(XmlSecError::InvalidPolicy("no trusted certificate".into()));
        }
        Ok(VerifyPolicy {
            trusted,
            id_attribute: None,
        })
    }

    /// Verify the signature of this (unique) element, referenced as `#<its ID>`, instead of an
    /// enveloped signature over the whole document.
    pub fn with_id_attribute(mut self, id_attribute: IdAttribute) -> Self {
        self.id_attribute = Some(id_attribute);
        self
    }

    pub fn trusted_count(&self) -> usize {
        self.trusted.len()
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Local name of the signed element (the root, or the policy's element).
    pub element: String,
    pub namespace: Option<String>,
    /// Its ID when the policy names an ID attribute.
    pub id: Option<String>,
    /// `""` or `#<id>`.
    pub reference_uri: String,
    pub signature_method: String,
    /// Index into the trusted certificates (in the order given to [`VerifyPolicy::new`],
    /// bundles expanded) of the one whose key verified, for logging key rotation.
    pub trusted_cert_index: usize,
}

/// Fills in the one ds:Signature template found in `xml` (SignedInfo with CanonicalizationMethod,
/// SignatureMethod, one Reference with Transforms + DigestMethod + empty DigestValue, empty
/// SignatureValue, and optionally KeyInfo/X509Data with an empty X509Certificate) using the
/// private key and certificate (PEM). The template must use the algorithms [`verify_enveloped`]
/// accepts and `URI=""`, so nothing is signed that we would refuse ourselves.
pub fn sign_enveloped(xml: &[u8], key_pem: &[u8], cert_pem: &[u8]) -> Result<Vec<u8>, XmlSecError> {
    sign(xml, key_pem, cert_pem, None)
}

/// Like [`sign_enveloped`] for a signature that is a child of the (unique) element named by
/// `id_attribute` and references it as `#<its ID>` (SAML style).
pub fn sign_enveloped_with_id(
    xml: &[u8],
    key_pem: &[u8],
    cert_pem: &[u8],
    id_attribute: &IdAttribute,
) -> Result<Vec<u8>, XmlSecError> {
    sign(xml, key_pem, cert_pem, Some(id_attribute))
}

fn sign(xml: &[u8], key_pem: &[u8], cert_pem: &[u8], id: Option<&IdAttribute>) -> Result<Vec<u8>, XmlSecError> {
    init()?;
    let key = Key::private(key_pem, cert_pem)?;
    let doc = Doc::parse(xml)?;
    let shape = inspect::inspect(&doc, id)?;
    // SAFETY: the signature node belongs to `doc` and `key` is live; both outlive the call.
    if unsafe { ffi::portti_sign(shape.signature.as_ptr(), key.as_ptr()) } != 0 {
        return Err(XmlSecError::Library(last_error()));
    }
    doc.to_bytes()
}

/// Verifies the one signature in scope: a descendant of the root (no ID attribute in the policy,
/// Reference `URI=""`), or a direct child of the policy's element (Reference `#<its ID>`, or
/// `""` if that element is the root). Keys come only from the trusted certificates, never from
/// KeyInfo. Any failure is an `Err`.
///
/// Comments are never signed (canonicalisation without comments): a caller reading the signed
/// element must read text as the concatenation of all its text nodes, not the first one. The
/// policy's element is required to be unique in the document so that a caller looking it up by
/// name reads the very element that was verified.
pub fn verify_enveloped(xml: &[u8], policy: &VerifyPolicy) -> Result<Verified, XmlSecError> {
    init()?;
    let doc = Doc::parse(xml)?;
    let shape = inspect::inspect(&doc, policy.id_attribute.as_ref())?;

    let mut signature_mismatch = false;
    let mut errors = Vec::new();
    for (index, cert) in policy.trusted.iter().enumerate() {
        // SAFETY: the signature node belongs to `doc` and the key is live (the policy holds it);
        // both outlive the call.
        match unsafe { ffi::portti_verify(shape.signature.as_ptr(), cert.key.as_ptr()) } {
            ffi::VALID => {
                return Ok(Verified {
                    element: shape.signed_element.local_name(),
                    namespace: shape.signed_element.namespace(),
                    id: shape.id,
                    reference_uri: shape.reference_uri,
                    signature_method: shape.signature_method,
                    trusted_cert_index: index,
                })
            }
            // The digest does not depend on the key: no other key can help.
            ffi::DIGEST_MISMATCH => return Err(XmlSecError::DigestMismatch),
            ffi::SIGNATURE_MISMATCH => signature_mismatch = true,
            _ => errors.push(last_error()),
        }
    }
    let key_info_untrusted = !shape.key_info_certs.is_empty()
        && shape
            .key_info_certs
            .iter()
            .all(|c| !policy.trusted.iter().any(|t| &t.der_b64 == c));
    if key_info_untrusted {
        Err(XmlSecError::UntrustedKey)
    } else if signature_mismatch {
        Err(XmlSecError::SignatureMismatch)
    } else {
        Err(XmlSecError::NoUsableKey(errors.join("; ")))
    }
}

/// One CERTIFICATE block, re-encoded.
struct PemCertificate {
    pem: Vec<u8>,
    /// The DER as base64 without whitespace.
    der_b64: String,
}

/// Splits PEM text into its CERTIFICATE blocks; any other block (a private key pasted by
/// mistake) is an error, so that a trust list never silently drops an entry.
fn split_pem_certificates(pem: &[u8]) -> Result<Vec<PemCertificate>, XmlSecError> {
    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(pem).map_err(|_| XmlSecError::InvalidKey("certificate PEM is not UTF-8".into()))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| XmlSecError::InvalidKey("truncated PEM header".into()))?;
        let label = &after[..label_end];
        if label != "CERTIFICATE" {
            return Err(XmlSecError::InvalidKey(format!(
                "expected CERTIFICATE PEM blocks, found {label}"
            )));
        }
        let body = &after[label_end + 5..];
        let end = body
            .find(END)
            .ok_or_else(|| XmlSecError::InvalidKey("PEM certificate without END line".into()))?;
        let mut b64 = body[..end].to_owned();
        b64.retain(|c| !c.is_ascii_whitespace());
        if b64.is_empty() || !b64.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) {
            return Err(XmlSecError::InvalidKey("PEM certificate body is not base64".into()));
        }
        let mut block = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            // Chunks of an ASCII string are ASCII.
            block.push_str(std::str::from_utf8(line).unwrap_or_default());
            block.push('\n');
        }
        block.push_str(END);
        block.push('\n');
        out.push(PemCertificate {
            pem: block.into_bytes(),
            der_b64: b64,
        });
        rest = &body[end + END.len()..];
    }
    if out.is_empty() {
        return Err(XmlSecError::InvalidKey("no PEM CERTIFICATE block".into()));
    }
    Ok(out)
}
