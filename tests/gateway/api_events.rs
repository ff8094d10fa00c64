//! `GET /v1/events` against the real `smsgw serve`: a client that reads
//! part of the stream, disconnects, and resumes with `Last-Event-ID` gets
//! every logged event exactly once, in order.

use crate::common;

use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sse {
    id: i64,
    kind: String,
    data: String,
}

/// Open the stream (with `last_id` as Last-Event-ID, or `?after=0`); events
/// come through the channel until the receiver is dropped.
fn open(port: u16, last_id: Option<i64>) -> (mpsc::Receiver<Sse>, std::thread::JoinHandle<()>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let path = match last_id {
        Some(_) => "/v1/events".to_string(),
        None => "/v1/events?after=0".to_string(),
    };
    let mut req = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .header("Authorization", &format!("Bearer {TOKEN}"));
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", &id.to_string());
    }
    let resp = req.call().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let reader = std::io::BufReader::new(resp.into_body().into_reader());
        let (mut id, mut kind, mut data) = (None, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if let Some(i) = id.take() {
                    let ev = Sse {
                        id: i,
                        kind: std::mem::take(&mut kind),
                        data: std::mem::take(&mut data),
                    };
                    if tx.send(ev).is_err() {
                        return; // the test is done with this client
                    }
                }
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.parse().unwrap());
            } else if let Some(v) = line.strip_prefix("event: ") {
                kind = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
    });
    (rx, t)
}

fn take(rx: &mpsc::Receiver<Sse>, n: usize) -> Vec<Sse> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => out.push(ev),
            Err(_) => panic!("only {} of {n} events came: {out:?}", out.len()),
        }
    }
    out
}

/// The event log as the daemon stored it.
fn logged(db: &std::path::Path) -> Vec<Sse> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT id, kind, payload FROM event_log ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Sse {
            id: r.get(0)?,
            kind: r.get(1)?,
            data: r.get(2)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn a_client_that_reconnects_misses_nothing_and_gets_nothing_twice() {
    let d = one_modem_daemon();
    let (port, db) = (d.port, &d.db);
    let a = agent();

    let (first, _t1) = open(port, None);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(post(&a, port, &format!("+39333555{i:04}"), "before").unwrap());
    }
    // Read four events, then hang up.
    let seen = take(&first, 4);
    // (Its reader thread ends at the next event it cannot hand over.)
    drop(first);
    let last = seen.last().unwrap().id;
    // More happens while the client is away.
    for i in 5..10 {
        ids.push(post(&a, port, &format!("+39333555{i:04}"), "while away").unwrap());
    }
    let finals = wait_final(&a, port, &ids, Duration::from_secs(120));
    assert!(finals.iter().all(|m| m["state"] == "DELIVRD"));
    let all = logged(db);
    assert!(all.len() >= 10, "one DELIVRD for each: {}", all.len());
    // Resume: exactly the rest of the log, in order.
    let (second, _t2) = open(port, Some(last));
    let rest = take(&second, all.len() - 4);
    let mut got = seen.clone();
    got.extend(rest);
    assert_eq!(got, all, "the stream is the log, once, in order");
    for id in &ids {
        assert!(
            all.iter().any(|e| e.kind == "message.state"
                && e.data.contains(&format!("\"id\":\"{id}\""))
                && e.data.contains("\"state\":\"DELIVRD\"")),
            "no DELIVRD event for {id}"
        );
    }
    // A live event reaches the resumed client at once.
    let id = post(&a, port, "+393335559999", "live").unwrap();
    let live = take(&second, 1);
    assert!(
        live[0].data.contains(&format!("\"id\":\"{id}\"")),
        "{live:?}"
    );
    // A bad Last-Event-ID is named.
    let mut r = a
        .get(&format!("http://127.0.0.1:{port}/v1/events"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Last-Event-ID", "yesterday")
        .call()
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["error"]["field"], "Last-Event-ID");
}
