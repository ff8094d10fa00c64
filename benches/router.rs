//! In-memory router: register and resolve with 1,000,000 pending entries,
//! and the bytes each pending entry costs (measured with a counting
//! allocator, printed once).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use smsgw::pdu::status::TpStatus;
use smsgw::router::{ModemId, PartId, Report, Router, RouterConfig};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// counter on the side does not touch the memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 1_000_000;
const T0: i64 = 1_760_000_000;

struct Load {
    /// As submitted.
    numbers: Vec<String>,
    /// As the reports carry them (national form).
    tp_ra: Vec<String>,
}

fn load() -> Load {
    Load {
        numbers: (0..N).map(|i| format!("+39333{i:07}")).collect(),
        tp_ra: (0..N).map(|i| format!("0333{i:07}")).collect(),
    }
}

fn modem(i: usize) -> ModemId {
    ModemId((i % 4) as u16)
}

fn fill(r: &mut Router, l: &Load) {
    for (i, n) in l.numbers.iter().enumerate() {
        r.register(
            modem(i),
            n,
            (i % 256) as u8,
            PartId(i as i64),
            T0 + (i / 4) as i64,
            86_400,
        );
    }
}

fn filled(l: &Load) -> Router {
    let mut r = Router::new(RouterConfig::default()).unwrap();
    fill(&mut r, l);
    r
}

fn resolve_all(r: &mut Router, l: &Load) {
    for (i, n) in l.tp_ra.iter().enumerate() {
        let rep = Report {
            modem: modem(i),
            recipient: n,
            mr: (i % 256) as u8,
            scts: T0 + (i / 4) as i64 + 1,
            status: TpStatus(0x00),
        };
        black_box(r.resolve(&rep));
    }
}

fn bytes_per_entry(l: &Load) {
    let before = LIVE.load(Ordering::Relaxed);
    let r = filled(l);
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(r.stats().pending, N);
    println!(
        "router: {} pending entries, {} heap bytes, {:.1} bytes per pending entry",
        N,
        after - before,
        (after - before) as f64 / N as f64
    );
    drop(r);
}

fn bench(c: &mut Criterion) {
    let l = load();
    bytes_per_entry(&l);
    let mut g = c.benchmark_group("router");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("register 1M", |b| {
        b.iter_batched(
            || Router::new(RouterConfig::default()).unwrap(),
            |mut r| {
                fill(&mut r, &l);
                r
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("resolve 1M pending", |b| {
        b.iter_batched(
            || filled(&l),
            |mut r| {
                resolve_all(&mut r, &l);
                assert_eq!(r.stats().pending, 0);
                r
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
