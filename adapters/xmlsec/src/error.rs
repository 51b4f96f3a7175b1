/// Why signing, verification, encryption or decryption failed. Every verification failure is one
/// of these: there is no "valid = false" to forget to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlSecError {
    #[error("libxmlsec1 could not be initialised (code {0})")]
    Init(i32),
    #[error("input of {0} bytes is too large")]
    TooLarge(usize),
    #[error("XML is not well-formed: {0}")]
    NotWellFormed(String),
    #[error("XML with a DOCTYPE is refused (DTDs and entities are not accepted)")]
    DoctypeRefused,
    #[error("no ds:Signature found {0}")]
    NoSignature(String),
    #[error("{0} ds:Signature elements in scope, exactly one is required")]
    MultipleSignatures(usize),
    #[error("malformed ds:Signature: {0}")]
    MalformedSignature(String),
    #[error("disallowed {what}: {algorithm:?}")]
    DisallowedAlgorithm {
        /// Which element carried it: CanonicalizationMethod, SignatureMethod, Transform or
        /// DigestMethod (signatures); EncryptionMethod, EncryptedKey EncryptionMethod or
        /// EncryptedKey DigestMethod (encryption).
        what: &'static str,
        algorithm: String,
    },
    #[error("{0} ds:Reference elements, exactly one is required")]
    ReferenceCount(usize),
    #[error("Reference URI {uri:?} does not cover the expected element ({expected})")]
    ReferenceNotCovering { uri: String, expected: String },
    #[error("expected element {0} not found")]
    ElementNotFound(String),
    #[error("element {element} occurs {count} times, exactly one is required")]
    ElementNotUnique { element: String, count: usize },
    #[error("element {element} has no {attribute} attribute")]
    MissingId { element: String, attribute: String },
    #[error("duplicate ID value {0:?}")]
    DuplicateId(String),
    #[error("digest mismatch: the signed content was altered after signing")]
    DigestMismatch,
    #[error("signed by an untrusted key: the certificate in KeyInfo is not among the trusted ones")]
    UntrustedKey,
    #[error("SignatureValue does not verify with any trusted certificate")]
    SignatureMismatch,
    #[error("no trusted certificate could check this signature: {0}")]
    NoUsableKey(String),
    #[error("invalid key or certificate: {0}")]
    InvalidKey(String),
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    #[error("no xenc:EncryptedData found {0}")]
    NoEncryptedData(String),
    #[error("{0} xenc:EncryptedData elements in the container, exactly one is required")]
    MultipleEncryptedData(usize),
    #[error("{0} xenc:EncryptedKey elements in KeyInfo, exactly one is required")]
    EncryptedKeyCount(usize),
    #[error("malformed xenc:EncryptedData: {0}")]
    MalformedEncryption(String),
    /// Deliberately without details: whether the key unwrap, the padding or tag, or the XML of
    /// the plaintext failed is not told apart (padding and format oracles).
    #[error("decryption failed")]
    DecryptionFailed,
    /// An XML Schema file that could not be read or compiled ([`crate::Schema::from_file`]).
    #[error("XML Schema could not be compiled: {0}")]
    Schema(String),
    #[error("libxmlsec1 failed: {0}")]
    Library(String),
}
