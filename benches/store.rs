//! Store: status reports stored and applied per second on a file database
//! (WAL, synchronous=FULL), in batches as they arrive in bursts.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smsgw::router::{ModemId, RouterConfig};
use smsgw::store::{IncomingReport, Store};

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

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    for (batch, n) in [(1usize, 300usize), (100, 20_000), (1000, 20_000)] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("reports applied, batch {batch}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut s = prepared(dir.path(), n);
                    let start = Instant::now();
                    for chunk in (0..n).collect::<Vec<_>>().chunks(batch) {
                        s.record_reports(chunk.iter().map(|&i| report(i))).unwrap();
                    }
                    total += start.elapsed();
                    assert_eq!(s.router().stats().pending, 0);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
