//! `portti audit export`: the same formats as `GET /v1/audit/export`, read straight from the
//! store by an operator on the gateway's machine (every organisation, no token needed).

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use portti::audit::export::{self, ExportFormat, ExportWriter};
use portti::store::{AuditQuery, Store};
use std::io::Write;
use std::path::Path;

pub async fn run(
    store: &Store,
    from: Option<String>,
    to: Option<String>,
    format: &str,
    organisation: Option<String>,
    out: Option<&Path>,
) -> anyhow::Result<u64> {
    let format = ExportFormat::parse(format).context("--format must be jsonl, csv or fhir")?;
    let from = from.map(|v| bound(&v, false)).transpose().context("--from")?;
    let to = to.map(|v| bound(&v, true)).transpose().context("--to")?;
    let query = AuditQuery {
        organisations: organisation.map(|o| vec![o]),
        person: None,
        from,
        to,
        actor: None,
        action: None,
        service: None,
        after_seq: None,
        limit: 5_000,
    };
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut writer = ExportWriter::new(format);
    sink.write_all(&writer.start())?;
    let mut records = std::pin::pin!(export::stored(store.clone(), query));
    while let Some(record) = records.try_next().await? {
        sink.write_all(&writer.record(&record))?;
    }
    sink.write_all(&writer.finish())?;
    sink.flush()?;
    Ok(writer.written())
}

fn bound(value: &str, end: bool) -> anyhow::Result<DateTime<Utc>> {
    portti::case::holidays::period_bound(value, end).context("expected YYYY-MM-DD or an RFC 3339 time")
}
