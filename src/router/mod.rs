//! Delivery-report correlation: which sent part does a status report belong to?
//!
//! A pure data structure (no IO, no clock: callers pass times as unix
//! seconds). Sent parts are registered under the key (modem, recipient
//! suffix, TP-MR); a report is resolved against the entries under its key.
//!
//! Because the modem's TP-MR is one byte and wraps, several entries can share
//! a key. They are all kept (a **collision**, reported to the caller) and the
//! report's TP-SCTS (when the SMSC accepted the submit, on the SMSC's clock)
//! tells them apart:
//!
//! - Each modem's clock offset (SCTS minus our submit time) is learned from
//!   reports that matched without doubt (see [`clock`]).
//! - With an offset known, a candidate *fits* when its submit time plus the
//!   offset is within `tolerance` of the SCTS, and is *possible* within
//!   `fallback_bound` of it (room for clock steps); further away it cannot be
//!   the one.
//! - Before an offset is known, a candidate fits when the SCTS is within
//!   `fallback_bound` of its submit time, and is possible unless the SCTS is
//!   more than `fallback_bound` *before* its submit time (the SMSC cannot have
//!   accepted a message we had not sent yet).
//! - One fitting candidate: that one. Several: **ambiguous**, attached to
//!   none. None fitting but exactly one possible: that one (a drifted clock).
//!   Otherwise ambiguous (several possible) or an **orphan** (none).
//!
//! An ambiguous report is held by the caller (the store keeps it as a row)
//! and offered again: once the clock offset is learned it may be decided by
//! time, and [`Router::settle_by_set`] settles a group of parts that cannot
//! be told apart when as many final reports came for them as there are
//! parts, all with the same outcome (both delivered, say): each part gets
//! that outcome and the basis says it was the set, not the time.
//!
//! [`Router::reuse_wait`] tells a sender whether a part sent now under a key
//! would be distinguishable from the parts still pending under it (submit
//! times more than `2 * tolerance` apart), and if not, from when it would be.
//!
//! Entries that got their final report stay a while as *settled* entries
//! (`keep_settled`), so a repeated or late report for them is recognised
//! ([`Resolution::AlreadySettled`]) instead of landing on a newer part that
//! reused the TP-MR. Temporary reports (TP-ST 0x20..0x2F) keep an entry
//! pending as ENROUTE. [`Router::expire`] turns entries with no final report
//! after their validity period plus `expiry_grace` into UNKNOWN.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::pdu::status::TpStatus;
use crate::state::{outcome, StatusOutcome};

pub(crate) mod clock;
pub(crate) mod multipart;
pub(crate) mod number;

use clock::ClockOffset;
pub use multipart::message_state;
pub use number::{SuffixKey, MAX_SUFFIX_DIGITS};

/// A modem, as a small integer (the store maps modem names to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModemId(pub u16);

/// A message part, by its store row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartId(pub i64);

/// Tunables of the router (all times in seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// How many trailing digits of a number are compared (1..=15, default 8).
    pub suffix_digits: u8,
    /// How far an SCTS may be from a candidate's submit time plus the learned
    /// offset and still fit (default 2: SCTS has one-second resolution).
    pub tolerance: i64,
    /// Window used before an offset is learned, and the most a clock may
    /// drift from the learned offset (default 300).
    pub fallback_bound: i64,
    /// Time after the validity period before a part with no final report
    /// becomes UNKNOWN (default 3600).
    pub expiry_grace: i64,
    /// How long a settled entry is kept after its expiry deadline to catch
    /// repeated reports (default 86400).
    pub keep_settled: i64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            suffix_digits: 8,
            tolerance: 2,
            fallback_bound: 300,
            expiry_grace: 3600,
            keep_settled: 86_400,
        }
    }
}

/// A router setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("suffix_digits must be 1..={MAX_SUFFIX_DIGITS}, got {0}")]
    SuffixDigits(u8),
    #[error("{field} must be zero or more seconds, got {value}")]
    Negative { field: &'static str, value: i64 },
    #[error("tolerance ({tolerance} s) must not exceed fallback_bound ({bound} s)")]
    ToleranceAboveBound { tolerance: i64, bound: i64 },
}

impl RouterConfig {
    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_SUFFIX_DIGITS).contains(&self.suffix_digits) {
            return Err(ConfigError::SuffixDigits(self.suffix_digits));
        }
        for (field, value) in [
            ("tolerance", self.tolerance),
            ("fallback_bound", self.fallback_bound),
            ("expiry_grace", self.expiry_grace),
            ("keep_settled", self.keep_settled),
        ] {
            if value < 0 {
                return Err(ConfigError::Negative { field, value });
            }
        }
        if self.tolerance > self.fallback_bound {
            return Err(ConfigError::ToleranceAboveBound {
                tolerance: self.tolerance,
                bound: self.fallback_bound,
            });
        }
        Ok(())
    }
}

/// The fields of an SMS-STATUS-REPORT the router needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<'a> {
    /// The modem that received the report.
    pub modem: ModemId,
    /// TP-RA, in whatever form the SMSC sent it.
    pub recipient: &'a str,
    /// TP-MR.
    pub mr: u8,
    /// TP-SCTS as unix seconds (time zone applied).
    pub scts: i64,
    /// TP-ST.
    pub status: TpStatus,
}

/// A registration under a key that still had pending entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub modem: ModemId,
    pub mr: u8,
    /// The part just registered.
    pub new_part: PartId,
    /// The parts still pending under the same key (all kept).
    pub pending: Vec<PartId>,
}

/// Why a report was attached to a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// It was the only possible candidate (such matches teach the clock offset).
    Sole,
    /// Several were possible; its submit time was the only one to fit the SCTS.
    Time,
    /// Several parts could not be told apart, but as many reports came for
    /// them, all with the same outcome: each part got that outcome, whichever
    /// report was its own (see [`Router::settle_by_set`]).
    Set,
    /// The part's outcome was unknown (AT+CMGS written, no answer: no
    /// TP-MR), and it was the only part to that number on that modem whose
    /// window (AT+CMGS written .. marked UNKNOWN) fits the SCTS, with nothing
    /// else the report could belong to (see [`Router::window_fit`]).
    Window,
}

/// A report attached to a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    pub part: PartId,
    /// What the report's TP-ST means for the part (state, final, ...).
    pub outcome: StatusOutcome,
    pub basis: Basis,
}

/// An ambiguous report offered again to [`Router::settle_by_set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldReport<'a> {
    /// The caller's handle for it (the store: the report's row id).
    pub token: i64,
    pub report: Report<'a>,
}

/// A part settled by the set of reports held for it and its look-alikes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMatch {
    /// The report ([`HeldReport::token`]) paired with the part.
    pub token: i64,
    /// The part, its outcome, and [`Basis::Set`].
    pub matched: Matched,
    /// Every part of the set, sorted.
    pub candidates: Vec<PartId>,
}

/// What became of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Attached to this part; the entry is settled if the status is final.
    Matched(Matched),
    /// The report belongs to a part that already had its final report (or
    /// expired): a repeated or late report. Nothing changes.
    AlreadySettled { part: PartId },
    /// Several candidates fit equally: attached to none.
    Ambiguous { candidates: Vec<PartId> },
    /// No candidate could have caused it.
    Orphan,
}

/// Counters and sizes, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Entries waiting for a (final) report.
    pub pending: usize,
    /// Settled entries kept to recognise repeated reports.
    pub settled: usize,
    pub collisions: u64,
    pub matched: u64,
    pub already_settled: u64,
    pub ambiguous: u64,
    pub orphans: u64,
    /// Parts settled by [`Router::settle_by_set`].
    pub settled_by_set: u64,
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sent, no report yet.
    Accepted,
    /// A temporary report came.
    Enroute,
    /// A final report came, or it expired.
    Settled,
    /// Slot on the free list.
    Free,
}

/// One slot: 40 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    suffix: u64,
    part: i64,
    submitted_at: i64,
    /// Pending: when it expires. Settled: dropped `keep_settled` after this.
    deadline: i64,
    /// Next entry under the same key, or the next free slot.
    next: u32,
    modem: u16,
    mr: u8,
    phase: Phase,
}

impl Entry {
    fn key(&self) -> Key {
        Key {
            suffix: self.suffix,
            modem: self.modem,
            mr: self.mr,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    suffix: u64,
    modem: u16,
    mr: u8,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let small = (u64::from(self.modem) << 8) | u64::from(self.mr);
        state.write_u64(self.suffix ^ small.rotate_right(24));
    }
}

/// A fast hasher for [`Key`]: the key is one u64, finished with the
/// MurmurHash3 64-bit mixer so every bit of the key reaches the bucket bits.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// How one candidate's submit time relates to a report's SCTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    Fits,
    Possible,
    Impossible,
}

/// The router: pending and recently settled entries, and each modem's clock.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    entries: Vec<Entry>,
    free: u32,
    heads: HashMap<Key, u32, BuildHasherDefault<KeyHasher>>,
    clocks: Vec<ClockOffset>,
    stats: RouterStats,
}

impl Router {
    /// An empty router; the configuration is validated.
    pub fn new(config: RouterConfig) -> Result<Router, ConfigError> {
        config.validate()?;
        Ok(Router {
            config,
            entries: Vec::new(),
            free: NIL,
            heads: HashMap::default(),
            clocks: Vec::new(),
            stats: RouterStats::default(),
        })
    }

    /// An empty router with room for `n` entries.
    pub fn with_capacity(config: RouterConfig, n: usize) -> Result<Router, ConfigError> {
        let mut r = Router::new(config)?;
        r.entries.reserve_exact(n);
        r.heads.reserve(n);
        Ok(r)
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The key `number` is compared on under this configuration.
    pub fn suffix_key(&self, number: &str) -> SuffixKey {
        SuffixKey::new(number, self.config.suffix_digits)
    }

    pub fn stats(&self) -> RouterStats {
        self.stats
    }

    /// The learned clock offset of `modem` (SCTS minus submit time, seconds).
    pub fn clock_offset(&self, modem: ModemId) -> Option<i64> {
        self.clocks
            .get(usize::from(modem.0))
            .and_then(ClockOffset::estimate)
    }

    /// Teach the clock offset of `modem` one sample (used to restore what was
    /// learned before a restart; [`Router::resolve`] learns by itself).
    pub fn observe_offset(&mut self, modem: ModemId, sample: i64) {
        let i = usize::from(modem.0);
        if self.clocks.len() <= i {
            self.clocks.resize_with(i + 1, ClockOffset::default);
        }
        self.clocks[i].observe(sample);
    }

    /// Record a sent part: `mr` as the modem answered `+CMGS`, `submitted_at`
    /// when it did, `validity` the part's validity period (seconds).
    ///
    /// If pending entries already hold the key, all are kept and the
    /// collision is returned (and counted). Registering a part that is
    /// already known under this key only refreshes its times.
    pub fn register(
        &mut self,
        modem: ModemId,
        recipient: &str,
        mr: u8,
        part: PartId,
        submitted_at: i64,
        validity: i64,
    ) -> Option<Collision> {
        let deadline = self.deadline(submitted_at, validity);
        self.insert(
            modem,
            recipient,
            mr,
            part,
            submitted_at,
            deadline,
            Phase::Accepted,
        )
    }

    /// Record a part that already has its final state (when rebuilding after
    /// a restart), so repeated reports for it are still recognised.
    pub fn register_settled(
        &mut self,
        modem: ModemId,
        recipient: &str,
        mr: u8,
        part: PartId,
        submitted_at: i64,
        validity: i64,
    ) {
        let deadline = self.deadline(submitted_at, validity);
        self.insert(
            modem,
            recipient,
            mr,
            part,
            submitted_at,
            deadline,
            Phase::Settled,
        );
    }

    fn deadline(&self, submitted_at: i64, validity: i64) -> i64 {
        submitted_at
            .saturating_add(validity.max(0))
            .saturating_add(self.config.expiry_grace)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        modem: ModemId,
        recipient: &str,
        mr: u8,
        part: PartId,
        submitted_at: i64,
        deadline: i64,
        phase: Phase,
    ) -> Option<Collision> {
        let key = Key {
            suffix: self.suffix_key(recipient).raw(),
            modem: modem.0,
            mr,
        };
        let head = self.heads.get(&key).copied().unwrap_or(NIL);
        let mut pending = Vec::new();
        let mut i = head;
        while i != NIL {
            let e = &mut self.entries[i as usize];
            if e.part == part.0 {
                e.submitted_at = submitted_at;
                e.deadline = deadline;
                return None;
            }
            if e.phase != Phase::Settled {
                pending.push(PartId(e.part));
            }
            i = e.next;
        }
        let entry = Entry {
            suffix: key.suffix,
            part: part.0,
            submitted_at,
            deadline,
            next: head,
            modem: modem.0,
            mr,
            phase,
        };
        let slot = self.alloc(entry);
        self.heads.insert(key, slot);
        if phase == Phase::Settled {
            self.stats.settled += 1;
            return None;
        }
        self.stats.pending += 1;
        if pending.is_empty() {
            return None;
        }
        self.stats.collisions += 1;
        Some(Collision {
            modem,
            mr,
            new_part: part,
            pending,
        })
    }

    fn alloc(&mut self, entry: Entry) -> u32 {
        if self.free != NIL {
            let slot = self.free;
            self.free = self.entries[slot as usize].next;
            self.entries[slot as usize] = entry;
            slot
        } else {
            self.entries.push(entry);
            u32::try_from(self.entries.len() - 1).unwrap_or_else(|_| {
                // 4 billion entries do not fit in memory anyway.
                panic!("router full")
            })
        }
    }

    fn fit(&self, scts: i64, submitted_at: i64, offset: Option<i64>) -> Fit {
        let d = scts.saturating_sub(submitted_at);
        let (tol, bound) = (self.config.tolerance, self.config.fallback_bound);
        match offset {
            Some(o) => {
                let e = d.saturating_sub(o).saturating_abs();
                if e <= tol {
                    Fit::Fits
                } else if e <= bound {
                    Fit::Possible
                } else {
                    Fit::Impossible
                }
            }
            None => {
                if d.saturating_abs() <= bound {
                    Fit::Fits
                } else if d >= -bound {
                    Fit::Possible
                } else {
                    Fit::Impossible
                }
            }
        }
    }

    /// Find the part `report` belongs to and apply it: a final status settles
    /// the entry, a temporary one marks it ENROUTE. See the module docs for
    /// how candidates are told apart.
    pub fn resolve(&mut self, report: &Report<'_>) -> Resolution {
        let key = Key {
            suffix: self.suffix_key(report.recipient).raw(),
            modem: report.modem.0,
            mr: report.mr,
        };
        let Some(&head) = self.heads.get(&key) else {
            self.stats.orphans += 1;
            return Resolution::Orphan;
        };
        let offset = self.clock_offset(report.modem);
        let (mut fits, mut fit_slot) = (0usize, NIL);
        let (mut possible, mut possible_slot) = (0usize, NIL);
        let mut i = head;
        while i != NIL {
            let e = &self.entries[i as usize];
            match self.fit(report.scts, e.submitted_at, offset) {
                Fit::Fits => {
                    fits += 1;
                    fit_slot = i;
                    possible += 1;
                    possible_slot = i;
                }
                Fit::Possible => {
                    possible += 1;
                    possible_slot = i;
                }
                Fit::Impossible => {}
            }
            i = e.next;
        }
        let (slot, basis) = match (fits, possible) {
            (1, 1) => (fit_slot, Basis::Sole),
            (1, _) => (fit_slot, Basis::Time),
            (0, 1) => (possible_slot, Basis::Sole),
            (0, 0) => {
                self.stats.orphans += 1;
                return Resolution::Orphan;
            }
            (f, _) => {
                let want_fit = f > 0;
                let candidates = self.collect(
                    head,
                    |fit| fit == Fit::Fits || (!want_fit && fit == Fit::Possible),
                    report.scts,
                    offset,
                );
                // Every look-alike already had its final report (or
                // expired): a repeated or late report of one of them, which
                // changes nothing whoever's it is.
                let slots = self.candidate_slots(report);
                if let Some(&first) = slots
                    .iter()
                    .filter(|&&s| self.entries[s as usize].phase == Phase::Settled)
                    .min_by_key(|&&s| self.entries[s as usize].part)
                    .filter(|_| {
                        slots
                            .iter()
                            .all(|&s| self.entries[s as usize].phase == Phase::Settled)
                    })
                {
                    self.stats.already_settled += 1;
                    return Resolution::AlreadySettled {
                        part: PartId(self.entries[first as usize].part),
                    };
                }
                self.stats.ambiguous += 1;
                return Resolution::Ambiguous { candidates };
            }
        };
        let e = self.entries[slot as usize];
        if e.phase == Phase::Settled {
            self.stats.already_settled += 1;
            return Resolution::AlreadySettled {
                part: PartId(e.part),
            };
        }
        if basis == Basis::Sole {
            self.observe_offset(report.modem, report.scts.saturating_sub(e.submitted_at));
        }
        let outcome = outcome(report.status);
        let entry = &mut self.entries[slot as usize];
        if outcome.is_final {
            entry.phase = Phase::Settled;
            self.stats.pending -= 1;
            self.stats.settled += 1;
        } else {
            entry.phase = Phase::Enroute;
        }
        self.stats.matched += 1;
        Resolution::Matched(Matched {
            part: PartId(e.part),
            outcome,
            basis,
        })
    }

    /// Does a report of `modem` stamped `scts` fit a part whose submit,
    /// on our clock, happened at some time in `from..=until` (AT+CMGS
    /// written, then the answer never came)? The same rule as a candidate
    /// of [`Router::resolve`] that fits (not merely possible): the window's
    /// point nearest the SCTS (less the learned offset) is taken as the
    /// submit time. Returns that time when it fits, None otherwise.
    ///
    /// The caller decides whether the part is the only one that fits: this
    /// knows nothing of parts without a TP-MR.
    pub fn window_fit(&self, modem: ModemId, scts: i64, from: i64, until: i64) -> Option<i64> {
        if until < from {
            return None;
        }
        let offset = self.clock_offset(modem);
        let at = scts.saturating_sub(offset.unwrap_or(0)).clamp(from, until);
        (self.fit(scts, at, offset) == Fit::Fits).then_some(at)
    }

    /// How far apart (whole seconds, our clock) two submits under one key
    /// must be for every report to be told apart by its SCTS: a report fits
    /// its own part within `tolerance`, so it is more than `tolerance` from
    /// the other part only when the two are more than twice that apart.
    pub fn reuse_gap(&self) -> i64 {
        self.config.tolerance.saturating_mul(2).saturating_add(1)
    }

    /// Would a part sent at `now` to `recipient` with TP-MR `mr` on `modem`
    /// be told apart from every part still pending under that key? None:
    /// yes (or nothing is pending there). Some(t): not before unix second
    /// `t`, [`Router::reuse_gap`] after the latest pending one was sent.
    ///
    /// This assumes the modem's clock offset is learned by the time the
    /// reports come (any report that matched alone teaches it); until then
    /// candidates within `fallback_bound` of each other wait for it.
    pub fn reuse_wait(&self, modem: ModemId, recipient: &str, mr: u8, now: i64) -> Option<i64> {
        let key = Key {
            suffix: self.suffix_key(recipient).raw(),
            modem: modem.0,
            mr,
        };
        let mut i = self.heads.get(&key).copied().unwrap_or(NIL);
        let mut latest: Option<i64> = None;
        while i != NIL {
            let e = &self.entries[i as usize];
            if matches!(e.phase, Phase::Accepted | Phase::Enroute) {
                latest = Some(latest.map_or(e.submitted_at, |l| l.max(e.submitted_at)));
            }
            i = e.next;
        }
        let clear_from = latest?.saturating_add(self.reuse_gap());
        (now < clear_from).then_some(clear_from)
    }

    /// Settle groups of parts that no time stamp can tell apart, from the
    /// ambiguous reports held for them (the caller keeps those and offers
    /// all of a key's again: after a restart they come from the store).
    ///
    /// The candidates of each final report (temporary ones do not count) are
    /// taken afresh; reports whose candidates overlap form a group with the
    /// union of their candidates. A group is settled when it has exactly as
    /// many reports as parts, every part is still pending and every report
    /// means the same state: then each report belongs to one of the parts and
    /// all parts ended the same way, so each gets that outcome ([`Basis::Set`]).
    /// Reports are paired with parts in SCTS and submit-time order; which
    /// report was whose is not known, only that the outcome is right. A group
    /// with different outcomes, fewer reports (some still to come) or more
    /// (a repeated report among them) stays ambiguous: never a guess.
    ///
    /// A report delivered twice (its acknowledgement lost) before the other
    /// part's own report looks like that report: no field tells them apart.
    pub fn settle_by_set(&mut self, held: &[HeldReport<'_>]) -> Vec<SetMatch> {
        // (candidate slots, indices into `held`), one per group.
        let mut groups: Vec<(Vec<u32>, Vec<usize>)> = Vec::new();
        for (k, h) in held.iter().enumerate() {
            if !outcome(h.report.status).is_final {
                continue;
            }
            let slots = self.candidate_slots(&h.report);
            if slots.len() < 2 {
                continue;
            }
            let mut merged = (slots, vec![k]);
            let mut g = 0;
            while g < groups.len() {
                if groups[g].0.iter().any(|s| merged.0.contains(s)) {
                    let (slots, reports) = groups.swap_remove(g);
                    merged.0.extend(slots);
                    merged.1.extend(reports);
                } else {
                    g += 1;
                }
            }
            merged.0.sort_unstable();
            merged.0.dedup();
            groups.push(merged);
        }
        let mut out = Vec::new();
        for (mut slots, mut reports) in groups {
            if reports.len() != slots.len() {
                continue;
            }
            let all_pending = slots.iter().all(|&s| {
                matches!(
                    self.entries[s as usize].phase,
                    Phase::Accepted | Phase::Enroute
                )
            });
            let state = outcome(held[reports[0]].report.status).state;
            let same = reports
                .iter()
                .all(|&k| outcome(held[k].report.status).state == state);
            if !all_pending || !same {
                continue;
            }
            slots.sort_unstable_by_key(|&s| {
                let e = &self.entries[s as usize];
                (e.submitted_at, e.part)
            });
            reports.sort_unstable_by_key(|&k| (held[k].report.scts, held[k].token));
            let mut candidates: Vec<PartId> = slots
                .iter()
                .map(|&s| PartId(self.entries[s as usize].part))
                .collect();
            candidates.sort_unstable();
            for (&slot, &k) in slots.iter().zip(&reports) {
                let entry = &mut self.entries[slot as usize];
                entry.phase = Phase::Settled;
                self.stats.pending -= 1;
                self.stats.settled += 1;
                self.stats.settled_by_set += 1;
                self.stats.matched += 1;
                out.push(SetMatch {
                    token: held[k].token,
                    matched: Matched {
                        part: PartId(entry.part),
                        outcome: outcome(held[k].report.status),
                        basis: Basis::Set,
                    },
                    candidates: candidates.clone(),
                });
            }
        }
        out
    }

    /// The slots a report could belong to, as [`Router::resolve`] would name
    /// them when ambiguous: those that fit, or if none fits, those possible.
    fn candidate_slots(&self, report: &Report<'_>) -> Vec<u32> {
        let key = Key {
            suffix: self.suffix_key(report.recipient).raw(),
            modem: report.modem.0,
            mr: report.mr,
        };
        let offset = self.clock_offset(report.modem);
        let (mut fits, mut possible) = (Vec::new(), Vec::new());
        let mut i = self.heads.get(&key).copied().unwrap_or(NIL);
        while i != NIL {
            let e = &self.entries[i as usize];
            match self.fit(report.scts, e.submitted_at, offset) {
                Fit::Fits => fits.push(i),
                Fit::Possible => possible.push(i),
                Fit::Impossible => {}
            }
            i = e.next;
        }
        if fits.is_empty() {
            possible
        } else {
            fits
        }
    }

    fn collect(
        &self,
        head: u32,
        keep: impl Fn(Fit) -> bool,
        scts: i64,
        offset: Option<i64>,
    ) -> Vec<PartId> {
        let mut out = Vec::new();
        let mut i = head;
        while i != NIL {
            let e = &self.entries[i as usize];
            if keep(self.fit(scts, e.submitted_at, offset)) {
                out.push(PartId(e.part));
            }
            i = e.next;
        }
        out.sort_unstable();
        out
    }

    /// Settle every pending entry whose validity plus grace ended before
    /// `now` (their parts become UNKNOWN) and drop settled entries kept
    /// longer than `keep_settled`. Returns the parts that expired.
    pub fn expire(&mut self, now: i64) -> Vec<PartId> {
        let mut expired = Vec::new();
        for slot in 0..self.entries.len() {
            let e = self.entries[slot];
            match e.phase {
                Phase::Accepted | Phase::Enroute if e.deadline < now => {
                    self.entries[slot].phase = Phase::Settled;
                    self.stats.pending -= 1;
                    self.stats.settled += 1;
                    expired.push(PartId(e.part));
                }
                Phase::Settled if e.deadline.saturating_add(self.config.keep_settled) < now => {
                    self.unlink(slot as u32);
                    self.stats.settled -= 1;
                }
                _ => {}
            }
        }
        expired
    }

    fn unlink(&mut self, slot: u32) {
        let e = self.entries[slot as usize];
        let key = e.key();
        let mut prev = NIL;
        let mut i = self.heads.get(&key).copied().unwrap_or(NIL);
        while i != NIL && i != slot {
            prev = i;
            i = self.entries[i as usize].next;
        }
        if i == slot {
            if prev != NIL {
                self.entries[prev as usize].next = e.next;
            } else if e.next == NIL {
                self.heads.remove(&key);
            } else {
                self.heads.insert(key, e.next);
            }
        }
        let freed = &mut self.entries[slot as usize];
        freed.phase = Phase::Free;
        freed.next = self.free;
        self.free = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MessageState;

    const M: ModemId = ModemId(0);
    const T0: i64 = 1_760_000_000;
    const DAY: i64 = 86_400;

    fn router() -> Router {
        Router::new(RouterConfig::default()).unwrap()
    }

    fn report(to: &str, mr: u8, scts: i64, st: u8) -> Report<'_> {
        Report {
            modem: M,
            recipient: to,
            mr,
            scts,
            status: TpStatus(st),
        }
    }

    fn matched(r: Resolution) -> Matched {
        match r {
            Resolution::Matched(m) => m,
            other => panic!("expected a match, got {other:?}"),
        }
    }

    #[test]
    fn window_fit_uses_the_tolerance_once_the_offset_is_known() {
        let mut r = router();
        // Before an offset is learned: fallback_bound (300 s) either side.
        assert_eq!(r.window_fit(M, T0 + 50, T0, T0 + 20), Some(T0 + 20));
        assert_eq!(r.window_fit(M, T0 + 320, T0, T0 + 20), Some(T0 + 20));
        assert_eq!(r.window_fit(M, T0 + 321, T0, T0 + 20), None);
        assert_eq!(r.window_fit(M, T0 - 301, T0, T0 + 20), None);
        // SMSC 30 s ahead of us: inside the window, or within 2 s of it.
        r.observe_offset(M, 30);
        assert_eq!(r.window_fit(M, T0 + 40, T0, T0 + 20), Some(T0 + 10));
        assert_eq!(r.window_fit(M, T0 + 52, T0, T0 + 20), Some(T0 + 20));
        assert_eq!(r.window_fit(M, T0 + 53, T0, T0 + 20), None);
        assert_eq!(r.window_fit(M, T0 + 28, T0, T0 + 20), Some(T0));
        assert_eq!(r.window_fit(M, T0 + 27, T0, T0 + 20), None);
        // An empty window fits nothing.
        assert_eq!(r.window_fit(M, T0 + 40, T0 + 20, T0), None);
    }

    #[test]
    fn config_errors_name_the_field() {
        let bad = RouterConfig {
            suffix_digits: 0,
            ..RouterConfig::default()
        };
        assert_eq!(Router::new(bad).unwrap_err(), ConfigError::SuffixDigits(0));
        let bad = RouterConfig {
            expiry_grace: -1,
            ..RouterConfig::default()
        };
        assert!(Router::new(bad)
            .unwrap_err()
            .to_string()
            .contains("expiry_grace"));
    }

    #[test]
    fn sole_candidate_matches_and_teaches_the_offset() {
        let mut r = router();
        assert_eq!(r.register(M, "+393331234567", 7, PartId(1), T0, DAY), None);
        let m = matched(r.resolve(&report("3331234567", 7, T0 + 40, 0)));
        assert_eq!(m.part, PartId(1));
        assert_eq!(m.basis, Basis::Sole);
        assert_eq!(m.outcome.state, MessageState::Delivered);
        assert_eq!(r.clock_offset(M), Some(40));
        assert_eq!(r.stats().pending, 0);
    }

    #[test]
    fn other_modem_or_number_or_mr_is_an_orphan() {
        let mut r = router();
        r.register(M, "+393331234567", 7, PartId(1), T0, DAY);
        let mut rep = report("+393331234567", 7, T0, 0);
        rep.modem = ModemId(1);
        assert_eq!(r.resolve(&rep), Resolution::Orphan);
        assert_eq!(
            r.resolve(&report("+393331234568", 7, T0, 0)),
            Resolution::Orphan
        );
        assert_eq!(
            r.resolve(&report("+393331234567", 8, T0, 0)),
            Resolution::Orphan
        );
        assert_eq!(r.stats().orphans, 3);
        assert_eq!(r.stats().pending, 1);
    }

    #[test]
    fn collision_keeps_both_and_names_them() {
        let mut r = router();
        r.register(M, "+393331234567", 7, PartId(1), T0, DAY);
        let c = r
            .register(M, "00393331234567", 7, PartId(2), T0 + 600, DAY)
            .expect("collision");
        assert_eq!(c.new_part, PartId(2));
        assert_eq!(c.pending, vec![PartId(1)]);
        assert_eq!(r.stats().collisions, 1);
        assert_eq!(r.stats().pending, 2);
        // Both are still there: each report lands on its own part (the
        // newer one was sent after this SCTS, so the older one is the only
        // possible candidate).
        let m = matched(r.resolve(&report("3331234567", 7, T0 + 1, 0)));
        assert_eq!((m.part, m.basis), (PartId(1), Basis::Sole));
        let m = matched(r.resolve(&report("3331234567", 7, T0 + 601, 0)));
        assert_eq!(m.part, PartId(2));
    }

    #[test]
    fn registering_the_same_part_twice_is_not_a_collision() {
        let mut r = router();
        r.register(M, "+393331234567", 7, PartId(1), T0, DAY);
        assert_eq!(r.register(M, "+393331234567", 7, PartId(1), T0, DAY), None);
        assert_eq!(r.stats().pending, 1);
    }

    #[test]
    fn scts_before_submit_rules_a_candidate_out() {
        // No offset known: the newer part was sent 10 minutes after the
        // report's SCTS, so the report can only be the older part's.
        let mut r = router();
        r.register(M, "+393331234567", 7, PartId(1), T0, DAY);
        r.register(M, "+393331234567", 7, PartId(2), T0 + 600, DAY);
        let m = matched(r.resolve(&report("+393331234567", 7, T0 + 3, 0)));
        assert_eq!(m.part, PartId(1));
        // Alone, a part sent after the SCTS is not taken either.
        let mut r = router();
        r.register(M, "+393331234567", 7, PartId(2), T0 + 600, DAY);
        assert_eq!(
            r.resolve(&report("+393331234567", 7, T0 + 3, 0)),
            Resolution::Orphan
        );
    }

    #[test]
    fn candidates_seconds_apart_are_told_apart_once_the_offset_is_known() {
        let mut r = router();
        // Learn the offset (SMSC clock 37 s ahead) from an unrelated report.
        r.register(M, "+4915112345678", 1, PartId(100), T0 - 50, DAY);
        matched(r.resolve(&report("+4915112345678", 1, T0 - 13, 0)));
        assert_eq!(r.clock_offset(M), Some(37));
        // The modem restarted its TP-MR: two parts 6 s apart share MR 0.
        r.register(M, "+393331234567", 0, PartId(1), T0, DAY);
        r.register(M, "+393331234567", 0, PartId(2), T0 + 6, DAY);
        let m = matched(r.resolve(&report("+393331234567", 0, T0 + 6 + 37, 0)));
        assert_eq!((m.part, m.basis), (PartId(2), Basis::Time));
        let m = matched(r.resolve(&report("+393331234567", 0, T0 + 37 + 1, 0)));
        assert_eq!(m.part, PartId(1));
    }

    #[test]
    fn indistinguishable_candidates_are_ambiguous_and_stay_pending() {
        let mut r = router();
        r.observe_offset(M, 5);
        r.register(M, "+393331234567", 9, PartId(1), T0, DAY);
        r.register(M, "+393331234567", 9, PartId(2), T0 + 1, DAY);
        let res = r.resolve(&report("+393331234567", 9, T0 + 6, 0));
        assert_eq!(
            res,
            Resolution::Ambiguous {
                candidates: vec![PartId(1), PartId(2)]
            }
        );
        assert_eq!(r.stats().pending, 2);
        assert_eq!(r.stats().ambiguous, 1);
        // Nothing learned from it.
        assert_eq!(r.clock_offset(M), Some(5));
    }

    #[test]
    fn ambiguous_without_offset_inside_the_fallback_bound() {
        let mut r = router();
        r.register(M, "+393331234567", 9, PartId(1), T0, DAY);
        r.register(M, "+393331234567", 9, PartId(2), T0 + 120, DAY);
        assert!(matches!(
            r.resolve(&report("+393331234567", 9, T0 + 130, 0)),
            Resolution::Ambiguous { .. }
        ));
    }

    #[test]
    fn temporary_then_final() {
        let mut r = router();
        r.register(M, "+393331234567", 3, PartId(1), T0, DAY);
        let m = matched(r.resolve(&report("+393331234567", 3, T0 + 2, 0x21)));
        assert_eq!(m.outcome.state, MessageState::Enroute);
        assert!(!m.outcome.is_final);
        assert_eq!(r.stats().pending, 1);
        let m = matched(r.resolve(&report("+393331234567", 3, T0 + 2, 0x00)));
        assert_eq!(m.part, PartId(1));
        assert!(m.outcome.is_final);
        assert_eq!(r.stats().pending, 0);
    }

    #[test]
    fn a_second_final_report_does_not_land_on_a_newer_part() {
        let mut r = router();
        r.register(M, "+393331234567", 3, PartId(1), T0, DAY);
        matched(r.resolve(&report("+393331234567", 3, T0 + 1, 0)));
        // Same MR reused one minute later, within the fallback bound.
        r.register(M, "+393331234567", 3, PartId(2), T0 + 60, DAY);
        assert_eq!(
            r.resolve(&report("+393331234567", 3, T0 + 1, 0x00)),
            Resolution::AlreadySettled { part: PartId(1) }
        );
        assert_eq!(r.stats().pending, 1);
        let m = matched(r.resolve(&report("+393331234567", 3, T0 + 61, 0x46)));
        assert_eq!(
            (m.part, m.outcome.state),
            (PartId(2), MessageState::Expired)
        );
    }

    #[test]
    fn offset_drift_is_followed() {
        let mut r = router();
        r.register(M, "+393331234567", 1, PartId(1), T0, DAY);
        matched(r.resolve(&report("+393331234567", 1, T0 + 10, 0)));
        // The SMSC clock stepped 40 s: outside the tolerance, inside the bound.
        for k in 0..3 {
            let t = T0 + 1000 * (k + 1);
            let part = PartId(10 + k);
            r.register(M, "+393331234567", 2, part, t, DAY);
            let m = matched(r.resolve(&report("+393331234567", 2, t + 50, 0)));
            assert_eq!((m.part, m.basis), (part, Basis::Sole));
        }
        assert_eq!(r.clock_offset(M), Some(50));
    }

    #[test]
    fn far_from_the_learned_offset_cannot_be_it() {
        let mut r = router();
        r.observe_offset(M, 0);
        r.register(M, "+393331234567", 1, PartId(1), T0, DAY);
        assert_eq!(
            r.resolve(&report("+393331234567", 1, T0 + 3600, 0)),
            Resolution::Orphan
        );
        assert_eq!(r.stats().pending, 1);
    }

    #[test]
    fn expiry_to_unknown_then_settled_entries_are_dropped() {
        let mut r = router();
        r.register(M, "+393331234567", 1, PartId(1), T0, 600);
        r.register(M, "+393331234567", 2, PartId(2), T0, 7 * DAY);
        let grace = r.config().expiry_grace;
        assert!(r.expire(T0 + 600 + grace).is_empty());
        assert_eq!(r.expire(T0 + 601 + grace), vec![PartId(1)]);
        assert_eq!(r.stats().pending, 1);
        // A late report for the expired part is recognised, not re-applied.
        assert_eq!(
            r.resolve(&report("+393331234567", 1, T0 + 1, 0)),
            Resolution::AlreadySettled { part: PartId(1) }
        );
        let keep = r.config().keep_settled;
        r.expire(T0 + 601 + grace + keep);
        assert_eq!(r.stats().settled, 0);
        assert_eq!(
            r.resolve(&report("+393331234567", 1, T0 + 1, 0)),
            Resolution::Orphan
        );
        // The freed slot is reused and the other key is intact.
        r.register(M, "+393331234567", 1, PartId(3), T0 + 200_000, DAY);
        assert_eq!(r.entries.len(), 2);
        let m = matched(r.resolve(&report("+393331234567", 2, T0 + 2, 0)));
        assert_eq!(m.part, PartId(2));
    }

    #[test]
    fn settled_entries_restored_after_restart_catch_repeats() {
        let mut r = router();
        r.register_settled(M, "+393331234567", 4, PartId(1), T0, DAY);
        r.register(M, "+393331234567", 4, PartId(2), T0 + 30, DAY);
        assert_eq!(r.stats().collisions, 0);
        r.observe_offset(M, 0);
        assert_eq!(
            r.resolve(&report("+393331234567", 4, T0, 0)),
            Resolution::AlreadySettled { part: PartId(1) }
        );
    }

    fn held<'a>(token: i64, rep: Report<'a>) -> HeldReport<'a> {
        HeldReport { token, report: rep }
    }

    /// Two parts to one number with one TP-MR, sent in the same second.
    fn twins() -> Router {
        let mut r = router();
        r.observe_offset(M, 0);
        r.register(M, "+393331234567", 9, PartId(1), T0, DAY);
        r.register(M, "+393331234567", 9, PartId(2), T0, DAY);
        r
    }

    #[test]
    fn a_set_of_alike_reports_settles_every_candidate() {
        let mut r = twins();
        let a = report("+393331234567", 9, T0 + 1, 0x00);
        let b = report("3331234567", 9, T0, 0x00);
        assert!(matches!(r.resolve(&a), Resolution::Ambiguous { .. }));
        // One report for two parts: not yet.
        assert!(r.settle_by_set(&[held(10, a)]).is_empty());
        assert!(matches!(r.resolve(&b), Resolution::Ambiguous { .. }));
        let out = r.settle_by_set(&[held(10, a), held(11, b)]);
        assert_eq!(out.len(), 2);
        // Paired in SCTS order with parts in submit order.
        assert_eq!((out[0].token, out[0].matched.part), (11, PartId(1)));
        assert_eq!((out[1].token, out[1].matched.part), (10, PartId(2)));
        for m in &out {
            assert_eq!(m.matched.basis, Basis::Set);
            assert_eq!(m.matched.outcome.state, MessageState::Delivered);
            assert_eq!(m.candidates, vec![PartId(1), PartId(2)]);
        }
        let st = r.stats();
        assert_eq!((st.pending, st.settled, st.settled_by_set), (0, 2, 2));
        // Offered again: nothing more to settle.
        assert!(r.settle_by_set(&[held(10, a), held(11, b)]).is_empty());
    }

    #[test]
    fn a_set_with_different_outcomes_stays_ambiguous() {
        let mut r = twins();
        let a = report("+393331234567", 9, T0, 0x00);
        let b = report("+393331234567", 9, T0, 0x41);
        assert!(r.settle_by_set(&[held(1, a), held(2, b)]).is_empty());
        assert_eq!(r.stats().pending, 2);
        // Expired and delivered are different states too.
        let c = report("+393331234567", 9, T0, 0x46);
        assert!(r.settle_by_set(&[held(1, a), held(3, c)]).is_empty());
    }

    #[test]
    fn temporary_reports_do_not_count_and_extra_reports_block() {
        let mut r = twins();
        let a = report("+393331234567", 9, T0, 0x00);
        let temp = report("+393331234567", 9, T0, 0x21);
        assert!(r.settle_by_set(&[held(1, a), held(2, temp)]).is_empty());
        // Three final reports for two parts: one is a repeat, of whom unknown.
        assert!(r
            .settle_by_set(&[held(1, a), held(2, a), held(3, a)])
            .is_empty());
        assert_eq!(r.stats().pending, 2);
        // Two of them, with the temporary one beside: settled.
        assert_eq!(
            r.settle_by_set(&[held(1, a), held(2, temp), held(3, a)])
                .len(),
            2
        );
    }

    #[test]
    fn a_set_is_only_the_parts_the_reports_could_belong_to() {
        let mut r = twins();
        // A third part under the key, far enough in time to be told apart.
        r.register(M, "+393331234567", 9, PartId(3), T0 + 60, DAY);
        let a = report("+393331234567", 9, T0, 0x00);
        let out = r.settle_by_set(&[held(1, a), held(2, a)]);
        let parts: Vec<_> = out.iter().map(|m| m.matched.part).collect();
        assert_eq!(parts, vec![PartId(1), PartId(2)]);
        assert_eq!(r.stats().pending, 1);
        // Its own report then matches it by time.
        let m = matched(r.resolve(&report("+393331234567", 9, T0 + 60, 0)));
        assert_eq!(m.part, PartId(3));
    }

    #[test]
    fn a_set_with_a_part_already_settled_is_left_alone() {
        let mut r = twins();
        // A third look-alike already had its final report: a report may be
        // a repeat of its, so neither two nor three reports settle the set.
        r.register_settled(M, "+393331234567", 9, PartId(3), T0, DAY);
        let a = report("+393331234567", 9, T0, 0x00);
        assert!(r.settle_by_set(&[held(1, a), held(2, a)]).is_empty());
        assert!(r
            .settle_by_set(&[held(1, a), held(2, a), held(3, a)])
            .is_empty());
        assert_eq!(r.stats().pending, 2);
    }

    #[test]
    fn reuse_waits_until_the_pending_part_is_far_enough_in_time() {
        let mut r = router();
        assert_eq!(r.reuse_gap(), 5);
        assert_eq!(r.reuse_wait(M, "+393331234567", 9, T0), None);
        r.register(M, "+393331234567", 9, PartId(1), T0, DAY);
        assert_eq!(r.reuse_wait(M, "3331234567", 9, T0), Some(T0 + 5));
        assert_eq!(r.reuse_wait(M, "+393331234567", 9, T0 + 4), Some(T0 + 5));
        assert_eq!(r.reuse_wait(M, "+393331234567", 9, T0 + 5), None);
        // Another number, TP-MR or modem is free.
        assert_eq!(r.reuse_wait(M, "+393331234568", 9, T0), None);
        assert_eq!(r.reuse_wait(M, "+393331234567", 10, T0), None);
        assert_eq!(r.reuse_wait(ModemId(1), "+393331234567", 9, T0), None);
        // The latest pending part counts.
        r.register(M, "+393331234567", 9, PartId(2), T0 + 3, DAY);
        assert_eq!(r.reuse_wait(M, "+393331234567", 9, T0 + 5), Some(T0 + 8));
        // Settled parts do not hold the key.
        r.observe_offset(M, 0);
        matched(r.resolve(&report("+393331234567", 9, T0 + 3, 0)));
        assert_eq!(r.reuse_wait(M, "+393331234567", 9, T0 + 5), None);
        // Parts sent that far apart are told apart by their reports.
        let mut r = router();
        r.observe_offset(M, 0);
        r.register(M, "+393331234567", 9, PartId(1), T0, DAY);
        let later = r.reuse_wait(M, "+393331234567", 9, T0).unwrap();
        r.register(M, "+393331234567", 9, PartId(2), later, DAY);
        for (scts, part) in [(T0 - 1, 1), (T0 + 2, 1), (later - 2, 2), (later + 1, 2)] {
            let mut c = Router::new(RouterConfig::default()).unwrap();
            c.observe_offset(M, 0);
            c.register(M, "+393331234567", 9, PartId(1), T0, DAY);
            c.register(M, "+393331234567", 9, PartId(2), later, DAY);
            let m = matched(c.resolve(&report("+393331234567", 9, scts, 0)));
            assert_eq!(m.part, PartId(part), "SCTS {scts}");
        }
    }

    #[test]
    fn a_report_for_look_alikes_all_settled_is_a_repeat() {
        let mut r = twins();
        let a = report("+393331234567", 9, T0, 0x00);
        assert_eq!(r.settle_by_set(&[held(1, a), held(2, a)]).len(), 2);
        // Sent again by the network, or a temporary report held until now.
        assert_eq!(
            r.resolve(&a),
            Resolution::AlreadySettled { part: PartId(1) }
        );
        let temp = report("+393331234567", 9, T0, 0x21);
        assert_eq!(
            r.resolve(&temp),
            Resolution::AlreadySettled { part: PartId(1) }
        );
        assert_eq!(r.stats().pending, 0);
    }
}
