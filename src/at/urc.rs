//! Unsolicited result codes: what they are and how a line is recognised as one.

use super::fields::{name_and_args, split, Field};

/// The network domain a registration indication is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegDomain {
    /// Circuit switched (`+CREG`), the one SMS over the CS domain needs.
    Cs,
    /// GPRS / packet switched (`+CGREG`).
    Ps,
    /// LTE / EPS (`+CEREG`).
    Eps,
}

impl RegDomain {
    /// The result code name (`+CREG`, `+CGREG`, `+CEREG`).
    pub fn name(self) -> &'static str {
        match self {
            RegDomain::Cs => "+CREG",
            RegDomain::Ps => "+CGREG",
            RegDomain::Eps => "+CEREG",
        }
    }

    fn from_name(name: &str) -> Option<RegDomain> {
        match name {
            "+CREG" => Some(RegDomain::Cs),
            "+CGREG" => Some(RegDomain::Ps),
            "+CEREG" => Some(RegDomain::Eps),
            _ => None,
        }
    }
}

/// Network registration state (27.007 §7.2 `<stat>` and its location fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Which indication this came from.
    pub domain: RegDomain,
    /// `<stat>`: 0 not searching, 1 home, 2 searching, 3 denied, 4 unknown,
    /// 5 roaming (later releases add 6..=11, among them 6/7 "SMS only").
    pub stat: u8,
    /// `<lac>` / `<tac>` as the modem wrote it (hex text), when present.
    pub area: Option<String>,
    /// `<ci>` (hex text), when present.
    pub cell: Option<String>,
    /// `<AcT>` access technology, when present.
    pub act: Option<u8>,
}

impl Registration {
    /// True when registered (home or roaming, including "SMS only" 6/7).
    pub fn is_registered(&self) -> bool {
        matches!(self.stat, 1 | 5 | 6 | 7)
    }

    /// Builds it from `<stat>[,<lac>,<ci>[,<AcT>...]]` fields.
    pub(crate) fn from_fields(domain: RegDomain, fields: &[Field<'_>]) -> Option<Registration> {
        let stat = fields.first()?.text.parse().ok()?;
        let text = |i: usize| fields.get(i).and_then(|f| f.non_empty()).map(str::to_owned);
        Some(Registration {
            domain,
            stat,
            area: text(1),
            cell: text(2),
            act: fields.get(3).and_then(|f| f.text.parse().ok()),
        })
    }
}

/// An unsolicited result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urc {
    /// `+CDS: <length>` + PDU line: an SMS-STATUS-REPORT pushed to the host.
    /// `pdu` starts with the SMSC address; `len` is the TPDU length the modem
    /// announced (octets, SMSC excluded).
    StatusReport {
        /// Announced TPDU length.
        len: usize,
        /// The PDU line decoded from hex (SMSC address first).
        pdu: Vec<u8>,
    },
    /// `+CDSI: <mem>,<index>`: a status report was stored.
    StatusReportStored {
        /// Storage (`"SR"`, `"SM"`, `"ME"`...).
        mem: String,
        /// Index in that storage.
        index: u32,
    },
    /// `+CMT: [<alpha>],<length>` + PDU line: an SMS-DELIVER pushed to the host.
    Deliver {
        /// Phone-book name of the sender, when the modem adds it.
        alpha: Option<String>,
        /// Announced TPDU length.
        len: usize,
        /// The PDU line decoded from hex (SMSC address first).
        pdu: Vec<u8>,
    },
    /// `+CMTI: <mem>,<index>`: an incoming SMS was stored.
    MessageStored {
        /// Storage.
        mem: String,
        /// Index in that storage.
        index: u32,
    },
    /// `+CBM: <length>` + PDU line: a cell broadcast message.
    CellBroadcast {
        /// Announced length.
        len: usize,
        /// The PDU line decoded from hex.
        pdu: Vec<u8>,
    },
    /// `+CREG` / `+CGREG` / `+CEREG` unsolicited registration change.
    Registration(Registration),
    /// Huawei `^RSSI:<rssi>` (same scale as +CSQ: 0..=31, 99 unknown).
    Signal {
        /// The rssi value.
        rssi: u8,
    },
    /// Unsolicited `+CPIN: <code>` (SIM state change, e.g. `READY`).
    SimState(String),
    /// `RING`.
    Ring,
    /// Any other unsolicited line (`^BOOT`, `^MODE`, `^SRVST`, `^HCSQ`,
    /// `+CIEV`, `+CUSD`, `RDY`, `NO CARRIER` outside a call...), verbatim.
    Other(String),
}

/// Which two-line URC a header line announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoLineKind {
    /// `+CDS`.
    StatusReport,
    /// `+CMT`.
    Deliver,
    /// `+CBM`.
    CellBroadcast,
}

impl TwoLineKind {
    /// The result code name.
    pub fn name(self) -> &'static str {
        match self {
            TwoLineKind::StatusReport => "+CDS",
            TwoLineKind::Deliver => "+CMT",
            TwoLineKind::CellBroadcast => "+CBM",
        }
    }
}

/// The header line of a two-line URC, waiting for its PDU line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrcHeader {
    pub kind: TwoLineKind,
    pub alpha: Option<String>,
    pub len: usize,
}

impl UrcHeader {
    /// Completes the URC with its decoded PDU line.
    pub fn complete(self, pdu: Vec<u8>) -> Urc {
        match self.kind {
            TwoLineKind::StatusReport => Urc::StatusReport { len: self.len, pdu },
            TwoLineKind::Deliver => Urc::Deliver {
                alpha: self.alpha,
                len: self.len,
                pdu,
            },
            TwoLineKind::CellBroadcast => Urc::CellBroadcast { len: self.len, pdu },
        }
    }
}

/// How the digester should treat a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Classified {
    /// A complete URC.
    Urc(Urc),
    /// The header of a two-line URC: the next line is its PDU.
    Header(UrcHeader),
    /// Not an unsolicited line.
    NotUrc,
}

/// Plain-text URCs without a `+NAME:` prefix. RDY: Quectel; Call Ready,
/// SMS Ready, NORMAL POWER DOWN: SIMCom SIM800; PB DONE: SIMCom SIM7600
/// (from the vendors' AT manuals as remembered, not re-checked here).
const PLAIN: &[&str] = &[
    "RDY",
    "Call Ready",
    "SMS Ready",
    "PB DONE",
    "NORMAL POWER DOWN",
];

/// `+NAME:` lines that are always unsolicited unless they name the pending
/// command.
const NAMED: &[&str] = &[
    "+CIEV", "+CUSD", "+CLIP", "+CRING", "+CGEV", "+CTZV", "+CTZE", "+QIND", "+CFUN",
];

fn stored(fields: &[Field<'_>]) -> Option<(String, u32)> {
    match fields {
        [mem, index, ..] => Some((mem.text.to_owned(), index.text.parse().ok()?)),
        _ => None,
    }
}

fn two_line_header(kind: TwoLineKind, fields: &[Field<'_>]) -> Option<UrcHeader> {
    // PDU mode only: text mode headers carry more fields and fall through.
    let (alpha, len) = match (kind, fields) {
        (TwoLineKind::Deliver, [alpha, len]) => (alpha.non_empty().map(str::to_owned), len),
        (TwoLineKind::StatusReport | TwoLineKind::CellBroadcast, [len]) => (None, len),
        _ => return None,
    };
    if len.quoted {
        return None;
    }
    Some(UrcHeader {
        kind,
        alpha,
        len: len.text.parse().ok()?,
    })
}

/// Decides whether `line` is a URC. `answers_pending` tells whether a
/// `+NAME`/`^NAME` is the name of the pending command (read, test or
/// execute form), in which case such a line is that command's answer.
pub(crate) fn classify(line: &str, answers_pending: impl Fn(&str) -> bool) -> Classified {
    if line == "RING" {
        return Classified::Urc(Urc::Ring);
    }
    if PLAIN.contains(&line) {
        return Classified::Urc(Urc::Other(line.to_owned()));
    }
    let Some((name, args)) = name_and_args(line) else {
        return Classified::NotUrc;
    };
    if answers_pending(name) {
        return Classified::NotUrc;
    }
    let other = || Classified::Urc(Urc::Other(line.to_owned()));
    let fields = match split(args) {
        Ok(fields) => fields,
        Err(_) => return other(),
    };
    let two_line = match name {
        "+CDS" => Some(TwoLineKind::StatusReport),
        "+CMT" => Some(TwoLineKind::Deliver),
        "+CBM" => Some(TwoLineKind::CellBroadcast),
        _ => None,
    };
    if let Some(kind) = two_line {
        return two_line_header(kind, &fields).map_or_else(other, Classified::Header);
    }
    match name {
        "+CDSI" | "+CMTI" => match stored(&fields) {
            Some((mem, index)) if name == "+CDSI" => {
                Classified::Urc(Urc::StatusReportStored { mem, index })
            }
            Some((mem, index)) => Classified::Urc(Urc::MessageStored { mem, index }),
            None => other(),
        },
        "+CREG" | "+CGREG" | "+CEREG" => {
            let domain = RegDomain::from_name(name);
            // The read-command shape `<n>,<stat>,...` sometimes arrives late
            // (after a timeout): its second field is an unquoted number,
            // where the URC shape has a quoted <lac>.
            let fields = match fields.as_slice() {
                [_, second, ..] if !second.quoted && second.text.parse::<u8>().is_ok() => {
                    &fields[1..]
                }
                _ => &fields[..],
            };
            domain
                .and_then(|d| Registration::from_fields(d, fields))
                .map_or_else(other, |r| Classified::Urc(Urc::Registration(r)))
        }
        "+CPIN" => Classified::Urc(Urc::SimState(args.to_owned())),
        "^RSSI" => match args.parse() {
            Ok(rssi) => Classified::Urc(Urc::Signal { rssi }),
            Err(_) => other(),
        },
        _ if name.starts_with('^') || NAMED.contains(&name) => other(),
        _ => Classified::NotUrc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urc(line: &str) -> Classified {
        classify(line, |_| false)
    }

    #[test]
    fn stored_indications() {
        assert_eq!(
            urc(r#"+CDSI: "SR",3"#),
            Classified::Urc(Urc::StatusReportStored {
                mem: "SR".into(),
                index: 3
            })
        );
        assert_eq!(
            urc(r#"+CMTI: "SM",12"#),
            Classified::Urc(Urc::MessageStored {
                mem: "SM".into(),
                index: 12
            })
        );
    }

    #[test]
    fn headers_pdu_mode_only() {
        assert!(matches!(
            urc("+CDS: 25"),
            Classified::Header(UrcHeader { len: 25, .. })
        ));
        assert!(matches!(
            urc(r#"+CMT: "Mum",24"#),
            Classified::Header(UrcHeader {
                alpha: Some(_),
                len: 24,
                ..
            })
        ));
        assert!(matches!(
            urc("+CMT: ,24"),
            Classified::Header(UrcHeader { alpha: None, .. })
        ));
        // Text mode +CDS is a single line with many fields.
        assert_eq!(
            urc(
                r#"+CDS: 6,46,"+447700900123",145,"24/01/01,10:00:00+00","24/01/01,10:00:05+00",0"#
            ),
            Classified::Urc(Urc::Other(
                r#"+CDS: 6,46,"+447700900123",145,"24/01/01,10:00:00+00","24/01/01,10:00:05+00",0"#
                    .into()
            ))
        );
    }

    #[test]
    fn registration_shapes() {
        let Classified::Urc(Urc::Registration(r)) = urc(r#"+CREG: 1,"00C3","0000B8AF",2"#) else {
            panic!()
        };
        assert_eq!(
            (r.stat, r.area.as_deref(), r.act),
            (1, Some("00C3"), Some(2))
        );
        let Classified::Urc(Urc::Registration(r)) = urc("+CGREG: 0,5") else {
            panic!()
        };
        assert_eq!((r.domain, r.stat), (RegDomain::Ps, 5));
    }

    #[test]
    fn pending_command_owns_its_name() {
        assert_eq!(classify("+CREG: 0,1", |n| n == "+CREG"), Classified::NotUrc);
        assert_eq!(
            classify("^SYSINFO: 2,3,0,5,1", |n| n == "^SYSINFO"),
            Classified::NotUrc
        );
        assert_eq!(urc("+CSQ: 17,99"), Classified::NotUrc);
        assert_eq!(urc("^RSSI:14"), Classified::Urc(Urc::Signal { rssi: 14 }));
    }
}
