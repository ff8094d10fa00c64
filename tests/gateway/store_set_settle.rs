//! Settling by the set, in the store: parts that no time stamp tells apart
//! get their outcome once as many reports of one outcome came for them; the
//! held reports are rows, so this works across a restart.

use std::path::Path;

use smsgw::router::{ModemId, Resolution, RouterConfig};
use smsgw::store::{IncomingReport, MessageId, ReportFilter, Store};

const TO: &str = "+393331234567";
const T0: i64 = 1_760_000_000;

fn report(modem: ModemId, mr: u8, scts: i64, status: u8) -> IncomingReport {
    IncomingReport {
        modem,
        recipient: TO.into(),
        mr,
        scts,
        discharge: Some(scts + 1),
        status,
        pdu_hex: "00".into(),
        received_at: scts + 2,
    }
}

/// Two messages to one number with one TP-MR, sent in the same second
/// (the SMSC clock 30 s ahead, already learned), and one more on MR 8.
fn twins(store: &mut Store) -> (ModemId, MessageId, MessageId) {
    let m = store.modem("m").unwrap();
    let mut send = |mr: u8, at: i64| {
        let msg = store.create_message(TO, "x", 1, at).unwrap();
        store.mark_sent(msg.parts[0], m, mr, at, 86_400).unwrap();
        msg.id
    };
    send(8, T0 - 100);
    let a = send(7, T0);
    let b = send(7, T0);
    store.record_report(&report(m, 8, T0 - 70, 0)).unwrap();
    (m, a, b)
}

fn state(store: &Store, id: MessageId) -> String {
    store
        .message(id)
        .unwrap()
        .message
        .state
        .as_str()
        .to_string()
}

#[test]
fn two_alike_reports_settle_both_look_alikes() {
    let mut store = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
    let (m, a, b) = twins(&mut store);
    let first = store.record_report(&report(m, 7, T0 + 30, 0)).unwrap();
    assert!(matches!(first.resolution, Resolution::Ambiguous { .. }));
    assert_eq!(state(&store, a), "ACCEPTED");
    assert_eq!(state(&store, b), "ACCEPTED");
    let second = store.record_report(&report(m, 7, T0 + 30, 0)).unwrap();
    // The second report settles the set: it comes back ambiguous itself, and
    // both parts are final with the basis "set".
    assert!(matches!(second.resolution, Resolution::Ambiguous { .. }));
    assert_eq!(state(&store, a), "DELIVRD");
    assert_eq!(state(&store, b), "DELIVRD");
    assert!(store
        .reports(ReportFilter::Ambiguous, None)
        .unwrap()
        .is_empty());
    let rows = store.reports(ReportFilter::All, None).unwrap();
    let set: Vec<_> = rows
        .iter()
        .filter(|r| r.basis.as_deref() == Some("set"))
        .collect();
    assert_eq!(set.len(), 2);
    let mut parts: Vec<_> = set.iter().map(|r| r.part_id.unwrap()).collect();
    parts.sort();
    parts.dedup();
    assert_eq!(parts.len(), 2, "one report to each part");
    for r in &set {
        assert_eq!(r.result, "matched");
        assert_eq!(r.candidates.len(), 2, "the set is listed");
    }
    let events = store.message(a).unwrap().events;
    assert!(
        events
            .iter()
            .any(|e| e.reason.contains("matched by the set")),
        "{events:?}"
    );
    // The network repeats one: recognised as a repeat, nothing changes.
    let again = store.record_report(&report(m, 7, T0 + 30, 0)).unwrap();
    assert!(matches!(
        again.resolution,
        Resolution::AlreadySettled { .. }
    ));
    assert!(store
        .reports(ReportFilter::Ambiguous, None)
        .unwrap()
        .is_empty());
}

#[test]
fn different_outcomes_stay_ambiguous() {
    let mut store = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
    let (m, a, b) = twins(&mut store);
    store.record_report(&report(m, 7, T0 + 30, 0x00)).unwrap();
    store.record_report(&report(m, 7, T0 + 30, 0x41)).unwrap();
    assert_eq!(state(&store, a), "ACCEPTED");
    assert_eq!(state(&store, b), "ACCEPTED");
    assert_eq!(
        store.reports(ReportFilter::Ambiguous, None).unwrap().len(),
        2
    );
}

#[test]
fn a_temporary_report_does_not_complete_the_set() {
    let mut store = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
    let (m, a, b) = twins(&mut store);
    store.record_report(&report(m, 7, T0 + 30, 0x00)).unwrap();
    store.record_report(&report(m, 7, T0 + 30, 0x21)).unwrap();
    assert_eq!(state(&store, a), "ACCEPTED");
    assert_eq!(state(&store, b), "ACCEPTED");
    // The other part's final report completes it; the temporary one is then
    // a late report for parts that are final.
    let last = store.record_report(&report(m, 7, T0 + 30, 0x00)).unwrap();
    assert!(matches!(last.resolution, Resolution::Ambiguous { .. }));
    assert_eq!(state(&store, a), "DELIVRD");
    assert_eq!(state(&store, b), "DELIVRD");
    let rows = store.reports(ReportFilter::All, None).unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r.basis.as_deref() == Some("set"))
            .count(),
        2
    );
    assert!(
        store
            .reports(ReportFilter::Ambiguous, None)
            .unwrap()
            .is_empty(),
        "{rows:?}"
    );
}

#[test]
fn the_held_report_survives_a_restart_and_the_set_settles_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.db");
    let (m, a, b) = {
        let mut store = Store::open_at(&path, RouterConfig::default(), T0).unwrap();
        let (m, a, b) = twins(&mut store);
        store.record_report(&report(m, 7, T0 + 30, 0)).unwrap();
        (m, a, b)
    };
    {
        let mut store = Store::open_at(&path, RouterConfig::default(), T0 + 40).unwrap();
        assert_eq!(store.router().stats().pending, 2);
        assert_eq!(
            store.reports(ReportFilter::Ambiguous, None).unwrap().len(),
            1
        );
        store.record_report(&report(m, 7, T0 + 31, 0)).unwrap();
        assert_eq!(state(&store, a), "DELIVRD");
        assert_eq!(state(&store, b), "DELIVRD");
        assert_eq!(store.router().stats().pending, 0);
    }
    // Reopened once more: both parts are settled in the rebuilt router, and
    // a repeat is recognised as one.
    let mut store = Store::open_at(&path, RouterConfig::default(), T0 + 50).unwrap();
    assert_eq!(store.router().stats().pending, 0);
    let again = store.record_report(&report(m, 7, T0 + 30, 0)).unwrap();
    assert!(matches!(
        again.resolution,
        Resolution::AlreadySettled { .. }
    ));
}

/// A version 3 database (reports whose basis could only be sole or time)
/// migrates in place: its reports and the events pointing at them are
/// kept, and a set can then be settled in it.
#[test]
fn a_version_3_database_keeps_its_reports_and_takes_sets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v3.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.pragma_update(None, "foreign_keys", true).unwrap();
        for sql in &smsgw::store::MIGRATIONS[..3] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 3).unwrap();
        c.execute_batch(
            "INSERT INTO modems (id, name) VALUES (1, 'm');
             INSERT INTO messages (id, recipient, text, parts, state, created_at)
                 VALUES (1, '+393331234567', 'x', 1, 'DELIVRD', 1760000000);
             INSERT INTO parts (id, message_id, seq, state, modem_id, mr, submitted_at, validity)
                 VALUES (1, 1, 1, 'DELIVRD', 1, 5, 1760000000, 86400);
             INSERT INTO reports (id, received_at, modem_id, recipient, mr, scts, tp_status, pdu,
                                  match, basis, part_id, applied)
                 VALUES (1, 1760000040, 1, '+393331234567', 5, 1760000030, 0, '00',
                         'matched', 'sole', 1, 1);
             INSERT INTO events (at, message_id, part_id, report_id, state, reason)
                 VALUES (1760000040, 1, 1, 1, 'DELIVRD', 'TP-ST 0x00');",
        )
        .unwrap();
    }
    let mut store = Store::open_at(&db, RouterConfig::default(), T0).unwrap();
    let rows = store.reports(ReportFilter::All, None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].basis.as_deref(), Some("sole"));
    let c = rusqlite::Connection::open(&db).unwrap();
    let version: u32 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, smsgw::store::SCHEMA_VERSION);
    let linked: i64 = c
        .query_row(
            "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(linked, 1);
    let (m, a, b) = twins(&mut store);
    store.record_report(&report(m, 7, T0 + 30, 0)).unwrap();
    store.record_report(&report(m, 7, T0 + 30, 0)).unwrap();
    assert_eq!(state(&store, a), "DELIVRD");
    assert_eq!(state(&store, b), "DELIVRD");
}
