//! The store end to end (without a modem): submit, reports, restarts.

use std::path::Path;

use smsgw::router::{Basis, ModemId, PartId, Resolution, RouterConfig};
use smsgw::state::MessageState;
use smsgw::store::{IncomingReport, MessageFilter, ReportFilter, Store, StoreError};

const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
/// The real +CDS of external-cds.jsonl: MR 64, TP-RA +919790197346, TP-ST 0x00.
const CDS_HEX: &str = "079119890400202306400C91197909913764511090718384225110907183252200";

fn open(path: &Path, now: i64) -> Store {
    Store::open_at(path, RouterConfig::default(), now).unwrap()
}

fn report(modem: ModemId, to: &str, mr: u8, scts: i64, status: u8) -> IncomingReport {
    IncomingReport {
        modem,
        recipient: to.to_string(),
        mr,
        scts,
        discharge: Some(scts + 4),
        status,
        pdu_hex: CDS_HEX.to_string(),
        received_at: scts + 6,
    }
}

#[test]
fn single_part_delivered_with_events_and_receipt() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let msg = s
        .create_message("+919790197346", "Hello from the store test", 1, T0)
        .unwrap();
    let sent = s.mark_sent(msg.parts[0], m0, 64, T0 + 1, DAY).unwrap();
    assert_eq!(sent.collision, None);
    // TP-RA comes back national: still the same key.
    let out = s
        .record_report(&report(m0, "09790197346", 64, T0 + 1, 0x00))
        .unwrap();
    match &out.resolution {
        Resolution::Matched(m) => assert_eq!((m.part, m.basis), (msg.parts[0], Basis::Sole)),
        other => panic!("{other:?}"),
    }
    assert_eq!(out.message, Some((msg.id, MessageState::Delivered)));
    let v = s.message(msg.id).unwrap();
    assert_eq!(v.message.state, MessageState::Delivered);
    assert_eq!(v.parts[0].state, MessageState::Delivered);
    assert_eq!(v.parts[0].mr, Some(64));
    assert_eq!(v.reports.len(), 1);
    assert_eq!(v.reports[0].pdu, CDS_HEX);
    assert_eq!(v.reports[0].result, "matched");
    let states: Vec<_> = v.events.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [
            MessageState::Accepted,
            MessageState::Accepted,
            MessageState::Delivered,
            MessageState::Delivered
        ]
    );
    // The modem by its name, not the store's number for it.
    assert!(
        v.events
            .iter()
            .any(|e| e.reason == "sent via modem modem0, TP-MR 64"),
        "{:?}",
        v.events
    );
    assert!(v.receipts[0].starts_with(&format!("id:{} sub:001 dlvrd:001 submit date:", msg.id.0)));
    assert!(v.receipts[0].ends_with("stat:DELIVRD err:000 text:Hello from the store"));
    assert_eq!(v.receipts.len(), 2);
}

#[test]
fn intermediate_then_final_report() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+393331234567", "x", 1, T0).unwrap();
    s.mark_sent(msg.parts[0], m0, 9, T0, DAY).unwrap();
    let out = s
        .record_report(&report(m0, "+393331234567", 9, T0 + 2, 0x21))
        .unwrap();
    assert_eq!(out.message, Some((msg.id, MessageState::Enroute)));
    assert_eq!(s.router().stats().pending, 1);
    let out = s
        .record_report(&report(m0, "+393331234567", 9, T0 + 2, 0x46))
        .unwrap();
    assert_eq!(out.message, Some((msg.id, MessageState::Expired)));
    let v = s.message(msg.id).unwrap();
    assert_eq!(v.message.error, Some(0x46));
    assert!(v.receipts[0].contains("stat:EXPIRED err:070"));
    // A third, repeated report changes nothing.
    let out = s
        .record_report(&report(m0, "+393331234567", 9, T0 + 2, 0x00))
        .unwrap();
    assert_eq!(
        out.resolution,
        Resolution::AlreadySettled { part: msg.parts[0] }
    );
    assert_eq!(
        s.message(msg.id).unwrap().message.state,
        MessageState::Expired
    );
}

#[test]
fn multipart_delivered_when_all_parts_are_failed_when_one_fails() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let ok = s.create_message("+393331234567", "long", 3, T0).unwrap();
    for (i, p) in ok.parts.iter().enumerate() {
        s.mark_sent(*p, m0, 10 + i as u8, T0 + i as i64, DAY)
            .unwrap();
    }
    let r = s
        .record_report(&report(m0, "3331234567", 10, T0, 0))
        .unwrap();
    assert_eq!(r.message, Some((ok.id, MessageState::Enroute)));
    let r = s
        .record_report(&report(m0, "3331234567", 12, T0 + 2, 0))
        .unwrap();
    assert_eq!(r.message, None);
    let r = s
        .record_report(&report(m0, "3331234567", 11, T0 + 1, 0))
        .unwrap();
    assert_eq!(r.message, Some((ok.id, MessageState::Delivered)));
    assert!(s.message(ok.id).unwrap().receipts[0].contains("sub:003 dlvrd:003"));

    let bad = s.create_message("+393331234567", "long", 2, T0).unwrap();
    s.mark_sent(bad.parts[0], m0, 20, T0 + 10, DAY).unwrap();
    s.mark_sent(bad.parts[1], m0, 21, T0 + 11, DAY).unwrap();
    let r = s
        .record_report(&report(m0, "3331234567", 21, T0 + 11, 0x41))
        .unwrap();
    assert_eq!(r.message, Some((bad.id, MessageState::Undeliverable)));
    // The other part delivered later does not revive the message.
    let r = s
        .record_report(&report(m0, "3331234567", 20, T0 + 10, 0))
        .unwrap();
    assert_eq!(r.message, None);
    let v = s.message(bad.id).unwrap();
    assert_eq!(v.message.state, MessageState::Undeliverable);
    assert_eq!(v.message.error, Some(0x41));
    assert!(v.receipts[0].contains("sub:002 dlvrd:001"));
}

#[test]
fn rejected_and_retried_parts() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+393331234567", "x", 1, T0).unwrap();
    s.mark_retry(msg.parts[0], Some(332), "network timeout", 1, T0 + 30, T0)
        .unwrap();
    let v = s.message(msg.id).unwrap();
    assert_eq!(
        (v.parts[0].retries, v.parts[0].next_attempt),
        (1, Some(T0 + 30))
    );
    assert_eq!(v.message.state, MessageState::Accepted);
    s.mark_rejected(msg.parts[0], 500, "unknown error", T0 + 30)
        .unwrap();
    let v = s.message(msg.id).unwrap();
    assert_eq!(v.message.state, MessageState::Rejected);
    assert_eq!(v.message.error, Some(500));
    assert!(v.receipts[1].contains("stat:REJECTD err:500"));
    assert!(v
        .events
        .iter()
        .any(|e| e.reason == "+CMS ERROR 500: unknown error"));
    // A rejected part cannot be sent.
    assert!(matches!(
        s.mark_sent(msg.parts[0], m0, 1, T0 + 40, DAY),
        Err(StoreError::Invalid { field: "part", .. })
    ));
    assert!(matches!(
        s.mark_sent(PartId(999), m0, 1, T0 + 40, DAY),
        Err(StoreError::NoPart(999))
    ));
    assert!(matches!(
        s.create_message(" ", "x", 1, T0),
        Err(StoreError::Invalid { field: "to", .. })
    ));
}

#[test]
fn collisions_are_recorded_with_both_parts() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let a = s.create_message("+393331234567", "a", 1, T0).unwrap();
    let b = s.create_message("00393331234567", "b", 1, T0).unwrap();
    s.mark_sent(a.parts[0], m0, 5, T0, DAY).unwrap();
    let sent = s.mark_sent(b.parts[0], m0, 5, T0 + 900, DAY).unwrap();
    assert_eq!(sent.collision.unwrap().pending, vec![a.parts[0]]);
    let c = s.collisions(None).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].new_part, c[0].pending_part),
        (b.parts[0].0, a.parts[0].0)
    );
    assert_eq!(c[0].modem, "modem0");
}

#[test]
fn expiry_makes_parts_unknown() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+393331234567", "x", 1, T0).unwrap();
    s.mark_sent(msg.parts[0], m0, 5, T0, 600).unwrap();
    let grace = s.router().config().expiry_grace;
    assert!(s.expire(T0 + 600 + grace).unwrap().is_empty());
    assert_eq!(s.expire(T0 + 601 + grace).unwrap(), vec![msg.parts[0]]);
    let v = s.message(msg.id).unwrap();
    assert_eq!(v.message.state, MessageState::Unknown);
    assert_eq!(v.parts[0].state, MessageState::Unknown);
}

#[test]
fn restart_between_submit_and_report_rebuilds_the_pending_set() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/smsgw.db");
    let (m0, msg) = {
        let mut s = open(&db, T0);
        let m0 = s.modem("modem0").unwrap();
        let msg = s.create_message("+393331234567", "x", 2, T0).unwrap();
        s.mark_sent(msg.parts[0], m0, 7, T0, DAY).unwrap();
        s.mark_sent(msg.parts[1], m0, 8, T0 + 1, DAY).unwrap();
        s.record_report(&report(m0, "+393331234567", 7, T0 + 30, 0))
            .unwrap();
        (m0, msg)
    };
    let mut s = open(&db, T0 + 100);
    assert_eq!(s.recovery().pending, 1);
    assert_eq!(s.recovery().settled, 1);
    // The offset learned before the restart (30 s) is back.
    assert_eq!(s.router().clock_offset(m0), Some(30));
    let out = s
        .record_report(&report(m0, "+393331234567", 8, T0 + 31, 0))
        .unwrap();
    assert_eq!(out.message, Some((msg.id, MessageState::Delivered)));
}

#[test]
fn orphan_matches_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("smsgw.db");
    let mut s = open(&db, T0);
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+34604865888", "x", 1, T0).unwrap();
    // The report (TP-RA national, as in the real capture) is processed
    // before the part is known as sent: an orphan, kept.
    let out = s
        .record_report(&report(m0, "604865888", 171, T0 + 2, 0))
        .unwrap();
    assert_eq!(out.resolution, Resolution::Orphan);
    assert_eq!(s.reports(ReportFilter::Orphans, None).unwrap().len(), 1);
    // The part is recorded as sent, directly in the database (as if by an
    // older process that died before telling the router).
    drop(s);
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute(
            "UPDATE parts SET modem_id = ?1, mr = 171, submitted_at = ?2, validity = ?3 WHERE id = ?4",
            rusqlite::params![m0.0, T0, DAY, msg.parts[0].0],
        )
        .unwrap();
    }
    let s = open(&db, T0 + 60);
    assert_eq!(s.recovery().retried, 1);
    assert_eq!(s.recovery().resolved, 1);
    assert!(s.reports(ReportFilter::Orphans, None).unwrap().is_empty());
    assert_eq!(
        s.message(msg.id).unwrap().message.state,
        MessageState::Delivered
    );
}

#[test]
fn orphan_matches_when_its_part_is_marked_sent() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+393331234567", "x", 1, T0).unwrap();
    s.record_report(&report(m0, "+393331234567", 3, T0 + 1, 0))
        .unwrap();
    let sent = s.mark_sent(msg.parts[0], m0, 3, T0, DAY).unwrap();
    assert_eq!(sent.retried.len(), 1);
    assert_eq!(
        sent.retried[0].message,
        Some((msg.id, MessageState::Delivered))
    );
}

#[test]
fn queries_filter_by_state_time_and_number() {
    let mut s = open(Path::new(":memory:"), T0);
    let m0 = s.modem("modem0").unwrap();
    let a = s.create_message("+393331234567", "a", 1, T0).unwrap();
    s.create_message("+393339999999", "b", 1, T0 + 10).unwrap();
    s.mark_sent(a.parts[0], m0, 1, T0, DAY).unwrap();
    s.record_report(&report(m0, "3331234567", 1, T0, 0))
        .unwrap();
    let f = |state, since, to: Option<&str>| MessageFilter {
        state,
        since,
        to: to.map(str::to_string),
        limit: None,
    };
    let ids = |v: Vec<smsgw::store::MessageRow>| v.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(s.messages(&f(None, None, None)).unwrap()).len(), 2);
    assert_eq!(
        ids(s
            .messages(&f(Some(MessageState::Delivered), None, None))
            .unwrap()),
        [a.id.0]
    );
    assert_eq!(
        ids(s.messages(&f(None, Some(T0 + 5), None)).unwrap()).len(),
        1
    );
    assert_eq!(
        ids(s.messages(&f(None, None, Some("03331234567"))).unwrap()),
        [a.id.0]
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("smsgw.db");
    drop(open(&db, T0));
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::open_at(&db, RouterConfig::default(), T0).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }));
    assert!(err.to_string().contains("newer smsgw"), "{err}");
}
