//! An ambiguous report is not left ambiguous when more becomes known: once
//! the modem's SMSC clock offset is learned, it is decided by its timestamp.

use smsgw::router::RouterConfig;
use smsgw::store::{IncomingReport, MessageId, ReportFilter, Store};
use std::path::Path;

const TO: &str = "+393331234567";

fn report(modem: smsgw::router::ModemId, mr: u8, scts: i64) -> IncomingReport {
    IncomingReport {
        modem,
        recipient: TO.into(),
        mr,
        scts,
        discharge: Some(scts + 1),
        status: 0,
        pdu_hex: "00".into(),
        received_at: scts + 2,
    }
}

#[test]
fn ambiguous_report_is_decided_once_the_clock_offset_is_learned() {
    let mut store = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
    let m = store.modem("m").unwrap();
    let send = |store: &mut Store, mr: u8, at: i64| {
        let msg = store.create_message(TO, "x", 1, at).unwrap();
        store.mark_sent(msg.parts[0], m, mr, at, 86_400).unwrap();
        msg.id
    };
    // Two parts share TP-MR 7, submitted 4 s apart; the SMSC clock is 30 s ahead.
    let a = send(&mut store, 7, 1_000);
    let b = send(&mut store, 7, 1_004);
    let c = send(&mut store, 8, 1_010);
    // A's report comes first: no offset known yet, both fit: ambiguous.
    store.record_report(&report(m, 7, 1_030)).unwrap();
    let amb = store.reports(ReportFilter::Ambiguous, None).unwrap();
    assert_eq!(amb.len(), 1);
    assert_eq!(amb[0].candidates.len(), 2);
    // C's report matches alone and teaches the offset (+30 s): A's report is
    // now decided by its SCTS (1030 = 1000 + 30), not B's (1034).
    store.record_report(&report(m, 8, 1_040)).unwrap();
    assert!(store
        .reports(ReportFilter::Ambiguous, None)
        .unwrap()
        .is_empty());
    let state = |store: &Store, id: MessageId| {
        store
            .message(id)
            .unwrap()
            .message
            .state
            .as_str()
            .to_string()
    };
    assert_eq!(state(&store, a), "DELIVRD");
    assert_eq!(
        state(&store, b),
        "ACCEPTED",
        "B is still waiting for its own report"
    );
    assert_eq!(state(&store, c), "DELIVRD");
    // B's own report then lands on B.
    store.record_report(&report(m, 7, 1_034)).unwrap();
    assert_eq!(state(&store, b), "DELIVRD");
    let all = store.reports(ReportFilter::All, None).unwrap();
    assert!(all.iter().all(|r| r.result == "matched"), "{all:?}");
}
