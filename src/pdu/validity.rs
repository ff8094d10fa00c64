//! TP-VP, the validity period of an SMS-SUBMIT (3GPP TS 23.040 §9.2.3.12),
//! with its format TP-VPF (bits 4..3 of the first octet).

use super::timestamp::Timestamp;

/// How long the service centre keeps trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Validity {
    /// No TP-VP (the SC's default).
    #[default]
    None,
    /// Relative: one octet (see [`Validity::relative_minutes`]).
    Relative(u8),
    /// Enhanced format: seven octets kept as received.
    Enhanced([u8; 7]),
    /// Absolute: a time stamp.
    Absolute(Timestamp),
}

impl Validity {
    /// The TP-VPF bits, already at their place in the first octet.
    pub const fn vpf_bits(&self) -> u8 {
        match self {
            Validity::None => 0x00,
            Validity::Enhanced(_) => 0x08,
            Validity::Relative(_) => 0x10,
            Validity::Absolute(_) => 0x18,
        }
    }

    /// Minutes a relative TP-VP octet stands for: 5-minute steps up to 12 h,
    /// then 30-minute steps up to 24 h, days up to 30 days, weeks up to 63.
    pub const fn relative_minutes(v: u8) -> u32 {
        let v = v as u32;
        match v {
            0..=143 => (v + 1) * 5,
            144..=167 => 720 + (v - 143) * 30,
            168..=196 => (v - 166) * 1440,
            _ => (v - 192) * 10080,
        }
    }

    /// The smallest relative TP-VP octet lasting at least `minutes`; `None`
    /// beyond 63 weeks.
    pub fn relative_from_minutes(minutes: u32) -> Option<u8> {
        (0..=255u8).find(|&v| Self::relative_minutes(v) >= minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_encoding_boundaries() {
        assert_eq!(Validity::relative_minutes(0), 5);
        assert_eq!(Validity::relative_minutes(143), 720);
        assert_eq!(Validity::relative_minutes(144), 750);
        assert_eq!(Validity::relative_minutes(167), 1440);
        assert_eq!(Validity::relative_minutes(168), 2880);
        assert_eq!(Validity::relative_minutes(196), 30 * 1440);
        assert_eq!(Validity::relative_minutes(197), 5 * 10080);
        assert_eq!(Validity::relative_minutes(255), 63 * 10080);
        assert_eq!(Validity::relative_from_minutes(90), Some(17));
        assert_eq!(Validity::relative_from_minutes(1440), Some(167));
        assert_eq!(Validity::relative_from_minutes(7 * 1440), Some(173));
        assert_eq!(Validity::relative_from_minutes(64 * 10080), None);
    }
}
