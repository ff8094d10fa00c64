//! Read-only views for the CLI and the API: messages, parts, reports,
//! events, collisions and receipts.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{parse_state, MessageId, Result, Store, StoreError};
use crate::receipt::Receipt;
use crate::router::{PartId, SuffixKey};
use crate::state::MessageState;

fn state_name<S: serde::Serializer>(s: &MessageState, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub recipient: String,
    pub text: String,
    pub parts: u32,
    #[serde(serialize_with = "state_name")]
    pub state: MessageState,
    /// TP-ST or +CMS ERROR code of the part that decided a failure.
    pub error: Option<i64>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartRow {
    pub id: i64,
    pub message_id: i64,
    pub seq: u32,
    #[serde(serialize_with = "state_name")]
    pub state: MessageState,
    pub modem: Option<String>,
    pub mr: Option<u8>,
    pub submitted_at: Option<i64>,
    pub validity: Option<i64>,
    pub scts: Option<i64>,
    pub tp_status: Option<u8>,
    pub cms_error: Option<i64>,
    pub error: Option<String>,
    pub retries: u32,
    pub next_attempt: Option<i64>,
    pub done_at: Option<i64>,
}

/// One status report as received, with what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub id: i64,
    pub received_at: i64,
    pub modem: String,
    pub recipient: String,
    pub mr: u8,
    pub scts: i64,
    pub discharge: Option<i64>,
    pub tp_status: u8,
    pub pdu: String,
    /// matched, duplicate, ambiguous or orphan.
    #[serde(rename = "match")]
    pub result: String,
    /// For matched reports: sole or time.
    pub basis: Option<String>,
    pub part_id: Option<i64>,
    /// For ambiguous reports: the parts it could belong to.
    pub candidates: Vec<i64>,
    /// False while an orphan waits to be retried.
    pub applied: bool,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub part_id: Option<i64>,
    pub report_id: Option<i64>,
    #[serde(serialize_with = "state_name")]
    pub state: MessageState,
    pub reason: String,
}

/// One TP-MR collision: a part registered while another was pending under
/// the same key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollisionRow {
    pub id: i64,
    pub at: i64,
    pub modem: String,
    pub mr: u8,
    pub recipient: String,
    pub new_part: i64,
    pub pending_part: i64,
}

/// A message with everything known about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageView {
    pub message: MessageRow,
    pub parts: Vec<PartRow>,
    pub reports: Vec<ReportRow>,
    pub events: Vec<EventRow>,
    /// The message's receipt line, then one per part.
    pub receipts: Vec<String>,
}

/// Which messages to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    pub state: Option<MessageState>,
    /// Created at or after (unix seconds).
    pub since: Option<i64>,
    /// Recipient, compared on the router's suffix key.
    pub to: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// Which reports to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportFilter {
    #[default]
    All,
    Orphans,
    Ambiguous,
}

const MESSAGE_COLS: &str = "id, recipient, text, parts, state, error, created_at, done_at";

fn message_row(r: &Row<'_>) -> rusqlite::Result<(MessageRow, String)> {
    Ok((
        MessageRow {
            id: r.get(0)?,
            recipient: r.get(1)?,
            text: r.get(2)?,
            parts: r.get(3)?,
            state: MessageState::Accepted,
            error: r.get(5)?,
            created_at: r.get(6)?,
            done_at: r.get(7)?,
        },
        r.get(4)?,
    ))
}

fn with_state<T>(row: (T, String), set: impl FnOnce(&mut T, MessageState)) -> Result<T> {
    let (mut v, s) = row;
    set(&mut v, parse_state(&s)?);
    Ok(v)
}

const PART_SELECT: &str =
    "SELECT p.id, p.message_id, p.seq, p.state, m.name, p.mr, p.submitted_at, p.validity, \
     p.scts, p.tp_status, p.cms_error, p.error, p.retries, p.next_attempt, p.done_at \
     FROM parts p LEFT JOIN modems m ON m.id = p.modem_id";

fn part_row(r: &Row<'_>) -> Result<PartRow> {
    Ok(PartRow {
        id: r.get(0)?,
        message_id: r.get(1)?,
        seq: r.get(2)?,
        state: parse_state(&r.get::<_, String>(3)?)?,
        modem: r.get(4)?,
        mr: r.get(5)?,
        submitted_at: r.get(6)?,
        validity: r.get(7)?,
        scts: r.get(8)?,
        tp_status: r.get(9)?,
        cms_error: r.get(10)?,
        error: r.get(11)?,
        retries: r.get(12)?,
        next_attempt: r.get(13)?,
        done_at: r.get(14)?,
    })
}

const REPORT_COLS: &str = "r.id, r.received_at, m.name, r.recipient, r.mr, r.scts, r.discharge, \
     r.tp_status, r.pdu, r.match, r.basis, r.part_id, r.candidates, r.applied";

fn report_row(r: &Row<'_>) -> rusqlite::Result<ReportRow> {
    let candidates: Option<String> = r.get(12)?;
    Ok(ReportRow {
        id: r.get(0)?,
        received_at: r.get(1)?,
        modem: r.get(2)?,
        recipient: r.get(3)?,
        mr: r.get(4)?,
        scts: r.get(5)?,
        discharge: r.get(6)?,
        tp_status: r.get(7)?,
        pdu: r.get(8)?,
        result: r.get(9)?,
        basis: r.get(10)?,
        part_id: r.get(11)?,
        candidates: candidates
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect(),
        applied: r.get(13)?,
    })
}

impl Store {
    /// One message with its parts, reports, events and receipts.
    pub fn message(&self, id: MessageId) -> Result<MessageView> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {MESSAGE_COLS} FROM messages WHERE id = ?1"),
                [id.0],
                message_row,
            )
            .optional()?
            .ok_or(StoreError::NoMessage(id.0))?;
        let message = with_state(row, |m, s| m.state = s)?;

        let mut parts = Vec::new();
        let mut stmt = self.conn.prepare(&format!(
            "{PART_SELECT} WHERE p.message_id = ?1 ORDER BY p.seq"
        ))?;
        let mut rows = stmt.query([id.0])?;
        while let Some(r) = rows.next()? {
            parts.push(part_row(r)?);
        }

        let mut stmt = self.conn.prepare(&format!(
            "SELECT {REPORT_COLS} FROM reports r JOIN modems m ON m.id = r.modem_id \
             WHERE r.part_id IN (SELECT id FROM parts WHERE message_id = ?1) ORDER BY r.id"
        ))?;
        let reports = stmt
            .query_map([id.0], report_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;

        let mut events = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT id, at, part_id, report_id, state, reason FROM events \
             WHERE message_id = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([id.0])?;
        while let Some(r) = rows.next()? {
            events.push(EventRow {
                id: r.get(0)?,
                at: r.get(1)?,
                part_id: r.get(2)?,
                report_id: r.get(3)?,
                state: parse_state(&r.get::<_, String>(4)?)?,
                reason: r.get(5)?,
            });
        }
        let receipts = receipts(&message, &parts, &events);
        Ok(MessageView {
            message,
            parts,
            reports,
            events,
            receipts,
        })
    }

    /// Messages matching `filter`, newest first.
    pub fn messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRow>> {
        let mut sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = filter.state {
            sql.push_str(" AND state = ?");
            args.push(s.as_str().to_string().into());
        }
        if let Some(t) = filter.since {
            sql.push_str(" AND created_at >= ?");
            args.push(t.into());
        }
        let key = filter.to.as_deref().map(|to| self.router.suffix_key(to));
        if let Some(to) = &filter.to {
            // Narrow down in SQL on the last digits, then compare keys.
            let digits: String = to.chars().filter(char::is_ascii_digit).collect();
            let n = usize::from(self.router.config().suffix_digits).min(digits.len());
            sql.push_str(" AND recipient LIKE ?");
            args.push(format!("%{}", &digits[digits.len() - n..]).into());
        }
        sql.push_str(" ORDER BY id DESC");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let digits = self.router.config().suffix_digits;
        let limit = filter.limit.map_or(usize::MAX, |l| l as usize);
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            if out.len() >= limit {
                break;
            }
            let m = with_state(message_row(r)?, |m, s| m.state = s)?;
            if key.is_some_and(|k| SuffixKey::new(&m.recipient, digits) != k) {
                continue;
            }
            out.push(m);
        }
        Ok(out)
    }

    /// Reports, newest first: all, the orphans waiting to be matched, or the
    /// ambiguous ones.
    pub fn reports(&self, filter: ReportFilter, limit: Option<u32>) -> Result<Vec<ReportRow>> {
        let cond = match filter {
            ReportFilter::All => "1",
            ReportFilter::Orphans => "r.match = 'orphan'",
            ReportFilter::Ambiguous => "r.match = 'ambiguous'",
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {REPORT_COLS} FROM reports r JOIN modems m ON m.id = r.modem_id \
             WHERE {cond} ORDER BY r.id DESC LIMIT ?1"
        ))?;
        let rows = stmt
            .query_map(params![limit.map_or(-1, i64::from)], report_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// One part.
    pub fn part(&self, id: PartId) -> Result<PartRow> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{PART_SELECT} WHERE p.id = ?1"))?;
        let mut rows = stmt.query([id.0])?;
        match rows.next()? {
            Some(r) => part_row(r),
            None => Err(StoreError::NoPart(id.0)),
        }
    }

    /// The reports that matched `part` and the ambiguous ones that name it
    /// among their candidates, oldest first.
    pub fn part_reports(&self, part: PartId) -> Result<Vec<ReportRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REPORT_COLS} FROM reports r JOIN modems m ON m.id = r.modem_id \
             WHERE r.part_id = ?1 \
                OR (r.match = 'ambiguous' AND ' ' || r.candidates || ' ' LIKE '% ' || ?1 || ' %') \
             ORDER BY r.id"
        ))?;
        let rows = stmt
            .query_map([part.0], report_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Recorded TP-MR collisions, newest first.
    pub fn collisions(&self, limit: Option<u32>) -> Result<Vec<CollisionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.at, m.name, c.mr, c.recipient, c.new_part, c.pending_part \
             FROM collisions c JOIN modems m ON m.id = c.modem_id ORDER BY c.id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map(params![limit.map_or(-1, i64::from)], |r| {
                Ok(CollisionRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    modem: r.get(2)?,
                    mr: r.get(3)?,
                    recipient: r.get(4)?,
                    new_part: r.get(5)?,
                    pending_part: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// The receipt lines of a message: the message, then each part
/// (`<message>.<part>`). The submit date is the first submit (or creation);
/// the done date is when the state was reached (the last event).
fn receipts(m: &MessageRow, parts: &[PartRow], events: &[EventRow]) -> Vec<String> {
    let last_change = |part: Option<i64>| {
        events
            .iter()
            .rev()
            .find(|e| e.part_id == part)
            .map_or(m.created_at, |e| e.at)
    };
    let delivered = parts
        .iter()
        .filter(|p| p.state == MessageState::Delivered)
        .count() as u32;
    let first_submit = parts
        .iter()
        .filter_map(|p| p.submitted_at)
        .min()
        .unwrap_or(m.created_at);
    let mut out = Vec::with_capacity(parts.len() + 1);
    out.push(
        Receipt {
            id: m.id.to_string(),
            submitted: m.parts,
            delivered,
            submit_date: first_submit,
            done_date: m.done_at.unwrap_or_else(|| last_change(None)),
            state: m.state,
            err: m.error.and_then(|e| u16::try_from(e).ok()).unwrap_or(0),
            text: &m.text,
        }
        .render(),
    );
    for p in parts {
        let err = p
            .cms_error
            .or(p.tp_status.map(i64::from))
            .and_then(|e| u16::try_from(e).ok())
            .unwrap_or(0);
        out.push(
            Receipt {
                id: format!("{}.{}", m.id, p.seq),
                submitted: 1,
                delivered: u32::from(p.state == MessageState::Delivered),
                submit_date: p.submitted_at.unwrap_or(m.created_at),
                done_date: p.done_at.unwrap_or_else(|| last_change(Some(p.id))),
                state: p.state,
                err,
                text: &m.text,
            }
            .render(),
        );
    }
    out
}
