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
    crate::times::table(t)
}

/// A time given by the user (see [`crate::times::parse`]).
pub fn parse_time(s: &str) -> Result<i64, String> {
    crate::times::parse(s)
}

/// Print `value` as one line of JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let s = serde_json::to_string(value).map_err(CliError::runtime)?;
    println!("{s}");
    Ok(())
}
