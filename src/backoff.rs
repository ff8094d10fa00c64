//! Exponential backoff: the one rule for "how long before trying again".
//!
//! The pause after `n` failures is `first * 2^n`, capped at `max`; it never
//! overflows, whatever `first` and `n` are. Callers that want jitter scale
//! the pause with [`Backoff::jittered`] (the random factor is theirs, so that
//! this stays pure and testable).

use std::time::Duration;

/// An exponential backoff: `first`, doubling, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// Pauses of `first`, `2 * first`, `4 * first`, ... never above `max`
    /// (and never above `max` even when `first` is).
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max }
    }

    /// The pause after `failures` failures (0: the first pause, `first`).
    pub fn delay(&self, failures: u32) -> Duration {
        // 2^31 times anything above a nanosecond already exceeds any cap a
        // caller could mean; the shift stays in range.
        let factor = 1_u32 << failures.min(31);
        self.first
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max)
    }

    /// [`Backoff::delay`] scaled by `factor` (for jitter, e.g. a random value
    /// in 0.8..1.2; clamped to 0..10), still at most `max` and at least 1 ms.
    pub fn jittered(&self, failures: u32, factor: f64) -> Duration {
        let factor = if factor.is_finite() {
            factor.clamp(0.0, 10.0)
        } else {
            1.0
        };
        self.delay(failures)
            .mul_f64(factor)
            .min(self.max)
            .max(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn doubles_from_the_first_pause_up_to_the_cap() {
        let b = Backoff::new(Duration::from_secs(30), DAY);
        assert_eq!(b.delay(0).as_secs(), 30);
        assert_eq!(b.delay(3).as_secs(), 240);
        assert_eq!(b.delay(50).as_secs(), 86_400);
        assert_eq!(b.delay(u32::MAX), DAY);
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        let secs: Vec<u64> = (0..10).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
    }

    #[test]
    fn never_overflows_and_never_exceeds_the_cap() {
        let b = Backoff::new(Duration::MAX, DAY);
        assert_eq!(b.delay(0), DAY);
        assert_eq!(b.delay(5), DAY);
        let b = Backoff::new(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(b.delay(40), Duration::MAX);
        let b = Backoff::new(Duration::ZERO, DAY);
        assert_eq!(b.delay(10), Duration::ZERO);
    }

    #[test]
    fn jitter_scales_within_bounds() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(b.jittered(0, 0.8), Duration::from_millis(800));
        assert_eq!(b.jittered(0, 1.2), Duration::from_millis(1200));
        assert_eq!(b.jittered(8, 1.2), Duration::from_secs(300));
        assert_eq!(b.jittered(0, 0.0), Duration::from_millis(1));
        assert_eq!(b.jittered(0, f64::NAN), Duration::from_secs(1));
        assert_eq!(b.jittered(0, 1e9), Duration::from_secs(10));
    }
}
