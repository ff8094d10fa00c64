//! The properties the fuzz targets check, one function per target, each
//! taking the fuzzer's bytes. They live in the library so that the cargo-fuzz
//! targets (`fuzz/fuzz_targets/`) and the corpus replay test
//! (`tests/core/fuzz_corpus.rs`, run by CI on stable) check exactly the
//! same things. A violated property panics, which is what a fuzzer reports.
//!
//! What the PDU codec promises, and so what is checked, for any bytes `b`
//! that parse to a value `v`:
//! - emitting `v` gives bytes that parse again, to `v` itself (every field
//!   the types hold survives), and emitting that value again gives the same
//!   bytes (one emit reaches the canonical form);
//! - the bytes need not be `b` again: 23.040 leaves room the types do not
//!   keep. Octets after the TPDU's end, the unused first-octet bits (bit 4
//!   of DELIVER and STATUS-REPORT, bit 7 of STATUS-REPORT), TP-UDHI with
//!   TP-UDL 0, the spare fill bits of packed septets, TP-PI extension
//!   octets, the sign of a zero time zone, `ESC` + an undefined septet (read
//!   as the main-table character, written back as that character alone), a
//!   dangling `ESC` (read as a space) and lone UTF-16 surrogates (read as
//!   U+FFFD) all come back in their canonical form.

use crate::at::{self, answers, Digester, Event, Limits, RegDomain};
use crate::pdu::{
    self, encode_submit, Address, Body, ConcatRef, Encoding, PduError, SubmitOptions, Timestamp,
    Tpdu, Validity,
};

/// Byte at `i`, or 0 past the end (fixed-size headers of fuzz inputs).
fn byte(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

/// Emits `tpdu`, parses it again and checks the value and the canonical form.
fn check_tpdu_round_trip(smsc: Option<&Address>, tpdu: &Tpdu) {
    let mut first = Vec::new();
    let len = pdu::emit_with_smsc(smsc, tpdu, &mut first);
    let (smsc2, tpdu2) = match pdu::parse_with_smsc(&first) {
        Ok(v) => v,
        Err(e) => panic!("emitted PDU does not parse: {e}\nvalue: {tpdu:?}\nbytes: {first:02X?}"),
    };
    assert_eq!(
        smsc2.as_ref(),
        smsc,
        "SMSC address changed on the round trip"
    );
    assert_eq!(&tpdu2, tpdu, "TPDU changed on the round trip");
    let bare = Tpdu::parse(&first[first.len() - len..]).expect("emitted TPDU parses alone");
    assert_eq!(&bare, tpdu, "the TPDU alone reads differently");
    let mut second = Vec::new();
    pdu::emit_with_smsc(smsc2.as_ref(), &tpdu2, &mut second);
    assert_eq!(first, second, "emit is not canonical after one round");
    // What the CLI and the gateway derive from a decoded PDU must not panic.
    let _ = pdu::json::to_json(smsc, tpdu);
}

/// The typed parser matching the first octet's TP-MTI agrees with
/// [`Tpdu::parse`]; the other two refuse.
fn check_typed_parsers(buf: &[u8], tpdu: &Result<Tpdu, PduError>) {
    let submit = pdu::Submit::parse(buf);
    let deliver = pdu::Deliver::parse(buf);
    let report = pdu::StatusReport::parse(buf);
    match tpdu {
        Ok(Tpdu::Submit(s)) => {
            assert_eq!(submit.as_ref(), Ok(s));
            assert!(deliver.is_err() && report.is_err());
        }
        Ok(Tpdu::Deliver(d)) => {
            assert_eq!(deliver.as_ref(), Ok(d));
            assert!(submit.is_err() && report.is_err());
        }
        Ok(Tpdu::StatusReport(r)) => {
            assert_eq!(report.as_ref(), Ok(r));
            assert!(submit.is_err() && deliver.is_err());
        }
        Err(_) => {
            assert!(submit.is_err() && deliver.is_err() && report.is_err());
        }
    }
}

/// Target `pdu_with_smsc`: bytes as a modem hands them over (SMSC address,
/// then the TPDU). Never panics; a PDU that parses survives emit + parse
/// (see the module documentation for what "survives" means), and the TPDU
/// after the SMSC address parses alone to the same value.
pub fn pdu_with_smsc(data: &[u8]) {
    let parsed = pdu::parse_with_smsc(data);
    if let Ok((_, at)) = Address::parse_smsc(data) {
        let bare = Tpdu::parse(&data[at..]);
        match (&parsed, &bare) {
            (Ok((_, t)), Ok(b)) => assert_eq!(t, b, "TPDU reads differently after the SMSC"),
            (Ok(_), Err(e)) => panic!("bare TPDU refused ({e}) after the whole PDU parsed"),
            (Err(e), Ok(_)) => panic!("whole PDU refused ({e}) while its TPDU parses"),
            (Err(_), Err(_)) => {}
        }
    } else {
        assert!(
            parsed.is_err(),
            "PDU parsed with an unreadable SMSC address"
        );
    }
    if let Ok((smsc, tpdu)) = parsed {
        check_tpdu_round_trip(smsc.as_ref(), &tpdu);
    }
}

/// Target `pdu_tpdu`: bytes as a bare TPDU (no SMSC address). Never panics;
/// the typed parsers agree with [`Tpdu::parse`]; a TPDU that parses survives
/// emit + parse, with and without an SMSC address in front.
pub fn pdu_tpdu(data: &[u8]) {
    let parsed = Tpdu::parse(data);
    check_typed_parsers(data, &parsed);
    if let Ok(tpdu) = parsed {
        check_tpdu_round_trip(None, &tpdu);
        let smsc = Address::parse_number("+447802000332").expect("valid number");
        check_tpdu_round_trip(Some(&smsc), &tpdu);
        // What the gateway reads from the user data of an incoming PDU.
        let user_data = match &tpdu {
            Tpdu::Submit(s) => Some(&s.user_data),
            Tpdu::Deliver(d) => Some(&d.user_data),
            Tpdu::StatusReport(r) => r.user_data.as_ref(),
        };
        if let Some(ud) = user_data {
            let _ = (ud.concat(), ud.udh.as_ref().map(|u| u.ports()));
        }
    }
}

/// Commands the digester is told about in [`at_digester`] inputs.
const COMMANDS: &[&str] = &[
    "AT",
    "AT+CMGS=61",
    "AT+CREG?",
    "AT+CMGL=4",
    "AT+CMGR=0",
    "AT+CSQ",
    "AT+CPMS=\"SM\",\"SM\",\"SM\"",
    "AT+CPMS?",
    "AT+CNMA",
    "AT+COPS?;+CSCA?",
    "AT+CSCA?",
    "AT^SYSINFO",
    "AT+CGREG?;+CEREG?",
    "AT+CPIN?",
    "ATE0",
    "AT+CMEE=1",
];

/// The PDU body the session "sends" after the prompt (a real SUBMIT).
const BODY: &str = "0021000C91197909913764000036D3E614242F8FCB697B99AC038964B058AD058BB5603950ECA69BE17433D80A56D3CD603A1032AD5004DD73741D341501";

/// One step of an [`at_digester`] input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    /// Bytes from the modem.
    Bytes(&'a [u8]),
    /// The session writes a command (index into [`COMMANDS`]).
    Command(u8),
    /// The session writes the PDU body after the prompt.
    Body,
    /// The session gives up on the pending command.
    Cancel,
}

/// Splits an input into steps: `0x01 k` is a session action (`k` 0x01 is a
/// literal 0x01 byte, 0x02 the body, 0x03 a cancel, anything else command
/// `k`); all other bytes come from the modem.
fn steps(data: &[u8]) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        if data[i] != 0x01 {
            i += 1;
            continue;
        }
        let k = byte(data, i + 1);
        if k == 0x01 {
            // A literal 0x01: keep the first with the bytes before it.
            out.push(Step::Bytes(&data[start..=i]));
        } else {
            if start < i {
                out.push(Step::Bytes(&data[start..i]));
            }
            out.push(match k {
                0x02 => Step::Body,
                0x03 => Step::Cancel,
                k => Step::Command(k),
            });
        }
        i += 2;
        start = i.min(data.len());
    }
    if start < data.len() {
        out.push(Step::Bytes(&data[start..]));
    }
    out
}

/// Runs the steps through a digester, feeding each run of modem bytes cut
/// by `chunk` (which gets the remaining bytes and returns how many to feed,
/// at least 1). Returns the events and the final state.
fn digest(
    limits: Limits,
    steps: &[Step<'_>],
    mut chunk: impl FnMut(&[u8]) -> usize,
) -> (Vec<Event>, usize, Option<String>) {
    let mut d = Digester::with_limits(limits);
    let mut events = Vec::new();
    for step in steps {
        match *step {
            Step::Bytes(mut rest) => {
                while !rest.is_empty() {
                    let n = chunk(rest).clamp(1, rest.len());
                    d.feed(&rest[..n], &mut events);
                    rest = &rest[n..];
                    let bound = limits.max_line + limits.max_response_bytes;
                    assert!(d.buffered() <= bound, "digester holds more than its limits");
                }
            }
            Step::Command(k) => d.command_sent(COMMANDS[usize::from(k) % COMMANDS.len()]),
            Step::Body => d.body_sent(BODY),
            Step::Cancel => {
                let _ = d.cancel();
            }
        }
    }
    (events, d.buffered(), d.pending_command().map(str::to_owned))
}

/// Target `at_digester`: the first octet picks the limits (default, or
/// small ones so that the overflow paths run), the rest is modem bytes
/// with session actions (see `steps`). Feeding the modem bytes in one
/// piece, one byte at a time, or in chunks whose sizes the bytes themselves
/// give, yields the same events and leaves the same state; the digester
/// never holds more than its limits.
pub fn at_digester(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let limits = if sel & 0x80 == 0 {
        Limits::default()
    } else {
        Limits {
            max_line: 1 + usize::from(sel & 0x3F),
            max_response_lines: 1 + usize::from(sel & 0x07),
            max_response_bytes: 1 + 4 * usize::from(sel & 0x1F),
        }
    };
    let steps = steps(rest);
    let whole = digest(limits, &steps, <[u8]>::len);
    let bytewise = digest(limits, &steps, |_| 1);
    assert_eq!(whole, bytewise, "one-byte chunks give other events");
    // Chunk sizes read from the bytes themselves (1..=16), shifted by the
    // selector so that one input tries several cuttings over its life.
    let chunked = digest(limits, &steps, |r| usize::from((r[0] ^ sel) & 0x0F) + 1);
    assert_eq!(whole, chunked, "chunked feeding gives other events");
}

/// Target `at_answers`: the bytes (lossy UTF-8) split into lines are given
/// to every typed answer parser and to the final-result and error-code
/// readers. Nothing panics; what parses is consistent with its input.
pub fn at_answers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split(['\n', '\r']).collect();
    let _ = answers::cmgs(&lines);
    if let Ok(m) = answers::cmgr(&lines) {
        assert!(m.index.is_none());
        let _ = pdu::parse_with_smsc(&m.pdu);
    }
    if let Ok(list) = answers::cmgl(&lines) {
        // Each entry takes a header line and its PDU line.
        assert_eq!(list.len() * 2, lines.len());
        assert!(list.iter().all(|m| m.index.is_some()));
    }
    if let Ok(s) = answers::csca(&lines) {
        assert!(!s.number.is_empty());
    }
    let _ = answers::cpin(&lines);
    for domain in [RegDomain::Cs, RegDomain::Ps, RegDomain::Eps] {
        if let Ok(r) = answers::registration(&lines, domain) {
            assert_eq!(r.registration.domain, domain);
            let _ = r.registration.is_registered();
        }
    }
    if let Ok(q) = answers::csq(&lines) {
        if let Some(dbm) = q.dbm() {
            assert!((-113..=-51).contains(&dbm));
        }
    }
    if let Ok(storages) = answers::cpms(&lines) {
        assert!(!storages.is_empty());
    }
    let _ = answers::cops(&lines);
    for line in &lines {
        let _ = answers::PinState::parse(line);
        if let Some(r) = at::FinalResult::parse(line) {
            let _ = (r.to_string(), r.retry_class(), r.is_call_result());
        }
        for arg in [line.to_string(), format!(" {line}")] {
            let cms = at::CmsError::parse(&arg);
            let cme = at::CmeError::parse(&arg);
            let _ = (cms.to_string(), cms.class(), cms.name().len());
            let _ = (cme.to_string(), cme.class(), cme.name().len());
        }
    }
}

/// Length of the fixed header of a [`submit_roundtrip`] input.
const SUBMIT_HEADER: usize = 16;

/// Reads the options and the recipient from the header of a
/// [`submit_roundtrip`] input.
fn submit_setup(h: &[u8]) -> (Address, SubmitOptions) {
    let flags = byte(h, 0);
    let validity = match (flags >> 5) & 3 {
        0 => Validity::None,
        1 => Validity::Relative(byte(h, 3)),
        2 => {
            let mut e = [0u8; 7];
            for (k, v) in e.iter_mut().enumerate() {
                *v = byte(h, 4 + k);
            }
            Validity::Enhanced(e)
        }
        _ => {
            let secs = 946_684_800
                + i64::from(u32::from_le_bytes([
                    byte(h, 4),
                    byte(h, 5),
                    byte(h, 6),
                    byte(h, 7),
                ]));
            let tz = (byte(h, 8) % 113) as i8 - 56;
            Timestamp::from_unix(secs, tz).map_or(Validity::None, Validity::Absolute)
        }
    };
    let reference = u16::from_le_bytes([byte(h, 1), byte(h, 2)]);
    let smsc =
        (flags & 0x10 != 0).then(|| Address::parse_number("+447802000332").expect("valid number"));
    let opts = SubmitOptions {
        status_report: flags & 0x01 != 0,
        force_ucs2: flags & 0x02 != 0,
        flash: flags & 0x04 != 0,
        reject_duplicates: flags & 0x08 != 0,
        smsc,
        validity,
        concat_ref: if flags & 0x80 != 0 {
            ConcatRef::Sixteen(reference)
        } else {
            ConcatRef::Eight(reference as u8)
        },
        pid: byte(h, 11),
    };
    // Recipient: 1..=20 digits taken from the header, national or
    // international, or with a raw TOA (never alphanumeric).
    let n = usize::from(byte(h, 12) % 20) + 1;
    let digits: String = (0..n)
        .map(|k| char::from(b'0' + byte(h, 13 + k % 3).wrapping_add(k as u8 * 7) % 10))
        .collect();
    let toa = byte(h, 9);
    let recipient = match toa % 3 {
        0 => Address::parse_number(&format!("+{digits}")),
        1 => Address::parse_number(&digits),
        _ => Address::with_toa(0x80 | (toa & 0x4F), &digits),
    }
    .expect("digits make a valid number");
    (recipient, opts)
}

/// Target `submit_roundtrip`: a 16-octet header sets the options and the
/// recipient, the rest is the text (lossy UTF-8). The encoder either refuses
/// (empty text, more than 255 parts) or gives parts that each parse back to
/// an SMS-SUBMIT with those options, whose user data fits 140 octets (and
/// 160 septets), numbered and referenced consistently, and whose texts join
/// to the original text.
pub fn submit_roundtrip(data: &[u8]) {
    let (header, body) = data.split_at(data.len().min(SUBMIT_HEADER));
    let (to, opts) = submit_setup(header);
    let text = String::from_utf8_lossy(body);
    let parts = match encode_submit(&to, &text, &opts) {
        Ok(p) => p,
        Err(PduError::EmptyText) => {
            assert!(text.is_empty(), "non-empty text refused as empty");
            return;
        }
        Err(PduError::TooManyParts { parts }) => {
            assert!(parts > 255, "refused {parts} parts");
            // 255 parts hold at least 255 * 66 UTF-16 units.
            assert!(text.chars().count() > 255 * 33, "short text refused");
            return;
        }
        Err(e) => panic!("encode_submit refused {text:?}: {e}"),
    };
    assert!(!parts.is_empty() && parts.len() <= 255);
    let mut back = String::new();
    let mut encoding = None;
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(
            (usize::from(p.seq), usize::from(p.total)),
            (i + 1, parts.len())
        );
        let (smsc, tpdu) = match pdu::parse_with_smsc(&p.bytes) {
            Ok(v) => v,
            Err(e) => panic!("part {} does not parse: {e}: {}", i + 1, p.hex()),
        };
        assert_eq!(smsc, opts.smsc, "SMSC address");
        assert_eq!(p.tpdu(), &p.bytes[p.bytes.len() - p.tpdu_len..]);
        let Tpdu::Submit(s) = tpdu else {
            panic!("part {} is not an SMS-SUBMIT", i + 1)
        };
        assert_eq!(s.recipient, to);
        assert_eq!(s.mr, 0);
        assert_eq!(s.pid, opts.pid);
        assert_eq!(s.validity, opts.validity);
        assert_eq!(s.status_report_request, opts.status_report);
        assert_eq!(s.reject_duplicates, opts.reject_duplicates);
        assert!(!s.reply_path);
        assert_eq!(s.dcs.class(), opts.flash.then_some(0), "message class");
        let enc = s.dcs.encoding();
        assert!(matches!(enc, Encoding::Gsm7 | Encoding::Ucs2), "{enc:?}");
        assert!(!opts.force_ucs2 || enc == Encoding::Ucs2, "UCS2 was forced");
        assert_eq!(
            *encoding.get_or_insert(enc),
            enc,
            "parts differ in encoding"
        );
        let mut ud = Vec::new();
        s.user_data.emit(s.dcs, &mut ud);
        assert!(
            ud.len() - 1 <= 140,
            "part {} has {} octets",
            i + 1,
            ud.len() - 1
        );
        if enc == Encoding::Gsm7 {
            assert!(ud[0] <= 160, "part {} has {} septets", i + 1, ud[0]);
        }
        match s.user_data.concat() {
            Some(c) => {
                assert!(
                    parts.len() > 1,
                    "a single part carries a concatenation header"
                );
                assert_eq!(
                    (usize::from(c.total), usize::from(c.seq)),
                    (parts.len(), i + 1)
                );
                let (reference, wide) = match opts.concat_ref {
                    ConcatRef::Eight(r) => (u16::from(r), false),
                    ConcatRef::Sixteen(r) => (r, true),
                };
                assert_eq!((c.reference, c.wide), (reference, wide));
            }
            None => assert_eq!(parts.len(), 1, "part {} lacks its header", i + 1),
        }
        match &s.user_data.body {
            Body::Text(t) => {
                assert!(!t.is_empty(), "part {} is empty", i + 1);
                back.push_str(t);
            }
            Body::Binary(_) => panic!("part {} is binary", i + 1),
        }
    }
    assert_eq!(back, text, "the parts do not join to the text");
}

/// `smpp_pdu`: bytes as an SMPP peer sends them. Framing and parsing never
/// panic; a PDU that parses emits bytes that parse to the same value (error
/// responses lose the body 3.4 says they do not carry; a bind's TLVs, which
/// 3.4 does not define, are dropped) and that emit is canonical after one
/// round; the conversions a session applies to a submit_sm / data_sm /
/// deliver_sm never panic.
pub fn smpp_pdu(data: &[u8]) {
    use crate::smpp::{message, pdu as smpp, time};

    if let Ok(Some(n)) = smpp::frame_length(data) {
        assert!((smpp::HEADER_LEN..=smpp::MAX_PDU_LEN).contains(&n));
    }
    let Ok(p) = smpp::Pdu::parse(data) else {
        return;
    };
    let first = p.to_bytes();
    let q = match smpp::Pdu::parse(&first) {
        Ok(q) => q,
        Err(e) => panic!("emitted SMPP PDU does not parse: {e}\nvalue: {p:?}"),
    };
    assert_eq!(q.to_bytes(), first, "SMPP emit is not canonical");
    let lossy = (p.body.is_response() && p.status != 0)
        || matches!(
            p.body,
            smpp::Body::BindReceiver(_)
                | smpp::Body::BindTransmitter(_)
                | smpp::Body::BindTransceiver(_)
        );
    if !lossy {
        assert_eq!(q, p, "SMPP PDU changed on the round trip");
    }
    let now = 1_796_205_600;
    match &p.body {
        smpp::Body::SubmitSm(sm) | smpp::Body::DeliverSm(sm) => {
            if let Ok(req) = message::submit_request(sm, now) {
                assert!(!req.dest.addr.is_empty());
            }
            let _ = time::parse(&sm.validity_period, now);
        }
        smpp::Body::DataSm(d) => {
            let _ = message::data_sm_request(d, now);
        }
        _ => {}
    }
}
