//! Issue 9's wrap-around run through the daemon: 300 messages to one number
//! from a zero-latency simulated modem, so the modem hands out all 256
//! TP-MRs in under a second, with every report held until after the wrap.
//! The worker predicts the next TP-MR and holds a part back until it can be
//! told apart from the pending part under the same key; every report is
//! checked against the simulator's log of which submit it answers.

use std::collections::HashMap;
use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::gateway::worker::{self, WorkerConfig};
use smsgw::gateway::{Gateway, GatewaySettings, SubmitRequest};
use smsgw::profile::Profile;
use smsgw::router::RouterConfig;
use smsgw::sim::{self, SimEndpoint, SimModem};
use smsgw::store::{MessageFilter, MessageId, ReportFilter, Store};

const TO: &str = "+393331234567";
const COUNT: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_to_one_number_at_full_speed_leave_nothing_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = sim_config_for(&Profile::by_name("quectel-ec2x").unwrap());
    cfg.mr_start = 0;
    cfg.latency_ms = 0;
    // Held past the wrap: message 256 takes TP-MR 0 again while message 0
    // still waits for its report (20 s leaves room for a slow machine).
    cfg.report_delay_ms = (20_000, 20_000);
    cfg.smsc_clock_offset_s = 41;
    let link = dir.path().join("sim0");
    let sim = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
        .await
        .unwrap();
    let dev = link.display().to_string();
    let store = Store::open(&dir.path().join("wrap.db"), RouterConfig::default()).unwrap();
    let gap_s = store.router().reuse_gap();
    let gw = Gateway::new(
        store,
        GatewaySettings::default(),
        &[("sim0".into(), dev.clone())],
    );
    let w = tokio::spawn(worker::run(
        gw.clone(),
        WorkerConfig {
            name: "sim0".into(),
            device: dev,
            profile: "quectel-ec2x".into(),
            pin: None,
            rate_per_minute: None,
            prefixes: vec![],
            rescan: Duration::from_millis(200),
        },
    ));
    for i in 0..COUNT {
        let req = SubmitRequest {
            to: TO.into(),
            text: format!("message {i}"),
            report: Some(true),
            validity: Some("1d".into()),
            modem: Some("sim0".into()),
            ucs2: false,
            flash: false,
            ..SubmitRequest::default()
        };
        gw.submit(&req).unwrap();
    }
    // Every message final: none may be left ACCEPTED by an ambiguous report.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let (done, reports) = {
            let store = gw.store();
            let done = store
                .messages(&MessageFilter::default())
                .unwrap()
                .iter()
                .filter(|m| m.state.is_final())
                .count();
            (done, store.reports(ReportFilter::All, None).unwrap().len())
        };
        if done == COUNT {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done}/{COUNT} messages final ({reports} reports in)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let submits = sim.submits();
    let handed = sim.reports_log();
    let (parts, reports, collisions) = {
        let store = gw.store();
        let mut parts: Vec<_> = store
            .messages(&MessageFilter::default())
            .unwrap()
            .into_iter()
            .flat_map(|m| store.message(MessageId(m.id)).unwrap().parts)
            .collect();
        parts.sort_by_key(|p| p.id);
        let mut reports = store.reports(ReportFilter::All, None).unwrap();
        reports.sort_by_key(|r| r.id);
        (parts, reports, store.collisions(None).unwrap())
    };
    // Parts in the order they were sent pair up with the network's log.
    assert_eq!(
        parts.len(),
        submits.len(),
        "every part reached the network once"
    );
    let mut part_of_submit = HashMap::new();
    let mut sent_ms = HashMap::new();
    for (p, s) in parts.iter().zip(&submits) {
        assert_eq!(p.mr, Some(s.mr), "parts and network log pair up in order");
        part_of_submit.insert(s.seq, p.id);
        sent_ms.insert(p.id, s.submitted_unix_ms);
    }
    assert_eq!(submits[256].mr, submits[0].mr, "the run wraps the TP-MR");
    // Every report, in the order the modem handed them over, is the one the
    // network sent for that submit, and landed on that submit's part.
    assert_eq!(reports.len(), COUNT, "one report per part");
    assert_eq!(handed.len(), COUNT);
    let (mut by_time, mut wrong, mut ambiguous) = (0, 0, 0);
    for (r, h) in reports.iter().zip(&handed) {
        assert!(
            r.pdu.eq_ignore_ascii_case(&h.pdu_hex),
            "report {} is not the one the modem handed over",
            r.id
        );
        match r.result.as_str() {
            "matched" => {
                if r.part_id != Some(part_of_submit[&h.submit]) {
                    wrong += 1;
                }
                by_time += usize::from(r.basis.as_deref() == Some("time"));
            }
            "ambiguous" => ambiguous += 1,
            other => panic!("report {} is {other}", r.id),
        }
    }
    assert_eq!((ambiguous, wrong), (0, 0), "ambiguous, wrongly attributed");
    // The collisions happened (the TP-MR wrapped while parts were pending),
    // but each new part went far enough after the pending one to be told
    // apart: its report was decided by time.
    assert_eq!(
        collisions.len(),
        COUNT - 256,
        "every reused TP-MR met a pending part (reports are held 20 s)"
    );
    for c in &collisions {
        let apart = sent_ms[&c.new_part] - sent_ms[&c.pending_part];
        assert!(
            apart > (gap_s - 1) * 1000,
            "parts {} and {} went {apart} ms apart",
            c.pending_part,
            c.new_part
        );
    }
    assert!(by_time >= COUNT - 256, "only {by_time} decided by time");
    let first = submits.first().unwrap().submitted_unix_ms;
    let last = submits.last().unwrap().submitted_unix_ms;
    println!(
        "wrap run: {COUNT} parts sent in {} ms ({} collisions held apart)",
        last - first,
        collisions.len()
    );
    gw.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
}
