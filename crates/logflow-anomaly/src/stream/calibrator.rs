//! Turning a raw, unitless surprise into a tail probability learned from its own history.
//!
//! Raw surprises are heavy tailed and often multi-modal (a server whose CPU spikes every night has
//! a cluster of large prediction errors that are perfectly normal). A Gaussian fit calls each of
//! those spikes a ten-sigma event; an empirical distribution does not. The history is a decaying
//! histogram over `ln(1 + raw)`, so an update and a look-up are O(bins) whatever the stream length,
//! and recent behaviour weighs more than old. Beyond the largest value seen the tail is
//! extrapolated exponentially, so a surprise twice as large as any before ranks above one that
//! merely equals the maximum.

/// Width of a histogram bin in `ln(1 + raw)` units.
const BIN_WIDTH: f64 = 0.05;
/// Number of bins: `ln(1 + raw)` up to 20, far beyond any realistic normalised error.
const BINS: usize = 400;
/// Scale of the exponential tail beyond the largest value seen, in `ln(1 + raw)` units.
const TAIL_SCALE: f64 = 0.3;

/// A decaying histogram of past raw surprises.
#[derive(Debug, Clone)]
pub(crate) struct Calibrator {
    weights: Vec<f64>,
    total: f64,
    decay: f64,
    /// Weight given to the next observation; grows instead of decaying every bin, and the whole
    /// histogram is rescaled when it gets large.
    increment: f64,
    /// The highest bin holding more than a hundredth of one fresh observation (0 if none), kept up
    /// to date by `observe` so `surprise` need not search for it: a bin above it only gets heavier
    /// by being observed, and the threshold only grows between rescales.
    top: usize,
    /// One past the highest bin ever observed: the bins from here on hold exactly zero.
    end: usize,
}

impl Calibrator {
    /// A calibrator whose history halves in weight every `half_life` observations.
    pub(crate) fn new(half_life: f64) -> Self {
        Calibrator {
            weights: vec![0.0; BINS],
            total: 0.0,
            decay: 0.5f64.powf(1.0 / half_life.max(1.0)),
            increment: 1.0,
            top: 0,
            end: 0,
        }
    }

    fn bin(raw: f64) -> (usize, f64) {
        let l = raw.max(0.0).ln_1p();
        (((l / BIN_WIDTH) as usize).min(BINS - 1), l)
    }

    /// `-log10` of the probability of a value at least as large as `raw` in the history (with one
    /// pseudo-observation at `raw`, so a never-seen value scores about `log10` of the history size),
    /// 0 while the history is empty.
    pub(crate) fn surprise(&self, raw: f64) -> f64 {
        if self.total <= 0.0 {
            return 0.0;
        }
        let (bin, l) = Self::bin(raw);
        let prior = self.increment;
        // Bins whose weight decayed below a hundredth of one fresh observation count as unseen.
        let top = self.top;
        let p = if bin <= top {
            // Adding the trailing exact zeros would not change the sum.
            let above: f64 = self.weights[bin + 1..self.end.max(bin + 1)].iter().sum();
            (above + 0.5 * self.weights[bin] + prior) / (self.total + prior)
        } else {
            let top_l = (top as f64 + 1.0) * BIN_WIDTH;
            prior / (self.total + prior) * (-(l - top_l).max(0.0) / TAIL_SCALE).exp()
        };
        -p.log10()
    }

    pub(crate) fn observe(&mut self, raw: f64) {
        let (bin, _) = Self::bin(raw);
        self.increment /= self.decay;
        self.weights[bin] += self.increment;
        self.total += self.increment;
        self.end = self.end.max(bin + 1);
        if self.increment > 1e100 {
            for w in &mut self.weights {
                *w /= self.increment;
            }
            self.total /= self.increment;
            self.increment = 1.0;
            self.top = self.weights.iter().rposition(|w| *w > 0.01 * self.increment).unwrap_or(0);
        } else if bin >= self.top {
            self.top = bin;
        } else {
            // The threshold grew: bins just below the old top may have faded under it (the
            // observed bin, below the old top, is above it, so the search stops there at the latest).
            let threshold = 0.01 * self.increment;
            while self.top > 0 && self.weights[self.top] <= threshold {
                self.top -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_values_are_unsurprising_and_new_extremes_are_surprising() {
        let mut c = Calibrator::new(1_000.0);
        assert_eq!(c.surprise(5.0), 0.0);
        for i in 0..1_000 {
            c.observe(f64::from(i % 10));
        }
        assert!(c.surprise(0.0) < 0.05);
        let at_max = c.surprise(9.0);
        assert!((0.9..1.5).contains(&at_max), "{at_max}");
        let beyond = c.surprise(20.0);
        assert!(beyond > 2.5, "{beyond}");
        assert!(c.surprise(200.0) > beyond + 2.0);
    }

    #[test]
    fn old_history_fades() {
        let mut c = Calibrator::new(50.0);
        for _ in 0..100 {
            c.observe(100.0);
        }
        let fresh = c.surprise(100.0);
        for _ in 0..2_000 {
            c.observe(1.0);
        }
        assert!(c.surprise(100.0) > fresh + 1.0);
    }
}
