//! XML Encryption (W3C xmlenc) of one element, SAML style: `saml:EncryptedAssertion` holding one
//! `xenc:EncryptedData` (Type = Element) whose `ds:KeyInfo` holds one `xenc:EncryptedKey`.
//!
//! As with signatures, the shape is checked here before libxmlsec1 sees it, and the shim fences
//! libxmlsec1's own contexts: exactly one cipher transform enabled per context, no URIs (so no
//! CipherReference), no keys manager and a preset key (so KeyInfo, KeyName, RetrievalMethod
//! can never yield a key).

use crate::doc::{init, last_error, Doc, Node};
use crate::keys::{Key, RsaKind};
use crate::{ffi, uri, XmlSecError};

/// A namespace-qualified element name. `namespace` "" means no namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ElementName {
    pub namespace: String,
    pub local: String,
}

impl ElementName {
    pub fn new(namespace: impl Into<String>, local: impl Into<String>) -> Self {
        ElementName {
            namespace: namespace.into(),
            local: local.into(),
        }
    }

    /// `saml2:EncryptedAssertion`.
    pub fn saml_encrypted_assertion() -> Self {
        Self::new(uri::SAML_ASSERTION_NS, "EncryptedAssertion")
    }

    /// `saml2:Assertion`.
    pub fn saml_assertion() -> Self {
        Self::new(uri::SAML_ASSERTION_NS, "Assertion")
    }

    fn qualified(&self) -> String {
        if self.namespace.is_empty() {
            self.local.clone()
        } else {
            format!("{{{}}}{}", self.namespace, self.local)
        }
    }
}

impl std::fmt::Display for ElementName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.qualified())
    }
}

/// Block cipher for the data (EncryptedData/EncryptionMethod).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DataAlgorithm {
    Aes128Gcm,
    #[default]
    Aes256Gcm,
    /// No integrity of its own: accept CBC-encrypted data only when the decrypted element is
    /// then signature-verified (as a SAML Assertion must be).
    Aes128Cbc,
    Aes256Cbc,
}

impl DataAlgorithm {
    pub const ALL: [DataAlgorithm; 4] = [Self::Aes128Gcm, Self::Aes256Gcm, Self::Aes128Cbc, Self::Aes256Cbc];

    pub fn uri(self) -> &'static str {
        match self {
            Self::Aes128Gcm => uri::AES128_GCM,
            Self::Aes256Gcm => uri::AES256_GCM,
            Self::Aes128Cbc => uri::AES128_CBC,
            Self::Aes256Cbc => uri::AES256_CBC,
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.uri() == uri)
    }

    /// The number the shim uses (csrc/shim.c, PORTTI_AES*).
    fn code(self) -> i32 {
        match self {
            Self::Aes128Gcm => 1,
            Self::Aes256Gcm => 2,
            Self::Aes128Cbc => 3,
            Self::Aes256Cbc => 4,
        }
    }
}

/// How the session key is wrapped for the recipient (EncryptedKey/EncryptionMethod).
///
/// Only `rsa-oaep-mgf1p` (RSA-OAEP, MGF1 with SHA-1, DigestMethod SHA-1): libxmlsec1 1.2.37
/// (Debian bookworm) implements neither `http://www.w3.org/2009/xmlenc11#rsa-oaep` nor another
/// digest for `rsa-oaep-mgf1p`. RSA PKCS#1 v1.5 (`xmlenc#rsa-1_5`) is never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyTransport {
    /// `http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p`.
    #[default]
    RsaOaepMgf1p,
}

impl KeyTransport {
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaOaepMgf1p => uri::RSA_OAEP_MGF1P,
        }
    }

    fn code(self) -> i32 {
        match self {
            Self::RsaOaepMgf1p => 1,
        }
    }
}

/// What [`encrypt_element`] uses. Default: AES-256-GCM with RSA-OAEP-MGF1P.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncryptionAlgorithms {
    pub data: DataAlgorithm,
    pub key_transport: KeyTransport,
}

/// Decrypts the one `xenc:EncryptedData` that is a child of the (unique) element `container`
/// (e.g. `saml:EncryptedAssertion`) with the RSA private key (PEM). The EncryptedData is
/// replaced by the decrypted element (Type = Element), so the returned document has e.g.
/// `<saml:EncryptedAssertion><saml:Assertion …/></saml:EncryptedAssertion>`.
///
/// Accepted: data algorithms [`DataAlgorithm`] (AES-GCM, AES-CBC, 128/256), key transport
/// `rsa-oaep-mgf1p` with SHA-1 (or no) DigestMethod and no OAEPparams; exactly one EncryptedData
/// in the container (no other children); exactly one EncryptedKey, inside the EncryptedData's
/// KeyInfo (RetrievalMethod, KeyName, peer EncryptedKeys and CipherReference are refused); the
/// key comes only from `key_pem` (the EncryptedKey's own KeyInfo is ignored). The document goes
/// through the same parser as verification (no DOCTYPE, no entities, no network).
///
/// Every failure after these shape checks is [`XmlSecError::DecryptionFailed`], whatever the
/// cause (wrong key, bad RSA padding, bad GCM tag, bad CBC padding, plaintext that is not one
/// element). Decryption is not authentication: verify the signature of the decrypted element
/// (e.g. [`crate::verify_enveloped`] with [`crate::IdAttribute::saml_assertion`]) before using it
/// — with AES-CBC that signature is the only integrity there is.
pub fn decrypt_element(xml: &[u8], key_pem: &[u8], container: &ElementName) -> Result<Vec<u8>, XmlSecError> {
    init()?;
    let key = Key::rsa_private(key_pem)?;
    let doc = Doc::parse(xml)?;
    let shape = inspect_encrypted(&doc, container)?;
    // SAFETY: both nodes belong to `doc` and `key` is live; all outlive the call. The shim may
    // replace (and free) the EncryptedData subtree, both nodes included; `shape` is not used
    // again.
    let rc = unsafe {
        ffi::portti_decrypt(
            shape.encrypted_data.as_ptr(),
            shape.encrypted_key.as_ptr(),
            key.as_ptr(),
            shape.data.code(),
        )
    };
    if rc != 0 {
        return Err(XmlSecError::DecryptionFailed);
    }
    doc.to_bytes()
}

/// Replaces the (unique) element `target` by `xenc:EncryptedData` (Type = Element) with a fresh
/// random session key, wrapped in one `xenc:EncryptedKey` (inside the EncryptedData's KeyInfo,
/// carrying the recipient certificate in its own KeyInfo/X509Data) for the recipient
/// certificate's RSA key: the IdP side, for simulators and tests. The target element gets
/// declarations of all namespaces in scope so that it decrypts on its own anywhere; its
/// canonical form (and so a signature over it) is unchanged.
pub fn encrypt_element(
    xml: &[u8],
    target: &ElementName,
    recipient_cert_pem: &[u8],
    algorithms: &EncryptionAlgorithms,
) -> Result<Vec<u8>, XmlSecError> {
    init()?;
    let recipient = Key::from_cert(recipient_cert_pem)?;
    if recipient.rsa_kind() == RsaKind::NotRsa {
        return Err(XmlSecError::InvalidKey(
            "the recipient certificate does not hold an RSA key".into(),
        ));
    }
    let doc = Doc::parse(xml)?;
    let root = doc
        .root()
        .ok_or_else(|| XmlSecError::NotWellFormed("no root element".into()))?;
    let node = unique(root, target)?;
    // SAFETY: `node` belongs to `doc`, `recipient` is live. On success the shim has replaced
    // (and freed) `node`; it is not used again.
    let rc = unsafe {
        ffi::portti_encrypt(
            node.as_ptr(),
            recipient.as_ptr(),
            algorithms.data.code(),
            algorithms.key_transport.code(),
        )
    };
    if rc != 0 {
        return Err(XmlSecError::Library(last_error()));
    }
    doc.to_bytes()
}

/// What decryption works on, as found in the document.
struct EncShape<'d> {
    encrypted_data: Node<'d>,
    encrypted_key: Node<'d>,
    data: DataAlgorithm,
}

fn malformed(msg: impl Into<String>) -> XmlSecError {
    XmlSecError::MalformedEncryption(msg.into())
}

fn unique<'d>(root: Node<'d>, name: &ElementName) -> Result<Node<'d>, XmlSecError> {
    let matches: Vec<Node<'d>> = root
        .descendants_or_self()
        .into_iter()
        .filter(|n| n.is(&name.namespace, &name.local))
        .collect();
    match matches.as_slice() {
        [] => Err(XmlSecError::ElementNotFound(name.qualified())),
        [one] => Ok(*one),
        many => Err(XmlSecError::ElementNotUnique {
            element: name.qualified(),
            count: many.len(),
        }),
    }
}

fn is_xenc(n: &Node<'_>, local: &str) -> bool {
    n.is(uri::XMLENC_NS, local)
}

fn algorithm(node: Node<'_>) -> Result<String, XmlSecError> {
    node.attr("Algorithm")
        .ok_or_else(|| malformed(format!("{} without Algorithm", node.local_name())))
}

fn expect_xenc<'d>(node: Option<Node<'d>>, local: &str, in_: &str) -> Result<Node<'d>, XmlSecError> {
    match node {
        Some(n) if is_xenc(&n, local) => Ok(n),
        Some(n) => Err(malformed(format!(
            "expected xenc:{local} in {in_}, found {}",
            n.local_name()
        ))),
        None => Err(malformed(format!("missing xenc:{local} in {in_}"))),
    }
}

/// CipherData with exactly one CipherValue (CipherReference would dereference a URI).
fn check_cipher_data(cipher_data: Node<'_>, in_: &str) -> Result<(), XmlSecError> {
    let children: Vec<Node<'_>> = cipher_data.children().collect();
    match children.as_slice() {
        [v] if is_xenc(v, "CipherValue") => Ok(()),
        [r] if is_xenc(r, "CipherReference") => Err(malformed(format!(
            "CipherReference in {in_} is refused (no external or referenced cipher data)"
        ))),
        _ => Err(malformed(format!("{in_} CipherData must hold exactly one CipherValue"))),
    }
}

fn inspect_encrypted<'d>(doc: &'d Doc, container: &ElementName) -> Result<EncShape<'d>, XmlSecError> {
    let root = doc
        .root()
        .ok_or_else(|| XmlSecError::NotWellFormed("no root element".into()))?;
    let container_node = unique(root, container)?;

    let children: Vec<Node<'d>> = container_node.children().collect();
    let datas: Vec<Node<'d>> = children
        .iter()
        .copied()
        .filter(|n| is_xenc(n, "EncryptedData"))
        .collect();
    let encrypted_data = match datas.as_slice() {
        [] => {
            return Err(XmlSecError::NoEncryptedData(format!(
                "as a child of {}",
                container.qualified()
            )))
        }
        [one] => *one,
        many => return Err(XmlSecError::MultipleEncryptedData(many.len())),
    };
    if let Some(other) = children.iter().find(|n| **n != encrypted_data) {
        return Err(if is_xenc(other, "EncryptedKey") {
            malformed("an EncryptedKey beside the EncryptedData is not supported (RetrievalMethod is refused): the EncryptedKey must be inside the EncryptedData's KeyInfo")
        } else {
            malformed(format!("unexpected {} beside the EncryptedData", other.local_name()))
        });
    }

    match encrypted_data.attr("Type").as_deref() {
        Some(uri::XMLENC_ELEMENT) => {}
        Some(t) => {
            return Err(malformed(format!(
                "EncryptedData Type {t:?}, only {:?} is accepted",
                uri::XMLENC_ELEMENT
            )))
        }
        None => return Err(malformed("EncryptedData without Type (Element is required)")),
    }

    // EncryptionMethod, KeyInfo, CipherData, and nothing else.
    let method = expect_xenc(encrypted_data.first_child(), "EncryptionMethod", "EncryptedData")?;
    let data_alg = algorithm(method)?;
    let data = DataAlgorithm::from_uri(&data_alg).ok_or(XmlSecError::DisallowedAlgorithm {
        what: "EncryptionMethod",
        algorithm: data_alg,
    })?;
    if let Some(child) = method.first_child() {
        return Err(malformed(format!(
            "unexpected {} in the EncryptedData EncryptionMethod",
            child.local_name()
        )));
    }
    let key_info = match method.next_sibling() {
        Some(n) if n.is(uri::DSIG_NS, "KeyInfo") => n,
        _ => return Err(malformed("the EncryptedData has no ds:KeyInfo with the EncryptedKey")),
    };
    let cipher_data = expect_xenc(key_info.next_sibling(), "CipherData", "EncryptedData")?;
    check_cipher_data(cipher_data, "EncryptedData")?;
    if let Some(extra) = cipher_data.next_sibling() {
        return Err(malformed(format!("unexpected {} in EncryptedData", extra.local_name())));
    }

    // KeyInfo: exactly one EncryptedKey and nothing else.
    let mut keys = Vec::new();
    for n in key_info.children() {
        if is_xenc(&n, "EncryptedKey") {
            keys.push(n);
        } else if n.is(uri::DSIG_NS, "RetrievalMethod") {
            return Err(malformed(
                "ds:RetrievalMethod is refused: the EncryptedKey must be inside the EncryptedData's KeyInfo",
            ));
        } else {
            return Err(malformed(format!(
                "unexpected {} in the EncryptedData's KeyInfo (the key comes only from the EncryptedKey)",
                n.local_name()
            )));
        }
    }
    let encrypted_key = match keys.as_slice() {
        [one] => *one,
        other => return Err(XmlSecError::EncryptedKeyCount(other.len())),
    };

    // EncryptedKey: EncryptionMethod, KeyInfo? (ignored), CipherData, ReferenceList?,
    // CarriedKeyName? (both informational, ignored).
    let key_method = expect_xenc(encrypted_key.first_child(), "EncryptionMethod", "EncryptedKey")?;
    let transport = algorithm(key_method)?;
    if transport != uri::RSA_OAEP_MGF1P {
        return Err(XmlSecError::DisallowedAlgorithm {
            what: "EncryptedKey EncryptionMethod",
            algorithm: transport,
        });
    }
    for param in key_method.children() {
        if param.is(uri::DSIG_NS, "DigestMethod") {
            let digest = algorithm(param)?;
            if digest != uri::SHA1 {
                return Err(XmlSecError::DisallowedAlgorithm {
                    what: "EncryptedKey DigestMethod",
                    algorithm: digest,
                });
            }
        } else {
            return Err(malformed(format!(
                "unexpected {} in the EncryptedKey EncryptionMethod",
                param.local_name()
            )));
        }
    }
    let mut cur = key_method.next_sibling();
    if cur.is_some_and(|n| n.is(uri::DSIG_NS, "KeyInfo")) {
        cur = cur.and_then(|n| n.next_sibling());
    }
    let key_cipher_data = expect_xenc(cur, "CipherData", "EncryptedKey")?;
    check_cipher_data(key_cipher_data, "EncryptedKey")?;
    let mut cur = key_cipher_data.next_sibling();
    for optional in ["ReferenceList", "CarriedKeyName"] {
        if cur.is_some_and(|n| is_xenc(&n, optional)) {
            cur = cur.and_then(|n| n.next_sibling());
        }
    }
    if let Some(extra) = cur {
        return Err(malformed(format!("unexpected {} in EncryptedKey", extra.local_name())));
    }

    Ok(EncShape {
        encrypted_data,
        encrypted_key,
        data,
    })
}
