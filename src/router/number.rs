//! Recipient numbers reduced to a compact key a status report can be matched on.
//!
//! A status report's TP-RA may carry the recipient as `+CC...`, `00CC...`,
//! national `0...` or without any prefix. Only the last N digits are compared
//! (N configurable, default 8), so all of these forms meet on one key.
//! Numbers with N digits or fewer (short codes) and alphanumeric addresses
//! are compared whole.

/// The most suffix digits a key can hold (E.164 numbers have at most 15).
pub const MAX_SUFFIX_DIGITS: u8 = 15;

/// Marks keys made from alphanumeric addresses (never set on digit keys).
const ALPHA_TAG: u64 = 1 << 63;

/// A recipient packed into one integer.
///
/// Digit keys hold the value of the compared digits times 32 plus their count
/// (so `0123` and `123` differ); alphanumeric addresses hold a 63-bit FNV-1a
/// hash of the trimmed address with the top bit set. Two different
/// alphanumeric addresses could share a key only by a hash collision, and
/// even then a report is matched only with the same modem, TP-MR and a
/// fitting time stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SuffixKey(u64);

impl SuffixKey {
    /// The key of `number` when the last `digits` digits are compared.
    ///
    /// Spaces, `+`, `-`, `.`, `/` and parentheses are formatting and ignored;
    /// any other character makes the address alphanumeric. `digits` must be
    /// 1..=[`MAX_SUFFIX_DIGITS`] (checked by [`super::RouterConfig::validate`]);
    /// larger values are clamped.
    pub fn new(number: &str, digits: u8) -> SuffixKey {
        let keep = usize::from(digits.clamp(1, MAX_SUFFIX_DIGITS));
        let trimmed = number.trim();
        let mut is_phone = !trimmed.is_empty();
        let mut count = 0usize;
        for c in trimmed.bytes() {
            match c {
                b'0'..=b'9' => count += 1,
                b' ' | b'+' | b'-' | b'.' | b'/' | b'(' | b')' => {}
                _ => {
                    is_phone = false;
                    break;
                }
            }
        }
        if !is_phone || count == 0 {
            return SuffixKey(alpha_hash(trimmed) | ALPHA_TAG);
        }
        let skip = count.saturating_sub(keep);
        let value = trimmed
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip(skip)
            .fold(0u64, |v, c| v * 10 + u64::from(c - b'0'));
        let len = (count - skip) as u64;
        SuffixKey(value * 32 + len)
    }

    /// The packed value (for hashing and compact storage).
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// True when the key was made from an alphanumeric address.
    pub const fn is_alphanumeric(self) -> bool {
        self.0 & ALPHA_TAG != 0
    }
}

fn alpha_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h & !ALPHA_TAG
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_national_and_bare_forms_meet() {
        let k = SuffixKey::new("+393331234567", 8);
        for form in [
            "00393331234567",
            "3331234567",
            "393331234567",
            "03331234567",
            "+39 333 123-4567",
        ] {
            assert_eq!(SuffixKey::new(form, 8), k, "{form}");
        }
        assert_ne!(SuffixKey::new("+393331234568", 8), k);
    }

    #[test]
    fn real_capture_with_national_tp_ra() {
        // gammu-valid.jsonl: a report whose TP-RA is national (TOA 0x81)
        // "604865888" for a message sent to the Spanish number +34604865888.
        assert_eq!(
            SuffixKey::new("604865888", 8),
            SuffixKey::new("+34604865888", 8)
        );
    }

    #[test]
    fn short_numbers_compare_whole() {
        assert_eq!(SuffixKey::new("1234", 8), SuffixKey::new("+1234", 8));
        assert_ne!(SuffixKey::new("1234", 8), SuffixKey::new("01234", 8));
        // A short code is not the suffix of a longer number ending in it.
        assert_ne!(SuffixKey::new("1234", 8), SuffixKey::new("+3900001234", 8));
        // Exactly N digits is both the whole value and the suffix.
        assert_eq!(
            SuffixKey::new("12345678", 8),
            SuffixKey::new("+3912345678", 8)
        );
    }

    #[test]
    fn alphanumeric_addresses_compare_whole() {
        let a = SuffixKey::new("ACME", 8);
        assert!(a.is_alphanumeric());
        assert_eq!(a, SuffixKey::new(" ACME ", 8));
        assert_ne!(a, SuffixKey::new("ACME1", 8));
        assert_ne!(a, SuffixKey::new("acme", 8));
        assert!(!SuffixKey::new("+391234", 8).is_alphanumeric());
        assert!(SuffixKey::new("", 8).is_alphanumeric());
        assert!(SuffixKey::new("+", 8).is_alphanumeric());
    }

    #[test]
    fn suffix_length_is_configurable() {
        assert_eq!(
            SuffixKey::new("+393331234567", 6),
            SuffixKey::new("0044 20 7123 4567", 6)
        );
        assert_ne!(
            SuffixKey::new("+393331234567", 9),
            SuffixKey::new("0044 20 7123 4567", 9)
        );
        // 15 digits fit without overflow.
        let k = SuffixKey::new("999999999999999", 15);
        assert_eq!(k.raw(), 999_999_999_999_999 * 32 + 15);
    }
}
