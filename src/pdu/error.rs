//! Typed errors of the PDU codec. Every parse error names the field and the
//! octet offset (counted from the first octet given to the parser, SMSC
//! prefix included when there is one).

/// Anything that can go wrong reading or building a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// The input ended inside a fixed-size field.
    #[error("truncated {field} at offset {offset}: needs {need} octets, {remain} remain")]
    Truncated {
        field: &'static str,
        offset: usize,
        need: usize,
        remain: usize,
    },
    /// TP-UDL promises more user data than the PDU holds.
    #[error(
        "truncated TP-UD at offset {offset}: header says {length} {unit}, {remain} octets remain"
    )]
    TruncatedUserData {
        offset: usize,
        length: usize,
        unit: &'static str,
        remain: usize,
    },
    /// A field holds a value the specification does not allow.
    #[error("invalid {field} at offset {offset} (0x{value:02X}): {reason}")]
    Invalid {
        field: &'static str,
        offset: usize,
        value: u8,
        reason: &'static str,
    },
    /// The message type indicator is the reserved value 11.
    #[error("reserved TP-MTI 3 in first octet 0x{value:02X} at offset {offset}")]
    ReservedMti { offset: usize, value: u8 },
    /// Hex text that is not hex digits in pairs.
    #[error(transparent)]
    Hex(#[from] super::hex::HexError),
    /// A number (or sender name) that cannot be put in an address field.
    #[error("bad number {input:?}: {reason}")]
    BadNumber { input: String, reason: &'static str },
    /// A timestamp that cannot be represented (year outside 2000..=2099, offset too large).
    #[error("timestamp out of range: {reason}")]
    TimestampRange { reason: &'static str },
    /// Nothing to send.
    #[error("empty text: nothing to send")]
    EmptyText,
    /// The text needs more parts than concatenation allows.
    #[error("text needs {parts} parts, at most 255 are possible")]
    TooManyParts { parts: usize },
    /// User data that does not fit one TPDU (140 octets).
    #[error("user data of {octets} octets exceeds the 140-octet TP-UD")]
    UserDataTooLong { octets: usize },
    /// A character the chosen alphabet cannot represent.
    #[error("character {ch:?} is not in the GSM 7-bit alphabet")]
    NotGsm7 { ch: char },
}

/// Checks that `need` octets are available at `offset` in `buf`.
#[inline]
pub(crate) fn need(
    buf: &[u8],
    offset: usize,
    need: usize,
    field: &'static str,
) -> Result<(), PduError> {
    let remain = buf.len().saturating_sub(offset);
    if remain < need {
        Err(PduError::Truncated {
            field,
            offset,
            need,
            remain,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_message_reads_as_the_design_says() {
        let e = PduError::TruncatedUserData {
            offset: 23,
            length: 41,
            unit: "septets",
            remain: 12,
        };
        assert_eq!(
            e.to_string(),
            "truncated TP-UD at offset 23: header says 41 septets, 12 octets remain"
        );
    }
}
