//! USSD (3GPP TS 27.007 §7.15, AT+CUSD), sans-IO: the request command and
//! the network's answer (`+CUSD: <m>[,<str>[,<dcs>]]`) decoded to text.
//!
//! Modems hand the answer over in one of three ways: as text in the TE
//! character set (GSM or IRA: most modems), as UCS2 hex when the network
//! coded it in UCS2 (DCS 72, or any DCS of the UCS2 groups), or, on some
//! Huawei and ZTE firmwares, as the network's GSM 7-bit packed octets in
//! hex (`packed`). The request goes the same way the answers come.

use crate::at::fields;
use crate::pdu::{gsm7, hex, septets};

/// The network's answer to a USSD request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UssdAnswer {
    /// 27.007 `<m>`: 0 no further action, 1 further action required (a
    /// menu: answer with another request), 2 terminated by the network, 3
    /// answered by another local client, 4 not supported, 5 network timeout.
    pub status: u8,
    /// The text, decoded (`None` when the network sent none).
    pub text: Option<String>,
    /// The data coding scheme the network gave.
    pub dcs: Option<u8>,
}

impl UssdAnswer {
    /// True when the network waits for an answer (a menu).
    pub fn more_expected(&self) -> bool {
        self.status == 1
    }

    /// What `status` means, in words.
    pub fn status_text(&self) -> &'static str {
        match self.status {
            0 => "done",
            1 => "more expected",
            2 => "terminated by the network",
            3 => "answered by another client",
            4 => "not supported",
            5 => "network timeout",
            _ => "unknown status",
        }
    }
}

/// Why a request cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UssdRequestError {
    #[error("empty USSD request")]
    Empty,
    #[error("USSD request {0:?}: more than 160 characters")]
    TooLong(String),
    #[error(
        "USSD request {0:?}: {1:?} cannot be sent (GSM 7-bit characters only, no double quote)"
    )]
    BadChar(String, char),
}

/// The AT+CUSD command asking `request` (a code such as `*100#`, or the
/// answer typed in an open menu).
pub fn request_command(request: &str, packed: bool) -> Result<String, UssdRequestError> {
    let r = request.trim();
    if r.is_empty() {
        return Err(UssdRequestError::Empty);
    }
    if r.chars().count() > 160 {
        return Err(UssdRequestError::TooLong(r.to_string()));
    }
    if let Some(c) = r
        .chars()
        .find(|&c| c == '"' || c.is_control() || gsm7::encode_char(c).is_none())
    {
        return Err(UssdRequestError::BadChar(r.to_string(), c));
    }
    let shown = if packed {
        let mut sept = vec![0u8; r.len() * 2];
        let n = gsm7::to_septets(r, &mut sept).unwrap_or(0);
        let mut out = Vec::new();
        septets::pack(&sept[..n], 0, &mut out);
        hex::encode(&out)
    } else {
        r.to_string()
    };
    Ok(format!("AT+CUSD=1,\"{shown}\",15"))
}

/// Whether a DCS (23.038 §5, cell broadcast coding groups) says UCS2.
fn dcs_is_ucs2(dcs: u8) -> bool {
    match dcs >> 4 {
        // General data coding: alphabet in bits 3..2.
        0x4..=0x7 => (dcs >> 2) & 0x3 == 0x2,
        // Language indication then UCS2 text.
        0x0 => dcs == 0x11,
        0x9 => (dcs >> 2) & 0x3 == 0x2,
        _ => false,
    }
}

/// The answer of a `+CUSD:` line; `packed`: GSM 7-bit texts come as packed
/// octets in hex.
pub fn parse_cusd(line: &str, packed: bool) -> Result<UssdAnswer, String> {
    let (name, args) = fields::name_and_args(line)
        .filter(|(n, _)| *n == "+CUSD")
        .ok_or_else(|| format!("not a +CUSD line: {line:?}"))?;
    debug_assert_eq!(name, "+CUSD");
    let f = fields::split(args).map_err(|at| format!("{line:?}: unterminated quote at {at}"))?;
    let status = f
        .first()
        .and_then(|m| m.text.parse::<u8>().ok())
        .ok_or_else(|| format!("{line:?}: no status"))?;
    let dcs = match f.get(2).and_then(|d| d.non_empty()) {
        Some(d) => Some(
            d.parse::<u8>()
                .map_err(|_| format!("{line:?}: bad DCS {d:?}"))?,
        ),
        None => None,
    };
    let text = f
        .get(1)
        .and_then(|s| s.non_empty())
        .map(|s| decode_text(s, dcs, packed));
    Ok(UssdAnswer { status, text, dcs })
}

fn decode_text(s: &str, dcs: Option<u8>, packed: bool) -> String {
    let is_hex = s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit());
    if dcs.is_some_and(dcs_is_ucs2) && is_hex && s.len().is_multiple_of(4) {
        if let Ok(bytes) = hex::decode(s) {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            return String::from_utf16_lossy(&units);
        }
    }
    if packed && is_hex {
        if let Ok(bytes) = hex::decode(s) {
            let count = bytes.len() * 8 / 7;
            let mut out = String::new();
            gsm7::Tables::default().decode_into(septets::Unpacker::new(&bytes, 0, count), &mut out);
            // 7 octets hold 8 septets: a text of 7 (or 15...) characters
            // ends in a padding septet, CR by 23.038 §6.1.2.3.1, 0 ('@')
            // on firmwares that do not follow it.
            let padded = count.is_multiple_of(8);
            let trimmed = match padded {
                true => out
                    .strip_suffix('\r')
                    .or_else(|| out.strip_suffix('@'))
                    .unwrap_or(&out),
                false => &out,
            };
            return trimmed.to_string();
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            request_command("*100#", false).unwrap(),
            "AT+CUSD=1,\"*100#\",15"
        );
        // Packed: the classic example *100# -> AA180C3602.
        assert_eq!(
            request_command("*100#", true).unwrap(),
            "AT+CUSD=1,\"AA180C3602\",15"
        );
        assert_eq!(request_command(" ", false), Err(UssdRequestError::Empty));
        assert!(matches!(
            request_command("*1\"#", false),
            Err(UssdRequestError::BadChar(_, '"'))
        ));
        assert!(matches!(
            request_command("€€€ Ж", false),
            Err(UssdRequestError::BadChar(_, 'Ж'))
        ));
    }

    #[test]
    fn answers() {
        let a = parse_cusd("+CUSD: 0,\"Balance: 1.00\",15", false).unwrap();
        assert_eq!(
            (a.status, a.text.as_deref(), a.dcs),
            (0, Some("Balance: 1.00"), Some(15))
        );
        assert!(!a.more_expected());
        let a = parse_cusd("+CUSD: 1,\"1 A, 2 B\",15", false).unwrap();
        assert!(a.more_expected());
        assert_eq!(a.text.as_deref(), Some("1 A, 2 B"));
        let a = parse_cusd("+CUSD: 2", false).unwrap();
        assert_eq!(a.status_text(), "terminated by the network");
        assert_eq!((a.status, a.text, a.dcs), (2, None, None));
        // UCS2 (DCS 72) as hex.
        let a = parse_cusd("+CUSD: 0,\"04110430043B0430043D0441\",72", false).unwrap();
        assert_eq!(a.text.as_deref(), Some("Баланс"));
        // Packed GSM 7-bit (Huawei): "*100#" packed.
        let a = parse_cusd("+CUSD: 0,\"AA180C3602\",15", true).unwrap();
        assert_eq!(a.text.as_deref(), Some("*100#"));
        // Not packed: hex-looking text stays text.
        let a = parse_cusd("+CUSD: 0,\"1234\",15", false).unwrap();
        assert_eq!(a.text.as_deref(), Some("1234"));
        assert!(parse_cusd("+CUSD: x", false).is_err());
        assert!(parse_cusd("+CREG: 1", false).is_err());
        assert!(parse_cusd("+CUSD: 0,\"open", false).is_err());
    }
}
