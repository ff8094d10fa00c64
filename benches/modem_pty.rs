//! One simulated zero-latency modem over a real pty, driven by the real
//! session: sustained SMS per second, each part with its status report
//! received and handed on (+CDSI read back and deleted, or +CDS
//! acknowledged with AT+CNMA), and the CPU time per SMS.
//!
//! The simulator runs as its own process (`smsgw sim`, as a modem is its
//! own device), so getrusage of this process around the run is the CPU the
//! session (and the benchmark's own sending loop) spent; the simulator's is
//! read from /proc and printed apart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nix::sys::resource::{getrusage, UsageWho};
use smsgw::modem::transport::Endpoint;
use smsgw::modem::{InboundKind, Modem, ModemEvent, SessionConfig};
use smsgw::pdu::address::Address;
use smsgw::pdu::split::{encode_submit, SubmitOptions};
use smsgw::profile::Profile;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// Parts in flight at once (queued in the session, which runs them one by one).
const WINDOW: usize = 64;

struct Bench {
    _dir: tempfile::TempDir,
    sim: Child,
    /// Kept open: the simulator prints to it.
    _sim_out: BufReader<std::process::ChildStdout>,
    modem: Modem,
    len: usize,
    hex: String,
    reports: Arc<AtomicU64>,
    notify: Arc<Notify>,
}

fn setup(rt: &Runtime, profile: &str) -> Bench {
    rt.block_on(async {
        let p = Profile::by_name(profile).expect("profile");
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("ttyBENCH");
        let mut sim = Command::new(env!("CARGO_BIN_EXE_smsgw"))
            .args([
                "sim",
                "--profile",
                profile,
                "--report-delay-ms",
                "0",
                "--link",
            ])
            .arg(&link)
            .stdout(Stdio::piped())
            .spawn()
            .expect("smsgw sim starts");
        // Its first line says the device is there.
        let mut line = String::new();
        let mut sim_out = BufReader::new(sim.stdout.take().expect("stdout"));
        sim_out.read_line(&mut line).expect("sim says where it is");
        assert!(line.contains("simulated modem"), "{line}");
        let cfg =
            SessionConfig::from_profile("bench", Endpoint::Serial(link.display().to_string()), &p);
        let (modem, mut events) = Modem::start(cfg).await.expect("session");
        let reports = Arc::new(AtomicU64::new(0));
        let notify = Arc::new(Notify::new());
        {
            let (modem, reports, notify) = (modem.clone(), reports.clone(), notify.clone());
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    if let ModemEvent::Inbound(inb) = ev {
                        if inb.kind == InboundKind::StatusReport {
                            modem.handed_on(&inb.origin);
                            reports.fetch_add(1, Ordering::Relaxed);
                            notify.notify_one();
                        }
                    }
                }
            });
        }
        let opts = SubmitOptions {
            status_report: true,
            ..SubmitOptions::default()
        };
        let parts = encode_submit(
            &Address::parse_number("+393331234567").expect("number"),
            "benchmark message",
            &opts,
        )
        .expect("encode");
        Bench {
            _dir: dir,
            sim,
            _sim_out: sim_out,
            modem,
            len: parts[0].tpdu_len,
            hex: parts[0].hex(),
            reports,
            notify,
        }
    })
}

/// Send `n` parts and wait for their `n` reports.
async fn run(b: &Bench, n: u64) {
    let target = b.reports.load(Ordering::Relaxed) + n;
    let mut inflight: tokio::task::JoinSet<Result<u8, smsgw::modem::ModemError>> =
        tokio::task::JoinSet::new();
    for _ in 0..n {
        if inflight.len() >= WINDOW {
            if let Some(r) = inflight.join_next().await {
                r.expect("task").expect("send");
            }
        }
        let (modem, hex, len) = (b.modem.clone(), b.hex.clone(), b.len);
        inflight.spawn(async move { modem.send_pdu(len, &hex).await });
    }
    while let Some(r) = inflight.join_next().await {
        r.expect("task").expect("send");
    }
    while b.reports.load(Ordering::Relaxed) < target {
        let notified = b.notify.notified();
        if b.reports.load(Ordering::Relaxed) >= target {
            break;
        }
        tokio::time::timeout(Duration::from_secs(30), notified)
            .await
            .expect("reports in time");
    }
}

/// CPU time (user + system) of another process so far, from /proc.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name in parentheses; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    // /proc reports in USER_HZ, which Linux fixes at 100.
    Duration::from_micros(ticks * 10_000)
}

/// Process CPU time (user + system) so far.
fn cpu() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

fn modem_pty(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for profile in ["generic", "quectel-ec2x"] {
        let b = setup(&rt, profile);
        // The headline figures: one long run, wall clock and CPU.
        rt.block_on(run(&b, 500));
        let n = 5_000;
        let sim_pid = b.sim.id();
        let (t0, c0, s0) = (Instant::now(), cpu(), cpu_of(sim_pid));
        rt.block_on(run(&b, n));
        let (wall, cpu_used, sim_used) = (t0.elapsed(), cpu() - c0, cpu_of(sim_pid) - s0);
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        eprintln!(
            "modem_pty/{profile}: {n} SMS with reports in {:.2} s: {:.0} SMS/s; CPU per SMS: session {:.1} us, simulator {:.1} us",
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            per(cpu_used),
            per(sim_used),
        );
        let mut g = c.benchmark_group("modem_pty");
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("sms_with_report/{profile}"), |bch| {
            bch.iter_custom(|iters| {
                let t0 = Instant::now();
                rt.block_on(run(&b, iters));
                t0.elapsed()
            })
        });
        g.finish();
        let mut b = b;
        let _ = b.sim.kill();
        let _ = b.sim.wait();
    }
}

criterion_group!(benches, modem_pty);
criterion_main!(benches);
