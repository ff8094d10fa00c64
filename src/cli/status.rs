//! `smsgw status ID`: a message with its parts, reports, events and receipt.

use clap::Args;

use super::db::{print_json, show_time, DbArgs};
use super::{CliError, CliResult};
use crate::store::{MessageId, StoreError};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Message id.
    pub id: i64,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(args: StatusArgs) -> CliResult {
    let store = args.db.open_existing()?;
    let v = store.message(MessageId(args.id)).map_err(|e| match e {
        StoreError::NoMessage(_) => CliError::input(e),
        e => CliError::runtime(e),
    })?;
    if args.db.json {
        // The API's shape (GET /v1/messages/{id}).
        return print_json(&crate::api::views::message_detail(&v));
    }
    let m = &v.message;
    println!(
        "message {}  to {}  {}  ({} part{})",
        m.id,
        m.recipient,
        m.state,
        m.parts,
        if m.parts == 1 { "" } else { "s" }
    );
    println!(
        "created {}  done {}",
        show_time(Some(m.created_at)),
        show_time(m.done_at)
    );
    println!();
    println!(
        "{:<4} {:<8} {:<8} {:<4} {:<19} {:<6} error",
        "part", "state", "modem", "MR", "submitted", "TP-ST"
    );
    for p in &v.parts {
        println!(
            "{:<4} {:<8} {:<8} {:<4} {:<19} {:<6} {}",
            p.seq,
            p.state.as_str(),
            p.modem.as_deref().unwrap_or("-"),
            p.mr.map_or("-".to_string(), |m| m.to_string()),
            show_time(p.submitted_at),
            p.tp_status
                .map_or("-".to_string(), |s| format!("0x{s:02X}")),
            p.error.as_deref().unwrap_or("")
        );
    }
    if !v.reports.is_empty() {
        println!();
        println!(
            "{:<6} {:<19} {:<10} {:<6} part",
            "report", "received", "match", "TP-ST"
        );
        for r in &v.reports {
            println!(
                "{:<6} {:<19} {:<10} 0x{:02X}   {}",
                r.id,
                show_time(Some(r.received_at)),
                r.result,
                r.tp_status,
                r.part_id.map_or("-".to_string(), |p| p.to_string())
            );
        }
    }
    println!();
    for e in &v.events {
        let part = e
            .part_id
            .map_or("message".to_string(), |p| format!("part {p}"));
        println!(
            "{}  {:<10} {:<8} {}",
            show_time(Some(e.at)),
            part,
            e.state.as_str(),
            e.reason
        );
    }
    println!();
    for r in &v.receipts {
        println!("{r}");
    }
    Ok(())
}
