//! Reading and writing the SMPP field types: integers, C-octet strings with
//! their size limits, octet strings.

use super::error::{PduError, Problem};

/// A cursor over a PDU; offsets in errors are from the PDU's start.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// `buf` is the whole PDU; reading starts at `pos`.
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| PduError::new(field, self.pos, Problem::Truncated))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, PduError> {
        let b = self.bytes(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, PduError> {
        let b = self.bytes(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], PduError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| PduError::new(field, self.pos, Problem::Truncated))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A C-octet string of at most `max` octets, its NUL included.
    pub(crate) fn cstr(&mut self, field: &'static str, max: usize) -> Result<String, PduError> {
        let start = self.pos;
        let rest = &self.buf[start.min(self.buf.len())..];
        let window = &rest[..rest.len().min(max)];
        let Some(nul) = window.iter().position(|&b| b == 0) else {
            let problem = if rest.len() < max {
                Problem::Truncated
            } else {
                Problem::NoNul { max }
            };
            return Err(PduError::new(field, start, problem));
        };
        let s = &window[..nul];
        if !s.is_ascii() {
            return Err(PduError::new(field, start, Problem::NotAscii));
        }
        self.pos = start + nul + 1;
        // ASCII is UTF-8.
        Ok(s.iter().map(|&b| b as char).collect())
    }

    /// A time C-octet string: empty, or 16 characters.
    pub(crate) fn time(&mut self, field: &'static str) -> Result<String, PduError> {
        let start = self.pos;
        let s = self.cstr(field, 17)?;
        if !(s.is_empty() || s.len() == 16) {
            return Err(PduError::new(field, start, Problem::TimeLength(s.len())));
        }
        Ok(s)
    }
}

/// Appends a C-octet string (NULs inside are dropped).
pub(crate) fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_octet_strings_within_their_limit() {
        let buf = b"abc\0def\0";
        let mut r = Reader::new(buf, 0);
        assert_eq!(r.cstr("system_id", 16).unwrap(), "abc");
        assert_eq!(r.cstr("password", 4).unwrap(), "def");
        assert!(r.is_empty());
    }

    #[test]
    fn a_c_octet_string_without_nul_names_its_field() {
        let e = Reader::new(b"0123456789", 0)
            .cstr("password", 9)
            .unwrap_err();
        assert_eq!(e.field, "password");
        assert_eq!(e.problem, Problem::NoNul { max: 9 });
        let e = Reader::new(b"abc", 0).cstr("system_id", 16).unwrap_err();
        assert_eq!(e.problem, Problem::Truncated);
        let e = Reader::new(b"ab\xE9\0", 0)
            .cstr("source_addr", 21)
            .unwrap_err();
        assert_eq!(e.problem, Problem::NotAscii);
        // Exactly at the limit: 8 characters + NUL fits a 9-octet password.
        assert_eq!(
            Reader::new(b"12345678\0", 0).cstr("password", 9).unwrap(),
            "12345678"
        );
    }

    #[test]
    fn times_are_empty_or_sixteen_characters() {
        let mut r = Reader::new(b"\x00000001000000000R\x00", 0);
        assert_eq!(r.time("validity_period").unwrap(), "");
        assert_eq!(r.time("validity_period").unwrap(), "000001000000000R");
        let e = Reader::new(b"12\0", 0)
            .time("schedule_delivery_time")
            .unwrap_err();
        assert_eq!(e.problem, Problem::TimeLength(2));
    }
}
