//! The durable event log behind `GET /v1/events`: every message state
//! change and incoming SMS, with the webhook's payload, in id order. The
//! stream is told of new rows after each group commit that wrote some.

use rusqlite::params;

use super::{Result, Store};

/// How long events are kept for clients that resume (`Last-Event-ID`).
pub const EVENT_LOG_RETENTION_SECS: i64 = 7 * 86_400;

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub id: i64,
    /// `message.state` or `sms.incoming`.
    pub kind: String,
    /// JSON, as the webhook's body.
    pub payload: String,
    pub at: i64,
}

impl Store {
    /// After each group commit that added events, `notify` gets the last
    /// event id (on the store's writer thread).
    pub fn set_event_notify(&mut self, notify: tokio::sync::watch::Sender<i64>) {
        if let Ok(last) = self.last_event_id() {
            notify.send_replace(last);
        }
        self.event_notify = Some(notify);
    }

    /// The notifier and the last event id, when events were added since it
    /// was last told.
    pub(super) fn event_notice(&self) -> Option<(tokio::sync::watch::Sender<i64>, i64)> {
        let notify = self.event_notify.as_ref()?;
        let last = self.last_event_id().ok()?;
        (last > *notify.borrow()).then(|| (notify.clone(), last))
    }

    /// The id of the newest event (0: none yet).
    pub fn last_event_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT COALESCE(max(id), 0) FROM event_log")?
            .query_row([], |r| r.get(0))?)
    }

    /// Events with an id above `after`, oldest first, at most `limit`.
    pub fn events_after(&self, after: i64, limit: u32) -> Result<Vec<LoggedEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, payload, at FROM event_log WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![after, limit], |r| {
                Ok(LoggedEvent {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    payload: r.get(2)?,
                    at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Forget events older than [`EVENT_LOG_RETENTION_SECS`] at `now`.
    pub fn purge_event_log(&mut self, now: i64) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM event_log WHERE at < ?1")?
            .execute([now - EVENT_LOG_RETENTION_SECS])?)
    }
}
