//! Timing harness for the streaming detector and batch `detect` (mirrors `logflow anomaly bench`),
//! also writing every score and report to a file so optimisations can be checked for identical
//! output: `cargo run --release -p logflow-anomaly --example perf -- /tmp/out.txt` (with
//! `BATCH_ONLY=1`, only the batch part runs, e.g. under `perf record`).

use std::io::Write;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use logflow_anomaly::{detect, DetectOptions, Point, StreamConfig, StreamingDetector};

fn synthetic(n: usize, phase: f64, start: DateTime<Utc>) -> Vec<Point> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ phase.to_bits();
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 1000) as f64 / 1000.0 - 0.5;
            let day = (i as f64 / 1440.0 * std::f64::consts::TAU + phase).sin();
            let value = 200.0 + 80.0 * day + 20.0 * noise + if i % 997 == 0 { 600.0 } else { 0.0 };
            Point::new(start + Duration::minutes(i as i64), value)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "/dev/null".into());
    let mut out = std::io::BufWriter::new(std::fs::File::create(out)?);
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let stream_points = if std::env::var_os("BATCH_ONLY").is_some() { 0 } else { 2_000_000 };
    let points = synthetic(stream_points, 0.0, start);
    let mut detector = StreamingDetector::new(StreamConfig::default());
    let t = Instant::now();
    let scores: Vec<f64> = points.iter().map(|p| detector.update(p.timestamp, p.value).score).collect();
    let secs = t.elapsed().as_secs_f64();
    println!("stream: {:.3} M points/s", points.len() as f64 / secs / 1e6);
    for s in scores.iter().step_by(7) {
        writeln!(out, "{s}")?;
    }
    let series: Vec<(String, Vec<Point>)> =
        (0..20).map(|i| (format!("service-{i}"), synthetic(1440, f64::from(i), start))).collect();
    let mut runs = Vec::new();
    for run in 0..5 {
        let t = Instant::now();
        for (service, points) in &series {
            for metric in ["log_volume", "error_rate"] {
                let report = detect(points, &DetectOptions::new(metric).with_service(service));
                if run == 0 {
                    writeln!(out, "{report:?}")?;
                }
            }
        }
        runs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    runs.sort_by(f64::total_cmp);
    println!("batch: median {:.1} ms", runs[runs.len() / 2]);
    Ok(())
}
