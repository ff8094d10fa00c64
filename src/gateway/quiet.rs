//! Quiet hours: a daily window, in a time zone, in which only urgent
//! messages (high priority, or marked to ignore quiet hours) are sent; the
//! others wait in the queue until the window ends. Pure: the caller gives
//! the time.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// `[gateway] quiet_hours = { from = "21:00", to = "08:00", tz = "Europe/Rome" }`.
#[derive(Debug, Clone)]
pub struct QuietHours {
    from: Time,
    to: Time,
    tz: TimeZone,
    /// As configured, for messages.
    pub text: String,
}

impl PartialEq for QuietHours {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

fn hhmm(what: &str, s: &str) -> Result<Time, String> {
    let bad = || format!("{what} = {s:?}: expected a time of day as HH:MM (00:00 to 23:59)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

impl QuietHours {
    /// Parse the window; `from` and `to` as `HH:MM`, `tz` an IANA name
    /// (e.g. `Europe/Rome`, `UTC`). A window that ends before it starts
    /// spans midnight; `from == to` is refused (empty or whole day: say
    /// which by not configuring it).
    pub fn new(from: &str, to: &str, tz: &str) -> Result<QuietHours, String> {
        let f = hhmm("from", from)?;
        let t = hhmm("to", to)?;
        if f == t {
            return Err(format!(
                "from and to are both {from}: the window would be empty"
            ));
        }
        let zone = TimeZone::get(tz).map_err(|e| {
            format!(
                "tz = {tz:?}: not a known time zone (an IANA name such as \"Europe/Rome\"): {e}"
            )
        })?;
        Ok(QuietHours {
            from: f,
            to: t,
            tz: zone,
            text: format!("{from}-{to} {tz}"),
        })
    }

    /// None when unix second `now` is outside the window; inside it, the
    /// unix second at which it ends.
    pub fn ends_at(&self, now: i64) -> Option<i64> {
        let ts = Timestamp::from_second(now).ok()?;
        let local = ts.to_zoned(self.tz.clone());
        let t = local.time();
        let inside = if self.from < self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        };
        if !inside {
            return None;
        }
        let mut day = local.date();
        if t >= self.to {
            day = day.tomorrow().ok()?;
        }
        let end = day.to_datetime(self.to).to_zoned(self.tz.clone()).ok()?;
        Some(end.timestamp().as_second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_second()
    }

    #[test]
    fn a_window_across_midnight_in_rome() {
        let q = QuietHours::new("21:00", "08:00", "Europe/Rome").unwrap();
        // 2026-07-01 is summer time: UTC+2.
        assert_eq!(q.ends_at(at("2026-07-01T18:59:59Z")), None);
        assert_eq!(
            q.ends_at(at("2026-07-01T19:00:00Z")),
            Some(at("2026-07-02T06:00:00Z"))
        );
        assert_eq!(
            q.ends_at(at("2026-07-02T01:30:00Z")),
            Some(at("2026-07-02T06:00:00Z"))
        );
        assert_eq!(q.ends_at(at("2026-07-02T06:00:00Z")), None);
        // Winter: UTC+1.
        assert_eq!(
            q.ends_at(at("2026-12-02T20:30:00Z")),
            Some(at("2026-12-03T07:00:00Z"))
        );
        // The night summer time ends (25 October 2026): 08:00 is UTC+1.
        assert_eq!(
            q.ends_at(at("2026-10-24T22:00:00Z")),
            Some(at("2026-10-25T07:00:00Z"))
        );
    }

    #[test]
    fn a_window_within_a_day_and_bad_values() {
        let q = QuietHours::new("12:00", "14:00", "UTC").unwrap();
        assert_eq!(q.ends_at(at("2026-01-01T11:59:00Z")), None);
        assert_eq!(
            q.ends_at(at("2026-01-01T12:00:00Z")),
            Some(at("2026-01-01T14:00:00Z"))
        );
        assert_eq!(q.ends_at(at("2026-01-01T22:00:00Z")), None);
        assert!(QuietHours::new("9:00", "10:00", "UTC")
            .unwrap_err()
            .contains("from"));
        assert!(QuietHours::new("09:00", "24:00", "UTC")
            .unwrap_err()
            .contains("to"));
        assert!(QuietHours::new("09:00", "09:00", "UTC")
            .unwrap_err()
            .contains("empty"));
        assert!(QuietHours::new("09:00", "10:00", "Mars/Olympus")
            .unwrap_err()
            .contains("tz"));
    }
}
