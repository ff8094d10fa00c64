//! Service-centre time stamps (3GPP TS 23.040 §9.2.3.11): TP-SCTS, TP-DT and
//! the absolute TP-VP. Seven octets of swapped BCD (year, month, day, hour,
//! minute, second, time zone); the time zone counts quarter hours from UTC,
//! its sign in bit 3 of the first (tens) digit.
//!
//! Years are read as 2000 + YY (the field has two digits; SMS-era dates).

use std::fmt::Write as _;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::error::{need, PduError};

/// A time stamp as the PDU carries it: local fields and the offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// 2000..=2099.
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in quarter hours (-79..=79).
    pub tz_quarters: i8,
}

fn swapped_bcd(b: u8) -> Option<u8> {
    let tens = b & 0x0F;
    let units = b >> 4;
    if tens > 9 || units > 9 {
        None
    } else {
        Some(tens * 10 + units)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

fn to_swapped_bcd(v: u8) -> u8 {
    ((v % 10) << 4) | ((v / 10) % 10)
}

impl Timestamp {
    /// Parses seven octets at `offset` (`field` names it in errors).
    pub fn parse(buf: &[u8], offset: usize, field: &'static str) -> Result<Timestamp, PduError> {
        need(buf, offset, 7, field)?;
        let b = &buf[offset..offset + 7];
        let bad = |i: usize, reason| PduError::Invalid {
            field,
            offset: offset + i,
            value: b[i],
            reason,
        };
        let mut v = [0u8; 6];
        for i in 0..6 {
            v[i] = swapped_bcd(b[i]).ok_or(bad(i, "not a BCD digit pair"))?;
        }
        let tz_units = b[6] >> 4;
        let tz_tens = b[6] & 0x07;
        if tz_units > 9 {
            return Err(bad(6, "time zone is not BCD"));
        }
        let q = (tz_tens * 10 + tz_units) as i8;
        let tz_quarters = if b[6] & 0x08 != 0 { -q } else { q };
        let ts = Timestamp {
            year: 2000 + u16::from(v[0]),
            month: v[1],
            day: v[2],
            hour: v[3],
            minute: v[4],
            second: v[5],
            tz_quarters,
        };
        if !(1..=12).contains(&ts.month) {
            return Err(bad(1, "month out of range"));
        }
        if ts.day == 0 || ts.day > days_in_month(ts.year, ts.month) {
            return Err(bad(2, "day out of range for the month"));
        }
        if ts.hour > 23 {
            return Err(bad(3, "hour out of range"));
        }
        if ts.minute > 59 {
            return Err(bad(4, "minute out of range"));
        }
        if ts.second > 59 {
            return Err(bad(5, "second out of range"));
        }
        Ok(ts)
    }

    fn date(&self) -> Option<Date> {
        let m = Month::try_from(self.month).ok()?;
        Date::from_calendar_date(i32::from(self.year), m, self.day).ok()
    }

    fn offset(&self) -> Option<UtcOffset> {
        UtcOffset::from_whole_seconds(i32::from(self.tz_quarters) * 900).ok()
    }

    /// Appends the seven octets.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let yy = (self.year % 100) as u8;
        out.extend_from_slice(&[
            to_swapped_bcd(yy),
            to_swapped_bcd(self.month),
            to_swapped_bcd(self.day),
            to_swapped_bcd(self.hour),
            to_swapped_bcd(self.minute),
            to_swapped_bcd(self.second),
        ]);
        let q = self.tz_quarters.unsigned_abs().min(79);
        let sign = if self.tz_quarters < 0 { 0x08 } else { 0 };
        out.push(to_swapped_bcd(q) | sign);
    }

    /// The offset from UTC in minutes.
    pub fn tz_minutes(&self) -> i32 {
        i32::from(self.tz_quarters) * 15
    }

    /// RFC 3339 with the PDU's own offset: `2026-11-22T10:15:30+01:00`.
    pub fn to_rfc3339(&self) -> String {
        let mut s = String::with_capacity(25);
        let m = self.tz_minutes();
        let sign = if m < 0 { '-' } else { '+' };
        let m = m.unsigned_abs();
        let _ = write!(
            s,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            sign,
            m / 60,
            m % 60
        );
        s
    }

    /// Seconds since the Unix epoch (the instant, offset applied). Fields that
    /// do not form a date (only possible when built by hand) count from the
    /// first of the month.
    pub fn unix_seconds(&self) -> i64 {
        let date = self
            .date()
            .or_else(|| {
                Date::from_calendar_date(
                    i32::from(self.year),
                    Month::try_from(self.month).unwrap_or(Month::January),
                    1,
                )
                .ok()
            })
            .unwrap_or(Date::MIN);
        let days = i64::from(date.to_julian_day() - 2_440_588);
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.tz_quarters) * 900
    }

    /// The time stamp of the instant `unix_seconds` seen in time zone
    /// `tz_quarters` (as a service centre, or the simulated modem, writes it).
    pub fn from_unix(unix_seconds: i64, tz_quarters: i8) -> Result<Timestamp, PduError> {
        if !(-79..=79).contains(&tz_quarters) {
            return Err(PduError::TimestampRange {
                reason: "time zone beyond 79 quarter hours",
            });
        }
        let off = UtcOffset::from_whole_seconds(i32::from(tz_quarters) * 900).map_err(|_| {
            PduError::TimestampRange {
                reason: "time zone beyond 79 quarter hours",
            }
        })?;
        let t = OffsetDateTime::from_unix_timestamp(unix_seconds)
            .map_err(|_| PduError::TimestampRange {
                reason: "instant out of range",
            })?
            .to_offset(off);
        if !(2000..=2099).contains(&t.year()) {
            return Err(PduError::TimestampRange {
                reason: "year outside 2000..=2099",
            });
        }
        Ok(Timestamp {
            year: t.year() as u16,
            month: t.month() as u8,
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            tz_quarters,
        })
    }

    /// As a `time` value with its offset (None only for hand-built invalid fields).
    pub fn to_offset_datetime(&self) -> Option<OffsetDateTime> {
        let t = Time::from_hms(self.hour, self.minute, self.second).ok()?;
        Some(PrimitiveDateTime::new(self.date()?, t).assume_offset(self.offset()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scts_with_positive_zone() {
        // 90907061842280: 2009-09-07 16:48:22, +08 quarters.
        let b = [0x90, 0x90, 0x70, 0x61, 0x84, 0x22, 0x80];
        let t = Timestamp::parse(&b, 0, "TP-SCTS").unwrap();
        assert_eq!(t.to_rfc3339(), "2009-09-07T16:48:22+02:00");
        assert_eq!(t.unix_seconds(), 1_252_334_902);
        let mut out = Vec::new();
        t.emit(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn negative_zone_and_half_hours() {
        // 0x29: tens 9 -> sign bit + 1, units 2: -12 quarters = -03:00.
        let b = [0x62, 0x11, 0x22, 0x01, 0x51, 0x03, 0x29];
        let t = Timestamp::parse(&b, 0, "TP-SCTS").unwrap();
        assert_eq!(t.tz_quarters, -12);
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:15:30-03:00");
        let mut out = Vec::new();
        t.emit(&mut out);
        assert_eq!(out, b);
        // India: +22 quarters = +05:30.
        let t = Timestamp::parse(&[0x51, 0x10, 0x90, 0x71, 0x83, 0x84, 0x22], 0, "x").unwrap();
        assert_eq!(t.to_rfc3339(), "2015-01-09T17:38:48+05:30");
    }

    #[test]
    fn from_unix_is_the_inverse_of_unix_seconds() {
        let t = Timestamp::from_unix(1_795_331_730, 4).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T08:15:30+01:00");
        assert_eq!(t.unix_seconds(), 1_795_331_730);
        let t = Timestamp::from_unix(1_795_331_730, -14).unwrap();
        assert_eq!(t.unix_seconds(), 1_795_331_730);
        assert_eq!(
            t.to_offset_datetime().unwrap().unix_timestamp(),
            1_795_331_730
        );
        assert!(Timestamp::from_unix(0, 0).is_err(), "1970 has no YY form");
    }

    #[test]
    fn out_of_range_fields_are_errors() {
        let cases: [([u8; 7], usize); 6] = [
            ([0x90, 0x31, 0x70, 0x61, 0x84, 0x22, 0x80], 1), // month 13
            ([0x90, 0x20, 0x03, 0x61, 0x84, 0x22, 0x80], 2), // 30 February
            ([0x90, 0x90, 0x70, 0x42, 0x84, 0x22, 0x80], 3), // hour 24
            ([0x90, 0x90, 0x70, 0x61, 0x06, 0x22, 0x80], 4), // minute 60
            ([0x90, 0x90, 0x70, 0x61, 0x84, 0x22, 0xA0], 6), // zone not BCD
            ([0x9A, 0x90, 0x70, 0x61, 0x84, 0x22, 0x80], 0), // year not BCD
        ];
        for (b, at) in cases {
            match Timestamp::parse(&b, 3, "TP-SCTS").map(|_| ()).or_else(|_| {
                let mut buf = vec![0; 3];
                buf.extend_from_slice(&b);
                Timestamp::parse(&buf, 3, "TP-SCTS").map(|_| ())
            }) {
                Err(PduError::Invalid { offset, field, .. }) => {
                    assert_eq!((offset, field), (3 + at, "TP-SCTS"), "{b:02X?}")
                }
                other => panic!("{b:02X?}: {other:?}"),
            }
        }
    }
}
