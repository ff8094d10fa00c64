//! `smsgw serve`: the daemon. Modems from the config (or simulated ones),
//! the durable queue, the HTTP API and webhooks, until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::sim::{sim_config_for, wait_for_signal};
use super::{CliError, CliResult};
use crate::config::{Config, ModemConfig};
use crate::gateway::worker::{self, WorkerConfig};
use crate::gateway::{daemon::housekeeping, Gateway, ResendUnknown};
use crate::profile::Profile;
use crate::sim::{self, SimEndpoint, SimHandle, SimModem};
use crate::store::{default_path, unix_now, Store};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (see smsgw.example.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Also start N simulated modems on ptys (sim0..) and use them.
    #[arg(long, value_name = "N")]
    pub simulate: Option<u8>,
    /// Use this database file (overrides [store] path).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// With --simulate: also serve SMPP on this address (IP:PORT), with one
    /// account smsgw / smsgw (overrides [smpp] listen).
    #[arg(long, value_name = "ADDR", requires = "simulate")]
    pub smpp_listen: Option<String>,
}

/// The SMPP account of `serve --simulate N --smpp-listen ADDR` when the
/// configuration has none (a local try-out).
pub const TRY_OUT_SMPP: (&str, &str) = ("smsgw", "smsgw");

/// The API token of `serve --simulate` without a config file (a local
/// try-out: it listens on 127.0.0.1 only).
pub const TRY_OUT_TOKEN: &str = "smsgw-demo";

pub fn run(args: ServeArgs) -> CliResult {
    let mut config = match &args.config {
        Some(p) => Config::load(p).map_err(CliError::input)?,
        None if args.simulate.is_some() => {
            let mut c = Config::default();
            c.http.tokens = vec![TRY_OUT_TOKEN.to_string()];
            eprintln!(
                "no --config: HTTP API on {} with token {TRY_OUT_TOKEN}",
                c.http.listen
            );
            c
        }
        None => {
            return Err(CliError::input(
                "give --config PATH (or --simulate N to try it with simulated modems)",
            ))
        }
    };
    if let Some(db) = &args.db {
        config.store.path = Some(db.clone());
    }
    if let Some(addr) = &args.smpp_listen {
        try_out_smpp(&mut config, addr)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    rt.block_on(async move {
        // The port first: one in use is an error at once, before anything
        // is started or announced.
        let listener = crate::api::bind(&config.http)
            .await
            .map_err(CliError::runtime)?;
        let smpp_listener = match &config.smpp {
            Some(s) => Some(
                crate::smpp::serve::bind(s)
                    .await
                    .map_err(CliError::runtime)?,
            ),
            None => None,
        };
        let dir = tempfile::Builder::new()
            .prefix("smsgw-sim-")
            .tempdir()
            .map_err(CliError::runtime)?;
        let sims = start_simulators(&mut config, args.simulate.unwrap_or(0), dir.path()).await?;
        if config.modems.is_empty() {
            return Err(CliError::input(
                "no [[modem]] configured: nothing to send with",
            ));
        }
        let served = serve_on(config, listener, smpp_listener).await;
        for s in sims {
            s.stop();
        }
        served
    })
}

/// `--smpp-listen ADDR`: serve SMPP there; with no account configured, one
/// account smsgw / smsgw that also takes incoming SMS.
fn try_out_smpp(config: &mut Config, addr: &str) -> Result<(), CliError> {
    if addr.parse::<std::net::SocketAddr>().is_err() {
        return Err(CliError::input(format!(
            "--smpp-listen {addr:?}: not an IP address with a port (127.0.0.1:2775)"
        )));
    }
    let smpp = config
        .smpp
        .get_or_insert_with(|| crate::config::SmppConfig {
            listen: addr.to_string(),
            window: 64,
            enquire_link_s: 30,
            receipt_retention_h: 72,
            accounts: Vec::new(),
        });
    smpp.listen = addr.to_string();
    if smpp.accounts.is_empty() {
        let (id, pw) = TRY_OUT_SMPP;
        smpp.accounts.push(crate::config::SmppAccountConfig {
            system_id: id.to_string(),
            password: pw.to_string(),
            throughput: None,
            allowed_ips: Vec::new(),
            receive_mo: true,
            message_id: crate::config::SmppIdFormat::Decimal,
        });
        eprintln!("SMPP on {addr}: system_id {id}, password {pw}");
    }
    Ok(())
}

async fn start_simulators(
    config: &mut Config,
    n: u8,
    dir: &std::path::Path,
) -> Result<Vec<SimHandle>, CliError> {
    let mut sims = Vec::new();
    for i in 0..n {
        let dialect = if i % 2 == 0 {
            "quectel-ec2x"
        } else {
            "huawei-e173"
        };
        let profile = Profile::by_name(dialect)
            .ok_or_else(|| CliError::runtime(format!("profile {dialect} missing")))?;
        let cfg = sim::SimConfig {
            report_delay_ms: (200, 2_000),
            seed: u64::from(i) + 1,
            ..sim_config_for(&profile)
        };
        let link = dir.join(format!("sim{i}"));
        let h = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
            .await
            .map_err(CliError::runtime)?;
        eprintln!("simulated modem sim{i} ({dialect}) at {}", link.display());
        config.modems.push(ModemConfig {
            name: format!("sim{i}"),
            device: link.display().to_string(),
            profile: dialect.to_string(),
            pin: None,
            rate_per_minute: None,
            prefixes: Vec::new(),
        });
        sims.push(h);
    }
    Ok(sims)
}

/// Run the daemon on a loaded configuration, on the API's listener already
/// bound, until a signal comes (or the store stops for good: then an error,
/// for the service manager to restart it).
pub async fn serve_on(
    mut config: Config,
    listener: tokio::net::TcpListener,
    smpp_listener: Option<tokio::net::TcpListener>,
) -> CliResult {
    config.http.max_connections =
        crate::api::server::fit_connections_to_descriptors(config.http.max_connections);
    let path = match &config.store.path {
        Some(p) => p.clone(),
        None => default_path().map_err(CliError::runtime)?,
    };
    let mut store = Store::open(&path, config.router_config()).map_err(CliError::runtime)?;
    // Refuse to start on a database that cannot be written (every request
    // would fail while /healthz said ok).
    store.check_writable().map_err(CliError::runtime)?;
    store.set_webhooks(config.webhook.is_some());
    let settings = config.gateway_settings();
    let recovered = store
        .recover_in_flight(settings.resend_unknown == ResendUnknown::Always, unix_now())
        .map_err(CliError::runtime)?;
    if !recovered.is_empty() {
        let what = match settings.resend_unknown {
            ResendUnknown::Always => "queued again (resend_unknown = true)",
            ResendUnknown::IfNoReport => {
                "marked UNKNOWN; resent if no report comes in time \
                 (resend_unknown = \"if-no-report\")"
            }
            ResendUnknown::Never => "marked UNKNOWN, not resent",
        };
        tracing::warn!(
            "{} part(s) were being sent when the daemon stopped: {what}",
            recovered.len()
        );
    }
    let names: Vec<(String, String)> = config
        .modems
        .iter()
        .map(|m| (m.name.clone(), m.device.clone()))
        .collect();
    let gw = Gateway::new(store, settings, &names);
    for m in &config.modems {
        gw.set_prefixes(&m.name, &m.prefixes);
    }
    let mut tasks = Vec::new();
    for m in &config.modems {
        let cfg = WorkerConfig {
            name: m.name.clone(),
            device: m.device.clone(),
            profile: m.profile.clone(),
            pin: m.pin.clone(),
            rate_per_minute: m.rate_per_minute,
            prefixes: m.prefixes.clone(),
            rescan: Duration::from_secs(2),
        };
        tasks.push(tokio::spawn(worker::run(gw.clone(), cfg)));
    }
    tasks.push(tokio::spawn(housekeeping(
        gw.clone(),
        Duration::from_secs(10),
    )));
    let smpp = match (&config.smpp, smpp_listener) {
        (Some(cfg), Some(l)) => {
            let at = l
                .local_addr()
                .map_or_else(|_| cfg.listen.clone(), |a| a.to_string());
            let (backend, task) = crate::smpp::serve::start(&gw, cfg, l);
            tasks.push(task);
            tasks.push(tokio::spawn(backend.housekeeping(Duration::from_secs(60))));
            Some(at)
        }
        _ => None,
    };
    if let Some(wh) = config.webhook.clone() {
        tasks.push(tokio::spawn(crate::webhook::run(
            gw.clone(),
            wh,
            gw.shutdown_signal(),
        )));
    }
    let listening = listener
        .local_addr()
        .map_or_else(|_| config.http.listen.clone(), |a| a.to_string());
    let api = {
        let gw = gw.clone();
        let http = config.http.clone();
        // Subscribed here, not in the task: a shutdown before the task first
        // runs is still seen.
        let stop = gw.shutdown_signal();
        tokio::spawn(async move { crate::api::serve_on(listener, gw, &http, stop).await })
    };
    eprintln!(
        "smsgw serving on http://{listening} with {} modem(s); database {}",
        names.len(),
        path.display()
    );
    if let Some(addr) = smpp {
        eprintln!("SMPP listening on {addr}");
    }
    let failure = tokio::select! {
        _ = wait_for_signal() => {
            eprintln!("smsgw: stopping (finishing the parts in flight)");
            None
        }
        r = api => Some(match r {
            Ok(Ok(())) => "the HTTP API stopped".to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the HTTP API failed: {e}"),
        }),
        why = gw.store_stopped() => {
            eprintln!("smsgw: the store has stopped ({why}): exiting for a restart");
            Some(format!("the store has stopped: {why}"))
        }
    };
    gw.shutdown();
    // One deadline for all: longer than any profile's send timeout, so a
    // part in flight gets its answer (or is recorded as UNKNOWN) first. A
    // second signal cuts it short.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let all_done = async {
        for t in tasks {
            let _ = tokio::time::timeout_at(deadline, t).await;
        }
    };
    tokio::select! {
        () = all_done => {}
        () = wait_for_signal() => eprintln!("smsgw: second signal: not waiting for the modems"),
    }
    // What the workers recorded last (answers, reports) reaches the disk.
    gw.flush().await;
    drop(gw);
    match failure {
        Some(why) => Err(CliError::runtime(why)),
        None => Ok(()),
    }
}
