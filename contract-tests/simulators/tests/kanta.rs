//! The Kanta social welfare archive simulator against WIRE.md: transport, wrapper, archive, versions,
//! invalidation, queries, the CDA and signature checks, the control endpoints.

mod kanta_support;

use base64::Engine;
use kanta_support::*;
use portti_simulators::kanta::{DocumentStatus, LoggedRequest};
use reqwest::StatusCode;
use serde_json::Value;

// ---- transport ----

#[tokio::test]
async fn the_handshake_needs_a_client_certificate_from_the_trusted_ca() {
    let sim = Sim::start().await;
    let url = sim.url("/_simulator/documents");
    assert!(
        client_with(None).get(&url).send().await.is_err(),
        "no client certificate"
    );
    assert!(
        client_with(Some("untrusted-client")).get(&url).send().await.is_err(),
        "a client certificate from another CA"
    );
    let response = client_with(Some("ohjaus-853")).get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(sim.running.base_url().starts_with("https://127.0.0.1:"));
}

#[tokio::test]
async fn content_type_size_and_unreadable_xml_are_http_errors() {
    let mut config = config();
    config.max_body_bytes = 64 * 1024;
    let sim = Sim::start_with(config).await;
    let doc = Doc::new(1);
    let (status, _) = sim.post_as("application/json", doc.archive_message()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = sim.post_as("text/xml; charset=iso-8859-1", doc.archive_message()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // text/xml without a charset is fine.
    let (status, _) = sim.post_as("text/xml", doc.archive_message()).await;
    assert_eq!(status, StatusCode::OK);

    for (body, says) in [
        ("<RCMR_IN000002FI01 xmlns=\"urn:hl7-org:v3\"><id>", "end of input"),
        ("not xml at all", "cannot be read"),
        (
            "<!DOCTYPE x [<!ENTITY e \"boom\">]><RCMR_IN000002FI01 xmlns=\"urn:hl7-org:v3\">&e;</RCMR_IN000002FI01>",
            "DOCTYPE",
        ),
        (
            "<RCMR_IN000002FI01 xmlns=\"urn:hl7-org:v3\">&e;</RCMR_IN000002FI01>",
            "undeclared entity",
        ),
        ("<RCMR_IN000002FI01 xmlns=\"urn:example\"/>", "not 'urn:hl7-org:v3'"),
        ("<RCMR_IN000002FI01/>", "not 'urn:hl7-org:v3'"),
    ] {
        let (status, text) = sim.post(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(text.contains(says), "{body}: {text}");
    }

    let (status, _) = sim.post(vec![b' '; 70 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let other = sim
        .http
        .post(sim.url("/elsewhere"))
        .header("Content-Type", "text/xml")
        .body(doc.archive_message())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let get = sim.http.get(sim.running.endpoint()).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        sim.control().documents().len(),
        1,
        "only the text/xml archive went through"
    );
}

// ---- wrapper ----

#[tokio::test]
async fn wrapper_rules_are_checked_strictly_and_answered_ar_syntax() {
    let sim = Sim::start().await;
    let doc = Doc::new(1);
    let good = doc.archive_message();
    let sender = doc.sender();
    let cases: Vec<(String, &str)> = vec![
        (good.replace("ITSVersion=\"XML_1.0\"", "ITSVersion=\"XML_2.0\""), "ITSVersion"),
        (
            good.replace("RCMR_IN000002FI01 xmlns", "RCMR_IN999999FI01 xmlns")
                .replace("</RCMR_IN000002FI01>", "</RCMR_IN999999FI01>"),
            "RCMR_IN999999FI01 is not served",
        ),
        (
            good.replace("extension=\"RCMR_IN000002FI01\"", "extension=\"RCMR_IN000004FI01\""),
            "<interactionId> extension",
        ),
        (
            good.replace("root=\"2.16.840.1.113883.1.6\"", "root=\"2.16.840.1.113883.1.7\""),
            "<interactionId> root",
        ),
        (
            good.replace("<processingCode code=\"P\"/>", "<processingCode code=\"X\"/>"),
            "processingCode",
        ),
        (
            good.replace("<processingModeCode code=\"T\"/>", "<processingModeCode code=\"A\"/>"),
            "processingModeCode",
        ),
        (
            good.replace("<acceptAckCode code=\"AL\"/>", "<acceptAckCode code=\"NE\"/>"),
            "acceptAckCode",
        ),
        (good.replace("1.2.246.10.2.1", "1.2.246.10.2.9"), "not this archive"),
        (
            good.replace("<creationTime value=\"20260301101600\"/>", "<creationTime value=\"2026-03-01\"/>"),
            "creationTime",
        ),
        (
            {
                // creationTime and id swapped: wrong order.
                let id_line = good.lines().find(|l| l.trim_start().starts_with("<id root=")).unwrap();
                let time_line = "  <creationTime value=\"20260301101600\"/>";
                good.replacen(id_line, "@@", 1)
                    .replacen(time_line, id_line, 1)
                    .replacen("@@", time_line, 1)
            },
            "wrong order",
        ),
        (
            good.replace(
                &format!(
                    "<sender typeCode=\"SND\"><device classCode=\"DEV\" determinerCode=\"INSTANCE\"><id root=\"{sender}\"/></device></sender>"
                ),
                "",
            ),
            "<sender> belongs",
        ),
        (
            good.replace("<acceptAckCode code=\"AL\"/>", "<acceptAckCode code=\"AL\"/><extra/>"),
            "unexpected <extra>",
        ),
        (
            good.replace("typeCode=\"SUBJ\"", "typeCode=\"COMP\""),
            "<subject> typeCode",
        ),
        (
            good.replace("codeSystem=\"1.2.246.537.6.12.2002\"/><text", "codeSystem=\"1.2.3\"/><text"),
            "document/code",
        ),
        (
            good.replace("representation=\"B64\">", "representation=\"B64\">!!"),
            "not Base64",
        ),
    ];
    for (body, says) in cases {
        let ack = sim.ack(body).await;
        let text = ack.expect("AR", "SYNTAX");
        assert!(text.contains(says), "expected '{says}' in '{text}'");
        assert_eq!(ack.details[0].0, "E");
    }
    // An upper-case message id is not the contract's.
    let id = message_id().to_uppercase();
    let ack = sim
        .ack(message_with_id(
            ARCHIVE,
            &sender,
            &doc.document_element(&doc.cda()),
            &id,
        ))
        .await;
    assert!(ack.expect("AR", "SYNTAX").contains("lower-case UUID"));
    assert_eq!(ack.target, id, "the target is the request's id even so");
    assert!(sim.control().documents().is_empty());
}

#[tokio::test]
async fn acknowledgements_mirror_the_request() {
    let sim = Sim::start().await;
    let doc = Doc::new(1);
    let id = message_id();
    let body = message_with_id(ARCHIVE, &doc.sender(), &doc.document_element(&doc.cda()), &id)
        .replace("<processingCode code=\"P\"/>", "<processingCode code=\"T\"/>");
    let response = sim
        .http
        .post(sim.running.endpoint())
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let ack = Ack::read(&response.text().await.unwrap());
    assert_eq!(ack.type_code, "AA");
    assert_eq!(ack.target, id);
    let xml = &ack.xml;
    assert!(xml.contains(r#"<interactionId root="2.16.840.1.113883.1.6" extension="MCCI_IN000002UV01"/>"#));
    assert!(xml.contains(r#"<processingCode code="T"/><processingModeCode code="T"/><acceptAckCode code="NE"/>"#));
    assert!(xml.contains(&format!(
        r#"<receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="{}"/></device></receiver><sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="1.2.246.10.2.1"/></device></sender><acknowledgement typeCode="AA">"#,
        doc.sender()
    )));
    let ack_id = attr_after(xml, "<id ", "root").unwrap();
    assert!(uuid::Uuid::parse_str(&ack_id).is_ok());
    let time = attr_after(xml, "<creationTime ", "value").unwrap();
    assert_eq!(time.len(), 14);
}

// ---- archive ----

#[tokio::test]
async fn archive_then_identical_repeat_then_different_content() {
    let sim = Sim::start().await;
    let control = sim.control();
    let doc = Doc::new(1);
    sim.archive_ok(&doc).await;
    let stored = control.document(&doc.oid).unwrap();
    assert_eq!(
        (
            stored.set_id.as_str(),
            stored.version,
            stored.person.as_str(),
            stored.status,
            stored.code.as_str()
        ),
        (doc.set_id.as_str(), 1, PERSON, DocumentStatus::Active, "SOS_ASKERT")
    );
    assert_eq!(stored.custodian, doc.keeper());
    assert_eq!(stored.sender, doc.sender());
    assert_eq!(stored.effective_time, "20260301101500");
    assert_eq!(stored.cda, doc.cda());
    assert_eq!(stored.content_digest.len(), 64);

    // The same document again, signed by the other trusted key: the signature does not count.
    let resigned = doc.cda_signed_by(rotated_signer());
    assert_ne!(resigned, doc.cda());
    let ack = sim.ack(doc.message_with_cda(&resigned)).await;
    ack.expect("AA", "DOCUMENT_EXISTS_IDENTICAL");
    assert_eq!(ack.details[0].0, "I");
    // And once more, byte for byte.
    sim.ack(doc.archive_message())
        .await
        .expect("AA", "DOCUMENT_EXISTS_IDENTICAL");
    assert_eq!(control.archive_count(&doc.oid), 3);
    assert_eq!(control.documents().len(), 1);
    assert_eq!(
        control.document(&doc.oid).unwrap().cda,
        doc.cda(),
        "the original is kept"
    );

    let mut changed = doc.clone();
    changed.text = "Asiakas ei tarvitse palveluja.".into();
    let ack = sim.ack(changed.archive_message()).await;
    assert!(ack.expect("AE", "DOCUMENT_EXISTS_DIFFERENT").contains(&doc.oid));
    assert_eq!(control.archive_count(&doc.oid), 4);
    assert_eq!(control.document(&doc.oid).unwrap().archive_count, 4);
    assert_eq!(
        control.document(&doc.oid).unwrap().content_digest,
        stored.content_digest
    );

    // A new document in a set that already exists is a version conflict.
    let mut same_set = Doc::new(2);
    same_set.set_id = doc.set_id.clone();
    sim.ack(same_set.archive_message())
        .await
        .expect("AE", "VERSION_CONFLICT");
}

#[tokio::test]
async fn new_versions_follow_the_current_version() {
    let sim = Sim::start().await;
    let control = sim.control();
    let v1 = Doc::new(1);
    sim.archive_ok(&v1).await;
    let v2 = v1.next_version();
    sim.archive_ok(&v2).await;
    let stored_v1 = control.document(&v1.oid).unwrap();
    assert_eq!(stored_v1.status, DocumentStatus::Obsolete);
    assert_eq!(stored_v1.replaced_by.as_deref(), Some(v2.oid.as_str()));
    let stored_v2 = control.document(&v2.oid).unwrap();
    assert_eq!((stored_v2.status, stored_v2.version), (DocumentStatus::Active, 2));
    assert_eq!(stored_v2.replaces.as_deref(), Some(v1.oid.as_str()));

    // A retried new version is identical, although its parent is no longer current.
    sim.ack(v2.archive_message())
        .await
        .expect("AA", "DOCUMENT_EXISTS_IDENTICAL");

    // Another version 2 from v1 (no longer current).
    let mut fork = v1.next_version();
    fork.oid = format!("{}.99", v2.oid);
    let text = sim
        .ack(fork.archive_message())
        .await
        .expect("AE", "VERSION_CONFLICT")
        .to_string();
    assert!(text.contains("not current"), "{text}");

    // Version 4 after version 2.
    let mut skip = v2.next_version();
    skip.version = 4;
    let text = sim
        .ack(skip.archive_message())
        .await
        .expect("AE", "VERSION_CONFLICT")
        .to_string();
    assert!(text.contains("does not follow"), "{text}");

    // A parent that was never archived.
    let mut orphan = Doc::new(5).next_version();
    orphan.parent = Some("1.2.246.10.853.10.1.100.404".into());
    sim.ack(orphan.archive_message()).await.expect("AE", "UNKNOWN_DOCUMENT");

    // A parent of another set.
    let other = Doc::new(6);
    sim.archive_ok(&other).await;
    let mut cross = v2.next_version();
    cross.parent = Some(other.oid.clone());
    sim.ack(cross.archive_message()).await.expect("AE", "VERSION_CONFLICT");

    // The new-version interaction without relatedDocument is a syntax error.
    let v3 = v2.next_version();
    let no_related = message(
        NEW_VERSION,
        &v3.sender(),
        &Doc {
            parent: None,
            ..v3.clone()
        }
        .document_element(&v3.cda()),
    );
    assert!(sim
        .ack(no_related)
        .await
        .expect("AR", "SYNTAX")
        .contains("relatedDocument"));

    sim.archive_ok(&v3).await;
    assert_eq!(control.document(&v2.oid).unwrap().status, DocumentStatus::Obsolete);
    assert_eq!(control.document(&v3.oid).unwrap().status, DocumentStatus::Active);
}

#[tokio::test]
async fn invalidation_nullifies_the_current_version() {
    let sim = Sim::start().await;
    let control = sim.control();
    let v1 = Doc::new(1);
    sim.archive_ok(&v1).await;
    let v2 = v1.next_version();
    sim.archive_ok(&v2).await;

    sim.ack(v1.invalidate_message("1"))
        .await
        .expect("AE", "VERSION_CONFLICT");
    let mut wrong_version = v2.clone();
    wrong_version.version = 3;
    sim.ack(wrong_version.invalidate_message("1"))
        .await
        .expect("AE", "METADATA_MISMATCH");
    let mut wrong_person = v2.clone();
    wrong_person.person = OTHER_PERSON.into();
    sim.ack(wrong_person.invalidate_message("2"))
        .await
        .expect("AE", "METADATA_MISMATCH");
    assert!(sim
        .ack(v2.invalidate_message("7"))
        .await
        .expect("AR", "SYNTAX")
        .contains("reasonCode"));
    sim.ack(Doc::new(9).invalidate_message("1"))
        .await
        .expect("AE", "UNKNOWN_DOCUMENT");

    let ack = sim.ack(v2.invalidate_message("2")).await;
    assert_eq!((ack.type_code.as_str(), ack.codes().len()), ("AA", 0));
    let stored = control.document(&v2.oid).unwrap();
    assert_eq!(stored.status, DocumentStatus::Nullified);
    assert_eq!(stored.nullification_reason.as_deref(), Some("2"));
    // A retried invalidation succeeds again.
    assert_eq!(sim.ack(v2.invalidate_message("2")).await.type_code, "AA");
    // Nothing follows a nullified version.
    sim.ack(v2.next_version().archive_message())
        .await
        .expect("AE", "VERSION_CONFLICT");
}

// ---- queries ----

#[tokio::test]
async fn search_and_fetch() {
    let sim = Sim::start().await;
    let a1 = Doc::new(1);
    let a2 = Doc::new(2);
    let mut b = Doc::new(3);
    b.person = OTHER_PERSON.into();
    let mut naantali = Doc::new(4);
    naantali.municipality = "529".into();
    naantali.oid = "1.2.246.10.529.10.1.100.4".into();
    naantali.set_id = "1.2.246.10.529.10.1.200.4".into();
    for doc in [&a1, &a2, &b, &naantali] {
        sim.archive_ok(doc).await;
    }
    let a1v2 = a1.next_version();
    sim.archive_ok(&a1v2).await;
    sim.ack(a2.invalidate_message("1")).await;

    let turku = a1.sender();
    let ack = sim.ack(search_message(&turku, PERSON)).await;
    assert_eq!((ack.type_code.as_str(), ack.codes().len()), ("AA", 0));
    assert_eq!(ack.query_response().as_deref(), Some("OK"));
    // Naantali's document of the same person is not Turku's to see.
    assert_eq!(ack.result_oids(), [a1.oid.clone(), a2.oid.clone(), a1v2.oid.clone()]);
    assert!(!ack.xml.contains("<text"), "search results carry no text");
    let statuses: Vec<String> = ack
        .xml
        .split("<statusCode ")
        .skip(1)
        .map(|s| s[6..s.find("\"/>").unwrap()].to_string())
        .collect();
    assert_eq!(statuses, ["obsolete", "nullified", "active"]);
    assert!(ack.xml.contains(&format!(
        r#"<code code="SOS_ASKERT" codeSystem="1.2.246.537.6.12.2002"/><statusCode code="obsolete"/><effectiveTime value="20260301101500"/><setId root="{}"/><versionNumber value="1"/>"#,
        a1.set_id
    )));
    let query_id = attr_after(&ack.xml, "<queryId ", "root").unwrap();
    assert!(uuid::Uuid::parse_str(&query_id).is_ok());

    let ack = sim.ack(search_message(&turku, "131052-308T")).await;
    assert_eq!(ack.type_code, "AA");
    assert_eq!(ack.query_response().as_deref(), Some("NF"));
    assert!(ack.result_oids().is_empty());

    let ack = sim.ack(fetch_message(&turku, &a1v2.oid)).await;
    assert_eq!(ack.type_code, "AA");
    assert_eq!(ack.query_response().as_deref(), Some("OK"));
    assert_eq!(ack.result_oids(), std::slice::from_ref(&a1v2.oid));
    let b64 = &ack.xml[ack.xml.find("representation=\"B64\">").unwrap() + 21..];
    let b64 = &b64[..b64.find('<').unwrap()];
    assert_eq!(
        base64::engine::general_purpose::STANDARD.decode(b64).unwrap(),
        a1v2.cda(),
        "the CDA exactly as archived"
    );

    let ack = sim.ack(fetch_message(&turku, "1.2.246.10.853.10.1.100.404")).await;
    ack.expect("AE", "UNKNOWN_DOCUMENT");
    assert_eq!(ack.query_response().as_deref(), Some("NF"));
    sim.ack(fetch_message(&turku, &naantali.oid))
        .await
        .expect("AR", "NOT_AUTHORISED");
    sim.ack(search_message("1.2.246.10.999.10.2", PERSON))
        .await
        .expect("AR", "NOT_AUTHORISED");
    sim.ack(search_message(&turku, PERSON).replace(
        "root=\"1.2.246.21\" extension=\"010594Y9032\"/></patientId>",
        "root=\"1.2.3\" extension=\"010594Y9032\"/></patientId>",
    ))
    .await
    .expect("AR", "SYNTAX");
}

// ---- the document ----

#[tokio::test]
async fn the_cda_must_follow_the_finnish_header_rules() {
    let sim = Sim::start().await;
    let doc = Doc::new(1);
    let template = doc.cda_template();
    let cases: Vec<(String, &str)> = vec![
        (template.replace("<realmCode code=\"FI\"/>", ""), "realmCode"),
        (
            template.replace("<templateId root=\"1.2.246.777.11.2016.11\"/>", ""),
            "templateId",
        ),
        (
            template.replace("extension=\"POCD_HD000040\"", "extension=\"POCD_HD000041\""),
            "typeId",
        ),
        (
            template.replace("<confidentialityCode code=\"3\"", "<confidentialityCode code=\"5\""),
            "confidentialityCode",
        ),
        (
            template.replace("<languageCode code=\"fi-FI\"/>", "<languageCode code=\"en-GB\"/>"),
            "languageCode",
        ),
        (
            template.replace("codeSystem=\"1.2.246.537.6.1221\"", "codeSystem=\"1.2.246.537.6.1222\""),
            "hl7fi:serviceTask",
        ),
        (
            template.replace(
                "<hl7fi:documentGroup code=\"1\" codeSystem=\"1.2.246.537.6.1505\"/>",
                "",
            ),
            "hl7fi:documentGroup",
        ),
        (
            template.replace("<hl7fi:fileFormat code=\"1\"/>", ""),
            "hl7fi:fileFormat",
        ),
        (
            template.replace("codeSystem=\"1.2.246.537.6.21\"", "codeSystem=\"1.2.246.537.6.22\""),
            "municipality code",
        ),
        (
            template.replace("root=\"1.2.246.21\"", "root=\"1.2.246.22\""),
            "1.2.246.21",
        ),
        (
            template.replace(
                "<effectiveTime value=\"20260301101500\"/>",
                "<effectiveTime value=\"2026\"/>",
            ),
            "effectiveTime",
        ),
        (
            {
                let a = template.find("  <author>").unwrap();
                let b = template.find("</author>\n").unwrap() + 10;
                template.replace(&template[a..b], "")
            },
            "<author> is missing",
        ),
        (
            template
                .replace("<documentationOf><serviceEvent>", "<documentationOf><serviceEventX>")
                .replace("</serviceEvent>", "</serviceEventX>"),
            "serviceEvent",
        ),
        (
            {
                let j = template.find("<hl7fi:json>").unwrap();
                let k = template.find("</hl7fi:json>").unwrap() + 13;
                template.replace(&template[j..k], "")
            },
            "hl7fi:json",
        ),
        (
            {
                let j = template.find("<hl7fi:json>").unwrap() + 12;
                let k = template.find("</hl7fi:json>").unwrap();
                template.replace(
                    &template[j..k],
                    &base64::engine::general_purpose::STANDARD.encode("{not json"),
                )
            },
            "does not decode as JSON",
        ),
        (
            template.replace("<title>Asiakaskertomus</title>\n", "").replace(
                "<effectiveTime value=\"20260301101500\"/>",
                "<effectiveTime value=\"20260301101500\"/><title>Asiakaskertomus</title>",
            ),
            "order",
        ),
        (
            template.replace(
                "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"",
                "<ClinicalDocument xmlns=\"urn:hl7-org:v2\"",
            ),
            "ClinicalDocument",
        ),
    ];
    for (cda, says) in cases {
        let signed = sign(cda.as_bytes(), signer());
        let text = sim
            .ack(doc.message_with_cda(&signed))
            .await
            .expect("AE", "SCHEMA_INVALID")
            .to_string();
        assert!(text.contains(says), "expected '{says}' in '{text}'");
    }
    let text = sim
        .ack(doc.message_with_cda(b"<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"))
        .await
        .expect("AE", "SCHEMA_INVALID")
        .to_string();
    assert!(text.contains("not well-formed"), "{text}");
    assert!(sim.control().documents().is_empty());
}

#[tokio::test]
async fn the_wrapper_must_agree_with_the_document() {
    let sim = Sim::start().await;
    let doc = Doc::new(1);
    let cda = doc.cda();
    let mut wrapper = doc.clone();
    wrapper.person = OTHER_PERSON.into();
    let text = sim
        .ack(wrapper.message_with_cda(&cda))
        .await
        .expect("AE", "METADATA_MISMATCH")
        .to_string();
    assert!(text.contains("patient id"), "{text}");
    let mut wrapper = doc.clone();
    wrapper.version = 2;
    wrapper.set_id = "1.2.246.10.853.10.1.200.77".into();
    let text = sim
        .ack(wrapper.message_with_cda(&cda))
        .await
        .expect("AE", "METADATA_MISMATCH")
        .to_string();
    assert!(text.contains("setId") && text.contains("versionNumber"), "{text}");
    let mut wrapper = doc.clone();
    wrapper.oid = "1.2.246.10.853.10.1.100.77".into();
    sim.ack(wrapper.message_with_cda(&cda))
        .await
        .expect("AE", "METADATA_MISMATCH");
    assert!(sim.control().documents().is_empty());
}

#[tokio::test]
async fn a_sender_acts_only_for_its_own_registry_keeper() {
    let sim = Sim::start().await;
    let doc = Doc::new(1);
    let content = doc.document_element(&doc.cda());
    let naantali = portti_simulators::kanta::sender_system_oid("529");
    let text = sim
        .ack(message(ARCHIVE, &naantali, &content))
        .await
        .expect("AR", "NOT_AUTHORISED")
        .to_string();
    assert!(text.contains(&naantali) && text.contains(&doc.keeper()), "{text}");
    sim.ack(message(ARCHIVE, "1.2.246.10.999.10.2", &content))
        .await
        .expect("AR", "NOT_AUTHORISED");
    sim.archive_ok(&doc).await;
    let body = doc.invalidate_message("1").replace(&doc.sender(), &naantali);
    sim.ack(body).await.expect("AR", "NOT_AUTHORISED");
    assert_eq!(sim.control().document(&doc.oid).unwrap().status, DocumentStatus::Active);
}

// ---- the signature ----

#[tokio::test]
async fn signatures_must_verify_against_the_trusted_certificates() {
    let sim = Sim::start().await;
    let doc = Doc::new(1);
    let signed = String::from_utf8(doc.cda()).unwrap();

    let tampered = signed.replace("kotihoitoa", "kotihoidon");
    assert_ne!(tampered, signed);
    let text = sim
        .ack(doc.message_with_cda(tampered.as_bytes()))
        .await
        .expect("AE", "SIGNATURE_INVALID")
        .to_string();
    assert!(text.contains("digest"), "{text}");

    let mallory = doc.cda_signed_by(untrusted_signer());
    let text = sim
        .ack(doc.message_with_cda(&mallory))
        .await
        .expect("AE", "SIGNATURE_INVALID")
        .to_string();
    assert!(text.contains("untrusted"), "{text}");

    let start = doc.cda_template().find("<hl7fi:signatures>").unwrap();
    let unsigned = doc.cda_template();
    let end = unsigned.find("</hl7fi:signatures>").unwrap() + 19;
    let missing = unsigned.replace(&unsigned[start..end], "");
    let text = sim
        .ack(doc.message_with_cda(missing.as_bytes()))
        .await
        .expect("AE", "SIGNATURE_INVALID")
        .to_string();
    assert!(text.contains("no <hl7fi:signatures>"), "{text}");

    // The signature block must be the last child.
    let moved = unsigned
        .replace(&unsigned[start..end], "")
        .replace("  <component>", &format!("  {}\n  <component>", &unsigned[start..end]));
    let text = sim
        .ack(doc.message_with_cda(&sign(moved.as_bytes(), signer())))
        .await
        .expect("AE", "SIGNATURE_INVALID")
        .to_string();
    assert!(text.contains("last child"), "{text}");

    // An unfilled template does not verify.
    sim.ack(doc.message_with_cda(unsigned.as_bytes()))
        .await
        .expect("AE", "SIGNATURE_INVALID");
    assert!(sim.control().documents().is_empty());
    sim.archive_ok(&doc).await;
}

// ---- control ----

#[tokio::test]
async fn request_log_and_documents_over_http() {
    let sim = Sim::start().await;
    let doc = Doc::new(1);
    let id = message_id();
    sim.ack(message_with_id(
        ARCHIVE,
        &doc.sender(),
        &doc.document_element(&doc.cda()),
        &id,
    ))
    .await;
    sim.ack(doc.archive_message()).await;
    sim.ack(search_message(&doc.sender(), PERSON)).await;

    let log = sim.control().request_log();
    assert_eq!(log.len(), 3, "control requests are not logged");
    let LoggedRequest {
        method,
        path,
        interaction,
        message_id,
        document_oid,
        client_cn,
        status,
        ack,
        details,
        fault,
        ..
    } = log[0].clone();
    assert_eq!(
        (
            method.as_str(),
            path.as_str(),
            interaction.as_deref(),
            message_id.as_deref()
        ),
        ("POST", "/sosiaalihuolto/arkisto", Some(ARCHIVE), Some(id.as_str()))
    );
    assert_eq!(document_oid.as_deref(), Some(doc.oid.as_str()));
    assert_eq!(client_cn.as_deref(), Some("portti-outbound"));
    assert_eq!((status, ack.as_deref(), fault), (Some(200), Some("AA"), None));
    assert!(details.is_empty());
    assert_eq!(log[1].details, ["DOCUMENT_EXISTS_IDENTICAL"]);
    assert_eq!(log[2].interaction.as_deref(), Some(SEARCH));
    assert_eq!(log[2].document_oid, None);

    let logged: Value = sim
        .http
        .get(sim.url("/_simulator/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logged.as_array().unwrap().len(), 3);
    assert_eq!(logged[0]["clientCn"], "portti-outbound");
    assert_eq!(logged[0]["messageId"], id);
    assert!(logged[0]["time"].is_string());

    let documents: Value = sim
        .http
        .get(sim.url("/_simulator/documents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let d = &documents[0];
    assert_eq!(d["oid"], doc.oid.as_str());
    assert_eq!(d["setId"], doc.set_id.as_str());
    assert_eq!(d["version"], 1);
    assert_eq!(d["person"], PERSON);
    assert_eq!(d["status"], "active");
    assert_eq!(d["code"], "SOS_ASKERT");
    assert_eq!(d["archiveCount"], 2);
    assert_eq!(d["contentDigest"].as_str().unwrap().len(), 64);
    assert!(d.get("cda").is_none());

    let cleared = sim.http.delete(sim.url("/_simulator/requests")).send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(sim.control().request_log().is_empty());

    // Another client certificate is recorded as such.
    let other = client_with(Some("ohjaus-853"));
    other
        .post(sim.running.endpoint())
        .header("Content-Type", "text/xml")
        .body(search_message(&doc.sender(), PERSON))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.control().request_log()[0].client_cn.as_deref(), Some("ohjaus-853"));
}

#[tokio::test]
async fn the_sandbox_config_starts_and_serves_every_municipality() {
    let config = portti_simulators::kanta::Config::sandbox();
    assert_eq!(config.senders.len(), 5);
    for m in ["853", "529", "680", "202", "445"] {
        assert_eq!(
            config.senders[&format!("1.2.246.10.{m}.10.2")],
            [format!("1.2.246.10.{m}.10.1")]
        );
    }
    let sim = Sim::start_with(config).await;
    assert!(sim.running.endpoint().ends_with("/sosiaalihuolto/arkisto"));
    // The sandbox trusts kanta-signing-853.pem and kanta-signing-529.pem for system signatures.
    for m in ["853", "529"] {
        let signing = Signer {
            key_pem: std::fs::read(certs().join(format!("kanta-signing-{m}.key"))).unwrap(),
            cert_pem: std::fs::read(certs().join(format!("kanta-signing-{m}.pem"))).unwrap(),
        };
        let mut doc = Doc::new(1);
        doc.municipality = m.into();
        doc.oid = format!("1.2.246.10.{m}.10.1.100.1");
        doc.set_id = format!("1.2.246.10.{m}.10.1.200.1");
        let ack = sim.ack(doc.message_with_cda(&doc.cda_signed_by(&signing))).await;
        assert_eq!(ack.type_code, "AA", "{}", ack.xml);
    }
    let other = Doc::new(2);
    // Signed by the tests' own key, which the sandbox does not trust.
    sim.ack(other.archive_message()).await.expect("AE", "SIGNATURE_INVALID");
}
