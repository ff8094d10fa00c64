//! `smsgw states`: the TP-ST table (every status byte to its message state).

use clap::Args;

use super::CliResult;
use crate::pdu::status::TpStatus;
use crate::state::outcome;

#[derive(Debug, Args)]
pub struct StatesArgs {
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this TP-ST byte (decimal or 0x-prefixed hex).
    #[arg(value_parser = parse_byte)]
    pub status: Option<u8>,
}

fn parse_byte(s: &str) -> Result<u8, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => s.parse::<u8>(),
    };
    r.map_err(|_| format!("{s:?} is not a TP-ST byte (0..255 or 0x00..0xFF)"))
}

pub fn run(args: StatesArgs) -> CliResult {
    let bytes: Vec<u8> = match args.status {
        Some(b) => vec![b],
        None => (0..=255u8).collect(),
    };
    if args.json {
        let rows: Vec<serde_json::Value> = bytes
            .iter()
            .map(|&b| {
                let o = outcome(TpStatus(b));
                serde_json::json!({
                    "status": b,
                    "state": o.state.as_str(),
                    "final": o.is_final,
                    "permanent": o.permanent,
                    "group": o.status.group().as_str(),
                    "description": o.description,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!(
            "{:<6} {:<9} {:<6} {:<10} description",
            "TP-ST", "state", "final", "permanent"
        );
        for b in bytes {
            let o = outcome(TpStatus(b));
            println!(
                "0x{:02X}   {:<9} {:<6} {:<10} {}",
                b,
                o.state.as_str(),
                o.is_final,
                o.permanent,
                o.description
            );
        }
    }
    Ok(())
}
