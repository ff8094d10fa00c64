//! Incoming SMS through the daemon's worker: pushed (+CMT, acknowledged
//! with AT+CNMA) or stored (+CMTI, read and deleted), concatenated parts
//! reassembled, stored once in the inbox, and only then released.

use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::gateway::worker::{self, WorkerConfig};
use smsgw::gateway::{Gateway, GatewaySettings};
use smsgw::profile::Profile;
use smsgw::router::RouterConfig;
use smsgw::sim::{self, codec, SimEndpoint, SimModem};
use smsgw::store::Store;

async fn incoming_in(dialect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("sim0");
    let cfg = sim_config_for(&Profile::by_name(dialect).unwrap());
    let smsc = cfg.smsc.clone();
    let sim = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
        .await
        .unwrap();
    let store = Store::open(&dir.path().join("in.db"), RouterConfig::default()).unwrap();
    let dev = link.display().to_string();
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
            profile: dialect.into(),
            pin: None,
            rate_per_minute: None,
            prefixes: vec![],
            rescan: Duration::from_millis(200),
        },
    ));
    let text = "Ciao! ".repeat(60) + "€ and {braces} at the end of a three-part message.";
    let pdus = codec::deliver_parts(&smsc, "+393471234567", &text, 1_795_860_000, 4, 77).unwrap();
    assert_eq!(pdus.len(), 3);
    sim.inject_incoming(pdus);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let row = loop {
        let rows = gw.store().inbox(None, None).unwrap();
        if let Some(r) = rows.into_iter().next() {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{dialect}: SMS never stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row.sender, "+393471234567");
    assert_eq!(row.text.as_deref(), Some(text.as_str()), "{dialect}");
    assert_eq!((row.parts, row.partial), (3, false));
    assert_eq!(row.scts, 1_795_860_000);
    // Released from the modem only after it was stored: nothing left there.
    let released = sim
        .wait_until(Duration::from_secs(60), |m| m.stored_indices().is_empty())
        .await;
    assert!(released, "{dialect}: parts still in the modem");
    assert_eq!(
        gw.store().inbox(None, None).unwrap().len(),
        1,
        "stored once"
    );
    gw.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_with_cnma() {
    incoming_in("quectel-ec2x").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_then_deleted() {
    incoming_in("huawei-e173").await;
}
