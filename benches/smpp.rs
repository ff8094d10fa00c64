//! SMPP codec benchmarks: parse and emit of a submit_sm (160 characters,
//! sar_* and a vendor TLV) and of a receipt deliver_sm (three TLVs), with
//! our codec (`smsgw::smpp::pdu`) and, for comparison, rusmpp 0.4 (a
//! dev-dependency used only here) on the same bytes.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use smsgw::smpp::backend::{Address, IdFormat, ReceiptItem};
use smsgw::smpp::message;
use smsgw::smpp::pdu::{tlv, Body, Pdu, Sm, Tlv};
use smsgw::state::MessageState;
use tokio_util::codec::{Decoder, Encoder};

fn submit_bytes() -> Vec<u8> {
    let text: String = "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(160)
        .collect();
    let sm = Sm {
        source_addr_ton: 5,
        source_addr: "ACME".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "4915112345678".into(),
        registered_delivery: 1,
        validity_period: "000001000000000R".into(),
        short_message: text.into_bytes(),
        tlvs: vec![
            Tlv::new(tlv::SAR_MSG_REF_NUM, 300u16.to_be_bytes()),
            Tlv::new(tlv::SAR_TOTAL_SEGMENTS, [3]),
            Tlv::new(tlv::SAR_SEGMENT_SEQNUM, [2]),
            Tlv::new(0x1401, b"vendor".to_vec()),
        ],
        ..Sm::default()
    };
    Pdu::new(7, Body::SubmitSm(Box::new(sm))).to_bytes()
}

fn deliver_bytes() -> Vec<u8> {
    let r = ReceiptItem {
        message_id: 123_456_789,
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
        state: MessageState::Delivered,
        intermediate: false,
        sub: 1,
        dlvrd: 1,
        submit_date: 1_796_205_600,
        done_date: 1_796_205_660,
        err: 0,
        network_error: Some((3, 0)),
        text_head: "The quick brown fox ".into(),
    };
    let sm = message::receipt_deliver(&r, IdFormat::Decimal);
    Pdu::new(9, Body::DeliverSm(Box::new(sm))).to_bytes()
}

fn ours(c: &mut Criterion) {
    for (name, bytes) in [
        ("submit_sm", submit_bytes()),
        ("deliver_sm", deliver_bytes()),
    ] {
        let pdu = Pdu::parse(&bytes).unwrap();
        c.bench_function(&format!("smsgw parse {name}"), |b| {
            b.iter(|| Pdu::parse(black_box(&bytes)).unwrap())
        });
        let mut out = Vec::with_capacity(512);
        c.bench_function(&format!("smsgw emit {name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&pdu).emit(&mut out)
            })
        });
    }
    // The whole submit path before the backend: parse + convert.
    let bytes = submit_bytes();
    c.bench_function("smsgw parse+convert submit_sm", |b| {
        b.iter(|| {
            let p = Pdu::parse(black_box(&bytes)).unwrap();
            let Body::SubmitSm(sm) = p.body else {
                unreachable!()
            };
            message::submit_request(&sm, 1_796_205_600).unwrap()
        })
    });
}

fn rusmpp(c: &mut Criterion) {
    use rusmpp::tokio_codec::CommandCodec;
    for (name, bytes) in [
        ("submit_sm", submit_bytes()),
        ("deliver_sm", deliver_bytes()),
    ] {
        let mut codec = CommandCodec::new();
        let mut src = BytesMut::from(&bytes[..]);
        let cmd = codec.decode(&mut src).unwrap().unwrap();
        // Same bytes back: the comparison is like for like.
        let mut check = BytesMut::new();
        codec.encode(&cmd, &mut check).unwrap();
        assert_eq!(
            &check[..],
            &bytes[..],
            "rusmpp re-encodes {name} differently"
        );
        c.bench_function(&format!("rusmpp parse {name}"), |b| {
            b.iter(|| {
                let mut src = BytesMut::from(black_box(&bytes[..]));
                codec.decode(&mut src).unwrap().unwrap()
            })
        });
        let mut out = BytesMut::with_capacity(512);
        c.bench_function(&format!("rusmpp emit {name}"), |b| {
            b.iter(|| {
                out.clear();
                codec.encode(black_box(&cmd), &mut out).unwrap()
            })
        });
    }
}

criterion_group!(benches, ours, rusmpp);
criterion_main!(benches);
