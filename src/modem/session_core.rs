//! The modem session's protocol logic, sans-IO: no tokio, no clock, no port.
//!
//! [`SessionCore`] is fed the bytes the modem sent ([`SessionCore::handle_input`]),
//! the owner's jobs ([`SessionCore::submit`], [`SessionCore::handed_on`]), the
//! passing of time ([`SessionCore::handle_timeout`]) and the fate of the port
//! ([`SessionCore::connected`], [`SessionCore::connection_lost`],
//! [`SessionCore::open_failed`]); it is polled for the bytes to write
//! ([`SessionCore::poll_transmit`]), what happened
//! ([`SessionCore::poll_event`]) and when it next needs the time
//! ([`SessionCore::poll_timeout`]). Time is a [`std::time::Instant`] given by
//! the caller: the tokio driver (`session.rs`) passes the wall clock, tests
//! pass a virtual one (`sim::lockstep`).
//!
//! What it does, in the order a modem sees it:
//! - the start-up sequence of the hardware profile (`Step`): wake with ESC
//!   CR, `AT` up to three times, echo off, numeric errors, the SIM PIN (never
//!   logged), the profile's init commands, registration polling, PDU mode,
//!   AT+CSMS / AT+CPMS / AT+CNMI, identity, then the full listing (AT+CMGL=4)
//!   of what the modem stored while nobody listened;
//! - the owner's jobs one at a time: AT commands, and parts through AT+CMGS
//!   (prompt, PDU, Ctrl-Z; ESC when the prompt does not come);
//! - unsolicited codes whenever they come, inside another command's response
//!   included: +CDS / +CMT handed on as pushed, +CDSI / +CMTI read back with
//!   AT+CMGR (retried with a growing delay when the read fails, then left for
//!   the next listing), AT+CNMA or AT+CMGD once the owner has stored them;
//! - after a command it gave up on, a resync before the next one
//!   (`Op::Probe`, `Op::Quiet`), so that a late answer is never taken for
//!   another command's;
//! - when the port goes away: the job in flight fails saying whether the PDU
//!   may have been sent, jobs are refused at once as not sent while the modem
//!   is away, deletions wait for the reconnect, and the core asks for the port
//!   to be reopened with a growing delay.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::at::answers::PinState;
use crate::at::{self, DigestError, Digester, Event, RegDomain, Response, Urc};
use crate::backoff::Backoff;
use crate::profile::{Profile, ReportMode};

use super::transport::{Endpoint, SerialSettings};
use super::ussd::{self, UssdAnswer};
use super::{Inbound, InboundKind, ModemError, ModemEvent, ModemInfo, Origin};

/// What a session needs to know, usually taken from a hardware profile.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The name used in logs, events and the store (`modem0`, `huawei-1`).
    pub name: String,
    pub endpoint: Endpoint,
    pub serial: SerialSettings,
    /// SIM PIN, entered only when the SIM asks; never logged.
    pub pin: Option<String>,
    /// Vendor commands sent after the common reset / echo off / CMEE.
    pub init: Vec<String>,
    pub csms: u8,
    /// Full AT+CNMI command.
    pub cnmi: String,
    /// Full AT+CPMS command, when the profile names storages.
    pub cpms: Option<String>,
    pub report_mode: ReportMode,
    /// +CDS / +CMT must be acknowledged with AT+CNMA (phase 2+, AT+CSMS=1).
    pub cnma_required: bool,
    pub command_timeout: Duration,
    pub prompt_timeout: Duration,
    pub send_timeout: Duration,
    pub registration_timeout: Duration,
    /// Reopen the port after it vanished.
    pub reconnect: bool,
    /// After a command the session gave up on, how long the resync waits
    /// past the probe's OK for a late answer that has not come yet (see
    /// `Op::Quiet`).
    pub resync_quiet: Duration,
    /// A stored report or SMS (+CDSI / +CMTI) whose AT+CMGR failed is read
    /// again up to this many times, after `read_retry_delay`, then twice
    /// that, and so on; if every attempt fails it stays in the modem for the
    /// next full listing (AT+CMGL=4 at start and after a reconnect).
    pub read_retries: u32,
    pub read_retry_delay: Duration,
    /// USSD strings go both ways as GSM 7-bit packed octets in hex (some
    /// Huawei and ZTE firmwares), not as text ([`super::ussd`]).
    pub ussd_packed: bool,
}

impl SessionConfig {
    /// A configuration from a hardware profile.
    pub fn from_profile(name: &str, endpoint: Endpoint, profile: &Profile) -> SessionConfig {
        let t = &profile.timeouts;
        SessionConfig {
            name: name.to_string(),
            endpoint,
            serial: SerialSettings {
                baud: profile.serial.baud,
                hardware_flow_control: matches!(
                    profile.serial.flow_control,
                    crate::profile::FlowControl::Hardware
                ),
            },
            pin: None,
            init: profile.init.clone(),
            csms: profile.sms.csms,
            cnmi: profile.sms.cnmi_command(),
            cpms: (!profile.sms.cpms.is_empty()).then(|| profile.sms.cpms_command()),
            report_mode: profile.sms.report_mode,
            cnma_required: profile.sms.cnma_required,
            command_timeout: t.command(),
            prompt_timeout: t.prompt(),
            send_timeout: t.send(),
            registration_timeout: t.registration(),
            reconnect: true,
            resync_quiet: Duration::from_secs(1),
            read_retries: 3,
            read_retry_delay: Duration::from_secs(1),
            ussd_packed: profile.sms.ussd_encoding == crate::profile::UssdEncoding::Packed,
        }
    }
}

/// Names one job given to [`SessionCore::submit`]; its outcome carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// Work the owner asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// One part through AT+CMGS: the TPDU length and the PDU (SMSC prefix
    /// included) in hex. Answered with [`Answer::Mr`].
    Send { tpdu_len: usize, hex: String },
    /// Any AT command, answered with [`Answer::Response`] when it ends OK.
    Command { cmd: String, timeout: Duration },
    /// A USSD request (a code such as `*100#`, or the answer to an open
    /// menu) through AT+CUSD, answered with [`Answer::Ussd`] once the
    /// network's `+CUSD:` comes, or a timeout after `timeout`. The port is
    /// free for other work meanwhile.
    Ussd { request: String, timeout: Duration },
}

/// The successful outcome of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The TP-MR the modem gave the part.
    Mr(u8),
    Response(Response),
    Ussd(UssdAnswer),
}

/// What the core tells its driver.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Open the port, then call [`SessionCore::connected`] or
    /// [`SessionCore::open_failed`].
    OpenPort,
    /// Close the port (the modem came back but did not start up); the core
    /// asks for it again later.
    ClosePort,
    /// The start-up sequence reached the modem's identity (first start or
    /// reconnect); the listing of stored messages follows.
    Ready(ModemInfo),
    /// The first start-up failed: the session cannot start.
    StartFailed(ModemError),
    /// A job's outcome: exactly one per [`SessionCore::submit`].
    Done {
        job: JobId,
        result: Result<Answer, ModemError>,
    },
    /// For the owner: inbound PDUs, disconnects, reconnects, other URCs.
    Modem(ModemEvent),
    /// The session is over (the port went away and reconnecting is off).
    Ended,
}

/// Internal follow-up work that goes before the owner's jobs.
#[derive(Debug, Clone)]
enum Internal {
    Read {
        mem: String,
        index: u32,
        kind: InboundKind,
        /// Earlier attempts that failed.
        failed: u32,
    },
    Ack,
    Delete {
        mem: String,
        index: u32,
    },
    /// AT+CUSD=2 after a USSD answer never came: the network's side of the
    /// dialogue is closed, so that a late answer does not open a menu.
    UssdCancel,
}

/// What a command's result is for.
#[derive(Debug)]
enum Purpose {
    Startup,
    Job(JobId),
    /// AT+CUSD of a USSD job: its OK starts the wait for `+CUSD:`.
    Ussd(JobId),
    UssdCancel,
    Ack,
    Delete {
        mem: String,
        index: u32,
    },
    Read {
        mem: String,
        index: u32,
        kind: InboundKind,
        failed: u32,
    },
    /// AT+CPMS selecting the storage of the follow-up that comes next.
    Select {
        mem: String,
        then: Internal,
    },
}

/// One unit of work on the port.
#[derive(Debug)]
enum Action {
    Command {
        cmd: String,
        /// What logs and errors call it (the PIN is masked).
        shown: String,
        timeout: Duration,
        purpose: Purpose,
    },
    Send {
        job: JobId,
        tpdu_len: usize,
        hex: String,
    },
}

/// What the port is doing right now.
#[derive(Debug)]
enum Op {
    Idle,
    /// Between registration polls: nothing pending, URCs handled.
    Pause {
        until: Instant,
    },
    /// Resync, first layer: the bare `AT` probe is written; every final
    /// result before its bare `OK` is a stale answer (the probe is re-armed
    /// after each, so each comes with its own lines). `action` is written
    /// once the resync is over.
    Probe {
        action: Action,
        deadline: Instant,
    },
    /// Resync, second layer: the probe was answered but answers given up on
    /// are still owed; stray final results and `+CMGS:` lines are dropped
    /// until none is owed or `deadline` passes.
    Quiet {
        action: Action,
        deadline: Instant,
    },
    /// A command is written and awaits its final result.
    Command {
        shown: String,
        purpose: Purpose,
        deadline: Instant,
    },
    /// AT+CMGS is written and awaits the `> ` prompt.
    Prompt {
        job: JobId,
        cmd: String,
        hex: String,
        deadline: Instant,
    },
    /// The PDU is written: from here on the part may be in the network.
    Body {
        job: JobId,
        cmd: String,
        deadline: Instant,
    },
}

/// The port as the core sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    /// Open and usable.
    Open,
    /// Asked to be opened; waiting for the driver.
    Opening,
    /// Gone; it is asked for again at `retry_at`.
    Away {
        retry_at: Instant,
    },
    Ended,
}

/// The steps of the start-up sequence, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// ESC (aborts a pending AT+CMGS body) and CR (ends a stray line).
    Wake,
    /// `AT`, up to three times (autobaud, a stale state may eat the first).
    Alive,
    EchoOff,
    NumericErrors,
    PinQuery,
    /// The PIN attempts left, asked the three ways modems know (index into
    /// [`PIN_ATTEMPT_QUERIES`]); the first answer that says it counts.
    PinAttempts(usize),
    PinEntry,
    /// The profile's vendor commands; a failure is only logged.
    Init(usize),
    Register,
    PduMode,
    Csms,
    Cpms,
    Cnmi,
    Smsc,
    Manufacturer,
    Model,
    Revision,
    Imei,
    Imsi,
    Operator,
    Signal,
    /// AT+CMGL=4: everything stored while nobody listened.
    List,
}

/// Ways to ask how many PIN attempts are left: 27.007, Huawei, Quectel. A
/// modem answers ERROR to the ones it does not know.
const PIN_ATTEMPT_QUERIES: [&str; 3] = ["AT+CPINR=\"SIM PIN\"", "AT^CPIN?", "AT+QPINC=\"SC\""];

/// The start-up sequence in progress.
#[derive(Debug)]
struct Startup {
    step: Step,
    alive_tries: u32,
    pin_queries: u32,
    registration_deadline: Option<Instant>,
    last_stat: Option<u8>,
    info: ModemInfo,
}

/// Final results owed by commands the session gave up on (timeouts, an
/// aborted prompt, an unknown outcome). The one rule: giving up on a command
/// owes one answer; every final result that is not the pending command's
/// pays one back; a finished resync clears the debt (what comes later still
/// is dropped as stray anyway).
#[derive(Debug, Default, Clone, Copy)]
struct Owed(u32);

impl Owed {
    fn gave_up(&mut self) {
        self.0 = self.0.saturating_add(1);
    }
    fn stray_result(&mut self) {
        self.0 = self.0.saturating_sub(1);
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
    fn any(self) -> bool {
        self.0 > 0
    }
}

/// The resync probe: answered by a bare OK only.
const PROBE: &str = "AT";
const PROBE_SHOWN: &str = "AT (resync)";
/// Pause between registration polls.
const REGISTRATION_POLL: Duration = Duration::from_millis(1000);
/// First delay before reopening a port that went away; it doubles per
/// attempt up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// The modem session's state machine. See the module documentation.
pub struct SessionCore {
    cfg: SessionConfig,
    digester: Digester,
    /// Reused output buffer of the digester.
    fed: Vec<Event>,
    port: Port,
    /// Reopen attempts since the port went away.
    attempts: u32,
    /// The start-up sequence has reached `Ready` once.
    ever_ready: bool,
    /// The start-up sequence in progress is a reconnect.
    reconnecting: bool,
    startup: Option<Startup>,
    op: Op,
    /// An action whose resync just finished, written by the next `advance`.
    resumed: Option<Action>,
    jobs: VecDeque<(JobId, Job)>,
    next_job: u64,
    internal: VecDeque<Internal>,
    /// Reads (AT+CMGR) that failed, with the time their retry is due; moved
    /// to `internal` when due, so a retry waits without holding up jobs.
    retries: Vec<(Instant, Internal)>,
    /// The storage AT+CMGR / AT+CMGD currently address (AT+CPMS mem1).
    read_mem: Option<String>,
    /// Connections to the port so far (see [`Origin::Direct`]).
    link: u32,
    owed: Owed,
    /// Stored PDUs handed to the owner whose AT+CMGD has not run yet, by
    /// (storage, index), and whether it is queued. While a slot is here it
    /// still holds that PDU: reading it again (a +CDSI and the listing can
    /// both name it) is not handed on twice, and a second hand-on deletes
    /// nothing. Once deleted, the modem may reuse the index for a new PDU,
    /// which a second AT+CMGD would destroy unread.
    handed: BTreeMap<(String, u32), (u64, Deletion)>,
    /// The SIM refused the configured PIN: it is never sent again by this
    /// session (a SIM locks after 3 wrong PINs).
    pin_refused: bool,
    /// The last `reading` serial given to a stored PDU handed on.
    readings: u64,
    /// The USSD job awaiting the network's answer.
    ussd: Option<UssdWait>,
    transmit: Vec<u8>,
    events: VecDeque<SessionEvent>,
}

/// A USSD request on its way: AT+CUSD written (or answered), the network's
/// `+CUSD:` awaited until `deadline`.
#[derive(Debug)]
struct UssdWait {
    job: JobId,
    deadline: Instant,
    /// AT+CUSD ended OK.
    accepted: bool,
    /// The answer, when it came before AT+CUSD's own OK.
    early: Option<UssdAnswer>,
}

/// Where the deletion of a stored PDU handed to the owner stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deletion {
    /// Handed on; the owner has not said it is stored yet.
    Awaited,
    /// AT+CMGD is queued (or running).
    Queued,
}

impl SessionCore {
    /// A session whose port is being opened by the driver: call
    /// [`SessionCore::connected`] once it is.
    pub fn new(cfg: SessionConfig) -> SessionCore {
        SessionCore {
            cfg,
            digester: Digester::new(),
            fed: Vec::new(),
            port: Port::Opening,
            attempts: 0,
            ever_ready: false,
            reconnecting: false,
            startup: None,
            op: Op::Idle,
            resumed: None,
            jobs: VecDeque::new(),
            next_job: 0,
            internal: VecDeque::new(),
            handed: BTreeMap::new(),
            pin_refused: false,
            readings: 0,
            ussd: None,
            retries: Vec::new(),
            read_mem: None,
            link: 0,
            owed: Owed::default(),
            transmit: Vec::new(),
            events: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// True while the start-up sequence (listing included) runs.
    pub fn is_starting(&self) -> bool {
        self.startup.is_some()
    }

    /// True once the session is over.
    pub fn is_ended(&self) -> bool {
        self.port == Port::Ended
    }

    /// True when nothing is in flight or waiting: no command pending, no job
    /// queued, no follow-up or read retry left.
    pub fn is_idle(&self) -> bool {
        matches!(self.op, Op::Idle)
            && self.startup.is_none()
            && self.jobs.is_empty()
            && self.internal.is_empty()
            && self.retries.is_empty()
    }

    /// The port was opened: the start-up sequence begins.
    pub fn connected(&mut self, now: Instant) {
        if self.port == Port::Ended {
            return;
        }
        self.port = Port::Open;
        self.link = self.link.wrapping_add(1);
        self.digester = Digester::new();
        self.read_mem = None;
        self.transmit.clear();
        self.op = Op::Idle;
        self.reconnecting = self.ever_ready;
        self.startup = Some(Startup {
            step: Step::Wake,
            alive_tries: 0,
            pin_queries: 0,
            registration_deadline: None,
            last_stat: None,
            info: ModemInfo {
                name: self.cfg.name.clone(),
                device: self.cfg.endpoint.to_string(),
                manufacturer: None,
                model: None,
                revision: None,
                imei: None,
                imsi: None,
                operator: None,
                signal_rssi: None,
                registration: None,
                smsc: None,
            },
        });
        self.advance(now);
    }

    /// Opening the port (asked by [`SessionEvent::OpenPort`]) failed.
    pub fn open_failed(&mut self, now: Instant) {
        if self.port == Port::Opening {
            self.schedule_reopen(now);
        }
    }

    /// The port went away (end of stream, read or write error).
    pub fn connection_lost(&mut self, reason: &str, now: Instant) {
        if self.port != Port::Open {
            return;
        }
        self.transmit.clear();
        let starting = self.startup.take().is_some();
        let op = std::mem::replace(&mut self.op, Op::Idle);
        self.fail_op(op, reason, now);
        if let Some(action) = self.resumed.take() {
            self.fail_action(action, lost(false, reason), now);
        }
        // Reads and acknowledgements are void on a power-cycled modem (what
        // is stored is listed again after the reconnect, and an AT+CNMA now
        // would acknowledge another push), but deleting what the owner
        // already has must still happen, or it comes back twice.
        self.internal
            .retain(|job| matches!(job, Internal::Delete { .. }));
        self.retries.clear();
        // Queued jobs were not started: not sent.
        for (job, _) in std::mem::take(&mut self.jobs) {
            self.done(job, Err(away()));
        }
        // A USSD dialogue does not survive the modem's restart.
        if let Some(w) = self.ussd.take() {
            self.done(w.job, Err(lost(false, reason)));
        }
        if starting && !self.ever_ready {
            self.fail_start(lost(false, reason));
            return;
        }
        if starting && self.reconnecting {
            tracing::info!("modem back but lost again during start-up: {reason}");
        } else {
            let err = lost(false, reason);
            tracing::warn!("modem lost: {err}");
            self.emit(ModemEvent::Disconnected {
                modem: self.cfg.name.clone(),
                reason: err.to_string(),
            });
            self.attempts = 0;
        }
        if !self.cfg.reconnect {
            self.end();
            return;
        }
        self.schedule_reopen(now);
    }

    /// Queue a job; its outcome comes as [`SessionEvent::Done`]. While the
    /// modem is away the job is refused at once as not sent.
    pub fn submit(&mut self, job: Job, now: Instant) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        match self.port {
            Port::Open => {
                self.jobs.push_back((id, job));
                self.advance(now);
            }
            Port::Ended => self.done(id, Err(ModemError::Closed)),
            Port::Opening | Port::Away { .. } if !self.ever_ready => {
                // Before the first start: wait for it.
                self.jobs.push_back((id, job));
            }
            Port::Opening | Port::Away { .. } => self.done(id, Err(away())),
        }
        id
    }

    /// The owner stored an inbound PDU: acknowledge it (AT+CNMA) or delete
    /// it from the modem's storage (AT+CMGD).
    pub fn handed_on(&mut self, origin: &Origin, now: Instant) {
        match origin {
            Origin::Direct {
                needs_ack: true,
                link,
            } if *link == self.link && self.port == Port::Open => {
                self.internal.push_back(Internal::Ack)
            }
            // Pushed on an earlier connection (or the modem is away):
            // acknowledging now would acknowledge another push (the network
            // sends an unacknowledged one again).
            Origin::Direct {
                needs_ack: true, ..
            } => tracing::debug!("acknowledgement of a push from before a reconnect dropped"),
            Origin::Direct {
                needs_ack: false, ..
            } => {}
            Origin::Stored {
                mem,
                index,
                reading,
            } => {
                let key = (mem.clone(), *index);
                match self.handed.get_mut(&key) {
                    Some((r, d @ Deletion::Awaited)) if r == reading => {
                        *d = Deletion::Queued;
                        self.internal.push_back(Internal::Delete {
                            mem: mem.clone(),
                            index: *index,
                        });
                    }
                    // Already queued, or already deleted (the index may now
                    // hold a new PDU, another reading): deleting again would
                    // lose that one.
                    _ => tracing::debug!("{mem}/{index} handed on again: not deleted twice"),
                }
            }
        }
        self.advance(now);
    }

    /// Bytes from the port, in any chunking.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.port != Port::Open {
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            // While a pending command may be re-armed (the resync probe, the
            // prompt of AT+CMGS), bytes go in line by line, so that each
            // final result is taken with its own lines and the re-armed
            // command sees what follows.
            let n = if matches!(self.op, Op::Probe { .. } | Op::Prompt { .. }) {
                rest.iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .map_or(rest.len(), |i| i + 1)
            } else {
                rest.len()
            };
            let mut fed = std::mem::take(&mut self.fed);
            self.digester.feed(&rest[..n], &mut fed);
            rest = &rest[n..];
            for ev in fed.drain(..) {
                self.on_event(ev, now);
            }
            self.fed = fed;
        }
        // The next command goes out only once the whole chunk is digested:
        // those bytes were sent before the modem could see it.
        self.advance(now);
    }

    /// Time passed: run what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Instant| t <= now;
        match std::mem::replace(&mut self.op, Op::Idle) {
            Op::Pause { until } if due(until) => {}
            Op::Probe { action, deadline } if due(deadline) => {
                // No bare OK in time: the command that was to follow fails
                // (nothing was written for it); the next one probes again.
                self.digester.cancel();
                self.owed.gave_up();
                self.fail_action(
                    action,
                    ModemError::Timeout {
                        command: PROBE_SHOWN.into(),
                        phase: "response",
                    },
                    now,
                );
            }
            Op::Quiet { action, deadline } if due(deadline) => {
                tracing::debug!(
                    "resync: {} late answer(s) never came; going on",
                    self.owed.0
                );
                self.owed.clear();
                self.resumed = Some(action);
            }
            Op::Command {
                shown,
                purpose,
                deadline,
            } if due(deadline) => {
                self.digester.cancel();
                self.owed.gave_up();
                self.finish(
                    purpose,
                    Err(ModemError::Timeout {
                        command: shown,
                        phase: "response",
                    }),
                    now,
                );
            }
            Op::Prompt {
                job, cmd, deadline, ..
            } if due(deadline) => {
                // No prompt: abort with ESC so the modem does not take the
                // next command for PDU text. Nothing reached the network.
                // The prompt, or the answer to the ESC, may still come.
                self.transmit.push(0x1B);
                self.digester.cancel();
                self.owed.gave_up();
                self.done(
                    job,
                    Err(ModemError::Timeout {
                        command: cmd,
                        phase: "prompt",
                    }),
                );
            }
            Op::Body { job, cmd, deadline } if due(deadline) => {
                // The answer may still come: owed, so the next command
                // resynchronises first.
                self.digester.cancel();
                self.owed.gave_up();
                self.done(
                    job,
                    Err(ModemError::OutcomeUnknown {
                        command: cmd,
                        reason: "no answer after the PDU was sent".into(),
                    }),
                );
            }
            op => self.op = op,
        }
        if self.retries.iter().any(|(t, _)| due(*t)) {
            let (ready, later) = std::mem::take(&mut self.retries)
                .into_iter()
                .partition::<Vec<_>, _>(|(t, _)| due(*t));
            self.retries = later;
            self.internal.extend(ready.into_iter().map(|(_, job)| job));
        }
        if let Some(w) = self.ussd.take_if(|w| due(w.deadline)) {
            self.internal.push_back(Internal::UssdCancel);
            self.done(
                w.job,
                Err(ModemError::Timeout {
                    command: "AT+CUSD".into(),
                    phase: "network answer",
                }),
            );
        }
        if let Port::Away { retry_at } = self.port {
            if due(retry_at) {
                self.port = Port::Opening;
                self.events.push_back(SessionEvent::OpenPort);
            }
        }
        self.advance(now);
    }

    /// When [`SessionCore::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let op = match &self.op {
            Op::Idle => None,
            Op::Pause { until } => Some(*until),
            Op::Probe { deadline, .. }
            | Op::Quiet { deadline, .. }
            | Op::Command { deadline, .. }
            | Op::Prompt { deadline, .. }
            | Op::Body { deadline, .. } => Some(*deadline),
        };
        let retry = self.retries.iter().map(|(t, _)| *t).min();
        let port = match self.port {
            Port::Away { retry_at } => Some(retry_at),
            _ => None,
        };
        let ussd = self.ussd.as_ref().map(|w| w.deadline);
        [op, retry, port, ussd].into_iter().flatten().min()
    }

    /// Bytes to write to the port, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.transmit.is_empty()).then(|| std::mem::take(&mut self.transmit))
    }

    /// The next event for the driver, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    // ---- the port's work, one action at a time ----

    /// Start the next action while the port is free.
    fn advance(&mut self, now: Instant) {
        while self.port == Port::Open && matches!(self.op, Op::Idle) {
            let action = match self.resumed.take() {
                Some(action) => action,
                None => match self.next_action(now) {
                    Some(action) => action,
                    None => return,
                },
            };
            self.begin(action, now);
        }
    }

    /// What the port should do next: the start-up sequence, then follow-ups
    /// (acknowledgements, deletions, reads), then the owner's jobs.
    fn next_action(&mut self, now: Instant) -> Option<Action> {
        if self.startup.is_some() {
            return self.startup_action(now);
        }
        if let Some(job) = self.internal.pop_front() {
            return Some(self.internal_action(job));
        }
        let (job, work) = self.jobs.pop_front()?;
        Some(match work {
            Job::Send { tpdu_len, hex } => Action::Send { job, tpdu_len, hex },
            Job::Command { cmd, timeout } => Action::Command {
                shown: cmd.clone(),
                cmd,
                timeout,
                purpose: Purpose::Job(job),
            },
            Job::Ussd { request, timeout } => {
                let cmd = match ussd::request_command(&request, self.cfg.ussd_packed) {
                    Ok(cmd) => cmd,
                    Err(e) => {
                        self.done(job, Err(ModemError::Protocol(e.to_string())));
                        return self.next_action(now);
                    }
                };
                if let Some(old) = self.ussd.take() {
                    // One USSD dialogue at a time on a modem: the new
                    // request ends the wait of the old one.
                    self.done(
                        old.job,
                        Err(ModemError::Protocol(
                            "USSD answer superseded by a newer request".into(),
                        )),
                    );
                }
                self.ussd = Some(UssdWait {
                    job,
                    deadline: now + timeout.max(self.cfg.command_timeout),
                    accepted: false,
                    early: None,
                });
                Action::Command {
                    shown: cmd.clone(),
                    cmd,
                    timeout: self.cfg.command_timeout,
                    purpose: Purpose::Ussd(job),
                }
            }
        })
    }

    fn internal_action(&mut self, job: Internal) -> Action {
        let mem = match &job {
            Internal::Read { mem, .. } | Internal::Delete { mem, .. } => Some(mem.clone()),
            Internal::Ack | Internal::UssdCancel => None,
        };
        if let Some(mem) = mem.filter(|m| self.read_mem.as_deref() != Some(m.as_str())) {
            return self.command(
                format!("AT+CPMS=\"{mem}\""),
                Purpose::Select { mem, then: job },
            );
        }
        match job {
            Internal::Ack => self.command("AT+CNMA".into(), Purpose::Ack),
            Internal::UssdCancel => self.command("AT+CUSD=2".into(), Purpose::UssdCancel),
            Internal::Delete { mem, index } => {
                self.command(format!("AT+CMGD={index}"), Purpose::Delete { mem, index })
            }
            Internal::Read {
                mem,
                index,
                kind,
                failed,
            } => self.command(
                format!("AT+CMGR={index}"),
                Purpose::Read {
                    mem,
                    index,
                    kind,
                    failed,
                },
            ),
        }
    }

    /// A command with the configured timeout.
    fn command(&self, cmd: String, purpose: Purpose) -> Action {
        Action::Command {
            shown: cmd.clone(),
            cmd,
            timeout: self.cfg.command_timeout,
            purpose,
        }
    }

    /// Write an action, after a resync when answers are owed.
    ///
    /// The resync, in three layers: (1) the probe (`AT`, answered by a bare
    /// OK only): every final result before that OK is stale and dropped,
    /// and URCs met on the way are handled as always; (2) if answers are
    /// still owed after the probe's OK (lost, or this modem answers AT while
    /// AT+CMGS still runs), stray final results and `+CMGS:` lines are
    /// dropped for up to `resync_quiet`; a stale bare OK taken for the
    /// probe's is caught here too (the probe's own OK then comes as the
    /// stray one); (3) later still, a final result while nothing is pending
    /// is dropped, and an OK before the prompt of AT+CMGS is dropped by
    /// [`Op::Prompt`]. Only an answer later than all that *and* after the
    /// next PDU was written could be mistaken, and no host can tell that
    /// case apart.
    fn begin(&mut self, action: Action, now: Instant) {
        if self.owed.any() {
            tracing::debug!("resynchronising: {} answer(s) may still come", self.owed.0);
            self.write_command(PROBE, PROBE_SHOWN);
            self.op = Op::Probe {
                action,
                deadline: now + self.cfg.command_timeout,
            };
            return;
        }
        match action {
            Action::Command {
                cmd,
                shown,
                timeout,
                purpose,
            } => {
                self.write_command(&cmd, &shown);
                self.op = Op::Command {
                    shown,
                    purpose,
                    deadline: now + timeout,
                };
            }
            Action::Send { job, tpdu_len, hex } => {
                let cmd = format!("AT+CMGS={tpdu_len}");
                self.write_command(&cmd, &cmd);
                self.op = Op::Prompt {
                    job,
                    cmd,
                    hex,
                    deadline: now + self.cfg.prompt_timeout,
                };
            }
        }
    }

    fn write_command(&mut self, cmd: &str, shown: &str) {
        tracing::trace!("-> {shown}");
        self.digester.command_sent(cmd);
        self.transmit.extend_from_slice(cmd.as_bytes());
        self.transmit.push(b'\r');
    }

    /// One digested event, in the light of what is pending.
    fn on_event(&mut self, ev: Event, now: Instant) {
        match std::mem::replace(&mut self.op, Op::Idle) {
            Op::Probe { action, deadline } => match ev {
                Event::Response(r)
                    if r.command == PROBE && r.result.is_ok() && r.lines.is_empty() =>
                {
                    if self.owed.any() {
                        self.op = Op::Quiet {
                            action,
                            deadline: now + self.cfg.resync_quiet,
                        };
                    } else {
                        self.resumed = Some(action);
                    }
                }
                Event::Response(r) => {
                    self.stale_answer(&r);
                    self.digester.command_sent(PROBE);
                    self.op = Op::Probe { action, deadline };
                }
                other => {
                    self.op = Op::Probe { action, deadline };
                    self.stray(other);
                }
            },
            Op::Quiet { action, deadline } => {
                self.stray(ev);
                if self.owed.any() {
                    self.op = Op::Quiet { action, deadline };
                } else {
                    self.resumed = Some(action);
                }
            }
            Op::Command {
                shown,
                purpose,
                deadline,
            } => match ev {
                Event::Response(r) if r.result.is_ok() => self.finish(purpose, Ok(r), now),
                Event::Response(r) => self.finish(purpose, Err(failed(&shown, r)), now),
                Event::Prompt => {
                    // A prompt nobody asked for: leave it with ESC (answered
                    // OK on many modems, hence owed).
                    self.transmit.push(0x1B);
                    self.digester.cancel();
                    self.owed.gave_up();
                    let err = ModemError::Protocol(format!("{shown}: unexpected prompt"));
                    self.finish(purpose, Err(err), now);
                }
                other => {
                    self.op = Op::Command {
                        shown,
                        purpose,
                        deadline,
                    };
                    self.stray(other);
                }
            },
            Op::Prompt {
                job,
                cmd,
                hex,
                deadline,
            } => match ev {
                Event::Prompt => {
                    self.digester.body_sent(&hex);
                    self.transmit.extend_from_slice(hex.as_bytes());
                    self.transmit.push(0x1A);
                    self.op = Op::Body {
                        job,
                        cmd,
                        deadline: now + self.cfg.send_timeout,
                    };
                }
                // AT+CMGS=<n> never ends with OK before its prompt: this is
                // the late answer of a command given up on that came after
                // the resync. Dropped; the prompt is still awaited.
                Event::Response(r) if r.result.is_ok() => {
                    self.stale_answer(&r);
                    self.digester.command_sent(&cmd);
                    self.op = Op::Prompt {
                        job,
                        cmd,
                        hex,
                        deadline,
                    };
                }
                Event::Response(r) => self.done(job, Err(failed(&cmd, r))),
                other => {
                    self.op = Op::Prompt {
                        job,
                        cmd,
                        hex,
                        deadline,
                    };
                    self.stray(other);
                }
            },
            Op::Body { job, cmd, deadline } => match ev {
                // From here on the PDU may be in the network: only a refusal
                // says it is not; anything else that is not a TP-MR is an
                // unknown outcome, never "not sent".
                Event::Response(r) if r.result.is_ok() => {
                    let result = at::answers::cmgs(&r.lines).map(Answer::Mr).map_err(|e| {
                        ModemError::OutcomeUnknown {
                            command: cmd.clone(),
                            reason: format!("OK without a usable +CMGS line ({e})"),
                        }
                    });
                    self.done(job, result);
                }
                Event::Response(r) => self.done(job, Err(failed(&cmd, r))),
                Event::Prompt => {
                    self.digester.cancel();
                    self.owed.gave_up();
                    self.done(
                        job,
                        Err(ModemError::OutcomeUnknown {
                            command: cmd,
                            reason: "a second prompt after the PDU".into(),
                        }),
                    );
                }
                other => {
                    self.op = Op::Body { job, cmd, deadline };
                    self.stray(other);
                }
            },
            op @ (Op::Idle | Op::Pause { .. }) => {
                self.op = op;
                self.stray(ev);
            }
        }
    }

    /// An event that answers nothing pending.
    fn stray(&mut self, ev: Event) {
        match ev {
            Event::Urc(urc) => self.handle_urc(urc),
            Event::Error(e @ DigestError::UnexpectedResult(_)) => {
                // The late answer of a command given up on.
                self.owed.stray_result();
                tracing::debug!("stale answer dropped: {e}")
            }
            Event::Error(e) => tracing::debug!("AT stream: {e}"),
            Event::Prompt => tracing::debug!("stray prompt ignored"),
            Event::Response(r) => self.stale_answer(&r),
        }
    }

    /// A final result that is not the answer of the command now pending (it
    /// belongs to one the session gave up on): logged and dropped.
    fn stale_answer(&mut self, r: &Response) {
        self.owed.stray_result();
        tracing::debug!(
            "stale answer dropped (taken while {} was pending): {:?} {}",
            r.command,
            r.lines,
            r.result
        );
    }

    fn handle_urc(&mut self, urc: Urc) {
        let direct = Origin::Direct {
            needs_ack: self.cfg.cnma_required && self.cfg.csms == 1,
            link: self.link,
        };
        match urc {
            Urc::StatusReport { len, pdu } => {
                self.emit_inbound(InboundKind::StatusReport, pdu, len, direct)
            }
            Urc::Deliver { len, pdu, .. } => {
                self.emit_inbound(InboundKind::Deliver, pdu, len, direct)
            }
            Urc::StatusReportStored { mem, index } => self.internal.push_back(Internal::Read {
                mem,
                index,
                kind: InboundKind::StatusReport,
                failed: 0,
            }),
            Urc::MessageStored { mem, index } => self.internal.push_back(Internal::Read {
                mem,
                index,
                kind: InboundKind::Deliver,
                failed: 0,
            }),
            // The information line of a late AT+CMGS answer, come while no
            // command was pending: it belongs to no part any more.
            Urc::Other(line) if line.starts_with("+CMGS:") => {
                tracing::debug!("stale answer line dropped: {line}")
            }
            Urc::Other(line) if line.starts_with("+CUSD:") && self.ussd.is_some() => {
                self.ussd_answer(&line)
            }
            other => {
                tracing::debug!("URC {other:?}");
                self.emit(ModemEvent::Unsolicited {
                    modem: self.cfg.name.clone(),
                    urc: other,
                });
            }
        }
    }

    // ---- outcomes ----

    /// A command's result, delivered where it belongs.
    fn finish(&mut self, purpose: Purpose, result: Result<Response, ModemError>, now: Instant) {
        match purpose {
            Purpose::Startup => self.startup_result(result, now),
            Purpose::Job(job) => self.done(job, result.map(Answer::Response)),
            Purpose::Ussd(job) => self.ussd_accepted(job, result),
            Purpose::UssdCancel => {
                if let Err(e) = result {
                    tracing::debug!("cancelling the USSD dialogue failed: {e}");
                }
            }
            Purpose::Ack => {
                if let Err(e) = result {
                    tracing::warn!("acknowledging a pushed PDU failed: {e}");
                }
            }
            Purpose::Delete { mem, index } => {
                if let Err(e) = result {
                    // Still stored: the next listing hands it on again.
                    tracing::warn!("deleting stored {mem}/{index} failed: {e}");
                }
                self.handed.remove(&(mem, index));
            }
            Purpose::Select { mem, then } => match result {
                Ok(_) => {
                    self.read_mem = Some(mem);
                    self.internal.push_front(then);
                }
                Err(e) => self.follow_up_failed(then, e, now),
            },
            Purpose::Read {
                mem,
                index,
                kind,
                failed,
            } => {
                let read = result.and_then(|r| {
                    at::answers::cmgr(&r.lines)
                        .map_err(|e| ModemError::Protocol(format!("AT+CMGR={index}: {e}")))
                });
                match read {
                    Ok(m) => {
                        let kind = if m.pdu.is_empty() {
                            kind
                        } else {
                            inbound_kind(&m.pdu)
                        };
                        self.emit_inbound(
                            kind,
                            m.pdu,
                            m.length,
                            Origin::Stored {
                                mem,
                                index,
                                reading: 0,
                            },
                        );
                    }
                    Err(e) => self.read_failed(mem, index, kind, failed, &e, now),
                }
            }
        }
    }

    fn follow_up_failed(&mut self, job: Internal, e: ModemError, now: Instant) {
        match job {
            Internal::Read {
                mem,
                index,
                kind,
                failed,
            } => self.read_failed(mem, index, kind, failed, &e, now),
            Internal::Delete { mem, index } => {
                // Still stored: the next listing hands it on again.
                tracing::warn!("deleting stored {mem}/{index} failed: {e}");
                self.handed.remove(&(mem, index));
            }
            Internal::Ack | Internal::UssdCancel => {
                tracing::warn!("follow-up command failed: {e}")
            }
        }
    }

    /// A read of an announced PDU failed (ERROR, timeout, an answer that
    /// does not parse): retry it later, with a growing delay, or give up and
    /// leave it in the modem. It is never deleted unread, so the next full
    /// listing (AT+CMGL=4, at start and after every reconnect) brings it.
    fn read_failed(
        &mut self,
        mem: String,
        index: u32,
        kind: InboundKind,
        failed: u32,
        err: &ModemError,
        now: Instant,
    ) {
        let what = match kind {
            InboundKind::StatusReport => "status report",
            InboundKind::Deliver => "SMS",
        };
        let failed = failed.saturating_add(1);
        if failed > self.cfg.read_retries {
            tracing::warn!(
                "reading stored {what} {mem}/{index} failed {failed} times (last: {err}); \
                 left in the modem, it will be read by the next full listing \
                 (AT+CMGL=4 at start or reconnect)"
            );
            return;
        }
        let delay = retry_delay(self.cfg.read_retry_delay, failed);
        tracing::warn!(
            "reading stored {what} {mem}/{index} failed ({err}); retry {failed} of {} in {delay:?}",
            self.cfg.read_retries
        );
        self.retries.push((
            now + delay,
            Internal::Read {
                mem,
                index,
                kind,
                failed,
            },
        ));
    }

    /// An action that never got written fails with `err`.
    fn fail_action(&mut self, action: Action, err: ModemError, now: Instant) {
        match action {
            Action::Send { job, .. } => self.done(job, Err(err)),
            Action::Command { purpose, .. } => self.finish(purpose, Err(err), now),
        }
    }

    /// The port went away while `op` was in flight.
    /// The start-up sequence is taken first (it is judged as a whole).
    fn fail_op(&mut self, op: Op, reason: &str, now: Instant) {
        match op {
            Op::Idle | Op::Pause { .. } => {}
            Op::Probe { action, .. } | Op::Quiet { action, .. } => match action {
                Action::Send { job, .. } => self.done(job, Err(not_sent(reason))),
                Action::Command { purpose, .. } => {
                    self.finish(purpose, Err(lost(false, reason)), now)
                }
            },
            Op::Command { purpose, .. } => self.finish(purpose, Err(lost(false, reason)), now),
            Op::Prompt { job, .. } => self.done(job, Err(not_sent(reason))),
            // The PDU was written: the network may have it.
            Op::Body { job, .. } => self.done(job, Err(lost(true, reason))),
        }
    }

    /// AT+CUSD of USSD job `job` ended: failed, it fails the job; OK, the
    /// answer is handed over if it already came, or awaited.
    fn ussd_accepted(&mut self, job: JobId, result: Result<Response, ModemError>) {
        let Some(mut w) = self.ussd.take_if(|w| w.job == job) else {
            // Superseded or timed out meanwhile: already answered.
            return;
        };
        match result {
            Err(e) => self.done(job, Err(e)),
            Ok(_) => match w.early.take() {
                Some(a) => self.done(job, Ok(Answer::Ussd(a))),
                None => {
                    w.accepted = true;
                    self.ussd = Some(w);
                }
            },
        }
    }

    /// A `+CUSD:` line while a USSD job waits.
    fn ussd_answer(&mut self, line: &str) {
        let parsed = ussd::parse_cusd(line, self.cfg.ussd_packed);
        let Some(mut w) = self.ussd.take() else {
            return;
        };
        match parsed {
            Ok(a) if w.accepted => self.done(w.job, Ok(Answer::Ussd(a))),
            Ok(a) => {
                // Inside AT+CUSD's own response: handed over with its OK.
                w.early = Some(a);
                self.ussd = Some(w);
            }
            Err(e) => self.done(w.job, Err(ModemError::Protocol(e))),
        }
    }

    fn done(&mut self, job: JobId, result: Result<Answer, ModemError>) {
        self.events.push_back(SessionEvent::Done { job, result });
    }

    fn emit(&mut self, ev: ModemEvent) {
        self.events.push_back(SessionEvent::Modem(ev));
    }

    fn emit_inbound(
        &mut self,
        kind: InboundKind,
        pdu: Vec<u8>,
        tpdu_len: usize,
        mut origin: Origin,
    ) {
        if let Origin::Stored {
            mem,
            index,
            reading,
        } = &mut origin
        {
            let key = (mem.clone(), *index);
            if self.handed.contains_key(&key) {
                // The same slot read again before its deletion: the owner
                // has this PDU already.
                tracing::debug!(
                    "{mem}/{index} read again before its deletion: not handed on twice"
                );
                return;
            }
            self.readings += 1;
            *reading = self.readings;
            self.handed.insert(key, (self.readings, Deletion::Awaited));
        }
        self.emit(ModemEvent::Inbound(Inbound {
            modem: self.cfg.name.clone(),
            kind,
            pdu,
            tpdu_len,
            origin,
        }));
    }

    /// The first start-up failed: the session is over before it began;
    /// jobs queued for it end too.
    fn fail_start(&mut self, err: ModemError) {
        self.port = Port::Ended;
        for (job, _) in std::mem::take(&mut self.jobs) {
            self.done(job, Err(ModemError::Closed));
        }
        self.events.push_back(SessionEvent::StartFailed(err));
    }

    fn end(&mut self) {
        self.port = Port::Ended;
        self.events.push_back(SessionEvent::Ended);
    }

    fn schedule_reopen(&mut self, now: Instant) {
        self.attempts = self.attempts.saturating_add(1);
        let delay =
            Backoff::new(RECONNECT_FIRST, RECONNECT_MAX).delay(self.attempts.saturating_sub(1));
        self.port = Port::Away {
            retry_at: now + delay,
        };
    }

    // ---- the start-up sequence ----

    /// The command of the current start-up step (steps without one are
    /// passed through here).
    fn startup_action(&mut self, now: Instant) -> Option<Action> {
        loop {
            let cfg = &self.cfg;
            let startup = self.startup.as_mut()?;
            if !matches!(self.op, Op::Idle) {
                // A pause between registration polls.
                return None;
            }
            let cmd = |c: &str| Some(c.to_string());
            let cmd = match startup.step {
                Step::Wake => {
                    // Wake the modem and leave any half-typed command or
                    // prompt: ESC aborts a pending AT+CMGS body, the CR ends
                    // a stray line.
                    self.transmit.extend_from_slice(b"\x1b\r");
                    startup.step = Step::Alive;
                    cmd("AT")
                }
                Step::Alive => cmd("AT"),
                Step::EchoOff => cmd("ATE0"),
                Step::NumericErrors => cmd("AT+CMEE=1"),
                Step::PinQuery => cmd("AT+CPIN?"),
                Step::PinAttempts(i) => PIN_ATTEMPT_QUERIES.get(i).map(|c| c.to_string()),
                Step::PinEntry => {
                    let pin = cfg.pin.clone().unwrap_or_default();
                    // The PIN goes to the modem but never to a log.
                    return Some(Action::Command {
                        cmd: format!("AT+CPIN=\"{pin}\""),
                        shown: "AT+CPIN=\"****\"".into(),
                        timeout: cfg.command_timeout,
                        purpose: Purpose::Startup,
                    });
                }
                Step::Init(i) => cfg.init.get(i).cloned(),
                Step::Register => {
                    if startup.registration_deadline.is_none() {
                        startup.registration_deadline = Some(now + cfg.registration_timeout);
                    }
                    cmd("AT+CREG?")
                }
                Step::PduMode => cmd("AT+CMGF=0"),
                Step::Csms => Some(format!("AT+CSMS={}", cfg.csms)),
                Step::Cpms => cfg.cpms.clone(),
                Step::Cnmi => Some(cfg.cnmi.clone()),
                Step::Smsc => cmd("AT+CSCA?"),
                Step::Manufacturer => cmd("AT+CGMI"),
                Step::Model => cmd("AT+CGMM"),
                Step::Revision => cmd("AT+CGMR"),
                Step::Imei => cmd("AT+CGSN"),
                Step::Imsi => cmd("AT+CIMI"),
                Step::Operator => cmd("AT+COPS?"),
                Step::Signal => cmd("AT+CSQ"),
                Step::List => {
                    // After a reconnect, deleting what the owner already has
                    // comes before the listing, or it would be listed again.
                    if self.reconnecting {
                        if let Some(job) = self.internal.pop_front() {
                            return Some(self.internal_action(job));
                        }
                    }
                    cmd("AT+CMGL=4")
                }
            };
            match cmd {
                Some(c) => return Some(self.command(c, Purpose::Startup)),
                // A step with nothing to send (no AT+CPMS, no more init
                // commands): on to the next.
                None => self.startup_result(Ok(empty_response()), now),
            }
        }
    }

    /// The result of the current start-up step's command.
    fn startup_result(&mut self, result: Result<Response, ModemError>, now: Instant) {
        let Some(startup) = self.startup.as_mut() else {
            return;
        };
        let first_line = |r: &Result<Response, ModemError>| {
            r.as_ref()
                .ok()
                .and_then(|r| r.lines.iter().find(|l| !l.trim().is_empty()))
                .map(|l| l.trim().to_string())
        };
        let next = match (startup.step, result) {
            (Step::Wake, _) => Step::Alive,
            (Step::Alive, Ok(_)) => Step::EchoOff,
            (Step::Alive, Err(ModemError::Timeout { .. } | ModemError::Failed { .. })) => {
                startup.alive_tries += 1;
                if startup.alive_tries >= 3 {
                    let device = self.cfg.endpoint.to_string();
                    return self.startup_failed(ModemError::NotResponding { device }, now);
                }
                Step::Alive
            }
            (Step::EchoOff, Ok(_)) => Step::NumericErrors,
            (Step::NumericErrors, Ok(_)) => Step::PinQuery,
            (Step::PinQuery, Ok(r)) => {
                startup.pin_queries += 1;
                let state = match at::answers::cpin(&r.lines) {
                    Ok(state) => state,
                    Err(e) => return self.startup_failed(ModemError::Protocol(e.to_string()), now),
                };
                match state {
                    PinState::Ready => Step::Init(0),
                    PinState::SimPin if self.cfg.pin.is_none() => {
                        return self.startup_failed(ModemError::Sim(
                            "the SIM asks for its PIN and none is configured".into(),
                        ), now)
                    }
                    PinState::SimPin if self.pin_refused => {
                        return self.startup_failed(
                            ModemError::PinRefused(
                                "the SIM refused the configured PIN before; it is not sent again \
                                 (fix the PIN in the configuration, then restart smsgw)"
                                    .into(),
                            ),
                            now,
                        )
                    }
                    PinState::SimPin => Step::PinAttempts(0),
                    other => {
                        return self.startup_failed(ModemError::Sim(format!(
                            "SIM state {other:?}: smsgw cannot continue (enter the PUK or unlock the SIM in a phone)"
                        )), now)
                    }
                }
            }
            (Step::PinAttempts(i), r) => {
                match r.ok().and_then(|r| at::answers::pin_attempts(&r.lines)) {
                    Some(left) if left < 2 => {
                        return self.startup_failed(
                            ModemError::PinRefused(format!(
                                "the SIM has {left} PIN attempt(s) left: smsgw does not risk \
                                 the last one (enter the PIN, or the PUK, in a phone)"
                            )),
                            now,
                        )
                    }
                    Some(_) => Step::PinEntry,
                    None if i + 1 < PIN_ATTEMPT_QUERIES.len() => Step::PinAttempts(i + 1),
                    // The count cannot be read: the PIN goes once, and is
                    // never sent again if refused.
                    None => Step::PinEntry,
                }
            }
            (Step::PinEntry, Ok(_)) if startup.pin_queries >= 2 => {
                return self.startup_failed(
                    ModemError::Sim("the SIM is still locked after entering the PIN".into()),
                    now,
                )
            }
            (Step::PinEntry, Ok(_)) => Step::PinQuery,
            (Step::PinEntry, Err(e)) => {
                self.pin_refused = true;
                return self.startup_failed(
                    ModemError::PinRefused(format!(
                        "the SIM refused the configured PIN ({e}); it is not sent again \
                         (a SIM locks after 3 wrong PINs): fix it in the configuration, \
                         then restart smsgw"
                    )),
                    now,
                );
            }
            (Step::Init(i), r) => {
                if let (Err(e), Some(cmd)) = (r, self.cfg.init.get(i)) {
                    tracing::warn!("profile init command {cmd} failed: {e}");
                }
                if i + 1 < self.cfg.init.len() {
                    Step::Init(i + 1)
                } else {
                    Step::Register
                }
            }
            (Step::Register, r) => {
                if let Ok(reg) = r.as_ref().map_err(|_| ()).and_then(|r| {
                    at::answers::registration(&r.lines, RegDomain::Cs).map_err(|_| ())
                }) {
                    startup.last_stat = Some(reg.registration.stat);
                    if reg.registration.is_registered() {
                        startup.info.registration = startup.last_stat;
                        startup.step = Step::PduMode;
                        return;
                    }
                }
                if startup.registration_deadline.is_some_and(|d| now >= d) {
                    let last_stat = startup.last_stat;
                    return self.startup_failed(ModemError::NotRegistered { last_stat }, now);
                }
                // Poll again after a pause (URCs are handled meanwhile).
                self.op = Op::Pause {
                    until: now + REGISTRATION_POLL,
                };
                Step::Register
            }
            (Step::PduMode, Ok(_)) => Step::Csms,
            (Step::Csms, r) => {
                if let Err(e) = r {
                    tracing::warn!("AT+CSMS={} refused: {e}", self.cfg.csms);
                }
                Step::Cpms
            }
            (Step::Cpms, Ok(_)) => {
                self.read_mem = self.cfg.cpms.as_deref().and_then(cpms_first_memory);
                Step::Cnmi
            }
            (Step::Cnmi, Ok(_)) => Step::Smsc,
            (Step::Smsc, r) => {
                startup.info.smsc = r
                    .ok()
                    .and_then(|r| at::answers::csca(&r.lines).ok())
                    .map(|s| s.number);
                Step::Manufacturer
            }
            (Step::Manufacturer, r) => {
                startup.info.manufacturer = first_line(&r);
                Step::Model
            }
            (Step::Model, r) => {
                startup.info.model = first_line(&r);
                Step::Revision
            }
            (Step::Revision, r) => {
                startup.info.revision = first_line(&r);
                Step::Imei
            }
            (Step::Imei, r) => {
                startup.info.imei = first_line(&r);
                Step::Imsi
            }
            (Step::Imsi, r) => {
                startup.info.imsi = first_line(&r);
                Step::Operator
            }
            (Step::Operator, r) => {
                startup.info.operator = r
                    .ok()
                    .and_then(|r| at::answers::cops(&r.lines).ok())
                    .and_then(|o| o.name);
                Step::Signal
            }
            (Step::Signal, r) => {
                startup.info.signal_rssi = r
                    .ok()
                    .and_then(|r| at::answers::csq(&r.lines).ok())
                    .map(|q| q.rssi);
                let info = startup.info.clone();
                startup.step = Step::List;
                self.ready(info);
                return;
            }
            (Step::List, r) => {
                self.startup = None;
                self.attempts = 0;
                match r {
                    Ok(r) => self.listed(&r.lines),
                    // No such listing on this modem: nothing to read.
                    Err(ModemError::Failed { .. }) => {}
                    Err(e) if !self.reconnecting => self.fail_start(e),
                    Err(e) => {
                        tracing::warn!("reading stored messages after reconnect: {e}")
                    }
                }
                return;
            }
            // A command the sequence cannot do without failed.
            (_, Err(e)) => return self.startup_failed(e, now),
        };
        startup.step = next;
    }

    fn ready(&mut self, info: ModemInfo) {
        tracing::info!(model = ?info.model, operator = ?info.operator, "modem ready");
        self.ever_ready = true;
        if self.reconnecting {
            self.emit(ModemEvent::Reconnected(info.clone()));
        }
        self.events.push_back(SessionEvent::Ready(info));
    }

    /// The start-up sequence failed: the first start gives up; after a
    /// reconnect the port is closed and asked for again later.
    fn startup_failed(&mut self, err: ModemError, now: Instant) {
        self.startup = None;
        self.op = Op::Idle;
        if !self.reconnecting {
            self.fail_start(err);
            return;
        }
        if let ModemError::PinRefused(reason) = &err {
            // Coming back again cannot help: the session ends, and its
            // owner must not start it again with the same PIN.
            tracing::error!("{err}");
            for (job, _) in std::mem::take(&mut self.jobs) {
                self.done(job, Err(away()));
            }
            self.transmit.clear();
            self.events.push_back(SessionEvent::ClosePort);
            self.emit(ModemEvent::SimLocked {
                modem: self.cfg.name.clone(),
                reason: reason.clone(),
            });
            self.end();
            return;
        }
        tracing::info!("modem back but not ready yet: {err}");
        // Jobs queued meanwhile were not started.
        for (job, _) in std::mem::take(&mut self.jobs) {
            self.done(job, Err(away()));
        }
        self.transmit.clear();
        self.events.push_back(SessionEvent::ClosePort);
        if !self.cfg.reconnect {
            self.end();
            return;
        }
        self.schedule_reopen(now);
    }

    /// Emit what an AT+CMGL=4 listed.
    fn listed(&mut self, lines: &[String]) {
        let mem = self.read_mem.clone().unwrap_or_else(|| "SM".to_string());
        for entry in self.stored_entries(lines) {
            let kind = inbound_kind(&entry.pdu);
            self.emit_inbound(
                kind,
                entry.pdu,
                entry.length,
                Origin::Stored {
                    mem: mem.clone(),
                    index: entry.index.unwrap_or(0),
                    reading: 0,
                },
            );
        }
    }

    /// The entries of an AT+CMGL answer. A line that is neither an entry
    /// header nor its PDU (line noise, a stray URC text) is skipped with a
    /// warning rather than losing the whole list.
    fn stored_entries(&self, lines: &[String]) -> Vec<at::answers::StoredPdu> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].trim_start().starts_with("+CMGL:") {
                tracing::warn!("AT+CMGL: line {} skipped: {:?}", i + 1, lines[i]);
                i += 1;
                continue;
            }
            let end = (i + 2).min(lines.len());
            match at::answers::cmgl(&lines[i..end]) {
                Ok(entries) => {
                    out.extend(entries);
                    i = end;
                }
                Err(e) => {
                    tracing::warn!("AT+CMGL: entry at line {} skipped: {e}", i + 1);
                    i += 1;
                }
            }
        }
        out
    }
}

fn empty_response() -> Response {
    Response {
        command: String::new(),
        lines: Vec::new(),
        result: at::FinalResult::Ok,
        truncated: false,
    }
}

fn lost(maybe_sent: bool, reason: &str) -> ModemError {
    ModemError::Disconnected {
        maybe_sent,
        reason: reason.to_string(),
    }
}

fn not_sent(reason: &str) -> ModemError {
    lost(false, &format!("{reason}; the part was not sent"))
}

/// The refusal of a job while the modem is away: nothing was written.
fn away() -> ModemError {
    lost(false, "the modem is away; the part was not sent")
}

/// The delay before retry number `n` (1, 2, ...): `base`, twice that, four
/// times... capped at 64 times `base`.
fn retry_delay(base: Duration, n: u32) -> Duration {
    Backoff::new(base, base.saturating_mul(64)).delay(n.saturating_sub(1))
}

fn failed(cmd: &str, r: Response) -> ModemError {
    ModemError::Failed {
        command: cmd.to_string(),
        result: r.result,
    }
}

/// The first storage of an AT+CPMS command (`AT+CPMS="SM","SM","SM"` -> SM).
fn cpms_first_memory(cmd: &str) -> Option<String> {
    let args = cmd.split_once('=')?.1;
    let first = args.split(',').next()?.trim().trim_matches('"');
    (!first.is_empty()).then(|| first.to_string())
}

/// Status report or SMS, from the TP-MTI of a PDU with SMSC prefix.
fn inbound_kind(pdu: &[u8]) -> InboundKind {
    let smsc_len = pdu.first().copied().unwrap_or(0) as usize;
    match pdu.get(smsc_len + 1).map(|fo| fo & 0x03) {
        Some(0x02) => InboundKind::StatusReport,
        _ => InboundKind::Deliver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core started against a scripted modem that answers every command
    /// OK (with the lines the start-up needs).
    fn started() -> (SessionCore, Instant) {
        let p = Profile::by_name("generic").expect("profile");
        let cfg = SessionConfig::from_profile("t0", Endpoint::Serial("/dev/null".into()), &p);
        let mut core = SessionCore::new(cfg);
        let now = Instant::now();
        core.connected(now);
        while core.is_starting() {
            let sent = core.poll_transmit().expect("a start-up command");
            let line = String::from_utf8_lossy(&sent).into_owned();
            let answer = match line.trim_start_matches(['\x1b', '\r']).trim_end() {
                "AT+CPIN?" => "\r\n+CPIN: READY\r\n\r\nOK\r\n",
                "AT+CREG?" => "\r\n+CREG: 0,1\r\n\r\nOK\r\n",
                _ => "\r\nOK\r\n",
            };
            core.handle_input(answer.as_bytes(), now);
        }
        while let Some(ev) = core.poll_event() {
            assert!(!matches!(ev, SessionEvent::StartFailed(_)), "{ev:?}");
        }
        (core, now)
    }

    fn written(core: &mut SessionCore) -> String {
        String::from_utf8_lossy(&core.poll_transmit().unwrap_or_default()).into_owned()
    }

    fn outcome(core: &mut SessionCore, job: JobId) -> Option<Result<Answer, ModemError>> {
        while let Some(ev) = core.poll_event() {
            if let SessionEvent::Done { job: j, result } = ev {
                assert_eq!(j, job, "another job's outcome");
                return Some(result);
            }
        }
        None
    }

    /// A send whose answer never comes: the outcome is unknown and one
    /// answer is owed.
    fn unknown_send(core: &mut SessionCore, now: Instant) -> Instant {
        let job = core.submit(
            Job::Send {
                tpdu_len: 18,
                hex: "00AB".into(),
            },
            now,
        );
        assert_eq!(written(core), "AT+CMGS=18\r");
        core.handle_input(b"\r\n> ", now);
        assert_eq!(written(core), "00AB\x1a");
        let later = now + core.config().send_timeout;
        core.handle_timeout(later);
        assert!(matches!(
            outcome(core, job),
            Some(Err(ModemError::OutcomeUnknown { .. }))
        ));
        later
    }

    #[test]
    fn late_answer_and_probe_ok_in_one_chunk_resync_without_refeeding() {
        let (mut core, now) = started();
        let now = unknown_send(&mut core, now);
        let job = core.submit(
            Job::Command {
                cmd: "AT+CSQ".into(),
                timeout: Duration::from_secs(5),
            },
            now,
        );
        assert_eq!(written(&mut core), "AT\r", "the probe goes first");
        // The late answer of the send and the probe's OK in one read.
        core.handle_input(b"\r\n+CMGS: 7\r\n\r\nOK\r\n\r\nOK\r\n", now);
        assert_eq!(written(&mut core), "AT+CSQ\r");
        core.handle_input(b"\r\n+CSQ: 21,99\r\n\r\nOK\r\n", now);
        match outcome(&mut core, job) {
            Some(Ok(Answer::Response(r))) => assert_eq!(r.lines, ["+CSQ: 21,99"]),
            other => panic!("{other:?}"),
        }
        assert!(!core.owed.any());
    }

    #[test]
    fn stale_ok_and_prompt_in_one_chunk_still_give_the_prompt() {
        let (mut core, now) = started();
        // Owed, but the probe's answer settles nothing: the stale OK comes
        // only after the probe (a modem answering AT while AT+CMGS runs).
        let now = unknown_send(&mut core, now);
        let job = core.submit(
            Job::Send {
                tpdu_len: 18,
                hex: "00CD".into(),
            },
            now,
        );
        assert_eq!(written(&mut core), "AT\r");
        core.handle_input(b"\r\nOK\r\n", now);
        // Still owed: quiet until it comes or resync_quiet passes.
        assert_eq!(written(&mut core), "");
        let now = now + core.config().resync_quiet;
        core.handle_timeout(now);
        assert_eq!(written(&mut core), "AT+CMGS=18\r");
        // The late OK and the prompt in one read: the OK is dropped, the
        // prompt is taken.
        core.handle_input(b"\r\nOK\r\n\r\n> ", now);
        assert_eq!(written(&mut core), "00CD\x1a");
        core.handle_input(b"\r\n+CMGS: 9\r\n\r\nOK\r\n", now);
        assert!(matches!(outcome(&mut core, job), Some(Ok(Answer::Mr(9)))));
    }

    #[test]
    fn a_written_pdu_is_never_reported_not_sent() {
        let (mut core, now) = started();
        let job = core.submit(
            Job::Send {
                tpdu_len: 18,
                hex: "00AB".into(),
            },
            now,
        );
        core.poll_transmit();
        core.handle_input(b"\r\n> ", now);
        core.connection_lost("end of stream", now);
        match outcome(&mut core, job) {
            Some(Err(e)) => assert!(e.maybe_sent(), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cpms_memory() {
        assert_eq!(
            cpms_first_memory("AT+CPMS=\"SR\",\"SM\",\"SM\"").as_deref(),
            Some("SR")
        );
        assert_eq!(cpms_first_memory("AT+CPMS=\"ME\"").as_deref(), Some("ME"));
        assert_eq!(cpms_first_memory("AT+CPMS"), None);
    }

    #[test]
    fn retry_delay_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let delays: Vec<u64> = (1..=4)
            .map(|n| retry_delay(base, n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800]);
        assert_eq!(retry_delay(base, 40), base * 64);
        assert_eq!(retry_delay(Duration::MAX, 3), Duration::MAX);
    }

    #[test]
    fn mti_routes_inbound_pdus() {
        let sr = [0x00, 0x06, 0x40];
        assert_eq!(inbound_kind(&sr), InboundKind::StatusReport);
        let deliver = [0x00, 0x04, 0x0B];
        assert_eq!(inbound_kind(&deliver), InboundKind::Deliver);
    }
}
