//! The receive path: status reports stored, matched and applied; expiry.

use rusqlite::{params, Connection};

use super::queue::sync_queued;
use super::{
    event, refresh_message, refresh_message_reopening, MessageId, Result, Store, StoreError, Tx,
};
use crate::pdu::status::TpStatus;
use crate::router::{Basis, HeldReport, ModemId, PartId, Report, Resolution, Router};
use crate::state::MessageState;

/// A status report as the modem session decoded it (plain values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingReport {
    pub modem: ModemId,
    /// TP-RA as received.
    pub recipient: String,
    /// TP-MR.
    pub mr: u8,
    /// TP-SCTS, unix seconds.
    pub scts: i64,
    /// TP-DT (discharge time), unix seconds.
    pub discharge: Option<i64>,
    /// TP-ST byte.
    pub status: u8,
    /// The PDU as received, hex.
    pub pdu_hex: String,
    /// When we received it, unix seconds.
    pub received_at: i64,
}

/// What one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOutcome {
    /// The report's row id.
    pub report: i64,
    pub resolution: Resolution,
    /// The message whose state changed because of it, and its new state.
    pub message: Option<(MessageId, MessageState)>,
}

impl Store {
    /// Store one report and apply it, in one transaction.
    pub fn record_report(&mut self, report: &IncomingReport) -> Result<ReportOutcome> {
        let mut out = self.record_reports(std::iter::once(report.clone()))?;
        out.pop().ok_or(StoreError::Invalid {
            field: "report",
            reason: "nothing recorded".into(),
        })
    }

    /// Store and apply a burst of reports in one transaction (all or none).
    pub fn record_reports(
        &mut self,
        reports: impl IntoIterator<Item = IncomingReport>,
    ) -> Result<Vec<ReportOutcome>> {
        match self.record_reports_tx(reports) {
            Ok(v) => Ok(v),
            Err(e) => self.recover(e),
        }
    }

    fn record_reports_tx(
        &mut self,
        reports: impl IntoIterator<Item = IncomingReport>,
    ) -> Result<Vec<ReportOutcome>> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let mut out = Vec::new();
        let mut settled_keys = Vec::new();
        let mut offset_changed = false;
        for rep in reports {
            let offset_before = self.router.clock_offset(rep.modem);
            let mut resolution = self.router.resolve(&Report {
                modem: rep.modem,
                recipient: &rep.recipient,
                mr: rep.mr,
                scts: rep.scts,
                status: TpStatus(rep.status),
            });
            if resolution == Resolution::Orphan {
                if let Some(m) = settle_window_tx(&tx, &mut self.router, &rep)? {
                    resolution = Resolution::Matched(m);
                }
            }
            let v = Verdict::of(&resolution);
            tx.prepare_cached(
                "INSERT INTO reports (received_at, modem_id, recipient, mr, scts, discharge, \
                 tp_status, pdu, match, basis, part_id, candidates, applied) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                rep.received_at,
                rep.modem.0,
                rep.recipient,
                rep.mr,
                rep.scts,
                rep.discharge,
                rep.status,
                rep.pdu_hex,
                v.result,
                v.basis,
                v.part,
                v.candidates,
                v.applied
            ])?;
            let id = tx.last_insert_rowid();
            // A match settles a candidate; an ambiguous report may complete
            // a set of look-alikes: either way the key's waiting reports are
            // looked at again.
            if matches!(
                resolution,
                Resolution::Matched(_) | Resolution::Ambiguous { .. }
            ) {
                settled_keys.push((rep.modem, rep.mr));
            }
            offset_changed |= self.router.clock_offset(rep.modem) != offset_before;
            out.push(apply(&tx, self.webhooks, id, &rep, resolution)?);
        }
        // A match settles a candidate and teaches the clock offset: reports
        // waiting under the same key (ambiguous ones) may now be decided, by
        // time or by the set. A newly learned (or moved) clock offset may
        // decide any of them.
        if offset_changed {
            retry_waiting_tx(&tx, self.webhooks, &mut self.router, None)?;
        } else {
            settled_keys.sort_unstable_by_key(|(m, mr)| (m.0, *mr));
            settled_keys.dedup();
            for key in settled_keys {
                retry_waiting_tx(&tx, self.webhooks, &mut self.router, Some(key))?;
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Retry waiting (orphan) reports; returns (retried, resolved).
    pub(super) fn retry_waiting(&mut self, key: Option<(ModemId, u8)>) -> Result<(usize, usize)> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let out = retry_waiting_tx(&tx, self.webhooks, &mut self.router, key)?;
        tx.commit()?;
        let resolved = out
            .iter()
            .filter(|o| o.resolution != Resolution::Orphan)
            .count();
        Ok((out.len(), resolved))
    }

    /// Parts with no final report after their validity period plus the grace
    /// time become UNKNOWN (with an event, and their message's state).
    pub fn expire(&mut self, now: i64) -> Result<Vec<PartId>> {
        match self.expire_tx(now) {
            Ok(v) => Ok(v),
            Err(e) => self.recover(e),
        }
    }

    fn expire_tx(&mut self, now: i64) -> Result<Vec<PartId>> {
        let tx = Tx::begin(&mut self.conn, self.batch)?;
        let expired = self.router.expire(now);
        for part in &expired {
            let message: Option<i64> = tx
                .prepare_cached(
                    "UPDATE parts SET state = 'UNKNOWN', done_at = ?2, \
                     error = 'no final report within the validity period and grace time' \
                     WHERE id = ?1 AND state IN ('ACCEPTED', 'ENROUTE') RETURNING message_id",
                )?
                .query_row(params![part.0, now], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            if let Some(message) = message {
                event(
                    &tx,
                    now,
                    message,
                    Some(part.0),
                    None,
                    MessageState::Unknown,
                    "no final report within the validity period and grace time",
                )?;
                refresh_message(&tx, self.webhooks, message, Some(part.0), None, None, now)?;
            }
        }
        tx.commit()?;
        Ok(expired)
    }
}

/// Resolve the waiting reports (all, or those under one modem and TP-MR)
/// again and apply the ones that now find their part.
pub(super) fn retry_waiting_tx(
    tx: &Connection,
    hooks: bool,
    router: &mut Router,
    key: Option<(ModemId, u8)>,
) -> Result<Vec<ReportOutcome>> {
    let mut waiting = Vec::new();
    {
        let (sql, args): (&str, Vec<i64>) = match key {
            Some((m, mr)) => (
                "SELECT id, received_at, modem_id, recipient, mr, scts, discharge, tp_status, pdu \
                 FROM reports WHERE applied = 0 AND modem_id = ?1 AND mr = ?2 ORDER BY id",
                vec![i64::from(m.0), i64::from(mr)],
            ),
            None => (
                "SELECT id, received_at, modem_id, recipient, mr, scts, discharge, tp_status, pdu \
                 FROM reports WHERE applied = 0 ORDER BY id",
                vec![],
            ),
        };
        let mut stmt = tx.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            waiting.push((
                id,
                IncomingReport {
                    received_at: r.get(1)?,
                    modem: ModemId(r.get(2)?),
                    recipient: r.get(3)?,
                    mr: r.get(4)?,
                    scts: r.get(5)?,
                    discharge: r.get(6)?,
                    status: r.get(7)?,
                    pdu_hex: r.get(8)?,
                },
            ));
        }
    }
    let mut out = Vec::with_capacity(waiting.len());
    let mut still_ambiguous = 0usize;
    for (id, rep) in waiting {
        let mut resolution = router.resolve(&Report {
            modem: rep.modem,
            recipient: &rep.recipient,
            mr: rep.mr,
            scts: rep.scts,
            status: TpStatus(rep.status),
        });
        if resolution == Resolution::Orphan {
            if let Some(m) = settle_window_tx(tx, router, &rep)? {
                resolution = Resolution::Matched(m);
            }
        }
        if let Resolution::Ambiguous { .. } = &resolution {
            // Still in doubt: keep waiting, with the current candidates.
            let v = Verdict::of(&resolution);
            tx.prepare_cached("UPDATE reports SET match = ?2, candidates = ?3 WHERE id = ?1")?
                .execute(params![id, v.result, v.candidates])?;
            still_ambiguous += 1;
            continue;
        }
        if resolution != Resolution::Orphan {
            let v = Verdict::of(&resolution);
            tx.prepare_cached(
                "UPDATE reports SET match = ?2, basis = ?3, part_id = ?4, candidates = ?5, \
                 applied = ?6 WHERE id = ?1",
            )?
            .execute(params![
                id,
                v.result,
                v.basis,
                v.part,
                v.candidates,
                v.applied
            ])?;
        }
        out.push(apply(tx, hooks, id, &rep, resolution)?);
    }
    // Reports still ambiguous may complete a set (it takes two at least);
    // what that settles may in turn decide the others (a temporary report
    // of settled parts, say).
    if still_ambiguous < 2 {
        return Ok(out);
    }
    let sets = settle_sets_tx(tx, hooks, router, key)?;
    if !sets.is_empty() {
        out.extend(sets);
        out.extend(retry_waiting_tx(tx, hooks, router, key)?);
    }
    Ok(out)
}

/// Offer the ambiguous reports still waiting (all, or those under one modem
/// and TP-MR) to [`Router::settle_by_set`], and apply what it settles: the
/// report rows become matched with basis `set` (their candidates kept).
fn settle_sets_tx(
    tx: &Connection,
    hooks: bool,
    router: &mut Router,
    key: Option<(ModemId, u8)>,
) -> Result<Vec<ReportOutcome>> {
    let mut held: Vec<(i64, IncomingReport)> = Vec::new();
    {
        let (sql, args): (&str, Vec<i64>) = match key {
            Some((m, mr)) => (
                "SELECT id, received_at, modem_id, recipient, mr, scts, discharge, tp_status, pdu \
                 FROM reports WHERE applied = 0 AND match = 'ambiguous' \
                 AND modem_id = ?1 AND mr = ?2 ORDER BY id",
                vec![i64::from(m.0), i64::from(mr)],
            ),
            None => (
                "SELECT id, received_at, modem_id, recipient, mr, scts, discharge, tp_status, pdu \
                 FROM reports WHERE applied = 0 AND match = 'ambiguous' \
                 ORDER BY modem_id, mr, id",
                vec![],
            ),
        };
        let mut stmt = tx.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            held.push((
                r.get(0)?,
                IncomingReport {
                    received_at: r.get(1)?,
                    modem: ModemId(r.get(2)?),
                    recipient: r.get(3)?,
                    mr: r.get(4)?,
                    scts: r.get(5)?,
                    discharge: r.get(6)?,
                    status: r.get(7)?,
                    pdu_hex: r.get(8)?,
                },
            ));
        }
    }
    let mut out = Vec::new();
    // One (modem, TP-MR) at a time: a set never spans two.
    for group in held.chunk_by(|a, b| (a.1.modem, a.1.mr) == (b.1.modem, b.1.mr)) {
        if group.len() < 2 {
            continue;
        }
        let offered: Vec<HeldReport<'_>> = group
            .iter()
            .map(|(id, rep)| HeldReport {
                token: *id,
                report: Report {
                    modem: rep.modem,
                    recipient: &rep.recipient,
                    mr: rep.mr,
                    scts: rep.scts,
                    status: TpStatus(rep.status),
                },
            })
            .collect();
        for settled in router.settle_by_set(&offered) {
            let Some((id, rep)) = group.iter().find(|(id, _)| *id == settled.token) else {
                continue;
            };
            let candidates = settled
                .candidates
                .iter()
                .map(|p| p.0.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            tx.prepare_cached(
                "UPDATE reports SET match = 'matched', basis = 'set', part_id = ?2, \
                 candidates = ?3, applied = 1 WHERE id = ?1",
            )?
            .execute(params![id, settled.matched.part.0, candidates])?;
            out.push(apply(
                tx,
                hooks,
                *id,
                rep,
                Resolution::Matched(settled.matched),
            )?);
        }
    }
    Ok(out)
}

/// A report the router found no part for may still be that of a part whose
/// outcome is UNKNOWN because AT+CMGS was written and never answered (a
/// crash, a timeout): such a part has no TP-MR, so the router cannot know
/// it. It is that part's own when it can be no other's:
///
/// - the part went UNKNOWN from in flight on the report's modem, to a
///   number with the same suffix, and the report's SCTS fits its window
///   (AT+CMGS written .. marked UNKNOWN) by [`Router::window_fit`];
/// - no other such part fits, and no part now in flight on that modem to
///   that suffix fits (its window runs until the report came): its answer
///   may still be on the way;
/// - the router has no entry it could belong to: the caller offers only
///   reports the router called orphans.
///
/// Then the part learns the report's TP-MR and an estimated submit time
/// (so a repeated report, or the final one after a temporary one, is
/// matched by the router), and the match is returned with
/// [`Basis::Window`]; the caller writes and applies it.
fn settle_window_tx(
    tx: &Connection,
    router: &mut Router,
    rep: &IncomingReport,
) -> Result<Option<crate::router::Matched>> {
    let want = router.suffix_key(&rep.recipient);
    // (part, recipient, window start, window end, validity)
    let mut unknown: Vec<(i64, String, i64, i64, i64)> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT p.id, m.recipient, p.written_at, COALESCE(p.done_at, p.written_at), \
                    m.validity_secs \
             FROM parts p JOIN messages m ON m.id = p.message_id \
             WHERE p.modem_id = ?1 AND p.written_at IS NOT NULL AND p.mr IS NULL \
               AND p.state = 'UNKNOWN'",
        )?;
        let mut rows = stmt.query([rep.modem.0])?;
        while let Some(r) = rows.next()? {
            unknown.push((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?));
        }
    }
    let mut fitting = unknown
        .into_iter()
        .filter_map(|(part, to, from, until, vp)| {
            if router.suffix_key(&to) != want {
                return None;
            }
            let at = router.window_fit(rep.modem, rep.scts, from, until)?;
            Some((part, to, at, vp))
        });
    let Some((part, to, at, validity)) = fitting.next() else {
        return Ok(None);
    };
    if fitting.next().is_some() {
        tracing::info!(
            modem = rep.modem.0,
            mr = rep.mr,
            "orphan report fits several parts of unknown outcome: left an orphan"
        );
        return Ok(None);
    }
    let mut in_flight = false;
    {
        let mut stmt = tx.prepare_cached(
            "SELECT m.recipient, p.sending_at FROM parts p JOIN messages m ON m.id = p.message_id \
             WHERE p.modem_id = ?1 AND p.sending_at IS NOT NULL AND p.mr IS NULL \
               AND p.state = 'ACCEPTED'",
        )?;
        let mut rows = stmt.query([rep.modem.0])?;
        while let Some(r) = rows.next()? {
            let (other, from): (String, i64) = (r.get(0)?, r.get(1)?);
            let until = from.max(rep.received_at);
            if router.suffix_key(&other) == want
                && router
                    .window_fit(rep.modem, rep.scts, from, until)
                    .is_some()
            {
                in_flight = true;
                break;
            }
        }
    }
    if in_flight {
        tracing::info!(
            modem = rep.modem.0,
            mr = rep.mr,
            part,
            "orphan report fits a part of unknown outcome and one in flight: left an orphan"
        );
        return Ok(None);
    }
    tx.prepare_cached("UPDATE parts SET mr = ?2, submitted_at = ?3, validity = ?4 WHERE id = ?1")?
        .execute(params![part, rep.mr, at, validity])?;
    let status = TpStatus(rep.status);
    let outcome = crate::state::outcome(status);
    if outcome.is_final {
        router.register_settled(rep.modem, &to, rep.mr, PartId(part), at, validity);
    } else if let Some(c) = router.register(rep.modem, &to, rep.mr, PartId(part), at, validity) {
        tracing::info!(
            modem = rep.modem.0,
            mr = rep.mr,
            part,
            pending = ?c.pending,
            "part of unknown outcome settled by its window shares a key with pending parts"
        );
    }
    Ok(Some(crate::router::Matched {
        part: PartId(part),
        outcome,
        basis: Basis::Window,
    }))
}

/// How a resolution is written in the report's row.
struct Verdict {
    result: &'static str,
    basis: Option<&'static str>,
    part: Option<i64>,
    candidates: Option<String>,
    applied: bool,
}

impl Verdict {
    fn of(resolution: &Resolution) -> Verdict {
        let none = Verdict {
            result: "orphan",
            basis: None,
            part: None,
            candidates: None,
            applied: false,
        };
        match resolution {
            Resolution::Matched(m) => Verdict {
                result: "matched",
                basis: Some(match m.basis {
                    Basis::Sole => "sole",
                    Basis::Time => "time",
                    Basis::Set => "set",
                    Basis::Window => "window",
                }),
                part: Some(m.part.0),
                applied: true,
                ..none
            },
            Resolution::AlreadySettled { part } => Verdict {
                result: "duplicate",
                part: Some(part.0),
                applied: true,
                ..none
            },
            Resolution::Ambiguous { candidates } => Verdict {
                result: "ambiguous",
                candidates: Some(
                    candidates
                        .iter()
                        .map(|p| p.0.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                // Kept waiting: retried when a candidate settles or the
                // modem's clock offset becomes known.
                applied: false,
                ..none
            },
            Resolution::Orphan => none,
        }
    }
}

/// Apply a report (row `id`, verdict already written) to its part and message.
fn apply(
    tx: &Connection,
    hooks: bool,
    id: i64,
    rep: &IncomingReport,
    resolution: Resolution,
) -> Result<ReportOutcome> {
    let mut message = None;
    match &resolution {
        Resolution::Matched(m) => {
            let state = m.outcome.state;
            let done_at = m.outcome.is_final.then_some(rep.received_at);
            let msg: i64 = tx
                .prepare_cached(
                    "UPDATE parts SET state = ?2, scts = ?3, tp_status = ?4, done_at = ?5 \
                     WHERE id = ?1 RETURNING message_id",
                )?
                .query_row(
                    params![m.part.0, state.as_str(), rep.scts, rep.status, done_at],
                    |r| r.get(0),
                )?;
            let basis = match m.basis {
                Basis::Sole => "the only possible part",
                Basis::Time => "its SCTS",
                Basis::Set => {
                    "the set: as many reports as parts that could not be told apart, \
                     all with this outcome"
                }
                Basis::Window => {
                    "its SCTS: the only part of unknown outcome to this number on this \
                     modem whose AT+CMGS was written in that time window"
                }
            };
            let reason = format!(
                "TP-ST 0x{:02X}: {} (matched by {basis})",
                rep.status, m.outcome.description
            );
            event(
                tx,
                rep.received_at,
                msg,
                Some(m.part.0),
                Some(id),
                state,
                &reason,
            )?;
            // A part of unknown outcome made its message UNKNOWN (final):
            // now that the part's fate is known, the message is reopened.
            let reopen = m.basis == Basis::Window;
            message = refresh_message_reopening(
                tx,
                hooks,
                msg,
                Some(m.part.0),
                Some(id),
                Some(i64::from(rep.status)),
                rep.received_at,
                reopen,
            )?
            .map(|s| (MessageId(msg), s));
            if reopen {
                sync_queued(tx, msg)?;
            }
        }
        Resolution::AlreadySettled { part } => {
            tracing::info!(
                report = id,
                part = part.0,
                "repeated report for a settled part"
            );
        }
        Resolution::Ambiguous { candidates } => {
            tracing::warn!(
                report = id,
                ?candidates,
                "ambiguous status report: attached to no part"
            );
        }
        Resolution::Orphan => {
            tracing::info!(
                report = id,
                mr = rep.mr,
                "orphan status report kept for a later retry"
            );
        }
    }
    Ok(ReportOutcome {
        report: id,
        resolution,
        message,
    })
}
