//! Golden files: one document of each kind in Finnish and in Swedish, built from fixed payloads,
//! byte for byte as `document::build` makes them (unsigned), and one of them signed through the
//! adapter with the demo key `certs-example/kanta-signing-853.key` (RSA PKCS#1 v1.5 signatures
//! are deterministic, so the signed bytes are stable for a fixed key and certificate).
//!
//! A change in the bytes fails with the first differing element; when the change is intended,
//! rewrite the files and review them in the diff:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p portti-kanta --test golden
//! ```

use portti_adapter_core::ClientIdentity;
use portti_kanta::document::{self, DocumentContext};
use portti_kanta::{ArchiveDocument, DocumentIds, DocumentKind, KantaAdapter, KantaConfig, KantaOrganisation};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
}

/// Turku (853), as the sandbox configures it.
fn turku() -> KantaOrganisation {
    KantaOrganisation {
        name: "Turun kaupunki".into(),
        sender_system_oid: "1.2.246.10.1234567.14.1".into(),
        registry_keeper_oid: "1.2.246.10.1234567.10".into(),
        municipality_code: "853".into(),
        document_oid_root: "1.2.246.10.1234567.14.2".into(),
        signing_key: certs().join("kanta-signing-853.key"),
        signing_certificate: certs().join("kanta-signing-853.pem"),
        // The mutual TLS identity the adapter demands; never used here.
        identity: Some(ClientIdentity::Pem {
            cert: certs().join("ohjaus-853.pem"),
            key: certs().join("ohjaus-853.key"),
        }),
    }
}

fn config() -> KantaConfig {
    let mut organisations = BTreeMap::new();
    organisations.insert("853".to_owned(), turku());
    // Never contacted: the tests only build documents.
    KantaConfig::new("https://127.0.0.1:9/sosiaalihuolto/arkisto", organisations)
}

/// A Finnish-speaking client of Turku: one case, three documents.
fn finnish(kind: DocumentKind) -> Value {
    let (title, author, service_process, content, sections) = match kind {
        DocumentKind::ClientRelationship => (
            "Asiakkuuden alkaminen: aikuissosiaalityö",
            json!({"kind": "professional", "id": "sosiaalityontekija-42", "name": "Päivi Lähteenmäki"}),
            "1",
            json!({
                "relationship": "started",
                "started_on": "2025-11-03",
                "service": "adult_social_work",
                "responsible_unit": "Aikuissosiaalityö, Turku",
                "responsible_worker": "sosiaalityontekija-42"
            }),
            json!([
                {"heading": "Asiakkuuden peruste", "paragraphs": [
                    "Asiakkuus alkoi asiakkaan omasta yhteydenotosta. Asiakas on 53-vuotias ja asuu yksin Turussa.",
                    "Asiakas & hänen tyttärensä toivovat tukea kotona pärjäämiseen; nettotulot < 1 200 €/kk."
                ]},
                {"heading": "Vastuutyöntekijä", "paragraphs": ["Päivi Lähteenmäki, sosiaalityöntekijä\nAikuissosiaalityö, Turku"]}
            ]),
        ),
        DocumentKind::ContactRecord => (
            "Yhteydenotto: puhelu asiakasohjaukseen",
            json!({"kind": "system", "id": "1.2.246.10.1234567.14.1", "name": "Portti"}),
            "2",
            json!({
                "channel": "phone",
                "contacted_by": "client",
                "topic": "home_care",
                "received_at": "2025-11-03T07:42:00Z",
                "resolved_on_first_contact": false,
                "next_step": "service_need_assessment"
            }),
            json!([
                {"heading": "Yhteydenoton syy", "paragraphs": [
                    "Asiakas soitti ja kertoi, että kotona pärjääminen on vaikeutunut syksyn aikana.",
                    "Kauppa- & apteekkiasiointi ei onnistu: kävelymatka < 200 m ilman taukoa."
                ]},
                {"heading": "Toimenpiteet", "paragraphs": [
                    "Neuvottu kotihoidon palveluista.\nOhjattu palvelutarpeen arviointiin."
                ]}
            ]),
        ),
        DocumentKind::ServiceNeedAssessmentReferral => (
            "Lähete palvelutarpeen arviointiin",
            json!({"kind": "professional", "id": "ohjaaja-17", "name": "Sari Mäkelä"}),
            "3",
            json!({
                "referred_to": "service_need_assessment",
                "reason": "home_care",
                "urgency": "within_7_working_days",
                "client_consent": true,
                "municipality_of_residence": "853"
            }),
            json!([
                {"heading": "Lähetteen syy", "paragraphs": [
                    "Asiakkaan toimintakyky on heikentynyt; hän tarvitsee apua peseytymisessä & siivouksessa.",
                    "Asiakas antoi suostumuksen tietojen luovuttamiseen arvioinnin tekijälle."
                ]},
                {"heading": "Kiireellisyys", "paragraphs": ["Arvio 7 arkipäivän kuluessa (<= 7 vrk).\nYhteyshenkilönä asiakkaan tytär."]}
            ]),
        ),
    };
    payload(
        "0193a1c2-5e4f-7b21-8a3d-4c5e6f708192",
        kind,
        json!({"identity_code": "140372-924U", "given_name": "Väinö", "family_name": "Häkkinen"}),
        author,
        "fi",
        "2025-11-03T07:42:00Z",
        service_process,
        title,
        content,
        sections,
    )
}

/// A Swedish-speaking client in Åbo (Turku): one case, three documents.
fn swedish(kind: DocumentKind) -> Value {
    let (title, author, service_process, content, sections) = match kind {
        DocumentKind::ClientRelationship => (
            "Klientskapets början: socialt arbete för vuxna",
            json!({"kind": "professional", "id": "socialarbetare-8", "name": "Göran Sjöberg"}),
            "1",
            json!({
                "relationship": "started",
                "started_on": "2025-11-04",
                "service": "adult_social_work",
                "responsible_unit": "Socialt arbete för vuxna, Åbo",
                "responsible_worker": "socialarbetare-8"
            }),
            json!([
                {"heading": "Grund för klientskapet", "paragraphs": [
                    "Klientskapet började efter att klienten själv tog kontakt. Klienten är 69 år och bor ensam i Åbo.",
                    "Klienten & hennes son önskar stöd i vardagen; nettoinkomst < 1 400 €/mån."
                ]},
                {"heading": "Ansvarig arbetstagare", "paragraphs": ["Göran Sjöberg, socialarbetare\nSocialt arbete för vuxna, Åbo"]}
            ]),
        ),
        DocumentKind::ContactRecord => (
            "Kontakt: samtal till klienthandledningen",
            json!({"kind": "system", "id": "1.2.246.10.1234567.14.1", "name": "Portti"}),
            "2",
            json!({
                "channel": "phone",
                "contacted_by": "relative",
                "topic": "home_care",
                "received_at": "2025-11-04T12:05:00Z",
                "resolved_on_first_contact": false,
                "next_step": "service_need_assessment"
            }),
            json!([
                {"heading": "Orsak till kontakten", "paragraphs": [
                    "Klientens son ringde och berättade att klienten har svårt att klara sig hemma efter en fallolycka.",
                    "Mat- & apoteksärenden lyckas inte: gångsträcka < 100 m utan paus."
                ]},
                {"heading": "Åtgärder", "paragraphs": [
                    "Rådgivning om hemvård.\nHänvisad till bedömning av servicebehov."
                ]}
            ]),
        ),
        DocumentKind::ServiceNeedAssessmentReferral => (
            "Remiss till bedömning av servicebehov",
            json!({"kind": "professional", "id": "handledare-5", "name": "Åsa Lindqvist"}),
            "3",
            json!({
                "referred_to": "service_need_assessment",
                "reason": "home_care",
                "urgency": "within_7_working_days",
                "client_consent": true,
                "municipality_of_residence": "853"
            }),
            json!([
                {"heading": "Orsak till remissen", "paragraphs": [
                    "Klientens funktionsförmåga har försämrats; hon behöver hjälp med tvätt & städning.",
                    "Klienten gav sitt samtycke till att uppgifterna lämnas ut till den som gör bedömningen."
                ]},
                {"heading": "Brådskande", "paragraphs": ["Bedömning inom 7 vardagar (<= 7 dygn).\nKontaktperson är klientens son."]}
            ]),
        ),
    };
    payload(
        "0193a1c2-9d10-7e42-b1c3-d4e5f6a7b8c9",
        kind,
        json!({"identity_code": "080956-9373", "given_name": "Märta", "family_name": "Åström"}),
        author,
        "sv",
        "2025-11-04T12:05:00Z",
        service_process,
        title,
        content,
        sections,
    )
}

#[allow(clippy::too_many_arguments)]
fn payload(
    case_id: &str,
    kind: DocumentKind,
    person: Value,
    author: Value,
    language: &str,
    effective_time: &str,
    service_process: &str,
    title: &str,
    content: Value,
    sections: Value,
) -> Value {
    json!({
        "organisation": "853",
        "case_id": case_id,
        "kind": kind,
        "version": 1,
        "person": person,
        "author": author,
        "language": language,
        "effective_time": effective_time,
        "service_task": "10",
        "document_group": "1",
        "service_process": service_process,
        "confidentiality": 3,
        "title": title,
        "content": content,
        "sections": sections,
    })
}

const KINDS: [DocumentKind; 3] = [
    DocumentKind::ClientRelationship,
    DocumentKind::ContactRecord,
    DocumentKind::ServiceNeedAssessmentReferral,
];

fn archive_document(payload: Value) -> ArchiveDocument {
    let doc: ArchiveDocument = serde_json::from_value(payload).expect("the fixed payload parses");
    let problems = portti_kanta::validate_archive(&doc);
    assert!(problems.is_empty(), "the fixed payload is invalid: {problems:?}");
    doc
}

/// The unsigned document as the adapter builds it with the default configuration.
fn unsigned(config: &KantaConfig, doc: &ArchiveDocument) -> Vec<u8> {
    let org = &config.organisations[&doc.organisation];
    let ids = DocumentIds::new(&org.document_oid_root, &doc.case_id, doc.kind, doc.version);
    document::build(
        doc,
        &DocumentContext {
            organisation: org,
            ids: &ids,
            type_code: config.document_types.code(doc.kind),
            retention_period_class: &config.retention_period_class,
        },
    )
}

/// Every golden file and the bytes built now.
fn built() -> Vec<(String, Vec<u8>)> {
    let config = config();
    let mut out = Vec::new();
    for (language, make) in [("fi", finnish as fn(DocumentKind) -> Value), ("sv", swedish)] {
        for kind in KINDS {
            let doc = archive_document(make(kind));
            out.push((format!("{}.{language}.xml", kind.as_str()), unsigned(&config, &doc)));
        }
    }
    let adapter = KantaAdapter::new(config).expect("the adapter is made with the demo signing key");
    let doc = archive_document(swedish(DocumentKind::ClientRelationship));
    let signed = adapter.build_document(&doc).expect("builds and signs").signed;
    out.push(("client_relationship.sv.signed.xml".into(), signed));
    out
}

/// The bytes as one element (start, end or empty tag with the text before it) per line.
fn tags(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split_inclusive('>')
        .map(str::to_owned)
        .collect()
}

/// Where `expected` and `actual` first differ, with a few elements around it.
fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let (want, got) = (tags(expected), tags(actual));
    let at = want
        .iter()
        .zip(&got)
        .position(|(w, g)| w != g)
        .unwrap_or(want.len().min(got.len()));
    let offset: usize = want[..at].iter().map(String::len).sum();
    // A few elements either side; the first differing one marked with `>`.
    let window = |lines: &[String]| {
        let from = at.saturating_sub(3).min(lines.len());
        lines[from..(at + 3).min(lines.len())]
            .iter()
            .enumerate()
            .map(|(i, l)| format!("  {} {l}", if from + i == at { '>' } else { ' ' }))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "first difference at element {at} (byte {offset}; golden {} bytes, built {} bytes)\n  golden:\n{}\n  built:\n{}",
        expected.len(),
        actual.len(),
        window(&want),
        window(&got)
    )
}

#[test]
fn documents_match_the_golden_files() {
    let dir = golden_dir();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0");
    let actual_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden");
    let mut failures = Vec::new();
    for (name, bytes) in built() {
        let path = dir.join(&name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            eprintln!("rewrote {}", path.display());
            continue;
        }
        let Ok(golden) = std::fs::read(&path) else {
            failures.push(format!("{name}: {} is missing", path.display()));
            continue;
        };
        if golden != bytes {
            std::fs::create_dir_all(&actual_dir).unwrap();
            let actual = actual_dir.join(&name);
            std::fs::write(&actual, &bytes).unwrap();
            failures.push(format!(
                "{name}: the built document differs from the golden file\n{}\n  compare: diff <(xmllint --format {}) <(xmllint --format {})",
                first_difference(&golden, &bytes),
                path.display(),
                actual.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended: UPDATE_GOLDEN=1 cargo test -p portti-kanta --test golden, then review the \
         files in the diff.",
        failures.join("\n\n")
    );
}

#[test]
fn signing_is_deterministic() {
    // The signed golden file is only stable if the same input signs to the same bytes.
    let adapter = KantaAdapter::new(config()).unwrap();
    let doc = archive_document(swedish(DocumentKind::ClientRelationship));
    let first = adapter.build_document(&doc).unwrap().signed;
    let second = adapter.build_document(&doc).unwrap().signed;
    assert_eq!(first, second, "{}", first_difference(&first, &second));
}

#[test]
fn the_golden_payloads_cover_both_languages_and_hostile_text() {
    for (language, make) in [("fi", finnish as fn(DocumentKind) -> Value), ("sv", swedish)] {
        for kind in KINDS {
            let payload = make(kind);
            assert_eq!(payload["language"], language);
            let text = payload["sections"].to_string();
            assert!(text.contains('&') && text.contains('<'), "{language} {kind:?}");
            let doc = unsigned(&config(), &archive_document(payload));
            let doc = String::from_utf8(doc).unwrap();
            assert!(doc.contains("&amp;") && doc.contains("&lt;"), "{language} {kind:?}");
            assert!(doc.contains("<br/>"), "{language} {kind:?}: a line break becomes <br/>");
        }
    }
}
