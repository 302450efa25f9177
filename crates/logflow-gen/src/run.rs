//! Paced generation delivered to a URL, a file, stdout, or an in-process [`Sink`].

use crate::pacing::{tick_interval, Pacer, SpikeSchedule};
use crate::{Generator, Spike};
use anyhow::{bail, Context};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

/// Consecutive connection failures (or non-throttling 5xx) tolerated per batch before giving up.
const MAX_FAILURES: u32 = 5;
/// First retry delay after a connection failure; doubles each time.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Retry-After values above this are capped: a generator should not sleep for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Batch size used by [`run_into`].
const SINK_BATCH: usize = 500;

/// Where `run` sends logs.
#[derive(Debug, Clone)]
pub enum Output {
    /// Base URL like `http://127.0.0.1:8000`; NDJSON batches are POSTed to `{url}/api/v1/logs`.
    Url(String),
    File(PathBuf),
    Stdout,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Target logs per second.
    pub rate: f64,
    /// Stop after this long (`None`: until `count` is reached, or forever).
    pub duration: Option<Duration>,
    /// Stop after this many logs.
    pub count: Option<u64>,
    pub batch_size: usize,
    pub spike: Spike,
    /// Spike start, relative to the start of the run (`None`: immediately, if `spike` is set).
    pub spike_after: Option<Duration>,
    pub spike_duration: Duration,
    /// Show an indicatif progress bar on stderr.
    pub progress: bool,
    /// Bearer token for `Output::Url`.
    pub token: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            rate: 100.0,
            duration: None,
            count: None,
            batch_size: 500,
            spike: Spike::None,
            spike_after: None,
            spike_duration: Duration::from_secs(30),
            progress: false,
            token: None,
        }
    }
}

/// What a run achieved. `sent` counts logs delivered (written, or in batches the server
/// accepted with a 2xx); `rejected` is the part of those the server reported as invalid.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    pub sent: u64,
    pub rejected: u64,
    pub batches: u64,
    pub retries: u64,
    pub elapsed_secs: f64,
}

/// In-process destination for generated batches (implemented by the server for `serve --demo`).
///
/// Implementations may simply write `async fn send(&mut self, batch: Vec<Value>) -> anyhow::Result<()>`
/// as long as the future is `Send`.
pub trait Sink: Send {
    fn send(&mut self, batch: Vec<Value>) -> impl std::future::Future<Output = anyhow::Result<()>> + Send;
}

/// Generate at `opts.rate` and deliver to `output` until the duration or count is reached, or
/// ctrl-c is pressed (the batch in flight is finished; the summary covers what was delivered).
pub async fn run(mut gen: Generator, output: Output, opts: RunOptions) -> anyhow::Result<RunSummary> {
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        bail!("rate must be a positive number of logs per second (got {})", opts.rate);
    }
    let mut dest = Dest::open(&output, opts.token.clone()).await?;
    let batch = opts.batch_size.max(1);
    let sched = SpikeSchedule::new(opts.spike, opts.spike_after, opts.spike_duration);
    let mut pacer = Pacer::new(opts.rate, sched, batch, opts.count, Utc::now());
    let tick = tick_interval(opts.rate, batch);
    let pb = progress_bar(opts.progress, opts.count);
    let (mut stop, _ctrl_c) = ctrl_c_watch();

    let mut summary = RunSummary::default();
    let started = Instant::now();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut buf = String::new();
    'run: loop {
        tokio::select! {
            _ = interval.tick() => {}
            Ok(()) = stop.changed() => break,
        }
        let now = started.elapsed();
        // Never plan past the end of the run, even if this tick fired late.
        let at = opts.duration.map_or(now, |d| now.min(d));
        gen.set_spike(pacer.sched.spike_at(at));
        for chunk in pacer.plan(at) {
            if *stop.borrow() {
                break 'run;
            }
            // With a duration, a backlog the destination cannot absorb is dropped once the
            // run is over (one tick of grace), rather than extending the run indefinitely.
            if opts.duration.is_some_and(|d| started.elapsed() > d + tick) {
                break;
            }
            buf.clear();
            gen.write_ndjson(chunk.n, chunk.start, chunk.span, &mut buf);
            if !dest.deliver(&buf, chunk.n as u64, &mut summary, &mut stop).await? {
                break 'run;
            }
            pb.inc(chunk.n as u64);
        }
        if pacer.exhausted() || opts.duration.is_some_and(|d| now >= d) {
            break;
        }
    }
    dest.finish().await?;
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    Ok(summary)
}

/// Same pacing as [`run`] but into a [`Sink`], with no end: runs until the future is dropped
/// (or the sink fails, whose error is returned).
pub async fn run_into<S: Sink>(mut gen: Generator, mut sink: S, rate: f64) -> anyhow::Result<()> {
    if !(rate.is_finite() && rate > 0.0) {
        bail!("rate must be a positive number of logs per second (got {rate})");
    }
    let sched = SpikeSchedule::new(Spike::None, None, Duration::ZERO);
    let mut pacer = Pacer::new(rate, sched, SINK_BATCH, None, Utc::now());
    let started = Instant::now();
    let mut interval = tokio::time::interval(tick_interval(rate, SINK_BATCH));
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        for chunk in pacer.plan(started.elapsed()) {
            let batch = gen.batch(chunk.n, chunk.start, chunk.span);
            sink.send(batch).await?;
        }
    }
}

/// A watch flag set on ctrl-c. The returned guard stops listening when dropped, so the signal
/// handler task does not outlive the run.
fn ctrl_c_watch() -> (watch::Receiver<bool>, AbortOnDrop) {
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        }
        // Keep the sender alive: a dropped sender would look like a stop request.
        std::future::pending::<()>().await;
    });
    (rx, AbortOnDrop(task))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn progress_bar(enabled: bool, count: Option<u64>) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = match count {
        Some(c) => ProgressBar::with_draw_target(Some(c), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} logs  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{spinner} {human_pos} logs  {per_sec}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

enum Dest {
    Http { client: reqwest::Client, url: String, token: Option<String> },
    Writer(BufWriter<Box<dyn AsyncWrite + Unpin + Send>>),
}

impl Dest {
    async fn open(output: &Output, token: Option<String>) -> anyhow::Result<Dest> {
        Ok(match output {
            Output::Url(base) => Dest::Http {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .context("building HTTP client")?,
                url: format!("{}/api/v1/logs", base.trim_end_matches('/')),
                token,
            },
            Output::File(path) => {
                let f = tokio::fs::File::create(path).await.with_context(|| format!("creating {}", path.display()))?;
                Dest::Writer(BufWriter::new(Box::new(f)))
            }
            Output::Stdout => Dest::Writer(BufWriter::new(Box::new(tokio::io::stdout()))),
        })
    }

    /// Deliver one NDJSON batch of `n` logs. Returns `false` if interrupted by ctrl-c while
    /// waiting to retry (the batch then counts as not sent).
    async fn deliver(
        &mut self,
        body: &str,
        n: u64,
        summary: &mut RunSummary,
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<bool> {
        match self {
            Dest::Writer(w) => {
                w.write_all(body.as_bytes()).await.context("writing logs")?;
                summary.sent += n;
                summary.batches += 1;
                Ok(true)
            }
            Dest::Http { client, url, token } => {
                post_with_retries(client, url, token.as_deref(), body, n, summary, stop).await
            }
        }
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        if let Dest::Writer(w) = self {
            w.flush().await.context("flushing output")?;
        }
        Ok(())
    }
}

/// POST with the retry policy: 429/503 wait for Retry-After and retry the same batch without
/// limit (the server is alive and asking us to slow down); connection errors and other 5xx
/// back off exponentially and give up after [`MAX_FAILURES`]; other statuses fail at once.
async fn post_with_retries(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &str,
    n: u64,
    summary: &mut RunSummary,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let mut failures = 0u32;
    loop {
        let mut req =
            client.post(url).header(reqwest::header::CONTENT_TYPE, "application/x-ndjson").body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let wait = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    let reply: Option<Value> = resp.json().await.ok();
                    let rejected = reply.as_ref().and_then(|v| v.get("rejected")?.as_u64()).unwrap_or(0);
                    summary.sent += n;
                    summary.rejected += rejected;
                    summary.batches += 1;
                    return Ok(true);
                }
                if status.as_u16() == 429 || status.as_u16() == 503 {
                    let wait = retry_after(resp.headers()).unwrap_or(Duration::from_secs(1));
                    tracing::debug!(%status, ?wait, "server asked to retry");
                    wait
                } else if status.is_server_error() {
                    failures += 1;
                    if failures >= MAX_FAILURES {
                        let text = resp.text().await.unwrap_or_default();
                        bail!("{url} answered {status} {failures} times in a row: {}", snippet(&text));
                    }
                    backoff(failures)
                } else {
                    let text = resp.text().await.unwrap_or_default();
                    let hint = match status.as_u16() {
                        401 | 403 => " (check the API token)",
                        413 => " (try a smaller batch size)",
                        _ => "",
                    };
                    bail!("{url} rejected the batch with {status}{hint}: {}", snippet(&text));
                }
            }
            Err(e) => {
                failures += 1;
                if failures >= MAX_FAILURES {
                    bail!("cannot deliver logs to {url}: {} (gave up after {failures} attempts)", error_chain(&e));
                }
                tracing::warn!(error = %error_chain(&e), attempt = failures, "delivery failed, retrying");
                backoff(failures)
            }
        };
        summary.retries += 1;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Ok(()) = stop.changed() => return Ok(false),
        }
    }
}

fn backoff(failures: u32) -> Duration {
    BACKOFF_BASE * 2u32.pow(failures.saturating_sub(1).min(6))
}

/// `Retry-After` in seconds (integer or decimal). HTTP-date values fall back to the default.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let raw = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = raw.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

/// reqwest's top-level message ("error sending request") hides the useful part (e.g.
/// "Connection refused"), so include the whole source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn snippet(text: &str) -> &str {
    let end = text.char_indices().nth(300).map_or(text.len(), |(i, _)| i);
    text[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GenConfig;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    fn gen() -> Generator {
        Generator::new(GenConfig { seed: Some(1), ..GenConfig::default() })
    }

    fn read_lines(path: &std::path::Path) -> Vec<Value> {
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[tokio::test]
    async fn file_output_writes_exactly_count_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.ndjson");
        let opts = RunOptions { rate: 50_000.0, count: Some(1234), batch_size: 100, ..RunOptions::default() };
        let summary = run(gen(), Output::File(path.clone()), opts).await.unwrap();
        assert_eq!(read_lines(&path).len(), 1234);
        assert_eq!(summary.sent, 1234);
        assert!(summary.batches >= 13, "{summary:?}");
        assert_eq!((summary.rejected, summary.retries), (0, 0));
    }

    #[tokio::test]
    async fn duration_and_volume_spike_set_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.ndjson");
        // 1000/s for 0.4 s, tripled between 0.2 s and 0.3 s: 400 + 2 * 100 extra.
        let opts = RunOptions {
            rate: 1000.0,
            duration: Some(Duration::from_millis(400)),
            spike: Spike::Volume { factor: 3.0 },
            spike_after: Some(Duration::from_millis(200)),
            spike_duration: Duration::from_millis(100),
            ..RunOptions::default()
        };
        let summary = run(gen(), Output::File(path.clone()), opts).await.unwrap();
        let n = read_lines(&path).len() as u64;
        assert!((599..=600).contains(&n), "{n} lines");
        assert_eq!(summary.sent, n);
        assert!(summary.elapsed_secs >= 0.4);
    }

    #[derive(Default)]
    struct Recorded {
        calls: Vec<(String, Option<String>, Option<String>)>,
    }

    /// Answers 503 + `Retry-After: 0` to the first request, then 200 with one rejected item.
    async fn flaky(State(rec): State<Arc<Mutex<Recorded>>>, headers: HeaderMap, body: String) -> Response {
        let header = |k: &str| headers.get(k).map(|v| v.to_str().unwrap().to_string());
        let mut rec = rec.lock().unwrap();
        rec.calls.push((body.clone(), header("content-type"), header("authorization")));
        if rec.calls.len() == 1 {
            return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")], "busy").into_response();
        }
        let n = body.lines().count();
        axum::Json(serde_json::json!({"accepted": n - 1, "rejected": 1})).into_response()
    }

    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn url_output_retries_after_503_and_delivers_everything_once() {
        let rec = Arc::new(Mutex::new(Recorded::default()));
        let router = axum::Router::new().route("/api/v1/logs", axum::routing::post(flaky)).with_state(rec.clone());
        let url = serve(router).await;
        let opts = RunOptions {
            rate: 100_000.0,
            count: Some(1000),
            batch_size: 250,
            token: Some("s3cret".into()),
            ..RunOptions::default()
        };
        let summary = run(gen(), Output::Url(url), opts).await.unwrap();
        // Pacing may cut more (smaller) batches than count / batch_size; each reports 1 rejected.
        assert_eq!((summary.sent, summary.retries, summary.rejected), (1000, 1, summary.batches));
        assert!(summary.batches >= 4);

        let rec = rec.lock().unwrap();
        assert_eq!(rec.calls.len() as u64, summary.batches + 1);
        assert_eq!(rec.calls[0].0, rec.calls[1].0, "the refused batch is retried as is");
        let mut seen = HashSet::new();
        for (body, ctype, auth) in &rec.calls[1..] {
            assert_eq!(ctype.as_deref(), Some("application/x-ndjson"));
            assert_eq!(auth.as_deref(), Some("Bearer s3cret"));
            for line in body.lines() {
                assert!(seen.insert(line.to_string()), "duplicate delivery");
            }
        }
        assert_eq!(seen.len(), 1000);
    }

    #[tokio::test]
    async fn unreachable_server_fails_clearly_after_retries() {
        // Bind then drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let opts = RunOptions { rate: 10_000.0, count: Some(10), ..RunOptions::default() };
        let err = run(gen(), Output::Url(format!("http://127.0.0.1:{port}")), opts).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("cannot deliver logs") && msg.contains("gave up after 5 attempts"), "{msg}");
    }

    #[tokio::test]
    async fn auth_failure_is_not_retried() {
        let router = axum::Router::new()
            .route("/api/v1/logs", axum::routing::post(|| async { (StatusCode::UNAUTHORIZED, "missing token") }));
        let url = serve(router).await;
        let opts = RunOptions { rate: 10_000.0, count: Some(10), ..RunOptions::default() };
        let msg = format!("{:#}", run(gen(), Output::Url(url), opts).await.unwrap_err());
        assert!(msg.contains("401") && msg.contains("check the API token") && msg.contains("missing token"), "{msg}");
    }

    #[test]
    fn retry_after_parsing() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert("retry-after", "86400".parse().unwrap());
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    struct Collect(Arc<Mutex<Vec<Value>>>);

    impl Sink for Collect {
        async fn send(&mut self, batch: Vec<Value>) -> anyhow::Result<()> {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    #[tokio::test]
    async fn run_into_feeds_a_sink_until_dropped() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let fut = run_into(gen(), Collect(got.clone()), 5000.0);
        // Must be spawnable (the server runs it as a background task).
        let task = tokio::spawn(fut);
        tokio::time::sleep(Duration::from_millis(300)).await;
        task.abort();
        let got = got.lock().unwrap();
        assert!(got.len() >= 500, "{} logs", got.len());
        assert!(got.iter().all(|v| v["message"].is_string() && v["timestamp"].is_string()));
    }
}
