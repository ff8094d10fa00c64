//! Incoming SMS: stored once reassembled (or given up on), listed for the
//! API, announced by webhook. Storing one deletes its staged parts (see
//! `staging`) in the same transaction.

use rusqlite::params;
use serde_json::json;

use super::webhooks::{self, rfc3339};
use super::{Result, Store, StoreError, Tx};
use crate::router::ModemId;

/// An incoming SMS as the gateway reassembled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingSms {
    /// The modem it arrived on.
    pub modem: ModemId,
    /// TP-OA.
    pub sender: String,
    /// The text, when the data coding is a text one.
    pub text: Option<String>,
    /// The user data (all parts, reassembled), hex.
    pub data_hex: String,
    /// TP-SCTS of the first part, unix seconds.
    pub scts: i64,
    /// When the last part arrived, unix seconds.
    pub received_at: i64,
    /// Number of parts.
    pub parts: u8,
    /// The PDUs as received, hex, in part order.
    pub pdus_hex: Vec<String>,
    /// Some parts never came (stored as far as it got).
    pub partial: bool,
}

/// One stored incoming SMS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InboxRow {
    pub id: i64,
    /// The modem's name.
    pub modem: String,
    pub sender: String,
    pub text: Option<String>,
    pub data_hex: String,
    pub scts: i64,
    pub received_at: i64,
    pub parts: u8,
    pub partial: bool,
}

/// How far back (seconds of `received_at`) a stored SMS is looked for when
/// the same PDUs come again.
pub(super) const DUPLICATE_WINDOW: i64 = 7 * 86_400;

impl Store {
    /// Store an incoming SMS (and, with webhooks on, its notification, in
    /// the same transaction). Returns its inbox id. Its parts staged on the
    /// modem ([`Store::stage_part`], matched by PDU) are deleted in the same
    /// transaction, also when the SMS turns out to be stored already.
    pub fn store_incoming(&mut self, sms: &IncomingSms) -> Result<i64> {
        if sms.sender.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "sender",
                reason: "empty sender".into(),
            });
        }
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let modem: String = tx
            .prepare_cached("SELECT name FROM modems WHERE id = ?1")?
            .query_row([sms.modem.0], |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => StoreError::Invalid {
                    field: "modem",
                    reason: format!("no modem with id {}", sms.modem.0),
                },
                e => e.into(),
            })?;
        // The same PDUs again (a modem lists a message a second time when its
        // AT+CMGD was cut short by an unplug): the SMS is already stored.
        let mut pdus = sms.pdus_hex.clone();
        pdus.sort_unstable();
        let pdus = pdus.join(" ");
        let seen: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM inbox WHERE received_at >= ?1 AND modem_id = ?2 AND sender = ?3 \
                 AND scts = ?4 AND pdus = ?5 AND partial = ?6",
            )?
            .query_row(
                params![
                    sms.received_at - DUPLICATE_WINDOW,
                    sms.modem.0,
                    sms.sender,
                    sms.scts,
                    pdus,
                    sms.partial
                ],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        super::staging::unstage(&tx, sms.modem, &sms.pdus_hex)?;
        if let Some(id) = seen {
            tracing::info!(inbox = id, sender = %sms.sender, "incoming SMS read again: already stored");
            tx.commit()?;
            return Ok(id);
        }
        tx.prepare_cached(
            "INSERT INTO inbox (modem_id, sender, text, data_hex, scts, received_at, parts, pdus, \
             partial) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            sms.modem.0,
            sms.sender,
            sms.text,
            sms.data_hex,
            sms.scts,
            sms.received_at,
            sms.parts,
            pdus,
            sms.partial
        ])?;
        let id = tx.last_insert_rowid();
        {
            let payload = json!({
                "event": "sms.incoming",
                "id": id.to_string(),
                "from": sms.sender,
                "text": sms.text,
                "modem": modem,
                "received_at": rfc3339(sms.received_at),
                "scts": rfc3339(sms.scts),
                "parts": sms.parts,
                "partial": sms.partial,
                "data_hex": sms.data_hex,
            });
            webhooks::announce(
                &tx,
                self.webhooks,
                "incoming",
                &payload.to_string(),
                sms.received_at,
            )?;
        }
        if !self.smpp_mo_accounts.is_empty() {
            let payload = super::smpp::mo_payload(
                &sms.sender,
                &modem,
                sms.text.as_deref(),
                &sms.data_hex,
                sms.received_at,
            );
            for account in &self.smpp_mo_accounts {
                super::smpp::enqueue(&tx, account, "mo", &payload, sms.received_at)?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    /// Stored incoming SMS, newest first: those received at or after
    /// `since` (unix seconds), at most `limit`.
    pub fn inbox(&self, since: Option<i64>, limit: Option<u32>) -> Result<Vec<InboxRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.id, m.name, i.sender, i.text, i.data_hex, i.scts, i.received_at, i.parts, \
             i.partial FROM inbox i JOIN modems m ON m.id = i.modem_id \
             WHERE i.received_at >= ?1 ORDER BY i.id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(
                params![since.unwrap_or(i64::MIN), limit.map_or(-1, i64::from)],
                |r| {
                    Ok(InboxRow {
                        id: r.get(0)?,
                        modem: r.get(1)?,
                        sender: r.get(2)?,
                        text: r.get(3)?,
                        data_hex: r.get(4)?,
                        scts: r.get(5)?,
                        received_at: r.get(6)?,
                        parts: r.get(7)?,
                        partial: r.get(8)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
