//! SMPP 3.4 time formats (§7.1.1), turned into absolute unix seconds:
//! - absolute `YYMMDDhhmmsstnnp`: local time, `t` tenths of a second,
//!   `nn` quarter hours between local time and UTC, `p` `+` (local is ahead
//!   of UTC) or `-` (behind);
//! - relative `YYMMDDhhmmss000R`: that much time after "now" (years and
//!   months are calendar ones, the day of month clamped to the target
//!   month's length).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Reads an SMPP time; `Ok(None)` for the empty (NULL) time.
pub fn parse(s: &str, now: i64) -> Result<Option<i64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let b = s.as_bytes();
    if b.len() != 16 {
        return Err(format!("{s:?}: an SMPP time has 16 characters"));
    }
    if !b[..15].iter().all(u8::is_ascii_digit) {
        return Err(format!("{s:?}: the first 15 characters must be digits"));
    }
    let n = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let (yy, mo, dd, hh, mi, ss) = (n(0), n(2), n(4), n(6), n(8), n(10));
    match b[15] {
        b'R' => relative(s, now, [yy, mo, dd, hh, mi, ss]),
        p @ (b'+' | b'-') => {
            let quarters = n(13);
            if quarters > 48 {
                return Err(format!(
                    "{s:?}: UTC offset of {quarters} quarter hours (at most 48)"
                ));
            }
            let month = u8::try_from(mo)
                .ok()
                .and_then(|m| Month::try_from(m).ok())
                .ok_or_else(|| format!("{s:?}: month {mo}"))?;
            let date = Date::from_calendar_date(2000 + yy as i32, month, dd as u8)
                .map_err(|_| format!("{s:?}: no such date"))?;
            let tm = Time::from_hms(hh as u8, mi as u8, ss as u8)
                .map_err(|_| format!("{s:?}: no such time of day"))?;
            let local = PrimitiveDateTime::new(date, tm)
                .assume_utc()
                .unix_timestamp();
            let offset = i64::from(quarters) * 900;
            Ok(Some(if p == b'+' {
                local - offset
            } else {
                local + offset
            }))
        }
        other => Err(format!(
            "{s:?}: the last character must be '+', '-' or 'R', not {:?}",
            other as char
        )),
    }
}

fn relative(s: &str, now: i64, [yy, mo, dd, hh, mi, ss]: [u32; 6]) -> Result<Option<i64>, String> {
    let start = OffsetDateTime::from_unix_timestamp(now).map_err(|e| e.to_string())?;
    let months = i64::from(start.month() as u8) - 1 + i64::from(mo) + 12 * i64::from(yy);
    let year = i64::from(start.year()) + months.div_euclid(12);
    let month = u8::try_from(months.rem_euclid(12) + 1)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(|| format!("{s:?}: out of range"))?;
    let year = i32::try_from(year).map_err(|_| format!("{s:?}: out of range"))?;
    let day = start.day().min(time::util::days_in_month(month, year));
    let date =
        Date::from_calendar_date(year, month, day).map_err(|_| format!("{s:?}: out of range"))?;
    let shifted = start.replace_date(date).unix_timestamp();
    let secs = i64::from(dd) * 86_400 + i64::from(hh) * 3_600 + i64::from(mi) * 60 + i64::from(ss);
    Ok(Some(shifted + secs))
}

/// An absolute SMPP time in UTC (`YYMMDDhhmmss000+`), as query_sm_resp's
/// final_date; empty for times outside 2000..2099.
pub fn format_absolute(unix: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) if (2000..2100).contains(&t.year()) => format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}000+",
            t.year() - 2000,
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-02 10:00:00 UTC
    const NOW: i64 = 1_796_205_600;

    #[test]
    fn absolute_times_with_their_quarter_hour_offset() {
        // OpenMarket's example validity: 2018-01-05 12:00:00 at UTC+1h.
        assert_eq!(parse("180105120000004+", NOW), Ok(Some(1_515_150_000)));
        assert_eq!(parse("180105120000004-", NOW), Ok(Some(1_515_157_200)));
        assert_eq!(parse("180105120000000+", NOW), Ok(Some(1_515_153_600)));
        // Tenths are ignored (one-second resolution).
        assert_eq!(parse("180105120000900+", NOW), Ok(Some(1_515_153_600)));
        assert_eq!(parse("", NOW), Ok(None));
    }

    #[test]
    fn relative_times_count_from_now() {
        assert_eq!(parse("000000000100000R", NOW), Ok(Some(NOW + 60)));
        assert_eq!(
            parse("000001020304000R", NOW),
            Ok(Some(NOW + 86_400 + 7_384))
        );
        // One month from 2026-12-02 is 2027-01-02.
        assert_eq!(parse("000100000000000R", NOW), Ok(Some(NOW + 31 * 86_400)));
        assert_eq!(parse("010000000000000R", NOW), Ok(Some(NOW + 365 * 86_400)));
        // From 2027-01-31, one month is 2027-02-28 (clamped).
        let jan31 = 1_801_353_600;
        assert_eq!(
            parse("000100000000000R", jan31),
            Ok(Some(jan31 + 28 * 86_400))
        );
    }

    #[test]
    fn bad_times_say_why() {
        for bad in [
            "18010512000000+",
            "1801051200000049",
            "181305120000000+",
            "180230120000000+",
            "180105250000000+",
            "180105120000049+",
            "18010512000000A+",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
        assert!(parse("180105120000004X", NOW)
            .unwrap_err()
            .contains("last character"));
    }

    #[test]
    fn final_dates_are_written_in_utc() {
        assert_eq!(format_absolute(1_515_153_600), "180105120000000+");
        assert_eq!(parse(&format_absolute(NOW), 0), Ok(Some(NOW)));
        assert_eq!(format_absolute(0), "");
    }
}
