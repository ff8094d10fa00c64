//! The gateway: what joins a modem session to the store and the router.
//!
//! [`send`] sends one message on one modem and records every step;
//! [`inbound`] decodes what a modem hands over (status reports, SMS) and
//! applies it in the store before the modem is told it may forget it;
//! [`policy`] decides what a modem's answer to AT+CMGS means for a part,
//! for the daemon's workers and `smsgw send` alike; [`encode`] turns a
//! message's options into SMS-SUBMIT options, for both as well.

pub(crate) mod connect;
pub(crate) mod daemon;
pub(crate) mod encode;
pub(crate) mod inbound;
pub(crate) mod mr_plan;
pub(crate) mod policy;
pub mod quiet;
pub(crate) mod send;
pub mod worker;

pub(crate) use connect::{connect, ConnectError, ConnectOptions};
pub use daemon::{
    Gateway, GatewaySettings, ModemStatus, ResendUnknown, SubmitError, SubmitRequest, Submitted,
    UssdError,
};
pub use encode::encode_message;
pub(crate) use inbound::{apply_inbound, InboundOutcome};
pub(crate) use send::{send_message, OutboundMessage, PartOutcome, SendError, SentMessage};
