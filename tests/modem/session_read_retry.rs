//! A stored report or SMS (+CDSI / +CMTI) whose AT+CMGR fails (review
//! finding #9): the read is retried with a growing delay while sends go on,
//! and if every attempt fails the PDU stays in the modem and comes with the
//! next full listing (AT+CMGL=4 after a reconnect), never lost.

use crate::session_common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use session_common::{decode_deliver, try_start, Link, Rig, WAIT};
use smsgw::modem::{Inbound, InboundKind, ModemEvent, Origin};
use smsgw::profile::Profile;
use smsgw::sim::codec::deliver_parts;
use smsgw::sim::SimModem;

const TO: &str = "+393331234567";

/// generic: reports stored (+CDSI), incoming SMS stored (+CMTI).
async fn rig(retry_delay: Duration) -> Rig {
    let p = Profile::by_name("generic").expect("profile");
    assert_eq!(p.sms.report_mode, smsgw::profile::ReportMode::Cdsi);
    assert_eq!(p.sms.cnmi_fields().get(1), Some(&1), "+CMTI dialect");
    try_start(
        &p,
        Link::Pty,
        |c| c.replug_after_ms = 300,
        |c| {
            c.read_retries = 3;
            c.read_retry_delay = retry_delay;
        },
    )
    .await
    .unwrap_or_else(|(e, _, _)| panic!("generic: {e}"))
}

fn reads(m: &SimModem, index: u32) -> usize {
    let cmd = format!("AT+CMGR={index}");
    m.command_log().filter(|c| *c == cmd).count()
}

/// The next inbound PDU, skipping URCs and the disconnect / reconnect.
async fn next_inbound_across_reconnect(rig: &mut Rig) -> Inbound {
    loop {
        match rig.next_event().await {
            ModemEvent::Inbound(i) => return i,
            ModemEvent::Unsolicited { .. }
            | ModemEvent::Disconnected { .. }
            | ModemEvent::Reconnected(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_read_of_a_stored_report_is_retried_while_sends_go_on() {
    // Long enough that the sends below are done well before the retry, even
    // on a loaded box; they must not wait for it.
    let mut rig = rig(Duration::from_secs(5)).await;
    rig.sim.model().fail_next_reads(1);
    let first = rig.send(TO, "first").await;
    // The report is stored at index 0 and announced; its read fails once.
    rig.sim_until("first AT+CMGR=0", |m| reads(m, 0) == 1).await;
    let mut later = Vec::new();
    for i in 0..3 {
        later.push(rig.send(TO, &format!("later {i}")).await);
    }
    assert_eq!(
        reads(&rig.sim.model(), 0),
        1,
        "the sends went first: the retry waits its delay without blocking them"
    );
    let mut got = Vec::new();
    for _ in 0..4 {
        let (sr, inb) = rig.next_report().await;
        got.push((sr.mr, inb.origin.clone()));
        rig.modem.handed_on(&inb.origin);
    }
    // The retried one comes last, from the same slot, read twice in all.
    let (mr, origin) = got.last().expect("four reports").clone();
    assert_eq!(mr, first);
    assert_eq!(
        origin,
        Origin::Stored {
            mem: "SM".into(),
            index: 0
        }
    );
    assert_eq!(reads(&rig.sim.model(), 0), 2);
    let mut all: Vec<u8> = got.iter().map(|(mr, _)| *mr).collect();
    all.sort();
    let mut want = vec![first];
    want.extend(later);
    want.sort();
    assert_eq!(all, want);
    rig.sim_until("storage emptied", |m| m.stored_indices().is_empty())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_whose_reads_all_fail_stays_stored_and_comes_with_the_next_listing() {
    let mut rig = rig(Duration::from_millis(100)).await;
    // The first read and all three retries fail.
    rig.sim.model().fail_next_reads(4);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let pdus =
        deliver_parts("+393359609600", "+393401112233", "kept", now_s, 4, 1).expect("deliver");
    rig.sim.inject_incoming(pdus);
    rig.sim_until("four reads of index 0", |m| reads(m, 0) == 4)
        .await;
    // Jobs run in order: once this answers, the last failure was handled.
    rig.modem.command("AT", WAIT).await.expect("AT");
    while let Ok(ev) = rig.events.try_recv() {
        assert!(
            !matches!(ev, ModemEvent::Inbound(_)),
            "nothing read yet: {ev:?}"
        );
    }
    // Not deleted: still in the modem.
    assert_eq!(rig.sim.model().stored_indices(), [0]);
    // The next full listing (after a reconnect) brings it.
    rig.sim.unplug(Duration::from_millis(300));
    let inb = next_inbound_across_reconnect(&mut rig).await;
    assert_eq!(inb.kind, InboundKind::Deliver);
    assert_eq!(
        inb.origin,
        Origin::Stored {
            mem: "SM".into(),
            index: 0
        }
    );
    assert_eq!(
        decode_deliver(&inb).user_data.as_text().expect("text"),
        "kept"
    );
    rig.modem.handed_on(&inb.origin);
    rig.sim_until("storage emptied", |m| m.stored_indices().is_empty())
        .await;
}
