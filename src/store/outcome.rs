//! Parts whose fate the modem never told us: AT+CMGS was written (the PDU
//! may have reached the network) but no answer came (crash, unplug, timeout).

use rusqlite::params;

use super::{event, refresh_message, waiting_part, Result, Store, StoreError, Tx};
use crate::router::PartId;
use crate::state::MessageState;

impl Store {
    /// Mark `part` UNKNOWN: it may or may not have been sent, so it is not
    /// resent (at most once on the radio). Its TP-MR is unknown, so the
    /// router cannot match a report to it; it keeps when AT+CMGS was
    /// written so that a report that can only be its own still settles it
    /// (basis `window`, see the receive path).
    pub fn mark_outcome_unknown(&mut self, part: PartId, reason: &str, at: i64) -> Result<()> {
        match self.mark_outcome_unknown_tx(part, reason, at) {
            Ok(()) => Ok(()),
            // The retry of orphan reports may have touched the router.
            Err(e @ StoreError::Sql(_)) => self.recover(e),
            Err(e) => Err(e),
        }
    }

    fn mark_outcome_unknown_tx(&mut self, part: PartId, reason: &str, at: i64) -> Result<()> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let message = waiting_part(&tx, part)?;
        tx.prepare_cached(
            "UPDATE parts SET state = 'UNKNOWN', error = ?2, done_at = ?3, next_attempt = NULL, \
             written_at = sending_at, sending_at = NULL WHERE id = ?1",
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
        // A report that came while it was in flight was kept as an orphan
        // (it could have been its answer's or another's): it may now be
        // this part's own by its time window.
        super::reports::retry_waiting_tx(&tx, self.webhooks, &mut self.router, None)?;
        tx.commit()?;
        Ok(())
    }
}
