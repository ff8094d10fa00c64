//! The 16-octet PDU header and the framing rule.

use std::fmt;

use super::error::{PduError, Problem};
use super::field::Reader;

/// Octets in a header.
pub const HEADER_LEN: usize = 16;
/// The largest command_length accepted: 64 KiB (a long message_payload
/// fits many times over; anything above is a broken or hostile peer).
pub const MAX_PDU_LEN: usize = 64 * 1024;

/// command_length, command_id, command_status, sequence_number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub command_length: u32,
    pub command_id: u32,
    pub command_status: u32,
    pub sequence: u32,
}

impl Header {
    /// Reads the header of a whole PDU and checks command_length against
    /// `buf`'s length.
    pub fn parse(buf: &[u8]) -> Result<Header, PduError> {
        let mut r = Reader::new(buf, 0);
        let h = Header {
            command_length: r.u32("command_length")?,
            command_id: r.u32("command_id")?,
            command_status: r.u32("command_status")?,
            sequence: r.u32("sequence_number")?,
        };
        if h.command_length as usize != buf.len() {
            return Err(PduError::new(
                "command_length",
                0,
                Problem::Invalid(format!(
                    "command_length {} but the PDU has {} octets",
                    h.command_length,
                    buf.len()
                )),
            ));
        }
        Ok(h)
    }

    /// The header at the start of `buf`, if 16 octets are there (no check
    /// of the length against `buf`).
    pub fn peek(buf: &[u8]) -> Option<Header> {
        let b: &[u8; 16] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Header {
            command_length: w(0),
            command_id: w(4),
            command_status: w(8),
            sequence: w(12),
        })
    }
}

/// A command_length no PDU may have: the connection cannot be read past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    pub command_length: u32,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command_length {} is outside {}..={}",
            self.command_length, HEADER_LEN, MAX_PDU_LEN
        )
    }
}

impl std::error::Error for FrameError {}

/// How long the PDU at the start of `buf` is: `Ok(None)` until the four
/// length octets are there, an error for a command_length under 16 or over
/// [`MAX_PDU_LEN`].
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(b) = buf.get(..4) else {
        return Ok(None);
    };
    let command_length = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let n = command_length as usize;
    if !(HEADER_LEN..=MAX_PDU_LEN).contains(&n) {
        return Err(FrameError { command_length });
    }
    Ok(Some(n))
}
