//! The HTTP server under the API: its own accept loop over hyper (HTTP/1.1),
//! so that what an unauthenticated client can hold is bounded.
//!
//! - At most `max_connections` connections are served at once; one more is
//!   answered 503 and closed at once (a socket we never accept would sit in
//!   the kernel's queue with its client waiting for nothing).
//! - Running out of file descriptors in `accept` pauses the loop (10 ms,
//!   doubling to 1 s) instead of spinning; the error is logged once per
//!   episode.
//! - A request's head (request line and headers) must arrive within
//!   `header_timeout` and fit in `max_header_bytes` (hyper's read buffer is
//!   bounded by it too, so a connection that has not yet shown a token holds
//!   at most that much); a body must arrive within `body_timeout` of its
//!   head; a connection with no request under way and nothing read or
//!   written for `idle_timeout` is closed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::HttpConfig;

/// Descriptors kept for the rest of the daemon (database files, modems,
/// webhooks, logs) when the connection limit is fitted to the process's.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// The server's limits, from `[http]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    pub fn from_config(http: &HttpConfig) -> Limits {
        Limits {
            max_connections: http.max_connections.max(1),
            max_header_bytes: http.max_header_bytes,
            header_timeout: Duration::from_millis(http.header_timeout_ms),
            body_timeout: Duration::from_millis(http.body_timeout_ms),
            idle_timeout: Duration::from_millis(http.idle_timeout_ms),
        }
    }
}

/// Raise the process's soft limit of open files to its hard limit, and
/// return how many connections fit under it with [`RESERVED_DESCRIPTORS`]
/// kept for the rest (at most `wanted`, at least 1).
pub fn fit_connections_to_descriptors(wanted: usize) -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return wanted;
    };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let room = soft.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    let fits = usize::try_from(room).unwrap_or(usize::MAX);
    if fits < wanted {
        tracing::warn!(
            "open files are limited to {soft}: serving at most {fits} HTTP connections \
             instead of http.max_connections = {wanted} (raise LimitNOFILE / ulimit -n)"
        );
        fits
    } else {
        wanted
    }
}

/// Serve `app` on `listener` until `shutdown` turns true (or its sender is
/// dropped); then the requests under way are finished and idle connections
/// closed.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut conns = JoinSet::new();
    let mut pause = None::<Duration>;
    let mut full_logged = false;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                if pause.take().is_some() {
                    tracing::warn!("accepting HTTP connections again");
                }
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        full_logged = false;
                        conns.spawn(serve_connection(
                            stream,
                            app.clone(),
                            limits.clone(),
                            slot,
                            shutdown.clone(),
                        ));
                    }
                    Err(_) => {
                        if !full_logged {
                            tracing::warn!(
                                "{} HTTP connections open (http.max_connections): \
                                 answering 503 to more",
                                limits.max_connections
                            );
                            full_logged = true;
                        }
                        refuse(stream);
                    }
                }
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or memory: the pending
                // connection stays queued; wait for some to close.
                let wait = match pause {
                    None => {
                        tracing::error!("cannot accept HTTP connections: {e}; pausing");
                        Duration::from_millis(10)
                    }
                    Some(p) => (p * 2).min(Duration::from_secs(1)),
                };
                pause = Some(wait);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
            }
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Answer 503 on a connection over the limit (as far as the socket takes it
/// without waiting) and close it.
fn refuse(stream: TcpStream) {
    const BODY: &str =
        r#"{"error":{"field":null,"message":"too many connections; try again later"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// When the connection last read or wrote, and how many requests are under
/// way on it.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A request under way, for as long as its handler runs.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(a: &Arc<Activity>) -> InFlight {
        a.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: Arc<Limits>,
    _slot: OwnedSemaphorePermit,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
    });
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let svc = {
        let activity = activity.clone();
        let body_timeout = limits.body_timeout;
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let guard = InFlight::enter(&activity);
            let deadline = Instant::now() + body_timeout;
            let req = req.map(|body| Body::new(DeadlineBody::new(body, deadline)));
            let app = app.clone();
            async move {
                let answer = app.oneshot(req).await;
                drop(guard);
                answer
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        // hyper's read buffer: at least 8 KiB by its rules.
        .max_buf_size(limits.max_header_bytes.max(8192));
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!("HTTP connection ended: {e}");
                }
                return;
            }
            _ = shutdown.wait_for(|stop| *stop), if !stopping => {
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
            () = idle(&activity, limits.idle_timeout) => {
                tracing::debug!("closing an idle HTTP connection");
                return;
            }
        }
    }
}

/// Returns once the connection has had no request under way and no bytes
/// either way for `timeout`.
async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let due = activity.last() + timeout;
        let now = Instant::now();
        let busy = activity.in_flight.load(Ordering::SeqCst) > 0;
        if !busy && now >= due {
            return;
        }
        // A request under way touches the activity when it ends: look
        // again a whole timeout later.
        let next = if busy {
            now + timeout
        } else {
            due.max(now + Duration::from_millis(10))
        };
        tokio::time::sleep_until(next).await;
    }
}

/// The connection's socket, noting when it last read or wrote something.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let out = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        out
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let out = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(out, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        out
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let out = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(out, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        out
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that must be complete by a deadline (set when its head
/// arrived): a client that declares a body and never sends it is answered
/// and its connection closed, instead of holding it.
struct DeadlineBody {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    fn new(body: Incoming, deadline: Instant) -> DeadlineBody {
        DeadlineBody {
            body,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time (http.body_timeout_ms)")]
pub struct BodyTimeout;

impl hyper::body::Body for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
