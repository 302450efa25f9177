//! Rate pacing, kept free of clocks so it can be unit-tested: callers pass the elapsed time.
//!
//! Pacing is cumulative ("how many logs should exist by now") rather than per-tick, so a slow
//! tick or a slow server is caught up on the next tick instead of silently lowering the rate.

use crate::Spike;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// When a spike is active, relative to the start of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SpikeSchedule {
    pub spike: Spike,
    pub start: Duration,
    pub duration: Duration,
}

impl SpikeSchedule {
    /// `after = None` starts the spike immediately (if there is one).
    pub fn new(spike: Spike, after: Option<Duration>, duration: Duration) -> Self {
        SpikeSchedule { spike, start: after.unwrap_or_default(), duration }
    }

    fn end(&self) -> Duration {
        self.start.saturating_add(self.duration)
    }

    pub fn active_at(&self, t: Duration) -> bool {
        self.spike != Spike::None && t >= self.start && t < self.end()
    }

    /// The spike the generator should apply at `t`.
    pub fn spike_at(&self, t: Duration) -> Spike {
        if self.active_at(t) {
            self.spike
        } else {
            Spike::None
        }
    }

    /// Logs that should have been produced by elapsed time `t`: the integral of the rate, with
    /// the rate multiplied by the factor while a Volume spike is active.
    pub fn logs_due(&self, rate: f64, t: Duration) -> f64 {
        let mut due = rate * t.as_secs_f64();
        if let Spike::Volume { factor } = self.spike {
            let overlap = t.min(self.end()).saturating_sub(self.start);
            due += rate * (factor.max(0.0) - 1.0) * overlap.as_secs_f64();
        }
        due.max(0.0)
    }
}

/// How often the pacer wakes: about one batch per tick at the base rate, but at least every
/// 500 ms (so low rates still look live) and at most every 10 ms (timer overhead).
pub(crate) fn tick_interval(rate: f64, batch: usize) -> Duration {
    let secs = (batch.max(1) as f64 / rate.max(1e-3)).clamp(0.010, 0.5);
    Duration::from_secs_f64(secs)
}

/// A slice of work: `n` logs with timestamps spread over `[start, start + span)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Chunk {
    pub n: usize,
    pub start: DateTime<Utc>,
    pub span: chrono::Duration,
}

/// Turns elapsed time into batch-sized chunks of due logs.
#[derive(Debug)]
pub(crate) struct Pacer {
    rate: f64,
    pub sched: SpikeSchedule,
    batch: usize,
    limit: Option<u64>,
    planned: u64,
    window_start: Duration,
    wall0: DateTime<Utc>,
}

impl Pacer {
    pub fn new(rate: f64, sched: SpikeSchedule, batch: usize, limit: Option<u64>, wall0: DateTime<Utc>) -> Self {
        Pacer { rate, sched, batch: batch.max(1), limit, planned: 0, window_start: Duration::ZERO, wall0 }
    }

    /// True once `limit` logs have been planned.
    pub fn exhausted(&self) -> bool {
        self.limit.is_some_and(|l| self.planned >= l)
    }

    /// Chunks due at elapsed time `at`. Timestamps cover the wall-clock window since the
    /// previous call, so generated logs carry (nearly) real times.
    pub fn plan(&mut self, at: Duration) -> Vec<Chunk> {
        let mut due = self.sched.logs_due(self.rate, at).floor() as u64;
        if let Some(l) = self.limit {
            due = due.min(l);
        }
        let mut chunks = Vec::new();
        let total = due.saturating_sub(self.planned);
        if total > 0 {
            let window = at.saturating_sub(self.window_start);
            let mut done = 0;
            while done < total {
                let n = (total - done).min(self.batch as u64);
                let off = window.mul_f64(done as f64 / total as f64);
                let span = window.mul_f64(n as f64 / total as f64);
                chunks.push(Chunk {
                    n: n as usize,
                    start: self.wall0 + to_chrono(self.window_start + off),
                    span: to_chrono(span),
                });
                done += n;
            }
            self.planned = due;
        }
        self.window_start = at;
        chunks
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn volume_spike_multiplies_the_rate_only_while_active() {
        let s = SpikeSchedule::new(Spike::Volume { factor: 5.0 }, Some(secs(10)), secs(10));
        assert_eq!(s.logs_due(100.0, secs(10)), 1000.0);
        assert_eq!(s.logs_due(100.0, secs(15)), 1000.0 + 2500.0);
        assert_eq!(s.logs_due(100.0, secs(20)), 1000.0 + 5000.0);
        assert_eq!(s.logs_due(100.0, secs(30)), 1000.0 + 5000.0 + 1000.0);
        assert!(!s.active_at(secs(9)) && s.active_at(secs(10)) && !s.active_at(secs(20)));
        assert_eq!(s.spike_at(secs(12)), Spike::Volume { factor: 5.0 });
        assert_eq!(s.spike_at(secs(25)), Spike::None);
    }

    #[test]
    fn immediate_spike_and_no_spike() {
        let s = SpikeSchedule::new(Spike::Volume { factor: 3.0 }, None, secs(30));
        assert_eq!(s.logs_due(10.0, secs(1)), 30.0);
        let none = SpikeSchedule::new(Spike::None, None, secs(30));
        assert_eq!(none.logs_due(10.0, secs(1)), 10.0);
        assert!(!none.active_at(secs(0)));
        // An error spike changes levels, not volume.
        let e = SpikeSchedule::new(Spike::Errors { error_rate: 0.5 }, None, secs(30));
        assert_eq!(e.logs_due(10.0, secs(2)), 20.0);
        assert_eq!(e.spike_at(secs(1)), Spike::Errors { error_rate: 0.5 });
    }

    #[test]
    fn pacer_splits_into_batches_and_respects_limit() {
        let wall0 = DateTime::<Utc>::from_timestamp(1_761_294_600, 0).unwrap();
        let sched = SpikeSchedule::new(Spike::Volume { factor: 4.0 }, Some(secs(1)), secs(1));
        let mut p = Pacer::new(1000.0, sched, 500, Some(5500), wall0);
        let c = p.plan(secs(1));
        assert_eq!(c.iter().map(|c| c.n).collect::<Vec<_>>(), vec![500, 500]);
        assert_eq!(c[0].start, wall0);
        assert_eq!(c[1].start, wall0 + chrono::Duration::milliseconds(500));
        // Second 2 is the spike: 4000 logs in 8 batches.
        let c = p.plan(secs(2));
        assert_eq!(c.iter().map(|c| c.n).sum::<usize>(), 4000);
        assert_eq!(c.len(), 8);
        // Limit caps the rest.
        let c = p.plan(secs(3));
        assert_eq!(c.iter().map(|c| c.n).sum::<usize>(), 500);
        assert!(p.exhausted());
        assert!(p.plan(secs(4)).is_empty());
    }

    #[test]
    fn tick_interval_is_bounded() {
        assert_eq!(tick_interval(100.0, 500), Duration::from_millis(500));
        assert_eq!(tick_interval(1e7, 500), Duration::from_millis(10));
        assert_eq!(tick_interval(10_000.0, 500), Duration::from_millis(50));
    }
}
