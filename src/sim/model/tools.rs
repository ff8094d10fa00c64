//! What common AT clients send that smsgw's own session does not: the `=?`
//! test forms, the SIM serial (AT+CCID and vendor forms), power and reset
//! (AT+CFUN), the character set (AT+CSCS), caller id (AT+CLIP), storage
//! selection (AT+CPMS) and USSD (AT+CUSD) with scripted answers, menus and
//! a session timeout. Anything else falls through to the model's own
//! commands, and what nobody knows is a plain `ERROR`.

use super::{Final, Scheduled, SimModem};
use crate::at::format;

/// One scripted USSD answer of the simulated network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UssdReply {
    pub text: String,
    /// The network's data coding scheme: 15 (GSM 7-bit) or 72 (UCS2; the
    /// text goes to the host as UCS2 hex, as modems hand such answers over).
    pub dcs: u8,
}

impl UssdReply {
    pub fn gsm(text: &str) -> UssdReply {
        UssdReply {
            text: text.to_string(),
            dcs: 15,
        }
    }
    pub fn ucs2(text: &str) -> UssdReply {
        UssdReply {
            text: text.to_string(),
            dcs: 72,
        }
    }
}

/// The scripted answers every simulated modem starts with: a balance, a
/// two-step menu, and a UCS2 answer. A key `CODE>ANSWER` is the network's
/// reply to ANSWER typed in the menu CODE opened.
pub fn default_ussd() -> Vec<(String, UssdReply)> {
    vec![
        (
            "*100#".into(),
            UssdReply::gsm("Your balance is 12.34 EUR, valid until 31.12.2027"),
        ),
        ("*101#".into(), UssdReply::gsm("1 Balance 2 Bundles")),
        ("*101#>1".into(), UssdReply::gsm("Balance: 12.34 EUR")),
        ("*101#>2".into(), UssdReply::gsm("No bundle active")),
        ("*102#".into(), UssdReply::ucs2("Баланс: 12,34 ₽")),
    ]
}

/// How long after its answer to AT+CFUN=<fun>,1 the modem goes away.
pub(super) const RESET_AFTER_ANSWER_MS: i64 = 200;

/// Memories the simulated modem offers (AT+CPMS).
const MEMORIES: [&str; 3] = ["SM", "ME", "SR"];
const MEMORY_SIZE: usize = 50;

#[derive(Debug)]
pub(super) struct ToolState {
    /// AT+CFUN: 1 full, 0 minimum, 4 radio off.
    fun: u8,
    cscs: String,
    clip: u8,
    cusd_n: u8,
    /// AT+CPMS memories (read/delete, write/send, receive); `None` until
    /// chosen: the modem's configured memory.
    cpms: [Option<String>; 3],
    /// AT+CFUN=<fun>,1 answered: reset once the answer is out...
    pub(super) reset_pending: bool,
    /// ... at this time.
    pub(super) reset_at: Option<i64>,
    ussd: Option<UssdSession>,
    ussd_seq: u64,
    /// Answers of sessions up to this id are not delivered (cancelled or
    /// closed by the network); ids grow with each new session.
    ussd_dead_upto: u64,
}

impl ToolState {
    pub(super) fn resetting(&self) -> bool {
        self.reset_pending || self.reset_at.is_some()
    }
}

#[derive(Debug)]
struct UssdSession {
    id: u64,
    /// The code, then each answer typed, joined with `>`.
    path: String,
    /// The request that last extended it (timeouts of older ones are void).
    last_seq: u64,
}

impl Default for ToolState {
    fn default() -> Self {
        ToolState {
            fun: 1,
            cscs: "GSM".into(),
            clip: 0,
            cusd_n: 0,
            cpms: [None, None, None],
            reset_pending: false,
            reset_at: None,
            ussd: None,
            ussd_seq: 0,
            ussd_dead_upto: 0,
        }
    }
}

type Answer = Option<(Vec<String>, Final)>;

fn ok(lines: Vec<String>) -> Option<Answer> {
    Some(Some((lines, Final::Ok)))
}

fn fail(f: Final) -> Option<Answer> {
    Some(Some((vec![], f)))
}

/// The arguments of a command, split at commas outside quotes, quotes
/// removed.
fn args(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.into_iter().map(|a| a.trim().to_string()).collect()
}

/// The commands of one line chained with `;` (outside quotes), e.g.
/// `+CMEE=1;+CREG=2`; a single command gives itself.
pub(super) fn split_chain(body: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in body.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(body[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = body[start..].trim();
    // A trailing `;` ends the line without another command.
    if !last.is_empty() || parts.is_empty() {
        parts.push(last);
    }
    parts
}

fn ucs2_hex(text: &str) -> String {
    let mut bytes = Vec::new();
    for u in text.encode_utf16() {
        bytes.extend_from_slice(&u.to_be_bytes());
    }
    crate::pdu::hex::encode(&bytes)
}

fn from_ucs2_hex(hex: &str) -> Option<String> {
    let bytes = crate::pdu::hex::decode(hex).ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// Text as GSM 7-bit septets packed into octets, in hex (a last septet
/// left over in a full octet is CR, 23.038 §6.1.2.3.1).
fn pack_hex(text: &str) -> String {
    let mut sept = vec![0u8; text.chars().count() * 2 + 1];
    let mut n = crate::pdu::gsm7::to_septets(text, &mut sept).unwrap_or(0);
    if n % 8 == 7 {
        sept[n] = b'\r';
        n += 1;
    }
    let mut out = Vec::new();
    crate::pdu::septets::pack(&sept[..n], 0, &mut out);
    crate::pdu::hex::encode(&out)
}

fn unpack_hex(hex: &str) -> Option<String> {
    let bytes = crate::pdu::hex::decode(hex).ok()?;
    let count = bytes.len() * 8 / 7;
    let mut out = String::new();
    crate::pdu::gsm7::Tables::default().decode_into(
        crate::pdu::septets::Unpacker::new(&bytes, 0, count),
        &mut out,
    );
    if count.is_multiple_of(8) {
        if let Some(t) = out.strip_suffix('\r').or_else(|| out.strip_suffix('@')) {
            return Some(t.to_string());
        }
    }
    Some(out)
}

impl SimModem {
    /// AT+CFUN=<fun>,1 resets asked for so far.
    pub fn resets(&self) -> u32 {
        self.resets
    }

    /// Change (or add) the network's answer to a USSD code, e.g. a balance
    /// that ran out.
    pub fn set_ussd_reply(&mut self, code: &str, reply: UssdReply) {
        match self.cfg.ussd.iter_mut().find(|(c, _)| c == code) {
            Some((_, r)) => *r = reply,
            None => self.cfg.ussd.push((code.to_string(), reply)),
        }
    }

    /// The SIM is usable and the radio on: registered on the network.
    pub(super) fn registered(&self) -> bool {
        self.pin_ok && self.tools.fun == 1
    }

    /// The memory AT+CMGL/CMGR/CMGD work on is the one holding messages.
    pub(super) fn reads_storage(&self) -> bool {
        self.memory(0) == self.cfg.memory
    }

    fn memory(&self, i: usize) -> &str {
        self.tools.cpms[i].as_deref().unwrap_or(&self.cfg.memory)
    }

    fn used(&self, mem: &str) -> usize {
        if mem == self.cfg.memory {
            self.storage.len()
        } else {
            0
        }
    }

    /// The commands of this module; `None`: not one of them.
    pub(super) fn execute_tool(&mut self, body: &str, ubody: &str, now_ms: i64) -> Option<Answer> {
        if let Some(name) = ubody.strip_suffix("=?") {
            return Some(self.test_form(name));
        }
        let id = &self.cfg.identity;
        match ubody {
            "+CCID" | "+CCID?" => return ok(vec![format!("+CCID: {}", id.iccid)]),
            "+ICCID" | "+ICCID?" => return ok(vec![format!("+ICCID: {}", id.iccid)]),
            "^ICCID?" => return ok(vec![format!("^ICCID: {}", id.iccid)]),
            "+QCCID" => return ok(vec![format!("+QCCID: {}", id.iccid)]),
            "+CFUN?" => return ok(vec![format!("+CFUN: {}", self.tools.fun)]),
            "+CSCS?" => return ok(vec![format!("+CSCS: \"{}\"", self.tools.cscs)]),
            "+CLIP?" => return ok(vec![format!("+CLIP: {},1", self.tools.clip)]),
            "+CUSD?" => return ok(vec![format!("+CUSD: {}", self.tools.cusd_n)]),
            "+CPMS?" => {
                let line = (0..3)
                    .map(|i| {
                        let m = self.memory(i);
                        format!("\"{m}\",{},{MEMORY_SIZE}", self.used(m))
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                return ok(vec![format!("+CPMS: {line}")]);
            }
            _ => {}
        }
        let (name, arg) = ubody.split_once('=')?;
        // The arguments as typed (USSD strings and menu answers keep their case).
        let raw = body.get(name.len() + 1..).unwrap_or(arg);
        match name {
            "+CFUN" => Some(self.cfun(&args(arg))),
            "+CSCS" => {
                let cs = args(arg).into_iter().next().unwrap_or_default();
                if ["GSM", "IRA", "UCS2"].contains(&cs.as_str()) {
                    self.tools.cscs = cs;
                    ok(vec![])
                } else {
                    // 27.007 +CME ERROR 4: operation not supported.
                    fail(Final::Cme(4))
                }
            }
            "+CLIP" => match arg.trim() {
                "0" | "1" => {
                    self.tools.clip = u8::from(arg.trim() == "1");
                    ok(vec![])
                }
                _ => fail(Final::Cme(50)),
            },
            "+CPMS" => Some(self.cpms(&args(arg))),
            "+CUSD" => Some(self.cusd(&args(raw), now_ms)),
            _ => None,
        }
    }

    /// `AT+X=?`: the supported values of the commands it knows; ERROR for
    /// the others.
    fn test_form(&self, name: &str) -> Answer {
        let lines: &[&str] = match name {
            "+CGMI" | "+CGMM" | "+CGMR" | "+CGSN" | "+GMI" | "+GMM" | "+GMR" | "+GSN" | "+CIMI"
            | "+CCID" | "+ICCID" | "+QCCID" | "+CPIN" | "+CSCA" | "+CMGS" | "+CMGR" | "+CNMA"
            | "+CPINR" => &[],
            "+CFUN" => &["+CFUN: (0,1,4),(0,1)"],
            "+CSCS" => &["+CSCS: (\"GSM\",\"IRA\",\"UCS2\")"],
            "+CPMS" => {
                &["+CPMS: (\"SM\",\"ME\",\"SR\"),(\"SM\",\"ME\",\"SR\"),(\"SM\",\"ME\",\"SR\")"]
            }
            "+CMGL" => &["+CMGL: (0-4)"],
            "+CMGF" => &["+CMGF: (0)"],
            "+CNMI" => &["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"],
            "+CSMS" => &["+CSMS: (0,1)"],
            "+CREG" | "+CGREG" => &["+CREG: (0-2)"],
            "+CLIP" => &["+CLIP: (0,1)"],
            "+CSQ" => &["+CSQ: (0-31,99),(0-7,99)"],
            "+CUSD" => &["+CUSD: (0-2)"],
            "+CMEE" => &["+CMEE: (0-2)"],
            "+CMGD" => {
                let first = self.cfg.first_index;
                return Some((
                    vec![format!(
                        "+CMGD: ({first}-{}),(0-4)",
                        first + MEMORY_SIZE as u32 - 1
                    )],
                    Final::Ok,
                ));
            }
            "+COPS" => {
                let op = &self.cfg.identity.operator;
                let plmn = self.cfg.identity.imsi.get(..5).unwrap_or("00101");
                return Some((
                    vec![format!(
                        "+COPS: (2,\"{op}\",\"{op}\",\"{plmn}\"),,(0-4),(0-2)"
                    )],
                    Final::Ok,
                ));
            }
            _ => return Some((vec![], Final::Error)),
        };
        let lines = lines.iter().map(|l| l.replace("+CREG", name)).collect();
        Some((lines, Final::Ok))
    }

    fn cfun(&mut self, a: &[String]) -> Answer {
        let fun = a.first().and_then(|f| f.parse::<u8>().ok());
        let rst = match a.get(1).map(String::as_str) {
            None | Some("") | Some("0") => false,
            Some("1") => true,
            Some(_) => return Some((vec![], Final::Cme(50))),
        };
        match fun {
            Some(f @ (0 | 1 | 4)) => {
                if rst {
                    // Answered, then the modem restarts (27.007: reset
                    // before setting the level; it comes back at full).
                    self.tools.reset_pending = true;
                } else {
                    self.tools.fun = f;
                }
                Some((vec![], Final::Ok))
            }
            _ => Some((vec![], Final::Cme(50))),
        }
    }

    fn cpms(&mut self, a: &[String]) -> Answer {
        if a.is_empty() || a.len() > 3 {
            return Some((vec![], Final::Cms(302)));
        }
        for m in a {
            if !MEMORIES.contains(&m.as_str()) {
                // 27.005 +CMS ERROR 302: operation not allowed.
                return Some((vec![], Final::Cms(302)));
            }
        }
        for (i, m) in a.iter().enumerate() {
            self.tools.cpms[i] = Some(m.clone());
        }
        let counts = (0..3)
            .map(|i| format!("{},{MEMORY_SIZE}", self.used(self.memory(i))))
            .collect::<Vec<_>>()
            .join(",");
        Some((vec![format!("+CPMS: {counts}")], Final::Ok))
    }

    /// `AT+CUSD=<n>[,<str>[,<dcs>]]` (27.007 7.15): answered OK at once;
    /// the network's answer comes later as `+CUSD: <m>,"<str>",<dcs>`
    /// (m 0: done, 1: more expected, 2: closed by the network, 4: not
    /// supported).
    fn cusd(&mut self, a: &[String], now_ms: i64) -> Answer {
        let n = match a.first().map(String::as_str) {
            Some("0") => 0,
            Some("1") | Some("") => 1,
            Some("2") => {
                // Cancel the session, and any answer still on its way.
                self.tools.ussd = None;
                self.tools.ussd_dead_upto = self.tools.ussd_seq;
                return Some((vec![], Final::Ok));
            }
            _ => return Some((vec![], Final::Cme(50))),
        };
        self.tools.cusd_n = n;
        let Some(typed) = a.get(1).filter(|s| !s.is_empty()) else {
            return Some((vec![], Final::Ok));
        };
        if !self.registered() {
            // 27.007 +CME ERROR 30: no network service.
            return Some((vec![], Final::Cme(30)));
        }
        let typed = if self.tools.cscs == "UCS2" {
            match from_ucs2_hex(typed) {
                Some(t) => t,
                None => return Some((vec![], Final::Cme(50))),
            }
        } else if self.cfg.ussd_packed {
            match unpack_hex(typed) {
                Some(t) => t,
                None => return Some((vec![], Final::Cme(50))),
            }
        } else {
            typed.clone()
        };
        self.tools.ussd_seq += 1;
        let seq = self.tools.ussd_seq;
        let (id, path) = match self.tools.ussd.take() {
            Some(s) => (s.id, format!("{}>{typed}", s.path)),
            None => (seq, typed),
        };
        let due = now_ms + (self.cfg.latency_ms + self.cfg.ussd_delay_ms) as i64;
        let reply = self
            .cfg
            .ussd
            .iter()
            .find(|(c, _)| *c == path)
            .map(|(_, r)| r.clone());
        let text = match reply {
            Some(r) => {
                let prefix = format!("{path}>");
                let more = self.cfg.ussd.iter().any(|(c, _)| c.starts_with(&prefix));
                let shown = if r.dcs == 72 || self.tools.cscs == "UCS2" {
                    ucs2_hex(&r.text)
                } else if self.cfg.ussd_packed {
                    pack_hex(&r.text)
                } else {
                    r.text.clone()
                };
                if more {
                    self.tools.ussd = Some(UssdSession {
                        id,
                        path,
                        last_seq: seq,
                    });
                    let timeout = due + self.cfg.ussd_session_timeout_ms as i64;
                    self.schedule(timeout, Scheduled::UssdTimeout { session: seq });
                }
                format!("+CUSD: {},\"{shown}\",{}", u8::from(more), r.dcs)
            }
            None => "+CUSD: 4".to_string(),
        };
        let mut bytes = Vec::new();
        format::line(&mut bytes, &text);
        self.schedule(
            due,
            Scheduled::Ussd {
                session: id,
                text: bytes,
            },
        );
        Some((vec![], Final::Ok))
    }

    /// A scheduled USSD answer: out, unless its session was cancelled.
    pub(super) fn ussd_due(&mut self, session: u64, text: Vec<u8>) -> Option<Vec<u8>> {
        (session > self.tools.ussd_dead_upto).then_some(text)
    }

    /// The network closes a menu left unanswered.
    pub(super) fn ussd_timeout(&mut self, seq: u64) -> Option<Vec<u8>> {
        let open = self.tools.ussd.as_ref()?;
        if open.last_seq != seq {
            return None;
        }
        let id = open.id;
        self.tools.ussd = None;
        self.tools.ussd_dead_upto = self.tools.ussd_dead_upto.max(id);
        let mut bytes = Vec::new();
        format::line(&mut bytes, "+CUSD: 2");
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::SimConfig;
    use super::*;

    const T0: i64 = 1_795_860_000_000;

    fn modem() -> SimModem {
        SimModem::new(SimConfig {
            echo_default: false,
            ussd_delay_ms: 100,
            ussd_session_timeout_ms: 5_000,
            ..SimConfig::default()
        })
    }

    fn run(m: &mut SimModem, input: &str, at: i64) -> String {
        m.handle_input(input.as_bytes(), T0 + at);
        String::from_utf8_lossy(&m.poll_output(T0 + at)).into_owned()
    }

    #[test]
    fn identification_and_test_forms() {
        let mut m = modem();
        assert_eq!(run(&mut m, "AT+CGMI=?\r", 0), "\r\nOK\r\n");
        assert_eq!(run(&mut m, "AT+CGSN=?\r", 0), "\r\nOK\r\n");
        assert!(run(&mut m, "ATI\r", 0).contains("SIMULATED-MODEM"));
        for (cmd, want) in [
            ("AT+CCID\r", "+CCID: 8939015550000000012"),
            ("AT^ICCID?\r", "^ICCID: 8939015550000000012"),
            ("AT+QCCID\r", "+QCCID: 8939015550000000012"),
            ("AT+CNMI=?\r", "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"),
            ("AT+CGREG=?\r", "+CGREG: (0-2)"),
            ("AT+COPS=?\r", "\"SIMNET\",\"SIMNET\",\"22201\""),
        ] {
            let out = run(&mut m, cmd, 0);
            assert!(
                out.contains(want) && out.ends_with("OK\r\n"),
                "{cmd}: {out:?}"
            );
        }
        // Unknown, in any form: a plain ERROR, even with +CMEE=2.
        run(&mut m, "AT+CMEE=2\r", 0);
        assert_eq!(run(&mut m, "AT+FOO=?\r", 0), "\r\nERROR\r\n");
        assert_eq!(run(&mut m, "AT+FOO\r", 0), "\r\nERROR\r\n");
        assert_eq!(
            run(&mut m, "AT+CSCS=\"KLINGON\"\r", 0),
            "\r\n+CME ERROR: 4\r\n"
        );
    }

    #[test]
    fn storage_numbering_starts_where_the_family_does() {
        for first in [0, 1] {
            let mut m = SimModem::new(SimConfig {
                echo_default: false,
                first_index: first,
                ..SimConfig::default()
            });
            let pdus = crate::sim::codec::deliver_parts(
                "+393359609600",
                "+393401112233",
                "hi",
                T0 / 1000,
                4,
                1,
            )
            .unwrap();
            m.inject_incoming(pdus, T0);
            run(&mut m, "", 0);
            assert_eq!(m.stored_indices(), [first]);
            let out = run(&mut m, "AT+CMGL=4\r", 0);
            assert!(out.contains(&format!("+CMGL: {first},0,,")), "{out:?}");
            let out = run(&mut m, "AT+CMGD=?\r", 0);
            assert!(
                out.contains(&format!("+CMGD: ({first}-{}),(0-4)", first + 49)),
                "{out:?}"
            );
        }
    }

    #[test]
    fn chained_commands_answer_once() {
        let mut m = modem();
        assert_eq!(run(&mut m, "AT+CMEE=1;+CREG=2\r", 0), "\r\nOK\r\n");
        assert_eq!(
            run(&mut m, "AT+CREG?;+CSQ\r", 0),
            "\r\n+CREG: 2,1\r\n\r\n+CSQ: 21,99\r\n\r\nOK\r\n"
        );
        // The first failure ends the line; quotes keep their semicolons.
        assert_eq!(
            run(&mut m, "AT+CSQ;+FOO;+CGMI\r", 0),
            "\r\n+CSQ: 21,99\r\n\r\nERROR\r\n"
        );
        assert_eq!(
            split_chain("+CUSD=1,\"*1;0#\",15"),
            ["+CUSD=1,\"*1;0#\",15"]
        );
        assert_eq!(split_chain("E0;"), ["E0"]);
    }

    #[test]
    fn cfun_radio_off_then_reset() {
        let mut m = modem();
        assert!(run(&mut m, "AT+CFUN?\r", 0).contains("+CFUN: 1"));
        run(&mut m, "AT+CFUN=4\r", 0);
        assert!(run(&mut m, "AT+CREG?\r", 0).contains("+CREG: 0,0"));
        run(&mut m, "AT+CMEE=1\r", 0);
        assert!(run(&mut m, "AT+CMGS=20\r", 0).contains("+CMS ERROR: 331"));
        // The reset is answered first, then the port goes away; what the
        // host types meanwhile is not read.
        assert_eq!(run(&mut m, "AT+CFUN=1,1\r", 0), "\r\nOK\r\n");
        assert!(!m.unplugged());
        assert_eq!(m.next_deadline(), Some(T0 + RESET_AFTER_ANSWER_MS));
        assert_eq!(run(&mut m, "AT\r", 100), "");
        assert!(!m.unplugged());
        run(&mut m, "", RESET_AFTER_ANSWER_MS);
        assert!(m.unplugged());
        assert_eq!(m.resets(), 1);
        m.replug();
        assert!(run(&mut m, "AT+CFUN?\r", 10).contains("+CFUN: 1"));
        assert!(run(&mut m, "AT+CREG?\r", 10).contains(",1"));
    }

    #[test]
    fn storage_selection() {
        let mut m = modem();
        let out = run(&mut m, "AT+CPMS=?\r", 0);
        assert!(out.contains("(\"SM\",\"ME\",\"SR\")"), "{out:?}");
        assert!(run(&mut m, "AT+CPMS?\r", 0).contains("+CPMS: \"SM\",0,50,\"SM\",0,50"));
        assert!(run(&mut m, "AT+CPMS=\"ME\",\"SM\"\r", 0).contains("+CPMS: 0,50,0,50,0,50"));
        assert!(run(&mut m, "AT+CPMS?\r", 0).contains("+CPMS: \"ME\",0,50,\"SM\""));
        run(&mut m, "AT+CMEE=1\r", 0);
        assert!(run(&mut m, "AT+CPMS=\"XX\"\r", 0).contains("+CMS ERROR: 302"));
        assert!(run(&mut m, "AT+CMGR=0\r", 0).contains("+CMS ERROR: 321"));
    }

    #[test]
    fn ussd_answers_menus_and_timeouts() {
        let mut m = modem();
        assert_eq!(run(&mut m, "AT+CUSD=1,\"*100#\",15\r", 0), "\r\nOK\r\n");
        assert_eq!(m.next_deadline(), Some(T0 + 100));
        assert_eq!(
            run(&mut m, "", 100),
            "\r\n+CUSD: 0,\"Your balance is 12.34 EUR, valid until 31.12.2027\",15\r\n"
        );
        // A menu: more expected (m = 1), then the answer to "2".
        run(&mut m, "AT+CUSD=1,\"*101#\",15\r", 200);
        assert!(run(&mut m, "", 300).contains("+CUSD: 1,\"1 Balance 2 Bundles\",15"));
        run(&mut m, "AT+CUSD=1,\"2\",15\r", 400);
        assert!(run(&mut m, "", 500).contains("+CUSD: 0,\"No bundle active\",15"));
        // Left open: the network closes it after the session timeout.
        run(&mut m, "AT+CUSD=1,\"*101#\",15\r", 1_000);
        assert!(run(&mut m, "", 1_100).contains("+CUSD: 1,"));
        assert_eq!(run(&mut m, "", 6_099), "");
        assert_eq!(run(&mut m, "", 6_100), "\r\n+CUSD: 2\r\n");
        // A cancelled session's answer never comes.
        run(&mut m, "AT+CUSD=1,\"*100#\",15\r", 7_000);
        run(&mut m, "AT+CUSD=2\r", 7_010);
        assert_eq!(run(&mut m, "", 8_000), "");
        // UCS2: an answer coded so by the network, and a UCS2 host.
        run(&mut m, "AT+CUSD=1,\"*102#\",15\r", 9_000);
        let out = run(&mut m, "", 9_100);
        assert!(
            out.contains(&format!("+CUSD: 0,\"{}\",72", ucs2_hex("Баланс: 12,34 ₽"))),
            "{out:?}"
        );
        run(&mut m, "AT+CSCS=\"UCS2\"\r", 9_200);
        run(
            &mut m,
            &format!("AT+CUSD=1,\"{}\",15\r", ucs2_hex("*100#")),
            9_300,
        );
        let out = run(&mut m, "", 9_400);
        assert!(
            out.contains(&ucs2_hex("Your balance is 12.34 EUR")),
            "{out:?}"
        );
        // Unknown code: not supported; the balance can change.
        run(&mut m, "AT+CSCS=\"GSM\"\r", 9_500);
        run(&mut m, "AT+CUSD=1,\"*999#\",15\r", 9_500);
        assert_eq!(run(&mut m, "", 9_600), "\r\n+CUSD: 4\r\n");
        m.set_ussd_reply("*100#", UssdReply::gsm("Your balance is 0.00 EUR"));
        run(&mut m, "AT+CUSD=1,\"*100#\",15\r", 9_700);
        assert!(run(&mut m, "", 9_800).contains("0.00 EUR"));
    }
}
