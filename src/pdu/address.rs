//! Addresses (3GPP TS 23.040 §9.1.2.5): TP-OA, TP-DA, TP-RA and the SMSC
//! address that modems put in front of a TPDU (24.011 RP address: its length
//! counts octets, not digits).
//!
//! An [`Address`] is stored inline (no allocation): the type-of-address octet
//! and the digits (`0-9 * # a b c`) or, for alphanumeric senders, the text.

use std::fmt;

use super::error::{need, PduError};
use super::gsm7::{self, Tables};
use super::septets::{Packer, Unpacker};

/// Most digits a TP address holds (10 octets).
pub const MAX_DIGITS: usize = 20;
/// Most octets of an SMSC address after its length octet (TOA + 10 octets).
pub const MAX_SMSC_OCTETS: usize = 11;
const CAP: usize = 40;

/// Type of number (bits 6..4 of the type-of-address octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeOfNumber {
    Unknown,
    International,
    National,
    NetworkSpecific,
    Subscriber,
    Alphanumeric,
    Abbreviated,
    Reserved,
}

impl TypeOfNumber {
    /// From the three TON bits.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 7 {
            0 => TypeOfNumber::Unknown,
            1 => TypeOfNumber::International,
            2 => TypeOfNumber::National,
            3 => TypeOfNumber::NetworkSpecific,
            4 => TypeOfNumber::Subscriber,
            5 => TypeOfNumber::Alphanumeric,
            6 => TypeOfNumber::Abbreviated,
            _ => TypeOfNumber::Reserved,
        }
    }

    /// The name used in JSON output (`"international"`, `"alphanumeric"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            TypeOfNumber::Unknown => "unknown",
            TypeOfNumber::International => "international",
            TypeOfNumber::National => "national",
            TypeOfNumber::NetworkSpecific => "network-specific",
            TypeOfNumber::Subscriber => "subscriber",
            TypeOfNumber::Alphanumeric => "alphanumeric",
            TypeOfNumber::Abbreviated => "abbreviated",
            TypeOfNumber::Reserved => "reserved",
        }
    }
}

/// Type of address octet for an international ISDN/telephone number.
pub const TOA_INTERNATIONAL: u8 = 0x91;
/// Type of address octet for an unknown-type ISDN/telephone number.
pub const TOA_UNKNOWN: u8 = 0x81;
/// Type of address octet for an alphanumeric address.
pub const TOA_ALPHANUMERIC: u8 = 0xD0;

/// A phone number or alphanumeric name with its type of address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    toa: u8,
    len: u8,
    buf: [u8; CAP],
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address(0x{:02X}, {:?})", self.toa, self.value())
    }
}

impl fmt::Display for Address {
    /// `+digits` for international numbers, the digits otherwise, the text for alphanumeric.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ton() == TypeOfNumber::International {
            f.write_str("+")?;
        }
        f.write_str(self.value())
    }
}

fn bcd_digit(n: u8) -> Option<u8> {
    Some(match n {
        0..=9 => b'0' + n,
        0xA => b'*',
        0xB => b'#',
        0xC => b'a',
        0xD => b'b',
        0xE => b'c',
        _ => return None,
    })
}

fn digit_bcd(c: u8) -> Option<u8> {
    Some(match c {
        b'0'..=b'9' => c - b'0',
        b'*' => 0xA,
        b'#' => 0xB,
        b'a' | b'A' => 0xC,
        b'b' | b'B' => 0xD,
        b'c' | b'C' => 0xE,
        _ => return None,
    })
}

impl Address {
    fn from_value(toa: u8, value: &str) -> Option<Address> {
        if value.len() > CAP {
            return None;
        }
        let mut buf = [0u8; CAP];
        buf[..value.len()].copy_from_slice(value.as_bytes());
        Some(Address {
            toa,
            len: value.len() as u8,
            buf,
        })
    }

    /// A number as a user types it: `+393331234567` (international) or
    /// `3331234567` (unknown type, as most phones send national numbers).
    /// Spaces, dots, dashes and parentheses are ignored; 1..=20 digits.
    pub fn parse_number(input: &str) -> Result<Address, PduError> {
        let bad = |reason| PduError::BadNumber {
            input: input.to_string(),
            reason,
        };
        let t = input.trim();
        let (toa, rest) = match t.strip_prefix('+') {
            Some(r) => (TOA_INTERNATIONAL, r),
            None => (TOA_UNKNOWN, t),
        };
        let mut buf = [0u8; CAP];
        let mut n = 0;
        for c in rest.bytes() {
            match c {
                b'0'..=b'9' => {
                    if n == MAX_DIGITS {
                        return Err(bad("more than 20 digits"));
                    }
                    buf[n] = c;
                    n += 1;
                }
                b' ' | b'-' | b'.' | b'(' | b')' => {}
                _ => return Err(bad("only digits and a leading + are allowed")),
            }
        }
        if n == 0 {
            return Err(bad("no digits"));
        }
        Ok(Address {
            toa,
            len: n as u8,
            buf,
        })
    }

    /// A number with an explicit type-of-address octet; `digits` may hold
    /// `0-9 * # a b c` (no `+`). Not for alphanumeric addresses.
    pub fn with_toa(toa: u8, digits: &str) -> Result<Address, PduError> {
        let bad = |reason| PduError::BadNumber {
            input: digits.to_string(),
            reason,
        };
        if TypeOfNumber::from_bits(toa >> 4) == TypeOfNumber::Alphanumeric {
            return Err(bad("use Address::alphanumeric for alphanumeric addresses"));
        }
        if digits.len() > MAX_DIGITS {
            return Err(bad("more than 20 digits"));
        }
        if digits.bytes().any(|c| digit_bcd(c).is_none()) {
            return Err(bad("only 0-9 * # a b c are allowed"));
        }
        Address::from_value(toa, &digits.to_ascii_lowercase()).ok_or(bad("too long"))
    }

    /// An alphanumeric address (a sender name such as `MyBank`): GSM 7-bit
    /// default alphabet, at most 11 septets.
    pub fn alphanumeric(text: &str) -> Result<Address, PduError> {
        let bad = |reason| PduError::BadNumber {
            input: text.to_string(),
            reason,
        };
        let n = gsm7::septet_count(text).map_err(|_| bad("not in the GSM 7-bit alphabet"))?;
        if n > 11 {
            return Err(bad("more than 11 septets"));
        }
        Address::from_value(TOA_ALPHANUMERIC, text).ok_or(bad("too long"))
    }

    /// The type-of-address octet.
    pub const fn toa(&self) -> u8 {
        self.toa
    }

    /// The type of number.
    pub const fn ton(&self) -> TypeOfNumber {
        TypeOfNumber::from_bits(self.toa >> 4)
    }

    /// The numbering plan identification (low four bits of the TOA).
    pub const fn npi(&self) -> u8 {
        self.toa & 0x0F
    }

    /// The digits (without `+`), or the text of an alphanumeric address.
    pub fn value(&self) -> &str {
        // Only ever filled from &str values or ASCII digits.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }

    /// Parses a TP address (`field` names it in errors) at `offset`; returns it
    /// and the offset after it.
    pub fn parse_tp(
        buf: &[u8],
        offset: usize,
        field: &'static str,
    ) -> Result<(Address, usize), PduError> {
        need(buf, offset, 2, field)?;
        let digits = buf[offset] as usize;
        let toa = buf[offset + 1];
        if digits > MAX_DIGITS {
            return Err(PduError::Invalid {
                field,
                offset,
                value: buf[offset],
                reason: "address length above 20 digits",
            });
        }
        let octets = digits.div_ceil(2);
        let start = offset + 2;
        need(buf, start, octets, field)?;
        let body = &buf[start..start + octets];
        let addr = if TypeOfNumber::from_bits(toa >> 4) == TypeOfNumber::Alphanumeric {
            let septets = digits * 4 / 7;
            let mut s = String::new();
            Tables::default().decode_into(Unpacker::new(body, 0, septets), &mut s);
            Address::from_value(toa, &s)
        } else {
            Self::from_bcd(toa, body, digits, start, field)?
        };
        let addr = addr.ok_or(PduError::Invalid {
            field,
            offset,
            value: buf[offset],
            reason: "address does not fit",
        })?;
        Ok((addr, start + octets))
    }

    fn from_bcd(
        toa: u8,
        body: &[u8],
        digits: usize,
        start: usize,
        field: &'static str,
    ) -> Result<Option<Address>, PduError> {
        let mut buf = [0u8; CAP];
        for i in 0..digits {
            let octet = body[i / 2];
            let nib = if i % 2 == 0 { octet & 0x0F } else { octet >> 4 };
            buf[i] = bcd_digit(nib).ok_or(PduError::Invalid {
                field,
                offset: start + i / 2,
                value: octet,
                reason: "filler digit F inside the number",
            })?;
        }
        Ok(Some(Address {
            toa,
            len: digits as u8,
            buf,
        }))
    }

    /// Parses the SMSC prefix at the start of `buf`: `None` for `00` (the
    /// modem's default SMSC). Returns the address and the TPDU's offset.
    pub fn parse_smsc(buf: &[u8]) -> Result<(Option<Address>, usize), PduError> {
        const FIELD: &str = "SMSC address";
        need(buf, 0, 1, FIELD)?;
        let len = buf[0] as usize;
        if len == 0 {
            return Ok((None, 1));
        }
        if len > MAX_SMSC_OCTETS {
            return Err(PduError::Invalid {
                field: FIELD,
                offset: 0,
                value: buf[0],
                reason: "SMSC address longer than 11 octets",
            });
        }
        need(buf, 1, len, FIELD)?;
        let toa = buf[1];
        let body = &buf[2..1 + len];
        let mut digits = body.len() * 2;
        if let Some(&last) = body.last() {
            if last >> 4 == 0xF {
                digits -= 1;
            }
        }
        let addr = Self::from_bcd(toa, body, digits, 2, FIELD)?.ok_or(PduError::Invalid {
            field: FIELD,
            offset: 0,
            value: buf[0],
            reason: "address does not fit",
        })?;
        Ok((Some(addr), 1 + len))
    }

    fn emit_bcd(&self, out: &mut Vec<u8>) {
        let v = self.value().as_bytes();
        for pair in v.chunks(2) {
            let lo = digit_bcd(pair[0]).unwrap_or(0);
            let hi = pair.get(1).and_then(|&c| digit_bcd(c)).unwrap_or(0xF);
            out.push(hi << 4 | lo);
        }
    }

    /// Appends this address as a TP address (length in digits, TOA, BCD or packed text).
    pub fn emit_tp(&self, out: &mut Vec<u8>) {
        if self.ton() == TypeOfNumber::Alphanumeric {
            let tables = Tables::default();
            let len_at = out.len();
            out.push(0);
            out.push(self.toa);
            let start = out.len();
            let mut septets = 0usize;
            let mut p = Packer::new(out, 0);
            for c in self.value().chars() {
                match tables.encode_char(c).unwrap_or(gsm7::Code::Single(0x3F)) {
                    gsm7::Code::Single(s) => {
                        p.push(s);
                        septets += 1;
                    }
                    gsm7::Code::Escaped(s) => {
                        p.push(gsm7::ESC);
                        p.push(s);
                        septets += 2;
                    }
                }
            }
            p.finish();
            let semi = (septets * 7).div_ceil(4);
            out[len_at] = semi as u8;
            debug_assert_eq!(out.len() - start, semi.div_ceil(2));
        } else {
            out.push(self.len);
            out.push(self.toa);
            self.emit_bcd(out);
        }
    }

    /// Appends an SMSC prefix: `00` for `None` (use the modem's default SMSC).
    pub fn emit_smsc(smsc: Option<&Address>, out: &mut Vec<u8>) {
        match smsc {
            None => out.push(0),
            Some(a) => {
                out.push(1 + (a.len as usize).div_ceil(2) as u8);
                out.push(a.toa);
                a.emit_bcd(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_number_round_trip() {
        // 0B 91 9333131254F7: +39331321457 (11 digits, F filler).
        let buf = [0x0B, 0x91, 0x93, 0x33, 0x13, 0x12, 0x54, 0xF7];
        let (a, next) = Address::parse_tp(&buf, 0, "TP-DA").unwrap();
        assert_eq!(next, 8);
        assert_eq!(a.to_string(), "+39333121457");
        assert_eq!(a.ton(), TypeOfNumber::International);
        let mut out = Vec::new();
        a.emit_tp(&mut out);
        assert_eq!(out, buf);
        assert_eq!(a, Address::parse_number("+39 333 121457").unwrap());
    }

    #[test]
    fn alphanumeric_sender() {
        // "MyBank": 11 semi-octets, TOA D0, packed septets.
        let a = Address::alphanumeric("MyBank").unwrap();
        let mut out = Vec::new();
        a.emit_tp(&mut out);
        assert_eq!(out[0], 11);
        assert_eq!(out[1], 0xD0);
        let (b, next) = Address::parse_tp(&out, 0, "TP-OA").unwrap();
        assert_eq!(next, out.len());
        assert_eq!(b.to_string(), "MyBank");
        assert_eq!(b.ton().as_str(), "alphanumeric");
    }

    #[test]
    fn bcd_specials_and_national() {
        let buf = [0x05, 0xA1, 0xBA, 0xDC, 0xF0];
        let (a, _) = Address::parse_tp(&buf, 0, "TP-OA").unwrap();
        assert_eq!(a.value(), "*#ab0");
        assert_eq!(a.ton(), TypeOfNumber::National);
        assert_eq!(a.to_string(), "*#ab0");
    }

    #[test]
    fn smsc_prefix() {
        let buf = [0x07, 0x91, 0x24, 0x60, 0x30, 0x50, 0x02, 0x00, 0x06];
        let (a, next) = Address::parse_smsc(&buf).unwrap();
        assert_eq!(a.unwrap().to_string(), "+420603052000");
        assert_eq!(next, 8);
        assert_eq!(Address::parse_smsc(&[0x00, 0x06]).unwrap(), (None, 1));
        let mut out = Vec::new();
        Address::emit_smsc(a.as_ref(), &mut out);
        assert_eq!(out, &buf[..8]);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            Address::parse_tp(&[0x81, 0x64, 0x30], 3, "TP-DA"),
            Err(PduError::Truncated { .. })
        ));
        assert!(matches!(
            Address::parse_tp(&[0x81, 0x64, 0x30], 0, "TP-DA"),
            Err(PduError::Invalid {
                field: "TP-DA",
                offset: 0,
                ..
            })
        ));
        assert!(matches!(
            Address::parse_tp(&[0x04, 0x81, 0xF1, 0x32], 0, "TP-OA"),
            Err(PduError::Invalid { offset: 2, .. })
        ));
        for bad in ["", "+", "12a4", "+39 333 12345678901234567"] {
            assert!(
                matches!(Address::parse_number(bad), Err(PduError::BadNumber { .. })),
                "{bad:?}"
            );
        }
        assert!(Address::alphanumeric("ABCDEFGHIJKL").is_err());
    }
}
