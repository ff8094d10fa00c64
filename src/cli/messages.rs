//! `smsgw messages [--state S] [--since T] [--to NUMBER]`: list messages.

use clap::Args;

use super::db::{parse_time, print_json, show_time, DbArgs};
use super::{CliError, CliResult};
use crate::state::MessageState;
use crate::store::MessageFilter;

#[derive(Debug, Args)]
pub struct MessagesArgs {
    /// Only messages in this state (ACCEPTED, ENROUTE, DELIVRD, EXPIRED,
    /// DELETED, UNDELIV, REJECTD, UNKNOWN).
    #[arg(long, value_parser = parse_state)]
    pub state: Option<MessageState>,
    /// Only messages created at or after this time (unix seconds,
    /// YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only messages to this number (any form: +CC, 00CC, national).
    #[arg(long, value_name = "NUMBER")]
    pub to: Option<String>,
    /// At most this many, newest first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub db: DbArgs,
}

fn parse_state(s: &str) -> Result<MessageState, String> {
    s.parse()
        .map_err(|e: crate::state::UnknownState| e.to_string())
}

pub fn run(args: MessagesArgs) -> CliResult {
    let store = args.db.open_existing()?;
    let rows = store
        .messages(&MessageFilter {
            state: args.state,
            since: args.since,
            to: args.to,
            limit: Some(args.limit),
        })
        .map_err(CliError::runtime)?;
    if args.db.json {
        // The API's shape (GET /v1/messages).
        let list: Vec<_> = rows
            .iter()
            .map(crate::api::views::message_summary)
            .collect();
        return print_json(&serde_json::json!({ "messages": list }));
    }
    println!(
        "{:<8} {:<19} {:<16} {:<8} {:<5} text",
        "id", "created", "to", "state", "parts"
    );
    for m in rows {
        let text: String = m
            .text
            .chars()
            .take(30)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        println!(
            "{:<8} {:<19} {:<16} {:<8} {:<5} {}",
            m.id,
            show_time(Some(m.created_at)),
            m.recipient,
            m.state.as_str(),
            m.parts,
            text
        );
    }
    Ok(())
}
