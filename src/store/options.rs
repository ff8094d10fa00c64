//! What the HTTP API adds to queueing: a priority, a queue expiry, leave to
//! go out in quiet hours, idempotency keys, and cancelling a message none
//! of whose parts reached a modem.
//!
//! Idempotency keys are written in the transaction that creates their
//! messages (each group-commit operation is one savepoint), so a key is
//! never stored without its messages nor the reverse, and two requests
//! with one key, run one after the other on the writer, create the
//! messages once.

use rusqlite::{params, OptionalExtension};

use super::queue::{check_request, enqueue_tx, EnqueueRequest};
use super::submit::NewMessage;
use super::{event, refresh_message, MessageId, Result, Store, StoreError, Tx};
use crate::state::MessageState;

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_SECS: i64 = 86_400;

/// Claim order: every high message before any normal one, bulk only when
/// nothing else waits.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Deserialize,
    serde::Serialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Bulk,
}

impl Priority {
    /// The stored value (claims sort by it, ascending).
    pub fn rank(self) -> i64 {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Bulk => 2,
        }
    }

    pub fn from_rank(rank: i64) -> Priority {
        match rank {
            0 => Priority::High,
            2 => Priority::Bulk,
            _ => Priority::Normal,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Bulk => "bulk",
        }
    }
}

/// Queue options beyond [`super::MessageOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueOptions {
    pub priority: Priority,
    /// Unix second from which the message, if still queued, ends EXPIRED.
    pub expires_at: Option<i64>,
    /// May be sent during quiet hours (high messages always may).
    pub ignore_quiet_hours: bool,
}

/// An `Idempotency-Key` with what identifies its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// `"message"` or `"bulk"`: a key used on one is not valid on the other.
    pub endpoint: &'static str,
    /// Hex SHA-256 of the request as understood (see the API's body parser).
    pub body_sha256: String,
}

/// What [`Store::enqueue_idempotent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Newly queued, in request order.
    New(Vec<NewMessage>),
    /// The key was used within [`IDEMPOTENCY_TTL_SECS`] with the same
    /// request: its messages (id, parts), nothing new queued.
    Repeat(Vec<(MessageId, u8)>),
    /// The key was used with another request (or endpoint); nothing queued.
    Conflict { endpoint: String, created_at: i64 },
}

/// What [`Store::cancel_message`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// Its parts and the message are DELETED now.
    Cancelled,
    NotFound,
    /// Too late, and why (a part reached a modem, or the message is final).
    TooLate(String),
}

/// A part that reached a modem: seq, modem name, TP-MR, in flight, state.
type Handed = (u32, Option<String>, Option<u8>, bool, String);

impl Store {
    /// Queue `reqs` in one transaction with their queue options; with a
    /// key, only if the key is unused (or was used for the same request:
    /// then its messages are returned and nothing is queued).
    pub fn enqueue_idempotent(
        &mut self,
        reqs: &[(EnqueueRequest<'_>, QueueOptions)],
        key: Option<&IdempotencyKey>,
        at: i64,
    ) -> Result<Enqueued> {
        for (r, _) in reqs {
            check_request(r)?;
        }
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        if let Some(k) = key {
            let found: Option<(String, String, String, i64)> = tx
                .prepare_cached(
                    "SELECT endpoint, body_sha256, message_ids, created_at \
                     FROM idempotency_keys WHERE key = ?1",
                )?
                .query_row([&k.key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            match found {
                Some((endpoint, digest, ids, created_at))
                    if created_at > at - IDEMPOTENCY_TTL_SECS =>
                {
                    if endpoint != k.endpoint || digest != k.body_sha256 {
                        return Ok(Enqueued::Conflict {
                            endpoint,
                            created_at,
                        });
                    }
                    let ids: Vec<i64> =
                        serde_json::from_str(&ids).map_err(|e| StoreError::Invalid {
                            field: "idempotency_keys",
                            reason: format!("stored ids unreadable: {e}"),
                        })?;
                    let mut out = Vec::with_capacity(ids.len());
                    for id in ids {
                        let parts: u8 = tx
                            .prepare_cached("SELECT parts FROM messages WHERE id = ?1")?
                            .query_row([id], |r| r.get(0))?;
                        out.push((MessageId(id), parts));
                    }
                    return Ok(Enqueued::Repeat(out));
                }
                // Older than the time a key is kept: forgotten.
                Some(_) => {
                    tx.prepare_cached("DELETE FROM idempotency_keys WHERE key = ?1")?
                        .execute([&k.key])?;
                }
                None => {}
            }
        }
        let mut out = Vec::with_capacity(reqs.len());
        for (r, q) in reqs {
            let created = enqueue_tx(&tx, r, at)?;
            if *q != QueueOptions::default() {
                tx.prepare_cached(
                    "UPDATE messages SET priority = ?2, expires_at = ?3, ignore_quiet = ?4 \
                     WHERE id = ?1",
                )?
                .execute(params![
                    created.id.0,
                    q.priority.rank(),
                    q.expires_at,
                    q.ignore_quiet_hours
                ])?;
            }
            out.push(created);
        }
        if let Some(k) = key {
            let ids: Vec<i64> = out.iter().map(|m| m.id.0).collect();
            tx.prepare_cached(
                "INSERT INTO idempotency_keys (key, endpoint, body_sha256, message_ids, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                k.key,
                k.endpoint,
                k.body_sha256,
                serde_json::Value::from(ids).to_string(),
                at
            ])?;
        }
        tx.commit()?;
        Ok(Enqueued::New(out))
    }

    /// Forget idempotency keys older than [`IDEMPOTENCY_TTL_SECS`] at
    /// `now`; returns how many.
    pub fn purge_idempotency_keys(&mut self, now: i64) -> Result<usize> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM idempotency_keys WHERE created_at <= ?1")?
            .execute([now - IDEMPOTENCY_TTL_SECS])?;
        Ok(n)
    }

    /// The queue options of message `id`.
    pub fn queue_options(&self, id: MessageId) -> Result<QueueOptions> {
        self.conn
            .prepare_cached(
                "SELECT priority, expires_at, ignore_quiet FROM messages WHERE id = ?1",
            )?
            .query_row([id.0], |r| {
                Ok(QueueOptions {
                    priority: Priority::from_rank(r.get(0)?),
                    expires_at: r.get(1)?,
                    ignore_quiet_hours: r.get(2)?,
                })
            })
            .optional()?
            .ok_or(StoreError::NoMessage(id.0))
    }

    /// Cancel message `id` while none of its parts reached a modem (none in
    /// flight, sent, or of unknown outcome) and it is not final: its parts
    /// and the message become DELETED, with an event (and a webhook) that
    /// gives `why`. Otherwise nothing changes and the answer says why not.
    pub fn cancel_message(&mut self, id: MessageId, why: &str, at: i64) -> Result<Cancel> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let found: Option<String> = tx
            .prepare_cached("SELECT state FROM messages WHERE id = ?1")?
            .query_row([id.0], |r| r.get(0))
            .optional()?;
        let Some(state) = found else {
            return Ok(Cancel::NotFound);
        };
        if state != MessageState::Accepted.as_str() {
            return Ok(Cancel::TooLate(format!(
                "the message is {state} already: only a queued message can be cancelled"
            )));
        }
        let handed: Option<Handed> = tx
            .prepare_cached(
                "SELECT p.seq, d.name, p.mr, p.sending_at IS NOT NULL, p.state FROM parts p \
                 LEFT JOIN modems d ON d.id = p.modem_id WHERE p.message_id = ?1 AND \
                 (p.mr IS NOT NULL OR p.sending_at IS NOT NULL OR p.written_at IS NOT NULL \
                  OR p.state != 'ACCEPTED') ORDER BY p.seq LIMIT 1",
            )?
            .query_row([id.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        if let Some((seq, modem, mr, in_flight, pstate)) = handed {
            let modem = modem.unwrap_or_else(|| "?".into());
            let how = match (mr, in_flight) {
                (Some(mr), _) => format!("was sent by modem {modem} (TP-MR {mr})"),
                (None, true) => format!("is being sent by modem {modem}"),
                (None, false) => format!("is {pstate}"),
            };
            return Ok(Cancel::TooLate(format!(
                "part {seq} {how}: a message can be cancelled only before any part \
                 reaches a modem"
            )));
        }
        tx.prepare_cached(
            "UPDATE parts SET state = 'DELETED', error = ?2, done_at = ?3, next_attempt = NULL \
             WHERE message_id = ?1",
        )?
        .execute(params![id.0, why, at])?;
        event(&tx, at, id.0, None, None, MessageState::Deleted, why)?;
        refresh_message(&tx, self.webhooks, id.0, None, None, None, at)?;
        super::queue::sync_queued(&tx, id.0)?;
        tx.commit()?;
        Ok(Cancel::Cancelled)
    }
}
