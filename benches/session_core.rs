//! The session core alone, without IO: simulated exchanges per second, one
//! exchange being a part sent through AT+CMGS, its status report handed to
//! the owner, and the acknowledgement (AT+CNMA, +CDS dialect) or the read
//! and deletion (AT+CMGR / AT+CMGD, +CDSI dialect) that follows, with the
//! session core and the simulated modem's model in lockstep
//! (`smsgw::sim::lockstep`, virtual time). The model's share of the time is
//! included: the figure is an upper bound of what one modem's protocol logic
//! can do, far above any real modem (6-25 SMS per minute).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smsgw::cli::sim::sim_config_for;
use smsgw::modem::session_core::Answer;
use smsgw::modem::transport::Endpoint;
use smsgw::modem::{ModemEvent, SessionConfig};
use smsgw::pdu::address::Address;
use smsgw::pdu::split::{encode_submit, SubmitOptions};
use smsgw::profile::Profile;
use smsgw::sim::lockstep::Lockstep;
use smsgw::sim::SimModem;

fn rig(profile: &str) -> Lockstep {
    let p = Profile::by_name(profile).expect("profile");
    let cfg = SessionConfig::from_profile("bench0", Endpoint::Serial("/dev/virtual0".into()), &p);
    Lockstep::start(cfg, SimModem::new(sim_config_for(&p))).expect("starts")
}

/// One exchange: send, report, hand-on, follow-up done.
fn exchange(ls: &mut Lockstep, len: usize, hex: &str) {
    let job = ls.send(len, hex);
    ls.run_until(60_000, |ls| ls.outcome(job).is_some());
    match ls.take_outcome(job) {
        Some(Ok(Answer::Mr(mr))) => {
            black_box(mr);
        }
        other => panic!("send failed: {other:?}"),
    }
    let origin = loop {
        match ls.next_event() {
            Some(ModemEvent::Inbound(inb)) => break inb.origin,
            Some(_) => {}
            None => panic!("no report"),
        }
    };
    ls.handed_on(&origin);
    ls.run_until(60_000, |ls| ls.core.is_idle());
}

fn bench(c: &mut Criterion) {
    let opts = SubmitOptions {
        status_report: true,
        ..SubmitOptions::default()
    };
    let to = Address::parse_number("+393331234567").expect("number");
    let part = &encode_submit(&to, "benchmark", &opts).expect("encodes")[0];
    let (len, hex) = (part.tpdu_len, part.hex());
    let mut g = c.benchmark_group("session_core");
    g.throughput(Throughput::Elements(1));
    // +CDS with AT+CNMA, and +CDSI read back and deleted.
    for profile in ["quectel-ec2x", "generic"] {
        let mut ls = rig(profile);
        g.bench_function(format!("exchange/{profile}"), |b| {
            b.iter(|| exchange(&mut ls, len, &hex))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
