//! The durable send queue: messages with their sending options, claimed by
//! one modem at a time, parts marked in flight before AT+CMGS is written.
//!
//! A message is *queued* while it is not final and has a part still to send
//! (no TP-MR, not in flight). A modem claims it with [`Store::claim_next`];
//! once one of its parts was sent (or is in flight) the claim is kept for
//! good, since all parts of a concatenated message must leave from one
//! modem. Until then the claim is given back when the part is refused for a
//! temporary reason ([`Store::mark_retry`]) or the modem is lost
//! ([`Store::release_claims`]), so another modem can take the message.
//!
//! At most once on the radio: [`Store::mark_sending`] commits (fsync) before
//! the caller writes AT+CMGS; a part still marked at the next start was
//! written but never answered, and [`Store::recover_in_flight`] settles it.

use rusqlite::{params, Connection};

use super::submit::NewMessage;
use super::{event, part_message, refresh_message, MessageId, Result, Store, StoreError, Tx};
use crate::router::{ModemId, PartId};
use crate::state::MessageState;

/// Validity (queue expiry, and the router's report expiry) of a message
/// that sets none: three days, which most SMSCs keep a message for.
pub const DEFAULT_VALIDITY_SECS: i64 = 3 * 86_400;

/// How a message is to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageOptions {
    /// Ask for a status report on every part (TP-SRR).
    pub report: bool,
    /// Seconds after creation past which an unsent message expires (and the
    /// validity period the router assumes for its parts).
    pub validity_secs: i64,
    /// The TP-VP byte to send (relative format), if any.
    pub vp_relative: Option<u8>,
    /// Force UCS2 even when the text fits the GSM 7-bit alphabet.
    pub ucs2: bool,
    /// Class 0 (flash) message.
    pub flash: bool,
    /// Send only on the modem of this name.
    pub modem: Option<String>,
    /// Concatenation reference (kept so that a resend uses the same one).
    pub concat_ref: u16,
    /// 8-bit data to send instead of the text (SMPP data_coding 2 or 4):
    /// one part, byte for byte.
    pub data: Option<Vec<u8>>,
    /// A user data header given by the client (UDHL octet, then the
    /// elements): the message is exactly one part carrying it as given.
    pub udh: Option<Vec<u8>>,
    /// Unix second before which the message is not claimed (scheduled).
    pub not_before: Option<i64>,
}

impl Default for MessageOptions {
    /// Report requested, [`DEFAULT_VALIDITY_SECS`], GSM 7-bit when possible,
    /// any modem.
    fn default() -> Self {
        MessageOptions {
            report: true,
            validity_secs: DEFAULT_VALIDITY_SECS,
            vp_relative: None,
            ucs2: false,
            flash: false,
            modem: None,
            concat_ref: 0,
            data: None,
            udh: None,
            not_before: None,
        }
    }
}

/// A message to enqueue (see [`Store::enqueue_messages`]).
#[derive(Debug, Clone, Copy)]
pub struct EnqueueRequest<'a> {
    pub to: &'a str,
    pub text: &'a str,
    /// Number of parts the text splits into.
    pub parts: u8,
    pub opts: &'a MessageOptions,
}

/// A claimed message, with the parts still to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: MessageId,
    pub to: String,
    pub text: String,
    pub opts: MessageOptions,
    /// Only the parts still to send (not sent, not in flight), in order.
    pub parts: Vec<QueuedPart>,
}

/// What [`Store::claim_next_clear`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// A message to send now.
    Message(QueuedMessage),
    /// Messages wait, but none may go before unix second `until` (its next
    /// part could not be told apart from a pending look-alike).
    Held { until: i64 },
    /// Nothing to send.
    Empty,
}

/// How many messages held back by a TP-MR look-alike one claim passes over
/// before it gives up and waits (bounds the scan of a long queue to one
/// busy number).
pub const MAX_PASSED_OVER: usize = 64;

/// A part still to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedPart {
    pub id: PartId,
    /// 1-based part number.
    pub seq: u8,
    /// Temporary refusals so far.
    pub retries: u32,
}

/// Parts still to send: not final, no TP-MR, not in flight.
const TO_SEND: &str = "p.state = 'ACCEPTED' AND p.mr IS NULL AND p.sending_at IS NULL";

impl Store {
    /// Queue a message (ACCEPTED, parts unsent) with its sending options.
    pub fn enqueue_message(
        &mut self,
        to: &str,
        text: &str,
        parts: u8,
        opts: &MessageOptions,
        at: i64,
    ) -> Result<NewMessage> {
        let req = EnqueueRequest {
            to,
            text,
            parts,
            opts,
        };
        let mut out = self.enqueue_messages(&[req], at)?;
        out.pop().ok_or(StoreError::Invalid {
            field: "messages",
            reason: "nothing enqueued".into(),
        })
    }

    /// Queue several messages in one transaction (one disk sync for all):
    /// all or none. Every request is checked before anything is written.
    pub fn enqueue_messages(
        &mut self,
        reqs: &[EnqueueRequest<'_>],
        at: i64,
    ) -> Result<Vec<NewMessage>> {
        for r in reqs {
            check_request(r)?;
        }
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            out.push(enqueue_tx(&tx, r, at)?);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Queue a message already claimed by `modem` (the CLI's `send`, which
    /// sends it itself): no other modem takes it, and its parts go through
    /// `mark_sending` like the daemon's.
    pub fn enqueue_claimed(
        &mut self,
        req: &EnqueueRequest<'_>,
        modem: &str,
        at: i64,
    ) -> Result<NewMessage> {
        check_request(req)?;
        let modem_id = self.modem(modem)?;
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let created = enqueue_tx(&tx, req, at)?;
        tx.prepare_cached("UPDATE messages SET claimed_by = ?2, claimed_at = ?3 WHERE id = ?1")?
            .execute(params![created.id.0, modem_id.0, at])?;
        tx.commit()?;
        Ok(created)
    }

    /// Claim the oldest sendable message for `modem`: not claimed by another
    /// modem, due (no part to send waits for a later `next_attempt` than
    /// `now`), preferring no modem or this one, and `accept(recipient)` true
    /// (SIM routing prefixes). Oldest first: by creation time, then id.
    ///
    /// A message already claimed by `modem` (one it started, maybe before a
    /// restart, or one with a part sent, which stays with its modem) is
    /// returned again without asking `accept`: the modem resumes it. Only
    /// the parts still to send are listed; parts in flight are not.
    ///
    /// The claim is one IMMEDIATE transaction (as all of the store's), so
    /// two connections never claim the same message. It is committed without a disk sync: losing
    /// a claim in a power cut only puts the message back in the pool.
    pub fn claim_next(
        &mut self,
        modem: &str,
        now: i64,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<Option<QueuedMessage>> {
        let modem_id = self.modem(modem)?;
        self.relaxed(|s| {
            let tx = Tx::begin(&mut s.conn, s.batch)?;
            let found = claim_tx(&tx, modem_id, modem, now, accept, &|_| None, false)?;
            tx.commit()?;
            Ok(match found {
                Claimed::Message(m) => Some(m),
                Claimed::Held { .. } | Claimed::Empty => None,
            })
        })
    }

    /// [`Store::claim_next`], avoiding TP-MR look-alikes: `next_mr` is the
    /// TP-MR the modem will give the next part (when known). A message whose
    /// next part would get a key still held by a part to the same number
    /// sent too recently to be told apart ([`Router::reuse_wait`]) is
    /// passed over for the next one in the queue (at most
    /// [`MAX_PASSED_OVER`]); when none can go, the earliest time one could
    /// is returned ([`Claimed::Held`]).
    ///
    /// [`Router::reuse_wait`]: crate::router::Router::reuse_wait
    pub fn claim_next_clear(
        &mut self,
        modem: &str,
        now: i64,
        accept: &dyn Fn(&str) -> bool,
        next_mr: Option<u8>,
    ) -> Result<Claimed> {
        self.claim_next_in(modem, now, accept, next_mr, false)
    }

    /// [`Store::claim_next_clear`]; with `quiet` (quiet hours now), only
    /// messages of high priority or that ignore quiet hours are claimed.
    /// Claims go by priority (high, normal, bulk), then oldest first.
    pub fn claim_next_in(
        &mut self,
        modem: &str,
        now: i64,
        accept: &dyn Fn(&str) -> bool,
        next_mr: Option<u8>,
        quiet: bool,
    ) -> Result<Claimed> {
        let modem_id = self.modem(modem)?;
        self.relaxed(|s| {
            let router = &s.router;
            let hold = |to: &str| next_mr.and_then(|mr| router.reuse_wait(modem_id, to, mr, now));
            let tx = Tx::begin(&mut s.conn, s.batch)?;
            let found = claim_tx(&tx, modem_id, modem, now, accept, &hold, quiet)?;
            tx.commit()?;
            Ok(found)
        })
    }

    /// Give back the claims of `modem` on queued messages none of whose
    /// parts was sent or is in flight (the modem was lost): they return to
    /// the pool. Messages it sent a part of stay with it. Returns how many
    /// were released.
    pub fn release_claims(&mut self, modem: &str) -> Result<usize> {
        let modem_id = self.modem(modem)?;
        let n = self.conn.execute(
            "UPDATE messages SET claimed_by = NULL, claimed_at = NULL \
             WHERE queued = 1 AND claimed_by = ?1 AND NOT EXISTS ( \
               SELECT 1 FROM parts p WHERE p.message_id = messages.id \
               AND (p.mr IS NOT NULL OR p.sending_at IS NOT NULL))",
            [modem_id.0],
        )?;
        Ok(n)
    }

    /// Commit "AT+CMGS about to be written for this part on `modem`" BEFORE
    /// writing it (at most once on the radio). The part must be waiting to
    /// be sent and not in flight, and its message must not be claimed by
    /// another modem; the message becomes bound to `modem`.
    pub fn mark_sending(&mut self, part: PartId, modem: ModemId, at: i64) -> Result<()> {
        self.mark_sending_parts(&[(part, modem)], at)
    }

    /// [`Store::mark_sending`] for several parts (of several modems) in one
    /// transaction and one disk sync: all or none.
    pub fn mark_sending_parts(&mut self, parts: &[(PartId, ModemId)], at: i64) -> Result<()> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        for &(part, modem) in parts {
            let (message, _, state) = part_message(&tx, part)?;
            if state != MessageState::Accepted.as_str() {
                return Err(not_waiting(part, &state));
            }
            let n = tx
                .prepare_cached(
                    "UPDATE parts SET sending_at = ?2, modem_id = ?3 \
                     WHERE id = ?1 AND mr IS NULL AND sending_at IS NULL",
                )?
                .execute(params![part.0, at, modem.0])?;
            if n == 0 {
                return Err(StoreError::Invalid {
                    field: "part",
                    reason: format!("part {} was already sent or is in flight", part.0),
                });
            }
            let n = tx
                .prepare_cached(
                    "UPDATE messages SET claimed_by = ?2, claimed_at = COALESCE(claimed_at, ?3) \
                     WHERE id = ?1 AND (claimed_by IS NULL OR claimed_by = ?2)",
                )?
                .execute(params![message, modem.0, at])?;
            if n == 0 {
                return Err(StoreError::Invalid {
                    field: "modem",
                    reason: format!(
                        "message {message} is claimed by another modem than {}",
                        modem.0
                    ),
                });
            }
            sync_queued(&tx, message)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// At start: parts marked in flight with no TP-MR were written before a
    /// crash and never answered. They become UNKNOWN (not resent: at most
    /// once), or with `resend` are queued again (the recipient may then get
    /// them twice); each gets an event saying which. An UNKNOWN one keeps
    /// when AT+CMGS was written, and orphan reports are retried: one that
    /// came while it was in flight may now be its own (basis `window`).
    /// Returns them.
    pub fn recover_in_flight(&mut self, resend: bool, at: i64) -> Result<Vec<PartId>> {
        match self.recover_in_flight_tx(resend, at) {
            Ok(v) => Ok(v),
            // The retry of orphan reports may have touched the router.
            Err(e @ StoreError::Sql(_)) => self.recover(e),
            Err(e) => Err(e),
        }
    }

    fn recover_in_flight_tx(&mut self, resend: bool, at: i64) -> Result<Vec<PartId>> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let mut found = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT id, message_id FROM parts \
                 WHERE sending_at IS NOT NULL AND mr IS NULL AND state = 'ACCEPTED' ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                found.push((PartId(r.get(0)?), r.get::<_, i64>(1)?));
            }
        }
        for &(part, message) in &found {
            if resend {
                tx.prepare_cached(
                    "UPDATE parts SET sending_at = NULL, modem_id = NULL WHERE id = ?1",
                )?
                .execute([part.0])?;
                event(
                    &tx,
                    at,
                    message,
                    Some(part.0),
                    None,
                    MessageState::Accepted,
                    "AT+CMGS written before a crash, outcome unknown: queued again \
                     (resend is on: the recipient may get this part twice)",
                )?;
                release_if_unbound(&tx, message)?;
                sync_queued(&tx, message)?;
            } else {
                let why = "AT+CMGS written before a crash, outcome unknown: not resent";
                tx.prepare_cached(
                    "UPDATE parts SET state = 'UNKNOWN', written_at = sending_at, \
                     sending_at = NULL, error = ?2, done_at = ?3, next_attempt = NULL \
                     WHERE id = ?1",
                )?
                .execute(params![part.0, why, at])?;
                event(
                    &tx,
                    at,
                    message,
                    Some(part.0),
                    None,
                    MessageState::Unknown,
                    why,
                )?;
                refresh_message(&tx, self.webhooks, message, Some(part.0), None, None, at)?;
                sync_queued(&tx, message)?;
            }
        }
        if !resend && !found.is_empty() {
            // A report that came while these were in flight was kept as an
            // orphan (it could have been theirs or another's): it may now
            // be one's own by its time window.
            super::reports::retry_waiting_tx(&tx, self.webhooks, &mut self.router, None)?;
        }
        tx.commit()?;
        Ok(found.into_iter().map(|(p, _)| p).collect())
    }

    /// Queued messages past their validity (`created_at + validity_secs`
    /// before `now`) or their queue expiry (`expires_at` at or before
    /// `now`, see [`super::QueueOptions`]) that were never (fully) sent: their unsent parts and
    /// the message become EXPIRED, with an event. Parts in flight are left
    /// to their answer. Returns the expired messages.
    pub fn expire_queued(&mut self, now: i64) -> Result<Vec<MessageId>> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let mut found = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT id, expires_at IS NOT NULL AND expires_at <= ?1 FROM messages \
                 WHERE queued = 1 AND (created_at + validity_secs < ?1 OR expires_at <= ?1) \
                 ORDER BY created_at, id",
            )?;
            let mut rows = stmt.query([now])?;
            while let Some(r) = rows.next()? {
                found.push((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?));
            }
        }
        for &(message, queue_expiry) in &found {
            let why = if queue_expiry {
                "its expires_at passed while it was queued: not sent"
            } else {
                "validity period ended before it could be sent"
            };
            let n = tx
                .prepare_cached(&format!(
                    "UPDATE parts AS p SET state = 'EXPIRED', error = ?2, done_at = ?3, \
                     next_attempt = NULL WHERE p.message_id = ?1 AND {TO_SEND}"
                ))?
                .execute(params![message, why, now])?;
            let reason = format!("{why} ({n} part{} unsent)", if n == 1 { "" } else { "s" });
            event(
                &tx,
                now,
                message,
                None,
                None,
                MessageState::Expired,
                &reason,
            )?;
            refresh_message(&tx, self.webhooks, message, None, None, None, now)?;
            sync_queued(&tx, message)?;
        }
        tx.commit()?;
        Ok(found.into_iter().map(|(m, _)| MessageId(m)).collect())
    }

    /// Messages waiting to be sent: all of them, or those claimed by the
    /// modem `name` or (unclaimed) preferring it.
    pub fn queue_depth(&self, modem: Option<&str>) -> Result<u64> {
        let n: i64 = match modem {
            None => {
                self.conn
                    .query_row("SELECT count(*) FROM messages WHERE queued = 1", [], |r| {
                        r.get(0)
                    })?
            }
            Some(name) => self.conn.query_row(
                "SELECT count(*) FROM messages m LEFT JOIN modems d ON d.id = m.claimed_by \
                 WHERE m.queued = 1 \
                 AND (d.name = ?1 OR (m.claimed_by IS NULL AND m.modem_pref = ?1))",
                [name],
                |r| r.get(0),
            )?,
        };
        Ok(n.max(0) as u64)
    }

    /// Run `f` with `synchronous=NORMAL`: its commit is not synced to disk
    /// at once but by the next FULL commit (the WAL keeps the order, so a
    /// later durable change never survives without it). Only for changes
    /// whose loss in a power cut is harmless.
    pub(super) fn relaxed<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        if self.batch {
            // The batch's one commit is synced anyway.
            return f(self);
        }
        self.conn
            .prepare_cached("PRAGMA synchronous = NORMAL")?
            .execute([])?;
        let out = f(self);
        let back = self
            .conn
            .prepare_cached("PRAGMA synchronous = FULL")
            .and_then(|mut st| st.execute([]));
        let v = out?;
        back?;
        Ok(v)
    }
}

pub(super) fn check_request(r: &EnqueueRequest<'_>) -> Result<()> {
    if r.to.trim().is_empty() {
        return Err(StoreError::Invalid {
            field: "to",
            reason: "empty recipient".into(),
        });
    }
    if r.parts == 0 {
        return Err(StoreError::Invalid {
            field: "parts",
            reason: "a message has at least one part".into(),
        });
    }
    if r.opts.validity_secs <= 0 {
        return Err(StoreError::Invalid {
            field: "validity",
            reason: format!("{} s: must be positive", r.opts.validity_secs),
        });
    }
    if r.opts.modem.as_deref().is_some_and(|m| m.trim().is_empty()) {
        return Err(StoreError::Invalid {
            field: "modem",
            reason: "empty name".into(),
        });
    }
    Ok(())
}

pub(super) fn enqueue_tx(tx: &Connection, r: &EnqueueRequest<'_>, at: i64) -> Result<NewMessage> {
    let o = r.opts;
    tx.prepare_cached(
        "INSERT INTO messages (recipient, text, parts, state, created_at, report, validity_secs, \
         vp_relative, ucs2, flash, modem_pref, concat_ref, queued, data, udh, not_before) \
         VALUES (?1, ?2, ?3, 'ACCEPTED', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.to.trim(),
        r.text,
        r.parts,
        at,
        o.report,
        o.validity_secs,
        o.vp_relative,
        o.ucs2,
        o.flash,
        o.modem,
        o.concat_ref,
        o.data,
        o.udh,
        o.not_before
    ])?;
    let id = tx.last_insert_rowid();
    let mut part_ids = Vec::with_capacity(usize::from(r.parts));
    for seq in 1..=r.parts {
        tx.prepare_cached(
            "INSERT INTO parts (message_id, seq, state) VALUES (?1, ?2, 'ACCEPTED')",
        )?
        .execute(params![id, seq])?;
        part_ids.push(PartId(tx.last_insert_rowid()));
    }
    let n = r.parts;
    let reason = format!("queued ({n} part{})", if n == 1 { "" } else { "s" });
    event(tx, at, id, None, None, MessageState::Accepted, &reason)?;
    Ok(NewMessage {
        id: MessageId(id),
        parts: part_ids,
    })
}

fn claim_tx(
    tx: &Connection,
    modem_id: ModemId,
    modem: &str,
    now: i64,
    accept: &dyn Fn(&str) -> bool,
    hold: &dyn Fn(&str) -> Option<i64>,
    quiet: bool,
) -> Result<Claimed> {
    let mut held: Option<i64> = None;
    let chosen = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT m.id, m.recipient, m.text, m.report, m.validity_secs, m.vp_relative, m.ucs2, \
                    m.flash, m.modem_pref, m.concat_ref, m.claimed_by, m.data, m.udh, \
                    m.not_before \
             FROM messages m \
             WHERE m.queued = 1 AND (m.claimed_by IS NULL OR m.claimed_by = ?1) \
               AND (m.not_before IS NULL OR m.not_before <= ?3) \
               AND (m.modem_pref IS NULL OR m.modem_pref = ?2) \
               AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.message_id = m.id \
                               AND {TO_SEND} AND p.next_attempt > ?3) \
               AND (?4 = 0 OR m.priority = 0 OR m.ignore_quiet = 1) \
             ORDER BY m.priority, m.created_at, m.id"
        ))?;
        let mut rows = stmt.query(params![modem_id.0, modem, now, quiet])?;
        let mut chosen = None;
        let mut skipped = 0usize;
        while let Some(r) = rows.next()? {
            let mine = r.get::<_, Option<u16>>(10)?.is_some();
            let to: String = r.get(1)?;
            if !mine && !accept(&to) {
                continue;
            }
            if let Some(until) = hold(&to) {
                held = Some(held.map_or(until, |h| h.min(until)));
                skipped += 1;
                if skipped >= MAX_PASSED_OVER {
                    break;
                }
                continue;
            }
            chosen = Some(QueuedMessage {
                id: MessageId(r.get(0)?),
                to,
                text: r.get(2)?,
                opts: MessageOptions {
                    report: r.get(3)?,
                    validity_secs: r.get(4)?,
                    vp_relative: r.get(5)?,
                    ucs2: r.get(6)?,
                    flash: r.get(7)?,
                    modem: r.get(8)?,
                    concat_ref: r.get(9)?,
                    data: r.get(11)?,
                    udh: r.get(12)?,
                    not_before: r.get(13)?,
                },
                parts: Vec::new(),
            });
            break;
        }
        chosen
    };
    let Some(mut msg) = chosen else {
        return Ok(held.map_or(Claimed::Empty, |until| Claimed::Held { until }));
    };
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT p.id, p.seq, p.retries FROM parts p \
             WHERE p.message_id = ?1 AND {TO_SEND} ORDER BY p.seq"
        ))?;
        let mut rows = stmt.query([msg.id.0])?;
        while let Some(r) = rows.next()? {
            msg.parts.push(QueuedPart {
                id: PartId(r.get(0)?),
                seq: r.get(1)?,
                retries: r.get(2)?,
            });
        }
    }
    tx.prepare_cached(
        "UPDATE messages SET claimed_by = ?2, claimed_at = ?3 \
         WHERE id = ?1 AND (claimed_by IS NULL OR claimed_by = ?2)",
    )?
    .execute(params![msg.id.0, modem_id.0, now])?;
    Ok(Claimed::Message(msg))
}

fn not_waiting(part: PartId, state: &str) -> StoreError {
    StoreError::Invalid {
        field: "part",
        reason: format!("part {} is {state}, not waiting to be sent", part.0),
    }
}

/// Set the message's `queued` flag from its parts (after a part changed).
pub(super) fn sync_queued(tx: &Connection, message: i64) -> Result<()> {
    tx.prepare_cached(&format!(
        "UPDATE messages AS m SET queued = ( \
           m.state IN ('ACCEPTED', 'ENROUTE') AND EXISTS ( \
             SELECT 1 FROM parts p WHERE p.message_id = m.id AND {TO_SEND})) \
         WHERE m.id = ?1"
    ))?
    .execute([message])?;
    Ok(())
}

/// Give back the claim on `message` if none of its parts was sent or is in
/// flight (so any modem may take it).
pub(super) fn release_if_unbound(tx: &Connection, message: i64) -> Result<()> {
    tx.prepare_cached(
        "UPDATE messages SET claimed_by = NULL, claimed_at = NULL \
         WHERE id = ?1 AND claimed_by IS NOT NULL AND NOT EXISTS ( \
           SELECT 1 FROM parts p WHERE p.message_id = ?1 \
           AND (p.mr IS NOT NULL OR p.sending_at IS NOT NULL))",
    )?
    .execute([message])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::RouterConfig;

    fn synchronous(s: &Store) -> i64 {
        s.conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn relaxed_commits_skip_the_sync_and_put_full_back_even_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_at(&dir.path().join("r.db"), RouterConfig::default(), 0).unwrap();
        // 2 = FULL, 1 = NORMAL.
        assert_eq!(synchronous(&s), 2);
        let inside = s.relaxed(|s| Ok(synchronous(s))).unwrap();
        assert_eq!(inside, 1);
        assert_eq!(synchronous(&s), 2);
        let err = s.relaxed(|_| -> Result<()> { Err(StoreError::NoPart(1)) });
        assert!(matches!(err, Err(StoreError::NoPart(1))));
        assert_eq!(synchronous(&s), 2);
    }
}
