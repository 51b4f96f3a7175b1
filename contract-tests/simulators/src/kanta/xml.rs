//! The Kanta simulator's XML: the shared strict element tree ([`crate::xml`]) plus the HL7 namespaces, the
//! routing peek at the root element and the content digest.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use sha2::{Digest, Sha256};

use crate::xml::Attr;
pub use crate::xml::{esc, parse, Element, Node};

pub const HL7: &str = "urn:hl7-org:v3";
pub const HL7FI: &str = "urn:hl7finland";
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

pub fn display(ns: &str, name: &str) -> String {
    match ns {
        HL7FI => format!("hl7fi:{name}"),
        DS => format!("ds:{name}"),
        _ => name.to_string(),
    }
}

/// The first start tag's namespace and local name, without reading the whole document (for routing faults
/// by interaction before the request is processed). None when the input does not start like XML.
pub fn root_name(bytes: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut reader = NsReader::from_str(text);
    loop {
        let (resolved, event) = reader.read_resolved_event().ok()?;
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let ns = match resolved {
                    ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.0).into_owned(),
                    _ => String::new(),
                };
                return Some((ns, String::from_utf8_lossy(start.local_name().as_ref()).into_owned()));
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The content digest of a document: SHA-256 (hex) over a canonical serialisation of the element tree in
/// which every element is written as `{namespace}name`, its attributes (namespace declarations excluded)
/// sorted by `{namespace}name`, text escaped, whitespace-only text nodes, comments and processing instructions
/// left out, and the `hl7fi:signatures` subtree left out entirely. Prefixes, attribute order, quoting,
/// empty-element syntax, the XML declaration and indentation therefore do not matter; any change to a name,
/// an attribute value or non-whitespace text does.
pub fn content_digest(root: &Element) -> String {
    let mut out = String::new();
    canonical(root, &mut out);
    hex::encode(Sha256::digest(out.as_bytes()))
}

fn canonical(e: &Element, out: &mut String) {
    out.push_str(&format!("<{{{}}}{}", e.ns, e.name));
    let mut attrs: Vec<&Attr> = e.attrs.iter().collect();
    attrs.sort_by(|a, b| (&a.ns, &a.name).cmp(&(&b.ns, &b.name)));
    for a in attrs {
        out.push_str(&format!(
            " {{{}}}{}=\"{}\"",
            a.ns,
            a.name,
            quick_xml::escape::escape(&a.value)
        ));
    }
    out.push('>');
    for child in &e.children {
        match child {
            Node::Element(c) if c.is(HL7FI, "signatures") => {}
            Node::Element(c) => canonical(c, out),
            Node::Text(t) if t.trim().is_empty() => {}
            Node::Text(t) => out.push_str(&quick_xml::escape::escape(t.as_str())),
        }
    }
    out.push_str(&format!("</{{{}}}{}>", e.ns, e.name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_text() {
        let e = parse(
            br#"<?xml version="1.0" encoding="UTF-8"?><a xmlns="urn:hl7-org:v3" xmlns:x="urn:hl7finland" k="1"><x:b x:c="2">t &amp; &#65;<!-- c --></x:b></a>"#,
        )
        .unwrap();
        assert!(e.is(HL7, "a"));
        assert_eq!(e.attr("k"), Some("1"));
        let b = e.child(HL7FI, "b").unwrap();
        assert_eq!(b.attrs[0].ns, HL7FI);
        assert_eq!(b.text(), "t & A");
    }

    #[test]
    fn digest_ignores_prefixes_order_whitespace_and_signatures() {
        let a = parse(br#"<a xmlns="urn:hl7-org:v3" x="1" y="2"><b>t</b></a>"#).unwrap();
        let b = parse(
            br#"<v:a xmlns:v="urn:hl7-org:v3" y="2" x="1">
                  <v:b>t</v:b>
                  <s:signatures xmlns:s="urn:hl7finland"><x/></s:signatures>
                </v:a>"#,
        )
        .unwrap();
        let c = parse(br#"<a xmlns="urn:hl7-org:v3" x="1" y="2"><b>u</b></a>"#).unwrap();
        assert_eq!(content_digest(&a), content_digest(&b));
        assert_ne!(content_digest(&a), content_digest(&c));
    }
}
