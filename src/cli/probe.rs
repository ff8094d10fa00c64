//! `smsgw probe --device PATH`: identify a modem, pick its profile, and
//! print identity, SIM, registration, operator, signal and SMSC.

use std::time::Duration;

use clap::Args;

use super::{CliError, CliResult};
use crate::gateway::{connect, ConnectError, ConnectOptions};
use crate::modem::ModemError;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The modem's AT port (/dev/ttyUSB2, /dev/serial/by-id/..., a pty) or tcp:HOST:PORT.
    #[arg(long, value_name = "PATH")]
    pub device: String,
    /// Hardware profile name, or "auto".
    #[arg(long, default_value = "auto")]
    pub profile: String,
    /// SIM PIN, entered only if the SIM asks (never logged). Also $SMSGW_PIN.
    #[arg(long, env = "SMSGW_PIN", hide_env_values = true)]
    pub pin: Option<String>,
    /// Seconds to wait for network registration.
    #[arg(long, default_value_t = 30)]
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
        let opts = ConnectOptions {
            name: "probe".into(),
            device: args.device.clone(),
            profile: args.profile.clone(),
            pin: args.pin.clone(),
            registration_timeout: Some(Duration::from_secs(args.registration_timeout)),
            reconnect: false,
        };
        let (modem, _events, profile) = connect(&opts).await.map_err(|e| match e {
            ConnectError::BadDevice { .. } | ConnectError::UnknownProfile { .. } => CliError::input(e),
            ConnectError::Modem(e @ ModemError::NotRegistered { .. }) => {
                CliError::runtime(format!("{e}: check the antenna, the SIM's subscription and coverage"))
            }
            ConnectError::Modem(e) => CliError::runtime(e),
        })?;
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
