//! XML Schema validation against the committed HL7 CDA R2 schema (adapters/kanta/schema/).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;

fn cda_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kanta/schema/cda-r2/infrastructure/cda")
}

fn cda_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::from_file(cda_dir().join("CDA.xsd")).unwrap())
}

fn sample() -> Vec<u8> {
    std::fs::read(cda_dir().join("SampleCDADocument.xml")).unwrap()
}

/// The sample with one unknown urn:hl7-org:v3 element in the header, after `title`.
fn sample_with_unknown_element() -> Vec<u8> {
    let text = String::from_utf8(sample()).unwrap();
    let marker = "</title>";
    let at = text.find(marker).unwrap() + marker.len();
    format!("{}<bogusHeaderElement/>{}", &text[..at], &text[at..]).into_bytes()
}

/// A local port that records (and at once closes) any connection, so that a regression fails
/// the test quickly instead of leaving libxml2 waiting for an HTTP answer.
struct Tripwire {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<bool>,
}

impl Tripwire {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut connected = false;
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        connected = true;
                        drop(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            connected
        });
        Tripwire { port, stop, thread }
    }

    /// Whether anything connected.
    fn tripped(self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

#[test]
fn hl7_sample_is_valid() {
    cda_schema().validate(&sample()).unwrap();
}

#[test]
fn unknown_element_is_reported_with_line_and_name() {
    let err = cda_schema().validate(&sample_with_unknown_element()).unwrap_err();
    assert_eq!(err.kind, SchemaErrorKind::Invalid);
    let first = err.first().unwrap();
    assert!(first.message.contains("bogusHeaderElement"), "{err}");
    assert!(first.message.contains("not expected"), "{err}");
    // `</title>` is on line 16 of the sample.
    assert_eq!(first.line, Some(16), "{err}");
    assert!(err.messages.len() <= MAX_SCHEMA_MESSAGES);
    assert!(err.messages.iter().all(|m| m.message.chars().count() <= 240), "{err}");
    assert!(err.to_string().starts_with("line 16: "), "{err}");
}

#[test]
fn wrong_attribute_value_and_missing_required_element() {
    let text = String::from_utf8(sample()).unwrap();
    // A required header element (id) removed.
    let no_id = text.replacen(r#"<id extension="c266" root="2.16.840.1.113883.19.4"/>"#, "", 1);
    assert_ne!(no_id, text);
    let err = cda_schema().validate(no_id.as_bytes()).unwrap_err();
    assert_eq!(err.kind, SchemaErrorKind::Invalid);
    assert!(err.first().unwrap().message.contains("code"), "{err}");
    // An attribute the schema does not know.
    let attr = text.replacen("<title>", r#"<title bogus="1">"#, 1);
    let err = cda_schema().validate(attr.as_bytes()).unwrap_err();
    assert!(err.first().unwrap().message.contains("bogus"), "{err}");
}

#[test]
fn many_errors_are_capped_but_counted() {
    let text = String::from_utf8(sample()).unwrap();
    let bad = text.replace("<title>", r#"<title bogus="1">"#).replace(
        r#"<confidentialityCode code="N""#,
        r#"<confidentialityCode x1="1" x2="2" x3="3" x4="4" x5="5" x6="6" code="N""#,
    );
    let err = cda_schema().validate(bad.as_bytes()).unwrap_err();
    assert_eq!(err.messages.len(), MAX_SCHEMA_MESSAGES, "{err}");
    assert!(err.total > MAX_SCHEMA_MESSAGES, "{err}");
    assert!(err.to_string().contains("more)"), "{err}");
}

#[test]
fn garbage_and_hostile_input_fail_before_validation() {
    for input in [
        &b""[..],
        b"not xml at all",
        b"<ClinicalDocument xmlns=\"urn:hl7-org:v3\">",
        b"\x00\xff\xfe",
    ] {
        let err = cda_schema().validate(input).unwrap_err();
        assert_eq!(err.kind, SchemaErrorKind::NotWellFormed, "{err}");
        assert!(!err.messages.is_empty());
    }
    let doctype = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><ClinicalDocument xmlns="urn:hl7-org:v3">&e;</ClinicalDocument>"#;
    let err = cda_schema().validate(doctype).unwrap_err();
    assert_eq!(err.kind, SchemaErrorKind::NotWellFormed);
    assert!(err.to_string().contains("DOCTYPE"), "{err}");
}

#[test]
fn well_formed_but_wrong_root_is_invalid() {
    let err = cda_schema()
        .validate(br#"<Other xmlns="urn:hl7-org:v3"/>"#)
        .unwrap_err();
    assert_eq!(err.kind, SchemaErrorKind::Invalid);
    assert!(
        err.first().unwrap().message.contains("No matching global declaration"),
        "{err}"
    );
}

/// xsi:schemaLocation in the instance is never followed (nor fetched): only the given schema
/// counts.
#[test]
fn instance_schema_location_is_ignored() {
    let tripwire = Tripwire::new();
    let port = tripwire.port;
    let text = String::from_utf8(sample()).unwrap().replacen(
        r#"xsi:schemaLocation="urn:hl7-org:v3 CDA.xsd""#,
        &format!(r#"xsi:schemaLocation="urn:hl7-org:v3 http://127.0.0.1:{port}/CDA.xsd""#),
        1,
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")));
    cda_schema().validate(text.as_bytes()).unwrap();
    assert!(!tripwire.tripped());
}

#[test]
fn schema_loading_never_uses_the_network() {
    let tripwire = Tripwire::new();
    let port = tripwire.port;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("main.xsd");
    std::fs::write(
        &path,
        format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" xmlns="urn:t">
  <xs:include schemaLocation="http://127.0.0.1:{port}/other.xsd"/>
  <xs:element name="a" type="xs:string"/>
</xs:schema>"#
        ),
    )
    .unwrap();
    // Whether libxml2 treats the failed include as fatal or not, it must not have connected.
    let result = Schema::from_file(&path);
    assert!(!tripwire.tripped(), "{result:?}");
}

#[test]
fn missing_or_broken_schema_is_an_error() {
    match Schema::from_file("/nonexistent/CDA.xsd") {
        Err(XmlSecError::Schema(msg)) => assert!(msg.contains("/nonexistent/CDA.xsd"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.xsd");
    std::fs::write(
        &path,
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="nope"/></xs:schema>"#,
    )
    .unwrap();
    match Schema::from_file(&path) {
        Err(XmlSecError::Schema(msg)) => assert!(msg.contains("nope"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_validations_against_one_schema() {
    let schema = Arc::new(Schema::from_file(cda_dir().join("CDA.xsd")).unwrap());
    let good = Arc::new(sample());
    let bad = Arc::new(sample_with_unknown_element());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (schema, good, bad) = (schema.clone(), good.clone(), bad.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    if (t + i) % 3 == 0 {
                        let err = schema.validate(&bad).unwrap_err();
                        assert!(err.first().unwrap().message.contains("bogusHeaderElement"), "{err}");
                    } else {
                        schema.validate(&good).unwrap();
                    }
                    // Other libxml2 work on the same thread in between.
                    assert!(schema.validate(b"<").is_err());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Prints the cost of compiling the CDA schema and of one validation of the HL7 sample
/// (`cargo test -p portti-xmlsec schema_timing -- --nocapture`).
#[test]
fn schema_timing() {
    let start = Instant::now();
    let schema = Schema::from_file(cda_dir().join("CDA.xsd")).unwrap();
    let compile = start.elapsed();
    let doc = sample();
    schema.validate(&doc).unwrap();
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        schema.validate(&doc).unwrap();
    }
    let per_doc = start.elapsed() / n;
    eprintln!(
        "CDA schema compile {compile:?}; parse + validate of the {} byte HL7 sample {per_doc:?} per document",
        doc.len()
    );
}
