//! PDU codec benchmarks. Targets (2-core box): status-report decode with SMSC
//! prefix < 150 ns; single-part SUBMIT encode < 500 ns.
//!
//! Also compares septet packing with plain shifts (the codec's) against
//! `bitvec` (the design card's first idea).

use std::hint::black_box;

use bitvec::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use smsgw::pdu::{
    self, encode_submit, hex, septets, Address, Concat, Dcs, Deliver, SubmitOptions, Timestamp,
    Tpdu, Udh, UserData,
};

fn status_report(c: &mut Criterion) {
    // A real +CDS (python-gsmmodem issue 44).
    let b =
        hex::decode("079119890400202306400C91197909913764511090718384225110907183252200").unwrap();
    c.bench_function("decode status report (SMSC prefix)", |bn| {
        bn.iter(|| pdu::parse_with_smsc(black_box(&b)).unwrap())
    });
}

fn concat_deliver(c: &mut Criterion) {
    let text: String = "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(153)
        .collect();
    let d = Deliver::new(
        Address::parse_number("+393331234567").unwrap(),
        Dcs::GSM7,
        Timestamp::from_unix(1_795_331_730, 4).unwrap(),
        UserData {
            udh: Some(Udh::concat(Concat {
                reference: 42,
                total: 3,
                seq: 2,
                wide: false,
            })),
            body: pdu::Body::Text(text),
        },
    );
    let mut b = Vec::new();
    pdu::emit_with_smsc(
        Address::parse_number("+393359609600").ok().as_ref(),
        &Tpdu::Deliver(d),
        &mut b,
    );
    c.bench_function("decode 153-septet concatenated DELIVER", |bn| {
        bn.iter(|| pdu::parse_with_smsc(black_box(&b)).unwrap())
    });
}

fn encode(c: &mut Criterion) {
    let to = Address::parse_number("+393331234567").unwrap();
    let opts = SubmitOptions {
        status_report: true,
        ..Default::default()
    };
    let gsm: String = "Hello world, this is smsgw! "
        .chars()
        .cycle()
        .take(160)
        .collect();
    let ucs: String = "Привет мир, это smsgw! ".chars().cycle().take(70).collect();
    let long: String = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "
        .chars()
        .cycle()
        .take(1000)
        .collect();
    assert_eq!(encode_submit(&to, &gsm, &opts).unwrap().len(), 1);
    assert_eq!(encode_submit(&to, &ucs, &opts).unwrap().len(), 1);
    assert_eq!(encode_submit(&to, &long, &opts).unwrap().len(), 7);
    c.bench_function("encode 160-char GSM7 SUBMIT", |bn| {
        bn.iter(|| encode_submit(&to, black_box(&gsm), &opts).unwrap())
    });
    c.bench_function("encode 70-char UCS2 SUBMIT", |bn| {
        bn.iter(|| encode_submit(&to, black_box(&ucs), &opts).unwrap())
    });
    c.bench_function("split+encode 1000 chars (7 parts)", |bn| {
        bn.iter(|| encode_submit(&to, black_box(&long), &opts).unwrap())
    });
}

fn bitvec_pack(s: &[u8], fill: u8) -> Vec<u8> {
    let mut bv: BitVec<u8, Lsb0> = BitVec::with_capacity(fill as usize + 7 * s.len());
    bv.resize(fill as usize, false);
    for &x in s {
        bv.extend_from_bitslice(&x.view_bits::<Lsb0>()[..7]);
    }
    bv.into_vec()
}

fn bitvec_unpack(d: &[u8], fill: u8, n: usize, out: &mut Vec<u8>) {
    out.extend(
        d.view_bits::<Lsb0>()[fill as usize..]
            .chunks_exact(7)
            .take(n)
            .map(|c| c.load_le::<u8>()),
    );
}

fn packing(c: &mut Criterion) {
    let s: Vec<u8> = (0..160u32).map(|i| (i * 37 % 128) as u8).collect();
    let mut packed = Vec::new();
    septets::pack(&s, 1, &mut packed);
    assert_eq!(bitvec_pack(&s, 1), packed);
    let mut check = Vec::new();
    bitvec_unpack(&packed, 1, 160, &mut check);
    assert_eq!(check, s);
    let mut g = c.benchmark_group("septets 160");
    g.bench_function("pack plain shifts", |bn| {
        bn.iter(|| {
            let mut out = Vec::with_capacity(141);
            septets::pack(black_box(&s), 1, &mut out);
            out
        })
    });
    g.bench_function("pack bitvec", |bn| {
        bn.iter(|| bitvec_pack(black_box(&s), 1))
    });
    g.bench_function("unpack plain shifts", |bn| {
        bn.iter(|| {
            let mut out = Vec::with_capacity(160);
            out.extend(septets::Unpacker::new(black_box(&packed), 1, 160));
            out
        })
    });
    g.bench_function("unpack bitvec", |bn| {
        bn.iter(|| {
            let mut out = Vec::with_capacity(160);
            bitvec_unpack(black_box(&packed), 1, 160, &mut out);
            out
        })
    });
    g.finish();
}

criterion_group!(benches, status_report, concat_deliver, encode, packing);
criterion_main!(benches);
