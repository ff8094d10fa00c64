//! One worker per configured modem: find the device (it may come and go),
//! open a session, then send what the queue holds for it and apply what
//! the modem hands back, until the gateway shuts down.
//!
//! At most once on the radio: before AT+CMGS is written for a part, the
//! store commits "sending" for it; a crash or unplug between that and the
//! answer leaves the part UNKNOWN (or queued again when configured), never
//! silently resent.
//!
//! At least once from the modem: an incoming SMS or report is released by
//! the modem (AT+CNMA / AT+CMGD) only once it is on disk. A pushed part of a
//! concatenated SMS is staged in the store and acknowledged then, and the
//! message is reassembled from the parts whose stage committed (the modem
//! holds the next pushed part until the previous one is acknowledged); parts
//! stored in the modem are deleted there once their whole message is stored.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tracing::Instrument;

use super::connect::{connect, ConnectError, ConnectOptions};
use super::daemon::Gateway;
use super::encode::encode_message;
use super::inbound::{decode_inbound, Decoded};
use super::mr_plan::{self, MrPredictor};
use super::policy::{decide, due_at, Decision, RetryPolicy};
use crate::backoff::Backoff;
use crate::config::resolve_device;
use crate::modem::reassembly::{Message as Reassembled, Part, Reassembler, ReassemblyConfig};
use crate::modem::{Inbound, Modem, ModemError, ModemEvent, Origin};
use crate::pdu::address::Address;
use crate::pdu::split::EncodedPart;
use crate::router::{ModemId, Resolution};
use crate::state::MessageState;
use crate::store::{unix_now, Claimed, IncomingSms, QueuedMessage, Staged, Store, StoreError};

/// What a worker needs to know about its modem.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: String,
    /// A path, a glob (`/dev/serial/by-id/usb-HUAWEI_*-if02-port0`) or `tcp:HOST:PORT`.
    pub device: String,
    pub profile: String,
    pub pin: Option<String>,
    /// Parts per minute at most (None: as fast as the modem answers).
    pub rate_per_minute: Option<u32>,
    /// Only recipients starting with one of these (empty: all).
    pub prefixes: Vec<String>,
    /// How long a device may be absent before the next look (hot-plug poll).
    pub rescan: Duration,
}

/// Run the worker until the gateway shuts down. Everything it logs (and
/// what its store work logs on the writer thread) is in a `modem` span
/// whose `name` is the modem's.
pub async fn run(gw: Gateway, cfg: WorkerConfig) {
    let span = tracing::info_span!("modem", name = %cfg.name);
    serve_modem(gw, cfg).instrument(span).await
}

async fn serve_modem(gw: Gateway, cfg: WorkerConfig) {
    let mut shutdown = gw.shutdown_signal();
    let name = cfg.name.clone();
    // Through the writer: no tokio thread waits on the store's lock.
    let modem_id = match gw.write(move |s| s.modem(&name)).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!("cannot register the modem in the store: {e}");
            return;
        }
    };
    let mut absent = Absence::default();
    // A refused PIN (or too few attempts left) is never retried: the modem
    // stays out of service until smsgw is restarted (with a fixed PIN).
    let mut locked: Option<String> = None;
    loop {
        if gw.is_shutting_down() {
            return;
        }
        if let Some(reason) = &locked {
            tracing::error!("modem out of service until smsgw is restarted: {reason}");
            gw.set_disabled(&cfg.name, reason);
            release(&gw, &cfg.name);
            let _ = shutdown.wait_for(|stop| *stop).await;
            return;
        }
        let Some(device) = find_device(&cfg.device).await else {
            if let Some(missing) = absent.note(Instant::now()) {
                tracing::warn!(
                    device = %cfg.device,
                    "the configured device is not there{}; looking again every {:?}",
                    if missing.is_zero() {
                        String::new()
                    } else {
                        format!(" (for {}s now)", missing.as_secs())
                    },
                    cfg.rescan
                );
            }
            gw.set_connected(&cfg.name, false, None);
            release(&gw, &cfg.name);
            tokio::select! {
                _ = tokio::time::sleep(cfg.rescan) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
            continue;
        };
        if absent.found() {
            tracing::info!(device = %device, "the device is there now");
        }
        let opts = ConnectOptions {
            name: cfg.name.clone(),
            device: device.clone(),
            profile: cfg.profile.clone(),
            pin: cfg.pin.clone(),
            registration_timeout: None,
            reconnect: true,
            ussd_packed: false,
        };
        let (modem, events, profile) = match connect(&opts).await {
            Ok(ok) => ok,
            Err(ConnectError::Modem(ModemError::PinRefused(reason))) => {
                locked = Some(reason);
                continue;
            }
            Err(e) => {
                tracing::warn!(device = %device, "cannot start: {e}");
                release(&gw, &cfg.name);
                tokio::select! {
                    _ = tokio::time::sleep(cfg.rescan) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
                continue;
            }
        };
        tracing::info!(device = %device, profile = %profile.name, "modem ready");
        gw.set_device(&cfg.name, &device);
        gw.set_connected(&cfg.name, true, modem.info());
        gw.set_session(&cfg.name, Some(&modem));
        let (staged_tx, staged) = unbounded_channel();
        let mut w = Worker {
            gw: gw.clone(),
            cfg: cfg.clone(),
            modem,
            modem_id,
            connected: true,
            next_send: Instant::now(),
            reassembler: Reassembler::new(ReassemblyConfig::default()),
            closed: false,
            held: HashMap::new(),
            staged_tx,
            mr: MrPredictor::new(),
            sim_locked: None,
        };
        // Parts staged before (by an earlier session, or before a restart)
        // go back into the reassembler before anything new comes in.
        w.reload_staged().await;
        w.serve(Inputs { events, staged }).await;
        gw.set_session(&cfg.name, None);
        gw.set_connected(&cfg.name, false, None);
        if let Some(reason) = w.sim_locked.take() {
            locked = Some(reason);
        }
        if gw.is_shutting_down() {
            return;
        }
    }
}

/// Hand the messages this modem claimed but never started to the others.
/// Through the group commit, in order after what the worker recorded last
/// (a part put back in the queue must be released with the rest).
fn release(gw: &Gateway, name: &str) {
    let (woken, name) = (gw.clone(), name.to_string());
    gw.write_then(
        move |s| s.release_claims(&name),
        move |done| match done {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!("{n} queued message(s) handed to other modems");
                woken.wake_workers();
            }
            Err(e) => tracing::error!("store: {e}"),
        },
    );
}

/// The device to open now: the path itself, the first match of a glob, or
/// None when absent. Globbing and looking at the file system block: done on
/// the blocking pool.
async fn find_device(pattern: &str) -> Option<String> {
    if pattern.starts_with("tcp:") {
        return Some(pattern.to_string());
    }
    let pattern = pattern.to_string();
    tokio::task::spawn_blocking(move || find_device_now(&pattern))
        .await
        .ok()
        .flatten()
}

fn find_device_now(pattern: &str) -> Option<String> {
    resolve_device(pattern)
        .into_iter()
        .find(|p| p.exists())
        .map(|p| p.display().to_string())
}

/// An incoming set: sender and concatenation reference (with its width).
/// Keyed exactly like the reassembler's sets: sender, then reference, width
/// and total of a valid concatenation element (None for a single SMS).
type SetKey = (String, Option<(u16, bool, u8)>);

fn part_key(part: &Part) -> SetKey {
    let valid = part
        .concat
        .filter(|c| c.total > 1 && c.seq >= 1 && c.seq <= c.total);
    (
        part.sender.clone(),
        valid.map(|c| (c.reference, c.wide, c.total)),
    )
}

fn message_key(m: &Reassembled) -> SetKey {
    let total = m.parts.len();
    let concat = m
        .reference
        .filter(|_| total > 1)
        .map(|(r, w)| (r, w, total as u8));
    (m.sender.clone(), concat)
}

/// The SMS-DELIVER in a PDU with SMSC prefix.
fn deliver_of(pdu: &[u8]) -> Option<crate::pdu::deliver::Deliver> {
    match crate::pdu::parse_with_smsc(pdu) {
        Ok((_, crate::pdu::Tpdu::Deliver(d))) => Some(d),
        _ => None,
    }
}

/// A pushed part whose stage is on disk (and so acknowledged): it goes into
/// the reassembler.
struct StagedIn {
    pdu: Vec<u8>,
    /// When it arrived, unix ms.
    received_ms: i64,
}

/// An incoming part held until its message is stored: its PDU, and what
/// the modem must be told then (None: a staged part, already acknowledged;
/// its staged row goes with the message).
type HeldPart = (Vec<u8>, Option<Origin>);

/// What a worker waits on besides its timers.
struct Inputs {
    /// From the modem session.
    events: UnboundedReceiver<ModemEvent>,
    /// From the store's writer, once a part's stage committed.
    staged: UnboundedReceiver<StagedIn>,
}

struct Worker {
    gw: Gateway,
    cfg: WorkerConfig,
    modem: Modem,
    modem_id: ModemId,
    connected: bool,
    /// Earliest time the next part may go (rate limit).
    next_send: Instant,
    reassembler: Reassembler,
    /// The session task has ended: nothing more can be sent through it.
    closed: bool,
    /// PDUs and origins of incoming parts until their message is stored,
    /// by (sender, concatenation reference).
    held: HashMap<SetKey, Vec<HeldPart>>,
    /// Where the writer says a part's stage committed.
    staged_tx: UnboundedSender<StagedIn>,
    /// The TP-MR the modem will give next, to avoid look-alikes.
    mr: MrPredictor,
    /// The session ended because the SIM refused the PIN on a reconnect.
    sim_locked: Option<String>,
}

impl Worker {
    async fn serve(&mut self, mut inputs: Inputs) {
        let mut shutdown = self.gw.shutdown_signal();
        loop {
            // Everything the modem already handed over comes first.
            self.take_staged(&mut inputs.staged);
            loop {
                match inputs.events.try_recv() {
                    Ok(ev) => self.on_event(ev),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    // The session ended: start over with a new one.
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            if self.gw.is_shutting_down() || self.closed {
                return;
            }
            let gw = self.gw.clone();
            let wake = gw.woken();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let mut retry_at = Instant::now() + Duration::from_secs(1);
            if self.connected && Instant::now() >= self.next_send {
                match self.claim().await {
                    Ok(Pick::Send(claim)) => {
                        self.send(*claim, &mut inputs).await;
                        continue;
                    }
                    // Every waiting message would get a TP-MR look-alike:
                    // look again when the first may go (or on a wake-up).
                    Ok(Pick::Held { until }) => retry_at = instant_at(until),
                    Ok(Pick::Nothing) => {}
                    Err(e) => {
                        tracing::error!("store: {e}");
                        retry_at = Instant::now() + Duration::from_secs(5);
                    }
                }
            } else if self.connected {
                retry_at = self.next_send;
            }
            // Incomplete incoming sets are stored as partial when they expire,
            // even if no other SMS comes.
            let expiry = self.reassembler.next_expiry().map(|ms| {
                let wait = ms.saturating_sub(unix_now() * 1000).max(0) as u64;
                Instant::now() + Duration::from_millis(wait)
            });
            tokio::select! {
                ev = inputs.events.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => return,
                },
                Some(part) = inputs.staged.recv() => self.on_staged(part),
                _ = tokio::time::sleep_until(expiry.unwrap_or(retry_at)), if expiry.is_some() => {
                    let mut out = Vec::new();
                    self.reassembler.expire(unix_now() * 1000, &mut out);
                    for msg in out {
                        self.store_incoming(msg);
                    }
                }
                _ = &mut wake => {}
                _ = tokio::time::sleep_until(retry_at) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        }
    }

    fn on_event(&mut self, ev: ModemEvent) {
        match ev {
            ModemEvent::Inbound(inb) => self.on_inbound(inb),
            ModemEvent::Disconnected { reason, .. } => {
                tracing::warn!("modem lost: {reason}");
                self.connected = false;
                self.gw.set_connected(&self.cfg.name, false, None);
                release(&self.gw, &self.cfg.name);
            }
            ModemEvent::Reconnected(info) => {
                tracing::info!("modem back");
                // The modem may have restarted its TP-MR count.
                self.mr.forget();
                self.connected = true;
                self.gw.set_connected(&self.cfg.name, true, Some(info));
            }
            ModemEvent::SimLocked { reason, .. } => {
                self.connected = false;
                self.sim_locked = Some(reason);
            }
            ModemEvent::Unsolicited { .. } => {}
        }
    }

    fn on_inbound(&mut self, inb: Inbound) {
        match decode_inbound(self.modem_id, &inb) {
            Ok(Decoded::Report(report)) => {
                // Stored in the next group commit; the modem lets go of it
                // (AT+CNMA / AT+CMGD) only once that is on disk. Meanwhile
                // the worker goes on sending.
                let (gw, modem, name) =
                    (self.gw.clone(), self.modem.clone(), self.cfg.name.clone());
                self.gw.write_then(
                    move |s| s.record_report(&report),
                    move |done| match done {
                        Ok(outcome) => {
                            modem.handed_on(&inb.origin);
                            count_report(&gw, &name, &outcome.resolution);
                        }
                        // Left in the modem (stored) or unacknowledged
                        // (pushed: the network sends it again).
                        Err(e) => tracing::error!("report kept in the modem: {e}"),
                    },
                );
            }
            Ok(Decoded::Sms(deliver)) => {
                let part = Part::from_deliver(&deliver);
                let concatenated = part.as_ref().is_some_and(|p| part_key(p).1.is_some());
                if concatenated && matches!(inb.origin, Origin::Direct { .. }) {
                    // The modem pushes the next part only once this one is
                    // acknowledged: staged now, acknowledged once on disk,
                    // reassembled then (`on_staged`).
                    self.stage(inb, deliver.sender.to_string());
                    return;
                }
                self.take_part(inb.pdu, Some(inb.origin), part, &deliver, unix_now() * 1000);
            }
            Err(e) => match inb.origin {
                // A pushed PDU left unacknowledged makes the modem turn
                // delivery to us off (27.005 +CNMA): every later report
                // would be lost for one undecodable one. It is acknowledged;
                // the error line carries its hex.
                Origin::Direct {
                    needs_ack: true, ..
                } => {
                    tracing::error!(
                        "{e}; acknowledged anyway so that the modem keeps pushing reports"
                    );
                    self.modem.handed_on(&inb.origin);
                }
                // Stored ones stay in the modem (and in its next listing).
                _ => tracing::error!("{e}; left in the modem"),
            },
        }
    }

    /// Stage a pushed part of a concatenated SMS in the next group commit;
    /// once that is on disk, acknowledge it and hand it to the reassembler
    /// (unless the store already had it: staged, or part of a stored SMS).
    fn stage(&self, inb: Inbound, sender: String) {
        let received_ms = unix_now() * 1000;
        let (modem, tx) = (self.modem.clone(), self.staged_tx.clone());
        let (id, hex, origin, pdu) = (
            self.modem_id,
            crate::pdu::hex::encode(&inb.pdu),
            inb.origin,
            inb.pdu,
        );
        let hex_again = hex.clone();
        self.gw.write_then(
            move |s| s.stage_part(id, &sender, &hex, received_ms / 1000),
            move |done| match done {
                Ok(staged) => {
                    modem.handed_on(&origin);
                    match staged {
                        Staged::New(_) => {
                            // A worker that ended meanwhile: the next one
                            // finds the part staged.
                            let _ = tx.send(StagedIn { pdu, received_ms });
                        }
                        Staged::Again(_) | Staged::Stored(_) => {
                            tracing::info!("incoming part delivered again: already stored");
                        }
                    }
                }
                // Unacknowledged: the network delivers it again.
                // Refused for good (no sender, say): waiting for the network to
                // send it again would only make the modem turn delivery off.
                Err(e @ StoreError::Invalid { .. }) => {
                    tracing::error!(
                        "incoming part {hex_again} cannot be stored ({e}); acknowledged anyway \
                         so that the modem keeps delivering"
                    );
                    modem.handed_on(&origin);
                }
                Err(e) => tracing::error!("incoming part not staged: {e}"),
            },
        );
    }

    /// A part whose stage committed goes into the reassembler.
    fn on_staged(&mut self, staged: StagedIn) {
        match deliver_of(&staged.pdu) {
            Some(deliver) => {
                let part = Part::from_deliver(&deliver);
                self.take_part(staged.pdu, None, part, &deliver, staged.received_ms);
            }
            None => tracing::error!("a staged part no longer decodes"),
        }
    }

    fn take_staged(&mut self, rx: &mut UnboundedReceiver<StagedIn>) {
        while let Ok(part) = rx.try_recv() {
            self.on_staged(part);
        }
    }

    /// Put the parts staged on this modem back into the reassembler (at
    /// start: after a restart, or when a session ended with sets open).
    /// Through the group commit, so after every stage given before.
    async fn reload_staged(&mut self) {
        let id = self.modem_id;
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut failures = 0;
        let staged = loop {
            match self.gw.write(move |s| s.staged_parts(id)).await {
                Ok(staged) => break staged,
                // Without them, their sets could never complete: retried
                // (the store failing means nothing else works either).
                Err(e) if !self.gw.is_shutting_down() => {
                    let pause = backoff.delay(failures);
                    failures += 1;
                    tracing::error!("store: staged parts not reloaded ({e}); again in {pause:?}");
                    tokio::time::sleep(pause).await;
                }
                Err(_) => return,
            }
        };
        if !staged.is_empty() {
            tracing::info!("{} staged incoming part(s) reloaded", staged.len());
        }
        for p in staged {
            let pdu = crate::pdu::hex::decode(&p.pdu_hex).ok();
            match pdu.as_deref().and_then(deliver_of) {
                Some(deliver) => {
                    let part = Part::from_deliver(&deliver);
                    self.take_part(
                        pdu.unwrap_or_default(),
                        None,
                        part,
                        &deliver,
                        p.received_at.saturating_mul(1000),
                    );
                }
                // Left staged (and in the log) rather than dropped.
                None => {
                    tracing::error!(staged = p.id, "a staged part does not decode")
                }
            }
        }
    }

    /// Take one incoming SMS part (or an 8-bit SMS, `part` None): held until
    /// its message is stored, which happens now if it completed one.
    /// `origin`: what the modem must be told once it is stored (None: a
    /// staged part, already acknowledged).
    fn take_part(
        &mut self,
        pdu: Vec<u8>,
        origin: Option<Origin>,
        part: Option<Part>,
        deliver: &crate::pdu::deliver::Deliver,
        now_ms: i64,
    ) {
        let key = match &part {
            Some(part) => part_key(part),
            // 8-bit data: stored as it came, one part.
            None => (deliver.sender.to_string(), None),
        };
        let held = self.held.entry(key.clone()).or_default();
        // A stored part listed twice (after a reconnect) is deleted once.
        let listed_again =
            matches!(origin, Some(Origin::Stored { .. })) && held.iter().any(|(_, o)| *o == origin);
        if !listed_again {
            held.push((pdu, origin));
        }
        let mut out = Vec::new();
        match part {
            Some(part) => {
                self.reassembler.push(part, now_ms, &mut out);
            }
            None => out.push(Reassembled {
                sender: key.0,
                reference: None,
                parts: vec![],
                first_ms: now_ms,
            }),
        }
        for msg in out {
            self.store_incoming(msg);
        }
    }

    /// Store a reassembled (or expired, partial) SMS in the next group
    /// commit, which also deletes its staged parts; once on disk, the parts
    /// still in the modem are released.
    fn store_incoming(&mut self, sms: Reassembled) {
        let held = self.held.remove(&message_key(&sms)).unwrap_or_default();
        let delivers: Vec<_> = held.iter().filter_map(|(p, _)| deliver_of(p)).collect();
        let scts = delivers
            .first()
            .map_or_else(unix_now, |d| d.scts.unix_seconds());
        // 8-bit messages keep their octets; text ones their text.
        let data: Vec<u8> = match sms.parts.is_empty() {
            true => delivers
                .iter()
                .filter_map(|d| match &d.user_data.body {
                    crate::pdu::user_data::Body::Binary(b) => Some(b.clone()),
                    crate::pdu::user_data::Body::Text(_) => None,
                })
                .flatten()
                .collect(),
            false => Vec::new(),
        };
        let row = IncomingSms {
            modem: self.modem_id,
            sender: sms.sender.clone(),
            text: (!sms.parts.is_empty()).then(|| sms.text()),
            data_hex: crate::pdu::hex::encode(&data),
            scts,
            received_at: unix_now(),
            parts: sms.parts.len().max(1) as u8,
            pdus_hex: held
                .iter()
                .map(|(p, _)| crate::pdu::hex::encode(p))
                .collect(),
            partial: !sms.is_complete(),
        };
        let (mut origins, mut staged) = (Vec::new(), Vec::new());
        for (pdu, origin) in held {
            match origin {
                Some(o) => origins.push(o),
                None => staged.push(pdu),
            }
        }
        let (modem, retry) = (self.modem.clone(), self.staged_tx.clone());
        let runtime = tokio::runtime::Handle::current();
        self.gw.write_then(
            move |s| s.store_incoming(&row),
            move |done| match done {
                Ok(_) => {
                    for origin in &origins {
                        modem.handed_on(origin);
                    }
                }
                Err(e) => {
                    tracing::error!(
                        "incoming SMS kept in the modem (or staged): store failed: {e}"
                    );
                    // Refused for good: pushed parts are acknowledged so that
                    // the modem keeps delivering (their hex is in the row
                    // logged above); stored ones stay in the modem, staged
                    // ones staged. Nothing to try again.
                    if matches!(e, StoreError::Invalid { .. }) {
                        for origin in origins
                            .iter()
                            .filter(|o| matches!(o, Origin::Direct { .. }))
                        {
                            modem.handed_on(origin);
                        }
                        return;
                    }
                    // Staged parts go back into the reassembler a little
                    // later, so that the message is stored once the store
                    // works again (they are still staged meanwhile).
                    runtime.spawn(async move {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        let received_ms = unix_now() * 1000;
                        for pdu in staged {
                            let _ = retry.send(StagedIn { pdu, received_ms });
                        }
                    });
                }
            },
        );
    }

    /// Claim the next message for this modem, encode it, and mark its first
    /// part in flight, all in one group commit (one wait for the disk
    /// before AT+CMGS, not two).
    ///
    /// A message whose first part would share its TP-MR and number with a
    /// pending part sent too recently to be told apart is passed over for
    /// the next one ([`Store::claim_next_clear`]).
    async fn claim(&self) -> Result<Pick, StoreError> {
        let (name, modem_id, prefixes) = (
            self.cfg.name.clone(),
            self.modem_id,
            self.cfg.prefixes.clone(),
        );
        let next_mr = self.next_mr();
        let gw = self.gw.clone();
        self.gw
            .write(move |s: &mut Store| {
                if gw.is_shutting_down() {
                    // Decided here, in order with the claim: nothing is
                    // marked in flight once the gateway stops.
                    return Ok(Pick::Nothing);
                }
                // The rule the API checked at submit, so what it let in
                // some modem takes.
                let accept = |to: &str| crate::config::prefixes_accept(&prefixes, to);
                let now = unix_now();
                let quiet = gw.quiet_now(now);
                let msg = match s.claim_next_in(&name, now, &accept, next_mr, quiet)? {
                    Claimed::Message(msg) => msg,
                    Claimed::Held { until } => return Ok(Pick::Held { until }),
                    Claimed::Empty => return Ok(Pick::Nothing),
                };
                let encoded = match encode(&msg) {
                    Ok(parts) => parts,
                    Err(e) => {
                        // Cannot happen for a message that passed submit;
                        // keep a trace rather than retry forever.
                        for p in &msg.parts {
                            s.mark_rejected(p.id, 0, &format!("cannot encode: {e}"), now)?;
                        }
                        return Ok(Pick::Nothing);
                    }
                };
                // The first part to send must be one that encoded (the loop
                // in `send` relies on it); otherwise nothing is pre-marked.
                let first = msg
                    .parts
                    .first()
                    .filter(|p| encoded.iter().any(|e| e.seq == p.seq));
                let first_marked = match first {
                    Some(first) => {
                        s.mark_sending(first.id, modem_id, now)?;
                        true
                    }
                    None => false,
                };
                Ok(Pick::Send(Box::new(Claim {
                    msg,
                    encoded,
                    first_marked,
                })))
            })
            .await
    }

    /// Send the parts of a claimed message still to send. Every part is
    /// committed in flight before its AT+CMGS is written (the first one by
    /// the claim); what the modem answered is recorded in the background,
    /// in order, while the next part goes.
    ///
    /// What the modem hands over meanwhile (`inputs`) is taken in between
    /// parts and during a rate-limit pause, so that reports and SMS are
    /// stored and acknowledged (AT+CNMA has a deadline) while a long message
    /// goes out.
    async fn send(&mut self, claim: Claim, inputs: &mut Inputs) {
        let Claim {
            msg,
            encoded,
            mut first_marked,
        } = claim;
        let validity = msg.opts.validity_secs;
        for part in &msg.parts {
            // Only the first part in the list was marked by the claim.
            let marked = std::mem::take(&mut first_marked);
            let Some(enc) = encoded.iter().find(|e| e.seq == part.seq) else {
                continue;
            };
            // A later part whose TP-MR would be a look-alike of a pending
            // part waits until it can be told apart (parts keep their order).
            if !marked {
                loop {
                    self.take_staged(&mut inputs.staged);
                    while let Ok(ev) = inputs.events.try_recv() {
                        self.on_event(ev);
                    }
                    let mut shutdown = self.gw.shutdown_signal();
                    let mut ended = false;
                    while Instant::now() < self.next_send && !self.gw.is_shutting_down() {
                        tokio::select! {
                            _ = tokio::time::sleep_until(self.next_send) => {}
                            ev = inputs.events.recv() => match ev {
                                Some(ev) => self.on_event(ev),
                                // The session ended: the next send says so.
                                None => {
                                    ended = true;
                                    break;
                                }
                            },
                            Some(part) = inputs.staged.recv() => self.on_staged(part),
                            _ = shutdown.wait_for(|s| *s) => {}
                        }
                    }
                    if self.gw.is_shutting_down() {
                        // Parts not started stay queued for the next start.
                        return;
                    }
                    let (id, modem, next_mr) = (part.id, self.modem_id, self.next_mr());
                    let to = msg.to.clone();
                    let marking = self
                        .gw
                        .write(move |s| {
                            let now = unix_now();
                            match mr_plan::hold_until(s.router(), modem, &to, next_mr, now) {
                                Some(until) => Ok(Some(until)),
                                None => s.mark_sending(id, modem, now).map(|()| None),
                            }
                        })
                        .await;
                    match marking {
                        Ok(None) => break,
                        // The part stays queued for the next session.
                        Ok(Some(_)) if ended => return,
                        Ok(Some(until)) => self.next_send = self.next_send.max(instant_at(until)),
                        Err(e) => {
                            tracing::error!("store: {e}; part not sent");
                            return;
                        }
                    }
                }
            }
            if let Some(rate) = self.cfg.rate_per_minute {
                self.next_send =
                    Instant::now() + Duration::from_secs_f64(60.0 / f64::from(rate.max(1)));
            }
            let result = self.modem.send_pdu(enc.tpdu_len, &enc.hex()).await;
            if self.mr.observe(&result) == Some(false) {
                tracing::debug!("TP-MR not the one predicted: learning again");
            }
            let now = unix_now();
            let settings = self.gw.settings();
            let policy = RetryPolicy::daemon(
                settings.max_retries,
                Duration::from_secs(settings.retry_backoff_s),
            );
            let (id, modem_id, retries) = (part.id, self.modem_id, part.retries);
            let stop = match decide(&result, retries, &policy) {
                Decision::Sent { mr } => {
                    self.record(move |s| s.mark_sent(id, modem_id, mr, now, validity).map(|_| ()));
                    self.gw.count_sent(&self.cfg.name);
                    false
                }
                Decision::Unknown { reason } => {
                    self.record(move |s| s.mark_outcome_unknown(id, &reason, now));
                    true
                }
                Decision::Retry {
                    code,
                    reason,
                    retries,
                    after,
                } => {
                    let at = due_at(now, after);
                    self.record(move |s| s.mark_retry(id, code, &reason, retries, at, now));
                    true
                }
                Decision::Reject { code, reason } => {
                    let code = code.unwrap_or(0);
                    self.record(move |s| s.mark_rejected(id, code, &reason, now));
                    true
                }
                Decision::NotSent {
                    reason,
                    after,
                    session_ended,
                } => {
                    // Back to the queue, not due at once, so a hung or
                    // vanished modem does not spin on it.
                    let at = due_at(now, after);
                    self.record(move |s| s.mark_retry(id, None, &reason, retries, at, now));
                    if session_ended {
                        self.closed = true;
                    }
                    true
                }
            };
            if stop {
                return;
            }
        }
    }

    /// The TP-MR the next part will get, when look-alikes are to be avoided
    /// and the modem was seen counting.
    fn next_mr(&self) -> Option<u8> {
        self.mr
            .next()
            .filter(|_| self.gw.settings().avoid_mr_lookalikes)
    }

    /// Record what became of a part in the next group commit, without
    /// waiting (a failure is logged: the part then stays in flight and
    /// becomes UNKNOWN at the next start, never sent twice).
    fn record(&self, op: impl FnOnce(&mut Store) -> Result<(), StoreError> + Send + 'static) {
        self.gw.write_then(op, move |done| {
            if let Err(e) = done {
                tracing::error!("store: {e}");
            }
        });
    }
}

/// What a claim found.
enum Pick {
    Send(Box<Claim>),
    /// Messages wait, but none may go before this unix second (TP-MR
    /// look-alikes).
    Held {
        until: i64,
    },
    Nothing,
}

/// The instant of unix second `at` (now, if that is past).
fn instant_at(at: i64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let wait = at.saturating_mul(1000).saturating_sub(now_ms).max(0);
    Instant::now() + Duration::from_millis(u64::try_from(wait).unwrap_or(0))
}

/// How long a configured device has been missing, so that it is logged
/// when it goes missing and then only every [`Absence::EVERY`], not at each
/// rescan.
#[derive(Debug, Default)]
struct Absence {
    since: Option<Instant>,
    logged: Option<Instant>,
}

impl Absence {
    const EVERY: Duration = Duration::from_secs(600);

    /// The device is missing at `now`: how long it has been missing, when
    /// that is to be logged.
    fn note(&mut self, now: Instant) -> Option<Duration> {
        let since = *self.since.get_or_insert(now);
        let due = self
            .logged
            .is_none_or(|last| now.saturating_duration_since(last) >= Self::EVERY);
        if !due {
            return None;
        }
        self.logged = Some(now);
        Some(now.saturating_duration_since(since))
    }

    /// The device is there: true when it had been missing.
    fn found(&mut self) -> bool {
        self.logged = None;
        self.since.take().is_some()
    }
}

/// A claimed message, encoded, its first part possibly already in flight.
struct Claim {
    msg: QueuedMessage,
    encoded: Vec<EncodedPart>,
    /// The first part to send is committed in flight: write it at once.
    first_marked: bool,
}

/// Count a matched final report in the modem's live counters.
fn count_report(gw: &Gateway, name: &str, resolution: &Resolution) {
    if let Resolution::Matched(m) = resolution {
        if m.outcome.is_final {
            gw.count_final(name, m.outcome.state == MessageState::Delivered);
        }
    }
}

fn encode(msg: &QueuedMessage) -> Result<Vec<EncodedPart>, crate::pdu::PduError> {
    let to = Address::parse_number(&msg.to)?;
    encode_message(&to, &msg.text, &msg.opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_logged_once_then_seldom() {
        let t0 = Instant::now();
        let mut a = Absence::default();
        assert_eq!(a.note(t0), Some(Duration::ZERO));
        let rescans: Vec<_> = (1..=60)
            .filter_map(|i| a.note(t0 + Duration::from_secs(i * 20)))
            .collect();
        // 20 minutes of rescans every 20 s: logged at 10 and 20 minutes.
        assert_eq!(
            rescans,
            [Duration::from_secs(600), Duration::from_secs(1200)]
        );
        assert!(a.found());
        assert!(!a.found());
        // Missing again: logged at once, counted from the new start.
        assert_eq!(a.note(t0 + Duration::from_secs(5000)), Some(Duration::ZERO));
    }

    #[test]
    fn devices_by_path_glob_and_tcp() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("usb-HUAWEI_E173-if02-port0");
        std::fs::write(&a, b"").unwrap();
        let pattern = format!("{}/usb-HUAWEI_*-if02-port0", dir.path().display());
        assert_eq!(
            find_device_now(&pattern).as_deref(),
            Some(a.to_str().unwrap())
        );
        assert_eq!(
            find_device_now(a.to_str().unwrap()).as_deref(),
            Some(a.to_str().unwrap())
        );
        assert_eq!(
            find_device_now(&format!("{}/absent", dir.path().display())),
            None
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(find_device("tcp:127.0.0.1:9")).as_deref(),
            Some("tcp:127.0.0.1:9")
        );
        assert_eq!(
            rt.block_on(find_device(&pattern)).as_deref(),
            Some(a.to_str().unwrap())
        );
    }
}
