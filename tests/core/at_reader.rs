//! The modem-side command reader and the formatting helpers, checked
//! against the host-side digester (what the simulator writes, the session
//! must read back identically).

use proptest::prelude::*;
use smsgw::at::{
    format, CommandReader, Digester, Event, FinalResult, ModemInput, ReaderError, RegDomain,
    Registration, Urc,
};

fn read(reader: &mut CommandReader, bytes: &[u8]) -> Vec<ModemInput> {
    let mut out = Vec::new();
    reader.feed(bytes, &mut out);
    out
}

fn cmd(text: &str) -> ModemInput {
    ModemInput::Command(text.to_owned())
}

const SUBMIT: &[u8] = b"0021000C91197909913764000036D3E614242F8FCB697B99AC038964B058AD058BB5603950ECA69BE17433D80A56D3CD603A1032AD5004DD73741D341501";

#[test]
fn command_lines_in_every_ending() {
    let mut r = CommandReader::new();
    let got = read(&mut r, b"AT\rate0\r\nAT+CMGF=0\nAt+CSQ\r\r\n\r\n");
    assert_eq!(got, vec![cmd(""), cmd("e0"), cmd("+CMGF=0"), cmd("+CSQ")]);
}

#[test]
fn repeat_backspace_and_garbage() {
    let mut r = CommandReader::new();
    assert_eq!(
        read(&mut r, b"a/"),
        vec![ModemInput::Error(ReaderError::NothingToRepeat)]
    );
    let got = read(&mut r, b"AT+CSQ\rA/hello\rAT+CREX\x08G?\r");
    assert_eq!(
        got,
        vec![
            cmd("+CSQ"),
            cmd("+CSQ"),
            ModemInput::Error(ReaderError::NotAt {
                line: "hello".into()
            }),
            cmd("+CREG?"),
        ]
    );
}

#[test]
fn pdu_body_to_ctrl_z_or_esc() {
    let mut r = CommandReader::new();
    assert_eq!(read(&mut r, b"AT+CMGS=61\r"), vec![cmd("+CMGS=61")]);
    r.expect_body();
    assert!(r.in_body());
    let mut bytes = SUBMIT.to_vec();
    bytes.push(0x1a);
    bytes.extend_from_slice(b"AT\r");
    assert_eq!(
        read(&mut r, &bytes),
        vec![ModemInput::Body(SUBMIT.to_vec()), cmd("")]
    );
    r.expect_body();
    assert_eq!(read(&mut r, b"0011\x1b"), vec![ModemInput::BodyAborted]);
    assert!(!r.in_body());
}

#[test]
fn limits_hold_and_reader_resynchronises() {
    let mut r = CommandReader::with_limits(16, 8);
    let mut bytes = b"AT+".to_vec();
    bytes.extend(std::iter::repeat_n(b'X', 1 << 20));
    bytes.extend_from_slice(b"\rAT+CSQ\r");
    assert_eq!(
        read(&mut r, &bytes),
        vec![
            ModemInput::Error(ReaderError::LineTooLong { limit: 16 }),
            cmd("+CSQ")
        ]
    );
    r.expect_body();
    assert_eq!(
        read(&mut r, b"0123456789ABCDEF\x1a"),
        vec![ModemInput::Error(ReaderError::BodyTooLong { limit: 8 })]
    );
}

fn arb_urc() -> impl Strategy<Value = Urc> {
    let pdu = prop::collection::vec(any::<u8>(), 1..180);
    let mem = prop::sample::select(vec!["SM", "SR", "ME", "MT"]).prop_map(String::from);
    prop_oneof![
        (0usize..200, pdu.clone()).prop_map(|(len, pdu)| Urc::StatusReport { len, pdu }),
        (
            proptest::option::of("[A-Za-z ]{1,12}"),
            0usize..200,
            pdu.clone()
        )
            .prop_map(|(alpha, len, pdu)| Urc::Deliver { alpha, len, pdu }),
        (0usize..100, pdu).prop_map(|(len, pdu)| Urc::CellBroadcast { len, pdu }),
        (mem.clone(), any::<u32>()).prop_map(|(mem, index)| Urc::StatusReportStored { mem, index }),
        (mem, any::<u32>()).prop_map(|(mem, index)| Urc::MessageStored { mem, index }),
        (
            0u8..12,
            proptest::option::of(("[0-9A-F]{4}", "[0-9A-F]{8}", proptest::option::of(0u8..14)))
        )
            .prop_map(|(stat, loc)| {
                let (area, cell, act) = match loc {
                    Some((a, c, act)) => (Some(a), Some(c), act),
                    None => (None, None, None),
                };
                Urc::Registration(Registration {
                    domain: RegDomain::Eps,
                    stat,
                    area,
                    cell,
                    act,
                })
            }),
        (0u8..=99).prop_map(|rssi| Urc::Signal { rssi }),
        Just(Urc::SimState("READY".into())),
        Just(Urc::Ring),
        Just(Urc::Other("^MODE:5,4".into())),
    ]
}

proptest! {
    /// What the simulator writes, the session's digester reads back as the
    /// same URC, also inside a pending command's answer.
    #[test]
    fn formatted_urcs_round_trip(urcs in prop::collection::vec(arb_urc(), 1..6), chunk in 1usize..50) {
        let mut bytes = Vec::new();
        format::line(&mut bytes, "+CSQ: 20,99");
        for u in &urcs {
            format::urc(&mut bytes, u);
        }
        format::final_result(&mut bytes, &FinalResult::Ok);
        let mut d = Digester::new();
        d.command_sent("AT+CSQ");
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk) {
            d.feed(piece, &mut events);
        }
        let expected: Vec<Event> = urcs.into_iter().map(Event::Urc).collect();
        let Some(Event::Response(r)) = events.pop() else { panic!("{events:?}") };
        prop_assert_eq!(r.lines, vec!["+CSQ: 20,99".to_owned()]);
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn reader_never_panics_and_ignores_chunking(
        data in prop::collection::vec(any::<u8>(), 0..1024),
        split in 0usize..1024,
        body_first in any::<bool>(),
    ) {
        let run = |pieces: &[&[u8]]| {
            let mut r = CommandReader::with_limits(32, 64);
            if body_first {
                r.expect_body();
            }
            let mut out = Vec::new();
            for p in pieces {
                r.feed(p, &mut out);
            }
            out
        };
        let split = split.min(data.len());
        prop_assert_eq!(run(&[&data[..split], &data[split..]]), run(&[&data[..]]));
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        prop_assert_eq!(run(&bytes), run(&[&data[..]]));
    }
}
