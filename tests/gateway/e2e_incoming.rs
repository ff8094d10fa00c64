//! Incoming SMS through the daemon's worker: pushed (+CMT, acknowledged
//! with AT+CNMA) or stored (+CMTI, read and deleted), concatenated parts
//! reassembled, stored once in the inbox, and only then released.

use std::path::Path;
use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::gateway::worker::{self, WorkerConfig};
use smsgw::gateway::{Gateway, GatewaySettings};
use smsgw::pdu::hex;
use smsgw::profile::Profile;
use smsgw::router::RouterConfig;
use smsgw::sim::{self, codec, SimEndpoint, SimHandle, SimModem};
use smsgw::store::{unix_now, InboxRow, Staged, StagedPart, Store};

/// Until the worker's modem is set up (new-message indications on): an SMS
/// that arrives before that is stored by the modem unannounced.
async fn wait_connected(gw: &Gateway) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !gw.modems().iter().all(|m| m.connected) {
        assert!(tokio::time::Instant::now() < deadline, "modem never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A simulated modem of `dialect` and a gateway whose worker serves it,
/// over the database at `db`.
struct Rig {
    sim: SimHandle,
    smsc: String,
    gw: Gateway,
    worker: tokio::task::JoinHandle<()>,
}

impl Rig {
    async fn start(dir: &Path, dialect: &str, db: &Path) -> Rig {
        let link = dir.join("sim0");
        let cfg = sim_config_for(&Profile::by_name(dialect).unwrap());
        let smsc = cfg.smsc.clone();
        let sim = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
            .await
            .unwrap();
        let store = Store::open(db, RouterConfig::default()).unwrap();
        let dev = link.display().to_string();
        let gw = Gateway::new(
            store,
            GatewaySettings::default(),
            &[("sim0".into(), dev.clone())],
        );
        let worker = tokio::spawn(worker::run(
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
        wait_connected(&gw).await;
        Rig {
            sim,
            smsc,
            gw,
            worker,
        }
    }

    /// The first inbox row, waited for.
    async fn stored(&self, what: &str) -> InboxRow {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let rows = self.gw.store().inbox(None, None).unwrap();
            if let Some(r) = rows.into_iter().next() {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: SMS never stored"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the modem was told AT+CNMA `n` times.
    async fn acks(&self, n: usize) -> bool {
        self.sim
            .wait_until(Duration::from_secs(60), |m| {
                m.command_log()
                    .filter(|c| c.eq_ignore_ascii_case("AT+CNMA"))
                    .count()
                    >= n
            })
            .await
    }

    fn staged(&self) -> Vec<StagedPart> {
        let mut s = self.gw.store();
        let id = s.modem("sim0").unwrap();
        s.staged_parts(id).unwrap()
    }

    async fn stop(self) {
        self.gw.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.worker).await;
    }
}

const SENDER: &str = "+393471234567";

fn long_text() -> String {
    "Ciao! ".repeat(60) + "€ and {braces} at the end of a three-part message."
}

async fn incoming_in(dialect: &str, parts: u8) {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::start(dir.path(), dialect, &dir.path().join("in.db")).await;
    let text = match parts {
        1 => "Ciao! € and {braces} in one part.".to_string(),
        _ => long_text(),
    };
    let pdus = codec::deliver_parts(&rig.smsc, SENDER, &text, 1_795_860_000, 4, 77).unwrap();
    assert_eq!(pdus.len(), usize::from(parts));
    rig.sim.inject_incoming(pdus);
    let row = rig.stored(dialect).await;
    assert_eq!(row.sender, SENDER);
    assert_eq!(row.text.as_deref(), Some(text.as_str()), "{dialect}");
    assert_eq!((row.parts, row.partial), (parts, false));
    assert_eq!(row.scts, 1_795_860_000);
    // Released from the modem only after it was stored: nothing left there.
    let released = rig
        .sim
        .wait_until(Duration::from_secs(60), |m| m.stored_indices().is_empty())
        .await;
    assert!(released, "{dialect}: parts still in the modem");
    let cnma = rig.sim.model().config().cnma_required;
    if cnma {
        assert!(
            rig.acks(usize::from(parts)).await,
            "{dialect}: parts not acknowledged"
        );
    }
    assert_eq!(
        rig.gw.store().inbox(None, None).unwrap().len(),
        1,
        "stored once"
    );
    assert_eq!(rig.staged(), vec![], "{dialect}: parts left staged");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_with_cnma() {
    incoming_in("quectel-ec2x", 1).await;
}

/// The modem holds the next pushed part until the previous one is
/// acknowledged (AT+CNMA), and turns delivery off when that does not come in
/// time: each part is staged in the store and acknowledged then, and the
/// message is reassembled from the staged parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_multipart_with_cnma() {
    incoming_in("quectel-ec2x", 3).await;
}

/// The daemon stopped between the parts of a pushed SMS: the parts it had
/// staged go back into the reassembler at the next start, the rest arrive
/// (one of them again: its AT+CNMA never went out), and the message is
/// stored once, with nothing left staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_parts_staged_before_a_restart_are_reassembled_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("in.db");
    let smsc = sim_config_for(&Profile::by_name("quectel-ec2x").unwrap()).smsc;
    let text = long_text();
    let pdus = codec::deliver_parts(&smsc, SENDER, &text, 1_795_860_000, 4, 78).unwrap();
    assert_eq!(pdus.len(), 3);
    // Before the stop: parts 1 and 2 staged (by another Store on the file).
    {
        let mut s = Store::open(&db, RouterConfig::default()).unwrap();
        let m = s.modem("sim0").unwrap();
        for (pdu, _) in &pdus[..2] {
            let got = s
                .stage_part(m, SENDER, &hex::encode(pdu), unix_now())
                .unwrap();
            assert!(matches!(got, Staged::New(_)), "{got:?}");
        }
    }
    let rig = Rig::start(dir.path(), "quectel-ec2x", &db).await;
    rig.sim.inject_incoming(pdus[1..].to_vec());
    let row = rig.stored("after a restart").await;
    assert_eq!(row.text.as_deref(), Some(text.as_str()));
    assert_eq!((row.parts, row.partial), (3, false));
    assert!(rig.acks(2).await, "parts 2 and 3 not acknowledged");
    assert_eq!(rig.gw.store().inbox(None, None).unwrap().len(), 1);
    assert_eq!(rig.staged(), vec![], "parts left staged");
    rig.stop().await;
}

/// A pushed part delivered again after its message was stored (its
/// AT+CNMA lost) is recognised: acknowledged, not staged, and no second
/// (partial) message comes of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_part_delivered_again_after_its_message_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::start(dir.path(), "quectel-ec2x", &dir.path().join("in.db")).await;
    let text = long_text();
    let pdus = codec::deliver_parts(&rig.smsc, SENDER, &text, 1_795_860_000, 4, 79).unwrap();
    rig.sim.inject_incoming(pdus.clone());
    let row = rig.stored("pushed").await;
    assert!(rig.acks(3).await, "parts not acknowledged");
    rig.sim.inject_incoming(pdus[2..].to_vec());
    // Acknowledged only once its stage was decided (on disk).
    assert!(rig.acks(4).await, "the repeated part not acknowledged");
    assert_eq!(rig.staged(), vec![], "the repeated part was staged");
    let rows = rig.gw.store().inbox(None, None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, row.id);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_then_deleted() {
    incoming_in("huawei-e173", 3).await;
}

/// A pushed PDU that cannot be decoded is still acknowledged: left
/// unacknowledged, the modem would turn delivery to the host off (27.005
/// +CNMA) and every later SMS and report would stay in the modem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_pushed_pdu_does_not_stop_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::start(dir.path(), "quectel-ec2x", &dir.path().join("in.db")).await;
    // A DELIVER whose user data is cut short: well framed, undecodable.
    let (mut bad, bad_len) =
        codec::deliver_parts(&rig.smsc, "+393471234568", "cut short", 1_795_860_000, 4, 2)
            .unwrap()
            .remove(0);
    bad.truncate(bad.len() - 4);
    let garbage = (bad, bad_len - 4);
    assert!(smsgw::pdu::parse_with_smsc(&garbage.0).is_err());
    let good =
        codec::deliver_parts(&rig.smsc, SENDER, "after the garbage", 1_795_860_000, 4, 1).unwrap();
    let mut pdus = vec![garbage];
    pdus.extend(good);
    rig.sim.inject_incoming(pdus);
    let row = rig.stored("the SMS after an undecodable one").await;
    assert_eq!(row.text.as_deref(), Some("after the garbage"));
    rig.stop().await;
}
