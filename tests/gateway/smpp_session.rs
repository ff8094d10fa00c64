//! The SMPP server over TCP, driven by a client built from our codec,
//! against an in-memory backend of this test's own (the gateway's backend
//! is tested end to end with Python smpplib elsewhere). Every error path of
//! issue 11 with the command_status it must return, the window, the
//! enquire_link timeout, outbox order and retries, shutdown, and hostile
//! bytes on one socket while another bind keeps working.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use smsgw::smpp::backend::{
    Account, Address, BindRefusal, IdFormat, LookupRefusal, MoItem, Outbound, OutboundKind,
    Payload, QueryAnswer, ReceiptItem, SmppBackend, SubmitRefusal, SubmitRequest,
};
use smsgw::smpp::pdu::{
    command, status, tlv, Bind, Body, CancelSm, DataSm, Pdu, QuerySm, ReplaceSm, Sm, SmResp, Tlv,
    TlvList,
};
use smsgw::smpp::server::{BindKind, ServerConfig, SmppServer};
use smsgw::state::MessageState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

const WAIT: Duration = Duration::from_secs(20);
/// Permits of the submit gate (all taken = submits wait).
const GATE: usize = 1 << 20;

// ---------------------------------------------------------------- backend

#[derive(Default)]
struct MemState {
    next_id: u64,
    submitted: Vec<(String, u64, SubmitRequest)>,
    outbox: BTreeMap<String, BTreeMap<i64, Outbound>>,
    next_row: i64,
    delivered: Vec<(String, i64)>,
    failed: Vec<(String, i64)>,
    sent: Vec<u64>,
    refusal: Option<SubmitRefusal>,
}

struct MemBackend {
    state: Mutex<MemState>,
    changed: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Submits wait for a permit (tests hold them to fill the window).
    gate: Semaphore,
    /// Every submit asking for a receipt gets one at once (UNDELIV, err
    /// 0x45, when its text holds "fail"; DELIVRD otherwise).
    auto_receipts: std::sync::atomic::AtomicBool,
}

impl MemBackend {
    fn new() -> Arc<MemBackend> {
        Arc::new(MemBackend {
            state: Mutex::new(MemState {
                next_id: 1000,
                ..MemState::default()
            }),
            changed: Mutex::new(HashMap::new()),
            gate: Semaphore::new(GATE),
            auto_receipts: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn sender(&self, account: &str) -> watch::Sender<u64> {
        self.changed
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    fn push(&self, account: &str, kind: OutboundKind) -> i64 {
        let id = {
            let mut s = self.state.lock().unwrap();
            s.next_row += 1;
            let id = s.next_row;
            s.outbox.entry(account.to_string()).or_default().insert(
                id,
                Outbound {
                    id,
                    kind,
                    attempts: 0,
                },
            );
            id
        };
        self.sender(account).send_modify(|v| *v += 1);
        id
    }

    fn delivered(&self) -> Vec<i64> {
        let s = self.state.lock().unwrap();
        s.delivered.iter().map(|(_, id)| *id).collect()
    }

    fn failed(&self) -> Vec<i64> {
        let s = self.state.lock().unwrap();
        s.failed.iter().map(|(_, id)| *id).collect()
    }

    fn submitted(&self) -> Vec<(u64, SubmitRequest)> {
        let s = self.state.lock().unwrap();
        s.submitted
            .iter()
            .map(|(_, id, r)| (*id, r.clone()))
            .collect()
    }
}

fn account(system_id: &str, id_format: IdFormat) -> Account {
    Account {
        system_id: system_id.into(),
        id_format,
        receive_mo: true,
    }
}

impl SmppBackend for MemBackend {
    fn authenticate(
        &self,
        system_id: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<Account, BindRefusal> {
        let (pw, allowed, fmt) = match system_id {
            "app1" => ("secret1", None, IdFormat::Decimal),
            "app2" => ("pw2", None, IdFormat::Hex),
            "remote" => (
                "pw",
                Some("10.0.0.1".parse::<IpAddr>().unwrap()),
                IdFormat::Decimal,
            ),
            _ => return Err(BindRefusal::UnknownSystemId),
        };
        if password != pw {
            return Err(BindRefusal::BadPassword);
        }
        if allowed.is_some_and(|a| a != peer) {
            return Err(BindRefusal::AddressNotAllowed);
        }
        Ok(account(system_id, fmt))
    }

    async fn submit(&self, account: &Account, req: SubmitRequest) -> Result<u64, SubmitRefusal> {
        let _permit = self.gate.acquire().await.unwrap();
        let mut s = self.state.lock().unwrap();
        if let Some(r) = s.refusal.clone() {
            return Err(r);
        }
        if req.dest.addr == "000" {
            return Err(SubmitRefusal::BadDestination("no route".into()));
        }
        s.next_id += 1;
        let id = s.next_id;
        s.submitted
            .push((account.system_id.clone(), id, req.clone()));
        drop(s);
        if self
            .auto_receipts
            .load(std::sync::atomic::Ordering::Relaxed)
            && req.registered_delivery & 1 != 0
        {
            let text = match &req.payload {
                Payload::Text { text, .. } => text.clone(),
                Payload::Binary { .. } => String::new(),
            };
            let failed = text.contains("fail");
            self.push(
                &account.system_id,
                OutboundKind::Receipt(ReceiptItem {
                    message_id: id,
                    submit_source: req.source.clone(),
                    submit_dest: req.dest.clone(),
                    state: if failed {
                        MessageState::Undeliverable
                    } else {
                        MessageState::Delivered
                    },
                    intermediate: false,
                    sub: 1,
                    dlvrd: u32::from(!failed),
                    submit_date: 1_796_205_600,
                    done_date: 1_796_205_660,
                    err: if failed { 0x45 } else { 0 },
                    network_error: failed.then_some((3, 0x45)),
                    text_head: text.chars().take(20).collect(),
                }),
            );
        }
        Ok(id)
    }

    async fn query(&self, account: &Account, id: u64) -> Result<QueryAnswer, LookupRefusal> {
        let s = self.state.lock().unwrap();
        let known = s
            .submitted
            .iter()
            .any(|(a, i, _)| *i == id && *a == account.system_id);
        if !known {
            return Err(LookupRefusal::NotFound);
        }
        Ok(if id.is_multiple_of(2) {
            QueryAnswer {
                state: MessageState::Delivered,
                final_date: Some(1_796_205_600),
                error_code: 0,
            }
        } else {
            QueryAnswer {
                state: MessageState::Accepted,
                final_date: None,
                error_code: 0,
            }
        })
    }

    async fn cancel(&self, account: &Account, id: u64) -> Result<(), LookupRefusal> {
        let s = self.state.lock().unwrap();
        if !s
            .submitted
            .iter()
            .any(|(a, i, _)| *i == id && *a == account.system_id)
        {
            return Err(LookupRefusal::NotFound);
        }
        if s.sent.contains(&id) {
            return Err(LookupRefusal::TooLate);
        }
        Ok(())
    }

    async fn outbound(
        &self,
        account: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Outbound>, String> {
        let s = self.state.lock().unwrap();
        Ok(s.outbox
            .get(account)
            .map(|m| {
                m.range(after + 1..)
                    .take(limit)
                    .map(|(_, o)| o.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn delivered(&self, account: &str, id: i64) -> Result<(), String> {
        let mut s = self.state.lock().unwrap();
        s.outbox.get_mut(account).and_then(|m| m.remove(&id));
        s.delivered.push((account.to_string(), id));
        Ok(())
    }

    async fn failed(&self, account: &str, id: i64) -> Result<(), String> {
        let mut s = self.state.lock().unwrap();
        if let Some(o) = s.outbox.get_mut(account).and_then(|m| m.get_mut(&id)) {
            o.attempts += 1;
        }
        s.failed.push((account.to_string(), id));
        Ok(())
    }

    fn outbox_changed(&self, account: &str) -> watch::Receiver<u64> {
        self.sender(account).subscribe()
    }
}

// ---------------------------------------------------------------- server

struct Running {
    addr: SocketAddr,
    backend: Arc<MemBackend>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    binds: Arc<smsgw::smpp::registry::BindRegistry>,
}

fn config() -> ServerConfig {
    ServerConfig {
        window: 4,
        enquire_link: Duration::from_secs(30),
        response_timeout: Duration::from_secs(5),
        max_connections: 64,
    }
}

async fn start(cfg: ServerConfig) -> Running {
    start_with(cfg, MemBackend::new()).await
}

async fn start_with(cfg: ServerConfig, backend: Arc<MemBackend>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = SmppServer::new(backend.clone(), cfg)
        .with_retry(Duration::from_millis(100), Duration::from_millis(400));
    let binds = server.binds();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(server.run(listener, rx));
    Running {
        addr,
        backend,
        stop,
        task,
        binds,
    }
}

// ---------------------------------------------------------------- client

struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
    seq: u32,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            sock: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
            seq: 0,
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).await.unwrap();
    }

    async fn send(&mut self, body: Body) -> u32 {
        let seq = self.next_seq();
        self.send_raw(&Pdu::new(seq, body).to_bytes()).await;
        seq
    }

    async fn answer(&mut self, pdu: Pdu) {
        self.send_raw(&pdu.to_bytes()).await;
    }

    /// The next PDU, or `None` when the server closed the connection.
    async fn recv_or_eof(&mut self) -> Option<Pdu> {
        let fut = async {
            loop {
                if self.buf.len() >= 4 {
                    let n = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                    if self.buf.len() >= n {
                        let pdu = Pdu::parse(&self.buf[..n]).expect("the server sends valid PDUs");
                        self.buf.drain(..n);
                        return Some(pdu);
                    }
                }
                let mut chunk = [0u8; 4096];
                match self.sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("no PDU from the server in time")
    }

    async fn recv(&mut self) -> Pdu {
        self.recv_or_eof()
            .await
            .expect("the server closed the connection")
    }

    async fn bind(&mut self, kind: BindKind, system_id: &str, password: &str) -> Pdu {
        let b = Bind {
            system_id: system_id.into(),
            password: password.into(),
            interface_version: 0x34,
            ..Bind::default()
        };
        let seq = self
            .send(match kind {
                BindKind::Transmitter => Body::BindTransmitter(b),
                BindKind::Receiver => Body::BindReceiver(b),
                BindKind::Transceiver => Body::BindTransceiver(b),
            })
            .await;
        let resp = self.recv().await;
        assert_eq!(resp.sequence, seq);
        resp
    }

    async fn bound(addr: SocketAddr, kind: BindKind) -> Client {
        let mut c = Client::connect(addr).await;
        let r = c.bind(kind, "app1", "secret1").await;
        assert_eq!(r.status, 0, "bind refused: {r:?}");
        c
    }

    async fn submit(&mut self, text: &str) -> u32 {
        self.send(Body::SubmitSm(Box::new(submit_sm(text)))).await
    }

    /// Waits for the connection to close (skipping enquire_links etc.).
    async fn closed(&mut self) {
        while self.recv_or_eof().await.is_some() {}
    }
}

fn submit_sm(text: &str) -> Sm {
    Sm {
        source_addr_ton: 5,
        source_addr: "ACME".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "4915112345678".into(),
        registered_delivery: 1,
        short_message: text.as_bytes().to_vec(),
        ..Sm::default()
    }
}

fn status_of(p: &Pdu) -> &'static str {
    status::name(p.status).unwrap_or("?")
}

fn receipt(message_id: u64, state: MessageState) -> OutboundKind {
    OutboundKind::Receipt(ReceiptItem {
        message_id,
        submit_source: Address {
            ton: 5,
            npi: 0,
            addr: "ACME".into(),
        },
        submit_dest: Address {
            ton: 1,
            npi: 1,
            addr: "4915112345678".into(),
        },
        state,
        intermediate: false,
        sub: 1,
        dlvrd: u32::from(state == MessageState::Delivered),
        submit_date: 1_796_205_600,
        done_date: 1_796_205_660,
        err: 0,
        network_error: None,
        text_head: "hello".into(),
    })
}

fn receipted_id(p: &Pdu) -> String {
    let Body::DeliverSm(sm) = &p.body else {
        panic!("not a deliver_sm: {p:?}")
    };
    sm.tlvs.tlv_cstr(tlv::RECEIPTED_MESSAGE_ID).unwrap()
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_refusals_carry_their_status() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    let r = c.bind(BindKind::Transceiver, "nobody", "x").await;
    assert_eq!(status_of(&r), "ESME_RINVSYSID");
    assert!(matches!(r.body, Body::BindTransceiverResp(_)));
    let r = c.bind(BindKind::Transmitter, "app1", "wrong").await;
    assert_eq!(status_of(&r), "ESME_RINVPASWD");
    let r = c.bind(BindKind::Receiver, "remote", "pw").await;
    assert_eq!(status_of(&r), "ESME_RBINDFAIL");
    // The connection stays usable: the right credentials bind.
    let r = c.bind(BindKind::Transceiver, "app1", "secret1").await;
    assert_eq!(r.status, 0);
    let Body::BindTransceiverResp(b) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(b.system_id, "smsgw");
    assert_eq!(b.tlvs.tlv_u8(tlv::SC_INTERFACE_VERSION), Some(0x34));
    // A second bind on the same connection.
    let r = c.bind(BindKind::Transmitter, "app1", "secret1").await;
    assert_eq!(status_of(&r), "ESME_RALYBND");
    assert!(matches!(r.body, Body::BindTransmitterResp(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_pdu_before_a_bind_is_refused() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    for body in [
        Body::SubmitSm(Box::new(submit_sm("x"))),
        Body::EnquireLink,
        Body::QuerySm(QuerySm::default()),
        Body::Unbind,
    ] {
        let id = body.command_id();
        let seq = c.send(body).await;
        let r = c.recv().await;
        assert_eq!((r.sequence, r.body.command_id()), (seq, id | command::RESP));
        assert_eq!(status_of(&r), "ESME_RINVBNDSTS");
    }
    assert!(s.backend.submitted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_kinds_limit_what_a_bind_may_do() {
    let s = start(config()).await;
    let mut rx = Client::bound(s.addr, BindKind::Receiver).await;
    rx.submit("from a receiver").await;
    let r = rx.recv().await;
    assert_eq!(status_of(&r), "ESME_RINVBNDSTS");
    let mut tx = Client::bound(s.addr, BindKind::Transmitter).await;
    let seq = tx.submit("from a transmitter").await;
    let r = tx.recv().await;
    assert_eq!((r.sequence, r.status), (seq, 0));
    // A receipt goes to the receiver, never to the transmitter.
    s.backend
        .push("app1", receipt(1001, MessageState::Delivered));
    let d = rx.recv().await;
    assert_eq!(receipted_id(&d), "1001");
    rx.answer(Pdu::new(d.sequence, Body::DeliverSmResp(SmResp::default())))
        .await;
    wait_until("the receipt is acknowledged", || {
        s.backend.delivered() == [1]
    })
    .await;
    let seq = tx.send(Body::EnquireLink).await;
    let r = tx.recv().await;
    assert_eq!((r.sequence, r.body), (seq, Body::EnquireLinkResp));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_pdus_get_generic_nack_or_their_resp() {
    let s = start(config()).await;
    let mut c = Client::bound(s.addr, BindKind::Transceiver).await;
    // Unknown command_id.
    c.send_raw(&[0, 0, 0, 16, 0, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 77])
        .await;
    let r = c.recv().await;
    assert_eq!((r.body.clone(), r.sequence), (Body::GenericNack, 77));
    assert_eq!(status_of(&r), "ESME_RINVCMDID");
    // A submit_sm whose body ends early.
    let mut b = Pdu::new(78, Body::SubmitSm(Box::new(submit_sm("hello")))).to_bytes();
    b.truncate(b.len() - 3);
    let n = b.len() as u32;
    b[..4].copy_from_slice(&n.to_be_bytes());
    c.send_raw(&b).await;
    let r = c.recv().await;
    assert_eq!((r.body.clone(), r.sequence), (Body::GenericNack, 78));
    assert_eq!(status_of(&r), "ESME_RINVCMDLEN");
    // A destination over 21 octets: submit_sm_resp naming the field.
    let mut sm = submit_sm("x");
    sm.destination_addr = "1".repeat(30);
    let seq = c.send(Body::SubmitSm(Box::new(sm))).await;
    let r = c.recv().await;
    assert_eq!(r.sequence, seq);
    assert!(matches!(r.body, Body::SubmitSmResp(_)));
    assert_eq!(status_of(&r), "ESME_RINVDSTADR");
    // The bind still works.
    let seq = c.submit("still here").await;
    let r = c.recv().await;
    assert_eq!((r.sequence, r.status), (seq, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_command_lengths_close_after_a_generic_nack() {
    let s = start(config()).await;
    for len in [15u32, 0, 65_537, u32::MAX] {
        let mut c = Client::bound(s.addr, BindKind::Transceiver).await;
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9]);
        c.send_raw(&b).await;
        let r = c.recv().await;
        assert_eq!(r.body, Body::GenericNack, "length {len}");
        assert_eq!(status_of(&r), "ESME_RINVCMDLEN");
        assert!(c.recv_or_eof().await.is_none(), "length {len}: still open");
    }
    wait_until("binds are gone", || s.binds.snapshot().is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_queries_cancels_and_their_refusals() {
    let s = start(config()).await;
    let mut c = Client::bound(s.addr, BindKind::Transceiver).await;
    let seq = c.submit("one").await;
    let r = c.recv().await;
    let Body::SubmitSmResp(resp) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(
        (r.sequence, r.status, resp.message_id.as_str()),
        (seq, 0, "1001")
    );
    let (id, req) = s.backend.submitted().pop().unwrap();
    assert_eq!(id, 1001);
    assert_eq!(
        req.payload,
        Payload::Text {
            text: "one".into(),
            ucs2: false
        }
    );
    assert_eq!(
        (req.source.ton, req.dest.addr.as_str()),
        (5, "4915112345678")
    );

    // data_sm is answered with data_sm_resp.
    let seq = c
        .send(Body::DataSm(Box::new(DataSm {
            destination_addr: "4915112345678".into(),
            tlvs: vec![Tlv::new(tlv::MESSAGE_PAYLOAD, b"long text".to_vec())],
            ..DataSm::default()
        })))
        .await;
    let r = c.recv().await;
    assert_eq!(r.sequence, seq);
    assert_eq!(r.body, Body::DataSmResp(SmResp::id("1002")));

    // query_sm: delivered (even id) and accepted (odd id).
    for (id, state, final_date) in [("1002", 2, "261202100000000+"), ("1001", 6, "")] {
        c.send(Body::QuerySm(QuerySm {
            message_id: id.into(),
            ..QuerySm::default()
        }))
        .await;
        let r = c.recv().await;
        let Body::QuerySmResp(q) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(r.status, 0);
        assert_eq!((q.message_id.as_str(), q.message_state), (id, state));
        assert_eq!(q.final_date, final_date);
    }
    for (id, st) in [
        ("999", "ESME_RQUERYFAIL"),
        ("01001", "ESME_RINVMSGID"),
        ("x", "ESME_RINVMSGID"),
    ] {
        c.send(Body::QuerySm(QuerySm {
            message_id: id.into(),
            ..QuerySm::default()
        }))
        .await;
        assert_eq!(status_of(&c.recv().await), st, "{id}");
    }
    // cancel_sm: possible before a part went out, not after.
    let cancel = |id: &str| {
        Body::CancelSm(CancelSm {
            message_id: id.into(),
            ..CancelSm::default()
        })
    };
    c.send(cancel("1001")).await;
    let r = c.recv().await;
    assert_eq!((r.body.clone(), r.status), (Body::CancelSmResp, 0));
    s.backend.state.lock().unwrap().sent.push(1002);
    c.send(cancel("1002")).await;
    assert_eq!(status_of(&c.recv().await), "ESME_RCANCELFAIL");
    c.send(cancel("5")).await;
    assert_eq!(status_of(&c.recv().await), "ESME_RCANCELFAIL");
    // replace_sm is not implemented.
    c.send(Body::ReplaceSm(Box::new(ReplaceSm {
        message_id: "1001".into(),
        ..ReplaceSm::default()
    })))
    .await;
    let r = c.recv().await;
    assert_eq!(
        (r.body.clone(), status_of(&r)),
        (Body::ReplaceSmResp, "ESME_RREPLACEFAIL")
    );

    // The backend's refusals.
    let mut sm = submit_sm("x");
    sm.destination_addr = "000".into();
    c.send(Body::SubmitSm(Box::new(sm))).await;
    assert_eq!(status_of(&c.recv().await), "ESME_RINVDSTADR");
    for (refusal, st) in [
        (SubmitRefusal::Throttled, "ESME_RTHROTTLED"),
        (SubmitRefusal::QueueFull, "ESME_RMSGQFUL"),
        (SubmitRefusal::Unavailable("disk".into()), "ESME_RSYSERR"),
        (
            SubmitRefusal::BadContent("too long".into()),
            "ESME_RSUBMITFAIL",
        ),
    ] {
        s.backend.state.lock().unwrap().refusal = Some(refusal);
        c.submit("x").await;
        assert_eq!(status_of(&c.recv().await), st);
    }
    assert_eq!(s.binds.snapshot()[0].submits, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hex_ids_for_accounts_that_want_them() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    assert_eq!(c.bind(BindKind::Transceiver, "app2", "pw2").await.status, 0);
    c.submit("hex please").await;
    let r = c.recv().await;
    assert_eq!(r.body, Body::SubmitSmResp(SmResp::id("3E9")));
    c.send(Body::QuerySm(QuerySm {
        message_id: "3E9".into(),
        ..QuerySm::default()
    }))
    .await;
    assert_eq!(c.recv().await.status, 0);
    s.backend
        .push("app2", receipt(1001, MessageState::Delivered));
    let d = c.recv().await;
    assert_eq!(receipted_id(&d), "3E9");
    let Body::DeliverSm(sm) = &d.body else {
        panic!()
    };
    let text = String::from_utf8(sm.short_message.clone()).unwrap();
    assert!(text.starts_with("id:3E9 sub:001 dlvrd:001 "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_overflows_into_msgqful_and_answers_keep_their_order() {
    let s = start(config()).await;
    let mut c = Client::bound(s.addr, BindKind::Transceiver).await;
    // Hold every submit in the backend.
    let held = s.backend.gate.acquire_many(GATE as u32).await.unwrap();
    let mut seqs = Vec::new();
    for i in 0..4 {
        seqs.push(c.submit(&format!("m{i}")).await);
    }
    // The fifth is over the window of 4: refused at once.
    let over = c.submit("over").await;
    let r = c.recv().await;
    assert_eq!((r.sequence, status_of(&r)), (over, "ESME_RMSGQFUL"));
    // So is a query while the window is full; enquire_link is always answered.
    c.send(Body::QuerySm(QuerySm {
        message_id: "1".into(),
        ..QuerySm::default()
    }))
    .await;
    assert_eq!(status_of(&c.recv().await), "ESME_RMSGQFUL");
    let e = c.send(Body::EnquireLink).await;
    assert_eq!(c.recv().await.sequence, e);
    wait_until("four in flight", || s.binds.snapshot()[0].in_flight == 4).await;
    drop(held);
    let mut ids = Vec::new();
    for seq in &seqs {
        let r = c.recv().await;
        assert_eq!((r.sequence, r.status), (*seq, 0));
        let Body::SubmitSmResp(m) = r.body else {
            panic!()
        };
        ids.push(m.message_id);
    }
    assert_eq!(ids, ["1001", "1002", "1003", "1004"]);
    let texts: Vec<String> = s
        .backend
        .submitted()
        .into_iter()
        .map(|(_, r)| match r.payload {
            Payload::Text { text, .. } => text,
            p => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3"]);
    // The window is free again.
    let seq = c.submit("after").await;
    assert_eq!(c.recv().await.sequence, seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_enquire_link_closes_the_bind() {
    let s = start(ServerConfig {
        enquire_link: Duration::from_millis(400),
        ..config()
    })
    .await;
    let mut silent = Client::bound(s.addr, BindKind::Transceiver).await;
    let mut polite = Client::bound(s.addr, BindKind::Transceiver).await;
    let started = tokio::time::Instant::now();
    let e = silent.recv().await;
    assert_eq!(e.body, Body::EnquireLink);
    assert!(started.elapsed() >= Duration::from_millis(350));
    // The silent one is closed after twice the interval; the polite one,
    // answering every enquire_link, stays bound.
    let closer = tokio::spawn(async move {
        silent.closed().await;
        tokio::time::Instant::now()
    });
    for _ in 0..4 {
        let e = polite.recv().await;
        assert_eq!(e.body, Body::EnquireLink);
        polite
            .answer(Pdu::new(e.sequence, Body::EnquireLinkResp))
            .await;
    }
    let closed_at = closer.await.unwrap();
    assert!(closed_at.duration_since(started) >= Duration::from_millis(750));
    assert_eq!(s.binds.snapshot().len(), 1);
    let seq = polite.submit("still bound").await;
    loop {
        let r = polite.recv().await;
        if r.body == Body::EnquireLink {
            polite
                .answer(Pdu::new(r.sequence, Body::EnquireLinkResp))
                .await;
            continue;
        }
        assert_eq!((r.sequence, r.status), (seq, 0));
        break;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_rows_go_in_order_and_failed_ones_are_retried() {
    let backend = MemBackend::new();
    for i in 1..=5 {
        backend.push("app1", receipt(1000 + i, MessageState::Delivered));
    }
    let s = start_with(config(), backend).await;
    let mut c = Client::bound(s.addr, BindKind::Receiver).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(c.recv().await);
    }
    // Pipelined up to the window, in id order, each with its own sequence.
    let ids: Vec<String> = got.iter().map(receipted_id).collect();
    assert_eq!(ids, ["1001", "1002", "1003", "1004"]);
    let Body::DeliverSm(sm) = &got[0].body else {
        panic!()
    };
    assert_eq!(sm.esm_class, 0x04);
    assert_eq!(sm.tlvs.tlv_u8(tlv::MESSAGE_STATE), Some(2));
    assert_eq!(
        (sm.source_addr.as_str(), sm.destination_addr.as_str()),
        ("4915112345678", "ACME")
    );
    // 1 and 2 accepted, 3 refused, 4 accepted.
    for (p, st) in got.iter().zip([0, 0, status::ESME_RX_T_APPN, 0]) {
        c.answer(Pdu::error(
            p.sequence,
            Body::DeliverSmResp(SmResp::default()),
            st,
        ))
        .await;
    }
    // 5 went out as soon as 1 was acknowledged (pipelining); after the
    // backoff, 3 comes again.
    let five = c.recv().await;
    assert_eq!(receipted_id(&five), "1005");
    c.answer(Pdu::new(
        five.sequence,
        Body::DeliverSmResp(SmResp::default()),
    ))
    .await;
    let again = c.recv().await;
    assert_eq!(receipted_id(&again), "1003");
    // No answer at all: a timeout is a failure too (response_timeout 5 s).
    let started = tokio::time::Instant::now();
    let retry = c.recv().await;
    assert_eq!(receipted_id(&retry), "1003");
    assert!(started.elapsed() >= Duration::from_secs(4));
    c.answer(Pdu::new(
        retry.sequence,
        Body::DeliverSmResp(SmResp::default()),
    ))
    .await;
    wait_until("all five acknowledged", || {
        let mut d = s.backend.delivered();
        d.sort();
        d == [1, 2, 3, 4, 5]
    })
    .await;
    assert_eq!(s.backend.failed(), [3, 3]);
    assert!(s.backend.state.lock().unwrap().outbox["app1"].is_empty());
    assert_eq!(s.binds.snapshot()[0].receipts_sent, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_wait_for_a_receiver_and_survive_an_unbind() {
    let s = start(config()).await;
    let mut tx = Client::bound(s.addr, BindKind::Transmitter).await;
    s.backend.push("app1", receipt(1001, MessageState::Expired));
    s.backend.push(
        "app1",
        OutboundKind::Mo(MoItem {
            from: Address {
                ton: 1,
                npi: 1,
                addr: "4915112345678".into(),
            },
            to: Address {
                ton: 0,
                npi: 0,
                addr: "modem1".into(),
            },
            payload: Payload::Text {
                text: "Привет".into(),
                ucs2: false,
            },
            udh: None,
            received_at: 1_796_205_600,
        }),
    );
    // Nothing reaches the transmitter.
    let seq = tx.send(Body::EnquireLink).await;
    assert_eq!(tx.recv().await.sequence, seq);
    // A receiver binds, takes the receipt, and unbinds without answering the MO.
    let mut rx = Client::bound(s.addr, BindKind::Receiver).await;
    let r = rx.recv().await;
    assert_eq!(receipted_id(&r), "1001");
    rx.answer(Pdu::new(r.sequence, Body::DeliverSmResp(SmResp::default())))
        .await;
    let mo = rx.recv().await;
    let seq = rx.send(Body::Unbind).await;
    loop {
        let p = rx.recv_or_eof().await;
        match p {
            Some(p) if p.body == Body::UnbindResp => {
                assert_eq!(p.sequence, seq);
                break;
            }
            Some(_) => continue,
            None => panic!("closed before unbind_resp"),
        }
    }
    rx.closed().await;
    let Body::DeliverSm(first) = &mo.body else {
        panic!()
    };
    // Later, a transceiver binds: the MO comes again.
    let mut trx = Client::bound(s.addr, BindKind::Transceiver).await;
    let again = trx.recv().await;
    let Body::DeliverSm(sm) = &again.body else {
        panic!()
    };
    assert_eq!(sm, first);
    assert_eq!((sm.esm_class, sm.data_coding), (0, 8));
    assert_eq!(sm.source_addr, "4915112345678");
    trx.answer(Pdu::new(
        again.sequence,
        Body::DeliverSmResp(SmResp::default()),
    ))
    .await;
    wait_until("both rows delivered", || s.backend.delivered() == [1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_unbinds_every_bind() {
    let s = start(config()).await;
    let mut a = Client::bound(s.addr, BindKind::Transceiver).await;
    let mut b = Client::bound(s.addr, BindKind::Receiver).await;
    s.stop.send(true).unwrap();
    for c in [&mut a, &mut b] {
        let u = c.recv().await;
        assert_eq!(u.body, Body::Unbind);
        c.answer(Pdu::new(u.sequence, Body::UnbindResp)).await;
        assert!(c.recv_or_eof().await.is_none());
    }
    tokio::time::timeout(WAIT, s.task)
        .await
        .expect("run() returns")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed() {
    let s = start(ServerConfig {
        max_connections: 2,
        ..config()
    })
    .await;
    let _a = Client::bound(s.addr, BindKind::Transceiver).await;
    let _b = Client::bound(s.addr, BindKind::Transceiver).await;
    let mut c = Client::connect(s.addr).await;
    c.send(Body::EnquireLink).await;
    assert!(c.recv_or_eof().await.is_none());
    assert_eq!(s.binds.binds_per_account()["app1"], 2);
}

fn hostile_runtime() -> &'static (tokio::runtime::Runtime, Running) {
    static RT: std::sync::OnceLock<(tokio::runtime::Runtime, Running)> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(start(ServerConfig {
            response_timeout: Duration::from_secs(2),
            ..config()
        }));
        (rt, s)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Arbitrary bytes (bound or not) never panic the server, and a bind on
    /// another connection keeps working meanwhile.
    #[test]
    fn arbitrary_bytes_on_one_socket_never_hurt_another_bind(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        bind_first in any::<bool>(),
        fix_len in any::<bool>(),
    ) {
        let (rt, s) = hostile_runtime();
        rt.block_on(async {
            let mut good = Client::bound(s.addr, BindKind::Transceiver).await;
            let mut bad = if bind_first {
                Client::bound(s.addr, BindKind::Transceiver).await
            } else {
                Client::connect(s.addr).await
            };
            let mut bytes = bytes.clone();
            if fix_len && bytes.len() >= 16 {
                let n = bytes.len() as u32;
                bytes[..4].copy_from_slice(&n.to_be_bytes());
            }
            let _ = bad.sock.write_all(&bytes).await;
            let seq = good.submit("unharmed").await;
            loop {
                let r = good.recv().await;
                if r.sequence == seq && matches!(r.body, Body::SubmitSmResp(_)) {
                    assert_eq!(r.status, 0);
                    break;
                }
            }
            let seq = good.send(Body::EnquireLink).await;
            loop {
                let r = good.recv().await;
                if r.sequence == seq && r.body == Body::EnquireLinkResp {
                    break;
                }
            }
            assert!(!s.task.is_finished(), "the server stopped");
        });
    }
}

/// The Python interpreter with PyPI smpplib: `SMSGW_TEST_PYTHON` (set by
/// .ci/run), else the venv .ci/run makes under target/.
fn python() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("SMSGW_TEST_PYTHON") {
        return p.into();
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-smpp/bin/python");
    assert!(
        p.exists(),
        "no Python with smpplib: run .ci/run once (it makes target/venv-smpp) or set \
         SMSGW_TEST_PYTHON to a python3 that has `pip install smpplib==2.2.4`"
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smpplib_binds_submits_and_reads_every_receipt() {
    let backend = MemBackend::new();
    backend
        .auto_receipts
        .store(true, std::sync::atomic::Ordering::Relaxed);
    backend.push(
        "app1",
        OutboundKind::Mo(MoItem {
            from: Address {
                ton: 1,
                npi: 1,
                addr: "4915112345678".into(),
            },
            to: Address {
                ton: 0,
                npi: 0,
                addr: "modem1".into(),
            },
            payload: Payload::Text {
                text: "Grüße {€}".into(),
                ucs2: false,
            },
            udh: None,
            received_at: 1_796_205_600,
        }),
    );
    let s = start_with(config(), backend).await;
    let long = "0123456789 abcdefghij ".repeat(20);
    let mut messages = Vec::new();
    for i in 0..12 {
        let (text, encoding, long_mode) = match i % 6 {
            0 => (format!("plain {i} @£$ {{€}} [~]"), "default", "payload"),
            1 => (format!("Привет {i} 😀"), "ucs2", "payload"),
            2 => (format!("{i} {long}"), "default", "payload"),
            3 => (format!("café {i}"), "latin1", "payload"),
            4 => (format!("{i} {long}"), "default", "udh"),
            _ => (format!("please fail {i}"), "ia5", "payload"),
        };
        messages.push(serde_json::json!({
            "to": "4915112345678", "from": "ACME", "text": text,
            "encoding": encoding, "long": long_mode,
        }));
    }
    // 12 messages; the two "udh" ones (442 octets) go as 4 parts of 134
    // octets each: 18 submits.
    let plan = serde_json::json!({
        "messages": messages, "window": 4, "unbind_after": 5,
        "rebind_delay_s": 0.3, "expect_receipts": 18, "expect_mo": 1,
        "linger_s": 0.5, "timeout_s": 60, "nack_first_receipts": 1,
    });
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/smpp_client.py");
    let out = tokio::process::Command::new(python())
        .arg(&script)
        .arg(&plan_path)
        .args([
            "--port",
            &s.addr.port().to_string(),
            "--system-id",
            "app1",
            "--password",
            "secret1",
        ])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the Python client ends")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "smpp_client.py failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("report: {e}\n{}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(report["timed_out"], false, "{report:#}");
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "{report:#}");
    assert_eq!(report["binds"], 2);

    let submits = report["submits"].as_array().unwrap();
    assert_eq!(submits.len(), 18);
    let mut ids: Vec<String> = submits
        .iter()
        .map(|x| {
            assert_eq!(x["status"], 0, "{x}");
            x["message_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 18, "ids are unique");

    // What the backend got, decoded.
    let got = s.backend.submitted();
    assert_eq!(got.len(), 18);
    let texts: Vec<(String, bool, Option<Vec<u8>>)> = got
        .iter()
        .map(|(_, r)| match &r.payload {
            Payload::Text { text, ucs2 } => (text.clone(), *ucs2, r.udh.clone()),
            p => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(texts[0], ("plain 0 @£$ {€} [~]".to_string(), false, None));
    assert_eq!(texts[1], ("Привет 1 😀".to_string(), true, None));
    assert_eq!(texts[2].0, format!("2 {long}"));
    assert_eq!(texts[3].0, "café 3");
    // The UDH parts keep the client's header; together they are the text.
    let parts: Vec<&(String, bool, Option<Vec<u8>>)> = texts[4..8].iter().collect();
    let joined: String = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(joined, format!("4 {long}"));
    for (i, p) in parts.iter().enumerate() {
        let h = p.2.as_ref().unwrap();
        assert_eq!((h[0], h[1], h[2], h[4], h[5]), (5, 0, 3, 4, i as u8 + 1));
    }

    // Every receipt exactly once (plus the one the client refused once),
    // parsed by the sscanf reader and Kannel's, TLVs matching the text.
    let receipts = report["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 19, "{report:#}");
    let mut seen: Vec<String> = Vec::new();
    for r in receipts {
        assert_eq!(r["kannel_ok"], true, "{r}");
        let id = r["id"].as_str().unwrap();
        assert_eq!(r["tlv_receipted_message_id"].as_str(), Some(id));
        assert_eq!(r["esm_class"], 4);
        assert_eq!(
            (r["source"].as_str(), r["dest"].as_str()),
            (Some("4915112345678"), Some("ACME"))
        );
        let failed = r["text"].as_str().unwrap().contains("fail");
        let (stat, state, err) = if failed {
            ("UNDELIV", 5, "069")
        } else {
            ("DELIVRD", 2, "000")
        };
        assert_eq!(
            (
                r["stat"].as_str(),
                r["tlv_message_state"].as_i64(),
                r["err"].as_str()
            ),
            (Some(stat), Some(state), Some(err)),
            "{r}"
        );
        assert_eq!(r["sub"], 1);
        assert_eq!(r["dlvrd"], u32::from(!failed));
        assert_eq!(
            (r["submit_date"].as_str(), r["done_date"].as_str()),
            (Some("2612021000"), Some("2612021001"))
        );
        if failed {
            assert_eq!(r["tlv_network_error_code"].as_str(), Some("030045"));
        }
        if r.get("nacked").is_none() {
            seen.push(id.to_string());
        }
    }
    seen.sort();
    assert_eq!(seen, ids, "each receipt acknowledged exactly once");
    let mo = report["mo"].as_array().unwrap();
    assert_eq!(mo.len(), 1);
    assert_eq!(mo[0]["text"], "Grüße {€}");
    assert_eq!(mo[0]["data_coding"], 0);
    wait_until("every row delivered", || s.backend.delivered().len() == 19).await;
}
