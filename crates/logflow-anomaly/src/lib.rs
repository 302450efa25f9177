//! # logflow-anomaly
//!
//! Anomaly detection for LogFlow's metrics (log volume, error rate, any numeric series). Pure: no
//! I/O beyond the `Read`/`Write` handed to [`csv::score_csv`], no async, deterministic.
//!
//! * [`model`]: points, [`Anomaly`], [`Severity`] (the spec's table), [`AnomalyType`], and the
//!   response bodies [`DetectionReport`] and [`AnomalyReport`], serialised with the spec's field
//!   names so the API returns them as they are.
//! * [`batch`]: [`detect`] analyses one window of a series, as the `/api/v1/anomaly/detect/*` and
//!   `/api/v1/anomaly/report` endpoints do: z-score, adaptive moving average and an
//!   [`batch::isolation_forest::IsolationForest`], merged so each incident is reported once.
//! * [`stream`]: [`StreamingDetector`], one per series, scores each new point in [0, 1] as it
//!   arrives, with daily and weekly seasonality learned online (a nightly batch job stops being an
//!   anomaly after a few nights). The server and `logflow anomaly score` share it.
//! * [`csv`]: scoring a `timestamp,value` CSV (NAB's format) with the streaming detector.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use logflow_anomaly::{detect, AnomalyType, DetectOptions, Point};
//!
//! let start = Utc.with_ymd_and_hms(2025, 10, 26, 16, 0, 0).unwrap();
//! let series: Vec<Point> = (0..60)
//!     .map(|m| {
//!         let value = if m == 22 { 3000.0 } else { 225.0 + f64::from(m % 3) };
//!         Point::new(start + chrono::Duration::minutes(m.into()), value)
//!     })
//!     .collect();
//! let report = detect(&series, &DetectOptions::new("log_volume").with_service("payment-service"));
//! let top = &report.anomalies[0];
//! assert_eq!(top.anomaly_type, AnomalyType::Spike);
//! assert_eq!(top.detected_at, start + chrono::Duration::minutes(22));
//! ```

pub mod batch;
pub mod csv;
pub mod error;
pub mod model;
pub mod stream;

pub use batch::{detect, DetectOptions};
pub use error::AnomalyError;
pub use model::{
    check_window_minutes, Anomaly, AnomalyReport, AnomalyType, DetectionReport, Method, Point, Severity,
    MAX_WINDOW_MINUTES, MIN_POINTS, MIN_WINDOW_MINUTES,
};
pub use stream::{SeriesDetectors, StreamConfig, StreamScore, StreamingDetector};
