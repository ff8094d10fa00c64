//! Why a PDU was refused: the command, the field, the offset, and the
//! command_status to answer with.

use std::fmt;

use super::status;

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The PDU ends inside this field.
    Truncated,
    /// A C-octet string has no NUL within its maximum size (NUL included).
    NoNul { max: usize },
    /// A C-octet string holds a non-ASCII octet.
    NotAscii,
    /// A time field is neither empty nor 16 characters.
    TimeLength(usize),
    /// Octets left after the last field and TLV.
    Trailing(usize),
    /// A TLV's length runs past the end of the PDU.
    TlvOverrun { tag: u16, len: usize },
    /// A known TLV with a length its definition does not allow.
    TlvLength { tag: u16, len: usize },
    /// A value outside what the field allows.
    Invalid(String),
}

/// A PDU that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PduError {
    /// The command being read (`submit_sm`, ...).
    pub command: &'static str,
    /// The field (`destination_addr`, `TLV`, `command_length`...).
    pub field: &'static str,
    /// Offset of the field in the PDU (header included).
    pub offset: usize,
    pub problem: Problem,
}

impl PduError {
    pub(crate) fn new(field: &'static str, offset: usize, problem: Problem) -> PduError {
        PduError {
            command: "",
            field,
            offset,
            problem,
        }
    }

    /// The command_status this error is answered with.
    pub fn status(&self) -> u32 {
        match (&self.problem, self.field) {
            (Problem::Truncated | Problem::Trailing(_), _) => status::ESME_RINVCMDLEN,
            (Problem::TlvOverrun { .. }, _) => status::ESME_RINVOPTPARSTREAM,
            (Problem::TlvLength { .. }, _) => status::ESME_RINVPARLEN,
            (_, "source_addr") => status::ESME_RINVSRCADR,
            (_, "destination_addr") => status::ESME_RINVDSTADR,
            (_, "system_id") => status::ESME_RINVSYSID,
            (_, "password") => status::ESME_RINVPASWD,
            (_, "system_type") => status::ESME_RINVSYSTYP,
            (_, "service_type") => status::ESME_RINVSERTYP,
            (_, "schedule_delivery_time") => status::ESME_RINVSCHED,
            (_, "validity_period") => status::ESME_RINVEXPIRY,
            (_, "message_id") => status::ESME_RINVMSGID,
            (_, "short_message" | "sm_length") => status::ESME_RINVMSGLEN,
            (_, "esm_class") => status::ESME_RINVESMCLASS,
            (_, "address_range") => status::ESME_RINVPARLEN,
            _ => status::ESME_RINVCMDLEN,
        }
    }

    /// True when the PDU's structure is broken (answered with generic_nack)
    /// rather than one field's value (answered with the command's _resp).
    pub fn is_structural(&self) -> bool {
        matches!(
            self.problem,
            Problem::Truncated | Problem::Trailing(_) | Problem::TlvOverrun { .. }
        )
    }
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.command.is_empty() {
            write!(f, "{}: ", self.command)?;
        }
        write!(f, "{} at offset {}: ", self.field, self.offset)?;
        match &self.problem {
            Problem::Truncated => f.write_str("the PDU ends inside this field"),
            Problem::NoNul { max } => {
                write!(f, "no NUL terminator within {max} octets (SMPP 3.4 limit)")
            }
            Problem::NotAscii => f.write_str("a C-octet string with a non-ASCII octet"),
            Problem::TimeLength(n) => write!(
                f,
                "a time must be empty or 16 characters (YYMMDDhhmmsstnnp), not {n}"
            ),
            Problem::Trailing(n) => write!(f, "{n} octets after the last parameter"),
            Problem::TlvOverrun { tag, len } => write!(
                f,
                "TLV 0x{tag:04X} claims {len} octets, past the end of the PDU"
            ),
            Problem::TlvLength { tag, len } => {
                write!(f, "TLV 0x{tag:04X} cannot be {len} octets long")
            }
            Problem::Invalid(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for PduError {}
