//! Writing what a modem writes (for the simulated modem): information
//! lines, final results, the prompt and URCs, in the verbose (V1) format of
//! V.250: `<CR><LF>text<CR><LF>`.

use super::result::FinalResult;
use super::urc::Urc;
use crate::pdu::hex;

/// Writes an information line: `\r\n<text>\r\n`.
pub fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes a final result: `\r\nOK\r\n`, `\r\n+CMS ERROR: 330\r\n`...
pub fn final_result(out: &mut Vec<u8>, result: &FinalResult) {
    line(out, &result.to_string());
}

/// Writes the AT+CMGS prompt: `\r\n> ` (no line end after it).
pub fn prompt(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n> ");
}

/// Writes a PDU line in upper-case hex followed by `\r\n`.
pub fn pdu_line(out: &mut Vec<u8>, pdu: &[u8]) {
    hex::encode_into(pdu, out);
    out.extend_from_slice(b"\r\n");
}

/// TPDU length of a PDU that starts with its SMSC address (the `<length>`
/// of +CMGS, +CDS, +CMT, +CMGR): total minus the SMSC part. `None` when the
/// SMSC length octet points past the end.
pub fn tpdu_len(pdu: &[u8]) -> Option<usize> {
    let smsc = usize::from(*pdu.first()?) + 1;
    pdu.len().checked_sub(smsc)
}

/// Writes a URC as a modem does; two-line URCs get their hex PDU line.
pub fn urc(out: &mut Vec<u8>, urc: &Urc) {
    match urc {
        Urc::StatusReport { len, pdu } => {
            line(out, &format!("+CDS: {len}"));
            pdu_line(out, pdu);
        }
        Urc::Deliver { alpha, len, pdu } => {
            let alpha = alpha.as_ref().map(|a| format!("\"{a}\""));
            line(out, &format!("+CMT: {},{len}", alpha.unwrap_or_default()));
            pdu_line(out, pdu);
        }
        Urc::CellBroadcast { len, pdu } => {
            line(out, &format!("+CBM: {len}"));
            pdu_line(out, pdu);
        }
        Urc::StatusReportStored { mem, index } => {
            line(out, &format!("+CDSI: \"{mem}\",{index}"));
        }
        Urc::MessageStored { mem, index } => line(out, &format!("+CMTI: \"{mem}\",{index}")),
        Urc::Registration(r) => {
            let mut text = format!("{}: {}", r.domain.name(), r.stat);
            if let (Some(area), Some(cell)) = (&r.area, &r.cell) {
                text.push_str(&format!(",\"{area}\",\"{cell}\""));
                if let Some(act) = r.act {
                    text.push_str(&format!(",{act}"));
                }
            }
            line(out, &text);
        }
        Urc::Signal { rssi } => line(out, &format!("^RSSI:{rssi}")),
        Urc::SimState(state) => line(out, &format!("+CPIN: {state}")),
        Urc::Ring => line(out, "RING"),
        Urc::Other(text) => line(out, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_report_as_a_modem_writes_it() {
        let pdu =
            hex::decode(b"079119890400202306400C91197909913764511090718384225110907183252200")
                .unwrap();
        let len = tpdu_len(&pdu).unwrap();
        assert_eq!(len, 25);
        let mut out = Vec::new();
        urc(&mut out, &Urc::StatusReport { len, pdu });
        assert_eq!(
            out,
            b"\r\n+CDS: 25\r\n079119890400202306400C91197909913764511090718384225110907183252200\r\n"
        );
    }

    #[test]
    fn tpdu_len_rejects_short_pdus() {
        assert_eq!(tpdu_len(&[]), None);
        assert_eq!(tpdu_len(&[7, 1]), None);
        assert_eq!(tpdu_len(&[0, 1, 2]), Some(2));
    }
}
