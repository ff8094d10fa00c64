//! Parts whose fate the modem never told us: AT+CMGS was written (the PDU
//! may have reached the network) but no answer came (crash, unplug, timeout).

use rusqlite::params;

use super::{event, refresh_message, waiting_part, Result, Store, Tx};
use crate::router::PartId;
use crate::state::MessageState;

impl Store {
    /// Mark `part` UNKNOWN: it may or may not have been sent, so it is not
    /// resent (at most once on the radio) and no report can be matched to
    /// it, since its TP-MR is unknown.
    pub fn mark_outcome_unknown(&mut self, part: PartId, reason: &str, at: i64) -> Result<()> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let message = waiting_part(&tx, part)?;
        tx.prepare_cached(
            "UPDATE parts SET state = 'UNKNOWN', error = ?2, done_at = ?3, next_attempt = NULL, \
             sending_at = NULL WHERE id = ?1",
        )?
        .execute(params![part.0, reason, at])?;
        let why = format!("outcome unknown: {reason}");
        event(
            &tx,
            at,
            message,
            Some(part.0),
            None,
            MessageState::Unknown,
            &why,
        )?;
        refresh_message(&tx, self.webhooks, message, Some(part.0), None, None, at)?;
        tx.commit()?;
        Ok(())
    }
}
