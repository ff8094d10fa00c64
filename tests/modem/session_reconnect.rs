//! The port vanishing (USB reset, unplug) and coming back, over a real pty
//! and over TCP: the session says Disconnected then Reconnected, a send in
//! flight fails saying whether the part may have been sent, sends work again
//! after the reconnect, and reports stored while the host was away are read.
//! These check the real transport (EIO / end of stream, reopening the same
//! path); the protocol side of reconnects (unplug before the PDU, deletions
//! kept, acknowledgements of an earlier connection dropped, jobs refused
//! while away, backoff) is tested in virtual time in `session_virtual.rs`.

use crate::session_common;

use std::time::Duration;

use session_common::{part, try_start, Link, Rig, WAIT};
use smsgw::modem::{InboundKind, ModemEvent, Origin};
use smsgw::profile::Profile;

const TO: &str = "+393331234567";

async fn rig(name: &str, link: Link) -> Rig {
    let p = Profile::by_name(name).expect("profile");
    try_start(
        &p,
        link,
        |c| {
            // Long enough that the report is due while the device is away.
            c.report_delay_ms = (150, 150);
            c.replug_after_ms = 600;
        },
        |_| {},
    )
    .await
    .unwrap_or_else(|(e, _, _)| panic!("{name}: {e}"))
}

/// Disconnected, then Reconnected (no other events in between but URCs).
async fn expect_disconnect_and_reconnect(rig: &mut Rig) {
    loop {
        match rig.next_event().await {
            ModemEvent::Disconnected { modem, reason } => {
                assert_eq!(modem, "sim0");
                assert!(!reason.is_empty());
                break;
            }
            ModemEvent::Unsolicited { .. } => {}
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
    loop {
        match rig.next_event().await {
            ModemEvent::Reconnected(info) => {
                assert_eq!(info.model.as_deref(), Some("SIMULATED-MODEM"));
                return;
            }
            ModemEvent::Unsolicited { .. } => {}
            other => panic!("expected Reconnected, got {other:?}"),
        }
    }
}

/// Send, get the report, hand it on.
async fn round_trip(rig: &mut Rig, text: &str) {
    let mr = rig.send(TO, text).await;
    let (sr, inb) = rig.next_report().await;
    assert_eq!(sr.mr, mr, "{}: {text}", rig.profile.name);
    rig.modem.handed_on(&inb.origin);
    // Jobs run in order: once this answers, the deletion or acknowledgement
    // is done (a deletion cut short by an unplug may repeat the report after
    // the reconnect: at least once, never lost).
    rig.modem.command("AT", WAIT).await.expect("AT");
}

async fn unplugged_while_idle(name: &str, link: Link) {
    let mut rig = rig(name, link).await;
    round_trip(&mut rig, "before").await;
    rig.sim.unplug(Duration::from_millis(300));
    expect_disconnect_and_reconnect(&mut rig).await;
    round_trip(&mut rig, "after").await;
    assert_eq!(rig.sim.submits().len(), 2);
}

/// The modem vanishes after taking the PDU, before answering: the network
/// has the part and its report comes while the host is away; it is stored
/// and read after the reconnect.
async fn unplugged_after_the_pdu(name: &str, link: Link) {
    let mut rig = rig(name, link).await;
    rig.sim.model().unplug_on_next_submit();
    let (len, hex) = part(TO, "lost after");
    let err = tokio::time::timeout(WAIT, rig.modem.send_pdu(len, &hex))
        .await
        .expect("send answered in time")
        .expect_err("the modem vanished");
    assert!(err.maybe_sent(), "{name}: {err:?}");
    assert!(err.to_string().contains("may have been sent"), "{err}");
    let submits = rig.sim.submits();
    assert_eq!(submits.len(), 1, "the network got the part");
    expect_disconnect_and_reconnect(&mut rig).await;
    // Read by AT+CMGL=4 right after the reconnect.
    let inb = rig.next_inbound().await;
    assert_eq!(inb.kind, InboundKind::StatusReport);
    assert!(
        matches!(inb.origin, Origin::Stored { .. }),
        "{:?}",
        inb.origin
    );
    let sr = session_common::decode_report(&inb);
    assert_eq!((sr.mr, sr.status.0), (submits[0].mr, 0x00));
    rig.modem.handed_on(&inb.origin);
    rig.sim_until("stored report deleted", |m| m.stored_indices().is_empty())
        .await;
    round_trip(&mut rig, "after").await;
}

// One +CDS dialect with CNMA, one +CDSI dialect; over a pty and over TCP.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pty_unplug_while_idle() {
    for name in ["quectel-ec2x", "generic"] {
        unplugged_while_idle(name, Link::Pty).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pty_unplug_after_the_pdu() {
    for name in ["quectel-ec2x", "huawei-e3372"] {
        unplugged_after_the_pdu(name, Link::Pty).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_unplug_after_the_pdu() {
    for name in ["quectel-ec2x", "generic"] {
        unplugged_after_the_pdu(name, Link::Tcp).await;
    }
}
