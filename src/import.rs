//! `portti import contact-centre FILE`: sends a contact centre export to a running gateway in
//! chunks, with a progress line on stderr, and reports every rejected row by its file line.

use portti::auth::{sandbox, Scope};
use portti::case::OrganisationRegistry;
use portti::config::Config;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Rows per request: each request stays well inside the gateway's body limit and timeout.
pub const ROWS_PER_REQUEST: usize = 5_000;

#[derive(Debug, Default, Deserialize)]
struct Summary {
    accepted: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    rejected: Vec<Rejected>,
}

#[derive(Debug, Deserialize)]
struct Rejected {
    line: u64,
    #[serde(default)]
    call_id: Option<String>,
    errors: Vec<RowError>,
}

#[derive(Debug, Deserialize)]
struct RowError {
    field: String,
    detail: String,
}

/// One request's worth of the file: the header, then rows copied byte for byte, so that the
/// gateway's line `n` is the file's line `n + line_offset`.
struct Chunk {
    body: Vec<u8>,
    rows: usize,
    line_offset: u64,
}

fn chunks(data: &[u8], rows_per_chunk: usize) -> anyhow::Result<(Vec<Chunk>, BTreeSet<String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(data);
    let header = reader.headers()?.clone();
    let municipality = header.iter().position(|h| h.trim() == "municipality");
    let mut municipalities = BTreeSet::new();
    // Where the first row starts: the header's bytes end there.
    let header_end = reader.position().byte() as usize;
    let header_bytes = &data[..header_end];
    let mut starts: Vec<(usize, u64)> = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let position = reader.position().clone();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if let Some(m) = municipality.and_then(|i| record.get(i)) {
                    municipalities.insert(String::from_utf8_lossy(m).trim().to_string());
                }
                let start = record.position().unwrap_or(&position);
                starts.push((start.byte() as usize, start.line()));
            }
            // The gateway reports a row it cannot read; send it along.
            Err(_) => starts.push((position.byte() as usize, position.line())),
        }
    }
    let mut out = Vec::new();
    let per_chunk = rows_per_chunk.max(1);
    for (i, group) in starts.chunks(per_chunk).enumerate() {
        let (first_byte, first_line) = group[0];
        let end = starts.get((i + 1) * per_chunk).map(|s| s.0).unwrap_or(data.len());
        let mut body = header_bytes.to_vec();
        if !body.ends_with(b"\n") {
            body.push(b'\n');
        }
        body.extend_from_slice(&data[first_byte..end]);
        out.push(Chunk {
            body,
            rows: group.len(),
            line_offset: first_line.saturating_sub(2),
        });
    }
    Ok((out, municipalities))
}

/// A token for the sandbox gateway of this working directory, acting for the file's municipalities.
fn sandbox_token(config: &Config, municipalities: &BTreeSet<String>) -> anyhow::Result<String> {
    anyhow::ensure!(
        config.sandbox,
        "give --token (a sandbox token is only minted for the sandbox)"
    );
    let registry = OrganisationRegistry::new(config.organisations.iter().cloned());
    let orgs: Vec<String> = municipalities
        .iter()
        .filter_map(|m| registry.resolve(m))
        .map(|o| o.id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let key = sandbox::SigningKey::load_or_create(&config.data_dir)?;
    sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "portti-cli",
        &[Scope::CasesWrite],
        &orgs,
        3600,
    )
}

struct Progress {
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    fn show(&self) {
        const WIDTH: usize = 30;
        let filled = WIDTH * self.done / self.total.max(1);
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        eprint!(
            "\r[{}{}] {}/{} rows ({:.0} rows/s)",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            self.done,
            self.total,
            rate
        );
        let _ = std::io::stderr().flush();
    }
}

pub async fn contact_centre(
    config: &Config,
    file: &Path,
    url: Option<String>,
    token: Option<String>,
) -> anyhow::Result<ExitCode> {
    let data = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let (chunks, municipalities) = chunks(&data, ROWS_PER_REQUEST)?;
    let token = match token {
        Some(token) => token,
        None => sandbox_token(config, &municipalities)?,
    };
    let base = url.unwrap_or_else(|| format!("http://{}", config.listen));
    let endpoint = format!("{}/v1/imports/contact-centre", base.trim_end_matches('/'));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let mut total = Summary::default();
    let mut progress = Progress {
        total: chunks.iter().map(|c| c.rows).sum(),
        done: 0,
        started: Instant::now(),
    };
    progress.show();
    for chunk in chunks {
        let response = http
            .post(&endpoint)
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(chunk.body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            eprintln!();
            anyhow::bail!("the gateway answered {status}: {}", response.text().await?);
        }
        let summary: Summary = response.json().await?;
        total.accepted += summary.accepted;
        total.created += summary.created;
        total.updated += summary.updated;
        total.unchanged += summary.unchanged;
        total.rejected.extend(summary.rejected.into_iter().map(|r| Rejected {
            line: r.line + chunk.line_offset,
            ..r
        }));
        progress.done += chunk.rows;
        progress.show();
    }
    eprintln!();
    println!("accepted: {}", total.accepted);
    println!("created: {}", total.created);
    println!("updated: {}", total.updated);
    println!("unchanged: {}", total.unchanged);
    println!("rejected: {}", total.rejected.len());
    for row in &total.rejected {
        let errors: Vec<String> = row
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.detail))
            .collect();
        println!(
            "line {} (call {}): {}",
            row.line,
            row.call_id.as_deref().unwrap_or("?"),
            errors.join("; ")
        );
    }
    Ok(if total.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_repeat_the_header_and_keep_file_lines() {
        let data = b"call_id,municipality\na,853\n\"b\nc\",853\nd,Turku\ne,853\n";
        let (chunks, municipalities) = chunks(data, 2).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].body, b"call_id,municipality\na,853\n\"b\nc\",853\n");
        assert_eq!((chunks[0].rows, chunks[0].line_offset), (2, 0));
        assert_eq!(chunks[1].body, b"call_id,municipality\nd,Turku\ne,853\n");
        // d is on line 5 of the file, line 2 of the chunk.
        assert_eq!((chunks[1].rows, chunks[1].line_offset), (2, 3));
        assert_eq!(municipalities.into_iter().collect::<Vec<_>>(), ["853", "Turku"]);
    }
}
