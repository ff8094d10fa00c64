//! National language shift tables (3GPP TS 23.038 Annex A), selected by the
//! UDH information elements 0x25 (locking shift: replaces the main table) and
//! 0x24 (single shift: replaces the extension table).
//!
//! Held here: Turkish (identifier 1: locking and single), Spanish (2: single
//! only; its locking table is void in the specification) and Portuguese (3:
//! locking and single). Each table is written as its differences from the
//! default table it replaces.

use super::{DEFAULT_CHARS, EXTENSION_CHARS};

/// National language identifier of Turkish.
pub const TURKISH: u8 = 1;
/// National language identifier of Spanish.
pub const SPANISH: u8 = 2;
/// National language identifier of Portuguese.
pub const PORTUGUESE: u8 = 3;

const fn patch(base: [char; 128], changes: &[(u8, char)]) -> [char; 128] {
    let mut t = base;
    let mut i = 0;
    while i < changes.len() {
        t[changes[i].0 as usize] = changes[i].1;
        i += 1;
    }
    t
}

/// A.3.1: Turkish locking shift table.
pub static TURKISH_LOCKING: [char; 128] = patch(
    DEFAULT_CHARS,
    &[
        (0x04, '€'),
        (0x07, 'ı'),
        (0x0B, 'Ğ'),
        (0x0C, 'ğ'),
        (0x1C, 'Ş'),
        (0x1D, 'ş'),
        (0x40, 'İ'),
        (0x60, 'ç'),
    ],
);

/// A.2.1: Turkish single shift table.
pub static TURKISH_SINGLE: [char; 128] = patch(
    EXTENSION_CHARS,
    &[
        (0x47, 'Ğ'),
        (0x49, 'İ'),
        (0x53, 'Ş'),
        (0x63, 'ç'),
        (0x67, 'ğ'),
        (0x69, 'ı'),
        (0x73, 'ş'),
    ],
);

/// A.2.2: Spanish single shift table.
pub static SPANISH_SINGLE: [char; 128] = patch(
    EXTENSION_CHARS,
    &[
        (0x09, 'ç'),
        (0x41, 'Á'),
        (0x49, 'Í'),
        (0x4F, 'Ó'),
        (0x55, 'Ú'),
        (0x61, 'á'),
        (0x69, 'í'),
        (0x6F, 'ó'),
        (0x75, 'ú'),
    ],
);

/// A.3.3: Portuguese locking shift table.
pub static PORTUGUESE_LOCKING: [char; 128] = patch(
    DEFAULT_CHARS,
    &[
        (0x04, 'ê'),
        (0x06, 'ú'),
        (0x07, 'í'),
        (0x08, 'ó'),
        (0x09, 'ç'),
        (0x0B, 'Ô'),
        (0x0C, 'ô'),
        (0x0E, 'Á'),
        (0x0F, 'á'),
        (0x12, 'ª'),
        (0x13, 'Ç'),
        (0x14, 'À'),
        (0x15, '∞'),
        (0x16, '^'),
        (0x17, '\\'),
        (0x18, '€'),
        (0x19, 'Ó'),
        (0x1A, '|'),
        (0x1C, 'Â'),
        (0x1D, 'â'),
        (0x1E, 'Ê'),
        (0x24, 'º'),
        (0x40, 'Í'),
        (0x5B, 'Ã'),
        (0x5C, 'Õ'),
        (0x5D, 'Ú'),
        (0x60, '~'),
        (0x7B, 'ã'),
        (0x7C, 'õ'),
        (0x7D, '`'),
    ],
);

/// A.2.3: Portuguese single shift table.
pub static PORTUGUESE_SINGLE: [char; 128] = patch(
    EXTENSION_CHARS,
    &[
        (0x05, 'ê'),
        (0x09, 'ç'),
        (0x0B, 'Ô'),
        (0x0C, 'ô'),
        (0x0E, 'Á'),
        (0x0F, 'á'),
        (0x12, 'Φ'),
        (0x13, 'Γ'),
        (0x15, 'Ω'),
        (0x16, 'Π'),
        (0x17, 'Ψ'),
        (0x18, 'Σ'),
        (0x19, 'Θ'),
        (0x1F, 'Ê'),
        (0x41, 'À'),
        (0x49, 'Í'),
        (0x4F, 'Ó'),
        (0x55, 'Ú'),
        (0x5B, 'Ã'),
        (0x5C, 'Õ'),
        (0x61, 'Â'),
        (0x69, 'í'),
        (0x6F, 'ó'),
        (0x75, 'ú'),
        (0x7B, 'ã'),
        (0x7C, 'õ'),
        (0x7F, 'â'),
    ],
);

/// The locking shift table for a national language identifier, when held here.
pub fn locking(language: u8) -> Option<&'static [char; 128]> {
    match language {
        TURKISH => Some(&TURKISH_LOCKING),
        PORTUGUESE => Some(&PORTUGUESE_LOCKING),
        _ => None,
    }
}

/// The single shift table for a national language identifier, when held here.
pub fn single(language: u8) -> Option<&'static [char; 128]> {
    match language {
        TURKISH => Some(&TURKISH_SINGLE),
        SPANISH => Some(&SPANISH_SINGLE),
        PORTUGUESE => Some(&PORTUGUESE_SINGLE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Tables, DEFAULT};
    use super::*;

    fn decode(t: Tables, septets: &[u8]) -> String {
        let mut s = String::new();
        t.decode_into(septets.iter().copied(), &mut s);
        s
    }

    #[test]
    fn turkish_locking_and_single_shift() {
        let t = Tables::national(Some(TURKISH), Some(TURKISH));
        // 0x40 = İ, 0x07 = ı, 0x1C = Ş, ESC 0x67 = ğ, ESC 0x65 = €.
        assert_eq!(
            decode(t, &[0x40, 0x07, 0x1C, 0x1B, 0x67, 0x1B, 0x65]),
            "İıŞğ€"
        );
        assert_eq!(t.encode_char('ğ'), Some(super::super::Code::Single(0x0C)));
        // Turkish single shift over the default main table.
        let s = Tables::national(None, Some(TURKISH));
        assert_eq!(decode(s, b"I\x1b\x49k"), "Iİk");
    }

    #[test]
    fn spanish_single_shift_only() {
        let t = Tables::national(Some(SPANISH), Some(SPANISH));
        assert!(
            std::ptr::eq(t.main, &DEFAULT),
            "Spanish has no locking table"
        );
        assert_eq!(decode(t, b"d\x1b\x69a"), "día");
        assert_eq!(decode(t, b"\x1b\x3c"), "[", "default extension kept");
    }

    #[test]
    fn portuguese_tables() {
        let t = Tables::national(Some(PORTUGUESE), Some(PORTUGUESE));
        assert_eq!(decode(t, &[0x63, 0x0E, 0x09, 0x7B, 0x0C]), "cÁçãô");
        assert_eq!(decode(t, &[0x1B, 0x7F, 0x1B, 0x12]), "âΦ");
    }
}
