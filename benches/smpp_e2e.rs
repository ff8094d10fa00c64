//! SMPP end to end through the daemon: `smsgw serve` (a real child process)
//! with N simulated zero-latency modems (`smsgw sim`, one process, ptys),
//! loaded by C transceiver binds that keep a window of W submit_sm each.
//! Measures messages per second from the first submit_sm until every
//! accepted message has its receipt (every receipt matched to its
//! submit_sm_resp id, each exactly once, DELIVRD), the daemon's CPU time per
//! message, and then the RSS growth per idle bind with B more binds open.
//!
//!   cargo bench --bench smpp_e2e -- [MESSAGES] [MODEMS] [BINDS] [WINDOW] [IDLE]
//!                                    (defaults 5000 8 4 64 1000)
//!
//! `scripts/bench-smpp.sh` runs exactly this. Under `cargo test` it runs a
//! small batch as a smoke test and fails unless every receipt is matched.
//! The client is a minimal SMPP 3.4 speaker of its own (bind_transceiver,
//! submit_sm, deliver_sm_resp, enquire_link_resp), so that the load costs
//! the machine little and depends on nothing of the daemon's code.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TOKEN: &str = "bench-token";
const SYSTEM_ID: &str = "bench";
const PASSWORD: &str = "bench";

struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_smsgw")
}

/// (utime + stime) seconds and RSS in kB of a process, from /proc.
fn usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn write_config(dir: &Path, port: u16, smpp: u16, modems: usize, window: usize) -> PathBuf {
    let mut t = format!(
        "[store]\npath = {:?}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\ntokens = [\"{TOKEN}\"]\n\n\
         [smpp]\nlisten = \"127.0.0.1:{smpp}\"\nwindow = {window}\n\n\
         [[smpp.account]]\nsystem_id = \"{SYSTEM_ID}\"\npassword = \"{PASSWORD}\"\n\n",
        dir.join("bench.db").display().to_string()
    );
    for i in 0..modems {
        let dev = dir.join(format!("sim{i}")).display().to_string();
        t.push_str(&format!(
            "[[modem]]\nname = \"sim{i}\"\ndevice = {dev:?}\nprofile = \"quectel-ec2x\"\n\n"
        ));
    }
    let p = dir.join("smsgw.toml");
    std::fs::write(&p, t).expect("write the config");
    p
}

/// A PDU: command_id, status, sequence and body.
fn pdu(command: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + body.len());
    b.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    b.extend_from_slice(&command.to_be_bytes());
    b.extend_from_slice(&status.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(body);
    b
}

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

fn bind_body() -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, SYSTEM_ID);
    cstr(&mut b, PASSWORD);
    cstr(&mut b, "");
    b.extend_from_slice(&[0x34, 0, 0]);
    cstr(&mut b, "");
    b
}

fn submit_body(n: usize) -> Vec<u8> {
    let text = format!("bench {n}");
    let mut b = Vec::with_capacity(64);
    cstr(&mut b, "");
    b.extend_from_slice(&[5, 0]);
    cstr(&mut b, "BENCH");
    b.extend_from_slice(&[1, 1]);
    cstr(&mut b, &format!("39333{n:07}"));
    // esm_class, protocol_id, priority_flag
    b.extend_from_slice(&[0, 0, 0]);
    cstr(&mut b, "");
    cstr(&mut b, "");
    // registered_delivery, replace_if_present, data_coding, sm_default_msg_id
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.push(text.len() as u8);
    b.extend_from_slice(text.as_bytes());
    b
}

/// Skip a C string at `*i`; its text.
fn take_cstr<'a>(body: &'a [u8], i: &mut usize) -> &'a [u8] {
    let start = (*i).min(body.len());
    let end = body[start..]
        .iter()
        .position(|&c| c == 0)
        .map_or(body.len(), |p| start + p);
    *i = (end + 1).min(body.len());
    &body[start..end]
}

/// The short_message of a deliver_sm body.
fn short_message(body: &[u8]) -> &[u8] {
    let mut i = 0;
    take_cstr(body, &mut i); // service_type
    i += 2;
    take_cstr(body, &mut i); // source_addr
    i += 2;
    take_cstr(body, &mut i); // destination_addr
    i += 3;
    take_cstr(body, &mut i); // schedule_delivery_time
    take_cstr(body, &mut i); // validity_period
    i += 4;
    let len = usize::from(*body.get(i).unwrap_or(&0));
    let start = (i + 1).min(body.len());
    &body[start..(start + len).min(body.len())]
}

/// What all binds saw.
#[derive(Default)]
struct Seen {
    accepted: HashSet<String>,
    refused: u64,
    receipts: HashMap<String, (u32, String)>,
}

async fn read_pdu(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<(u32, u32, u32, Vec<u8>)> {
    let mut head = [0u8; 16];
    r.read_exact(&mut head).await?;
    let word = |k: usize| u32::from_be_bytes([head[k], head[k + 1], head[k + 2], head[k + 3]]);
    let len = word(0) as usize;
    let mut body = vec![0u8; len.saturating_sub(16)];
    r.read_exact(&mut body).await?;
    Ok((word(4), word(8), word(12), body))
}

/// One transceiver: submits its share with a window, takes every
/// deliver_sm until all receipts of the run are in.
async fn load(
    port: u16,
    first: usize,
    count: usize,
    window: usize,
    total: u64,
    seen: Arc<Mutex<Seen>>,
    receipts: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.set_nodelay(true)?;
    let (r, mut w) = s.into_split();
    let mut r = BufReader::with_capacity(64 * 1024, r);
    w.write_all(&pdu(0x09, 0, 1, &bind_body())).await?;
    let (cmd, status, _, _) = read_pdu(&mut r).await?;
    assert_eq!((cmd, status), (0x8000_0009, 0), "bind refused");
    let mut seq = 1u32;
    let (mut sent, mut answered) = (0usize, 0usize);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        while sent < count && sent - answered < window {
            seq += 1;
            out.extend_from_slice(&pdu(0x04, 0, seq, &submit_body(first + sent)));
            sent += 1;
        }
        if !out.is_empty() {
            w.write_all(&out).await?;
            out.clear();
        }
        if receipts.load(Ordering::Relaxed) >= total && answered == count {
            break;
        }
        let next = tokio::time::timeout(Duration::from_millis(200), read_pdu(&mut r)).await;
        let Ok(next) = next else { continue };
        let (cmd, status, pseq, body) = next?;
        match cmd {
            0x8000_0004 => {
                answered += 1;
                let mut i = 0;
                let id = String::from_utf8_lossy(take_cstr(&body, &mut i)).to_string();
                let mut s = seen.lock().expect("lock");
                if status == 0 {
                    s.accepted.insert(id);
                } else {
                    s.refused += 1;
                }
            }
            0x0000_0005 => {
                let text = String::from_utf8_lossy(short_message(&body)).to_string();
                let field = |k: &str| {
                    text.split(' ')
                        .find_map(|f| f.strip_prefix(k))
                        .unwrap_or("")
                        .to_string()
                };
                let (id, stat) = (field("id:"), field("stat:"));
                {
                    let mut s = seen.lock().expect("lock");
                    let e = s.receipts.entry(id).or_insert((0, stat));
                    e.0 += 1;
                }
                receipts.fetch_add(1, Ordering::Relaxed);
                out.extend_from_slice(&pdu(0x8000_0005, 0, pseq, &[0]));
            }
            0x0000_0015 => out.extend_from_slice(&pdu(0x8000_0015, 0, pseq, &[])),
            _ => {}
        }
    }
    w.write_all(&pdu(0x06, 0, seq + 1, &[])).await?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let d = if smoke {
        [200, 2, 2, 64, 50]
    } else {
        [5000, 8, 4, 64, 1000]
    };
    let get = |i: usize| nums.get(i).copied().unwrap_or(d[i]);
    let (messages, modems, binds, window, idle) =
        (get(0), get(1).max(1), get(2).max(1), get(3).max(1), get(4));
    // Room for the idle binds on both ends (the daemon inherits it).
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let (port, smpp) = (free_port(), free_port());
    let mut procs = Procs(Vec::new());
    let mut cmd = Command::new(bin());
    cmd.args([
        "sim",
        "--profile",
        "quectel-ec2x",
        "--report-delay-ms",
        "0-20",
        "--seed",
        "1",
    ]);
    for i in 0..modems {
        cmd.arg("--link").arg(dir.path().join(format!("sim{i}")));
    }
    procs
        .0
        .push(cmd.stdout(Stdio::null()).spawn().expect("start smsgw sim"));
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..modems {
        while !dir.path().join(format!("sim{i}")).exists() {
            assert!(Instant::now() < deadline, "simulator {i} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let config = write_config(dir.path(), port, smpp, modems, window);
    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
    let daemon = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "smsgw=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start smsgw serve");
    let pid = daemon.id();
    procs.0.push(daemon);
    let a: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = a
            .get(&format!("http://127.0.0.1:{port}/v1/modems"))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v["modems"]
                    .as_array()
                    .map(|m| m.iter().filter(|m| m["connected"] == true).count())
            })
            .unwrap_or(0);
        if up == modems && std::net::TcpStream::connect(("127.0.0.1", smpp)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
            panic!("the daemon did not get ready:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, rss0) = usage(pid);
    let (me0, _) = usage(std::process::id());
    let sims0 = usage(procs.0[0].id()).0;

    let per = messages / binds;
    let total = per * binds;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let receipts = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let t0 = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..binds)
            .map(|k| {
                tokio::spawn(load(
                    smpp,
                    k * per,
                    per,
                    window,
                    total as u64,
                    seen.clone(),
                    receipts.clone(),
                ))
            })
            .collect();
        for t in tasks {
            let r = tokio::time::timeout(Duration::from_secs(600), t).await;
            r.expect("the run took over 10 minutes")
                .expect("client task")
                .expect("client");
        }
    });
    let done = t0.elapsed();
    let (cpu1, peak) = usage(pid);
    let (me1, _) = usage(std::process::id());
    let sims_cpu = usage(procs.0[0].id()).0 - sims0;
    let s = seen.lock().expect("lock");
    let matched = s
        .accepted
        .iter()
        .filter(|id| {
            s.receipts
                .get(*id)
                .is_some_and(|(n, st)| *n == 1 && st == "DELIVRD")
        })
        .count();
    let per_msg = |c: f64| c * 1e6 / total.max(1) as f64;
    println!(
        "smpp e2e: {total} messages over {modems} simulated modems, {binds} transceiver binds, \
         window {window}; refused {}",
        s.refused
    );
    println!(
        "submit_sm -> receipt: {:8.0} msg/s  ({matched} of {total} receipts matched, in {:.2} s)",
        total as f64 / done.as_secs_f64(),
        done.as_secs_f64()
    );
    println!(
        "daemon: CPU {:.0} us per message (simulators {:.0} us, SMPP clients {:.0} us); RSS {:.1} MB idle, {:.1} MB after",
        per_msg(cpu1 - cpu0),
        per_msg(sims_cpu),
        per_msg(me1 - me0),
        rss0 as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let ok = s.refused == 0 && matched == total && s.receipts.len() == total;
    drop(s);

    // Idle binds: RSS growth per bind.
    if idle > 0 {
        std::thread::sleep(Duration::from_millis(500));
        let (_, before) = usage(pid);
        let conns = rt.block_on(async {
            let mut conns = Vec::with_capacity(idle);
            for _ in 0..idle {
                let s = TcpStream::connect(("127.0.0.1", smpp))
                    .await
                    .expect("connect");
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                w.write_all(&pdu(0x09, 0, 1, &bind_body()))
                    .await
                    .expect("bind");
                let (cmd, status, _, _) = read_pdu(&mut r).await.expect("bind_resp");
                assert_eq!((cmd, status), (0x8000_0009, 0), "idle bind refused");
                conns.push((r, w));
            }
            conns
        });
        std::thread::sleep(Duration::from_millis(500));
        let (_, after) = usage(pid);
        println!(
            "idle binds: {idle} open, daemon RSS {:.1} MB -> {:.1} MB: {:.1} kB per bind",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after as f64 - before as f64) / idle as f64
        );
        drop(conns);
    }
    assert!(
        ok,
        "not every message got exactly one DELIVRD receipt matched to its id ({matched} of {total})"
    );
}
