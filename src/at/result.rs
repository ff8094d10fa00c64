//! Final result codes: the line that ends a command's response
//! (ITU-T V.250 §5.7, 27.005 §3.2.5, 27.007 §9.2).

use std::fmt;

use super::error_codes::{CmeError, CmsError, RetryClass};

/// The final result code that ends a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalResult {
    /// `OK`.
    Ok,
    /// `ERROR` (syntax error or an error without detail).
    Error,
    /// `+CMS ERROR: <err>`.
    CmsError(CmsError),
    /// `+CME ERROR: <err>`.
    CmeError(CmeError),
    /// `NO CARRIER`.
    NoCarrier,
    /// `BUSY`.
    Busy,
    /// `NO ANSWER`.
    NoAnswer,
    /// `NO DIALTONE`.
    NoDialtone,
    /// `COMMAND NOT SUPPORT`: Huawei sticks answer unknown commands with it
    /// instead of `ERROR` (seen in public Gammu / ModemManager logs).
    CommandNotSupported,
}

impl FinalResult {
    /// Recognises a final result line (already stripped of CR/LF).
    pub fn parse(line: &str) -> Option<FinalResult> {
        Some(match line {
            "OK" => FinalResult::Ok,
            "ERROR" => FinalResult::Error,
            "NO CARRIER" => FinalResult::NoCarrier,
            "BUSY" => FinalResult::Busy,
            "NO ANSWER" => FinalResult::NoAnswer,
            "NO DIALTONE" | "NO DIAL TONE" => FinalResult::NoDialtone,
            "COMMAND NOT SUPPORT" => FinalResult::CommandNotSupported,
            _ => {
                if let Some(arg) = line.strip_prefix("+CMS ERROR:") {
                    FinalResult::CmsError(CmsError::parse(arg))
                } else if let Some(arg) = line.strip_prefix("+CME ERROR:") {
                    FinalResult::CmeError(CmeError::parse(arg))
                } else {
                    return None;
                }
            }
        })
    }

    /// True for `OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, FinalResult::Ok)
    }

    /// True for the call-related results (`NO CARRIER`, `BUSY`, `NO ANSWER`,
    /// `NO DIALTONE`), which are unsolicited when no command is pending.
    pub fn is_call_result(&self) -> bool {
        matches!(
            self,
            FinalResult::NoCarrier
                | FinalResult::Busy
                | FinalResult::NoAnswer
                | FinalResult::NoDialtone
        )
    }

    /// Retry class of a failure: from the code table for +CMS/+CME ERROR,
    /// [`RetryClass::Unknown`] for plain `ERROR` and the rest. `None` for `OK`.
    pub fn retry_class(&self) -> Option<RetryClass> {
        match self {
            FinalResult::Ok => None,
            FinalResult::CmsError(e) => Some(e.class()),
            FinalResult::CmeError(e) => Some(e.class()),
            FinalResult::CommandNotSupported => Some(RetryClass::Configuration),
            _ => Some(RetryClass::Unknown),
        }
    }
}

/// Renders the line as a modem writes it (verbose, V1), without CR/LF.
impl fmt::Display for FinalResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FinalResult::Ok => f.write_str("OK"),
            FinalResult::Error => f.write_str("ERROR"),
            FinalResult::CmsError(e) => write!(f, "+CMS ERROR: {}", e.raw),
            FinalResult::CmeError(e) => write!(f, "+CME ERROR: {}", e.raw),
            FinalResult::NoCarrier => f.write_str("NO CARRIER"),
            FinalResult::Busy => f.write_str("BUSY"),
            FinalResult::NoAnswer => f.write_str("NO ANSWER"),
            FinalResult::NoDialtone => f.write_str("NO DIALTONE"),
            FinalResult::CommandNotSupported => f.write_str("COMMAND NOT SUPPORT"),
        }
    }
}
