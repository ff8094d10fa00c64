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

/// Decode `inbound` and, for a status report, store and apply it in one
/// transaction. Only after `Ok` may the modem drop its copy
/// ([`crate::modem::Modem::handed_on`]).
pub fn apply_inbound(
    store: &mut Store,
    modem: ModemId,
    inbound: &Inbound,
) -> Result<InboundOutcome, InboundError> {
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
            Ok(InboundOutcome::Report(store.record_report(&report)?))
        }
        (InboundKind::Deliver, Tpdu::Deliver(d)) => Ok(InboundOutcome::Sms(Box::new(d))),
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
