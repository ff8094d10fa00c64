//! Parts of unknown outcome (AT+CMGS written, no answer: a crash or a
//! timeout) settled by a status report that can only be their own: same
//! modem, same recipient suffix, SCTS within the window in which AT+CMGS was
//! written and the part was marked UNKNOWN, and no other candidate.

use std::path::Path;

use smsgw::router::{Basis, ModemId, Resolution, RouterConfig};
use smsgw::state::MessageState;
use smsgw::store::{IncomingReport, MessageId, MessageOptions, ReportFilter, Store};

const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
/// The SMSC's clock runs this far ahead of ours.
const OFFSET: i64 = 30;

fn open(path: &Path, now: i64) -> Store {
    Store::open_at(path, RouterConfig::default(), now).unwrap()
}

fn report(modem: ModemId, to: &str, mr: u8, scts: i64, status: u8, at: i64) -> IncomingReport {
    IncomingReport {
        modem,
        recipient: to.to_string(),
        mr,
        scts,
        discharge: Some(scts + 4),
        status,
        pdu_hex: "0006".to_string(),
        received_at: at,
    }
}

/// A message to `other` sent normally and delivered (its report, the only
/// candidate, teaches the modem's clock offset), and a message to `to`
/// whose AT+CMGS was written at T0 + 10 when the process died; reopened at
/// T0 + 40, that part is UNKNOWN. Returns the store and the message to `to`.
fn crashed(db: &Path, modem: &str, to: &str, other: &str) -> (Store, MessageId) {
    let msg = {
        let mut s = open(db, T0);
        let m = s.modem(modem).unwrap();
        let sent = s.create_message(other, "sent", 1, T0).unwrap();
        s.mark_sending(sent.parts[0], m, T0).unwrap();
        s.mark_sent(sent.parts[0], m, 7, T0, DAY).unwrap();
        let out = s
            .record_report(&report(m, other, 7, T0 + OFFSET, 0x00, T0 + 35))
            .unwrap();
        assert!(matches!(out.resolution, Resolution::Matched(ref x) if x.basis == Basis::Sole));
        let lost = s.create_message(to, "lost", 1, T0 + 5).unwrap();
        s.mark_sending(lost.parts[0], m, T0 + 10).unwrap();
        lost.id
        // Dropped: AT+CMGS written, no answer.
    };
    let mut s = open(db, T0 + 40);
    assert_eq!(s.recover_in_flight(false, T0 + 40).unwrap().len(), 1);
    assert_eq!(s.message(msg).unwrap().message.state, MessageState::Unknown);
    (s, msg)
}

#[test]
fn a_report_in_the_crash_window_settles_the_unknown_part() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, msg) = crashed(
        &dir.path().join("w.db"),
        "a",
        "+393331111111",
        "+393332222222",
    );
    let a = s.modem("a").unwrap();
    // Stamped 12 s after AT+CMGS was written (SMSC clock), national form.
    let rep = report(a, "03331111111", 8, T0 + 10 + OFFSET + 12, 0x00, T0 + 60);
    let out = s.record_report(&rep).unwrap();
    match &out.resolution {
        Resolution::Matched(m) => assert_eq!(m.basis, Basis::Window),
        other => panic!("expected a match by the window, got {other:?}"),
    }
    assert_eq!(out.message, Some((msg, MessageState::Delivered)));
    let v = s.message(msg).unwrap();
    assert_eq!(v.message.state, MessageState::Delivered);
    assert_eq!(v.parts[0].state, MessageState::Delivered);
    assert_eq!(v.parts[0].mr, Some(8));
    assert_eq!(v.reports.len(), 1);
    assert_eq!(v.reports[0].result, "matched");
    assert_eq!(v.reports[0].basis.as_deref(), Some("window"));
    assert!(
        v.events.iter().any(|e| e.state == MessageState::Delivered
            && e.reason.contains("unknown outcome")
            && e.reason.contains("time window")),
        "{:?}",
        v.events
    );
    // The same report again is recognised as a repeat, not an orphan.
    let again = s.record_report(&report(a, "03331111111", 8, rep.scts, 0x00, T0 + 70));
    assert_eq!(
        again.unwrap().resolution,
        Resolution::AlreadySettled {
            part: smsgw::router::PartId(v.parts[0].id)
        }
    );
}

#[test]
fn a_report_outside_the_window_stays_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, msg) = crashed(
        &dir.path().join("o.db"),
        "a",
        "+393331111111",
        "+393332222222",
    );
    let a = s.modem("a").unwrap();
    // Marked UNKNOWN at T0 + 40: 3 s past that (and the 2 s tolerance).
    let late = report(a, "+393331111111", 8, T0 + 40 + OFFSET + 3, 0x00, T0 + 80);
    assert_eq!(
        s.record_report(&late).unwrap().resolution,
        Resolution::Orphan
    );
    // Before AT+CMGS was written, beyond the tolerance.
    let early = report(a, "+393331111111", 9, T0 + 10 + OFFSET - 3, 0x00, T0 + 80);
    assert_eq!(
        s.record_report(&early).unwrap().resolution,
        Resolution::Orphan
    );
    // Within the window but on another modem, or to another number.
    let b = s.modem("b").unwrap();
    let other_modem = report(b, "+393331111111", 10, T0 + 20 + OFFSET, 0x00, T0 + 80);
    assert_eq!(
        s.record_report(&other_modem).unwrap().resolution,
        Resolution::Orphan
    );
    let other_number = report(a, "+393339999999", 11, T0 + 20 + OFFSET, 0x00, T0 + 80);
    assert_eq!(
        s.record_report(&other_number).unwrap().resolution,
        Resolution::Orphan
    );
    let v = s.message(msg).unwrap();
    assert_eq!(v.message.state, MessageState::Unknown);
    assert_eq!(v.parts[0].state, MessageState::Unknown);
    assert_eq!(v.parts[0].mr, None);
}

#[test]
fn two_unknown_parts_to_one_number_leave_the_report_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("two.db");
    let (one, two) = {
        let mut s = open(&db, T0);
        let a = s.modem("a").unwrap();
        let one = s.create_message("+393331111111", "one", 1, T0).unwrap();
        let two = s.create_message("+393331111111", "two", 1, T0).unwrap();
        s.mark_sending_parts(&[(one.parts[0], a), (two.parts[0], a)], T0 + 10)
            .unwrap();
        (one.id, two.id)
    };
    let mut s = open(&db, T0 + 20);
    assert_eq!(s.recover_in_flight(false, T0 + 20).unwrap().len(), 2);
    let a = s.modem("a").unwrap();
    let rep = report(a, "+393331111111", 4, T0 + 12, 0x00, T0 + 30);
    assert_eq!(
        s.record_report(&rep).unwrap().resolution,
        Resolution::Orphan
    );
    for m in [one, two] {
        assert_eq!(s.message(m).unwrap().message.state, MessageState::Unknown);
    }
    // Still so at the next start, when orphans are retried.
    drop(s);
    let s = open(&db, T0 + 50);
    for m in [one, two] {
        assert_eq!(s.message(m).unwrap().message.state, MessageState::Unknown);
    }
}

#[test]
fn a_report_that_came_while_the_part_was_in_flight_settles_it_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("restart.db");
    let to = "+393331111111";
    let msg = {
        let mut s = open(&db, T0);
        let a = s.modem("a").unwrap();
        let m = s.create_message(to, "lost", 1, T0).unwrap();
        s.mark_sending(m.parts[0], a, T0 + 10).unwrap();
        // The report overtakes the +CMGS answer; then the process dies.
        let rep = report(a, to, 42, T0 + 11, 0x00, T0 + 13);
        assert_eq!(
            s.record_report(&rep).unwrap().resolution,
            Resolution::Orphan
        );
        m.id
    };
    let mut s = open(&db, T0 + 30);
    let orphans = s.reports(ReportFilter::Orphans, None).unwrap();
    assert_eq!(orphans.len(), 1, "a part in flight is no match");
    s.recover_in_flight(false, T0 + 30).unwrap();
    let v = s.message(msg).unwrap();
    assert_eq!(v.message.state, MessageState::Delivered);
    assert_eq!(v.parts[0].state, MessageState::Delivered);
    assert_eq!(v.reports[0].basis.as_deref(), Some("window"));
    assert!(v.reports[0].applied);
    assert!(s.reports(ReportFilter::Orphans, None).unwrap().is_empty());
    // Reopened later, it stays settled and the report applied.
    drop(s);
    let s = open(&db, T0 + 60);
    let v = s.message(msg).unwrap();
    assert_eq!(v.message.state, MessageState::Delivered);
    assert_eq!(s.recovery().retried, 0);
}

/// `resend_unknown = "if-no-report"`, at the store: an UNKNOWN part whose
/// message asked for a report goes back to the queue once `wait` seconds
/// passed without one; not before, not when its message asked for none,
/// and not when a report settled it.
#[test]
fn an_unknown_part_without_a_report_is_queued_again_after_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("resend.db");
    let (asked, silent, settled) = {
        let mut s = open(&db, T0);
        let a = s.modem("a").unwrap();
        let asked = s.create_message("+393331111111", "asked", 1, T0).unwrap();
        let quiet = MessageOptions {
            report: false,
            ..MessageOptions::default()
        };
        let silent = s
            .enqueue_message("+393332222222", "silent", 1, &quiet, T0)
            .unwrap();
        let settled = s.create_message("+393333333333", "settled", 1, T0).unwrap();
        for m in [&asked, &silent, &settled] {
            s.mark_sending(m.parts[0], a, T0 + 10).unwrap();
        }
        (asked, silent, settled)
    };
    let mut s = open(&db, T0 + 40);
    assert_eq!(s.recover_in_flight(false, T0 + 40).unwrap().len(), 3);
    let a = s.modem("a").unwrap();
    let rep = report(a, "+393333333333", 5, T0 + 20, 0x00, T0 + 50);
    assert!(matches!(
        s.record_report(&rep).unwrap().resolution,
        Resolution::Matched(ref m) if m.basis == Basis::Window
    ));
    // 600 s after it became UNKNOWN (T0 + 40), not one second before.
    assert_eq!(
        s.resend_unknown_without_report(600, T0 + 639).unwrap(),
        vec![]
    );
    assert_eq!(s.claim_next("a", T0 + 639, &|_| true).unwrap(), None);
    assert_eq!(
        s.resend_unknown_without_report(600, T0 + 640).unwrap(),
        asked.parts
    );
    let v = s.message(asked.id).unwrap();
    assert_eq!(v.message.state, MessageState::Accepted);
    assert_eq!(v.message.done_at, None);
    assert_eq!(
        (v.parts[0].state, v.parts[0].modem.as_deref()),
        (MessageState::Accepted, None)
    );
    assert!(
        v.events.iter().any(|e| e.part_id == Some(asked.parts[0].0)
            && e.state == MessageState::Accepted
            && e.reason.contains("no status report within 600 s")
            && e.reason.contains("if-no-report")),
        "{:?}",
        v.events
    );
    // A fresh attempt: claimed and sent like a new part.
    let q = s.claim_next("b", T0 + 641, &|_| true).unwrap().unwrap();
    assert_eq!(q.id, asked.id);
    let b = s.modem("b").unwrap();
    s.mark_sending(asked.parts[0], b, T0 + 641).unwrap();
    s.mark_sent(asked.parts[0], b, 1, T0 + 642, DAY).unwrap();
    // The others: no report asked for, or settled by its report.
    assert_eq!(
        s.message(silent.id).unwrap().message.state,
        MessageState::Unknown
    );
    assert_eq!(
        s.message(settled.id).unwrap().message.state,
        MessageState::Delivered
    );
    assert_eq!(
        s.resend_unknown_without_report(600, T0 + 9999).unwrap(),
        vec![]
    );
}

/// A part that timed out (no answer to AT+CMGS) while another part to the
/// same number is in flight: a report fitting both is left an orphan (it
/// may be the other's). Once that one is answered, a temporary report
/// settles the UNKNOWN part as ENROUTE, and its final report (same TP-MR)
/// is then matched by the router like any other.
#[test]
fn a_part_in_flight_is_a_rival_and_a_temporary_report_leads_to_the_final_one() {
    let mut s = open(Path::new(":memory:"), T0);
    let a = s.modem("a").unwrap();
    let to = "+393331111111";
    let lost = s.create_message(to, "lost", 1, T0).unwrap();
    let next = s.create_message(to, "next", 1, T0).unwrap();
    s.mark_sending(lost.parts[0], a, T0).unwrap();
    s.mark_outcome_unknown(lost.parts[0], "no answer to AT+CMGS in 60 s", T0 + 60)
        .unwrap();
    s.mark_sending(next.parts[0], a, T0 + 61).unwrap();
    let rival = report(a, to, 20, T0 + 58, 0x00, T0 + 62);
    assert_eq!(
        s.record_report(&rival).unwrap().resolution,
        Resolution::Orphan
    );
    s.mark_sent(next.parts[0], a, 21, T0 + 63, DAY).unwrap();
    // Kept an orphan: it could have been the in-flight part's.
    assert_eq!(
        s.message(lost.id).unwrap().message.state,
        MessageState::Unknown
    );
    // A temporary report (0x20: congestion, still trying) fits only the
    // UNKNOWN part now.
    let temp = report(a, to, 30, T0 + 30, 0x20, T0 + 70);
    let out = s.record_report(&temp).unwrap();
    assert!(matches!(out.resolution, Resolution::Matched(ref m) if m.basis == Basis::Window));
    let v = s.message(lost.id).unwrap();
    assert_eq!(v.parts[0].state, MessageState::Enroute);
    assert_eq!(v.message.state, MessageState::Enroute);
    let done = report(a, to, 30, T0 + 30, 0x00, T0 + 200);
    match s.record_report(&done).unwrap().resolution {
        Resolution::Matched(m) => {
            assert_eq!(m.part, lost.parts[0]);
            assert_ne!(m.basis, Basis::Window);
        }
        other => panic!("expected the router to match it, got {other:?}"),
    }
    assert_eq!(
        s.message(lost.id).unwrap().message.state,
        MessageState::Delivered
    );
}
