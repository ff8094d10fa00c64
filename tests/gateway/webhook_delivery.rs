//! Webhook delivery to a real HTTP receiver on 127.0.0.1: down (refusing
//! connections) for a while, then back; every event arrives exactly once,
//! signed; a refusal of one event does not hold the others back.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use smsgw::config::WebhookConfig;
use smsgw::gateway::{Gateway, GatewaySettings, SubmitRequest};
use smsgw::router::{PartId, RouterConfig};
use smsgw::store::{unix_now, IncomingReport, IncomingSms, MessageId, Store};
use tokio::sync::watch;

const SECRET: &str = "whsec-test-secret";
/// The real +CDS of external-cds.jsonl (MR 64, TP-ST 0x00).
const CDS_HEX: &str = "079119890400202306400C91197909913764511090718384225110907183252200";
const TIMEOUT: Duration = Duration::from_secs(60);

fn gateway(dir: &tempfile::TempDir) -> Gateway {
    let mut store = Store::open(&dir.path().join("wh.db"), RouterConfig::default()).unwrap();
    store.set_webhooks(true);
    Gateway::new(
        store,
        GatewaySettings::default(),
        &[("m1".into(), "/dev/smsgw/m1".into())],
    )
}

/// A message submitted, sent with TP-MR `mr` and reported with `status`;
/// an incoming SMS: several state changes and one incoming event.
fn make_events(gw: &Gateway, to: &str, mr: u8, status: u8, incoming: &str) {
    let sub = gw
        .submit(&SubmitRequest {
            to: to.into(),
            text: "webhook test".into(),
            report: Some(true),
            validity: None,
            modem: None,
            ucs2: false,
            flash: false,
            ..SubmitRequest::default()
        })
        .unwrap();
    let now = unix_now();
    let mut s = gw.store();
    let m1 = s.modem("m1").unwrap();
    let part = s.message(MessageId(sub.id.parse().unwrap())).unwrap().parts[0].id;
    // Sent 10 s ago; the report came now (outbox rows are due from their time).
    s.mark_sent(PartId(part), m1, mr, now - 10, 86_400).unwrap();
    s.record_report(&IncomingReport {
        modem: m1,
        recipient: to.into(),
        mr,
        scts: now - 8,
        discharge: Some(now - 6),
        status,
        pdu_hex: CDS_HEX.into(),
        received_at: now,
    })
    .unwrap();
    s.store_incoming(&IncomingSms {
        modem: m1,
        sender: "+393331234567".into(),
        text: Some(incoming.into()),
        data_hex: "00".into(),
        scts: now,
        received_at: now,
        parts: 1,
        pdus_hex: vec!["00".into()],
        partial: false,
    })
    .unwrap();
}

/// Outbox rows not yet acknowledged: id -> attempts.
fn outstanding(gw: &Gateway) -> BTreeMap<i64, u32> {
    gw.store()
        .due_webhooks(i64::MAX, 100_000)
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.attempts))
        .collect()
}

/// Wait (checking every 20 ms) until `cond` holds, at most [`TIMEOUT`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The webhook sender on its own runtime thread.
struct Sender {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    fn start(gw: &Gateway, port: u16) -> Sender {
        let cfg = WebhookConfig {
            url: format!("http://127.0.0.1:{port}/hook"),
            secret: Some(SECRET.into()),
            max_backoff_s: 1,
            timeout_ms: 5_000,
        };
        let (stop, rx) = watch::channel(false);
        let gw = gw.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(smsgw::webhook::run(gw, cfg, rx));
        });
        Sender {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// One POST as the receiver saw it.
#[derive(Debug, Clone)]
struct Hit {
    delivery: i64,
    event: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
    answered: u16,
}

#[derive(Clone)]
struct Receiver {
    hits: mpsc::Sender<Hit>,
    /// Answer 500 the first time this delivery id comes.
    refuse_once: Arc<Mutex<Option<i64>>>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let delivery: i64 = h("x-smsgw-delivery").parse().unwrap_or(-1);
    let refuse = {
        let mut once = r.refuse_once.lock().unwrap();
        if *once == Some(delivery) {
            *once = None;
            true
        } else {
            false
        }
    };
    let status = if refuse {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    let _ = r.hits.send(Hit {
        delivery,
        event: h("x-smsgw-event"),
        signature: h("x-smsgw-signature"),
        content_type: h("content-type"),
        body: body.to_vec(),
        answered: status.as_u16(),
    });
    status
}

/// An HTTP receiver on `port` (on its own runtime thread, stopped on drop).
struct Server {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(port: u16, receiver: Receiver) -> Server {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let (stop, mut rx) = watch::channel(false);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new()
                    .route("/hook", post(hook))
                    .with_state(receiver);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await
                    .unwrap();
            });
        });
        Server {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// A free port: bound, then released (connections to it are refused).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn check_hit(hit: &Hit) {
    assert_eq!(hit.content_type, "application/json");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&hit.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hit.signature, format!("sha256={hex}"), "bad signature");
    let v: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(v["event"].as_str(), Some(hit.event.as_str()));
    match hit.event.as_str() {
        "message.state" => assert!(v["state"].is_string() && v["id"].is_string(), "{v}"),
        "sms.incoming" => assert_eq!(v["from"], "+393331234567"),
        other => panic!("unexpected event {other}"),
    }
}

/// Collect hits until every id of `expected` was acknowledged once.
fn collect(rx: &mpsc::Receiver<Hit>, expected: &BTreeMap<i64, u32>) -> Vec<Hit> {
    let mut hits = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let acked = |hits: &[Hit]| {
        hits.iter()
            .filter(|h| h.answered / 100 == 2)
            .map(|h| h.delivery)
            .collect::<std::collections::BTreeSet<_>>()
    };
    while acked(&hits).len() < expected.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(h) => hits.push(h),
            Err(e) => panic!(
                "{e}: got {} of {} events",
                acked(&hits).len(),
                expected.len()
            ),
        }
    }
    hits
}

#[test]
fn receiver_down_for_a_while_loses_nothing_and_gets_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&dir);
    let port = free_port();
    make_events(&gw, "+919790197346", 64, 0x00, "first");
    let sender = Sender::start(&gw, port);
    // Refused again and again, with growing attempt counts.
    wait_until("three failed attempts", || {
        outstanding(&gw).values().next().is_some_and(|a| *a >= 3)
    });
    // Events keep coming while the receiver is down.
    make_events(&gw, "+393339999999", 7, 0x41, "second");
    let expected = outstanding(&gw);
    assert_eq!(expected.len(), 4, "{expected:?}");

    let (tx, rx) = mpsc::channel();
    let _server = Server::start(
        port,
        Receiver {
            hits: tx,
            refuse_once: Arc::new(Mutex::new(None)),
        },
    );
    let hits = collect(&rx, &expected);
    wait_until("the outbox to empty", || outstanding(&gw).is_empty());
    drop(sender);
    // Nothing more came after the outbox emptied.
    let late: Vec<Hit> = rx.try_iter().collect();
    assert!(late.is_empty(), "{late:?}");

    let ids: Vec<i64> = hits.iter().map(|h| h.delivery).collect();
    let want: Vec<i64> = expected.keys().copied().collect();
    assert_eq!(ids, want, "each event once, oldest first");
    for h in &hits {
        check_hit(h);
    }
    let events: Vec<&str> = hits.iter().map(|h| h.event.as_str()).collect();
    assert!(events.contains(&"sms.incoming") && events.contains(&"message.state"));
    let states: Vec<String> = hits
        .iter()
        .filter(|h| h.event == "message.state")
        .map(|h| serde_json::from_slice::<Value>(&h.body).unwrap()["state"].to_string())
        .collect();
    assert!(states.contains(&"\"DELIVRD\"".to_string()), "{states:?}");
    assert!(states.contains(&"\"UNDELIV\"".to_string()), "{states:?}");
    assert_eq!(gw.store().counters().unwrap().webhooks_pending, 0);
}

#[test]
fn one_refused_event_does_not_hold_back_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&dir);
    let port = free_port();
    make_events(&gw, "+919790197346", 64, 0x00, "first");
    let expected = outstanding(&gw);
    let first = *expected.keys().next().unwrap();
    let (tx, rx) = mpsc::channel();
    let _server = Server::start(
        port,
        Receiver {
            hits: tx,
            refuse_once: Arc::new(Mutex::new(Some(first))),
        },
    );
    let sender = Sender::start(&gw, port);
    let hits = collect(&rx, &expected);
    wait_until("the outbox to empty", || outstanding(&gw).is_empty());
    drop(sender);
    let order: Vec<(i64, u16)> = hits.iter().map(|h| (h.delivery, h.answered)).collect();
    // The first event was refused (500), the others went on, then it came
    // back after its backoff and was taken.
    let mut want: Vec<(i64, u16)> = vec![(first, 500)];
    want.extend(expected.keys().skip(1).map(|id| (*id, 204)));
    want.push((first, 204));
    assert_eq!(order, want);
    for h in &hits {
        check_hit(h);
    }
}
