//! Loader for the `.at` transcripts in this directory (shared by the AT
//! tests and the benchmark through `#[path]`).
//!
//! Format, one item per line:
//! - `# ...` comment, blank lines ignored;
//! - `AT> <command>`: the host sends a command line (session calls
//!   `Digester::command_sent`);
//! - `BODY> <hex>`: the host sends a PDU body after the prompt (+ Ctrl-Z);
//! - `<< <bytes>`: bytes from the modem, with escapes `\r`, `\n`, `\\` and
//!   `\xHH`; nothing is added at the end of the line.

/// One step of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The host wrote this command line.
    Command(String),
    /// The host wrote this PDU body after the prompt.
    Body(String),
    /// The modem wrote these bytes (consecutive `<<` lines joined).
    Recv(Vec<u8>),
}

fn unescape(text: &str, line_no: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = text.get(i + 2..i + 4).expect("\\x needs two digits");
                out.push(u8::from_str_radix(hex, 16).expect("bad \\x escape"));
                i += 2;
            }
            other => panic!("line {line_no}: unknown escape {other:?}"),
        }
        i += 2;
    }
    out
}

/// Parses a transcript.
pub fn parse(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("AT> ") {
            steps.push(Step::Command(cmd.to_owned()));
        } else if let Some(body) = line.strip_prefix("BODY> ") {
            steps.push(Step::Body(body.to_owned()));
        } else if let Some(bytes) = line.strip_prefix("<< ") {
            let bytes = unescape(bytes, n + 1);
            match steps.last_mut() {
                Some(Step::Recv(prev)) => prev.extend_from_slice(&bytes),
                _ => steps.push(Step::Recv(bytes)),
            }
        } else {
            panic!("line {}: cannot read {line:?}", n + 1);
        }
    }
    steps
}
