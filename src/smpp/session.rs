//! One SMPP connection's protocol logic, sans IO: PDUs in (bytes), actions
//! out (bytes to send, backend work to start, deliver_sm outcomes, close).
//! The tokio layer ([`super::server`]) owns the socket and the backend;
//! this core owns the bind state, the window, sequence numbers,
//! enquire_link and every timeout, and is driven with explicit instants.
//!
//! States: open -> (bind received) binding -> bound as transmitter,
//! receiver or transceiver -> unbinding (we sent unbind) -> closed.
//! - Any PDU before a successful bind: its _resp with ESME_RINVBNDSTS; a
//!   bind while binding or bound: ESME_RALYBND.
//! - A transmitter may not receive deliver_sm; a receiver may not submit,
//!   query, cancel or replace (ESME_RINVBNDSTS).
//! - At most `window` client requests are being worked on at once; a
//!   submit_sm (or query/cancel) beyond that gets ESME_RMSGQFUL. Responses
//!   leave in the order of the requests (the IO layer completes work in
//!   order).
//! - Unknown command_id: generic_nack ESME_RINVCMDID; a broken PDU
//!   structure: generic_nack ESME_RINVCMDLEN; a bad field value: the
//!   command's _resp with the status naming the field. A command_length
//!   under 16 or over 64 KiB: generic_nack, then close.
//! - enquire_link: the server sends one after `enquire_link` without any
//!   PDU from the client and closes the connection when the client stays
//!   silent for twice that; unbound connections are closed after
//!   `enquire_link` of silence.
//! - deliver_sm: own sequence numbers; no deliver_sm_resp within
//!   `response_timeout` = that delivery failed.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::smpp::backend::SubmitRequest;
use crate::smpp::message;
use crate::smpp::pdu::{
    command, status, tlv, Bind, BindResp, Body, Header, Pdu, PduError, Sm, SmResp, Tlv,
};

/// Our interface version in bind_*_resp (SMPP 3.4).
pub const INTERFACE_VERSION: u8 = 0x34;

/// The three kinds of bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    pub const fn can_submit(self) -> bool {
        !matches!(self, BindKind::Receiver)
    }

    pub const fn can_receive(self) -> bool {
        !matches!(self, BindKind::Transmitter)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            BindKind::Transmitter => "transmitter",
            BindKind::Receiver => "receiver",
            BindKind::Transceiver => "transceiver",
        }
    }

    fn resp(self, r: BindResp) -> Body {
        match self {
            BindKind::Transmitter => Body::BindTransmitterResp(r),
            BindKind::Receiver => Body::BindReceiverResp(r),
            BindKind::Transceiver => Body::BindTransceiverResp(r),
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Binding(BindKind),
    Bound(BindKind),
    Unbinding,
    Closed,
}

/// What one session is configured with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our system_id in bind_*_resp.
    pub system_id: String,
    pub window: usize,
    pub enquire_link: Duration,
    pub response_timeout: Duration,
}

/// A request the IO layer must work on and then answer with
/// [`Session::respond`] (or [`Session::bind_done`] for a bind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Bind {
        kind: BindKind,
        system_id: String,
        password: String,
    },
    /// submit_sm, or data_sm when `data_sm` (answered with data_sm_resp).
    Submit {
        req: Box<SubmitRequest>,
        data_sm: bool,
    },
    /// query_sm: the message id as the client wrote it.
    Query {
        message_id: String,
    },
    Cancel {
        message_id: String,
    },
}

/// How a deliver_sm ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverOutcome {
    /// deliver_sm_resp with status 0.
    Ok,
    /// deliver_sm_resp (or generic_nack) with this error status.
    Refused(u32),
    /// No answer within the response timeout.
    TimedOut,
    /// The connection closed first.
    Closed,
}

/// What the IO layer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes (one PDU).
    Send(Vec<u8>),
    /// Start this work for the request with this sequence number.
    Work { sequence: u32, work: Work },
    /// The deliver_sm sent for `token` ended.
    Delivered { token: u64, outcome: DeliverOutcome },
    /// Close the connection (after writing what was queued).
    Close { reason: String },
}

/// The connection's protocol core.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    next_seq: u32,
    actions: VecDeque<Action>,
    /// Client requests being worked on.
    in_work: usize,
    /// deliver_sm sent: sequence -> (token, deadline).
    delivers: HashMap<u32, (u64, Instant)>,
    last_rx: Instant,
    /// Our enquire_link awaiting its resp: (sequence).
    enquire: Option<u32>,
    /// Our unbind awaiting its resp: deadline.
    unbind_deadline: Option<Instant>,
}

impl Session {
    pub fn new(cfg: SessionConfig, now: Instant) -> Session {
        Session {
            cfg,
            state: State::Open,
            next_seq: 1,
            actions: VecDeque::new(),
            in_work: 0,
            delivers: HashMap::new(),
            last_rx: now,
            enquire: None,
            unbind_deadline: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The bind, when bound.
    pub fn bound(&self) -> Option<BindKind> {
        match self.state {
            State::Bound(k) => Some(k),
            _ => None,
        }
    }

    /// Client requests being worked on.
    pub fn in_work(&self) -> usize {
        self.in_work
    }

    /// deliver_sm awaiting their resp.
    pub fn delivers_in_flight(&self) -> usize {
        self.delivers.len()
    }

    /// The next action for the IO layer.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn send(&mut self, pdu: Pdu) {
        self.actions.push_back(Action::Send(pdu.to_bytes()));
    }

    fn close(&mut self, reason: impl Into<String>) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        for (_, (token, _)) in self.delivers.drain() {
            self.actions.push_back(Action::Delivered {
                token,
                outcome: DeliverOutcome::Closed,
            });
        }
        self.actions.push_back(Action::Close {
            reason: reason.into(),
        });
    }

    /// The _resp body for a request's command_id (`None`: it has none).
    fn resp_for(command_id: u32) -> Option<Body> {
        use command::*;
        Some(match command_id {
            BIND_TRANSMITTER => Body::BindTransmitterResp(BindResp::default()),
            BIND_RECEIVER => Body::BindReceiverResp(BindResp::default()),
            BIND_TRANSCEIVER => Body::BindTransceiverResp(BindResp::default()),
            SUBMIT_SM => Body::SubmitSmResp(SmResp::default()),
            DATA_SM => Body::DataSmResp(SmResp::default()),
            QUERY_SM => Body::QuerySmResp(Default::default()),
            CANCEL_SM => Body::CancelSmResp,
            REPLACE_SM => Body::ReplaceSmResp,
            UNBIND => Body::UnbindResp,
            ENQUIRE_LINK => Body::EnquireLinkResp,
            DELIVER_SM => Body::DeliverSmResp(SmResp::default()),
            _ => return None,
        })
    }

    /// Answers request `sequence` (command `command_id`) with an error.
    fn refuse(&mut self, command_id: u32, sequence: u32, st: u32) {
        match Self::resp_for(command_id) {
            Some(body) => self.send(Pdu::error(sequence, body, st)),
            // A response needs no answer; anything else gets a generic_nack.
            None if command_id & command::RESP != 0 => {}
            None => self.send(Pdu::error(sequence, Body::GenericNack, st)),
        }
    }

    /// A command_length under 16 or over 64 KiB: generic_nack, then close.
    pub fn frame_error(&mut self, header: Option<Header>, reason: &str) {
        let seq = header.map_or(0, |h| h.sequence);
        self.send(Pdu::error(seq, Body::GenericNack, status::ESME_RINVCMDLEN));
        self.close(format!("framing: {reason}"));
    }

    /// One whole PDU from the client.
    pub fn handle_pdu(&mut self, bytes: &[u8], now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.last_rx = now;
        let Some(h) = Header::peek(bytes) else {
            self.frame_error(None, "PDU shorter than its header");
            return;
        };
        let pdu = match Pdu::parse(bytes) {
            Ok(p) => p,
            Err(e) => return self.malformed(h, &e),
        };
        self.dispatch(h, pdu);
    }

    fn malformed(&mut self, h: Header, e: &PduError) {
        tracing::debug!(error = %e, "SMPP: malformed PDU");
        if e.field == "command_id" {
            self.send(Pdu::error(
                h.sequence,
                Body::GenericNack,
                status::ESME_RINVCMDID,
            ));
        } else if e.is_structural() || Self::resp_for(h.command_id).is_none() {
            if h.command_id & command::RESP == 0 || h.command_id == command::GENERIC_NACK {
                self.send(Pdu::error(
                    h.sequence,
                    Body::GenericNack,
                    status::ESME_RINVCMDLEN,
                ));
            }
            // A broken answer to our deliver_sm counts as a refusal.
            if let Some((token, _)) = self.delivers.remove(&h.sequence) {
                self.actions.push_back(Action::Delivered {
                    token,
                    outcome: DeliverOutcome::Refused(status::ESME_RINVCMDLEN),
                });
            }
        } else {
            self.refuse(h.command_id, h.sequence, e.status());
        }
    }

    fn dispatch(&mut self, h: Header, pdu: Pdu) {
        let seq = pdu.sequence;
        let id = h.command_id;
        // Answers to what we sent, in any state.
        match &pdu.body {
            Body::DeliverSmResp(_) | Body::GenericNack => {
                if let Some((token, _)) = self.delivers.remove(&seq) {
                    let outcome = if pdu.status == status::ESME_ROK
                        && matches!(pdu.body, Body::DeliverSmResp(_))
                    {
                        DeliverOutcome::Ok
                    } else {
                        DeliverOutcome::Refused(pdu.status.max(1))
                    };
                    self.actions.push_back(Action::Delivered { token, outcome });
                } else if self.enquire == Some(seq) {
                    self.enquire = None;
                }
                return;
            }
            Body::EnquireLinkResp => {
                if self.enquire == Some(seq) {
                    self.enquire = None;
                }
                return;
            }
            Body::UnbindResp => {
                if self.state == State::Unbinding {
                    self.close("unbound");
                }
                return;
            }
            b if b.is_response() => return,
            _ => {}
        }
        let bind = |b: &Bind, kind| Work::Bind {
            kind,
            system_id: b.system_id.clone(),
            password: b.password.clone(),
        };
        let bind_work = match &pdu.body {
            Body::BindTransmitter(b) => Some(bind(b, BindKind::Transmitter)),
            Body::BindReceiver(b) => Some(bind(b, BindKind::Receiver)),
            Body::BindTransceiver(b) => Some(bind(b, BindKind::Transceiver)),
            _ => None,
        };
        let kind = match (self.state, bind_work) {
            (State::Open, Some(work)) => {
                if let Work::Bind { kind, .. } = &work {
                    self.state = State::Binding(*kind);
                }
                self.in_work += 1;
                self.actions.push_back(Action::Work {
                    sequence: seq,
                    work,
                });
                return;
            }
            (_, Some(_)) => return self.refuse(id, seq, status::ESME_RALYBND),
            (State::Bound(k), None) => k,
            (State::Unbinding | State::Closed, None) => {
                return self.refuse(id, seq, status::ESME_RINVBNDSTS)
            }
            (State::Open | State::Binding(_), None) => {
                return self.refuse(id, seq, status::ESME_RINVBNDSTS)
            }
        };
        match pdu.body {
            Body::EnquireLink => self.send(Pdu::new(seq, Body::EnquireLinkResp)),
            Body::Unbind => {
                self.send(Pdu::new(seq, Body::UnbindResp));
                self.close("the client unbound");
            }
            Body::SubmitSm(_) | Body::DataSm(_) | Body::QuerySm(_) | Body::CancelSm(_)
                if !kind.can_submit() =>
            {
                self.refuse(id, seq, status::ESME_RINVBNDSTS)
            }
            Body::ReplaceSm(_) => {
                let st = if kind.can_submit() {
                    status::ESME_RREPLACEFAIL
                } else {
                    status::ESME_RINVBNDSTS
                };
                self.refuse(id, seq, st)
            }
            _ if self.in_work >= self.cfg.window => self.refuse(id, seq, status::ESME_RMSGQFUL),
            Body::SubmitSm(sm) => {
                let unix = unix_now();
                match message::submit_request(&sm, unix) {
                    Ok(req) => self.work(
                        seq,
                        Work::Submit {
                            req: Box::new(req),
                            data_sm: false,
                        },
                    ),
                    Err(r) => {
                        tracing::debug!(reason = %r.reason, "SMPP: submit_sm refused");
                        self.refuse(id, seq, r.status)
                    }
                }
            }
            Body::DataSm(d) => match message::data_sm_request(&d, unix_now()) {
                Ok(req) => self.work(
                    seq,
                    Work::Submit {
                        req: Box::new(req),
                        data_sm: true,
                    },
                ),
                Err(r) => self.refuse(id, seq, r.status),
            },
            Body::QuerySm(q) => self.work(
                seq,
                Work::Query {
                    message_id: q.message_id,
                },
            ),
            Body::CancelSm(c) => self.work(
                seq,
                Work::Cancel {
                    message_id: c.message_id,
                },
            ),
            // deliver_sm goes from us to the client, never back.
            _ => self.send(Pdu::error(seq, Body::GenericNack, status::ESME_RINVCMDID)),
        }
    }

    fn work(&mut self, sequence: u32, work: Work) {
        self.in_work += 1;
        self.actions.push_back(Action::Work { sequence, work });
    }

    /// The backend's answer to a bind: `Ok(())` binds, `Err(status)` sends
    /// the refusal (the connection stays open for another try).
    pub fn bind_done(&mut self, sequence: u32, result: Result<(), u32>) {
        self.in_work = self.in_work.saturating_sub(1);
        let State::Binding(kind) = self.state else {
            return;
        };
        match result {
            Ok(()) => {
                self.state = State::Bound(kind);
                let resp = BindResp {
                    system_id: self.cfg.system_id.clone(),
                    tlvs: vec![Tlv::new(tlv::SC_INTERFACE_VERSION, [INTERFACE_VERSION])],
                };
                self.send(Pdu::new(sequence, kind.resp(resp)));
            }
            Err(st) => {
                self.state = State::Open;
                self.send(Pdu::error(sequence, kind.resp(BindResp::default()), st));
            }
        }
    }

    /// The answer to a submit/query/cancel, built by the IO layer.
    pub fn respond(&mut self, pdu: Pdu) {
        self.in_work = self.in_work.saturating_sub(1);
        if self.state != State::Closed {
            self.send(pdu);
        }
    }

    /// Sends a deliver_sm for `token` (an outbox row); `false` when this
    /// bind cannot take it now (not a receiver, unbinding, closed).
    pub fn deliver(&mut self, token: u64, sm: Sm, now: Instant) -> bool {
        if !self.bound().is_some_and(BindKind::can_receive) {
            return false;
        }
        let seq = self.seq();
        self.delivers
            .insert(seq, (token, now + self.cfg.response_timeout));
        self.send(Pdu::new(seq, Body::DeliverSm(Box::new(sm))));
        true
    }

    /// Graceful shutdown: unbind a bound session, close any other.
    pub fn shutdown(&mut self, now: Instant) {
        match self.state {
            State::Bound(_) => {
                let seq = self.seq();
                self.send(Pdu::new(seq, Body::Unbind));
                self.state = State::Unbinding;
                self.unbind_deadline = Some(now + self.cfg.response_timeout);
            }
            State::Unbinding | State::Closed => {}
            _ => self.close("shutting down"),
        }
    }

    /// When [`Session::handle_timeout`] must next run.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let idle = self.cfg.enquire_link;
        let link = match (self.state, self.enquire) {
            // Unbound: closed after one interval; bound: enquire_link then.
            (State::Open | State::Binding(_), _) | (State::Bound(_), None) => self.last_rx + idle,
            // Waiting for an answer: closed at twice the interval.
            _ => self.last_rx + idle * 2,
        };
        [
            Some(link),
            self.unbind_deadline,
            self.delivers.values().map(|&(_, d)| d).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Timers: deliver_sm timeouts, enquire_link, unbind.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        let expired: Vec<u32> = self
            .delivers
            .iter()
            .filter(|(_, &(_, d))| d <= now)
            .map(|(&s, _)| s)
            .collect();
        for s in expired {
            if let Some((token, _)) = self.delivers.remove(&s) {
                self.actions.push_back(Action::Delivered {
                    token,
                    outcome: DeliverOutcome::TimedOut,
                });
            }
        }
        if self.unbind_deadline.is_some_and(|d| d <= now) {
            return self.close("no unbind_resp");
        }
        let idle = now.saturating_duration_since(self.last_rx);
        match self.state {
            State::Open | State::Binding(_) if idle >= self.cfg.enquire_link => {
                self.close("no bind")
            }
            State::Bound(_) | State::Unbinding if idle >= self.cfg.enquire_link * 2 => {
                self.close(format!(
                    "no PDU from the client for {} s (enquire_link unanswered)",
                    idle.as_secs()
                ))
            }
            State::Bound(_) if self.enquire.is_none() && idle >= self.cfg.enquire_link => {
                let seq = self.seq();
                self.enquire = Some(seq);
                self.send(Pdu::new(seq, Body::EnquireLink));
            }
            _ => {}
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
