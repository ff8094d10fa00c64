//! The webhook outbox: one row per message state change, written in the
//! same transaction (a change rolled back leaves none), and the
//! due / failed / delivered cycle of the sender.

use std::path::Path;

use serde_json::Value;
use smsgw::router::{ModemId, RouterConfig};
use smsgw::store::{IncomingReport, MessageOptions, Store, StoreError};

const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
/// The real +CDS of external-cds.jsonl: MR 64, TP-RA +919790197346, TP-ST 0x00.
const CDS_HEX: &str = "079119890400202306400C91197909913764511090718384225110907183252200";

fn open() -> Store {
    Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap()
}

fn report(modem: ModemId, mr: u8, status: u8, at: i64) -> IncomingReport {
    IncomingReport {
        modem,
        recipient: "+919790197346".into(),
        mr,
        scts: at - 6,
        discharge: Some(at - 2),
        status,
        pdu_hex: CDS_HEX.into(),
        received_at: at,
    }
}

fn payloads(s: &Store, now: i64) -> Vec<Value> {
    s.due_webhooks(now, 100)
        .unwrap()
        .iter()
        .map(|w| serde_json::from_str(&w.payload).unwrap())
        .collect()
}

#[test]
fn every_state_change_is_in_the_outbox_with_its_part() {
    let mut s = open();
    s.set_webhooks(true);
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+919790197346", "hi", 1, T0).unwrap();
    s.mark_sending(msg.parts[0], m0, T0).unwrap();
    s.mark_sent(msg.parts[0], m0, 64, T0, DAY).unwrap();
    // Queued and sent are not state changes (ACCEPTED throughout).
    assert_eq!(s.due_webhooks(T0 + 100, 10).unwrap(), vec![]);
    s.record_report(&report(m0, 64, 0x21, T0 + 10)).unwrap();
    s.record_report(&report(m0, 64, 0x00, T0 + 20)).unwrap();
    let rows = s.due_webhooks(T0 + 20, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.kind == "message" && r.attempts == 0));
    let p = payloads(&s, T0 + 20);
    assert_eq!(p[0]["event"], "message.state");
    assert_eq!(p[0]["id"], msg.id.0.to_string());
    assert_eq!(p[0]["to"], "+919790197346");
    assert_eq!(
        (&p[0]["previous"], &p[0]["state"]),
        (&"ACCEPTED".into(), &"ENROUTE".into())
    );
    assert_eq!(
        (&p[1]["previous"], &p[1]["state"]),
        (&"ENROUTE".into(), &"DELIVRD".into())
    );
    assert_eq!(p[1]["part"]["seq"], 1);
    assert_eq!(p[1]["part"]["mr"], 64);
    assert_eq!(p[1]["part"]["status"], 0);
    assert_eq!(p[1]["error"], Value::Null);
    assert_eq!(p[1]["at"], "2025-10-09T08:53:40Z");
}

#[test]
fn rejection_expiry_and_unknown_outcome_are_notified() {
    let mut s = open();
    s.set_webhooks(true);
    let m0 = s.modem("modem0").unwrap();
    let rejected = s.create_message("+393330000001", "a", 1, T0).unwrap();
    let unknown = s.create_message("+393330000002", "b", 1, T0).unwrap();
    let short = MessageOptions {
        validity_secs: 10,
        ..MessageOptions::default()
    };
    let expired = s
        .enqueue_message("+393330000003", "c", 1, &short, T0)
        .unwrap();
    s.mark_sending(rejected.parts[0], m0, T0).unwrap();
    s.mark_rejected(rejected.parts[0], 38, "network out of order", T0 + 1)
        .unwrap();
    s.mark_sending(unknown.parts[0], m0, T0).unwrap();
    s.mark_outcome_unknown(unknown.parts[0], "no answer to AT+CMGS", T0 + 2)
        .unwrap();
    s.expire_queued(T0 + 11).unwrap();
    let p = payloads(&s, T0 + 11);
    let got: Vec<(String, String)> = p
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (rejected.id.0.to_string(), "REJECTD".to_string()),
            (unknown.id.0.to_string(), "UNKNOWN".to_string()),
            (expired.id.0.to_string(), "EXPIRED".to_string()),
        ]
    );
    assert_eq!(p[0]["error"], 38);
    assert_eq!(p[0]["part"]["error"], "network out of order");
    assert_eq!(p[2]["part"], Value::Null);
}

#[test]
fn a_state_change_rolled_back_leaves_no_outbox_row() {
    let mut s = open();
    s.set_webhooks(true);
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+919790197346", "hi", 1, T0).unwrap();
    s.mark_sending(msg.parts[0], m0, T0).unwrap();
    s.mark_sent(msg.parts[0], m0, 64, T0, DAY).unwrap();
    // The first report delivers the message; the second names a modem the
    // database does not know, so the batch fails and is rolled back whole.
    let err = s
        .record_reports([
            report(m0, 64, 0x00, T0 + 20),
            report(ModemId(99), 1, 0x00, T0 + 20),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Sql(_)), "{err}");
    assert_eq!(s.due_webhooks(T0 + 100, 10).unwrap(), vec![]);
    assert_eq!(s.counters().unwrap().webhooks_pending, 0);
    // The router was put back in step: the same report applies now.
    s.record_report(&report(m0, 64, 0x00, T0 + 30)).unwrap();
    assert_eq!(payloads(&s, T0 + 30).len(), 1);
}

#[test]
fn nothing_is_written_with_webhooks_off() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    let msg = s.create_message("+919790197346", "hi", 1, T0).unwrap();
    s.mark_sent(msg.parts[0], m0, 64, T0, DAY).unwrap();
    s.record_report(&report(m0, 64, 0x00, T0 + 20)).unwrap();
    assert_eq!(s.due_webhooks(T0 + 100, 10).unwrap(), vec![]);
}

#[test]
fn due_failed_delivered_cycle() {
    let mut s = open();
    s.set_webhooks(true);
    let m0 = s.modem("modem0").unwrap();
    // Two messages refused at submit: one notification each.
    for to in ["+393330000001", "+393330000002"] {
        let msg = s.create_message(to, "x", 1, T0).unwrap();
        s.mark_sending(msg.parts[0], m0, T0).unwrap();
        s.mark_rejected(msg.parts[0], 500, "unknown error", T0 + 5)
            .unwrap();
    }
    let due = s.due_webhooks(T0 + 5, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due[0].id < due[1].id);
    assert_eq!(due[0].created_at, T0 + 5);
    assert_eq!(s.due_webhooks(T0 + 4, 10).unwrap(), vec![]);
    assert_eq!(s.due_webhooks(T0 + 5, 1).unwrap(), due[..1]);
    let (first, second) = (due[0].id, due[1].id);
    s.webhook_failed(first, "connection refused", T0 + 35, T0 + 5)
        .unwrap();
    s.webhook_delivered(second, T0 + 6).unwrap();
    assert_eq!(s.due_webhooks(T0 + 34, 10).unwrap(), vec![]);
    let again = s.due_webhooks(T0 + 35, 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (first, 1));
    assert_eq!(again[0].payload, due[0].payload);
    assert_eq!(s.counters().unwrap().webhooks_pending, 1);
    s.webhook_delivered(first, T0 + 36).unwrap();
    assert_eq!(s.due_webhooks(T0 + 1000, 10).unwrap(), vec![]);
    assert_eq!(s.counters().unwrap().webhooks_pending, 0);
    // A delivered row takes no further failure; unknown ids are named.
    assert!(matches!(
        s.webhook_failed(first, "late", T0 + 99, T0 + 40),
        Err(StoreError::NoWebhook(id)) if id == first
    ));
    assert!(matches!(
        s.webhook_delivered(12345, T0),
        Err(StoreError::NoWebhook(12345))
    ));
}
