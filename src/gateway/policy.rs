//! The send policy: what the modem's answer to one AT+CMGS means for the
//! part, decided in one pure function for the daemon's workers and for
//! `smsgw send` alike. The callers only carry the decision out (record it
//! in the store; the worker requeues, the CLI waits and tries again).
//!
//! | modem outcome | decision |
//! | --- | --- |
//! | `+CMGS: <mr>` | [`Decision::Sent`] |
//! | PDU written, no answer (timeout after the PDU, port lost after it) | [`Decision::Unknown`]: may be on the network, never resent blindly |
//! | refused, class Temporary, Unknown or Device | [`Decision::Retry`] while attempts remain, else [`Decision::Reject`] |
//! | refused, class Permanent or Configuration | [`Decision::Reject`] |
//! | nothing reached the modem (no prompt, port gone before the PDU) | [`Decision::NotSent`]: back to the queue, the attempt not counted |
//!
//! A Device-class refusal (ME failure, SIM memory failure, storage full) is
//! a fault of the modem, not of the message: it is retried like a temporary
//! one, within the same bounded number of attempts. In the daemon the part
//! goes back to the shared queue, so another modem (or this one once it
//! recovers) takes it; `smsgw send` has only its one modem and tries it
//! again after the pause. (Before, the daemon retried these and the CLI
//! rejected the message at once.) A Configuration-class refusal (no SMSC
//! address, barred or unsubscribed SIM) is still rejected at once by both:
//! retrying on a modem that is set up wrong cannot help, and until a
//! supervisor takes such a modem out of service, requeuing would bring the
//! part straight back to it.

use std::time::Duration;

use crate::at::{FinalResult, RetryClass};
use crate::backoff::Backoff;
use crate::modem::ModemError;

/// How hard to try: attempts and the pauses between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts a refused part gets in all (the first included) before it
    /// is rejected.
    pub max_attempts: u32,
    /// Pause before the next attempt after a refusal.
    pub refused: Backoff,
    /// Pause before a part that never reached the modem is due again (a
    /// hung or vanished modem must not spin on it).
    pub not_sent: Backoff,
}

/// The longest pause before a retry.
const DAY: Duration = Duration::from_secs(86_400);

impl RetryPolicy {
    /// The daemon's: `max_attempts` attempts, `first_backoff` doubling (at
    /// most a day) after a refusal.
    pub fn daemon(max_attempts: u32, first_backoff: Duration) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            refused: Backoff::new(first_backoff, DAY),
            not_sent: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
        }
    }

    /// `smsgw send`'s: three attempts, 2 s then 4 s apart (someone waits
    /// at the terminal).
    pub fn interactive() -> RetryPolicy {
        RetryPolicy::daemon(3, Duration::from_secs(2))
    }
}

/// What to do with a part after one AT+CMGS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Accepted by the network with this TP-MR.
    Sent { mr: u8 },
    /// The PDU was written but no answer came: the network may have it.
    /// The part is UNKNOWN, never resent blindly.
    Unknown { reason: String },
    /// Refused for now: attempt number `retries` (counting from 1 for the
    /// first retry) is due after `after`.
    Retry {
        code: Option<u16>,
        reason: String,
        retries: u32,
        after: Duration,
    },
    /// Refused for good (or out of attempts): REJECTD.
    Reject { code: Option<u16>, reason: String },
    /// Nothing reached the modem: the part is due again after `after`, its
    /// retry count unchanged. `session_ended`: the session is gone and
    /// nothing more can be sent through it.
    NotSent {
        reason: String,
        after: Duration,
        session_ended: bool,
    },
}

/// Decide what `result` (the answer to AT+CMGS for a part already retried
/// `retries` times) means under `policy`. Pure: no IO, no clock.
pub fn decide(result: &Result<u8, ModemError>, retries: u32, policy: &RetryPolicy) -> Decision {
    let e = match result {
        Ok(mr) => return Decision::Sent { mr: *mr },
        Err(e) => e,
    };
    if e.maybe_sent() {
        return Decision::Unknown {
            reason: e.to_string(),
        };
    }
    match e {
        ModemError::Failed { result, .. } => {
            let (code, reason, class) = refusal(result);
            let retryable = matches!(
                class,
                RetryClass::Temporary | RetryClass::Unknown | RetryClass::Device
            );
            if retryable && retries.saturating_add(1) < policy.max_attempts {
                Decision::Retry {
                    code,
                    reason,
                    retries: retries + 1,
                    after: policy.refused.delay(retries),
                }
            } else {
                Decision::Reject { code, reason }
            }
        }
        other => Decision::NotSent {
            reason: other.to_string(),
            after: policy.not_sent.delay(retries),
            session_ended: matches!(other, ModemError::Closed),
        },
    }
}

/// The unix second a part is due again: `after` past `now` (whole seconds,
/// saturating).
pub fn due_at(now: i64, after: Duration) -> i64 {
    now.saturating_add(i64::try_from(after.as_secs()).unwrap_or(i64::MAX))
}

/// Code, name and retry class of a refusal at submit (+CMS ERROR, +CME
/// ERROR, or a plain final result).
fn refusal(result: &FinalResult) -> (Option<u16>, String, RetryClass) {
    match result {
        FinalResult::CmsError(e) => (e.code, e.name().to_string(), e.class()),
        FinalResult::CmeError(e) => (e.code, e.name().to_string(), e.class()),
        other => (
            None,
            other.to_string(),
            other.retry_class().unwrap_or(RetryClass::Unknown),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at::{CmeError, CmsError};

    fn policy() -> RetryPolicy {
        RetryPolicy::daemon(3, Duration::from_secs(30))
    }

    fn refused(result: FinalResult) -> Result<u8, ModemError> {
        Err(ModemError::Failed {
            command: "AT+CMGS=20".into(),
            result,
        })
    }

    fn cms(code: u16) -> Result<u8, ModemError> {
        refused(FinalResult::CmsError(CmsError::parse(&code.to_string())))
    }

    #[test]
    fn accepted_is_sent_with_its_reference() {
        assert_eq!(decide(&Ok(77), 2, &policy()), Decision::Sent { mr: 77 });
    }

    #[test]
    fn written_but_unanswered_is_unknown_never_retried() {
        let timeout = Err(ModemError::OutcomeUnknown {
            command: "AT+CMGS=20".into(),
            reason: "no +CMGS in 30 s".into(),
        });
        assert!(matches!(
            decide(&timeout, 0, &policy()),
            Decision::Unknown { .. }
        ));
        let lost_after = Err(ModemError::Disconnected {
            maybe_sent: true,
            reason: "EIO".into(),
        });
        assert!(matches!(
            decide(&lost_after, 0, &policy()),
            Decision::Unknown { .. }
        ));
    }

    #[test]
    fn temporary_refusal_is_retried_with_doubling_pauses_then_rejected() {
        // 42: congestion (temporary).
        let p = policy();
        assert_eq!(
            decide(&cms(42), 0, &p),
            Decision::Retry {
                code: Some(42),
                reason: "Congestion".into(),
                retries: 1,
                after: Duration::from_secs(30),
            }
        );
        assert!(matches!(
            decide(&cms(42), 1, &p),
            Decision::Retry { retries: 2, after, .. } if after == Duration::from_secs(60)
        ));
        // The third attempt was the last.
        assert_eq!(
            decide(&cms(42), 2, &p),
            Decision::Reject {
                code: Some(42),
                reason: "Congestion".into(),
            }
        );
    }

    #[test]
    fn unknown_class_and_plain_error_are_retried() {
        // 500: unknown error; a bare ERROR says nothing either.
        assert!(matches!(
            decide(&cms(500), 0, &policy()),
            Decision::Retry {
                code: Some(500),
                ..
            }
        ));
        assert!(matches!(
            decide(&refused(FinalResult::Error), 0, &policy()),
            Decision::Retry { code: None, .. }
        ));
    }

    #[test]
    fn device_refusal_is_retried_within_the_attempts() {
        // 0xD2 (210): error in MS, a device fault.
        assert_eq!(CmsError::parse("210").class(), RetryClass::Device);
        assert!(matches!(
            decide(&cms(0xD2), 0, &policy()),
            Decision::Retry { retries: 1, .. }
        ));
        assert!(matches!(
            decide(&cms(0xD2), 2, &policy()),
            Decision::Reject {
                code: Some(0xD2),
                ..
            }
        ));
        // The same for the interactive policy of `smsgw send`.
        assert!(matches!(
            decide(&cms(0xD2), 0, &RetryPolicy::interactive()),
            Decision::Retry { after, .. } if after == Duration::from_secs(2)
        ));
    }

    #[test]
    fn permanent_and_configuration_refusals_are_rejected_at_once() {
        // 1: unassigned number (permanent); 0xC1: no SC subscription
        // (configuration); +CME ERROR 10: SIM not inserted.
        assert_eq!(CmsError::parse("193").class(), RetryClass::Configuration);
        for r in [
            cms(1),
            cms(0xC1),
            refused(FinalResult::CmeError(CmeError::parse("10"))),
            refused(FinalResult::CommandNotSupported),
        ] {
            assert!(
                matches!(decide(&r, 0, &policy()), Decision::Reject { .. }),
                "{r:?}"
            );
        }
    }

    #[test]
    fn nothing_written_goes_back_to_the_queue_uncounted() {
        let no_prompt = Err(ModemError::Timeout {
            command: "AT+CMGS=20".into(),
            phase: "prompt",
        });
        assert_eq!(
            decide(&no_prompt, 3, &policy()),
            Decision::NotSent {
                reason: "AT+CMGS=20: no prompt in time".into(),
                after: Duration::from_secs(8),
                session_ended: false,
            }
        );
        let gone = Err(ModemError::Disconnected {
            maybe_sent: false,
            reason: "EIO".into(),
        });
        assert!(matches!(
            decide(&gone, 10, &policy()),
            Decision::NotSent { after, session_ended: false, .. } if after == Duration::from_secs(60)
        ));
        assert!(matches!(
            decide(&Err(ModemError::Closed), 0, &policy()),
            Decision::NotSent {
                session_ended: true,
                ..
            }
        ));
    }

    #[test]
    fn due_times_saturate() {
        assert_eq!(due_at(100, Duration::from_millis(2_900)), 102);
        assert_eq!(due_at(i64::MAX - 1, Duration::from_secs(5)), i64::MAX);
        assert_eq!(due_at(0, Duration::MAX), i64::MAX);
    }

    #[test]
    fn no_attempts_configured_rejects_the_first_refusal() {
        let p = RetryPolicy::daemon(0, Duration::from_secs(30));
        assert!(matches!(decide(&cms(42), 0, &p), Decision::Reject { .. }));
        assert!(matches!(
            decide(&cms(42), u32::MAX, &policy()),
            Decision::Reject { .. }
        ));
    }
}
