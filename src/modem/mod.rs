//! Modem sessions (tokio): the transport to a modem, and the session that
//! drives it with AT commands (see [`session`]).

pub mod reassembly;
pub mod session;
pub mod session_core;
pub mod transport;
pub mod ussd;

pub use session::{Modem, SessionConfig, WeakModem};

use crate::at::{FinalResult, Urc};

/// What a modem said about itself at start-up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModemInfo {
    pub name: String,
    pub device: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub revision: Option<String>,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub operator: Option<String>,
    /// +CSQ rssi (0..31, 99 unknown).
    pub signal_rssi: Option<u8>,
    /// +CREG <stat> when start-up finished (1 home, 5 roaming).
    pub registration: Option<u8>,
    pub smsc: Option<String>,
}

/// Whether an inbound PDU is a status report or an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundKind {
    StatusReport,
    Deliver,
}

/// Where an inbound PDU came from, and so what "handed on" means for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Pushed (+CDS / +CMT); `needs_ack`: AT+CNMA must follow. `link`
    /// counts the session's connections to the port: an acknowledgement is
    /// positional (it applies to whatever push is pending), so one for a push
    /// of an earlier connection is dropped instead of acknowledging another.
    Direct { needs_ack: bool, link: u32 },
    /// Stored in the modem (+CDSI / +CMTI / found at start-up): AT+CMGD follows.
    /// `reading` names this reading of the slot (a serial of the session):
    /// once the slot is deleted the modem reuses the index for the next
    /// PDU, so a hand-on of an earlier reading deletes nothing.
    Stored {
        mem: String,
        index: u32,
        reading: u64,
    },
}

/// A status report or SMS from the modem, not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub modem: String,
    pub kind: InboundKind,
    /// SMSC prefix + TPDU, as the modem gave it.
    pub pdu: Vec<u8>,
    /// The TPDU length the modem announced.
    pub tpdu_len: usize,
    pub origin: Origin,
}

/// What a session tells its owner.
#[derive(Debug, Clone)]
pub enum ModemEvent {
    /// A status report or SMS. Call [`Modem::handed_on`] once it is stored.
    /// Delivery is at least once: a stored message whose deletion was cut
    /// short by a disconnect is listed again after the reconnect, so owners
    /// must accept the same PDU twice.
    Inbound(Inbound),
    /// The port vanished (unplug, USB reset). Jobs in flight failed.
    Disconnected { modem: String, reason: String },
    /// The modem is back and initialised again.
    Reconnected(ModemInfo),
    /// The SIM refused the PIN (or too few attempts are left) when the
    /// modem came back: the session has ended and must not be started
    /// again with the same PIN.
    SimLocked { modem: String, reason: String },
    /// Any other unsolicited code (signal, registration, ring...).
    Unsolicited { modem: String, urc: Urc },
}

/// Why a session operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModemError {
    #[error("cannot open {device}: {reason}")]
    Open { device: String, reason: String },
    #[error("no answer to AT from {device}: is this the modem's AT port?")]
    NotResponding { device: String },
    /// The port went away. `maybe_sent`: a PDU had been written, so the
    /// network may have it (the outcome is unknown).
    #[error("modem disconnected ({reason}){}", if *.maybe_sent { "; the part may have been sent" } else { "" })]
    Disconnected { maybe_sent: bool, reason: String },
    #[error("{command}: no {phase} in time")]
    Timeout {
        command: String,
        phase: &'static str,
    },
    /// The PDU was written but no answer came: it may or may not be sent.
    #[error("{command}: outcome unknown ({reason})")]
    OutcomeUnknown { command: String, reason: String },
    #[error("{command}: {result}")]
    Failed {
        command: String,
        result: FinalResult,
    },
    #[error("SIM: {0}")]
    Sim(String),
    #[error("not registered to a network (last +CREG stat {})", last_stat.map_or("none".to_string(), |s| s.to_string()))]
    NotRegistered { last_stat: Option<u8> },
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("the modem session has ended")]
    Closed,
    /// The configured PIN was refused, or too few attempts are left to
    /// risk it: never retried on its own (a SIM locks after 3 wrong PINs).
    #[error("SIM: {0}")]
    PinRefused(String),
}

impl ModemError {
    /// True when the part may have reached the network (do not resend blindly).
    pub fn maybe_sent(&self) -> bool {
        matches!(
            self,
            ModemError::OutcomeUnknown { .. }
                | ModemError::Disconnected {
                    maybe_sent: true,
                    ..
                }
        )
    }
}
