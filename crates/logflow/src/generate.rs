//! `logflow generate`: realistic logs to a LogFlow server, a file or stdout.

use logflow_gen::{GenConfig, Generator, Output, RunOptions, Spike};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
  logflow generate --url http://127.0.0.1:8000 --rate 200 --duration 60\n  \
  logflow generate --output logs.ndjson --count 100000\n  \
  logflow generate --url http://127.0.0.1:8000 --spike errors --spike-after 30 --spike-duration 20")]
pub struct GenerateArgs {
    /// LogFlow base URL to POST NDJSON batches to
    #[arg(long, conflicts_with = "output")]
    url: Option<String>,
    /// Write NDJSON to this file ('-' for stdout); the default is stdout when --url is absent
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Logs per second
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Stop after this many seconds
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many logs
    #[arg(long)]
    count: Option<u64>,
    /// Comma-separated services [default: the eight demo services]
    #[arg(long, value_delimiter = ',')]
    services: Vec<String>,
    /// Logs per request
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Base share of ERROR+CRITICAL logs
    #[arg(long, default_value_t = 0.03)]
    error_rate: f64,
    /// Inject a spike: 'volume' (rate x --spike-factor) or 'errors' (error share --spike-error-rate)
    #[arg(long, value_parser = ["volume", "errors"])]
    spike: Option<String>,
    #[arg(long, default_value_t = 10.0)]
    spike_factor: f64,
    #[arg(long, default_value_t = 0.5)]
    spike_error_rate: f64,
    /// Seconds after the start when the spike begins [default: immediately]
    #[arg(long)]
    spike_after: Option<f64>,
    /// Seconds the spike lasts
    #[arg(long, default_value_t = 30.0)]
    spike_duration: f64,
    /// Seed for reproducible output
    #[arg(long)]
    seed: Option<u64>,
    /// Bearer token sent with --url
    #[arg(long, env = "LOGFLOW_TOKEN")]
    token: Option<String>,
    /// Hide the progress bar
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: GenerateArgs) -> anyhow::Result<()> {
    let secs = |s: f64| -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("'{s}' is not a valid number of seconds"))
    };
    let spike = match a.spike.as_deref() {
        Some("volume") => Spike::Volume { factor: a.spike_factor },
        Some("errors") => Spike::Errors { error_rate: a.spike_error_rate },
        _ => Spike::None,
    };
    let output = match (a.url, a.output) {
        (Some(url), _) => Output::Url(url),
        (None, Some(p)) if p.as_os_str() != "-" => Output::File(p),
        _ => Output::Stdout,
    };
    let progress = !a.quiet && !matches!(output, Output::Stdout);
    let opts = RunOptions {
        rate: a.rate,
        duration: a.duration.map(secs).transpose()?,
        count: a.count,
        batch_size: a.batch_size,
        spike,
        spike_after: a.spike_after.map(secs).transpose()?,
        spike_duration: secs(a.spike_duration)?,
        progress,
        token: a.token,
    };
    let mut cfg = GenConfig { seed: a.seed, error_rate: a.error_rate, ..GenConfig::default() };
    if !a.services.is_empty() {
        cfg.services = a.services;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = rt.block_on(logflow_gen::run(Generator::new(cfg), output, opts))?;
    eprintln!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
