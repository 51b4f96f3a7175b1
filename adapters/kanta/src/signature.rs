//! The system signature: fills the `ds:Signature` template that [`crate::document`] leaves as
//! the last element (inside `hl7fi:signatures`) through libxmlsec1 (`portti-xmlsec`). The key and
//! certificate are read once, when the adapter is made.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a signing identity could not be loaded. Names the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not usable: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// An organisation's system-signature key and certificate (PEM).
#[derive(Clone)]
pub struct SigningIdentity {
    key_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_path: PathBuf,
    cert_path: PathBuf,
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("key", &self.key_path)
            .field("certificate", &self.cert_path)
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SigningError> {
    std::fs::read(path).map_err(|source| SigningError::Read {
        path: path.to_owned(),
        source,
    })
}

fn has_pem_block(pem: &[u8], label_ends_with: &str) -> bool {
    String::from_utf8_lossy(pem)
        .lines()
        .any(|line| line.starts_with("-----BEGIN ") && line.trim_end().ends_with(&format!("{label_ends_with}-----")))
}

impl SigningIdentity {
    /// Reads both files and proves them by signing a small document.
    pub fn load(key: &Path, certificate: &Path) -> Result<Self, SigningError> {
        let key_pem = read(key)?;
        let cert_pem = read(certificate)?;
        if !has_pem_block(&key_pem, "PRIVATE KEY") {
            return Err(SigningError::Invalid {
                path: key.to_owned(),
                reason: "no PEM private key in the file".into(),
            });
        }
        if !has_pem_block(&cert_pem, "CERTIFICATE") {
            return Err(SigningError::Invalid {
                path: certificate.to_owned(),
                reason: "no PEM certificate in the file".into(),
            });
        }
        let identity = SigningIdentity {
            key_pem,
            cert_pem,
            key_path: key.to_owned(),
            cert_path: certificate.to_owned(),
        };
        identity.sign(PROBE).map_err(|reason| SigningError::Invalid {
            path: key.to_owned(),
            reason: format!("cannot sign with this key and {}: {reason}", certificate.display()),
        })?;
        Ok(identity)
    }

    /// The certificate as read (PEM).
    pub fn certificate_pem(&self) -> &[u8] {
        &self.cert_pem
    }

    /// Fills the signature template of `unsigned` (enveloped, exclusive C14N, RSA-SHA256).
    pub fn sign(&self, unsigned: &[u8]) -> Result<Vec<u8>, String> {
        portti_xmlsec::sign_enveloped(unsigned, &self.key_pem, &self.cert_pem).map_err(|e| e.to_string())
    }
}

/// A minimal document with the same template, signed once at load to prove key and certificate.
const PROBE: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><probe><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature></probe>"#;

#[cfg(test)]
mod tests;
