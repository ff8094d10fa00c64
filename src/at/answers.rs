//! Typed parsing of the answers the modem session needs, from a
//! [`Response`](super::Response)'s information lines. Pure functions; each
//! error names the answer and the field or line at fault.

use std::str::FromStr;

use thiserror::Error;

use super::fields::{name_and_args, split, Field};
use super::urc::{RegDomain, Registration};
use crate::pdu::hex;

/// An answer that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{answer}: {problem}")]
pub struct AnswerError {
    /// The answer being parsed (`+CMGS`, `+CMGL`...).
    pub answer: &'static str,
    /// What is wrong, naming the field or line.
    pub problem: String,
}

fn error(answer: &'static str, problem: impl Into<String>) -> AnswerError {
    AnswerError {
        answer,
        problem: problem.into(),
    }
}

/// The arguments of the first line named `answer`, split into fields.
fn fields_of<'a, S: AsRef<str>>(
    lines: &'a [S],
    answer: &'static str,
) -> Result<Vec<Field<'a>>, AnswerError> {
    let args = lines
        .iter()
        .find_map(|l| match name_and_args(l.as_ref()) {
            Some((name, args)) if name == answer => Some(args),
            _ => None,
        })
        .ok_or_else(|| error(answer, format!("no {answer} line in the response")))?;
    split_args(answer, args)
}

fn split_args<'a>(answer: &'static str, args: &'a str) -> Result<Vec<Field<'a>>, AnswerError> {
    split(args).map_err(|offset| error(answer, format!("unterminated quote at offset {offset}")))
}

fn number<T: FromStr>(
    answer: &'static str,
    field: &'static str,
    fields: &[Field<'_>],
    i: usize,
) -> Result<T, AnswerError> {
    let f = fields
        .get(i)
        .ok_or_else(|| error(answer, format!("missing <{field}> (parameter {})", i + 1)))?;
    f.text.parse().map_err(|_| {
        error(
            answer,
            format!("<{field}> is not a valid number: {:?}", f.text),
        )
    })
}

fn optional_number<T: FromStr>(
    answer: &'static str,
    field: &'static str,
    fields: &[Field<'_>],
    i: usize,
) -> Result<Option<T>, AnswerError> {
    match fields.get(i).and_then(|f| f.non_empty()) {
        None => Ok(None),
        Some(_) => number(answer, field, fields, i).map(Some),
    }
}

/// `+CMGS: <mr>[,<scts>]`: the TP-MR the modem assigned to the message.
pub fn cmgs<S: AsRef<str>>(lines: &[S]) -> Result<u8, AnswerError> {
    number("+CMGS", "mr", &fields_of(lines, "+CMGS")?, 0)
}

/// A message read from storage in PDU mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPdu {
    /// `<index>` (from +CMGL; `None` for +CMGR, whose index the caller knows).
    pub index: Option<u32>,
    /// `<stat>`: 0 received unread, 1 received read, 2 stored unsent,
    /// 3 stored sent.
    pub stat: u8,
    /// `<alpha>`, when the modem adds a phone-book name.
    pub alpha: Option<String>,
    /// `<length>`: TPDU length in octets as announced (SMSC excluded). Not
    /// checked against the PDU: real modems get it wrong at times.
    pub length: usize,
    /// The PDU line decoded (SMSC address first).
    pub pdu: Vec<u8>,
}

fn pdu_line(answer: &'static str, line: Option<&str>, at: usize) -> Result<Vec<u8>, AnswerError> {
    let line = line
        .map(str::trim)
        .ok_or_else(|| error(answer, format!("no PDU line after the header (line {at})")))?;
    hex::decode(line).map_err(|e| error(answer, format!("bad PDU line (line {at}): {e}")))
}

/// `+CMGR: <stat>,[<alpha>],<length>` followed by the PDU line.
pub fn cmgr<S: AsRef<str>>(lines: &[S]) -> Result<StoredPdu, AnswerError> {
    const A: &str = "+CMGR";
    let at = lines
        .iter()
        .position(|l| name_and_args(l.as_ref()).is_some_and(|(n, _)| n == A))
        .ok_or_else(|| error(A, "no +CMGR line in the response (empty slot?)"))?;
    let fields = fields_of(&lines[at..=at], A)?;
    if fields.len() < 3 {
        return Err(error(
            A,
            format!(
                "expected <stat>,[<alpha>],<length>, got {} parameters",
                fields.len()
            ),
        ));
    }
    Ok(StoredPdu {
        index: None,
        stat: number(A, "stat", &fields, 0)?,
        alpha: fields[1].non_empty().map(str::to_owned),
        length: number(A, "length", &fields, 2)?,
        pdu: pdu_line(A, lines.get(at + 1).map(AsRef::as_ref), at + 2)?,
    })
}

/// `+CMGL: <index>,<stat>,[<alpha>],<length>` + PDU line, repeated. An
/// empty response (nothing stored) gives an empty list.
pub fn cmgl<S: AsRef<str>>(lines: &[S]) -> Result<Vec<StoredPdu>, AnswerError> {
    const A: &str = "+CMGL";
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].as_ref();
        let args = match name_and_args(line) {
            Some((name, args)) if name == A => args,
            _ => {
                return Err(error(
                    A,
                    format!("line {} is not a +CMGL header: {line:?}", i + 1),
                ))
            }
        };
        let fields = split_args(A, args)?;
        if fields.len() < 4 {
            return Err(error(
                A,
                format!("line {}: expected <index>,<stat>,[<alpha>],<length>", i + 1),
            ));
        }
        out.push(StoredPdu {
            index: Some(number(A, "index", &fields, 0)?),
            stat: number(A, "stat", &fields, 1)?,
            alpha: fields[2].non_empty().map(str::to_owned),
            length: number(A, "length", &fields, 3)?,
            pdu: pdu_line(A, lines.get(i + 1).map(AsRef::as_ref), i + 2)?,
        });
        i += 2;
    }
    Ok(out)
}

/// The service centre address from `+CSCA: <sca>[,<tosca>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smsc {
    /// The number as the modem wrote it (`+447802000332`).
    pub number: String,
    /// Type of address (145 international, 129 unknown/national), if given.
    pub toa: Option<u8>,
}

/// `+CSCA: "<sca>",<tosca>`. An empty number is an error: it is the case
/// that later gives +CMS ERROR: 330.
pub fn csca<S: AsRef<str>>(lines: &[S]) -> Result<Smsc, AnswerError> {
    const A: &str = "+CSCA";
    let fields = fields_of(lines, A)?;
    let number = fields.first().map(|f| f.text).unwrap_or_default();
    if number.is_empty() {
        return Err(error(A, "<sca> is empty: no SMSC configured"));
    }
    Ok(Smsc {
        number: number.to_owned(),
        toa: optional_number(A, "tosca", &fields, 1)?,
    })
}

/// SIM state from `+CPIN: <code>` (27.007 §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinState {
    /// `READY`: nothing to enter.
    Ready,
    /// `SIM PIN`.
    SimPin,
    /// `SIM PUK`.
    SimPuk,
    /// `SIM PIN2`.
    SimPin2,
    /// `SIM PUK2`.
    SimPuk2,
    /// `PH-SIM PIN` (phone-to-SIM lock).
    PhSimPin,
    /// Any other code (`PH-NET PIN`...), verbatim.
    Other(String),
}

impl PinState {
    /// Reads a `<code>`.
    pub fn parse(code: &str) -> PinState {
        match code.trim().trim_matches('"') {
            "READY" => PinState::Ready,
            "SIM PIN" => PinState::SimPin,
            "SIM PUK" => PinState::SimPuk,
            "SIM PIN2" => PinState::SimPin2,
            "SIM PUK2" => PinState::SimPuk2,
            "PH-SIM PIN" => PinState::PhSimPin,
            other => PinState::Other(other.to_owned()),
        }
    }
}

/// `+CPIN: <code>`.
pub fn cpin<S: AsRef<str>>(lines: &[S]) -> Result<PinState, AnswerError> {
    let fields = fields_of(lines, "+CPIN")?;
    match fields.first().map(|f| f.text) {
        Some(code) if !code.is_empty() => Ok(PinState::parse(code)),
        _ => Err(error("+CPIN", "missing <code>")),
    }
}

/// The PIN attempts left, from whichever of the three answers modems give:
/// 27.007 `+CPINR: SIM PIN,<left>,<max>`, Huawei `^CPIN: <code>,<times>,
/// <puk_times>,<pin_times>,...` and Quectel `+QPINC: "SC",<pin>,<puk>`.
/// `None` when no line says it.
pub fn pin_attempts<S: AsRef<str>>(lines: &[S]) -> Option<u8> {
    for line in lines {
        let line = line.as_ref().trim();
        let Some((head, rest)) = line.split_once(':') else {
            continue;
        };
        let fields: Vec<&str> = rest
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        let at = |i: usize| fields.get(i).and_then(|f| f.parse::<u8>().ok());
        match head.trim() {
            "+CPINR" if fields.first() == Some(&"SIM PIN") => return at(1),
            "^CPIN" => return at(3),
            "+QPINC" if fields.first() == Some(&"SC") => return at(1),
            _ => {}
        }
    }
    None
}

/// The answer to `AT+CREG?` / `AT+CGREG?` / `AT+CEREG?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// `<n>`: the URC mode in force.
    pub mode: u8,
    /// The state.
    pub registration: Registration,
}

/// `+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]` (and the +CGREG / +CEREG forms).
pub fn registration<S: AsRef<str>>(
    lines: &[S],
    domain: RegDomain,
) -> Result<RegistrationStatus, AnswerError> {
    let answer = domain.name();
    let fields = fields_of(lines, answer)?;
    let mode = number(answer, "n", &fields, 0)?;
    number::<u8>(answer, "stat", &fields, 1)?;
    let registration = Registration::from_fields(domain, &fields[1..])
        .ok_or_else(|| error(answer, "bad <stat>"))?;
    Ok(RegistrationStatus { mode, registration })
}

/// `+CSQ: <rssi>,<ber>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalQuality {
    /// 0..=31 (−113 dBm to −51 dBm in 2 dB steps), 99 unknown.
    pub rssi: u8,
    /// Bit error rate class 0..=7, 99 unknown.
    pub ber: u8,
}

impl SignalQuality {
    /// Received signal strength in dBm, when known (27.007 §8.5).
    pub fn dbm(&self) -> Option<i16> {
        (self.rssi <= 31).then(|| -113 + 2 * i16::from(self.rssi))
    }
}

/// `+CSQ: <rssi>,<ber>`.
pub fn csq<S: AsRef<str>>(lines: &[S]) -> Result<SignalQuality, AnswerError> {
    const A: &str = "+CSQ";
    let fields = fields_of(lines, A)?;
    Ok(SignalQuality {
        rssi: number(A, "rssi", &fields, 0)?,
        ber: number(A, "ber", &fields, 1)?,
    })
}

/// One message storage's usage from +CPMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// Its name (`SM`, `ME`, `SR`...): given by the read form, absent in
    /// the set form's answer.
    pub mem: Option<String>,
    /// Messages stored.
    pub used: u32,
    /// Capacity.
    pub total: u32,
}

/// `+CPMS: "<mem1>",<used1>,<total1>,...` (answer to `AT+CPMS?`) or
/// `+CPMS: <used1>,<total1>,...` (answer to `AT+CPMS=...`).
pub fn cpms<S: AsRef<str>>(lines: &[S]) -> Result<Vec<Storage>, AnswerError> {
    const A: &str = "+CPMS";
    let fields = fields_of(lines, A)?;
    let named = fields.first().is_some_and(|f| f.quoted);
    let width = if named { 3 } else { 2 };
    if fields.is_empty() || fields.len() % width != 0 {
        return Err(error(
            A,
            format!("{} parameters do not form whole storages", fields.len()),
        ));
    }
    fields
        .chunks(width)
        .map(|c| {
            let (mem, rest) = if named {
                (Some(c[0].text.to_owned()), &c[1..])
            } else {
                (None, c)
            };
            Ok(Storage {
                mem,
                used: number(A, "used", rest, 0)?,
                total: number(A, "total", rest, 1)?,
            })
        })
        .collect()
}

/// The answer to `AT+COPS?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// `<mode>`: 0 automatic, 1 manual, 2 deregistered, 4 manual/automatic.
    pub mode: u8,
    /// `<format>`: 0 long alphanumeric, 1 short, 2 numeric (MCC MNC).
    pub format: Option<u8>,
    /// `<oper>` in that format.
    pub name: Option<String>,
    /// `<AcT>`: 0 GSM, 2 UTRAN, 7 E-UTRAN...
    pub act: Option<u8>,
}

/// `+COPS: <mode>[,<format>,<oper>[,<AcT>]]`.
pub fn cops<S: AsRef<str>>(lines: &[S]) -> Result<Operator, AnswerError> {
    const A: &str = "+COPS";
    let fields = fields_of(lines, A)?;
    Ok(Operator {
        mode: number(A, "mode", &fields, 0)?,
        format: optional_number(A, "format", &fields, 1)?,
        name: fields.get(2).and_then(|f| f.non_empty()).map(str::to_owned),
        act: optional_number(A, "AcT", &fields, 3)?,
    })
}
