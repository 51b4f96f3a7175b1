//! XML plumbing: a small namespace-aware tree read with quick-xml (no DOCTYPE, bounded depth and
//! size, text read as the concatenation of ALL its text nodes so that an injected comment cannot
//! truncate a value), and a writer that always escapes.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;
use std::borrow::Cow;

use crate::error::SamlError;

pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const NS_MDATTR: &str = "urn:oasis:names:tc:SAML:metadata:attribute";
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const NS_VETUMA: &str = "urn:vetuma:SAML:2.0:extensions";

/// Largest document accepted (after Base64 / inflation).
pub const MAX_XML_BYTES: usize = 512 * 1024;
/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;

/// An element: namespace, local name, unqualified attributes, child elements, and the
/// concatenation of all its own (direct) text nodes, CDATA sections and references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    /// Attributes without a namespace prefix (SAML's own attributes are all unqualified).
    pub attributes: Vec<(String, String)>,
    /// Namespaced attributes as (namespace, local name, value).
    pub ns_attributes: Vec<(String, String, String)>,
    pub children: Vec<Element>,
    pub text: String,
    /// A comment or processing instruction was found directly inside this element.
    pub had_comment: bool,
}

impl Element {
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace.as_deref() == Some(namespace) && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn children_named<'a, 'b>(
        &'a self,
        namespace: &'b str,
        name: &'b str,
    ) -> impl Iterator<Item = &'a Element> + use<'a, 'b> {
        self.children.iter().filter(move |c| c.is(namespace, name))
    }

    /// The only child of that name: `Ok(None)` if absent, an error if repeated.
    pub fn unique_child(&self, namespace: &str, name: &str) -> Result<Option<&Element>, SamlError> {
        let mut it = self.children_named(namespace, name);
        let first = it.next();
        if it.next().is_some() {
            return Err(SamlError::Malformed(format!("{} has more than one {name}", self.name)));
        }
        Ok(first)
    }

    pub fn required_child(&self, namespace: &str, name: &str) -> Result<&Element, SamlError> {
        self.unique_child(namespace, name)?
            .ok_or_else(|| SamlError::Malformed(format!("{} has no {name}", self.name)))
    }

    /// The element's whole text (all text nodes joined: a comment splits a text node but never
    /// truncates the value), trimmed. An element with child elements has no simple text.
    pub fn simple_text(&self) -> Result<&str, SamlError> {
        if !self.children.is_empty() {
            return Err(SamlError::Malformed(format!(
                "{} has child elements where text is expected",
                self.name
            )));
        }
        Ok(self.text.trim())
    }
}

/// Parses a whole document into a tree. Refuses a DOCTYPE (no entity expansion of any kind),
/// unknown entities, undeclared prefixes, mismatched tags, more than one root, text outside the
/// root, non-UTF-8 and documents larger than [`MAX_XML_BYTES`].
pub fn parse(bytes: &[u8]) -> Result<Element, SamlError> {
    if bytes.len() > MAX_XML_BYTES {
        return Err(SamlError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| SamlError::Malformed("the XML is not UTF-8".into()))?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    // quick-xml's messages quote the document (tag names, and past a mismatched end tag whole
    // stretches of content, which in a decrypted assertion is personal data): keep only their
    // kind, the part before the first colon.
    let malformed = |position: u64, e: &dyn std::fmt::Display| {
        let message = e.to_string();
        let kind = message.split(':').next().unwrap_or_default().trim();
        SamlError::Malformed(format!("not well-formed XML after byte {position}: {kind}"))
    };
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| malformed(position, &e))?;
        match event {
            Event::DocType(_) => return Err(SamlError::Doctype),
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(SamlError::Malformed("content after the root element".into()))
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SamlError::Malformed(format!("nested deeper than {MAX_DEPTH} elements")));
                }
                stack.push(element(&reader, &start)?);
            }
            Event::Empty(start) => {
                let element = element(&reader, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| SamlError::Malformed("an end tag without a start".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content().map_err(|e| malformed(position, &e))?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(SamlError::Malformed("text outside the root element".into())),
                }
            }
            Event::CData(data) => {
                let content = data.decode().map_err(|e| malformed(position, &e))?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None => return Err(SamlError::Malformed("CDATA outside the root element".into())),
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| malformed(position, &e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| malformed(position, &e))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| SamlError::Malformed("an unknown entity reference".into()))?
                            .to_owned()
                    }
                };
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&resolved),
                    None => return Err(SamlError::Malformed("an entity outside the root element".into())),
                }
            }
            Event::Comment(_) | Event::PI(_) => {
                if let Some(current) = stack.last_mut() {
                    current.had_comment = true;
                }
            }
            Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(SamlError::Malformed("the document ends inside an element".into()));
    }
    root.ok_or_else(|| SamlError::Malformed("no root element".into()))
}

fn resolved(r: ResolveResult<'_>) -> Result<Option<String>, SamlError> {
    match r {
        ResolveResult::Bound(ns) => Ok(Some(String::from_utf8_lossy(ns.0).into_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(_) => Err(SamlError::Malformed("an undeclared namespace prefix".into())),
    }
}

fn element(reader: &NsReader<&[u8]>, start: &BytesStart) -> Result<Element, SamlError> {
    let (ns, local) = reader.resolver().resolve_element(start.name());
    let namespace = resolved(ns)?;
    let name = String::from_utf8_lossy(local.as_ref()).into_owned();
    let mut attributes = Vec::new();
    let mut ns_attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| SamlError::Malformed(format!("bad attribute: {e}")))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| SamlError::Malformed(format!("bad attribute value: {e}")))?
            .into_owned();
        let (ans, alocal) = reader.resolver().resolve_attribute(attribute.key);
        let alocal = String::from_utf8_lossy(alocal.as_ref()).into_owned();
        match resolved(ans)? {
            None => {
                if attributes.iter().any(|(k, _)| *k == alocal) {
                    return Err(SamlError::Malformed("a repeated attribute".into()));
                }
                attributes.push((alocal, value));
            }
            Some(ns) => ns_attributes.push((ns, alocal, value)),
        }
    }
    Ok(Element {
        namespace,
        name,
        attributes,
        ns_attributes,
        children: Vec::new(),
        text: String::new(),
        had_comment: false,
    })
}

/// Writes XML into memory; every text and attribute value is escaped by quick-xml.
pub struct XmlOut {
    writer: Writer<Vec<u8>>,
}

const INFALLIBLE: &str = "writing XML into a Vec cannot fail";

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `text` with every character XML 1.0 does not allow replaced by U+FFFD.
fn xml_safe(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_xml_char) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

impl XmlOut {
    pub fn with_declaration() -> Self {
        let mut out = XmlOut::fragment();
        out.writer
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect(INFALLIBLE);
        out
    }

    pub fn fragment() -> Self {
        XmlOut {
            writer: Writer::new(Vec::new()),
        }
    }

    fn element<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for (key, value) in attrs {
            start.push_attribute((*key, xml_safe(value).as_ref()));
        }
        start
    }

    pub fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.writer
            .write_event(Event::Start(Self::element(name, attrs)))
            .expect(INFALLIBLE);
        self
    }

    pub fn end(&mut self, name: &str) -> &mut Self {
        self.writer
            .write_event(Event::End(BytesEnd::new(name)))
            .expect(INFALLIBLE);
        self
    }

    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.writer
            .write_event(Event::Empty(Self::element(name, attrs)))
            .expect(INFALLIBLE);
        self
    }

    pub fn text(&mut self, text: &str) -> &mut Self {
        let safe = xml_safe(text);
        self.writer
            .write_event(Event::Text(BytesText::new(&safe)))
            .expect(INFALLIBLE);
        self
    }

    /// `<name attrs>text</name>`.
    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.start(name, attrs).text(text).end(name)
    }

    /// Inserts already well-formed XML produced by this crate (e.g. a signature template).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.writer.get_mut().extend_from_slice(xml.as_bytes());
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.writer.into_inner()
    }
}

/// The enveloped XML-DSig template that [`portti_xmlsec`] fills in: exclusive C14N,
/// RSA-SHA256, SHA-256, one Reference to `#id`, KeyInfo with the signer's certificate.
pub fn signature_template(id: &str) -> String {
    use portti_xmlsec::uri;
    let mut out = XmlOut::fragment();
    out.start("ds:Signature", &[("xmlns:ds", NS_DS)])
        .start("ds:SignedInfo", &[])
        .empty("ds:CanonicalizationMethod", &[("Algorithm", uri::EXC_C14N)])
        .empty("ds:SignatureMethod", &[("Algorithm", uri::RSA_SHA256)])
        .start("ds:Reference", &[("URI", &format!("#{id}"))])
        .start("ds:Transforms", &[])
        .empty("ds:Transform", &[("Algorithm", uri::ENVELOPED_SIGNATURE)])
        .empty("ds:Transform", &[("Algorithm", uri::EXC_C14N)])
        .end("ds:Transforms")
        .empty("ds:DigestMethod", &[("Algorithm", uri::SHA256)])
        .empty("ds:DigestValue", &[])
        .end("ds:Reference")
        .end("ds:SignedInfo")
        .empty("ds:SignatureValue", &[])
        .start("ds:KeyInfo", &[])
        .start("ds:X509Data", &[])
        .empty("ds:X509Certificate", &[])
        .end("ds:X509Data")
        .end("ds:KeyInfo")
        .end("ds:Signature");
    String::from_utf8(out.finish()).expect("the writer writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_all_text_nodes_joined() {
        let tree =
            parse(br#"<a xmlns:s="urn:x"><s:b>131052<!---->-308T</s:b><c>x<?pi y?>y<![CDATA[z]]>&amp;&#x41;</c></a>"#)
                .unwrap();
        assert_eq!(tree.children[0].simple_text().unwrap(), "131052-308T");
        assert!(tree.children[0].had_comment);
        assert!(tree.children[0].is("urn:x", "b"));
        assert_eq!(tree.children[1].simple_text().unwrap(), "xyz&A");
    }

    #[test]
    fn hostile_documents_are_refused() {
        assert!(matches!(
            parse(br#"<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>"#),
            Err(SamlError::Doctype)
        ));
        for bad in [
            &b"<r>&e;</r>"[..],
            b"<r><a></r>",
            b"<r/><r/>",
            b"not xml",
            b"",
            b"<p:r/>",
            b"<r a='1' a='2'/>",
            b"\xff\xfe<r/>",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn writer_escapes() {
        let mut out = XmlOut::fragment();
        out.leaf("a", &[("t", "\"<&")], "</a><b>&\u{0}");
        let xml = out.finish();
        let tree = parse(&xml).unwrap();
        assert_eq!(tree.attr("t"), Some("\"<&"));
        assert_eq!(tree.text, "</a><b>&\u{FFFD}");
    }
}
