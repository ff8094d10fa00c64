//! Issue 10, defect 7: a full disk. Writes that find no room answer 503
//! "disk full" (never 500, never a 202 for what was not stored), /healthz
//! says `disk_full`, the write-ahead log is checkpointed and cut back, and
//! once space is freed the gateway stores and sends again by itself, with
//! nothing accepted before lost.
//!
//! Two ways to fill the disk: SQLite's own page limit (`PRAGMA
//! max_page_count`, which fails writes with SQLITE_FULL exactly as a full
//! disk does) on the gateway in this process, and a really full file
//! system (a small tmpfs in a mount namespace of the daemon's own, where
//! `unshare` can make one).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use smsgw::cli::sim::sim_config_for;
use smsgw::config::HttpConfig;
use smsgw::gateway::worker::{self, WorkerConfig};
use smsgw::gateway::{Gateway, GatewaySettings};
use smsgw::profile::Profile;
use smsgw::router::RouterConfig;
use smsgw::sim::{self, SimEndpoint, SimModem};
use smsgw::store::{MessageFilter, Store};
use tokio::sync::watch;

use crate::common::{self, agent, TOKEN};

const TO: &str = "+393331234567";

/// An answer: status and body.
struct Resp {
    status: u16,
    body: Value,
}

fn call(a: &ureq::Agent, base: &str, method: &str, path: &str, body: Option<&str>) -> Resp {
    let url = format!("{base}{path}");
    let auth = format!("Bearer {TOKEN}");
    let r = match body {
        None => a.get(&url).header("Authorization", &auth).call(),
        Some(b) => a
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(b),
    };
    let mut r = r.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, body }
}

fn post(a: &ureq::Agent, base: &str, text: &str) -> Resp {
    post_via(a, base, text, "sim0")
}

fn post_via(a: &ureq::Agent, base: &str, text: &str, modem: &str) -> Resp {
    let body = serde_json::json!({"to": TO, "text": text, "report": true, "modem": modem});
    call(a, base, "POST", "/v1/messages", Some(&body.to_string()))
}

/// The value of an unlabelled metric.
fn metric(a: &ureq::Agent, base: &str, name: &str) -> f64 {
    let r = call(a, base, "GET", "/metrics", None);
    let Value::String(text) = r.body else {
        panic!("/metrics is not text");
    };
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Wait (generously) until `/healthz` says `status`; returns its answer.
fn wait_health(a: &ureq::Agent, base: &str, status: &str, within: Duration) -> Resp {
    let deadline = Instant::now() + within;
    loop {
        let h = call(a, base, "GET", "/healthz", None);
        if h.body["status"] == status {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never said {status}; last: {} {}",
            h.status,
            h.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until every message of `ids` is DELIVRD.
fn wait_delivered(a: &ureq::Agent, base: &str, ids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let m = call(a, base, "GET", &format!("/v1/messages/{id}"), None);
            assert_eq!(m.status, 200, "message {id} is stored: {}", m.body);
            if m.body["state"] == "DELIVRD" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "message {id} not delivered: {}",
                m.body
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The gateway in this process: one simulated modem, its worker and the
/// HTTP API, on a runtime of their own; and a second modem, `idle`, that
/// never connects (what is queued for it stays queued: reports that would
/// come while nothing can be stored are not what this test is about).
struct InProcess {
    base: String,
    gw: Gateway,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    fn start() -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut cfg = sim_config_for(&Profile::by_name("quectel-ec2x").unwrap());
        cfg.report_delay_ms = (20, 50);
        let link = dir.path().join("sim0");
        let sim = rt
            .block_on(sim::spawn(
                SimModem::new(cfg),
                SimEndpoint::Pty(link.clone()),
            ))
            .unwrap();
        let device = link.display().to_string();
        let store = Store::open(&dir.path().join("full.db"), RouterConfig::default()).unwrap();
        let gw = Gateway::new(
            store,
            GatewaySettings::default(),
            &[
                ("sim0".into(), device.clone()),
                ("idle".into(), "/dev/smsgw/never-there".into()),
            ],
        );
        let http = HttpConfig {
            listen: "127.0.0.1:0".into(),
            tokens: vec![TOKEN.into()],
            ..HttpConfig::default()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let gw2 = gw.clone();
        let thread = std::thread::spawn(move || {
            let _sim = sim;
            rt.block_on(async move {
                let w = tokio::spawn(worker::run(
                    gw2.clone(),
                    WorkerConfig {
                        name: "sim0".into(),
                        device,
                        profile: "quectel-ec2x".into(),
                        pin: None,
                        rate_per_minute: None,
                        prefixes: vec![],
                        rescan: Duration::from_millis(200),
                    },
                ));
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                smsgw::api::serve_on(listener, gw2.clone(), &http, rx)
                    .await
                    .unwrap();
                gw2.shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
            });
        });
        InProcess {
            base,
            gw,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_full_database_answers_503_and_recovers_on_its_own() {
    let srv = InProcess::start();
    let (a, base) = (agent(), srv.base.as_str());
    wait_health(&a, base, "ok", Duration::from_secs(60));

    // Sending works.
    let mut accepted = Vec::new();
    for i in 0..3 {
        let r = post(&a, base, &format!("before {i}"));
        assert_eq!(r.status, 202, "{}", r.body);
        accepted.push(r.body["id"].as_str().unwrap().to_string());
    }
    wait_delivered(&a, base, &accepted);

    // The database may grow by two pages, no more: like a disk that is
    // nearly full.
    {
        let s = srv.gw.store();
        let pages = s.page_count().unwrap();
        s.set_max_pages(u64::try_from(pages).unwrap() + 2).unwrap();
    }
    let mut refused = None;
    let mut queued = Vec::new();
    for i in 0..5000 {
        let r = post_via(
            &a,
            base,
            &format!("filling {i} {}", "x".repeat(150)),
            "idle",
        );
        match r.status {
            202 => queued.push(r.body["id"].as_str().unwrap().to_string()),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("POST while filling: {other} {}", r.body),
        }
    }
    let refused = refused.expect("the database filled up");
    let msg = refused.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("not committed: disk full"), "{msg}");
    assert!(
        msg.contains("database or disk is full"),
        "SQLite's reason: {msg}"
    );

    let h = call(&a, base, "GET", "/healthz", None);
    assert_eq!(h.status, 503, "{}", h.body);
    assert_eq!(h.body["status"], "disk_full", "{}", h.body);
    assert!(
        h.body["reason"].as_str().unwrap().contains("disk is full"),
        "{}",
        h.body
    );
    assert_eq!(h.body["modems"]["configured"], 2, "the usual shape");
    // Still full: refused again, at once and with the same reason.
    let again = post(&a, base, "still full");
    assert_eq!(again.status, 503, "{}", again.body);
    assert_eq!(metric(&a, base, "smsgw_store_disk_full"), 1.0);
    assert_eq!(
        metric(&a, base, "smsgw_store_disk_full_episodes_total"),
        1.0
    );
    assert!(metric(&a, base, "smsgw_store_disk_full_refused_total") >= 2.0);
    assert!(metric(&a, base, "smsgw_store_wal_truncations_total") >= 1.0);

    // Space comes back (SQLite's default limit): health is ok again with
    // no request to nudge it, and new work is taken and sent.
    srv.gw.store().set_max_pages(1_073_741_823).unwrap();
    wait_health(&a, base, "ok", Duration::from_secs(60));
    assert_eq!(metric(&a, base, "smsgw_store_disk_full"), 0.0);
    for i in 0..3 {
        let r = post(&a, base, &format!("after {i}"));
        assert_eq!(r.status, 202, "{}", r.body);
        accepted.push(r.body["id"].as_str().unwrap().to_string());
    }
    // Everything that got a 202 is there (sent and delivered, or queued
    // for the modem that never comes); nothing else is.
    wait_delivered(&a, base, &accepted);
    assert!(!queued.is_empty(), "some work was taken before the limit");
    for id in &queued {
        let m = call(&a, base, "GET", &format!("/v1/messages/{id}"), None);
        assert_eq!(m.status, 200, "accepted message {id} is stored");
        assert_eq!(m.body["state"], "ACCEPTED", "{}", m.body);
    }
    let stored = srv
        .gw
        .store()
        .messages(&MessageFilter::default())
        .unwrap()
        .len();
    assert_eq!(
        stored,
        accepted.len() + queued.len(),
        "only what was accepted is stored"
    );
    assert_eq!(
        metric(&a, base, "smsgw_store_disk_full_episodes_total"),
        1.0
    );
}

/// Whether this machine lets us mount a tmpfs in a mount namespace of our
/// own (`unshare`: as root, or through a user namespace).
fn can_mount_tmpfs(dir: &Path) -> bool {
    let point = dir.join("probe");
    std::fs::create_dir_all(&point).unwrap();
    Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$0\""])
        .arg(&point)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success())
}

/// `smsgw serve` in a mount namespace of its own where `fs` is a tmpfs of
/// `size`; the test reaches that file system through `/proc/<pid>/root`.
struct Confined {
    child: Child,
    log: PathBuf,
    fs: PathBuf,
}

impl Confined {
    fn start(dir: &Path, fs: &Path, size: &str, config: &Path) -> Confined {
        let log = dir.join("daemon.log");
        // No --fork: unshare execs sh, which execs smsgw, in one process.
        let child = Command::new("unshare")
            .args([
                "-rm",
                "sh",
                "-c",
                "mount -t tmpfs -o size=\"$1\" tmpfs \"$2\" && exec \"$0\" serve --config \"$3\"",
            ])
            .arg(env!("CARGO_BIN_EXE_smsgw"))
            .arg(size)
            .arg(fs)
            .arg(config)
            .env("RUST_LOG", "smsgw=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start smsgw serve under unshare");
        let inside =
            PathBuf::from(format!("/proc/{}/root", child.id())).join(fs.strip_prefix("/").unwrap());
        Confined {
            child,
            log,
            fs: inside,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Bytes free on the daemon's tmpfs.
    fn free(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.fs).unwrap();
        #[allow(clippy::useless_conversion)]
        let free = u64::from(st.blocks_available()) * u64::from(st.fragment_size());
        free
    }

    fn wal_bytes(&self) -> u64 {
        std::fs::metadata(self.fs.join("gw.db-wal")).map_or(0, |m| m.len())
    }
}

impl Drop for Confined {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real thing: the daemon's database on a tmpfs that fills up. The
/// disk is filled by another file, messages are refused with 503 once the
/// log cannot grow, and freeing a little (far less than the store holds)
/// is enough for the gateway to store and send again by itself: the log
/// was cut back instead of growing into what was freed.
#[test]
fn a_full_file_system_is_survived_with_little_space_freed() {
    let dir = tempfile::tempdir().unwrap();
    if !can_mount_tmpfs(dir.path()) {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (unshare -rm); \
             a_full_database_answers_503_and_recovers_on_its_own covers the path"
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sims = common::start_sims(&rt, dir.path(), "quectel-ec2x", 1, |_, c| {
        c.report_delay_ms = (20, 50);
    });
    let fs = dir.path().join("fs");
    std::fs::create_dir_all(&fs).unwrap();
    let port = common::free_port();
    let never = dir.path().join("never-there").display().to_string();
    let cfg = common::write_config(
        dir.path(),
        port,
        &fs.join("gw.db"),
        &[
            ("sim0", &sims[0].1, "quectel-ec2x"),
            ("idle", &never, "generic"),
        ],
        "",
    );
    let d = Confined::start(dir.path(), &fs, "8m", &cfg);
    common::wait_ready_or_show(port, 1, Some(&d.log));
    let (a, base) = (agent(), format!("http://127.0.0.1:{port}"));
    let base = base.as_str();

    let mut sent = Vec::new();
    for i in 0..3 {
        let r = post(&a, base, &format!("before {i}"));
        assert_eq!(r.status, 202, "{}", r.body);
        sent.push(r.body["id"].as_str().unwrap().to_string());
    }
    wait_delivered(&a, base, &sent);

    // Fill the file system with another file, 64 KiB at a time.
    let mut fillers = Vec::new();
    'fill: for i in 0.. {
        let path = d.fs.join(format!("filler-{i}"));
        let mut f = std::fs::File::create(&path).unwrap();
        fillers.push(path);
        for _ in 0..16 {
            use std::io::Write;
            if f.write_all(&[0xA5; 4096]).is_err() {
                break 'fill;
            }
        }
    }
    assert!(d.free() < 64 * 1024, "the file system is full");
    // Nearly: 128 KiB left, which a few hundred messages take.
    for f in fillers.drain(fillers.len() - 2..) {
        std::fs::remove_file(f).unwrap();
    }

    let mut queued = Vec::new();
    let mut refused = None;
    for i in 0..20_000 {
        let r = post_via(
            &a,
            base,
            &format!("filling {i} {}", "y".repeat(150)),
            "idle",
        );
        match r.status {
            202 => queued.push(r.body["id"].as_str().unwrap().to_string()),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("POST on a full disk: {other} {}\n{}", r.body, d.log()),
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("never refused\n{}", d.log()));
    let msg = refused.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("not committed: disk full"), "{msg}");
    assert!(
        msg.contains("database or disk is full"),
        "SQLite's reason: {msg}"
    );
    let h = call(&a, base, "GET", "/healthz", None);
    assert_eq!(
        (h.status, h.body["status"].as_str()),
        (503, Some("disk_full"))
    );
    // Refused again while nothing is freed; the log does not grow.
    let wal_full = d.wal_bytes();
    for i in 0..20 {
        let r = post_via(&a, base, &format!("still full {i}"), "idle");
        assert_eq!(r.status, 503, "{}", r.body);
    }
    assert!(d.wal_bytes() <= wal_full.max(4096));

    // Free 512 KiB: far less than the 8 MiB the store could use, so it
    // is enough only if the log gave its space back rather than grew.
    for f in fillers.drain(fillers.len() - 8..) {
        std::fs::remove_file(f).unwrap();
    }
    let h = wait_health(&a, base, "ok", Duration::from_secs(60));
    assert_eq!(h.status, 200);
    eprintln!(
        "full disk: {} queued before the 503, log {} bytes when full, {} after; {} bytes free",
        queued.len(),
        wal_full,
        d.wal_bytes(),
        d.free()
    );
    assert!(metric(&a, base, "smsgw_store_wal_truncations_total") >= 1.0);
    assert_eq!(
        metric(&a, base, "smsgw_store_disk_full_episodes_total"),
        1.0
    );
    assert!(
        d.wal_bytes() < 256 * 1024,
        "the log was cut back: {} bytes",
        d.wal_bytes()
    );
    for i in 0..3 {
        let r = post(&a, base, &format!("after {i}"));
        assert_eq!(r.status, 202, "{}\n{}", r.body, d.log());
        sent.push(r.body["id"].as_str().unwrap().to_string());
    }
    wait_delivered(&a, base, &sent);
    for id in &queued {
        let m = call(&a, base, "GET", &format!("/v1/messages/{id}"), None);
        assert_eq!(m.status, 200, "accepted message {id} is stored");
    }
    // The ones for `idle` wait in the queue: all of them, and no more.
    assert_eq!(
        metric(&a, base, "smsgw_queue_depth") as usize,
        queued.len(),
        "only what was accepted is stored"
    );
    // Said once for the episode, not per refused request.
    let log = d.log();
    if std::env::var_os("SMSGW_TEST_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    assert_eq!(log.matches("the disk is full:").count(), 1, "{log}");
    assert_eq!(log.matches("the disk has room again").count(), 1, "{log}");
    drop(sims);
}

fn sizes(dir: &std::path::Path) -> (u64, u64) {
    let db = std::fs::metadata(dir.join("full.db")).map_or(0, |m| m.len());
    let wal = std::fs::metadata(dir.join("full.db-wal")).map_or(0, |m| m.len());
    (db, wal)
}

#[test]
#[ignore]
fn measure_space() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let text_len: usize = std::env::var("TEXT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let srv = InProcess::start();
    let dir = srv._dir.path().to_path_buf();
    let (a, base) = (agent(), srv.base.clone());
    // settle
    std::thread::sleep(Duration::from_millis(500));
    // Another connection's TRUNCATE checkpoint: everything in the
    // database file, the log empty.
    let truncate = |srv: &InProcess| {
        let c = rusqlite::Connection::open(srv._dir.path().join("full.db")).unwrap();
        c.busy_timeout(Duration::from_secs(30)).unwrap();
        let busy: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 0);
    };
    truncate(&srv);
    let (db0, _) = sizes(&dir);
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (p2, s2, d2) = (peak.clone(), stop.clone(), dir.clone());
    let sampler = std::thread::spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            let (_, w) = sizes(&d2);
            p2.fetch_max(w, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let text = "x".repeat(text_len);
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (base, text) = (base.clone(), text.clone());
            std::thread::spawn(move || {
                let a = agent();
                (0..n / 8)
                    .map(|i| {
                        let r = post_via(&a, &base, &format!("{t}-{i} {text}"), "idle");
                        assert_eq!(r.status, 202);
                        r.body["id"].as_str().unwrap().to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let burst = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    truncate(&srv);
    let (db1, _) = sizes(&dir);
    eprintln!(
        "queued {n} msgs of {text_len} chars in {burst:?}: db {db0} -> {db1}: {} B/msg; WAL peak during burst {} KiB",
        (db1 - db0) / n as u64,
        peak.load(Ordering::Relaxed) / 1024
    );
    // sent + delivered with reports
    let m = n.min(100);
    let peak2 = Arc::new(AtomicU64::new(0));
    let stop2 = Arc::new(AtomicBool::new(false));
    let (p3, s3, d3) = (peak2.clone(), stop2.clone(), dir.clone());
    let sampler = std::thread::spawn(move || {
        while !s3.load(Ordering::Relaxed) {
            let (_, w) = sizes(&d3);
            p3.fetch_max(w, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let ids: Vec<String> = (0..m)
        .map(|i| {
            let r = post_via(&a, &base, &format!("s{i} {text}"), "sim0");
            assert_eq!(r.status, 202);
            r.body["id"].as_str().unwrap().to_string()
        })
        .collect();
    wait_delivered(&a, &base, &ids);
    stop2.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    truncate(&srv);
    let (db2, _) = sizes(&dir);
    eprintln!(
        "sent+delivered {m} msgs: db {db1} -> {db2}: {} B/msg (queued, sent, report, events); WAL peak {} KiB",
        (db2 - db1) / m as u64,
        peak2.load(Ordering::Relaxed) / 1024
    );
}

/// A disk with no room at start: the daemon does not start, and says that
/// the disk is full (SQLite alone says "disk I/O error").
#[test]
fn a_full_disk_at_start_is_named() {
    let dir = tempfile::tempdir().unwrap();
    if !can_mount_tmpfs(dir.path()) {
        eprintln!("SKIPPED: cannot mount a tmpfs here (unshare -rm)");
        return;
    }
    let fs = dir.path().join("fs");
    std::fs::create_dir_all(&fs).unwrap();
    let never = dir.path().join("never-there").display().to_string();
    let cfg = common::write_config(
        dir.path(),
        common::free_port(),
        &fs.join("gw.db"),
        &[("m1", &never, "generic")],
        "",
    );
    let out = Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=1m tmpfs \"$1\" \
             && { cat /dev/zero > \"$1/filler\" 2>/dev/null; true; } \
             && exec \"$0\" serve --config \"$2\"",
        ])
        .arg(env!("CARGO_BIN_EXE_smsgw"))
        .arg(&fs)
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the disk is full"), "{err}");
    assert!(
        err.contains(&fs.join("gw.db").display().to_string()),
        "{err}"
    );
}
