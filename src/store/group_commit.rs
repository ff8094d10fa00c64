//! Group commit: the daemon's store operations, from every HTTP request and
//! every modem worker, run on one writer thread that takes whatever is
//! waiting, runs it inside one transaction (each operation in a savepoint of
//! its own, so a failing one is rolled back alone) and commits it with one
//! disk sync. While one batch is being synced the next one gathers, so the
//! disk sets the pace of batches, not of operations.
//!
//! An operation's result is handed back only after its batch is committed:
//! a caller that is told "done" may act on it (write AT+CMGS after "part
//! marked in flight", acknowledge a report to the modem after "report
//! stored", answer 202 after "message queued"). Operations are run in the
//! order they were given, so one caller's operations never overtake each
//! other.
//!
//! The store stays behind its mutex: short synchronous users (the CLI, the
//! housekeeping, tests) lock it between batches as before.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Result, Store, StoreError};

/// At most this many operations in one batch (bounds how long one commit
/// holds the store, and the work lost if the batch fails).
const MAX_BATCH: usize = 512;

/// Called once the batch is settled: `None` when committed, or why not.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;
type Job = Box<dyn FnOnce(&mut Store) -> Finish + Send>;

/// A handle on the writer thread. Cheap to clone; the thread ends when the
/// last handle is dropped, after running everything already given to it.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    store: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupCommit {
    /// Start the writer thread over `store`. Should the system refuse a
    /// thread, each operation runs where it is given, in a transaction of
    /// its own (correct, only slower).
    pub fn start(store: Arc<Mutex<Store>>) -> GroupCommit {
        let (jobs, rx) = mpsc::channel::<Job>();
        let shared = store.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("smsgw-store".into())
            .spawn(move || writer(&shared, &rx))
        {
            tracing::error!("cannot start the store writer thread ({e}): no group commit");
        }
        GroupCommit { jobs, store }
    }

    /// Run `op` in the next batch; `done` gets its result once the batch is
    /// committed (an `Ok` of a batch that then failed becomes
    /// [`StoreError::NotCommitted`]). `done` runs on the writer thread:
    /// keep it short (send on a channel, bump a counter).
    pub fn submit<T, F, D>(&self, op: F, done: D)
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
        D: FnOnce(Result<T>) + Send + 'static,
    {
        let job: Job = Box::new(move |store: &mut Store| {
            let out = op(store);
            Box::new(move |failed: Option<&str>| {
                done(match (out, failed) {
                    (Ok(_), Some(why)) => Err(StoreError::NotCommitted(why.to_string())),
                    (out, _) => out,
                })
            })
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // No writer thread: run it here, in a transaction of its own.
            let finish = job(&mut lock(&self.store));
            finish(None);
        }
    }

    /// Run `op` in the next batch and wait until that batch is committed.
    pub async fn run<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(op, move |out| {
            let _ = tx.send(out);
        });
        rx.await.unwrap_or(Err(StoreError::WriterGone))
    }

    /// Wait until everything given before is committed (or failed).
    pub async fn flush(&self) {
        let _ = self.run(|_| Ok(())).await;
    }
}

/// A batch written to the log, with the callers to tell once it is synced.
struct Written {
    finishers: Vec<Finish>,
    /// Why the batch is not stored (then there is nothing to sync).
    failed: Option<String>,
}

/// The writer thread: batch after batch until every handle is dropped.
///
/// On a database file, a batch's commit only writes the write-ahead log
/// (synchronous = NORMAL), and a second thread syncs the log and only then
/// answers the batch's callers, while this one runs the next batch: the disk
/// sync no longer stops the work. This is as durable as synchronous = FULL:
/// a caller hears "done" only after a sync that came after its commit, and
/// the log is only ever read back up to its first frame that did not reach
/// the disk (its checksums chain), so a later batch never survives without
/// an earlier one.
fn writer(store: &Mutex<Store>, rx: &mpsc::Receiver<Job>) {
    let target = {
        let s = lock(store);
        s.wal_path().zip(s.db_path().map(Path::to_path_buf))
    };
    let sync_later = target.is_some();
    // Set for good when the disk failed us (a sync, or putting the store
    // back to syncing every commit): from then on nothing is stored, every
    // operation fails (its caller sees the writer gone), and the daemon must
    // be restarted, since what was written since the last good sync may not
    // be on disk, and a later sync would not say so. What made it is
    // recovered at the next open; parts marked in flight become UNKNOWN
    // there, never resent.
    let broken = Arc::new(AtomicBool::new(false));
    let (synced_tx, synced_rx) = mpsc::channel::<Written>();
    let syncer_broken = broken.clone();
    let syncer = target.and_then(|(wal, db)| {
        std::thread::Builder::new()
            .name("smsgw-sync".into())
            .spawn(move || syncer(&wal, &db, &synced_rx, &syncer_broken))
            .map_err(|e| tracing::error!("cannot start the store sync thread ({e})"))
            .ok()
    });
    // Without a sync thread, commits sync themselves.
    let sync_later = sync_later && syncer.is_some();
    while let Ok(first) = rx.recv() {
        if broken.load(Ordering::SeqCst) {
            let mut jobs = vec![first];
            jobs.extend(rx.try_iter());
            for job in jobs {
                drop(job);
            }
            continue;
        }
        let mut s = lock(store);
        let batched = match s.begin_batch(sync_later) {
            Ok(()) => true,
            Err(e) => {
                // Each operation then runs (and fails, or not) on its own.
                tracing::warn!("cannot start a group commit: {e}");
                false
            }
        };
        let mut finishers = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            finishers.push(run_job(&mut s, job));
            if !batched || s.batch_aborted() || finishers.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        let failed = if batched {
            s.commit_batch().err().map(|e| e.to_string())
        } else {
            None
        };
        if sync_later {
            if let Err(e) = s.full_sync() {
                tracing::error!(
                    "the database cannot be put back to syncing every commit ({e}): \
                     no more work is stored; restart smsgw"
                );
                broken.store(true, Ordering::SeqCst);
            }
        }
        drop(s);
        if let Some(why) = &failed {
            tracing::error!(
                "group commit of {} operation(s) failed: {why}",
                finishers.len()
            );
        }
        let written = Written { finishers, failed };
        // Through the sync thread even unbatched (a commit under NORMAL).
        if sync_later {
            if let Err(mpsc::SendError(written)) = synced_tx.send(written) {
                settle(written, Some("the store sync thread has stopped"));
            }
        } else {
            settle(written, None);
        }
    }
    drop(synced_tx);
    if let Some(t) = syncer {
        let _ = t.join();
    }
}

/// Tell a batch's callers how it ended (`unsynced`: the sync failed).
fn settle(w: Written, unsynced: Option<&str>) {
    let why = w.failed.as_deref().or(unsynced);
    for finish in w.finishers {
        finish(why);
    }
}

/// The sync thread: one sync of the log for every batch written since the
/// last, then their callers are answered, in order.
fn syncer(wal: &Path, db: &Path, rx: &mpsc::Receiver<Written>, broken: &AtomicBool) {
    let mut log = LogFile::default();
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        while let Ok(more) = rx.try_recv() {
            batches.push(more);
        }
        let error = if broken.load(Ordering::SeqCst) {
            Some(std::io::Error::other("an earlier sync failed"))
        } else if batches.iter().any(|b| b.failed.is_none()) {
            log.sync(wal, db).err()
        } else {
            None
        };
        if let Some(e) = &error {
            tracing::error!(
                "cannot sync {}: {e}; no more work is stored: restart smsgw",
                wal.display()
            );
            broken.store(true, Ordering::SeqCst);
        }
        let why = error.map(|e| format!("cannot sync the database log: {e}"));
        for b in batches {
            settle(b, why.as_deref());
        }
    }
}

/// The log file last synced, to know when its directory entry needs a sync
/// too (a log SQLite created since, which under synchronous = NORMAL it does
/// not sync itself until a checkpoint).
#[derive(Default)]
struct LogFile {
    inode: Option<u64>,
}

impl LogFile {
    /// Sync the log to disk (and its directory, the first time this log
    /// file is seen). With no log file, everything was checkpointed into
    /// the database file (SQLite syncs the log before it does), so sync that.
    fn sync(&mut self, wal: &Path, db: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let f = match std::fs::File::open(wal) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.inode = None;
                return std::fs::File::open(db)?.sync_data();
            }
            Err(e) => return Err(e),
        };
        f.sync_data()?;
        let inode = f.metadata()?.ino();
        if self.inode != Some(inode) {
            if let Some(dir) = wal.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            self.inode = Some(inode);
        }
        Ok(())
    }
}

/// Run one operation; a panic in it is contained (its savepoint is rolled
/// back while unwinding, its caller sees the writer's error, and the router
/// is rebuilt from the rows).
fn run_job(store: &mut Store, job: Job) -> Finish {
    match catch_unwind(AssertUnwindSafe(|| job(store))) {
        Ok(finish) => finish,
        Err(_) => {
            tracing::error!("a store operation panicked; rebuilding the router");
            store.resync();
            Box::new(|_| {})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{PartId, RouterConfig};
    use std::path::Path;

    fn open(path: &Path) -> Arc<Mutex<Store>> {
        Arc::new(Mutex::new(
            Store::open_at(path, RouterConfig::default(), 0).unwrap(),
        ))
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn results_come_back_after_commit_and_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let store = open(&path);
        let gc = GroupCommit::start(store.clone());
        let ids = rt().block_on(async {
            let mut waits = Vec::new();
            for i in 0..50 {
                let gc = gc.clone();
                waits.push(tokio::spawn(async move {
                    gc.run(move |s| s.create_message(&format!("+3933312345{i:02}"), "hi", 1, 0))
                        .await
                }));
            }
            let mut ids = Vec::new();
            for w in waits {
                ids.push(w.await.unwrap().unwrap().id);
            }
            ids
        });
        drop(gc);
        drop(store);
        // A second connection sees every one of them.
        let again = Store::open_at(&path, RouterConfig::default(), 0).unwrap();
        for id in ids {
            assert_eq!(again.message(id).unwrap().message.recipient.len(), 13);
        }
    }

    #[test]
    fn a_failing_store_call_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("g.db"));
        let (a, b) = {
            let mut s = lock(&store);
            let a = s.create_message("+393331234567", "a", 1, 0).unwrap();
            let b = s.create_message("+393331234568", "b", 1, 0).unwrap();
            (a.parts[0], b.parts[0])
        };
        let modem = lock(&store).modem("m1").unwrap();
        let gc = GroupCommit::start(store.clone());
        // Hold the store so that all three land in one batch.
        let guard = lock(&store);
        let (tx, rx) = std::sync::mpsc::channel();
        let ops: [(i64, Vec<PartId>); 3] = [(1, vec![a]), (2, vec![b, PartId(999)]), (3, vec![])];
        for (i, parts) in ops {
            let tx = tx.clone();
            gc.submit(
                move |s| {
                    if parts.is_empty() {
                        return s.create_message("+393331234569", "c", 1, 0).map(|_| ());
                    }
                    let parts: Vec<_> = parts.iter().map(|&p| (p, modem)).collect();
                    // Op 2 writes part b, then fails on the missing part.
                    s.mark_sending_parts(&parts, 5)
                },
                move |out| tx.send((i, out.map_err(|e| e.to_string()))).unwrap(),
            );
        }
        drop(guard);
        let mut got: Vec<_> = (0..3).map(|_| rx.recv().unwrap()).collect();
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(got[0].1, Ok(()));
        assert_eq!(got[1].1, Err("no part with id 999".to_string()));
        assert_eq!(got[2].1, Ok(()));
        let s = lock(&store);
        let in_flight = |p: PartId| -> bool {
            s.conn
                .query_row(
                    "SELECT sending_at IS NOT NULL FROM parts WHERE id = ?1",
                    [p.0],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert!(in_flight(a), "op 1 committed");
        assert!(!in_flight(b), "op 2's half-done call was rolled back");
        let all = s.messages(&crate::store::MessageFilter::default()).unwrap();
        assert_eq!(all.len(), 3, "op 3 committed");
    }

    #[test]
    fn the_log_synced_is_the_one_sqlite_writes_even_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let store = open(&dir.path().join("link").join("g.db"));
        let wal = lock(&store).wal_path().unwrap();
        let gc = GroupCommit::start(store.clone());
        rt().block_on(gc.run(|s| s.create_message("+393331234567", "hi", 1, 0)))
            .unwrap();
        assert!(
            wal.exists(),
            "{} is not the log SQLite writes",
            wal.display()
        );
        let mut log = LogFile::default();
        assert!(log.sync(&wal, lock(&store).db_path().unwrap()).is_ok());
        assert!(log.inode.is_some(), "the log's directory was synced once");
        // In memory there is nothing to sync.
        let mem = Store::open_at(Path::new(":memory:"), RouterConfig::default(), 0).unwrap();
        assert_eq!(mem.wal_path(), None);
    }

    #[test]
    fn the_reader_sees_what_the_writer_committed_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("r.db"));
        let mut reader = lock(&store).reader().unwrap().expect("a file has a reader");
        let gc = GroupCommit::start(store.clone());
        let id = rt()
            .block_on(gc.run(|s| s.create_message("+393331234567", "hi", 1, 0)))
            .unwrap()
            .id;
        // Committed (and synced) before the answer: the reader sees it.
        assert_eq!(reader.message(id).unwrap().parts.len(), 1);
        assert_eq!(reader.queue_depth(None).unwrap(), 1);
        // Read only.
        assert!(reader.create_message("+393331234568", "no", 1, 0).is_err());
        let mem = Store::open_at(Path::new(":memory:"), RouterConfig::default(), 0).unwrap();
        assert!(mem.reader().unwrap().is_none());
    }

    #[test]
    fn a_panicking_operation_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("g.db"));
        let gc = GroupCommit::start(store);
        let rt = rt();
        let err = rt.block_on(gc.run(|_| -> Result<()> { panic!("boom") }));
        assert!(matches!(err, Err(StoreError::WriterGone)), "{err:?}");
        let ok = rt.block_on(gc.run(|s| s.create_message("+393331234567", "hi", 1, 0)));
        assert!(ok.is_ok());
    }
}
