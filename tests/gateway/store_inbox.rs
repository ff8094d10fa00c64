//! Incoming SMS: stored, listed, announced by webhook in the same commit.

use std::path::Path;

use smsgw::router::RouterConfig;
use smsgw::store::{IncomingSms, Staged, Store, StoreError};

const T0: i64 = 1_760_000_000;

/// A real SMS-DELIVER read by AT+CMGR (Gammu's tests/at-sms/03.dump in
/// shared/corpus): from +919884280026, "Ok sir", SCTS 2007-05-03 07:04:40 +05:30.
const DELIVER_HEX: &str = "0791198948004544040C9119894882006200007050307040042206CF35689E9603";
const SCTS: i64 = 1_178_156_080;

fn sms(modem: smsgw::router::ModemId, text: &str, at: i64) -> IncomingSms {
    IncomingSms {
        modem,
        sender: "+919884280026".into(),
        text: Some(text.into()),
        data_hex: "CF35689E9603".into(),
        scts: SCTS,
        received_at: at,
        parts: 1,
        pdus_hex: vec![DELIVER_HEX.into()],
        partial: false,
    }
}

#[test]
fn inbox_round_trip_newest_first_with_since_and_limit() {
    let mut s = Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap();
    let m = s.modem("modem0").unwrap();
    let a = s.store_incoming(&sms(m, "Ok sir", T0)).unwrap();
    let mut long = sms(m, "second", T0 + 10);
    long.parts = 2;
    long.partial = true;
    long.text = None;
    let b = s.store_incoming(&long).unwrap();
    let all = s.inbox(None, None).unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [b, a]);
    let first = &all[1];
    assert_eq!(first.modem, "modem0");
    assert_eq!(first.sender, "+919884280026");
    assert_eq!(first.text.as_deref(), Some("Ok sir"));
    assert_eq!(first.data_hex, "CF35689E9603");
    assert_eq!((first.scts, first.received_at), (SCTS, T0));
    assert_eq!((first.parts, first.partial), (1, false));
    assert_eq!(
        (all[0].parts, all[0].partial, all[0].text.clone()),
        (2, true, None)
    );
    assert_eq!(s.inbox(Some(T0 + 1), None).unwrap().len(), 1);
    assert_eq!(s.inbox(None, Some(1)).unwrap()[0].id, b);
    assert_eq!(s.counters().unwrap().inbox, 2);
    // Webhooks were off: nothing to notify.
    assert_eq!(s.due_webhooks(T0 + 100, 10).unwrap(), vec![]);
}

#[test]
fn incoming_sms_is_announced_by_webhook() {
    let mut s = Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap();
    s.set_webhooks(true);
    let m = s.modem("modem0").unwrap();
    let id = s.store_incoming(&sms(m, "Ok sir", T0)).unwrap();
    let due = s.due_webhooks(T0, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, "incoming");
    let v: serde_json::Value = serde_json::from_str(&due[0].payload).unwrap();
    assert_eq!(v["event"], "sms.incoming");
    assert_eq!(v["id"], id.to_string());
    assert_eq!(v["from"], "+919884280026");
    assert_eq!(v["text"], "Ok sir");
    assert_eq!(v["modem"], "modem0");
    assert_eq!(v["received_at"], "2025-10-09T08:53:20Z");
    assert_eq!(v["scts"], "2007-05-03T01:34:40Z");
}

#[test]
fn bad_incoming_rows_are_refused_by_name() {
    let mut s = Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap();
    let m = s.modem("modem0").unwrap();
    let mut bad = sms(m, "x", T0);
    bad.sender = " ".into();
    assert!(matches!(
        s.store_incoming(&bad),
        Err(StoreError::Invalid {
            field: "sender",
            ..
        })
    ));
    let unknown = sms(smsgw::router::ModemId(7), "x", T0);
    assert!(matches!(
        s.store_incoming(&unknown),
        Err(StoreError::Invalid { field: "modem", .. })
    ));
    assert_eq!(s.inbox(None, None).unwrap(), vec![]);
}

#[test]
fn the_same_sms_read_twice_is_stored_once() {
    let mut s = Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap();
    s.set_webhooks(true);
    let m = s.modem("modem0").unwrap();
    let a = s.store_incoming(&sms(m, "Ok sir", T0)).unwrap();
    // Listed again after a reconnect (its AT+CMGD was cut short): same PDUs.
    let again = s.store_incoming(&sms(m, "Ok sir", T0 + 60)).unwrap();
    assert_eq!(again, a);
    assert_eq!(s.inbox(None, None).unwrap().len(), 1);
    assert_eq!(
        s.due_webhooks(T0 + 100, 10).unwrap().len(),
        1,
        "announced once"
    );
    // A different SMS from the same sender is not a repeat.
    let mut other = sms(m, "Ok sir", T0 + 120);
    other.scts = SCTS + 3600;
    assert_ne!(s.store_incoming(&other).unwrap(), a);
    assert_eq!(s.inbox(None, None).unwrap().len(), 2);
}

/// The three parts of a concatenated SMS, as the worker would stage them:
/// the PDUs (hex) and the row that stores the whole message.
fn three_parts(modem: smsgw::router::ModemId, at: i64) -> (Vec<String>, IncomingSms) {
    let text = "Staged. ".repeat(50);
    let pdus: Vec<String> = smsgw::sim::codec::deliver_parts(
        "+393359609600",
        "+393471234567",
        &text,
        1_795_860_000,
        4,
        42,
    )
    .unwrap()
    .into_iter()
    .map(|(p, _)| smsgw::pdu::hex::encode(&p))
    .collect();
    assert_eq!(pdus.len(), 3);
    let row = IncomingSms {
        modem,
        sender: "+393471234567".into(),
        text: Some(text),
        data_hex: String::new(),
        scts: 1_795_860_000,
        received_at: at,
        parts: 3,
        pdus_hex: pdus.clone(),
        partial: false,
    };
    (pdus, row)
}

#[test]
fn staged_parts_are_listed_and_deleted_with_their_message() {
    let mut s = Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap();
    let m = s.modem("modem0").unwrap();
    let other = s.modem("modem1").unwrap();
    let (pdus, row) = three_parts(m, T0 + 2);
    let from = "+393471234567";
    let a = match s.stage_part(m, from, &pdus[0], T0).unwrap() {
        Staged::New(id) => id,
        got => panic!("{got:?}"),
    };
    // Delivered again (its acknowledgement lost): staged once.
    assert_eq!(
        s.stage_part(m, from, &pdus[0], T0 + 1).unwrap(),
        Staged::Again(a)
    );
    assert!(matches!(
        s.stage_part(m, from, &pdus[1], T0 + 1).unwrap(),
        Staged::New(b) if b > a
    ));
    // Another modem's staged parts are its own.
    assert!(matches!(
        s.stage_part(other, from, &pdus[2], T0 + 1).unwrap(),
        Staged::New(_)
    ));
    assert_eq!(s.counters().unwrap().staged_parts, 3);
    let listed = s.staged_parts(m).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| (p.sender.as_str(), p.pdu_hex.as_str(), p.received_at))
            .collect::<Vec<_>>(),
        [
            (from, pdus[0].as_str(), T0),
            (from, pdus[1].as_str(), T0 + 1)
        ]
    );
    // The whole message (its last part never staged): stored, its staged
    // parts gone in the same transaction; the other modem's part stays.
    let id = s.store_incoming(&row).unwrap();
    assert_eq!(s.staged_parts(m).unwrap(), vec![]);
    assert_eq!(s.staged_parts(other).unwrap().len(), 1);
    assert_eq!(s.counters().unwrap().staged_parts, 1);
    // A part of it delivered again afterwards is recognised, not staged.
    assert_eq!(
        s.stage_part(m, from, &pdus[2], T0 + 60).unwrap(),
        Staged::Stored(id)
    );
    assert_eq!(s.staged_parts(m).unwrap(), vec![]);
    assert_eq!(s.inbox(None, None).unwrap().len(), 1);
}

#[test]
fn a_message_stored_again_still_clears_its_staged_parts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("again.db");
    let mut s = Store::open_at(&db, RouterConfig::default(), T0).unwrap();
    let m = s.modem("modem0").unwrap();
    let (pdus, row) = three_parts(m, T0);
    let id = s.store_incoming(&row).unwrap();
    for p in &pdus {
        // A part of a stored message is recognised, not staged.
        assert_eq!(
            s.stage_part(m, &row.sender, p, T0).unwrap(),
            Staged::Stored(id)
        );
    }
    // A staged row next to its stored message (not a state the store
    // leaves; written behind its back): storing the message again, which
    // is recognised as a repeat, still deletes it.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO staged_parts (modem_id, sender, pdu, received_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![m.0, row.sender, pdus[1], T0],
        )
        .unwrap();
    assert_eq!(s.staged_parts(m).unwrap().len(), 1);
    assert_eq!(s.store_incoming(&row).unwrap(), id);
    assert_eq!(s.staged_parts(m).unwrap(), vec![]);
    assert_eq!(s.inbox(None, None).unwrap().len(), 1);
}

#[test]
fn bad_parts_are_refused_by_name() {
    let mut s = Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap();
    let m = s.modem("modem0").unwrap();
    let refused = |r: Result<Staged, StoreError>| match r {
        Err(StoreError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(s.stage_part(m, " ", DELIVER_HEX, T0)), "sender");
    assert_eq!(refused(s.stage_part(m, "+391", "not hex", T0)), "pdu");
    assert_eq!(
        refused(s.stage_part(smsgw::router::ModemId(9), "+391", DELIVER_HEX, T0)),
        "modem"
    );
    assert_eq!(s.staged_parts(m).unwrap(), vec![]);
}

/// A crash (or restart) between parts: what one store staged, the next one
/// lists; storing the message then leaves nothing staged, and storing it
/// twice (a part delivered again after the restart) gives one row.
#[test]
fn staged_parts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staged.db");
    let (pdus, row) = {
        let mut s = Store::open_at(&db, RouterConfig::default(), T0).unwrap();
        let m = s.modem("modem0").unwrap();
        let (pdus, row) = three_parts(m, T0 + 5);
        s.stage_part(m, &row.sender, &pdus[0], T0).unwrap();
        s.stage_part(m, &row.sender, &pdus[1], T0 + 1).unwrap();
        (pdus, row)
    };
    let mut s = Store::open_at(&db, RouterConfig::default(), T0 + 5).unwrap();
    let m = s.modem("modem0").unwrap();
    let listed: Vec<String> = s
        .staged_parts(m)
        .unwrap()
        .into_iter()
        .map(|p| p.pdu_hex)
        .collect();
    assert_eq!(listed, pdus[..2]);
    // Part 1 comes again after the restart (its AT+CNMA never went out).
    assert!(matches!(
        s.stage_part(m, &row.sender, &pdus[0], T0 + 5).unwrap(),
        Staged::Again(_)
    ));
    let id = s.store_incoming(&row).unwrap();
    assert_eq!(s.staged_parts(m).unwrap(), vec![]);
    assert_eq!(s.store_incoming(&row).unwrap(), id);
    assert_eq!(s.inbox(None, None).unwrap().len(), 1);
}

/// A version 2 database (inbox, no staging) migrates in place: its inbox
/// rows are kept, and parts can be staged.
#[test]
fn a_version_2_database_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v2.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(smsgw::store::MIGRATIONS[0]).unwrap();
        c.execute_batch(smsgw::store::MIGRATIONS[1]).unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        c.execute("INSERT INTO modems (id, name) VALUES (1, 'modem0')", [])
            .unwrap();
        c.execute(
            "INSERT INTO inbox (modem_id, sender, text, data_hex, scts, received_at, parts, pdus, \
             partial) VALUES (1, '+919884280026', 'Ok sir', 'CF35689E9603', ?1, ?2, 1, ?3, 0)",
            rusqlite::params![SCTS, T0, DELIVER_HEX],
        )
        .unwrap();
    }
    let mut s = Store::open_at(&db, RouterConfig::default(), T0).unwrap();
    let version: u32 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, smsgw::store::SCHEMA_VERSION);
    assert!(version >= 3);
    let m = s.modem("modem0").unwrap();
    assert_eq!(s.inbox(None, None).unwrap().len(), 1);
    // The old row is recognised as a repeat of the same PDU.
    assert!(matches!(
        s.stage_part(m, "+919884280026", DELIVER_HEX, T0 + 1)
            .unwrap(),
        Staged::Stored(_)
    ));
    let (pdus, row) = three_parts(m, T0 + 2);
    assert!(matches!(
        s.stage_part(m, &row.sender, &pdus[0], T0 + 2).unwrap(),
        Staged::New(_)
    ));
    assert_eq!(s.staged_parts(m).unwrap().len(), 1);
}
