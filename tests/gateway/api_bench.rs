//! Issue 13's benchmark (ignored; run with
//! `cargo test --release --test gateway api_bench -- --ignored --nocapture`):
//! a 10,000-item bulk call against `smsgw serve` with 8 zero-latency
//! simulated modems: time to the 202, messages per second to DELIVRD; and
//! the same with 100 SSE clients connected, the daemon's CPU per event
//! delivered to a client.

use crate::common;

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

struct Run {
    to_202: Duration,
    to_delivered: Duration,
    cpu: f64,
    events: u64,
}

fn run(clients: usize, n: usize) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sims = start_sims(&rt, dir.path(), "huawei-e173", 8, |i, c| {
        c.report_delay_ms = (1, 5);
        c.seed = 90 + i;
    });
    let port = free_port();
    let db = dir.path().join("smsgw.db");
    let names: Vec<String> = (0..8).map(|i| format!("sim{i}")).collect();
    let modems: Vec<(&str, &str, &str)> = names
        .iter()
        .zip(&sims)
        .map(|(n, s)| (n.as_str(), s.1.as_str(), "huawei-e173"))
        .collect();
    let config = write_config(dir.path(), port, &db, &modems, "");
    let log = dir.path().join("daemon.log");
    let daemon = spawn_daemon(&config, &log);
    wait_ready_or_show(port, 8, Some(&log));
    let received = Arc::new(AtomicU64::new(0));
    for _ in 0..clients {
        let received = received.clone();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent
            .get(&format!("http://127.0.0.1:{port}/v1/events"))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        std::thread::spawn(move || {
            let r = std::io::BufReader::new(resp.into_body().into_reader());
            for line in r.lines() {
                match line {
                    Ok(l) if l.starts_with("id: ") => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
    }
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"to": format!("+39347{i:07}"), "text": format!("Hello customer {i}")}))
        .collect();
    let body = json!({ "messages": items }).to_string();
    let a = agent();
    let cpu0 = cpu_seconds(daemon.pid());
    let t0 = Instant::now();
    let mut r = a
        .post(&format!("http://127.0.0.1:{port}/v1/messages/bulk"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let to_202 = t0.elapsed();
    assert_eq!(r.status(), 202);
    let _ = r.body_mut().read_to_string();
    // Delivered: every message DELIVRD (one part each; the /metrics counter).
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let m = a
            .get(&format!("http://127.0.0.1:{port}/metrics"))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let delivered: f64 = m
            .lines()
            .filter(|l| l.starts_with("smsgw_parts_delivered_total "))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if delivered as usize >= n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {n} delivered in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let to_delivered = t0.elapsed();
    // Every client got every event.
    let want = (clients * n) as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while clients > 0 && received.load(Ordering::Relaxed) < want {
        assert!(
            Instant::now() < deadline,
            "events: {} of {want}",
            received.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cpu = cpu_seconds(daemon.pid()) - cpu0;
    drop(daemon);
    Run {
        to_202,
        to_delivered,
        cpu,
        events: received.load(Ordering::Relaxed),
    }
}

#[test]
#[ignore]
fn bench_bulk_and_sse_fan_out() {
    let n = 10_000;
    let plain = run(0, n);
    println!(
        "bulk {n}: 202 after {:?}; all DELIVRD after {:?} = {:.0} msg/s; daemon CPU {:.2} s ({:.0} us/msg)",
        plain.to_202,
        plain.to_delivered,
        n as f64 / plain.to_delivered.as_secs_f64(),
        plain.cpu,
        plain.cpu * 1e6 / n as f64
    );
    let sse = run(100, n);
    let extra = sse.cpu - plain.cpu;
    println!(
        "with 100 SSE clients: 202 after {:?}; all DELIVRD after {:?} = {:.0} msg/s, {:.0} events/s to clients; \
         daemon CPU {:.2} s; {} events delivered; extra CPU per event delivered {:.1} us",
        sse.to_202,
        sse.to_delivered,
        n as f64 / sse.to_delivered.as_secs_f64(),
        sse.events as f64 / sse.to_delivered.as_secs_f64(),
        sse.cpu,
        sse.events,
        extra * 1e6 / sse.events.max(1) as f64
    );
}
