//! Scoring a `timestamp,value` CSV with the streaming detector (the `logflow anomaly score`
//! command and the NAB evaluation).
//!
//! The input is NAB's format: a header naming a `timestamp` and a `value` column (in any order,
//! other columns ignored), timestamps `YYYY-MM-DD HH:MM:SS` (fractional seconds and RFC 3339 are
//! accepted too, read as UTC), one point per line, in time order; fields are split on commas, so
//! quoted fields containing commas are not supported. The output has one line
//! `timestamp,anomaly_score` per input row, in order, the timestamp copied verbatim.

use std::io::{BufRead, Write};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::AnomalyError;
use crate::stream::{StreamConfig, StreamingDetector};

/// Reads a `timestamp,value` CSV from `input`, scores each row with one [`StreamingDetector`] seeing
/// the points once, in order, and writes `timestamp,anomaly_score` rows to `output`. Blank lines are
/// skipped. Returns the number of rows scored.
pub fn score_csv(input: impl BufRead, mut output: impl Write, config: &StreamConfig) -> Result<usize, AnomalyError> {
    let mut lines = input.lines().enumerate();
    let header = loop {
        match lines.next() {
            Some((_, line)) => {
                let line = line?;
                if !line.trim().is_empty() {
                    break line;
                }
            }
            None => return Err(AnomalyError::CsvHeader(String::new())),
        }
    };
    let columns: Vec<&str> = header.split(',').map(|c| c.trim().trim_matches('"')).collect();
    let find = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (Some(ts_col), Some(value_col)) = (find("timestamp"), find("value")) else {
        return Err(AnomalyError::CsvHeader(header.trim().to_string()));
    };

    let mut detector = StreamingDetector::new(config.clone());
    writeln!(output, "timestamp,anomaly_score")?;
    let mut rows = 0;
    for (index, line) in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let row_error = |message: String| AnomalyError::CsvRow { line: index + 1, message };
        let fields: Vec<&str> = line.split(',').map(|f| f.trim().trim_matches('"')).collect();
        let (Some(raw_ts), Some(raw_value)) = (fields.get(ts_col), fields.get(value_col)) else {
            return Err(row_error(format!("expected {} columns, found {}", columns.len(), fields.len())));
        };
        let timestamp = parse_timestamp(raw_ts).ok_or_else(|| row_error(format!("bad timestamp `{raw_ts}`")))?;
        let value: f64 = raw_value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| row_error(format!("bad value `{raw_value}`")))?;
        writeln!(output, "{raw_ts},{}", detector.update(timestamp, value).score)?;
        rows += 1;
    }
    output.flush()?;
    Ok(rows)
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` (NAB) or RFC 3339; naive times are taken as UTC.
fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc())
        .or_else(|_| DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nab_csv(rows: usize) -> String {
        let mut csv = String::from("timestamp,value\n");
        for i in 0..rows {
            let value = if i == rows - 1 { 500.0 } else { 20.0 + (i % 7) as f64 };
            csv.push_str(&format!("2014-04-{:02} {:02}:{:02}:00,{value}\n", 1 + i / 288, (i / 12) % 24, (i % 12) * 5));
        }
        csv
    }

    fn score(input: &str) -> Result<(usize, String), AnomalyError> {
        let mut out = Vec::new();
        let rows = score_csv(input.as_bytes(), &mut out, &StreamConfig::default())?;
        Ok((rows, String::from_utf8(out).unwrap()))
    }

    #[test]
    fn anomaly_score_writes_one_score_per_row_in_order() {
        let input = nab_csv(400);
        let (rows, output) = score(&input).unwrap();
        assert_eq!(rows, 400);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines[0], "timestamp,anomaly_score");
        assert_eq!(lines.len(), 401);
        for (input_line, output_line) in input.lines().skip(1).zip(&lines[1..]) {
            let (ts, score) = output_line.split_once(',').unwrap();
            assert_eq!(ts, input_line.split_once(',').unwrap().0);
            let score: f64 = score.parse().unwrap();
            assert!((0.0..=1.0).contains(&score));
        }
        let last: f64 = lines[400].split_once(',').unwrap().1.parse().unwrap();
        assert!(last >= StreamConfig::default().anomaly_threshold, "the final jump scores high: {last}");
    }

    #[test]
    fn columns_are_found_by_name_and_other_timestamp_forms_accepted() {
        let input = "value,host,timestamp\n1.5,a,2014-04-01T00:00:00Z\n\n2.5,a,2014-04-01 00:05:00.250\n";
        let (rows, output) = score(input).unwrap();
        assert_eq!(rows, 2);
        assert_eq!(output, "timestamp,anomaly_score\n2014-04-01T00:00:00Z,0\n2014-04-01 00:05:00.250,0\n");
    }

    #[test]
    fn malformed_input_is_reported_with_its_line() {
        assert!(matches!(score("time,val\n"), Err(AnomalyError::CsvHeader(h)) if h == "time,val"));
        assert!(matches!(score(""), Err(AnomalyError::CsvHeader(_))));
        let bad_value = "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,abc\n";
        let err = score(bad_value).unwrap_err();
        assert_eq!(err.to_string(), "line 3: bad value `abc`");
        let bad_time = "timestamp,value\nyesterday,1\n";
        assert!(matches!(score(bad_time), Err(AnomalyError::CsvRow { line: 2, .. })));
        assert!(matches!(score("timestamp,value\n2014-04-01 00:00:00\n"), Err(AnomalyError::CsvRow { line: 2, .. })));
    }
}
