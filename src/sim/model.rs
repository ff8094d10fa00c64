//! The simulated modem's behaviour, sans-IO: bytes from the host go in with
//! the current time, bytes for the host come out with the time they are due.
//! The driver (`sim::run`) moves them over a pty or TCP; tests may drive the
//! model directly.
//!
//! It behaves like a 27.005 modem in PDU mode for everything the session
//! uses: echo, +CMEE, PIN, registration, identity, +CSMS/+CNMI/+CPMS/+CSCA,
//! AT+CMGS with the `> ` prompt, +CDS (optionally needing +CNMA) or +CDSI
//! with storage read back by +CMGR/+CMGL and deleted by +CMGD, incoming SMS
//! as +CMT or +CMTI. Faults: latency, +CMS ERROR rate, garbage and URC noise,
//! URCs inside a response, an unplug after a number of commands, a slow
//! answer to one AT+CMGS ([`SimModem::answer_next_submit_after`]) and failing
//! AT+CMGR reads ([`SimModem::fail_next_reads`]). Every random choice comes
//! from one seeded generator, so a run is reproducible.
//!
//! Beyond what the session sends, it answers what common AT clients (Gammu,
//! SMS Server Tools, terminal users) send: see [`tools`] for identification,
//! power (AT+CFUN, with a reset), character sets, storage selection, test
//! (`=?`) forms and scripted USSD.

mod tools;

pub use tools::UssdReply;

use std::collections::{BTreeMap, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::codec;
use crate::at::{format, CommandReader, ModemInput, ReaderError, Urc};

/// How the modem hands status reports to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMode {
    /// `+CDS: <len>` followed by the PDU line (AT+CNMI ds=1).
    Direct,
    /// Stored, announced by `+CDSI: "<mem>",<index>` (AT+CNMI ds=2).
    Stored,
}

/// Relative weights of the outcomes of a submitted part with TP-SRR set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomeMix {
    /// TP-ST 0x00.
    pub delivered: u32,
    /// TP-ST 0x46 (validity period expired).
    pub expired: u32,
    /// TP-ST 0x41 (incompatible destination, permanent).
    pub permanent: u32,
    /// TP-ST 0x21 (SME busy, SC still trying), then a final 0x00 later.
    pub temporary: u32,
}

impl Default for OutcomeMix {
    fn default() -> Self {
        OutcomeMix {
            delivered: 1,
            expired: 0,
            permanent: 0,
            temporary: 0,
        }
    }
}

/// What the modem says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub manufacturer: String,
    pub model: String,
    pub revision: String,
    pub imei: String,
    pub imsi: String,
    /// The SIM's serial number (AT+CCID and its vendor forms).
    pub iccid: String,
    pub operator: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            manufacturer: "smsgw".into(),
            model: "SIMULATED-MODEM".into(),
            revision: "sim-1.0".into(),
            imei: "356938035643809".into(),
            imsi: "222015550000001".into(),
            iccid: "8939015550000000012".into(),
            operator: "SIMNET".into(),
        }
    }
}

/// Everything that shapes one simulated modem.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Echo on after power-up / ATZ (real modems: on).
    pub echo_default: bool,
    pub report_mode: ReportMode,
    /// With AT+CSMS=1 in effect, +CDS must be acknowledged by AT+CNMA within
    /// `cnma_timeout_ms`, or the modem turns report routing off (27.005 §3.4.1).
    pub cnma_required: bool,
    pub cnma_timeout_ms: u64,
    /// First TP-MR handed out; wraps after 255.
    pub mr_start: u8,
    /// Delay before every response.
    pub latency_ms: u64,
    /// Delay between submit and its report (uniform in the range).
    pub report_delay_ms: (u64, u64),
    /// For a temporary outcome: delay between the 0x21 report and the final one.
    pub temporary_followup_ms: u64,
    pub outcomes: OutcomeMix,
    /// Recipients whose number ends with the suffix always get this TP-ST.
    pub forced_status: Vec<(String, u8)>,
    /// Probability that an AT+CMGS is refused with `+CMS ERROR: <cms_error_code>`.
    pub cms_error_rate: f64,
    pub cms_error_code: u16,
    /// Probability of a garbage line before a response.
    pub garbage_rate: f64,
    /// Probability of an unrelated URC (^RSSI, +CREG) inside a response.
    pub urc_noise_rate: f64,
    /// Deliver due status reports inside the response of the command in
    /// progress (between its information lines and its final result).
    pub urc_mid_response: bool,
    pub seed: u64,
    /// The SMSC (+CSCA) and the one stamped into reports.
    pub smsc: String,
    /// The SMSC clock minus ours, in seconds (SCTS = submit time + offset).
    pub smsc_clock_offset_s: i64,
    /// Time zone of the SMSC's timestamps, in quarter hours.
    pub smsc_tz_quarters: i8,
    /// SIM PIN; `None` means the SIM is ready.
    pub pin: Option<String>,
    /// Wrong PINs the SIM takes before it wants the PUK (real SIMs: 3).
    /// The count is on the SIM: it survives an unplug.
    pub pin_attempts: u8,
    /// The PUK that unblocks the SIM (`AT+CPIN="<puk>","<new pin>"`).
    pub puk: String,
    pub identity: Identity,
    /// Vendor commands accepted with OK (a profile's init commands).
    pub extra_ok_commands: Vec<String>,
    /// Memory named in +CDSI / +CMTI.
    pub memory: String,
    /// After this many commands the modem vanishes (the driver closes the port).
    pub unplug_after_commands: Option<u32>,
    /// How long the device stays away after that unplug.
    pub replug_after_ms: u64,
    /// Scripted USSD answers ([`tools`]): the code (or a menu path such as
    /// `*101#>1`) and what the network answers.
    pub ussd: Vec<(String, UssdReply)>,
    /// Delay between AT+CUSD and the network's +CUSD answer.
    pub ussd_delay_ms: u64,
    /// An open USSD menu left unanswered this long is closed by the
    /// network (`+CUSD: 2`).
    pub ussd_session_timeout_ms: u64,
    /// USSD strings go both ways as GSM 7-bit packed octets in hex, as on
    /// some Huawei and ZTE firmwares (in the GSM character set).
    pub ussd_packed: bool,
    /// The first message storage index (0 on Huawei E1xx, 1 on most modems;
    /// SMS Server Tools reads from 1).
    pub first_index: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            echo_default: true,
            report_mode: ReportMode::Direct,
            cnma_required: false,
            cnma_timeout_ms: 15_000,
            mr_start: 0,
            latency_ms: 0,
            report_delay_ms: (0, 0),
            temporary_followup_ms: 0,
            outcomes: OutcomeMix::default(),
            forced_status: Vec::new(),
            cms_error_rate: 0.0,
            cms_error_code: 332,
            garbage_rate: 0.0,
            urc_noise_rate: 0.0,
            urc_mid_response: false,
            seed: 1,
            smsc: "+393359609600".into(),
            smsc_clock_offset_s: 0,
            smsc_tz_quarters: 4,
            pin: None,
            pin_attempts: 3,
            puk: "12345678".into(),
            identity: Identity::default(),
            extra_ok_commands: Vec::new(),
            memory: "SM".into(),
            unplug_after_commands: None,
            replug_after_ms: 500,
            ussd: tools::default_ussd(),
            ussd_delay_ms: 300,
            ussd_session_timeout_ms: 30_000,
            ussd_packed: false,
            first_index: 0,
        }
    }
}

/// A record the simulated network keeps about each submitted part; tests use
/// it as the ground truth the gateway's matching is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRecord {
    /// Sequence number of the submit on this modem (0, 1, 2, ...).
    pub seq: u64,
    pub mr: u8,
    pub recipient: String,
    pub srr: bool,
    pub submitted_unix_ms: i64,
    /// The SCTS stamped on its reports (SMSC clock, whole seconds).
    pub scts_unix: i64,
    /// TP-ST values of the reports scheduled for it, in order.
    pub statuses: Vec<u8>,
}

/// A status report the simulated modem handed to the host (see
/// [`SimModem::reports_log`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// [`SubmitRecord::seq`] of the submit it answers.
    pub submit: u64,
    /// The PDU as handed over (SMSC prefix + TPDU), upper-case hex.
    pub pdu_hex: String,
    /// When it was handed over (pushed or stored), unix ms.
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
struct StoredPdu {
    /// 0 received unread, 1 received read (27.005 <stat> in PDU mode).
    stat: u8,
    /// SMSC prefix + TPDU.
    pdu: Vec<u8>,
    tpdu_len: usize,
}

#[derive(Debug, Clone)]
enum Scheduled {
    Report {
        pdu: Vec<u8>,
        tpdu_len: usize,
        /// [`SubmitRecord::seq`] of the submit it answers.
        submit: u64,
    },
    Incoming {
        pdu: Vec<u8>,
        tpdu_len: usize,
    },
    /// A USSD answer (+CUSD) for session `session`; dropped if the session
    /// was cancelled meanwhile.
    Ussd {
        session: u64,
        text: Vec<u8>,
    },
    /// The network closes USSD session `session` if it is still open.
    UssdTimeout {
        session: u64,
    },
}

#[derive(Debug)]
enum InputMode {
    Command,
    /// After `> `: collecting the PDU hex until Ctrl-Z (send) or ESC (abort).
    Pdu {
        tpdu_len: usize,
    },
}

/// The limit of one command line or PDU body; longer input is discarded.
const MAX_INPUT: usize = 4096;

/// The modem side's reader of host input (the AT engine's).
fn reader() -> CommandReader {
    CommandReader::with_limits(MAX_INPUT, MAX_INPUT)
}

/// How many recent commands [`SimModem::command_log`] keeps.
pub const COMMAND_LOG_LEN: usize = 256;

/// The simulated modem.
pub struct SimModem {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    echo: bool,
    cmee: u8,
    pin_ok: bool,
    /// The SIM's lock: the PIN it wants now (a PUK unblock changes it),
    /// and the attempts left before it wants the PUK.
    sim_pin: Option<String>,
    pin_left: u8,
    puk_left: u8,
    /// Every AT+CPIN=... received (PIN or PUK), for tests.
    pin_entries: u32,
    csms: u8,
    cnmi: [u8; 5],
    creg_n: u8,
    next_mr: u8,
    /// Command lines and PDU bodies out of the host's bytes.
    reader: CommandReader,
    mode: InputMode,
    /// Output with the time it is due.
    out: VecDeque<(i64, Vec<u8>)>,
    /// Last due time handed out, so output stays in order.
    out_clock: i64,
    scheduled: BTreeMap<(i64, u64), Scheduled>,
    sched_seq: u64,
    storage: BTreeMap<u32, StoredPdu>,
    /// +CDS / +CMT sent and not yet acknowledged: the deadline for AT+CNMA.
    cnma_deadline: Option<i64>,
    /// Direct URCs waiting for the acknowledgement of the previous one.
    held: VecDeque<Scheduled>,
    /// The direct URC awaiting AT+CNMA. Unacknowledged, the network never
    /// counted it as delivered: after an unplug (or the CNMA timeout) it is
    /// delivered again, as an SMSC retries a report the ME did not accept.
    unacked: Option<Scheduled>,
    commands_seen: u32,
    /// Resets asked for by AT+CFUN=<fun>,1 so far.
    resets: u32,
    /// The last commands received (bounded), for tests to inspect.
    command_log: VecDeque<String>,
    unplugged: bool,
    /// Vanish right after the next PDU body is accepted (before answering).
    unplug_on_submit: bool,
    /// Answer the next accepted PDU body only after this many ms.
    slow_submit_ms: Option<u64>,
    /// AT+CMGR commands still to be refused with +CMS ERROR 500.
    failing_reads: u32,
    /// The state the common-tool commands change ([`tools`]).
    tools: tools::ToolState,
    submits: Vec<SubmitRecord>,
    reports_sent: u64,
    reports_log: Vec<ReportRecord>,
}

impl SimModem {
    pub fn new(cfg: SimConfig) -> SimModem {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        SimModem {
            echo: cfg.echo_default,
            cmee: 0,
            pin_ok: cfg.pin.is_none(),
            sim_pin: cfg.pin.clone(),
            pin_left: cfg.pin_attempts,
            puk_left: 10,
            pin_entries: 0,
            csms: 0,
            cnmi: [0; 5],
            creg_n: 0,
            next_mr: cfg.mr_start,
            reader: reader(),
            mode: InputMode::Command,
            out: VecDeque::new(),
            out_clock: i64::MIN,
            scheduled: BTreeMap::new(),
            sched_seq: 0,
            storage: BTreeMap::new(),
            cnma_deadline: None,
            held: VecDeque::new(),
            unacked: None,
            commands_seen: 0,
            resets: 0,
            command_log: VecDeque::new(),
            unplugged: false,
            unplug_on_submit: false,
            slow_submit_ms: None,
            failing_reads: 0,
            tools: tools::ToolState::default(),
            submits: Vec::new(),
            reports_sent: 0,
            reports_log: Vec::new(),
            rng,
            cfg,
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Every part submitted so far, in order (the simulated network's log).
    pub fn submits(&self) -> &[SubmitRecord] {
        &self.submits
    }

    /// Every status report handed to the host (pushed as +CDS, or put in
    /// the modem's memory), in that order, with the submit it answers: the
    /// ground truth for which part a report belongs to, even when two
    /// reports are byte for byte alike.
    pub fn reports_log(&self) -> &[ReportRecord] {
        &self.reports_log
    }

    fn log_report(&mut self, submit: u64, pdu: &[u8], now_ms: i64) {
        self.reports_log.push(ReportRecord {
            submit,
            pdu_hex: crate::pdu::hex::encode(pdu),
            at_ms: now_ms,
        });
    }

    /// Status reports handed to the host (+CDS or +CDSI) so far.
    pub fn reports_sent(&self) -> u64 {
        self.reports_sent
    }

    /// Commands received so far (lines starting with AT).
    pub fn commands_seen(&self) -> u32 {
        self.commands_seen
    }

    /// The last commands received, oldest first (at most
    /// [`COMMAND_LOG_LEN`]), as the host typed them.
    pub fn command_log(&self) -> impl Iterator<Item = &str> {
        self.command_log.iter().map(String::as_str)
    }

    /// The indices of the messages and reports in storage.
    pub fn stored_indices(&self) -> Vec<u32> {
        self.storage.keys().copied().collect()
    }

    /// Vanish after `n` more commands (the command that crosses the limit is
    /// not answered).
    pub fn unplug_after_more_commands(&mut self, n: u32) {
        self.cfg.unplug_after_commands = Some(self.commands_seen + n);
    }

    /// Vanish right after the next PDU body is accepted: the network has the
    /// part (its report comes later), but the host never sees `+CMGS`.
    pub fn unplug_on_next_submit(&mut self) {
        self.unplug_on_submit = true;
    }

    /// Answer the next accepted PDU body (`+CMGS: <mr>`, `OK`) only `ms`
    /// after it came, as a modem waiting long for the network does. The part
    /// is in the network at once (its report is scheduled as usual). Output
    /// stays in order, so everything the modem says after it (answers to
    /// commands typed meanwhile, URCs) comes after that late answer: the
    /// modem is busy, as real ones are while AT+CMGS runs.
    pub fn answer_next_submit_after(&mut self, ms: u64) {
        self.slow_submit_ms = Some(ms);
    }

    /// Refuse the next `n` AT+CMGR commands with `+CMS ERROR: 500` (unknown
    /// error), as a busy SIM does; the stored PDU stays where it is.
    pub fn fail_next_reads(&mut self, n: u32) {
        self.failing_reads = n;
    }

    /// True once the configured unplug point is reached: the driver should
    /// close the port.
    pub fn unplugged(&self) -> bool {
        self.unplugged
    }

    /// Power cycle after an unplug: volatile settings reset, storage kept,
    /// the MR counter kept (as on most modems; configurable resets are a
    /// later feature), pending reports still come.
    pub fn replug(&mut self) {
        self.unplugged = false;
        self.echo = self.cfg.echo_default;
        self.cmee = 0;
        self.csms = 0;
        self.cnmi = [0; 5];
        // Powered again: the SIM asks for its PIN again (the attempts
        // left are kept on the SIM).
        self.pin_ok = self.sim_pin.is_none();
        self.reader = reader();
        self.mode = InputMode::Command;
        self.out.clear();
        self.cnma_deadline = None;
        if let Some(ev) = self.unacked.take() {
            self.held.push_front(ev);
        }
        self.cfg.unplug_after_commands = None;
        self.unplug_on_submit = false;
        self.slow_submit_ms = None;
        self.failing_reads = 0;
        self.tools = tools::ToolState::default();
        self.scheduled
            .retain(|_, ev| !matches!(ev, Scheduled::Ussd { .. } | Scheduled::UssdTimeout { .. }));
    }

    /// Bytes from the host.
    pub fn handle_input(&mut self, bytes: &[u8], now_ms: i64) {
        // One byte at a time: a command may switch the reader to a PDU
        // body (AT+CMGS) before the next byte is read.
        let mut inputs = Vec::new();
        for &b in bytes {
            if self.unplugged || self.tools.resetting() {
                // Gone, or restarting: nothing is read.
                return;
            }
            self.reader.feed(&[b], &mut inputs);
            for input in inputs.drain(..) {
                self.on_input(input, now_ms);
            }
        }
    }

    /// Queue an incoming SMS (one or more DELIVER PDUs with SMSC prefix).
    pub fn inject_incoming(&mut self, pdus: Vec<(Vec<u8>, usize)>, at_ms: i64) {
        for (pdu, tpdu_len) in pdus {
            self.schedule(at_ms, Scheduled::Incoming { pdu, tpdu_len });
        }
    }

    /// The earliest time something is due (output or a scheduled event).
    pub fn next_deadline(&self) -> Option<i64> {
        let out = self.out.front().map(|(t, _)| *t);
        // While a command or PDU is being typed, URCs wait for the input
        // (they are not due before it comes): a past time here would hide
        // the output that is due.
        let blocked = !matches!(self.mode, InputMode::Command) || !self.reader.is_idle();
        let sched = self
            .scheduled
            .keys()
            .next()
            .map(|(t, _)| *t)
            .filter(|_| !blocked);
        let cnma = self.cnma_deadline;
        // Held URCs go out as soon as the acknowledgement came.
        let held =
            (!blocked && !self.held.is_empty() && self.cnma_deadline.is_none()).then_some(i64::MIN);
        let reset = self.tools.reset_at;
        [out, sched, cnma, held, reset].into_iter().flatten().min()
    }

    /// Run what is due and return the bytes due for the host.
    pub fn poll_output(&mut self, now_ms: i64) -> Vec<u8> {
        self.run_due(now_ms);
        let mut bytes = Vec::new();
        while let Some((t, _)) = self.out.front() {
            if *t > now_ms {
                break;
            }
            if let Some((_, chunk)) = self.out.pop_front() {
                bytes.extend_from_slice(&chunk);
            }
        }
        if self.tools.reset_pending && self.out.is_empty() {
            // AT+CFUN=1,1 answered: the modem restarts a moment later (the
            // answer reaches the host first), and its port goes away.
            self.tools.reset_pending = false;
            self.tools.reset_at = Some(now_ms + tools::RESET_AFTER_ANSWER_MS);
        }
        if self.tools.reset_at.is_some_and(|t| t <= now_ms) {
            self.tools.reset_at = None;
            self.unplugged = true;
            self.resets += 1;
        }
        bytes
    }

    fn run_due(&mut self, now_ms: i64) {
        if self.unplugged {
            return;
        }
        if let Some(deadline) = self.cnma_deadline {
            if now_ms >= deadline {
                // 27.005 §3.4.1: no acknowledgement in time, routing to the TE is
                // switched off (<mt> and <ds> set to 0).
                self.cnma_deadline = None;
                self.cnmi[1] = 0;
                self.cnmi[3] = 0;
                // The network retries it; with routing off it is stored.
                if let Some(ev) = self.unacked.take() {
                    self.held.push_front(ev);
                }
            }
        }
        // While a command is being answered or a PDU is being typed, URCs wait
        // unless the urc_mid_response fault is on (then they go inside responses).
        if !matches!(self.mode, InputMode::Command) || !self.reader.is_idle() {
            return;
        }
        self.release_held(now_ms, None);
        while let Some((&(t, seq), _)) = self.scheduled.iter().next() {
            if t > now_ms {
                break;
            }
            if let Some(ev) = self.scheduled.remove(&(t, seq)) {
                if let Some(text) = self.deliver_event(ev, now_ms) {
                    self.emit_at(now_ms, text);
                }
            }
        }
    }

    fn schedule(&mut self, at_ms: i64, ev: Scheduled) {
        self.sched_seq += 1;
        self.scheduled.insert((at_ms, self.sched_seq), ev);
    }

    /// Turn a due event into the URC text for the host (storing it when the
    /// dialect stores). `None` when the event is held back (e.g. awaiting CNMA).
    fn deliver_event(&mut self, ev: Scheduled, now_ms: i64) -> Option<Vec<u8>> {
        match ev {
            Scheduled::Report {
                pdu,
                tpdu_len,
                submit,
            } => {
                let ds = self.cnmi[3];
                if ds == 1 && self.cfg.report_mode == ReportMode::Direct {
                    if self.cnma_deadline.is_some() || !self.held.is_empty() {
                        // Previous +CDS / +CMT not yet acknowledged: hold
                        // this one back until AT+CNMA comes (in order).
                        self.held.push_back(Scheduled::Report {
                            pdu,
                            tpdu_len,
                            submit,
                        });
                        return None;
                    }
                    let text = urc_bytes(&Urc::StatusReport {
                        len: tpdu_len,
                        pdu: pdu.clone(),
                    });
                    self.log_report(submit, &pdu, now_ms);
                    if self.expect_cnma(now_ms) {
                        self.unacked = Some(Scheduled::Report {
                            pdu,
                            tpdu_len,
                            submit,
                        });
                    }
                    self.reports_sent += 1;
                    Some(text)
                } else {
                    self.log_report(submit, &pdu, now_ms);
                    let index = self.store(pdu, tpdu_len);
                    if ds == 2 || (ds == 1 && self.cfg.report_mode == ReportMode::Stored) {
                        self.reports_sent += 1;
                        Some(urc_bytes(&Urc::StatusReportStored {
                            mem: self.cfg.memory.clone(),
                            index,
                        }))
                    } else {
                        None
                    }
                }
            }
            Scheduled::Ussd { session, text } => self.ussd_due(session, text),
            Scheduled::UssdTimeout { session } => self.ussd_timeout(session),
            Scheduled::Incoming { pdu, tpdu_len } => match self.cnmi[1] {
                2 => {
                    if self.cnma_deadline.is_some() || !self.held.is_empty() {
                        self.held.push_back(Scheduled::Incoming { pdu, tpdu_len });
                        return None;
                    }
                    let text = urc_bytes(&Urc::Deliver {
                        alpha: None,
                        len: tpdu_len,
                        pdu: pdu.clone(),
                    });
                    if self.expect_cnma(now_ms) {
                        self.unacked = Some(Scheduled::Incoming { pdu, tpdu_len });
                    }
                    Some(text)
                }
                1 => {
                    let index = self.store(pdu, tpdu_len);
                    Some(urc_bytes(&Urc::MessageStored {
                        mem: self.cfg.memory.clone(),
                        index,
                    }))
                }
                _ => {
                    self.store(pdu, tpdu_len);
                    None
                }
            },
        }
    }

    /// With AT+CSMS=1 and a dialect that needs it, a direct URC must be
    /// acknowledged with AT+CNMA before the next one (27.005 §3.4.1).
    /// Returns true when an acknowledgement is now awaited.
    fn expect_cnma(&mut self, now_ms: i64) -> bool {
        if self.cfg.cnma_required && self.csms == 1 {
            self.cnma_deadline = Some(now_ms + self.cfg.cnma_timeout_ms as i64);
            return true;
        }
        false
    }

    /// Deliver held direct URCs while no acknowledgement is awaited. With
    /// `into`, they go into that response text; otherwise out on their own.
    fn release_held(&mut self, now_ms: i64, mut into: Option<&mut Vec<u8>>) {
        while self.cnma_deadline.is_none() {
            let Some(ev) = self.held.pop_front() else {
                break;
            };
            // Delivered as if new (it may be stored if routing changed);
            // the rest stays held, in order.
            let rest = std::mem::take(&mut self.held);
            let text = self.deliver_event(ev, now_ms);
            self.held.extend(rest);
            if let Some(text) = text {
                match into.as_deref_mut() {
                    Some(buf) => buf.extend_from_slice(&text),
                    None => self.emit_at(now_ms, text),
                }
            }
        }
    }

    fn store(&mut self, pdu: Vec<u8>, tpdu_len: usize) -> u32 {
        let first = self.cfg.first_index;
        let index = (first..)
            .find(|i| !self.storage.contains_key(i))
            .unwrap_or(first);
        self.storage.insert(
            index,
            StoredPdu {
                stat: 0,
                pdu,
                tpdu_len,
            },
        );
        index
    }

    fn emit_at(&mut self, at_ms: i64, bytes: Vec<u8>) {
        let t = at_ms.max(self.out_clock);
        self.out_clock = t;
        self.out.push_back((t, bytes));
    }

    /// A command line or PDU body from the host.
    fn on_input(&mut self, input: ModemInput, now_ms: i64) {
        match input {
            ModemInput::Command(command) => {
                let line = format!("AT{command}");
                self.echo_line(&line, now_ms);
                self.command_line(&line, now_ms);
            }
            // Not a command: real modems echo and ignore such lines.
            ModemInput::Error(ReaderError::NotAt { line }) => self.echo_line(&line, now_ms),
            // Dropped by the reader, as a real modem's buffer would.
            ModemInput::Error(ReaderError::LineTooLong { .. }) => {}
            ModemInput::Error(ReaderError::NothingToRepeat) => {
                self.respond(now_ms, &[], Final::Error)
            }
            ModemInput::Body(body) => {
                let tpdu_len = match std::mem::replace(&mut self.mode, InputMode::Command) {
                    InputMode::Pdu { tpdu_len } => tpdu_len,
                    InputMode::Command => 0,
                };
                self.submit(&body, tpdu_len, now_ms);
            }
            ModemInput::Error(ReaderError::BodyTooLong { .. }) => {
                self.mode = InputMode::Command;
                // 27.005 +CMS ERROR 304: invalid PDU mode parameter.
                self.respond(now_ms, &[], Final::Cms(304));
            }
            ModemInput::BodyAborted => {
                // ESC aborts the send; the modem answers OK (V.25ter practice).
                self.mode = InputMode::Command;
                self.respond(now_ms, &[], Final::Ok);
            }
        }
    }

    /// Echo a line the host typed (ATE1), ended with CR as typed.
    fn echo_line(&mut self, line: &str, now_ms: i64) {
        if self.echo {
            let mut e = line.as_bytes().to_vec();
            e.push(b'\r');
            self.emit_at(now_ms, e);
        }
    }

    fn command_line(&mut self, line: &str, now_ms: i64) {
        let upper = line.to_ascii_uppercase();
        if !upper.starts_with("AT") {
            // Not a command: real modems ignore such lines.
            return;
        }
        self.commands_seen += 1;
        if self.command_log.len() == COMMAND_LOG_LEN {
            self.command_log.pop_front();
        }
        self.command_log.push_back(line.to_string());
        if let Some(limit) = self.cfg.unplug_after_commands {
            if self.commands_seen > limit {
                self.unplugged = true;
                self.out.clear();
                return;
            }
        }
        let body = &line[2..];
        let ubody = &upper[2..];
        let parts = tools::split_chain(body);
        if parts.len() > 1 {
            // `AT+CMEE=1;+CREG=2` (V.250 5.4.2): each in turn, one final
            // result; the first failure ends the line.
            let mut lines = Vec::new();
            for part in parts {
                let upart = part.to_ascii_uppercase();
                match self.execute(part, &upart, now_ms) {
                    Some((more, Final::Ok)) => lines.extend(more),
                    Some((more, fin)) => {
                        lines.extend(more);
                        self.respond(now_ms, &lines, fin);
                        return;
                    }
                    // AT+CMGS waits for its PDU: only last on a line.
                    None => return,
                }
            }
            self.respond(now_ms, &lines, Final::Ok);
            return;
        }
        let result = self.execute(body, ubody, now_ms);
        if let Some((lines, fin)) = result {
            self.respond(now_ms, &lines, fin);
        }
    }

    /// Execute one command (a chained line is split by the caller).
    fn execute(&mut self, body: &str, ubody: &str, now_ms: i64) -> Option<(Vec<String>, Final)> {
        let ok = |lines: Vec<String>| Some((lines, Final::Ok));
        let id = self.cfg.identity.clone();
        let needs_sim = |s: &Self| !s.pin_ok;
        if let Some(answer) = self.execute_tool(body, ubody, now_ms) {
            return answer;
        }
        match ubody {
            "" => ok(vec![]),
            "Z" | "&F" => {
                self.echo = self.cfg.echo_default;
                self.cmee = 0;
                self.cnmi = [0; 5];
                ok(vec![])
            }
            "E0" => {
                self.echo = false;
                ok(vec![])
            }
            "E1" | "E" => {
                self.echo = true;
                ok(vec![])
            }
            "I" | "I0" => ok(vec![
                id.manufacturer.clone(),
                id.model.clone(),
                format!("Revision: {}", id.revision),
            ]),
            "+CGMI" | "+GMI" => ok(vec![id.manufacturer]),
            "+CGMM" | "+GMM" => ok(vec![id.model]),
            "+CGMR" | "+GMR" => ok(vec![id.revision]),
            "+CGSN" | "+GSN" => ok(vec![id.imei]),
            "+CIMI" if needs_sim(self) => Some((vec![], Final::Cme(11))),
            "+CIMI" => ok(vec![id.imsi]),
            "+CPIN?" => ok(vec![format!("+CPIN: {}", self.sim_state())]),
            // Attempts left: 27.007 +CPINR, Huawei ^CPIN, Quectel +QPINC.
            "+CPINR" | "+CPINR=\"SIM PIN\"" | "+CPINR=\"SIM*\"" => ok(vec![
                format!("+CPINR: SIM PIN,{},3", self.pin_left),
                format!("+CPINR: SIM PUK,{},10", self.puk_left),
            ]),
            "^CPIN?" => {
                let state = self.sim_state();
                let now = match state {
                    "SIM PIN" => self.pin_left.to_string(),
                    "SIM PUK" => self.puk_left.to_string(),
                    _ => String::new(),
                };
                ok(vec![format!(
                    "^CPIN: {state},{now},{},{},10,3",
                    self.puk_left, self.pin_left
                )])
            }
            "+QPINC?" | "+QPINC=\"SC\"" => ok(vec![format!(
                "+QPINC: \"SC\",{},{}",
                self.pin_left, self.puk_left
            )]),
            "+CREG?" | "+CGREG?" => {
                let stat = if self.registered() { 1 } else { 0 };
                let name = &ubody[..ubody.len() - 1];
                ok(vec![format!("{name}: {},{}", self.creg_n, stat)])
            }
            "+COPS?" if self.registered() => ok(vec![format!("+COPS: 0,0,\"{}\",2", id.operator)]),
            "+COPS?" => ok(vec!["+COPS: 0".into()]),
            "+CSQ" => ok(vec!["+CSQ: 21,99".into()]),
            "+CMGF?" => ok(vec!["+CMGF: 0".into()]),
            "+CMGF=0" => ok(vec![]),
            "+CSMS?" => ok(vec![format!("+CSMS: {},1,1,1", self.csms)]),
            "+CNMI?" => {
                let c = self.cnmi;
                ok(vec![format!(
                    "+CNMI: {},{},{},{},{}",
                    c[0], c[1], c[2], c[3], c[4]
                )])
            }
            "+CSCA?" => ok(vec![format!("+CSCA: \"{}\",145", self.cfg.smsc)]),
            "+CNMA" => {
                if self.csms == 1 && self.cnma_deadline.take().is_some() {
                    self.unacked = None;
                    ok(vec![])
                } else {
                    // Nothing to acknowledge: 27.005 +CMS ERROR 340 "no +CNMA
                    // acknowledgement expected".
                    Some((vec![], Final::Cms(340)))
                }
            }
            _ => self.execute_with_args(body, ubody, now_ms),
        }
    }

    /// What `AT+CPIN?` says: READY, SIM PIN, or SIM PUK once the PIN
    /// attempts are used up.
    fn sim_state(&self) -> &'static str {
        if self.pin_ok {
            "READY"
        } else if self.pin_left == 0 {
            "SIM PUK"
        } else {
            "SIM PIN"
        }
    }

    /// `AT+CPIN=<pin>` or, once blocked, `AT+CPIN=<puk>,<new pin>`, as a
    /// real SIM takes them: each wrong PIN costs one attempt, and with none
    /// left only the PUK opens it (27.007 CME 16 incorrect password, 12 SIM
    /// PUK required, 3 not allowed when nothing is asked).
    fn enter_pin(&mut self, arg: &str) -> (Vec<String>, Final) {
        let mut args = arg.split(',').map(|a| a.trim().trim_matches('"'));
        let given = args.next().unwrap_or_default().to_string();
        let new_pin = args.next().map(str::to_string);
        let Some(pin) = self.sim_pin.clone().filter(|_| !self.pin_ok) else {
            return (vec![], Final::Cme(3));
        };
        if self.pin_left == 0 {
            let Some(new_pin) = new_pin else {
                return (vec![], Final::Cme(12));
            };
            if self.puk_left == 0 || given != self.cfg.puk {
                self.puk_left = self.puk_left.saturating_sub(1);
                return (vec![], Final::Cme(16));
            }
            self.sim_pin = Some(new_pin);
            self.pin_left = self.cfg.pin_attempts;
            self.puk_left = 10;
            self.pin_ok = true;
            return (vec![], Final::Ok);
        }
        if given == pin {
            self.pin_left = self.cfg.pin_attempts;
            self.pin_ok = true;
            (vec![], Final::Ok)
        } else {
            self.pin_left -= 1;
            (vec![], Final::Cme(16))
        }
    }

    /// Another SIM, or its PIN changed elsewhere: the SIM now wants `pin`
    /// (from the next power-up on).
    pub fn change_pin(&mut self, pin: &str) {
        self.sim_pin = Some(pin.to_string());
    }

    /// PINs (and PUKs) entered so far, right or wrong.
    pub fn pin_entries(&self) -> u32 {
        self.pin_entries
    }

    /// Wrong PINs the SIM still takes before it wants the PUK.
    pub fn pin_attempts_left(&self) -> u8 {
        self.pin_left
    }

    fn execute_with_args(
        &mut self,
        body: &str,
        ubody: &str,
        now_ms: i64,
    ) -> Option<(Vec<String>, Final)> {
        let ok = |lines: Vec<String>| Some((lines, Final::Ok));
        if let Some(arg) = ubody.strip_prefix("+CMEE=") {
            return match arg.trim().parse::<u8>() {
                Ok(n @ 0..=2) => {
                    self.cmee = n;
                    ok(vec![])
                }
                _ => Some((vec![], Final::Error)),
            };
        }
        if let Some(arg) = body.get(6..).filter(|_| ubody.starts_with("+CPIN=")) {
            self.pin_entries += 1;
            return Some(self.enter_pin(arg));
        }
        if let Some(arg) = ubody.strip_prefix("+CREG=") {
            self.creg_n = arg.trim().parse().unwrap_or(0);
            return ok(vec![]);
        }
        if ubody.starts_with("+CMGF=") {
            // Text mode is not simulated: smsgw always uses PDU mode.
            return Some((vec![], Final::Cms(303)));
        }
        if let Some(arg) = ubody.strip_prefix("+CSMS=") {
            return match arg.trim() {
                "0" | "1" => {
                    self.csms = if arg.trim() == "1" { 1 } else { 0 };
                    ok(vec!["+CSMS: 1,1,1".into()])
                }
                _ => Some((vec![], Final::Cms(303))),
            };
        }
        if let Some(arg) = ubody.strip_prefix("+CNMI=") {
            let mut vals = [0u8; 5];
            for (i, f) in arg.split(',').enumerate().take(5) {
                match f.trim().parse::<u8>() {
                    Ok(v) => vals[i] = v,
                    Err(_) if f.trim().is_empty() => {}
                    Err(_) => return Some((vec![], Final::Cms(303))),
                }
            }
            self.cnmi = vals;
            return ok(vec![]);
        }
        if ubody.starts_with("+CSCA=") {
            return ok(vec![]);
        }
        if let Some(arg) = ubody.strip_prefix("+CMGS=") {
            if !self.pin_ok {
                return Some((vec![], Final::Cms(311)));
            }
            if !self.registered() {
                // 27.005: no network service (radio off by AT+CFUN).
                return Some((vec![], Final::Cms(331)));
            }
            return match arg.trim().parse::<usize>() {
                Ok(n) if (7..=164).contains(&n) => {
                    self.mode = InputMode::Pdu { tpdu_len: n };
                    self.reader.expect_body();
                    let at = now_ms + self.cfg.latency_ms as i64;
                    let mut prompt = Vec::new();
                    format::prompt(&mut prompt);
                    self.emit_at(at, prompt);
                    None
                }
                _ => Some((vec![], Final::Cms(304))),
            };
        }
        if let Some(arg) = ubody.strip_prefix("+CMGR=") {
            if self.failing_reads > 0 {
                self.failing_reads -= 1;
                return Some((vec![], Final::Cms(500)));
            }
            let Ok(index) = arg.trim().parse::<u32>() else {
                return Some((vec![], Final::Cms(321)));
            };
            if !self.reads_storage() {
                return Some((vec![], Final::Cms(321)));
            }
            return match self.storage.get_mut(&index) {
                Some(item) => {
                    let lines = vec![
                        format!("+CMGR: {},,{}", item.stat, item.tpdu_len),
                        crate::pdu::hex::encode(&item.pdu),
                    ];
                    item.stat = 1;
                    ok(lines)
                }
                None => Some((vec![], Final::Cms(321))),
            };
        }
        if let Some(arg) = ubody.strip_prefix("+CMGD=") {
            let mut it = arg.split(',');
            let Ok(index) = it.next().unwrap_or("").trim().parse::<u32>() else {
                return Some((vec![], Final::Cms(321)));
            };
            let flag: u8 = it.next().and_then(|f| f.trim().parse().ok()).unwrap_or(0);
            if !self.reads_storage() {
                // Another memory than the one that holds messages: empty.
            } else if flag == 4 {
                self.storage.clear();
            } else if flag > 0 {
                self.storage.retain(|_, s| s.stat == 0);
            } else {
                self.storage.remove(&index);
            }
            return ok(vec![]);
        }
        if let Some(arg) = ubody.strip_prefix("+CMGL=") {
            let which: u8 = arg.trim().parse().unwrap_or(4);
            let mut lines = Vec::new();
            let storage = if self.reads_storage() {
                Some(&mut self.storage)
            } else {
                None
            };
            for (index, item) in storage.into_iter().flat_map(|s| s.iter_mut()) {
                if which == 4 || which == item.stat {
                    lines.push(format!("+CMGL: {},{},,{}", index, item.stat, item.tpdu_len));
                    lines.push(crate::pdu::hex::encode(&item.pdu));
                    item.stat = 1;
                }
            }
            return ok(lines);
        }
        if self
            .cfg
            .extra_ok_commands
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&format!("AT{body}")))
        {
            return ok(vec![]);
        }
        Some((vec![], Final::Error))
    }

    fn submit(&mut self, body: &[u8], tpdu_len: usize, now_ms: i64) {
        let text = String::from_utf8_lossy(body);
        let parsed = codec::parse_submit(text.trim(), tpdu_len);
        let submit = match parsed {
            Ok(s) => s,
            Err(_) => {
                // 27.005 +CMS ERROR 304: invalid PDU mode parameter.
                self.respond(now_ms, &[], Final::Cms(304));
                return;
            }
        };
        if self.cfg.cms_error_rate > 0.0 && self.rng.random_bool(self.cfg.cms_error_rate.min(1.0)) {
            let code = self.cfg.cms_error_code;
            self.respond(now_ms, &[], Final::Cms(code));
            return;
        }
        let mr = self.next_mr;
        self.next_mr = self.next_mr.wrapping_add(1);
        let scts_unix = now_ms.div_euclid(1000) + self.cfg.smsc_clock_offset_s;
        let mut statuses = Vec::new();
        if submit.srr {
            let (lo, hi) = self.cfg.report_delay_ms;
            let delay = if hi > lo {
                self.rng.random_range(lo..=hi)
            } else {
                lo
            } as i64;
            let first = self.pick_status(&submit.recipient);
            let mut at = now_ms + self.cfg.latency_ms as i64 + delay;
            statuses.push(first);
            if first == 0x21 {
                statuses.push(0x00);
            }
            for &st in &statuses {
                let discharge = scts_unix + (at - now_ms).div_euclid(1000);
                match codec::status_report(
                    &self.cfg.smsc,
                    mr,
                    &submit.recipient_raw,
                    scts_unix,
                    discharge,
                    self.cfg.smsc_tz_quarters,
                    st,
                ) {
                    Ok((pdu, len)) => self.schedule(
                        at,
                        Scheduled::Report {
                            pdu,
                            tpdu_len: len,
                            submit: self.submits.len() as u64,
                        },
                    ),
                    Err(e) => tracing::warn!("simulator could not build a status report: {e}"),
                }
                at += self.cfg.temporary_followup_ms as i64;
            }
        }
        self.submits.push(SubmitRecord {
            seq: self.submits.len() as u64,
            mr,
            recipient: submit.recipient.clone(),
            srr: submit.srr,
            submitted_unix_ms: now_ms,
            scts_unix,
            statuses,
        });
        if std::mem::take(&mut self.unplug_on_submit) {
            self.unplugged = true;
            self.out.clear();
            return;
        }
        let answer = [format!("+CMGS: {mr}")];
        match self.slow_submit_ms.take() {
            Some(ms) => self.respond_at(now_ms.saturating_add(ms as i64), &answer, Final::Ok),
            None => self.respond(now_ms, &answer, Final::Ok),
        }
    }

    fn pick_status(&mut self, recipient: &str) -> u8 {
        if let Some((_, st)) = self
            .cfg
            .forced_status
            .iter()
            .find(|(suffix, _)| recipient.ends_with(suffix.as_str()))
        {
            return *st;
        }
        let m = self.cfg.outcomes;
        let total = m.delivered + m.expired + m.permanent + m.temporary;
        if total == 0 {
            return 0x00;
        }
        let mut roll = self.rng.random_range(0..total);
        for (w, st) in [
            (m.delivered, 0x00),
            (m.expired, 0x46),
            (m.permanent, 0x41),
            (m.temporary, 0x21),
        ] {
            if roll < w {
                return st;
            }
            roll -= w;
        }
        0x00
    }

    /// Queue a response: information lines, then the final result, after the
    /// configured latency, with the configured faults mixed in.
    fn respond(&mut self, now_ms: i64, lines: &[String], fin: Final) {
        self.respond_at(now_ms + self.cfg.latency_ms as i64, lines, fin);
    }

    /// [`Self::respond`], due at `at`.
    fn respond_at(&mut self, at: i64, lines: &[String], fin: Final) {
        let mut text = Vec::new();
        if self.cfg.garbage_rate > 0.0 && self.rng.random_bool(self.cfg.garbage_rate.min(1.0)) {
            text.extend_from_slice(b"\r\n\x7f\x10~garbage~\xfe\r\n");
        }
        for l in lines {
            format::line(&mut text, l);
        }
        if self.cfg.urc_noise_rate > 0.0 && self.rng.random_bool(self.cfg.urc_noise_rate.min(1.0)) {
            text.extend_from_slice(b"\r\n^RSSI:17\r\n");
        }
        if self.cfg.urc_mid_response {
            // Due reports go out right here, inside this command's response.
            self.release_held(at, Some(&mut text));
            while let Some((&(t, seq), _)) = self.scheduled.iter().next() {
                if t > at {
                    break;
                }
                if let Some(ev) = self.scheduled.remove(&(t, seq)) {
                    if let Some(urc) = self.deliver_event(ev, at) {
                        text.extend_from_slice(&urc);
                    }
                }
            }
        }
        format::line(&mut text, &fin.render(self.cmee));
        self.emit_at(at, text);
    }
}

/// A URC as the modem writes it (the AT engine's formatter).
fn urc_bytes(urc: &Urc) -> Vec<u8> {
    let mut out = Vec::new();
    format::urc(&mut out, urc);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Final {
    Ok,
    Error,
    Cms(u16),
    Cme(u16),
}

impl Final {
    fn render(self, cmee: u8) -> String {
        match (self, cmee) {
            (Final::Ok, _) => "OK".into(),
            (Final::Error, _) | (Final::Cms(_) | Final::Cme(_), 0) => "ERROR".into(),
            (Final::Cms(n), _) => format!("+CMS ERROR: {n}"),
            (Final::Cme(n), _) => format!("+CME ERROR: {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::address::Address;
    use crate::pdu::split::{encode_submit, SubmitOptions};

    /// 2026-11-22T10:00:00Z.
    const T0: i64 = 1_795_860_000_000;

    fn run(m: &mut SimModem, input: &str, now: i64) -> String {
        let now = now + T0;
        m.handle_input(input.as_bytes(), now);
        String::from_utf8_lossy(&m.poll_output(now)).into_owned()
    }

    #[test]
    fn host_input_goes_through_the_at_reader() {
        let mut m = SimModem::new(SimConfig {
            echo_default: true,
            ..SimConfig::default()
        });
        // Echo, then the answer.
        assert_eq!(
            run(&mut m, "AT+CGMI\r", 0),
            "AT+CGMI\r\r\nsmsgw\r\n\r\nOK\r\n"
        );
        // A/ repeats the last command (V.250 5.2.4), backspace edits.
        assert!(run(&mut m, "A/", 0).ends_with("\r\nOK\r\n"));
        assert!(run(&mut m, "ATE0X\x08\r", 0).ends_with("\r\nOK\r\n"));
        assert_eq!(run(&mut m, "ATE1\r", 0), "\r\nOK\r\n");
        // A line that is not a command is echoed and ignored.
        assert_eq!(run(&mut m, "hello\r", 0), "hello\r");
        // A PDU body over the limit is refused, not cut.
        run(&mut m, "ATE0\r", 0);
        run(&mut m, "AT+CMEE=1\r", 0);
        assert!(run(&mut m, "AT+CMGS=20\r", 0).ends_with("> "));
        let long = "0".repeat(MAX_INPUT + 2);
        assert_eq!(
            run(&mut m, &format!("{long}\x1a"), 0),
            "\r\n+CMS ERROR: 304\r\n"
        );
        assert_eq!(run(&mut m, "AT\r", 0), "\r\nOK\r\n");
    }

    #[test]
    fn the_sim_locks_after_three_wrong_pins_and_opens_with_the_puk() {
        let mut m = SimModem::new(SimConfig {
            echo_default: false,
            pin: Some("1234".into()),
            ..SimConfig::default()
        });
        run(&mut m, "AT+CMEE=1\r", 0);
        assert!(run(&mut m, "AT+CPIN?\r", 0).contains("+CPIN: SIM PIN"));
        assert!(run(&mut m, "AT+CPINR\r", 0).contains("+CPINR: SIM PIN,3,3"));
        for left in [2, 1] {
            assert!(run(&mut m, "AT+CPIN=\"0000\"\r", 0).contains("+CME ERROR: 16"));
            assert_eq!(m.pin_attempts_left(), left);
        }
        // The count is on the SIM: an unplug does not give attempts back.
        m.unplug_after_more_commands(0);
        m.replug();
        run(&mut m, "AT+CMEE=1\r", 0);
        assert!(run(&mut m, "AT^CPIN?\r", 0).contains("^CPIN: SIM PIN,1,10,1,10,3"));
        assert!(run(&mut m, "AT+QPINC?\r", 0).contains("+QPINC: \"SC\",1,10"));
        assert!(run(&mut m, "AT+CPIN=\"0000\"\r", 0).contains("+CME ERROR: 16"));
        assert!(run(&mut m, "AT+CPIN?\r", 0).contains("+CPIN: SIM PUK"));
        // Blocked: even the right PIN is refused; only the PUK opens it.
        assert!(run(&mut m, "AT+CPIN=\"1234\"\r", 0).contains("+CME ERROR: 12"));
        assert!(run(&mut m, "AT+CPIN=\"12345678\",\"4321\"\r", 0).contains("OK"));
        assert!(run(&mut m, "AT+CPIN?\r", 0).contains("+CPIN: READY"));
        assert_eq!(m.pin_entries(), 5);
    }

    #[test]
    fn submit_then_direct_report() {
        let mut m = SimModem::new(SimConfig {
            echo_default: false,
            ..SimConfig::default()
        });
        assert!(run(&mut m, "AT+CNMI=2,1,0,1,0\r", 0).contains("OK"));
        let opts = SubmitOptions {
            status_report: true,
            ..SubmitOptions::default()
        };
        let p = &encode_submit(
            &Address::parse_number("+393331234567").unwrap(),
            "hi",
            &opts,
        )
        .unwrap()[0];
        let prompt = run(&mut m, &format!("AT+CMGS={}\r", p.tpdu_len), 0);
        assert!(prompt.ends_with("> "), "{prompt:?}");
        let resp = run(&mut m, &format!("{}\x1a", p.hex()), 0);
        assert!(resp.contains("+CMGS: 0"), "{resp:?}");
        // Due at once (no delay configured): it follows the final OK.
        let cds = resp.find("+CDS: ").expect("report after the response");
        assert!(cds > resp.find("OK").unwrap());
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn unacknowledged_report_comes_again_after_an_unplug() {
        let mut m = SimModem::new(SimConfig {
            echo_default: false,
            cnma_required: true,
            ..SimConfig::default()
        });
        run(&mut m, "AT+CSMS=1\r", 0);
        run(&mut m, "AT+CNMI=2,1,0,1,0\r", 0);
        let opts = SubmitOptions {
            status_report: true,
            ..SubmitOptions::default()
        };
        let p = &encode_submit(
            &Address::parse_number("+393331234567").unwrap(),
            "hi",
            &opts,
        )
        .unwrap()[0];
        run(&mut m, &format!("AT+CMGS={}\r", p.tpdu_len), 0);
        let resp = run(&mut m, &format!("{}\x1a", p.hex()), 0);
        let cds = resp.find("+CDS: ").expect("report pushed");
        let pdu_line = resp[cds..].lines().nth(1).unwrap().to_string();
        // The port vanishes before the host could acknowledge it.
        m.replug();
        // Not acknowledged, so not delivered: the modem has it again (stored,
        // since routing is off after the power cycle) for the host to read.
        run(&mut m, "AT\r", 5);
        let listed = run(&mut m, "AT+CMGL=4\r", 10);
        assert!(listed.contains(&pdu_line), "{listed:?}");
        // An acknowledged one is not repeated.
        run(&mut m, "AT+CMGD=0,4\r", 20);
        run(&mut m, "AT+CSMS=1\r", 20);
        run(&mut m, "AT+CNMI=2,1,0,1,0\r", 20);
        run(&mut m, &format!("AT+CMGS={}\r", p.tpdu_len), 20);
        let resp = run(&mut m, &format!("{}\x1a", p.hex()), 20);
        assert!(resp.contains("+CDS: "));
        assert!(run(&mut m, "AT+CNMA\r", 30).contains("OK"));
        m.replug();
        run(&mut m, "AT\r", 35);
        assert!(!run(&mut m, "AT+CMGL=4\r", 40).contains("+CMGL"));
    }

    #[test]
    fn the_report_log_names_the_submit_each_report_answers() {
        let mut m = SimModem::new(SimConfig {
            echo_default: false,
            report_delay_ms: (1_000, 1_000),
            ..SimConfig::default()
        });
        run(&mut m, "AT+CNMI=2,1,0,1,0\r", 0);
        let opts = SubmitOptions {
            status_report: true,
            ..SubmitOptions::default()
        };
        for (k, to) in ["+393331234567", "+393339999999"].iter().enumerate() {
            let p = &encode_submit(&Address::parse_number(to).unwrap(), "hi", &opts).unwrap()[0];
            run(&mut m, &format!("AT+CMGS={}\r", p.tpdu_len), k as i64);
            run(&mut m, &format!("{}\x1a", p.hex()), k as i64);
        }
        assert!(m.reports_log().is_empty(), "not due yet");
        let out = run(&mut m, "", 2_000);
        let log = m.reports_log();
        assert_eq!(log.iter().map(|r| r.submit).collect::<Vec<_>>(), vec![0, 1]);
        for r in log {
            assert!(out.contains(&r.pdu_hex), "{out:?}");
            assert_eq!(r.at_ms, T0 + 2_000);
        }
    }
}
