//! Optional parameters (TLVs, SMPP 3.4 §5.3). All are kept in order, raw;
//! the known ones have their lengths checked and typed accessors. Unknown
//! tags are kept as they came (a client's vendor TLVs are not an error).

use super::error::{PduError, Problem};
use super::field::{put_u16, Reader};

pub const DEST_ADDR_SUBUNIT: u16 = 0x0005;
pub const SOURCE_PORT: u16 = 0x020A;
pub const DESTINATION_PORT: u16 = 0x020B;
pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
pub const SAR_MSG_REF_NUM: u16 = 0x020C;
pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
pub const SC_INTERFACE_VERSION: u16 = 0x0210;
pub const PAYLOAD_TYPE: u16 = 0x0019;
pub const MESSAGE_PAYLOAD: u16 = 0x0424;
pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
pub const MESSAGE_STATE: u16 = 0x0427;
pub const NETWORK_ERROR_CODE: u16 = 0x0423;
pub const MORE_MESSAGES_TO_SEND: u16 = 0x0426;
pub const QOS_TIME_TO_LIVE: u16 = 0x0017;

/// One optional parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u16,
    pub value: Vec<u8>,
}

impl Tlv {
    pub fn new(tag: u16, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv {
            tag,
            value: value.into(),
        }
    }

    /// A C-octet string TLV (receipted_message_id).
    pub fn cstr(tag: u16, s: &str) -> Tlv {
        let mut v: Vec<u8> = s.bytes().filter(|&b| b != 0).collect();
        v.push(0);
        Tlv { tag, value: v }
    }
}

/// The lengths a known tag allows: (min, max).
fn allowed_len(tag: u16) -> Option<(usize, usize)> {
    Some(match tag {
        DEST_ADDR_SUBUNIT
        | PAYLOAD_TYPE
        | SAR_TOTAL_SEGMENTS
        | SAR_SEGMENT_SEQNUM
        | SC_INTERFACE_VERSION
        | MESSAGE_STATE
        | MORE_MESSAGES_TO_SEND => (1, 1),
        SOURCE_PORT | DESTINATION_PORT | USER_MESSAGE_REFERENCE | SAR_MSG_REF_NUM => (2, 2),
        NETWORK_ERROR_CODE => (3, 3),
        QOS_TIME_TO_LIVE => (4, 4),
        RECEIPTED_MESSAGE_ID => (1, 65),
        _ => return None,
    })
}

/// Reads TLVs up to the end of the PDU.
pub(crate) fn read_all(r: &mut Reader<'_>) -> Result<Vec<Tlv>, PduError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let at = r.pos();
        if r.remaining() < 4 {
            return Err(PduError::new("TLV", at, Problem::Trailing(r.remaining())));
        }
        let tag = r.u16("TLV tag")?;
        let len = usize::from(r.u16("TLV length")?);
        if len > r.remaining() {
            return Err(PduError::new("TLV", at, Problem::TlvOverrun { tag, len }));
        }
        if let Some((min, max)) = allowed_len(tag) {
            if len < min || len > max {
                return Err(PduError::new("TLV", at, Problem::TlvLength { tag, len }));
            }
        }
        let value = r.bytes("TLV value", len)?.to_vec();
        if tag == RECEIPTED_MESSAGE_ID && value.last() != Some(&0) {
            return Err(PduError::new(
                "receipted_message_id",
                at,
                Problem::Invalid("receipted_message_id TLV without its NUL".into()),
            ));
        }
        out.push(Tlv { tag, value });
    }
    Ok(out)
}

pub(crate) fn write_all(out: &mut Vec<u8>, tlvs: &[Tlv]) {
    for t in tlvs {
        put_u16(out, t.tag);
        // Emitters only build values that fit: a PDU is at most 64 KiB.
        put_u16(out, t.value.len().min(usize::from(u16::MAX)) as u16);
        out.extend_from_slice(&t.value[..t.value.len().min(usize::from(u16::MAX))]);
    }
}

/// Typed reads over a TLV list.
pub trait TlvList {
    fn tlv(&self, tag: u16) -> Option<&[u8]>;

    fn tlv_u8(&self, tag: u16) -> Option<u8> {
        self.tlv(tag).and_then(|v| v.first().copied())
    }

    fn tlv_u16(&self, tag: u16) -> Option<u16> {
        self.tlv(tag)
            .filter(|v| v.len() == 2)
            .map(|v| u16::from_be_bytes([v[0], v[1]]))
    }

    /// A C-octet string TLV without its NUL.
    fn tlv_cstr(&self, tag: u16) -> Option<String> {
        self.tlv(tag).map(|v| {
            v.iter()
                .take_while(|&&b| b != 0)
                .map(|&b| b as char)
                .collect()
        })
    }
}

impl TlvList for [Tlv] {
    fn tlv(&self, tag: u16) -> Option<&[u8]> {
        self.iter()
            .find(|t| t.tag == tag)
            .map(|t| t.value.as_slice())
    }
}

impl TlvList for Vec<Tlv> {
    fn tlv(&self, tag: u16) -> Option<&[u8]> {
        self.as_slice().tlv(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_tlvs_are_kept_in_order() {
        let buf = [
            0x02, 0x0C, 0x00, 0x02, 0x12, 0x34, // sar_msg_ref_num
            0x14, 0x00, 0x00, 0x03, 1, 2, 3, // vendor 0x1400
            0x04, 0x24, 0x00, 0x00, // empty message_payload
        ];
        let tlvs = read_all(&mut Reader::new(&buf, 0)).unwrap();
        assert_eq!(tlvs.len(), 3);
        assert_eq!(tlvs.tlv_u16(SAR_MSG_REF_NUM), Some(0x1234));
        assert_eq!(tlvs.tlv(0x1400), Some(&[1u8, 2, 3][..]));
        assert_eq!(tlvs.tlv(MESSAGE_PAYLOAD), Some(&[][..]));
        let mut out = Vec::new();
        write_all(&mut out, &tlvs);
        assert_eq!(out, buf);
    }

    #[test]
    fn bad_tlv_lengths_are_refused() {
        let e = read_all(&mut Reader::new(&[0x04, 0x27, 0, 2, 1, 2], 0)).unwrap_err();
        assert_eq!(
            e.problem,
            Problem::TlvLength {
                tag: MESSAGE_STATE,
                len: 2
            }
        );
        let e = read_all(&mut Reader::new(&[0x04, 0x24, 0, 9, 1], 0)).unwrap_err();
        assert_eq!(
            e.problem,
            Problem::TlvOverrun {
                tag: MESSAGE_PAYLOAD,
                len: 9
            }
        );
        let e = read_all(&mut Reader::new(&[0x04, 0x24, 0], 0)).unwrap_err();
        assert_eq!(e.problem, Problem::Trailing(3));
    }
}
