//! Store on a file database (WAL, synchronous=FULL): status reports stored
//! and applied per second in batches as they arrive in bursts (webhooks off
//! and on); messages enqueued (one per commit, or in batches); the send
//! path per part (claim_next + mark_sending + mark_sent); counters() over
//! 100k messages.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smsgw::router::{ModemId, RouterConfig};
use smsgw::store::{EnqueueRequest, IncomingReport, MessageOptions, Store};

const T0: i64 = 1_760_000_000;

/// A fresh database with `n` single-part messages sent and pending (written
/// directly in one transaction: the setup is not what is measured).
fn prepared(dir: &Path, n: usize) -> Store {
    let db = dir.join("bench.db");
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(dir.join("bench.db-wal"));
    let _ = std::fs::remove_file(dir.join("bench.db-shm"));
    let mut s = Store::open_at(&db, RouterConfig::default(), T0).unwrap();
    s.modem("modem0").unwrap();
    drop(s);
    let mut c = rusqlite::Connection::open(&db).unwrap();
    let tx = c.transaction().unwrap();
    for i in 0..n {
        tx.execute(
            "INSERT INTO messages (id, recipient, text, parts, state, created_at) \
             VALUES (?1, ?2, 'bench', 1, 'ACCEPTED', ?3)",
            rusqlite::params![i as i64 + 1, number(i), T0],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO parts (id, message_id, seq, state, modem_id, mr, submitted_at, validity) \
             VALUES (?1, ?1, 1, 'ACCEPTED', 1, ?2, ?3, 86400)",
            rusqlite::params![i as i64 + 1, (i % 256) as i64, T0 + i as i64],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(c);
    Store::open_at(&db, RouterConfig::default(), T0).unwrap()
}

fn number(i: usize) -> String {
    format!("+39333{i:07}")
}

fn report(i: usize) -> IncomingReport {
    IncomingReport {
        modem: ModemId(1),
        recipient: number(i),
        mr: (i % 256) as u8,
        scts: T0 + i as i64 + 2,
        discharge: Some(T0 + i as i64 + 8),
        status: 0x00,
        pdu_hex: "07911326040000F0060B911326880736F4111011719551401110117195714000".into(),
        received_at: T0 + 100_000,
    }
}

/// A fresh, empty database.
fn empty(dir: &Path) -> Store {
    let db = dir.join("queue.db");
    for f in ["queue.db", "queue.db-wal", "queue.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    Store::open_at(&db, RouterConfig::default(), T0).unwrap()
}

fn enqueue_all(s: &mut Store, numbers: &[String], batch: usize) {
    let opts = MessageOptions::default();
    for chunk in numbers.chunks(batch) {
        let reqs: Vec<EnqueueRequest<'_>> = chunk
            .iter()
            .map(|to| EnqueueRequest {
                to,
                text: "bench",
                parts: 1,
                opts: &opts,
            })
            .collect();
        s.enqueue_messages(&reqs, T0).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    for (batch, n) in [(1usize, 300usize), (100, 20_000), (1000, 20_000)] {
        for hooks in [false, true] {
            if hooks && batch == 1000 {
                continue;
            }
            let on = if hooks { ", webhooks on" } else { "" };
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(format!("reports applied, batch {batch}{on}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut s = prepared(dir.path(), n);
                        s.set_webhooks(hooks);
                        let start = Instant::now();
                        for chunk in (0..n).collect::<Vec<_>>().chunks(batch) {
                            s.record_reports(chunk.iter().map(|&i| report(i))).unwrap();
                        }
                        total += start.elapsed();
                        assert_eq!(s.router().stats().pending, 0);
                        let pending = s.counters().unwrap().webhooks_pending;
                        assert_eq!(pending, if hooks { n as u64 } else { 0 });
                    }
                    total
                })
            });
        }
    }
    for (batch, n) in [(1usize, 1000usize), (100, 20_000)] {
        let numbers: Vec<String> = (0..n).map(number).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("enqueue, batch {batch}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut s = empty(dir.path());
                    let start = Instant::now();
                    enqueue_all(&mut s, &numbers, batch);
                    total += start.elapsed();
                    assert_eq!(s.queue_depth(None).unwrap(), n as u64);
                }
                total
            })
        });
    }
    for modems in [1usize, 8] {
        let n = 2000;
        let numbers: Vec<String> = (0..n).map(number).collect();
        let names: Vec<String> = (0..modems).map(|i| format!("modem{i}")).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(
            format!("claim_next + mark_sending + mark_sent, {modems} modem(s)"),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut s = empty(dir.path());
                        enqueue_all(&mut s, &numbers, 1000);
                        let ids: Vec<ModemId> = names.iter().map(|m| s.modem(m).unwrap()).collect();
                        let start = Instant::now();
                        let mut sent = 0usize;
                        'all: loop {
                            for (k, name) in names.iter().enumerate() {
                                let Some(m) = s.claim_next(name, T0, &|_| true).unwrap() else {
                                    break 'all;
                                };
                                for p in &m.parts {
                                    s.mark_sending(p.id, ids[k], T0).unwrap();
                                    let mr = (sent % 256) as u8;
                                    s.mark_sent(p.id, ids[k], mr, T0, 86_400).unwrap();
                                    sent += 1;
                                }
                            }
                        }
                        total += start.elapsed();
                        assert_eq!(sent, n);
                    }
                    total
                })
            },
        );
    }
    // The same with 8 modems whose in-flight marks are committed together
    // (group commit: one disk sync for 8 parts).
    let n = 2000;
    let numbers: Vec<String> = (0..n).map(number).collect();
    let names: Vec<String> = (0..8).map(|i| format!("modem{i}")).collect();
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(
        "claim_next + mark_sending_parts (8 per commit) + mark_sent, 8 modems",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut s = empty(dir.path());
                    enqueue_all(&mut s, &numbers, 1000);
                    let ids: Vec<ModemId> = names.iter().map(|m| s.modem(m).unwrap()).collect();
                    let start = Instant::now();
                    let mut sent = 0usize;
                    loop {
                        let mut round = Vec::new();
                        for (k, name) in names.iter().enumerate() {
                            if let Some(m) = s.claim_next(name, T0, &|_| true).unwrap() {
                                round.extend(m.parts.iter().map(|p| (p.id, ids[k])));
                            }
                        }
                        if round.is_empty() {
                            break;
                        }
                        s.mark_sending_parts(&round, T0).unwrap();
                        for (part, modem) in round {
                            let mr = (sent % 256) as u8;
                            s.mark_sent(part, modem, mr, T0, 86_400).unwrap();
                            sent += 1;
                        }
                    }
                    total += start.elapsed();
                    assert_eq!(sent, n);
                }
                total
            })
        },
    );
    g.finish();

    let mut g = c.benchmark_group("store counters");
    g.sample_size(10);
    let s = prepared(dir.path(), 100_000);
    g.bench_function("counters, 100k messages", |b| {
        b.iter(|| s.counters().unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
