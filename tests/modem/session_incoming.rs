//! Incoming SMS end to end: injected into the simulated modem, pushed as
//! +CMT (acknowledged with AT+CNMA) or stored and announced by +CMTI (read
//! with AT+CMGR, deleted after `handed_on`), decoded and reassembled.

use crate::session_common;

use std::time::{SystemTime, UNIX_EPOCH};

use session_common::{decode_deliver, profiles, start, Rig};
use smsgw::modem::reassembly::{Message, Part, Pushed, Reassembler, ReassemblyConfig};
use smsgw::modem::{InboundKind, Origin};
use smsgw::pdu::dcs::Encoding;
use smsgw::sim::codec::deliver_parts;

const SENDER: &str = "+393401112233";

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Inject `text` and read it back through the session; returns the message
/// and the encoding its parts used.
async fn receive(rig: &mut Rig, text: &str, reference: u8) -> (Message, Encoding, usize) {
    let pdus =
        deliver_parts("+393359609600", SENDER, text, now_s(), 4, reference).expect("deliver PDUs");
    let n = pdus.len();
    rig.sim.inject_incoming(pdus);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let mut out = Vec::new();
    let mut encoding = None;
    for i in 0..n {
        let inb = rig.next_inbound().await;
        assert_eq!(inb.kind, InboundKind::Deliver, "{}", rig.profile.name);
        // The profile's AT+CNMI <mt>: 2 pushes (+CMT), 1 stores (+CMTI).
        let cnmi = rig.profile.sms.cnmi_fields();
        match (&inb.origin, cnmi.get(1)) {
            (Origin::Direct { needs_ack, .. }, Some(2)) => assert_eq!(
                *needs_ack,
                rig.profile.sms.cnma_required && rig.profile.sms.csms == 1
            ),
            (Origin::Stored { .. }, Some(1)) => {}
            (o, mt) => panic!("{}: origin {o:?} with mt {mt:?}", rig.profile.name),
        }
        let d = decode_deliver(&inb);
        assert_eq!(d.sender.to_string(), SENDER);
        encoding = Some(d.dcs.encoding());
        let pushed = r.push(Part::from_deliver(&d).expect("text"), 0, &mut out);
        let want = if i + 1 == n {
            Pushed::Completed
        } else {
            Pushed::Pending
        };
        assert_eq!(pushed, want);
        rig.modem.handed_on(&inb.origin);
    }
    assert_eq!(out.len(), 1);
    (
        out.pop().expect("message"),
        encoding.expect("one part at least"),
        n,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_sms_in_every_dialect() {
    let long_gsm: String = (0..20)
        .map(|i| format!("Part text {i:02} [ok]. "))
        .collect::<String>();
    let emoji: String = "Ciao 😀 così è la vita 🚀 "
        .chars()
        .cycle()
        .take(140)
        .collect();
    for p in profiles() {
        let mut rig = start(&p, |_| {}).await;
        let (m, enc, n) = receive(&mut rig, "hello there", 1).await;
        assert_eq!(
            (m.text().as_str(), enc, n),
            ("hello there", Encoding::Gsm7, 1)
        );

        let (m, enc, n) = receive(&mut rig, &long_gsm, 2).await;
        assert_eq!(n, 3, "{}: a 3-part GSM message", p.name);
        assert_eq!(enc, Encoding::Gsm7);
        assert!(m.is_complete());
        assert_eq!(m.text(), long_gsm);
        assert_eq!(m.reference, Some((2, false)));

        let (m, enc, n) = receive(&mut rig, &emoji, 3).await;
        assert_eq!(n, 3, "{}: a 3-part UCS2 message", p.name);
        assert_eq!(enc, Encoding::Ucs2);
        assert_eq!(m.text(), emoji);

        // Everything handed on is gone from the modem's storage.
        rig.modem
            .command("AT", session_common::WAIT)
            .await
            .expect("AT");
        assert!(rig.sim.model().stored_indices().is_empty(), "{}", p.name);
    }
}
