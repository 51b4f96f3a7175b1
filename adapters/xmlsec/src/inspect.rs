//! Reads the one ds:Signature in scope and checks its shape before libxmlsec1 sees it, so that a
//! refusal says exactly why (libxmlsec1's own allow-lists in the shim are the second fence).

use crate::doc::{Doc, Node};
use crate::uri;
use crate::{IdAttribute, XmlSecError};

const XML_NS: &std::ffi::CStr = c"http://www.w3.org/XML/1998/namespace";

/// What the signature covers, as found in the document.
pub(crate) struct Shape<'d> {
    pub signature: Node<'d>,
    pub signed_element: Node<'d>,
    pub id: Option<String>,
    pub reference_uri: String,
    pub signature_method: String,
    /// X509Certificate values in KeyInfo, base64 without whitespace; only used to explain a
    /// failure (the verification key never comes from KeyInfo).
    pub key_info_certs: Vec<String>,
}

fn malformed(msg: impl Into<String>) -> XmlSecError {
    XmlSecError::MalformedSignature(msg.into())
}

fn qname(ns: &str, local: &str) -> String {
    if ns.is_empty() {
        local.to_owned()
    } else {
        format!("{{{ns}}}{local}")
    }
}

/// Finds the signed element and its one Signature, registers the ID attribute (if any) and
/// checks algorithms, transforms and the reference.
pub(crate) fn inspect<'d>(doc: &'d Doc, id_attr: Option<&IdAttribute>) -> Result<Shape<'d>, XmlSecError> {
    let root = doc
        .root()
        .ok_or_else(|| XmlSecError::NotWellFormed("no root element".into()))?;
    let all = root.descendants_or_self();

    check_duplicate_ids(&all, id_attr)?;

    let (signed_element, signature, id) = match id_attr {
        Some(policy) => {
            let matches: Vec<Node<'d>> = all
                .iter()
                .copied()
                .filter(|n| n.is(&policy.namespace, &policy.element))
                .collect();
            let signed = match matches.as_slice() {
                [] => return Err(XmlSecError::ElementNotFound(qname(&policy.namespace, &policy.element))),
                [one] => *one,
                many => {
                    return Err(XmlSecError::ElementNotUnique {
                        element: qname(&policy.namespace, &policy.element),
                        count: many.len(),
                    })
                }
            };
            doc.register_id(signed, &policy.attribute)?;
            let id = signed.attr(&policy.attribute);
            // In scope: Signatures that are direct children of the signed element (a signed
            // Response may hold a signed Assertion; each is checked with its own policy).
            let sigs: Vec<Node<'d>> = signed.children().filter(|n| n.is(uri::DSIG_NS, "Signature")).collect();
            let sig = one_signature(&sigs, &format!("as a child of {}", policy.element))?;
            (signed, sig, id)
        }
        None => {
            let sigs: Vec<Node<'d>> = all
                .iter()
                .copied()
                .filter(|n| n.is(uri::DSIG_NS, "Signature"))
                .collect();
            let sig = one_signature(&sigs, "in the document")?;
            if sig == root {
                return Err(malformed("the Signature is the document root, not enveloped"));
            }
            (root, sig, None)
        }
    };

    let (reference_uri, signature_method) = check_signed_info(signature)?;
    check_reference_uri(&reference_uri, signed_element, root, id.as_deref())?;

    let key_info_certs = signature
        .children()
        .filter(|n| n.is(uri::DSIG_NS, "KeyInfo"))
        .flat_map(|ki| ki.children().collect::<Vec<_>>())
        .filter(|n| n.is(uri::DSIG_NS, "X509Data"))
        .flat_map(|xd| xd.children().collect::<Vec<_>>())
        .filter(|n| n.is(uri::DSIG_NS, "X509Certificate"))
        .map(|c| {
            let mut text = c.text();
            // In place: a certificate is a kilobyte or two of base64, per verification.
            text.retain(|c| !c.is_ascii_whitespace());
            text
        })
        .collect();

    Ok(Shape {
        signature,
        signed_element,
        id,
        reference_uri,
        signature_method,
        key_info_certs,
    })
}

fn one_signature<'d>(sigs: &[Node<'d>], where_: &str) -> Result<Node<'d>, XmlSecError> {
    match sigs {
        [] => Err(XmlSecError::NoSignature(where_.to_owned())),
        [one] => Ok(*one),
        many => Err(XmlSecError::MultipleSignatures(many.len())),
    }
}

/// Every value that libxml2 or libxmlsec1 could resolve a `#fragment` to must be unique:
/// xml:id anywhere, `Id` on XML-DSig elements, and the policy's ID attribute on any element.
fn check_duplicate_ids(all: &[Node<'_>], id_attr: Option<&IdAttribute>) -> Result<(), XmlSecError> {
    let mut seen = std::collections::HashSet::new();
    for n in all {
        let mut values = Vec::with_capacity(3);
        values.extend(n.attr_ns(c"id", XML_NS));
        if n.namespace().as_deref() == Some(uri::DSIG_NS) {
            values.extend(n.attr("Id"));
        }
        if let Some(policy) = id_attr {
            values.extend(n.attr(&policy.attribute));
        }
        for v in values {
            if !seen.insert(v.clone()) {
                return Err(XmlSecError::DuplicateId(v));
            }
        }
    }
    Ok(())
}

fn algorithm(node: Node<'_>) -> Result<String, XmlSecError> {
    node.attr("Algorithm")
        .ok_or_else(|| malformed(format!("{} without Algorithm", node.local_name())))
}

fn expect_dsig<'d>(node: Option<Node<'d>>, local: &str) -> Result<Node<'d>, XmlSecError> {
    match node {
        Some(n) if n.is(uri::DSIG_NS, local) => Ok(n),
        Some(n) => Err(malformed(format!("expected ds:{local}, found {}", n.local_name()))),
        None => Err(malformed(format!("missing ds:{local}"))),
    }
}

/// SignedInfo = CanonicalizationMethod, SignatureMethod, exactly one Reference with only the
/// allowed transforms and digest. Returns the Reference URI and the SignatureMethod.
fn check_signed_info(signature: Node<'_>) -> Result<(String, String), XmlSecError> {
    let signed_info = expect_dsig(signature.first_child(), "SignedInfo")?;
    expect_dsig(signed_info.next_sibling(), "SignatureValue")?;

    let c14n = expect_dsig(signed_info.first_child(), "CanonicalizationMethod")?;
    let c14n_alg = algorithm(c14n)?;
    if !uri::ALLOWED_C14N.contains(&c14n_alg.as_str()) {
        return Err(XmlSecError::DisallowedAlgorithm {
            what: "CanonicalizationMethod",
            algorithm: c14n_alg,
        });
    }
    let sig_method = expect_dsig(c14n.next_sibling(), "SignatureMethod")?;
    let sig_alg = algorithm(sig_method)?;
    if !uri::ALLOWED_SIGNATURE_METHODS.contains(&sig_alg.as_str()) {
        return Err(XmlSecError::DisallowedAlgorithm {
            what: "SignatureMethod",
            algorithm: sig_alg,
        });
    }
    let refs: Vec<Node<'_>> = std::iter::successors(sig_method.next_sibling(), |n| n.next_sibling()).collect();
    if let Some(other) = refs.iter().find(|n| !n.is(uri::DSIG_NS, "Reference")) {
        return Err(malformed(format!("unexpected {} in SignedInfo", other.local_name())));
    }
    let reference = match refs.as_slice() {
        [one] => *one,
        other => return Err(XmlSecError::ReferenceCount(other.len())),
    };
    let reference_uri = reference
        .attr("URI")
        .ok_or_else(|| malformed("Reference without URI"))?;

    let mut cur = reference.first_child();
    if let Some(transforms) = cur.filter(|n| n.is(uri::DSIG_NS, "Transforms")) {
        for t in transforms.children() {
            if !t.is(uri::DSIG_NS, "Transform") {
                return Err(malformed(format!("unexpected {} in Transforms", t.local_name())));
            }
            let alg = algorithm(t)?;
            if !uri::ALLOWED_TRANSFORMS.contains(&alg.as_str()) {
                return Err(XmlSecError::DisallowedAlgorithm {
                    what: "Transform",
                    algorithm: alg,
                });
            }
        }
        cur = transforms.next_sibling();
    }
    let digest = expect_dsig(cur, "DigestMethod")?;
    let digest_alg = algorithm(digest)?;
    if digest_alg != uri::SHA256 {
        return Err(XmlSecError::DisallowedAlgorithm {
            what: "DigestMethod",
            algorithm: digest_alg,
        });
    }
    let value = expect_dsig(digest.next_sibling(), "DigestValue")?;
    if let Some(extra) = value.next_sibling() {
        return Err(malformed(format!("unexpected {} in Reference", extra.local_name())));
    }
    Ok((reference_uri, sig_alg))
}

/// `""` covers the whole document, so it is accepted only when the signed element is the root;
/// `#id` only when it names the signed element. Anything else (other ids, XPointer, external
/// URIs) is refused: that is where signature wrapping starts.
fn check_reference_uri(
    reference_uri: &str,
    signed: Node<'_>,
    root: Node<'_>,
    id: Option<&str>,
) -> Result<(), XmlSecError> {
    let ok = match reference_uri.strip_prefix('#') {
        None => reference_uri.is_empty() && signed == root,
        Some(frag) => id.is_some_and(|id| !id.is_empty() && id == frag),
    };
    if ok {
        return Ok(());
    }
    let expected = match id {
        Some(id) if signed == root => format!("\"\" or \"#{id}\""),
        Some(id) => format!("\"#{id}\""),
        None => "\"\" (the whole document)".to_owned(),
    };
    Err(XmlSecError::ReferenceNotCovering {
        uri: reference_uri.to_owned(),
        expected,
    })
}
