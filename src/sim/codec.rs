//! What the simulated modem needs from the PDU codec: read the SMS-SUBMIT
//! the host typed after the prompt, build the SMS-STATUS-REPORTs and
//! SMS-DELIVERs it sends back.

use crate::pdu::address::Address;
use crate::pdu::dcs::Dcs;
use crate::pdu::deliver::Deliver;
use crate::pdu::hex::{self, HexError};
use crate::pdu::split::{split, ConcatRef};
use crate::pdu::status::TpStatus;
use crate::pdu::status_report::StatusReport;
use crate::pdu::timestamp::Timestamp;
use crate::pdu::udh::{Concat, Udh};
use crate::pdu::user_data::{Body, UserData};
use crate::pdu::{emit_with_smsc, parse_with_smsc, PduError, Tpdu};

/// The fields of a submitted part the network acts on.
#[derive(Debug, Clone)]
pub struct SubmitInfo {
    /// As the host wrote it (`+39...` for international).
    pub recipient: String,
    pub recipient_raw: Address,
    pub srr: bool,
}

/// Why the modem refuses a PDU (answered with +CMS ERROR 304).
#[derive(Debug, thiserror::Error)]
pub enum SubmitRejected {
    #[error("bad hex: {0}")]
    Hex(HexError),
    #[error("length mismatch: AT+CMGS said {said} octets, the TPDU has {actual}")]
    Length { said: usize, actual: usize },
    #[error("not an SMS-SUBMIT: {0}")]
    NotSubmit(&'static str),
    #[error("malformed SMS-SUBMIT: {0}")]
    Malformed(PduError),
}

/// Parse the hex typed after `> ` (SMSC prefix included), checking the
/// TPDU length announced by AT+CMGS as real modems do.
pub fn parse_submit(text: &str, tpdu_len: usize) -> Result<SubmitInfo, SubmitRejected> {
    let bytes = hex::decode(text).map_err(SubmitRejected::Hex)?;
    let smsc_len = bytes.first().map(|&n| n as usize + 1).unwrap_or(0);
    let actual = bytes.len().saturating_sub(smsc_len);
    if actual != tpdu_len {
        return Err(SubmitRejected::Length {
            said: tpdu_len,
            actual,
        });
    }
    match parse_with_smsc(&bytes).map_err(SubmitRejected::Malformed)? {
        (_, Tpdu::Submit(s)) => Ok(SubmitInfo {
            recipient: s.recipient.to_string(),
            recipient_raw: s.recipient,
            srr: s.status_report_request,
        }),
        (_, Tpdu::Deliver(_)) => Err(SubmitRejected::NotSubmit("it is an SMS-DELIVER")),
        (_, Tpdu::StatusReport(_)) => Err(SubmitRejected::NotSubmit("it is an SMS-STATUS-REPORT")),
    }
}

/// An SMS-STATUS-REPORT with SMSC prefix, and its TPDU length.
pub fn status_report(
    smsc: &str,
    mr: u8,
    recipient: &Address,
    scts_unix: i64,
    discharge_unix: i64,
    tz_quarters: i8,
    status: u8,
) -> Result<(Vec<u8>, usize), PduError> {
    let smsc = Address::parse_number(smsc)?;
    let report = StatusReport::new(
        mr,
        *recipient,
        Timestamp::from_unix(scts_unix, tz_quarters)?,
        Timestamp::from_unix(discharge_unix, tz_quarters)?,
        TpStatus(status),
    );
    let mut out = Vec::with_capacity(40);
    let len = emit_with_smsc(Some(&smsc), &Tpdu::StatusReport(report), &mut out);
    Ok((out, len))
}

/// The SMS-DELIVER PDUs (SMSC prefix included, with TPDU lengths) of an
/// incoming text, concatenated with an 8-bit reference when it needs parts.
pub fn deliver_parts(
    smsc: &str,
    sender: &str,
    text: &str,
    scts_unix: i64,
    tz_quarters: i8,
    reference: u8,
) -> Result<Vec<(Vec<u8>, usize)>, PduError> {
    let smsc = Address::parse_number(smsc)?;
    let sender = match Address::parse_number(sender) {
        Ok(a) => a,
        Err(_) => Address::alphanumeric(sender)?,
    };
    let scts = Timestamp::from_unix(scts_unix, tz_quarters)?;
    let parts = split(text, false, ConcatRef::from_value(u16::from(reference)))?;
    let total = parts.parts.len() as u8;
    let dcs = Dcs::new(parts.encoding, None);
    let mut out = Vec::with_capacity(parts.parts.len());
    for (i, part) in parts.parts.iter().enumerate() {
        let udh = (total > 1).then(|| {
            Udh::concat(Concat {
                reference: u16::from(reference),
                total,
                seq: i as u8 + 1,
                wide: false,
            })
        });
        let ud = UserData {
            udh,
            body: Body::Text((*part).to_string()),
        };
        let d = Deliver::new(sender, dcs, scts, ud);
        let mut bytes = Vec::with_capacity(176);
        let len = emit_with_smsc(Some(&smsc), &Tpdu::Deliver(d), &mut bytes);
        out.push((bytes, len));
    }
    Ok(out)
}
