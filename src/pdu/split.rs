//! From a text to ready-to-send SMS-SUBMIT parts.
//!
//! GSM 7-bit when every character is in the default alphabet or its
//! extension table, UCS2 otherwise (or when forced). One part holds 160
//! septets / 70 UTF-16 units; parts of a concatenated message hold 153 / 67
//! (152 / 66 with a 16-bit reference). An escape sequence or a surrogate pair
//! is never cut across parts. At most 255 parts.

use super::address::Address;
use super::dcs::{Dcs, Encoding};
use super::error::PduError;
use super::gsm7;
use super::hex;
use super::udh::{Concat, Udh};
use super::user_data::emit_text;
use super::validity::Validity;

/// The concatenation reference written in every part's UDH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcatRef {
    /// IEI 0x00 (6-octet header).
    Eight(u8),
    /// IEI 0x08 (7-octet header).
    Sixteen(u16),
}

impl Default for ConcatRef {
    fn default() -> Self {
        ConcatRef::Eight(0)
    }
}

impl ConcatRef {
    /// 8-bit for values up to 255, 16-bit above.
    pub fn from_value(v: u16) -> ConcatRef {
        match u8::try_from(v) {
            Ok(b) => ConcatRef::Eight(b),
            Err(_) => ConcatRef::Sixteen(v),
        }
    }

    const fn is_wide(self) -> bool {
        matches!(self, ConcatRef::Sixteen(_))
    }

    const fn value(self) -> u16 {
        match self {
            ConcatRef::Eight(v) => v as u16,
            ConcatRef::Sixteen(v) => v,
        }
    }
}

/// Options of [`encode_submit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Set TP-SRR (ask for a status report).
    pub status_report: bool,
    /// TP-VP.
    pub validity: Validity,
    /// Use UCS2 even when GSM 7-bit would do.
    pub force_ucs2: bool,
    /// Class 0 (shown at once, not stored).
    pub flash: bool,
    /// SMSC address to put in front; `None` writes `00` (the modem's default).
    pub smsc: Option<Address>,
    /// Reference for concatenated messages.
    pub concat_ref: ConcatRef,
    /// TP-RD.
    pub reject_duplicates: bool,
    /// TP-PID.
    pub pid: u8,
}

/// A text cut into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    pub encoding: Encoding,
    /// Slices of the original text, one per part.
    pub parts: Vec<&'a str>,
}

/// Cuts `text` into parts (see the module documentation).
pub fn split(text: &str, force_ucs2: bool, concat_ref: ConcatRef) -> Result<Split<'_>, PduError> {
    if text.is_empty() {
        return Err(PduError::EmptyText);
    }
    let septets = if force_ucs2 {
        None
    } else {
        gsm7::septet_count(text).ok()
    };
    let gsm = septets.is_some();
    let (encoding, single, multi) = match (gsm, concat_ref.is_wide()) {
        (true, false) => (Encoding::Gsm7, 160, 153),
        (true, true) => (Encoding::Gsm7, 160, 152),
        (false, false) => (Encoding::Ucs2, 70, 67),
        (false, true) => (Encoding::Ucs2, 70, 66),
    };
    let width = |c: char| -> usize {
        if gsm {
            gsm7::encode_char(c).map_or(1, gsm7::Code::septets)
        } else {
            c.len_utf16()
        }
    };
    let total: usize = match septets {
        Some(n) => n,
        None => text.chars().map(char::len_utf16).sum(),
    };
    if total <= single {
        return Ok(Split {
            encoding,
            parts: vec![text],
        });
    }
    let mut parts = Vec::with_capacity(total.div_ceil(multi));
    let mut start = 0;
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let w = width(c);
        if used + w > multi {
            parts.push(&text[start..i]);
            start = i;
            used = 0;
        }
        used += w;
    }
    parts.push(&text[start..]);
    if parts.len() > 255 {
        return Err(PduError::TooManyParts { parts: parts.len() });
    }
    Ok(Split { encoding, parts })
}

/// One SMS-SUBMIT ready for the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPart {
    /// TPDU length in octets (SMSC prefix excluded): the `AT+CMGS=` argument.
    pub tpdu_len: usize,
    /// SMSC prefix and TPDU.
    pub bytes: Vec<u8>,
    /// 1-based part number.
    pub seq: u8,
    /// Number of parts.
    pub total: u8,
}

impl EncodedPart {
    /// The PDU as upper-case hex (what follows the `> ` prompt).
    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// The TPDU alone (without the SMSC prefix).
    pub fn tpdu(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - self.tpdu_len..]
    }
}

/// Encodes `text` for `recipient` as one or more SMS-SUBMIT PDUs (MR 0: the
/// modem assigns its own).
pub fn encode_submit(
    recipient: &Address,
    text: &str,
    opts: &SubmitOptions,
) -> Result<Vec<EncodedPart>, PduError> {
    let s = split(text, opts.force_ucs2, opts.concat_ref)?;
    let total = s.parts.len() as u8;
    let dcs = Dcs::new(s.encoding, opts.flash.then_some(0));
    let mut out = Vec::with_capacity(s.parts.len());
    for (i, part) in s.parts.iter().enumerate() {
        let udh = (total > 1).then(|| {
            Udh::concat(Concat {
                reference: opts.concat_ref.value(),
                total,
                seq: i as u8 + 1,
                wide: opts.concat_ref.is_wide(),
            })
        });
        let mut b = Vec::with_capacity(176);
        let start = emit_head(recipient, opts, udh.is_some(), dcs, &mut b);
        emit_text(s.encoding, udh.as_ref(), part, &mut b);
        out.push(EncodedPart {
            tpdu_len: b.len() - start,
            bytes: b,
            seq: i as u8 + 1,
            total,
        });
    }
    Ok(out)
}

/// Appends the SMSC prefix and the SMS-SUBMIT fields before TP-UDL;
/// returns where the TPDU starts.
fn emit_head(
    recipient: &Address,
    opts: &SubmitOptions,
    udhi: bool,
    dcs: Dcs,
    b: &mut Vec<u8>,
) -> usize {
    Address::emit_smsc(opts.smsc.as_ref(), b);
    let start = b.len();
    let fo = super::submit::MTI
        | u8::from(opts.reject_duplicates) << 2
        | opts.validity.vpf_bits()
        | u8::from(opts.status_report) << 5
        | u8::from(udhi) << 6;
    b.push(fo);
    b.push(0);
    recipient.emit_tp(b);
    b.push(opts.pid);
    b.push(dcs.0);
    match &opts.validity {
        Validity::None => {}
        Validity::Relative(v) => b.push(*v),
        Validity::Enhanced(e) => b.extend_from_slice(e),
        Validity::Absolute(t) => t.emit(b),
    }
    start
}

/// The body of a message sent as exactly one part (an SMPP client's own
/// concatenation or binary data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleBody<'a> {
    /// Text: GSM 7-bit when it fits the alphabet (and `force_ucs2` is off),
    /// else UCS2.
    Text(&'a str),
    /// 8-bit data, byte for byte.
    Binary(&'a [u8]),
}

/// Encodes one SMS-SUBMIT carrying `udh` (the header as the client gave it:
/// the UDHL octet, then the elements) unchanged, and `body`. Refused when
/// the header is malformed or the whole does not fit one TPDU (160 septets
/// / 140 octets); `opts.concat_ref` is not used.
pub fn encode_single(
    recipient: &Address,
    udh: Option<&[u8]>,
    body: SingleBody<'_>,
    opts: &SubmitOptions,
) -> Result<EncodedPart, PduError> {
    let udh = match udh {
        None => None,
        Some(raw) => {
            let Some((&udhl, elements)) = raw.split_first() else {
                return Err(PduError::Invalid {
                    field: "UDH",
                    offset: 0,
                    value: 0,
                    reason: "empty header (no UDHL octet)",
                });
            };
            if usize::from(udhl) != elements.len() {
                return Err(PduError::Invalid {
                    field: "UDHL",
                    offset: 0,
                    value: udhl,
                    reason: "does not match the header's length",
                });
            }
            Some(Udh::parse(elements, 1)?)
        }
    };
    let hl = udh.as_ref().map_or(0, Udh::wire_len);
    let (encoding, body) = match body {
        SingleBody::Binary(data) => {
            let octets = hl + data.len();
            if octets > 140 {
                return Err(PduError::UserDataTooLong { octets });
            }
            if data.is_empty() && udh.is_none() {
                return Err(PduError::EmptyText);
            }
            (
                Encoding::EightBit,
                super::user_data::Body::Binary(data.to_vec()),
            )
        }
        SingleBody::Text(text) => {
            if text.is_empty() && udh.is_none() {
                return Err(PduError::EmptyText);
            }
            let tables = super::user_data::tables_for(udh.as_ref());
            let septets = if opts.force_ucs2 {
                None
            } else {
                text.chars()
                    .map(|c| tables.encode_char(c).map(gsm7::Code::septets))
                    .sum::<Option<usize>>()
            };
            match septets {
                Some(n) => {
                    let head = if hl > 0 {
                        super::septets::header_septets(hl)
                    } else {
                        0
                    };
                    if head + n > 160 {
                        return Err(PduError::UserDataTooLong {
                            octets: (head + n) * 7 / 8,
                        });
                    }
                    (Encoding::Gsm7, super::user_data::Body::Text(text.into()))
                }
                None => {
                    let octets = hl + 2 * text.encode_utf16().count();
                    if octets > 140 {
                        return Err(PduError::UserDataTooLong { octets });
                    }
                    (Encoding::Ucs2, super::user_data::Body::Text(text.into()))
                }
            }
        }
    };
    let dcs = Dcs::new(encoding, opts.flash.then_some(0));
    let ud = super::user_data::UserData { udh, body };
    let mut b = Vec::with_capacity(176);
    let start = emit_head(recipient, opts, ud.udh.is_some(), dcs, &mut b);
    ud.emit(dcs, &mut b);
    Ok(EncodedPart {
        tpdu_len: b.len() - start,
        bytes: b,
        seq: 1,
        total: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::{parse_with_smsc, Tpdu};

    fn to(n: &str) -> Address {
        Address::parse_number(n).unwrap()
    }

    #[test]
    fn single_gsm7_part_matches_a_hand_encoded_pdu() {
        let opts = SubmitOptions {
            status_report: true,
            ..Default::default()
        };
        let p = encode_submit(&to("+393331234567"), "hellohello", &opts).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].hex(), "0021000C9193331332547600000AE8329BFD4697D9EC37");
        assert_eq!(p[0].tpdu_len, 22);
    }

    #[test]
    fn limits_160_153_70_67() {
        let a160 = "a".repeat(160);
        assert_eq!(
            split(&a160, false, ConcatRef::default())
                .unwrap()
                .parts
                .len(),
            1
        );
        let a161 = "a".repeat(161);
        let s = split(&a161, false, ConcatRef::default()).unwrap();
        assert_eq!(
            s.parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [153, 8]
        );
        let s = split(&a161, false, ConcatRef::Sixteen(300)).unwrap();
        assert_eq!(s.parts[0].len(), 152);
        let u70 = "ж".repeat(70);
        let s = split(&u70, false, ConcatRef::default()).unwrap();
        assert_eq!((s.encoding, s.parts.len()), (Encoding::Ucs2, 1));
        let u71 = "ж".repeat(71);
        let s = split(&u71, false, ConcatRef::default()).unwrap();
        assert_eq!(s.parts[0].chars().count(), 67);
    }

    #[test]
    fn escapes_and_surrogates_are_never_cut() {
        // 152 'a' then '€' (2 septets) would straddle 153.
        let t = "a".repeat(152) + "€" + &"b".repeat(10);
        let s = split(&t, false, ConcatRef::default()).unwrap();
        assert_eq!(s.parts[0], "a".repeat(152));
        assert!(s.parts[1].starts_with('€'));
        let t = "ж".repeat(66) + "😀" + &"ж".repeat(10);
        let s = split(&t, false, ConcatRef::default()).unwrap();
        assert_eq!(s.parts[0], "ж".repeat(66));
        assert!(s.parts[1].starts_with('😀'));
    }

    #[test]
    fn a_single_part_keeps_the_clients_header() {
        let udh = [0x05, 0x00, 0x03, 0x2A, 0x02, 0x01];
        let opts = SubmitOptions {
            status_report: true,
            ..Default::default()
        };
        let to = to("+393331234567");
        let check = |p: &EncodedPart, text: Option<&str>, data: Option<&[u8]>| {
            let (_, t) = parse_with_smsc(&p.bytes).unwrap();
            let Tpdu::Submit(s) = t else { panic!() };
            assert!(s.status_report_request);
            let c = s.user_data.concat().unwrap();
            assert_eq!((c.reference, c.total, c.seq), (0x2A, 2, 1));
            if let Some(text) = text {
                assert_eq!(s.user_data.as_text(), Some(text));
            }
            if let Some(data) = data {
                assert_eq!(s.dcs.encoding(), Encoding::EightBit);
                assert_eq!(
                    s.user_data.body,
                    crate::pdu::user_data::Body::Binary(data.to_vec())
                );
            }
        };
        let gsm = "a".repeat(153);
        let p = encode_single(&to, Some(&udh), SingleBody::Text(&gsm), &opts).unwrap();
        check(&p, Some(&gsm), None);
        let p = encode_single(
            &to,
            Some(&udh),
            SingleBody::Text("ж".repeat(67).as_str()),
            &opts,
        )
        .unwrap();
        check(&p, Some(&"ж".repeat(67)), None);
        let data = [0u8, 1, 2, 0xFF];
        let p = encode_single(&to, Some(&udh), SingleBody::Binary(&data), &opts).unwrap();
        check(&p, None, Some(&data));
        // Too long for one part with that header, or a header that lies.
        let long = "a".repeat(154);
        assert!(encode_single(&to, Some(&udh), SingleBody::Text(&long), &opts).is_err());
        assert!(encode_single(&to, Some(&[9, 0, 3]), SingleBody::Text("x"), &opts).is_err());
        assert!(encode_single(&to, None, SingleBody::Binary(&[0; 141]), &opts).is_err());
        assert!(encode_single(&to, None, SingleBody::Binary(&[0; 140]), &opts).is_ok());
    }

    #[test]
    fn errors() {
        assert_eq!(
            split("", false, ConcatRef::default()),
            Err(PduError::EmptyText)
        );
        let huge = "a".repeat(153 * 255 + 1);
        assert_eq!(
            split(&huge, false, ConcatRef::default()),
            Err(PduError::TooManyParts { parts: 256 })
        );
        assert_eq!(
            split(&"a".repeat(153 * 255), false, ConcatRef::default())
                .unwrap()
                .parts
                .len(),
            255
        );
    }

    #[test]
    fn concatenated_parts_decode_back() {
        let text = "Grüße aus Köln! ".repeat(20);
        let opts = SubmitOptions {
            concat_ref: ConcatRef::Eight(42),
            flash: true,
            validity: Validity::Relative(167),
            smsc: Some(to("+393359609600")),
            ..Default::default()
        };
        let parts = encode_submit(&to("3331234567"), &text, &opts).unwrap();
        assert_eq!(parts.len(), 3);
        let mut back = String::new();
        for (i, p) in parts.iter().enumerate() {
            let (smsc, t) = parse_with_smsc(&p.bytes).unwrap();
            assert_eq!(smsc.unwrap().to_string(), "+393359609600");
            let Tpdu::Submit(s) = t else { panic!() };
            assert_eq!(s.dcs.class(), Some(0));
            assert_eq!(s.validity, Validity::Relative(167));
            let c = s.user_data.concat().unwrap();
            assert_eq!((c.reference, c.total, c.seq), (42, 3, i as u8 + 1));
            back.push_str(s.user_data.as_text().unwrap());
            assert_eq!(p.tpdu().len(), p.tpdu_len);
        }
        assert_eq!(back, text);
    }
}
