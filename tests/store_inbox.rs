//! Incoming SMS: stored, listed, announced by webhook in the same commit.

use std::path::Path;

use smsgw::router::RouterConfig;
use smsgw::store::{IncomingSms, Store, StoreError};

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
