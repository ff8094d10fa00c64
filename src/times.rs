//! Times as people give and read them, one set of rules for the CLI and
//! the API: a time is given as unix seconds, a day (`YYYY-MM-DD`, midnight
//! UTC) or RFC 3339, and shown as RFC 3339 in JSON or `YYYY-MM-DD hh:mm:ss`
//! (UTC) in tables.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A time given by the user: unix seconds, `YYYY-MM-DD` (UTC midnight) or
/// RFC 3339. The error says which forms are understood.
pub fn parse(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, day) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map(|d| d.unix_timestamp())
        .map_err(|_| {
            format!(
                "{s:?} is not a time (unix seconds, YYYY-MM-DD or RFC 3339 like 2026-01-31T12:00:00Z)"
            )
        })
}

/// Unix seconds as RFC 3339 (UTC); out-of-range values as the number.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Unix seconds as `YYYY-MM-DD hh:mm:ss` (UTC) for tables; `-` when absent.
pub fn table(t: Option<i64>) -> String {
    let Some(t) = t else {
        return "-".to_string();
    };
    match OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms_and_show_in_two() {
        assert_eq!(parse("1760000000"), Ok(1_760_000_000));
        assert_eq!(parse("1970-01-02"), Ok(86_400));
        assert_eq!(parse("1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(parse("yesterday").unwrap_err().contains("yesterday"));
        assert_eq!(table(Some(86_400)), "1970-01-02 00:00:00");
        assert_eq!(table(None), "-");
        assert_eq!(rfc3339(86_400), "1970-01-02T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
