//! TP-DCS, the data coding scheme (3GPP TS 23.038 §4): alphabet, message
//! class, compression. Reserved and compressed codings are reported as such,
//! never guessed.

/// How the user data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 7-bit default alphabet (TP-UDL counts septets).
    Gsm7,
    /// 8-bit data (TP-UDL counts octets).
    EightBit,
    /// UCS2, read as UTF-16BE (TP-UDL counts octets).
    Ucs2,
    /// Compressed (23.042): TP-UDL counts octets; the data is kept as it came.
    Compressed,
    /// A reserved alphabet or coding group: TP-UDL read as septets (23.038
    /// asks receivers to treat such codings as 7-bit); the data is kept as it came.
    Reserved,
}

impl Encoding {
    /// The name used in JSON output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::EightBit => "8bit",
            Encoding::Ucs2 => "ucs2",
            Encoding::Compressed => "compressed",
            Encoding::Reserved => "reserved",
        }
    }

    /// True when TP-UDL counts septets.
    pub const fn counts_septets(self) -> bool {
        matches!(self, Encoding::Gsm7 | Encoding::Reserved)
    }
}

/// The TP-DCS octet, kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Dcs(pub u8);

impl Dcs {
    /// GSM 7-bit, no class.
    pub const GSM7: Dcs = Dcs(0x00);
    /// UCS2, no class.
    pub const UCS2: Dcs = Dcs(0x08);
    /// 8-bit data, no class.
    pub const EIGHT_BIT: Dcs = Dcs(0x04);

    /// The general data coding octet for an encoding and optional class.
    pub const fn new(encoding: Encoding, class: Option<u8>) -> Dcs {
        let alphabet = match encoding {
            Encoding::Gsm7 | Encoding::Reserved => 0x00,
            Encoding::EightBit => 0x04,
            Encoding::Ucs2 => 0x08,
            Encoding::Compressed => 0x20,
        };
        match class {
            Some(c) => Dcs(alphabet | 0x10 | (c & 3)),
            None => Dcs(alphabet),
        }
    }

    /// The alphabet or coding.
    pub const fn encoding(self) -> Encoding {
        let b = self.0;
        match b >> 4 {
            // General data coding (00xx) and automatic deletion (01xx).
            0x0..=0x7 => {
                if b & 0x20 != 0 {
                    return Encoding::Compressed;
                }
                match (b >> 2) & 3 {
                    0 => Encoding::Gsm7,
                    1 => Encoding::EightBit,
                    2 => Encoding::Ucs2,
                    _ => Encoding::Reserved,
                }
            }
            // Reserved coding groups.
            0x8..=0xB => Encoding::Reserved,
            // Message waiting indication: discard / store (7-bit), store (UCS2).
            0xC | 0xD => Encoding::Gsm7,
            0xE => Encoding::Ucs2,
            // Data coding / message class.
            _ => {
                if b & 0x04 != 0 {
                    Encoding::EightBit
                } else {
                    Encoding::Gsm7
                }
            }
        }
    }

    /// The message class 0..=3, when the DCS gives one (class 0 = flash).
    pub const fn class(self) -> Option<u8> {
        let b = self.0;
        match b >> 4 {
            0x0..=0x7 if b & 0x10 != 0 => Some(b & 3),
            0xF => Some(b & 3),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(Dcs(0x00).encoding(), Encoding::Gsm7);
        assert_eq!(Dcs(0x00).class(), None);
        assert_eq!(Dcs(0x08).encoding(), Encoding::Ucs2);
        assert_eq!(Dcs(0x10).class(), Some(0));
        assert_eq!(Dcs(0x18).encoding(), Encoding::Ucs2);
        assert_eq!(Dcs(0xF5).encoding(), Encoding::EightBit);
        assert_eq!(Dcs(0xF5).class(), Some(1));
        assert_eq!(Dcs(0xF0).class(), Some(0));
        assert_eq!(Dcs(0x39).encoding(), Encoding::Compressed);
        assert_eq!(Dcs(0x39).class(), Some(1));
        assert_eq!(Dcs(0x0C).encoding(), Encoding::Reserved);
        assert_eq!(Dcs(0x85).encoding(), Encoding::Reserved);
        assert_eq!(Dcs(0xE0).encoding(), Encoding::Ucs2);
        assert_eq!(Dcs(0x48).encoding(), Encoding::Ucs2);
        assert_eq!(Dcs::new(Encoding::Ucs2, Some(0)), Dcs(0x18));
        assert_eq!(Dcs::new(Encoding::Gsm7, None), Dcs::GSM7);
    }
}
