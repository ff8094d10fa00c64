//! SMPP in the store: messages submitted by SMPP accounts, and each
//! account's durable outbox of delivery receipts and incoming SMS.
//!
//! An outbox row is written in the transaction of the change that causes it
//! (the message's state change in [`super::refresh_message`], the incoming
//! SMS in [`Store::store_incoming`]), so a committed change always has its
//! receipt and a rolled-back one never has. A row stays until a bind
//! acknowledges it ([`Store::smpp_outbox_delivered`] deletes it) or it is
//! older than the retention ([`Store::expire_smpp_outbox`]).
//!
//! Payloads (JSON): a receipt is
//! `{"message_id":n,"source":{"ton":..,"npi":..,"addr":..},"dest":{..},"state":"DELIVRD",
//! "intermediate":false,"sub":n,"dlvrd":n,"submit_date":t,"done_date":t,"err":n,"text_head":".."}`;
//! an incoming SMS is `{"from":..,"to":..,"text":..|null,"data_hex":..,"received_at":t}`.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use super::queue::EnqueueRequest;
use super::submit::NewMessage;
use super::{parse_state, Cancel, MessageId, Result, Store, StoreError, Tx};
use crate::state::MessageState;

/// registered_delivery bits 0-1: which final receipts a message asked for.
const RD_FINAL_MASK: u8 = 0x03;
/// Bit 4: intermediate notifications (ENROUTE).
const RD_INTERMEDIATE: u8 = 0x10;

/// Where an SMPP message came from, kept beside the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppOrigin {
    /// The bound account (system_id) that submitted it.
    pub account: String,
    pub source_ton: u8,
    pub source_npi: u8,
    pub source_addr: String,
    pub dest_ton: u8,
    pub dest_npi: u8,
    pub dest_addr: String,
    /// registered_delivery as given.
    pub registered_delivery: u8,
    /// Absolute expiry (unix seconds), when the client gave a validity.
    pub expires_at: Option<i64>,
}

/// One row of an account's outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SmppOutboxRow {
    /// Increasing (never reused): the delivery order.
    pub id: i64,
    pub account: String,
    /// `receipt` or `mo`.
    pub kind: String,
    /// JSON (see the module documentation).
    pub payload: String,
    /// Failed deliveries so far.
    pub attempts: u32,
    pub created_at: i64,
}

/// What query_sm needs of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppMessageState {
    pub state: MessageState,
    /// When it became final.
    pub done_at: Option<i64>,
    /// TP-ST or +CMS ERROR code of the deciding failure.
    pub error: Option<i64>,
}

/// What a cancel found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmppCancel {
    /// Its parts and the message are DELETED.
    Cancelled,
    /// No message of this account has that id.
    NotFound,
    /// A part was handed to a modem, or the message is final already.
    TooLate,
}

impl Store {
    /// Incoming SMS also go to the outbox of each of `accounts` (those with
    /// `receive_mo`), in the same transaction as the inbox row.
    pub fn set_smpp_mo_accounts(&mut self, accounts: Vec<String>) {
        self.smpp_mo_accounts = accounts;
    }

    /// After each group commit that added SMPP outbox rows is on disk,
    /// `notify` gets the accounts that got them (on the store's threads:
    /// keep it short, e.g. bump a watch channel).
    pub fn set_smpp_notify(&mut self, notify: super::SmppNotify) {
        self.smpp_notify = Some(notify);
        // Only rows from now on are announced.
        self.smpp_seen = None;
        if let Err(e) = self.smpp_new_rows() {
            tracing::warn!("SMPP outbox: {e}");
        }
    }

    /// The notifier and the accounts with new rows since the last call
    /// (after a commit; none without a notifier).
    pub(super) fn smpp_pending_notice(&mut self) -> Option<(super::SmppNotify, Vec<String>)> {
        let notify = self.smpp_notify.clone()?;
        match self.smpp_new_rows() {
            Ok(accounts) if !accounts.is_empty() => Some((notify, accounts)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("SMPP outbox: cannot tell which accounts got rows: {e}");
                None
            }
        }
    }

    /// Queue a message submitted by an SMPP account: the message as
    /// [`Store::enqueue_message`] queues it, and its origin, in one
    /// transaction.
    pub fn enqueue_smpp(
        &mut self,
        req: &EnqueueRequest<'_>,
        origin: &SmppOrigin,
        at: i64,
    ) -> Result<NewMessage> {
        if origin.account.is_empty() {
            return Err(StoreError::Invalid {
                field: "account",
                reason: "empty system_id".into(),
            });
        }
        super::queue::check_request(req)?;
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let created = super::queue::enqueue_tx(&tx, req, at)?;
        tx.prepare_cached(
            "INSERT INTO smpp_messages (message_id, account, source_ton, source_npi, \
             source_addr, dest_ton, dest_npi, dest_addr, registered_delivery, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            created.id.0,
            origin.account,
            origin.source_ton,
            origin.source_npi,
            origin.source_addr,
            origin.dest_ton,
            origin.dest_npi,
            origin.dest_addr,
            origin.registered_delivery,
            origin.expires_at
        ])?;
        tx.commit()?;
        Ok(created)
    }

    /// The state of message `id` if `account` submitted it.
    pub fn smpp_message(&self, account: &str, id: i64) -> Result<Option<SmppMessageState>> {
        let row: Option<(String, Option<i64>, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT m.state, m.done_at, m.error FROM messages m \
                 JOIN smpp_messages s ON s.message_id = m.id \
                 WHERE m.id = ?1 AND s.account = ?2",
            )?
            .query_row(params![id, account], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(state, done_at, error)| {
            Ok(SmppMessageState {
                state: parse_state(&state)?,
                done_at,
                error,
            })
        })
        .transpose()
    }

    /// Cancel message `id` of `account` (cancel_sm): only while no part was
    /// handed to a modem (none in flight, sent, or of unknown outcome) and
    /// the message is not final. Its parts and the message become DELETED,
    /// with events and, per its registered_delivery, a receipt.
    pub fn cancel_smpp(&mut self, account: &str, id: i64, at: i64) -> Result<SmppCancel> {
        // Only the account's own messages; the rule itself is the API's
        // (one writer thread runs both steps back to back).
        let owned: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM smpp_messages WHERE message_id = ?1 AND account = ?2)",
            )?
            .query_row(params![id, account], |r| r.get(0))?;
        if !owned {
            return Ok(SmppCancel::NotFound);
        }
        let why = "cancelled by the client (cancel_sm) before it was sent";
        Ok(match self.cancel_message(MessageId(id), why, at)? {
            Cancel::Cancelled => SmppCancel::Cancelled,
            Cancel::NotFound => SmppCancel::NotFound,
            Cancel::TooLate(_) => SmppCancel::TooLate,
        })
    }

    /// Outbox rows of `account` with an id above `after`, oldest first, at
    /// most `limit`.
    pub fn smpp_outbox(&self, account: &str, after: i64, limit: u32) -> Result<Vec<SmppOutboxRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, account, kind, payload, attempts, created_at FROM smpp_outbox \
             WHERE account = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![account, after, limit], |r| {
                Ok(SmppOutboxRow {
                    id: r.get(0)?,
                    account: r.get(1)?,
                    kind: r.get(2)?,
                    payload: r.get(3)?,
                    attempts: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A bind acknowledged row `id` of `account` (deliver_sm_resp 0): it is
    /// deleted. False when it was not there (acknowledged twice, expired).
    /// Committed as part of the caller's group commit (synced with it).
    pub fn smpp_outbox_delivered(&mut self, account: &str, id: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM smpp_outbox WHERE id = ?1 AND account = ?2")?
            .execute(params![id, account])?;
        Ok(n > 0)
    }

    /// Rows `ids` of `account` were acknowledged: all deleted in one
    /// operation (one savepoint of the group commit). How many were there.
    pub fn smpp_outbox_delivered_all(&mut self, account: &str, ids: &[i64]) -> Result<usize> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM smpp_outbox WHERE id = ?1 AND account = ?2")?;
        let mut n = 0;
        for id in ids {
            n += stmt.execute(params![id, account])?;
        }
        Ok(n)
    }

    /// Delivering row `id` of `account` failed (an error status or no
    /// answer): count the attempt; `next_attempt` is when it is due again.
    pub fn smpp_outbox_failed(
        &mut self,
        account: &str,
        id: i64,
        next_attempt: i64,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE smpp_outbox SET attempts = attempts + 1, next_attempt = ?3 \
                 WHERE id = ?1 AND account = ?2",
            )?
            .execute(params![id, account, next_attempt])?;
        Ok(n > 0)
    }

    /// Rows waiting, per account (accounts with none are not listed).
    pub fn smpp_outbox_waiting(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, count(*) FROM smpp_outbox GROUP BY account ORDER BY account",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Delete rows written before `before` (unix seconds) that no bind took:
    /// returns how many, per account.
    pub fn expire_smpp_outbox(&mut self, before: i64) -> Result<Vec<(String, u64)>> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let gone: Vec<(String, u64)> = tx
            .prepare_cached(
                "SELECT account, count(*) FROM smpp_outbox WHERE created_at < ?1 \
                 GROUP BY account ORDER BY account",
            )?
            .query_map([before], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if !gone.is_empty() {
            tx.prepare_cached("DELETE FROM smpp_outbox WHERE created_at < ?1")?
                .execute([before])?;
        }
        tx.commit()?;
        Ok(gone)
    }

    /// Accounts that got outbox rows since the last call (committed ones:
    /// call it between transactions). The first call only sets the mark.
    pub fn smpp_new_rows(&mut self) -> Result<Vec<String>> {
        let seen = match self.smpp_seen {
            Some(s) => s,
            None => {
                let max: i64 = self
                    .conn
                    .prepare_cached("SELECT COALESCE(max(id), 0) FROM smpp_outbox")?
                    .query_row([], |r| r.get(0))?;
                self.smpp_seen = Some(max);
                return Ok(Vec::new());
            }
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, max(id) FROM smpp_outbox WHERE id > ?1 GROUP BY account",
        )?;
        let mut out = Vec::new();
        let mut top = seen;
        let mut rows = stmt.query([seen])?;
        while let Some(r) = rows.next()? {
            out.push(r.get::<_, String>(0)?);
            top = top.max(r.get(1)?);
        }
        self.smpp_seen = Some(top);
        Ok(out)
    }
}

/// Message `id` of an SMPP account, by id (for the receipts of a state
/// change): its origin and whether its final receipt was written.
struct Origin {
    account: String,
    source: (u8, u8, String),
    dest: (u8, u8, String),
    registered_delivery: u8,
    final_receipt: bool,
}

/// After message `message` changed to `state` (with `code`, the TP-ST or
/// +CMS ERROR of a failure) at `at`: write the receipt its
/// registered_delivery asks for, if any, to its account's outbox. A final
/// receipt is written once, whatever follows (a message reopened from
/// UNKNOWN does not get a second one). Nothing for a message that did not
/// come over SMPP.
pub(super) fn receipt_on_change(
    tx: &Connection,
    message: i64,
    state: MessageState,
    code: Option<i64>,
    at: i64,
) -> Result<()> {
    let origin = tx
        .prepare_cached(
            "SELECT account, source_ton, source_npi, source_addr, dest_ton, dest_npi, dest_addr, \
             registered_delivery, final_receipt FROM smpp_messages WHERE message_id = ?1",
        )?
        .query_row([message], |r| {
            Ok(Origin {
                account: r.get(0)?,
                source: (r.get(1)?, r.get(2)?, r.get(3)?),
                dest: (r.get(4)?, r.get(5)?, r.get(6)?),
                registered_delivery: r.get(7)?,
                final_receipt: r.get(8)?,
            })
        })
        .optional()?;
    let Some(o) = origin else {
        return Ok(());
    };
    let rd = o.registered_delivery;
    let wanted = if state.is_final() {
        !o.final_receipt
            && match rd & RD_FINAL_MASK {
                1 => true,
                2 => state.is_failure(),
                // SMPP 5.0's "success only"; reserved in 3.4.
                3 => state == MessageState::Delivered,
                _ => false,
            }
    } else {
        state == MessageState::Enroute && rd & RD_INTERMEDIATE != 0
    };
    if state.is_final() {
        // Once final, never another final receipt (asked for or not).
        tx.prepare_cached("UPDATE smpp_messages SET final_receipt = 1 WHERE message_id = ?1")?
            .execute([message])?;
    }
    if !wanted {
        return Ok(());
    }
    let (text, created_at, binary): (String, i64, bool) = tx
        .prepare_cached("SELECT text, created_at, data IS NOT NULL FROM messages WHERE id = ?1")?
        .query_row([message], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let (sub, dlvrd): (i64, i64) = tx
        .prepare_cached(
            "SELECT count(*), COALESCE(sum(state = 'DELIVRD'), 0) FROM parts WHERE message_id = ?1",
        )?
        .query_row([message], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let text_head: String = if binary {
        String::new()
    } else {
        text.chars().take(20).collect()
    };
    let err = if state.is_failure() {
        code.unwrap_or(0)
    } else {
        0
    };
    let payload = json!({
        "message_id": message,
        "source": {"ton": o.source.0, "npi": o.source.1, "addr": o.source.2},
        "dest": {"ton": o.dest.0, "npi": o.dest.1, "addr": o.dest.2},
        "state": state.as_str(),
        "intermediate": !state.is_final(),
        "sub": sub,
        "dlvrd": dlvrd,
        "submit_date": created_at,
        "done_date": at,
        "err": err,
        "text_head": text_head,
    });
    enqueue(tx, &o.account, "receipt", &payload.to_string(), at)
}

/// The payload of an incoming SMS for an account's outbox.
pub(super) fn mo_payload(
    sender: &str,
    modem: &str,
    text: Option<&str>,
    data_hex: &str,
    received_at: i64,
) -> String {
    json!({
        "from": sender,
        "to": modem,
        "text": text,
        "data_hex": data_hex,
        "received_at": received_at,
    })
    .to_string()
}

/// Append a row to `account`'s outbox.
pub(super) fn enqueue(
    tx: &Connection,
    account: &str,
    kind: &str,
    payload: &str,
    at: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO smpp_outbox (account, kind, payload, created_at, next_attempt) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![account, kind, payload, at])?;
    Ok(())
}

impl Store {
    /// The message ids an account submitted, newest first: at most `limit`.
    pub fn smpp_messages_of(&self, account: &str, limit: u32) -> Result<Vec<MessageId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT message_id FROM smpp_messages WHERE account = ?1 \
             ORDER BY message_id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![account, limit], |r| Ok(MessageId(r.get(0)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
