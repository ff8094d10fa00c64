//! SMS-STATUS-REPORT (3GPP TS 23.040 §9.2.2.3): the SC's word on a message
//! submitted with TP-SRR.
//!
//! First octet: MTI 10, TP-MMS (2), TP-LP (3), TP-SRQ (5), TP-UDHI (6). Then
//! TP-MR, TP-RA, TP-SCTS, TP-DT, TP-ST, and optionally TP-PI followed by the
//! TP-PID, TP-DCS and TP-UDL/TP-UD it announces.

use super::address::Address;
use super::dcs::Dcs;
use super::error::{need, PduError};
use super::status::TpStatus;
use super::timestamp::Timestamp;
use super::user_data::UserData;

/// An SMS-STATUS-REPORT TPDU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusReport {
    /// TP-MMS as on the wire: true means no more messages are waiting in the SC.
    pub no_more_messages: bool,
    /// TP-LP: loop prevention.
    pub loop_prevention: bool,
    /// TP-SRQ: true when this reports on an SMS-COMMAND, false for an SMS-SUBMIT.
    pub qualifier_command: bool,
    /// TP-MR of the message reported on (the value `+CMGS:` returned).
    pub mr: u8,
    /// TP-RA: the recipient of that message (may come back in national format).
    pub recipient: Address,
    /// TP-SCTS: when the SC received the message.
    pub scts: Timestamp,
    /// TP-DT: discharge time (delivery, or last attempt / failure).
    pub discharge: Timestamp,
    /// TP-ST as received.
    pub status: TpStatus,
    /// True when a TP-PI octet was present (even one announcing nothing).
    pub pi_present: bool,
    /// TP-PID, when announced by TP-PI.
    pub pid: Option<u8>,
    /// TP-DCS, when announced by TP-PI.
    pub dcs: Option<Dcs>,
    /// TP-UDL/TP-UD, when announced by TP-PI.
    pub user_data: Option<UserData>,
}

/// Message type indicator of SMS-STATUS-REPORT.
pub const MTI: u8 = 0x02;

impl StatusReport {
    /// A report with no optional parameters and the usual flags.
    pub fn new(
        mr: u8,
        recipient: Address,
        scts: Timestamp,
        discharge: Timestamp,
        status: TpStatus,
    ) -> StatusReport {
        StatusReport {
            no_more_messages: true,
            loop_prevention: false,
            qualifier_command: false,
            mr,
            recipient,
            scts,
            discharge,
            status,
            pi_present: false,
            pid: None,
            dcs: None,
            user_data: None,
        }
    }

    /// Parses a TPDU (no SMSC prefix).
    pub fn parse(buf: &[u8]) -> Result<StatusReport, PduError> {
        Self::parse_at(buf, 0)
    }

    /// Parses the TPDU starting at `offset` of `buf`.
    pub fn parse_at(buf: &[u8], offset: usize) -> Result<StatusReport, PduError> {
        need(buf, offset, 2, "TP-MR")?;
        let fo = buf[offset];
        if fo & 0x03 != MTI {
            return Err(PduError::Invalid {
                field: "TP-MTI",
                offset,
                value: fo,
                reason: "not an SMS-STATUS-REPORT",
            });
        }
        let mr = buf[offset + 1];
        let (recipient, i) = Address::parse_tp(buf, offset + 2, "TP-RA")?;
        let scts = Timestamp::parse(buf, i, "TP-SCTS")?;
        let discharge = Timestamp::parse(buf, i + 7, "TP-DT")?;
        need(buf, i + 14, 1, "TP-ST")?;
        let status = TpStatus(buf[i + 14]);
        let mut r = StatusReport {
            no_more_messages: fo & 0x04 != 0,
            loop_prevention: fo & 0x08 != 0,
            qualifier_command: fo & 0x20 != 0,
            mr,
            recipient,
            scts,
            discharge,
            status,
            pi_present: false,
            pid: None,
            dcs: None,
            user_data: None,
        };
        let mut i = i + 15;
        // Reports read from SIM storage come padded with FF to the record
        // size (e.g. +CMGR on the "SR" memory): that is not a TP-PI.
        if buf[i..].iter().all(|&b| b == 0xFF) {
            return Ok(r);
        }
        r.pi_present = true;
        let pi = buf[i];
        // Extension octets (bit 7) carry only reserved bits today: skip them.
        let mut ext = pi;
        while ext & 0x80 != 0 {
            i += 1;
            need(buf, i, 1, "TP-PI extension")?;
            ext = buf[i];
        }
        i += 1;
        if pi & 0x01 != 0 {
            need(buf, i, 1, "TP-PID")?;
            r.pid = Some(buf[i]);
            i += 1;
        }
        if pi & 0x02 != 0 {
            need(buf, i, 1, "TP-DCS")?;
            r.dcs = Some(Dcs(buf[i]));
            i += 1;
        }
        if pi & 0x04 != 0 {
            let dcs = r.dcs.unwrap_or_default();
            let (ud, _end) = UserData::parse(buf, i, fo & 0x40 != 0, dcs)?;
            r.user_data = Some(ud);
        }
        Ok(r)
    }

    /// The first octet this report is written with.
    pub fn first_octet(&self) -> u8 {
        let udhi = self.user_data.as_ref().is_some_and(|u| u.udh.is_some());
        MTI | u8::from(self.no_more_messages) << 2
            | u8::from(self.loop_prevention) << 3
            | u8::from(self.qualifier_command) << 5
            | u8::from(udhi) << 6
    }

    /// Appends the TPDU (no SMSC prefix).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.first_octet());
        out.push(self.mr);
        self.recipient.emit_tp(out);
        self.scts.emit(out);
        self.discharge.emit(out);
        out.push(self.status.byte());
        let pi = u8::from(self.pid.is_some())
            | u8::from(self.dcs.is_some()) << 1
            | u8::from(self.user_data.is_some()) << 2;
        if self.pi_present || pi != 0 {
            out.push(pi);
            if let Some(p) = self.pid {
                out.push(p);
            }
            if let Some(d) = self.dcs {
                out.push(d.0);
            }
            if let Some(ud) = &self.user_data {
                ud.emit(self.dcs.unwrap_or_default(), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::hex;

    #[test]
    fn report_without_optional_fields() {
        // Real +CDS (python-gsmmodem issue 44): MR 64, delivered, +05:30.
        let b = hex::decode("06400C91197909913764511090718384225110907183252200").unwrap();
        let r = StatusReport::parse(&b).unwrap();
        assert_eq!(r.mr, 64);
        assert_eq!(r.recipient.to_string(), "+919790197346");
        assert_eq!(r.scts.to_rfc3339(), "2015-01-09T17:38:48+05:30");
        assert_eq!(r.discharge.to_rfc3339(), "2015-01-09T17:38:52+05:30");
        assert_eq!(r.status, TpStatus(0));
        assert!(!r.pi_present);
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn report_with_pi_dcs_and_empty_ud() {
        // Gammu tests/at-sms (real): PI 06 = DCS and UDL present.
        let b = hex::decode("06060B911634092142F4019071011000040190710110450400060000").unwrap();
        let r = StatusReport::parse(&b).unwrap();
        assert_eq!(r.recipient.to_string(), "+61439012244");
        assert_eq!(r.scts.tz_minutes(), 600);
        assert_eq!(r.dcs, Some(Dcs(0)));
        assert_eq!(r.user_data, Some(UserData::text("")));
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn sim_padding_is_not_a_parameter_indicator() {
        let mut b = hex::decode("02AB098106845688F890708051737580907080518301800000").unwrap();
        b.truncate(b.len() - 1);
        b.extend_from_slice(&[0xFF; 20]);
        let r = StatusReport::parse(&b).unwrap();
        assert_eq!(r.recipient.to_string(), "604865888");
        assert_eq!(r.recipient.ton().as_str(), "unknown");
        assert!(!r.pi_present);
    }

    #[test]
    fn truncated_report_names_the_field() {
        let b = hex::decode("06400C911979099137645110907183842251109071832522").unwrap();
        assert_eq!(
            StatusReport::parse(&b).unwrap_err().to_string(),
            "truncated TP-ST at offset 24: needs 1 octets, 0 remain"
        );
    }
}
