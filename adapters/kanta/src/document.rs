//! The CDA R2 document with the Finnish extensions (`WIRE.md`, "The CDA document the archive
//! accepts"), built from an [`ArchiveDocument`] and the organisation's config alone: the same
//! payload gives the same bytes. The last child is `hl7fi:signatures` with an XML-DSig
//! template (empty digest, signature value and certificate) that [`crate::signature`] fills.

use crate::config::{is_oid, KantaOrganisation};
use crate::model::{ArchiveDocument, AuthorKind, DocumentKind, Language};
use crate::oid::DocumentIds;
use crate::xml::{XmlOut, NS_DS, NS_HL7, NS_HL7FI};
use base64::Engine;
use serde_json::Value;

pub const TEMPLATE_ID: &str = "1.2.246.777.11.2016.11";
pub const DOCUMENT_TYPE_SYSTEM: &str = "1.2.246.537.6.12.2002";
pub const CONFIDENTIALITY_SYSTEM: &str = "1.2.246.537.5.40228";
pub const PERSON_ID_ROOT: &str = "1.2.246.21";
pub const SERVICE_TASK_SYSTEM: &str = "1.2.246.537.6.1221";
pub const DOCUMENT_GROUP_SYSTEM: &str = "1.2.246.537.6.1505";
pub const SERVICE_PROCESS_SYSTEM: &str = "1.2.246.537.6.1277";
pub const MUNICIPALITY_SYSTEM: &str = "1.2.246.537.6.21";
/// `hl7fi:fileFormat/@code` of every document.
pub const FILE_FORMAT: &str = "CDA-R2";

pub const C14N_EXCLUSIVE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// What the document needs beyond the payload.
#[derive(Debug, Clone, Copy)]
pub struct DocumentContext<'a> {
    pub organisation: &'a KantaOrganisation,
    pub ids: &'a DocumentIds,
    /// `code/@code` (code system `1.2.246.537.6.12.2002`).
    pub type_code: &'a str,
    pub retention_period_class: &'a str,
}

/// Fixed labels of the display form.
struct Labels {
    document: &'static str,
    version: &'static str,
    client: &'static str,
    identity_code: &'static str,
    time: &'static str,
    author: &'static str,
    registry_keeper: &'static str,
}

const FI: Labels = Labels {
    document: "Asiakirja",
    version: "versio",
    client: "Asiakas",
    identity_code: "Henkilötunnus",
    time: "Aika",
    author: "Laatija",
    registry_keeper: "Rekisterinpitäjä",
};

const SV: Labels = Labels {
    document: "Handling",
    version: "version",
    client: "Klient",
    identity_code: "Personbeteckning",
    time: "Tidpunkt",
    author: "Upprättad av",
    registry_keeper: "Registeransvarig",
};

fn labels(language: Language) -> &'static Labels {
    match language {
        Language::Fi => &FI,
        Language::Sv => &SV,
    }
}

/// The name of a document kind in the document's language (`code/@displayName`, section title).
pub fn kind_name(kind: DocumentKind, language: Language) -> &'static str {
    match (kind, language) {
        (DocumentKind::ClientRelationship, Language::Fi) => "Asiakkuusasiakirja",
        (DocumentKind::ClientRelationship, Language::Sv) => "Klientskapshandling",
        (DocumentKind::ContactRecord, Language::Fi) => "Yhteydenottotiedot",
        (DocumentKind::ContactRecord, Language::Sv) => "Kontaktuppgifter",
        (DocumentKind::ServiceNeedAssessmentReferral, Language::Fi) => "Palvelutarpeen arvioinnin lähete",
        (DocumentKind::ServiceNeedAssessmentReferral, Language::Sv) => "Remiss för bedömning av servicebehov",
    }
}

/// HL7 `TS` in UTC: `yyyyMMddHHmmss`.
pub fn hl7_time(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y%m%d%H%M%S").to_string()
}

/// JSON with object keys sorted at every level, compact: one byte form per value.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sorted(value)).expect("a JSON value serialises")
}

/// The unsigned document (UTF-8, with an XML declaration and the signature template).
pub fn build(doc: &ArchiveDocument, cx: &DocumentContext) -> Vec<u8> {
    let org = cx.organisation;
    let ids = cx.ids;
    let language = doc.language;
    let time = hl7_time(&doc.effective_time);
    let version = doc.version.to_string();
    let confidentiality = doc.confidentiality.to_string();
    let kind_name = kind_name(doc.kind, language);

    let mut x = XmlOut::with_declaration();
    x.start("ClinicalDocument", &[("xmlns", NS_HL7), ("xmlns:hl7fi", NS_HL7FI)]);
    x.empty("realmCode", &[("code", "FI")]);
    x.empty(
        "typeId",
        &[("root", "2.16.840.1.113883.1.3"), ("extension", "POCD_HD000040")],
    );
    x.empty("templateId", &[("root", TEMPLATE_ID)]);
    x.empty("id", &[("root", &ids.document_oid)]);
    x.empty(
        "code",
        &[
            ("code", cx.type_code),
            ("codeSystem", DOCUMENT_TYPE_SYSTEM),
            ("displayName", kind_name),
        ],
    );
    x.leaf("title", &[], doc.title.trim());
    x.empty("effectiveTime", &[("value", &time)]);
    x.empty(
        "confidentialityCode",
        &[("code", &confidentiality), ("codeSystem", CONFIDENTIALITY_SYSTEM)],
    );
    x.empty("languageCode", &[("code", language.code())]);
    x.empty("setId", &[("root", &ids.set_id)]);
    x.empty("versionNumber", &[("value", &version)]);

    // recordTarget: the client.
    x.start("recordTarget", &[]).start("patientRole", &[]);
    x.empty(
        "id",
        &[("root", PERSON_ID_ROOT), ("extension", &doc.person.identity_code)],
    );
    let given = doc.person.given_name.as_deref().map(str::trim);
    let family = doc.person.family_name.as_deref().map(str::trim);
    x.start("patient", &[]);
    if given.is_some() || family.is_some() {
        x.start("name", &[]);
        if let Some(given) = given {
            x.leaf("given", &[], given);
        }
        if let Some(family) = family {
            x.leaf("family", &[], family);
        }
        x.end("name");
    } else {
        // The contract asks for the name; an unknown one is said so.
        x.empty("name", &[("nullFlavor", "UNK")]);
    }
    x.end("patient");
    x.end("patientRole").end("recordTarget");

    // author: the professional or the system, for the organisation.
    x.start("author", &[]);
    x.empty("time", &[("value", &time)]);
    x.start("assignedAuthor", &[]);
    let author_id = doc.author.id.trim();
    if is_oid(author_id) {
        x.empty("id", &[("root", author_id)]);
    } else {
        x.empty("id", &[("root", &org.sender_system_oid), ("extension", author_id)]);
    }
    match doc.author.kind {
        AuthorKind::Professional => {
            x.start("assignedPerson", &[]).leaf("name", &[], doc.author.name.trim());
            x.end("assignedPerson");
        }
        AuthorKind::System => {
            x.start("assignedAuthoringDevice", &[])
                .leaf("softwareName", &[], doc.author.name.trim());
            x.end("assignedAuthoringDevice");
        }
    }
    organisation(&mut x, "representedOrganization", org);
    x.end("assignedAuthor").end("author");

    // custodian: the registry keeper.
    x.start("custodian", &[]).start("assignedCustodian", &[]);
    organisation(&mut x, "representedCustodianOrganization", org);
    x.end("assignedCustodian").end("custodian");

    // documentationOf: the service event of the case.
    let service_event = doc.service_event_oid.as_deref().unwrap_or(&ids.service_event_oid);
    x.start("documentationOf", &[]).start("serviceEvent", &[]);
    x.empty("id", &[("root", service_event)]);
    x.start("effectiveTime", &[]).empty("low", &[("value", &time)]);
    x.end("effectiveTime");
    x.end("serviceEvent").end("documentationOf");

    // relatedDocument: the version this one replaces.
    if let Some(previous) = &doc.previous_document_oid {
        let previous_version = doc.version.saturating_sub(1).to_string();
        x.start("relatedDocument", &[("typeCode", "RPLC")])
            .start("parentDocument", &[]);
        x.empty("id", &[("root", previous)]);
        x.empty("setId", &[("root", &ids.set_id)]);
        x.empty("versionNumber", &[("value", &previous_version)]);
        x.end("parentDocument").end("relatedDocument");
    }

    // The Finnish local header, where Finnish documents carry it: after the CDA header.
    x.start("hl7fi:localHeader", &[]);
    x.empty(
        "hl7fi:serviceTask",
        &[("code", &doc.service_task), ("codeSystem", SERVICE_TASK_SYSTEM)],
    );
    x.empty(
        "hl7fi:documentGroup",
        &[("code", &doc.document_group), ("codeSystem", DOCUMENT_GROUP_SYSTEM)],
    );
    x.empty(
        "hl7fi:serviceProcess",
        &[("code", &doc.service_process), ("codeSystem", SERVICE_PROCESS_SYSTEM)],
    );
    x.start("hl7fi:registryKeeper", &[]);
    x.empty("hl7fi:id", &[("root", &org.registry_keeper_oid)]);
    x.empty(
        "hl7fi:municipality",
        &[("code", &org.municipality_code), ("codeSystem", MUNICIPALITY_SYSTEM)],
    );
    x.end("hl7fi:registryKeeper");
    x.empty("hl7fi:retentionPeriodClass", &[("code", cx.retention_period_class)]);
    x.empty("hl7fi:fileFormat", &[("code", FILE_FORMAT)]);
    x.end("hl7fi:localHeader");

    // The body: one section with the display form and the structured content.
    x.start("component", &[]).start("structuredBody", &[]);
    x.start("component", &[]).start("section", &[]);
    x.leaf("title", &[], kind_name);
    display_form(&mut x, doc, org, &ids.document_oid);
    let json = base64::engine::general_purpose::STANDARD.encode(canonical_json(&doc.content));
    x.leaf("hl7fi:json", &[], &json);
    x.end("section").end("component");
    x.end("structuredBody").end("component");

    signature_template(&mut x);
    x.end("ClinicalDocument");
    x.finish()
}

fn organisation(x: &mut XmlOut, element: &str, org: &KantaOrganisation) {
    x.start(element, &[]);
    x.empty("id", &[("root", &org.registry_keeper_oid)]);
    x.leaf("name", &[], org.name.trim());
    x.end(element);
}

/// The section's `text`: a header block with fixed labels, then each display section.
fn display_form(x: &mut XmlOut, doc: &ArchiveDocument, org: &KantaOrganisation, document_oid: &str) {
    let l = labels(doc.language);
    let name: Vec<&str> = [doc.person.given_name.as_deref(), doc.person.family_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .collect();
    let time = doc.effective_time.format("%Y-%m-%d %H:%M UTC").to_string();
    let document = format!(
        "{} ({} {}, {document_oid})",
        kind_name(doc.kind, doc.language),
        l.version,
        doc.version
    );
    let client = if name.is_empty() {
        doc.person.identity_code.clone()
    } else {
        name.join(" ")
    };
    x.start("text", &[]);
    let mut labelled = |label: &str, value: &str| {
        x.start("paragraph", &[]);
        x.leaf("content", &[("styleCode", "Bold")], label);
        x.text(&format!(": {value}"));
        x.end("paragraph");
    };
    labelled(l.document, &document);
    labelled(l.client, &client);
    labelled(l.identity_code, &doc.person.identity_code);
    labelled(l.time, &time);
    labelled(l.author, doc.author.name.trim());
    labelled(l.registry_keeper, org.name.trim());
    for section in &doc.sections {
        x.leaf("paragraph", &[("styleCode", "Bold")], section.heading.trim());
        for paragraph in &section.paragraphs {
            x.start("paragraph", &[]);
            // Line breaks of the text become <br/>.
            let normalised = paragraph.replace("\r\n", "\n").replace('\r', "\n");
            for (i, line) in normalised.split('\n').enumerate() {
                if i > 0 {
                    x.empty("br", &[]);
                }
                if !line.is_empty() {
                    x.text(line);
                }
            }
            x.end("paragraph");
        }
    }
    x.end("text");
}

/// `hl7fi:signatures/ds:Signature` as `WIRE.md` fixes it, with the values left empty.
fn signature_template(x: &mut XmlOut) {
    x.start("hl7fi:signatures", &[]);
    x.start("ds:Signature", &[("xmlns:ds", NS_DS)]);
    x.start("ds:SignedInfo", &[]);
    x.empty("ds:CanonicalizationMethod", &[("Algorithm", C14N_EXCLUSIVE)]);
    x.empty("ds:SignatureMethod", &[("Algorithm", RSA_SHA256)]);
    x.start("ds:Reference", &[("URI", "")]);
    x.start("ds:Transforms", &[]);
    x.empty("ds:Transform", &[("Algorithm", ENVELOPED_SIGNATURE)]);
    x.empty("ds:Transform", &[("Algorithm", C14N_EXCLUSIVE)]);
    x.end("ds:Transforms");
    x.empty("ds:DigestMethod", &[("Algorithm", SHA256)]);
    x.empty("ds:DigestValue", &[]);
    x.end("ds:Reference");
    x.end("ds:SignedInfo");
    x.empty("ds:SignatureValue", &[]);
    x.start("ds:KeyInfo", &[]).start("ds:X509Data", &[]);
    x.empty("ds:X509Certificate", &[]);
    x.end("ds:X509Data").end("ds:KeyInfo");
    x.end("ds:Signature");
    x.end("hl7fi:signatures");
}

#[cfg(test)]
pub(crate) mod tests;
