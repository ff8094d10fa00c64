//! The modem-side command reader (for the simulated modem): bytes from the
//! host in, command lines and PDU bodies out. Sans-IO and bounded.
//!
//! Commands end with CR (S3); LF and CRLF endings are tolerated, empty
//! lines ignored. The `AT` prefix is case-insensitive. `A/` at the start of
//! a line repeats the previous command at once (V.250 §5.2.4, no CR).
//! Backspace (S5) removes the previous character. After the simulator has
//! written the `> ` prompt it calls [`CommandReader::expect_body`]; the body
//! then runs to Ctrl-Z (0x1A, send) or ESC (0x1B, abort).

use thiserror::Error;

/// Something the host sent that the modem cannot take.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReaderError {
    /// A command line longer than the limit; dropped up to its end.
    #[error("command line longer than {limit} bytes: dropped")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A line that does not start with `AT` (a real modem ignores it or
    /// answers ERROR).
    #[error("line does not start with AT: {line:?}")]
    NotAt {
        /// The line (lossy UTF-8).
        line: String,
    },
    /// A PDU body longer than the limit; reported when its Ctrl-Z arrives.
    #[error("PDU body longer than {limit} bytes")]
    BodyTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// `A/` before any command.
    #[error("A/ with no previous command")]
    NothingToRepeat,
}

/// What the host sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModemInput {
    /// A command line: the text after the `AT` prefix, trimmed (`""` for a
    /// bare `AT`, `"+CMGS=25"`, `"E0"`). `A/` yields the previous one again.
    Command(String),
    /// The PDU body sent after the prompt, without the Ctrl-Z (CR/LF removed).
    Body(Vec<u8>),
    /// The host aborted the body with ESC.
    BodyAborted,
    /// Bad input (already skipped).
    Error(ReaderError),
}

/// Default longest command line (bytes).
pub const DEFAULT_MAX_LINE: usize = 2048;
/// Default longest PDU body: 2 hex characters per octet of the largest PDU
/// (12 octets of SMSC address + 164 octets of SMS-SUBMIT), with room to spare.
pub const DEFAULT_MAX_BODY: usize = 1024;

/// The modem-side reader (sans-IO).
#[derive(Debug)]
pub struct CommandReader {
    max_line: usize,
    max_body: usize,
    line: Vec<u8>,
    line_overflow: bool,
    /// `Some` while a body is expected.
    body: Option<Vec<u8>>,
    body_overflow: bool,
    last: Option<String>,
}

impl Default for CommandReader {
    fn default() -> Self {
        CommandReader::new()
    }
}

impl CommandReader {
    /// A reader with the default limits.
    pub fn new() -> Self {
        CommandReader::with_limits(DEFAULT_MAX_LINE, DEFAULT_MAX_BODY)
    }

    /// A reader with the given limits (bytes).
    pub fn with_limits(max_line: usize, max_body: usize) -> Self {
        CommandReader {
            max_line: max_line.max(2),
            max_body: max_body.max(1),
            line: Vec::new(),
            line_overflow: false,
            body: None,
            body_overflow: false,
            last: None,
        }
    }

    /// The simulator wrote the `> ` prompt: what follows is a PDU body.
    pub fn expect_body(&mut self) {
        self.line.clear();
        self.line_overflow = false;
        self.body = Some(Vec::new());
        self.body_overflow = false;
    }

    /// True when nothing is half read: no partial command line, no body.
    pub fn is_idle(&self) -> bool {
        self.line.is_empty() && !self.line_overflow && self.body.is_none()
    }

    /// True while a body is being read.
    pub fn in_body(&self) -> bool {
        self.body.is_some()
    }

    /// Feeds bytes from the host; what they complete is appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<ModemInput>) {
        for &b in bytes {
            if self.body.is_some() {
                self.body_byte(b, out);
            } else {
                self.command_byte(b, out);
            }
        }
    }

    fn body_byte(&mut self, b: u8, out: &mut Vec<ModemInput>) {
        match b {
            0x1a => {
                let body = self.body.take().unwrap_or_default();
                out.push(if self.body_overflow {
                    ModemInput::Error(ReaderError::BodyTooLong {
                        limit: self.max_body,
                    })
                } else {
                    ModemInput::Body(body)
                });
            }
            0x1b => {
                self.body = None;
                out.push(ModemInput::BodyAborted);
            }
            b'\r' | b'\n' => {}
            _ => {
                if let Some(body) = &mut self.body {
                    if body.len() < self.max_body {
                        body.push(b);
                    } else {
                        self.body_overflow = true;
                    }
                }
            }
        }
    }

    fn command_byte(&mut self, b: u8, out: &mut Vec<ModemInput>) {
        match b {
            b'\r' | b'\n' => self.end_line(out),
            0x08 => {
                self.line.pop();
            }
            b'/' if self.line.eq_ignore_ascii_case(b"A") && !self.line_overflow => {
                self.line.clear();
                out.push(match &self.last {
                    Some(last) => ModemInput::Command(last.clone()),
                    None => ModemInput::Error(ReaderError::NothingToRepeat),
                });
            }
            _ if self.line_overflow => {}
            _ if self.line.len() >= self.max_line => {
                self.line.clear();
                self.line_overflow = true;
                out.push(ModemInput::Error(ReaderError::LineTooLong {
                    limit: self.max_line,
                }));
            }
            _ => self.line.push(b),
        }
    }

    fn end_line(&mut self, out: &mut Vec<ModemInput>) {
        if std::mem::take(&mut self.line_overflow) {
            self.line.clear();
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim();
        if text.is_empty() {
            self.line.clear();
            return;
        }
        let input = match text.get(..2) {
            Some(at) if at.eq_ignore_ascii_case("AT") => {
                let command = text[2..].trim().to_owned();
                self.last = Some(command.clone());
                ModemInput::Command(command)
            }
            _ => ModemInput::Error(ReaderError::NotAt {
                line: text.to_owned(),
            }),
        };
        self.line.clear();
        out.push(input);
    }
}
