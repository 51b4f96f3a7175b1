use super::*;
use crate::model::tests::{example, CODE};
use crate::model::DisplaySection;
use crate::testutil::{organisation, run_tool, SCHEMA};
use crate::xml::{parse, Element};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;

pub(crate) fn build_example(doc: &ArchiveDocument) -> Vec<u8> {
    let org = organisation();
    let ids = DocumentIds::new(&org.document_oid_root, &doc.case_id, doc.kind, doc.version);
    build(
        doc,
        &DocumentContext {
            organisation: &org,
            ids: &ids,
            type_code: doc.kind.as_str(),
            retention_period_class: "1",
        },
    )
}

fn tree(doc: &ArchiveDocument) -> Element {
    parse(&build_example(doc)).expect("well-formed")
}

/// The document without its `urn:hl7finland` elements (and so without the signature).
pub(crate) fn without_finnish_extensions(xml: &[u8]) -> Vec<u8> {
    let mut reader = NsReader::from_reader(xml);
    let mut writer = Writer::new(Vec::new());
    let mut buf = Vec::new();
    loop {
        let (resolved, event) = reader.read_resolved_event_into(&mut buf).unwrap();
        let finnish = matches!(resolved, ResolveResult::Bound(ns) if ns.0 == NS_HL7FI.as_bytes());
        match event {
            Event::Eof => break,
            Event::Start(start) if finnish => {
                let end = start.to_end().into_owned();
                let mut skip = Vec::new();
                reader.read_to_end_into(end.name(), &mut skip).unwrap();
            }
            Event::Empty(_) if finnish => {}
            event => writer.write_event(event.into_owned()).unwrap(),
        }
        buf.clear();
    }
    writer.into_inner()
}

/// Validates with `xmllint` against the CDA R2 schema; panics (never skips) without xmllint.
pub(crate) fn assert_schema_valid(xml: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("document.xml");
    std::fs::write(&path, without_finnish_extensions(xml)).unwrap();
    let schema = SCHEMA.join("infrastructure/cda/CDA.xsd");
    let (ok, output) = run_tool(
        "xmllint",
        "libxml2-utils",
        &[
            "--noout".as_ref(),
            "--nonet".as_ref(),
            "--schema".as_ref(),
            schema.as_os_str(),
            path.as_os_str(),
        ],
    );
    assert!(
        ok,
        "the document breaks the CDA R2 schema:\n{output}\n{}",
        String::from_utf8_lossy(&without_finnish_extensions(xml))
    );
}

fn attr<'a>(root: &'a Element, path: &[&str], name: &str) -> &'a str {
    root.path(path)
        .unwrap_or_else(|| panic!("{path:?} missing"))
        .attr(name)
        .unwrap_or_else(|| panic!("{path:?}/@{name} missing"))
}

fn finnish<'a>(element: &'a Element, name: &str) -> &'a Element {
    element
        .children
        .iter()
        .find(|c| c.is(NS_HL7FI, name))
        .unwrap_or_else(|| panic!("hl7fi:{name} missing"))
}

#[test]
fn the_same_payload_builds_the_same_bytes() {
    let doc = example();
    assert_eq!(build_example(&doc), build_example(&doc));
    let mut other = doc.clone();
    other.title.push('!');
    assert_ne!(build_example(&doc), build_example(&other));
}

#[test]
fn every_required_header_element_is_there() {
    let doc = example();
    let org = organisation();
    let ids = DocumentIds::new(&org.document_oid_root, &doc.case_id, doc.kind, 1);
    let root = tree(&doc);
    assert!(root.is(NS_HL7, "ClinicalDocument"));
    let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "realmCode",
            "typeId",
            "templateId",
            "id",
            "code",
            "title",
            "effectiveTime",
            "confidentialityCode",
            "languageCode",
            "setId",
            "versionNumber",
            "recordTarget",
            "author",
            "custodian",
            "documentationOf",
            "localHeader",
            "component",
            "signatures",
        ]
    );
    assert_eq!(attr(&root, &["realmCode"], "code"), "FI");
    assert_eq!(attr(&root, &["typeId"], "root"), "2.16.840.1.113883.1.3");
    assert_eq!(attr(&root, &["typeId"], "extension"), "POCD_HD000040");
    assert_eq!(attr(&root, &["templateId"], "root"), "1.2.246.777.11.2016.11");
    assert_eq!(attr(&root, &["id"], "root"), ids.document_oid);
    assert_eq!(attr(&root, &["code"], "code"), "contact_record");
    assert_eq!(attr(&root, &["code"], "codeSystem"), "1.2.246.537.6.12.2002");
    assert_eq!(root.child("title").unwrap().text, "Yhteydenotto: asiakasohjaus");
    assert_eq!(attr(&root, &["effectiveTime"], "value"), "20250304081500");
    assert_eq!(attr(&root, &["confidentialityCode"], "code"), "3");
    assert_eq!(
        attr(&root, &["confidentialityCode"], "codeSystem"),
        "1.2.246.537.5.40228"
    );
    assert_eq!(attr(&root, &["languageCode"], "code"), "fi-FI");
    assert_eq!(attr(&root, &["setId"], "root"), ids.set_id);
    assert_eq!(attr(&root, &["versionNumber"], "value"), "1");

    let patient_id = root.path(&["recordTarget", "patientRole", "id"]).unwrap();
    assert_eq!(patient_id.attr("root"), Some("1.2.246.21"));
    assert_eq!(patient_id.attr("extension"), Some(CODE));
    let name = root.path(&["recordTarget", "patientRole", "patient", "name"]).unwrap();
    assert_eq!(name.child("given").unwrap().text, "Maija");
    assert_eq!(name.child("family").unwrap().text, "Meikäläinen");

    assert_eq!(attr(&root, &["author", "time"], "value"), "20250304081500");
    let author_id = root.path(&["author", "assignedAuthor", "id"]).unwrap();
    assert_eq!(author_id.attr("root"), Some(org.sender_system_oid.as_str()));
    assert_eq!(author_id.attr("extension"), Some("ohjaaja-17"));
    assert_eq!(
        root.path(&["author", "assignedAuthor", "assignedPerson", "name"])
            .unwrap()
            .text,
        "Sari Ohjaaja"
    );
    assert_eq!(
        attr(
            &root,
            &["author", "assignedAuthor", "representedOrganization", "id"],
            "root"
        ),
        org.registry_keeper_oid
    );
    let custodian = ["custodian", "assignedCustodian", "representedCustodianOrganization"];
    assert_eq!(
        attr(&root, &[&custodian[..], &["id"]].concat(), "root"),
        org.registry_keeper_oid
    );
    assert_eq!(
        root.path(&[&custodian[..], &["name"]].concat()).unwrap().text,
        "Turun kaupunki"
    );
    assert_eq!(
        attr(&root, &["documentationOf", "serviceEvent", "id"], "root"),
        ids.service_event_oid
    );

    let local = finnish(&root, "localHeader");
    for (name, code, system) in [
        ("serviceTask", "10", "1.2.246.537.6.1221"),
        ("documentGroup", "1", "1.2.246.537.6.1505"),
        ("serviceProcess", "2", "1.2.246.537.6.1277"),
    ] {
        let element = finnish(local, name);
        assert_eq!(element.attr("code"), Some(code), "{name}");
        assert_eq!(element.attr("codeSystem"), Some(system), "{name}");
    }
    let keeper = finnish(local, "registryKeeper");
    assert_eq!(
        finnish(keeper, "id").attr("root"),
        Some(org.registry_keeper_oid.as_str())
    );
    assert_eq!(finnish(keeper, "municipality").attr("code"), Some("853"));
    assert_eq!(
        finnish(keeper, "municipality").attr("codeSystem"),
        Some("1.2.246.537.6.21")
    );
    finnish(local, "retentionPeriodClass");
    finnish(local, "fileFormat");
}

#[test]
fn the_structured_content_is_base64_canonical_json() {
    let doc = example();
    let root = tree(&doc);
    let section = root
        .path(&["component", "structuredBody", "component", "section"])
        .unwrap();
    let names: Vec<&str> = section.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["title", "text", "json"]);
    let json = finnish(section, "json");
    let bytes = base64::engine::general_purpose::STANDARD.decode(&json.text).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), doc.content);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"channel":"phone","resolved_on_first_contact":true,"topic":"home_care"}"#
    );
}

#[test]
fn the_signature_template_is_the_last_child() {
    let root = tree(&example());
    let signatures = root.children.last().unwrap();
    assert!(signatures.is(NS_HL7FI, "signatures"));
    assert_eq!(signatures.children.len(), 1);
    let signature = &signatures.children[0];
    assert!(signature.is(NS_DS, "Signature"));
    let ds = |e: &'_ Element| -> Vec<String> { e.children.iter().map(|c| c.name.clone()).collect() };
    assert_eq!(ds(signature), ["SignedInfo", "SignatureValue", "KeyInfo"]);
    let info = &signature.children[0];
    assert_eq!(ds(info), ["CanonicalizationMethod", "SignatureMethod", "Reference"]);
    assert_eq!(info.children[0].attr("Algorithm"), Some(C14N_EXCLUSIVE));
    assert_eq!(info.children[1].attr("Algorithm"), Some(RSA_SHA256));
    let reference = &info.children[2];
    assert_eq!(reference.attr("URI"), Some(""));
    assert_eq!(ds(reference), ["Transforms", "DigestMethod", "DigestValue"]);
    let transforms: Vec<Option<&str>> = reference.children[0]
        .children
        .iter()
        .map(|t| t.attr("Algorithm"))
        .collect();
    assert_eq!(transforms, [Some(ENVELOPED_SIGNATURE), Some(C14N_EXCLUSIVE)]);
    assert_eq!(reference.children[1].attr("Algorithm"), Some(SHA256));
    assert_eq!(ds(&signature.children[2]), ["X509Data"]);
    assert_eq!(ds(&signature.children[2].children[0]), ["X509Certificate"]);
    assert!(signature.children[2].children[0].children[0].text.is_empty());
}

#[test]
fn hostile_text_is_escaped_and_stays_text() {
    let mut doc = example();
    let hostile = "</title><script>alert('x')</script> & <![CDATA[ ]]> &amp; \"q\"";
    doc.title = hostile.into();
    doc.person.family_name = Some(hostile.into());
    doc.author.name = hostile.into();
    doc.author.id = "a\"><x y=\"".into();
    doc.sections = vec![DisplaySection {
        heading: hostile.into(),
        paragraphs: vec![format!("{hostile}\nsecond line")],
    }];
    let xml = build_example(&doc);
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(
        !text.contains("<script>") && !text.contains("</title><script>"),
        "{text}"
    );
    assert!(text.contains("&lt;/title&gt;&lt;script&gt;"));
    assert!(text.contains("&amp;amp;"));
    let root = parse(&xml).unwrap();
    assert_eq!(root.child("title").unwrap().text, hostile);
    assert_eq!(
        attr(&root, &["author", "assignedAuthor", "id"], "extension"),
        "a\"><x y=\""
    );
    let text = root
        .path(&["component", "structuredBody", "component", "section", "text"])
        .unwrap();
    let paragraphs: Vec<&Element> = text.children_named("paragraph").collect();
    assert_eq!(paragraphs[paragraphs.len() - 2].text, hostile);
    assert_eq!(paragraphs.last().unwrap().children_named("br").count(), 1);
    assert_eq!(paragraphs.last().unwrap().text, format!("{hostile}second line"));
    assert_schema_valid(&xml);
}

#[test]
fn the_display_form_is_in_the_documents_language() {
    let mut doc = example();
    let fi = String::from_utf8(build_example(&doc)).unwrap();
    for label in [
        "Asiakirja",
        "Yhteydenottotiedot",
        "Asiakas",
        "Henkilötunnus",
        "Laatija",
        "Rekisterinpitäjä",
    ] {
        assert!(fi.contains(label), "{label}");
    }
    doc.language = Language::Sv;
    doc.sections = vec![DisplaySection {
        heading: "Orsak till kontakten".into(),
        paragraphs: vec!["Klienten frågade om hemvård.".into()],
    }];
    let sv = build_example(&doc);
    let root = parse(&sv).unwrap();
    assert_eq!(attr(&root, &["languageCode"], "code"), "sv-FI");
    assert_eq!(attr(&root, &["code"], "displayName"), "Kontaktuppgifter");
    let sv = String::from_utf8(sv).unwrap();
    for label in [
        "Handling",
        "Kontaktuppgifter",
        "Klient",
        "Personbeteckning",
        "Upprättad av",
        "Registeransvarig",
    ] {
        assert!(sv.contains(label), "{label}");
    }
    for finnish_label in ["Asiakirja", "Henkilötunnus", "Laatija"] {
        assert!(!sv.contains(finnish_label), "{finnish_label}");
    }
    assert!(sv.contains("Orsak till kontakten") && sv.contains("Klienten frågade om hemvård."));
    assert_schema_valid(sv.as_bytes());
}

#[test]
fn every_kind_and_a_new_version_validate_against_the_cda_schema() {
    let mut doc = example();
    for kind in [
        DocumentKind::ClientRelationship,
        DocumentKind::ContactRecord,
        DocumentKind::ServiceNeedAssessmentReferral,
    ] {
        doc.kind = kind;
        assert_schema_valid(&build_example(&doc));
    }
    doc.version = 2;
    doc.previous_document_oid = Some("1.2.246.10.1234567.14.2.42".into());
    doc.author = crate::model::Author {
        kind: AuthorKind::System,
        id: "1.2.246.10.1234567.14.1".into(),
        name: "Portti".into(),
    };
    doc.person.given_name = None;
    doc.person.family_name = None;
    doc.sections.clear();
    let xml = build_example(&doc);
    let root = parse(&xml).unwrap();
    assert_eq!(attr(&root, &["versionNumber"], "value"), "2");
    assert_eq!(
        attr(&root, &["relatedDocument", "parentDocument", "id"], "root"),
        "1.2.246.10.1234567.14.2.42"
    );
    assert_eq!(attr(&root, &["relatedDocument"], "typeCode"), "RPLC");
    assert_eq!(
        attr(&root, &["relatedDocument", "parentDocument", "versionNumber"], "value"),
        "1"
    );
    let name = root.path(&["recordTarget", "patientRole", "patient", "name"]).unwrap();
    assert_eq!(name.attr("nullFlavor"), Some("UNK"));
    assert!(name.children.is_empty());
    assert!(root
        .path(&["author", "assignedAuthor", "assignedAuthoringDevice", "softwareName"])
        .is_some());
    assert_eq!(
        attr(&root, &["author", "assignedAuthor", "id"], "root"),
        "1.2.246.10.1234567.14.1"
    );
    assert_schema_valid(&xml);
}

#[test]
fn the_schema_check_catches_a_broken_document() {
    let xml = String::from_utf8(build_example(&example())).unwrap();
    let broken = xml.replacen("<realmCode code=\"FI\"/>", "<realm code=\"FI\"/>", 1);
    let result = std::panic::catch_unwind(|| assert_schema_valid(broken.as_bytes()));
    assert!(result.is_err(), "xmllint must refuse an unknown element");
}
