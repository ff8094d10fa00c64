//! The SMPP side of the store: messages with their origin, receipts per
//! registered_delivery written in the transaction of the state change, the
//! per-account outbox (order, acknowledgement, retention, reopen), incoming
//! SMS for receive_mo accounts, binary / UDH / scheduled messages in the
//! queue, and the cancel and query rules.

use std::path::Path;

use serde_json::Value;
use smsgw::router::{ModemId, RouterConfig};
use smsgw::state::MessageState;
use smsgw::store::{
    EnqueueRequest, IncomingReport, IncomingSms, MessageOptions, SmppCancel, SmppOrigin, Store,
    StoreError,
};

const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
/// The real +CDS of external-cds.jsonl (its fields are replaced per test).
const CDS_HEX: &str = "079119890400202306400C91197909913764511090718384225110907183252200";
const TO: &str = "+919790197346";

fn open() -> Store {
    Store::open_at(Path::new(":memory:"), RouterConfig::default(), T0).unwrap()
}

fn origin(account: &str, rd: u8) -> SmppOrigin {
    SmppOrigin {
        account: account.into(),
        source_ton: 5,
        source_npi: 0,
        source_addr: "ACME".into(),
        dest_ton: 1,
        dest_npi: 1,
        dest_addr: "919790197346".into(),
        registered_delivery: rd,
        expires_at: None,
    }
}

/// Queue an SMPP message of `parts` parts to [`TO`].
fn submit(s: &mut Store, account: &str, rd: u8, text: &str, parts: u8) -> smsgw::store::NewMessage {
    let opts = MessageOptions::default();
    let req = EnqueueRequest {
        to: TO,
        text,
        parts,
        opts: &opts,
    };
    s.enqueue_smpp(&req, &origin(account, rd), T0).unwrap()
}

fn report(modem: ModemId, mr: u8, status: u8, at: i64) -> IncomingReport {
    IncomingReport {
        modem,
        recipient: TO.into(),
        mr,
        scts: at - 6,
        discharge: Some(at - 2),
        status,
        pdu_hex: CDS_HEX.into(),
        received_at: at,
    }
}

/// Send every part of `msg` on `m0` with TP-MRs from `mr`.
fn send_all(s: &mut Store, m0: ModemId, msg: &smsgw::store::NewMessage, mr: u8) {
    for (i, p) in msg.parts.iter().enumerate() {
        s.mark_sending(*p, m0, T0 + 1).unwrap();
        s.mark_sent(*p, m0, mr + i as u8, T0 + 1, DAY).unwrap();
    }
}

fn receipts(s: &Store, account: &str) -> Vec<Value> {
    s.smpp_outbox(account, 0, 100)
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r.kind, "receipt");
            serde_json::from_str(&r.payload).unwrap()
        })
        .collect()
}

#[test]
fn a_final_receipt_carries_the_aggregate_and_real_part_counts() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    let msg = submit(&mut s, "app1", 1, &"long text ".repeat(40), 3);
    send_all(&mut s, m0, &msg, 10);
    assert_eq!(receipts(&s, "app1"), Vec::<Value>::new());
    s.record_report(&report(m0, 10, 0x00, T0 + 20)).unwrap();
    s.record_report(&report(m0, 11, 0x00, T0 + 21)).unwrap();
    // Still ENROUTE/ACCEPTED overall: no receipt without bit 4.
    assert_eq!(receipts(&s, "app1").len(), 0);
    s.record_report(&report(m0, 12, 0x46, T0 + 22)).unwrap();
    let r = receipts(&s, "app1");
    assert_eq!(r.len(), 1, "{r:?}");
    let r = &r[0];
    assert_eq!(r["message_id"], msg.id.0);
    assert_eq!(r["state"], "EXPIRED");
    assert_eq!((r["sub"].as_i64(), r["dlvrd"].as_i64()), (Some(3), Some(2)));
    assert_eq!(r["err"], 0x46);
    assert_eq!(r["intermediate"], false);
    assert_eq!(r["submit_date"], T0);
    assert_eq!(r["done_date"], T0 + 22);
    assert_eq!(r["text_head"], "long text long text ");
    assert_eq!(r["source"]["addr"], "ACME");
    assert_eq!(r["source"]["ton"], 5);
    assert_eq!(r["dest"]["addr"], "919790197346");
    // Another account sees nothing of it.
    assert!(s.smpp_outbox("app2", 0, 100).unwrap().is_empty());
}

#[test]
fn registered_delivery_decides_which_receipts_are_written() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    // (registered_delivery, outcomes (TP-ST per report), receipts expected)
    let cases: [(u8, &[u8], &[&str]); 7] = [
        (0, &[0x00], &[]),
        (1, &[0x00], &["DELIVRD"]),
        (1, &[0x41], &["UNDELIV"]),
        (2, &[0x00], &[]),
        (2, &[0x41], &["UNDELIV"]),
        (0x11, &[0x21, 0x00], &["ENROUTE", "DELIVRD"]),
        (0x10, &[0x21, 0x41], &["ENROUTE"]),
    ];
    for (i, (rd, statuses, want)) in cases.iter().enumerate() {
        let account = format!("acct{i}");
        let msg = submit(&mut s, &account, *rd, "hello", 1);
        let mr = 20 + i as u8;
        send_all(&mut s, m0, &msg, mr);
        for (k, st) in statuses.iter().enumerate() {
            s.record_report(&report(m0, mr, *st, T0 + 30 + k as i64))
                .unwrap();
        }
        let got: Vec<String> = receipts(&s, &account)
            .iter()
            .map(|r| r["state"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, *want, "registered_delivery {rd:#04x}, {statuses:?}");
        if let Some(first) = receipts(&s, &account).first() {
            assert_eq!(
                first["intermediate"],
                first["state"] == "ENROUTE",
                "{first}"
            );
        }
    }
}

#[test]
fn the_receipt_is_written_in_the_transaction_of_the_state_change() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    let msg = submit(&mut s, "app1", 1, "hi", 1);
    send_all(&mut s, m0, &msg, 64);
    // The first report delivers the message; the second names a modem the
    // database does not know, so the whole batch is rolled back.
    let err = s
        .record_reports([
            report(m0, 64, 0x00, T0 + 20),
            report(ModemId(99), 1, 0x00, T0 + 20),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Sql(_)), "{err}");
    assert!(s.smpp_outbox("app1", 0, 10).unwrap().is_empty());
    assert_eq!(
        s.smpp_message("app1", msg.id.0).unwrap().unwrap().state,
        MessageState::Accepted
    );
    // Applied again: state and receipt together.
    s.record_report(&report(m0, 64, 0x00, T0 + 30)).unwrap();
    assert_eq!(receipts(&s, "app1").len(), 1);
    assert_eq!(
        s.smpp_message("app1", msg.id.0).unwrap().unwrap().state,
        MessageState::Delivered
    );
}

#[test]
fn outbox_order_acknowledgement_and_ids_that_never_go_back() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    let mut ids = Vec::new();
    for i in 0..5u8 {
        let msg = submit(&mut s, "app1", 1, "x", 1);
        send_all(&mut s, m0, &msg, 100 + i);
        s.record_report(&report(m0, 100 + i, 0x00, T0 + 10 + i64::from(i)))
            .unwrap();
        ids.push(msg.id.0);
    }
    let rows = s.smpp_outbox("app1", 0, 100).unwrap();
    let in_order: Vec<i64> = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.payload).unwrap()["message_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(in_order, ids, "receipts in the order of the changes");
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    // A cursor and a limit.
    let page = s.smpp_outbox("app1", rows[1].id, 2).unwrap();
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        [rows[2].id, rows[3].id]
    );
    // A failed delivery is counted; an acknowledged one is gone.
    assert!(s.smpp_outbox_failed("app1", rows[0].id, T0 + 99).unwrap());
    assert_eq!(s.smpp_outbox("app1", 0, 1).unwrap()[0].attempts, 1);
    assert!(
        !s.smpp_outbox_delivered("app2", rows[0].id).unwrap(),
        "another account's row"
    );
    let last = rows[4].id;
    for r in &rows {
        assert!(s.smpp_outbox_delivered("app1", r.id).unwrap());
    }
    assert!(!s.smpp_outbox_delivered("app1", last).unwrap(), "twice");
    assert!(s.smpp_outbox("app1", 0, 100).unwrap().is_empty());
    // The newest row was deleted: the next one still gets a higher id, so a
    // bind reading "after the last id seen" cannot miss it.
    let msg = submit(&mut s, "app1", 1, "y", 1);
    send_all(&mut s, m0, &msg, 200);
    s.record_report(&report(m0, 200, 0x00, T0 + 50)).unwrap();
    let next = s.smpp_outbox("app1", last, 10).unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].id > last);
}

#[test]
fn rows_survive_a_reopen_and_expire_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smpp.db");
    let (old_msg, new_msg) = {
        let mut s = Store::open_at(&path, RouterConfig::default(), T0).unwrap();
        let m0 = s.modem("modem0").unwrap();
        let a = submit(&mut s, "app1", 1, "old", 1);
        send_all(&mut s, m0, &a, 1);
        s.record_report(&report(m0, 1, 0x00, T0 + 10)).unwrap();
        let b = submit(&mut s, "app1", 1, "new", 1);
        send_all(&mut s, m0, &b, 2);
        s.record_report(&report(m0, 2, 0x00, T0 + 40)).unwrap();
        (a.id.0, b.id.0)
    };
    let mut s = Store::open_at(&path, RouterConfig::default(), T0 + 3600).unwrap();
    let ids: Vec<i64> = receipts(&s, "app1")
        .iter()
        .map(|r| r["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [old_msg, new_msg]);
    assert_eq!(s.smpp_outbox_waiting().unwrap(), [("app1".to_string(), 2)]);
    // Rows written before the cut (now less the retention) are deleted.
    let gone = s.expire_smpp_outbox(T0 + 30).unwrap();
    assert_eq!(gone, [("app1".to_string(), 1)]);
    let ids: Vec<i64> = receipts(&s, "app1")
        .iter()
        .map(|r| r["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [new_msg]);
    assert_eq!(s.expire_smpp_outbox(T0).unwrap(), []);
}

#[test]
fn new_rows_are_announced_once_per_account() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    // The first call sets the mark.
    assert_eq!(s.smpp_new_rows().unwrap(), Vec::<String>::new());
    let a = submit(&mut s, "app1", 1, "a", 1);
    let b = submit(&mut s, "app2", 1, "b", 1);
    send_all(&mut s, m0, &a, 1);
    send_all(&mut s, m0, &b, 2);
    assert_eq!(s.smpp_new_rows().unwrap(), Vec::<String>::new());
    s.record_report(&report(m0, 1, 0x00, T0 + 10)).unwrap();
    s.record_report(&report(m0, 2, 0x00, T0 + 10)).unwrap();
    let mut got = s.smpp_new_rows().unwrap();
    got.sort();
    assert_eq!(got, ["app1", "app2"]);
    assert_eq!(s.smpp_new_rows().unwrap(), Vec::<String>::new());
}

#[test]
fn incoming_sms_go_to_every_receive_mo_account_with_the_inbox_row() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    s.set_smpp_mo_accounts(vec!["app1".into(), "app3".into()]);
    let sms = IncomingSms {
        modem: m0,
        sender: "+919884280026".into(),
        text: Some("Ok sir".into()),
        data_hex: "CF35689E9603".into(),
        scts: 1_178_156_080,
        received_at: T0,
        parts: 1,
        pdus_hex: vec!["0791198948004544040C9119894882006200007050307040042206CF35689E9603".into()],
        partial: false,
    };
    s.store_incoming(&sms).unwrap();
    for account in ["app1", "app3"] {
        let rows = s.smpp_outbox(account, 0, 10).unwrap();
        assert_eq!(rows.len(), 1, "{account}");
        assert_eq!(rows[0].kind, "mo");
        let v: Value = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(v["from"], "+919884280026");
        assert_eq!(v["text"], "Ok sir");
        assert_eq!(v["to"], "modem0");
        assert_eq!(v["received_at"], T0);
    }
    assert!(s.smpp_outbox("app2", 0, 10).unwrap().is_empty());
    // The same SMS read again is not a second one.
    s.store_incoming(&sms).unwrap();
    assert_eq!(s.smpp_outbox("app1", 0, 10).unwrap().len(), 1);
}

#[test]
fn binary_and_udh_messages_are_one_part_and_schedules_hold_the_claim() {
    let mut s = open();
    let udh = vec![0x05, 0x00, 0x03, 0x2A, 0x02, 0x01];
    let opts = MessageOptions {
        data: Some(vec![0xDE, 0xAD, 0xBE, 0xEF]),
        udh: Some(udh.clone()),
        not_before: Some(T0 + 600),
        ..MessageOptions::default()
    };
    let req = EnqueueRequest {
        to: TO,
        text: "",
        parts: 1,
        opts: &opts,
    };
    let msg = s.enqueue_smpp(&req, &origin("app1", 1), T0).unwrap();
    // Not claimed before its time.
    assert_eq!(s.claim_next("modem0", T0 + 599, &|_| true).unwrap(), None);
    let claimed = s
        .claim_next("modem0", T0 + 600, &|_| true)
        .unwrap()
        .expect("due at its time");
    assert_eq!(claimed.id, msg.id);
    assert_eq!(
        claimed.opts.data.as_deref(),
        Some(&[0xDE, 0xAD, 0xBE, 0xEF][..])
    );
    assert_eq!(claimed.opts.udh.as_deref(), Some(&udh[..]));
    // Encoded as it will be sent: one 8-bit part with the header as given.
    let to = smsgw::pdu::address::Address::parse_number(TO).unwrap();
    let parts = smsgw::gateway::encode_message(&to, &claimed.text, &claimed.opts).unwrap();
    assert_eq!(parts.len(), 1);
    let (_, tpdu) = smsgw::pdu::parse_with_smsc(&parts[0].bytes).unwrap();
    let smsgw::pdu::Tpdu::Submit(sub) = tpdu else {
        panic!("not a submit")
    };
    assert_eq!(sub.dcs.encoding(), smsgw::pdu::dcs::Encoding::EightBit);
    assert_eq!(sub.user_data.udh.as_ref().unwrap().as_bytes(), &udh[1..]);
    assert_eq!(
        sub.user_data.body,
        smsgw::pdu::Body::Binary(vec![0xDE, 0xAD, 0xBE, 0xEF])
    );
    assert!(sub.status_report_request);
    // A GSM text with the client's header: 7-bit with the header, one part.
    let opts = MessageOptions {
        udh: Some(udh.clone()),
        ..MessageOptions::default()
    };
    let text = "a".repeat(153);
    let parts = smsgw::gateway::encode_message(&to, &text, &opts).unwrap();
    assert_eq!(parts.len(), 1);
    let (_, tpdu) = smsgw::pdu::parse_with_smsc(&parts[0].bytes).unwrap();
    let smsgw::pdu::Tpdu::Submit(sub) = tpdu else {
        panic!("not a submit")
    };
    assert_eq!(sub.dcs.encoding(), smsgw::pdu::dcs::Encoding::Gsm7);
    assert_eq!(sub.user_data.as_text(), Some(text.as_str()));
    assert_eq!(sub.user_data.concat().map(|c| c.reference), Some(0x2A));
}

#[test]
fn cancel_only_before_a_part_is_handed_over_and_only_by_its_account() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    let queued = submit(&mut s, "app1", 1, "cancel me", 1);
    assert_eq!(
        s.cancel_smpp("app2", queued.id.0, T0 + 1).unwrap(),
        SmppCancel::NotFound
    );
    assert_eq!(
        s.cancel_smpp("app1", queued.id.0 + 1000, T0 + 1).unwrap(),
        SmppCancel::NotFound
    );
    assert_eq!(
        s.cancel_smpp("app1", queued.id.0, T0 + 1).unwrap(),
        SmppCancel::Cancelled
    );
    let q = s.smpp_message("app1", queued.id.0).unwrap().unwrap();
    assert_eq!((q.state, q.done_at), (MessageState::Deleted, Some(T0 + 1)));
    let r = receipts(&s, "app1");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["state"], "DELETED");
    assert_eq!(r[0]["dlvrd"], 0);
    // Gone from the queue, and not cancelled twice.
    assert_eq!(s.claim_next("modem0", T0 + 2, &|_| true).unwrap(), None);
    assert_eq!(
        s.cancel_smpp("app1", queued.id.0, T0 + 3).unwrap(),
        SmppCancel::TooLate
    );
    // In flight (AT+CMGS about to be written): too late.
    let flying = submit(&mut s, "app1", 1, "too late", 1);
    s.mark_sending(flying.parts[0], m0, T0 + 4).unwrap();
    assert_eq!(
        s.cancel_smpp("app1", flying.id.0, T0 + 5).unwrap(),
        SmppCancel::TooLate
    );
    // A two-part message with its first part sent: too late as well.
    let half = submit(&mut s, "app1", 1, &"b".repeat(200), 2);
    s.mark_sending(half.parts[0], m0, T0 + 6).unwrap();
    s.mark_sent(half.parts[0], m0, 9, T0 + 6, DAY).unwrap();
    assert_eq!(
        s.cancel_smpp("app1", half.id.0, T0 + 7).unwrap(),
        SmppCancel::TooLate
    );
    // Query: only the account's own messages.
    assert!(s.smpp_message("app2", half.id.0).unwrap().is_none());
    let plain = s.create_message(TO, "over HTTP", 1, T0).unwrap();
    assert!(s.smpp_message("app1", plain.id.0).unwrap().is_none());
    assert_eq!(
        s.cancel_smpp("app1", plain.id.0, T0 + 8).unwrap(),
        SmppCancel::NotFound
    );
}

#[test]
fn a_final_receipt_is_written_once_even_if_unknown_is_reopened() {
    let mut s = open();
    let m0 = s.modem("modem0").unwrap();
    let msg = submit(&mut s, "app1", 1, "hi", 1);
    s.mark_sending(msg.parts[0], m0, T0 + 1).unwrap();
    s.mark_outcome_unknown(msg.parts[0], "no answer", T0 + 2)
        .unwrap();
    let r = receipts(&s, "app1");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["state"], "UNKNOWN");
    // Reopened and sent again (resend_unknown = "if-no-report"), then
    // delivered: the client already had its final receipt.
    s.resend_unknown_without_report(10, T0 + 100).unwrap();
    let claimed = s
        .claim_next("modem0", T0 + 101, &|_| true)
        .unwrap()
        .unwrap();
    s.mark_sending(claimed.parts[0].id, m0, T0 + 101).unwrap();
    s.mark_sent(claimed.parts[0].id, m0, 7, T0 + 101, DAY)
        .unwrap();
    s.record_report(&report(m0, 7, 0x00, T0 + 110)).unwrap();
    assert_eq!(
        s.smpp_message("app1", msg.id.0).unwrap().unwrap().state,
        MessageState::Delivered
    );
    assert_eq!(receipts(&s, "app1").len(), 1);
}
