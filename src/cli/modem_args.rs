//! The options that say which modem to open, shared by `send` and `probe`.

use std::time::Duration;

use clap::Args;
use tracing::Instrument;

use super::CliError;

use crate::gateway::{connect, ConnectError, ConnectOptions};
use crate::modem::{Modem, ModemError, ModemEvent};
use crate::profile::Profile;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Debug, Args)]
pub struct ModemArgs {
    /// The modem's AT port (/dev/ttyUSB2, /dev/serial/by-id/..., a pty) or tcp:HOST:PORT.
    #[arg(long, value_name = "PATH")]
    pub device: String,
    /// Hardware profile name, or "auto" (USB id, then the modem's AT+CGMM answer).
    #[arg(long, default_value = "auto")]
    pub profile: String,
    /// SIM PIN, entered only if the SIM asks (never logged). Also $SMSGW_PIN.
    #[arg(long, env = "SMSGW_PIN", hide_env_values = true)]
    pub pin: Option<String>,
}

impl ModemArgs {
    /// Open the modem as [`ModemArgs::connect`], with USSD strings in GSM
    /// 7-bit packed hex when `ussd_packed`.
    pub async fn connect_with(
        &self,
        name: &str,
        registration_timeout: Option<Duration>,
        ussd_packed: bool,
    ) -> Result<(Modem, UnboundedReceiver<ModemEvent>, Profile), CliError> {
        self.open(name, registration_timeout, false, ussd_packed)
            .await
    }
}

impl ModemArgs {
    /// Open the modem under `name`: bad device or profile is bad input (exit
    /// 2), anything the modem does is a runtime failure (exit 1).
    pub async fn connect(
        &self,
        name: &str,
        registration_timeout: Option<Duration>,
        reconnect: bool,
    ) -> Result<(Modem, UnboundedReceiver<ModemEvent>, Profile), CliError> {
        self.open(name, registration_timeout, reconnect, false)
            .await
    }

    async fn open(
        &self,
        name: &str,
        registration_timeout: Option<Duration>,
        reconnect: bool,
        ussd_packed: bool,
    ) -> Result<(Modem, UnboundedReceiver<ModemEvent>, Profile), CliError> {
        let opts = ConnectOptions {
            name: name.to_string(),
            device: self.device.clone(),
            profile: self.profile.clone(),
            pin: self.pin.clone(),
            registration_timeout,
            reconnect,
            ussd_packed,
        };
        let span = tracing::info_span!("modem", name = %name);
        connect(&opts).instrument(span).await.map_err(|e| match e {
            ConnectError::BadDevice { .. } | ConnectError::UnknownProfile { .. } => {
                CliError::input(e)
            }
            ConnectError::Modem(e @ ModemError::NotRegistered { .. }) => CliError::runtime(
                format!("{e}: check the antenna, the SIM's subscription and coverage"),
            ),
            ConnectError::Modem(e) => CliError::runtime(e),
        })
    }
}
