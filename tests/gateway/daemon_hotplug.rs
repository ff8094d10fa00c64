//! Issue 5's hot-plug test: a simulated modem removed and re-created
//! mid-batch. Its queued work moves to the other modem, nothing is lost,
//! and it rejoins when it comes back at the same path.

use crate::common;

use std::time::Duration;

use common::*;

#[test]
fn unplugged_modem_hands_over_and_rejoins() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sims = start_sims(&rt, dir.path(), "quectel-ec2x", 2, |i, c| {
        // A few ms per command so the batch is still running at the unplug.
        c.latency_ms = 3;
        c.report_delay_ms = (50, 300);
        c.seed = 21 + i;
    });
    let port = free_port();
    let db = dir.path().join("smsgw.db");
    let modems: Vec<(&str, &str, &str)> = vec![
        ("sim0", &sims[0].1, "quectel-ec2x"),
        ("sim1", &sims[1].1, "quectel-ec2x"),
    ];
    let config = write_config(dir.path(), port, &db, &modems, "");
    let log = dir.path().join("daemon.log");
    let mut daemon = spawn_daemon(&config, &log);
    wait_ready_or_show(port, 2, Some(&log));
    let a = agent();
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(
            post(
                &a,
                port,
                &format!("+39333{:07}", i),
                &format!("hot-plug {i}"),
            )
            .unwrap(),
        );
        if i == 100 {
            // Pull sim0 for 3 s: the device node disappears and comes back.
            sims[0].0.unplug(Duration::from_secs(3));
        }
    }
    let before = sims[0].0.submits().len();
    // sim0 back and reconnected: it takes work again.
    rt.block_on(sims[0].0.wait_plugged(true));
    wait_ready(port, 2);
    for i in 300..400 {
        ids.push(
            post(
                &a,
                port,
                &format!("+39333{:07}", i),
                &format!("after replug {i}"),
            )
            .unwrap(),
        );
    }
    let messages = wait_final(&a, port, &ids, Duration::from_secs(300));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let delivered = messages.iter().filter(|m| m["state"] == "DELIVRD").count();
    let unknown = messages.iter().filter(|m| m["state"] == "UNKNOWN").count();
    assert_eq!(
        delivered + unknown,
        400,
        "every message delivered (or UNKNOWN if in flight at the unplug)"
    );
    assert!(unknown <= 1, "{unknown} UNKNOWN");
    let sent: usize = sims.iter().map(|(h, _)| h.submits().len()).sum();
    assert!(
        (399..=400).contains(&sent),
        "{sent} submits for 400 messages"
    );
    assert!(!sims[1].0.submits().is_empty());
    assert!(
        sims[0].0.submits().len() > before,
        "sim0 did not rejoin after the replug"
    );
}
