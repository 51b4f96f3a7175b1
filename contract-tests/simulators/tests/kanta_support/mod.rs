//! Helpers of the Kanta simulator tests: a mutual-TLS client, signed fixture CDA documents and HL7 V3
//! messages built per `adapters/kanta/WIRE.md`, and a few string readers of acknowledgements.
#![allow(dead_code)]

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use portti_simulators::kanta::{self, registry_keeper_oid, sender_system_oid, Config, Pem, Running};
use reqwest::{Client, StatusCode};
use std::path::PathBuf;
use std::sync::OnceLock;

pub const ARCHIVE: &str = "RCMR_IN000002FI01";
pub const NEW_VERSION: &str = "RCMR_IN000004FI01";
pub const INVALIDATE: &str = "RCMR_IN000006FI01";
pub const SEARCH: &str = "RCMR_IN100001FI01";
pub const FETCH: &str = "RCMR_IN100003FI01";

pub const PERSON: &str = "010594Y9032";
pub const OTHER_PERSON: &str = "260881-1233";

pub fn certs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
}

/// A system-signature key and its self-signed certificate (PEM).
pub struct Signer {
    pub key_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
}

fn make_signer(cn: &str) -> Signer {
    let pkey = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&pkey).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    b.sign(&pkey, MessageDigest::sha256()).unwrap();
    Signer {
        key_pem: pkey.private_key_to_pem_pkcs8().unwrap(),
        cert_pem: b.build().to_pem().unwrap(),
    }
}

/// The organisation's system-signature key, trusted by [`config`].
pub fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| make_signer("turku-system-signature"))
}

/// A second trusted key (key rotation: a re-signature by it is the same content).
pub fn rotated_signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| make_signer("turku-system-signature-2"))
}

/// A key nobody trusts.
pub fn untrusted_signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| make_signer("mallory"))
}

/// The sandbox, trusting [`signer`] and [`rotated_signer`] for system signatures.
pub fn config() -> Config {
    let mut config = Config::sandbox();
    config.trusted_signers = vec![
        Pem::Text(String::from_utf8(signer().cert_pem.clone()).unwrap()),
        Pem::Text(String::from_utf8(rotated_signer().cert_pem.clone()).unwrap()),
    ];
    config
}

/// A client presenting `identity` (a file stem in certs-example, e.g. `portti-outbound`), trusting the demo CA.
pub fn client_with(identity: Option<&str>) -> Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(certs().join("demo-ca.pem")).unwrap()).unwrap();
    let mut builder = Client::builder().add_root_certificate(ca);
    if let Some(stem) = identity {
        let cert = std::fs::read(certs().join(format!("{stem}.pem"))).unwrap();
        let key = std::fs::read(certs().join(format!("{stem}.key"))).unwrap();
        builder = builder.identity(reqwest::Identity::from_pkcs8_pem(&cert, &key).unwrap());
    }
    builder.build().unwrap()
}

pub struct Sim {
    pub running: Running,
    pub http: Client,
}

impl Sim {
    pub async fn start() -> Sim {
        Self::start_with(config()).await
    }

    pub async fn start_with(config: Config) -> Sim {
        let running = kanta::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        Sim {
            running,
            http: client_with(Some("portti-outbound")),
        }
    }

    pub fn control(&self) -> kanta::Control {
        self.running.control()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    /// POST a message to the endpoint as `text/xml; charset=utf-8`.
    pub async fn post(&self, body: impl Into<Vec<u8>>) -> (StatusCode, String) {
        self.post_as("text/xml; charset=utf-8", body).await
    }

    pub async fn post_as(&self, content_type: &str, body: impl Into<Vec<u8>>) -> (StatusCode, String) {
        let response = self
            .http
            .post(self.running.endpoint())
            .header("Content-Type", content_type)
            .body(body.into())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// POST and expect a `200` acknowledgement.
    pub async fn ack(&self, body: impl Into<Vec<u8>>) -> Ack {
        let (status, text) = self.post(body).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        Ack::read(&text)
    }

    /// Archive `doc` (signed by [`signer`]) and expect `AA` without details.
    pub async fn archive_ok(&self, doc: &Doc) {
        let ack = self.ack(doc.archive_message()).await;
        assert_eq!((ack.type_code.as_str(), ack.codes().len()), ("AA", 0), "{}", ack.xml);
    }
}

/// The parts of an acknowledgement the tests look at.
#[derive(Debug)]
pub struct Ack {
    pub xml: String,
    pub type_code: String,
    pub target: String,
    /// (typeCode, code, text) of each detail.
    pub details: Vec<(String, String, String)>,
}

/// The value of `attr="…"` in the first tag starting with `tag_start` after `from`.
pub fn attr_after(xml: &str, tag_start: &str, attr: &str) -> Option<String> {
    let at = xml.find(tag_start)?;
    let tag_end = at + xml[at..].find('>')?;
    let tag = &xml[at..tag_end];
    let key = format!(" {attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

impl Ack {
    pub fn read(xml: &str) -> Ack {
        assert!(
            xml.contains("<MCCI_IN000002UV01 xmlns=\"urn:hl7-org:v3\" ITSVersion=\"XML_1.0\">"),
            "{xml}"
        );
        let type_code = attr_after(xml, "<acknowledgement ", "typeCode").unwrap();
        let target_at = xml.find("<targetMessage>").unwrap();
        let target = attr_after(&xml[target_at..], "<id ", "root").unwrap_or_default();
        let mut details = Vec::new();
        let mut rest = xml;
        while let Some(at) = rest.find("<acknowledgementDetail ") {
            rest = &rest[at..];
            let type_code = attr_after(rest, "<acknowledgementDetail ", "typeCode").unwrap();
            let code = attr_after(rest, "<code ", "code").unwrap();
            assert_eq!(
                attr_after(rest, "<code ", "codeSystem").as_deref(),
                Some("1.2.246.537.5.40177")
            );
            let text = unescape(&rest[rest.find("<text>").unwrap() + 6..rest.find("</text>").unwrap()]);
            details.push((type_code, code, text));
            rest = &rest[rest.find("</acknowledgementDetail>").unwrap()..];
        }
        Ack {
            xml: xml.to_string(),
            type_code,
            target,
            details,
        }
    }

    pub fn codes(&self) -> Vec<&str> {
        self.details.iter().map(|d| d.1.as_str()).collect()
    }

    /// Expect exactly this type and one detail with this code; returns its text.
    pub fn expect(&self, type_code: &str, code: &str) -> &str {
        assert_eq!(self.type_code, type_code, "{}", self.xml);
        assert_eq!(self.codes(), [code], "{}", self.xml);
        &self.details[0].2
    }

    /// `queryResponseCode`.
    pub fn query_response(&self) -> Option<String> {
        attr_after(&self.xml, "<queryResponseCode ", "code")
    }

    /// The OIDs of the result documents, in order.
    pub fn result_oids(&self) -> Vec<String> {
        self.xml
            .split("<document classCode=\"DOCCLIN\" moodCode=\"EVN\">")
            .skip(1)
            .map(|d| attr_after(d, "<id ", "root").unwrap())
            .collect()
    }
}

/// A document to archive, per WIRE.md.
#[derive(Clone, Debug)]
pub struct Doc {
    pub oid: String,
    pub set_id: String,
    pub version: u32,
    pub person: String,
    /// Municipality code of the registry keeper (and the sender system).
    pub municipality: String,
    pub code: String,
    /// The narrative text, to vary content.
    pub text: String,
    /// The previous version's OID (new version).
    pub parent: Option<String>,
}

impl Doc {
    pub fn new(n: u32) -> Doc {
        Doc {
            oid: format!("1.2.246.10.853.10.1.100.{n}"),
            set_id: format!("1.2.246.10.853.10.1.200.{n}"),
            version: 1,
            person: PERSON.into(),
            municipality: "853".into(),
            code: "SOS_ASKERT".into(),
            text: "Asiakas tarvitsee kotihoitoa ja ateriapalvelun.".into(),
            parent: None,
        }
    }

    /// The next version of this document (same set, version + 1, a new OID).
    pub fn next_version(&self) -> Doc {
        let mut next = self.clone();
        next.version += 1;
        next.oid = format!("{}.{}", self.set_id.replace(".200.", ".300."), next.version);
        next.parent = Some(self.oid.clone());
        next.text = format!("{} Versio {}.", self.text, next.version);
        next
    }

    pub fn keeper(&self) -> String {
        registry_keeper_oid(&self.municipality)
    }

    pub fn sender(&self) -> String {
        sender_system_oid(&self.municipality)
    }

    /// The CDA with an empty signature template.
    pub fn cda_template(&self) -> String {
        let json = base64::engine::general_purpose::STANDARD
            .encode(format!(r#"{{"palvelutarve":"kotihoito","teksti":"{}"}}"#, self.text));
        cda_template_with(self, &json)
    }

    /// The CDA signed by `signer`.
    pub fn cda_signed_by(&self, signer: &Signer) -> Vec<u8> {
        sign(self.cda_template().as_bytes(), signer)
    }

    pub fn cda(&self) -> Vec<u8> {
        self.cda_signed_by(signer())
    }

    /// An archive (or, with a parent, new-version) message carrying [`Self::cda`].
    pub fn archive_message(&self) -> String {
        self.message_with_cda(&self.cda())
    }

    pub fn message_with_cda(&self, cda: &[u8]) -> String {
        let interaction = if self.parent.is_some() { NEW_VERSION } else { ARCHIVE };
        message(interaction, &self.sender(), &self.document_element(cda))
    }

    /// The wrapper's `<subject><document>` for `cda`.
    pub fn document_element(&self, cda: &[u8]) -> String {
        let related = match &self.parent {
            Some(parent) => format!(
                r#"<relatedDocument typeCode="RPLC"><parentDocument classCode="DOCCLIN" moodCode="EVN"><id root="{parent}"/></parentDocument></relatedDocument>"#
            ),
            None => String::new(),
        };
        format!(
            r#"<subject typeCode="SUBJ"><document classCode="DOCCLIN" moodCode="EVN"><id root="{oid}"/><code code="{code}" codeSystem="1.2.246.537.6.12.2002"/><text mediaType="text/xml" representation="B64">{b64}</text><setId root="{set}"/><versionNumber value="{version}"/>{target}<custodian typeCode="CST"><assignedEntity classCode="ASSIGNED"><id root="{keeper}"/></assignedEntity></custodian>{related}</document></subject>"#,
            oid = self.oid,
            code = self.code,
            b64 = base64::engine::general_purpose::STANDARD.encode(cda),
            set = self.set_id,
            version = self.version,
            target = record_target(&self.person),
            keeper = self.keeper(),
        )
    }

    /// An invalidate message for this document.
    pub fn invalidate_message(&self, reason: &str) -> String {
        let content = format!(
            r#"<subject typeCode="SUBJ"><document classCode="DOCCLIN" moodCode="EVN"><id root="{}"/><setId root="{}"/><versionNumber value="{}"/>{}<reasonCode code="{reason}" codeSystem="1.2.246.537.5.40175"/></document></subject>"#,
            self.oid,
            self.set_id,
            self.version,
            record_target(&self.person)
        );
        message(INVALIDATE, &self.sender(), &content)
    }
}

pub fn record_target(person: &str) -> String {
    format!(
        r#"<recordTarget typeCode="RCT"><patient classCode="PAT"><id root="1.2.246.21" extension="{person}"/></patient></recordTarget>"#
    )
}

pub const SIGNATURE_TEMPLATE: &str = r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"#;

/// A minimal valid CDA per WIRE.md, with `json` (Base64) as the structured content and an empty signature
/// template as the last child.
pub fn cda_template_with(doc: &Doc, json: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:hl7fi="urn:hl7finland">
  <realmCode code="FI"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.2.246.777.11.2016.11"/>
  <id root="{oid}"/>
  <code code="{code}" codeSystem="1.2.246.537.6.12.2002" displayName="Asiakaskertomus"/>
  <title>Asiakaskertomus</title>
  <effectiveTime value="20260301101500"/>
  <confidentialityCode code="3" codeSystem="1.2.246.537.5.40228"/>
  <languageCode code="fi-FI"/>
  <setId root="{set}"/>
  <versionNumber value="{version}"/>
  <hl7fi:localHeader>
    <hl7fi:serviceTask code="10" codeSystem="1.2.246.537.6.1221"/>
    <hl7fi:documentGroup code="1" codeSystem="1.2.246.537.6.1505"/>
    <hl7fi:serviceProcess code="2" codeSystem="1.2.246.537.6.1277"/>
    <hl7fi:registryKeeper><hl7fi:id root="{keeper}"/><hl7fi:municipality code="{municipality}" codeSystem="1.2.246.537.6.21"/></hl7fi:registryKeeper>
    <hl7fi:retentionPeriodClass code="1"/>
    <hl7fi:fileFormat code="1"/>
  </hl7fi:localHeader>
  <recordTarget><patientRole><id root="1.2.246.21" extension="{person}"/><patient><name><given>Testi</given><family>Henkilö</family></name></patient></patientRole></recordTarget>
  <author><time value="20260301101500"/><assignedAuthor><id root="{sender}"/><representedOrganization><id root="{keeper}"/><name>Kunta {municipality}</name></representedOrganization></assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization><id root="{keeper}"/></representedCustodianOrganization></assignedCustodian></custodian>
  <documentationOf><serviceEvent><id root="1.2.246.10.{municipality}.10.9.1"/><effectiveTime><low value="20260301"/></effectiveTime></serviceEvent></documentationOf>
  <component><structuredBody><component><section><title>Palvelutarve</title><text><paragraph>{text}</paragraph></text><hl7fi:json>{json}</hl7fi:json></section></component></structuredBody></component>
  <hl7fi:signatures>{SIGNATURE_TEMPLATE}</hl7fi:signatures>
</ClinicalDocument>
"#,
        oid = doc.oid,
        code = doc.code,
        set = doc.set_id,
        version = doc.version,
        keeper = doc.keeper(),
        municipality = doc.municipality,
        person = doc.person,
        sender = doc.sender(),
        text = doc.text,
    )
}

pub fn sign(template: &[u8], signer: &Signer) -> Vec<u8> {
    portti_xmlsec::sign_enveloped(template, &signer.key_pem, &signer.cert_pem).unwrap()
}

/// A fresh lower-case message id.
pub fn message_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The HL7 V3 wrapper around `content` (the inside of controlActProcess).
pub fn message(interaction: &str, sender: &str, content: &str) -> String {
    message_with_id(interaction, sender, content, &message_id())
}

pub fn message_with_id(interaction: &str, sender: &str, content: &str, id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<{interaction} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">
  <id root="{id}"/>
  <creationTime value="20260301101600"/>
  <interactionId root="2.16.840.1.113883.1.6" extension="{interaction}"/>
  <processingCode code="P"/>
  <processingModeCode code="T"/>
  <acceptAckCode code="AL"/>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="1.2.246.10.2.1"/></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="{sender}"/></device></sender>
  <controlActProcess classCode="CACT" moodCode="EVN">{content}</controlActProcess>
</{interaction}>
"#
    )
}

pub fn search_message(sender: &str, person: &str) -> String {
    let content = format!(
        r#"<queryByParameter><queryId root="{}"/><patientId><value root="1.2.246.21" extension="{person}"/></patientId></queryByParameter>"#,
        uuid::Uuid::now_v7()
    );
    message(SEARCH, sender, &content)
}

pub fn fetch_message(sender: &str, oid: &str) -> String {
    let content = format!(
        r#"<queryByParameter><queryId root="{}"/><documentId><value root="{oid}"/></documentId></queryByParameter>"#,
        uuid::Uuid::now_v7()
    );
    message(FETCH, sender, &content)
}
