//! The one-step forecast: several simple predictors combined by how well each has been doing.
//!
//! * the last value (right after a level shift, and for random walks),
//! * an exponentially weighted level (for noise around a level),
//! * the daily and the weekly seasonal profiles (for anything that repeats with the clock).
//!
//! Each is weighted by the inverse of its mean squared error (per slot for the seasonal ones), so a
//! series with a strong daily shape follows its profile and a flat noisy one its level. The part of
//! the error that the seasonal envelopes explain (a value seen around this time of day before) is
//! not counted as surprising.

use super::seasonal::SeasonalProfile;

/// Weight of a new point in the exponentially weighted level.
const LEVEL_ALPHA: f64 = 0.1;
/// Learning rate of the predictors' error statistics (a memory of about 100 points).
const ERROR_ALPHA: f64 = 0.01;
/// Weight of a new visit in a seasonal slot's mean.
const SEASONAL_ALPHA: f64 = 0.3;
/// Time deltas observed before the sampling interval is fixed and the profiles are created.
const INTERVAL_SAMPLES: usize = 16;
/// The level predictor joins the combination once its error estimate has this many points.
const LEVEL_MIN_POINTS: usize = 20;
const DAY_SECS: i64 = 86_400;
const WEEK_SECS: i64 = 7 * DAY_SECS;
/// Slot counts are bounded so a per-second series does not cost megabytes of profile.
const MAX_DAILY_SLOTS: usize = 1_440;
const MAX_WEEKLY_SLOTS: usize = 2_016;

/// What the forecaster expected of a point, computed before learning it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forecast {
    /// The combined one-step forecast.
    pub(crate) expected: f64,
    /// `|value - expected|`.
    pub(crate) error: f64,
    /// The error, reduced to the distance from the seasonal envelopes when those explain more.
    pub(crate) unexplained: f64,
}

/// Predictors, their error statistics and the seasonal profiles of one series.
#[derive(Debug, Clone)]
pub(crate) struct Forecaster {
    seasonal_tolerance_secs: i64,
    seen: usize,
    last_value: f64,
    level: f64,
    min: f64,
    max: f64,
    /// Mean squared error of the last-value and level predictors.
    sq_errors: [f64; 2],
    /// Mean absolute error of the combined forecast: the unit of surprise.
    abs_error: f64,
    last_timestamp: Option<i64>,
    deltas: Vec<i64>,
    daily: Option<SeasonalProfile>,
    weekly: Option<SeasonalProfile>,
}

impl Forecaster {
    pub(crate) fn new(seasonal_tolerance_secs: i64) -> Self {
        Forecaster {
            seasonal_tolerance_secs,
            seen: 0,
            last_value: 0.0,
            level: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sq_errors: [0.0; 2],
            abs_error: 0.0,
            last_timestamp: None,
            deltas: Vec::with_capacity(INTERVAL_SAMPLES),
            daily: None,
            weekly: None,
        }
    }

    /// A small fraction of the range seen so far: keeps normalised errors finite on flat series.
    pub(crate) fn resolution(&self) -> f64 {
        1e-3 * (self.max - self.min).max(0.0) + 1e-12
    }

    /// The unexplained error of a forecast in typical errors beyond the first: 0 for anything
    /// within the usual error. Without the margin, a series that the seasonal envelopes explain
    /// almost perfectly would make the slightest excess look like a rare event.
    pub(crate) fn normalised(&self, forecast: &Forecast) -> f64 {
        (forecast.unexplained / (self.abs_error + self.resolution()) - 1.0).max(0.0)
    }

    /// Notes the timestamp of a new point; once the sampling interval is known, creates the
    /// seasonal profiles with one slot per interval.
    pub(crate) fn observe_time(&mut self, epoch_secs: i64) {
        if let Some(last) = self.last_timestamp {
            if self.deltas.len() < INTERVAL_SAMPLES && epoch_secs > last {
                self.deltas.push(epoch_secs - last);
                if self.deltas.len() == INTERVAL_SAMPLES {
                    self.deltas.sort_unstable();
                    let interval = self.deltas[INTERVAL_SAMPLES / 2];
                    self.daily = Some(SeasonalProfile::new(DAY_SECS, interval, MAX_DAILY_SLOTS, SEASONAL_ALPHA, 2));
                    self.weekly = Some(SeasonalProfile::new(WEEK_SECS, interval, MAX_WEEKLY_SLOTS, SEASONAL_ALPHA, 1));
                }
            }
        }
        self.last_timestamp = Some(epoch_secs);
    }

    /// The forecast for `value` at `epoch_secs`, or `None` for the very first point.
    pub(crate) fn forecast(&self, epoch_secs: i64, value: f64) -> Option<Forecast> {
        if self.seen == 0 {
            return None;
        }
        let profiles = [self.daily.as_ref(), self.weekly.as_ref()];
        // At most four candidates: kept on the stack, this runs for every point.
        let mut candidates = [(0.0, 0.0); 4];
        candidates[0] = (self.last_value, self.sq_errors[0]);
        let mut count = 1;
        if self.seen > LEVEL_MIN_POINTS {
            candidates[count] = (self.level, self.sq_errors[1]);
            count += 1;
        }
        for candidate in profiles.iter().flatten().filter_map(|p| p.forecast(epoch_secs, value)) {
            candidates[count] = candidate;
            count += 1;
        }

        let floor = 1e-6 * (self.max - self.min).powi(2) + 1e-24;
        let (sum, weights) = candidates[..count].iter().fold((0.0, 0.0), |(sum, weights), &(prediction, variance)| {
            let weight = 1.0 / (variance + floor);
            (sum + weight * prediction, weights + weight)
        });
        let expected = sum / weights;
        let error = (value - expected).abs();
        let envelope = profiles
            .iter()
            .flatten()
            .filter_map(|p| p.envelope_distance(epoch_secs, value, self.seasonal_tolerance_secs))
            .min_by(f64::total_cmp);
        let unexplained = envelope.map_or(error, |distance| error.min(distance));
        Some(Forecast { expected, error, unexplained })
    }

    /// Learns a point after it was scored with `forecast` (the result of [`Forecaster::forecast`]).
    pub(crate) fn learn(&mut self, epoch_secs: i64, value: f64, forecast: Option<&Forecast>) {
        match forecast {
            Some(forecast) => {
                let rate = ERROR_ALPHA.max(1.0 / self.seen as f64);
                self.abs_error += rate * (forecast.error - self.abs_error);
                for (sq_error, prediction) in self.sq_errors.iter_mut().zip([self.last_value, self.level]) {
                    *sq_error += rate * ((value - prediction).powi(2) - *sq_error);
                }
            }
            None => self.level = value,
        }
        self.level += LEVEL_ALPHA * (value - self.level);
        self.last_value = value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        for profile in [self.daily.as_mut(), self.weekly.as_mut()].into_iter().flatten() {
            profile.learn(epoch_secs, value);
        }
        self.seen += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_point_has_no_forecast_and_a_constant_is_forecast_exactly() {
        let mut f = Forecaster::new(3_600);
        assert!(f.forecast(0, 5.0).is_none());
        for i in 0..50 {
            f.observe_time(i * 60);
            let forecast = f.forecast(i * 60, 5.0);
            f.learn(i * 60, 5.0, forecast.as_ref());
        }
        let forecast = f.forecast(50 * 60, 5.0).unwrap();
        assert_eq!(forecast.expected, 5.0);
        assert_eq!(f.normalised(&forecast), 0.0);
    }

    #[test]
    fn a_daily_pattern_is_followed() {
        let mut f = Forecaster::new(3_600);
        let value_at = |t: i64| if (t % DAY_SECS) < DAY_SECS / 2 { 10.0 } else { 100.0 };
        let step = 600;
        for i in 0..(5 * DAY_SECS / step) {
            let t = i * step;
            f.observe_time(t);
            let forecast = f.forecast(t, value_at(t));
            f.learn(t, value_at(t), forecast.as_ref());
        }
        // The switch to the high half of the day is forecast by the daily profile.
        let noon = 5 * DAY_SECS + DAY_SECS / 2;
        let forecast = f.forecast(noon, 100.0).unwrap();
        assert!(forecast.error < 10.0, "{forecast:?}");
        assert_eq!(forecast.unexplained, 0.0);
    }
}
