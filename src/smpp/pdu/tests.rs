//! Byte-level tests of the codec: PDUs from public documents, hand-built
//! PDUs field by field (SMPP 3.4 §4), and every refusal naming its field.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The submit_sm in OpenMarket's public SMPP examples ("MT from a short
/// code with a validity period, a request for a final delivery receipt").
const OPENMARKET_SUBMIT: &str = "0000006b00000004000000000005c4a34f4d5634000301383033363200\
    010138313233343530303130303000000000003138303130353132303030303030342b00\
    01000000255265706c792059657320746f206f707420696e206f72204e6f20746f206f70\
    74206f75742e";

#[test]
fn a_published_submit_sm_reads_field_by_field_and_emits_back() {
    let bytes = hex(OPENMARKET_SUBMIT);
    let pdu = Pdu::parse(&bytes).unwrap();
    assert_eq!(pdu.sequence, 0x0005_c4a3);
    assert_eq!(pdu.status, 0);
    let Body::SubmitSm(sm) = &pdu.body else {
        panic!("not a submit_sm: {pdu:?}")
    };
    assert_eq!(sm.service_type, "OMV4");
    assert_eq!((sm.source_addr_ton, sm.source_addr_npi), (3, 1));
    assert_eq!(sm.source_addr, "80362");
    assert_eq!((sm.dest_addr_ton, sm.dest_addr_npi), (1, 1));
    assert_eq!(sm.destination_addr, "812345001000");
    assert_eq!(sm.schedule_delivery_time, "");
    assert_eq!(sm.validity_period, "180105120000004+");
    assert_eq!(sm.registered_delivery, 1);
    assert_eq!(sm.data_coding, 0);
    assert_eq!(sm.short_message, b"Reply Yes to opt in or No to opt out.");
    assert!(sm.tlvs.is_empty());
    assert_eq!(pdu.to_bytes(), bytes);
}

#[test]
fn enquire_link_and_its_resp_are_headers_only() {
    let bytes = hex("00000010 00000015 00000000 00000001");
    let pdu = Pdu::parse(&bytes).unwrap();
    assert_eq!(pdu, Pdu::new(1, Body::EnquireLink));
    assert_eq!(pdu.to_bytes(), bytes);
    let resp = Pdu::new(1, Body::EnquireLinkResp).to_bytes();
    assert_eq!(resp, hex("00000010 80000015 00000000 00000001"));
}

#[test]
fn bind_transceiver_as_written_by_the_spec_layout() {
    // system_id "app1", password "secret1", system_type "", version 0x34,
    // ton 0, npi 0, address_range "".
    let bytes = hex("00000022 00000009 00000000 00000007
         61707031 00 73656372657431 00 00 34 00 00 00");
    let pdu = Pdu::parse(&bytes).unwrap();
    let Body::BindTransceiver(b) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(b.system_id, "app1");
    assert_eq!(b.password, "secret1");
    assert_eq!(b.interface_version, 0x34);
    assert_eq!(pdu.to_bytes(), bytes);
}

#[test]
fn bind_resp_carries_system_id_and_interface_version() {
    let pdu = Pdu::new(
        7,
        Body::BindTransceiverResp(BindResp {
            system_id: "smsgw".into(),
            tlvs: vec![Tlv::new(tlv::SC_INTERFACE_VERSION, [0x34])],
        }),
    );
    let bytes = pdu.to_bytes();
    assert_eq!(
        bytes,
        hex("0000001B 80000009 00000000 00000007 736D736777 00 0210 0001 34")
    );
    assert_eq!(Pdu::parse(&bytes).unwrap(), pdu);
}

#[test]
fn error_responses_go_without_a_body_and_read_back() {
    let pdu = Pdu::error(
        3,
        Body::SubmitSmResp(SmResp::default()),
        status::ESME_RTHROTTLED,
    );
    let bytes = pdu.to_bytes();
    assert_eq!(bytes, hex("00000010 80000004 00000058 00000003"));
    assert_eq!(Pdu::parse(&bytes).unwrap(), pdu);
    // A peer that sends the empty message_id anyway is read too.
    let with_body = hex("00000011 80000004 00000058 00000003 00");
    assert_eq!(Pdu::parse(&with_body).unwrap(), pdu);
}

#[test]
fn deliver_sm_with_tlvs_round_trips() {
    let sm = Sm {
        source_addr: "4915112345678".into(),
        destination_addr: "12345".into(),
        esm_class: 0x04,
        short_message: b"id:1 sub:001".to_vec(),
        tlvs: vec![
            Tlv::cstr(tlv::RECEIPTED_MESSAGE_ID, "1"),
            Tlv::new(tlv::MESSAGE_STATE, [2]),
            Tlv::new(tlv::NETWORK_ERROR_CODE, [3, 0, 0]),
            Tlv::new(0x1401, b"vendor".to_vec()),
        ],
        ..Sm::default()
    };
    let pdu = Pdu::new(42, Body::DeliverSm(Box::new(sm)));
    let bytes = pdu.to_bytes();
    assert_eq!(Pdu::parse(&bytes).unwrap(), pdu);
    let Body::DeliverSm(back) = Pdu::parse(&bytes).unwrap().body else {
        panic!()
    };
    assert_eq!(
        back.tlvs.tlv_cstr(tlv::RECEIPTED_MESSAGE_ID).as_deref(),
        Some("1")
    );
    assert_eq!(back.tlvs.tlv_u8(tlv::MESSAGE_STATE), Some(2));
}

#[test]
fn every_other_operation_round_trips() {
    let bodies = vec![
        Body::BindTransmitter(Bind {
            system_id: "a".into(),
            ..Bind::default()
        }),
        Body::BindReceiver(Bind::default()),
        Body::BindTransmitterResp(BindResp::default()),
        Body::BindReceiverResp(BindResp {
            system_id: "x".into(),
            tlvs: vec![],
        }),
        Body::Unbind,
        Body::UnbindResp,
        Body::GenericNack,
        Body::SubmitSmResp(SmResp::id("12345")),
        Body::DeliverSmResp(SmResp::default()),
        Body::DataSm(Box::new(DataSm {
            destination_addr: "1".repeat(64),
            tlvs: vec![Tlv::new(tlv::MESSAGE_PAYLOAD, vec![0x41; 300])],
            ..DataSm::default()
        })),
        Body::DataSmResp(SmResp::id("9")),
        Body::QuerySm(QuerySm {
            message_id: "77".into(),
            source_addr: "123".into(),
            ..QuerySm::default()
        }),
        Body::QuerySmResp(QuerySmResp {
            message_id: "77".into(),
            final_date: "261202105500000+".into(),
            message_state: 2,
            error_code: 0,
        }),
        Body::CancelSm(CancelSm {
            message_id: "5".into(),
            ..CancelSm::default()
        }),
        Body::CancelSmResp,
        Body::ReplaceSm(Box::new(ReplaceSm {
            message_id: "5".into(),
            short_message: b"new".to_vec(),
            ..ReplaceSm::default()
        })),
        Body::ReplaceSmResp,
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let pdu = Pdu::new(i as u32 + 1, body);
        let bytes = pdu.to_bytes();
        assert_eq!(
            bytes.len(),
            u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize
        );
        assert_eq!(Pdu::parse(&bytes).unwrap(), pdu, "{}", pdu.body.name());
    }
}

fn submit_with(dest: &[u8]) -> Vec<u8> {
    let mut b = hex("00000000 00000004 00000000 00000001 00 01 01 3132333400 01 01");
    b.extend_from_slice(dest);
    b.extend_from_slice(&hex("00 00 00 00 00 00 00 00 00 02 6869"));
    let n = b.len() as u32;
    b[..4].copy_from_slice(&n.to_be_bytes());
    b
}

#[test]
fn an_over_long_address_is_refused_naming_the_field() {
    assert!(Pdu::parse(&submit_with(b"4915112345678\0")).is_ok());
    let e = Pdu::parse(&submit_with(&[b'1'; 22])).unwrap_err();
    assert_eq!(e.command, "submit_sm");
    assert_eq!(e.field, "destination_addr");
    assert_eq!(e.problem, Problem::NoNul { max: 21 });
    assert_eq!(e.status(), status::ESME_RINVDSTADR);
    assert!(!e.is_structural());
    assert!(e.to_string().contains("destination_addr"), "{e}");
}

#[test]
fn truncated_and_padded_pdus_are_structural_errors() {
    let good = submit_with(b"1\0");
    let mut short = good[..good.len() - 1].to_vec();
    let n = short.len() as u32;
    short[..4].copy_from_slice(&n.to_be_bytes());
    let e = Pdu::parse(&short).unwrap_err();
    assert_eq!(e.field, "short_message");
    assert!(e.is_structural());
    assert_eq!(e.status(), status::ESME_RINVCMDLEN);

    let mut long = good.clone();
    long.push(0x99);
    let n = long.len() as u32;
    long[..4].copy_from_slice(&n.to_be_bytes());
    let e = Pdu::parse(&long).unwrap_err();
    assert!(e.is_structural(), "{e}");

    // command_length that disagrees with the buffer.
    let mut wrong = good.clone();
    wrong[3] += 1;
    assert_eq!(Pdu::parse(&wrong).unwrap_err().field, "command_length");
}

#[test]
fn an_unknown_command_id_is_named() {
    let e = Pdu::parse(&hex("00000010 00000099 00000000 00000001")).unwrap_err();
    assert_eq!(e.field, "command_id");
    assert!(e.to_string().contains("0x00000099"), "{e}");
}

#[test]
fn sm_length_over_254_is_refused() {
    let mut b = submit_with(b"1\0");
    let at = b.len() - 3;
    b[at] = 255;
    b.extend(std::iter::repeat_n(b'a', 253));
    let n = b.len() as u32;
    b[..4].copy_from_slice(&n.to_be_bytes());
    let e = Pdu::parse(&b).unwrap_err();
    assert_eq!(e.field, "sm_length");
    assert_eq!(e.status(), status::ESME_RINVMSGLEN);
}

#[test]
fn a_password_of_nine_characters_is_refused() {
    let bytes =
        hex("00000000 00000002 00000000 00000001 6100 313233343536373839 00 00 34 00 00 00");
    let mut bytes = bytes;
    let n = bytes.len() as u32;
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    let e = Pdu::parse(&bytes).unwrap_err();
    assert_eq!(e.field, "password");
    assert_eq!(e.status(), status::ESME_RINVPASWD);
}

#[test]
fn framing_accepts_16_to_64k_only() {
    assert_eq!(frame_length(&[0, 0, 0]), Ok(None));
    assert_eq!(frame_length(&[0, 0, 0, 16]), Ok(Some(16)));
    assert_eq!(frame_length(&[0, 1, 0, 0]), Ok(Some(65_536)));
    assert_eq!(
        frame_length(&[0, 0, 0, 15]),
        Err(FrameError { command_length: 15 })
    );
    assert!(frame_length(&[0, 1, 0, 1]).is_err());
    assert!(frame_length(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
}
