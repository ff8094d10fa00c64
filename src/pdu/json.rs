//! JSON rendering of decoded PDUs: the field names of the `smsgw pdu decode`
//! contract, usable by any command that shows a PDU.

use serde_json::{json, Map, Value};

use super::address::Address;
use super::dcs::Dcs;
use super::hex;
use super::status_report::StatusReport;
use super::udh::Udh;
use super::user_data::UserData;
use super::validity::Validity;
use super::{Deliver, Submit, Tpdu};
use crate::state::outcome;

/// The JSON object for a PDU and its SMSC address (`null` when absent or default).
pub fn to_json(smsc: Option<&Address>, tpdu: &Tpdu) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), tpdu.kind().into());
    m.insert(
        "smsc".into(),
        smsc.map_or(Value::Null, |a| a.to_string().into()),
    );
    match tpdu {
        Tpdu::StatusReport(r) => status_report(r, &mut m),
        Tpdu::Deliver(d) => deliver(d, &mut m),
        Tpdu::Submit(s) => submit(s, &mut m),
    }
    Value::Object(m)
}

fn udh_list(udh: Option<&Udh>) -> Value {
    Value::Array(
        udh.map(|u| {
            u.elements()
                .map(|e| json!({"iei": e.iei, "data": hex::encode(e.data)}))
                .collect()
        })
        .unwrap_or_default(),
    )
}

fn user_data(ud: &UserData, dcs: Dcs, m: &mut Map<String, Value>) {
    m.insert("pid".into(), Value::Null);
    m.insert("dcs".into(), dcs.0.into());
    m.insert("encoding".into(), dcs.encoding().as_str().into());
    m.insert("class".into(), dcs.class().into());
    m.insert("text".into(), ud.as_text().into());
    m.insert("data_hex".into(), hex::encode(&ud.payload(dcs)).into());
    m.insert("udh".into(), udh_list(ud.udh.as_ref()));
    m.insert(
        "concat".into(),
        ud.concat().map_or(
            Value::Null,
            |c| json!({"ref": c.reference, "total": c.total, "seq": c.seq}),
        ),
    );
}

fn address(prefix: &str, a: &Address, m: &mut Map<String, Value>) {
    m.insert(prefix.into(), a.to_string().into());
    m.insert(format!("{prefix}_ton"), a.ton().as_str().into());
}

fn status_report(r: &StatusReport, m: &mut Map<String, Value>) {
    let o = outcome(r.status);
    m.insert("mr".into(), r.mr.into());
    address("recipient", &r.recipient, m);
    m.insert("scts".into(), r.scts.to_rfc3339().into());
    m.insert("discharge".into(), r.discharge.to_rfc3339().into());
    m.insert("status".into(), r.status.byte().into());
    m.insert("state".into(), o.state.as_str().into());
    m.insert("final".into(), o.is_final.into());
    m.insert("status_text".into(), o.description.into());
    if let Some(ud) = &r.user_data {
        user_data(ud, r.dcs.unwrap_or_default(), m);
    } else if let Some(d) = r.dcs {
        m.insert("dcs".into(), d.0.into());
    }
    m.insert("pid".into(), r.pid.into());
}

fn deliver(d: &Deliver, m: &mut Map<String, Value>) {
    address("sender", &d.sender, m);
    m.insert("scts".into(), d.scts.to_rfc3339().into());
    user_data(&d.user_data, d.dcs, m);
    m.insert("pid".into(), d.pid.into());
}

fn submit(s: &Submit, m: &mut Map<String, Value>) {
    m.insert("mr".into(), s.mr.into());
    address("recipient", &s.recipient, m);
    m.insert("srr".into(), s.status_report_request.into());
    let vp = match &s.validity {
        Validity::None => Value::Null,
        Validity::Relative(v) => json!({"relative_minutes": Validity::relative_minutes(*v)}),
        Validity::Absolute(t) => json!({"absolute": t.to_rfc3339()}),
        Validity::Enhanced(e) => json!({"enhanced": hex::encode(e)}),
    };
    m.insert("vp".into(), vp);
    user_data(&s.user_data, s.dcs, m);
    m.insert("pid".into(), s.pid.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::parse_with_smsc;

    #[test]
    fn status_report_fields() {
        let b = hex::decode("0006D60B911326880736F4111011719551401110117195714000").unwrap();
        let (smsc, t) = parse_with_smsc(&b).unwrap();
        let v = to_json(smsc.as_ref(), &t);
        assert_eq!(
            v,
            json!({
                "type": "status-report", "smsc": null, "mr": 214,
                "recipient": "+31628870634", "recipient_ton": "international",
                "scts": "2011-01-11T17:59:15+01:00", "discharge": "2011-01-11T17:59:17+01:00",
                "status": 0, "state": "DELIVRD", "final": true,
                "status_text": "short message received by the SME", "pid": null
            })
        );
    }
}
