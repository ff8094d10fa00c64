//! The JSON shapes of messages, reports, collisions and incoming SMS,
//! built from the store's rows: the API answers with them and the CLI's
//! `--json` prints them, so a message has one shape and one set of names
//! everywhere (ids as strings, `to`, RFC 3339 times, `status`, `part`).

use serde_json::{json, Value};

use super::params::rfc3339;
use crate::router::PartId;
use crate::store::{
    CollisionRow, EventRow, InboxRow, MessageRow, MessageView, PartRow, ReportRow, Store,
    StoreError,
};

fn time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

/// A message in a list: no parts, reports or events.
pub fn message_summary(m: &MessageRow) -> Value {
    json!({
        "id": m.id.to_string(),
        "to": m.recipient,
        "text": m.text,
        "state": m.state.as_str(),
        "parts": m.parts,
        "error": m.error,
        "created_at": rfc3339(m.created_at),
        "done_at": time(m.done_at),
    })
}

/// A message with its parts, reports, events and receipt.
pub fn message_detail(v: &MessageView) -> Value {
    let m = &v.message;
    let seq_of = |part: Option<i64>| {
        part.and_then(|id| v.parts.iter().find(|p| p.id == id))
            .map(|p| p.seq)
    };
    json!({
        "id": m.id.to_string(),
        "to": m.recipient,
        "text": m.text,
        "state": m.state.as_str(),
        "error": m.error,
        "created_at": rfc3339(m.created_at),
        "done_at": time(m.done_at),
        "parts": v.parts.iter().map(part).collect::<Vec<_>>(),
        "receipt": v.receipts.first(),
        "part_receipts": v.receipts.get(1..).unwrap_or_default(),
        "reports": v.reports.iter().map(|r| report(r, seq_of(r.part_id))).collect::<Vec<_>>(),
        "events": v.events.iter().map(|e| event(e, seq_of(e.part_id))).collect::<Vec<_>>(),
    })
}

fn part(p: &PartRow) -> Value {
    json!({
        "id": p.id,
        "seq": p.seq,
        "modem": p.modem,
        "mr": p.mr,
        "state": p.state.as_str(),
        "status": p.tp_status,
        "error": p.error,
        "cms_error": p.cms_error,
        "submitted_at": time(p.submitted_at),
        "done_at": time(p.done_at),
        "retries": p.retries,
    })
}

fn report(r: &ReportRow, seq: Option<u32>) -> Value {
    json!({
        "id": r.id,
        "received_at": rfc3339(r.received_at),
        "modem": r.modem,
        "recipient": r.recipient,
        "mr": r.mr,
        "status": r.tp_status,
        "scts": rfc3339(r.scts),
        "discharge": time(r.discharge),
        "match": r.result,
        "basis": r.basis,
        "part": seq,
        "candidates": r.candidates,
        "pdu": r.pdu,
    })
}

fn event(e: &EventRow, seq: Option<u32>) -> Value {
    json!({
        "at": rfc3339(e.at),
        "part": seq,
        "state": e.state.as_str(),
        "reason": e.reason,
    })
}

/// How one part of a collision was settled, from its reports: a report
/// matched it by time (or as the sole candidate), an ambiguous report named
/// it, it is still waiting, or it ended without a report (its state).
pub fn settlement(part: &PartRow, reports: &[ReportRow]) -> String {
    if let Some(r) = reports.iter().find(|r| r.part_id == Some(part.id)) {
        return match r.basis.as_deref() {
            Some("time") => "matched-by-time".into(),
            Some("set") => "matched-by-set".into(),
            _ => "matched".into(),
        };
    }
    if reports.iter().any(|r| r.result == "ambiguous") {
        return "ambiguous".into();
    }
    if part.state.is_final() {
        part.state.as_str().to_ascii_lowercase()
    } else {
        "pending".into()
    }
}

/// The settlement of a whole collision from its parts': pending while any
/// part waits, ambiguous if any report could not tell them apart, else
/// matched-by-time when time told them apart, matched-by-set when only the
/// set of their reports settled them, else the first part's.
pub fn overall(parts: &[String]) -> String {
    for word in ["pending", "ambiguous", "matched-by-time", "matched-by-set"] {
        if parts.iter().any(|p| p == word) {
            return word.into();
        }
    }
    parts.first().cloned().unwrap_or_else(|| "pending".into())
}

/// The newest `limit` collisions, each with its parts and their reports.
pub fn collisions(store: &Store, limit: u32) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    for c in store.collisions(Some(limit))? {
        let mut parts = Vec::with_capacity(2);
        for id in [c.pending_part, c.new_part] {
            parts.push((store.part(PartId(id))?, store.part_reports(PartId(id))?));
        }
        out.push(collision(&c, &parts));
    }
    Ok(out)
}

/// A report in a list of reports: as in a message's detail, plus the
/// message it belongs to (`message`, with `part` its part number there).
pub fn report_entry(store: &Store, r: &ReportRow) -> Result<Value, StoreError> {
    let part = r.part_id.map(|id| store.part(PartId(id))).transpose()?;
    let mut v = report(r, part.as_ref().map(|p| p.seq));
    v["message"] = part.map_or(Value::Null, |p| Value::String(p.message_id.to_string()));
    Ok(v)
}

/// One collision with its two parts and how each was settled.
pub fn collision(c: &CollisionRow, parts: &[(PartRow, Vec<ReportRow>)]) -> Value {
    let settled: Vec<String> = parts.iter().map(|(p, r)| settlement(p, r)).collect();
    let parts: Vec<Value> = parts
        .iter()
        .zip(&settled)
        .map(|((p, reports), how)| {
            json!({
                "id": p.id,
                "message": p.message_id.to_string(),
                "seq": p.seq,
                "state": p.state.as_str(),
                "status": p.tp_status,
                "settled": how,
                "reports": reports.iter().map(|r| r.id).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "id": c.id,
        "at": rfc3339(c.at),
        "modem": c.modem,
        "mr": c.mr,
        "to": c.recipient,
        "new_part": c.new_part,
        "pending_part": c.pending_part,
        "settled": overall(&settled),
        "parts": parts,
    })
}

/// One incoming SMS.
pub fn incoming(m: &InboxRow) -> Value {
    json!({
        "id": m.id.to_string(),
        "modem": m.modem,
        "from": m.sender,
        "text": m.text,
        "data_hex": m.data_hex,
        "scts": rfc3339(m.scts),
        "received_at": rfc3339(m.received_at),
        "parts": m.parts,
        "partial": m.partial,
    })
}
