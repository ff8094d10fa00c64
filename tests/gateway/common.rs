//! Shared by the daemon tests: a config on disk, the real `smsgw serve`
//! as a child process, and a real HTTP client (ureq).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-token-0123456789";

/// Start `n` simulated modems of one dialect on ptys in `dir` (sim0, sim1...),
/// on `rt`; returns their handles and device paths.
pub fn start_sims(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    dialect: &str,
    n: u64,
    tweak: impl Fn(u64, &mut smsgw::sim::SimConfig),
) -> Vec<(smsgw::sim::SimHandle, String)> {
    let profile = smsgw::profile::Profile::by_name(dialect).unwrap();
    (0..n)
        .map(|i| {
            let mut cfg = smsgw::cli::sim::sim_config_for(&profile);
            tweak(i, &mut cfg);
            let link = dir.join(format!("sim{i}"));
            let model = smsgw::sim::SimModem::new(cfg);
            let h = rt
                .block_on(smsgw::sim::spawn(
                    model,
                    smsgw::sim::SimEndpoint::Pty(link.clone()),
                ))
                .unwrap();
            (h, link.display().to_string())
        })
        .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Write a config with these (name, device, profile) modems.
pub fn write_config(
    dir: &Path,
    port: u16,
    db: &Path,
    modems: &[(&str, &str, &str)],
    extra: &str,
) -> PathBuf {
    let mut t = format!(
        "[store]\npath = {:?}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\ntokens = [\"{TOKEN}\"]\n\n{extra}\n",
        db.display().to_string()
    );
    for (name, device, profile) in modems {
        t.push_str(&format!(
            "[[modem]]\nname = \"{name}\"\ndevice = {device:?}\nprofile = \"{profile}\"\n\n"
        ));
    }
    let p = dir.join("smsgw.toml");
    std::fs::write(&p, t).unwrap();
    p
}

/// The daemon child process; killed when dropped, so a failing test never
/// leaves a daemon behind.
pub struct Daemon(Child);

impl Daemon {
    /// SIGKILL and reap.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn_daemon(config: &Path, log: &Path) -> Daemon {
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(["serve", "--config"])
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("SMSGW_TEST_LOG").unwrap_or_else(|_| "smsgw=info".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start smsgw serve");
    Daemon(child)
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Wait until /healthz answers and every modem is connected.
pub fn wait_ready(port: u16, modems: usize) {
    wait_ready_or_show(port, modems, None)
}

/// As [`wait_ready`], printing the daemon's log if it never gets ready.
pub fn wait_ready_or_show(port: u16, modems: usize, log: Option<&Path>) {
    let a = agent();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let url = format!("http://127.0.0.1:{port}/v1/modems");
        let last = match a
            .get(&url)
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
        {
            Ok(mut r) if r.status() == 200 => {
                let text = r.body_mut().read_to_string().unwrap_or_default();
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let up = v["modems"]
                    .as_array()
                    .map_or(0, |a| a.iter().filter(|m| m["connected"] == true).count());
                if up == modems {
                    return;
                }
                text
            }
            Ok(r) => format!("status {}", r.status()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            let text = log
                .and_then(|l| std::fs::read_to_string(l).ok())
                .unwrap_or_default();
            panic!("daemon not ready in time; last /v1/modems: {last}\n--- daemon log ---\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// POST a message; Ok(id) on 202, Err(reason) otherwise (including no answer).
pub fn post(a: &ureq::Agent, port: u16, to: &str, text: &str) -> Result<String, String> {
    let body = serde_json::json!({"to": to, "text": text, "report": true});
    let mut r = a
        .post(&format!("http://127.0.0.1:{port}/v1/messages"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map_err(|e| e.to_string())?;
    if r.status() != 202 {
        return Err(format!("status {}", r.status()));
    }
    let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(v["id"].as_str().ok_or("no id")?.to_string())
}

pub fn get_json(a: &ureq::Agent, port: u16, path: &str) -> serde_json::Value {
    let mut r = a
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// Wait until every message is in a final state; returns their JSON.
pub fn wait_final(
    a: &ureq::Agent,
    port: u16,
    ids: &[String],
    timeout: Duration,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    let finals = [
        "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN",
    ];
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        loop {
            let v = get_json(a, port, &format!("/v1/messages/{id}"));
            if finals.contains(&v["state"].as_str().unwrap_or("")) {
                out.push(v);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "message {id} still {} at the deadline",
                v["state"]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    out
}

/// `smsgw serve` on one simulated huawei-e173 modem (reports after
/// 5-30 ms), ready to take work. Everything lives while this does.
pub struct OneModem {
    pub port: u16,
    pub db: PathBuf,
    pub log: PathBuf,
    _daemon: Daemon,
    _sims: Vec<(smsgw::sim::SimHandle, String)>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl OneModem {
    /// The test's own directory (database, config, log, ptys).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

pub fn one_modem_daemon() -> OneModem {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sims = start_sims(&rt, dir.path(), "huawei-e173", 1, |_, c| {
        c.report_delay_ms = (5, 30);
    });
    let port = free_port();
    let db = dir.path().join("smsgw.db");
    let config = write_config(
        dir.path(),
        port,
        &db,
        &[("sim0", &sims[0].1, "huawei-e173")],
        "",
    );
    let log = dir.path().join("daemon.log");
    let daemon = spawn_daemon(&config, &log);
    wait_ready_or_show(port, 1, Some(&log));
    OneModem {
        port,
        db,
        log,
        _daemon: daemon,
        _sims: sims,
        _rt: rt,
        _dir: dir,
    }
}
