//! The crate's one error type. Detection itself never fails: too few points is a result with a
//! reason, not an error. Errors come from the API's parameters and from reading CSV input.

/// What can go wrong around detection.
#[derive(Debug, thiserror::Error)]
pub enum AnomalyError {
    /// `window_minutes` outside the spec's 10..=1440.
    #[error(
        "window_minutes must be between {min} and {max}, got {minutes}",
        min = crate::MIN_WINDOW_MINUTES,
        max = crate::MAX_WINDOW_MINUTES
    )]
    WindowOutOfRange { minutes: u32 },
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The CSV header lacks a `timestamp` or a `value` column.
    #[error("the CSV header must name a `timestamp` and a `value` column, found `{0}`")]
    CsvHeader(String),
    /// A CSV data row is malformed; `line` is 1-based and counts the header.
    #[error("line {line}: {message}")]
    CsvRow { line: usize, message: String },
}
