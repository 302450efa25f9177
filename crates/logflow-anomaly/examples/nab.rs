//! Scores every CSV under a NAB `data/` folder with the streaming detector, writing one result CSV
//! per input at the same relative path: the fast loop for tuning the detector without building the
//! whole `logflow` binary (`scripts/nab-eval.sh` runs the real command).
//!
//! ```sh
//! cargo run --release -p logflow-anomaly --example nab -- ../shared/data/nab/data /tmp/nab-results \
//!     [memory_half_life=1000] [anomaly_threshold=0.5] [suppression_points=100] ...
//! python3 ../shared/tools/nab_score.py --windows ../shared/data/nab/combined_windows.json \
//!     --results /tmp/nab-results
//! ```
//!
//! Optional `field=value` arguments override the [`StreamConfig`] defaults.

use std::error::Error;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use logflow_anomaly::csv::score_csv;
use logflow_anomaly::StreamConfig;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, results, overrides @ ..] = args.as_slice() else {
        return Err("usage: nab DATA_DIR RESULTS_DIR [field=value ...]".into());
    };
    let config = configure(overrides)?;
    let data = Path::new(data);
    let mut files = Vec::new();
    collect_csvs(data, &mut files)?;
    files.sort();
    for file in &files {
        let out = Path::new(results).join(file.strip_prefix(data)?);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)?;
        }
        let input = BufReader::new(File::open(file)?);
        score_csv(input, BufWriter::new(File::create(&out)?), &config)
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    eprintln!("scored {} files into {results}", files.len());
    Ok(())
}

fn configure(overrides: &[String]) -> Result<StreamConfig, Box<dyn Error>> {
    let mut config = StreamConfig::default();
    for pair in overrides {
        let (field, value) = pair.split_once('=').ok_or_else(|| format!("expected field=value, got `{pair}`"))?;
        match field {
            "warmup_points" => config.warmup_points = value.parse()?,
            "memory_half_life" => config.memory_half_life = value.parse()?,
            "recent_window" => config.recent_window = value.parse()?,
            "anomaly_threshold" => config.anomaly_threshold = value.parse()?,
            "suppression_points" => config.suppression_points = value.parse()?,
            "seasonal_tolerance_secs" => config.seasonal_tolerance_secs = value.parse()?,
            _ => return Err(format!("unknown StreamConfig field `{field}`").into()),
        }
    }
    Ok(config)
}

fn collect_csvs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_csvs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "csv") {
            out.push(path);
        }
    }
    Ok(())
}
