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

    /// Seconds the service centre keeps a message submitted at `now`
    /// (unix seconds) with this validity; `None` when the SMSC's own
    /// default applies (no TP-VP, or the enhanced format we do not read).
    pub fn lifetime_secs(&self, now: i64) -> Option<i64> {
        match self {
            Validity::None | Validity::Enhanced(_) => None,
            Validity::Relative(v) => Some(i64::from(Self::relative_minutes(*v)) * 60),
            Validity::Absolute(t) => Some((t.unix_seconds() - now).max(0)),
        }
    }
}

/// Parses a duration as operators write it (`90m`, `12h`, `1d`, `2w`)
/// into the smallest relative TP-VP that lasts that long. The error names
/// the input and what is wrong with it.
///
/// The command line, the config file and the HTTP API all read validity
/// this way.
pub fn parse_validity(s: &str) -> Result<Validity, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u32 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (90m, 12h, 1d, 2w)"))?;
    let per = match unit {
        "m" | "min" => 1,
        "h" => 60,
        "d" => 1440,
        "w" => 10080,
        _ => return Err(format!("{s:?}: unit must be m, h, d or w")),
    };
    let minutes = n
        .checked_mul(per)
        .filter(|&m| m > 0)
        .ok_or_else(|| format!("{s:?}: validity must be above zero"))?;
    Validity::relative_from_minutes(minutes)
        .map(Validity::Relative)
        .ok_or_else(|| format!("{s:?}: longer than the 63 weeks a relative TP-VP allows"))
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

    #[test]
    fn lifetime_in_seconds() {
        assert_eq!(Validity::None.lifetime_secs(0), None);
        assert_eq!(Validity::Enhanced([0; 7]).lifetime_secs(0), None);
        assert_eq!(Validity::Relative(167).lifetime_secs(0), Some(86_400));
        let at = Timestamp::from_unix(1_700_000_000, 4).unwrap();
        let abs = Validity::Absolute(at);
        assert_eq!(abs.lifetime_secs(1_700_000_000 - 600), Some(600));
        assert_eq!(abs.lifetime_secs(1_700_000_000 + 600), Some(0));
    }

    #[test]
    fn validity_units() {
        assert_eq!(parse_validity("90m"), Ok(Validity::Relative(17)));
        assert_eq!(parse_validity("1d"), Ok(Validity::Relative(167)));
        assert_eq!(parse_validity("2w"), Ok(Validity::Relative(180)));
        assert_eq!(parse_validity("5w"), Ok(Validity::Relative(197)));
        assert!(parse_validity("0m").is_err());
        assert!(parse_validity("64w").is_err());
        assert!(parse_validity("1y").is_err());
        assert!(parse_validity("d").is_err());
    }
}
