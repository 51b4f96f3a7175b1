//! `portti bench intake`: starts a gateway as a child process on a fresh data directory and
//! drives it from this process, reporting intake against the same server's no-I/O ceiling.

use crate::auth::{sandbox, Scope};
use std::fmt;
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

pub async fn intake(concurrency: usize, duration: Duration) -> anyhow::Result<Report> {
    let data_dir = std::env::temp_dir().join(format!("portti-bench-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&data_dir)?;
    let key = sandbox::SigningKey::load_or_create(&data_dir)?;
    let token = sandbox::mint(
        &key,
        "portti-sandbox",
        "portti",
        "bench",
        &[Scope::CasesWrite],
        &["853".into()],
        3600,
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(std::env::current_exe()?);
    // The child is a sandbox with defaults whatever this shell has set.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PORTTI_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .arg("serve")
        .env("PORTTI_DATA_DIR", &data_dir)
        .env("PORTTI_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTTI_SANDBOX", "true")
        .env("PORTTI_SANDBOX_SERVICES__MESSAGES_LISTEN", "127.0.0.1:0")
        .env("PORTTI_LIMITS__PER_CLIENT_CONCURRENCY", (concurrency * 2).to_string())
        .env("PORTTI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let healthz = {
        let (client, url) = (client.clone(), format!("{base}/healthz"));
        move |_| {
            let (client, url) = (client.clone(), url.clone());
            async move { client.get(url).send().await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    // Bodies are made before measuring so that the client spends its time on requests.
    let bodies: std::sync::Arc<Vec<bytes::Bytes>> =
        std::sync::Arc::new((0..4096).map(|n| bytes::Bytes::from(case_body(n))).collect());
    let intake = {
        let (client, url, auth) = (client.clone(), format!("{base}/v1/cases"), format!("Bearer {token}"));
        move |n: u64| {
            let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
            let body = bodies[(n % 4096) as usize].clone();
            async move {
                client
                    .post(url)
                    .header("authorization", auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::CREATED)
            }
        }
    };
    // Warm up connections, caches and the database file before measuring.
    drive(concurrency, Duration::from_secs(2), intake.clone()).await;
    let (h, _) = drive(concurrency, duration, healthz).await;
    let cpu_before = cpu_seconds(pid);
    let (mut lat, errors) = drive(concurrency, duration, intake).await;
    let cpu_used = cpu_seconds(pid) - cpu_before;
    lat.sort_unstable();
    let rss_mib = peak_rss_mib(pid);
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(Report {
        intake_per_s: lat.len() as f64 / duration.as_secs_f64(),
        intake_p50_ms: percentile_ms(&lat, 0.50),
        intake_p99_ms: percentile_ms(&lat, 0.99),
        healthz_per_s: h.len() as f64 / duration.as_secs_f64(),
        rss_mib,
        intake_cpu_us: cpu_used * 1e6 / (lat.len().max(1) as f64),
        errors,
    })
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
    fn percentiles_pick_the_right_rank() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.5), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
    }
}
