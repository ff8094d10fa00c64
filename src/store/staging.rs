//! Parts of incoming concatenated SMS waiting for the rest of their message.
//!
//! A modem that pushes SMS (+CMT) with AT+CSMS=1 holds the next part until
//! the previous one is acknowledged (AT+CNMA), and turns delivery to the
//! host off when the acknowledgement does not come in time. So a pushed
//! part is stored here as it comes and acknowledged once that commit is on
//! disk; the message is reassembled from these rows, and storing it in the
//! inbox ([`Store::store_incoming`]) deletes them in the same transaction:
//! after a crash a part is either staged or in the inbox, never both, never
//! neither. At start the staged parts of a modem go back into its
//! reassembler ([`Store::staged_parts`]).

use rusqlite::{params, OptionalExtension};

use super::inbox::DUPLICATE_WINDOW;
use super::{Result, Store, StoreError, Tx};
use crate::router::ModemId;

/// What [`Store::stage_part`] did with a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// Staged now, with this id.
    New(i64),
    /// The same PDU was already staged (delivered again by the network, its
    /// acknowledgement lost): nothing written, the id of the staged row.
    Again(i64),
    /// The same PDU is part of an SMS already in the inbox (its message was
    /// completed before the network delivered it again): nothing written,
    /// the inbox id.
    Stored(i64),
}

/// A staged part, as [`Store::staged_parts`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPart {
    pub id: i64,
    /// TP-OA.
    pub sender: String,
    /// SMSC prefix + TPDU as received, hex (upper case).
    pub pdu_hex: String,
    /// Unix seconds.
    pub received_at: i64,
}

impl Store {
    /// Stage one received part of a concatenated SMS on `modem`: `pdu_hex`
    /// is the PDU as received (SMSC prefix + TPDU), hex. A PDU already
    /// staged, or already part of a stored SMS from the same sender (within
    /// the window the inbox's repeat check uses), is not staged again.
    pub fn stage_part(
        &mut self,
        modem: ModemId,
        sender: &str,
        pdu_hex: &str,
        received_at: i64,
    ) -> Result<Staged> {
        if sender.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "sender",
                reason: "empty sender".into(),
            });
        }
        let pdu = pdu_hex.to_ascii_uppercase();
        if pdu.is_empty() || !pdu.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid {
                field: "pdu",
                reason: "not a hex PDU".into(),
            });
        }
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let known: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM modems WHERE id = ?1)")?
            .query_row([modem.0], |r| r.get(0))?;
        if !known {
            return Err(StoreError::Invalid {
                field: "modem",
                reason: format!("no modem with id {}", modem.0),
            });
        }
        let staged: Option<i64> = tx
            .prepare_cached("SELECT id FROM staged_parts WHERE modem_id = ?1 AND pdu = ?2")?
            .query_row(params![modem.0, pdu], |r| r.get(0))
            .optional()?;
        if let Some(id) = staged {
            return Ok(Staged::Again(id));
        }
        let stored: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM inbox WHERE modem_id = ?1 AND sender = ?2 AND received_at >= ?3 \
                 AND instr(' ' || pdus || ' ', ' ' || ?4 || ' ') > 0 ORDER BY id LIMIT 1",
            )?
            .query_row(
                params![modem.0, sender, received_at - DUPLICATE_WINDOW, pdu],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = stored {
            tracing::info!(inbox = id, %sender, "incoming part delivered again: already stored");
            return Ok(Staged::Stored(id));
        }
        tx.prepare_cached(
            "INSERT INTO staged_parts (modem_id, sender, pdu, received_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![modem.0, sender, pdu, received_at])?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Staged::New(id))
    }

    /// The parts staged on `modem`, in the order they were staged.
    pub fn staged_parts(&self, modem: ModemId) -> Result<Vec<StagedPart>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, sender, pdu, received_at FROM staged_parts WHERE modem_id = ?1 \
             ORDER BY id",
        )?;
        let rows = stmt
            .query_map([modem.0], |r| {
                Ok(StagedPart {
                    id: r.get(0)?,
                    sender: r.get(1)?,
                    pdu_hex: r.get(2)?,
                    received_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// Delete the staged parts of `modem` that are among `pdus` (hex), inside
/// the transaction that stores their message.
pub(super) fn unstage(tx: &rusqlite::Connection, modem: ModemId, pdus: &[String]) -> Result<()> {
    let mut stmt =
        tx.prepare_cached("DELETE FROM staged_parts WHERE modem_id = ?1 AND pdu = ?2")?;
    for pdu in pdus {
        stmt.execute(params![modem.0, pdu.to_ascii_uppercase()])?;
    }
    Ok(())
}
