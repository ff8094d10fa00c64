//! `smsgw probe --device PATH`: identify a modem, pick its profile, and
//! print identity, SIM, registration, operator, signal and SMSC.

use std::time::Duration;

use clap::Args;

use super::modem_args::ModemArgs;
use super::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub modem: ModemArgs,
    /// Seconds to wait for network registration.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub registration_timeout: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn registration_text(stat: Option<u8>) -> &'static str {
    match stat {
        Some(1) => "registered, home network",
        Some(5) => "registered, roaming",
        Some(2) => "searching",
        Some(3) => "registration denied",
        Some(0) => "not registered, not searching",
        _ => "unknown",
    }
}

pub fn run(args: ProbeArgs) -> CliResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    rt.block_on(async move {
        let (modem, _events, profile) =
            args.modem.connect("probe", Some(Duration::from_secs(args.registration_timeout)), false).await?;
        let info = modem.info().ok_or_else(|| CliError::runtime("the modem said nothing about itself"))?;
        if args.json {
            let v = serde_json::json!({
                "profile": profile.name,
                "info": info,
                "sim": "READY",
                "registration": registration_text(info.registration),
                "signal_dbm": info.signal_rssi.filter(|&r| r <= 31).map(|r| -113 + 2 * i32::from(r)),
            });
            println!("{v}");
            return Ok(());
        }
        let show = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        println!("device        {}", info.device);
        println!("profile       {} ({})", profile.name, profile.description);
        println!("manufacturer  {}", show(&info.manufacturer));
        println!("model         {}", show(&info.model));
        println!("revision      {}", show(&info.revision));
        println!("IMEI          {}", show(&info.imei));
        println!("IMSI          {}", show(&info.imsi));
        println!("SIM           READY");
        println!("registration  {}", registration_text(info.registration));
        println!("operator      {}", show(&info.operator));
        match info.signal_rssi {
            Some(r) if r <= 31 => println!("signal        {r}/31 ({} dBm)", -113 + 2 * i32::from(r)),
            _ => println!("signal        unknown"),
        }
        println!("SMSC          {}", show(&info.smsc));
        Ok(())
    })
}
