//! GCRA, the generic cell rate algorithm, as both limiters run it.
//!
//! A counter is one timestamp, the theoretical arrival time (TAT): when the client's budget would be
//! full again. Each allowed request pushes it forward by the emission interval `T = window / count`;
//! a request is refused when that would put the TAT more than `tau = T * count` (one window) ahead
//! of now. Hence exactly `count` requests pass in a burst, then one per `T`; the refused request
//! learns to the microsecond when the next one passes; and a counter whose TAT has passed is
//! equivalent to no counter, so it can be dropped (in memory) or expire (on Redis).
//!
//! Times are microseconds. `T` is rounded up, and `tau` derived from the rounded `T`, so a burst is
//! exactly `count` even when the window does not divide evenly. The Redis script
//! (`gcra.lua`) makes the same comparison with the `T` and `tau` computed here.

use super::{Decision, Limit};
use std::time::Duration;

/// Windows are capped to 2^52 µs (about 142 years) so every sum stays exact in a Lua double.
const MAX_WINDOW_US: u64 = 1 << 52;

/// A limit in GCRA terms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gcra {
    count: u32,
    /// The window in µs (capped).
    pub(crate) window: u64,
    /// Emission interval `T` in µs, at least 1.
    pub(crate) interval: u64,
    /// Burst tolerance `T * count` in µs.
    pub(crate) tau: u64,
}

impl Gcra {
    /// `None` for a zero count, which no request passes (see [`refuse_all`]).
    pub(crate) fn new(limit: Limit) -> Option<Gcra> {
        if limit.count == 0 {
            return None;
        }
        let window = u64::try_from(limit.window.as_micros()).unwrap_or(u64::MAX).min(MAX_WINDOW_US);
        let interval = window.div_ceil(u64::from(limit.count)).max(1);
        Some(Gcra { count: limit.count, window, interval, tau: interval * u64::from(limit.count) })
    }

    /// Decides a request at `now` on a counter at `tat` (`None`: no counter). Returns the decision
    /// and, when allowed, the counter's new TAT.
    pub(crate) fn check(&self, tat: Option<u64>, now: u64) -> (Decision, Option<u64>) {
        let tat = tat.unwrap_or(now).max(now);
        let new_tat = tat + self.interval;
        if new_tat.saturating_sub(self.tau) > now {
            (self.refused(tat, now), None)
        } else {
            (self.allowed(new_tat, now), Some(new_tat))
        }
    }

    /// The decision for an allowed request that moved the TAT to `new_tat`.
    pub(crate) fn allowed(&self, new_tat: u64, now: u64) -> Decision {
        let (remaining, reset) = self.budget(new_tat, now);
        Decision {
            allowed: true,
            limit: self.count,
            remaining,
            reset_after: Duration::from_micros(reset),
            retry_after: None,
        }
    }

    /// The decision for a refused request; `tat` is the unchanged TAT.
    pub(crate) fn refused(&self, tat: u64, now: u64) -> Decision {
        let tat = tat.max(now);
        let allow_at = (tat + self.interval).saturating_sub(self.tau);
        Decision {
            allowed: false,
            limit: self.count,
            remaining: 0,
            reset_after: Duration::from_micros(tat - now),
            retry_after: Some(Duration::from_micros(allow_at.saturating_sub(now))),
        }
    }

    /// Requests allowed at `now` on a counter at `tat`, and µs until the budget is full.
    pub(crate) fn budget(&self, tat: u64, now: u64) -> (u32, u64) {
        let reset = tat.saturating_sub(now);
        let remaining = self.tau.saturating_sub(reset) / self.interval;
        (u32::try_from(remaining).unwrap_or(u32::MAX), reset)
    }
}

/// The decision under a zero count: refused, and no wait helps.
pub(crate) fn refuse_all(limit: Limit) -> Decision {
    Decision { allowed: false, limit: 0, remaining: 0, reset_after: Duration::ZERO, retry_after: Some(limit.window) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    /// Runs requests at the given times (µs) and returns the decisions.
    fn run(limit: Limit, times: &[u64]) -> Vec<Decision> {
        let gcra = Gcra::new(limit).unwrap();
        let mut tat = None;
        times
            .iter()
            .map(|&now| {
                let (d, new_tat) = gcra.check(tat, now);
                tat = new_tat.or(tat);
                d
            })
            .collect()
    }

    #[test]
    fn exactly_count_pass_in_a_burst() {
        let d = run(Limit::per_minute(60), &[0; 61]);
        assert!(d[..60].iter().all(|d| d.allowed));
        assert!(!d[60].allowed);
        let remaining: Vec<u32> = d[..60].iter().map(|d| d.remaining).collect();
        assert_eq!(remaining, (0..60).rev().collect::<Vec<_>>());
        // One request per second (60/min) comes back: the refused one waits exactly 1 s.
        assert_eq!(d[60].retry_after, Some(Duration::from_secs(1)));
        assert_eq!(d[60].reset_after, Duration::from_secs(60));
        assert_eq!(d[59].reset_after, Duration::from_secs(60));
        assert_eq!(d[0].reset_after, Duration::from_secs(1));
    }

    #[test]
    fn uneven_windows_still_give_exact_bursts() {
        let d = run(Limit::new(3, Duration::from_secs(1)), &[0; 4]);
        assert_eq!(d.iter().filter(|d| d.allowed).count(), 3);
        assert_eq!(d[3].retry_after, Some(Duration::from_micros(333_334)));
    }

    #[test]
    fn budget_replenishes_one_interval_at_a_time() {
        let limit = Limit::new(2, Duration::from_secs(2));
        // Burst of 2, refused third; after 1 s (one interval) exactly one more passes.
        let d = run(limit, &[0, 0, 0, SEC - 1, SEC, SEC]);
        let allowed: Vec<bool> = d.iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, true, false, false, true, false]);
        assert_eq!(d[3].retry_after, Some(Duration::from_micros(1)));
        // After the full window, the full burst again.
        let d = run(limit, &[0, 0, 2 * SEC, 2 * SEC, 2 * SEC]);
        let allowed: Vec<bool> = d.iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, true, true, true, false]);
    }

    #[test]
    fn budget_of_an_idle_counter_is_full() {
        let gcra = Gcra::new(Limit::per_second(10)).unwrap();
        assert_eq!(gcra.budget(5 * SEC, 5 * SEC), (10, 0));
        assert_eq!(gcra.budget(5 * SEC, 9 * SEC), (10, 0));
        assert_eq!(gcra.budget(SEC, 0), (0, SEC));
        assert_eq!(gcra.budget(SEC / 2, 0), (5, SEC / 2));
    }

    #[test]
    fn degenerate_limits() {
        assert!(Gcra::new(Limit::per_minute(0)).is_none());
        let d = refuse_all(Limit::per_minute(0));
        assert!(!d.allowed && d.retry_after == Some(Duration::from_secs(60)));
        // A zero window stays well defined: `count` per microsecond.
        let d = run(Limit::new(5, Duration::ZERO), &(0..100).collect::<Vec<_>>());
        assert!(d.iter().all(|d| d.allowed));
        // A huge window is capped, without overflow.
        let d = run(Limit::new(1, Duration::MAX), &[0, MAX_WINDOW_US / 2]);
        assert_eq!((d[0].allowed, d[1].allowed), (true, false));
    }
}
