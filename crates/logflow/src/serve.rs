//! `logflow serve`: wire the engines together and run the HTTP server until SIGINT/SIGTERM.
//!
//! Shutdown order matters for durability: stop accepting connections and finish in-flight
//! requests, then drain the WAL writer, then let the indexer commit what it staged.

use crate::config::Config;
use crate::ServeArgs;
use anyhow::Context;
use chrono::{Duration as ChronoDuration, Utc};
use logflow_api::auth::Auth;
use logflow_api::metrics::Metrics;
use logflow_api::{ApiConfig, AppState, Services};
use logflow_core::ingest::{parse_item, IngestLimits};
use logflow_gen::{GenConfig, Generator, Sink};
use logflow_ingest::{Pipeline, PipelineConfig};
use logflow_kv::{Cache, MemoryCache, MemoryLimiter, RateLimiter, RedisCache, RedisHandle, RedisLimiter, RedisOptions};
use logflow_meta::QueryObserver;
use logflow_store::tantivy_engine::{TantivyStore, WriterConfig};
use logflow_store::LogStore;
use std::fs::File;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = Config::load(args.config.as_deref())?;
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    cfg.validate()?;
    cfg.check_production_secrets()?;
    init_tracing(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("logflow").build()?;
    rt.block_on(serve(cfg, args.demo, args.demo_rate))
}

fn init_tracing(cfg: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log_level))
        .context("invalid log_level filter")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
    Ok(())
}

/// Hold an exclusive lock on the data directory: two servers writing one WAL would corrupt it.
fn lock_data_dir(cfg: &Config) -> anyhow::Result<File> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let path = cfg.data_dir.join("LOCK");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is shared with the kernel.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        anyhow::bail!(
            "data directory {} is in use by another LogFlow process (could not lock {})",
            cfg.data_dir.display(),
            path.display()
        );
    }
    Ok(file)
}

async fn serve(cfg: Config, demo: bool, demo_rate: f64) -> anyhow::Result<()> {
    let _lock = lock_data_dir(&cfg)?;
    let writer = WriterConfig {
        threads: cfg.index.writer_threads,
        heap_bytes: cfg.index.writer_heap_mb << 20,
        zstd_level: cfg.index.zstd_level,
        ..WriterConfig::default()
    };
    let index_dir = cfg.data_dir.join("index");
    let store = tokio::task::spawn_blocking(move || TantivyStore::open(&index_dir, writer)).await??;
    let store: Arc<dyn LogStore> = Arc::new(store);

    let mut pcfg = PipelineConfig::new(cfg.data_dir.join("wal"));
    pcfg.commit_interval = Duration::from_millis(cfg.ingest.commit_interval_ms);
    pcfg.max_pending_bytes = cfg.ingest.max_pending_bytes;
    pcfg.retention_days = cfg.retention_days;
    pcfg.wal.segment_bytes = cfg.ingest.wal_segment_bytes;
    pcfg.wal.fsync = cfg.ingest.wal_fsync;
    // Metadata, auth, limits and cache first: a refusal (production secrets) happens before replay.
    let metrics = Arc::new(Metrics::new());
    let services = services(&cfg, metrics.clone()).await?;
    let indexed_metrics = metrics.clone();
    let tail = services.tail.clone();
    pcfg.on_indexed = Some(Arc::new(move |records: &[logflow_core::LogRecord]| {
        indexed_metrics.record_indexed(records);
        tail.publish(records);
    }));
    let pipeline = Pipeline::start(pcfg, store).await?;

    let limits = IngestLimits {
        max_message_bytes: cfg.ingest.max_message_bytes,
        max_age: ChronoDuration::days(cfg.retention_days as i64),
        max_future: ChronoDuration::hours(cfg.ingest.max_future_hours),
        ..IngestLimits::default()
    };
    let api = ApiConfig { max_body_bytes: cfg.ingest.max_body_bytes, limits: limits.clone() };
    let state = AppState::new(pipeline.clone(), api, services);
    let samplers = state.spawn_samplers();
    let (engine_stop, engine_task) = if cfg.alerting.enabled {
        let engine = logflow_alert::Engine::new(
            state.meta.clone(),
            state.store.clone(),
            cfg.engine_config()?,
            Some(state.metrics.clone() as Arc<dyn logflow_alert::EngineObserver>),
        )?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tracing::info!(every_secs = cfg.alerting.check_interval_secs, "alert engine started");
        (Some(tx), Some(Arc::new(engine).spawn(rx)))
    } else {
        (None, None)
    };
    let app = logflow_api::router(state.clone());

    let listener =
        tokio::net::TcpListener::bind(&cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), environment = %cfg.environment, "LogFlow is listening");
    // A stable line on stdout for scripts and tests (the port may have been chosen by the OS).
    println!("logflow: listening on http://{addr}");

    // Open live tails would hold graceful shutdown forever: they are ended first.
    let tail = state.tail.clone();
    let demo_task = demo.then(|| tokio::spawn(run_demo(state, limits, demo_rate)));
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tail.close();
        })
        .await?;
    tracing::info!("shutting down: draining ingest");
    samplers.abort();
    if let (Some(stop), Some(task)) = (engine_stop, engine_task) {
        let _ = stop.send(true);
        // In-flight notifications get a few seconds; the alerts themselves are already recorded.
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some(t) = demo_task {
        t.abort();
    }
    pipeline.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Metadata store (with the admin account), auth keys, and the rate limiter and cache (in-process,
/// or sharing one Redis connection when configured).
async fn services(cfg: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Services> {
    let meta = crate::meta::open(cfg, true, Some(metrics.clone() as Arc<dyn QueryObserver>)).await?;
    crate::meta::bootstrap_admin(cfg, &*meta).await?;
    tracing::info!(backend = meta.backend(), url = %crate::meta::redact_url(&cfg.database_url()), "metadata database ready");
    let auth =
        Arc::new(Auth::new(&cfg.auth.secret_key, Duration::from_secs(cfg.auth.access_token_expire_minutes * 60)));
    let (limiter, cache): (Arc<dyn RateLimiter>, Arc<dyn Cache>) = if cfg.redis.url.is_empty() {
        (Arc::new(MemoryLimiter::new()), Arc::new(MemoryCache::with_capacity(cfg.cache.max_memory_mb << 20)))
    } else {
        let redis = RedisHandle::connect(&cfg.redis.url, RedisOptions::default())
            .await
            .with_context(|| format!("configuring Redis at {}", crate::meta::redact_url(&cfg.redis.url)))?;
        let health = redis.health();
        tracing::info!(url = %crate::meta::redact_url(&cfg.redis.url), status = health.status, detail = ?health.detail,
            "cache and rate limits shared through Redis");
        (Arc::new(RedisLimiter::new(redis.clone())), Arc::new(RedisCache::new(redis)))
    };
    Ok(Services {
        meta,
        auth,
        limiter,
        rate_limits: cfg.rate_limit_settings()?,
        cache,
        cache_ttls: cfg.cache_ttls(),
        metrics,
        tail: Arc::new(logflow_api::routes::tail::LiveTail::default()),
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// Feeds generated logs in as if they had come over HTTP (same validation, same metrics).
struct DemoSink {
    state: AppState,
    limits: IngestLimits,
}

impl Sink for DemoSink {
    async fn send(&mut self, batch: Vec<serde_json::Value>) -> anyhow::Result<()> {
        let now = Utc::now();
        let records = batch
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::Object(m) => parse_item(m, &self.limits, now).ok(),
                _ => None,
            })
            .collect::<Vec<_>>();
        if records.is_empty() {
            return Ok(());
        }
        // Under backpressure the demo simply drops its batch: it is sample data.
        if let Err(e) = self.state.ingest(records).await {
            tracing::debug!(error = %e, "demo batch not ingested");
        }
        Ok(())
    }
}

/// `--demo`: an hour of history on an empty store, then live logs at `rate`.
async fn run_demo(state: AppState, limits: IngestLimits, rate: f64) {
    let store = state.store.clone();
    let mut sink = DemoSink { state, limits };
    let empty = store
        .search(&logflow_core::search::SearchRequest::new(logflow_core::query::Query::All))
        .await
        .map(|r| r.total == 0)
        .unwrap_or(false);
    if empty {
        let mut gen = Generator::new(GenConfig::default());
        let start = Utc::now() - ChronoDuration::hours(1);
        // One batch per simulated minute keeps the backfill quick and the volume chart realistic.
        for minute in 0..60 {
            let n = (rate * 60.0) as usize;
            let batch = gen.batch(n.max(1), start + ChronoDuration::minutes(minute), ChronoDuration::minutes(1));
            let _ = sink.send(batch).await;
        }
        tracing::info!(logs = (rate * 3600.0) as u64, "demo: backfilled one hour of logs");
    }
    let gen = Generator::new(GenConfig::default());
    if let Err(e) = logflow_gen::run_into(gen, sink, rate).await {
        tracing::warn!(error = %e, "demo generator stopped");
    }
}
