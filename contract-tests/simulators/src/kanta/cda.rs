//! The embedded CDA document: the Finnish header rules of WIRE.md ("The CDA document the archive accepts")
//! and the CDA R2 header order. Every error is the text of an `AE` `SCHEMA_INVALID` detail.

use super::message::{is_hl7_ts, is_oid, PERSON_ID_ROOT};
use super::xml::{self, Element, HL7, HL7FI};
use base64::Engine;

pub const TYPE_ID_ROOT: &str = "2.16.840.1.113883.1.3";
pub const TYPE_ID_EXTENSION: &str = "POCD_HD000040";
pub const TEMPLATE_ID: &str = "1.2.246.777.11.2016.11";
pub const CONFIDENTIALITY_CODE_SYSTEM: &str = "1.2.246.537.5.40228";
pub const SERVICE_TASK_CODE_SYSTEM: &str = "1.2.246.537.6.1221";
pub const DOCUMENT_GROUP_CODE_SYSTEM: &str = "1.2.246.537.6.1505";
pub const SERVICE_PROCESS_CODE_SYSTEM: &str = "1.2.246.537.6.1277";
pub const MUNICIPALITY_CODE_SYSTEM: &str = "1.2.246.537.6.21";

/// The order of the v3 children of `ClinicalDocument` in the CDA R2 schema (POCD_MT000040.ClinicalDocument).
const HEADER_ORDER: [&str; 27] = [
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
    "copyTime",
    "recordTarget",
    "author",
    "dataEnterer",
    "informant",
    "custodian",
    "informationRecipient",
    "legalAuthenticator",
    "authenticator",
    "participant",
    "inFulfillmentOf",
    "documentationOf",
    "relatedDocument",
    "authorization",
    "componentOf",
    "component",
];

/// What the archive takes from the document.
#[derive(Clone, Debug)]
pub struct Cda {
    pub oid: String,
    pub code: String,
    pub title: String,
    pub effective_time: String,
    pub set_id: String,
    pub version: u32,
    pub person: String,
    pub custodian: String,
    pub digest: String,
}

fn need<'e>(parent: &'e Element, ns: &str, name: &str, at: &str) -> Result<&'e Element, String> {
    parent
        .child(ns, name)
        .ok_or_else(|| format!("<{}> is missing under <{at}>", xml::display(ns, name)))
}

fn need_path<'e>(parent: &'e Element, names: &[&str], at: &str) -> Result<&'e Element, String> {
    let mut e = parent;
    let mut here = at.to_string();
    for name in names {
        e = need(e, HL7, name, &here)?;
        here = format!("{here}/{name}");
    }
    Ok(e)
}

fn attr<'e>(e: &'e Element, name: &str, what: &str) -> Result<&'e str, String> {
    e.attr_value(name).ok_or_else(|| format!("<{what}> has no {name}"))
}

fn attr_is(e: &Element, name: &str, expected: &str, what: &str) -> Result<(), String> {
    match e.attr(name) {
        Some(v) if v == expected => Ok(()),
        Some(v) => Err(format!("<{what}> {name} is '{v}', expected '{expected}'")),
        None => Err(format!("<{what}> has no {name} (expected '{expected}')")),
    }
}

fn oid(e: &Element, what: &str) -> Result<String, String> {
    let v = attr(e, "root", what)?;
    if is_oid(v) {
        Ok(v.to_string())
    } else {
        Err(format!("<{what}> root '{v}' is not an OID"))
    }
}

/// A coded `hl7fi:` element of the local header: `code` present, `codeSystem` as given.
fn coded(header: &Element, name: &str, code_system: &str) -> Result<(), String> {
    let what = format!("hl7fi:localHeader/hl7fi:{name}");
    let e = need(header, HL7FI, name, "hl7fi:localHeader")?;
    attr(e, "code", &what)?;
    attr_is(e, "codeSystem", code_system, &what)
}

/// Read a document and check it. `bytes` is the CDA as received.
pub fn check(bytes: &[u8]) -> Result<(Element, Cda), String> {
    let doc = xml::parse(bytes).map_err(|e| format!("the CDA document is not well-formed XML: {e}"))?;
    if !doc.is(HL7, "ClinicalDocument") {
        return Err(format!(
            "the root element is <{}> in '{}', expected <ClinicalDocument> in '{HL7}'",
            doc.name, doc.ns
        ));
    }
    let mut cda = header(&doc)?;
    cda.digest = xml::content_digest(&doc);
    Ok((doc, cda))
}

fn header(doc: &Element) -> Result<Cda, String> {
    const AT: &str = "ClinicalDocument";
    // Schema order of the v3 children (the hl7fi: extension elements may stand anywhere but the signatures,
    // checked with the signature).
    let mut last = 0;
    let mut last_name = "";
    for e in doc.elements() {
        if e.ns != HL7 {
            continue;
        }
        match HEADER_ORDER.iter().position(|n| *n == e.name) {
            None => return Err(format!("<{}> is not a child of <ClinicalDocument> in CDA R2", e.name)),
            Some(i) if i < last => {
                return Err(format!(
                    "<{}> stands after <{last_name}>: the CDA R2 header order is broken",
                    e.name
                ))
            }
            Some(i) => {
                last = i;
                last_name = HEADER_ORDER[i];
            }
        }
    }
    for single in [
        "typeId",
        "id",
        "code",
        "title",
        "effectiveTime",
        "confidentialityCode",
        "languageCode",
        "setId",
        "versionNumber",
        "custodian",
        "component",
    ] {
        if doc.children_named(HL7, single).count() > 1 {
            return Err(format!("<{single}> appears more than once under <ClinicalDocument>"));
        }
    }

    if !doc
        .children_named(HL7, "realmCode")
        .any(|e| e.attr("code") == Some("FI"))
    {
        return Err("<realmCode code=\"FI\"> is missing under <ClinicalDocument>".into());
    }
    let type_id = need(doc, HL7, "typeId", AT)?;
    attr_is(type_id, "root", TYPE_ID_ROOT, "typeId")?;
    attr_is(type_id, "extension", TYPE_ID_EXTENSION, "typeId")?;
    if !doc
        .children_named(HL7, "templateId")
        .any(|e| e.attr("root") == Some(TEMPLATE_ID))
    {
        return Err(format!(
            "<templateId root=\"{TEMPLATE_ID}\"> is missing under <ClinicalDocument>"
        ));
    }
    let document_oid = oid(need(doc, HL7, "id", AT)?, "id")?;
    let code = attr(need(doc, HL7, "code", AT)?, "code", "code")?.to_string();
    let title = need(doc, HL7, "title", AT)?.text().trim().to_string();
    if title.is_empty() {
        return Err("<title> is empty".into());
    }
    let effective_time = attr(need(doc, HL7, "effectiveTime", AT)?, "value", "effectiveTime")?.to_string();
    if !is_hl7_ts(&effective_time) {
        return Err(format!(
            "<effectiveTime> value '{effective_time}' is not a UTC yyyyMMddHHmmss"
        ));
    }
    let confidentiality = need(doc, HL7, "confidentialityCode", AT)?;
    attr_is(
        confidentiality,
        "codeSystem",
        CONFIDENTIALITY_CODE_SYSTEM,
        "confidentialityCode",
    )?;
    let level = attr(confidentiality, "code", "confidentialityCode")?;
    if !["1", "2", "3"].contains(&level) {
        return Err(format!("<confidentialityCode> code '{level}' is not 1, 2 or 3"));
    }
    let language = attr(need(doc, HL7, "languageCode", AT)?, "code", "languageCode")?;
    if !["fi-FI", "sv-FI"].contains(&language) {
        return Err(format!("<languageCode> code '{language}' is not fi-FI or sv-FI"));
    }
    let set_id = oid(need(doc, HL7, "setId", AT)?, "setId")?;
    let version_text = attr(need(doc, HL7, "versionNumber", AT)?, "value", "versionNumber")?;
    let version = match version_text.parse::<u32>() {
        Ok(n) if n >= 1 && !version_text.starts_with('+') => n,
        _ => {
            return Err(format!(
                "<versionNumber> value '{version_text}' is not a positive integer"
            ))
        }
    };

    let local = need(doc, HL7FI, "localHeader", AT)?;
    coded(local, "serviceTask", SERVICE_TASK_CODE_SYSTEM)?;
    coded(local, "documentGroup", DOCUMENT_GROUP_CODE_SYSTEM)?;
    coded(local, "serviceProcess", SERVICE_PROCESS_CODE_SYSTEM)?;
    let keeper = need(local, HL7FI, "registryKeeper", "hl7fi:localHeader")?;
    need(local, HL7FI, "retentionPeriodClass", "hl7fi:localHeader")?;
    need(local, HL7FI, "fileFormat", "hl7fi:localHeader")?;

    let patient_role = need_path(doc, &["recordTarget", "patientRole"], AT)?;
    let person_id = patient_role
        .children_named(HL7, "id")
        .find(|e| e.attr("root") == Some(PERSON_ID_ROOT))
        .ok_or_else(|| {
            format!("<id root=\"{PERSON_ID_ROOT}\"> is missing under <ClinicalDocument/recordTarget/patientRole>")
        })?;
    let person = attr(person_id, "extension", "recordTarget/patientRole/id")?.to_string();
    need_path(
        patient_role,
        &["patient", "name"],
        "ClinicalDocument/recordTarget/patientRole",
    )?;

    let author = need(doc, HL7, "author", AT)?;
    attr(
        need(author, HL7, "time", "ClinicalDocument/author")?,
        "value",
        "author/time",
    )?;
    let assigned = need(author, HL7, "assignedAuthor", "ClinicalDocument/author")?;
    oid_or_ext(
        need(assigned, HL7, "id", "ClinicalDocument/author/assignedAuthor")?,
        "author/assignedAuthor/id",
    )?;
    oid(
        need_path(
            assigned,
            &["representedOrganization", "id"],
            "ClinicalDocument/author/assignedAuthor",
        )?,
        "author/assignedAuthor/representedOrganization/id",
    )?;

    let custodian = oid(
        need_path(
            doc,
            &[
                "custodian",
                "assignedCustodian",
                "representedCustodianOrganization",
                "id",
            ],
            AT,
        )?,
        "custodian/assignedCustodian/representedCustodianOrganization/id",
    )?;
    registry_keeper(keeper, &custodian)?;

    let service_event = need_path(doc, &["documentationOf", "serviceEvent"], AT)?;
    need(
        service_event,
        HL7,
        "id",
        "ClinicalDocument/documentationOf/serviceEvent",
    )?;
    need(
        service_event,
        HL7,
        "effectiveTime",
        "ClinicalDocument/documentationOf/serviceEvent",
    )?;

    body(doc)?;

    Ok(Cda {
        oid: document_oid,
        code,
        title,
        effective_time,
        set_id,
        version,
        person,
        custodian,
        digest: String::new(),
    })
}

/// An `id` with an OID root (an extension may qualify it).
fn oid_or_ext(e: &Element, what: &str) -> Result<(), String> {
    oid(e, what).map(|_| ())
}

/// `hl7fi:registryKeeper` names the registry keeper (the custodian's OID) and its municipality code (code
/// system `1.2.246.537.6.21`), as attributes on it or on elements under it.
fn registry_keeper(keeper: &Element, custodian: &str) -> Result<(), String> {
    let mut all = vec![keeper];
    all.extend(keeper.descendants());
    if !all.iter().any(|e| e.attrs.iter().any(|a| a.value == custodian)) {
        return Err(format!(
            "<hl7fi:localHeader/hl7fi:registryKeeper> does not name the custodian '{custodian}'"
        ));
    }
    if !all
        .iter()
        .any(|e| e.attr("codeSystem") == Some(MUNICIPALITY_CODE_SYSTEM) && e.attr_value("code").is_some())
    {
        return Err(format!(
            "<hl7fi:localHeader/hl7fi:registryKeeper> has no municipality code (codeSystem {MUNICIPALITY_CODE_SYSTEM})"
        ));
    }
    Ok(())
}

fn body(doc: &Element) -> Result<(), String> {
    let structured = need_path(doc, &["component", "structuredBody"], "ClinicalDocument")?;
    let sections: Vec<&Element> = structured
        .children_named(HL7, "component")
        .filter_map(|c| c.child(HL7, "section"))
        .collect();
    if sections.is_empty() {
        return Err("<component/section> is missing under <ClinicalDocument/component/structuredBody>".into());
    }
    for section in &sections {
        let text = need(section, HL7, "text", "structuredBody/component/section")?;
        if text.children.is_empty() {
            return Err("<structuredBody/component/section/text> is empty".into());
        }
    }
    let jsons: Vec<&Element> = structured
        .descendants()
        .into_iter()
        .filter(|e| e.is(HL7FI, "json"))
        .collect();
    if jsons.is_empty() {
        return Err("<hl7fi:json> is missing under <structuredBody/component/section>".into());
    }
    for json in jsons {
        let b64: String = json.text().chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| format!("<hl7fi:json> is not Base64: {e}"))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "<hl7fi:json> is not UTF-8 JSON".to_string())?;
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("<hl7fi:json> does not decode as JSON: {e}"))?;
    }
    Ok(())
}
