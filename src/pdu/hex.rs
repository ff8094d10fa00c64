//! Hex text as modems write PDUs in PDU mode (27.005 §3.1: two characters
//! per octet; either case accepted on input, upper case on output): in
//! `+CMGR`, `+CMGL`, `+CDS` and `+CMT` answers, and after `AT+CMGS`'s prompt.
//!
//! The one hex module of the crate: the AT engine, the simulator, the store
//! paths and the CLI all read and write PDUs through it.

use thiserror::Error;

/// Why hex text could not be turned into octets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    /// The text holds an odd number of hex digits.
    #[error(
        "odd number of hex digits ({len}): the one at offset {} has no pair",
        .len - 1
    )]
    OddLength {
        /// Number of characters in the text.
        len: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid hex digit {byte:#04x} at offset {offset}")]
    InvalidDigit {
        /// Offset of the character in the text (after surrounding
        /// whitespace).
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
}

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

fn nibble(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// True when every byte is an ASCII hex digit (and there is at least one).
pub fn is_hex(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(u8::is_ascii_hexdigit)
}

/// Decodes hex text (either case; whitespace around it ignored) into
/// octets. Takes `&str` or `&[u8]`.
pub fn decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, HexError> {
    let text = text.as_ref().trim_ascii();
    if let Some(offset) = text.iter().position(|b| !b.is_ascii_hexdigit()) {
        return Err(HexError::InvalidDigit {
            offset,
            byte: text[offset],
        });
    }
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength { len: text.len() });
    }
    Ok(text
        .chunks_exact(2)
        .map(|pair| {
            // Both digits were checked above; 0 is never used.
            let high = nibble(pair[0]).unwrap_or(0);
            let low = nibble(pair[1]).unwrap_or(0);
            high << 4 | low
        })
        .collect())
}

/// Appends `bytes` as upper-case hex to `out`.
pub fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// `bytes` as upper-case hex (the form modems expect).
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// `bytes` as lower-case hex (signatures and digests).
pub fn encode_lower(bytes: &[u8]) -> String {
    encode(bytes).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_real_status_report() {
        let text = "079119890400202306400C91197909913764511090718384225110907183252200";
        let bytes = decode(text).unwrap();
        assert_eq!(bytes.len(), 33);
        assert_eq!(bytes[0], 0x07);
        assert_eq!(encode(&bytes), text);
        let mut back = Vec::new();
        encode_into(&bytes, &mut back);
        assert_eq!(back, text.as_bytes());
    }

    #[test]
    fn either_case_and_surrounding_whitespace_accepted() {
        assert_eq!(decode(b"0aFf").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(decode(" 00ff1A\r\n").unwrap(), vec![0x00, 0xFF, 0x1A]);
        assert_eq!(encode(&[0x00, 0xFF, 0x1A]), "00FF1A");
        assert_eq!(encode_lower(&[0xAB, 0x01]), "ab01");
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(decode("ABC"), Err(HexError::OddLength { len: 3 }));
        assert_eq!(
            decode("07G1"),
            Err(HexError::InvalidDigit {
                offset: 2,
                byte: b'G'
            })
        );
        assert_eq!(
            decode("0BD0P2"),
            Err(HexError::InvalidDigit {
                offset: 4,
                byte: b'P'
            })
        );
        assert!(decode("07 41").is_err());
        assert!(!is_hex(b"") && !is_hex(b"0G") && is_hex(b"0a"));
    }
}
