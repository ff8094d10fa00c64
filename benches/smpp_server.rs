//! The SMPP server alone (protocol side), with an in-memory backend that
//! accepts every submit at once and puts its receipt in the outbox: one
//! transceiver bind submits N messages with a window of 64 and acknowledges
//! every receipt. Measures messages per second (submit_sm to acknowledged
//! receipt), process CPU per message (client included), and the RSS growth
//! per idle bind (1,000 binds).
//!
//!   cargo bench --bench smpp_server -- [MESSAGES] [IDLE_BINDS]   (20000 1000)
//!
//! Under `cargo test` (no `--bench` flag) it runs a small batch as a smoke
//! test that fails unless every receipt comes back matched.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smsgw::smpp::backend::{
    Account, BindRefusal, IdFormat, LookupRefusal, Outbound, OutboundKind, QueryAnswer,
    ReceiptItem, SmppBackend, SubmitRefusal, SubmitRequest,
};
use smsgw::smpp::pdu::{tlv, Bind, Body, Pdu, Sm, SmResp, TlvList};
use smsgw::smpp::server::{ServerConfig, SmppServer};
use smsgw::state::MessageState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

struct Mem {
    inner: Mutex<(u64, i64, BTreeMap<i64, Outbound>)>,
    changed: watch::Sender<u64>,
}

impl SmppBackend for Mem {
    fn authenticate(&self, s: &str, _: &str, _: IpAddr) -> Result<Account, BindRefusal> {
        Ok(Account {
            system_id: s.into(),
            id_format: IdFormat::Decimal,
            receive_mo: false,
        })
    }

    async fn submit(&self, _: &Account, req: SubmitRequest) -> Result<u64, SubmitRefusal> {
        let id = {
            let mut g = self.inner.lock().unwrap();
            g.0 += 1;
            g.1 += 1;
            let (id, row) = (g.0, g.1);
            g.2.insert(
                row,
                Outbound {
                    id: row,
                    attempts: 0,
                    kind: OutboundKind::Receipt(ReceiptItem {
                        message_id: id,
                        submit_source: req.source,
                        submit_dest: req.dest,
                        state: MessageState::Delivered,
                        intermediate: false,
                        sub: 1,
                        dlvrd: 1,
                        submit_date: 1_796_205_600,
                        done_date: 1_796_205_601,
                        err: 0,
                        network_error: None,
                        text_head: "bench".into(),
                    }),
                },
            );
            id
        };
        self.changed.send_modify(|v| *v += 1);
        Ok(id)
    }

    async fn query(&self, _: &Account, _: u64) -> Result<QueryAnswer, LookupRefusal> {
        Err(LookupRefusal::NotFound)
    }

    async fn cancel(&self, _: &Account, _: u64) -> Result<(), LookupRefusal> {
        Err(LookupRefusal::NotFound)
    }

    async fn outbound(&self, _: &str, after: i64, limit: usize) -> Result<Vec<Outbound>, String> {
        let g = self.inner.lock().unwrap();
        Ok(g.2
            .range(after + 1..)
            .take(limit)
            .map(|(_, o)| o.clone())
            .collect())
    }

    async fn delivered(&self, _: &str, id: i64) -> Result<(), String> {
        self.inner.lock().unwrap().2.remove(&id);
        Ok(())
    }

    async fn failed(&self, _: &str, _: i64) -> Result<(), String> {
        Ok(())
    }

    fn outbox_changed(&self, _: &str) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

async fn read_pdu(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Pdu {
    loop {
        if buf.len() >= 4 {
            let n = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() >= n {
                let p = Pdu::parse(&buf[..n]).unwrap();
                buf.drain(..n);
                return p;
            }
        }
        let mut chunk = [0u8; 65536];
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "server closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn bind(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.set_nodelay(true).unwrap();
    let b = Pdu::new(
        1,
        Body::BindTransceiver(Bind {
            system_id: "bench".into(),
            password: "x".into(),
            ..Bind::default()
        }),
    );
    sock.write_all(&b.to_bytes()).await.unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_pdu(&mut sock, &mut buf).await.status, 0);
    (sock, buf)
}

fn cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    t(u.user_time()) + t(u.system_time())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn throughput(addr: SocketAddr, n: u32, window: u32) -> (Duration, Duration) {
    let (sock, mut buf) = bind(addr).await;
    let (mut rd, mut wr) = sock.into_split();
    let cpu0 = cpu();
    let t0 = Instant::now();
    // Reader: counts submit_sm_resp, answers deliver_sm, checks ids.
    let (credit_tx, mut credit_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let reader = tokio::spawn(async move {
        let mut ids = HashSet::new();
        let mut receipts = HashSet::new();
        let mut resps = 0u32;
        while receipts.len() < n as usize || resps < n {
            let p = loop {
                if buf.len() >= 4 {
                    let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
                    if buf.len() >= len {
                        let p = Pdu::parse(&buf[..len]).unwrap();
                        buf.drain(..len);
                        break p;
                    }
                }
                let mut chunk = [0u8; 65536];
                let k = rd.read(&mut chunk).await.unwrap();
                assert!(k > 0);
                buf.extend_from_slice(&chunk[..k]);
            };
            match p.body {
                Body::SubmitSmResp(r) => {
                    assert_eq!(p.status, 0);
                    ids.insert(r.message_id);
                    resps += 1;
                    let _ = credit_tx.send(Vec::new());
                }
                Body::DeliverSm(sm) => {
                    let id = sm.tlvs.tlv_cstr(tlv::RECEIPTED_MESSAGE_ID).unwrap();
                    assert!(receipts.insert(id), "receipt twice");
                    let ack = Pdu::new(p.sequence, Body::DeliverSmResp(SmResp::default()));
                    let _ = credit_tx.send(ack.to_bytes());
                }
                _ => {}
            }
        }
        assert_eq!(ids, receipts, "every receipt matches a submit");
    });
    let submit = Sm {
        source_addr: "ACME".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "4915112345678".into(),
        registered_delivery: 1,
        short_message: b"benchmark message of a typical length".to_vec(),
        ..Sm::default()
    };
    let mut in_flight = 0u32;
    let mut sent = 0u32;
    let mut out = Vec::new();
    while sent < n || !reader.is_finished() {
        while sent < n && in_flight < window {
            sent += 1;
            in_flight += 1;
            Pdu::new(sent + 1, Body::SubmitSm(Box::new(submit.clone()))).emit(&mut out);
        }
        if !out.is_empty() {
            wr.write_all(&out).await.unwrap();
            out.clear();
        }
        match tokio::time::timeout(Duration::from_millis(50), credit_rx.recv()).await {
            Ok(Some(ack)) => {
                if ack.is_empty() {
                    in_flight -= 1;
                } else {
                    out.extend_from_slice(&ack);
                }
                while let Ok(more) = credit_rx.try_recv() {
                    if more.is_empty() {
                        in_flight -= 1;
                    } else {
                        out.extend_from_slice(&more);
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    reader.await.unwrap();
    (t0.elapsed(), cpu() - cpu0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let nums: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, idle) = if bench {
        (
            nums.first().copied().unwrap_or(20_000),
            nums.get(1).copied().unwrap_or(1_000),
        )
    } else {
        (500, 50)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let backend = Arc::new(Mem {
            inner: Mutex::new((0, 0, BTreeMap::new())),
            changed: watch::channel(0).0,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = SmppServer::new(
            backend,
            ServerConfig {
                window: 64,
                enquire_link: Duration::from_secs(300),
                response_timeout: Duration::from_secs(30),
                max_connections: 10_000,
            },
        );
        let binds = server.binds();
        let (_stop, rx) = watch::channel(false);
        tokio::spawn(server.run(listener, rx));

        let (wall, cpu) = throughput(addr, n, 64).await;
        println!(
            "submit_sm -> receipt, window 64, {n} messages: {:.0} msg/s, {:.1} us CPU per message (client + server)",
            f64::from(n) / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / f64::from(n)
        );

        let rss0 = rss_kib();
        let mut held = Vec::new();
        for _ in 0..idle {
            held.push(bind(addr).await);
        }
        // Let every connection task settle.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(binds.snapshot().len() as u32 >= idle);
        let rss1 = rss_kib();
        println!(
            "{idle} idle binds: RSS +{} KiB, {:.1} KiB per bind (client sockets included)",
            rss1.saturating_sub(rss0),
            rss1.saturating_sub(rss0) as f64 / f64::from(idle)
        );
        drop(held);
    });
}
