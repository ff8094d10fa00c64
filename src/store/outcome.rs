//! Parts whose fate the modem never told us: AT+CMGS was written (the PDU
//! may have reached the network) but no answer came (crash, unplug, timeout).

use rusqlite::params;

use super::queue::{release_if_unbound, sync_queued};
use super::{
    event, refresh_message, refresh_message_reopening, waiting_part, Result, Store, StoreError, Tx,
};
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

impl Store {
    /// `resend_unknown = "if-no-report"`: parts of unknown outcome (AT+CMGS
    /// written, never answered) whose message asked for a status report and
    /// that got none `wait` seconds after they were marked UNKNOWN (a part
    /// that reached the network would have had its report by then) go back
    /// to the queue as a fresh attempt, with an event saying why; their
    /// message is reopened. A part whose message also failed some other way
    /// (another part REJECTD, say) is left alone: resending it cannot help.
    /// Returns the parts queued again.
    pub fn resend_unknown_without_report(&mut self, wait: i64, now: i64) -> Result<Vec<PartId>> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let mut due: Vec<(i64, i64)> = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT p.id, p.message_id FROM parts p JOIN messages m ON m.id = p.message_id \
                 WHERE p.written_at IS NOT NULL AND p.mr IS NULL AND p.state = 'UNKNOWN' \
                   AND m.report = 1 AND p.done_at <= ?1 \
                 ORDER BY p.message_id, p.id",
            )?;
            let mut rows = stmt.query([now.saturating_sub(wait)])?;
            while let Some(r) = rows.next()? {
                due.push((r.get(0)?, r.get(1)?));
            }
        }
        let mut resent = Vec::new();
        for group in due.chunk_by(|a, b| a.1 == b.1) {
            let message = group[0].1;
            // Every failed part of the message must be one of these.
            let failed: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM parts WHERE message_id = ?1 \
                     AND state NOT IN ('ACCEPTED', 'ENROUTE', 'DELIVRD')",
                )?
                .query_row([message], |r| r.get(0))?;
            if usize::try_from(failed).ok() != Some(group.len()) {
                continue;
            }
            for &(part, _) in group {
                tx.prepare_cached(
                    "UPDATE parts SET state = 'ACCEPTED', written_at = NULL, error = NULL, \
                     done_at = NULL, next_attempt = NULL, \
                     modem_id = CASE WHEN mr IS NULL THEN NULL ELSE modem_id END \
                     WHERE id = ?1",
                )?
                .execute([part])?;
                let why = format!(
                    "no status report within {wait} s of the outcome becoming unknown: \
                     queued again (resend_unknown = \"if-no-report\"; the recipient may \
                     get this part twice if its report was lost)"
                );
                event(
                    &tx,
                    now,
                    message,
                    Some(part),
                    None,
                    MessageState::Accepted,
                    &why,
                )?;
                resent.push(PartId(part));
            }
            let last = group[group.len() - 1].0;
            refresh_message_reopening(
                &tx,
                self.webhooks,
                message,
                Some(last),
                None,
                None,
                now,
                true,
            )?;
            release_if_unbound(&tx, message)?;
            sync_queued(&tx, message)?;
        }
        tx.commit()?;
        Ok(resent)
    }
}
