//! The host-side digester on transcripts of real modem sessions, fed whole,
//! byte by byte and in random chunkings, plus the bounded-buffer cases.

#[path = "../transcripts/load.rs"]
mod load;

use load::Step;
use proptest::prelude::*;
use smsgw::at::{
    DigestError, Digester, Event, FinalResult, Limits, RegDomain, Response, RetryClass, Urc,
};
use smsgw::pdu::hex;

const HUAWEI: &str = include_str!("../transcripts/huawei_e173_echo_on.at");
const GENERIC: &str = include_str!("../transcripts/generic_echo_off.at");

/// Runs a transcript, splitting each block of modem bytes with `chunk`
/// (which returns the next chunk length for a given remaining length).
fn run(steps: &[Step], mut chunk: impl FnMut(usize) -> usize) -> Vec<Event> {
    let mut d = Digester::new();
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Command(c) => d.command_sent(c),
            Step::Body(b) => d.body_sent(b),
            Step::Recv(bytes) => {
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = chunk(rest.len()).clamp(1, rest.len());
                    d.feed(&rest[..n], &mut out);
                    rest = &rest[n..];
                }
            }
        }
    }
    out
}

fn whole(steps: &[Step]) -> Vec<Event> {
    run(steps, |len| len)
}

fn response(command: &str, lines: &[&str], result: FinalResult) -> Event {
    Event::Response(Response {
        command: command.to_owned(),
        lines: lines.iter().map(|l| l.to_string()).collect(),
        result,
        truncated: false,
    })
}

fn ok(command: &str, lines: &[&str]) -> Event {
    response(command, lines, FinalResult::Ok)
}

fn other(line: &str) -> Event {
    Event::Urc(Urc::Other(line.to_owned()))
}

fn pdu(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text.as_bytes()).unwrap()
}

const CDS1: &str = "079119890400202306400C91197909913764511090718384225110907183252200";
const CDS2: &str = "07912658050000F006010D91265817373754F501010161705382010101617083820000";
const D1: &str = "0791198948004544040C9119894882006200007050307040042206CF35689E9603";
const D2: &str = "0791836027201111040C918390276576880000701192908285800133";
const D3: &str = "0791261229064012040C912622192340800000700191218253820CE130681C5E97E12072190D";
const SR1: &str = "079124603050020006E80C91666666666666909070618422809090706184628000";

#[test]
fn huawei_echo_on_transcript() {
    let events = whole(&load::parse(HUAWEI));
    let expected = vec![
        ok("AT", &[]),
        Event::Urc(Urc::Signal { rssi: 14 }),
        ok("AT+CMEE=1", &[]),
        other("^BOOT:20916565,0,0,0,72"),
        ok("AT+CPIN?", &["+CPIN: READY"]),
        ok("AT+CREG?", &["+CREG: 0,1"]),
        other("^MODE:5,4"),
        other("^SRVST:2"),
        ok("AT+CMGF=0", &[]),
        ok(r#"AT+CPMS="SM","SM","SM""#, &["+CPMS: 0,50,0,50,0,50"]),
        ok("AT+CSCA?", &[r#"+CSCA: "+919840000232",145"#]),
        Event::Prompt,
        Event::Urc(Urc::Signal { rssi: 15 }),
        ok("AT+CMGS=61", &["+CMGS: 64"]),
        Event::Urc(Urc::StatusReport {
            len: 25,
            pdu: pdu(CDS1),
        }),
        ok("AT+CSQ", &["+CSQ: 15,99"]),
        Event::Urc(Urc::StatusReport {
            len: 27,
            pdu: pdu(CDS2),
        }),
        Event::Prompt,
        ok("AT+CMGS=61", &["+CMGS: 65"]),
    ];
    assert_eq!(events, expected);
}

#[test]
fn generic_echo_off_transcript() {
    let events = whole(&load::parse(GENERIC));
    assert_eq!(
        events[0],
        ok("ATE0", &[]),
        "the echo of ATE0 itself is dropped"
    );
    assert_eq!(events[2], Event::Prompt);
    let Event::Response(r) = &events[3] else {
        panic!("{events:?}")
    };
    let FinalResult::CmsError(e) = &r.result else {
        panic!("{r:?}")
    };
    assert_eq!((e.code, e.class()), (Some(330), RetryClass::Configuration));
    let Event::Response(r) = &events[6] else {
        panic!("{events:?}")
    };
    assert_eq!(r.result.retry_class(), Some(RetryClass::Unknown));
    assert_eq!(r.result.to_string(), "+CMS ERROR: 500");
    let expected_tail = vec![
        Event::Prompt,
        Event::Urc(Urc::StatusReport {
            len: 25,
            pdu: pdu(CDS1),
        }),
        ok("AT+CMGS=61", &["+CMGS: 64"]),
        Event::Urc(Urc::Registration(smsgw::at::Registration {
            domain: RegDomain::Cs,
            stat: 5,
            area: None,
            cell: None,
            act: None,
        })),
        ok("AT+CSQ", &["+CSQ: 21,99"]),
        Event::Urc(Urc::StatusReportStored {
            mem: "SR".into(),
            index: 0,
        }),
        ok("AT+CMGR=0", &["+CMGR: 1,,25", SR1]),
        Event::Urc(Urc::MessageStored {
            mem: "SM".into(),
            index: 4,
        }),
        ok(
            "AT+CMGL=4",
            &[
                "+CMGL: 1,1,,25",
                D1,
                "+CMGL: 2,1,,20",
                D2,
                "+CMGL: 3,0,,30",
                D3,
            ],
        ),
        Event::Urc(Urc::Deliver {
            alpha: None,
            len: 25,
            pdu: pdu(D1),
        }),
        ok("AT+CMEE=2", &[]),
        Event::Prompt,
    ];
    assert_eq!(events[7..7 + expected_tail.len()], expected_tail[..]);
    let rest = &events[7 + expected_tail.len()..];
    let [Event::Response(cms), Event::Response(cme)] = rest else {
        panic!("{rest:?}")
    };
    let FinalResult::CmsError(e) = &cms.result else {
        panic!()
    };
    assert_eq!(e.code, Some(330), "verbose text mapped back to its code");
    assert_eq!(e.raw, "SMSC address unknown");
    let FinalResult::CmeError(e) = &cme.result else {
        panic!()
    };
    assert_eq!((e.code, e.class()), (Some(10), RetryClass::Configuration));
}

#[test]
fn byte_by_byte_equals_whole() {
    for text in [HUAWEI, GENERIC] {
        let steps = load::parse(text);
        assert_eq!(run(&steps, |_| 1), whole(&steps));
    }
}

proptest! {
    #[test]
    fn random_chunkings_equal_whole(sizes in prop::collection::vec(1usize..40, 1..64)) {
        for text in [HUAWEI, GENERIC] {
            let steps = load::parse(text);
            let mut i = 0;
            let chunked = run(&steps, |_| { i += 1; sizes[i % sizes.len()] });
            prop_assert_eq!(chunked, whole(&steps));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_ignore_chunking(
        data in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(0usize..2048, 0..32),
        command in prop::sample::select(vec!["", "AT+CMGS=25", "AT+CREG?", "AT+CMGL=4"]),
    ) {
        let limits = Limits { max_line: 64, max_response_lines: 8, max_response_bytes: 256 };
        let feed_all = |pieces: &[&[u8]]| {
            let mut d = Digester::with_limits(limits);
            if !command.is_empty() {
                d.command_sent(command);
            }
            let mut out = Vec::new();
            for p in pieces {
                d.feed(p, &mut out);
                prop_assert!(d.buffered() <= 64 + 256);
            }
            Ok(out)
        };
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for c in cuts {
            pieces.push(&data[start..c]);
            start = c;
        }
        pieces.push(&data[start..]);
        prop_assert_eq!(feed_all(&pieces)?, feed_all(&[&data[..]])?);
    }
}

fn feed(d: &mut Digester, bytes: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    d.feed(bytes, &mut out);
    out
}

#[test]
fn endless_line_is_dropped_and_stream_resynchronises() {
    let mut d = Digester::new();
    d.command_sent("AT+CSQ");
    let blob = vec![b'A'; 1 << 20];
    let mut events = Vec::new();
    for chunk in blob.chunks(4093) {
        events.extend(feed(&mut d, chunk));
        assert!(d.buffered() <= Limits::default().max_line);
    }
    assert_eq!(
        events,
        vec![Event::Error(DigestError::LineTooLong { limit: 4096 })]
    );
    let events = feed(&mut d, b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    assert_eq!(events, vec![ok("AT+CSQ", &["+CSQ: 20,99"])]);
}

#[test]
fn binary_garbage_is_reported_and_skipped() {
    let mut d = Digester::new();
    d.command_sent("AT");
    let mut bytes = vec![0x00, 0xff, 0xfe, 0x01, b'x', 0x80];
    bytes.extend_from_slice(b"\r\n\xc3\x28\r\nOK\r\n");
    let events = feed(&mut d, &bytes);
    assert!(matches!(
        &events[0],
        Event::Error(DigestError::Garbage { len: 6, preview }) if preview.starts_with("\\x00\\xff")
    ));
    assert!(matches!(
        &events[1],
        Event::Error(DigestError::Garbage { len: 2, .. })
    ));
    assert_eq!(events[2], ok("AT", &[]));
    assert_eq!(events.len(), 3);
}

#[test]
fn oversized_response_is_truncated_with_an_error() {
    let limits = Limits {
        max_line: 128,
        max_response_lines: 3,
        max_response_bytes: 1 << 20,
    };
    let mut d = Digester::with_limits(limits);
    d.command_sent("AT+CMGL=4");
    let mut bytes = Vec::new();
    for i in 0..5 {
        bytes.extend_from_slice(format!("+CMGL: {i},1,,25\r\n{D1}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"OK\r\n");
    let events = feed(&mut d, &bytes);
    assert!(matches!(
        &events[0],
        Event::Error(DigestError::ResponseTooLarge { max_lines: 3, .. })
    ));
    let Event::Response(r) = &events[1] else {
        panic!("{events:?}")
    };
    assert!(r.truncated && r.result.is_ok());
    assert_eq!(r.lines.len(), 3);
}

#[test]
fn bad_pdu_hex_after_cds() {
    let mut d = Digester::new();
    let events = feed(&mut d, b"\r\n+CDS: 25\r\n0791ABC\r\n");
    assert!(matches!(
        &events[..],
        [Event::Error(DigestError::BadPdu {
            urc: "+CDS",
            source: hex::HexError::OddLength { len: 7 }
        })]
    ));
    // A non-hex line after the header is reported and then handled normally.
    d.command_sent("AT");
    let events = feed(&mut d, b"\r\n+CMT: ,25\r\nOK\r\n");
    assert_eq!(
        events,
        vec![
            Event::Error(DigestError::MissingPdu { urc: "+CMT" }),
            ok("AT", &[])
        ]
    );
}

#[test]
fn prompt_without_space_and_stray_results() {
    let mut d = Digester::new();
    d.command_sent("AT+CMGS=20");
    // Some modems write ">" alone; the digester does not wait for the space.
    assert_eq!(feed(&mut d, b"\r\n>"), vec![Event::Prompt]);
    d.body_sent("0011");
    assert_eq!(
        feed(&mut d, b"\r\n+CMGS: 7\r\n\r\nOK\r\n"),
        vec![ok("AT+CMGS=20", &["+CMGS: 7"])]
    );
    // '>' is only a prompt when one is expected.
    d.command_sent("AT+CGMI");
    assert_eq!(
        feed(&mut d, b"\r\n> huawei\r\nOK\r\n"),
        vec![ok("AT+CGMI", &["> huawei"])]
    );
    // Late OK after the session gave up; call results outside a command.
    assert_eq!(d.cancel(), None);
    d.command_sent("AT+COPS?");
    assert_eq!(d.cancel().as_deref(), Some("AT+COPS?"));
    assert_eq!(
        feed(&mut d, b"\r\nOK\r\n\r\nNO CARRIER\r\n"),
        vec![
            Event::Error(DigestError::UnexpectedResult(FinalResult::Ok)),
            other("NO CARRIER"),
        ]
    );
}

#[test]
fn same_name_line_is_response_for_read_and_urc_for_set() {
    let mut d = Digester::new();
    d.command_sent("AT+CREG=2");
    let events = feed(
        &mut d,
        b"\r\nOK\r\n\r\n+CREG: 1,\"00C3\",\"0000B8AF\",2\r\n",
    );
    assert_eq!(events[0], ok("AT+CREG=2", &[]));
    assert!(
        matches!(&events[1], Event::Urc(Urc::Registration(r)) if r.stat == 1 && r.act == Some(2))
    );
    d.command_sent("AT+CPIN?");
    let events = feed(&mut d, b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n");
    assert_eq!(events, vec![ok("AT+CPIN?", &["+CPIN: SIM PIN"])]);
    let events = feed(&mut d, b"\r\n+CPIN: READY\r\n");
    assert_eq!(events, vec![Event::Urc(Urc::SimState("READY".into()))]);
}

#[test]
fn lf_only_and_cr_only_line_endings() {
    let mut d = Digester::new();
    d.command_sent("AT+CSQ");
    assert_eq!(
        feed(&mut d, b"+CSQ: 9,99\nOK\n"),
        vec![ok("AT+CSQ", &["+CSQ: 9,99"])]
    );
    d.command_sent("AT+CSQ");
    assert_eq!(
        feed(&mut d, b"+CSQ: 9,99\rOK\r"),
        vec![ok("AT+CSQ", &["+CSQ: 9,99"])]
    );
}
