use super::*;

fn sm(dc: u8, data: &[u8]) -> Sm {
    Sm {
        source_addr_ton: 5,
        source_addr_npi: 0,
        source_addr: "ACME".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "4915112345678".into(),
        registered_delivery: 1,
        data_coding: dc,
        short_message: data.to_vec(),
        ..Sm::default()
    }
}

const NOW: i64 = 1_796_205_600;

#[test]
fn a_plain_submit_becomes_a_request() {
    let r = submit_request(&sm(0, b"Hello"), NOW).unwrap();
    assert_eq!(
        r.payload,
        Payload::Text {
            text: "Hello".into(),
            ucs2: false
        }
    );
    assert_eq!(r.dest.addr, "4915112345678");
    assert_eq!((r.source.ton, r.source.addr.as_str()), (5, "ACME"));
    assert_eq!(r.registered_delivery, 1);
    assert_eq!(
        (r.udh, r.expires_at, r.not_before, r.flash),
        (None, None, None, false)
    );
}

#[test]
fn times_udhi_and_sar() {
    let mut s = sm(8, &[5, 0, 3, 7, 2, 1, 0, 0x41]);
    s.esm_class = ESM_UDHI;
    s.validity_period = "000001000000000R".into();
    s.schedule_delivery_time = "000000001000000R".into();
    let r = submit_request(&s, NOW).unwrap();
    assert_eq!(r.udh.as_deref(), Some(&[5u8, 0, 3, 7, 2, 1][..]));
    assert_eq!(
        r.payload,
        Payload::Text {
            text: "A".into(),
            ucs2: true
        }
    );
    assert_eq!(r.expires_at, Some(NOW + 86_400));
    assert_eq!(r.not_before, Some(NOW + 600));

    let mut s = sm(0, b"part two");
    s.tlvs = vec![
        Tlv::new(tlv::SAR_MSG_REF_NUM, 300u16.to_be_bytes()),
        Tlv::new(tlv::SAR_TOTAL_SEGMENTS, [3]),
        Tlv::new(tlv::SAR_SEGMENT_SEQNUM, [2]),
    ];
    let r = submit_request(&s, NOW).unwrap();
    assert_eq!(r.udh.as_deref(), Some(&[6u8, 8, 4, 1, 44, 3, 2][..]));
    s.tlvs.pop();
    assert_eq!(
        submit_request(&s, NOW).unwrap_err().status,
        status::ESME_RMISSINGOPTPARAM
    );
}

#[test]
fn message_payload_carries_long_texts() {
    let long = "x".repeat(600);
    let mut s = sm(1, b"");
    s.tlvs = vec![Tlv::new(tlv::MESSAGE_PAYLOAD, long.as_bytes().to_vec())];
    let r = submit_request(&s, NOW).unwrap();
    assert_eq!(
        r.payload,
        Payload::Text {
            text: long,
            ucs2: false
        }
    );
    s.short_message = b"both".to_vec();
    assert_eq!(
        submit_request(&s, NOW).unwrap_err().status,
        status::ESME_RINVMSGLEN
    );
}

#[test]
fn bad_submits_get_the_status_that_names_the_problem() {
    let mut s = sm(0, b"x");
    s.destination_addr.clear();
    assert_eq!(
        submit_request(&s, NOW).unwrap_err().status,
        status::ESME_RINVDSTADR
    );
    let mut s = sm(0, b"x");
    s.validity_period = "999999999999999X".into();
    assert_eq!(
        submit_request(&s, NOW).unwrap_err().status,
        status::ESME_RINVEXPIRY
    );
    let mut s = sm(0, b"x");
    s.schedule_delivery_time = "181305120000000+".into();
    assert_eq!(
        submit_request(&s, NOW).unwrap_err().status,
        status::ESME_RINVSCHED
    );
    let mut s = sm(0, b"x");
    s.esm_class = 0x04;
    assert_eq!(
        submit_request(&s, NOW).unwrap_err().status,
        status::ESME_RINVESMCLASS
    );
    let mut s = sm(0, &[9, 1]);
    s.esm_class = ESM_UDHI;
    assert_eq!(
        submit_request(&s, NOW).unwrap_err().status,
        status::ESME_RINVESMCLASS
    );
    assert_eq!(
        submit_request(&sm(5, b"x"), NOW).unwrap_err().status,
        status::ESME_RSUBMITFAIL
    );
    assert_eq!(
        submit_request(&sm(0, b""), NOW).unwrap_err().status,
        status::ESME_RINVMSGLEN
    );
    let e = submit_request(&sm(8, &[0, 0x41, 0]), NOW).unwrap_err();
    assert_eq!(e.status, status::ESME_RSUBMITFAIL);
    assert!(e.reason.contains("UCS2"), "{}", e.reason);
}

#[test]
fn data_sm_reads_message_payload() {
    let d = DataSm {
        destination_addr: "123".into(),
        data_coding: 0,
        tlvs: vec![
            Tlv::new(tlv::MESSAGE_PAYLOAD, b"hello".to_vec()),
            Tlv::new(tlv::QOS_TIME_TO_LIVE, 3600u32.to_be_bytes()),
        ],
        ..DataSm::default()
    };
    let r = data_sm_request(&d, NOW).unwrap();
    assert_eq!(r.expires_at, Some(NOW + 3600));
    assert_eq!(
        r.payload,
        Payload::Text {
            text: "hello".into(),
            ucs2: false
        }
    );
}

fn receipt(state: MessageState) -> ReceiptItem {
    ReceiptItem {
        message_id: 4_294_967_295,
        submit_source: Address {
            ton: 5,
            npi: 0,
            addr: "ACME".into(),
        },
        submit_dest: Address {
            ton: 1,
            npi: 1,
            addr: "4915112345678".into(),
        },
        state,
        intermediate: false,
        sub: 2,
        dlvrd: 1,
        submit_date: 1_488_291_840,
        done_date: 1_488_291_905,
        err: 0x46,
        network_error: Some((3, 0x46)),
        text_head: "Grüße\naus Köln und noch mehr Text".into(),
    }
}

/// The sscanf reader of the issue, written out:
/// `id:%s sub:%d dlvrd:%d submit date:%10s done date:%10s stat:%7s err:%3s`.
fn sscanf(line: &str) -> Option<(String, u32, u32, String, String, String, String)> {
    let rest = line.strip_prefix("id:")?;
    let (id, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("sub:")?;
    let (sub, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("dlvrd:")?;
    let (dlvrd, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("submit date:")?;
    let (sd, rest) = rest.split_at(10);
    let rest = rest.strip_prefix(" done date:")?;
    let (dd, rest) = rest.split_at(10);
    let rest = rest.strip_prefix(" stat:")?;
    let (st, rest) = rest.split_at(7);
    let rest = rest.strip_prefix(" err:")?;
    let (err, rest) = rest.split_at(3);
    rest.strip_prefix(" text:")?;
    Some((
        id.into(),
        sub.parse().ok()?,
        dlvrd.parse().ok()?,
        sd.into(),
        dd.into(),
        st.into(),
        err.into(),
    ))
}

#[test]
fn receipt_text_reads_with_the_sscanf_format() {
    let r = receipt(MessageState::Undeliverable);
    let line = receipt_text(&r, &IdFormat::Hex.format(r.message_id));
    assert_eq!(
        line,
        "id:FFFFFFFF sub:002 dlvrd:001 submit date:1702281424 done date:1702281425 \
         stat:UNDELIV err:070 text:Gr??e aus K?ln und n"
    );
    let (id, sub, dlvrd, sd, dd, st, err) = sscanf(&line).unwrap();
    assert_eq!((id.as_str(), sub, dlvrd), ("FFFFFFFF", 2, 1));
    assert_eq!((sd.as_str(), dd.as_str()), ("1702281424", "1702281425"));
    assert_eq!((st.as_str(), err.as_str()), ("UNDELIV", "070"));
}

#[test]
fn every_state_has_a_seven_character_stat() {
    for s in MessageState::ALL {
        assert_eq!(stat(s).len(), 7, "{s:?}");
        let line = receipt_text(&receipt(s), "1");
        assert_eq!(sscanf(&line).unwrap().5, stat(s));
    }
    assert_eq!(stat(MessageState::Accepted), "ACCEPTD");
}

#[test]
fn receipt_deliver_sm_swaps_addresses_and_carries_the_tlvs() {
    let r = receipt(MessageState::Delivered);
    let d = receipt_deliver(&r, IdFormat::Decimal);
    assert_eq!(d.esm_class, 0x04);
    assert_eq!(
        (d.source_addr.as_str(), d.source_addr_ton),
        ("4915112345678", 1)
    );
    assert_eq!((d.destination_addr.as_str(), d.dest_addr_ton), ("ACME", 5));
    assert_eq!(
        d.tlvs.tlv_cstr(tlv::RECEIPTED_MESSAGE_ID).as_deref(),
        Some("4294967295")
    );
    assert_eq!(d.tlvs.tlv_u8(tlv::MESSAGE_STATE), Some(2));
    assert_eq!(
        d.tlvs.tlv(tlv::NETWORK_ERROR_CODE),
        Some(&[3u8, 0, 0x46][..])
    );
    let text = String::from_utf8(d.short_message.clone()).unwrap();
    assert!(text.starts_with("id:4294967295 sub:002"), "{text}");
    let mut i = r.clone();
    i.intermediate = true;
    i.state = MessageState::Enroute;
    i.network_error = None;
    let d = receipt_deliver(&i, IdFormat::Decimal);
    assert_eq!(d.esm_class, ESM_INTERMEDIATE);
    assert_eq!(d.tlvs.tlv_u8(tlv::MESSAGE_STATE), Some(1));
    assert_eq!(d.tlvs.tlv(tlv::NETWORK_ERROR_CODE), None);
}

#[test]
fn mo_deliver_sm_by_payload() {
    let mo = MoItem {
        from: Address {
            ton: 1,
            npi: 1,
            addr: "4915112345678".into(),
        },
        to: Address {
            ton: 0,
            npi: 0,
            addr: "modem-with-a-rather-long-name".into(),
        },
        payload: Payload::Text {
            text: "Hi €".into(),
            ucs2: false,
        },
        udh: None,
        received_at: NOW,
    };
    let d = mo_deliver(&mo);
    assert_eq!((d.esm_class, d.data_coding), (0, 0));
    assert_eq!(d.short_message, [0x48, 0x69, 0x20, 0x1B, 0x65]);
    assert_eq!(d.destination_addr.len(), 20);

    let mut long = mo.clone();
    long.payload = Payload::Text {
        text: "П".repeat(200),
        ucs2: false,
    };
    long.udh = Some(vec![5, 0, 3, 1, 2, 1]);
    let d = mo_deliver(&long);
    assert_eq!((d.esm_class, d.data_coding), (ESM_UDHI, 8));
    assert!(d.short_message.is_empty());
    let p = d.tlvs.tlv(tlv::MESSAGE_PAYLOAD).unwrap();
    assert_eq!((p.len(), &p[..6]), (406, &[5u8, 0, 3, 1, 2, 1][..]));
}
