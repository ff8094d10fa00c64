//! Property tests of the SMPP codec: typed PDUs round-trip through their
//! bytes, and no byte string makes the framing, the parser or the submit
//! conversion panic.

use proptest::prelude::*;
use smsgw::smpp::pdu::{frame_length, Body, Pdu, Sm, SmResp, Tlv};
use smsgw::smpp::{message, time};

/// An ASCII C-octet string body of at most `max` characters (no NUL).
fn cstr(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0x01u8..0x7F, 0..=max)
        .prop_map(|v| v.into_iter().map(char::from).collect())
}

fn smpp_time() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (0u32..100, 0u32..100, 0u32..100).prop_map(|(d, h, m)| format!(
            "0000{:02}{:02}{:02}00000R",
            d % 30,
            h % 24,
            m % 60
        )),
        (0u32..100, 1u32..13, 1u32..29, 0u32..49, any::<bool>()).prop_map(|(y, mo, d, q, p)| {
            format!(
                "{y:02}{mo:02}{d:02}1200000{q:02}{}",
                if p { '+' } else { '-' }
            )
        }),
    ]
}

fn tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    proptest::collection::vec(
        (
            0x1400u16..0x3FFF,
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(t, v)| Tlv::new(t, v)),
        0..4,
    )
}

prop_compose! {
    fn sm()(
        service_type in cstr(5),
        ton in any::<u8>(), npi in any::<u8>(),
        source in cstr(20), dest in cstr(20),
        esm in any::<u8>(), pid in any::<u8>(), prio in any::<u8>(),
        sched in smpp_time(), validity in smpp_time(),
        rd in any::<u8>(), rip in any::<u8>(), dc in any::<u8>(), dflt in any::<u8>(),
        text in proptest::collection::vec(any::<u8>(), 0..=254),
        tlvs in tlvs(),
    ) -> Sm {
        Sm {
            service_type,
            source_addr_ton: ton,
            source_addr_npi: npi,
            source_addr: source,
            dest_addr_ton: npi,
            dest_addr_npi: ton,
            destination_addr: dest,
            esm_class: esm,
            protocol_id: pid,
            priority_flag: prio,
            schedule_delivery_time: sched,
            validity_period: validity,
            registered_delivery: rd,
            replace_if_present_flag: rip,
            data_coding: dc,
            sm_default_msg_id: dflt,
            short_message: text,
            tlvs,
        }
    }
}

proptest! {
    #[test]
    fn submit_and_deliver_sm_round_trip(sm in sm(), seq in any::<u32>(), deliver in any::<bool>()) {
        let body = if deliver { Body::DeliverSm(Box::new(sm)) } else { Body::SubmitSm(Box::new(sm)) };
        let pdu = Pdu::new(seq, body);
        let bytes = pdu.to_bytes();
        prop_assert_eq!(frame_length(&bytes), Ok(Some(bytes.len())));
        prop_assert_eq!(Pdu::parse(&bytes).unwrap(), pdu);
    }

    #[test]
    fn resp_round_trips(id in cstr(64), seq in any::<u32>()) {
        let pdu = Pdu::new(seq, Body::SubmitSmResp(SmResp::id(id)));
        prop_assert_eq!(Pdu::parse(&pdu.to_bytes()).unwrap(), pdu);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..300), fix_len in any::<bool>()) {
        if fix_len && data.len() >= 4 {
            let n = data.len() as u32;
            data[..4].copy_from_slice(&n.to_be_bytes());
        }
        smsgw::fuzz_checks::smpp_pdu(&data);
    }

    #[test]
    fn any_parsed_submit_converts_without_panic(sm in sm()) {
        let _ = message::submit_request(&sm, 1_796_205_600);
    }

    #[test]
    fn times_never_panic(s in "[0-9]{15}[R+-]|.{0,20}", now in -10_000_000_000i64..10_000_000_000) {
        let _ = time::parse(&s, now);
    }
}
