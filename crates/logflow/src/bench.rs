//! `logflow bench`: performance figures measured against a real server over loopback.
//!
//! By default it starts its own `logflow serve` (this same binary) on a free port with a fresh data
//! directory, so it can also read the server's resident memory and bytes on disk. `--url` targets
//! a server that is already running instead (memory and disk are then reported only with `--pid`
//! and `--data-dir`).
//!
//! Workload: generator logs of about 250 bytes, in NDJSON batches, timestamps spread over the last
//! `--span-hours` so that a one-hour window is selective like it is in production.

use anyhow::{bail, Context};
use chrono::{Duration as ChronoDuration, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use logflow_gen::{GenConfig, Generator};
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
#[command(after_help = "Example (the figures in BENCHMARKS.md):\n  \
  cargo run --release -- bench --logs 10000000 --batch 1000 --concurrency 4")]
pub struct BenchArgs {
    /// Benchmark a running server instead of starting one
    #[arg(long)]
    url: Option<String>,
    /// Server process id, for memory figures with --url
    #[arg(long)]
    pid: Option<u32>,
    /// Data directory: of the server started by the benchmark (default: a fresh one under
    /// target/bench-data), or of the --url server for disk figures
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Logs to ingest (0 to skip ingest and only search what is stored)
    #[arg(long, default_value_t = 1_000_000)]
    logs: u64,
    /// Logs per request
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent ingest connections
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Timestamps of the generated logs spread over this many past hours
    #[arg(long, default_value_t = 24)]
    span_hours: i64,
    /// Timed runs of each search query
    #[arg(long, default_value_t = 200)]
    search_iterations: usize,
    /// Timed runs of each analytics request (uncached ones each use a new cache key)
    #[arg(long, default_value_t = 30)]
    analytics_iterations: usize,
    /// Write the figures as JSON to this file too
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    logs: u64,
    batch: usize,
    concurrency: usize,
    raw_bytes: u64,
    ingest_secs: f64,
    ingest_logs_per_sec: f64,
    ingest_mb_per_sec: f64,
    backpressure_retries: u64,
    searchable_lag_ms: f64,
    /// Resident memory: all of it, and the anonymous part (heap; the rest is mapped index files,
    /// page cache the kernel can reclaim).
    rss_peak_ingest_mib: Option<f64>,
    rss_anon_peak_ingest_mib: Option<f64>,
    rss_after_mib: Option<f64>,
    rss_anon_after_mib: Option<f64>,
    stored_docs: u64,
    disk_bytes: Option<u64>,
    disk_per_raw_byte: Option<f64>,
    searches: Vec<SearchFigures>,
    analytics: Vec<SearchFigures>,
}

#[derive(Debug, Serialize)]
struct SearchFigures {
    name: &'static str,
    url: String,
    hits_total: u64,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

impl SearchFigures {
    /// Percentiles and mean of `times` (milliseconds, at least one).
    fn of(name: &'static str, url: String, hits_total: u64, mut times: Vec<f64>) -> SearchFigures {
        times.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        SearchFigures {
            name,
            url,
            hits_total,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            mean_ms: times.iter().sum::<f64>() / times.len() as f64,
        }
    }
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM for a clean shutdown; kill if it does not stop.
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

fn spawn_server(data_dir: &Path) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("LOGFLOW_LOG_LEVEL", "warn")
        // One client from one address: the per-IP limits would measure the limiter.
        .env("LOGFLOW_RATE_LIMIT_ENABLED", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting logflow serve")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("logflow: listening on ")
        .with_context(|| format!("unexpected server output: {line:?}"))?
        .to_string();
    Ok(Server { child, url })
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (server, url, pid, data_dir) = match &args.url {
        Some(url) => (None, url.trim_end_matches('/').to_string(), args.pid, args.data_dir.clone()),
        None => {
            let dir = args.data_dir.clone().unwrap_or_else(|| {
                PathBuf::from("target/bench-data").join(format!("run-{}", Utc::now().format("%Y%m%dT%H%M%S")))
            });
            std::fs::create_dir_all(&dir)?;
            let s = spawn_server(&dir)?;
            let (url, pid) = (s.url.clone(), Some(s.child.id()));
            eprintln!("bench: started logflow serve at {url} (pid {}), data in {}", s.child.id(), dir.display());
            (Some(s), url, pid, Some(dir))
        }
    };
    let report = rt.block_on(bench(&args, &url, pid, data_dir.as_deref()))?;
    drop(server);
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

async fn bench(args: &BenchArgs, url: &str, pid: Option<u32>, data_dir: Option<&Path>) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;
    let mut report = Report { batch: args.batch, concurrency: args.concurrency, ..Report::default() };
    let before = count(&client, url).await?;
    if args.logs > 0 {
        ingest(args, &client, url, pid, before, &mut report).await?;
    }
    report.stored_docs = count(&client, url).await?;
    report.rss_after_mib = pid.and_then(|p| rss_mib(p, "VmRSS:"));
    report.rss_anon_after_mib = pid.and_then(|p| rss_mib(p, "RssAnon:"));
    if let Some(dir) = data_dir {
        let disk = logflow_store::dir_size(dir);
        report.disk_bytes = Some(disk);
        if report.raw_bytes > 0 && before == 0 {
            report.disk_per_raw_byte = Some(disk as f64 / report.raw_bytes as f64);
        }
    }
    report.searches = searches(args, &client, url).await?;
    report.analytics = analytics(args, &client, url).await?;
    Ok(report)
}

/// A pool of pre-generated NDJSON batches, cycled, so the generator is not what gets measured.
fn batch_pool(batch: usize, span_hours: i64) -> Vec<Arc<String>> {
    let mut gen = Generator::new(GenConfig { seed: Some(42), ..GenConfig::default() });
    let pool = 64usize;
    let span = ChronoDuration::hours(span_hours.max(1));
    let slice = span / pool as i32;
    let start = Utc::now() - span;
    (0..pool)
        .map(|i| {
            let mut out = String::with_capacity(batch * 300);
            gen.write_ndjson(batch, start + slice * i as i32, slice, &mut out);
            Arc::new(out)
        })
        .collect()
}

async fn ingest(
    args: &BenchArgs,
    client: &reqwest::Client,
    url: &str,
    pid: Option<u32>,
    before: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let pool = Arc::new(batch_pool(args.batch, args.span_hours));
    let batches = args.logs.div_ceil(args.batch as u64);
    let next = Arc::new(AtomicU64::new(0));
    let raw = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let pb = ProgressBar::new(batches * args.batch as u64).with_style(
        ProgressStyle::with_template("ingest {bar:40} {human_pos}/{human_len} logs {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let peak = Arc::new(AtomicU64::new(0));
    let peak_anon = Arc::new(AtomicU64::new(0));
    let sampler = pid.map(|pid| {
        let (peak, peak_anon) = (peak.clone(), peak_anon.clone());
        tokio::spawn(async move {
            loop {
                if let Some(m) = rss_mib(pid, "VmRSS:") {
                    peak.fetch_max(m as u64, Ordering::Relaxed);
                }
                if let Some(m) = rss_mib(pid, "RssAnon:") {
                    peak_anon.fetch_max(m as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, pool, next, raw, retries, pb) =
            (client.clone(), pool.clone(), next.clone(), raw.clone(), retries.clone(), pb.clone());
        let endpoint = format!("{url}/api/v1/logs");
        let per_batch = args.batch as u64;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= batches {
                    return Ok::<(), anyhow::Error>(());
                }
                let body = pool[(i as usize) % pool.len()].clone();
                loop {
                    let resp = client
                        .post(&endpoint)
                        .header("content-type", "application/x-ndjson")
                        .body(body.as_bytes().to_vec())
                        .send()
                        .await?;
                    match resp.status().as_u16() {
                        200 => break,
                        429 | 503 => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        s => bail!("ingest answered {s}: {}", resp.text().await.unwrap_or_default()),
                    }
                }
                raw.fetch_add(body.len() as u64, Ordering::Relaxed);
                pb.inc(per_batch);
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let sent = batches * args.batch as u64;
    // Visibility: how long after the last acknowledgement every log is searchable.
    let acked = Instant::now();
    loop {
        if count(client, url).await? >= before + sent {
            break;
        }
        if acked.elapsed() > Duration::from_secs(600) {
            bail!("logs did not become searchable within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report.searchable_lag_ms = acked.elapsed().as_secs_f64() * 1e3;
    if let Some(s) = sampler {
        s.abort();
    }
    report.logs = sent;
    report.raw_bytes = raw.load(Ordering::Relaxed);
    report.ingest_secs = ingest_secs;
    report.ingest_logs_per_sec = sent as f64 / ingest_secs;
    report.ingest_mb_per_sec = report.raw_bytes as f64 / ingest_secs / 1e6;
    report.backpressure_retries = retries.load(Ordering::Relaxed);
    report.rss_peak_ingest_mib = pid.map(|_| peak.load(Ordering::Relaxed) as f64);
    report.rss_anon_peak_ingest_mib = pid.map(|_| peak_anon.load(Ordering::Relaxed) as f64);
    Ok(())
}

async fn count(client: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let v: serde_json::Value =
        client.get(format!("{url}/api/v1/logs/search?limit=1")).send().await?.error_for_status()?.json().await?;
    v["total"].as_u64().context("search response without total")
}

async fn searches(args: &BenchArgs, client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<SearchFigures>> {
    let end = Utc::now() - ChronoDuration::hours(1);
    let start = end - ChronoDuration::hours(1);
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let window = format!("start_time={}&end_time={}", fmt(start), fmt(end));
    let queries: Vec<(&'static str, String)> = vec![
        ("term + level + 1h window", format!("query=timeout&level=ERROR&{window}&limit=50")),
        ("phrase, all time", "query=%22connection%20refused%22&limit=50".to_string()),
        ("service + 1h window", format!("service=payment-service&{window}&limit=50")),
        ("recent 50", "limit=50".to_string()),
    ];
    let mut out = Vec::new();
    for (name, q) in queries {
        let full = format!("{url}/api/v1/logs/search?{q}");
        let mut times = Vec::with_capacity(args.search_iterations);
        let mut total = 0;
        for i in 0..args.search_iterations + 5 {
            let t = Instant::now();
            let v: serde_json::Value = client.get(&full).send().await?.error_for_status()?.json().await?;
            if i >= 5 {
                times.push(t.elapsed().as_secs_f64() * 1e3); // the first 5 warm caches
            }
            total = v["total"].as_u64().unwrap_or(0);
        }
        out.push(SearchFigures::of(name, format!("/api/v1/logs/search?{q}"), total, times));
    }
    Ok(out)
}

/// Analytics latency, uncached (every request a new cache key: the end of the range moves by a
/// millisecond) and cached (the same URL again). The `X-Cache` header is checked, so a figure can
/// never be the other kind.
async fn analytics(args: &BenchArgs, client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<SearchFigures>> {
    let now = Utc::now();
    let end =
        move |i: usize| (now - ChronoDuration::milliseconds(i as i64)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    type Url = Box<dyn Fn(usize) -> String>;
    let cases: Vec<(&'static str, &'static str, Url)> = vec![
        (
            "overview 24h, uncached",
            "MISS",
            Box::new(move |i| format!("/api/v1/metrics/overview?since=24h&end_time={}", end(i))),
        ),
        ("overview 24h, cached", "HIT", Box::new(|_| "/api/v1/metrics/overview?since=24h".to_string())),
        (
            "service 24h, uncached",
            "MISS",
            Box::new(move |i| format!("/api/v1/metrics/service/payment-service?since=24h&end_time={}", end(i))),
        ),
        (
            "timeseries 24h at 1m, uncached",
            "MISS",
            Box::new(move |i| format!("/api/v1/metrics/timeseries?interval=1m&since=24h&end_time={}", end(i))),
        ),
        (
            "timeseries 24h at 1m, cached",
            "HIT",
            Box::new(|_| "/api/v1/metrics/timeseries?interval=1m&since=24h".to_string()),
        ),
    ];
    let mut out = Vec::new();
    for (name, expect, path) in cases {
        let mut times = Vec::with_capacity(args.analytics_iterations);
        let mut total = 0;
        for i in 0..args.analytics_iterations + 2 {
            let full = format!("{url}{}", path(i));
            let t = Instant::now();
            let resp = client.get(&full).send().await?.error_for_status()?;
            let cache = resp.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let v: serde_json::Value = resp.json().await?;
            let elapsed = t.elapsed().as_secs_f64() * 1e3;
            if i >= 2 {
                anyhow::ensure!(cache == expect, "{name}: expected X-Cache {expect}, got {cache:?} for {full}");
                times.push(elapsed); // the first 2 fill caches (and the cached key)
            }
            total = v["total_logs"].as_u64().or_else(|| v["total"].as_u64()).unwrap_or(0);
        }
        out.push(SearchFigures::of(name, path(0), total, times));
    }
    Ok(out)
}

/// A memory line of `/proc/<pid>/status` (`VmRSS:`, `RssAnon:`) in MiB.
fn rss_mib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn print_report(r: &Report) {
    println!("LogFlow benchmark ({} logs, batches of {}, {} connections)", r.logs, r.batch, r.concurrency);
    if r.logs > 0 {
        println!(
            "  ingest: {:.0} logs/s ({:.1} MB/s raw), {:.1} s, {} backpressure retries",
            r.ingest_logs_per_sec, r.ingest_mb_per_sec, r.ingest_secs, r.backpressure_retries
        );
        println!("  searchable {:.0} ms after the last acknowledgement", r.searchable_lag_ms);
    }
    if let (Some(m), Some(a)) = (r.rss_peak_ingest_mib, r.rss_anon_peak_ingest_mib) {
        println!("  server RSS: peak {m:.0} MiB while ingesting (anonymous: peak {a:.0} MiB)");
    }
    if let (Some(m), Some(a)) = (r.rss_after_mib, r.rss_anon_after_mib) {
        println!("  server RSS: {m:.0} MiB holding {} logs (anonymous: {a:.0} MiB)", r.stored_docs);
    }
    if let (Some(d), Some(ratio)) = (r.disk_bytes, r.disk_per_raw_byte) {
        println!(
            "  disk: {:.1} MiB for {:.1} MiB raw = {ratio:.3} bytes per raw byte",
            d as f64 / 1048576.0,
            r.raw_bytes as f64 / 1048576.0
        );
    }
    for s in &r.searches {
        println!("  search {:<26} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} hits)", s.name, s.p50_ms, s.p99_ms, s.hits_total);
    }
    for s in &r.analytics {
        println!("  {:<33} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} logs)", s.name, s.p50_ms, s.p99_ms, s.hits_total);
    }
}
