//! Seasonal profiles learned online: what each slot of a day (or a week) usually looks like.
//!
//! Each slot keeps an exponentially weighted mean (the expected value at that time of day), the
//! squared error of that mean (how trustworthy it is, per slot: a busy hour may be noisier than a
//! quiet one), and a slowly decaying envelope of the lowest and highest values seen there.
//!
//! The envelope is what keeps a nightly batch job from being an anomaly every night: its load spike
//! lands in the envelope of the slots around its usual time, even when it starts half an hour
//! earlier or later than the night before, which a per-slot mean cannot express.

/// One period (a day or a week) cut into equal slots.
#[derive(Debug, Clone)]
pub(crate) struct SeasonalProfile {
    period_secs: i64,
    slot_secs: i64,
    slots: Vec<Slot>,
    /// Squared error of all slots together, the prior for a slot that has few observations.
    global_sq_error: f64,
    /// Weight of a new observation in a slot's mean once the slot has a history.
    alpha: f64,
    /// Observations a slot needs before it predicts.
    min_count: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    mean: f64,
    sq_error: f64,
    low: f64,
    high: f64,
    count: u32,
}

/// Pseudo-observations of the profile-wide error mixed into a slot's own error estimate.
const PRIOR_WEIGHT: f64 = 2.0;
/// Per visit, the envelope shrinks towards the slot mean by this factor (a half-life of about a
/// month of visits), so a pattern that stopped recurring eventually becomes surprising again.
const ENVELOPE_DECAY: f64 = 0.98;
/// Learning rate of the profile-wide squared error.
const GLOBAL_ALPHA: f64 = 0.01;

impl SeasonalProfile {
    /// A profile over `period_secs` with slots of at least `slot_secs` and at most `max_slots`
    /// slots; each slot learns with weight `alpha` and predicts once seen `min_count` times.
    pub(crate) fn new(period_secs: i64, slot_secs: i64, max_slots: usize, alpha: f64, min_count: u32) -> Self {
        let max_slots = max_slots.max(1) as i64;
        let slot_secs = slot_secs.max((period_secs + max_slots - 1) / max_slots).max(1);
        let slots = ((period_secs + slot_secs - 1) / slot_secs) as usize;
        let empty = Slot { mean: 0.0, sq_error: 0.0, low: f64::INFINITY, high: f64::NEG_INFINITY, count: 0 };
        SeasonalProfile {
            period_secs,
            slot_secs,
            slots: vec![empty; slots],
            global_sq_error: 0.0,
            alpha,
            min_count: min_count.max(1),
        }
    }

    fn index(&self, epoch_secs: i64) -> usize {
        (epoch_secs.rem_euclid(self.period_secs) / self.slot_secs) as usize
    }

    /// Mature slots within `reach` slots either side of the one holding `epoch_secs`, in order from
    /// the earliest (wrapping around the period).
    fn around(&self, epoch_secs: i64, reach: usize) -> impl Iterator<Item = &Slot> {
        let n = self.slots.len();
        let centre = self.index(epoch_secs);
        let reach = reach.min((n - 1) / 2);
        // Two contiguous runs instead of a remainder per slot: `first..` up to the end, then from 0.
        let first = (centre + n - reach) % n;
        let len = 2 * reach + 1;
        let head = &self.slots[first..n.min(first + len)];
        let tail = &self.slots[..len - head.len()];
        head.iter().chain(tail).filter(|slot| slot.count >= self.min_count)
    }

    /// A forecast for `value` at `epoch_secs`: the mean of the mature slot, among the one holding
    /// the time and its two neighbours, closest to the value (timestamps jitter by a slot), with the
    /// variance of that slot's errors. `None` while none of them is mature.
    pub(crate) fn forecast(&self, epoch_secs: i64, value: f64) -> Option<(f64, f64)> {
        let slot =
            self.around(epoch_secs, 1).min_by(|a, b| (value - a.mean).abs().total_cmp(&(value - b.mean).abs()))?;
        let own = f64::from(slot.count - 1);
        let variance = (own * slot.sq_error + PRIOR_WEIGHT * self.global_sq_error) / (own + PRIOR_WEIGHT);
        Some((slot.mean, variance))
    }

    /// How far `value` lies outside the envelopes of the mature slots within `tolerance_secs` of
    /// `epoch_secs`: 0 when such a value was seen around this time before. `None` while no slot
    /// there is mature.
    pub(crate) fn envelope_distance(&self, epoch_secs: i64, value: f64, tolerance_secs: i64) -> Option<f64> {
        let reach = (tolerance_secs / self.slot_secs).max(1) as usize;
        let mut nearest: Option<f64> = None;
        for slot in self.around(epoch_secs, reach) {
            let distance = (value - slot.high).max(slot.low - value).max(0.0);
            if nearest.is_none_or(|n| distance < n) {
                nearest = Some(distance);
                // Nothing is nearer than inside an envelope (the sign of a zero does not matter to
                // the callers, which take it as "explained").
                if distance <= 0.0 {
                    break;
                }
            }
        }
        nearest
    }

    pub(crate) fn learn(&mut self, epoch_secs: i64, value: f64) {
        let index = self.index(epoch_secs);
        let slot = &mut self.slots[index];
        if slot.count > 0 {
            let sq = (value - slot.mean).powi(2);
            slot.sq_error += (1.0 / f64::from(slot.count)).max(self.alpha) * (sq - slot.sq_error);
            self.global_sq_error += GLOBAL_ALPHA * (sq - self.global_sq_error);
        }
        // The first visits average plainly, so an early outlier does not dominate for long.
        slot.mean += (1.0 / (f64::from(slot.count) + 1.0)).max(self.alpha) * (value - slot.mean);
        let mean = slot.mean;
        slot.high = if slot.count == 0 { value } else { value.max(mean + ENVELOPE_DECAY * (slot.high - mean)) };
        slot.low = if slot.count == 0 { value } else { value.min(mean + ENVELOPE_DECAY * (slot.low - mean)) };
        slot.count = slot.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600;
    const DAY: i64 = 86_400;

    #[test]
    fn forecasts_a_slot_once_it_was_seen_enough_times() {
        let mut p = SeasonalProfile::new(DAY, HOUR, 1_440, 0.2, 2);
        let two_am = 2 * HOUR + 60;
        p.learn(two_am, 100.0);
        assert_eq!(p.forecast(two_am + DAY, 100.0), None);
        p.learn(two_am + DAY, 100.0);
        let (mean, variance) = p.forecast(two_am + 2 * DAY, 90.0).unwrap();
        assert_eq!(mean, 100.0);
        assert_eq!(variance, 0.0);
        // A job starting one slot late is still forecast by the neighbouring slot.
        assert_eq!(p.forecast(two_am + 2 * DAY + HOUR, 100.0).map(|f| f.0), Some(100.0));
    }

    #[test]
    fn envelope_covers_values_seen_around_the_same_time_of_day() {
        let mut p = SeasonalProfile::new(DAY, 300, 1_440, 0.3, 2);
        for day in 0..3 {
            for minute in (0..24 * 60).step_by(5) {
                let t = day * DAY + minute * 60;
                // A job at 03:00 on day 0 and 1, at 03:30 on day 2.
                let job = if day < 2 { 180 } else { 210 };
                p.learn(t, if minute == job { 50.0 } else { 1.0 });
            }
        }
        assert_eq!(p.envelope_distance(3 * DAY + 3 * HOUR + 20 * 60, 50.0, HOUR), Some(0.0));
        assert!(p.envelope_distance(3 * DAY + 15 * HOUR, 50.0, HOUR).unwrap() > 40.0);
    }

    #[test]
    fn slot_count_is_bounded() {
        let p = SeasonalProfile::new(7 * DAY, 1, 2_016, 0.1, 1);
        assert_eq!(p.slots.len(), 2_016);
    }
}
