//! `smsgw collisions`: parts sent while another part was still pending
//! under the same (modem, number, TP-MR).

use clap::Args;

use super::db::{print_json, show_time, DbArgs};
use super::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct CollisionsArgs {
    /// At most this many, newest first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(args: CollisionsArgs) -> CliResult {
    let store = args.db.open_existing()?;
    if args.db.json {
        // The API's shape (GET /v1/collisions).
        let list = crate::api::views::collisions(&store, args.limit).map_err(CliError::runtime)?;
        return print_json(&serde_json::json!({ "collisions": list }));
    }
    let rows = store
        .collisions(Some(args.limit))
        .map_err(CliError::runtime)?;
    println!(
        "{:<6} {:<19} {:<8} {:<4} {:<16} {:<8} pending part",
        "id", "at", "modem", "MR", "to", "new part"
    );
    for c in rows {
        println!(
            "{:<6} {:<19} {:<8} {:<4} {:<16} {:<8} {}",
            c.id,
            show_time(Some(c.at)),
            c.modem,
            c.mr,
            c.recipient,
            c.new_part,
            c.pending_part
        );
    }
    Ok(())
}
