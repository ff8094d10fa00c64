//! The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 §6.2.1),
//! plus the national language shift tables ([`national`]).
//!
//! Text is handled one septet value (0..=127) at a time; packing into octets is
//! [`super::septets`]' job.

pub(crate) mod national;

/// The escape septet that selects the extension (single shift) table.
pub const ESC: u8 = 0x1B;

/// Marks "no character" in a shift table.
pub(crate) const NONE: char = '\0';

/// The default alphabet, indexed by septet value.
pub static DEFAULT: [char; 128] = DEFAULT_CHARS;

pub(crate) const DEFAULT_CHARS: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The default extension table (reached through [`ESC`]), indexed by septet value.
pub static EXTENSION: [char; 128] = EXTENSION_CHARS;

pub(crate) const EXTENSION_CHARS: [char; 128] = {
    let mut t = [NONE; 128];
    t[0x0A] = '\u{0C}'; // form feed (page break)
    t[0x14] = '^';
    t[0x28] = '{';
    t[0x29] = '}';
    t[0x2F] = '\\';
    t[0x3C] = '[';
    t[0x3D] = '~';
    t[0x3E] = ']';
    t[0x40] = '|';
    t[0x65] = '€';
    t
};

/// How one character is written in the default alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// One septet of the default table.
    Single(u8),
    /// [`ESC`] followed by this septet of the extension table.
    Escaped(u8),
}

impl Code {
    /// Septets this character takes (1 or 2).
    #[inline]
    pub const fn septets(self) -> usize {
        match self {
            Code::Single(_) => 1,
            Code::Escaped(_) => 2,
        }
    }
}

const NO: u8 = 0xFF;
const ESCAPED: u8 = 0x80;

/// ASCII to septet: `NO` when absent, `ESCAPED | code` for extension characters.
const ASCII: [u8; 128] = {
    let mut t = [NO; 128];
    let mut i = 0;
    while i < 128 {
        let c = DEFAULT_CHARS[i] as u32;
        if c < 128 && i != ESC as usize {
            t[c as usize] = i as u8;
        }
        let e = EXTENSION_CHARS[i] as u32;
        if e != 0 && e < 128 {
            t[e as usize] = ESCAPED | i as u8;
        }
        i += 1;
    }
    t
};

/// The default-alphabet encoding of `c`, or `None` when it has none.
#[inline]
pub fn encode_char(c: char) -> Option<Code> {
    let u = c as u32;
    if u < 128 {
        let v = ASCII[u as usize];
        return match v {
            NO => None,
            v if v & ESCAPED != 0 => Some(Code::Escaped(v & 0x7F)),
            v => Some(Code::Single(v)),
        };
    }
    let s = match c {
        '£' => 0x01,
        '¥' => 0x03,
        'è' => 0x04,
        'é' => 0x05,
        'ù' => 0x06,
        'ì' => 0x07,
        'ò' => 0x08,
        'Ç' => 0x09,
        'Ø' => 0x0B,
        'ø' => 0x0C,
        'Å' => 0x0E,
        'å' => 0x0F,
        'Δ' => 0x10,
        'Φ' => 0x12,
        'Γ' => 0x13,
        'Λ' => 0x14,
        'Ω' => 0x15,
        'Π' => 0x16,
        'Ψ' => 0x17,
        'Σ' => 0x18,
        'Θ' => 0x19,
        'Ξ' => 0x1A,
        'Æ' => 0x1C,
        'æ' => 0x1D,
        'ß' => 0x1E,
        'É' => 0x1F,
        '¤' => 0x24,
        '¡' => 0x40,
        'Ä' => 0x5B,
        'Ö' => 0x5C,
        'Ñ' => 0x5D,
        'Ü' => 0x5E,
        '§' => 0x5F,
        '¿' => 0x60,
        'ä' => 0x7B,
        'ö' => 0x7C,
        'ñ' => 0x7D,
        'ü' => 0x7E,
        'à' => 0x7F,
        '€' => return Some(Code::Escaped(0x65)),
        _ => return None,
    };
    Some(Code::Single(s))
}

/// Septets `text` takes in the default alphabet, or the first character it cannot hold.
pub fn septet_count(text: &str) -> Result<usize, char> {
    if text.is_ascii() {
        let mut n = 0;
        for &b in text.as_bytes() {
            match ASCII[b as usize] {
                NO => return Err(b as char),
                v => n += 1 + usize::from(v >> 7),
            }
        }
        return Ok(n);
    }
    let mut n = 0;
    for c in text.chars() {
        n += encode_char(c).ok_or(c)?.septets();
    }
    Ok(n)
}

/// Writes the septets of `text` (default tables) into `buf`; characters
/// outside the alphabet become `?`. Returns the count, or `None` when `buf`
/// is too small.
pub fn to_septets(text: &str, buf: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    if text.is_ascii() {
        for &b in text.as_bytes() {
            let v = ASCII[b as usize];
            if v == NO {
                *buf.get_mut(n)? = 0x3F;
                n += 1;
            } else if v & ESCAPED != 0 {
                *buf.get_mut(n + 1)? = v & 0x7F;
                buf[n] = ESC;
                n += 2;
            } else {
                *buf.get_mut(n)? = v;
                n += 1;
            }
        }
        return Some(n);
    }
    for c in text.chars() {
        match encode_char(c).unwrap_or(Code::Single(0x3F)) {
            Code::Single(s) => {
                *buf.get_mut(n)? = s;
                n += 1;
            }
            Code::Escaped(s) => {
                *buf.get_mut(n + 1)? = s;
                buf[n] = ESC;
                n += 2;
            }
        }
    }
    Some(n)
}

/// The tables a GSM 7-bit text is read with: the default ones unless the UDH
/// names national language shift tables.
#[derive(Debug, Clone, Copy)]
pub struct Tables {
    /// The main table (a national locking shift table replaces the default one).
    pub main: &'static [char; 128],
    /// The table reached through [`ESC`] (a national single shift table replaces the extension table).
    pub shift: &'static [char; 128],
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            main: &DEFAULT,
            shift: &EXTENSION,
        }
    }
}

impl Tables {
    /// The tables for the national language identifiers of UDH IEIs 0x25
    /// (locking) and 0x24 (single); unknown languages fall back to the default tables.
    pub fn national(locking: Option<u8>, single: Option<u8>) -> Tables {
        Tables {
            main: locking.and_then(national::locking).unwrap_or(&DEFAULT),
            shift: single.and_then(national::single).unwrap_or(&EXTENSION),
        }
    }

    /// True when both tables are the default ones.
    pub fn is_default(&self) -> bool {
        std::ptr::eq(self.main, &DEFAULT) && std::ptr::eq(self.shift, &EXTENSION)
    }

    /// Decodes septet values into `out`. An escape followed by a septet the
    /// shift table does not define reads as that septet's main-table character
    /// (23.038 §6.2.1.1); a dangling escape at the end reads as a space.
    pub fn decode_into(&self, septets: impl Iterator<Item = u8>, out: &mut String) {
        let mut escaped = false;
        for s in septets {
            let s = (s & 0x7F) as usize;
            if escaped {
                escaped = false;
                let c = self.shift[s];
                if c != NONE {
                    out.push(c);
                } else if s != ESC as usize {
                    out.push(self.main[s]);
                } else {
                    out.push(' ');
                }
            } else if s == ESC as usize {
                escaped = true;
            } else {
                out.push(self.main[s]);
            }
        }
        if escaped {
            out.push(' ');
        }
    }

    /// The encoding of `c` with these tables.
    pub fn encode_char(&self, c: char) -> Option<Code> {
        if self.is_default() {
            return encode_char(c);
        }
        if c != '\u{1B}' {
            if let Some(i) = self.main.iter().position(|&m| m == c) {
                return Some(Code::Single(i as u8));
            }
        }
        if c != NONE {
            if let Some(i) = self.shift.iter().position(|&m| m == c) {
                return Some(Code::Escaped(i as u8));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_character_encodes_to_its_index() {
        for (i, &c) in DEFAULT.iter().enumerate() {
            if i == ESC as usize {
                assert_eq!(encode_char(c), None);
                continue;
            }
            assert_eq!(encode_char(c), Some(Code::Single(i as u8)), "{c:?}");
        }
        for (i, &c) in EXTENSION.iter().enumerate() {
            if c != NONE {
                assert_eq!(encode_char(c), Some(Code::Escaped(i as u8)), "{c:?}");
            }
        }
    }

    #[test]
    fn characters_outside_the_alphabet() {
        for c in ['`', 'ç', 'Ğ', '😀', '\t', 'â'] {
            assert_eq!(encode_char(c), None, "{c:?}");
        }
        assert_eq!(septet_count("a€[b"), Ok(6));
        assert_eq!(septet_count("aé😀"), Err('😀'));
    }

    #[test]
    fn escape_handling_on_decode() {
        let mut s = String::new();
        // ESC e = euro; ESC A (undefined) = A; dangling ESC = space.
        Tables::default().decode_into([0x1B, 0x65, 0x1B, 0x41, 0x20, 0x1B].into_iter(), &mut s);
        assert_eq!(s, "€A  ");
    }
}
