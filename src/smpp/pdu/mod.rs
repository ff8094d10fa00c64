//! SMPP 3.4 wire formats, in the style of `crate::pdu`: typed values with
//! `parse(&[u8])` and `emit(&self, &mut Vec<u8>)`, no IO. Every parse error
//! names the command, the field and its offset, and carries the
//! command_status to answer with ([`PduError::status`]).
//!
//! - [`header`]: the 16-octet header and the framing rule (command_length
//!   16..=64 KiB);
//! - [`body`]: the operation bodies; [`tlv`]: optional parameters (unknown
//!   ones kept raw); [`status`]: command_status names.

pub mod body;
pub mod error;
mod field;
pub mod header;
pub mod status;
pub mod tlv;

pub use body::{
    Bind, BindResp, CancelSm, DataSm, QuerySm, QuerySmResp, ReplaceSm, Sm, SmResp,
    MAX_SHORT_MESSAGE,
};
pub use error::{PduError, Problem};
pub use header::{frame_length, FrameError, Header, HEADER_LEN, MAX_PDU_LEN};
pub use tlv::{Tlv, TlvList};

use field::Reader;

/// command_id values (SMPP 3.4 §5.1.2).
pub mod command {
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    pub const QUERY_SM: u32 = 0x0000_0003;
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    pub const DELIVER_SM: u32 = 0x0000_0005;
    pub const UNBIND: u32 = 0x0000_0006;
    pub const REPLACE_SM: u32 = 0x0000_0007;
    pub const CANCEL_SM: u32 = 0x0000_0008;
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    pub const OUTBIND: u32 = 0x0000_000B;
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    pub const SUBMIT_MULTI: u32 = 0x0000_0021;
    pub const ALERT_NOTIFICATION: u32 = 0x0000_0102;
    pub const DATA_SM: u32 = 0x0000_0103;
    /// The response bit.
    pub const RESP: u32 = 0x8000_0000;

    /// The command's name, for logs and errors.
    pub const fn name(id: u32) -> &'static str {
        match id {
            GENERIC_NACK => "generic_nack",
            BIND_RECEIVER => "bind_receiver",
            BIND_TRANSMITTER => "bind_transmitter",
            QUERY_SM => "query_sm",
            SUBMIT_SM => "submit_sm",
            DELIVER_SM => "deliver_sm",
            UNBIND => "unbind",
            REPLACE_SM => "replace_sm",
            CANCEL_SM => "cancel_sm",
            BIND_TRANSCEIVER => "bind_transceiver",
            OUTBIND => "outbind",
            ENQUIRE_LINK => "enquire_link",
            SUBMIT_MULTI => "submit_multi",
            ALERT_NOTIFICATION => "alert_notification",
            DATA_SM => "data_sm",
            x if x == BIND_RECEIVER | RESP => "bind_receiver_resp",
            x if x == BIND_TRANSMITTER | RESP => "bind_transmitter_resp",
            x if x == QUERY_SM | RESP => "query_sm_resp",
            x if x == SUBMIT_SM | RESP => "submit_sm_resp",
            x if x == DELIVER_SM | RESP => "deliver_sm_resp",
            x if x == UNBIND | RESP => "unbind_resp",
            x if x == REPLACE_SM | RESP => "replace_sm_resp",
            x if x == CANCEL_SM | RESP => "cancel_sm_resp",
            x if x == BIND_TRANSCEIVER | RESP => "bind_transceiver_resp",
            x if x == ENQUIRE_LINK | RESP => "enquire_link_resp",
            x if x == SUBMIT_MULTI | RESP => "submit_multi_resp",
            x if x == DATA_SM | RESP => "data_sm_resp",
            _ => "unknown command",
        }
    }
}

/// The body of a PDU, by command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    BindTransmitter(Bind),
    BindReceiver(Bind),
    BindTransceiver(Bind),
    BindTransmitterResp(BindResp),
    BindReceiverResp(BindResp),
    BindTransceiverResp(BindResp),
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSm(Box<Sm>),
    SubmitSmResp(SmResp),
    DeliverSm(Box<Sm>),
    DeliverSmResp(SmResp),
    DataSm(Box<DataSm>),
    DataSmResp(SmResp),
    QuerySm(QuerySm),
    QuerySmResp(QuerySmResp),
    CancelSm(CancelSm),
    CancelSmResp,
    ReplaceSm(Box<ReplaceSm>),
    ReplaceSmResp,
}

impl Body {
    /// The command_id this body is sent with.
    pub const fn command_id(&self) -> u32 {
        use command::*;
        match self {
            Body::BindTransmitter(_) => BIND_TRANSMITTER,
            Body::BindReceiver(_) => BIND_RECEIVER,
            Body::BindTransceiver(_) => BIND_TRANSCEIVER,
            Body::BindTransmitterResp(_) => BIND_TRANSMITTER | RESP,
            Body::BindReceiverResp(_) => BIND_RECEIVER | RESP,
            Body::BindTransceiverResp(_) => BIND_TRANSCEIVER | RESP,
            Body::Unbind => UNBIND,
            Body::UnbindResp => UNBIND | RESP,
            Body::EnquireLink => ENQUIRE_LINK,
            Body::EnquireLinkResp => ENQUIRE_LINK | RESP,
            Body::GenericNack => GENERIC_NACK,
            Body::SubmitSm(_) => SUBMIT_SM,
            Body::SubmitSmResp(_) => SUBMIT_SM | RESP,
            Body::DeliverSm(_) => DELIVER_SM,
            Body::DeliverSmResp(_) => DELIVER_SM | RESP,
            Body::DataSm(_) => DATA_SM,
            Body::DataSmResp(_) => DATA_SM | RESP,
            Body::QuerySm(_) => QUERY_SM,
            Body::QuerySmResp(_) => QUERY_SM | RESP,
            Body::CancelSm(_) => CANCEL_SM,
            Body::CancelSmResp => CANCEL_SM | RESP,
            Body::ReplaceSm(_) => REPLACE_SM,
            Body::ReplaceSmResp => REPLACE_SM | RESP,
        }
    }

    pub const fn name(&self) -> &'static str {
        command::name(self.command_id())
    }

    /// True for responses (generic_nack included).
    pub const fn is_response(&self) -> bool {
        self.command_id() & command::RESP != 0
    }
}

/// One PDU: status, sequence number and body (command_length and
/// command_id follow from the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub status: u32,
    pub sequence: u32,
    pub body: Body,
}

impl Pdu {
    pub fn new(sequence: u32, body: Body) -> Pdu {
        Pdu {
            status: status::ESME_ROK,
            sequence,
            body,
        }
    }

    /// A response with an error status (sent without a body, as 3.4 says
    /// for every `_resp` whose command_status is not 0).
    pub fn error(sequence: u32, body: Body, status: u32) -> Pdu {
        Pdu {
            status,
            sequence,
            body,
        }
    }

    /// Reads one whole PDU (`buf` is exactly command_length octets).
    /// An unknown command_id is an error whose status is ESME_RINVCMDID.
    pub fn parse(buf: &[u8]) -> Result<Pdu, PduError> {
        let h = Header::parse(buf)?;
        let name = command::name(h.command_id);
        let mut r = Reader::new(buf, HEADER_LEN);
        let body = Self::parse_body(&h, &mut r).map_err(|mut e| {
            e.command = name;
            e
        })?;
        if !r.is_empty() {
            return Err(PduError {
                command: name,
                field: "body",
                offset: r.pos(),
                problem: Problem::Trailing(r.remaining()),
            });
        }
        Ok(Pdu {
            status: h.command_status,
            sequence: h.sequence,
            body,
        })
    }

    fn parse_body(h: &Header, r: &mut Reader<'_>) -> Result<Body, PduError> {
        use command::*;
        Ok(match h.command_id {
            BIND_TRANSMITTER => Body::BindTransmitter(Bind::parse(r)?),
            BIND_RECEIVER => Body::BindReceiver(Bind::parse(r)?),
            BIND_TRANSCEIVER => Body::BindTransceiver(Bind::parse(r)?),
            x if x == BIND_TRANSMITTER | RESP => Body::BindTransmitterResp(BindResp::parse(r)?),
            x if x == BIND_RECEIVER | RESP => Body::BindReceiverResp(BindResp::parse(r)?),
            x if x == BIND_TRANSCEIVER | RESP => Body::BindTransceiverResp(BindResp::parse(r)?),
            UNBIND => Body::Unbind,
            x if x == UNBIND | RESP => Body::UnbindResp,
            ENQUIRE_LINK => Body::EnquireLink,
            x if x == ENQUIRE_LINK | RESP => Body::EnquireLinkResp,
            GENERIC_NACK => Body::GenericNack,
            SUBMIT_SM => Body::SubmitSm(Box::new(Sm::parse(r)?)),
            x if x == SUBMIT_SM | RESP => Body::SubmitSmResp(SmResp::parse(r)?),
            DELIVER_SM => Body::DeliverSm(Box::new(Sm::parse(r)?)),
            x if x == DELIVER_SM | RESP => Body::DeliverSmResp(SmResp::parse(r)?),
            DATA_SM => Body::DataSm(Box::new(DataSm::parse(r)?)),
            x if x == DATA_SM | RESP => Body::DataSmResp(SmResp::parse(r)?),
            QUERY_SM => Body::QuerySm(QuerySm::parse(r)?),
            x if x == QUERY_SM | RESP => Body::QuerySmResp(QuerySmResp::parse(r)?),
            CANCEL_SM => Body::CancelSm(CancelSm::parse(r)?),
            x if x == CANCEL_SM | RESP => Body::CancelSmResp,
            REPLACE_SM => Body::ReplaceSm(Box::new(ReplaceSm::parse(r)?)),
            x if x == REPLACE_SM | RESP => Body::ReplaceSmResp,
            other => {
                return Err(PduError::new(
                    "command_id",
                    4,
                    Problem::Invalid(format!("unknown command_id 0x{other:08X}")),
                ))
            }
        })
    }

    /// Appends the PDU; returns its length.
    pub fn emit(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        field::put_u32(out, self.body.command_id());
        field::put_u32(out, self.status);
        field::put_u32(out, self.sequence);
        // A response with an error status carries no body (3.4 §4).
        let bodyless = self.body.is_response() && self.status != status::ESME_ROK;
        if !bodyless {
            match &self.body {
                Body::BindTransmitter(b) | Body::BindReceiver(b) | Body::BindTransceiver(b) => {
                    b.emit(out)
                }
                Body::BindTransmitterResp(b)
                | Body::BindReceiverResp(b)
                | Body::BindTransceiverResp(b) => b.emit(out),
                Body::SubmitSm(s) | Body::DeliverSm(s) => s.emit(out),
                Body::SubmitSmResp(s) | Body::DeliverSmResp(s) | Body::DataSmResp(s) => s.emit(out),
                Body::DataSm(d) => d.emit(out),
                Body::QuerySm(q) => q.emit(out),
                Body::QuerySmResp(q) => q.emit(out),
                Body::CancelSm(c) => c.emit(out),
                Body::ReplaceSm(m) => m.emit(out),
                Body::Unbind
                | Body::UnbindResp
                | Body::EnquireLink
                | Body::EnquireLinkResp
                | Body::GenericNack
                | Body::CancelSmResp
                | Body::ReplaceSmResp => {}
            }
        }
        let len = out.len() - start;
        out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        len
    }

    /// The PDU as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        self.emit(&mut v);
        v
    }
}

#[cfg(test)]
mod tests;
