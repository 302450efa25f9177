//! `logflow db`: manage the metadata database (users, alert rules, alert history, settings), the
//! spec's `manage-db.sh` as subcommands. Works on SQLite and PostgreSQL alike; backups are a JSON
//! dump that restores onto either.

use crate::config::Config;
use crate::meta::{self, Bootstrap};
use anyhow::{bail, Context};
use logflow_meta::MetaDump;
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
    /// TOML configuration file (see logflow.example.toml)
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    /// Data directory (holds the SQLite database when no database URL is set) [env LOGFLOW_DATA_DIR]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Metadata database URL: sqlite://PATH or postgres://... [env DATABASE_URL]
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
enum DbCommand {
    /// Create the database and its tables, and the admin account if there is no admin.
    Init,
    /// Apply pending schema migrations and list them all.
    Migrate,
    /// Write every user, rule, alert and setting to a JSON file (restorable on SQLite or PostgreSQL).
    Backup {
        /// Output file, or - for stdout [default: logflow-meta-<UTC time>.json]
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Load a backup into an empty database (use --force to replace what is there).
    Restore {
        /// A file written by `logflow db backup`
        file: PathBuf,
        /// Delete the current contents first instead of refusing a non-empty database
        #[arg(long)]
        force: bool,
    },
    /// Delete all users, rules, alerts and settings, then recreate the admin account.
    Reset {
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Open an interactive SQL shell on the database (sqlite3 or psql).
    Shell,
}

pub fn run(args: DbArgs) -> anyhow::Result<()> {
    let mut cfg = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(u) = args.database_url {
        cfg.database.url = u;
    }
    cfg.validate()?;
    if let DbCommand::Shell = args.command {
        return shell(&cfg);
    }
    tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).init();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run_async(cfg, args.command))
}

async fn run_async(cfg: Config, command: DbCommand) -> anyhow::Result<()> {
    let url = meta::redact_url(&cfg.database_url());
    match command {
        DbCommand::Init => {
            let store = meta::open(&cfg, true, None).await?;
            let admin = meta::bootstrap_admin(&cfg, &*store).await?;
            println!("database ready: {} ({url})", store.backend());
            println!(
                "admin account: {}",
                if admin == Bootstrap::Created { "created (user 'admin')" } else { "already present" }
            );
        }
        DbCommand::Migrate => {
            let store = meta::open(&cfg, false, None).await?;
            let applied = store.migrate().await?;
            for m in store.migrations().await? {
                println!("{:>4}  {:<8} {}", m.version, if m.applied { "applied" } else { "pending" }, m.description);
            }
            println!("{applied} migration(s) applied to {} ({url})", store.backend());
        }
        DbCommand::Backup { output } => {
            let store = meta::open(&cfg, true, None).await?;
            let dump = store.export().await?;
            let json = serde_json::to_vec_pretty(&dump)?;
            let summary = summary(&dump);
            match output.as_deref() {
                Some(p) if p.as_os_str() == "-" => {
                    std::io::stdout().write_all(&json)?;
                    eprintln!("backup of {} ({url}): {summary}", store.backend());
                }
                _ => {
                    let path = output.unwrap_or_else(|| {
                        PathBuf::from(format!("logflow-meta-{}.json", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")))
                    });
                    write_atomically(&path, &json)?;
                    println!("backup written to {}: {summary}", path.display());
                }
            }
        }
        DbCommand::Restore { file, force } => {
            let text = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let dump: MetaDump = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a LogFlow metadata backup", file.display()))?;
            let store = meta::open(&cfg, true, None).await?;
            if force {
                store.reset().await?;
            }
            store.import(&dump).await.map_err(|e| match e {
                logflow_meta::MetaError::Invalid(m) if !force => {
                    anyhow::anyhow!("{m}; use --force to replace the current contents")
                }
                e => e.into(),
            })?;
            println!("restored {} into {} ({url}): {}", file.display(), store.backend(), summary(&dump));
        }
        DbCommand::Reset { yes } => {
            let store = meta::open(&cfg, true, None).await?;
            if !yes && !confirm(&format!("This deletes every user, alert rule, alert and setting in {url}."))? {
                bail!("reset cancelled");
            }
            store.reset().await?;
            meta::bootstrap_admin(&cfg, &*store).await?;
            println!("database {} ({url}) reset; admin account recreated", store.backend());
        }
        DbCommand::Shell => unreachable!("handled before the runtime starts"),
    }
    Ok(())
}

fn summary(d: &MetaDump) -> String {
    format!(
        "{} users, {} alert rules, {} triggered alerts, {} settings, {} saved searches",
        d.users.len(),
        d.alert_rules.len(),
        d.triggered_alerts.len(),
        d.system_config.len(),
        d.saved_searches.len()
    )
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Asks on stderr, reads the answer from stdin: only `yes` proceeds.
fn confirm(what: &str) -> anyhow::Result<bool> {
    eprint!("{what}\nType 'yes' to continue: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

fn shell(cfg: &Config) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let (program, args) = logflow_meta::shell_command(&cfg.database_url())?;
    let err = std::process::Command::new(&program).args(&args).exec();
    let package = if program == "psql" { "postgresql-client" } else { "sqlite3" };
    bail!("could not run {program}: {err} (install the {package} package)")
}
