//! The gateway: what joins a modem session to the store and the router.
//!
//! [`send`] sends one message on one modem and records every step;
//! [`inbound`] decodes what a modem hands over (status reports, SMS) and
//! applies it in the store before the modem is told it may forget it.

pub mod connect;
pub mod daemon;
pub mod inbound;
pub mod mr_plan;
pub mod send;
pub mod worker;

pub use connect::{connect, ConnectError, ConnectOptions};
pub use daemon::{Gateway, GatewaySettings, ModemStatus, SubmitError, SubmitRequest, Submitted};
pub use inbound::{apply_inbound, decode_inbound, Decoded, InboundError, InboundOutcome};
pub use send::{send_message, OutboundMessage, PartOutcome, SendError, SentMessage};

use crate::at::{FinalResult, RetryClass};

/// Code, name and retry class of a refusal at submit (+CMS ERROR, +CME
/// ERROR, or a plain final result).
pub(crate) fn refusal(result: &FinalResult) -> (Option<u16>, String, RetryClass) {
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
