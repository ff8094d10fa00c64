//! The thin tokio layer: a listener, one task per connection driving a
//! [`Session`], and one delivery loop per account with a receiver bound.
//!
//! Bounds that keep a hostile client from hurting the daemon or other
//! binds: at most `max_connections` connections (more are closed at
//! accept); a read buffer of one PDU (64 KiB) plus one read; at most
//! `window` requests worked on per bind; one write at a time per
//! connection, each within `response_timeout` (a client that does not read
//! is disconnected); every connection in its own task.
//!
//! Receipts and MO: the delivery loop of an account reads its outbox in id
//! order and pipelines up to `window` deliver_sm over its receiver binds
//! (round robin). A 0 deliver_sm_resp removes the row (`delivered`); an
//! error resp, a timeout or a closed bind marks it failed (`failed`), stops
//! sending new rows, lets the ones in flight settle, waits the backoff and
//! starts again from the first failed row. Rows go out in order; after a
//! failure, rows that were already in flight behind the failed one may be
//! acknowledged before its retry.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::smpp::backend::{
    Account, BindRefusal, LookupRefusal, OutboundKind, SmppBackend, SubmitRefusal,
};
use crate::smpp::message;
use crate::smpp::pdu::{frame_length, status, Body, Header, Pdu, QuerySmResp, SmResp, MAX_PDU_LEN};
use crate::smpp::registry::{BindRegistry, BindStats, DeliverJob};
use crate::smpp::session::{Action, DeliverOutcome, Session, SessionConfig, Work};
use crate::smpp::time;

pub use crate::smpp::registry::BindInfo;
pub use crate::smpp::session::BindKind;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most requests worked on per bind (ESME_RMSGQFUL beyond); also the
    /// most deliver_sm in flight per account.
    pub window: usize,
    /// Idle time before the server sends enquire_link; silence for twice
    /// this closes the connection.
    pub enquire_link: Duration,
    /// How long a deliver_sm (or unbind) waits for its resp, and a write
    /// for the client to read.
    pub response_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            window: 64,
            enquire_link: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

struct Shared<B> {
    backend: Arc<B>,
    cfg: ServerConfig,
    registry: Arc<BindRegistry>,
    system_id: String,
    retry: Backoff,
}

/// The SMPP server over a backend.
pub struct SmppServer<B: SmppBackend> {
    backend: Arc<B>,
    cfg: ServerConfig,
    registry: Arc<BindRegistry>,
    system_id: String,
    retry: Backoff,
}

impl<B: SmppBackend> SmppServer<B> {
    pub fn new(backend: Arc<B>, cfg: ServerConfig) -> Self {
        SmppServer {
            backend,
            cfg,
            registry: Arc::new(BindRegistry::default()),
            system_id: "smsgw".into(),
            retry: Backoff::new(Duration::from_secs(1), Duration::from_secs(300)),
        }
    }

    /// The system_id sent in bind_*_resp (default `smsgw`).
    pub fn with_system_id(mut self, id: impl Into<String>) -> Self {
        self.system_id = id.into().chars().take(15).collect();
        self
    }

    /// The pause before a failed deliver_sm is tried again: `first`,
    /// doubling with the row's failures, at most `max` (default 1 s..300 s).
    pub fn with_retry(mut self, first: Duration, max: Duration) -> Self {
        self.retry = Backoff::new(first, max);
        self
    }

    /// The binds, live.
    pub fn binds(&self) -> Arc<BindRegistry> {
        self.registry.clone()
    }

    /// Accepts connections until `shutdown` turns true (or its sender is
    /// dropped), then unbinds every bind and returns once they are closed
    /// (at most `response_timeout` later).
    pub async fn run(
        self,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let sh = Arc::new(Shared {
            backend: self.backend,
            cfg: self.cfg,
            registry: self.registry,
            system_id: self.system_id,
            retry: self.retry,
        });
        let slots = Arc::new(Semaphore::new(sh.cfg.max_connections.max(1)));
        let mut tasks = JoinSet::new();
        if *shutdown.borrow_and_update() {
            return Ok(());
        }
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((sock, peer)) => match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let sh = sh.clone();
                            let down = shutdown.clone();
                            tasks.spawn(async move {
                                connection(sh, sock, peer, down).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "SMPP: connection refused, at max_connections");
                            drop(sock);
                        }
                    },
                    Err(e) => {
                        // EMFILE and friends: do not spin.
                        tracing::warn!(error = %e, "SMPP: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow_and_update() {
                        break;
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(listener);
        let grace = sh.cfg.response_timeout + Duration::from_secs(1);
        let _ =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        tasks.abort_all();
        Ok(())
    }
}

/// Client requests being worked on, answered in the order they came.
type WorkFuture = Pin<Box<dyn Future<Output = WorkDone> + Send>>;

enum WorkDone {
    Resp(Pdu),
    Submitted(Pdu),
}

#[derive(Default)]
struct Ordered {
    q: VecDeque<(WorkFuture, Option<WorkDone>)>,
}

impl Ordered {
    fn push(&mut self, f: WorkFuture) {
        self.q.push_back((f, None));
    }

    fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<WorkDone> {
        for (f, done) in self.q.iter_mut() {
            if done.is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    *done = Some(v);
                }
            }
        }
        match self.q.front_mut() {
            Some((_, done)) if done.is_some() => match self.q.pop_front() {
                Some((_, Some(v))) => Poll::Ready(v),
                _ => Poll::Pending,
            },
            _ => Poll::Pending,
        }
    }

    async fn next(&mut self) -> WorkDone {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }
}

fn bind_status(r: BindRefusal) -> u32 {
    match r {
        BindRefusal::UnknownSystemId => status::ESME_RINVSYSID,
        BindRefusal::BadPassword => status::ESME_RINVPASWD,
        BindRefusal::AddressNotAllowed => status::ESME_RBINDFAIL,
    }
}

fn submit_status(r: &SubmitRefusal) -> u32 {
    match r {
        SubmitRefusal::BadDestination(_) => status::ESME_RINVDSTADR,
        SubmitRefusal::BadContent(_) => status::ESME_RSUBMITFAIL,
        SubmitRefusal::Throttled => status::ESME_RTHROTTLED,
        SubmitRefusal::QueueFull => status::ESME_RMSGQFUL,
        SubmitRefusal::Unavailable(_) => status::ESME_RSYSERR,
    }
}

/// The future that works on one request and builds its answer.
fn start_work<B: SmppBackend>(
    backend: &Arc<B>,
    account: &Arc<Account>,
    sequence: u32,
    work: Work,
) -> WorkFuture {
    let b = backend.clone();
    let acc = account.clone();
    match work {
        Work::Submit { req, data_sm } => Box::pin(async move {
            let empty = || {
                if data_sm {
                    Body::DataSmResp(SmResp::default())
                } else {
                    Body::SubmitSmResp(SmResp::default())
                }
            };
            match b.submit(&acc, *req).await {
                Ok(id) => {
                    let r = SmResp::id(acc.id_format.format(id));
                    let body = if data_sm {
                        Body::DataSmResp(r)
                    } else {
                        Body::SubmitSmResp(r)
                    };
                    WorkDone::Submitted(Pdu::new(sequence, body))
                }
                Err(e) => {
                    tracing::debug!(account = %acc.system_id, refusal = ?e, "SMPP: submit refused");
                    WorkDone::Resp(Pdu::error(sequence, empty(), submit_status(&e)))
                }
            }
        }),
        Work::Query { message_id } => Box::pin(async move {
            let empty = Body::QuerySmResp(QuerySmResp::default());
            let Some(id) = acc.id_format.parse(&message_id) else {
                return WorkDone::Resp(Pdu::error(sequence, empty, status::ESME_RINVMSGID));
            };
            match b.query(&acc, id).await {
                Ok(a) => WorkDone::Resp(Pdu::new(
                    sequence,
                    Body::QuerySmResp(QuerySmResp {
                        message_id,
                        final_date: a.final_date.map(time::format_absolute).unwrap_or_default(),
                        message_state: a.state.smpp_value(),
                        error_code: a.error_code.min(255) as u8,
                    }),
                )),
                Err(LookupRefusal::NotFound | LookupRefusal::TooLate) => {
                    WorkDone::Resp(Pdu::error(sequence, empty, status::ESME_RQUERYFAIL))
                }
                Err(LookupRefusal::Unavailable(_)) => {
                    WorkDone::Resp(Pdu::error(sequence, empty, status::ESME_RSYSERR))
                }
            }
        }),
        Work::Cancel { message_id } => Box::pin(async move {
            let Some(id) = acc.id_format.parse(&message_id) else {
                return WorkDone::Resp(Pdu::error(
                    sequence,
                    Body::CancelSmResp,
                    status::ESME_RINVMSGID,
                ));
            };
            let st = match b.cancel(&acc, id).await {
                Ok(()) => status::ESME_ROK,
                Err(LookupRefusal::NotFound | LookupRefusal::TooLate) => status::ESME_RCANCELFAIL,
                Err(LookupRefusal::Unavailable(_)) => status::ESME_RSYSERR,
            };
            WorkDone::Resp(Pdu::error(sequence, Body::CancelSmResp, st))
        }),
        // Binds are answered at once (authenticate is synchronous).
        Work::Bind { .. } => Box::pin(async move {
            WorkDone::Resp(Pdu::error(
                sequence,
                Body::GenericNack,
                status::ESME_RSYSERR,
            ))
        }),
    }
}

/// Room made for each read; the buffer holds at most one PDU plus this.
const READ_CHUNK: usize = 8 * 1024;

async fn connection<B: SmppBackend>(
    sh: Arc<Shared<B>>,
    sock: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = sock.set_nodelay(true);
    let (rd, mut wr) = sock.into_split();
    let cfg = SessionConfig {
        system_id: sh.system_id.clone(),
        window: sh.cfg.window.max(1),
        enquire_link: sh.cfg.enquire_link,
        response_timeout: sh.cfg.response_timeout,
    };
    let mut core = Session::new(cfg, Instant::now().into_std());
    // Both grow with use; an idle bind holds almost nothing.
    let mut buf: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut work = Ordered::default();
    let (deliver_tx, mut deliver_rx) = mpsc::channel::<DeliverJob>(sh.cfg.window.max(1));
    let mut deliver_tx = Some(deliver_tx);
    let mut pending: HashMap<u64, (oneshot::Sender<DeliverOutcome>, bool)> = HashMap::new();
    let mut next_token = 0u64;
    let mut account: Option<Arc<Account>> = None;
    let mut bind: Option<(u64, Arc<BindStats>)> = None;
    let mut shutting_down = false;
    let mut read_open = true;
    tracing::debug!(%peer, "SMPP: connection");

    let reason = 'conn: loop {
        // Act on everything the core decided.
        let mut close = None;
        while let Some(a) = core.poll_action() {
            match a {
                Action::Send(bytes) => out.extend_from_slice(&bytes),
                Action::Work {
                    sequence,
                    work:
                        Work::Bind {
                            kind,
                            system_id,
                            password,
                        },
                } => match sh.backend.authenticate(&system_id, &password, peer.ip()) {
                    Ok(acc) => {
                        let acc = Arc::new(acc);
                        let tx = if kind.can_receive() {
                            deliver_tx.take()
                        } else {
                            None
                        };
                        let (id, stats, start) = sh.registry.register(&acc, kind, peer, tx);
                        if start {
                            tokio::spawn(delivery_loop(sh.clone(), acc.clone()));
                        }
                        tracing::info!(%peer, account = %acc.system_id, kind = kind.as_str(), "SMPP: bound");
                        account = Some(acc);
                        bind = Some((id, stats));
                        core.bind_done(sequence, Ok(()));
                    }
                    Err(r) => {
                        tracing::info!(%peer, system_id = %system_id, refusal = ?r, "SMPP: bind refused");
                        core.bind_done(sequence, Err(bind_status(r)));
                    }
                },
                Action::Work { sequence, work: w } => {
                    let Some(acc) = &account else {
                        continue;
                    };
                    work.push(start_work(&sh.backend, acc, sequence, w));
                }
                Action::Delivered { token, outcome } => {
                    if let Some((tx, receipt)) = pending.remove(&token) {
                        if outcome == DeliverOutcome::Ok {
                            if let Some((_, s)) = &bind {
                                if receipt {
                                    s.receipts_sent.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    s.mo_sent.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        let _ = tx.send(outcome);
                    }
                }
                Action::Close { reason } => close = Some(reason),
            }
        }
        if let Some((_, s)) = &bind {
            s.in_flight.store(
                core.in_work() + core.delivers_in_flight(),
                Ordering::Relaxed,
            );
        }
        if !out.is_empty() {
            let w = tokio::time::timeout(sh.cfg.response_timeout, wr.write_all(&out)).await;
            out.clear();
            match w {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break 'conn format!("write failed: {e}"),
                Err(_) => break 'conn "the client does not read (write timed out)".to_string(),
            }
        }
        if let Some(r) = close {
            break 'conn r;
        }
        let deadline = core
            .next_deadline()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = async {
                // Room is made only once bytes are there: an idle bind
                // holds no buffer.
                loop {
                    rd.readable().await?;
                    buf.reserve(READ_CHUNK);
                    match rd.try_read_buf(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        r => return r,
                    }
                }
            }, if read_open && buf.len() <= MAX_PDU_LEN => match r {
                Ok(0) => break 'conn "the client closed the connection".to_string(),
                Ok(_) => {
                    let now = Instant::now().into_std();
                    let mut used = 0;
                    loop {
                        let rest = &buf[used..];
                        match frame_length(rest) {
                            Ok(Some(len)) if rest.len() >= len => {
                                core.handle_pdu(&rest[..len], now);
                                used += len;
                            }
                            Ok(_) => break,
                            Err(e) => {
                                let h = Header::peek(rest);
                                core.frame_error(h, &e.to_string());
                                read_open = false;
                                used = buf.len();
                                break;
                            }
                        }
                    }
                    buf.drain(..used);
                    if buf.is_empty() {
                        buf = Vec::new();
                    }
                }
                Err(e) => break 'conn format!("read failed: {e}"),
            },
            done = work.next(), if !work.is_empty() => {
                match done {
                    WorkDone::Submitted(p) => {
                        if let Some((_, s)) = &bind {
                            s.submits.fetch_add(1, Ordering::Relaxed);
                        }
                        core.respond(p);
                    }
                    WorkDone::Resp(p) => core.respond(p),
                }
            }
            job = deliver_rx.recv() => {
                if let Some(job) = job {
                    next_token += 1;
                    if core.deliver(next_token, job.sm, Instant::now().into_std()) {
                        pending.insert(next_token, (job.reply, job.receipt));
                    } else {
                        let _ = job.reply.send(DeliverOutcome::Closed);
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => core.handle_timeout(Instant::now().into_std()),
            r = shutdown.changed(), if !shutting_down => {
                if r.is_err() || *shutdown.borrow_and_update() {
                    shutting_down = true;
                    core.shutdown(Instant::now().into_std());
                }
            }
        }
    };
    tracing::info!(%peer, account = account.as_ref().map(|a| a.system_id.as_str()).unwrap_or(""), %reason, "SMPP: connection closed");
    if let Some((id, _)) = bind {
        sh.registry.unregister(id);
    }
    // Deliveries still waiting learn that the bind is gone.
    for (_, (tx, _)) in pending.drain() {
        let _ = tx.send(DeliverOutcome::Closed);
    }
    deliver_rx.close();
    while let Ok(job) = deliver_rx.try_recv() {
        let _ = job.reply.send(DeliverOutcome::Closed);
    }
    let _ = wr.shutdown().await;
}

/// One account's receipts and MO, from its outbox to its receiver binds.
async fn delivery_loop<B: SmppBackend>(sh: Arc<Shared<B>>, account: Arc<Account>) {
    let name = account.system_id.clone();
    let limit = sh.cfg.window.max(1);
    let mut outbox = sh.backend.outbox_changed(&name);
    let Some(mut binds) = sh.registry.binds_changed(&name) else {
        sh.registry.stop_loop_if_idle(&name);
        return;
    };
    let mut after: i64 = 0;
    // The last read filled a page: more rows may be waiting.
    let mut more = true;
    let mut buffer: VecDeque<crate::smpp::backend::Outbound> = VecDeque::new();
    let mut inflight: VecDeque<(i64, u32, oneshot::Receiver<DeliverOutcome>)> = VecDeque::new();
    let mut acks: JoinSet<()> = JoinSet::new();
    // The first row that failed in this round: (id, failures before).
    let mut failed: Option<(i64, u32)> = None;
    tracing::debug!(account = %name, "SMPP: delivery loop starts");
    loop {
        while acks.try_join_next().is_some() {}
        let mut no_bind = false;
        if failed.is_none() {
            let changed = outbox.has_changed().unwrap_or(true);
            if buffer.is_empty() && inflight.len() < limit && (more || changed) {
                outbox.borrow_and_update();
                match sh.backend.outbound(&name, after, limit).await {
                    Ok(rows) => {
                        more = rows.len() >= limit;
                        if let Some(last) = rows.last() {
                            after = last.id;
                        }
                        buffer.extend(rows);
                    }
                    Err(e) => {
                        tracing::warn!(account = %name, error = %e, "SMPP: reading the outbox failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            while inflight.len() < limit {
                let Some(row) = buffer.pop_front() else { break };
                let Some(tx) = sh.registry.pick(&name) else {
                    buffer.push_front(row);
                    no_bind = true;
                    break;
                };
                let (sm, receipt) = match &row.kind {
                    OutboundKind::Receipt(r) => {
                        (message::receipt_deliver(r, account.id_format), true)
                    }
                    OutboundKind::Mo(m) => (message::mo_deliver(m), false),
                };
                let (reply, rx) = oneshot::channel();
                if tx.send(DeliverJob { sm, receipt, reply }).await.is_err() {
                    // That bind just closed: try another.
                    buffer.push_front(row);
                    continue;
                }
                inflight.push_back((row.id, row.attempts, rx));
            }
        }
        if let Some((id, attempts, rx)) = inflight.front_mut() {
            let (id, attempts) = (*id, *attempts);
            let outcome = rx.await.unwrap_or(DeliverOutcome::Closed);
            inflight.pop_front();
            let b = sh.backend.clone();
            let n = name.clone();
            if outcome == DeliverOutcome::Ok {
                acks.spawn(async move {
                    if let Err(e) = b.delivered(&n, id).await {
                        tracing::warn!(account = %n, row = id, error = %e, "SMPP: could not remove a delivered row");
                    }
                });
            } else {
                tracing::debug!(account = %name, row = id, ?outcome, "SMPP: deliver_sm failed");
                acks.spawn(async move {
                    if let Err(e) = b.failed(&n, id).await {
                        tracing::warn!(account = %n, row = id, error = %e, "SMPP: could not mark a failed row");
                    }
                });
                if failed.is_none_or(|(f, _)| id < f) {
                    failed = Some((id, attempts));
                }
            }
            continue;
        }
        // Nothing in flight.
        if let Some((id, attempts)) = failed.take() {
            while acks.join_next().await.is_some() {}
            let pause = sh.retry.delay(attempts);
            tracing::info!(account = %name, row = id, pause_ms = pause.as_millis() as u64, "SMPP: deliver_sm will be retried");
            tokio::time::sleep(pause).await;
            after = id - 1;
            buffer.clear();
            more = true;
            continue;
        }
        if sh.registry.pick(&name).is_none() {
            if sh.registry.stop_loop_if_idle(&name) {
                while acks.join_next().await.is_some() {}
                tracing::debug!(account = %name, "SMPP: delivery loop ends (no receiver bound)");
                return;
            }
            no_bind = true;
        }
        if no_bind || !buffer.is_empty() {
            // Rows wait for a receiver.
            tokio::select! {
                _ = binds.changed() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        tokio::select! {
            r = outbox.changed() => {
                if r.is_err() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            _ = binds.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        // Whatever woke us, look at the outbox again.
        more = true;
    }
}
