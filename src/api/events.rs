//! `GET /v1/events`: the live event stream (server-sent events) from the
//! durable event log, so that a client that reconnects with
//! `Last-Event-ID` misses nothing and gets nothing twice.
//!
//! Each event is `id: <event log id>`, `event: message.state` or
//! `sms.incoming`, `data: <the webhook's JSON body>`. Without
//! `Last-Event-ID` (or `?after=`) the stream starts with the next event.
//! The stream waits on the store's signal (sent after each group commit
//! that logged events) and looks again every few seconds whatever happens;
//! it ends when the daemon shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;

use super::error::ApiError;
use crate::gateway::Gateway;
use crate::store::LoggedEvent;

/// Events read from the store at once.
const PAGE: u32 = 500;
/// Look again this often even without a signal (work stored outside the
/// group commit, e.g. by a tool on the same database).
const FALLBACK: Duration = Duration::from_secs(5);
/// A comment line this often keeps proxies and the idle timeout away.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

struct Cursor {
    gw: Gateway,
    after: i64,
    buf: VecDeque<LoggedEvent>,
    signal: watch::Receiver<i64>,
    shutdown: watch::Receiver<bool>,
}

fn start_id(
    headers: &HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Option<i64>, ApiError> {
    let Query(pairs) = q.map_err(|e| ApiError::field("query", e.body_text()))?;
    let p = super::params::Params::new(pairs, &["after"])?;
    let parse = |field: &str, v: &str| {
        v.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::field(field, format!("{v:?} is not an event id")))
    };
    if let Some(v) = headers.get("last-event-id") {
        let v = v
            .to_str()
            .map_err(|_| ApiError::field("Last-Event-ID", "not ASCII"))?;
        return parse("Last-Event-ID", v).map(Some);
    }
    p.get("after").map(|v| parse("after", v)).transpose()
}

/// `GET /v1/events[?after=<id>]`, header `Last-Event-ID: <id>` to resume.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id", pattern = "^[0-9]{1,18}$"),
        ("after" = Option<String>, Query, description = "Start after this event id (0: all kept)", pattern = "^[0-9]{1,18}$"),
    ),
    responses(
        (status = 200, description = "Server-sent events: id, event (message.state or sms.incoming), data (the webhook's JSON)", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Not an event id", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn events(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let start = start_id(&headers, q)?;
    let after = match start {
        Some(id) => id,
        None => {
            let g = gw.clone();
            tokio::task::spawn_blocking(move || g.read().last_event_id())
                .await
                .map_err(|_| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "internal"))?
                .map_err(|e| ApiError::internal(&e))?
        }
    };
    let cursor = Cursor {
        signal: gw.event_signal(),
        shutdown: gw.shutdown_signal(),
        gw,
        after,
        buf: VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(cursor, next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

async fn next(mut c: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    loop {
        if let Some(ev) = c.buf.pop_front() {
            c.after = ev.id;
            let e = Event::default()
                .id(ev.id.to_string())
                .event(ev.kind)
                .data(ev.payload);
            return Some((Ok(e), c));
        }
        if *c.shutdown.borrow() {
            return None;
        }
        // Seen before the read: a signal sent after it wakes the wait below.
        c.signal.borrow_and_update();
        let (gw, after) = (c.gw.clone(), c.after);
        match tokio::task::spawn_blocking(move || gw.read().events_after(after, PAGE)).await {
            Ok(Ok(rows)) if !rows.is_empty() => {
                c.buf.extend(rows);
                continue;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("event stream: {e}"),
            Err(e) => tracing::warn!("event stream: {e}"),
        }
        tokio::select! {
            _ = c.signal.changed() => {}
            _ = tokio::time::sleep(FALLBACK) => {}
            _ = c.shutdown.wait_for(|s| *s) => return None,
        }
    }
}
