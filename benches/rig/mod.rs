//! What the end-to-end benchmarks (`e2e`, `smpp_e2e`) share: the child
//! processes (`smsgw sim` with N zero-latency modems, `smsgw serve`), the
//! daemon's configuration, waiting until it is ready, and reading a
//! process's CPU time and RSS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "bench-token";

/// Children killed when the benchmark ends, however it ends.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_smsgw")
}

/// (utime + stime) seconds and RSS in kB of a process, from /proc.
pub fn usage(pid: u32) -> (f64, u64) {
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
    // Fields after the command: state is 0, utime 11, stime 12.
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// GET with the token: the body of a 200 answer, or None.
pub fn get(a: &ureq::Agent, port: u16, path: &str) -> Option<String> {
    let mut r = a
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.body_mut().read_to_string().ok()
}

/// `modems` simulated modems of `profile` (links `sim0`... in `dir`) in
/// `groups` `smsgw sim` processes, started and waited for; they are the
/// first `groups` entries of `procs`.
pub fn start_sims(procs: &mut Procs, dir: &Path, profile: &str, modems: usize, groups: usize) {
    for g in 0..groups {
        let mut cmd = Command::new(bin());
        cmd.args(["sim", "--profile", profile, "--report-delay-ms", "0-20"])
            .arg("--seed")
            .arg((g * modems + 1).to_string());
        for i in (g..modems).step_by(groups) {
            cmd.arg("--link").arg(dir.join(format!("sim{i}")));
        }
        procs
            .0
            .push(cmd.stdout(Stdio::null()).spawn().expect("start smsgw sim"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..modems {
        while !dir.join(format!("sim{i}")).exists() {
            assert!(Instant::now() < deadline, "simulator {i} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The daemon's configuration: store and HTTP API in `dir`, the modems,
/// and `extra` (TOML tables such as `[smpp]`) appended.
pub fn write_config(dir: &Path, port: u16, modems: usize, profile: &str, extra: &str) -> PathBuf {
    let mut t = format!(
        "[store]\npath = {:?}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\ntokens = [\"{TOKEN}\"]\n\n",
        dir.join("bench.db").display().to_string()
    );
    for i in 0..modems {
        let dev = dir.join(format!("sim{i}")).display().to_string();
        t.push_str(&format!(
            "[[modem]]\nname = \"sim{i}\"\ndevice = {dev:?}\nprofile = \"{profile}\"\n\n"
        ));
    }
    t.push_str(extra);
    let p = dir.join("smsgw.toml");
    std::fs::write(&p, t).expect("write the config");
    p
}

/// Start `smsgw serve` (log in `dir`), wait until its `modems` modems are
/// connected and `ready` holds, then let start-up work settle. Its pid.
pub fn start_daemon(
    procs: &mut Procs,
    dir: &Path,
    config: &Path,
    port: u16,
    modems: usize,
    ready: impl Fn() -> bool,
) -> u32 {
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log file");
    let daemon = Command::new(bin())
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "smsgw=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start smsgw serve");
    let pid = daemon.id();
    procs.0.push(daemon);
    let a = agent();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = get(&a, port, "/v1/modems")
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v["modems"]
                    .as_array()
                    .map(|m| m.iter().filter(|m| m["connected"] == true).count())
            })
            .unwrap_or(0);
        if up == modems && ready() {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
            panic!("the daemon did not get its {modems} modems ready:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let start-up work (listing stored SMS, registration) settle.
    std::thread::sleep(Duration::from_millis(500));
    pid
}
