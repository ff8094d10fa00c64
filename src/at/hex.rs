//! Hexadecimal text as modems write PDUs in PDU mode (27.005 §3.1: two
//! characters per octet, upper or lower case accepted on input, upper case on
//! output).

use thiserror::Error;

/// Why a hex PDU line could not be turned into bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    /// The line holds an odd number of hex digits.
    #[error("odd number of hex digits ({len})")]
    OddLength {
        /// Number of characters in the line.
        len: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid hex digit {byte:#04x} at offset {offset}")]
    InvalidDigit {
        /// Offset of the character in the line.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
}

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

/// Decodes hex text (either case) into bytes.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, HexError> {
    if let Some(offset) = text.iter().position(|b| !b.is_ascii_hexdigit()) {
        return Err(HexError::InvalidDigit {
            offset,
            byte: text[offset],
        });
    }
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength { len: text.len() });
    }
    let mut out = Vec::with_capacity(text.len() / 2);
    for pair in text.chunks_exact(2) {
        // Both digits were checked above; 0 can never be used.
        let high = nibble(pair[0]).unwrap_or(0);
        let low = nibble(pair[1]).unwrap_or(0);
        out.push(high << 4 | low);
    }
    Ok(out)
}

/// Appends `bytes` as upper-case hex to `out`.
pub fn encode_upper(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_real_status_report() {
        let text = b"079119890400202306400C91197909913764511090718384225110907183252200";
        let bytes = decode(text).unwrap();
        assert_eq!(bytes.len(), 33);
        assert_eq!(bytes[0], 0x07);
        let mut back = Vec::new();
        encode_upper(&bytes, &mut back);
        assert_eq!(back, text);
    }

    #[test]
    fn lower_case_accepted() {
        assert_eq!(decode(b"0aFf").unwrap(), vec![0x0a, 0xff]);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(decode(b"ABC"), Err(HexError::OddLength { len: 3 }));
        assert_eq!(
            decode(b"07G1"),
            Err(HexError::InvalidDigit {
                offset: 2,
                byte: b'G'
            })
        );
    }
}
