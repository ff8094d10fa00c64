//! The offset between a modem's SMSC clock and ours, learned from reports.
//!
//! The SMSC stamps each submit it accepts (TP-SCTS, one-second resolution);
//! we note when the modem answered `+CMGS`. The difference is roughly
//! constant per SMSC. The estimate is the median of the last few samples
//! taken from reports that matched without doubt, so one odd sample does not
//! move it and a clock step is followed after three samples.

/// How many recent samples the median is taken over.
const WINDOW: usize = 5;

/// Learned offset of one modem's SMSC clock (SCTS minus submit time).
#[derive(Debug, Clone, Default)]
pub struct ClockOffset {
    recent: [i64; WINDOW],
    /// Samples seen, saturating (only `min(count, WINDOW)` are in `recent`).
    count: u32,
}

impl ClockOffset {
    /// Add one sample (seconds).
    pub fn observe(&mut self, sample: i64) {
        let slot = self.count as usize % WINDOW;
        self.recent[slot] = sample;
        // Keep the slot position meaningful once saturated.
        self.count = if self.count == u32::MAX {
            WINDOW as u32
        } else {
            self.count + 1
        };
    }

    /// The current estimate in seconds, once at least one sample came.
    pub fn estimate(&self) -> Option<i64> {
        let n = (self.count as usize).min(WINDOW);
        if n == 0 {
            return None;
        }
        let mut v = self.recent;
        let v = &mut v[..n];
        v.sort_unstable();
        Some(v[(n - 1) / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_is_the_estimate() {
        let mut c = ClockOffset::default();
        assert_eq!(c.estimate(), None);
        c.observe(37);
        assert_eq!(c.estimate(), Some(37));
    }

    #[test]
    fn one_outlier_does_not_move_it_and_a_step_is_followed() {
        let mut c = ClockOffset::default();
        for s in [10, 11, 10, 10] {
            c.observe(s);
        }
        c.observe(400);
        assert_eq!(c.estimate(), Some(10));
        c.observe(70);
        c.observe(71);
        assert_eq!(c.estimate(), Some(70));
    }
}
