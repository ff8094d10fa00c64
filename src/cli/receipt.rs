//! `smsgw receipt ID`: the SMPP-style receipt lines of a message.

use clap::Args;

use super::db::{print_json, DbArgs};
use super::{CliError, CliResult};
use crate::store::{MessageId, StoreError};

#[derive(Debug, Args)]
pub struct ReceiptArgs {
    /// Message id.
    pub id: i64,
    /// Also print one receipt per part (`<message>.<part>`).
    #[arg(long)]
    pub parts: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(args: ReceiptArgs) -> CliResult {
    let store = args.db.open_existing()?;
    let v = store.message(MessageId(args.id)).map_err(|e| match e {
        StoreError::NoMessage(_) => CliError::input(e),
        e => CliError::runtime(e),
    })?;
    let lines: Vec<&String> = if args.parts {
        v.receipts.iter().collect()
    } else {
        v.receipts.iter().take(1).collect()
    };
    if args.db.json {
        return print_json(&lines);
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
