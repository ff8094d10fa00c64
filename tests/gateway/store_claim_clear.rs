//! The claim that avoids TP-MR look-alikes: a message whose next part would
//! share its key with a pending part sent too recently is passed over for
//! another recipient's, or reported held until it may go.

use std::path::Path;

use smsgw::router::RouterConfig;
use smsgw::store::{Claimed, MessageOptions, Store};

const X: &str = "+393331234567";
const Y: &str = "+393339876543";
const T0: i64 = 1_760_000_000;

fn claimed_to(c: &Claimed) -> &str {
    match c {
        Claimed::Message(m) => &m.to,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn a_look_alike_is_passed_over_then_sent_when_clear() {
    let mut s = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
    let opts = MessageOptions::default();
    // A part to X went out with TP-MR 5 at T0 and waits for its report.
    let sent = s.enqueue_message(X, "first", 1, &opts, T0 - 10).unwrap();
    let m = s.modem("m").unwrap();
    s.mark_sending(sent.parts[0], m, T0).unwrap();
    s.mark_sent(sent.parts[0], m, 5, T0, 86_400).unwrap();
    // Then, oldest first: another to X, one to Y.
    s.enqueue_message(X, "second", 1, &opts, T0 - 5).unwrap();
    s.enqueue_message(Y, "third", 1, &opts, T0 - 4).unwrap();
    let any = |_: &str| true;
    // The modem will give TP-MR 5 next: X's would be a look-alike, Y's goes.
    let c = s.claim_next_clear("m", T0 + 1, &any, Some(5)).unwrap();
    assert_eq!(claimed_to(&c), Y);
    let Claimed::Message(y) = c else {
        unreachable!()
    };
    s.mark_sending(y.parts[0].id, m, T0 + 1).unwrap();
    s.mark_sent(y.parts[0].id, m, 5, T0 + 1, 86_400).unwrap();
    // Only X's is left. Another TP-MR predicted, or none: it may go (a
    // claimed message is offered again to its modem, and checked again).
    let c = s.claim_next_clear("m", T0 + 1, &any, Some(6)).unwrap();
    assert_eq!(claimed_to(&c), X);
    let c = s.claim_next_clear("m", T0 + 1, &any, None).unwrap();
    assert_eq!(claimed_to(&c), X);
    // With TP-MR 5 next, held until 2 * tolerance + 1 s after the pending
    // part to X went.
    assert_eq!(
        s.claim_next_clear("m", T0 + 2, &any, Some(5)).unwrap(),
        Claimed::Held { until: T0 + 5 }
    );
    let c = s.claim_next_clear("m", T0 + 5, &any, Some(5)).unwrap();
    assert_eq!(claimed_to(&c), X);
}

#[test]
fn nothing_queued_is_empty() {
    let mut s = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
    assert_eq!(
        s.claim_next_clear("m", T0, &|_| true, Some(0)).unwrap(),
        Claimed::Empty
    );
}
