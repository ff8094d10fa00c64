//! TP-UDL and TP-UD (3GPP TS 23.040 §9.2.3.16, §9.2.3.24): the optional user
//! data header, then the text (GSM 7-bit or UCS2) or the raw octets.

use super::dcs::{Dcs, Encoding};
use super::error::{need, PduError};
use super::gsm7::{self, Code, Tables};
use super::septets::{self, Packer, Unpacker};
use super::ucs2;
use super::udh::{Concat, Udh};

/// The message body after the header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Body {
    /// GSM 7-bit or UCS2 text.
    Text(String),
    /// 8-bit data, or compressed / reserved codings kept as received.
    Binary(Vec<u8>),
}

/// User data: header and body. The DCS that goes with it lives in the TPDU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserData {
    pub udh: Option<Udh>,
    pub body: Body,
}

impl Default for UserData {
    fn default() -> Self {
        UserData {
            udh: None,
            body: Body::Text(String::new()),
        }
    }
}

/// The tables a header selects for GSM 7-bit text.
pub fn tables_for(udh: Option<&Udh>) -> Tables {
    match udh {
        Some(u) => Tables::national(u.national_locking_shift(), u.national_single_shift()),
        None => Tables::default(),
    }
}

impl UserData {
    /// Text user data without a header.
    pub fn text(text: impl Into<String>) -> UserData {
        UserData {
            udh: None,
            body: Body::Text(text.into()),
        }
    }

    /// The text, for GSM 7-bit and UCS2.
    pub fn as_text(&self) -> Option<&str> {
        match &self.body {
            Body::Text(t) => Some(t),
            Body::Binary(_) => None,
        }
    }

    /// The concatenation element of the header, if any.
    pub fn concat(&self) -> Option<Concat> {
        self.udh.as_ref().and_then(Udh::concat_info)
    }

    /// Parses TP-UDL at `offset` and the TP-UD after it. Returns the user data
    /// and the offset just past it.
    pub fn parse(
        buf: &[u8],
        offset: usize,
        udhi: bool,
        dcs: Dcs,
    ) -> Result<(UserData, usize), PduError> {
        need(buf, offset, 1, "TP-UDL")?;
        let udl = buf[offset] as usize;
        let enc = dcs.encoding();
        let (octets, unit) = if enc.counts_septets() {
            (septets::packed_len(udl, 0), "septets")
        } else {
            (udl, "octets")
        };
        let start = offset + 1;
        let remain = buf.len().saturating_sub(start);
        if remain < octets {
            return Err(PduError::TruncatedUserData {
                offset,
                length: udl,
                unit,
                remain,
            });
        }
        let ud = &buf[start..start + octets];
        // TP-UDHI with TP-UDL 0 occurs in real captures (a modem's empty
        // draft): there is no header to read, so there is none.
        let (udh, hl) = if let (true, Some(&udhl)) = (udhi, ud.first()) {
            let hl = 1 + udhl as usize;
            if hl > ud.len() {
                return Err(PduError::Invalid {
                    field: "TP-UDHL",
                    offset: start,
                    value: udhl,
                    reason: "header longer than the user data",
                });
            }
            (Some(Udh::parse(&ud[1..hl], start + 1)?), hl)
        } else {
            (None, 0)
        };
        let data = &ud[hl..];
        let body = match enc {
            Encoding::Gsm7 => {
                let hs = if hl > 0 {
                    septets::header_septets(hl)
                } else {
                    0
                };
                if udl < hs {
                    return Err(PduError::Invalid {
                        field: "TP-UDL",
                        offset,
                        value: buf[offset],
                        reason: "fewer septets than the header takes",
                    });
                }
                let mut s = String::with_capacity(udl - hs);
                let fill = if hl > 0 { septets::fill_bits(hl) } else { 0 };
                tables_for(udh.as_ref()).decode_into(Unpacker::new(data, fill, udl - hs), &mut s);
                Body::Text(s)
            }
            Encoding::Ucs2 => {
                if !data.len().is_multiple_of(2) {
                    return Err(PduError::Invalid {
                        field: "TP-UD",
                        offset: start + hl,
                        value: buf[offset],
                        reason: "odd number of UCS2 octets",
                    });
                }
                let mut s = String::new();
                ucs2::decode_into(data, &mut s);
                Body::Text(s)
            }
            Encoding::EightBit | Encoding::Compressed | Encoding::Reserved => {
                Body::Binary(data.to_vec())
            }
        };
        Ok((UserData { udh, body }, start + octets))
    }

    /// Appends TP-UDL and TP-UD written as `dcs` says. Text under an 8-bit
    /// DCS is written as UTF-8; characters GSM 7-bit cannot hold become `?`.
    /// Callers keep the result within 140 octets ([`super::split`] does).
    pub fn emit(&self, dcs: Dcs, out: &mut Vec<u8>) {
        match &self.body {
            Body::Text(t) => emit_text(dcs.encoding(), self.udh.as_ref(), t, out),
            Body::Binary(b) => emit_binary(dcs.encoding(), self.udh.as_ref(), b, out),
        }
    }

    /// The TP-UD octets after the header (for display as `data_hex`).
    pub fn payload(&self, dcs: Dcs) -> Vec<u8> {
        let mut out = Vec::with_capacity(141);
        self.emit(dcs, &mut out);
        let skip = 1 + self.udh.as_ref().map_or(0, Udh::wire_len);
        out.split_off(skip.min(out.len()))
    }
}

fn emit_header(udh: Option<&Udh>, out: &mut Vec<u8>) -> usize {
    match udh {
        Some(u) => {
            u.emit(out);
            u.wire_len()
        }
        None => 0,
    }
}

/// Appends TP-UDL and TP-UD for `text` in `encoding` (GSM 7-bit with the
/// tables `udh` names, UCS2, or UTF-8 octets for the other codings).
pub fn emit_text(encoding: Encoding, udh: Option<&Udh>, text: &str, out: &mut Vec<u8>) {
    let udl_at = out.len();
    out.push(0);
    let hl = emit_header(udh, out);
    let udl = match encoding {
        Encoding::Gsm7 | Encoding::Reserved => {
            let tables = tables_for(udh);
            let fill = if hl > 0 { septets::fill_bits(hl) } else { 0 };
            let mut n = if hl > 0 {
                septets::header_septets(hl)
            } else {
                0
            };
            if tables.is_default() {
                // One TPDU holds at most 160 septets: convert on the stack.
                let mut buf = [0u8; 256];
                if let Some(k) = gsm7::to_septets(text, &mut buf) {
                    septets::pack(&buf[..k], fill, out);
                    out[udl_at] = (n + k) as u8;
                    return;
                }
            }
            let mut p = Packer::new(out, fill);
            for c in text.chars() {
                match tables.encode_char(c).unwrap_or(Code::Single(0x3F)) {
                    Code::Single(s) => {
                        p.push(s);
                        n += 1;
                    }
                    Code::Escaped(s) => {
                        p.push(gsm7::ESC);
                        p.push(s);
                        n += 2;
                    }
                }
            }
            p.finish();
            n
        }
        Encoding::Ucs2 => hl + ucs2::encode_into(text, out),
        Encoding::EightBit | Encoding::Compressed => {
            out.extend_from_slice(text.as_bytes());
            hl + text.len()
        }
    };
    out[udl_at] = udl as u8;
}

fn emit_binary(encoding: Encoding, udh: Option<&Udh>, data: &[u8], out: &mut Vec<u8>) {
    let udl_at = out.len();
    out.push(0);
    let hl = emit_header(udh, out);
    let udl = match encoding {
        Encoding::Gsm7 => {
            let fill = if hl > 0 { septets::fill_bits(hl) } else { 0 };
            septets::pack(data, fill, out);
            data.len()
                + if hl > 0 {
                    septets::header_septets(hl)
                } else {
                    0
                }
        }
        Encoding::Reserved => {
            // TP-UDL counts septets here (see `Encoding::Reserved`): the
            // most whose packed length is these octets. 224 octets (TP-UDL
            // 255, above 23.040's 140 but accepted by `parse`) would give
            // 256: 255 packs to 224 octets too.
            out.extend_from_slice(data);
            ((hl + data.len()) * 8 / 7).min(255)
        }
        Encoding::EightBit | Encoding::Ucs2 | Encoding::Compressed => {
            out.extend_from_slice(data);
            hl + data.len()
        }
    };
    out[udl_at] = udl as u8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::hex;

    #[test]
    fn gsm7_after_concat_header_uses_one_fill_bit() {
        let ud = UserData {
            udh: Some(Udh::concat(Concat {
                reference: 7,
                total: 2,
                seq: 1,
                wide: false,
            })),
            body: Body::Text("Hi".into()),
        };
        let mut out = Vec::new();
        ud.emit(Dcs::GSM7, &mut out);
        // UDL = 7 header septets + 2; 'H' = 0x48 after one fill bit.
        assert_eq!(hex::encode(&out), "090500030702019069");
        let (back, end) = UserData::parse(&out, 0, true, Dcs::GSM7).unwrap();
        assert_eq!(end, out.len());
        assert_eq!(back, ud);
        assert_eq!(ud.payload(Dcs::GSM7), vec![0x90, 0x69]);
    }

    #[test]
    fn truncated_user_data_error() {
        // UDL 41 septets needs 36 octets; only 12 follow.
        let mut buf = vec![0u8; 23];
        buf.push(41);
        buf.extend_from_slice(&[0x41; 12]);
        assert_eq!(
            UserData::parse(&buf, 23, false, Dcs::GSM7)
                .unwrap_err()
                .to_string(),
            "truncated TP-UD at offset 23: header says 41 septets, 12 octets remain"
        );
    }

    #[test]
    fn ucs2_and_binary() {
        let ud = UserData::text("Привет 😀");
        let mut out = Vec::new();
        ud.emit(Dcs::UCS2, &mut out);
        assert_eq!(out[0] as usize, out.len() - 1);
        assert_eq!(UserData::parse(&out, 0, false, Dcs::UCS2).unwrap().0, ud);
        let bin = UserData {
            udh: None,
            body: Body::Binary(vec![0, 1, 0xFF]),
        };
        out.clear();
        bin.emit(Dcs::EIGHT_BIT, &mut out);
        assert_eq!(out, [3, 0, 1, 0xFF]);
        assert_eq!(
            UserData::parse(&out, 0, false, Dcs::EIGHT_BIT).unwrap().0,
            bin
        );
    }

    #[test]
    fn reserved_coding_with_the_longest_user_data_round_trips() {
        // Found by the pdu_with_smsc fuzz target: TP-UDL 255 under a
        // reserved coding reads 224 octets, which were written back with
        // TP-UDL 256 truncated to 0, losing the data.
        let mut buf = vec![0xFF];
        buf.extend((0..224).map(|i| i as u8));
        let dcs = Dcs(0x8C);
        let (ud, end) = UserData::parse(&buf, 0, false, dcs).unwrap();
        assert_eq!(end, buf.len());
        let mut out = Vec::new();
        ud.emit(dcs, &mut out);
        assert_eq!(out, buf);
        assert_eq!(UserData::parse(&out, 0, false, dcs).unwrap().0, ud);
    }

    #[test]
    fn header_longer_than_data_is_an_error() {
        let buf = [0x04, 0x09, 0x00, 0x03, 0x01];
        assert!(matches!(
            UserData::parse(&buf, 0, true, Dcs::EIGHT_BIT),
            Err(PduError::Invalid {
                field: "TP-UDHL",
                ..
            })
        ));
    }
}
