//! `smsgw ussd --device PATH --code "*100#"`: ask the network a USSD code
//! (a balance, a menu) and print its answer as text. `--reply` answers the
//! menu the previous answer opened, step by step.

use std::time::Duration;

use clap::Args;

use super::modem_args::ModemArgs;
use super::{CliError, CliResult};
use crate::modem::ussd::{request_command, UssdAnswer};

#[derive(Debug, Args)]
pub struct UssdArgs {
    #[command(flatten)]
    pub modem: ModemArgs,
    /// The USSD code, e.g. "*100#".
    #[arg(long, value_name = "CODE")]
    pub code: String,
    /// Answer the menu the previous answer opened (repeat for each step).
    #[arg(long, value_name = "TEXT")]
    pub reply: Vec<String>,
    /// Seconds to wait for each answer of the network.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// The modem hands USSD strings over as GSM 7-bit packed hex (some
    /// Huawei and ZTE firmwares: the answer otherwise prints as hex).
    #[arg(long)]
    pub packed: bool,
    /// Seconds to wait for network registration.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub registration_timeout: u64,
    /// Print one JSON object per answer.
    #[arg(long)]
    pub json: bool,
}

fn show(a: &UssdAnswer, json: bool) {
    if json {
        let v = serde_json::json!({
            "status": a.status,
            "status_text": a.status_text(),
            "text": a.text,
            "dcs": a.dcs,
        });
        println!("{v}");
        return;
    }
    if let Some(t) = &a.text {
        println!("{t}");
    }
    if a.status != 0 {
        println!("({})", a.status_text());
    }
}

pub fn run(args: UssdArgs) -> CliResult {
    // Bad input is refused before the modem is opened.
    for r in std::iter::once(&args.code).chain(&args.reply) {
        request_command(r, args.packed).map_err(CliError::input)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    rt.block_on(async move {
        let reg = Some(Duration::from_secs(args.registration_timeout));
        let (modem, _events, _profile) = args.modem.connect_with("ussd", reg, args.packed).await?;
        let timeout = Duration::from_secs(args.timeout);
        let mut last = modem
            .ussd(&args.code, timeout)
            .await
            .map_err(|e| CliError::runtime(format!("{}: {e}", args.code)))?;
        show(&last, args.json);
        for r in &args.reply {
            if !last.more_expected() {
                return Err(CliError::runtime(format!(
                    "the network expects no answer ({}); --reply {r:?} not sent",
                    last.status_text()
                )));
            }
            last = modem
                .ussd(r, timeout)
                .await
                .map_err(|e| CliError::runtime(format!("{r}: {e}")))?;
            show(&last, args.json);
        }
        if last.more_expected() {
            // Leave no menu open on the network side.
            let _ = modem.command("AT+CUSD=2", Duration::from_secs(5)).await;
        }
        match last.status {
            0 | 1 => Ok(()),
            _ => Err(CliError::runtime(format!(
                "USSD {}: {}",
                args.code,
                last.status_text()
            ))),
        }
    })
}
