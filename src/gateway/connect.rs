//! Opening a modem with the right hardware profile: the named one, or found
//! by USB id, or by the modem's own AT+CGMI/AT+CGMM answers.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::modem::transport::Endpoint;
use crate::modem::{Modem, ModemError, ModemEvent, SessionConfig};
use crate::profile::Profile;

/// How to open one modem.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub name: String,
    /// A device path (or `tcp:HOST:PORT`).
    pub device: String,
    /// A profile name, or `auto`.
    pub profile: String,
    pub pin: Option<String>,
    pub registration_timeout: Option<Duration>,
    /// Let the session reopen the port by itself after an unplug.
    pub reconnect: bool,
    /// USSD strings as GSM 7-bit packed hex ([`SessionConfig::ussd_packed`])
    /// even if the profile says text.
    pub ussd_packed: bool,
}

/// Why a modem could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad device {device:?}: {reason}")]
    BadDevice { device: String, reason: String },
    #[error("unknown profile {name:?}; known: auto, {known}")]
    UnknownProfile { name: String, known: String },
    #[error(transparent)]
    Modem(#[from] ModemError),
}

/// Start a session with the right profile. With `auto`, the USB id decides
/// when the device is a USB tty; otherwise the session starts with the
/// conservative generic profile, and restarts with a better one when the
/// modem's identity matches one.
pub async fn connect(
    opts: &ConnectOptions,
) -> Result<(Modem, UnboundedReceiver<ModemEvent>, Profile), ConnectError> {
    let endpoint = Endpoint::parse(&opts.device).map_err(|reason| ConnectError::BadDevice {
        device: opts.device.clone(),
        reason,
    })?;
    let explicit = if opts.profile == "auto" {
        // Listing ports reads sysfs: on the blocking pool.
        let device = opts.device.clone();
        tokio::task::spawn_blocking(move || usb_profile(&device))
            .await
            .ok()
            .flatten()
    } else {
        Some(Profile::by_name(&opts.profile).ok_or_else(|| {
            ConnectError::UnknownProfile {
                name: opts.profile.clone(),
                known: Profile::builtin()
                    .into_iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?)
    };
    // for_identity of nothing is the generic profile.
    let first = explicit
        .clone()
        .unwrap_or_else(|| Profile::for_identity("", ""));
    let (modem, events) = start_with(opts, endpoint.clone(), &first).await?;
    if explicit.is_some() {
        return Ok((modem, events, first));
    }
    let info = modem.info();
    let field = |f: fn(&crate::modem::ModemInfo) -> Option<&str>| {
        info.as_ref().and_then(f).unwrap_or("").to_string()
    };
    let best = Profile::for_identity(
        &field(|i| i.manufacturer.as_deref()),
        &field(|i| i.model.as_deref()),
    );
    if best.name == first.name {
        return Ok((modem, events, first));
    }
    tracing::info!(
        "identified as {}: restarting the session with that profile",
        best.name
    );
    drop(modem);
    drop(events);
    let (modem, events) = start_with(opts, endpoint, &best).await?;
    Ok((modem, events, best))
}

async fn start_with(
    opts: &ConnectOptions,
    endpoint: Endpoint,
    profile: &Profile,
) -> Result<(Modem, UnboundedReceiver<ModemEvent>), ModemError> {
    let mut cfg = SessionConfig::from_profile(&opts.name, endpoint, profile);
    cfg.pin = opts.pin.clone();
    cfg.reconnect = opts.reconnect;
    // The profile's encoding, unless the caller knows this modem packs.
    cfg.ussd_packed |= opts.ussd_packed;
    if let Some(t) = opts.registration_timeout {
        cfg.registration_timeout = t;
    }
    // A session that just ended may still hold the port for a moment.
    let mut last = None;
    for _ in 0..20 {
        match Modem::start(cfg.clone()).await {
            Ok(ok) => return Ok(ok),
            Err(e @ ModemError::Open { .. }) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(ModemError::Closed))
}

/// The profile of the USB device behind `device`, by its VID:PID in sysfs.
pub fn usb_profile(device: &str) -> Option<Profile> {
    let wanted = std::fs::canonicalize(device).ok()?;
    let ports = serialport::available_ports().ok()?;
    for p in ports {
        if std::fs::canonicalize(&p.port_name).ok().as_deref() != Some(wanted.as_path()) {
            continue;
        }
        if let serialport::SerialPortType::UsbPort(usb) = p.port_type {
            return Profile::for_usb(usb.vid, usb.pid);
        }
    }
    None
}
