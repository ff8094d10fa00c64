//! The webhook outbox: notifications written in the same transaction as the
//! change they announce, kept until the receiver acknowledges them.
//!
//! Payloads (JSON): a message state change is
//! `{"event":"message.state","id":"<id>","to":..,"state":"DELIVRD","previous":"ENROUTE",
//! "part":{"seq":1,"mr":17,"status":0,"error":null}|null,"error":<code>|null,"at":"<RFC 3339>"}`
//! (`part` is the part whose change decided it, `error` the TP-ST or
//! +CMS ERROR code of a failure); an incoming SMS is
//! `{"event":"sms.incoming","id":"<inbox id>","from":..,"text":..|null,"modem":..,
//! "received_at":"<RFC 3339>","scts":"<RFC 3339>","parts":n,"partial":bool,"data_hex":..}`.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use super::{Result, Store, StoreError};
use crate::state::MessageState;

/// One notification waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookRow {
    pub id: i64,
    /// `message` or `incoming`.
    pub kind: String,
    /// The JSON body to POST.
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: u32,
    pub created_at: i64,
}

impl Store {
    /// With webhooks on, every message state change and every incoming SMS
    /// also writes an outbox row in the same transaction.
    pub fn set_webhooks(&mut self, on: bool) {
        self.webhooks = on;
    }

    /// Undelivered notifications due at `now` (`next_attempt <= now`), in
    /// the order they were written, at most `limit`.
    pub fn due_webhooks(&self, now: i64, limit: u32) -> Result<Vec<WebhookRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, payload, attempts, created_at FROM webhooks \
             WHERE delivered_at IS NULL AND next_attempt <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now, limit], |r| {
                Ok(WebhookRow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    payload: r.get(2)?,
                    attempts: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The receiver acknowledged notification `id` (2xx) at `at`.
    ///
    /// Committed without a disk sync of its own (the next durable commit
    /// syncs it): losing it in a power cut only sends the notification again.
    pub fn webhook_delivered(&mut self, id: i64, at: i64) -> Result<()> {
        let n = self.relaxed(|s| {
            Ok(s.conn
                .prepare_cached("UPDATE webhooks SET delivered_at = ?2 WHERE id = ?1")?
                .execute(params![id, at])?)
        })?;
        if n == 0 {
            return Err(StoreError::NoWebhook(id));
        }
        Ok(())
    }

    /// Delivering notification `id` failed with `error` at `at`: count the
    /// attempt and try again at `next_attempt` (relaxed commit, as
    /// [`Store::webhook_delivered`]).
    pub fn webhook_failed(
        &mut self,
        id: i64,
        error: &str,
        next_attempt: i64,
        at: i64,
    ) -> Result<()> {
        let n = self.relaxed(|s| {
            Ok(s.conn
                .prepare_cached(
                    "UPDATE webhooks SET attempts = attempts + 1, last_error = ?2, \
                     next_attempt = ?3, last_attempt_at = ?4 \
                     WHERE id = ?1 AND delivered_at IS NULL",
                )?
                .execute(params![id, error, next_attempt, at])?)
        })?;
        if n == 0 {
            return Err(StoreError::NoWebhook(id));
        }
        Ok(())
    }
}

/// Unix seconds as RFC 3339 (UTC); the number itself if out of range.
pub(super) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Log an event (`kind` its SSE name) for the live event stream and, with
/// `hooks`, queue it for the webhook (`hook_kind` its outbox kind).
pub(super) fn announce(
    tx: &Connection,
    hooks: bool,
    hook_kind: &str,
    payload: &str,
    at: i64,
) -> Result<()> {
    let kind = match hook_kind {
        "incoming" => "sms.incoming",
        _ => "message.state",
    };
    tx.prepare_cached("INSERT INTO event_log (kind, payload, at) VALUES (?1, ?2, ?3)")?
        .execute(params![kind, payload, at])?;
    if hooks {
        enqueue(tx, hook_kind, payload, at)?;
    }
    Ok(())
}

/// Queue a notification.
pub(super) fn enqueue(tx: &Connection, kind: &str, payload: &str, at: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO webhooks (kind, payload, created_at, next_attempt) VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![kind, payload, at])?;
    Ok(())
}

/// Queue the notification of a message state change (`part` the part whose
/// change decided it, `error` the code of a failure).
#[allow(clippy::too_many_arguments)]
pub(super) fn message_changed(
    tx: &Connection,
    hooks: bool,
    message: i64,
    previous: MessageState,
    state: MessageState,
    part: Option<i64>,
    error: Option<i64>,
    at: i64,
) -> Result<()> {
    let to: String = tx
        .prepare_cached("SELECT recipient FROM messages WHERE id = ?1")?
        .query_row([message], |r| r.get(0))?;
    let part = match part {
        Some(p) => tx
            .prepare_cached("SELECT seq, mr, tp_status, error FROM parts WHERE id = ?1")?
            .query_row([p], |r| {
                Ok(json!({
                    "seq": r.get::<_, i64>(0)?,
                    "mr": r.get::<_, Option<i64>>(1)?,
                    "status": r.get::<_, Option<i64>>(2)?,
                    "error": r.get::<_, Option<String>>(3)?,
                }))
            })
            .optional()?
            .unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    };
    let payload = json!({
        "event": "message.state",
        "id": message.to_string(),
        "to": to,
        "state": state.as_str(),
        "previous": previous.as_str(),
        "part": part,
        "error": error,
        "at": rfc3339(at),
    });
    announce(tx, hooks, "message", &payload.to_string(), at)
}
