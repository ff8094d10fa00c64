//! What the store subcommands share: `--db PATH`, `--json`, time display.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::router::RouterConfig;
use crate::store::{default_path, Store};

/// Database and output options of the store subcommands.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database file (default: smsgw.db in the user's data directory).
    #[arg(long, value_name = "PATH", env = "SMSGW_DB")]
    pub db: Option<PathBuf>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl DbArgs {
    /// Open the store, creating it if it is not there yet (runtime failure,
    /// exit 1, when it cannot be opened). For commands that write.
    pub fn open(&self) -> Result<Store, CliError> {
        Store::open(&self.path()?, RouterConfig::default()).map_err(CliError::runtime)
    }

    /// Open a store that must already exist: the commands that only look
    /// into it (`messages`, `status`, `reports`...) never create a database
    /// (nor its directory) where `--db` happens to point.
    pub fn open_existing(&self) -> Result<Store, CliError> {
        let path = self.path()?;
        if !path.exists() {
            return Err(CliError::runtime(format!(
                "no database at {}: nothing has been sent with it yet \
                 (`smsgw send` and `smsgw serve` create it; --db or SMSGW_DB chooses another)",
                path.display()
            )));
        }
        Store::open(&path, RouterConfig::default()).map_err(CliError::runtime)
    }

    fn path(&self) -> Result<PathBuf, CliError> {
        match &self.db {
            Some(p) => Ok(p.clone()),
            None => default_path().map_err(CliError::runtime),
        }
    }
}

/// Unix seconds as `YYYY-MM-DD hh:mm:ss` (UTC); `-` when absent.
pub fn show_time(t: Option<i64>) -> String {
    let Some(t) = t else {
        return "-".to_string();
    };
    match time::OffsetDateTime::from_unix_timestamp(t) {
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

/// A time given by the user: unix seconds, `YYYY-MM-DD` (UTC midnight) or
/// RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, day) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|d| d.unix_timestamp())
        .map_err(|_| {
            format!("{s:?} is not a time (unix seconds, YYYY-MM-DD or RFC 3339 like 2026-01-31T12:00:00Z)")
        })
}

/// Print `value` as one line of JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let s = serde_json::to_string(value).map_err(CliError::runtime)?;
    println!("{s}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        assert_eq!(parse_time("1760000000"), Ok(1_760_000_000));
        assert_eq!(parse_time("1970-01-02"), Ok(86_400));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(parse_time("yesterday").unwrap_err().contains("yesterday"));
        assert_eq!(show_time(Some(86_400)), "1970-01-02 00:00:00");
        assert_eq!(show_time(None), "-");
    }
}
