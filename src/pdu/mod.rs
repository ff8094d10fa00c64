//! 3GPP TS 23.040 / 23.038 wire formats: SMS-SUBMIT, SMS-DELIVER and
//! SMS-STATUS-REPORT with their addresses, time stamps, data coding, user data
//! headers and alphabets. Pure: no IO, no clock.
//!
//! Each TPDU type has a typed representation with `parse(&[u8])` and
//! `emit(&self, &mut Vec<u8>)`; [`parse_with_smsc`] and [`emit_with_smsc`]
//! handle the SMSC address modems put in front (`+CMGR`, `+CMT`, `+CDS`,
//! `AT+CMGS`). [`split::encode_submit`] turns a text into ready-to-send parts;
//! [`json::to_json`] renders a decoded PDU for the CLI.
//!
//! Octets after the end of the TPDU (as TP-UDL, or TP-ST and TP-PI for a
//! report, say) are ignored: real modems report them (SIM padding with FF,
//! or leftovers counted in the `+CMGR` length).

pub mod address;
pub mod dcs;
pub mod deliver;
pub(crate) mod error;
pub mod gsm7;
pub mod hex;
pub(crate) mod json;
pub mod septets;
pub mod split;
pub mod status;
pub mod status_report;
pub(crate) mod submit;
pub(crate) mod timestamp;
pub(crate) mod ucs2;
pub(crate) mod udh;
pub(crate) mod user_data;
pub mod validity;

pub use address::{Address, TypeOfNumber};
pub use dcs::{Dcs, Encoding};
pub use deliver::Deliver;
pub use error::PduError;
pub use split::{encode_submit, split, ConcatRef, EncodedPart, SubmitOptions};
pub use status::TpStatus;
pub use status_report::StatusReport;
pub use submit::Submit;
pub use timestamp::Timestamp;
pub use udh::{Concat, Udh};
pub use user_data::{Body, UserData};
pub use validity::Validity;

/// One of the three TPDUs a modem hands over or takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tpdu {
    /// MTI 00.
    Deliver(Deliver),
    /// MTI 01.
    Submit(Submit),
    /// MTI 10.
    StatusReport(StatusReport),
}

impl Tpdu {
    /// Parses a bare TPDU (no SMSC prefix), choosing the type by TP-MTI.
    pub fn parse(buf: &[u8]) -> Result<Tpdu, PduError> {
        Self::parse_at(buf, 0)
    }

    fn parse_at(buf: &[u8], offset: usize) -> Result<Tpdu, PduError> {
        error::need(buf, offset, 1, "first octet")?;
        let fo = buf[offset];
        Ok(match fo & 0x03 {
            deliver::MTI => Tpdu::Deliver(Deliver::parse_at(buf, offset)?),
            submit::MTI => Tpdu::Submit(Submit::parse_at(buf, offset)?),
            status_report::MTI => Tpdu::StatusReport(StatusReport::parse_at(buf, offset)?),
            _ => return Err(PduError::ReservedMti { offset, value: fo }),
        })
    }

    /// Appends the TPDU (no SMSC prefix).
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Tpdu::Deliver(d) => d.emit(out),
            Tpdu::Submit(s) => s.emit(out),
            Tpdu::StatusReport(r) => r.emit(out),
        }
    }

    /// The name used in JSON output: `"deliver"`, `"submit"`, `"status-report"`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Tpdu::Deliver(_) => "deliver",
            Tpdu::Submit(_) => "submit",
            Tpdu::StatusReport(_) => "status-report",
        }
    }
}

/// Parses a PDU as modems exchange it: SMSC address (`None` for `00`), then
/// the TPDU. Error offsets count from the first octet of `buf`.
pub fn parse_with_smsc(buf: &[u8]) -> Result<(Option<Address>, Tpdu), PduError> {
    let (smsc, at) = Address::parse_smsc(buf)?;
    Ok((smsc, Tpdu::parse_at(buf, at)?))
}

/// Appends the SMSC prefix (`00` for `None`) and the TPDU; returns the TPDU
/// length (the number `AT+CMGS=` takes).
pub fn emit_with_smsc(smsc: Option<&Address>, tpdu: &Tpdu, out: &mut Vec<u8>) -> usize {
    Address::emit_smsc(smsc, out);
    let start = out.len();
    tpdu.emit(out);
    out.len() - start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smsc_prefixed_status_report() {
        let b = hex::decode("079124603050020006E80C91666666666666909070618422809090706184628000")
            .unwrap();
        let (smsc, tpdu) = parse_with_smsc(&b).unwrap();
        assert_eq!(smsc.unwrap().to_string(), "+420603052000");
        let Tpdu::StatusReport(r) = &tpdu else {
            panic!("{tpdu:?}")
        };
        assert_eq!(r.mr, 0xE8);
        assert_eq!(r.recipient.to_string(), "+666666666666");
        let mut out = Vec::new();
        assert_eq!(emit_with_smsc(smsc.as_ref(), &tpdu, &mut out), b.len() - 8);
        assert_eq!(out, b);
    }

    #[test]
    fn reserved_mti_and_octets_past_the_user_data() {
        assert_eq!(
            parse_with_smsc(&[0x00, 0xFF, 0xFF]),
            Err(PduError::ReservedMti {
                offset: 1,
                value: 0xFF
            })
        );
        let mut b = hex::decode("0006400C91197909913764511090718384225110907183252200").unwrap();
        b.extend_from_slice(&[0x00, 0x12]);
        // TP-PI 00 then one octet past the end: ignored, as TP-UDL (or here
        // TP-PI) says where the TPDU ends.
        let (_, t) = parse_with_smsc(&b).unwrap();
        let Tpdu::StatusReport(r) = t else { panic!() };
        assert!(r.pi_present && r.user_data.is_none());
    }
}
