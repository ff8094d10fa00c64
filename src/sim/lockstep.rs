//! The session core ([`SessionCore`]) and the simulated modem ([`SimModem`])
//! in one loop, both sans-IO, in virtual time: no port, no tokio, no sleep.
//! The loop moves bytes both ways, opens and closes the "port" as the core
//! asks and the device allows, and when neither side has anything to do it
//! jumps the clock to the nearer of their deadlines. A run is deterministic:
//! the same configuration and the same calls give the same bytes.
//!
//! Tests of the session, and benchmarks of the core alone, use it; the
//! owner's side is plain method calls ([`Lockstep::submit`],
//! [`Lockstep::handed_on`]) and the session's events are queued for the
//! caller ([`Lockstep::next_event`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::modem::session_core::{Answer, Job, JobId, SessionCore, SessionEvent};
use crate::modem::{ModemError, ModemEvent, ModemInfo, Origin, SessionConfig};

use super::SimModem;

/// Virtual time at the start of a run, in Unix ms (2026-11-22T10:00:00Z):
/// the model stamps its reports with it.
pub const T0_MS: i64 = 1_795_860_000_000;

/// The most virtual time one [`Lockstep::run_until`] waits for by default.
pub const PATIENCE_MS: i64 = 600_000;

/// A session core and a simulated modem, wired together.
pub struct Lockstep {
    pub core: SessionCore,
    pub model: SimModem,
    now_ms: i64,
    base: Instant,
    /// The core has the port open.
    port_open: bool,
    /// The device is away until then (unplugged).
    away_until: Option<i64>,
    events: VecDeque<ModemEvent>,
    outcomes: BTreeMap<JobId, Result<Answer, ModemError>>,
    /// Outcomes that came for a job that already had one (must stay 0).
    pub duplicate_outcomes: u32,
    info: Option<ModemInfo>,
    start_error: Option<ModemError>,
    ended: bool,
    /// Bytes moved host -> modem and modem -> host so far.
    pub bytes_to_modem: u64,
    pub bytes_to_host: u64,
}

impl Lockstep {
    /// Connect a session with `cfg` to `model` and run its start-up sequence
    /// (listing of stored messages included). The start-up's error, if any.
    pub fn start(cfg: SessionConfig, model: SimModem) -> Result<Lockstep, ModemError> {
        Lockstep::start_keeping(cfg, model).map_err(|failed| failed.0)
    }

    /// [`Lockstep::start`], giving the model back with a start-up error, so
    /// a test can see what the modem was sent.
    pub fn start_keeping(
        cfg: SessionConfig,
        model: SimModem,
    ) -> Result<Lockstep, Box<(ModemError, SimModem)>> {
        let mut ls = Lockstep {
            core: SessionCore::new(cfg),
            model,
            now_ms: T0_MS,
            // Only an anchor: every time the core sees is base + virtual ms.
            base: Instant::now(),
            port_open: true,
            away_until: None,
            events: VecDeque::new(),
            outcomes: BTreeMap::new(),
            duplicate_outcomes: 0,
            info: None,
            start_error: None,
            ended: false,
            bytes_to_modem: 0,
            bytes_to_host: 0,
        };
        let now = ls.instant();
        ls.core.connected(now);
        ls.run_until(PATIENCE_MS, |ls| {
            !ls.core.is_starting() || ls.start_error.is_some()
        });
        if let Some(e) = ls.start_error.take() {
            return Err(Box::new((e, ls.model)));
        }
        if ls.core.is_starting() {
            let e = ModemError::Protocol("start-up did not finish in virtual time".into());
            return Err(Box::new((e, ls.model)));
        }
        Ok(ls)
    }

    /// Virtual time, Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The core's view of the virtual time.
    pub fn instant(&self) -> Instant {
        self.base + Duration::from_millis((self.now_ms - T0_MS).max(0) as u64)
    }

    fn to_ms(&self, t: Instant) -> i64 {
        let d = t.saturating_duration_since(self.base);
        let ms = d.as_nanos().div_ceil(1_000_000);
        T0_MS.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX / 2))
    }

    /// What the modem said about itself at the last start-up.
    pub fn info(&self) -> Option<&ModemInfo> {
        self.info.as_ref()
    }

    /// True once the session ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// True while the core has the port open.
    pub fn port_open(&self) -> bool {
        self.port_open
    }

    /// Queue a job (its outcome: [`Lockstep::outcome`]).
    pub fn submit(&mut self, job: Job) -> JobId {
        let now = self.instant();
        let id = self.core.submit(job, now);
        self.pump();
        id
    }

    /// Queue a part for AT+CMGS.
    pub fn send(&mut self, tpdu_len: usize, hex: &str) -> JobId {
        self.submit(Job::Send {
            tpdu_len,
            hex: hex.to_string(),
        })
    }

    /// Queue an AT command.
    pub fn command(&mut self, cmd: &str, timeout: Duration) -> JobId {
        self.submit(Job::Command {
            cmd: cmd.to_string(),
            timeout,
        })
    }

    /// Say an inbound PDU is stored.
    pub fn handed_on(&mut self, origin: &Origin) {
        let now = self.instant();
        self.core.handed_on(origin, now);
        self.pump();
    }

    /// The outcome of a job, once it came.
    pub fn outcome(&self, job: JobId) -> Option<&Result<Answer, ModemError>> {
        self.outcomes.get(&job)
    }

    /// Remove and return a job's outcome, once it came (long runs use it
    /// to keep the record small).
    pub fn take_outcome(&mut self, job: JobId) -> Option<Result<Answer, ModemError>> {
        self.outcomes.remove(&job)
    }

    /// Every outcome so far.
    pub fn outcomes(&self) -> &BTreeMap<JobId, Result<Answer, ModemError>> {
        &self.outcomes
    }

    /// Run until the job has its outcome (or `PATIENCE_MS` of virtual time
    /// pass, or nothing can happen any more).
    pub fn wait_outcome(&mut self, job: JobId) -> Option<Result<Answer, ModemError>> {
        self.run_until(PATIENCE_MS, |ls| ls.outcomes.contains_key(&job));
        self.outcomes.get(&job).cloned()
    }

    /// Run until the session has an event for the owner and return it.
    pub fn next_event(&mut self) -> Option<ModemEvent> {
        self.run_until(PATIENCE_MS, |ls| !ls.events.is_empty());
        self.events.pop_front()
    }

    /// Events already there, without running.
    pub fn take_events(&mut self) -> Vec<ModemEvent> {
        self.events.drain(..).collect()
    }

    /// Remove the device for `down_ms` (the port fails at once), then bring
    /// it back (power-cycled) at the same place.
    pub fn unplug(&mut self, down_ms: i64) {
        self.away_until = Some(self.now_ms + down_ms.max(0));
        self.port_lost("device unplugged (simulated)");
        self.pump();
    }

    /// Let `ms` of virtual time pass, running everything due meanwhile.
    pub fn advance(&mut self, ms: i64) {
        let until = self.now_ms + ms;
        self.run_until(ms, |ls| ls.now_ms >= until);
    }

    /// Run until `done` holds; false when `limit_ms` of virtual time passed
    /// first, or nothing is left to happen (no deadline on either side).
    pub fn run_until(&mut self, limit_ms: i64, mut done: impl FnMut(&Lockstep) -> bool) -> bool {
        let limit = self.now_ms.saturating_add(limit_ms);
        loop {
            self.pump();
            if done(self) {
                return true;
            }
            let Some(next) = self.next_deadline() else {
                return false;
            };
            if next > limit {
                self.now_ms = self.now_ms.max(limit);
                self.pump();
                return done(self);
            }
            self.now_ms = next;
        }
    }

    /// The nearest future moment something is due on either side.
    fn next_deadline(&self) -> Option<i64> {
        let core = self.core.poll_timeout().map(|t| self.to_ms(t));
        let model = if self.away_until.is_none() {
            self.model.next_deadline()
        } else {
            None
        };
        [core, model, self.away_until]
            .into_iter()
            .flatten()
            .filter(|&t| t > self.now_ms)
            .min()
    }

    /// Move everything that can move at the current time, until nothing
    /// does.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            let now = self.instant();
            if let Some(at) = self.away_until {
                if at <= self.now_ms {
                    self.away_until = None;
                    self.model.replug();
                    moved = true;
                }
            }
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
                moved = true;
            }
            while let Some(bytes) = self.core.poll_transmit() {
                if self.port_open && self.away_until.is_none() {
                    self.bytes_to_modem += bytes.len() as u64;
                    self.model.handle_input(&bytes, self.now_ms);
                }
                moved = true;
            }
            while let Some(ev) = self.core.poll_event() {
                moved = true;
                self.dispatch(ev);
            }
            if self.away_until.is_none() {
                if self.model.unplugged() {
                    let down = self.model.config().replug_after_ms as i64;
                    self.away_until = Some(self.now_ms + down);
                    self.port_lost("device unplugged (simulated)");
                    continue;
                }
                let out = self.model.poll_output(self.now_ms);
                if !out.is_empty() && self.port_open {
                    self.bytes_to_host += out.len() as u64;
                    self.core.handle_input(&out, now);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn port_lost(&mut self, reason: &str) {
        if self.port_open {
            self.port_open = false;
            let now = self.instant();
            self.core.connection_lost(reason, now);
        }
    }

    fn dispatch(&mut self, ev: SessionEvent) {
        match ev {
            SessionEvent::OpenPort => {
                let now = self.instant();
                if self.away_until.is_none() {
                    self.port_open = true;
                    self.core.connected(now);
                } else {
                    self.core.open_failed(now);
                }
            }
            SessionEvent::ClosePort => self.port_open = false,
            SessionEvent::Ready(info) => self.info = Some(info),
            SessionEvent::StartFailed(e) => self.start_error = Some(e),
            SessionEvent::Done { job, result } => {
                if self.outcomes.insert(job, result).is_some() {
                    self.duplicate_outcomes += 1;
                }
            }
            SessionEvent::Modem(ev) => self.events.push_back(ev),
            SessionEvent::Ended => self.ended = true,
        }
    }
}
