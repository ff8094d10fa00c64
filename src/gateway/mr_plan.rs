//! Avoiding TP-MR collisions that no time stamp could untangle.
//!
//! At full speed a modem hands out all 256 message references in well under
//! a second, so message j and message j+256 to one number can share a TP-MR
//! within one second of each other; the status reports' SCTS (one-second
//! resolution) then cannot tell whose report is whose. The worker prevents
//! that before it happens:
//!
//! - [`MrPredictor`] knows the TP-MR the modem will give the next part: the
//!   last `+CMGS` answer plus one, trusted only once two answers in a row
//!   counted that way, and checked against every answer (a modem restart,
//!   another sender on the SIM, or a modem that does not count up simply
//!   makes it stop predicting until it sees the pattern again).
//! - [`hold_until`] asks the router whether a part sent now under that
//!   reference to that number could be told apart from the parts still
//!   pending there ([`Router::reuse_wait`]); if not, the worker sends another
//!   waiting message first, or the part waits the few seconds it takes.
//!
//! Both are pure: no clock, no IO.

use crate::router::{ModemId, Router};

/// Predicts the next TP-MR of one modem from its `+CMGS` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MrPredictor {
    /// The last TP-MR the modem answered.
    last: Option<u8>,
    /// The last answer was the one before it plus one.
    counting: bool,
    /// Answers that were not the one predicted.
    misses: u64,
}

impl MrPredictor {
    pub fn new() -> MrPredictor {
        MrPredictor::default()
    }

    /// The TP-MR the next `+CMGS` should answer, when the modem has been
    /// seen counting up by one (None: no prediction, send as usual).
    pub fn next(&self) -> Option<u8> {
        self.last
            .filter(|_| self.counting)
            .map(|mr| mr.wrapping_add(1))
    }

    /// The modem answered `+CMGS: mr`. Returns whether that was the
    /// prediction (None when there was none).
    pub fn answered(&mut self, mr: u8) -> Option<bool> {
        let predicted = self.next();
        self.counting = self.last.is_some_and(|last| last.wrapping_add(1) == mr);
        self.last = Some(mr);
        let hit = predicted.map(|p| p == mr);
        if hit == Some(false) {
            self.misses += 1;
        }
        hit
    }

    /// An AT+CMGS got no TP-MR back (refused, timed out, port gone): the
    /// modem may or may not have used a reference, so nothing is predicted
    /// until the next answers show the count again.
    pub fn unsure(&mut self) {
        self.counting = false;
    }

    /// What an AT+CMGS returned: a TP-MR or an error.
    pub fn observe<E>(&mut self, result: &Result<u8, E>) -> Option<bool> {
        match result {
            Ok(mr) => self.answered(*mr),
            Err(_) => {
                self.unsure();
                None
            }
        }
    }

    /// The session started again (the modem may have restarted its count).
    pub fn forget(&mut self) {
        self.last = None;
        self.counting = false;
    }

    /// Answers that were not the predicted TP-MR, since the start.
    #[cfg(test)]
    pub fn misses(&self) -> u64 {
        self.misses
    }
}

/// Should a part to `to` wait before it goes on `modem` at `now` (unix
/// seconds), when the modem will give it TP-MR `next`? None: send it. Some(t):
/// a part sent now would share its key with a pending part sent too
/// recently to be told apart from it; from unix second `t` on it would not.
/// Without a prediction there is nothing to check.
pub fn hold_until(
    router: &Router,
    modem: ModemId,
    to: &str,
    next: Option<u8>,
    now: i64,
) -> Option<i64> {
    next.and_then(|mr| router.reuse_wait(modem, to, mr, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{PartId, RouterConfig};

    #[test]
    fn predicts_once_the_modem_is_seen_counting() {
        let mut p = MrPredictor::new();
        assert_eq!(p.next(), None);
        assert_eq!(p.answered(254), None);
        assert_eq!(p.next(), None, "one answer shows no pattern");
        assert_eq!(p.answered(255), None);
        assert_eq!(p.next(), Some(0), "wraps after 255");
        assert_eq!(p.answered(0), Some(true));
        assert_eq!(p.next(), Some(1));
        assert_eq!(p.misses(), 0);
    }

    #[test]
    fn a_wrong_prediction_is_relearned() {
        let mut p = MrPredictor::new();
        p.answered(10);
        p.answered(11);
        // The modem restarted (or another sender used 12..).
        assert_eq!(p.answered(0), Some(false));
        assert_eq!(p.misses(), 1);
        assert_eq!(p.next(), None);
        p.answered(1);
        assert_eq!(p.next(), Some(2));
        // A modem that does not count up never gets a prediction.
        let mut q = MrPredictor::new();
        for mr in [7, 3, 200, 9, 41] {
            q.answered(mr);
            assert_eq!(q.next(), None);
        }
    }

    #[test]
    fn an_error_or_a_new_session_stops_predicting() {
        let mut p = MrPredictor::new();
        p.answered(5);
        p.answered(6);
        assert_eq!(p.observe::<()>(&Err(())), None);
        assert_eq!(p.next(), None);
        // The refused submit used no reference: the next answer is 7 and the
        // count is seen again at once.
        assert_eq!(p.observe::<()>(&Ok(7)), None);
        assert_eq!(p.next(), Some(8));
        p.forget();
        assert_eq!(p.next(), None);
        p.answered(0);
        assert_eq!(p.next(), None);
    }

    #[test]
    fn holds_a_part_whose_reference_is_taken_too_recently() {
        const T0: i64 = 1_760_000_000;
        let m = ModemId(0);
        let mut r = Router::new(RouterConfig::default()).unwrap();
        r.register(m, "+393331234567", 0, PartId(1), T0, 86_400);
        // No prediction: nothing to check.
        assert_eq!(hold_until(&r, m, "+393331234567", None, T0), None);
        assert_eq!(
            hold_until(&r, m, "+393331234567", Some(0), T0 + 1),
            Some(T0 + 5)
        );
        // The same reference to another number, or another reference: go.
        assert_eq!(hold_until(&r, m, "+393331234999", Some(0), T0), None);
        assert_eq!(hold_until(&r, m, "+393331234567", Some(1), T0), None);
        assert_eq!(hold_until(&r, m, "+393331234567", Some(0), T0 + 5), None);
    }
}
