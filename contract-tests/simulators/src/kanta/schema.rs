//! The HL7 CDA R2 XML schema check: the document with its `urn:hl7finland` extension elements (and
//! attributes) removed must validate against the CDA R2 schema (`POCD_MT000040`, the copy committed in
//! `adapters/kanta/schema/cda-r2/`). The schema is compiled once at start ([`super::Config::cda_schema`]);
//! validation is libxml2's, through portti-xmlsec.

use super::xml::HL7FI;
use portti_xmlsec::Schema;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer, XmlVersion};
use std::path::PathBuf;

/// The committed CDA R2 schema (`CDA.xsd`; it includes the rest relative to itself).
pub fn committed_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../adapters/kanta/schema/cda-r2/infrastructure/cda/CDA.xsd")
}

/// The text of an `AE` `SCHEMA_INVALID` detail when `cda` (already read by `cda::check`, so well-formed
/// UTF-8 without a DOCTYPE) does not validate.
pub fn check(schema: &Schema, cda: &[u8]) -> Result<(), String> {
    let stripped = strip_finnish_extensions(cda)?;
    schema.validate(&stripped).map_err(|errors| {
        let first = errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "not valid".to_string());
        format!("the CDA document (without its urn:hl7finland elements) is not valid against the HL7 CDA R2 schema: {first}")
    })
}

fn is_hl7fi(resolved: &ResolveResult<'_>) -> bool {
    matches!(resolved, ResolveResult::Bound(ns) if ns.0 == HL7FI.as_bytes())
}

/// The document without every element in `urn:hl7finland` (with its whole subtree) and every attribute in
/// it; everything else is copied as written. A removed subtree leaves its line breaks behind, so that line
/// numbers in validation messages are those of the document as sent. Namespace declarations stay (an unused
/// one is harmless).
pub fn strip_finnish_extensions(cda: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(cda).map_err(|e| format!("the CDA document is not UTF-8: {e}"))?;
    let mut reader = NsReader::from_str(text);
    let mut writer = Writer::new(Vec::with_capacity(cda.len()));
    let bad = |e: &dyn std::fmt::Display| format!("the CDA document cannot be read: {e}");
    loop {
        let start_at = reader.buffer_position() as usize;
        let (resolved, event) = reader.read_resolved_event().map_err(|e| bad(&e))?;
        match event {
            Event::Eof => break,
            Event::Start(_) | Event::Empty(_) if is_hl7fi(&resolved) => {
                if matches!(event, Event::Start(_)) {
                    let mut depth = 1usize;
                    while depth > 0 {
                        match reader.read_event().map_err(|e| bad(&e))? {
                            Event::Start(_) => depth += 1,
                            Event::End(_) => depth -= 1,
                            Event::Eof => return Err(bad(&"unexpected end of input")),
                            _ => {}
                        }
                    }
                }
                let end_at = reader.buffer_position() as usize;
                let newlines = text
                    .get(start_at..end_at)
                    .map_or(0, |skipped| skipped.bytes().filter(|b| *b == b'\n').count());
                if newlines > 0 {
                    writer
                        .write_event(Event::Text(BytesText::from_escaped("\n".repeat(newlines))))
                        .map_err(|e| bad(&e))?;
                }
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                let stripped = without_hl7fi_attributes(&reader, start)?;
                let event = match (stripped, &event) {
                    (None, _) => event,
                    (Some(start), Event::Start(_)) => Event::Start(start),
                    (Some(start), _) => Event::Empty(start),
                };
                writer.write_event(event).map_err(|e| bad(&e))?;
            }
            other => writer.write_event(other).map_err(|e| bad(&e))?,
        }
    }
    Ok(writer.into_inner())
}

/// `start` rebuilt without its `urn:hl7finland` attributes, or None when it has none.
fn without_hl7fi_attributes<'a>(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'a>,
) -> Result<Option<BytesStart<'a>>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("the CDA document cannot be read: {e}");
    let mut any = false;
    for attr in start.attributes() {
        let attr = attr.map_err(|e| bad(&e))?;
        if attr.key.as_namespace_binding().is_none() && is_hl7fi(&reader.resolver().resolve_attribute(attr.key).0) {
            any = true;
        }
    }
    if !any {
        return Ok(None);
    }
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|e| bad(&e))?
        .to_string();
    let mut out = BytesStart::new(name);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| bad(&e))?;
        if attr.key.as_namespace_binding().is_none() && is_hl7fi(&reader.resolver().resolve_attribute(attr.key).0) {
            continue;
        }
        // Re-escaped from the parsed value (as any XML parser reads it): the original quoting may differ
        // from the writer's.
        let key = std::str::from_utf8(attr.key.as_ref()).map_err(|e| bad(&e))?.to_string();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| bad(&e))?
            .into_owned();
        out.push_attribute((key.as_str(), value.as_str()));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn schema() -> &'static Schema {
        static S: OnceLock<Schema> = OnceLock::new();
        S.get_or_init(|| Schema::from_file(committed_schema()).unwrap())
    }

    /// A header-only CDA with the Finnish extensions as the archive sees them (cf. tests/kanta_support).
    fn document(extra_header: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:hl7fi="urn:hl7finland" hl7fi:flag="1">
  <realmCode code="FI"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.2.246.777.11.2016.11"/>
  <id root="1.2.246.10.853.10.3.1"/>
  <code code="SOS" codeSystem="1.2.246.537.6.12.2002"/>
  <title>Asiakaskertomus</title>{extra_header}
  <effectiveTime value="20260301101500"/>
  <confidentialityCode code="3" codeSystem="1.2.246.537.5.40228"/>
  <languageCode code="fi-FI"/>
  <setId root="1.2.246.10.853.10.3.1"/>
  <versionNumber value="1"/>
  <hl7fi:localHeader>
    <hl7fi:serviceTask code="10" codeSystem="1.2.246.537.6.1221"/>
    <hl7fi:registryKeeper><hl7fi:id root="1.2.246.10.853.10.1"/></hl7fi:registryKeeper>
  </hl7fi:localHeader>
  <recordTarget><patientRole><id root="1.2.246.21" extension="010101-123N"/><patient><name><given>Testi</given></name></patient></patientRole></recordTarget>
  <author><time value="20260301101500"/><assignedAuthor><id root="1.2.246.10.853.10.2"/></assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.246.10.853.10.1"/></representedCustodianOrganization></assignedCustodian></custodian>
  <component><structuredBody><component><section><title>T</title><text><paragraph>p &amp; q <linkHtml href='x"y' hl7fi:note="n">link</linkHtml></paragraph></text><hl7fi:json>e30=</hl7fi:json></section></component></structuredBody></component>
  <hl7fi:signatures><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></hl7fi:signatures>
</ClinicalDocument>
"#
        )
    }

    #[test]
    fn stripping_removes_elements_and_attributes_in_the_finnish_namespace_only() {
        let doc = document("");
        let stripped = String::from_utf8(strip_finnish_extensions(doc.as_bytes()).unwrap()).unwrap();
        for gone in [
            "localHeader",
            "registryKeeper",
            "hl7fi:json",
            "signatures",
            "ds:Signature",
            "hl7fi:flag",
            "hl7fi:note",
        ] {
            assert!(!stripped.contains(gone), "{gone} left in {stripped}");
        }
        for kept in [
            "<recordTarget>",
            "p &amp; q",
            r#"xmlns:hl7fi="urn:hl7finland""#,
            "<linkHtml href=\"x&quot;y\">",
        ] {
            assert!(stripped.contains(kept), "{kept} missing from {stripped}");
        }
        // Line numbers survive: the same number of lines, </ClinicalDocument> on the same line.
        let line_of = |s: &str| s.lines().position(|l| l.contains("</ClinicalDocument>"));
        assert_eq!(line_of(&stripped), line_of(&doc));
        // A prefix other than hl7fi is the same namespace.
        let other = r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><fi:x xmlns:fi="urn:hl7finland"><y/></fi:x><z xmlns="urn:hl7finland"/><realmCode/></ClinicalDocument>"#;
        let stripped = String::from_utf8(strip_finnish_extensions(other.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            stripped,
            r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode/></ClinicalDocument>"#
        );
    }

    #[test]
    fn a_valid_document_passes() {
        check(schema(), document("").as_bytes()).unwrap();
    }

    #[test]
    fn an_unknown_hl7_element_in_the_header_fails_with_its_line() {
        let doc = document("\n  <bogusHeaderElement/>");
        let text = check(schema(), doc.as_bytes()).unwrap_err();
        assert!(text.contains("line 9: "), "{text}");
        assert!(text.contains("bogusHeaderElement"), "{text}");
        assert!(text.contains("HL7 CDA R2 schema"), "{text}");
    }

    #[test]
    fn a_wrong_attribute_value_fails() {
        let doc = document("").replace(r#"<versionNumber value="1"/>"#, r#"<versionNumber value="one"/>"#);
        let text = check(schema(), doc.as_bytes()).unwrap_err();
        assert!(text.contains("versionNumber") || text.contains("'one'"), "{text}");
    }
}
