//! Issue 5's restart test: SIGKILL the daemon (a real child process) in the
//! middle of a 2,000-message batch against simulated modems, start it again,
//! and prove that no accepted message is lost, none is sent twice, and
//! every report is matched (except for the documented UNKNOWN parts).

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

#[test]
fn sigkill_mid_batch_loses_nothing_and_sends_nothing_twice() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Stored reports (+CDSI): what arrives while the daemon is dead waits in the modem.
    let sims = start_sims(&rt, dir.path(), "huawei-e173", 2, |i, c| {
        c.report_delay_ms = (100, 800);
        c.seed = 11 + i;
    });
    let port = free_port();
    let db = dir.path().join("smsgw.db");
    let modems: Vec<(&str, &str, &str)> = vec![
        ("sim0", &sims[0].1, "huawei-e173"),
        ("sim1", &sims[1].1, "huawei-e173"),
    ];
    let config = write_config(dir.path(), port, &db, &modems, "");
    let mut daemon = spawn_daemon(&config, &dir.path().join("daemon1.log"));
    wait_ready(port, 2);

    let a = agent();
    let total = 2_000;
    // A distinct recipient per message: the simulators' logs then say how
    // often each message reached the network.
    let to = |i: usize| format!("+39333{:07}", i);
    let mut accepted: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < total {
        if i == 800 {
            daemon.kill().unwrap(); // SIGKILL
            daemon.wait().unwrap();
            daemon = spawn_daemon(&config, &dir.path().join("daemon2.log"));
            wait_ready(port, 2);
        }
        match post(&a, port, &to(i), &format!("restart test {i}")) {
            Ok(id) => accepted.push((i, id)),
            Err(e) => panic!("message {i} refused while the daemon was up: {e}"),
        }
        i += 1;
    }
    let ids: Vec<String> = accepted.iter().map(|(_, id)| id.clone()).collect();
    let messages = wait_final(&a, port, &ids, Duration::from_secs(600));
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    // How often each recipient reached the network.
    let mut sent: HashMap<String, usize> = HashMap::new();
    for (h, _) in &sims {
        for s in h.submits() {
            *sent.entry(s.recipient).or_default() += 1;
        }
    }
    let mut unknown = 0;
    for ((i, id), m) in accepted.iter().zip(&messages) {
        let n = sent.get(&to(*i)).copied().unwrap_or(0);
        assert!(n <= 1, "message {id} ({}) was sent {n} times", to(*i));
        match m["state"].as_str().unwrap() {
            "DELIVRD" => assert_eq!(n, 1, "message {id} delivered but never sent?"),
            "UNKNOWN" => unknown += 1,
            other => panic!("message {id} ended {other}: {m}"),
        }
    }
    assert_eq!(accepted.len(), total, "every POST was accepted");
    // Only parts whose AT+CMGS was in flight when the daemon died (one per
    // modem at most) may end UNKNOWN.
    assert!(unknown <= 2, "{unknown} messages UNKNOWN");
    // Every report matched: read the store the daemon left behind.
    let store = smsgw::store::Store::open(&db, smsgw::router::RouterConfig::default()).unwrap();
    let reports = store
        .reports(smsgw::store::ReportFilter::All, None)
        .unwrap();
    // Reports the modem still held when the daemon died (read and stored,
    // AT+CMGD not yet sent) are read again after the restart: recognised
    // as repeats of a settled part, never applied twice.
    for r in reports.iter().filter(|r| r.result == "duplicate") {
        assert!(r.part_id.is_some(), "duplicate without its part: {r:?}");
    }
    // A part whose +CMGS answer came but was not yet recorded when the daemon
    // died is UNKNOWN; its report then has no part to land on (an orphan).
    let orphans = reports.iter().filter(|r| r.result == "orphan").count();
    assert!(
        orphans <= unknown,
        "{orphans} orphan reports for {unknown} UNKNOWN parts"
    );
    assert_eq!(
        reports.iter().filter(|r| r.result == "ambiguous").count(),
        0
    );
    let delivered = messages.iter().filter(|m| m["state"] == "DELIVRD").count();
    assert!(reports.iter().filter(|r| r.result == "matched").count() >= delivered);
}
