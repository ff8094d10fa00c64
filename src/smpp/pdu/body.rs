//! The bodies of the SMPP 3.4 operations we speak, each with parse and emit.
//! Field sizes are the 3.4 maxima (C-octet strings: NUL included).

use super::error::{PduError, Problem};
use super::field::{put_cstr, Reader};
use super::tlv::{self, Tlv};

/// bind_transmitter / bind_receiver / bind_transceiver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

impl Bind {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Bind, PduError> {
        let b = Bind {
            system_id: r.cstr("system_id", 16)?,
            password: r.cstr("password", 9)?,
            system_type: r.cstr("system_type", 13)?,
            interface_version: r.u8("interface_version")?,
            addr_ton: r.u8("addr_ton")?,
            addr_npi: r.u8("addr_npi")?,
            address_range: r.cstr("address_range", 41)?,
        };
        // 3.4 defines no TLVs for a bind; tolerate (and drop) any that parse.
        tlv::read_all(r)?;
        Ok(b)
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.system_id);
        put_cstr(out, &self.password);
        put_cstr(out, &self.system_type);
        out.extend_from_slice(&[self.interface_version, self.addr_ton, self.addr_npi]);
        put_cstr(out, &self.address_range);
    }
}

/// bind_*_resp: our system_id and the sc_interface_version TLV.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindResp {
    pub system_id: String,
    pub tlvs: Vec<Tlv>,
}

impl BindResp {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<BindResp, PduError> {
        if r.is_empty() {
            return Ok(BindResp::default());
        }
        Ok(BindResp {
            system_id: r.cstr("system_id", 16)?,
            tlvs: tlv::read_all(r)?,
        })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.system_id);
        tlv::write_all(out, &self.tlvs);
    }
}

/// submit_sm and deliver_sm (the same layout).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sm {
    pub service_type: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub replace_if_present_flag: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    /// At most 254 octets (sm_length is one octet, 255 is reserved... and
    /// 3.4 caps short_message at 254).
    pub short_message: Vec<u8>,
    pub tlvs: Vec<Tlv>,
}

/// The largest short_message (3.4 §5.2.22: 0..254).
pub const MAX_SHORT_MESSAGE: usize = 254;

impl Sm {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Sm, PduError> {
        let mut sm = Sm {
            service_type: r.cstr("service_type", 6)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", 21)?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.cstr("destination_addr", 21)?,
            esm_class: r.u8("esm_class")?,
            protocol_id: r.u8("protocol_id")?,
            priority_flag: r.u8("priority_flag")?,
            schedule_delivery_time: r.time("schedule_delivery_time")?,
            validity_period: r.time("validity_period")?,
            registered_delivery: r.u8("registered_delivery")?,
            replace_if_present_flag: r.u8("replace_if_present_flag")?,
            data_coding: r.u8("data_coding")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            short_message: Vec::new(),
            tlvs: Vec::new(),
        };
        let at = r.pos();
        let len = usize::from(r.u8("sm_length")?);
        if len > MAX_SHORT_MESSAGE {
            return Err(PduError::new(
                "sm_length",
                at,
                Problem::Invalid(format!("sm_length {len} is over the 254 octets allowed")),
            ));
        }
        sm.short_message = r.bytes("short_message", len)?.to_vec();
        sm.tlvs = tlv::read_all(r)?;
        Ok(sm)
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.service_type);
        out.extend_from_slice(&[self.source_addr_ton, self.source_addr_npi]);
        put_cstr(out, &self.source_addr);
        out.extend_from_slice(&[self.dest_addr_ton, self.dest_addr_npi]);
        put_cstr(out, &self.destination_addr);
        out.extend_from_slice(&[self.esm_class, self.protocol_id, self.priority_flag]);
        put_cstr(out, &self.schedule_delivery_time);
        put_cstr(out, &self.validity_period);
        let sm = &self.short_message[..self.short_message.len().min(MAX_SHORT_MESSAGE)];
        out.extend_from_slice(&[
            self.registered_delivery,
            self.replace_if_present_flag,
            self.data_coding,
            self.sm_default_msg_id,
            sm.len() as u8,
        ]);
        out.extend_from_slice(sm);
        tlv::write_all(out, &self.tlvs);
    }
}

/// submit_sm_resp, deliver_sm_resp, data_sm_resp: a message_id (empty in
/// deliver_sm_resp) and, for data_sm_resp, TLVs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmResp {
    pub message_id: String,
    pub tlvs: Vec<Tlv>,
}

impl SmResp {
    pub fn id(message_id: impl Into<String>) -> SmResp {
        SmResp {
            message_id: message_id.into(),
            tlvs: Vec::new(),
        }
    }

    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<SmResp, PduError> {
        if r.is_empty() {
            return Ok(SmResp::default());
        }
        Ok(SmResp {
            message_id: r.cstr("message_id", 65)?,
            tlvs: tlv::read_all(r)?,
        })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.message_id);
        tlv::write_all(out, &self.tlvs);
    }
}

/// data_sm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataSm {
    pub service_type: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub registered_delivery: u8,
    pub data_coding: u8,
    pub tlvs: Vec<Tlv>,
}

impl DataSm {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<DataSm, PduError> {
        Ok(DataSm {
            service_type: r.cstr("service_type", 6)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", 65)?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.cstr("destination_addr", 65)?,
            esm_class: r.u8("esm_class")?,
            registered_delivery: r.u8("registered_delivery")?,
            data_coding: r.u8("data_coding")?,
            tlvs: tlv::read_all(r)?,
        })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.service_type);
        out.extend_from_slice(&[self.source_addr_ton, self.source_addr_npi]);
        put_cstr(out, &self.source_addr);
        out.extend_from_slice(&[self.dest_addr_ton, self.dest_addr_npi]);
        put_cstr(out, &self.destination_addr);
        out.extend_from_slice(&[self.esm_class, self.registered_delivery, self.data_coding]);
        tlv::write_all(out, &self.tlvs);
    }
}

/// query_sm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySm {
    pub message_id: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
}

impl QuerySm {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<QuerySm, PduError> {
        Ok(QuerySm {
            message_id: r.cstr("message_id", 65)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", 21)?,
        })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.message_id);
        out.extend_from_slice(&[self.source_addr_ton, self.source_addr_npi]);
        put_cstr(out, &self.source_addr);
    }
}

/// query_sm_resp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySmResp {
    pub message_id: String,
    /// Absolute SMPP time, or empty while the message is not final.
    pub final_date: String,
    pub message_state: u8,
    pub error_code: u8,
}

impl QuerySmResp {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<QuerySmResp, PduError> {
        if r.is_empty() {
            return Ok(QuerySmResp::default());
        }
        Ok(QuerySmResp {
            message_id: r.cstr("message_id", 65)?,
            final_date: r.time("final_date")?,
            message_state: r.u8("message_state")?,
            error_code: r.u8("error_code")?,
        })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.message_id);
        put_cstr(out, &self.final_date);
        out.extend_from_slice(&[self.message_state, self.error_code]);
    }
}

/// cancel_sm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CancelSm {
    pub service_type: String,
    pub message_id: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
}

impl CancelSm {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<CancelSm, PduError> {
        Ok(CancelSm {
            service_type: r.cstr("service_type", 6)?,
            message_id: r.cstr("message_id", 65)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", 21)?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.cstr("destination_addr", 21)?,
        })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.service_type);
        put_cstr(out, &self.message_id);
        out.extend_from_slice(&[self.source_addr_ton, self.source_addr_npi]);
        put_cstr(out, &self.source_addr);
        out.extend_from_slice(&[self.dest_addr_ton, self.dest_addr_npi]);
        put_cstr(out, &self.destination_addr);
    }
}

/// replace_sm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplaceSm {
    pub message_id: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub sm_default_msg_id: u8,
    pub short_message: Vec<u8>,
}

impl ReplaceSm {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<ReplaceSm, PduError> {
        let mut m = ReplaceSm {
            message_id: r.cstr("message_id", 65)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", 21)?,
            schedule_delivery_time: r.time("schedule_delivery_time")?,
            validity_period: r.time("validity_period")?,
            registered_delivery: r.u8("registered_delivery")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            short_message: Vec::new(),
        };
        let at = r.pos();
        let len = usize::from(r.u8("sm_length")?);
        if len > MAX_SHORT_MESSAGE {
            return Err(PduError::new(
                "sm_length",
                at,
                Problem::Invalid(format!("sm_length {len} is over the 254 octets allowed")),
            ));
        }
        m.short_message = r.bytes("short_message", len)?.to_vec();
        Ok(m)
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        put_cstr(out, &self.message_id);
        out.extend_from_slice(&[self.source_addr_ton, self.source_addr_npi]);
        put_cstr(out, &self.source_addr);
        put_cstr(out, &self.schedule_delivery_time);
        put_cstr(out, &self.validity_period);
        let sm = &self.short_message[..self.short_message.len().min(MAX_SHORT_MESSAGE)];
        out.extend_from_slice(&[
            self.registered_delivery,
            self.sm_default_msg_id,
            sm.len() as u8,
        ]);
        out.extend_from_slice(sm);
    }
}
