//! `logflow`: the one binary. Subcommands: `serve` (the server), `generate` (realistic logs),
//! `bench` (performance measurements against a running server), `db` (metadata database
//! management), `anomaly` (offline scoring with the server's detector).

mod anomaly;
mod bench;
mod config;
mod db;
mod generate;
mod meta;
mod serve;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: indexing allocates and frees many small objects from several
/// threads, where glibc's per-thread arenas cost time and keep freed memory resident.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "logflow", version, about = "Log aggregation and analysis in one binary", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP API, durable ingest, embedded search index.
    Serve(ServeArgs),
    /// Generate realistic logs from several services and send them to a server, a file or stdout.
    Generate(generate::GenerateArgs),
    /// Measure ingest throughput, search latency, memory and disk use.
    Bench(bench::BenchArgs),
    /// Manage the metadata database: init, migrate, backup, restore, reset, shell.
    Db(db::DbArgs),
    /// Anomaly detection tools (score a time series CSV with the server's streaming detector).
    Anomaly(anomaly::AnomalyArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:8000; env LOGFLOW_LISTEN]
    #[arg(long)]
    listen: Option<String>,
    /// Directory for the WAL and index [default: ./data; env LOGFLOW_DATA_DIR]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (see logflow.example.toml)
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Feed generated demo logs in-process (with an hour of history on an empty store)
    #[arg(long)]
    demo: bool,
    /// Demo logs per second
    #[arg(long, default_value_t = 20.0)]
    demo_rate: f64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Anomaly(args) => anomaly::run(args),
        Command::Db(args) => db::run(args),
    }
}
