//! The TP-MR wrap-around case, in pure form (the router alone).
//!
//! 300 messages to one number, the modem assigning TP-MR from 250 up (so
//! 250..255, then 0..43 again for messages 256..299); every report is held
//! until all 300 were sent. SCTS = submit time + the SMSC's clock offset +
//! up to one second of truncation. Messages 20..279 go out in one burst (the
//! same second), so the pairs (20..23, 276..279) cannot be told apart by
//! time; every other pair is at least 5 s apart.

use smsgw::pdu::status::TpStatus;
use smsgw::router::{ModemId, PartId, Report, Resolution, Router, RouterConfig};

const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
const COUNT: usize = 300;
const FIRST_MR: usize = 250;
/// The TP-RA forms a report may carry for +393331234567.
const FORMS: [&str; 5] = [
    "+393331234567",
    "00393331234567",
    "3331234567",
    "03331234567",
    "393331234567",
];

fn mr(i: usize) -> u8 {
    ((FIRST_MR + i) % 256) as u8
}

fn submitted_at(i: usize) -> i64 {
    let burst = T0 + 100;
    match i {
        0..20 => T0 + 5 * i as i64,
        20..280 => burst,
        _ => burst + 5 * (i as i64 - 279),
    }
}

/// Part ids: modem m, message i.
fn part(m: u16, i: usize) -> PartId {
    PartId(i64::from(m) * 10_000 + i as i64)
}

/// Messages whose TP-MR was used by another message still pending at send
/// time, and whose submit times are too close to tell apart.
fn indistinguishable(i: usize) -> bool {
    (20..24).contains(&i) || (276..280).contains(&i)
}

/// A fixed shuffle of 0..COUNT (deterministic, no RNG crate needed), with a
/// few reports of messages that share their TP-MR with no one first, so the
/// clock offset is learned before the collided ones arrive.
fn report_order() -> Vec<usize> {
    let mut order: Vec<usize> = (0..COUNT).collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for k in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(k, (x % (k as u64 + 1)) as usize);
    }
    let early: Vec<usize> = (100..105).collect();
    order.retain(|i| !early.contains(i));
    early.into_iter().chain(order).collect()
}

struct Tally {
    right: usize,
    ambiguous: usize,
}

fn run(modems: &[(ModemId, i64)]) -> (Router, Vec<Tally>) {
    let mut r = Router::new(RouterConfig::default()).unwrap();
    let mut collisions = vec![0usize; modems.len()];
    for i in 0..COUNT {
        for (k, (m, _)) in modems.iter().enumerate() {
            let c = r.register(
                *m,
                "+393331234567",
                mr(i),
                part(m.0, i),
                submitted_at(i),
                DAY,
            );
            if i >= 256 {
                let c = c.expect("MR reused while the first holder is pending");
                assert_eq!(c.new_part, part(m.0, i));
                assert_eq!(c.pending, vec![part(m.0, i - 256)], "{i}");
                collisions[k] += 1;
            } else {
                assert_eq!(c, None, "{i}");
            }
        }
    }
    assert_eq!(r.stats().collisions, (44 * modems.len()) as u64);
    assert!(collisions.iter().all(|&c| c == 44));

    let mut tallies: Vec<Tally> = modems
        .iter()
        .map(|_| Tally {
            right: 0,
            ambiguous: 0,
        })
        .collect();
    for (n, i) in report_order().into_iter().enumerate() {
        for (k, (m, offset)) in modems.iter().enumerate() {
            let scts = submitted_at(i) + offset + (i % 2) as i64;
            let rep = Report {
                modem: *m,
                recipient: FORMS[n % FORMS.len()],
                mr: mr(i),
                scts,
                status: TpStatus(0x00),
            };
            match r.resolve(&rep) {
                Resolution::Matched(got) => {
                    assert_eq!(
                        got.part,
                        part(m.0, i),
                        "report {i} on modem {} misattributed",
                        m.0
                    );
                    assert!(!indistinguishable(i), "report {i} could not be told apart");
                    tallies[k].right += 1;
                }
                Resolution::Ambiguous { candidates } => {
                    assert!(
                        indistinguishable(i),
                        "report {i} was separable: {candidates:?}"
                    );
                    let partner = if i < 256 { i + 256 } else { i - 256 };
                    assert_eq!(
                        candidates,
                        vec![part(m.0, i.min(partner)), part(m.0, i.max(partner))]
                    );
                    tallies[k].ambiguous += 1;
                }
                other => panic!("report {i} on modem {}: {other:?}", m.0),
            }
        }
    }
    (r, tallies)
}

#[test]
fn wrap_around_every_separable_report_lands_right_none_misattributed() {
    let (r, t) = run(&[(ModemId(0), 37)]);
    assert_eq!(t[0].right, COUNT - 8);
    assert_eq!(t[0].ambiguous, 8);
    // Ambiguous ones stay pending (to expire as UNKNOWN, never guessed).
    assert_eq!(r.stats().pending, 8);
    // SCTS truncation adds up to a second to the true 37 s.
    assert!(matches!(r.clock_offset(ModemId(0)), Some(37..=38)));
}

#[test]
fn two_modems_with_coinciding_mrs_do_not_cross_talk() {
    // Same number, same TP-MRs, same submit times; the SMSCs' clocks differ.
    let (r, t) = run(&[(ModemId(0), 37), (ModemId(1), -12)]);
    for tally in &t {
        assert_eq!(tally.right, COUNT - 8);
        assert_eq!(tally.ambiguous, 8);
    }
    assert!(matches!(r.clock_offset(ModemId(1)), Some(-12..=-11)));
}

#[test]
fn without_a_learned_offset_far_apart_pairs_still_separate() {
    // Spaced 3 s apart, a reused TP-MR is 768 s from its first holder:
    // beyond the 300 s fallback bound, so even the very first report (no
    // offset known yet) picks the right part.
    let mut r = Router::new(RouterConfig::default()).unwrap();
    let m = ModemId(3);
    for i in 0..COUNT {
        r.register(
            m,
            "+393331234567",
            mr(i),
            part(3, i),
            T0 + 3 * i as i64,
            DAY,
        );
    }
    for i in (0..COUNT).rev() {
        let rep = Report {
            modem: m,
            recipient: "3331234567",
            mr: mr(i),
            scts: T0 + 3 * i as i64 + 1,
            status: TpStatus(0x00),
        };
        match r.resolve(&rep) {
            Resolution::Matched(got) => assert_eq!(got.part, part(3, i)),
            other => panic!("report {i}: {other:?}"),
        }
    }
    assert_eq!(r.stats().pending, 0);
}
