//! AT digester throughput on realistic modem transcripts (Huawei echo-on
//! session with ^RSSI noise and +CDS inside answers, a generic echo-off
//! session with +CMGL listings and errors), repeated to ~1 MB.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smsgw::at::{Digester, Event};

#[path = "../tests/transcripts/load.rs"]
mod load;

use load::Step;

fn steps() -> Vec<Step> {
    let mut one = load::parse(include_str!("../tests/transcripts/huawei_e173_echo_on.at"));
    one.extend(load::parse(include_str!(
        "../tests/transcripts/generic_echo_off.at"
    )));
    let bytes: usize = one
        .iter()
        .map(|s| match s {
            Step::Recv(b) => b.len(),
            _ => 0,
        })
        .sum();
    let copies = (1 << 20) / bytes + 1;
    (0..copies).flat_map(|_| one.iter().cloned()).collect()
}

fn run(steps: &[Step], chunk: usize, out: &mut Vec<Event>) -> usize {
    let mut d = Digester::new();
    let mut events = 0;
    for step in steps {
        match step {
            Step::Command(c) => d.command_sent(c),
            Step::Body(b) => d.body_sent(b),
            Step::Recv(bytes) => {
                for piece in bytes.chunks(chunk) {
                    d.feed(piece, out);
                    events += out.len();
                    out.clear();
                }
            }
        }
    }
    events
}

fn digester(c: &mut Criterion) {
    let steps = steps();
    let total: usize = steps
        .iter()
        .map(|s| match s {
            Step::Recv(b) => b.len(),
            _ => 0,
        })
        .sum();
    let mut group = c.benchmark_group("at_digester");
    group.throughput(Throughput::Bytes(total as u64));
    let mut out = Vec::new();
    // A serial read returns what has arrived: whole answers at best, a few
    // bytes at worst.
    for chunk in [usize::MAX, 64, 1] {
        let name = if chunk == usize::MAX {
            "whole_answers".to_owned()
        } else {
            format!("chunks_of_{chunk}")
        };
        group.bench_function(name, |b| b.iter(|| black_box(run(&steps, chunk, &mut out))));
    }
    group.finish();
}

criterion_group!(benches, digester);
criterion_main!(benches);
