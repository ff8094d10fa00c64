//! The session core in virtual time: no sockets, explicit instants.

use super::*;

fn cfg() -> SessionConfig {
    SessionConfig {
        system_id: "smsgw".into(),
        window: 2,
        enquire_link: Duration::from_secs(30),
        response_timeout: Duration::from_secs(10),
    }
}

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn sent(actions: &[Action]) -> Vec<Pdu> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(b) => Some(Pdu::parse(b).unwrap()),
            _ => None,
        })
        .collect()
}

fn bind_pdu(seq: u32) -> Vec<u8> {
    Pdu::new(
        seq,
        Body::BindTransceiver(Bind {
            system_id: "app1".into(),
            password: "pw".into(),
            ..Bind::default()
        }),
    )
    .to_bytes()
}

fn bound(t0: Instant) -> Session {
    let mut s = Session::new(cfg(), t0);
    s.handle_pdu(&bind_pdu(1), t0);
    let a = drain(&mut s);
    assert!(matches!(
        &a[..],
        [Action::Work {
            sequence: 1,
            work: Work::Bind {
                kind: BindKind::Transceiver,
                ..
            }
        }]
    ));
    s.bind_done(1, Ok(()));
    let resp = sent(&drain(&mut s));
    assert_eq!(resp[0].status, 0);
    assert_eq!(s.state(), State::Bound(BindKind::Transceiver));
    s
}

fn submit(seq: u32) -> Vec<u8> {
    Pdu::new(
        seq,
        Body::SubmitSm(Box::new(Sm {
            destination_addr: "123".into(),
            short_message: b"hi".to_vec(),
            ..Sm::default()
        })),
    )
    .to_bytes()
}

#[test]
fn a_refused_bind_leaves_the_connection_open() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(), t0);
    s.handle_pdu(&bind_pdu(1), t0);
    drain(&mut s);
    // While the bind is being checked, anything else is out of state.
    s.handle_pdu(&submit(2), t0);
    let r = sent(&drain(&mut s));
    assert_eq!(r[0].status, status::ESME_RINVBNDSTS);
    s.bind_done(1, Err(status::ESME_RINVPASWD));
    let r = sent(&drain(&mut s));
    assert_eq!(
        (r[0].body.command_id(), r[0].status),
        (
            command::BIND_TRANSCEIVER | command::RESP,
            status::ESME_RINVPASWD
        )
    );
    assert_eq!(s.state(), State::Open);
}

#[test]
fn the_window_counts_work_until_it_is_answered() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    s.handle_pdu(&submit(2), t0);
    s.handle_pdu(&submit(3), t0);
    s.handle_pdu(&submit(4), t0);
    let a = drain(&mut s);
    assert_eq!(a.len(), 3);
    assert!(matches!(a[0], Action::Work { sequence: 2, .. }));
    assert!(matches!(a[1], Action::Work { sequence: 3, .. }));
    let r = sent(&a[2..]);
    assert_eq!((r[0].sequence, r[0].status), (4, status::ESME_RMSGQFUL));
    assert_eq!(s.in_work(), 2);
    s.respond(Pdu::new(2, Body::SubmitSmResp(SmResp::id("1"))));
    assert_eq!(s.in_work(), 1);
    s.handle_pdu(&submit(5), t0);
    assert!(matches!(
        drain(&mut s)[..],
        [Action::Send(_), Action::Work { sequence: 5, .. }]
    ));
}

#[test]
fn enquire_link_after_idle_and_close_after_twice_that() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(30)));
    s.handle_timeout(t0 + Duration::from_secs(29));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(t0 + Duration::from_secs(30));
    let e = sent(&drain(&mut s));
    assert_eq!(e[0].body, Body::EnquireLink);
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(60)));
    // The answer resets the clock.
    let t1 = t0 + Duration::from_secs(40);
    s.handle_pdu(
        &Pdu::new(e[0].sequence, Body::EnquireLinkResp).to_bytes(),
        t1,
    );
    assert_eq!(s.next_deadline(), Some(t1 + Duration::from_secs(30)));
    s.handle_timeout(t1 + Duration::from_secs(30));
    drain(&mut s);
    s.handle_timeout(t1 + Duration::from_secs(60));
    assert!(matches!(drain(&mut s)[..], [Action::Close { .. }]));
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn deliver_sm_outcomes_ok_refused_timeout_and_close() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    assert!(s.deliver(7, Sm::default(), t0));
    assert!(s.deliver(8, Sm::default(), t0));
    assert!(s.deliver(9, Sm::default(), t0));
    let d = sent(&drain(&mut s));
    let seqs: Vec<u32> = d.iter().map(|p| p.sequence).collect();
    assert_eq!(seqs, [1, 2, 3], "our own sequence numbers");
    s.handle_pdu(
        &Pdu::new(1, Body::DeliverSmResp(SmResp::default())).to_bytes(),
        t0,
    );
    s.handle_pdu(
        &Pdu::error(2, Body::DeliverSmResp(SmResp::default()), 0x64).to_bytes(),
        t0,
    );
    assert_eq!(
        drain(&mut s),
        [
            Action::Delivered {
                token: 7,
                outcome: DeliverOutcome::Ok
            },
            Action::Delivered {
                token: 8,
                outcome: DeliverOutcome::Refused(0x64)
            },
        ]
    );
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(
        drain(&mut s),
        [Action::Delivered {
            token: 9,
            outcome: DeliverOutcome::TimedOut
        }]
    );
    assert!(s.deliver(10, Sm::default(), t0));
    drain(&mut s);
    s.handle_pdu(&Pdu::new(50, Body::Unbind).to_bytes(), t0);
    let a = drain(&mut s);
    assert_eq!(sent(&a)[0].body, Body::UnbindResp);
    assert!(a.contains(&Action::Delivered {
        token: 10,
        outcome: DeliverOutcome::Closed
    }));
    assert!(matches!(a.last(), Some(Action::Close { .. })));
}

#[test]
fn a_transmitter_takes_no_deliver_sm_and_shutdown_unbinds() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(), t0);
    s.handle_pdu(
        &Pdu::new(
            1,
            Body::BindTransmitter(Bind {
                system_id: "a".into(),
                ..Bind::default()
            }),
        )
        .to_bytes(),
        t0,
    );
    drain(&mut s);
    s.bind_done(1, Ok(()));
    drain(&mut s);
    assert!(!s.deliver(1, Sm::default(), t0));
    s.shutdown(t0);
    let u = sent(&drain(&mut s));
    assert_eq!(u[0].body, Body::Unbind);
    assert_eq!(s.state(), State::Unbinding);
    // No unbind_resp within the response timeout: closed anyway.
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert!(matches!(drain(&mut s)[..], [Action::Close { .. }]));
}

#[test]
fn an_unbound_connection_is_closed_when_idle() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(), t0);
    s.handle_timeout(t0 + Duration::from_secs(30));
    assert!(matches!(drain(&mut s)[..], [Action::Close { .. }]));
}
