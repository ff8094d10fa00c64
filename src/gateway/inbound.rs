//! What a modem hands over, decoded and applied in the store.

use crate::modem::{Inbound, InboundKind};
use crate::pdu::deliver::Deliver;
use crate::pdu::{hex, parse_with_smsc, PduError, Tpdu};
use crate::router::ModemId;
use crate::store::{unix_now, IncomingReport, ReportOutcome, Store, StoreError};

/// What an inbound PDU turned out to be.
#[derive(Debug, Clone)]
pub enum InboundOutcome {
    /// A status report, stored and applied.
    Report(ReportOutcome),
    /// An SMS (not kept by the store yet: the caller decides whether to
    /// release it from the modem).
    Sms(Box<Deliver>),
}

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("undecodable PDU from {modem} ({hex}): {source}")]
    Decode {
        modem: String,
        hex: String,
        source: PduError,
    },
    #[error("{modem} announced a status report but sent an {found}")]
    WrongType { modem: String, found: &'static str },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What an inbound PDU decodes to, before anything is stored.
#[derive(Debug, Clone)]
pub enum Decoded {
    /// A status report, ready for [`Store::record_report`].
    Report(IncomingReport),
    /// An SMS.
    Sms(Box<Deliver>),
}

/// Decode `inbound` and, for a status report, store and apply it in one
/// transaction. Only after `Ok` may the modem drop its copy
/// ([`crate::modem::Modem::handed_on`]).
pub fn apply_inbound(
    store: &mut Store,
    modem: ModemId,
    inbound: &Inbound,
) -> Result<InboundOutcome, InboundError> {
    match decode_inbound(modem, inbound)? {
        Decoded::Report(report) => Ok(InboundOutcome::Report(store.record_report(&report)?)),
        Decoded::Sms(d) => Ok(InboundOutcome::Sms(d)),
    }
}

/// Decode `inbound` (from the modem with store id `modem`): a status report
/// or an SMS, or an error that says what it was instead.
pub fn decode_inbound(modem: ModemId, inbound: &Inbound) -> Result<Decoded, InboundError> {
    let pdu_hex = hex::encode(&inbound.pdu);
    let (_, tpdu) = parse_with_smsc(&inbound.pdu).map_err(|source| InboundError::Decode {
        modem: inbound.modem.clone(),
        hex: pdu_hex.clone(),
        source,
    })?;
    match (inbound.kind, tpdu) {
        (_, Tpdu::StatusReport(sr)) => {
            let report = IncomingReport {
                modem,
                recipient: sr.recipient.to_string(),
                mr: sr.mr,
                scts: sr.scts.unix_seconds(),
                discharge: Some(sr.discharge.unix_seconds()),
                status: sr.status.byte(),
                pdu_hex,
                received_at: unix_now(),
            };
            Ok(Decoded::Report(report))
        }
        (InboundKind::Deliver, Tpdu::Deliver(d)) => Ok(Decoded::Sms(Box::new(d))),
        (InboundKind::StatusReport, Tpdu::Deliver(_)) => Err(InboundError::WrongType {
            modem: inbound.modem.clone(),
            found: "SMS-DELIVER",
        }),
        (_, Tpdu::Submit(_)) => Err(InboundError::WrongType {
            modem: inbound.modem.clone(),
            found: "SMS-SUBMIT",
        }),
    }
}
