//! Message states (SMPP `message_state` names) and the one table that maps
//! every TP-ST byte to a state.
//!
//! ACCEPTED: queued or sent, no report yet. ENROUTE: a temporary report came
//! (the SC is still trying). The other states are final.

use std::fmt;
use std::str::FromStr;

use crate::pdu::status::{StatusGroup, TpStatus};

/// The state of a message or of one of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageState {
    Accepted,
    Enroute,
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Rejected,
    Unknown,
}

impl MessageState {
    pub const ALL: [MessageState; 8] = [
        MessageState::Accepted,
        MessageState::Enroute,
        MessageState::Delivered,
        MessageState::Expired,
        MessageState::Deleted,
        MessageState::Undeliverable,
        MessageState::Rejected,
        MessageState::Unknown,
    ];

    /// The SMPP short name, as used in receipts (`stat:DELIVRD`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageState::Accepted => "ACCEPTED",
            MessageState::Enroute => "ENROUTE",
            MessageState::Delivered => "DELIVRD",
            MessageState::Expired => "EXPIRED",
            MessageState::Deleted => "DELETED",
            MessageState::Undeliverable => "UNDELIV",
            MessageState::Rejected => "REJECTD",
            MessageState::Unknown => "UNKNOWN",
        }
    }

    /// The SMPP 3.4 `message_state` integer.
    pub const fn smpp_value(self) -> u8 {
        match self {
            MessageState::Enroute => 1,
            MessageState::Delivered => 2,
            MessageState::Expired => 3,
            MessageState::Deleted => 4,
            MessageState::Undeliverable => 5,
            MessageState::Accepted => 6,
            MessageState::Unknown => 7,
            MessageState::Rejected => 8,
        }
    }

    /// Final states never change again.
    pub const fn is_final(self) -> bool {
        !matches!(self, MessageState::Accepted | MessageState::Enroute)
    }

    /// Final and not delivered.
    pub const fn is_failure(self) -> bool {
        self.is_final() && !matches!(self, MessageState::Delivered)
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a state name that is not one of the eight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message state {0:?} (expected one of ACCEPTED, ENROUTE, DELIVRD, EXPIRED, DELETED, UNDELIV, REJECTD, UNKNOWN)")]
pub struct UnknownState(pub String);

impl FromStr for MessageState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        let st = match up.as_str() {
            "ACCEPTED" => MessageState::Accepted,
            "ENROUTE" => MessageState::Enroute,
            "DELIVRD" | "DELIVERED" => MessageState::Delivered,
            "EXPIRED" => MessageState::Expired,
            "DELETED" => MessageState::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => MessageState::Undeliverable,
            "REJECTD" | "REJECTED" => MessageState::Rejected,
            "UNKNOWN" => MessageState::Unknown,
            _ => return Err(UnknownState(s.to_string())),
        };
        Ok(st)
    }
}

/// What one TP-ST byte means for the part it reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusOutcome {
    /// The byte as received.
    pub status: TpStatus,
    pub state: MessageState,
    /// No further report will come.
    pub is_final: bool,
    /// A final failure that a resend will not cure (23.040 "permanent error").
    pub permanent: bool,
    pub description: &'static str,
}

/// The table: every TP-ST value 0x00..=0xFF to its outcome.
///
/// - 0x00..0x1F completed: DELIVRD, except 0x02 (replaced by the SC: the
///   original content was not delivered) which is DELETED.
/// - 0x20..0x3F temporary, SC still trying: ENROUTE, not final.
/// - 0x40..0x5F permanent: 0x46 EXPIRED, 0x47/0x48 DELETED, 0x49 (the SC no
///   longer knows the message) UNKNOWN, the rest UNDELIV.
/// - 0x60..0x7F temporary error but the SC stopped trying: UNDELIV, final,
///   not permanent (a later resend may succeed).
/// - reserved values are interpreted as 0x63 (see [`TpStatus::effective`]).
pub const fn outcome(status: TpStatus) -> StatusOutcome {
    let eff = status.effective();
    let group = status.group();
    let state = match group {
        StatusGroup::Completed => {
            if eff == 0x02 {
                MessageState::Deleted
            } else {
                MessageState::Delivered
            }
        }
        StatusGroup::TemporaryRetrying => MessageState::Enroute,
        StatusGroup::Permanent => match eff {
            0x46 => MessageState::Expired,
            0x47 | 0x48 => MessageState::Deleted,
            0x49 => MessageState::Unknown,
            _ => MessageState::Undeliverable,
        },
        StatusGroup::TemporaryStopped => MessageState::Undeliverable,
    };
    StatusOutcome {
        status,
        state,
        is_final: status.is_final(),
        permanent: matches!(group, StatusGroup::Permanent),
        description: status.description(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::status::StatusKind;

    #[test]
    fn examples_from_the_design() {
        assert_eq!(outcome(TpStatus(0x00)).state, MessageState::Delivered);
        assert_eq!(outcome(TpStatus(0x46)).state, MessageState::Expired);
        assert_eq!(outcome(TpStatus(0x47)).state, MessageState::Deleted);
        assert_eq!(outcome(TpStatus(0x48)).state, MessageState::Deleted);
        assert_eq!(outcome(TpStatus(0x41)).state, MessageState::Undeliverable);
        assert_eq!(outcome(TpStatus(0x43)).state, MessageState::Undeliverable);
        assert!(outcome(TpStatus(0x41)).permanent);
        for b in 0x20..=0x2Fu8 {
            let o = outcome(TpStatus(b));
            if TpStatus(b).kind() == StatusKind::Reserved {
                // 0x26..0x2F are reserved: read as 0x63, final.
                assert!(o.is_final, "{b:#04x}");
            } else {
                assert_eq!(o.state, MessageState::Enroute);
                assert!(!o.is_final);
            }
        }
        for b in 0x60..=0x6Fu8 {
            let o = outcome(TpStatus(b));
            assert!(o.is_final && !o.permanent && o.state == MessageState::Undeliverable);
        }
    }

    #[test]
    fn every_byte_has_a_consistent_answer() {
        for b in 0..=255u8 {
            let o = outcome(TpStatus(b));
            assert_eq!(o.status.byte(), b);
            assert_eq!(o.is_final, o.state.is_final(), "{b:#04x}");
            assert!(!o.description.is_empty());
            if o.permanent {
                assert!(o.state.is_failure());
            }
            assert_ne!(o.state, MessageState::Accepted);
            assert_ne!(o.state, MessageState::Rejected);
        }
    }

    proptest::proptest! {
        /// Every TP-ST byte has a defined answer that agrees with its group.
        #[test]
        fn any_byte_has_a_defined_answer(b in proptest::num::u8::ANY) {
            let st = TpStatus(b);
            let o = outcome(st);
            proptest::prop_assert!(MessageState::ALL.contains(&o.state));
            proptest::prop_assert_eq!(o.status.byte(), b);
            proptest::prop_assert_eq!(o.is_final, o.state.is_final());
            proptest::prop_assert!(!o.description.is_empty());
            match st.group() {
                StatusGroup::Completed => proptest::prop_assert!(matches!(
                    o.state,
                    MessageState::Delivered | MessageState::Deleted
                )),
                StatusGroup::TemporaryRetrying => {
                    proptest::prop_assert_eq!(o.state, MessageState::Enroute);
                    proptest::prop_assert!(!o.is_final);
                }
                StatusGroup::Permanent => {
                    proptest::prop_assert!(o.permanent && o.state.is_failure());
                }
                StatusGroup::TemporaryStopped => {
                    proptest::prop_assert_eq!(o.state, MessageState::Undeliverable);
                    proptest::prop_assert!(o.is_final && !o.permanent);
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in MessageState::ALL {
            assert_eq!(s.as_str().parse::<MessageState>().unwrap(), s);
        }
        assert!("DONE".parse::<MessageState>().is_err());
    }
}
