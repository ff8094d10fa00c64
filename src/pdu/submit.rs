//! SMS-SUBMIT (3GPP TS 23.040 §9.2.2.2): what the modem sends to the SC.
//!
//! First octet: MTI 01 (bits 1..0), TP-RD (2), TP-VPF (4..3), TP-SRR (5),
//! TP-UDHI (6), TP-RP (7). Then TP-MR, TP-DA, TP-PID, TP-DCS, TP-VP (0, 1 or
//! 7 octets), TP-UDL and TP-UD.

use super::address::Address;
use super::dcs::Dcs;
use super::error::{need, PduError};
use super::timestamp::Timestamp;
use super::user_data::UserData;
use super::validity::Validity;

/// An SMS-SUBMIT TPDU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Submit {
    /// TP-RD: ask the SC to reject a duplicate (same MR and DA).
    pub reject_duplicates: bool,
    /// TP-RP: reply path requested.
    pub reply_path: bool,
    /// TP-SRR: a status report is requested.
    pub status_report_request: bool,
    /// TP-MR (most modems replace it with their own counter).
    pub mr: u8,
    /// TP-DA.
    pub recipient: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: Dcs,
    /// TP-VP with its format.
    pub validity: Validity,
    /// TP-UD (TP-UDHI follows from the presence of a header).
    pub user_data: UserData,
}

/// Message type indicator of SMS-SUBMIT.
pub const MTI: u8 = 0x01;

impl Submit {
    /// A plain SUBMIT: MR 0, PID 0, no validity period, no report request.
    pub fn new(recipient: Address, dcs: Dcs, user_data: UserData) -> Submit {
        Submit {
            reject_duplicates: false,
            reply_path: false,
            status_report_request: false,
            mr: 0,
            recipient,
            pid: 0,
            dcs,
            validity: Validity::None,
            user_data,
        }
    }

    /// Parses a TPDU (no SMSC prefix).
    pub fn parse(buf: &[u8]) -> Result<Submit, PduError> {
        Self::parse_at(buf, 0)
    }

    /// Parses the TPDU starting at `offset` of `buf` (offsets in errors count from `buf[0]`).
    pub fn parse_at(buf: &[u8], offset: usize) -> Result<Submit, PduError> {
        need(buf, offset, 2, "TP-MR")?;
        let fo = buf[offset];
        if fo & 0x03 != MTI {
            return Err(PduError::Invalid {
                field: "TP-MTI",
                offset,
                value: fo,
                reason: "not an SMS-SUBMIT",
            });
        }
        let mr = buf[offset + 1];
        let (recipient, mut i) = Address::parse_tp(buf, offset + 2, "TP-DA")?;
        need(buf, i, 2, "TP-PID/TP-DCS")?;
        let pid = buf[i];
        let dcs = Dcs(buf[i + 1]);
        i += 2;
        let validity = match (fo >> 3) & 3 {
            0 => Validity::None,
            2 => {
                need(buf, i, 1, "TP-VP")?;
                i += 1;
                Validity::Relative(buf[i - 1])
            }
            1 => {
                need(buf, i, 7, "TP-VP")?;
                let mut e = [0u8; 7];
                e.copy_from_slice(&buf[i..i + 7]);
                i += 7;
                Validity::Enhanced(e)
            }
            _ => {
                let t = Timestamp::parse(buf, i, "TP-VP")?;
                i += 7;
                Validity::Absolute(t)
            }
        };
        let (user_data, _end) = UserData::parse(buf, i, fo & 0x40 != 0, dcs)?;
        Ok(Submit {
            reject_duplicates: fo & 0x04 != 0,
            reply_path: fo & 0x80 != 0,
            status_report_request: fo & 0x20 != 0,
            mr,
            recipient,
            pid,
            dcs,
            validity,
            user_data,
        })
    }

    /// The first octet this SUBMIT is written with.
    pub fn first_octet(&self) -> u8 {
        MTI | u8::from(self.reject_duplicates) << 2
            | self.validity.vpf_bits()
            | u8::from(self.status_report_request) << 5
            | u8::from(self.user_data.udh.is_some()) << 6
            | u8::from(self.reply_path) << 7
    }

    /// Appends the TPDU (no SMSC prefix).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.first_octet());
        out.push(self.mr);
        self.recipient.emit_tp(out);
        out.push(self.pid);
        out.push(self.dcs.0);
        match &self.validity {
            Validity::None => {}
            Validity::Relative(v) => out.push(*v),
            Validity::Enhanced(e) => out.extend_from_slice(e),
            Validity::Absolute(t) => t.emit(out),
        }
        self.user_data.emit(self.dcs, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::hex;

    #[test]
    fn real_submit_with_report_request_and_relative_validity() {
        // From a real +CMGR (Gammu tests/at-sms/02): SRR, VP relative 0xAD (4 days).
        let b = hex::decode("B17A0C913619397750320000AD11CD701E340FB3C3F23CC81D0689C3BF").unwrap();
        let s = Submit::parse(&b).unwrap();
        assert!(s.status_report_request);
        assert!(s.reply_path);
        assert_eq!(s.mr, 122);
        assert_eq!(s.recipient.to_string(), "+639193770523");
        assert_eq!(s.validity, Validity::Relative(0xAD));
        assert_eq!(s.user_data.as_text(), Some("May salary na ba?"));
        let mut out = Vec::new();
        s.emit(&mut out);
        // The capture has its one spare bit after the 17th septet set; we
        // write it as zero (23.038 leaves it unused): all else is identical.
        assert_eq!(out[..out.len() - 1], b[..b.len() - 1]);
        assert_eq!(out[out.len() - 1] | 0x80, b[b.len() - 1]);
        assert_eq!(Submit::parse(&out).unwrap(), s);
    }

    #[test]
    fn absolute_validity_round_trip() {
        let mut s = Submit::new(
            Address::parse_number("+393331234567").unwrap(),
            Dcs::GSM7,
            UserData::text("hello"),
        );
        s.validity = Validity::Absolute(Timestamp::from_unix(1_795_331_730, -20).unwrap());
        s.reject_duplicates = true;
        let mut out = Vec::new();
        s.emit(&mut out);
        assert_eq!(out[0], 0x1D);
        assert_eq!(Submit::parse(&out).unwrap(), s);
    }
}
