//! From submit_sm / data_sm to the backend's [`SubmitRequest`], and from
//! outbox rows ([`ReceiptItem`], [`MoItem`]) to deliver_sm.

use std::fmt::Write as _;

use crate::receipt::{smpp_date, TEXT_CHARS};
use crate::smpp::backend::{Address, IdFormat, MoItem, Payload, ReceiptItem, SubmitRequest};
use crate::smpp::coding;
use crate::smpp::pdu::{status, tlv, DataSm, Sm, Tlv, TlvList, MAX_SHORT_MESSAGE};
use crate::smpp::time;
use crate::state::MessageState;

/// esm_class bit: the short message starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;
/// esm_class message type: SMSC delivery receipt.
pub const ESM_DELIVERY_RECEIPT: u8 = 0x04;
/// esm_class message type: intermediate delivery notification.
pub const ESM_INTERMEDIATE: u8 = 0x20;

/// A submit refused before it reaches the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u32,
    pub reason: String,
}

fn refuse(status: u32, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

/// The fields submit_sm and data_sm share.
struct Common<'a> {
    source: Address,
    dest: Address,
    esm_class: u8,
    registered_delivery: u8,
    data_coding: u8,
    short_message: &'a [u8],
    tlvs: &'a [Tlv],
}

/// A submit_sm as the backend takes it; `now` is the unix second the
/// relative times count from.
pub fn submit_request(sm: &Sm, now: i64) -> Result<SubmitRequest, Refusal> {
    let mut req = common(Common {
        source: Address {
            ton: sm.source_addr_ton,
            npi: sm.source_addr_npi,
            addr: sm.source_addr.clone(),
        },
        dest: Address {
            ton: sm.dest_addr_ton,
            npi: sm.dest_addr_npi,
            addr: sm.destination_addr.clone(),
        },
        esm_class: sm.esm_class,
        registered_delivery: sm.registered_delivery,
        data_coding: sm.data_coding,
        short_message: &sm.short_message,
        tlvs: &sm.tlvs,
    })?;
    req.not_before = time::parse(&sm.schedule_delivery_time, now).map_err(|e| {
        refuse(
            status::ESME_RINVSCHED,
            format!("schedule_delivery_time {e}"),
        )
    })?;
    req.expires_at = time::parse(&sm.validity_period, now)
        .map_err(|e| refuse(status::ESME_RINVEXPIRY, format!("validity_period {e}")))?;
    Ok(req)
}

/// A data_sm as the backend takes it (its text is in message_payload;
/// qos_time_to_live, when given, is the validity in seconds).
pub fn data_sm_request(d: &DataSm, now: i64) -> Result<SubmitRequest, Refusal> {
    let mut req = common(Common {
        source: Address {
            ton: d.source_addr_ton,
            npi: d.source_addr_npi,
            addr: d.source_addr.clone(),
        },
        dest: Address {
            ton: d.dest_addr_ton,
            npi: d.dest_addr_npi,
            addr: d.destination_addr.clone(),
        },
        esm_class: d.esm_class,
        registered_delivery: d.registered_delivery,
        data_coding: d.data_coding,
        short_message: &[],
        tlvs: &d.tlvs,
    })?;
    if let Some(v) = d.tlvs.tlv(tlv::QOS_TIME_TO_LIVE) {
        if let Ok(b) = <[u8; 4]>::try_from(v) {
            req.expires_at = Some(now + i64::from(u32::from_be_bytes(b)));
        }
    }
    Ok(req)
}

fn common(c: Common<'_>) -> Result<SubmitRequest, Refusal> {
    if c.dest.addr.is_empty() {
        return Err(refuse(status::ESME_RINVDSTADR, "destination_addr is empty"));
    }
    // Message type bits (2-5) other than "default" make no sense in a submit.
    if c.esm_class & 0x3C != 0 {
        return Err(refuse(
            status::ESME_RINVESMCLASS,
            format!(
                "esm_class 0x{:02X}: a submit cannot carry message type bits 0x{:02X}",
                c.esm_class,
                c.esm_class & 0x3C
            ),
        ));
    }
    let (alphabet, flash) =
        coding::alphabet(c.data_coding).map_err(|e| refuse(status::ESME_RSUBMITFAIL, e))?;
    let data: &[u8] = match c.tlvs.tlv(tlv::MESSAGE_PAYLOAD) {
        Some(p) if !c.short_message.is_empty() => {
            return Err(refuse(
                status::ESME_RINVMSGLEN,
                format!(
                    "both short_message ({} octets) and message_payload ({} octets) are set",
                    c.short_message.len(),
                    p.len()
                ),
            ))
        }
        Some(p) => p,
        None => c.short_message,
    };
    let (mut udh, body) = if c.esm_class & ESM_UDHI != 0 {
        let (h, b) = coding::split_udh(data).map_err(|e| refuse(status::ESME_RINVESMCLASS, e))?;
        (Some(h.to_vec()), b)
    } else {
        (None, data)
    };
    let sar = (
        c.tlvs.tlv_u16(tlv::SAR_MSG_REF_NUM),
        c.tlvs.tlv_u8(tlv::SAR_TOTAL_SEGMENTS),
        c.tlvs.tlv_u8(tlv::SAR_SEGMENT_SEQNUM),
    );
    match sar {
        (None, None, None) => {}
        (Some(r), Some(total), Some(seq)) => {
            if total == 0 || seq == 0 || seq > total {
                return Err(refuse(
                    status::ESME_RINVOPTPARAMVAL,
                    format!("sar_segment_seqnum {seq} of sar_total_segments {total}"),
                ));
            }
            // A header of the client's own wins over the sar_* TLVs.
            if udh.is_none() {
                udh = Some(coding::sar_udh(r, total, seq));
            }
        }
        _ => {
            return Err(refuse(
                status::ESME_RMISSINGOPTPARAM,
                "sar_msg_ref_num, sar_total_segments and sar_segment_seqnum go together",
            ))
        }
    }
    let payload =
        coding::decode(alphabet, body).map_err(|e| refuse(status::ESME_RSUBMITFAIL, e))?;
    if matches!(&payload, Payload::Text { text, .. } if text.is_empty()) && udh.is_none() {
        return Err(refuse(status::ESME_RINVMSGLEN, "the message is empty"));
    }
    Ok(SubmitRequest {
        source: c.source,
        dest: c.dest,
        payload,
        udh,
        registered_delivery: c.registered_delivery,
        expires_at: None,
        not_before: None,
        flash,
    })
}

/// The receipt's stat: the 7-character SMPP name (ACCEPTD, not ACCEPTED).
pub const fn stat(state: MessageState) -> &'static str {
    match state {
        MessageState::Accepted => "ACCEPTD",
        other => other.as_str(),
    }
}

/// The receipt text:
/// `id:<id> sub:<3> dlvrd:<3> submit date:<10> done date:<10> stat:<7> err:<3> text:<20>`.
/// The text head is ASCII (other characters become `?`) so that the line
/// reads the same whatever alphabet a client assumes for a receipt.
pub fn receipt_text(r: &ReceiptItem, id: &str) -> String {
    let mut s = String::with_capacity(128);
    let _ = write!(
        s,
        "id:{id} sub:{:03} dlvrd:{:03} submit date:{} done date:{} stat:{} err:{:03} text:",
        r.sub.min(999),
        r.dlvrd.min(999),
        smpp_date(r.submit_date),
        smpp_date(r.done_date),
        stat(r.state),
        r.err.min(999),
    );
    s.extend(r.text_head.chars().take(TEXT_CHARS).map(|c| match c {
        ' '..='~' => c,
        c if c.is_whitespace() => ' ',
        _ => '?',
    }));
    s
}

/// An address cut to the 20 characters a 21-octet C-octet string holds,
/// ASCII only.
fn fit(a: &str) -> String {
    a.chars()
        .filter(char::is_ascii)
        .filter(|&c| c != '\0')
        .take(20)
        .collect()
}

/// The deliver_sm of a receipt: source and destination of the submit
/// swapped, esm_class 0x04 (0x20 for an intermediate notification), the
/// text, and the TLVs receipted_message_id, message_state and (when a
/// network error decided it) network_error_code.
pub fn receipt_deliver(r: &ReceiptItem, ids: IdFormat) -> Sm {
    let id = ids.format(r.message_id);
    let mut tlvs = vec![
        Tlv::cstr(tlv::RECEIPTED_MESSAGE_ID, &id),
        Tlv::new(tlv::MESSAGE_STATE, [r.state.smpp_value()]),
    ];
    if let Some((kind, code)) = r.network_error {
        let c = code.to_be_bytes();
        tlvs.push(Tlv::new(tlv::NETWORK_ERROR_CODE, [kind, c[0], c[1]]));
    }
    Sm {
        source_addr_ton: r.submit_dest.ton,
        source_addr_npi: r.submit_dest.npi,
        source_addr: fit(&r.submit_dest.addr),
        dest_addr_ton: r.submit_source.ton,
        dest_addr_npi: r.submit_source.npi,
        destination_addr: fit(&r.submit_source.addr),
        esm_class: if r.intermediate {
            ESM_INTERMEDIATE
        } else {
            ESM_DELIVERY_RECEIPT
        },
        short_message: receipt_text(r, &id).into_bytes(),
        tlvs,
        ..Sm::default()
    }
}

/// The deliver_sm of an incoming SMS: esm_class 0 (UDHI with a header),
/// data_coding per payload; a message over 254 octets goes in
/// message_payload with short_message empty.
pub fn mo_deliver(m: &MoItem) -> Sm {
    let mut data = Vec::new();
    if let Some(h) = &m.udh {
        data.extend_from_slice(h);
    }
    let data_coding = coding::encode(&m.payload, &mut data);
    let (short_message, tlvs) = if data.len() > MAX_SHORT_MESSAGE {
        (Vec::new(), vec![Tlv::new(tlv::MESSAGE_PAYLOAD, data)])
    } else {
        (data, Vec::new())
    };
    Sm {
        source_addr_ton: m.from.ton,
        source_addr_npi: m.from.npi,
        source_addr: fit(&m.from.addr),
        dest_addr_ton: m.to.ton,
        dest_addr_npi: m.to.npi,
        destination_addr: fit(&m.to.addr),
        esm_class: if m.udh.is_some() { ESM_UDHI } else { 0 },
        data_coding,
        short_message,
        tlvs,
        ..Sm::default()
    }
}

#[cfg(test)]
mod tests;
