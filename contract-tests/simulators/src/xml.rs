//! A small namespace-aware element tree read with quick-xml, strict about well-formedness: UTF-8 only, no
//! DOCTYPE (so no entity declarations), no entity references but the five predefined ones and character
//! references, one root element, matching end tags, no duplicate attributes, every prefix bound. Comments and
//! processing instructions are dropped. Shared by the XML simulators (Kanta, Suomi.fi Identification); each
//! keeps its own namespaces and protocol helpers in its own `xml` module.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

/// Deeper nesting than this is refused (no legitimate message comes close).
const MAX_DEPTH: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI; empty = no namespace.
    pub ns: String,
    pub name: String,
    /// Attributes without the namespace declarations.
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// An attribute without a namespace.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_empty() && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// The attribute, trimmed, when present and not empty.
    pub fn attr_value(&self, name: &str) -> Option<&str> {
        self.attr(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    pub fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, name))
    }

    /// Follow a path of child element names in one namespace.
    pub fn path(&self, ns: &str, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, name| e.child(ns, name))
    }

    /// Every descendant element (depth first, self excluded).
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.elements().collect::<Vec<_>>().into_iter().rev().collect();
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.elements().collect::<Vec<_>>().into_iter().rev());
        }
        out
    }

    /// The concatenated text children.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }
}

/// Read a whole document. The error text says what is wrong, for a `400` body or a detail text.
pub fn parse(bytes: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let position = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("not well-formed XML near byte {position}: {e}"))?;
        let ns = namespace(resolved)?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let mut attrs = Vec::new();
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| format!("bad attribute in <{name}>: {e}"))?;
                    if attr.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (resolved, local) = reader.resolver().resolve_attribute(attr.key);
                    let attr_ns = namespace(resolved)?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| format!("bad attribute value in <{name}>: {e}"))?
                        .into_owned();
                    attrs.push(Attr {
                        ns: attr_ns,
                        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value,
                    });
                }
                let element = Element {
                    ns,
                    name,
                    attrs,
                    children: Vec::new(),
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(element);
                } else {
                    close(&mut stack, &mut root, element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or("an end tag without a start tag")?;
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => {
                let t = t.xml10_content().map_err(|e| format!("bad text: {e}"))?;
                push_text(&mut stack, &t)?;
            }
            Event::CData(t) => {
                let t = t.xml10_content().map_err(|e| format!("bad CDATA: {e}"))?;
                if stack.is_empty() {
                    return Err("CDATA outside the root element".into());
                }
                push_text(&mut stack, &t)?;
            }
            Event::GeneralRef(r) => {
                let c = match r
                    .resolve_char_ref()
                    .map_err(|e| format!("bad character reference: {e}"))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| format!("bad entity reference: {e}"))?;
                        match name.as_ref() {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "apos" => "'",
                            "quot" => "\"",
                            other => return Err(format!("undeclared entity &{other};")),
                        }
                        .to_string()
                    }
                };
                if stack.is_empty() {
                    return Err("a reference outside the root element".into());
                }
                push_text(&mut stack, &c)?;
            }
            Event::DocType(_) => return Err("DOCTYPE is not allowed".into()),
            Event::Decl(decl) => {
                if let Some(Ok(encoding)) = decl.encoding() {
                    let encoding = String::from_utf8_lossy(&encoding).to_ascii_lowercase();
                    if encoding != "utf-8" && encoding != "utf8" {
                        return Err(format!("encoding {encoding} is not UTF-8"));
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(format!(
                        "unexpected end of input inside <{}>",
                        stack.last().unwrap().name
                    ));
                }
                return root.ok_or_else(|| "no root element".to_string());
            }
        }
    }
}

/// The namespace URI a name resolved to (empty = none); an error for an unbound prefix.
fn namespace(resolved: ResolveResult<'_>) -> Result<String, String> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.0).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(prefix) => Err(format!(
            "unbound namespace prefix '{}'",
            String::from_utf8_lossy(&prefix)
        )),
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => {
            // Merge adjacent text (a reference splits one text node into several events).
            if let Some(Node::Text(previous)) = parent.children.last_mut() {
                previous.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_string()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

/// Escape for XML text and attribute values.
pub fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        for bad in [
            &b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"[..],
            b"<a>&x;</a>",
            b"<a><b></a>",
            b"<a></a><b/>",
            b"<a>",
            b"<p:a/>",
            b"<a k='1' k='2'/>",
            b"",
            b"text",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
