//! `smsgw pdu decode|encode`: the codec from the command line.
//!
//! `decode` prints one JSON object (fields: see `smsgw::pdu::json`); `encode`
//! prints one line per part, `<tpdu-length> <hex>`, the hex with its SMSC
//! prefix (`00` without `--smsc`). Malformed input exits 2.

use clap::{Args, Subcommand};

use super::{CliError, CliResult};
use crate::pdu::validity::parse_validity;
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
    /// A text that starts with a dash is taken as the text (`--text -5`).
    #[arg(long, allow_hyphen_values = true)]
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
