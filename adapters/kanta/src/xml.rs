//! The XML plumbing of the crate: a writer that always escapes (text and attribute values go
//! through quick-xml's escaping; characters XML 1.0 forbids are replaced), and a small
//! namespace-aware tree read with quick-xml for the archive's answers (no DOCTYPE, bounded depth).

use crate::model::is_xml_char;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;
use std::borrow::Cow;

/// HL7 V3 and CDA.
pub const NS_HL7: &str = "urn:hl7-org:v3";
/// The Finnish extensions.
pub const NS_HL7FI: &str = "urn:hl7finland";
/// XML-DSig.
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Writes XML into memory. Every text and attribute value is escaped by quick-xml.
pub struct XmlOut {
    writer: Writer<Vec<u8>>,
}

const INFALLIBLE: &str = "writing XML into a Vec cannot fail";

/// `text` with every character XML 1.0 does not allow replaced by U+FFFD (validation refuses
/// them earlier; this keeps the output well-formed whatever comes in).
pub fn xml_safe(text: &str) -> Cow<'_, str> {
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
    /// A document starting with `<?xml version="1.0" encoding="UTF-8"?>`.
    pub fn with_declaration() -> Self {
        let mut out = XmlOut::fragment();
        out.writer
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect(INFALLIBLE);
        out
    }

    /// No declaration.
    pub fn fragment() -> Self {
        XmlOut {
            writer: Writer::new(Vec::new()),
        }
    }

    fn element<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for (key, value) in attrs {
            // push_attribute escapes the value.
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

    pub fn finish(self) -> Vec<u8> {
        self.writer.into_inner()
    }
}

/// An element of a parsed answer: namespace, local name, attributes by local name (no
/// namespace), children, and its own text (concatenated, entities resolved).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace.as_deref() == Some(namespace) && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first HL7 (`urn:hl7-org:v3`) child called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(NS_HL7, name))
    }

    /// Every HL7 child called `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(NS_HL7, name))
    }

    /// Follows HL7 children by name.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |element, name| element.child(name))
    }
}

/// Deepest nesting accepted in an answer.
const MAX_DEPTH: usize = 64;

/// Parses a whole document into a tree. Refuses a DOCTYPE (no entity expansion of any kind),
/// unknown entities, mismatched tags, more than one root and text outside the root.
pub fn parse(bytes: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the body is not UTF-8".to_owned())?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let position = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("not well-formed XML after byte {position}: {e}"))?;
        let namespace = match resolved {
            ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.0).into_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => {
                return Err(format!(
                    "undeclared namespace prefix {:?}",
                    String::from_utf8_lossy(&prefix)
                ))
            }
        };
        match event {
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err("content after the root element".into());
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("nested deeper than {MAX_DEPTH} elements"));
                }
                stack.push(element(&start, namespace)?);
            }
            Event::Empty(start) => {
                let element = element(&start, namespace)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("an end tag without a start")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content().map_err(|e| e.to_string())?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::CData(data) => {
                let content = data.decode().map_err(|e| e.to_string())?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None => return Err("CDATA outside the root element".into()),
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| e.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_owned()
                    }
                };
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&resolved),
                    None => return Err("an entity outside the root element".into()),
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

fn element(start: &BytesStart, namespace: Option<String>) -> Result<Element, String> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("bad attribute: {e}"))?;
        let key = attribute.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value: {e}"))?;
        let local = String::from_utf8_lossy(key.local_name().as_ref()).into_owned();
        attributes.push((local, value.into_owned()));
    }
    Ok(Element {
        namespace,
        name,
        attributes,
        children: Vec::new(),
        text: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        let mut out = XmlOut::fragment();
        out.start("a", &[("title", "\"</a><b x='1'>&")])
            .text("</title><script>alert(1)</script> & \u{0}")
            .end("a");
        let xml = String::from_utf8(out.finish()).unwrap();
        assert!(!xml.contains("<script>") && !xml.contains("</title>"), "{xml}");
        let tree = parse(xml.as_bytes()).unwrap();
        assert_eq!(tree.text, "</title><script>alert(1)</script> & \u{FFFD}");
        assert_eq!(tree.attr("title"), Some("\"</a><b x='1'>&"));
        assert!(tree.children.is_empty());
    }

    #[test]
    fn namespaces_are_resolved_and_text_gathered() {
        let tree = parse(
            br#"<?xml version="1.0"?><x:r xmlns:x="urn:hl7-org:v3" xmlns:o="urn:other"><x:a v="1">t &amp; &#x41;<![CDATA[<c>]]></x:a><o:a/><!-- c --></x:r>"#,
        )
        .unwrap();
        assert!(tree.is(NS_HL7, "r"));
        assert_eq!(tree.children.len(), 2);
        assert_eq!(tree.child("a").unwrap().text, "t & A<c>");
        assert_eq!(tree.child("a").unwrap().attr("v"), Some("1"));
        assert!(tree.children[1].is("urn:other", "a"));
    }

    #[test]
    fn doctypes_garbage_and_unknown_entities_are_refused() {
        for bad in [
            &br#"<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>"#[..],
            b"<r>&e;</r>",
            b"<r><a></r>",
            b"<r/><r/>",
            b"not xml",
            b"",
            b"<p:r/>",
            b"\xff\xfe<r/>",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert!(parse(deep.as_bytes()).is_err());
    }
}
