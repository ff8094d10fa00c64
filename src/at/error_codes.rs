//! `+CMS ERROR` and `+CME ERROR` codes: names and what a scheduler should do.
//!
//! Sources (facts looked up, names written here in our own words where the
//! spec's are long):
//! - +CMS ERROR: 3GPP TS 27.005 §3.2.5. 0..=127 are the RP-cause values of
//!   3GPP TS 24.011 (ex GSM 04.11) Annex E-2 (mobile originating SM transfer),
//!   plus the CP-cause values 17 and 22 that several modem manuals list in
//!   the same range; 128..=255 are TP-Failure-Cause values of 3GPP TS 23.040
//!   §9.2.3.22; 300..=340 and 500 are 27.005's own; 512 and up are
//!   manufacturer specific.
//! - +CME ERROR: 3GPP TS 27.007 §9.2.1 (general) and §9.2.2 (GPRS).
//!
//! The retry classes are our judgement of what the condition means for a
//! gateway, not something the specs define; entries where the judgement is
//! debatable carry a comment.

use std::fmt;

/// What a gateway scheduler can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// A passing condition (network busy, no coverage, timeout): retry later,
    /// on this modem or another.
    Temporary,
    /// This message will never be accepted as it is (bad number, barred
    /// destination, malformed PDU): do not retry, reject it.
    Permanent,
    /// The modem or SIM set-up is wrong (no SMSC, PIN needed, SIM missing,
    /// subscription lacks SMS): take the modem out of service and tell the
    /// operator; retrying the message elsewhere is fine.
    Configuration,
    /// The modem or SIM itself failed (ME failure, memory failure): reset
    /// or take the modem out; retry the message on another modem.
    Device,
    /// The code says nothing useful (500 unknown error, unlisted codes):
    /// retry a limited number of times.
    Unknown,
}

impl RetryClass {
    /// Lower-case name for logs and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryClass::Temporary => "temporary",
            RetryClass::Permanent => "permanent",
            RetryClass::Configuration => "configuration",
            RetryClass::Device => "device",
            RetryClass::Unknown => "unknown",
        }
    }
}

impl fmt::Display for RetryClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code's entry in one of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The numeric code.
    pub code: u16,
    /// Its name (27.005 / 27.007 / 24.011 / 23.040 wording, shortened).
    pub name: &'static str,
    /// What to do about it.
    pub class: RetryClass,
}

use RetryClass::{Configuration as Cfg, Device as Dev, Permanent as Perm, Temporary as Temp};

/// +CMS ERROR table, sorted by code.
const CMS: &[(u16, &str, RetryClass)] = &[
    // 24.011 Annex E-2 RP-cause values (mobile originating).
    (1, "Unassigned (unallocated) number", Perm),
    // Barring set by the operator on the sending subscription: every message
    // from this SIM fails, so it is the modem that must be taken out.
    (8, "Operator determined barring", Cfg),
    (10, "Call barred", Perm),
    // 17 and 22 are CP-cause values (24.011 Table 8.2) that modem manuals list
    // among +CMS ERROR codes (22 is "memory capacity exceeded" as an RP cause
    // of mobile terminated transfer; the CP meaning fits +CMGS).
    (17, "Network failure", Temp),
    (21, "Short message transfer rejected", Perm),
    (22, "Congestion (CP layer)", Temp),
    (27, "Destination out of service", Temp),
    // 28 and 30 concern the sending subscriber (not known in the PLMN / HLR).
    (28, "Unidentified subscriber", Cfg),
    (29, "Facility rejected", Perm),
    (30, "Unknown subscriber", Cfg),
    // 24.011 says 38 is likely to last long; still a network condition.
    (38, "Network out of order", Temp),
    (41, "Temporary failure", Temp),
    (42, "Congestion", Temp),
    (47, "Resources unavailable, unspecified", Temp),
    (50, "Requested facility not subscribed", Cfg),
    (69, "Requested facility not implemented", Perm),
    (81, "Invalid short message transfer reference value", Temp),
    (95, "Semantically incorrect message", Perm),
    (96, "Invalid mandatory information", Perm),
    (97, "Message type non-existent or not implemented", Perm),
    (
        98,
        "Message not compatible with short message protocol state",
        Temp,
    ),
    (
        99,
        "Information element non-existent or not implemented",
        Perm,
    ),
    (111, "Protocol error, unspecified", RetryClass::Unknown),
    (127, "Interworking, unspecified", RetryClass::Unknown),
    // 23.040 §9.2.3.22 TP-Failure-Cause values.
    (0x80, "Telematic interworking not supported", Perm),
    (0x81, "Short message Type 0 not supported", Perm),
    (0x82, "Cannot replace short message", Perm),
    (0x8F, "Unspecified TP-PID error", Perm),
    (0x90, "Data coding scheme (alphabet) not supported", Perm),
    (0x91, "Message class not supported", Perm),
    (0x9F, "Unspecified TP-DCS error", Perm),
    (0xA0, "Command cannot be actioned", Perm),
    (0xA1, "Command unsupported", Perm),
    (0xAF, "Unspecified TP-Command error", Perm),
    (0xB0, "TPDU not supported", Perm),
    (0xC0, "SC busy", Temp),
    (0xC1, "No SC subscription", Cfg),
    (0xC2, "SC system failure", Temp),
    (0xC3, "Invalid SME address", Perm),
    (0xC4, "Destination SME barred", Perm),
    // The SC already holds this message: sending it again cannot help.
    (0xC5, "SM rejected - duplicate SM", Perm),
    (0xC6, "TP-VPF not supported", Perm),
    (0xC7, "TP-VP not supported", Perm),
    (0xD0, "SIM SMS storage full", Dev),
    (0xD1, "No SMS storage capability in SIM", Dev),
    (0xD2, "Error in MS", Dev),
    (0xD3, "Memory capacity exceeded", Dev),
    (0xD4, "SIM Application Toolkit busy", Temp),
    (0xD5, "SIM data download error", Dev),
    (0xFF, "Unspecified error cause", RetryClass::Unknown),
    // 27.005 §3.2.5.
    (300, "ME failure", Dev),
    (301, "SMS service of ME reserved", Temp),
    // Usually a set-up problem (wrong +CMGF, SIM not ready for SMS).
    (302, "operation not allowed", Cfg),
    (303, "operation not supported", Cfg),
    (304, "invalid PDU mode parameter", Perm),
    (305, "invalid text mode parameter", Perm),
    (310, "SIM not inserted", Cfg),
    (311, "SIM PIN required", Cfg),
    (312, "PH-SIM PIN required", Cfg),
    (313, "SIM failure", Dev),
    (314, "SIM busy", Temp),
    (315, "SIM wrong", Cfg),
    (316, "SIM PUK required", Cfg),
    (317, "SIM PIN2 required", Cfg),
    (318, "SIM PUK2 required", Cfg),
    (320, "memory failure", Dev),
    (321, "invalid memory index", Perm),
    (322, "memory full", Dev),
    (330, "SMSC address unknown", Cfg),
    (331, "no network service", Temp),
    (332, "network timeout", Temp),
    (340, "no +CNMA acknowledgement expected", Perm),
    (500, "unknown error", RetryClass::Unknown),
];

/// +CME ERROR table, sorted by code.
const CME: &[(u16, &str, RetryClass)] = &[
    (0, "phone failure", Dev),
    (1, "no connection to phone", Dev),
    (2, "phone-adaptor link reserved", Temp),
    (3, "operation not allowed", Cfg),
    (4, "operation not supported", Cfg),
    (5, "PH-SIM PIN required", Cfg),
    (6, "PH-FSIM PIN required", Cfg),
    (7, "PH-FSIM PUK required", Cfg),
    (10, "SIM not inserted", Cfg),
    (11, "SIM PIN required", Cfg),
    (12, "SIM PUK required", Cfg),
    (13, "SIM failure", Dev),
    (14, "SIM busy", Temp),
    (15, "SIM wrong", Cfg),
    (16, "incorrect password", Cfg),
    (17, "SIM PIN2 required", Cfg),
    (18, "SIM PUK2 required", Cfg),
    (20, "memory full", Dev),
    (21, "invalid index", Perm),
    (22, "not found", Perm),
    (23, "memory failure", Dev),
    (24, "text string too long", Perm),
    (25, "invalid characters in text string", Perm),
    (26, "dial string too long", Perm),
    (27, "invalid characters in dial string", Perm),
    (30, "no network service", Temp),
    (31, "network timeout", Temp),
    // Registered on a foreign network that only allows emergency calls;
    // usually passes when coverage of an allowed network returns.
    (32, "network not allowed - emergency calls only", Temp),
    (40, "network personalization PIN required", Cfg),
    (41, "network personalization PUK required", Cfg),
    (42, "network subset personalization PIN required", Cfg),
    (43, "network subset personalization PUK required", Cfg),
    (44, "service provider personalization PIN required", Cfg),
    (45, "service provider personalization PUK required", Cfg),
    (46, "corporate personalization PIN required", Cfg),
    (47, "corporate personalization PUK required", Cfg),
    // Older 27.007 releases and modem manuals call 48 "PH-SIM PUK required".
    (48, "hidden key required", Cfg),
    // 50 checked in 27.007 (+CERP text); 49 and 51..63 of later releases are
    // left out: not re-checked and not relevant to SMS.
    (50, "Incorrect parameters", Perm),
    (100, "unknown", RetryClass::Unknown),
    // §9.2.2 GPRS-related errors (cause values of 24.008 in brackets).
    (103, "Illegal MS (#3)", Cfg),
    (106, "Illegal ME (#6)", Cfg),
    (107, "GPRS services not allowed (#7)", Cfg),
    (111, "PLMN not allowed (#11)", Cfg),
    (112, "Location area not allowed (#12)", Temp),
    (113, "Roaming not allowed in this location area (#13)", Temp),
    (148, "unspecified GPRS error", RetryClass::Unknown),
    (149, "PDP authentication failure", Cfg),
    (150, "invalid mobile class", Cfg),
];

fn lookup(table: &[(u16, &'static str, RetryClass)], code: u16) -> Option<ErrorInfo> {
    table
        .binary_search_by_key(&code, |&(c, _, _)| c)
        .ok()
        .map(|i| ErrorInfo {
            code,
            name: table[i].1,
            class: table[i].2,
        })
}

/// Letters and digits only, lower case: "SMSC address unknown" and
/// "smsc-address_unknown" compare equal.
fn normalised(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
}

fn reverse_lookup(table: &[(u16, &'static str, RetryClass)], text: &str) -> Option<u16> {
    // An empty or punctuation-only text names nothing.
    normalised(text).next()?;
    table
        .iter()
        .find(|&&(_, name, _)| normalised(name).eq(normalised(text)))
        .map(|&(code, _, _)| code)
}

/// The +CMS ERROR entry for `code`. Codes missing from the table get a
/// generic name for their range and [`RetryClass::Unknown`].
pub fn cms_info(code: u16) -> ErrorInfo {
    lookup(CMS, code).unwrap_or_else(|| {
        let name = match code {
            0..=127 => "unlisted RP cause (24.011 Annex E-2)",
            0xE0..=0xFE => "application-specific TP-FCS value",
            128..=255 => "reserved TP-FCS value",
            256..=511 => "reserved (27.005)",
            _ => "manufacturer specific",
        };
        ErrorInfo {
            code,
            name,
            class: RetryClass::Unknown,
        }
    })
}

/// The +CME ERROR entry for `code` (unlisted codes: generic name,
/// [`RetryClass::Unknown`]).
pub fn cme_info(code: u16) -> ErrorInfo {
    lookup(CME, code).unwrap_or(ErrorInfo {
        code,
        name: "unlisted (reserved or manufacturer specific)",
        class: RetryClass::Unknown,
    })
}

/// Maps a verbose +CMS ERROR text (AT+CMEE=2) back to its code when it
/// matches a table name (case, spaces and punctuation ignored).
pub fn cms_code_from_text(text: &str) -> Option<u16> {
    reverse_lookup(CMS, text)
}

/// Maps a verbose +CME ERROR text back to its code (see
/// [`cms_code_from_text`]).
pub fn cme_code_from_text(text: &str) -> Option<u16> {
    reverse_lookup(CME, text)
}

macro_rules! coded_error {
    ($(#[$doc:meta])* $name:ident, $info:ident, $from_text:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The code: given numerically, or recovered from a verbose text
            /// found in the table. `None` for an unknown verbose text.
            pub code: Option<u16>,
            /// The argument as the modem wrote it (trimmed).
            pub raw: String,
        }

        impl $name {
            /// Parses the argument after the colon: a number or a verbose text.
            pub fn parse(argument: &str) -> Self {
                let raw = argument.trim().trim_matches('"').trim();
                let code = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
                    raw.parse::<u16>().ok()
                } else {
                    $from_text(raw)
                };
                $name { code, raw: raw.to_owned() }
            }

            /// The table entry, when the code is known.
            pub fn info(&self) -> Option<ErrorInfo> {
                self.code.map($info)
            }

            /// The retry class ([`RetryClass::Unknown`] without a code).
            pub fn class(&self) -> RetryClass {
                self.info().map_or(RetryClass::Unknown, |i| i.class)
            }

            /// The table name, or the modem's own text when the code is unknown.
            pub fn name(&self) -> &str {
                match self.info() {
                    Some(info) => info.name,
                    None => &self.raw,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.code {
                    Some(code) => write!(f, concat!($label, ": {} ({})"), code, self.name()),
                    None => write!(f, concat!($label, ": {}"), self.raw),
                }
            }
        }
    };
}

coded_error!(
    /// A `+CMS ERROR: <err>` final result (message service failure).
    CmsError,
    cms_info,
    cms_code_from_text,
    "+CMS ERROR"
);
coded_error!(
    /// A `+CME ERROR: <err>` final result (mobile equipment error).
    CmeError,
    cme_info,
    cme_code_from_text,
    "+CME ERROR"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [CMS, CME] {
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0), "{table:?}");
        }
    }

    #[test]
    fn verbose_names_are_unique_after_normalising() {
        for table in [CMS, CME] {
            for (i, a) in table.iter().enumerate() {
                for b in &table[i + 1..] {
                    assert!(
                        !normalised(a.1).eq(normalised(b.1)),
                        "{} and {} share a name",
                        a.0,
                        b.0
                    );
                }
            }
        }
    }
}
