//! Z-score: how many of the window's standard deviations a point lies from the window's mean.
//! Best for sudden spikes and drops against a stable baseline.

use super::Detection;
use crate::model::Method;

/// Mean and population standard deviation of `values`.
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

/// Points whose |z| exceeds `threshold`. A constant window has no deviations to report.
pub(crate) fn detect(values: &[f64], threshold: f64) -> Vec<Detection> {
    let (mean, std) = mean_std(values);
    if std <= 0.0 {
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .filter_map(|(index, &value)| {
            let z = (value - mean) / std;
            (z.abs() > threshold).then_some(Detection {
                index,
                method: Method::ZScore,
                score: z.abs(),
                z,
                expected: mean,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_spike_with_its_z_score() {
        let mut values = vec![10.0; 20];
        values[7] = 100.0;
        let found = detect(&values, 3.0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].index, 7);
        assert!(found[0].z > 4.0);
        assert!((found[0].expected - 14.5).abs() < 1e-9);
    }

    #[test]
    fn constant_series_has_no_anomalies() {
        assert!(detect(&[5.0; 10], 1.0).is_empty());
    }
}
