//! End to end through the daemon: `smsgw serve` (a real child process) with
//! N simulated zero-latency modems (`smsgw sim`, each its own process, on
//! ptys), loaded by C keep-alive HTTP clients. Measures messages per second
//! from the first POST until every part is DELIVRD with its report matched,
//! everything durable (WAL, synchronous=FULL), plus the daemon's RSS and
//! CPU time per message.
//!
//!   cargo bench --bench e2e -- [MESSAGES] [MODEMS] [CLIENTS]   (5000 8 8)
//!
//! `scripts/bench-e2e.sh` runs exactly this. Under `cargo test` (no
//! `--bench` flag) it runs a small batch as a smoke test and fails unless
//! every message is delivered with its report matched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod rig;
use rig::{agent, get, start_daemon, start_sims, usage, Procs, TOKEN};

/// The value of an unlabelled metric on the /metrics page.
fn metric(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// A minimal HTTP/1.1 keep-alive client for the load (requests of our own
/// making, answers with Content-Length, as the daemon sends them).
struct Client {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    port: u16,
}

impl Client {
    async fn connect(port: u16) -> std::io::Result<Client> {
        let s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        Ok(Client {
            stream: tokio::io::BufReader::new(s),
            port,
        })
    }

    /// POST `body` as JSON; the answer's status.
    async fn post(&mut self, path: &str, body: &str) -> std::io::Result<u16> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        self.stream.get_mut().write_all(req.as_bytes()).await?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(bad("connection closed in the headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| bad("content-length"))?;
                }
            }
        }
        let mut answer = vec![0u8; length];
        self.stream.read_exact(&mut answer).await?;
        Ok(status)
    }
}

fn main() {
    // `cargo bench` adds flags such as --bench: only numbers are ours.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (m, n, c) = if smoke { (200, 2, 4) } else { (5000, 8, 8) };
    let messages = nums.first().copied().unwrap_or(m);
    let modems = nums.get(1).copied().unwrap_or(n).max(1);
    let clients = nums.get(2).copied().unwrap_or(c).max(1);
    // The modems' dialect: quectel-ec2x pushes reports (+CDS, each
    // acknowledged with AT+CNMA before the next comes), generic stores them
    // (+CDSI, then AT+CMGR and AT+CMGD).
    let profile = std::env::var("E2E_PROFILE").unwrap_or_else(|_| "quectel-ec2x".into());
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = rig::free_port();

    // The simulated modems live in E2E_SIM_PROCESSES processes (default
    // one: a real modem costs the host no CPU, so the simulators should
    // take as little of it as they can; one thread serves them all).
    let groups = std::env::var("E2E_SIM_PROCESSES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, modems);
    let mut procs = Procs(Vec::new());
    start_sims(&mut procs, dir.path(), &profile, modems, groups);
    let sims = groups;
    let config = rig::write_config(dir.path(), port, modems, &profile, "");
    let pid = start_daemon(&mut procs, dir.path(), &config, port, modems, || true);
    let a = agent();
    let (cpu0, idle_rss) = usage(pid);
    let (me0, _) = usage(std::process::id());
    let sims_cpu0: f64 = procs.0[..sims].iter().map(|c| usage(c.id()).0).sum();

    let per = messages / clients;
    let total = per * clients;
    let errors = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    // The clients: keep-alive connections driven by one thread, so that the
    // load generator takes little of the machine it measures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|k| {
                let errors = errors.clone();
                tokio::spawn(async move {
                    let mut conn = match Client::connect(port).await {
                        Ok(c) => c,
                        Err(_) => {
                            errors.fetch_add(per as u64, Ordering::Relaxed);
                            return;
                        }
                    };
                    for i in 0..per {
                        let n = k * per + i;
                        let body =
                            format!(r#"{{"to":"+39333{n:07}","text":"bench {n}","report":true}}"#);
                        if conn.post("/v1/messages", &body).await.ok() != Some(202) {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("client task");
        }
    });
    let posted = t0.elapsed();
    let mut peak = idle_rss;
    let mut page;
    loop {
        page = get(&a, port, "/metrics").unwrap_or_default();
        peak = peak.max(usage(pid).1);
        if metric(&page, "smsgw_parts_delivered_total") >= total as u64
            || t0.elapsed() > Duration::from_secs(600)
        {
            break;
        }
        // Often enough to time a run of a second or more to a few percent,
        // rarely enough not to load the daemon it measures.
        std::thread::sleep(Duration::from_millis(25));
    }
    let done = t0.elapsed();
    let (cpu1, _) = usage(pid);
    let (me1, _) = usage(std::process::id());
    let sims_cpu: f64 = procs.0[..sims].iter().map(|c| usage(c.id()).0).sum::<f64>() - sims_cpu0;
    let delivered = metric(&page, "smsgw_parts_delivered_total");
    let (orphans, ambiguous) = (
        metric(&page, "smsgw_orphan_reports"),
        metric(&page, "smsgw_ambiguous_reports"),
    );
    let per_msg = |s: f64| s * 1e6 / delivered.max(1) as f64;
    println!(
        "e2e: {total} messages over {modems} simulated {profile} modems ({sims} process(es)), \
         {clients} HTTP clients; \
         errors: {}",
        errors.load(Ordering::Relaxed)
    );
    println!(
        "accepted (POST 202):  {:8.0} msg/s",
        total as f64 / posted.as_secs_f64()
    );
    println!(
        "POST -> DELIVRD:      {:8.0} msg/s  ({delivered} delivered in {:.2} s)",
        delivered as f64 / done.as_secs_f64(),
        done.as_secs_f64()
    );
    println!(
        "reports: orphans {orphans}, ambiguous {ambiguous}, collisions {}",
        metric(&page, "smsgw_collisions_total"),
    );
    println!(
        "daemon: RSS idle {:.1} MB, peak {:.1} MB; CPU {:.0} us per message \
         (simulators: {:.0} us, HTTP clients: {:.0} us; all: {:.2} of the cores' time)",
        idle_rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        per_msg(cpu1 - cpu0),
        per_msg(sims_cpu),
        per_msg(me1 - me0),
        (cpu1 - cpu0 + sims_cpu + me1 - me0)
            / done.as_secs_f64()
            / std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64),
    );
    let errors = errors.load(Ordering::Relaxed);
    assert!(
        errors == 0 && delivered == total as u64 && orphans == 0 && ambiguous == 0,
        "not every message was delivered with its report matched: {errors} refused POSTs, \
         {delivered} of {total} delivered, {orphans} orphans, {ambiguous} ambiguous"
    );
}
