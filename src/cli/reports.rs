//! `smsgw reports [--orphans|--ambiguous]`: status reports as received.

use clap::Args;

use super::db::{print_json, show_time, DbArgs};
use super::{CliError, CliResult};
use crate::store::ReportFilter;

#[derive(Debug, Args)]
pub struct ReportsArgs {
    /// Only orphans (no part matched yet; retried at start).
    #[arg(long, conflicts_with = "ambiguous")]
    pub orphans: bool,
    /// Only ambiguous reports (several parts fitted; attached to none).
    #[arg(long)]
    pub ambiguous: bool,
    /// At most this many, newest first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(args: ReportsArgs) -> CliResult {
    let filter = if args.orphans {
        ReportFilter::Orphans
    } else if args.ambiguous {
        ReportFilter::Ambiguous
    } else {
        ReportFilter::All
    };
    let store = args.db.open_existing()?;
    let rows = store
        .reports(filter, Some(args.limit))
        .map_err(CliError::runtime)?;
    if args.db.json {
        // A report as in the API's message detail, plus its message.
        let list = rows
            .iter()
            .map(|r| crate::api::views::report_entry(&store, r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CliError::runtime)?;
        return print_json(&serde_json::json!({ "reports": list }));
    }
    println!(
        "{:<6} {:<19} {:<8} {:<16} {:<4} {:<6} {:<10} part",
        "id", "received", "modem", "TP-RA", "MR", "TP-ST", "match"
    );
    for r in rows {
        let part = match (r.part_id, r.candidates.is_empty()) {
            (Some(p), _) => p.to_string(),
            (None, false) => format!(
                "one of {}",
                r.candidates
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (None, true) => "-".to_string(),
        };
        println!(
            "{:<6} {:<19} {:<8} {:<16} {:<4} 0x{:02X}   {:<10} {}",
            r.id,
            show_time(Some(r.received_at)),
            r.modem,
            r.recipient,
            r.mr,
            r.tp_status,
            r.result,
            part
        );
    }
    Ok(())
}
