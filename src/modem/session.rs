//! One modem session: a tokio task that owns the port and the AT digester,
//! runs the start-up sequence of the modem's hardware profile, sends parts
//! with AT+CMGS, and hands status reports and incoming SMS to its owner.
//!
//! AT is strictly one command at a time, so the task runs jobs one after the
//! other; unsolicited codes are handled whenever they arrive, inside another
//! command's response included. A status report is acknowledged (AT+CNMA) or
//! deleted from storage (AT+CMGD) only after the owner says it is safely
//! stored ([`Modem::handed_on`]). When the port vanishes the session reports
//! it, fails the job in flight (saying whether the PDU may have been sent),
//! and reopens the same path until the device comes back.
//!
//! After a command it gave up on (a timed-out AT+CMGS above all), the
//! session resynchronises before the next command, so that a late answer is
//! never taken for another command's (`Task::resync`). A stored report or
//! SMS whose read (AT+CMGR) fails is retried later with a growing delay,
//! between the owner's jobs; if it keeps failing it stays in the modem for
//! the next full listing.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::at::answers::PinState;
use crate::at::{self, DigestError, Digester, Event, RegDomain, Response, Urc};
use crate::profile::{Profile, ReportMode};

use super::transport::{Endpoint, SerialSettings, Transport};
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
    /// `Task::resync`).
    pub resync_quiet: Duration,
    /// A stored report or SMS (+CDSI / +CMTI) whose AT+CMGR failed is read
    /// again up to this many times, after `read_retry_delay`, then twice
    /// that, and so on; if every attempt fails it stays in the modem for the
    /// next full listing (AT+CMGL=4 at start and after a reconnect).
    pub read_retries: u32,
    pub read_retry_delay: Duration,
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
        }
    }
}

enum Job {
    Command {
        cmd: String,
        timeout: Duration,
        reply: oneshot::Sender<Result<Response, ModemError>>,
    },
    Send {
        tpdu_len: usize,
        hex: String,
        reply: oneshot::Sender<Result<u8, ModemError>>,
    },
    HandedOn(Origin),
}

/// A handle on a running session. Cheap to clone.
#[derive(Clone)]
pub struct Modem {
    name: String,
    jobs: mpsc::UnboundedSender<Job>,
    info: watch::Receiver<Option<ModemInfo>>,
}

impl Modem {
    /// Open the port, run the start-up sequence and start the session task.
    /// Events (status reports, incoming SMS, disconnects) arrive on the
    /// returned receiver; reports already stored in the modem come first.
    pub async fn start(
        cfg: SessionConfig,
    ) -> Result<(Modem, mpsc::UnboundedReceiver<ModemEvent>), ModemError> {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (job_tx, job_rx) = mpsc::unbounded_channel();
        let (info_tx, info_rx) = watch::channel(None);
        let mut task = Task::new(cfg.clone(), ev_tx);
        task.connect().await?;
        let info = task.initialise().await?;
        info_tx.send_replace(Some(info));
        task.read_stored().await?;
        tokio::spawn(task.run(job_rx, info_tx));
        Ok((
            Modem {
                name: cfg.name,
                jobs: job_tx,
                info: info_rx,
            },
            ev_rx,
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the modem said about itself at the last start-up.
    pub fn info(&self) -> Option<ModemInfo> {
        self.info.borrow().clone()
    }

    /// Send one part: `AT+CMGS=<tpdu_len>`, the prompt, the PDU (SMSC prefix
    /// included, hex) and Ctrl-Z. Returns the TP-MR the modem assigned.
    pub async fn send_pdu(&self, tpdu_len: usize, hex: &str) -> Result<u8, ModemError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Send {
                tpdu_len,
                hex: hex.to_string(),
                reply,
            })
            .map_err(|_| ModemError::Closed)?;
        rx.await.map_err(|_| ModemError::Closed)?
    }

    /// Run any AT command and return its response (final result OK), or the
    /// error it ended with.
    pub async fn command(&self, cmd: &str, timeout: Duration) -> Result<Response, ModemError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Command {
                cmd: cmd.to_string(),
                timeout,
                reply,
            })
            .map_err(|_| ModemError::Closed)?;
        rx.await.map_err(|_| ModemError::Closed)?
    }

    /// Say that an inbound PDU is safely stored: the session acknowledges it
    /// (AT+CNMA) or deletes it from the modem's storage (AT+CMGD).
    pub fn handed_on(&self, origin: &Origin) {
        let _ = self.jobs.send(Job::HandedOn(origin.clone()));
    }

    /// True while the session task is running.
    pub fn is_running(&self) -> bool {
        !self.jobs.is_closed()
    }
}

/// Internal follow-up work that goes before the owner's jobs.
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
}

struct Task {
    cfg: SessionConfig,
    io: Option<Transport>,
    digester: Digester,
    events: mpsc::UnboundedSender<ModemEvent>,
    internal: VecDeque<Internal>,
    /// Reads (AT+CMGR) that failed, with the time their retry is due. The
    /// main loop moves them back to `internal` when due, so a retry waits
    /// without holding up the owner's jobs.
    retries: Vec<(Instant, Internal)>,
    /// The storage AT+CMGR / AT+CMGD currently address (AT+CPMS mem1).
    read_mem: Option<String>,
    buf: Vec<u8>,
    /// Events digested and not yet consumed, in order.
    evbuf: VecDeque<Event>,
    /// Reused output buffer of the digester.
    fed: Vec<Event>,
    /// Connections to the port so far (see [`Origin::Direct`]).
    link: u32,
    /// Commands the session gave up on (timeouts, an aborted prompt) whose
    /// answers may still come. While non-zero, the next command is preceded
    /// by a resync ([`Task::resync`]); each stray final result that arrives
    /// while no command is pending counts one down.
    stale: u32,
}

/// The outcome of waiting for a response.
enum Waited {
    Response(Response),
    Prompt,
}

impl Task {
    fn new(cfg: SessionConfig, events: mpsc::UnboundedSender<ModemEvent>) -> Task {
        Task {
            cfg,
            io: None,
            digester: Digester::new(),
            events,
            internal: VecDeque::new(),
            retries: Vec::new(),
            read_mem: None,
            buf: vec![0u8; 4096],
            evbuf: VecDeque::new(),
            fed: Vec::new(),
            stale: 0,
            link: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), ModemError> {
        let t = Transport::open(&self.cfg.endpoint, self.cfg.serial)
            .await
            .map_err(|e| ModemError::Open {
                device: self.cfg.endpoint.to_string(),
                reason: e.to_string(),
            })?;
        self.io = Some(t);
        self.digester = Digester::new();
        self.read_mem = None;
        self.link = self.link.wrapping_add(1);
        Ok(())
    }

    /// The start-up sequence. Returns what the modem says about itself.
    async fn initialise(&mut self) -> Result<ModemInfo, ModemError> {
        let ct = self.cfg.command_timeout;
        // Wake the modem and leave any half-typed command or prompt: ESC
        // aborts a pending AT+CMGS body, the CR ends a stray line.
        self.write_raw(b"\x1b\r").await?;
        // The first AT may be eaten by an autobaud or a stale state; retry it.
        let mut alive = false;
        for _ in 0..3 {
            match self.exec("AT", ct).await {
                Ok(_) => {
                    alive = true;
                    break;
                }
                Err(ModemError::Timeout { .. }) | Err(ModemError::Failed { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        if !alive {
            return Err(ModemError::NotResponding {
                device: self.cfg.endpoint.to_string(),
            });
        }
        self.exec("ATE0", ct).await?;
        self.exec("AT+CMEE=1", ct).await?;
        self.unlock_sim().await?;
        for cmd in self.cfg.init.clone() {
            if let Err(e) = self.exec(&cmd, ct).await {
                tracing::warn!(modem = %self.cfg.name, "profile init command {cmd} failed: {e}");
            }
        }
        let registration = self.wait_registered().await?;
        self.exec("AT+CMGF=0", ct).await?;
        if let Err(e) = self.exec(&format!("AT+CSMS={}", self.cfg.csms), ct).await {
            tracing::warn!(modem = %self.cfg.name, "AT+CSMS={} refused: {e}", self.cfg.csms);
        }
        if let Some(cpms) = self.cfg.cpms.clone() {
            self.exec(&cpms, ct).await?;
            self.read_mem = cpms_first_memory(&cpms);
        }
        self.exec(&self.cfg.cnmi.clone(), ct).await?;
        let smsc = self
            .exec("AT+CSCA?", ct)
            .await
            .ok()
            .and_then(|r| at::answers::csca(&r.lines).ok())
            .map(|s| s.number);
        let first = |r: Result<Response, ModemError>| {
            r.ok()
                .and_then(|r| r.lines.into_iter().find(|l| !l.trim().is_empty()))
                .map(|l| l.trim().to_string())
        };
        let manufacturer = first(self.exec("AT+CGMI", ct).await);
        let model = first(self.exec("AT+CGMM", ct).await);
        let revision = first(self.exec("AT+CGMR", ct).await);
        let imei = first(self.exec("AT+CGSN", ct).await);
        let imsi = first(self.exec("AT+CIMI", ct).await);
        let operator = self
            .exec("AT+COPS?", ct)
            .await
            .ok()
            .and_then(|r| at::answers::cops(&r.lines).ok())
            .and_then(|o| o.name);
        let signal = self
            .exec("AT+CSQ", ct)
            .await
            .ok()
            .and_then(|r| at::answers::csq(&r.lines).ok())
            .map(|q| q.rssi);
        let info = ModemInfo {
            name: self.cfg.name.clone(),
            device: self.cfg.endpoint.to_string(),
            manufacturer,
            model,
            revision,
            imei,
            imsi,
            operator,
            signal_rssi: signal,
            registration,
            smsc,
        };
        tracing::info!(modem = %self.cfg.name, model = ?info.model, operator = ?info.operator, "modem ready");
        Ok(info)
    }

    async fn unlock_sim(&mut self) -> Result<(), ModemError> {
        let ct = self.cfg.command_timeout;
        for _ in 0..2 {
            let r = self.exec("AT+CPIN?", ct).await?;
            let state =
                at::answers::cpin(&r.lines).map_err(|e| ModemError::Protocol(e.to_string()))?;
            match state {
                PinState::Ready => return Ok(()),
                PinState::SimPin => {
                    let Some(pin) = self.cfg.pin.clone() else {
                        return Err(ModemError::Sim("the SIM asks for its PIN and none is configured".into()));
                    };
                    // The PIN goes to the modem but never to a log.
                    match self.exec_secret(&format!("AT+CPIN=\"{pin}\""), "AT+CPIN=\"****\"", ct).await {
                        Ok(_) => continue,
                        Err(e) => return Err(ModemError::Sim(format!("the SIM refused the configured PIN ({e})"))),
                    }
                }
                other => return Err(ModemError::Sim(format!("SIM state {other:?}: smsgw cannot continue (enter the PUK or unlock the SIM in a phone)"))),
            }
        }
        Err(ModemError::Sim(
            "the SIM is still locked after entering the PIN".into(),
        ))
    }

    async fn wait_registered(&mut self) -> Result<Option<u8>, ModemError> {
        let deadline = Instant::now() + self.cfg.registration_timeout;
        let mut last = None;
        loop {
            if let Ok(r) = self.exec("AT+CREG?", self.cfg.command_timeout).await {
                if let Ok(reg) = at::answers::registration(&r.lines, RegDomain::Cs) {
                    last = Some(reg.registration.stat);
                    if reg.registration.is_registered() {
                        return Ok(last);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(ModemError::NotRegistered { last_stat: last });
            }
            self.idle_for(Duration::from_millis(1000)).await?;
        }
    }

    /// Read everything the modem already stores (reports and SMS that
    /// arrived while nobody listened) and hand it to the owner.
    async fn read_stored(&mut self) -> Result<(), ModemError> {
        let r = match self.exec("AT+CMGL=4", self.cfg.command_timeout).await {
            Ok(r) => r,
            Err(ModemError::Failed { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mem = self.read_mem.clone().unwrap_or_else(|| "SM".to_string());
        for entry in self.stored_entries(&r.lines) {
            let kind = inbound_kind(&entry.pdu);
            self.emit_inbound(
                kind,
                entry.pdu,
                entry.length,
                Origin::Stored {
                    mem: mem.clone(),
                    index: entry.index.unwrap_or(0),
                },
            );
        }
        self.settle().await
    }

    /// The entries of an AT+CMGL answer. A line that is neither an entry
    /// header nor its PDU (line noise, a stray URC text) is skipped with a
    /// warning rather than losing the whole list.
    fn stored_entries(&self, lines: &[String]) -> Vec<at::answers::StoredPdu> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].trim_start().starts_with("+CMGL:") {
                tracing::warn!(modem = %self.cfg.name, "AT+CMGL: line {} skipped: {:?}", i + 1, lines[i]);
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
                    tracing::warn!(modem = %self.cfg.name, "AT+CMGL: entry at line {} skipped: {e}", i + 1);
                    i += 1;
                }
            }
        }
        out
    }

    /// The main loop: owner jobs one at a time, URCs whenever they come.
    async fn run(
        mut self,
        mut jobs: mpsc::UnboundedReceiver<Job>,
        info: watch::Sender<Option<ModemInfo>>,
    ) {
        loop {
            // Events digested while the last command waited (a +CDS right
            // after the OK of +CMGS or +CNMA comes in the same read) are
            // handled first, and their follow-ups run, until none is left.
            if let Err(e) = self.settle().await {
                if !self.recover(e, &info, &mut jobs).await {
                    return;
                }
                continue;
            }
            let next_retry = self.retries.iter().map(|(due, _)| *due).min();
            let step = {
                let Some(io) = self.io.as_mut() else { return };
                tokio::select! {
                    job = jobs.recv() => match job {
                        Some(job) => Step::Job(job),
                        None => return,
                    },
                    r = io.read(&mut self.buf) => Step::Read(r),
                    _ = tokio::time::sleep_until(next_retry.unwrap_or_else(Instant::now)),
                        if next_retry.is_some() => Step::Retry,
                }
            };
            let result = match step {
                Step::Job(job) => self.run_job(job).await,
                Step::Retry => {
                    // Due retries go to the follow-ups, run by the next settle.
                    let now = Instant::now();
                    let (due, later) = std::mem::take(&mut self.retries)
                        .into_iter()
                        .partition::<Vec<_>, _>(|(t, _)| *t <= now);
                    self.retries = later;
                    self.internal.extend(due.into_iter().map(|(_, job)| job));
                    Ok(())
                }
                Step::Read(Ok(0)) => Err(ModemError::Disconnected {
                    maybe_sent: false,
                    reason: "end of stream".into(),
                }),
                Step::Read(Err(e)) => Err(ModemError::Disconnected {
                    maybe_sent: false,
                    reason: e.to_string(),
                }),
                Step::Read(Ok(n)) => {
                    self.digest(n);
                    Ok(())
                }
            };
            if let Err(e) = result {
                if !self.recover(e, &info, &mut jobs).await {
                    return;
                }
            }
        }
    }

    /// After a failure of the port: report it, then reconnect if configured.
    /// Returns false when the session ends.
    async fn recover(
        &mut self,
        err: ModemError,
        info: &watch::Sender<Option<ModemInfo>>,
        jobs: &mut mpsc::UnboundedReceiver<Job>,
    ) -> bool {
        if !matches!(
            err,
            ModemError::Disconnected { .. } | ModemError::NotResponding { .. }
        ) {
            // Other errors of internal jobs are logged; the session goes on.
            tracing::warn!(modem = %self.cfg.name, "{err}");
            return true;
        }
        self.io = None;
        // Reads and acknowledgements are void on a power-cycled modem (what
        // is stored is listed again after the reconnect), but deleting what
        // the owner already has must still happen, or it comes back twice.
        self.internal
            .retain(|job| matches!(job, Internal::Delete { .. }));
        // Reads waiting for a retry are void too: the listing after the
        // reconnect brings what they would have read.
        self.retries.clear();
        let _ = self.events.send(ModemEvent::Disconnected {
            modem: self.cfg.name.clone(),
            reason: err.to_string(),
        });
        tracing::warn!(modem = %self.cfg.name, "modem lost: {err}");
        if !self.cfg.reconnect {
            return false;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.events.is_closed() {
                return false;
            }
            // While the modem is away, jobs are answered at once: a send
            // fails as "not sent" (nothing was written) instead of waiting
            // for a modem that may never come back.
            let until = tokio::time::Instant::now() + backoff;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    job = jobs.recv() => match job {
                        None => return false,
                        Some(job) => self.refuse_while_away(job),
                    },
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
            if self.connect().await.is_err() {
                continue;
            }
            match self.initialise().await {
                Ok(i) => {
                    info.send_replace(Some(i.clone()));
                    let _ = self.events.send(ModemEvent::Reconnected(i));
                    if let Err(e) = self.drain_internal().await {
                        tracing::warn!(modem = %self.cfg.name, "deleting handed-on messages after reconnect: {e}");
                    }
                    if let Err(e) = self.read_stored().await {
                        tracing::warn!(modem = %self.cfg.name, "reading stored messages after reconnect: {e}");
                    }
                    return true;
                }
                Err(e) => {
                    tracing::info!(modem = %self.cfg.name, "modem back but not ready yet: {e}");
                    self.io = None;
                }
            }
        }
    }

    /// A job that comes while the modem is gone.
    fn refuse_while_away(&mut self, job: Job) {
        let away = || ModemError::Disconnected {
            maybe_sent: false,
            reason: "the modem is away; the part was not sent".into(),
        };
        match job {
            Job::Command { reply, .. } => {
                let _ = reply.send(Err(away()));
            }
            Job::Send { reply, .. } => {
                let _ = reply.send(Err(away()));
            }
            // Deleting what the owner stored must still happen after the
            // reconnect; an acknowledgement (AT+CNMA) of a push from before
            // the unplug would now acknowledge something else: dropped.
            Job::HandedOn(Origin::Stored { mem, index }) => {
                self.internal.push_back(Internal::Delete { mem, index })
            }
            Job::HandedOn(Origin::Direct { .. }) => {}
        }
    }

    async fn run_job(&mut self, job: Job) -> Result<(), ModemError> {
        match job {
            Job::Command {
                cmd,
                timeout,
                reply,
            } => {
                let r = self.exec(&cmd, timeout).await;
                let fatal = is_fatal(&r);
                let _ = reply.send(r.clone());
                fatal.map_or(Ok(()), Err)
            }
            Job::Send {
                tpdu_len,
                hex,
                reply,
            } => {
                let r = self.send(tpdu_len, &hex).await;
                let fatal = match &r {
                    Err(e @ ModemError::Disconnected { .. }) => Some(e.clone()),
                    _ => None,
                };
                let _ = reply.send(r);
                fatal.map_or(Ok(()), Err)
            }
            Job::HandedOn(origin) => {
                match origin {
                    Origin::Direct {
                        needs_ack: true,
                        link,
                    } if link == self.link => self.internal.push_back(Internal::Ack),
                    // Pushed on an earlier connection: acknowledging now
                    // would acknowledge another push (the network sends an
                    // unacknowledged one again).
                    Origin::Direct {
                        needs_ack: true, ..
                    } => tracing::debug!(
                        modem = %self.cfg.name,
                        "acknowledgement of a push from before a reconnect dropped"
                    ),
                    Origin::Direct {
                        needs_ack: false, ..
                    } => {}
                    Origin::Stored { mem, index } => {
                        self.internal.push_back(Internal::Delete { mem, index })
                    }
                }
                Ok(())
            }
        }
    }

    /// Handle the events already digested and run the follow-up commands
    /// they ask for, until both are exhausted (a follow-up's response may
    /// carry new URCs).
    async fn settle(&mut self) -> Result<(), ModemError> {
        loop {
            while let Some(ev) = self.evbuf.pop_front() {
                self.handle_event(ev);
            }
            if self.internal.is_empty() {
                return Ok(());
            }
            self.drain_internal().await?;
        }
    }

    async fn drain_internal(&mut self) -> Result<(), ModemError> {
        while let Some(job) = self.internal.pop_front() {
            let ct = self.cfg.command_timeout;
            let r = match job {
                Internal::Ack => self.exec("AT+CNMA", ct).await.map(|_| ()),
                Internal::Delete { mem, index } => {
                    self.select_memory(&mem).await?;
                    self.exec(&format!("AT+CMGD={index}"), ct).await.map(|_| ())
                }
                Internal::Read {
                    mem,
                    index,
                    kind,
                    failed,
                } => match self.read_stored_one(&mem, index, kind).await {
                    Err(e) if !is_fatal_error(&e) => {
                        self.read_failed(mem, index, kind, failed, &e);
                        Ok(())
                    }
                    r => r,
                },
            };
            match r {
                Ok(()) => {}
                Err(e @ (ModemError::Disconnected { .. } | ModemError::NotResponding { .. })) => {
                    return Err(e)
                }
                Err(e) => tracing::warn!(modem = %self.cfg.name, "follow-up command failed: {e}"),
            }
        }
        Ok(())
    }

    /// AT+CMGR of one announced PDU (+CDSI / +CMTI), handed to the owner.
    async fn read_stored_one(
        &mut self,
        mem: &str,
        index: u32,
        kind: InboundKind,
    ) -> Result<(), ModemError> {
        self.select_memory(mem).await?;
        let cmd = format!("AT+CMGR={index}");
        let resp = self.exec(&cmd, self.cfg.command_timeout).await?;
        let m = at::answers::cmgr(&resp.lines)
            .map_err(|e| ModemError::Protocol(format!("{cmd}: {e}")))?;
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
                mem: mem.to_string(),
                index,
            },
        );
        Ok(())
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
    ) {
        let what = match kind {
            InboundKind::StatusReport => "status report",
            InboundKind::Deliver => "SMS",
        };
        let failed = failed.saturating_add(1);
        if failed > self.cfg.read_retries {
            tracing::warn!(
                modem = %self.cfg.name,
                "reading stored {what} {mem}/{index} failed {failed} times (last: {err}); \
                 left in the modem, it will be read by the next full listing \
                 (AT+CMGL=4 at start or reconnect)"
            );
            return;
        }
        let delay = retry_delay(self.cfg.read_retry_delay, failed);
        tracing::warn!(
            modem = %self.cfg.name,
            "reading stored {what} {mem}/{index} failed ({err}); retry {failed} of {} in {delay:?}",
            self.cfg.read_retries
        );
        self.retries.push((
            Instant::now() + delay,
            Internal::Read {
                mem,
                index,
                kind,
                failed,
            },
        ));
    }

    async fn select_memory(&mut self, mem: &str) -> Result<(), ModemError> {
        if self.read_mem.as_deref() == Some(mem) {
            return Ok(());
        }
        self.exec(&format!("AT+CPMS=\"{mem}\""), self.cfg.command_timeout)
            .await?;
        self.read_mem = Some(mem.to_string());
        Ok(())
    }

    /// One part through AT+CMGS.
    async fn send(&mut self, tpdu_len: usize, hex: &str) -> Result<u8, ModemError> {
        let cmd = format!("AT+CMGS={tpdu_len}");
        let not_sent = |e: ModemError| match e {
            ModemError::Disconnected { reason, .. } => ModemError::Disconnected {
                maybe_sent: false,
                reason: format!("{reason}; the part was not sent"),
            },
            e => e,
        };
        self.resync().await.map_err(not_sent)?;
        self.write_command(&cmd, &cmd).await.map_err(not_sent)?;
        let prompt_deadline = Instant::now() + self.cfg.prompt_timeout;
        loop {
            let left = prompt_deadline.saturating_duration_since(Instant::now());
            match self.wait(&cmd, left, true).await {
                Ok(Waited::Prompt) => break,
                // AT+CMGS=<n> never ends with OK before its prompt: this is
                // the late answer of a command given up on that came after
                // the resync. Dropped; the prompt is still awaited.
                Ok(Waited::Response(r)) if r.result.is_ok() => {
                    self.stale_answer(&r);
                    self.digester.command_sent(&cmd);
                }
                Ok(Waited::Response(r)) => return Err(failed(&cmd, r)),
                Err(ModemError::Timeout { .. }) => {
                    // No prompt: abort with ESC so the modem does not take the
                    // next command for PDU text. Nothing reached the network.
                    // The prompt, or the answer to the ESC, may still come.
                    let _ = self.write_raw(b"\x1b").await;
                    self.digester.cancel();
                    self.gave_up();
                    return Err(ModemError::Timeout {
                        command: cmd,
                        phase: "prompt",
                    });
                }
                Err(e) => return Err(not_sent(e)),
            }
        }
        let mut body = Vec::with_capacity(hex.len() + 1);
        body.extend_from_slice(hex.as_bytes());
        body.push(0x1A);
        self.digester.body_sent(hex);
        if let Err(e) = self.write_raw(&body).await {
            return Err(ModemError::Disconnected {
                maybe_sent: true,
                reason: e.to_string(),
            });
        }
        // From here on the PDU may be in the network: only a refusal
        // (+CMS ERROR and the like) says it is not; anything else that is not
        // a TP-MR is an unknown outcome, never "not sent".
        let unknown = |reason: String| ModemError::OutcomeUnknown {
            command: cmd.clone(),
            reason,
        };
        // On an unknown outcome the answer (+CMGS: <mr> / OK, or an error)
        // may still come: `gave_up` makes the next command resynchronise
        // first, so that it is never read as that command's answer.
        match self.wait(&cmd, self.cfg.send_timeout, false).await {
            Ok(Waited::Response(r)) if r.result.is_ok() => at::answers::cmgs(&r.lines)
                .map_err(|e| unknown(format!("OK without a usable +CMGS line ({e})"))),
            Ok(Waited::Response(r)) => Err(failed(&cmd, r)),
            Ok(Waited::Prompt) => {
                self.digester.cancel();
                self.gave_up();
                Err(unknown("a second prompt after the PDU".into()))
            }
            Err(ModemError::Timeout { .. }) => {
                self.digester.cancel();
                self.gave_up();
                Err(unknown("no answer after the PDU was sent".into()))
            }
            Err(ModemError::Disconnected { reason, .. }) => Err(ModemError::Disconnected {
                maybe_sent: true,
                reason,
            }),
            Err(e) => {
                self.digester.cancel();
                self.gave_up();
                Err(unknown(e.to_string()))
            }
        }
    }

    /// Note a command given up on: its answer may still come.
    fn gave_up(&mut self) {
        self.stale = self.stale.saturating_add(1);
    }

    /// A final result that is not the answer of the command now pending
    /// (it belongs to one the session gave up on): logged and dropped.
    fn stale_answer(&mut self, r: &Response) {
        self.stale = self.stale.saturating_sub(1);
        tracing::debug!(
            modem = %self.cfg.name,
            "stale answer dropped (taken while {} was pending): {:?} {}",
            r.command,
            r.lines,
            r.result
        );
    }

    /// Resynchronise with the modem after a command the session gave up on
    /// (a timed-out AT+CMGS above all), before the next command is written.
    ///
    /// The late answer of that command (`+CMGS: <mr>` / `OK`, `+CMS ERROR`)
    /// could otherwise be read as the answer of the next one, and give the
    /// next part the wrong TP-MR. The approach, in three layers:
    ///
    /// 1. Probe with a bare `AT`, whose only answer is `OK` without
    ///    information lines. The bytes are fed to the digester one at a
    ///    time, re-arming the probe after each final result, so every final
    ///    result comes with its own lines: one with lines (`+CMGS: 5`) or
    ///    that is not OK is stale, logged at debug and dropped; the first bare
    ///    OK ends the probe. URCs met on the way (+CDS, +CMT, +CDSI, +CMTI)
    ///    are handled as always, so no report is lost.
    /// 2. A modem executes commands in order, so a late answer normally
    ///    comes before the probe's OK, and each stale final result counts
    ///    `stale` down. If it is still non-zero after the probe's OK (the
    ///    answer was lost, or this modem answers AT while AT+CMGS is still
    ///    running), the session drains for up to `resync_quiet`, dropping
    ///    stray final results and `+CMGS:` lines, until the count is zero.
    ///    A stale bare OK taken for the probe's is also caught here: the
    ///    probe's own OK then arrives as the stray one.
    /// 3. What comes later still, while no command is pending, is dropped
    ///    by [`Task::handle_event`]; an OK before the prompt of the next
    ///    AT+CMGS is dropped by [`Task::send`]. Only an answer later than
    ///    all that *and* after the next PDU was written could still be
    ///    mistaken, and no host can tell that case apart.
    ///
    /// If the probe gets no OK within the command timeout, the command that
    /// was to follow fails with a timeout (nothing was written for it) and
    /// the next command probes again.
    async fn resync(&mut self) -> Result<(), ModemError> {
        // Stale answers that arrived while idle may have settled it already.
        while let Some(ev) = self.evbuf.pop_front() {
            self.handle_event(ev);
        }
        if self.stale == 0 {
            return Ok(());
        }
        const PROBE: &str = "AT";
        const SHOWN: &str = "AT (resync)";
        tracing::debug!(modem = %self.cfg.name, "resynchronising: {} answer(s) may still come", self.stale);
        self.write_command(PROBE, SHOWN).await?;
        let deadline = Instant::now() + self.cfg.command_timeout;
        let rest = 'probe: loop {
            let Some(n) = self.read_before(deadline).await? else {
                self.digester.cancel();
                self.gave_up();
                return Err(ModemError::Timeout {
                    command: SHOWN.into(),
                    phase: "response",
                });
            };
            let chunk = self.buf[..n].to_vec();
            for (i, byte) in chunk.iter().enumerate() {
                self.digester
                    .feed(std::slice::from_ref(byte), &mut self.fed);
                let mut answered = false;
                for ev in std::mem::take(&mut self.fed) {
                    match ev {
                        _ if answered => self.evbuf.push_back(ev),
                        Event::Response(r)
                            if r.command == PROBE && r.result.is_ok() && r.lines.is_empty() =>
                        {
                            answered = true
                        }
                        Event::Response(r) => {
                            self.stale_answer(&r);
                            self.digester.command_sent(PROBE);
                        }
                        other => self.handle_event(other),
                    }
                }
                if answered {
                    break 'probe chunk[i + 1..].to_vec();
                }
            }
        };
        self.digester.feed(&rest, &mut self.fed);
        self.evbuf.extend(self.fed.drain(..));
        while let Some(ev) = self.evbuf.pop_front() {
            self.handle_event(ev);
        }
        if self.stale > 0 {
            let until = Instant::now() + self.cfg.resync_quiet;
            while self.stale > 0 {
                let Some(n) = self.read_before(until).await? else {
                    break;
                };
                self.digest(n);
            }
            if self.stale > 0 {
                tracing::debug!(modem = %self.cfg.name, "resync: {} late answer(s) never came; going on", self.stale);
            }
        }
        self.stale = 0;
        Ok(())
    }

    async fn exec(&mut self, cmd: &str, timeout: Duration) -> Result<Response, ModemError> {
        self.exec_secret(cmd, cmd, timeout).await
    }

    /// Run a command; `shown` is what logs and errors say it was.
    async fn exec_secret(
        &mut self,
        cmd: &str,
        shown: &str,
        timeout: Duration,
    ) -> Result<Response, ModemError> {
        self.resync().await?;
        self.write_command(cmd, shown).await?;
        match self.wait(shown, timeout, false).await {
            Ok(Waited::Response(r)) if r.result.is_ok() => Ok(r),
            Ok(Waited::Response(r)) => Err(failed(shown, r)),
            Ok(Waited::Prompt) => {
                // The ESC is answered (OK) on many modems.
                let _ = self.write_raw(b"\x1b").await;
                self.digester.cancel();
                self.gave_up();
                Err(ModemError::Protocol(format!("{shown}: unexpected prompt")))
            }
            Err(e) => {
                self.digester.cancel();
                if matches!(e, ModemError::Timeout { .. }) {
                    self.gave_up();
                }
                Err(e)
            }
        }
    }

    async fn write_command(&mut self, cmd: &str, shown: &str) -> Result<(), ModemError> {
        tracing::trace!(modem = %self.cfg.name, "-> {shown}");
        self.digester.command_sent(cmd);
        let mut line = Vec::with_capacity(cmd.len() + 1);
        line.extend_from_slice(cmd.as_bytes());
        line.push(b'\r');
        self.write_raw(&line).await
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ModemError> {
        let io = self.io.as_mut().ok_or(ModemError::Disconnected {
            maybe_sent: false,
            reason: "port closed".into(),
        })?;
        let r = async {
            io.write_all(bytes).await?;
            io.flush().await
        }
        .await;
        r.map_err(|e| ModemError::Disconnected {
            maybe_sent: false,
            reason: e.to_string(),
        })
    }

    /// Read until the pending command's response (or the prompt, when
    /// `prompt` is set) arrives, handling URCs on the way.
    async fn wait(
        &mut self,
        cmd: &str,
        timeout: Duration,
        prompt: bool,
    ) -> Result<Waited, ModemError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Events already digested come first.
            while let Some(ev) = self.evbuf.pop_front() {
                match ev {
                    Event::Response(r) => return Ok(Waited::Response(r)),
                    Event::Prompt if prompt => return Ok(Waited::Prompt),
                    other => self.handle_event(other),
                }
            }
            let Some(n) = self.read_before(deadline).await? else {
                return Err(ModemError::Timeout {
                    command: cmd.to_string(),
                    phase: if prompt { "prompt" } else { "response" },
                });
            };
            self.digester.feed(&self.buf[..n], &mut self.fed);
            self.evbuf.extend(self.fed.drain(..));
        }
    }

    /// Wait `d` while handling URCs (between registration polls).
    async fn idle_for(&mut self, d: Duration) -> Result<(), ModemError> {
        let deadline = Instant::now() + d;
        while let Some(n) = self.read_before(deadline).await? {
            self.digest(n);
        }
        Ok(())
    }

    /// Read into `buf` until `deadline`: `Some(n)` bytes, `None` when the
    /// deadline passed, an error when the port is gone (end of stream too).
    async fn read_before(&mut self, deadline: Instant) -> Result<Option<usize>, ModemError> {
        let gone = |reason: String| ModemError::Disconnected {
            maybe_sent: false,
            reason,
        };
        let io = self.io.as_mut().ok_or_else(|| gone("port closed".into()))?;
        match tokio::time::timeout_at(deadline, io.read(&mut self.buf)).await {
            Err(_) => Ok(None),
            Ok(Ok(0)) => Err(gone("end of stream".into())),
            Ok(Err(e)) => Err(gone(e.to_string())),
            Ok(Ok(n)) => Ok(Some(n)),
        }
    }

    /// Feed `n` bytes of `buf` while no command is pending.
    fn digest(&mut self, n: usize) {
        self.digester.feed(&self.buf[..n], &mut self.fed);
        self.evbuf.extend(self.fed.drain(..));
        while let Some(ev) = self.evbuf.pop_front() {
            self.handle_event(ev);
        }
    }

    fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Urc(urc) => self.handle_urc(urc),
            Event::Error(e @ DigestError::UnexpectedResult(_)) => {
                // The late answer of a command given up on.
                self.stale = self.stale.saturating_sub(1);
                tracing::debug!(modem = %self.cfg.name, "stale answer dropped: {e}")
            }
            Event::Error(e) => tracing::debug!(modem = %self.cfg.name, "AT stream: {e}"),
            Event::Prompt => tracing::debug!(modem = %self.cfg.name, "stray prompt ignored"),
            Event::Response(r) => self.stale_answer(&r),
        }
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
                tracing::debug!(modem = %self.cfg.name, "stale answer line dropped: {line}")
            }
            other => {
                tracing::debug!(modem = %self.cfg.name, "URC {other:?}");
                let _ = self.events.send(ModemEvent::Unsolicited {
                    modem: self.cfg.name.clone(),
                    urc: other,
                });
            }
        }
    }

    fn emit_inbound(&mut self, kind: InboundKind, pdu: Vec<u8>, tpdu_len: usize, origin: Origin) {
        let inbound = Inbound {
            modem: self.cfg.name.clone(),
            kind,
            pdu,
            tpdu_len,
            origin,
        };
        let _ = self.events.send(ModemEvent::Inbound(inbound));
    }
}

enum Step {
    Job(Job),
    Read(std::io::Result<usize>),
    /// A failed read's retry is due.
    Retry,
}

/// The delay before retry number `n` (1, 2, ...): `base`, twice that, four
/// times... capped at 64 times `base`.
fn retry_delay(base: Duration, n: u32) -> Duration {
    base.saturating_mul(1u32 << n.saturating_sub(1).min(6))
}

fn failed(cmd: &str, r: Response) -> ModemError {
    ModemError::Failed {
        command: cmd.to_string(),
        result: r.result,
    }
}

fn is_fatal<T>(r: &Result<T, ModemError>) -> Option<ModemError> {
    match r {
        Err(e) if is_fatal_error(e) => Some(e.clone()),
        _ => None,
    }
}

/// The port is gone or the modem does not answer at all: the session
/// reconnects.
fn is_fatal_error(e: &ModemError) -> bool {
    matches!(
        e,
        ModemError::Disconnected { .. } | ModemError::NotResponding { .. }
    )
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
    fn read_retry_delay_grows_and_is_capped() {
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
        // 07 91 ... SMSC, then first octet 0x06: status report.
        let sr = [0x00, 0x06, 0x40];
        assert_eq!(inbound_kind(&sr), InboundKind::StatusReport);
        let deliver = [0x00, 0x04, 0x0B];
        assert_eq!(inbound_kind(&deliver), InboundKind::Deliver);
    }
}
