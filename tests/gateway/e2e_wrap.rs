//! Issue 4's wrap-around case end to end: the gateway worker, the real
//! session over a pty, the simulated modem and the SQLite store. Every
//! matched report is checked against the simulated network's own log (which
//! submit it answered), so a mis-attribution cannot hide.

use std::collections::HashMap;
use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::gateway::worker::{self, WorkerConfig};
use smsgw::gateway::{Gateway, GatewaySettings, SubmitRequest};
use smsgw::profile::Profile;
use smsgw::router::RouterConfig;
use smsgw::sim::{self, SimConfig, SimEndpoint, SimHandle, SimModem};
use smsgw::store::{MessageFilter, ReportFilter, Store};

const TO: &str = "+393331234567";

async fn start_sim(
    dir: &std::path::Path,
    name: &str,
    tweak: impl FnOnce(&mut SimConfig),
) -> (SimHandle, String) {
    let mut cfg = sim_config_for(&Profile::by_name("quectel-ec2x").unwrap());
    tweak(&mut cfg);
    let link = dir.join(name);
    let h = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
        .await
        .unwrap();
    (h, link.display().to_string())
}

fn worker_cfg(name: &str, device: &str) -> WorkerConfig {
    WorkerConfig {
        name: name.into(),
        device: device.into(),
        profile: "quectel-ec2x".into(),
        pin: None,
        rate_per_minute: None,
        prefixes: vec![],
        rescan: Duration::from_millis(200),
    }
}

fn submit(gw: &Gateway, n: usize, modem: &str) {
    for i in 0..n {
        let req = SubmitRequest {
            to: TO.into(),
            text: format!("message {i} via {modem}"),
            report: Some(true),
            validity: Some("1d".into()),
            modem: Some(modem.into()),
            ucs2: false,
            flash: false,
            ..SubmitRequest::default()
        };
        gw.submit(&req).unwrap();
    }
}

async fn wait_all_final(gw: &Gateway, total: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let done = gw
            .store()
            .messages(&MessageFilter::default())
            .unwrap()
            .iter()
            .filter(|m| m.state.is_final())
            .count();
        if done == total {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done}/{total} messages final"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (modem name, part id) -> (TP-MR, SCTS of the submit that part was), by
/// pairing each modem's parts in send order with the simulator's log.
fn truth(gw: &Gateway, sims: &[(&str, &SimHandle)]) -> HashMap<i64, (String, u8, i64)> {
    let store = gw.store();
    let mut parts: Vec<_> = store
        .messages(&MessageFilter::default())
        .unwrap()
        .into_iter()
        .flat_map(|m| store.message(smsgw::store::MessageId(m.id)).unwrap().parts)
        .collect();
    parts.sort_by_key(|p| p.id);
    let mut out = HashMap::new();
    for (name, sim) in sims {
        let log = sim.submits();
        let mine: Vec<_> = parts
            .iter()
            .filter(|p| p.modem.as_deref() == Some(*name))
            .collect();
        assert_eq!(
            mine.len(),
            log.len(),
            "{name}: every part reached the network once"
        );
        for (p, s) in mine.iter().zip(&log) {
            assert_eq!(
                p.mr,
                Some(s.mr),
                "{name}: parts and network log pair up in order"
            );
            out.insert(p.id, (name.to_string(), s.mr, s.scts_unix));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_to_one_number_across_the_wrap() {
    let dir = tempfile::tempdir().unwrap();
    // 2 x 6 ms per part: the same MR comes back ~3 s later, more than the
    // router's 2 s tolerance. Reports are held 12 s: all arrive after the wrap.
    let (sim, dev) = start_sim(dir.path(), "sim0", |c| {
        c.mr_start = 250;
        c.latency_ms = 6;
        c.report_delay_ms = (12_000, 12_000);
        c.smsc_clock_offset_s = 41;
    })
    .await;
    let store = Store::open(&dir.path().join("e2e.db"), RouterConfig::default()).unwrap();
    let gw = Gateway::new(
        store,
        GatewaySettings::default(),
        &[("sim0".into(), dev.clone())],
    );
    let w = tokio::spawn(worker::run(gw.clone(), worker_cfg("sim0", &dev)));
    submit(&gw, 300, "sim0");
    wait_all_final(&gw, 300).await;
    let truth = truth(&gw, &[("sim0", &sim)]);
    {
        let store = gw.store();
        let reports = store.reports(ReportFilter::All, None).unwrap();
        assert_eq!(reports.len(), 300, "one report per part");
        let mut matched = 0;
        let mut ambiguous = 0;
        for r in &reports {
            match r.result.as_str() {
                "matched" => {
                    let part = r.part_id.unwrap();
                    let (_, mr, scts) = truth[&part];
                    assert_eq!(
                        (r.mr, r.scts),
                        (mr, scts),
                        "report {} attached to the wrong part {part}",
                        r.id
                    );
                    matched += 1;
                }
                "ambiguous" => {
                    assert!(r.candidates.len() >= 2);
                    ambiguous += 1;
                }
                other => panic!("report {} is {other}", r.id),
            }
        }
        // MRs 250..=255 and 0..=37 were used twice while the first use was pending.
        assert_eq!(store.collisions(None).unwrap().len(), 44);
        // The first reports came before any clock offset could be learned and
        // were held as ambiguous; once later matches taught the offset and
        // settled the other candidate, they were decided: none is left.
        assert_eq!(ambiguous, 0, "reports still ambiguous");
        assert_eq!(matched, 300);
        let by_time = reports
            .iter()
            .filter(|r| r.basis.as_deref() == Some("time"))
            .count();
        assert!(by_time >= 44, "only {by_time} reports told apart by time");
    }
    gw.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_modems_with_the_same_mrs_do_not_cross_talk() {
    let dir = tempfile::tempdir().unwrap();
    let mut sims = Vec::new();
    for name in ["a", "b"] {
        sims.push(
            start_sim(dir.path(), name, |c| {
                c.mr_start = 0;
                c.latency_ms = 1;
                c.report_delay_ms = (500, 1500);
            })
            .await,
        );
    }
    let store = Store::open(&dir.path().join("e2e.db"), RouterConfig::default()).unwrap();
    let gw = Gateway::new(
        store,
        GatewaySettings::default(),
        &[
            ("a".into(), sims[0].1.clone()),
            ("b".into(), sims[1].1.clone()),
        ],
    );
    let mut workers = Vec::new();
    for (name, (_, dev)) in ["a", "b"].iter().zip(&sims) {
        workers.push(tokio::spawn(worker::run(gw.clone(), worker_cfg(name, dev))));
    }
    submit(&gw, 60, "a");
    submit(&gw, 60, "b");
    wait_all_final(&gw, 120).await;
    let truth = truth(&gw, &[("a", &sims[0].0), ("b", &sims[1].0)]);
    {
        let store = gw.store();
        let reports = store.reports(ReportFilter::All, None).unwrap();
        assert_eq!(reports.len(), 120);
        for r in &reports {
            assert_eq!(r.result, "matched", "report {}", r.id);
            let (modem, mr, scts) = &truth[&r.part_id.unwrap()];
            assert_eq!(&r.modem, modem, "a report crossed to the other modem");
            assert_eq!((r.mr, r.scts), (*mr, *scts));
        }
        assert!(
            store.collisions(None).unwrap().is_empty(),
            "same MRs on different modems are not collisions"
        );
    }
    gw.shutdown();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
}
