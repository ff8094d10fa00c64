//! Issue 10, defect 2: a SIM PIN the SIM refuses is never sent again. The
//! worker used to start a new session at every rescan (15 PINs in 30 s);
//! a real SIM locks after 3 wrong ones and needs its PUK.

use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::gateway::worker::{self, WorkerConfig};
use smsgw::gateway::{Gateway, GatewaySettings};
use smsgw::profile::Profile;
use smsgw::router::RouterConfig;
use smsgw::sim::{self, SimEndpoint, SimModem};
use smsgw::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_is_tried_once_and_the_modem_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = sim_config_for(&Profile::by_name("generic").unwrap());
    cfg.pin = Some("2468".into());
    let link = dir.path().join("sim0");
    let sim = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
        .await
        .unwrap();
    let dev = link.display().to_string();
    let store = Store::open(&dir.path().join("pin.db"), RouterConfig::default()).unwrap();
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
            profile: "generic".into(),
            pin: Some("1357".into()),
            rate_per_minute: None,
            prefixes: vec![],
            // A rescan every 50 ms: the old worker sent the PIN again at each.
            rescan: Duration::from_millis(50),
        },
    ));
    // The modem is reported out of service, with the reason.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let reason = loop {
        let status = gw.modems().into_iter().find(|m| m.name == "sim0").unwrap();
        if let Some(reason) = status.disabled {
            assert!(!status.connected);
            break reason;
        }
        assert!(tokio::time::Instant::now() < deadline, "never disabled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(reason.contains("refused the configured PIN"), "{reason}");
    assert!(!reason.contains("1357"), "the PIN leaked: {reason}");
    // Forty rescans later, still one PIN sent: two attempts left on the SIM.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.model().pin_entries(), 1);
    assert_eq!(sim.model().pin_attempts_left(), 2);
    gw.shutdown();
    tokio::time::timeout(Duration::from_secs(30), w)
        .await
        .expect("the worker stops on shutdown")
        .unwrap();
    sim.stop();
}
