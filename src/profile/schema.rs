//! The hardware-profile schema (what a `hw-profiles/*.toml` file may say) and
//! the rules a profile must satisfy beyond its TOML types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{Origin, ProfileError};

/// One modem family: how to recognise it and how to drive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Unique name, lowercase letters, digits and `-` (also the file stem).
    pub name: String,
    /// Manufacturer as an operator would say it ("Huawei", "Quectel").
    pub vendor: String,
    /// Marketing model names this profile covers (for people, not matching).
    pub models: Vec<String>,
    /// One line for `smsgw profiles`.
    pub description: String,
    /// How to recognise the modem.
    #[serde(rename = "match")]
    pub matching: Match,
    /// USB interface number of the AT command port; absent when there is only
    /// one port or no fixed number (then the quirks say how to find it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_interface: Option<u8>,
    /// Per-USB-id interface numbers that differ from `at_interface`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub at_interface_by_usb: BTreeMap<String, u8>,
    /// Serial line settings.
    pub serial: Serial,
    /// Commands sent after the common reset / echo-off / verbose-errors steps.
    #[serde(default)]
    pub init: Vec<String>,
    /// SMS settings.
    pub sms: Sms,
    /// Timeouts for the session.
    pub timeouts: Timeouts,
    /// Whether the modem echoes commands before ATE0 (V.250 default: on).
    pub echo_default: bool,
    /// Known deviations the session must handle.
    #[serde(default)]
    pub quirks: Vec<Quirk>,
    /// Where the facts in this profile come from.
    pub sources: Vec<String>,
    /// Where this profile was loaded from (not part of the file).
    #[serde(skip)]
    pub origin: Origin,
    /// The file's text, comments included (not part of the file's schema).
    #[serde(skip)]
    pub text: String,
}

/// Recognition data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Modem-mode USB ids, `"vvvv:pppp"` in lowercase hex.
    #[serde(default)]
    pub usb: Vec<String>,
    /// Ids the device shows before mode switching (mass storage, no AT port).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usb_storage: Vec<String>,
    /// Substrings looked for, case-insensitively, in the AT+CGMM / ATI answer.
    #[serde(default)]
    pub models: Vec<String>,
    /// Substrings of the AT+CGMI answer; when given, a different manufacturer
    /// rules the profile out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manufacturers: Vec<String>,
}

/// Serial line settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serial {
    /// Bits per second (ignored by USB ports, used on UARTs).
    pub baud: u32,
    /// RTS/CTS or nothing.
    pub flow_control: FlowControl,
}

/// Flow control on the serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    None,
    Hardware,
}

/// How status reports reach us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportMode {
    /// `+CDS: <len>` and the PDU, pushed (AT+CNMI <ds>=1).
    Cds,
    /// `+CDSI: "<mem>",<index>`, stored; read with AT+CMGR (AT+CNMI <ds>=2).
    Cdsi,
}

impl ReportMode {
    /// The name used in profiles and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportMode::Cds => "cds",
            ReportMode::Cdsi => "cdsi",
        }
    }
}

/// SMS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sms {
    /// AT+CSMS service: 0 (phase 2, no CNMA) or 1 (phase 2+, CNMA needed).
    pub csms: u8,
    /// AT+CNMI parameters, e.g. `"1,1,0,2,0"`.
    pub cnmi: String,
    /// Whether reports are pushed (+CDS) or stored (+CDSI).
    pub report_mode: ReportMode,
    /// Whether each +CDS / +CMT must be acknowledged with AT+CNMA.
    pub cnma_required: bool,
    /// AT+CPMS storages (mem1 read/delete, mem2 write/send, mem3 receive).
    pub cpms: Vec<String>,
    /// Where stored status reports are expected (usually "SR").
    pub report_storage: String,
    /// How AT+CUSD strings go over the port (default: text).
    #[serde(default)]
    pub ussd_encoding: UssdEncoding,
}

/// How a modem passes USSD strings (AT+CUSD requests and `+CUSD:` answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UssdEncoding {
    /// As text in the TE character set (UCS2 answers as hex): most modems.
    #[default]
    Text,
    /// As GSM 7-bit packed octets in hex (some Huawei and ZTE firmwares).
    Packed,
}

impl Sms {
    /// The full AT+CNMI command.
    pub fn cnmi_command(&self) -> String {
        format!("AT+CNMI={}", self.cnmi)
    }

    /// The full AT+CPMS command.
    pub fn cpms_command(&self) -> String {
        let mems: Vec<String> = self.cpms.iter().map(|m| format!("\"{m}\"")).collect();
        format!("AT+CPMS={}", mems.join(","))
    }

    /// The AT+CNMI fields as numbers (validated on load).
    pub fn cnmi_fields(&self) -> Vec<u8> {
        self.cnmi
            .split(',')
            .filter_map(|f| f.trim().parse().ok())
            .collect()
    }
}

/// Timeouts for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Ordinary command to final result.
    pub command_ms: u64,
    /// AT+CMGS=<len> to the "> " prompt.
    pub prompt_ms: u64,
    /// PDU + Ctrl-Z to +CMGS: <mr> / +CMS ERROR.
    pub send_ms: u64,
    /// Waiting for network registration at start-up.
    pub registration_s: u64,
}

impl Timeouts {
    /// `command_ms` as a duration.
    pub fn command(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.command_ms)
    }
    /// `prompt_ms` as a duration.
    pub fn prompt(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.prompt_ms)
    }
    /// `send_ms` as a duration.
    pub fn send(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.send_ms)
    }
    /// `registration_s` as a duration.
    pub fn registration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.registration_s)
    }
}

/// A known deviation from 27.005/27.007 the session has to handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quirk {
    /// Vendor `^...` unsolicited lines (^RSSI, ^BOOT, ^MODE) arrive any time.
    CaretUrcs,
    /// Message storage indexes start at 0, not 1.
    #[serde(rename = "sms-location-0")]
    SmsLocation0,
    /// Blank lines may precede the `+CMGS:` answer.
    BlankLinesBeforeCmgs,
    /// AT+CNMI mode 2 is advertised but fails; use mode 1.
    #[serde(rename = "cnmi-mode-1-only")]
    CnmiMode1Only,
    /// The `+CSMS?` answer has a non-numeric first field.
    CsmsReplyNonstandard,
    /// AT+CNMA with an acknowledgement PDU does not work.
    CnmaAckPduBroken,
    /// AT+CNMA=1 without a PDU is the working acknowledgement.
    CnmaAckWithoutPdu,
    /// Unsolicited codes may come out of another port than the AT port.
    UrcsOnOtherPort,
    /// The AT port is found by USB interface protocol, not by number.
    AtPortByProtocol,
    /// `+CDS: ,<len>`: an empty field before the length.
    CdsLeadingComma,
    /// Auto-bauding UART: send "AT" until OK before anything else.
    AutobaudSync,
    /// Do not acknowledge +CMT with AT+CNMA.
    NoCnmaForCmt,
    /// Nothing may be sent while AT+CMGS is executing.
    NoCommandsDuringCmgs,
    /// SMS commands depend on #SMSFORMAT (3GPP vs 3GPP2) on dual-mode variants.
    TelitSmsformat,
}

impl Quirk {
    /// Every quirk, for documentation and tests.
    pub const ALL: [Quirk; 14] = [
        Quirk::CaretUrcs,
        Quirk::SmsLocation0,
        Quirk::BlankLinesBeforeCmgs,
        Quirk::CnmiMode1Only,
        Quirk::CsmsReplyNonstandard,
        Quirk::CnmaAckPduBroken,
        Quirk::CnmaAckWithoutPdu,
        Quirk::UrcsOnOtherPort,
        Quirk::AtPortByProtocol,
        Quirk::CdsLeadingComma,
        Quirk::AutobaudSync,
        Quirk::NoCnmaForCmt,
        Quirk::NoCommandsDuringCmgs,
        Quirk::TelitSmsformat,
    ];

    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Quirk::CaretUrcs => "caret-urcs",
            Quirk::SmsLocation0 => "sms-location-0",
            Quirk::BlankLinesBeforeCmgs => "blank-lines-before-cmgs",
            Quirk::CnmiMode1Only => "cnmi-mode-1-only",
            Quirk::CsmsReplyNonstandard => "csms-reply-nonstandard",
            Quirk::CnmaAckPduBroken => "cnma-ack-pdu-broken",
            Quirk::CnmaAckWithoutPdu => "cnma-ack-without-pdu",
            Quirk::UrcsOnOtherPort => "urcs-on-other-port",
            Quirk::AtPortByProtocol => "at-port-by-protocol",
            Quirk::CdsLeadingComma => "cds-leading-comma",
            Quirk::AutobaudSync => "autobaud-sync",
            Quirk::NoCnmaForCmt => "no-cnma-for-cmt",
            Quirk::NoCommandsDuringCmgs => "no-commands-during-cmgs",
            Quirk::TelitSmsformat => "telit-smsformat",
        }
    }

    /// What the quirk means for the session, in one sentence.
    pub fn description(self) -> &'static str {
        match self {
            Quirk::CaretUrcs => {
                "vendor ^RSSI/^BOOT/^MODE lines arrive unsolicited; treat any '^' line as a URC"
            }
            Quirk::SmsLocation0 => "message storage indexes start at 0",
            Quirk::BlankLinesBeforeCmgs => "blank lines may come before the +CMGS answer",
            Quirk::CnmiMode1Only => "AT+CNMI mode 2 is advertised but rejected; use mode 1",
            Quirk::CsmsReplyNonstandard => "+CSMS? answers with a non-numeric first field",
            Quirk::CnmaAckPduBroken => "AT+CNMA with an acknowledgement PDU does not work",
            Quirk::CnmaAckWithoutPdu => "acknowledge with a bare AT+CNMA=1 (no PDU)",
            Quirk::UrcsOnOtherPort => {
                "indications may come out of another port; poll stored messages too"
            }
            Quirk::AtPortByProtocol => {
                "the AT port is the vendor interface with protocol 0x02, not a fixed number"
            }
            Quirk::CdsLeadingComma => "+CDS has an empty field before the length: '+CDS: ,<len>'",
            Quirk::AutobaudSync => "UART auto-bauding: send AT until OK before anything else",
            Quirk::NoCnmaForCmt => "do not acknowledge +CMT with AT+CNMA",
            Quirk::NoCommandsDuringCmgs => "send nothing else while AT+CMGS is executing",
            Quirk::TelitSmsformat => {
                "SMS commands follow #SMSFORMAT on 3GPP2-capable variants; it must be 0"
            }
        }
    }
}

/// Storages named by 27.005 3.2.2 (and "MT", "TA" some modems add).
const STORAGES: [&str; 6] = ["SM", "ME", "MT", "SR", "BM", "TA"];

/// Baud rates a UART modem may be set to.
const BAUDS: [u32; 13] = [
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 3000000, 4000000,
];

/// Parse a `"vvvv:pppp"` USB id (hex, any case) into numbers.
pub fn parse_usb_id(s: &str) -> Option<(u16, u16)> {
    let (v, p) = s.split_once(':')?;
    if v.len() != 4 || p.len() != 4 {
        return None;
    }
    Some((
        u16::from_str_radix(v, 16).ok()?,
        u16::from_str_radix(p, 16).ok()?,
    ))
}

/// Format a USB id the way profiles write it.
pub fn format_usb_id(vid: u16, pid: u16) -> String {
    format!("{vid:04x}:{pid:04x}")
}

impl Profile {
    /// Parse and validate one profile from TOML text. `file` names it in errors.
    pub fn from_toml(file: &str, text: &str, origin: Origin) -> Result<Profile, ProfileError> {
        let mut p: Profile =
            toml::from_str(text).map_err(|e| ProfileError::from_toml(file, text, &e))?;
        p.origin = origin;
        p.text = text.to_string();
        p.validate(file)?;
        Ok(p)
    }

    /// Check the rules the TOML types cannot express.
    pub fn validate(&self, file: &str) -> Result<(), ProfileError> {
        let bad = |key: &str, message: String| ProfileError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(bad(
                "name",
                format!("{:?} must be lowercase letters, digits and '-'", self.name),
            ));
        }
        if self.vendor.trim().is_empty() {
            return Err(bad("vendor", "must not be empty".into()));
        }
        if self.description.trim().is_empty() {
            return Err(bad("description", "must not be empty".into()));
        }
        for (key, list) in [
            ("match.usb", &self.matching.usb),
            ("match.usb_storage", &self.matching.usb_storage),
        ] {
            for id in list {
                if parse_usb_id(id).is_none() || id.to_ascii_lowercase() != *id {
                    return Err(bad(
                        key,
                        format!(
                            "{id:?} is not a USB id like \"12d1:1506\" (4+4 lowercase hex digits)"
                        ),
                    ));
                }
            }
        }
        for (key, list) in [
            ("match.models", &self.matching.models),
            ("match.manufacturers", &self.matching.manufacturers),
        ] {
            if let Some(p) = list.iter().find(|p| p.trim().is_empty()) {
                return Err(bad(
                    key,
                    format!("{p:?}: an empty pattern would match anything"),
                ));
            }
        }
        for id in self.at_interface_by_usb.keys() {
            if !self.matching.usb.contains(id) {
                return Err(bad(
                    "at_interface_by_usb",
                    format!("{id:?} is not listed in match.usb"),
                ));
            }
        }
        if !BAUDS.contains(&self.serial.baud) {
            return Err(bad(
                "serial.baud",
                format!("{} is not a standard rate ({BAUDS:?})", self.serial.baud),
            ));
        }
        for cmd in &self.init {
            let upper = cmd.to_ascii_uppercase();
            if !upper.starts_with("AT") || cmd.contains(['\r', '\n', '\u{1a}', '\u{1b}']) {
                return Err(bad(
                    "init",
                    format!(
                        "{cmd:?} must be one AT command line (starts with AT, no CR/LF/Ctrl-Z/ESC)"
                    ),
                ));
            }
        }
        self.validate_sms(file)?;
        let t = &self.timeouts;
        for (key, v) in [
            ("timeouts.command_ms", t.command_ms),
            ("timeouts.prompt_ms", t.prompt_ms),
            ("timeouts.send_ms", t.send_ms),
            ("timeouts.registration_s", t.registration_s),
        ] {
            if v == 0 {
                return Err(bad(key, "must be greater than 0".into()));
            }
        }
        if t.prompt_ms > t.send_ms {
            return Err(bad(
                "timeouts.prompt_ms",
                format!(
                    "{} is longer than timeouts.send_ms ({})",
                    t.prompt_ms, t.send_ms
                ),
            ));
        }
        if self.sources.is_empty() {
            return Err(bad("sources", "name at least one source".into()));
        }
        Ok(())
    }

    fn validate_sms(&self, file: &str) -> Result<(), ProfileError> {
        let bad = |key: &str, message: String| ProfileError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message,
        };
        let s = &self.sms;
        if s.csms > 1 {
            return Err(bad("sms.csms", format!("{} must be 0 or 1", s.csms)));
        }
        let fields: Vec<&str> = s.cnmi.split(',').map(str::trim).collect();
        let numbers: Vec<Option<u8>> = fields
            .iter()
            .map(|f| f.parse::<u8>().ok().filter(|n| *n <= 3))
            .collect();
        if !(4..=5).contains(&fields.len()) || numbers.iter().any(Option::is_none) {
            return Err(bad(
                "sms.cnmi",
                format!(
                    "{:?} must be 4 or 5 comma-separated values 0..3 (<mode>,<mt>,<bm>,<ds>[,<bfr>])",
                    s.cnmi
                ),
            ));
        }
        let ds = numbers[3].unwrap_or(0);
        let expected = match s.report_mode {
            ReportMode::Cds => 1,
            ReportMode::Cdsi => 2,
        };
        if ds != expected {
            return Err(bad(
                "sms.cnmi",
                format!(
                    "<ds> is {ds} but report_mode \"{}\" needs {expected}",
                    s.report_mode.as_str()
                ),
            ));
        }
        if s.cnma_required && s.csms != 1 {
            return Err(bad(
                "sms.cnma_required",
                "AT+CNMA only applies with sms.csms = 1 (27.005 3.4.4)".into(),
            ));
        }
        if s.report_mode == ReportMode::Cds && s.csms == 1 && !s.cnma_required {
            return Err(bad(
                "sms.cnma_required",
                "+CDS with AT+CSMS=1 must be acknowledged: set cnma_required = true".into(),
            ));
        }
        if s.cpms.is_empty() || s.cpms.len() > 3 {
            return Err(bad("sms.cpms", "give 1 to 3 storages".into()));
        }
        for m in s.cpms.iter().chain(std::iter::once(&s.report_storage)) {
            if !STORAGES.contains(&m.as_str()) {
                let key = if *m == s.report_storage {
                    "sms.report_storage"
                } else {
                    "sms.cpms"
                };
                return Err(bad(key, format!("{m:?} is not one of {STORAGES:?}")));
            }
        }
        Ok(())
    }

    /// The AT port's USB interface for this USB id (override, else default).
    pub fn at_interface_for(&self, vid: u16, pid: u16) -> Option<u8> {
        self.at_interface_by_usb
            .get(&format_usb_id(vid, pid))
            .copied()
            .or(self.at_interface)
    }

    /// Whether the profile lists this quirk.
    pub fn has_quirk(&self, q: Quirk) -> bool {
        self.quirks.contains(&q)
    }

    /// Whether this id is the profile's pre-switch (storage) id: the device
    /// needs usb_modeswitch before it has an AT port.
    pub fn needs_modeswitch(&self, vid: u16, pid: u16) -> bool {
        let id = format_usb_id(vid, pid);
        self.matching.usb_storage.contains(&id)
    }

    /// Whether the profile lists this USB id (modem mode or storage mode).
    pub fn matches_usb(&self, vid: u16, pid: u16) -> bool {
        let id = format_usb_id(vid, pid);
        self.matching.usb.contains(&id) || self.matching.usb_storage.contains(&id)
    }

    /// How well an identity matches: `None` when it does not, otherwise the
    /// length of the longest model pattern found (longer = more specific).
    /// A non-empty manufacturer that matches none of `match.manufacturers`
    /// rules the profile out.
    pub fn identity_score(&self, manufacturer: &str, model: &str) -> Option<usize> {
        let manu = manufacturer.to_ascii_lowercase();
        if !manu.trim().is_empty()
            && !self.matching.manufacturers.is_empty()
            && !self
                .matching
                .manufacturers
                .iter()
                .any(|m| manu.contains(&m.to_ascii_lowercase()))
        {
            return None;
        }
        let model = model.to_ascii_lowercase();
        self.matching
            .models
            .iter()
            .filter(|p| model.contains(&p.to_ascii_lowercase()))
            .map(|p| p.len())
            .max()
    }
}
