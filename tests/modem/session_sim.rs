//! The real modem session over a real pty against the simulated modem.

use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::modem::transport::Endpoint;
use smsgw::modem::{InboundKind, Modem, ModemEvent, Origin, SessionConfig};
use smsgw::pdu::address::Address;
use smsgw::pdu::split::{encode_submit, SubmitOptions};
use smsgw::pdu::{parse_with_smsc, Tpdu};
use smsgw::profile::Profile;
use smsgw::sim::{self, SimConfig, SimEndpoint, SimModem};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(30);

async fn start(
    profile_name: &str,
    tweak: impl FnOnce(&mut SimConfig),
) -> (
    tempfile::TempDir,
    sim::SimHandle,
    Modem,
    UnboundedReceiver<ModemEvent>,
) {
    let profile = Profile::by_name(profile_name).expect("profile");
    let mut cfg = sim_config_for(&profile);
    tweak(&mut cfg);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySIM0");
    let handle = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
        .await
        .unwrap();
    let mut scfg = SessionConfig::from_profile(
        "sim0",
        Endpoint::Serial(link.display().to_string()),
        &profile,
    );
    scfg.registration_timeout = Duration::from_secs(10);
    let (modem, events) = tokio::time::timeout(WAIT, Modem::start(scfg))
        .await
        .expect("start timed out")
        .expect("start");
    (dir, handle, modem, events)
}

fn one_part(to: &str, text: &str) -> (usize, String) {
    let opts = SubmitOptions {
        status_report: true,
        ..SubmitOptions::default()
    };
    let parts = encode_submit(&Address::parse_number(to).unwrap(), text, &opts).unwrap();
    assert_eq!(parts.len(), 1);
    (parts[0].tpdu_len, parts[0].hex())
}

async fn next_report(
    modem: &Modem,
    events: &mut UnboundedReceiver<ModemEvent>,
) -> (u8, u8, Origin) {
    loop {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("no event in time")
            .expect("session ended");
        if let ModemEvent::Inbound(inb) = ev {
            assert_eq!(inb.kind, InboundKind::StatusReport);
            let (_, tpdu) = parse_with_smsc(&inb.pdu).expect("report parses");
            let Tpdu::StatusReport(sr) = tpdu else {
                panic!("not a status report")
            };
            modem.handed_on(&inb.origin);
            return (sr.mr, sr.status.byte(), inb.origin);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_direct_report_and_cnma() {
    let (_dir, sim, modem, mut events) = start("quectel-ec2x", |_| {}).await;
    let info = modem.info().unwrap();
    assert_eq!(info.model.as_deref(), Some("SIMULATED-MODEM"));
    let (len, hex) = one_part("+393331234567", "hello");
    let mr = modem.send_pdu(len, &hex).await.unwrap();
    let (rmr, st, origin) = next_report(&modem, &mut events).await;
    assert_eq!((rmr, st), (mr, 0x00));
    assert!(matches!(
        origin,
        Origin::Direct {
            needs_ack: true,
            ..
        }
    ));
    // The acknowledgement goes out; a second report still arrives (the modem
    // would switch routing off without it).
    let mr2 = modem.send_pdu(len, &hex).await.unwrap();
    let (rmr2, _, _) = next_report(&modem, &mut events).await;
    assert_eq!(rmr2, mr2);
    assert_eq!(sim.submits().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_stored_report_read_back_and_deleted() {
    let (_dir, sim, modem, mut events) = start("huawei-e173", |_| {}).await;
    let (len, hex) = one_part("+393331234567", "hello");
    let mr = modem.send_pdu(len, &hex).await.unwrap();
    let (rmr, st, origin) = next_report(&modem, &mut events).await;
    assert_eq!((rmr, st), (mr, 0x00));
    assert!(matches!(origin, Origin::Stored { .. }));
    // handed_on deletes it: wait until the store of the modem is empty.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = modem
            .command("AT+CMGL=4", Duration::from_secs(5))
            .await
            .unwrap();
        if r.lines.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "report never deleted"
        );
        tokio::task::yield_now().await;
    }
    let _ = sim;
}
