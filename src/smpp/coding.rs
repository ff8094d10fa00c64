//! data_coding (SMPP 3.4 §5.2.19) to and from the backend's [`Payload`],
//! and the user data header of a short message.
//!
//! | data_coding | read as |
//! | --- | --- |
//! | 0 | SMSC default alphabet = GSM 03.38, one septet per octet (unpacked; 0x1B escapes to the extension table), as Python smpplib, Kannel and most ESMEs send it |
//! | 1 | IA5 (ASCII) |
//! | 3 | ISO-8859-1 (Latin-1) |
//! | 8 | UCS2, read as UTF-16BE (surrogate pairs give characters outside the BMP) |
//! | 2, 4 | 8-bit binary, sent as 8-bit data |
//! | 0x10..0x1F, 0xF0..0xF7 | GSM 03.38 DCS with a message class: the alphabet from the DCS, class 0 = flash |
//!
//! Other values (JIS, Cyrillic, Hebrew, pictograms...) are refused.

use crate::pdu::gsm7;
use crate::pdu::ucs2;
use crate::smpp::backend::Payload;

/// The alphabet a data_coding names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Gsm,
    Ia5,
    Latin1,
    Ucs2,
    Binary,
}

/// The alphabet of `dc` and whether it asks for a flash (class 0) message.
pub fn alphabet(dc: u8) -> Result<(Alphabet, bool), String> {
    Ok(match dc {
        0 => (Alphabet::Gsm, false),
        1 => (Alphabet::Ia5, false),
        3 => (Alphabet::Latin1, false),
        8 => (Alphabet::Ucs2, false),
        2 | 4 => (Alphabet::Binary, false),
        // General data coding group with a message class (bit 4), not compressed.
        0x10..=0x1F => {
            let a = match (dc >> 2) & 3 {
                0 => Alphabet::Gsm,
                1 => Alphabet::Binary,
                2 => Alphabet::Ucs2,
                _ => return Err(format!("data_coding 0x{dc:02X}: reserved alphabet")),
            };
            (a, dc & 3 == 0)
        }
        // Data coding / message class group: bit 2 = 8-bit data.
        0xF0..=0xF7 => {
            let a = if dc & 0x04 != 0 {
                Alphabet::Binary
            } else {
                Alphabet::Gsm
            };
            (a, dc & 3 == 0)
        }
        other => {
            return Err(format!(
                "data_coding 0x{other:02X} is not supported (0, 1, 2, 3, 4, 8 and GSM class values are)"
            ))
        }
    })
}

/// The user data of a short message read with `alphabet`.
pub fn decode(alphabet: Alphabet, data: &[u8]) -> Result<Payload, String> {
    Ok(match alphabet {
        Alphabet::Gsm => {
            if let Some(i) = data.iter().position(|&b| b > 0x7F) {
                return Err(format!(
                    "octet 0x{:02X} at {i} is not a GSM 03.38 septet (data_coding 0 is read as unpacked GSM 7-bit)",
                    data[i]
                ));
            }
            let mut text = String::with_capacity(data.len());
            gsm7::Tables::default().decode_into(data.iter().copied(), &mut text);
            Payload::Text { text, ucs2: false }
        }
        Alphabet::Ia5 => {
            if let Some(i) = data.iter().position(|&b| b > 0x7F) {
                return Err(format!(
                    "octet 0x{:02X} at {i} is not IA5 (ASCII, data_coding 1)",
                    data[i]
                ));
            }
            Payload::Text {
                text: data.iter().map(|&b| b as char).collect(),
                ucs2: false,
            }
        }
        Alphabet::Latin1 => Payload::Text {
            text: data.iter().map(|&b| b as char).collect(),
            ucs2: false,
        },
        Alphabet::Ucs2 => {
            if !data.len().is_multiple_of(2) {
                return Err(format!(
                    "UCS2 text of {} octets (an even number is needed)",
                    data.len()
                ));
            }
            let mut text = String::with_capacity(data.len() / 2);
            ucs2::decode_into(data, &mut text);
            Payload::Text { text, ucs2: true }
        }
        Alphabet::Binary => Payload::Binary {
            data: data.to_vec(),
        },
    })
}

/// The data_coding and octets a payload is sent with in a deliver_sm: text
/// in the GSM default alphabet (unpacked) when every character has a code
/// there and UCS2 was not asked for, else UCS2; binary as data_coding 4.
pub fn encode(payload: &Payload, out: &mut Vec<u8>) -> u8 {
    match payload {
        Payload::Binary { data } => {
            out.extend_from_slice(data);
            4
        }
        Payload::Text { text, ucs2 } => {
            if !ucs2 {
                let start = out.len();
                let mut ok = true;
                for c in text.chars() {
                    match gsm7::encode_char(c) {
                        Some(gsm7::Code::Single(s)) => out.push(s),
                        Some(gsm7::Code::Escaped(s)) => out.extend_from_slice(&[gsm7::ESC, s]),
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok {
                    return 0;
                }
                out.truncate(start);
            }
            ucs2::encode_into(text, out);
            8
        }
    }
}

/// Splits a user data header (its UDHL octet included) off `data`, for
/// esm_class UDHI.
pub fn split_udh(data: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some(&udhl) = data.first() else {
        return Err("esm_class UDHI is set but the message is empty".into());
    };
    let end = 1 + usize::from(udhl);
    if udhl == 0 || end > data.len() {
        return Err(format!(
            "esm_class UDHI: a header of {udhl} octets does not fit the {} octets of the message",
            data.len()
        ));
    }
    Ok(data.split_at(end))
}

/// The concatenation header (UDHL included) for the sar_* TLVs: an 8-bit
/// reference (IEI 0x00) below 256, else a 16-bit one (IEI 0x08).
pub fn sar_udh(reference: u16, total: u8, seq: u8) -> Vec<u8> {
    if reference < 256 {
        vec![5, 0x00, 3, reference as u8, total, seq]
    } else {
        let r = reference.to_be_bytes();
        vec![6, 0x08, 4, r[0], r[1], total, seq]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(dc: u8, data: &[u8]) -> String {
        let (a, _) = alphabet(dc).unwrap();
        match decode(a, data).unwrap() {
            Payload::Text { text, .. } => text,
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn smpplib_default_alphabet_octets() {
        // What smpplib's gsm_encode gives for "@£$ {€}_": @=0x00, £=0x01,
        // $=0x02, space, { = ESC 0x28, € = ESC 0x65, } = ESC 0x29, _ = 0x11.
        let bytes = [
            0x00, 0x01, 0x02, 0x20, 0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29, 0x11,
        ];
        assert_eq!(text(0, &bytes), "@£$ {€}_");
        let mut out = Vec::new();
        assert_eq!(
            encode(
                &Payload::Text {
                    text: "@£$ {€}_".into(),
                    ucs2: false
                },
                &mut out
            ),
            0
        );
        assert_eq!(out, bytes);
        let (a, _) = alphabet(0).unwrap();
        assert!(decode(a, &[0x41, 0x80]).unwrap_err().contains("0x80 at 1"));
    }

    #[test]
    fn ia5_latin1_and_ucs2() {
        assert_eq!(text(1, b"Hi @home"), "Hi @home");
        assert!(decode(Alphabet::Ia5, &[0xE9]).is_err());
        assert_eq!(text(3, &[0x63, 0x61, 0x66, 0xE9]), "café");
        assert_eq!(text(8, &[0x04, 0x1F, 0xD8, 0x3D, 0xDE, 0x00]), "П😀");
        assert!(decode(Alphabet::Ucs2, &[0, 0x41, 0])
            .unwrap_err()
            .contains("3 octets"));
        let mut out = Vec::new();
        let p = Payload::Text {
            text: "П😀".into(),
            ucs2: false,
        };
        assert_eq!(encode(&p, &mut out), 8);
        assert_eq!(out, [0x04, 0x1F, 0xD8, 0x3D, 0xDE, 0x00]);
    }

    #[test]
    fn binary_and_classes() {
        assert_eq!(alphabet(4), Ok((Alphabet::Binary, false)));
        assert_eq!(alphabet(2), Ok((Alphabet::Binary, false)));
        assert_eq!(alphabet(0xF0), Ok((Alphabet::Gsm, true)));
        assert_eq!(alphabet(0xF5), Ok((Alphabet::Binary, false)));
        assert_eq!(alphabet(0x18), Ok((Alphabet::Ucs2, true)));
        assert_eq!(alphabet(0x11), Ok((Alphabet::Gsm, false)));
        assert!(alphabet(5).unwrap_err().contains("0x05"));
        let mut out = Vec::new();
        assert_eq!(encode(&Payload::Binary { data: vec![1, 2] }, &mut out), 4);
    }

    #[test]
    fn udh_split_and_sar_headers() {
        let data = [5, 0, 3, 0x2A, 2, 1, b'h', b'i'];
        assert_eq!(split_udh(&data), Ok((&data[..6], &data[6..])));
        assert!(split_udh(&[9, 1, 2]).is_err());
        assert!(split_udh(&[]).is_err());
        assert_eq!(sar_udh(0x2A, 3, 2), [5, 0, 3, 0x2A, 3, 2]);
        assert_eq!(sar_udh(0x1234, 3, 2), [6, 8, 4, 0x12, 0x34, 3, 2]);
    }
}
