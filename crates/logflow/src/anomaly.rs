//! `logflow anomaly ...`: anomaly detection tools over files. The logic lives in `logflow-anomaly`;
//! this module only parses arguments and opens files.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use logflow_anomaly::csv::score_csv;
use logflow_anomaly::StreamConfig;

#[derive(clap::Args, Debug)]
pub struct AnomalyArgs {
    #[command(subcommand)]
    command: AnomalyCommand,
}

#[derive(clap::Subcommand, Debug)]
enum AnomalyCommand {
    /// Score a `timestamp,value` CSV with the server's streaming detector.
    ///
    /// Reads a CSV in NAB's format (header `timestamp,value`, timestamps `YYYY-MM-DD HH:MM:SS`,
    /// one row per point in time order) and writes `timestamp,anomaly_score` with one score in
    /// [0, 1] per input row, in order. Each point is scored once, when it is read, using only the
    /// points before it; daily and weekly patterns are learned as the series goes.
    #[command(after_help = "Example:\n  logflow anomaly score --input series.csv --output scores.csv")]
    Score(ScoreArgs),
    /// Measure detector speed: streaming points per second on one core, and batch detection over
    /// 24 h of 1-minute buckets for many services (the figures in BENCHMARKS.md).
    #[command(after_help = "Example:\n  cargo run --release -- anomaly bench")]
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Points fed to one streaming detector
    #[arg(long, default_value_t = 2_000_000)]
    stream_points: usize,
    /// Services in the batch run (each: log volume and error rate over the window)
    #[arg(long, default_value_t = 20)]
    services: usize,
    /// Window of the batch run, in 1-minute buckets
    #[arg(long, default_value_t = 1440)]
    window_minutes: usize,
    /// Timed repetitions of the batch run (the median is reported)
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

#[derive(clap::Args, Debug)]
struct ScoreArgs {
    /// CSV to score, with `timestamp` and `value` columns ('-' for stdin)
    #[arg(long, short = 'i')]
    input: PathBuf,
    /// Where to write `timestamp,anomaly_score` ('-' for stdout)
    #[arg(long, short = 'o', default_value = "-")]
    output: PathBuf,
    /// Points learned before scoring starts (their scores are 0)
    #[arg(long, default_value_t = StreamConfig::default().warmup_points)]
    warmup_points: usize,
    /// Half-life, in points, of the history surprises are judged against
    #[arg(long, default_value_t = StreamConfig::default().memory_half_life)]
    memory_half_life: f64,
    /// Score from which a point counts as an anomaly and later scores are damped
    #[arg(long, default_value_t = StreamConfig::default().anomaly_threshold)]
    anomaly_threshold: f64,
    /// Points after an anomaly whose scores are damped, so one incident scores high once
    #[arg(long, default_value_t = StreamConfig::default().suppression_points)]
    suppression_points: usize,
    /// Seconds a daily or weekly pattern may drift and still be recognised
    #[arg(long, default_value_t = StreamConfig::default().seasonal_tolerance_secs)]
    seasonal_tolerance_secs: i64,
}

pub fn run(args: AnomalyArgs) -> anyhow::Result<()> {
    match args.command {
        AnomalyCommand::Score(args) => score(args),
        AnomalyCommand::Bench(args) => bench(args),
    }
}

/// A day-shaped synthetic series with noise (deterministic): what a service's log volume looks like.
fn synthetic(n: usize, phase: f64, start: chrono::DateTime<chrono::Utc>) -> Vec<logflow_anomaly::Point> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ phase.to_bits();
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 1000) as f64 / 1000.0 - 0.5;
            let day = (i as f64 / 1440.0 * std::f64::consts::TAU + phase).sin();
            let value = 200.0 + 80.0 * day + 20.0 * noise + if i % 997 == 0 { 600.0 } else { 0.0 };
            logflow_anomaly::Point::new(start + chrono::Duration::minutes(i as i64), value)
        })
        .collect()
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    use logflow_anomaly::{detect, DetectOptions, StreamingDetector};
    use std::time::Instant;
    let start = chrono::Utc::now() - chrono::Duration::minutes(args.stream_points as i64);

    let points = synthetic(args.stream_points, 0.0, start);
    let mut detector = StreamingDetector::new(StreamConfig::default());
    let t = Instant::now();
    let mut flagged = 0usize;
    for p in &points {
        flagged += usize::from(detector.update(p.timestamp, p.value).is_anomaly);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "streaming detector: {} points in {:.3} s = {:.2} million points/s on one core ({flagged} flagged)",
        points.len(),
        secs,
        points.len() as f64 / secs / 1e6
    );

    let series: Vec<(String, Vec<logflow_anomaly::Point>)> =
        (0..args.services).map(|i| (format!("service-{i}"), synthetic(args.window_minutes, i as f64, start))).collect();
    let mut runs = Vec::with_capacity(args.repeat);
    let mut found = 0;
    for _ in 0..args.repeat.max(1) {
        let t = Instant::now();
        found = 0;
        for (service, points) in &series {
            for metric in ["log_volume", "error_rate"] {
                found += detect(points, &DetectOptions::new(metric).with_service(service)).anomalies.len();
            }
        }
        runs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "batch detection: {} services x 2 metrics x {} points: median {:.1} ms over {} runs ({found} anomalies)",
        args.services,
        args.window_minutes,
        runs[runs.len() / 2],
        runs.len()
    );
    Ok(())
}

fn score(args: ScoreArgs) -> anyhow::Result<()> {
    let config = StreamConfig {
        warmup_points: args.warmup_points,
        memory_half_life: args.memory_half_life,
        anomaly_threshold: args.anomaly_threshold,
        suppression_points: args.suppression_points,
        seasonal_tolerance_secs: args.seasonal_tolerance_secs,
        ..StreamConfig::default()
    };
    let input: Box<dyn BufRead> = if is_stdio(&args.input) {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
        Box::new(BufReader::new(file))
    };
    let output: Box<dyn Write> = if is_stdio(&args.output) {
        Box::new(BufWriter::new(io::stdout().lock()))
    } else {
        let file = File::create(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
        Box::new(BufWriter::new(file))
    };
    score_csv(input, output, &config).with_context(|| format!("scoring {}", args.input.display()))?;
    Ok(())
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}
