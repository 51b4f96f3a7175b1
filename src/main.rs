//! The `portti` command: runs the gateway (the default), mints sandbox tokens, verifies the
//! audit chain, and runs the benchmarks.

mod audit_export;
mod import;

use clap::{Parser, Subcommand};
use portti::auth::{sandbox, Scope};
use portti::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: the request path allocates many small, short-lived buffers, which glibc's
/// allocator serves noticeably slower under two busy threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "portti",
    version,
    about = "Integration gateway to Finland's national social and health care services"
)]
struct Cli {
    /// TOML config file; every key can also be set by a PORTTI_… environment variable.
    #[arg(long, env = "PORTTI_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Print a token that the sandbox gateway of this working directory accepts.
    Token {
        #[arg(long)]
        client: String,
        /// Comma-separated, e.g. cases:write,cases:read,audit:read
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Organisations the client acts for, e.g. 853,529
        #[arg(long, value_delimiter = ',')]
        orgs: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Scheduled jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Import exports of other systems into the running gateway.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Benchmarks that print `name: value` lines.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and check every checkpoint (signature, record, timestamp);
    /// exits non-zero naming the first problem.
    Verify {
        /// Also verify the archive files in this directory, on their own and in sequence.
        #[arg(long)]
        archive: Option<PathBuf>,
    },
    /// Write the records before DATE that a checkpoint closes to an archive file, then remove
    /// them from the database.
    Archive {
        /// YYYY-MM-DD (midnight in Helsinki) or an RFC 3339 time.
        #[arg(long)]
        before: String,
        /// The archive directory (default: `audit.archive_dir`).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write the trail (every organisation's) as JSON lines, CSV or a FHIR R4 AuditEvent bundle.
    Export {
        /// At or after: a date (YYYY-MM-DD, Helsinki) or an RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Before this RFC 3339 time, or through this date.
        #[arg(long)]
        to: Option<String>,
        /// jsonl, csv or fhir.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only this organisation's records.
        #[arg(long)]
        organisation: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// The jobs, their schedules, next and last runs.
    List,
    /// Run a job now (through the running gateway if there is one).
    Run { name: String },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A contact centre's CSV export of calls and chats; exits non-zero if any row was rejected.
    ContactCentre {
        file: PathBuf,
        /// The gateway, e.g. http://127.0.0.1:8080 (default: this configuration's listen address).
        #[arg(long)]
        url: Option<String>,
        /// Bearer token with cases:write (default: a sandbox token for the file's municipalities).
        #[arg(long, env = "PORTTI_TOKEN")]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Start a gateway and a Suomi.fi Messages simulator; deliver messages end to end and directly.
    Exchanges {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds of each measured phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Kanta documents built + signed + wrapped in the HL7 V3 message per CPU second, against
    /// the same without signing and raw RSA signatures with the same key (nothing is sent).
    Kanta {
        /// Seconds of each measured phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Threads sharing one adapter.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Suomi.fi Identification responses decrypted and verified per CPU second, against raw
    /// RSA private-key operations with the same key.
    Saml {
        /// Seconds of each measured phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Case intake on PostgreSQL through one gateway and through several on one database, taking turns.
    Replicas {
        /// The PostgreSQL server (without a database name): each phase gets a fresh database.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
        postgres: String,
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds measured of each setup (one replica, several), in all: the ratio of two
        /// rates on a shared machine needs longer than one rate.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Slices the measured time is cut into, the setups taking turns.
        #[arg(long, default_value_t = 10)]
        rounds: u32,
    },
    /// Start a gateway and drive case intake against it.
    Intake {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds of each measured phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTTI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let sandbox = config.sandbox;
            let data_dir = config.data_dir.clone();
            portti::app::run(config, |addr, gateway| {
                tracing::info!(%addr, "Portti is listening");
                if sandbox {
                    let simulator = gateway.messages_simulator.as_ref().map(|s| s.base_url());
                    println!("{}", quick_start(&addr.to_string(), &data_dir, simulator.as_deref()));
                }
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            client,
            scopes,
            orgs,
            ttl,
        } => {
            anyhow::ensure!(config.sandbox, "portti token only mints tokens for the sandbox");
            let scopes = scopes
                .iter()
                .map(|s| {
                    Scope::parse(s.trim())
                        .ok_or_else(|| anyhow::anyhow!("unknown scope {s:?}; known: {}", known_scopes()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let key = sandbox::SigningKey::load_or_create(&config.data_dir)?;
            let orgs: Vec<String> = orgs.iter().map(|o| o.trim().to_string()).collect();
            println!(
                "{}",
                sandbox::mint(
                    &key,
                    &config.auth.issuer,
                    &config.auth.audience,
                    &client,
                    &scopes,
                    &orgs,
                    ttl
                )?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { archive },
        } => audit_verify(&config, archive.as_deref()).await,
        Command::Audit {
            command: AuditCommand::Archive { before, dir },
        } => {
            let before = parse_date(&before)?;
            let dir = dir.unwrap_or_else(|| config.data_path(&config.audit.archive_dir));
            let store = open_store(&config).await?;
            let keys = portti::app::audit_keys(&config)?;
            match portti::audit::archive::archive_before(&store, &keys, &dir, before).await? {
                Some(entry) => println!(
                    "archived records {}–{} to {} (sha256 {})",
                    entry.first_seq,
                    entry.last_seq,
                    dir.join(&entry.file).display(),
                    entry.sha256
                ),
                None => println!(
                    "nothing to archive: no checkpoint closes records before {}",
                    before.to_rfc3339()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::Export {
                    from,
                    to,
                    format,
                    organisation,
                    out,
                },
        } => {
            let store = open_store(&config).await?;
            let count = audit_export::run(&store, from, to, &format, organisation, out.as_deref()).await?;
            eprintln!("exported {count} audit records");
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs {
            command: JobsCommand::List,
        } => {
            let store = open_store(&config).await?;
            for job in portti::jobs::describe(&config.jobs)? {
                let last = store.job_runs(&job.name, 1).await?.into_iter().next();
                println!("name: {}", job.name);
                println!("schedule: {}", job.schedule);
                println!("next_run: {}", job.next_run.map(|t| t.to_rfc3339()).unwrap_or_default());
                match last {
                    Some(run) => println!(
                        "last_run: {} {} {}",
                        run.started_at.to_rfc3339(),
                        run.outcome,
                        run.counts
                    ),
                    None => println!("last_run: never"),
                }
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs {
            command: JobsCommand::Run { name },
        } => {
            let run = match portti::app::build(&config).await {
                Ok(gateway) => gateway.jobs.run(&name).await?,
                Err(e) if e.to_string().contains("another Portti") && config.sandbox => {
                    run_job_in_running_gateway(&config, &name).await?
                }
                Err(e) => return Err(e),
            };
            println!("job: {}", run.job);
            println!("outcome: {}", run.outcome);
            println!("started_at: {}", run.started_at.to_rfc3339());
            println!("finished_at: {}", run.finished_at.to_rfc3339());
            println!("counts: {}", run.counts);
            if let Some(error) = &run.error {
                println!("error: {error}");
            }
            Ok(if run.outcome == "ok" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Import {
            command: ImportCommand::ContactCentre { file, url, token },
        } => import::contact_centre(&config, &file, url, token).await,
        Command::Bench {
            command: BenchCommand::Exchanges { concurrency, seconds },
        } => {
            let report = portti::bench::exchanges(concurrency, std::time::Duration::from_secs(seconds)).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command: BenchCommand::Kanta { seconds, threads },
        } => {
            let duration = std::time::Duration::from_secs(seconds);
            let report = tokio::task::spawn_blocking(move || portti::bench::kanta(threads, duration)).await??;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command: BenchCommand::Saml { seconds, threads },
        } => {
            let report = portti::bench::saml(threads, std::time::Duration::from_secs(seconds)).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command:
                BenchCommand::Replicas {
                    postgres,
                    replicas,
                    concurrency,
                    seconds,
                    rounds,
                },
        } => {
            let duration = std::time::Duration::from_secs(seconds);
            let report = portti::bench::replicas(&postgres, replicas, concurrency, duration, rounds).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command: BenchCommand::Intake { concurrency, seconds },
        } => {
            let report = portti::bench::intake(concurrency, std::time::Duration::from_secs(seconds)).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `YYYY-MM-DD` (the start of that day in Helsinki, as every date Portti reads) or RFC 3339.
fn parse_date(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    portti::case::holidays::period_bound(text, false)
        .ok_or_else(|| anyhow::anyhow!("--before {text:?} is neither YYYY-MM-DD nor an RFC 3339 time"))
}

/// Exit 0 when everything verifies, 2 with the first problem otherwise.
async fn audit_verify(config: &Config, archive: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let keys = portti::app::audit_keys(config)?;
    let db = config.data_path(&config.store.sqlite_file);
    let store = if archive.is_none() || db.exists() {
        Some(open_store(config).await?)
    } else {
        None
    };
    let total = match &store {
        Some(store) => store.audit_count().await?,
        None => 0,
    };
    let bar = if total >= 10_000 {
        let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records {eta}") {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut problems = Vec::new();
    if let Some(dir) = archive {
        let recorded = match &store {
            Some(store) => Some(store.audit_archives().await?),
            None => None,
        };
        let progress = bar.clone();
        let report = portti::audit::archive::verify_dir(dir, &keys, recorded.as_deref(), &move |n| progress.inc(n))?;
        println!(
            "archive: {} segments, {} records, last record {} hash {}",
            report.segments.len(),
            report.records,
            report.head.0,
            report.head.1
        );
        problems.extend(report.problems);
    }
    if let Some(store) = &store {
        let progress = bar.clone();
        let status = portti::audit::audit_status(store, &keys, &move |n| progress.inc(n)).await?;
        bar.finish_and_clear();
        println!(
            "database: {} records after {} archived, head {} hash {}; {} checkpoints{}",
            status.records,
            status.archived_to_seq,
            status.head_seq,
            status.head_hash,
            status.checkpoints,
            match &status.last_checkpoint {
                Some(c) => format!(
                    ", the last of record {} at {}{}",
                    c.seq,
                    c.time.to_rfc3339(),
                    if c.timestamped {
                        " (timestamped)"
                    } else {
                        " (not timestamped)"
                    }
                ),
                None => String::new(),
            }
        );
        problems.extend(status.problems);
    }
    match problems.first() {
        None => {
            println!("audit trail OK");
            Ok(ExitCode::SUCCESS)
        }
        Some(first) => {
            println!("audit trail BROKEN at {first}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<portti::store::Store> {
    portti::store::Store::open(&portti::store::StoreConfig {
        sqlite_path: config.data_path(&config.store.sqlite_file),
        database_url: config.database_url.clone(),
        max_batch: 1,
        read_connections: 1,
        max_size_bytes: None,
    })
    .await
}

/// A sandbox gateway holds the data directory: ask it to run the job, with a token of its own key.
async fn run_job_in_running_gateway(config: &Config, name: &str) -> anyhow::Result<portti::store::JobRun> {
    let key = sandbox::SigningKey::load_or_create(&config.data_dir)?;
    let mut orgs = config.sandbox_services.messages_organisations.clone();
    orgs.extend(config.suomifi_messages.iter().map(|m| m.organisation.clone()));
    let token = sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "portti-cli",
        &[Scope::JobsRun],
        &orgs,
        60,
    )?;
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/jobs/{name}/run", config.listen))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "the gateway answered {}: {}",
        response.status(),
        response.text().await?
    );
    Ok(response.json().await?)
}

fn known_scopes() -> String {
    Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn quick_start(addr: &str, data_dir: &std::path::Path, messages_simulator: Option<&str>) -> String {
    let messages = match messages_simulator {
        None => String::new(),
        Some(sim) => format!(
            r#"
Suomi.fi Messages simulator on {sim} (persons with a mailbox: 010594Y9032, 260881-1233; without: 131052-308T):

  TOKEN=$(cargo run --release -q -- token --client ohjaus --scopes messages:send,exchanges:read,exchanges:retry --orgs 853 | tail -n1)
  curl -s -X POST http://{addr}/v1/messages -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{{"organisation":"853","recipient":{{"identity_code":"010594Y9032"}},"title":"Asiakasohjaus",
         "body":"Hei! Soitamme teille huomenna.","body_format":"text","language":"fi"}}'
  curl -s http://{addr}/v1/exchanges/<exchange_id> -H "Authorization: Bearer $TOKEN"
  curl -s -X POST {sim}/_simulator/citizen/read -H 'Content-Type: application/json' -d '{{"messageId": <upstream_id>}}'
"#
        ),
    };
    format!(
        r#"
Portti sandbox on http://{addr} (data in {data}). Quick start, from this directory:

  TOKEN=$(cargo run --release -q -- token --client ohjaus --scopes cases:write,cases:read,audit:read --orgs 853 | tail -n1)
  curl -s -X POST http://{addr}/v1/cases -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{{"organiser":"853","channel":"phone","language":"svenska","received_at":"2026-11-02T09:15:00+02:00",
         "client":{{"identity_code":"131052-308t","municipality":"Åbo","phone":"040 123 4567"}},"outcome":"resolved_first_contact"}}'
  curl -s http://{addr}/v1/cases/<id> -H "Authorization: Bearer $TOKEN"
  curl -s "http://{addr}/v1/audit?person=131052-308T" -H "Authorization: Bearer $TOKEN"
  curl -s http://{addr}/v1/audit/verify -H "Authorization: Bearer $TOKEN"
  API description: http://{addr}/openapi.json
{messages}"#,
        data = data_dir.display()
    )
}
