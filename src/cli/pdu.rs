//! `smsgw pdu decode|encode`: the codec from the command line.
//!
//! `decode` prints one JSON object (fields: see `smsgw::pdu::json`); `encode`
//! prints one line per part, `<tpdu-length> <hex>`, the hex with its SMSC
//! prefix (`00` without `--smsc`). Malformed input exits 2.

use clap::{Args, Subcommand};

use super::{CliError, CliResult};
use crate::pdu::{
    self, encode_submit, hex, json, Address, ConcatRef, SubmitOptions, Tpdu, Validity,
};

#[derive(Debug, Args)]
pub struct PduArgs {
    #[command(subcommand)]
    pub command: PduCommand,
}

#[derive(Debug, Subcommand)]
pub enum PduCommand {
    /// Decode a PDU given in hex and print it as one JSON object.
    Decode {
        /// The hex is a bare TPDU (no SMSC address in front).
        #[arg(long)]
        no_smsc: bool,
        /// The PDU in hex, as +CMGR/+CMT/+CDS print it (SMSC address first).
        hex: String,
    },
    /// Encode a text as SMS-SUBMIT PDUs: one line per part, `<tpdu-length> <hex>`.
    Encode(EncodeArgs),
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Recipient: +CCNNN... (international) or a national number.
    #[arg(long)]
    pub to: String,
    /// The message text.
    #[arg(long)]
    pub text: String,
    /// Ask for a status report (TP-SRR).
    #[arg(long)]
    pub report: bool,
    /// Relative validity period: a number with m, h, d or w (`90m`, `12h`, `1d`, `2w`).
    #[arg(long, value_parser = parse_validity)]
    pub validity: Option<Validity>,
    /// Use UCS2 even when the GSM 7-bit alphabet would do.
    #[arg(long)]
    pub ucs2: bool,
    /// Class 0 ("flash") message.
    #[arg(long)]
    pub flash: bool,
    /// SMSC number to put in front (default: `00`, the modem's own).
    #[arg(long)]
    pub smsc: Option<String>,
    /// Concatenation reference (0..=255 uses an 8-bit IEI, above a 16-bit one).
    #[arg(long, default_value_t = 0)]
    pub concat_ref: u16,
}

/// Parses `90m`, `12h`, `1d`, `2w` into the smallest relative TP-VP that lasts that long.
pub fn parse_validity(s: &str) -> Result<Validity, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u32 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (90m, 12h, 1d, 2w)"))?;
    let per = match unit {
        "m" | "min" => 1,
        "h" => 60,
        "d" => 1440,
        "w" => 10080,
        _ => return Err(format!("{s:?}: unit must be m, h, d or w")),
    };
    let minutes = n
        .checked_mul(per)
        .filter(|&m| m > 0)
        .ok_or_else(|| format!("{s:?}: validity must be above zero"))?;
    Validity::relative_from_minutes(minutes)
        .map(Validity::Relative)
        .ok_or_else(|| format!("{s:?}: longer than the 63 weeks a relative TP-VP allows"))
}

pub fn run(args: PduArgs) -> CliResult {
    match args.command {
        PduCommand::Decode { no_smsc, hex } => decode(&hex, no_smsc),
        PduCommand::Encode(a) => encode(a),
    }
}

fn decode(text: &str, no_smsc: bool) -> CliResult {
    let bytes = hex::decode(text).map_err(CliError::input)?;
    let (smsc, tpdu) = if no_smsc {
        (None, Tpdu::parse(&bytes).map_err(CliError::input)?)
    } else {
        pdu::parse_with_smsc(&bytes).map_err(CliError::input)?
    };
    println!("{}", json::to_json(smsc.as_ref(), &tpdu));
    Ok(())
}

fn encode(a: EncodeArgs) -> CliResult {
    let to = Address::parse_number(&a.to).map_err(CliError::input)?;
    let smsc = a
        .smsc
        .as_deref()
        .map(Address::parse_number)
        .transpose()
        .map_err(CliError::input)?;
    let opts = SubmitOptions {
        status_report: a.report,
        validity: a.validity.unwrap_or_default(),
        force_ucs2: a.ucs2,
        flash: a.flash,
        smsc,
        concat_ref: ConcatRef::from_value(a.concat_ref),
        ..Default::default()
    };
    let parts = encode_submit(&to, &a.text, &opts).map_err(CliError::input)?;
    let mut out = String::new();
    for p in &parts {
        out.push_str(&format!("{} {}\n", p.tpdu_len, p.hex()));
    }
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_units() {
        assert_eq!(parse_validity("90m"), Ok(Validity::Relative(17)));
        assert_eq!(parse_validity("1d"), Ok(Validity::Relative(167)));
        assert_eq!(parse_validity("2w"), Ok(Validity::Relative(180)));
        assert_eq!(parse_validity("5w"), Ok(Validity::Relative(197)));
        assert!(parse_validity("0m").is_err());
        assert!(parse_validity("64w").is_err());
        assert!(parse_validity("1y").is_err());
        assert!(parse_validity("d").is_err());
    }
}
