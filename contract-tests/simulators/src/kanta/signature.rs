//! The system signature: its shape as WIRE.md fixes it, then cryptographic verification against the trusted
//! system-signature certificates. Every error is the text of an `AE` `SIGNATURE_INVALID` detail.

use super::xml::{Element, Node, DS, HL7FI};

pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// The certificates trusted for system signatures: pinned keys (portti-xmlsec checks no chains, dates or
/// revocation; the list is the whole trust decision).
pub struct Trust {
    policy: portti_xmlsec::VerifyPolicy,
}

impl Trust {
    pub fn new(pems: Vec<Vec<u8>>) -> anyhow::Result<Self> {
        let policy = portti_xmlsec::VerifyPolicy::new(&pems)
            .map_err(|e| anyhow::anyhow!("trusted system-signature certificates: {e}"))?;
        Ok(Trust { policy })
    }
}

/// Check the signature of the CDA `doc` (read from `bytes`).
pub fn check(bytes: &[u8], doc: &Element, trust: &Trust) -> Result<(), String> {
    shape(doc)?;
    verify(bytes, trust)
}

/// The one place that verifies cryptographically (libxmlsec1 through portti-xmlsec).
fn verify(bytes: &[u8], trust: &Trust) -> Result<(), String> {
    portti_xmlsec::verify_enveloped(bytes, &trust.policy)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn single<'e>(parent: &'e Element, ns: &str, name: &str, what: &str) -> Result<&'e Element, String> {
    let mut found = parent.elements().filter(|e| e.is(ns, name));
    match (found.next(), found.next()) {
        (Some(e), None) => Ok(e),
        (None, _) => Err(format!("{what}: <{name}> is missing")),
        (Some(_), Some(_)) => Err(format!("{what}: more than one <{name}>")),
    }
}

fn algorithm(e: &Element, expected: &str, what: &str) -> Result<(), String> {
    match e.attr("Algorithm") {
        Some(a) if a == expected => Ok(()),
        Some(a) => Err(format!("{what} is '{a}', expected '{expected}'")),
        None => Err(format!("{what} has no Algorithm")),
    }
}

/// `hl7fi:signatures` the last child of `ClinicalDocument`, holding exactly one `ds:Signature` with exclusive
/// C14N, RSA-SHA256, one `Reference URI=""` with exactly the enveloped-signature and exclusive C14N transforms,
/// SHA-256, and an X.509 certificate in `KeyInfo`.
fn shape(doc: &Element) -> Result<(), String> {
    let signatures: Vec<&Element> = doc.children_named(HL7FI, "signatures").collect();
    let holder = match signatures[..] {
        [] => return Err("the document has no <hl7fi:signatures>".into()),
        [one] => one,
        _ => return Err("the document has more than one <hl7fi:signatures>".into()),
    };
    if !std::ptr::eq(doc.elements().last().unwrap(), holder) {
        return Err("<hl7fi:signatures> is not the last child of <ClinicalDocument>".into());
    }
    let content: Vec<&Element> = holder.elements().collect();
    let signature = match content[..] {
        [s] if s.is(DS, "Signature") => s,
        [] => return Err("<hl7fi:signatures> holds no <ds:Signature>".into()),
        _ => return Err("<hl7fi:signatures> must hold exactly one <ds:Signature> and nothing else".into()),
    };
    if holder
        .children
        .iter()
        .any(|n| matches!(n, Node::Text(t) if !t.trim().is_empty()))
    {
        return Err("<hl7fi:signatures> holds text".into());
    }
    let signed_info = single(signature, DS, "SignedInfo", "ds:Signature")?;
    algorithm(
        single(signed_info, DS, "CanonicalizationMethod", "ds:SignedInfo")?,
        EXC_C14N,
        "CanonicalizationMethod",
    )?;
    algorithm(
        single(signed_info, DS, "SignatureMethod", "ds:SignedInfo")?,
        RSA_SHA256,
        "SignatureMethod",
    )?;
    let reference = single(signed_info, DS, "Reference", "ds:SignedInfo")?;
    match reference.attr("URI") {
        Some("") => {}
        Some(uri) => return Err(format!("Reference URI is '{uri}', expected \"\" (the whole document)")),
        None => return Err("Reference has no URI (expected \"\")".into()),
    }
    let transforms: Vec<&str> = single(reference, DS, "Transforms", "ds:Reference")?
        .elements()
        .map(|t| {
            if t.is(DS, "Transform") {
                t.attr("Algorithm").unwrap_or("")
            } else {
                "?"
            }
        })
        .collect();
    if transforms != [ENVELOPED, EXC_C14N] {
        return Err(format!(
            "the transforms are [{}], expected exactly [{ENVELOPED}, {EXC_C14N}]",
            transforms.join(", ")
        ));
    }
    algorithm(
        single(reference, DS, "DigestMethod", "ds:Reference")?,
        SHA256,
        "DigestMethod",
    )?;
    if single(reference, DS, "DigestValue", "ds:Reference")?
        .text()
        .trim()
        .is_empty()
    {
        return Err("DigestValue is empty".into());
    }
    if single(signature, DS, "SignatureValue", "ds:Signature")?
        .text()
        .trim()
        .is_empty()
    {
        return Err("SignatureValue is empty".into());
    }
    let x509 = single(signature, DS, "KeyInfo", "ds:Signature")
        .and_then(|k| single(k, DS, "X509Data", "ds:KeyInfo"))
        .and_then(|d| single(d, DS, "X509Certificate", "ds:X509Data"))?;
    if x509.text().trim().is_empty() {
        return Err("X509Certificate is empty".into());
    }
    Ok(())
}
