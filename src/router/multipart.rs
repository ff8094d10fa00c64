//! The state of a concatenated message from the states of its parts.

use crate::state::MessageState;

/// The message state given its parts' states in part order.
///
/// - Failed as soon as one part failed finally: the first failed part's state
///   (REJECTD, EXPIRED, DELETED, UNDELIV or UNKNOWN).
/// - DELIVRD when every part is.
/// - ENROUTE while any part is ENROUTE or some but not all are delivered.
/// - ACCEPTED while no part has a report yet (and for a message with no parts).
pub fn message_state(parts: &[MessageState]) -> MessageState {
    if let Some(failed) = parts.iter().find(|s| s.is_failure()) {
        return *failed;
    }
    let delivered = parts
        .iter()
        .filter(|s| **s == MessageState::Delivered)
        .count();
    if !parts.is_empty() && delivered == parts.len() {
        MessageState::Delivered
    } else if delivered > 0 || parts.contains(&MessageState::Enroute) {
        MessageState::Enroute
    } else {
        MessageState::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageState::*;

    #[test]
    fn delivered_only_when_every_part_is() {
        assert_eq!(message_state(&[Delivered, Delivered, Delivered]), Delivered);
        assert_eq!(message_state(&[Delivered, Accepted, Delivered]), Enroute);
        assert_eq!(message_state(&[Accepted, Accepted]), Accepted);
        assert_eq!(message_state(&[]), Accepted);
    }

    #[test]
    fn enroute_while_any_part_is() {
        assert_eq!(message_state(&[Accepted, Enroute]), Enroute);
        assert_eq!(message_state(&[Delivered, Enroute]), Enroute);
    }

    #[test]
    fn one_final_failure_fails_the_message_with_that_reason() {
        assert_eq!(message_state(&[Delivered, Expired, Enroute]), Expired);
        assert_eq!(message_state(&[Accepted, Rejected]), Rejected);
        assert_eq!(
            message_state(&[Undeliverable, Deleted, Delivered]),
            Undeliverable
        );
        assert_eq!(message_state(&[Unknown, Delivered]), Unknown);
    }
}
