//! One modem session: a thin tokio driver around the sans-IO
//! [`SessionCore`], which holds all of the
//! protocol (start-up sequence, sends through AT+CMGS, status reports and
//! incoming SMS, resync after a command given up on, read retries,
//! reconnects). The driver owns the port and moves bytes, jobs and time
//! between it, the owner's channel and the core: one loop over port reads,
//! jobs, and one sleep until the core's next deadline.
//!
//! A status report is acknowledged (AT+CNMA) or deleted from storage
//! (AT+CMGD) only after the owner says it is safely stored
//! ([`Modem::handed_on`]). When the port vanishes the session reports it,
//! fails the job in flight (saying whether the PDU may have been sent), and
//! reopens the same path until the device comes back.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::at::Response;

pub use super::session_core::SessionConfig;
use super::session_core::{Answer, Job, JobId, SessionCore, SessionEvent};
use super::transport::Transport;
use super::ussd::UssdAnswer;
use super::{ModemError, ModemEvent, ModemInfo, Origin};

/// A job as the owner's handle sends it to the driver.
enum Request {
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
    Ussd {
        request: String,
        timeout: Duration,
        reply: oneshot::Sender<Result<UssdAnswer, ModemError>>,
    },
    HandedOn(Origin),
}

/// A handle on a running session. Cheap to clone.
#[derive(Clone)]
pub struct Modem {
    name: String,
    jobs: mpsc::UnboundedSender<Request>,
    info: watch::Receiver<Option<ModemInfo>>,
}

/// A handle that does not keep the session alive (the session ends when
/// every [`Modem`] is dropped): for others than its owner, such as the
/// API's USSD requests.
#[derive(Clone)]
pub struct WeakModem {
    name: String,
    jobs: mpsc::WeakUnboundedSender<Request>,
    info: watch::Receiver<Option<ModemInfo>>,
}

impl WeakModem {
    /// The session, while it runs.
    pub fn upgrade(&self) -> Option<Modem> {
        Some(Modem {
            name: self.name.clone(),
            jobs: self.jobs.upgrade()?,
            info: self.info.clone(),
        })
    }
}

impl Modem {
    /// A handle that does not keep the session alive.
    pub fn downgrade(&self) -> WeakModem {
        WeakModem {
            name: self.name.clone(),
            jobs: self.jobs.downgrade(),
            info: self.info.clone(),
        }
    }

    /// Open the port, run the start-up sequence and start the session task.
    /// Events (status reports, incoming SMS, disconnects) arrive on the
    /// returned receiver; reports already stored in the modem come first.
    pub async fn start(
        cfg: SessionConfig,
    ) -> Result<(Modem, mpsc::UnboundedReceiver<ModemEvent>), ModemError> {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (job_tx, job_rx) = mpsc::unbounded_channel();
        let (info_tx, info_rx) = watch::channel(None);
        let io = open(&cfg).await?;
        let mut driver = Driver {
            core: SessionCore::new(cfg.clone()),
            io: Some(io),
            events: ev_tx,
            info: info_tx,
            replies: HashMap::new(),
            buf: vec![0u8; 4096],
        };
        driver.core.connected(now());
        driver.start_up().await?;
        // The task logs in the caller's span (the worker's `modem` span
        // names the modem); tokio::spawn alone would drop it.
        tokio::spawn(tracing::Instrument::instrument(
            driver.run(job_rx),
            tracing::Span::current(),
        ));
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
            .send(Request::Send {
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
            .send(Request::Command {
                cmd: cmd.to_string(),
                timeout,
                reply,
            })
            .map_err(|_| ModemError::Closed)?;
        rx.await.map_err(|_| ModemError::Closed)?
    }

    /// Ask the network a USSD request (a code such as `*100#`, or the
    /// answer typed in a menu the previous answer opened) and return its
    /// answer, or a timeout after `timeout`.
    pub async fn ussd(&self, request: &str, timeout: Duration) -> Result<UssdAnswer, ModemError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Request::Ussd {
                request: request.to_string(),
                timeout,
                reply,
            })
            .map_err(|_| ModemError::Closed)?;
        rx.await.map_err(|_| ModemError::Closed)?
    }

    /// Say that an inbound PDU is safely stored: the session acknowledges it
    /// (AT+CNMA) or deletes it from the modem's storage (AT+CMGD).
    pub fn handed_on(&self, origin: &Origin) {
        let _ = self.jobs.send(Request::HandedOn(origin.clone()));
    }

    /// True while the session task is running.
    pub fn is_running(&self) -> bool {
        !self.jobs.is_closed()
    }
}

/// Where a job's outcome goes.
enum Reply {
    Command(oneshot::Sender<Result<Response, ModemError>>),
    Send(oneshot::Sender<Result<u8, ModemError>>),
    Ussd(oneshot::Sender<Result<UssdAnswer, ModemError>>),
}

/// Why the driver stops.
enum Stop {
    Ended,
    StartFailed(ModemError),
}

/// The tokio side of a session: the port, the owner's channels, the core.
struct Driver {
    core: SessionCore,
    io: Option<Transport>,
    events: mpsc::UnboundedSender<ModemEvent>,
    info: watch::Sender<Option<ModemInfo>>,
    replies: HashMap<JobId, Reply>,
    buf: Vec<u8>,
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

async fn open(cfg: &SessionConfig) -> Result<Transport, ModemError> {
    Transport::open(&cfg.endpoint, cfg.serial)
        .await
        .map_err(|e| ModemError::Open {
            device: cfg.endpoint.to_string(),
            reason: e.to_string(),
        })
}

impl Driver {
    /// Drive the start-up sequence (listing of stored messages included).
    async fn start_up(&mut self) -> Result<(), ModemError> {
        while self.core.is_starting() {
            match self.step(None).await {
                Ok(()) => {}
                Err(Stop::StartFailed(e)) => return Err(e),
                Err(Stop::Ended) => return Err(ModemError::Closed),
            }
        }
        // Events of the last step (the listing) go out before start returns.
        match self.flush().await {
            Err(Stop::StartFailed(e)) => Err(e),
            Err(Stop::Ended) => Err(ModemError::Closed),
            Ok(()) => Ok(()),
        }
    }

    /// The session's life after start-up, until the owner drops every
    /// handle or the session ends.
    async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Request>) {
        while self.step(Some(&mut jobs)).await.is_ok() {}
    }

    /// One turn: write and dispatch what the core produced, then wait for
    /// a port read, a job or the core's deadline.
    async fn step(
        &mut self,
        jobs: Option<&mut mpsc::UnboundedReceiver<Request>>,
    ) -> Result<(), Stop> {
        self.flush().await?;
        let deadline = self.core.poll_timeout().map(tokio::time::Instant::from_std);
        let io = self.io.as_mut();
        let buf = &mut self.buf;
        tokio::select! {
            job = async {
                match jobs {
                    Some(jobs) => jobs.recv().await,
                    None => std::future::pending().await,
                }
            } => match job {
                Some(job) => self.take(job),
                None => return Err(Stop::Ended),
            },
            r = async {
                match io {
                    Some(io) => io.read(buf).await,
                    None => std::future::pending().await,
                }
            } => match r {
                Ok(0) => self.lost("end of stream"),
                Ok(n) => self.core.handle_input(&self.buf[..n], now()),
                Err(e) => self.lost(&e.to_string()),
            },
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => self.core.handle_timeout(now()),
        }
        Ok(())
    }

    fn lost(&mut self, reason: &str) {
        self.io = None;
        self.core.connection_lost(reason, now());
    }

    fn take(&mut self, req: Request) {
        match req {
            Request::Command {
                cmd,
                timeout,
                reply,
            } => {
                let id = self.core.submit(Job::Command { cmd, timeout }, now());
                self.replies.insert(id, Reply::Command(reply));
            }
            Request::Send {
                tpdu_len,
                hex,
                reply,
            } => {
                let id = self.core.submit(Job::Send { tpdu_len, hex }, now());
                self.replies.insert(id, Reply::Send(reply));
            }
            Request::Ussd {
                request,
                timeout,
                reply,
            } => {
                let id = self.core.submit(Job::Ussd { request, timeout }, now());
                self.replies.insert(id, Reply::Ussd(reply));
            }
            Request::HandedOn(origin) => self.core.handed_on(&origin, now()),
        }
    }

    /// Write what the core wants written and dispatch its events, until it
    /// has nothing more (opening the port makes more).
    async fn flush(&mut self) -> Result<(), Stop> {
        loop {
            if let Some(bytes) = self.core.poll_transmit() {
                if let Some(io) = self.io.as_mut() {
                    let written = async {
                        io.write_all(&bytes).await?;
                        io.flush().await
                    }
                    .await;
                    if let Err(e) = written {
                        self.lost(&e.to_string());
                    }
                }
                continue;
            }
            let Some(ev) = self.core.poll_event() else {
                return Ok(());
            };
            match ev {
                SessionEvent::Done { job, result } => self.reply(job, result),
                SessionEvent::Modem(ev) => {
                    let _ = self.events.send(ev);
                }
                SessionEvent::Ready(info) => {
                    self.info.send_replace(Some(info));
                }
                SessionEvent::OpenPort => {
                    // Nobody listens any more: no point in coming back.
                    if self.events.is_closed() {
                        return Err(Stop::Ended);
                    }
                    match open(self.core.config()).await {
                        Ok(io) => {
                            self.io = Some(io);
                            self.core.connected(now());
                        }
                        Err(e) => {
                            tracing::debug!("reopening: {e}");
                            self.core.open_failed(now());
                        }
                    }
                }
                SessionEvent::ClosePort => self.io = None,
                SessionEvent::StartFailed(e) => return Err(Stop::StartFailed(e)),
                SessionEvent::Ended => return Err(Stop::Ended),
            }
        }
    }

    fn reply(&mut self, job: JobId, result: Result<Answer, ModemError>) {
        let protocol = |what: &str| ModemError::Protocol(format!("job answered with {what}"));
        match self.replies.remove(&job) {
            Some(Reply::Command(tx)) => {
                let _ = tx.send(match result {
                    Ok(Answer::Response(r)) => Ok(r),
                    Ok(Answer::Mr(_)) => Err(protocol("a TP-MR")),
                    Ok(Answer::Ussd(_)) => Err(protocol("a USSD answer")),
                    Err(e) => Err(e),
                });
            }
            Some(Reply::Send(tx)) => {
                let _ = tx.send(match result {
                    Ok(Answer::Mr(mr)) => Ok(mr),
                    Ok(Answer::Response(_)) => Err(protocol("a response")),
                    Ok(Answer::Ussd(_)) => Err(protocol("a USSD answer")),
                    Err(e) => Err(e),
                });
            }
            Some(Reply::Ussd(tx)) => {
                let _ = tx.send(match result {
                    Ok(Answer::Ussd(a)) => Ok(a),
                    Ok(_) => Err(protocol("no USSD answer")),
                    Err(e) => Err(e),
                });
            }
            None => {}
        }
    }
}
