//! The session over TCP (`tcp:127.0.0.1:PORT`, as `smsgw sim --listen` and
//! some modem servers expose) works as over a serial port.

use crate::session_common;

use session_common::{try_start, Link};
use smsgw::modem::Origin;
use smsgw::profile::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_report_over_tcp() {
    for name in ["quectel-ec2x", "generic", "huawei-e173"] {
        let p = Profile::by_name(name).expect("profile");
        let mut rig = try_start(&p, Link::Tcp, |c| c.urc_mid_response = true, |_| {})
            .await
            .unwrap_or_else(|(e, _, _)| panic!("{name}: {e}"));
        assert!(rig.sim.device().starts_with("tcp:127.0.0.1:"));
        assert_eq!(rig.modem.info().expect("info").device, rig.sim.device());
        for i in 0..3 {
            let mr = rig.send("+393331234567", &format!("tcp {i}")).await;
            let (sr, inb) = rig.next_report().await;
            assert_eq!((sr.mr, sr.status.0), (mr, 0x00), "{name}");
            match (&inb.origin, p.sms.cnma_required) {
                (
                    Origin::Direct {
                        needs_ack: true, ..
                    },
                    true,
                )
                | (Origin::Stored { .. }, false) => {}
                (o, _) => panic!("{name}: origin {o:?}"),
            }
            rig.modem.handed_on(&inb.origin);
        }
        rig.modem
            .command("AT", session_common::WAIT)
            .await
            .expect("AT");
        assert!(rig.sim.model().stored_indices().is_empty(), "{name}");
    }
}
