//! `smsgw udev-rules`: print the udev rules that give smsgw the AT port of
//! every modem known to the built-in profiles (see [`crate::udev`]).

use clap::Args;

use super::{CliError, CliResult};
use crate::profile::Profile;
use crate::udev::{self, RulesOptions};

#[derive(Debug, Args)]
pub struct UdevRulesArgs {
    /// systemd unit started when a modem is plugged in.
    #[arg(long, default_value = udev::DEFAULT_UNIT, value_name = "UNIT")]
    pub unit: String,
    /// Group owning the modems' AT ports (the daemon's user must be in it).
    #[arg(long, default_value = udev::DEFAULT_GROUP, value_name = "GROUP")]
    pub group: String,
}

pub fn run(args: UdevRulesArgs) -> CliResult {
    let opts = RulesOptions {
        unit: args.unit,
        group: args.group,
    };
    let text = udev::generate(&Profile::builtin(), &opts).map_err(CliError::input)?;
    print!("{text}");
    Ok(())
}
