//! Hex text as modems print PDUs (`+CMGR`, `+CDS`, `AT+CMGS`).

use super::error::PduError;

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes hex text (either case, surrounding whitespace ignored) into octets.
pub fn decode(text: &str) -> Result<Vec<u8>, PduError> {
    let t = text.trim();
    let b = t.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(PduError::Hex {
            position: b.len(),
            reason: "odd number of hex digits",
        });
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = nibble(pair[0]).ok_or(PduError::Hex {
            position: 2 * i,
            reason: "not a hex digit",
        })?;
        let lo = nibble(pair[1]).ok_or(PduError::Hex {
            position: 2 * i + 1,
            reason: "not a hex digit",
        })?;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Encodes octets as upper-case hex (the form modems expect).
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(decode(" 00ff1A\r\n").unwrap(), vec![0x00, 0xFF, 0x1A]);
        assert_eq!(encode(&[0x00, 0xFF, 0x1A]), "00FF1A");
        assert_eq!(
            decode("0BD0P2").unwrap_err(),
            PduError::Hex {
                position: 4,
                reason: "not a hex digit"
            }
        );
        assert!(matches!(decode("123"), Err(PduError::Hex { .. })));
    }
}
