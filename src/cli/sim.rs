//! `smsgw sim`: run a simulated modem on a pty (or TCP) until interrupted.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, CliResult};
use crate::profile::{Profile, ReportMode as ProfileReportMode};
use crate::sim::{self, OutcomeMix, ReportMode, SimConfig, SimEndpoint, SimModem, UssdReply};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Create a pty and a symlink to it at PATH (open PATH as the modem's
    /// port). Repeat it for several modems in this one process (the n-th
    /// gets seed SEED + n - 1).
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    pub link: Vec<PathBuf>,
    /// Listen on TCP instead, e.g. tcp:127.0.0.1:7000 (one host at a time).
    #[arg(long, value_name = "tcp:HOST:PORT")]
    pub listen: Option<String>,
    /// Dialect of this hardware profile: echo default, +CDS or +CDSI, CNMA need, init commands.
    #[arg(long, default_value = "generic")]
    pub profile: String,
    /// First TP-MR handed out (it wraps after 255).
    #[arg(long, value_name = "MR", default_value_t = 0)]
    pub mr_start: u8,
    /// Delay before every response, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Delay from submit to status report in ms: N or LO-HI (uniform).
    #[arg(long, value_name = "MS|LO-HI", default_value = "200-2000", value_parser = parse_range)]
    pub report_delay_ms: (u64, u64),
    /// Outcome weights, e.g. delivered=90,expired=4,permanent=3,temporary=3
    /// (expired = TP-ST 0x46, permanent = 0x41, temporary = 0x21 then a final 0x00).
    #[arg(long, value_name = "WEIGHTS", default_value = "delivered=1", value_parser = parse_mix)]
    pub outcomes: OutcomeMix,
    /// Recipients ending in SUFFIX always get TP-ST STATUS: SUFFIX=0x41 (repeatable).
    #[arg(long = "force-status", value_name = "SUFFIX=STATUS", value_parser = parse_forced)]
    pub forced: Vec<(String, u8)>,
    /// Probability of refusing an AT+CMGS with +CMS ERROR (see --cms-error-code).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub cms_error_rate: f64,
    /// The +CMS ERROR code of those refusals (332: network timeout).
    #[arg(long, value_name = "CODE", default_value_t = 332)]
    pub cms_error_code: u16,
    /// Probability of a garbage line before a response.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub garbage_rate: f64,
    /// Probability of an unrelated URC (^RSSI) inside a response.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub urc_noise_rate: f64,
    /// Deliver due status reports inside the response of the command in progress.
    #[arg(long)]
    pub urc_mid_response: bool,
    /// The SMSC clock minus the host's, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub clock_offset: i64,
    /// Require this SIM PIN before SMS commands work.
    #[arg(long)]
    pub pin: Option<String>,
    /// Vanish after this many commands (then come back after --replug-after-ms).
    #[arg(long, value_name = "COMMANDS")]
    pub unplug_after: Option<u32>,
    /// How long the modem stays away after --unplug-after, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub replug_after_ms: u64,
    /// A scripted USSD answer, CODE=TEXT (repeatable; replaces a default
    /// one). A code `*101#>1` answers "1" typed in the menu `*101#` opened,
    /// which then expects more. Defaults: *100# (a balance), *101# (a
    /// menu with answers 1 and 2), *102# (a UCS2 answer).
    #[arg(long = "ussd", value_name = "CODE=TEXT", value_parser = parse_ussd)]
    pub ussd: Vec<(String, String)>,
    /// The SIM's serial number, answered to AT+CCID (and ^ICCID, +QCCID).
    #[arg(long, value_name = "DIGITS")]
    pub iccid: Option<String>,
    /// Seed of every random choice (runs with the same seed and input match).
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    pub seed: u64,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{s:?} is not N or LO-HI milliseconds");
    match s.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if lo > hi {
                return Err(format!("{s:?}: LO is above HI"));
            }
            Ok((lo, hi))
        }
        None => {
            let n = s.trim().parse().map_err(|_| bad())?;
            Ok((n, n))
        }
    }
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

fn parse_status(s: &str) -> Result<u8, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u8::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("{s:?} is not a TP-ST byte (0..255 or 0x00..0xFF)"))
}

fn parse_forced(s: &str) -> Result<(String, u8), String> {
    let (suffix, st) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected SUFFIX=STATUS, e.g. 0000=0x41"))?;
    if suffix.is_empty() || !suffix.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{s:?}: the suffix must be digits"));
    }
    Ok((suffix.to_string(), parse_status(st)?))
}

fn parse_ussd(s: &str) -> Result<(String, String), String> {
    let (code, text) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected CODE=TEXT, e.g. *100#=Balance 5.00"))?;
    if code.is_empty() || text.contains('"') {
        return Err(format!(
            "{s:?}: the code must not be empty and the text has no double quote"
        ));
    }
    Ok((code.to_string(), text.to_string()))
}

fn parse_mix(s: &str) -> Result<OutcomeMix, String> {
    let mut mix = OutcomeMix {
        delivered: 0,
        expired: 0,
        permanent: 0,
        temporary: 0,
    };
    for item in s.split(',').filter(|i| !i.trim().is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?}: expected NAME=WEIGHT"))?;
        let w: u32 = v
            .trim()
            .parse()
            .map_err(|_| format!("{item:?}: the weight must be a whole number"))?;
        match k.trim() {
            "delivered" => mix.delivered = w,
            "expired" => mix.expired = w,
            "permanent" => mix.permanent = w,
            "temporary" => mix.temporary = w,
            other => {
                return Err(format!(
                    "unknown outcome {other:?} (delivered, expired, permanent, temporary)"
                ))
            }
        }
    }
    if mix.delivered + mix.expired + mix.permanent + mix.temporary == 0 {
        return Err("all outcome weights are zero".into());
    }
    Ok(mix)
}

/// The simulator configuration of a profile's dialect.
pub fn sim_config_for(profile: &Profile) -> SimConfig {
    SimConfig {
        echo_default: profile.echo_default,
        report_mode: match profile.sms.report_mode {
            ProfileReportMode::Cds => ReportMode::Direct,
            ProfileReportMode::Cdsi => ReportMode::Stored,
        },
        cnma_required: profile.sms.cnma_required,
        extra_ok_commands: profile.init.clone(),
        ussd_packed: profile.sms.ussd_encoding == crate::profile::UssdEncoding::Packed,
        ..SimConfig::default()
    }
}

impl SimArgs {
    /// The simulator configuration these options describe.
    pub fn config(&self) -> Result<SimConfig, CliError> {
        let profile = Profile::by_name(&self.profile).ok_or_else(|| {
            let names: Vec<String> = Profile::builtin().into_iter().map(|p| p.name).collect();
            CliError::input(format!(
                "unknown profile {:?}; known: {}",
                self.profile,
                names.join(", ")
            ))
        })?;
        let base = sim_config_for(&profile);
        let mut ussd = base.ussd.clone();
        for (code, text) in &self.ussd {
            let reply = UssdReply::gsm(text);
            match ussd.iter_mut().find(|(c, _)| c == code) {
                Some((_, r)) => *r = reply,
                None => ussd.push((code.clone(), reply)),
            }
        }
        let mut identity = base.identity.clone();
        if let Some(iccid) = &self.iccid {
            if !(18..=22).contains(&iccid.len()) || !iccid.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::input(format!(
                    "--iccid {iccid:?}: an ICCID is 18 to 22 digits"
                )));
            }
            identity.iccid = iccid.clone();
        }
        Ok(SimConfig {
            mr_start: self.mr_start,
            latency_ms: self.latency_ms,
            report_delay_ms: self.report_delay_ms,
            temporary_followup_ms: self.report_delay_ms.1.max(1000),
            outcomes: self.outcomes,
            forced_status: self.forced.clone(),
            cms_error_rate: self.cms_error_rate,
            cms_error_code: self.cms_error_code,
            garbage_rate: self.garbage_rate,
            urc_noise_rate: self.urc_noise_rate,
            urc_mid_response: self.urc_mid_response,
            seed: self.seed,
            smsc_clock_offset_s: self.clock_offset,
            pin: self.pin.clone(),
            unplug_after_commands: self.unplug_after,
            replug_after_ms: self.replug_after_ms,
            ussd,
            identity,
            // As the modem family numbers its storage (most from 1).
            first_index: u32::from(!profile.has_quirk(crate::profile::Quirk::SmsLocation0)),
            ..base
        })
    }
}

pub fn run(args: SimArgs) -> CliResult {
    let cfg = args.config()?;
    let endpoints: Vec<SimEndpoint> =
        match (args.link.is_empty(), &args.listen) {
            (false, None) => args.link.iter().cloned().map(SimEndpoint::Pty).collect(),
            (true, Some(listen)) => {
                let addr = listen.strip_prefix("tcp:").ok_or_else(|| {
                    CliError::input(format!("--listen {listen:?}: expected tcp:HOST:PORT"))
                })?;
                vec![SimEndpoint::Tcp(addr.to_string())]
            }
            _ => return Err(CliError::input(
                "give --link PATH (a pty; repeat it for several modems) or --listen tcp:HOST:PORT",
            )),
        };
    // One serial line, one thread: no hand-offs between workers on the way
    // from a command to its answer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    rt.block_on(async move {
        let mut handles = Vec::new();
        for (i, endpoint) in endpoints.into_iter().enumerate() {
            let cfg = SimConfig {
                seed: cfg.seed.wrapping_add(i as u64),
                ..cfg.clone()
            };
            let handle = sim::spawn(SimModem::new(cfg), endpoint)
                .await
                .map_err(|e| CliError::runtime(format!("cannot start the simulated modem: {e}")))?;
            say(format_args!(
                "simulated modem ({} dialect) at {}",
                args.profile,
                handle.device()
            ));
            handles.push(handle);
        }
        say(format_args!("stop with Ctrl-C"));
        wait_for_signal().await;
        let n: usize = handles.iter().map(|h| h.submits().len()).sum();
        for h in &handles {
            h.stop();
        }
        // Give the drivers a moment to remove the links.
        tokio::time::sleep(Duration::from_millis(50)).await;
        say(format_args!("stopped after {n} submitted part(s)"));
        Ok(())
    })
}

/// A line on stdout; a closed stdout (the reader went away) is not an
/// error worth dying for: the simulator keeps serving its modem.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_parsers() {
        assert_eq!(parse_range("200-2000").unwrap(), (200, 2000));
        assert_eq!(parse_range("5").unwrap(), (5, 5));
        assert!(parse_range("9-1").is_err());
        assert_eq!(
            parse_forced("0000=0x41").unwrap(),
            ("0000".to_string(), 0x41)
        );
        assert!(parse_forced("abc=1").is_err());
        let m = parse_mix("delivered=90,expired=10").unwrap();
        assert_eq!((m.delivered, m.expired, m.permanent), (90, 10, 0));
        assert!(parse_mix("lost=1").is_err());
        assert!(parse_mix("delivered=0").is_err());
        assert!(parse_probability("1.5").is_err());
        assert_eq!(
            parse_ussd("*100#=Balance 1.00").unwrap(),
            ("*100#".to_string(), "Balance 1.00".to_string())
        );
        assert!(parse_ussd("*100#").is_err());
        assert!(parse_ussd("=x").is_err());
    }
}
