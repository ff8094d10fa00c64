//! The send path: messages and parts created, sent, refused or queued again.

use rusqlite::params;

use super::queue::{release_if_unbound, sync_queued, MessageOptions};
use super::reports::ReportOutcome;
use super::{
    event, part_message, refresh_message, waiting_part, MessageId, Result, Store, StoreError, Tx,
};
use crate::router::{Collision, ModemId, PartId};
use crate::state::MessageState;

/// A message just created, with its parts in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    pub parts: Vec<PartId>,
}

/// What marking a part sent found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Pending parts that share the new part's key (all kept; recorded).
    pub collision: Option<Collision>,
    /// Waiting (orphan) reports under the same modem and TP-MR that were
    /// retried, and what became of them.
    pub retried: Vec<ReportOutcome>,
}

impl Store {
    /// Store a new message to `to` split into `parts` parts (ACCEPTED,
    /// queued) with the default [`MessageOptions`].
    pub fn create_message(
        &mut self,
        to: &str,
        text: &str,
        parts: u8,
        at: i64,
    ) -> Result<NewMessage> {
        self.enqueue_message(to, text, parts, &MessageOptions::default(), at)
    }

    /// The modem answered `+CMGS: <mr>` for `part` at `submitted_at`: keep
    /// the TP-MR, register the part in the router (recording a collision if
    /// pending parts share its key) and retry waiting reports for that key.
    /// `validity` is the part's validity period in seconds. Clears the
    /// in-flight mark; the message is bound to `modem` from now on.
    ///
    /// Committed without a disk sync of its own: the next durable commit
    /// (the next [`Store::mark_sending`], report or enqueue) syncs it, and
    /// if a power cut loses it first, the part is still marked in flight
    /// and becomes UNKNOWN at the next start (never sent twice).
    pub fn mark_sent(
        &mut self,
        part: PartId,
        modem: ModemId,
        mr: u8,
        submitted_at: i64,
        validity: i64,
    ) -> Result<Sent> {
        match self.relaxed(|s| s.mark_sent_tx(part, modem, mr, submitted_at, validity)) {
            Ok(s) => Ok(s),
            // Only a database failure can come after the router was touched.
            Err(e @ StoreError::Sql(_)) => self.recover(e),
            Err(e) => Err(e),
        }
    }

    fn mark_sent_tx(
        &mut self,
        part: PartId,
        modem: ModemId,
        mr: u8,
        submitted_at: i64,
        validity: i64,
    ) -> Result<Sent> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let (message, recipient, state) = part_message(&tx, part)?;
        if state != MessageState::Accepted.as_str() {
            return Err(StoreError::Invalid {
                field: "part",
                reason: format!("part {} is {state}, not waiting to be sent", part.0),
            });
        }
        let in_flight: bool = tx
            .prepare_cached("SELECT sending_at IS NOT NULL FROM parts WHERE id = ?1")?
            .query_row([part.0], |r| r.get(0))?;
        let changed = tx
            .prepare_cached(
                "UPDATE parts SET modem_id = ?2, mr = ?3, submitted_at = ?4, validity = ?5, \
                 next_attempt = NULL, sending_at = NULL WHERE id = ?1 AND mr IS NULL",
            )?
            .execute(params![part.0, modem.0, mr, submitted_at, validity])?;
        if changed == 0 {
            return Err(StoreError::Invalid {
                field: "part",
                reason: format!("part {} was already sent", part.0),
            });
        }
        if !in_flight {
            // Sent without mark_sending: claim and unqueue here.
            tx.prepare_cached(
                "UPDATE messages SET claimed_by = ?2, claimed_at = ?3 \
                 WHERE id = ?1 AND claimed_by IS NULL",
            )?
            .execute(params![message, modem.0, submitted_at])?;
            sync_queued(&tx, message)?;
        }
        // The event names the modem as the operator knows it, not by the
        // store's internal number.
        let name = match self.modem_ids.iter().find(|(_, id)| **id == modem) {
            Some((name, _)) => name.clone(),
            None => tx
                .prepare_cached("SELECT name FROM modems WHERE id = ?1")?
                .query_row([modem.0], |r| r.get(0))
                .unwrap_or_else(|_| format!("#{}", modem.0)),
        };
        let reason = format!("sent via modem {name}, TP-MR {mr}");
        event(
            &tx,
            submitted_at,
            message,
            Some(part.0),
            None,
            MessageState::Accepted,
            &reason,
        )?;
        let collision = self
            .router
            .register(modem, &recipient, mr, part, submitted_at, validity);
        if let Some(c) = &collision {
            for other in &c.pending {
                tx.prepare_cached(
                    "INSERT INTO collisions (at, modem_id, mr, recipient, new_part, pending_part) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    submitted_at,
                    modem.0,
                    mr,
                    recipient,
                    part.0,
                    other.0
                ])?;
            }
            tracing::info!(
                modem = modem.0,
                mr,
                new_part = part.0,
                pending = ?c.pending,
                "TP-MR collision: several parts pending under one key"
            );
        }
        let retried = super::reports::retry_waiting_tx(
            &tx,
            self.webhooks,
            &mut self.router,
            Some((modem, mr)),
        )?;
        tx.commit()?;
        Ok(Sent { collision, retried })
    }

    /// The modem refused `part` with `+CMS ERROR <code>` (`name` its meaning)
    /// and it will not be retried: the part is REJECTD, and so is its message.
    pub fn mark_rejected(&mut self, part: PartId, code: u16, name: &str, at: i64) -> Result<()> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let message = waiting_part(&tx, part)?;
        tx.prepare_cached(
            "UPDATE parts SET state = 'REJECTD', cms_error = ?2, error = ?3, done_at = ?4, \
             next_attempt = NULL, sending_at = NULL WHERE id = ?1",
        )?
        .execute(params![part.0, code, name, at])?;
        let reason = format!("+CMS ERROR {code}: {name}");
        event(
            &tx,
            at,
            message,
            Some(part.0),
            None,
            MessageState::Rejected,
            &reason,
        )?;
        refresh_message(
            &tx,
            self.webhooks,
            message,
            Some(part.0),
            None,
            Some(i64::from(code)),
            at,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The modem refused `part` for a reason worth retrying: it stays
    /// queued (ACCEPTED), with its retry count and next attempt recorded,
    /// and is no longer in flight. If no part of its message was sent, the
    /// claim is given back so that another modem may take it.
    pub fn mark_retry(
        &mut self,
        part: PartId,
        code: Option<u16>,
        reason: &str,
        retries: u32,
        next_attempt: i64,
        at: i64,
    ) -> Result<()> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let message = waiting_part(&tx, part)?;
        tx.prepare_cached(
            "UPDATE parts SET retries = ?2, next_attempt = ?3, cms_error = ?4, error = ?5, \
             sending_at = NULL, modem_id = CASE WHEN mr IS NULL THEN NULL ELSE modem_id END \
             WHERE id = ?1",
        )?
        .execute(params![part.0, retries, next_attempt, code, reason])?;
        release_if_unbound(&tx, message)?;
        sync_queued(&tx, message)?;
        let why = match code {
            Some(c) => format!("retry {retries} at {next_attempt} after +CMS ERROR {c}: {reason}"),
            None => format!("retry {retries} at {next_attempt}: {reason}"),
        };
        event(
            &tx,
            at,
            message,
            Some(part.0),
            None,
            MessageState::Accepted,
            &why,
        )?;
        tx.commit()?;
        Ok(())
    }
}
