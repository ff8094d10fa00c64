//! The host-side digester: bytes from the modem in, [`Event`]s out.
//!
//! The session tells the digester what it sent ([`Digester::command_sent`],
//! [`Digester::body_sent`]); the digester uses that to drop echoes, to know
//! when the `> ` prompt (which has no line ending) may come, and to tell a
//! command's own information lines from unsolicited ones of the same name
//! (`+CREG: 0,1` answers `AT+CREG?`; outside it, `+CREG: 1` is a URC).
//!
//! Processing is byte by byte with state kept between calls, so feeding
//! the same bytes in any chunking gives the same events. Every buffer is
//! bounded by [`Limits`].

use thiserror::Error;

use super::result::FinalResult;
use super::urc::{classify, Classified, Urc, UrcHeader};
use crate::pdu::hex::{self, HexError};

/// Size bounds of the digester's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line kept (bytes, without CR/LF). Longer lines are dropped
    /// with [`DigestError::LineTooLong`].
    pub max_line: usize,
    /// Most information lines kept for one response.
    pub max_response_lines: usize,
    /// Most bytes of information lines kept for one response.
    pub max_response_bytes: usize,
}

impl Default for Limits {
    /// 4 KiB lines (a PDU line is at most ~380 characters), 1024 lines and
    /// 256 KiB per response (an AT+CMGL=4 of 255 stored PDUs is ~110 KiB).
    fn default() -> Self {
        Limits {
            max_line: 4096,
            max_response_lines: 1024,
            max_response_bytes: 256 * 1024,
        }
    }
}

/// The answer to one command: its information lines and final result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The command as given to [`Digester::command_sent`].
    pub command: String,
    /// Information lines in order (URCs, echoes and blank lines removed).
    pub lines: Vec<String>,
    /// The final result code.
    pub result: FinalResult,
    /// True when lines were dropped because the response exceeded the
    /// [`Limits`] (a [`DigestError::ResponseTooLarge`] was emitted).
    pub truncated: bool,
}

/// Something wrong in the byte stream. The digester has already
/// resynchronised when it reports one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    /// A line grew past `max_line` bytes without CR/LF; it is dropped up to
    /// the next line ending.
    #[error("line longer than {limit} bytes without CR/LF: dropped up to the next line end")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A response grew past its limits; further lines are dropped until
    /// the final result.
    #[error("response to {command} exceeds {max_lines} lines or {max_bytes} bytes: rest dropped")]
    ResponseTooLarge {
        /// The command.
        command: String,
        /// Line limit in force.
        max_lines: usize,
        /// Byte limit in force.
        max_bytes: usize,
    },
    /// A line holding control characters or invalid UTF-8 (line noise,
    /// binary garbage); it is dropped.
    #[error("garbage line of {len} bytes dropped: {preview}")]
    Garbage {
        /// Length of the line.
        len: usize,
        /// The first bytes, escaped.
        preview: String,
    },
    /// The PDU line of a two-line URC is not valid hex; the URC is lost.
    #[error("bad PDU line after {urc}: {source}")]
    BadPdu {
        /// `+CDS`, `+CMT` or `+CBM`.
        urc: &'static str,
        /// What is wrong with the hex.
        source: HexError,
    },
    /// A two-line URC header was followed by a line that is not hex at all;
    /// the URC is lost and that line is handled normally.
    #[error("{urc} header not followed by a PDU line")]
    MissingPdu {
        /// `+CDS`, `+CMT` or `+CBM`.
        urc: &'static str,
    },
    /// A final result arrived while no command was pending (late answer to
    /// a command the session gave up on, or noise).
    #[error("final result {0} with no command pending")]
    UnexpectedResult(FinalResult),
}

/// What the digester found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The pending command finished.
    Response(Response),
    /// The `> ` prompt of AT+CMGS / AT+CMGW / AT+CMGC: send the body now.
    Prompt,
    /// An unsolicited result code.
    Urc(Urc),
    /// A problem in the stream (already resynchronised).
    Error(DigestError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PromptState {
    NotExpected,
    Expected,
    Given,
}

#[derive(Debug)]
struct Pending {
    command: String,
    echo_expected: bool,
    /// Names (`+CREG`, `^SYSINFO`) of the read / test / execute parts.
    names: Vec<String>,
    prompt: PromptState,
    /// Body sent after the prompt, whose echo may come back.
    body: Option<String>,
    lines: Vec<String>,
    bytes: usize,
    truncated: bool,
}

/// Commands answered with a `> ` prompt when given arguments.
const PROMPT_COMMANDS: &[&str] = &["+CMGS", "+CMGW", "+CMGC"];

/// Splits a command line (`AT+CREG?;+CSQ`) into its extended commands and
/// returns the names of the read/test/execute forms and whether a prompt
/// is expected.
fn analyse(command: &str) -> (Vec<String>, bool) {
    let body = match command.get(..2) {
        Some(at) if at.eq_ignore_ascii_case("AT") => &command[2..],
        _ => command,
    };
    let mut names = Vec::new();
    let mut prompt = false;
    let mut in_quotes = false;
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in body.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    for part in parts {
        let part = part.trim();
        let Some(first) = part.chars().next() else {
            continue;
        };
        if !matches!(first, '+' | '^' | '$' | '%') {
            continue;
        }
        let end = part[1..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(part.len(), |i| i + 1);
        let name = part[..end].to_ascii_uppercase();
        let rest = &part[end..];
        if rest.is_empty() || rest == "?" || rest == "=?" {
            names.push(name);
        } else if rest.starts_with('=') && PROMPT_COMMANDS.contains(&name.as_str()) {
            prompt = true;
        }
    }
    (names, prompt)
}

/// The host-side AT digester (sans-IO).
#[derive(Debug)]
pub struct Digester {
    limits: Limits,
    line: Vec<u8>,
    discarding: bool,
    skip_prompt_space: bool,
    pending: Option<Pending>,
    header: Option<UrcHeader>,
}

impl Default for Digester {
    fn default() -> Self {
        Digester::new()
    }
}

impl Digester {
    /// A digester with the default [`Limits`].
    pub fn new() -> Self {
        Digester::with_limits(Limits::default())
    }

    /// A digester with the given limits (each at least 1).
    pub fn with_limits(limits: Limits) -> Self {
        let limits = Limits {
            max_line: limits.max_line.max(1),
            max_response_lines: limits.max_response_lines.max(1),
            max_response_bytes: limits.max_response_bytes.max(1),
        };
        Digester {
            limits,
            line: Vec::with_capacity(256),
            discarding: false,
            skip_prompt_space: false,
            pending: None,
            header: None,
        }
    }

    /// Tells the digester the session wrote this command line (without the
    /// trailing CR). It becomes the pending command, replacing any other
    /// (whose response is then lost).
    pub fn command_sent(&mut self, command: &str) {
        let command = command.trim_end_matches(['\r', '\n']).trim();
        let (names, prompt) = analyse(command);
        self.pending = Some(Pending {
            command: command.to_owned(),
            echo_expected: true,
            names,
            prompt: if prompt {
                PromptState::Expected
            } else {
                PromptState::NotExpected
            },
            body: None,
            lines: Vec::new(),
            bytes: 0,
            truncated: false,
        });
    }

    /// Tells the digester the session wrote the PDU body (hex, without the
    /// Ctrl-Z) after the prompt, so that its echo is dropped.
    pub fn body_sent(&mut self, hex: &str) {
        if let Some(p) = &mut self.pending {
            p.body = Some(hex.trim().to_owned());
        }
    }

    /// Forgets the pending command (the session timed out); returns it. A
    /// late final result will then be reported as
    /// [`DigestError::UnexpectedResult`].
    pub fn cancel(&mut self) -> Option<String> {
        self.pending.take().map(|p| p.command)
    }

    /// The pending command, if any.
    pub fn pending_command(&self) -> Option<&str> {
        self.pending.as_ref().map(|p| p.command.as_str())
    }

    /// Bytes currently held: the partial line plus the kept lines of the
    /// pending response. Never exceeds `max_line + max_response_bytes`.
    pub fn buffered(&self) -> usize {
        self.line.len() + self.pending.as_ref().map_or(0, |p| p.bytes)
    }

    /// Feeds bytes from the modem; events found are appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if self.skip_prompt_space {
                self.skip_prompt_space = false;
                if b == b' ' {
                    i += 1;
                    continue;
                }
            }
            if b == b'\r' || b == b'\n' {
                self.end_line(out);
                i += 1;
                continue;
            }
            if b == b'>' && self.line.is_empty() && !self.discarding && self.prompt_expected() {
                if let Some(p) = &mut self.pending {
                    p.prompt = PromptState::Given;
                }
                self.skip_prompt_space = true;
                out.push(Event::Prompt);
                i += 1;
                continue;
            }
            let rest = &bytes[i..];
            let run = rest
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .unwrap_or(rest.len());
            self.append(&rest[..run], out);
            i += run;
        }
    }

    fn prompt_expected(&self) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.prompt == PromptState::Expected)
    }

    fn append(&mut self, run: &[u8], out: &mut Vec<Event>) {
        if self.discarding {
            return;
        }
        if self.line.len() + run.len() > self.limits.max_line {
            self.line.clear();
            self.discarding = true;
            out.push(Event::Error(DigestError::LineTooLong {
                limit: self.limits.max_line,
            }));
            return;
        }
        self.line.extend_from_slice(run);
    }

    fn end_line(&mut self, out: &mut Vec<Event>) {
        if self.discarding {
            self.discarding = false;
            self.line.clear();
            return;
        }
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.process_line(&line, out);
        self.line = line;
        self.line.clear();
    }

    fn process_line(&mut self, raw: &[u8], out: &mut Vec<Event>) {
        if self.is_body_echo(raw) {
            return;
        }
        let text = match std::str::from_utf8(raw) {
            Ok(text) if !raw.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) => text,
            _ => {
                let preview = raw.iter().take(32).flat_map(|b| b.escape_ascii());
                out.push(Event::Error(DigestError::Garbage {
                    len: raw.len(),
                    preview: preview.map(char::from).collect(),
                }));
                return;
            }
        };
        let text = text.trim_matches([' ', '\t']);
        if text.is_empty() {
            return;
        }
        if let Some(header) = self.header.take() {
            let urc = header.kind.name();
            if hex::is_hex(text.as_bytes()) {
                out.push(match hex::decode(text.as_bytes()) {
                    Ok(pdu) => Event::Urc(header.complete(pdu)),
                    Err(source) => Event::Error(DigestError::BadPdu { urc, source }),
                });
                return;
            }
            out.push(Event::Error(DigestError::MissingPdu { urc }));
        }
        if let Some(p) = &mut self.pending {
            if p.echo_expected && text.eq_ignore_ascii_case(&p.command) {
                p.echo_expected = false;
                return;
            }
        }
        if let Some(result) = FinalResult::parse(text) {
            match self.pending.take() {
                Some(p) => out.push(Event::Response(Response {
                    command: p.command,
                    lines: p.lines,
                    result,
                    truncated: p.truncated,
                })),
                None if result.is_call_result() => out.push(Event::Urc(Urc::Other(text.into()))),
                None => out.push(Event::Error(DigestError::UnexpectedResult(result))),
            }
            return;
        }
        let pending = &self.pending;
        let answers_pending = |name: &str| {
            pending
                .as_ref()
                .is_some_and(|p| p.names.iter().any(|n| n == name))
        };
        match classify(text, answers_pending) {
            Classified::Urc(urc) => out.push(Event::Urc(urc)),
            Classified::Header(header) => self.header = Some(header),
            Classified::NotUrc => match &mut self.pending {
                Some(_) => self.push_line(text, out),
                None => out.push(Event::Urc(Urc::Other(text.to_owned()))),
            },
        }
    }

    fn is_body_echo(&mut self, raw: &[u8]) -> bool {
        let Some(p) = &mut self.pending else {
            return false;
        };
        let Some(body) = &p.body else {
            return false;
        };
        let mut end = raw.len();
        while end > 0 && matches!(raw[end - 1], 0x1a | 0x1b | b' ') {
            end -= 1;
        }
        if raw[..end].eq_ignore_ascii_case(body.as_bytes()) {
            p.body = None;
            return true;
        }
        false
    }

    fn push_line(&mut self, text: &str, out: &mut Vec<Event>) {
        let limits = self.limits;
        let Some(p) = &mut self.pending else {
            return;
        };
        if p.truncated {
            return;
        }
        if p.lines.len() >= limits.max_response_lines
            || p.bytes + text.len() > limits.max_response_bytes
        {
            p.truncated = true;
            out.push(Event::Error(DigestError::ResponseTooLarge {
                command: p.command.clone(),
                max_lines: limits.max_response_lines,
                max_bytes: limits.max_response_bytes,
            }));
            return;
        }
        p.bytes += text.len();
        p.lines.push(text.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyse_forms() {
        assert_eq!(analyse("AT+CREG?"), (vec!["+CREG".to_owned()], false));
        assert_eq!(analyse("AT+CMGS=25"), (vec![], true));
        assert_eq!(analyse("AT+CMGS=?"), (vec!["+CMGS".to_owned()], false));
        assert_eq!(
            analyse("at+creg?;+cgreg?;E0"),
            (vec!["+CREG".to_owned(), "+CGREG".to_owned()], false)
        );
        assert_eq!(analyse(r#"AT+CUSD=1,"*100#;",15"#), (vec![], false));
        assert_eq!(analyse("AT^SYSINFO"), (vec!["^SYSINFO".to_owned()], false));
    }
}
