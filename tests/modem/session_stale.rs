//! A late answer to an AT+CMGS the session gave up on (review finding #12):
//! the modem answers `+CMGS: <mr>` / `OK` only after the session's send
//! timeout, so the session returned an unknown outcome. That late answer
//! must never be taken for the answer of the next command (the next part
//! would get the wrong TP-MR, or be failed as refused), and the reports that
//! arrive meanwhile must still reach the owner.

use crate::session_common;

use std::collections::BTreeSet;
use std::time::Duration;

use session_common::{part, start_model, Link, Rig, WAIT};
use smsgw::cli::sim::sim_config_for;
use smsgw::modem::{ModemError, Origin};
use smsgw::profile::Profile;
use smsgw::sim::SimModem;

const TO: &str = "+393331234567";

/// The session's send timeout in these tests, and how late the slow answer
/// comes: well past it, so the session has given up when it arrives.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
const SLOW_MS: u64 = 5_000;

/// One +CDSI dialect (reports read back with AT+CMGR) and one +CDS dialect
/// that needs AT+CNMA.
const PROFILES: [&str; 2] = ["generic", "quectel-ec2x"];

async fn rig(name: &str) -> Rig {
    let p = Profile::by_name(name).expect("profile");
    let model = SimModem::new(sim_config_for(&p));
    start_model(&p, Link::Pty, model, |c| c.send_timeout = SEND_TIMEOUT)
        .await
        .unwrap_or_else(|(e, _, _)| panic!("{name}: session start failed: {e}"))
}

/// Send one part whose answer comes after the send timeout: the outcome is
/// unknown (the simulated network has it).
async fn send_slow(rig: &Rig, text: &str) {
    rig.sim.model().answer_next_submit_after(SLOW_MS);
    let (len, hex) = part(TO, text);
    let err = tokio::time::timeout(WAIT, rig.modem.send_pdu(len, &hex))
        .await
        .expect("send answered in time")
        .expect_err("the answer comes after the send timeout");
    assert!(
        matches!(err, ModemError::OutcomeUnknown { .. }),
        "{}: {err:?}",
        rig.profile.name
    );
    assert_eq!(rig.sim.submits().len(), 1, "the network has the part");
}

/// Collect `n` status reports (handing each on) and return their MRs.
async fn report_mrs(rig: &mut Rig, n: usize) -> BTreeSet<u8> {
    let mut got = BTreeSet::new();
    for _ in 0..n {
        let (sr, inb) = rig.next_report().await;
        assert!(
            got.insert(sr.mr),
            "{}: report {} twice",
            rig.profile.name,
            sr.mr
        );
        rig.modem.handed_on(&inb.origin);
        if let Origin::Stored { index, .. } = inb.origin {
            let delete = format!("AT+CMGD={index}");
            rig.sim_until("report deleted", |m| m.command_log().any(|c| c == delete))
                .await;
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_cmgs_answer_is_not_taken_for_the_next_part() {
    for name in PROFILES {
        let mut rig = rig(name).await;
        send_slow(&rig, "slow").await;
        // Sent at once, while the late answer of the first is still due.
        let (len, hex) = part(TO, "next");
        let mr = tokio::time::timeout(WAIT, rig.modem.send_pdu(len, &hex))
            .await
            .expect("second send answered in time")
            .unwrap_or_else(|e| panic!("{name}: second send failed: {e}"));
        let submits = rig.sim.submits();
        assert_eq!(submits.len(), 2, "{name}");
        assert_eq!(mr, submits[1].mr, "{name}: the second part got its own MR");
        assert_ne!(mr, submits[0].mr, "{name}");
        // The session probed the modem before the second AT+CMGS.
        let log: Vec<String> = rig.sim.model().command_log().map(String::from).collect();
        let cmgs: Vec<usize> = (0..log.len())
            .filter(|&i| log[i].starts_with("AT+CMGS="))
            .collect();
        assert_eq!(cmgs.len(), 2, "{name}: {log:?}");
        assert!(
            log[cmgs[0] + 1..cmgs[1]].iter().any(|c| c == "AT"),
            "{name}: no resync between the sends: {log:?}"
        );
        // Both reports arrive (the first one came while the session was
        // resynchronising).
        let want: BTreeSet<u8> = submits.iter().map(|s| s.mr).collect();
        assert_eq!(report_mrs(&mut rig, 2).await, want, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_cmgs_answer_is_not_taken_for_the_next_command() {
    for name in PROFILES {
        let mut rig = rig(name).await;
        send_slow(&rig, "slow").await;
        let r = tokio::time::timeout(WAIT, rig.modem.command("AT+CSQ", WAIT))
            .await
            .expect("AT+CSQ answered in time")
            .unwrap_or_else(|e| panic!("{name}: AT+CSQ failed: {e}"));
        assert_eq!(r.lines, ["+CSQ: 21,99"], "{name}: {r:?}");
        // The report of the slow part is not lost, and sending goes on.
        let first = rig.sim.submits()[0].mr;
        assert_eq!(
            report_mrs(&mut rig, 1).await,
            BTreeSet::from([first]),
            "{name}"
        );
        let mr = rig.send(TO, "after").await;
        assert_eq!(mr, rig.sim.submits()[1].mr, "{name}");
        assert_eq!(
            report_mrs(&mut rig, 1).await,
            BTreeSet::from([mr]),
            "{name}"
        );
    }
}
