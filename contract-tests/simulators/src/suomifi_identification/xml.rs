//! The Suomi.fi Identification simulator's XML: the shared strict element tree ([`crate::xml`]) plus the SAML
//! namespaces.

pub use crate::xml::{esc, parse, Element};

pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
#[cfg_attr(not(test), allow(dead_code))]
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
#[cfg_attr(not(test), allow(dead_code))]
pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const VETUMA: &str = "urn:vetuma:SAML:2.0:extensions";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_text() {
        let e = parse(
            br#"<?xml version="1.0" encoding="UTF-8"?><p:a xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:s="urn:oasis:names:tc:SAML:2.0:assertion" k="1"><s:b>t &amp; &#65;<!-- c -->B</s:b></p:a>"#,
        )
        .unwrap();
        assert!(e.is(SAMLP, "a"));
        assert_eq!(e.attr("k"), Some("1"));
        assert_eq!(e.child(SAML, "b").unwrap().text(), "t & AB");
    }
}
