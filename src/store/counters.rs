//! Aggregates for `/metrics` and `/v1/modems`: part counts kept by triggers
//! (table `part_counts`), the rest from small partial indexes.
//!
//! Sent, delivered and failed are counted in parts (what each modem did);
//! the queue in messages.

use std::collections::BTreeMap;

use super::{parse_state, Result, Store};
use crate::state::MessageState;

/// Totals over the whole database.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Parts the network accepted (a TP-MR came back).
    pub sent: u64,
    /// Parts delivered.
    pub delivered: u64,
    /// Parts in a final failure state, by state name (EXPIRED, DELETED,
    /// UNDELIV, REJECTD, UNKNOWN), in that order, zeros left out.
    pub failed_by_state: Vec<(String, u64)>,
    /// REJECTD parts by +CMS ERROR code.
    pub rejected_by_code: Vec<(i64, u64)>,
    /// TP-MR collisions recorded.
    pub collisions: u64,
    /// Reports still waiting for their part.
    pub orphans: u64,
    /// Reports that could belong to several parts.
    pub ambiguous: u64,
    /// Messages waiting to be sent.
    pub queue_depth: u64,
    /// Every known modem (and every modem named as a preference).
    pub per_modem: Vec<ModemCounters>,
    /// Webhook notifications not yet acknowledged.
    pub webhooks_pending: u64,
    /// Incoming SMS stored.
    pub inbox: u64,
    /// Pushed parts of concatenated SMS staged, waiting for the rest.
    pub staged_parts: u64,
}

/// One modem's share.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ModemCounters {
    pub name: String,
    /// Queued messages claimed by it or (unclaimed) preferring it.
    pub queued: u64,
    /// Parts it sent (TP-MR received).
    pub sent: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// Parts it handled that failed (REJECTD, UNKNOWN, UNDELIV...).
    pub failed: u64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Messages waiting to be sent: how many in all, and how many each
    /// modem has claimed or is preferred for (as [`Store::queue_depth`]
    /// counts them, all in one pass over the queue).
    pub fn queue_depths(&self) -> Result<(u64, BTreeMap<String, u64>)> {
        let mut names = BTreeMap::new();
        {
            let mut stmt = self.conn.prepare_cached("SELECT id, name FROM modems")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                names.insert(r.get::<_, i64>(0)?, r.get::<_, String>(1)?);
            }
        }
        self.queued_by_modem(&names)
    }

    fn queued_by_modem(
        &self,
        names: &BTreeMap<i64, String>,
    ) -> Result<(u64, BTreeMap<String, u64>)> {
        let (mut total, mut by_modem) = (0, BTreeMap::new());
        let mut stmt = self.conn.prepare_cached(
            "SELECT claimed_by, modem_pref, count(*) FROM messages WHERE queued = 1 \
             GROUP BY claimed_by, modem_pref",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let claimed: Option<i64> = r.get(0)?;
            let pref: Option<String> = r.get(1)?;
            let n = count(r.get(2)?);
            total += n;
            let owner = match claimed {
                Some(id) => names.get(&id).cloned(),
                None => pref,
            };
            if let Some(name) = owner {
                *by_modem.entry(name).or_insert(0) += n;
            }
        }
        Ok((total, by_modem))
    }

    /// All counters, in a few small queries (none scans the parts).
    pub fn counters(&self) -> Result<Counters> {
        let mut c = Counters::default();
        let mut modems: BTreeMap<String, ModemCounters> = BTreeMap::new();
        let mut names: BTreeMap<i64, String> = BTreeMap::new();
        {
            let mut stmt = self.conn.prepare_cached("SELECT id, name FROM modems")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (id, name): (i64, String) = (r.get(0)?, r.get(1)?);
                modems.insert(
                    name.clone(),
                    ModemCounters {
                        name: name.clone(),
                        ..Default::default()
                    },
                );
                names.insert(id, name);
            }
        }
        let mut failed: BTreeMap<MessageState, u64> = BTreeMap::new();
        let mut rejected: BTreeMap<i64, u64> = BTreeMap::new();
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT modem_id, state, cms_error, sent, n FROM part_counts WHERE n > 0",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let modem: i64 = r.get(0)?;
                let state = parse_state(&r.get::<_, String>(1)?)?;
                let code: i64 = r.get(2)?;
                let sent: bool = r.get(3)?;
                let n = count(r.get(4)?);
                let mine = names.get(&modem).and_then(|name| modems.get_mut(name));
                if let Some(m) = mine {
                    if sent {
                        m.sent += n;
                    }
                    if state == MessageState::Delivered {
                        m.delivered += n;
                    }
                    if state.is_failure() {
                        m.failed += n;
                    }
                }
                if sent {
                    c.sent += n;
                }
                if state == MessageState::Delivered {
                    c.delivered += n;
                }
                if state.is_failure() {
                    *failed.entry(state).or_default() += n;
                }
                if state == MessageState::Rejected {
                    *rejected.entry(code.max(0)).or_default() += n;
                }
            }
        }
        c.failed_by_state = failed
            .into_iter()
            .map(|(s, n)| (s.as_str().to_string(), n))
            .collect();
        c.rejected_by_code = rejected.into_iter().collect();
        let (total, by_modem) = self.queued_by_modem(&names)?;
        c.queue_depth = total;
        for (name, n) in by_modem {
            modems
                .entry(name.clone())
                .or_insert_with(|| ModemCounters {
                    name,
                    ..Default::default()
                })
                .queued += n;
        }
        let one = |sql: &str| -> Result<u64> {
            Ok(count(
                self.conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?,
            ))
        };
        c.collisions = one("SELECT count(*) FROM collisions")?;
        c.orphans = one("SELECT count(*) FROM reports WHERE applied = 0")?;
        c.ambiguous = one("SELECT count(*) FROM reports WHERE match = 'ambiguous'")?;
        c.webhooks_pending = one("SELECT count(*) FROM webhooks WHERE delivered_at IS NULL")?;
        c.inbox = one("SELECT count(*) FROM inbox")?;
        c.staged_parts = one("SELECT count(*) FROM staged_parts")?;
        c.per_modem = modems.into_values().collect();
        Ok(c)
    }
}
