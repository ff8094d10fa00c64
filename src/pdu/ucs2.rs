//! UCS2 user data, read and written as UTF-16 big-endian so that characters
//! outside the BMP (emoji) travel as surrogate pairs.

/// Appends the text of UTF-16BE octets to `out`; a lone surrogate becomes
/// U+FFFD. A trailing odd octet is ignored (callers reject odd lengths).
pub fn decode_into(data: &[u8], out: &mut String) {
    out.reserve(data.len() / 2);
    let units = data
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]));
    for r in char::decode_utf16(units) {
        out.push(r.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
}

/// Appends `text` as UTF-16BE; returns the number of octets written.
pub fn encode_into(text: &str, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let mut buf = [0u16; 2];
    for c in text.chars() {
        for u in c.encode_utf16(&mut buf) {
            out.extend_from_slice(&u.to_be_bytes());
        }
    }
    out.len() - start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_is_a_surrogate_pair() {
        let mut out = Vec::new();
        assert_eq!(encode_into("A😀", &mut out), 6);
        assert_eq!(out, [0x00, 0x41, 0xD8, 0x3D, 0xDE, 0x00]);
        let mut s = String::new();
        decode_into(&out, &mut s);
        assert_eq!(s, "A😀");
    }

    #[test]
    fn lone_surrogate_is_replaced() {
        let mut s = String::new();
        decode_into(&[0xD8, 0x3D, 0x00, 0x41], &mut s);
        assert_eq!(s, "\u{FFFD}A");
    }
}
