//! SMS-DELIVER (3GPP TS 23.040 §9.2.2.1): a message from the SC to the modem.
//!
//! First octet: MTI 00, TP-MMS (2), TP-LP (3), TP-SRI (5), TP-UDHI (6),
//! TP-RP (7). Then TP-OA, TP-PID, TP-DCS, TP-SCTS, TP-UDL and TP-UD.

use super::address::Address;
use super::dcs::Dcs;
use super::error::{need, PduError};
use super::timestamp::Timestamp;
use super::user_data::UserData;

/// An SMS-DELIVER TPDU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Deliver {
    /// TP-MMS as on the wire: true means no more messages are waiting in the SC.
    pub no_more_messages: bool,
    /// TP-LP: loop prevention.
    pub loop_prevention: bool,
    /// TP-SRI: the sender asked for a status report.
    pub status_report_indication: bool,
    /// TP-RP: reply path.
    pub reply_path: bool,
    /// TP-OA.
    pub sender: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: Dcs,
    /// TP-SCTS.
    pub scts: Timestamp,
    /// TP-UD.
    pub user_data: UserData,
}

/// Message type indicator of SMS-DELIVER.
pub const MTI: u8 = 0x00;

impl Deliver {
    /// A DELIVER with the usual flags (no more messages, nothing else).
    pub fn new(sender: Address, dcs: Dcs, scts: Timestamp, user_data: UserData) -> Deliver {
        Deliver {
            no_more_messages: true,
            loop_prevention: false,
            status_report_indication: false,
            reply_path: false,
            sender,
            pid: 0,
            dcs,
            scts,
            user_data,
        }
    }

    /// Parses a TPDU (no SMSC prefix).
    pub fn parse(buf: &[u8]) -> Result<Deliver, PduError> {
        Self::parse_at(buf, 0)
    }

    /// Parses the TPDU starting at `offset` of `buf`.
    pub fn parse_at(buf: &[u8], offset: usize) -> Result<Deliver, PduError> {
        need(buf, offset, 1, "first octet")?;
        let fo = buf[offset];
        if fo & 0x03 != MTI {
            return Err(PduError::Invalid {
                field: "TP-MTI",
                offset,
                value: fo,
                reason: "not an SMS-DELIVER",
            });
        }
        let (sender, i) = Address::parse_tp(buf, offset + 1, "TP-OA")?;
        need(buf, i, 2, "TP-PID/TP-DCS")?;
        let pid = buf[i];
        let dcs = Dcs(buf[i + 1]);
        let scts = Timestamp::parse(buf, i + 2, "TP-SCTS")?;
        let (user_data, _end) = UserData::parse(buf, i + 9, fo & 0x40 != 0, dcs)?;
        Ok(Deliver {
            no_more_messages: fo & 0x04 != 0,
            loop_prevention: fo & 0x08 != 0,
            status_report_indication: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            sender,
            pid,
            dcs,
            scts,
            user_data,
        })
    }

    /// The first octet this DELIVER is written with.
    pub fn first_octet(&self) -> u8 {
        MTI | u8::from(self.no_more_messages) << 2
            | u8::from(self.loop_prevention) << 3
            | u8::from(self.status_report_indication) << 5
            | u8::from(self.user_data.udh.is_some()) << 6
            | u8::from(self.reply_path) << 7
    }

    /// Appends the TPDU (no SMSC prefix).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.first_octet());
        self.sender.emit_tp(out);
        out.push(self.pid);
        out.push(self.dcs.0);
        self.scts.emit(out);
        self.user_data.emit(self.dcs, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::hex;

    #[test]
    fn real_deliver_from_a_modem() {
        // Gammu tests/at-sms/03 (real +CMGR): "Ok sir" from +919884280026, +05:30.
        let b = hex::decode("040C9119894882006200007050307040042206CF35689E9603").unwrap();
        let d = Deliver::parse(&b).unwrap();
        assert_eq!(d.sender.to_string(), "+919884280026");
        assert_eq!(d.scts.to_rfc3339(), "2007-05-03T07:04:40+05:30");
        assert_eq!(d.user_data.as_text(), Some("Ok sir"));
        assert!(d.no_more_messages);
        let mut out = Vec::new();
        d.emit(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn ucs2_emoji_part_with_16_bit_reference() {
        // Hand-built from 23.040: UDHI, DCS 08, UDH 06 | 08 04 1234 02 01, then
        // U+1F600 as the surrogate pair D83D DE00; SCTS 2026-11-22 10:15:30 +01:00.
        let b =
            hex::decode("440C919333133254760008621122015103400B06080412340201D83DDE00").unwrap();
        let d = Deliver::parse(&b).unwrap();
        assert_eq!(d.user_data.as_text(), Some("😀"));
        let c = d.user_data.concat().unwrap();
        assert_eq!((c.reference, c.total, c.seq, c.wide), (0x1234, 2, 1, true));
        assert_eq!(d.scts.to_rfc3339(), "2026-11-22T10:15:30+01:00");
        let mut out = Vec::new();
        d.emit(&mut out);
        assert_eq!(out, b);
    }
}
