//! Moving average with an adaptive window: each point is compared with the mean and standard
//! deviation of the points just before it. The window length is the one, among a few candidates,
//! that best predicts the series one step ahead: short for a trending or regime-switching series,
//! long for noise around a level. Best for changes against the recent trend.

use super::zscore::mean_std;
use super::Detection;
use crate::model::Method;

/// Candidate window lengths, in points.
const CANDIDATES: [usize; 7] = [2, 3, 5, 10, 20, 30, 60];

/// The candidate window (at most half the series) with the lowest mean absolute one-step error,
/// measured over the same points for every candidate.
pub(crate) fn adaptive_window(values: &[f64]) -> usize {
    let fitting: Vec<usize> = CANDIDATES.iter().copied().filter(|&k| k <= values.len() / 2).collect();
    let Some(&longest) = fitting.last() else {
        return 1;
    };
    let error = |k: usize| -> f64 {
        (longest..values.len()).map(|i| (values[i] - trailing_mean(values, i, k)).abs()).sum::<f64>()
    };
    // Each candidate's error once (comparing recomputed errors would compute most of them twice).
    fitting.iter().map(|&k| (k, error(k))).min_by(|a, b| a.1.total_cmp(&b.1)).map_or(longest, |(k, _)| k)
}

fn trailing_mean(values: &[f64], i: usize, k: usize) -> f64 {
    let window = &values[i.saturating_sub(k)..i];
    window.iter().sum::<f64>() / window.len().max(1) as f64
}

/// The mean and standard deviation of the (up to) `window` points before each point, `None` for the
/// first point (the Isolation Forest uses both as features).
pub(crate) fn trailing_stats(values: &[f64], window: usize) -> Vec<Option<(f64, f64)>> {
    (0..values.len()).map(|i| (i > 0).then(|| mean_std(&values[i.saturating_sub(window)..i]))).collect()
}

/// Points deviating from their trailing moving average by more than `threshold` times the typical
/// deviation. The typical deviation is the robust spread (1.4826 x median absolute deviation) of
/// all points from their moving averages: the few points inside a short window are too few to
/// estimate a spread, and a wobble of 5 % must not be called critical because the three points
/// before it happened to be equal.
#[cfg(test)]
pub(crate) fn detect(values: &[f64], threshold: f64) -> Vec<Detection> {
    let window = adaptive_window(values);
    detect_with(values, window, &trailing_stats(values, window), threshold)
}

/// [`detect`] with the adaptive `window` and its `trailing` stats already computed.
pub(crate) fn detect_with(
    values: &[f64],
    window: usize,
    trailing: &[Option<(f64, f64)>],
    threshold: f64,
) -> Vec<Detection> {
    let residuals: Vec<(usize, f64, f64)> = trailing
        .iter()
        .enumerate()
        .skip(window)
        .filter_map(|(index, stats)| stats.map(|(mean, _)| (index, mean, values[index] - mean)))
        .collect();
    let mut magnitudes: Vec<f64> = residuals.iter().map(|r| r.2.abs()).collect();
    let spread = match median(&mut magnitudes) {
        Some(mad) if mad > 0.0 => 1.4826 * mad,
        // Mostly exact predictions: fall back to the plain standard deviation of the residuals.
        _ => mean_std(&residuals.iter().map(|r| r.2).collect::<Vec<_>>()).1,
    };
    if spread <= 0.0 {
        return Vec::new();
    }
    residuals
        .into_iter()
        .filter_map(|(index, mean, residual)| {
            let z = residual / spread;
            (z.abs() > threshold).then_some(Detection {
                index,
                method: Method::MovingAverage,
                score: z.abs(),
                z,
                expected: mean,
            })
        })
        .collect()
}

/// The upper median (for an even count, the larger of the two middle values; exact enough for a
/// spread estimate).
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn window_is_short_for_a_trend_and_long_for_noise() {
        let trend: Vec<f64> = (0..200).map(f64::from).collect();
        assert_eq!(adaptive_window(&trend), 2);
        let mut rng = StdRng::seed_from_u64(3);
        let noise: Vec<f64> = (0..200).map(|_| rng.random_range(-1.0..1.0)).collect();
        assert!(adaptive_window(&noise) >= 20, "{}", adaptive_window(&noise));
    }

    #[test]
    fn flags_a_break_from_the_recent_trend() {
        let mut values: Vec<f64> =
            (0..60).map(|i| 100.0 + f64::from(i) + if i % 2 == 0 { 0.5 } else { -0.5 }).collect();
        values[40] = 60.0;
        let found = detect(&values, 3.0);
        assert!(found.iter().any(|d| d.index == 40 && d.z < 0.0), "{found:?}");
        assert!(found.iter().all(|d| d.index >= 40), "{found:?}");
    }
}
