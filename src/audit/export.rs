//! The trail in formats other tools read: JSON lines (every field, as stored), CSV (for
//! spreadsheets) and FHIR R4 AuditEvent (for health-care audit repositories). Each writer takes
//! records one at a time, so an export of any length streams.

use super::AuditRecord;
use chrono::SecondsFormat;
use futures_util::{stream, Stream, TryStreamExt};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    Fhir,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            "fhir" => Some(Self::Fhir),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Fhir => "application/fhir+json",
        }
    }

    pub fn file_extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Fhir => "json",
        }
    }
}

/// The CSV columns, in order: the chain fields too, so a spreadsheet export still verifies.
pub const CSV_COLUMNS: [&str; 17] = [
    "seq",
    "time",
    "client_id",
    "end_user",
    "role",
    "action",
    "purpose",
    "person",
    "organisation",
    "service",
    "exchange_id",
    "outcome",
    "request_digest",
    "response_digest",
    "correlation_id",
    "prev_hash",
    "hash",
];

/// Writes an export piece by piece: `start`, then `record` for each record, then `finish`.
pub struct ExportWriter {
    format: ExportFormat,
    written: u64,
}

impl ExportWriter {
    pub fn new(format: ExportFormat) -> Self {
        Self { format, written: 0 }
    }

    pub fn start(&self) -> Vec<u8> {
        match self.format {
            ExportFormat::Jsonl => Vec::new(),
            ExportFormat::Csv => csv_line(CSV_COLUMNS.iter().map(|c| c.to_string())),
            ExportFormat::Fhir => br#"{"resourceType":"Bundle","type":"collection","timestamp":""#
                .iter()
                .copied()
                .chain(
                    chrono::Utc::now()
                        .to_rfc3339_opts(SecondsFormat::Secs, true)
                        .into_bytes(),
                )
                .chain(br#"","entry":["#.iter().copied())
                .collect(),
        }
    }

    pub fn record(&mut self, record: &AuditRecord) -> Vec<u8> {
        let first = self.written == 0;
        self.written += 1;
        match self.format {
            ExportFormat::Jsonl => {
                let mut line = serde_json::to_vec(record).expect("an audit record serialises");
                line.push(b'\n');
                line
            }
            ExportFormat::Csv => csv_line(csv_fields(record)),
            ExportFormat::Fhir => {
                let mut entry = if first { Vec::new() } else { b",".to_vec() };
                let resource = fhir_audit_event(record);
                serde_json::to_writer(
                    &mut entry,
                    &json!({ "fullUrl": format!("urn:uuid:{}", record_uuid(record)), "resource": resource }),
                )
                .expect("JSON serialises");
                entry
            }
        }
    }

    pub fn finish(&self) -> Vec<u8> {
        match self.format {
            ExportFormat::Fhir => b"]}\n".to_vec(),
            _ => Vec::new(),
        }
    }

    pub fn written(&self) -> u64 {
        self.written
    }
}

fn csv_fields(r: &AuditRecord) -> Vec<String> {
    let e = &r.event;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        r.seq.to_string(),
        e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        e.actor.client_id.clone(),
        opt(&e.actor.end_user),
        opt(&e.actor.role),
        e.action.clone(),
        opt(&e.purpose),
        e.person.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default(),
        opt(&e.organisation),
        opt(&e.service),
        e.exchange_id.map(|id| id.to_string()).unwrap_or_default(),
        e.outcome.clone(),
        opt(&e.request_digest),
        opt(&e.response_digest),
        e.correlation_id.clone(),
        r.prev_hash.clone(),
        r.hash.clone(),
    ]
}

/// One CSV row (RFC 4180 quoting by the `csv` crate). A leading `=`, `+`, `-` or `@` is kept
/// as is: the values are identifiers and digests, and rewriting them would break verification.
fn csv_line(fields: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer
        .write_record(fields.into_iter().collect::<Vec<_>>())
        .expect("writing to memory cannot fail");
    writer.into_inner().expect("writing to memory cannot fail")
}

/// A stable resource id per record: the same record exports with the same id every time.
fn record_uuid(r: &AuditRecord) -> uuid::Uuid {
    let bytes = hex::decode(&r.hash).unwrap_or_default();
    let mut id = [0u8; 16];
    for (slot, b) in id.iter_mut().zip(bytes) {
        *slot = b;
    }
    uuid::Builder::from_custom_bytes(id).into_uuid()
}

/// The FHIR R4 (4.0.1) AuditEvent of a record. Persons appear as the trail keeps them: the keyed
/// hash, never the identity code.
pub fn fhir_audit_event(r: &AuditRecord) -> Value {
    let e = &r.event;
    let mut agents = vec![json!({
        "type": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
            "code": "dataprocessor", "display": "data processor" }] },
        "who": { "identifier": { "system": "urn:portti:api-client", "value": e.actor.client_id } },
        "requestor": e.actor.end_user.is_none(),
    })];
    if let Some(user) = &e.actor.end_user {
        let mut agent = json!({
            "type": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                "code": "humanuser", "display": "human user" }] },
            "who": { "identifier": { "system": "urn:portti:end-user", "value": user } },
            "requestor": true,
        });
        if let Some(role) = &e.actor.role {
            agent["role"] = json!([{ "text": role }]);
        }
        agents.push(agent);
    }
    if let Some(org) = &e.organisation {
        agents.push(json!({
            "type": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                "code": "datacollector", "display": "data collector" }] },
            "who": { "identifier": { "system": "urn:portti:organisation", "value": org } },
            "requestor": false,
        }));
    }

    let mut entities = vec![json!({
        "what": { "identifier": { "system": "urn:portti:audit-record", "value": r.seq.to_string() } },
        "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "4", "display": "Other" },
        "detail": chain_details(r),
    })];
    if let Some(person) = &e.person {
        entities.push(json!({
            "what": { "identifier": { "system": "urn:portti:person-key", "value": person.as_str() } },
            "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person" },
            "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient" },
        }));
    }
    if let Some(exchange) = e.exchange_id {
        let mut entity = json!({
            "what": { "identifier": { "system": "urn:portti:exchange", "value": exchange.to_string() } },
            "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" },
        });
        if let Some(service) = &e.service {
            entity["description"] = json!(format!("exchange with {service}"));
        }
        entities.push(entity);
    }

    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": record_uuid(r).to_string(),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest", "display": "RESTful Operation" },
        "subtype": [{ "system": "urn:portti:audit-action", "code": e.action }],
        "action": fhir_action(&e.action),
        "recorded": e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        "outcome": fhir_outcome(&e.outcome),
        "outcomeDesc": e.outcome,
        "agent": agents,
        "source": {
            "site": e.service.as_deref().unwrap_or("portti"),
            "observer": { "display": "Portti" },
            "type": [{ "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4", "display": "Application Server" }],
        },
        "entity": entities,
    });
    if let Some(purpose) = &e.purpose {
        event["purposeOfEvent"] = json!([{ "text": purpose }]);
    }
    event
}

fn chain_details(r: &AuditRecord) -> Vec<Value> {
    let e = &r.event;
    [
        ("prev_hash", Some(r.prev_hash.as_str())),
        ("hash", Some(r.hash.as_str())),
        ("correlation_id", Some(e.correlation_id.as_str())),
        ("request_digest", e.request_digest.as_deref()),
        ("response_digest", e.response_digest.as_deref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| json!({ "type": name, "valueString": v })))
    .collect()
}

/// C, R, U, D or E (execute) from the verb at the end of the action name.
fn fhir_action(action: &str) -> &'static str {
    let verb = action.rsplit('.').next().unwrap_or(action);
    match verb {
        "create" | "accept" | "archive" | "import" | "send" => "C",
        "read" | "list" | "query" | "search" | "fetch" | "export" | "report" | "check" | "verify" => "R",
        "update" | "transfer" | "retry" | "postpone" | "invalidate" | "status" => "U",
        "delete" | "prune" => "D",
        _ => "E",
    }
}

/// 0 success, 4 minor failure (the request was refused), 8 serious failure (it could not be done).
fn fhir_outcome(outcome: &str) -> &'static str {
    match outcome {
        "ok" | "succeeded" | "delivered" | "accepted" | "in_flight" | "retry_scheduled" | "replayed" => "0",
        "denied" | "not_found" | "invalid" | "refused" | "conflict" | "forbidden" => "4",
        _ => "8",
    }
}

/// Records of a query, page by page, as one stream: an export of any length never sits in memory.
pub fn stored(
    store: crate::store::Store,
    query: crate::store::AuditQuery,
) -> impl Stream<Item = Result<AuditRecord, crate::store::StoreError>> {
    stream::try_unfold((store, query, false), |(store, mut query, done)| async move {
        if done {
            return Ok::<_, crate::store::StoreError>(None);
        }
        let page = store.audit_records(&query).await?;
        let done = page.next.is_none();
        query.after_seq = page.items.last().map(|r| r.seq);
        Ok(Some((
            stream::iter(page.items.into_iter().map(Ok)),
            (store, query, done),
        )))
    })
    .try_flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{seal, Actor, AuditEvent, ChainHead, PersonHasher};
    use crate::case::IdentityCode;

    fn records() -> Vec<AuditRecord> {
        let hasher = PersonHasher::new(vec![3; 32]).unwrap();
        let person = hasher.key_of(&IdentityCode::parse("131052-308T").unwrap());
        let mut head = ChainHead::default();
        let event = |action: &str, outcome: &str, end_user: Option<&str>| AuditEvent {
            time: chrono::Utc::now(),
            actor: Actor {
                client_id: "ohjaus".into(),
                end_user: end_user.map(str::to_string),
                role: end_user.map(|_| "palveluohjaaja".to_string()),
            },
            action: action.into(),
            purpose: Some("palveluohjaus".into()),
            person: Some(person.clone()),
            organisation: Some("853".into()),
            service: Some("suomifi-messages".into()),
            exchange_id: Some(uuid::Uuid::now_v7()),
            outcome: outcome.into(),
            request_digest: Some(crate::audit::digest(b"{}")),
            response_digest: None,
            correlation_id: "req-1".into(),
        };
        vec![
            seal(&mut head, event("message.send", "ok", Some("tt-4711"))),
            // A comma, a quote and a newline: CSV must quote them.
            seal(&mut head, event("case.read", "denied, \"no\"\nreally", None)),
        ]
    }

    fn export(format: ExportFormat, records: &[AuditRecord]) -> Vec<u8> {
        let mut writer = ExportWriter::new(format);
        let mut out = writer.start();
        for r in records {
            out.extend(writer.record(r));
        }
        out.extend(writer.finish());
        out
    }

    #[test]
    fn jsonl_round_trips_and_still_verifies() {
        let records = records();
        let out = String::from_utf8(export(ExportFormat::Jsonl, &records)).unwrap();
        let back: Vec<AuditRecord> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(back, records);
        crate::audit::verify(&back).unwrap();
    }

    #[test]
    fn csv_has_the_header_and_quotes_what_needs_it() {
        let records = records();
        let out = export(ExportFormat::Csv, &records);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][11], "denied, \"no\"\nreally");
        assert_eq!(&rows[0][0], "1");
        assert_eq!(&rows[1][16], records[1].hash);
    }

    #[test]
    fn fhir_bundle_maps_agents_entities_and_outcome() {
        let records = records();
        let bundle: Value = serde_json::from_slice(&export(ExportFormat::Fhir, &records)).unwrap();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "collection");
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        let first = &entries[0]["resource"];
        assert_eq!(first["resourceType"], "AuditEvent");
        assert_eq!(first["outcome"], "0");
        assert_eq!(first["action"], "C");
        assert_eq!(first["purposeOfEvent"][0]["text"], "palveluohjaus");
        let agents = first["agent"].as_array().unwrap();
        assert_eq!(agents.len(), 3, "client, end user, organisation");
        assert_eq!(agents[1]["who"]["identifier"]["value"], "tt-4711");
        assert_eq!(agents[1]["requestor"], true);
        assert_eq!(agents[0]["requestor"], false);
        let person = &first["entity"][1];
        assert_eq!(
            person["what"]["identifier"]["value"],
            records[0].event.person.as_ref().unwrap().as_str()
        );
        let second = &entries[1]["resource"];
        assert_eq!(second["outcome"], "8");
        assert_eq!(second["action"], "R");
        assert_eq!(
            entries[0]["fullUrl"],
            format!("urn:uuid:{}", first["id"].as_str().unwrap())
        );
        assert!(!serde_json::to_string(&bundle).unwrap().contains("131052"));
    }

    #[test]
    fn audit_events_validate_under_an_independent_fhir_r4_model() {
        let records = records();
        let resources: Vec<Value> = records.iter().map(fhir_audit_event).collect();
        match portti_adapter_core::testkit::check_with_fhir_resources(&resources) {
            Ok(text) => assert!(text.starts_with("ok FHIR 4.0.1"), "{text}"),
            Err(e) => panic!("FHIR R4 model check failed: {e}"),
        }
        let bundle: Value = serde_json::from_slice(&export(ExportFormat::Fhir, &records)).unwrap();
        if let Err(e) = portti_adapter_core::testkit::check_with_fhir_resources(&[bundle]) {
            panic!("the bundle fails the FHIR R4 model check: {e}");
        }
    }

    #[test]
    fn an_empty_export_is_still_well_formed() {
        let bundle: Value = serde_json::from_slice(&export(ExportFormat::Fhir, &[])).unwrap();
        assert_eq!(bundle["entry"].as_array().unwrap().len(), 0);
        assert_eq!(export(ExportFormat::Csv, &[]).split(|b| *b == b'\n').count(), 2);
        assert!(export(ExportFormat::Jsonl, &[]).is_empty());
    }
}
