//! TP-Status (TP-ST), 3GPP TS 23.040 §9.2.3.15.
//!
//! The byte is always kept exactly as received; [`TpStatus::group`] and
//! [`TpStatus::description`] classify every value 0x00..=0xFF. Reserved values
//! are interpreted as 0x63 "service rejected" (temporary error, SC stopped
//! trying), as the specification asks of an SME, while the raw byte is kept.

use std::fmt;

/// The four groups of TP-ST values defined by 23.040.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusGroup {
    /// Short message transaction completed (0x00..0x1F).
    Completed,
    /// Temporary error, SC still trying to transfer the SM (0x20..0x3F).
    TemporaryRetrying,
    /// Permanent error, SC is not making any more transfer attempts (0x40..0x5F).
    Permanent,
    /// Temporary error, SC is not making any more transfer attempts (0x60..0x7F).
    TemporaryStopped,
}

impl StatusGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusGroup::Completed => "completed",
            StatusGroup::TemporaryRetrying => "temporary, SC still trying",
            StatusGroup::Permanent => "permanent error",
            StatusGroup::TemporaryStopped => "temporary error, SC stopped trying",
        }
    }
}

/// How a TP-ST value is defined by the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// A value 23.040 defines.
    Defined,
    /// A value the specification leaves to each service centre (0x10..0x1F,
    /// 0x30..0x3F, 0x50..0x5F, 0x70..0x7F): the group still applies.
    ScSpecific,
    /// A reserved value: interpreted as 0x63 "service rejected".
    Reserved,
}

/// The TP-ST byte of an SMS-STATUS-REPORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TpStatus(pub u8);

/// The value reserved TP-ST bytes are interpreted as (23.040 §9.2.3.15).
pub const SERVICE_REJECTED_STOPPED: u8 = 0x63;

impl TpStatus {
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// Whether 23.040 defines, reserves or leaves this value to the SC.
    pub const fn kind(self) -> StatusKind {
        match self.0 {
            0x00..=0x02 | 0x20..=0x25 | 0x40..=0x49 | 0x60..=0x65 => StatusKind::Defined,
            0x10..=0x1F | 0x30..=0x3F | 0x50..=0x5F | 0x70..=0x7F => StatusKind::ScSpecific,
            _ => StatusKind::Reserved,
        }
    }

    /// The value this byte is to be interpreted as: itself, or 0x63 when reserved.
    pub const fn effective(self) -> u8 {
        match self.kind() {
            StatusKind::Reserved => SERVICE_REJECTED_STOPPED,
            _ => self.0,
        }
    }

    /// The group of the effective value.
    pub const fn group(self) -> StatusGroup {
        match self.effective() {
            0x00..=0x1F => StatusGroup::Completed,
            0x20..=0x3F => StatusGroup::TemporaryRetrying,
            0x40..=0x5F => StatusGroup::Permanent,
            _ => StatusGroup::TemporaryStopped,
        }
    }

    /// True when the SC will send no further report for this message.
    pub const fn is_final(self) -> bool {
        !matches!(self.group(), StatusGroup::TemporaryRetrying)
    }

    /// True for a successful delivery (0x00..0x1F, including SC-specific completions).
    pub const fn is_delivered(self) -> bool {
        matches!(self.group(), StatusGroup::Completed)
    }

    /// The 23.040 description of the byte as received.
    pub const fn description(self) -> &'static str {
        match self.0 {
            0x00 => "short message received by the SME",
            0x01 => "short message forwarded by the SC to the SME but the SC is unable to confirm delivery",
            0x02 => "short message replaced by the SC",
            0x10..=0x1F => "transaction completed (value specific to the SC)",
            0x20 | 0x60 => "congestion",
            0x21 | 0x61 => "SME busy",
            0x22 | 0x62 => "no response from SME",
            0x23 | 0x63 => "service rejected",
            0x24 | 0x44 | 0x64 => "quality of service not available",
            0x25 | 0x65 => "error in SME",
            0x30..=0x3F => "temporary error, SC still trying (value specific to the SC)",
            0x40 => "remote procedure error",
            0x41 => "incompatible destination",
            0x42 => "connection rejected by SME",
            0x43 => "not obtainable",
            0x45 => "no interworking available",
            0x46 => "SM validity period expired",
            0x47 => "SM deleted by originating SME",
            0x48 => "SM deleted by SC administration",
            0x49 => "SM does not exist",
            0x50..=0x5F => "permanent error (value specific to the SC)",
            0x70..=0x7F => "temporary error, SC stopped trying (value specific to the SC)",
            _ => "reserved value, interpreted as service rejected",
        }
    }
}

impl fmt::Display for TpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} ({})", self.0, self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defined_values_classify_by_group() {
        assert_eq!(TpStatus(0x00).group(), StatusGroup::Completed);
        assert_eq!(TpStatus(0x21).group(), StatusGroup::TemporaryRetrying);
        assert!(!TpStatus(0x21).is_final());
        assert_eq!(TpStatus(0x46).group(), StatusGroup::Permanent);
        assert_eq!(TpStatus(0x46).description(), "SM validity period expired");
        assert_eq!(TpStatus(0x62).group(), StatusGroup::TemporaryStopped);
        assert!(TpStatus(0x62).is_final());
    }

    #[test]
    fn reserved_values_are_read_as_service_rejected_but_kept() {
        for b in [0x03u8, 0x0F, 0x26, 0x2F, 0x4A, 0x4F, 0x66, 0x6F, 0x80, 0xFF] {
            let st = TpStatus(b);
            assert_eq!(st.kind(), StatusKind::Reserved, "{b:#04x}");
            assert_eq!(st.byte(), b);
            assert_eq!(st.effective(), 0x63);
            assert_eq!(st.group(), StatusGroup::TemporaryStopped);
            assert!(st.is_final());
        }
    }

    #[test]
    fn sc_specific_ranges_keep_their_group() {
        assert_eq!(TpStatus(0x1A).kind(), StatusKind::ScSpecific);
        assert!(TpStatus(0x1A).is_delivered());
        assert_eq!(TpStatus(0x3A).group(), StatusGroup::TemporaryRetrying);
        assert_eq!(TpStatus(0x5A).group(), StatusGroup::Permanent);
        assert_eq!(TpStatus(0x7A).group(), StatusGroup::TemporaryStopped);
    }
}
