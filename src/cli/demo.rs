//! `smsgw demo`: the whole gateway against simulated modems, in one command.
//!
//! Starts N simulated modems on ptys (alternating a +CDS/CNMA dialect and a
//! +CDSI dialect, with SMSC clocks that differ from ours), the gateway with
//! a SQLite file, and submits a batch: 300 messages to one number on the
//! first modem (its TP-MR starts at 250, so references wrap and collide
//! while reports are still pending), long and UCS2 messages, and messages to
//! numbers the simulated network fails. A progress bar follows the reports;
//! a summary table says what was delivered, failed, collided and how each
//! collision was settled.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::sim::sim_config_for;
use super::{CliError, CliResult};
use crate::gateway::worker::{self, WorkerConfig};
use crate::gateway::{Gateway, GatewaySettings, SubmitRequest};
use crate::profile::Profile;
use crate::router::RouterConfig;
use crate::sim::{self, OutcomeMix, SimEndpoint, SimModem};
use crate::state::MessageState;
use crate::store::{MessageFilter, ReportFilter, Store};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of simulated modems.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub modems: u8,
    /// Messages to one number on the first modem (forces TP-MR wrap and collisions).
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub same_number: u32,
    /// Other messages, spread over all modems.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub others: u32,
    /// Database file (default: a new file in the temporary directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Seed of the simulated network.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Give up waiting for reports after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
}

const DIALECTS: [&str; 2] = ["quectel-ec2x", "huawei-e173"];
const SAME_NUMBER: &str = "+393331234567";

pub fn run(args: DemoArgs) -> CliResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    rt.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> CliResult {
    let work = tempfile::Builder::new()
        .prefix("smsgw-demo-")
        .tempdir()
        .map_err(CliError::runtime)?;
    let db = match &args.db {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("smsgw-demo-{}.db", std::process::id())),
    };
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    println!(
        "smsgw demo: {} simulated modem(s), database {}",
        args.modems,
        db.display()
    );

    let mut sims = Vec::new();
    let mut modems = Vec::new();
    for i in 0..args.modems {
        let dialect = DIALECTS[usize::from(i) % DIALECTS.len()];
        let profile = Profile::by_name(dialect)
            .ok_or_else(|| CliError::runtime(format!("profile {dialect} missing")))?;
        let cfg = sim::SimConfig {
            mr_start: if i == 0 { 250 } else { 0 },
            // 2 x 6 ms per part: 256 parts to one number take ~3 s, more than
            // the router's tolerance, so reused references can be told apart.
            latency_ms: 6,
            report_delay_ms: (1_000, 6_000),
            temporary_followup_ms: 3_000,
            outcomes: OutcomeMix {
                delivered: 90,
                expired: 3,
                permanent: 3,
                temporary: 4,
            },
            forced_status: vec![("0000".into(), 0x41), ("9999".into(), 0x46)],
            smsc_clock_offset_s: if i % 2 == 0 { 37 } else { -12 },
            seed: args.seed + u64::from(i),
            ..sim_config_for(&profile)
        };
        let link = work.path().join(format!("sim{i}"));
        let handle = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
            .await
            .map_err(|e| CliError::runtime(format!("cannot start simulated modem {i}: {e}")))?;
        println!("  sim{i}: {dialect} dialect at {}", link.display());
        modems.push((
            format!("sim{i}"),
            link.display().to_string(),
            dialect.to_string(),
        ));
        sims.push(handle);
    }

    let store = Store::open(&db, RouterConfig::default()).map_err(CliError::runtime)?;
    let names: Vec<(String, String)> = modems
        .iter()
        .map(|(n, d, _)| (n.clone(), d.clone()))
        .collect();
    let gw = Gateway::new(
        store,
        GatewaySettings {
            retry_backoff_s: 1,
            ..GatewaySettings::default()
        },
        &names,
    );
    let mut workers = Vec::new();
    for (name, device, profile) in &modems {
        let cfg = WorkerConfig {
            name: name.clone(),
            device: device.clone(),
            profile: profile.clone(),
            pin: None,
            rate_per_minute: None,
            prefixes: Vec::new(),
            rescan: Duration::from_millis(500),
        };
        workers.push(tokio::spawn(worker::run(gw.clone(), cfg)));
    }

    // The batch.
    let mut ids = Vec::new();
    // Through the group commit: the workers (on this runtime) are not held
    // up by a submit waiting on the store's lock.
    let submit = |req: SubmitRequest| {
        let gw = gw.clone();
        async move {
            gw.submit_batched(req)
                .await
                .map(|s| s.id)
                .map_err(CliError::runtime)
        }
    };
    for n in 0..args.same_number {
        ids.push(
            submit(request(
                SAME_NUMBER,
                &format!("Same number, message {n}"),
                Some("sim0"),
            ))
            .await?,
        );
    }
    for n in 0..args.others {
        let to = format!("+3934{:08}", 10_000 + n * 7);
        let (to, text) = match n % 10 {
            0 => (to, long_text(n)),
            1 => (to, format!("UCS2 \u{1F600} message {n}: ÇŞİĞÜÖ and 漢字")),
            2 if n % 20 == 2 => (
                "+393400000000".to_string(),
                format!("To a number the network rejects ({n})"),
            ),
            3 if n % 30 == 3 => (
                "+393409999999".to_string(),
                format!("To a phone that stays off ({n})"),
            ),
            _ => (to, format!("Hello {n} from the smsgw demo")),
        };
        ids.push(submit(request(&to, &text, None)).await?);
    }
    let total = ids.len() as u64;
    println!("submitted {total} messages; waiting for delivery reports...");

    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} final  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    loop {
        // On the blocking pool, with the read connection: the workers
        // share this runtime.
        let reader = gw.clone();
        let all =
            tokio::task::spawn_blocking(move || reader.read().messages(&MessageFilter::default()))
                .await
                .map_err(CliError::runtime)?
                .map_err(CliError::runtime)?;
        let finals = all.iter().filter(|m| m.state.is_final()).count() as u64;
        let delivered = all
            .iter()
            .filter(|m| m.state == MessageState::Delivered)
            .count();
        bar.set_position(finals);
        bar.set_message(format!("{delivered} delivered"));
        if finals >= total || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish();
    gw.shutdown();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }
    gw.flush().await;
    for s in &sims {
        s.stop();
    }
    summary(&gw, &db)?;
    drop(gw);
    Ok(())
}

fn request(to: &str, text: &str, modem: Option<&str>) -> SubmitRequest {
    SubmitRequest {
        to: to.to_string(),
        text: text.to_string(),
        report: Some(true),
        validity: Some("1d".into()),
        modem: modem.map(str::to_string),
        ucs2: false,
        flash: false,
        ..SubmitRequest::default()
    }
}

fn long_text(n: u32) -> String {
    let mut t = format!("Long message {n}: ");
    while t.len() < 400 {
        t.push_str("the quick brown fox jumps over the lazy dog; {curly} [square] ~tilde~ €uro. ");
    }
    t
}

fn summary(gw: &Gateway, db: &std::path::Path) -> CliResult {
    let store = gw.store();
    let all = store
        .messages(&MessageFilter::default())
        .map_err(CliError::runtime)?;
    let reports = store
        .reports(ReportFilter::All, None)
        .map_err(CliError::runtime)?;
    let collisions = store.collisions(None).map_err(CliError::runtime)?;
    let by_time = reports
        .iter()
        .filter(|r| r.basis.as_deref() == Some("time"))
        .count();
    let ambiguous = reports.iter().filter(|r| r.result == "ambiguous").count();
    let orphans = reports.iter().filter(|r| r.result == "orphan").count();
    let parts: u64 = all.iter().map(|m| u64::from(m.parts)).sum();
    let temporary = reports
        .iter()
        .filter(|r| (0x20..=0x2F).contains(&r.tp_status))
        .count();
    println!();
    println!("{:<34} {:>6}", "messages", all.len());
    for st in MessageState::ALL {
        let n = all.iter().filter(|m| m.state == st).count();
        if n > 0 {
            println!("  {:<32} {:>6}", st.as_str(), n);
        }
    }
    println!("{:<34} {:>6}", "parts sent (long messages: several)", parts);
    println!("{:<34} {:>6}", "status reports received", reports.len());
    println!(
        "  {:<32} {:>6}",
        "of which temporary (then final)", temporary
    );
    println!(
        "{:<34} {:>6}",
        "TP-MR collisions detected",
        collisions.len()
    );
    println!("{:<34} {:>6}", "reports told apart by timestamp", by_time);
    println!(
        "{:<34} {:>6}",
        "reports left ambiguous (flagged)", ambiguous
    );
    println!("{:<34} {:>6}", "orphan reports", orphans);
    println!();
    println!(
        "Every part asks for its own report, and a temporary outcome (SC still trying) is\n\
         followed by the final one, so there are more reports than messages. A collision is a\n\
         TP-MR (one byte, wrapping at 255) handed out again while an earlier part to the same\n\
         number still waits for its report. \"Told apart by timestamp\" counts the reports whose\n\
         TP-MR and number fitted several parts (pending, or settled moments ago and kept to\n\
         recognise repeats) and whose service-centre time stamp picked the one they belong to. --seed fixes the simulated network's choices (outcomes,\n\
         delays); which modem takes which message, and so the collision count, depends on\n\
         timing and varies a little from run to run."
    );
    println!();
    println!("Everything is in {}. Look around:", db.display());
    let d = shell_word(&db.display().to_string());
    let me = invocation();
    println!("  {me} messages --db {d} --state UNDELIV");
    println!("  {me} status 1 --db {d}");
    println!("  {me} collisions --db {d}");
    println!("  {me} reports --ambiguous --db {d}");
    println!("  {me} receipt 1 --db {d}");
    println!("Or over HTTP: start  {me} serve --simulate 2 --db {d}  and in another shell:");
    let auth = format!("-H 'Authorization: Bearer {}'", super::serve::TRY_OUT_TOKEN);
    println!("  curl {auth} http://127.0.0.1:8080/v1/messages/1");
    println!("  curl {auth} http://127.0.0.1:8080/v1/collisions");
    println!("  curl {auth} http://127.0.0.1:8080/metrics");
    Ok(())
}

/// How to run this same binary from the current directory, for commands
/// the user pastes (after `cargo run` there is no `smsgw` on the PATH):
/// `./target/release/smsgw` when it lies below the current directory, its
/// full path otherwise, plain `smsgw` when that is what the PATH finds.
fn invocation() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "smsgw".to_string();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| std::fs::canonicalize(dir.join("smsgw")).is_ok_and(|p| p == exe))
    });
    if on_path {
        return "smsgw".to_string();
    }
    let shown = match std::env::current_dir() {
        Ok(cwd) => match exe.strip_prefix(&cwd) {
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => exe.display().to_string(),
        },
        Err(_) => exe.display().to_string(),
    };
    shell_word(&shown)
}

/// `s` quoted for a POSIX shell when it holds anything but safe characters.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
