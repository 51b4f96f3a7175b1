//! `portti bench intake`: starts a gateway as a child process on a fresh data directory and
//! drives it from this process, reporting intake against the same server's no-I/O ceiling.
//! `portti bench exchanges`: Suomi.fi Messages end to end against the adapter alone.
//! `portti bench kanta`: Kanta documents built, signed and wrapped per CPU second, against
//! raw RSA signatures with the same key.

mod load;

use crate::auth::{sandbox, Scope};
use axum::http::{HeaderValue, Method, StatusCode};
use load::Load;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Command;

pub struct Report {
    pub intake_per_s: f64,
    pub intake_p50_ms: f64,
    pub intake_p99_ms: f64,
    pub healthz_per_s: f64,
    pub rss_mib: f64,
    /// The gateway's CPU time (user + system) per accepted case: steadier than rates on a busy machine.
    pub intake_cpu_us: f64,
    /// This process's CPU time (the load generator) per accepted case: what the clients take
    /// from the cores the gateway shares with them.
    pub client_cpu_us: f64,
    pub errors: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "intake_per_s: {:.0}", self.intake_per_s)?;
        writeln!(f, "intake_p50_ms: {:.2}", self.intake_p50_ms)?;
        writeln!(f, "intake_p99_ms: {:.2}", self.intake_p99_ms)?;
        writeln!(f, "healthz_per_s: {:.0}", self.healthz_per_s)?;
        writeln!(f, "ratio: {:.3}", self.intake_per_s / self.healthz_per_s.max(1.0))?;
        writeln!(f, "rss_mib: {:.1}", self.rss_mib)?;
        writeln!(f, "intake_cpu_us: {:.0}", self.intake_cpu_us)?;
        writeln!(f, "client_cpu_us: {:.0}", self.client_cpu_us)?;
        writeln!(f, "errors: {}", self.errors)
    }
}

/// A valid identity code for the n-th synthetic client (born 1930–1959, individual 002–899).
fn synthetic_identity_code(n: u64) -> String {
    let day = 1 + n % 28;
    let month = 1 + (n / 28) % 12;
    let year = 30 + (n / 336) % 30;
    let individual = 2 + (n * 7) % 898;
    let ddmmyy = format!("{day:02}{month:02}{year:02}");
    let number: u64 = format!("{ddmmyy}{individual:03}").parse().expect("digits");
    format!("{ddmmyy}-{individual:03}{}", crate::case::hetu::check_char(number))
}

fn case_body(n: u64) -> String {
    let mut body: serde_json::Value = serde_json::from_str(crate::case::input::EXAMPLE).expect("the example is JSON");
    body["client"]["identity_code"] = synthetic_identity_code(n).into();
    body.to_string()
}

/// CPU seconds used so far by every process of this machine named `postgres` (the server and
/// its backends; a backend that exited takes its time with it, so runs keep connections open).
fn local_postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres"))
        .map(cpu_seconds)
        .sum()
}

/// User plus system CPU seconds the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Runs `workers` loops of `request` until `duration` passes; returns per-request latencies in µs and the error count.
async fn drive<F, Fut>(workers: usize, duration: Duration, request: F) -> (Vec<u32>, u64)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for w in 0..workers as u64 {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = w * 1_000_000;
            while Instant::now() < deadline {
                let started = Instant::now();
                if request(n).await {
                    latencies.push(started.elapsed().as_micros() as u32);
                } else {
                    errors += 1;
                }
                n += 1;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    (all, errors)
}

fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

/// A gateway in a child process on a fresh data directory, killed when dropped.
struct ChildGateway {
    child: tokio::process::Child,
    pid: u32,
    addr: std::net::SocketAddr,
    base: String,
    data_dir: std::path::PathBuf,
    client: reqwest::Client,
}

impl ChildGateway {
    /// Starts `portti serve` with sandbox defaults whatever this shell has set, plus `env`.
    async fn start(data_dir: std::path::PathBuf, concurrency: usize, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(std::env::current_exe()?);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PORTTI_") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .env("PORTTI_DATA_DIR", &data_dir)
            .env("PORTTI_LISTEN", format!("127.0.0.1:{port}"))
            .env("PORTTI_SANDBOX", "true")
            .env("PORTTI_SANDBOX_SERVICES__MESSAGES_LISTEN", "127.0.0.1:0")
            .env("PORTTI_SANDBOX_SERVICES__KANTA_LISTEN", "127.0.0.1:0")
            .env("PORTTI_SANDBOX_SERVICES__IDENTIFICATION_LISTEN", "127.0.0.1:0")
            .env("PORTTI_SANDBOX_SERVICES__MANDATES_LISTEN", "127.0.0.1:0")
            .env("PORTTI_SANDBOX_SERVICES__ODA_LISTEN", "127.0.0.1:0")
            .env("PORTTI_SANDBOX_SERVICES__TSA_LISTEN", "127.0.0.1:0")
            .env("PORTTI_SANDBOX_SERVICES__PTV_LISTEN", "127.0.0.1:0")
            .env("PORTTI_LIMITS__PER_CLIENT_CONCURRENCY", (concurrency * 2).to_string())
            .env("PORTTI_LOG", "warn");
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.stdout(std::process::Stdio::null()).kill_on_drop(true).spawn()?;
        let pid = child.id().unwrap_or(0);
        let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
        let started = Instant::now();
        while client.get(format!("{base}/readyz")).send().await.is_err() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the gateway did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            child,
            pid,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            base,
            data_dir,
            client,
        })
    }

    /// The `Authorization` header value of a token with these scopes.
    fn bearer(&self, scopes: &[Scope]) -> anyhow::Result<HeaderValue> {
        Ok(HeaderValue::from_str(&format!("Bearer {}", self.token(scopes)?))?)
    }

    fn token(&self, scopes: &[Scope]) -> anyhow::Result<String> {
        let key = sandbox::SigningKey::load_or_create(&self.data_dir)?;
        let auth = crate::config::Config::default().auth;
        sandbox::mint(
            &key,
            &auth.issuer,
            &auth.audience,
            "bench",
            scopes,
            &["853".into()],
            3600,
        )
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn fresh_data_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("portti-bench-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub async fn intake(concurrency: usize, duration: Duration) -> anyhow::Result<Report> {
    let gateway = ChildGateway::start(fresh_data_dir()?, concurrency, &[]).await?;
    let pid = gateway.pid;
    let targets = Arc::new(vec![gateway.addr]);
    let healthz = Load {
        targets: targets.clone(),
        method: Method::GET,
        path: "/healthz",
        authorization: None,
        bodies: Arc::default(),
        expect: StatusCode::OK,
    };
    // Bodies are made before measuring so that the client spends its time on requests.
    let intake = Load {
        targets,
        method: Method::POST,
        path: "/v1/cases",
        authorization: Some(gateway.bearer(&[Scope::CasesWrite])?),
        bodies: Arc::new((0..4096).map(|n| bytes::Bytes::from(case_body(n))).collect()),
        expect: StatusCode::CREATED,
    };
    // Warm up connections, caches and the database file before measuring.
    load::drive(concurrency, Duration::from_secs(2), &intake).await;
    let (h, _) = load::drive(concurrency, duration, &healthz).await;
    let cpu_before = cpu_seconds(pid);
    let client_cpu_before = cpu_seconds(std::process::id());
    let (mut lat, errors) = load::drive(concurrency, duration, &intake).await;
    let client_cpu_used = cpu_seconds(std::process::id()) - client_cpu_before;
    let cpu_used = cpu_seconds(pid) - cpu_before;
    lat.sort_unstable();
    let rss_mib = peak_rss_mib(pid);
    gateway.stop().await;
    Ok(Report {
        intake_per_s: lat.len() as f64 / duration.as_secs_f64(),
        intake_p50_ms: percentile_ms(&lat, 0.50),
        intake_p99_ms: percentile_ms(&lat, 0.99),
        healthz_per_s: h.len() as f64 / duration.as_secs_f64(),
        rss_mib,
        intake_cpu_us: cpu_used * 1e6 / (lat.len().max(1) as f64),
        client_cpu_us: client_cpu_used * 1e6 / (lat.len().max(1) as f64),
        errors,
    })
}

/// What one phase of `bench replicas` measured: the rate, and the database's work per intake.
pub struct ReplicaPhase {
    pub replicas: usize,
    pub intake_per_s: f64,
    /// Committed transactions per accepted case (PostgreSQL's `pg_stat_database`, the whole
    /// run including warm-up): a group-commit batch is one, each read outside one is one.
    pub transactions_per_intake: f64,
    /// Rows inserted, updated or deleted per accepted case.
    pub rows_written_per_intake: f64,
    /// Batches that found the audit chain's lock held by another replica, per accepted case.
    pub chain_lock_waits_per_intake: f64,
    /// CPU time of all the gateways per accepted case (measured phase).
    pub gateway_cpu_us: f64,
    /// CPU time of this machine's PostgreSQL processes per accepted case (measured phase; 0
    /// when the server runs elsewhere).
    pub database_cpu_us: f64,
    pub errors: u64,
}

pub struct ReplicasReport {
    pub one: ReplicaPhase,
    pub many: ReplicaPhase,
}

impl fmt::Display for ReplicasReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (prefix, phase) in [("one", &self.one), ("replicas", &self.many)] {
            writeln!(f, "{prefix}_replicas: {}", phase.replicas)?;
            writeln!(f, "{prefix}_intake_per_s: {:.0}", phase.intake_per_s)?;
            writeln!(
                f,
                "{prefix}_transactions_per_intake: {:.2}",
                phase.transactions_per_intake
            )?;
            writeln!(
                f,
                "{prefix}_rows_written_per_intake: {:.2}",
                phase.rows_written_per_intake
            )?;
            writeln!(
                f,
                "{prefix}_chain_lock_waits_per_intake: {:.3}",
                phase.chain_lock_waits_per_intake
            )?;
            writeln!(f, "{prefix}_gateway_cpu_us: {:.0}", phase.gateway_cpu_us)?;
            writeln!(f, "{prefix}_database_cpu_us: {:.0}", phase.database_cpu_us)?;
            writeln!(f, "{prefix}_errors: {}", phase.errors)?;
        }
        writeln!(
            f,
            "ratio: {:.3}",
            self.many.intake_per_s / self.one.intake_per_s.max(1.0)
        )
    }
}

/// Commits and rows written in the current database so far (as far as PostgreSQL has counted).
async fn database_work(url: &str) -> anyhow::Result<(i64, i64)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let work = sqlx::query_as(
        "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(work)
}

/// The value of a plain gauge or counter on a gateway's `/metrics`.
async fn scrape(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<f64> {
    let text = client.get(format!("{base}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0))
}

/// `replicas` gateways on a fresh database of the PostgreSQL server at `server`, driven by the
/// same clients spread over them in turn, and what has been measured of them so far.
struct ReplicaSet {
    database: crate::store::testing::TestDatabase,
    gateways: Vec<ChildGateway>,
    intake: Load,
    /// The database's (commits, rows written) before the first request.
    work_before: (i64, i64),
    intakes: usize,
    measured: usize,
    seconds: f64,
    gateway_cpu: f64,
    database_cpu: f64,
    errors: u64,
}

impl ReplicaSet {
    async fn start(server: &str, replicas: usize, concurrency: usize) -> anyhow::Result<Self> {
        let database = crate::store::testing::TestDatabase::create_on(server).await?;
        let env = [("PORTTI_DATABASE_URL", database.url.clone())];
        let first = ChildGateway::start(fresh_data_dir()?, concurrency, &env).await?;
        // Replicas share the person-key secret, the checkpoint key and the token key.
        let mut gateways = vec![first];
        for _ in 1..replicas {
            let dir = fresh_data_dir()?;
            for entry in std::fs::read_dir(&gateways[0].data_dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let own = name == "portti.lock" || name.to_string_lossy().starts_with("portti.db");
                if entry.file_type()?.is_file() && !own {
                    std::fs::copy(entry.path(), dir.join(&name))?;
                }
            }
            gateways.push(ChildGateway::start(dir, concurrency, &env).await?);
        }
        let intake = Load {
            targets: Arc::new(gateways.iter().map(|g| g.addr).collect()),
            method: Method::POST,
            path: "/v1/cases",
            authorization: Some(gateways[0].bearer(&[Scope::CasesWrite])?),
            bodies: Arc::new((0..4096).map(|n| bytes::Bytes::from(case_body(n))).collect()),
            expect: StatusCode::CREATED,
        };
        let work_before = database_work(&database.url).await?;
        let (warm, _) = load::drive(concurrency, Duration::from_secs(2), &intake).await;
        Ok(Self {
            database,
            gateways,
            intake,
            work_before,
            intakes: warm.len(),
            measured: 0,
            seconds: 0.0,
            gateway_cpu: 0.0,
            database_cpu: 0.0,
            errors: 0,
        })
    }

    /// Drives intake for `duration` and adds what it measured.
    async fn measure(&mut self, concurrency: usize, duration: Duration) {
        let cpu = || {
            let gateways: f64 = self.gateways.iter().map(|g| cpu_seconds(g.pid)).sum();
            (gateways, local_postgres_cpu_seconds())
        };
        let before = cpu();
        let (accepted, errors) = load::drive(concurrency, duration, &self.intake).await;
        let after = cpu();
        self.gateway_cpu += after.0 - before.0;
        self.database_cpu += after.1 - before.1;
        self.intakes += accepted.len();
        self.measured += accepted.len();
        self.seconds += duration.as_secs_f64();
        self.errors += errors;
    }

    async fn finish(self) -> anyhow::Result<ReplicaPhase> {
        let mut lock_waits = 0.0;
        for gateway in &self.gateways {
            lock_waits += scrape(&gateway.client, &gateway.base, "portti_store_chain_lock_waits").await?;
        }
        // A backend reports its counts when its connection closes: stop the gateways first.
        let replicas = self.gateways.len();
        for gateway in self.gateways {
            gateway.stop().await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = database_work(&self.database.url).await?;
        let intakes = self.intakes.max(1) as f64;
        let per_intake_us = |seconds: f64| seconds * 1e6 / self.measured.max(1) as f64;
        Ok(ReplicaPhase {
            replicas,
            intake_per_s: self.measured as f64 / self.seconds.max(f64::EPSILON),
            transactions_per_intake: (after.0 - self.work_before.0) as f64 / intakes,
            rows_written_per_intake: (after.1 - self.work_before.1) as f64 / intakes,
            chain_lock_waits_per_intake: lock_waits / intakes,
            gateway_cpu_us: per_intake_us(self.gateway_cpu),
            database_cpu_us: per_intake_us(self.database_cpu),
            errors: self.errors,
        })
    }
}

/// `portti bench replicas`: case intake on PostgreSQL through one gateway and through
/// `replicas` gateways on another database, in one run. On a machine whose cores the gateways
/// share, replicas cannot add throughput; the ratio shows what coordinating them costs. The
/// measured time is cut into `rounds` slices taken in turn (one, many, many, one, …), so that
/// a machine whose speed drifts during the run (other tenants, clock changes) slows both alike.
pub async fn replicas(
    server: &str,
    replicas: usize,
    concurrency: usize,
    duration: Duration,
    rounds: u32,
) -> anyhow::Result<ReplicasReport> {
    let mut one = ReplicaSet::start(server, 1, concurrency).await?;
    let mut many = ReplicaSet::start(server, replicas, concurrency).await?;
    let rounds = rounds.max(1);
    let slice = duration / rounds;
    for round in 0..rounds {
        let (first, second) = if round % 2 == 0 {
            (&mut one, &mut many)
        } else {
            (&mut many, &mut one)
        };
        first.measure(concurrency, slice).await;
        second.measure(concurrency, slice).await;
    }
    Ok(ReplicasReport {
        one: one.finish().await?,
        many: many.finish().await?,
    })
}

pub struct ExchangesReport {
    pub delivered_per_s: f64,
    pub direct_per_s: f64,
    pub accepted: u64,
    pub errors: u64,
}

impl fmt::Display for ExchangesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "delivered_per_s: {:.0}", self.delivered_per_s)?;
        writeln!(f, "direct_per_s: {:.0}", self.direct_per_s)?;
        writeln!(f, "ratio: {:.3}", self.delivered_per_s / self.direct_per_s.max(1.0))?;
        writeln!(f, "accepted: {}", self.accepted)?;
        writeln!(f, "errors: {}", self.errors)
    }
}

fn message_body(n: u64) -> serde_json::Value {
    let persons = portti_simulators::suomifi_messages::SANDBOX_PERSONS_WITH_MAILBOX;
    serde_json::json!({ "organisation": "853", "recipient": { "identity_code": persons[n as usize % persons.len()] },
        "title": "Asiakasohjaus", "body": format!("Hei! Soitamme teille huomenna. ({n})"), "body_format": "text",
        "language": "fi" })
}

/// `portti bench exchanges`: Suomi.fi Messages delivered end to end through a gateway (child
/// process) to the simulator (this process), against the same simulator driven directly by
/// the same adapter with no gateway between, in one run.
pub async fn exchanges(concurrency: usize, duration: Duration) -> anyhow::Result<ExchangesReport> {
    use portti_adapter_core::{Adapter, CallContext, Operation};
    use portti_simulators::suomifi_messages as simulator;
    use portti_suomifi_messages::{MessagesConfig, SuomifiMessages};

    let account = simulator::Account {
        username: "portti-bench".into(),
        password: format!("{}-bench", simulator::SANDBOX_PASSWORD),
    };
    let mut sim_config = simulator::Config::sandbox();
    sim_config.accounts = vec![account.clone()];
    let sim = simulator::start(sim_config, "127.0.0.1:0".parse()?).await?;
    let control = sim.control();
    let data_dir = fresh_data_dir()?;
    let password_file = data_dir.join("suomifi-messages.password");
    std::fs::write(&password_file, &account.password)?;
    let adapter_config = MessagesConfig {
        base_url: sim.base_url(),
        username: account.username.clone(),
        password_file: password_file.clone(),
        service_id: "portti-bench".into(),
        ..MessagesConfig::default()
    };

    // Directly: the adapter against the simulator.
    let adapter = Arc::new(SuomifiMessages::new(adapter_config)?);
    let direct = {
        let adapter = adapter.clone();
        move |n: u64| {
            let adapter = adapter.clone();
            async move {
                // The payload the gateway queues for the same message.
                let api = message_body(n);
                let payload = serde_json::json!({
                    "recipient_identity_code": api["recipient"]["identity_code"], "title": api["title"],
                    "body": api["body"], "body_format": api["body_format"], "language": api["language"] });
                let cx = CallContext {
                    exchange_id: uuid::Uuid::now_v7(),
                    attempt: 1,
                    correlation_id: String::new(),
                    deadline: Instant::now() + Duration::from_secs(30),
                };
                let op = Operation {
                    name: portti_suomifi_messages::OP_SEND.into(),
                    payload,
                };
                adapter.call(&cx, &op).await.is_ok()
            }
        }
    };
    drive(concurrency, Duration::from_secs(1), direct.clone()).await;
    let (direct_lat, _) = drive(concurrency, duration, direct).await;
    let direct_per_s = direct_lat.len() as f64 / duration.as_secs_f64();

    // Through the gateway: accepted by the API, delivered by the broker.
    let config = data_dir.join("portti.toml");
    std::fs::write(
        &config,
        format!(
            "[[suomifi_messages]]\norganisation = \"853\"\n[suomifi_messages.adapter]\nbase_url = \"{}\"\n\
             username = \"{}\"\npassword_file = \"{}\"\nservice_id = \"portti-bench\"\n",
            sim.base_url(),
            account.username,
            password_file.display()
        ),
    )?;
    let gateway = ChildGateway::start(
        data_dir.clone(),
        concurrency,
        &[("PORTTI_CONFIG", config.display().to_string())],
    )
    .await?;
    let before = control.message_count();
    let send = Load {
        targets: Arc::new(vec![gateway.addr]),
        method: Method::POST,
        path: "/v1/messages",
        authorization: Some(gateway.bearer(&[Scope::MessagesSend])?),
        bodies: Arc::new(
            (0..4096)
                .map(|n| bytes::Bytes::from(message_body(n).to_string()))
                .collect(),
        ),
        expect: StatusCode::ACCEPTED,
    };
    let started = Instant::now();
    let (accepted, errors) = load::drive(concurrency, duration, &send).await;
    let accepted = accepted.len();
    let deadline = Instant::now() + Duration::from_secs(120);
    while control.message_count() - before < accepted {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gateway did not deliver everything in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    gateway.stop().await;
    Ok(ExchangesReport {
        delivered_per_s: accepted as f64 / elapsed.as_secs_f64(),
        direct_per_s,
        accepted: accepted as u64,
        errors,
    })
}

/// `portti bench kanta`: Kanta archive messages made ready to send (document built, signed
/// through libxmlsec1 and wrapped in the HL7 V3 message: [`portti_kanta::KantaAdapter::prepare`],
/// the path `call` takes before it POSTs), the same without signing, and raw RSA signatures
/// with the same key through OpenSSL, in one run. Rates are per CPU second of the measuring
/// threads (one shared adapter, `threads` std threads), so another process on the machine
/// lowers them less than it would a wall-clock rate.
pub struct KantaReport {
    pub threads: usize,
    pub key_bits: u32,
    pub documents_per_s_per_core: f64,
    pub unsigned_per_s_per_core: f64,
    pub rsa_sign_per_s_per_core: f64,
    /// Size of one signed message as POSTed.
    pub message_bytes: usize,
    pub errors: u64,
}

impl fmt::Display for KantaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "key: RSA-{} (certs-example/kanta-signing-853.key)", self.key_bits)?;
        writeln!(f, "key_bits: {}", self.key_bits)?;
        writeln!(f, "threads: {}", self.threads)?;
        writeln!(f, "message_bytes: {}", self.message_bytes)?;
        writeln!(f, "documents_per_s_per_core: {:.0}", self.documents_per_s_per_core)?;
        writeln!(f, "unsigned_per_s_per_core: {:.0}", self.unsigned_per_s_per_core)?;
        writeln!(f, "rsa_sign_per_s_per_core: {:.0}", self.rsa_sign_per_s_per_core)?;
        writeln!(
            f,
            "ratio_to_rsa_sign: {:.3}",
            self.documents_per_s_per_core / self.rsa_sign_per_s_per_core.max(1.0)
        )?;
        writeln!(f, "errors: {}", self.errors)
    }
}

/// CPU time of the calling thread in seconds: the scheduler's nanoseconds on CPU where the
/// kernel reports them, else user + system ticks.
fn thread_cpu_seconds() -> f64 {
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
    {
        return ns as f64 / 1e9;
    }
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `step` on `threads` threads for `duration` each (after a few unmeasured warm-up steps);
/// returns (successful steps, failed steps, CPU seconds of the threads while measuring).
fn per_core<S, F>(threads: usize, duration: Duration, state: impl Fn(usize) -> S + Sync, step: F) -> (u64, u64, f64)
where
    F: Fn(&mut S, u64) -> bool + Sync,
{
    const WARM_UP: u64 = 16;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (state, step) = (&state, &step);
                scope.spawn(move || {
                    let mut s = state(t);
                    for n in 0..WARM_UP {
                        step(&mut s, n);
                    }
                    let (mut ok, mut failed) = (0u64, 0u64);
                    let cpu = thread_cpu_seconds();
                    let deadline = Instant::now() + duration;
                    let mut n = WARM_UP;
                    while Instant::now() < deadline {
                        match step(&mut s, n) {
                            true => ok += 1,
                            false => failed += 1,
                        }
                        n += 1;
                    }
                    (ok, failed, thread_cpu_seconds() - cpu)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a bench thread panicked"))
            .fold((0, 0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    })
}

/// The archive payload of a contact record, as the broker stores it.
fn kanta_payload() -> serde_json::Value {
    serde_json::json!({
        "organisation": "853", "case_id": "", "kind": "contact_record", "version": 1,
        "person": {"identity_code": "", "given_name": "Väinö", "family_name": "Häkkinen"},
        "author": {"kind": "professional", "id": "ohjaaja-17", "name": "Sari Mäkelä"},
        "language": "fi", "effective_time": "2025-11-03T07:42:00Z",
        "service_task": "10", "document_group": "1", "service_process": "2", "confidentiality": 3,
        "title": "Yhteydenotto: puhelu asiakasohjaukseen",
        "content": {"channel": "phone", "contacted_by": "client", "topic": "home_care",
            "resolved_on_first_contact": false, "next_step": "service_need_assessment", "n": 0},
        "sections": [
            {"heading": "Yhteydenoton syy", "paragraphs": [
                "Asiakas soitti ja kertoi, että kotona pärjääminen on vaikeutunut syksyn aikana.", ""]},
            {"heading": "Toimenpiteet", "paragraphs": ["Neuvottu kotihoidon palveluista.\nOhjattu palvelutarpeen arviointiin."]}
        ]
    })
}

/// Makes the operation of step `n` of thread `thread` distinct (case, person, content, text)
/// in place, so that the payload costs next to nothing to vary and nothing repeats.
fn vary(operation: &mut portti_adapter_core::Operation, thread: usize, n: u64) {
    let p = &mut operation.payload;
    p["case_id"] = format!("0193a1c2-5e4f-7b21-8a3d-{thread:04x}{n:08x}").into();
    p["person"]["identity_code"] = synthetic_identity_code(n).into();
    p["content"]["n"] = n.into();
    p["sections"][0]["paragraphs"][1] =
        format!("Asiakas & tytär toivovat kotihoitoa; tulot < 1 200 €/kk (#{n}).").into();
}

pub fn kanta(threads: usize, duration: Duration) -> anyhow::Result<KantaReport> {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Padding;
    use openssl::sign::Signer;
    use portti_adapter_core::{ClientIdentity, HttpClientConfig, Operation};
    use portti_kanta::{KantaAdapter, KantaConfig, KantaOrganisation, OP_ARCHIVE};

    anyhow::ensure!(threads >= 1, "--threads must be at least 1");
    let certs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs-example");
    let key_path = certs.join("kanta-signing-853.key");
    let organisation = KantaOrganisation {
        name: "Turun kaupunki".into(),
        sender_system_oid: "1.2.246.10.1234567.14.1".into(),
        registry_keeper_oid: "1.2.246.10.1234567.10".into(),
        municipality_code: "853".into(),
        document_oid_root: "1.2.246.10.1234567.14.2".into(),
        signing_key: key_path.clone(),
        signing_certificate: certs.join("kanta-signing-853.pem"),
        identity: None,
    };
    // The endpoint is never contacted: prepare() builds, signs and wraps without sending.
    let adapter = KantaAdapter::new(KantaConfig {
        http: HttpClientConfig {
            root_ca_pem: Some(certs.join("demo-ca.pem")),
            identity: Some(ClientIdentity::Pem {
                cert: certs.join("portti-outbound.pem"),
                key: certs.join("portti-outbound.key"),
            }),
            ..HttpClientConfig::default()
        },
        ..KantaConfig::new(
            "https://127.0.0.1:9/sosiaalihuolto/arkisto",
            [("853".to_owned(), organisation)].into(),
        )
    })?;
    let key = PKey::private_key_from_pem(&std::fs::read(&key_path)?)?;
    anyhow::ensure!(key.rsa().is_ok(), "{} is not an RSA key", key_path.display());
    let key_bits = key.bits();

    let operation = |thread: usize| {
        let mut operation = Operation {
            name: OP_ARCHIVE.into(),
            payload: kanta_payload(),
        };
        vary(&mut operation, thread, 0);
        (thread, operation)
    };
    let (_, mut first) = operation(0);
    vary(&mut first, 0, u64::MAX / 2);
    let message_bytes = adapter.prepare(&first).map_err(|e| anyhow::anyhow!("{e}"))?.len();

    let (documents, doc_errors, doc_cpu) = per_core(threads, duration, operation, |(thread, op), n| {
        vary(op, *thread, n);
        adapter
            .prepare(op)
            .map(|m| std::hint::black_box(m.len()) > 0)
            .unwrap_or(false)
    });
    let (unsigned, unsigned_errors, unsigned_cpu) = per_core(threads, duration, operation, |(thread, op), n| {
        vary(op, *thread, n);
        adapter
            .prepare_unsigned(op)
            .map(|m| std::hint::black_box(m.len()) > 0)
            .unwrap_or(false)
    });
    let (signs, sign_errors, sign_cpu) = per_core(
        threads,
        duration,
        |thread| thread as u64,
        |thread, n| {
            // RSA-SHA256 as in the document's signature: SHA-256 of distinct input, PKCS#1 v1.5.
            let mut input = [0u8; 32];
            input[..8].copy_from_slice(&n.to_le_bytes());
            input[8..16].copy_from_slice(&thread.to_le_bytes());
            let signed = Signer::new(MessageDigest::sha256(), &key).and_then(|mut signer| {
                signer.set_rsa_padding(Padding::PKCS1)?;
                signer.update(&input)?;
                signer.sign_to_vec()
            });
            signed.is_ok_and(|s| std::hint::black_box(s.len()) > 0)
        },
    );
    let rate = |count: u64, cpu: f64| count as f64 / cpu.max(1e-9);
    Ok(KantaReport {
        threads,
        key_bits,
        documents_per_s_per_core: rate(documents, doc_cpu),
        unsigned_per_s_per_core: rate(unsigned, unsigned_cpu),
        rsa_sign_per_s_per_core: rate(signs, sign_cpu),
        message_bytes,
        errors: doc_errors + unsigned_errors + sign_errors,
    })
}

/// `portti bench saml`: Suomi.fi Identification responses checked by the service provider per
/// CPU second — Base64, XML parsing, RSA-OAEP key unwrap + AES-GCM decryption and the strict
/// signature verification by libxmlsec1, every check of [`portti_suomifi_identification::parse_login_response`]
/// — against raw RSA-2048 private-key operations with the same encryption key, in one run.
/// The responses come from the IdP simulator (signed and encrypted like Suomi.fi's).
pub struct SamlReport {
    pub threads: usize,
    pub responses_per_s_per_core: f64,
    pub rsa_private_per_s_per_core: f64,
    pub errors: u64,
}

impl fmt::Display for SamlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "threads: {}", self.threads)?;
        writeln!(f, "responses_per_s_per_core: {:.0}", self.responses_per_s_per_core)?;
        writeln!(f, "rsa_private_per_s_per_core: {:.0}", self.rsa_private_per_s_per_core)?;
        writeln!(
            f,
            "ratio_to_rsa_private: {:.3}",
            self.responses_per_s_per_core / self.rsa_private_per_s_per_core.max(1.0)
        )?;
        writeln!(f, "errors: {}", self.errors)
    }
}

pub async fn saml(threads: usize, duration: Duration) -> anyhow::Result<SamlReport> {
    use portti_simulators::suomifi_identification as idp;
    use portti_suomifi_identification::{loa, parse_login_response, IdpMetadata, SpConfig};

    anyhow::ensure!(threads >= 1, "--threads must be at least 1");
    let certs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs-example");
    let read = |f: &str| std::fs::read_to_string(certs.join(f));
    let endpoints = idp::SpEndpoints {
        entity_id: "http://127.0.0.1:9/saml/metadata".into(),
        acs_url: "http://127.0.0.1:9/saml/acs".into(),
        slo_url: "http://127.0.0.1:9/saml/slo".into(),
    };
    let simulator = idp::start(idp::Config::sandbox(endpoints.clone()), "127.0.0.1:0".parse()?).await?;
    let control = simulator.control();
    let sp = SpConfig {
        entity_id: endpoints.entity_id,
        acs_url: endpoints.acs_url,
        slo_url: endpoints.slo_url,
        signing_key_pem: read("saml-sp-signing.key")?,
        signing_cert_pem: read("saml-sp-signing.pem")?,
        encryption_key_pem: read("saml-sp-encryption.key")?,
        encryption_cert_pem: read("saml-sp-encryption.pem")?,
        required_loa: vec![loa::LOA3.into()],
        clock_skew: Duration::from_secs(60),
        sign_metadata: false,
    };
    let metadata = IdpMetadata::parse(control.metadata()?.as_bytes(), None)?;
    // A pool of distinct responses (each its own session key and signature), parsed in turn.
    let pool: Vec<(String, String)> = (0..64)
        .map(|n| {
            let request = format!("_bench{n:028x}");
            let options = idp::ResponseOptions {
                in_response_to: Some(request.clone()),
                loa: Some(loa::LOA3.into()),
                ..idp::ResponseOptions::variant(idp::Variant::Valid)
            };
            control.build_response(options).map(|r| (request, r.saml_response))
        })
        .collect::<anyhow::Result<_>>()?;
    let key = openssl::pkey::PKey::private_key_from_pem(read("saml-sp-encryption.key")?.as_bytes())?;
    let report = tokio::task::spawn_blocking(move || {
        let (responses, errors, cpu) = per_core(
            threads,
            duration,
            |thread| thread,
            |thread, n| {
                let (request, response) = &pool[(n as usize + *thread * 7) % pool.len()];
                parse_login_response(&sp, &metadata, response, request, chrono::Utc::now()).is_ok()
            },
        );
        let rsa = key.rsa().expect("an RSA key");
        let mut wrapped = vec![0u8; rsa.size() as usize];
        let len = rsa
            .public_encrypt(&[7u8; 32], &mut wrapped, openssl::rsa::Padding::PKCS1_OAEP)
            .expect("OAEP encryption");
        wrapped.truncate(len);
        let (unwraps, unwrap_errors, unwrap_cpu) = per_core(
            threads,
            duration,
            |_| vec![0u8; rsa.size() as usize],
            |out, _| {
                rsa.private_decrypt(&wrapped, out, openssl::rsa::Padding::PKCS1_OAEP)
                    .is_ok_and(|n| std::hint::black_box(n) == 32)
            },
        );
        SamlReport {
            threads,
            responses_per_s_per_core: responses as f64 / cpu.max(1e-9),
            rsa_private_per_s_per_core: unwraps as f64 / unwrap_cpu.max(1e-9),
            errors: errors + unwrap_errors,
        }
    })
    .await?;
    drop(simulator);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_identity_codes_are_valid_and_varied() {
        let codes: std::collections::HashSet<_> = (0..5000).map(synthetic_identity_code).collect();
        assert!(codes.len() > 4000);
        for c in codes.iter().take(500) {
            crate::case::IdentityCode::parse(c).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
    }

    #[test]
    fn varied_kanta_payloads_are_valid_and_distinct() {
        let mut operation = portti_adapter_core::Operation {
            name: portti_kanta::OP_ARCHIVE.into(),
            payload: kanta_payload(),
        };
        let mut seen = std::collections::HashSet::new();
        for n in [0, 1, 2, 1_000_000] {
            vary(&mut operation, 1, n);
            let doc: portti_kanta::ArchiveDocument = serde_json::from_value(operation.payload.clone()).unwrap();
            assert!(portti_kanta::validate_archive(&doc).is_empty(), "{n}");
            assert!(seen.insert(doc.case_id.clone()));
        }
    }

    #[test]
    fn percentiles_pick_the_right_rank() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.5), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
    }
}
