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
use std::time::Duration;

use tokio::sync::watch;

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
    stopped: Arc<Stopped>,
}

/// Whether the store has stopped for good, and why; shared by the writer,
/// the sync thread and every handle.
struct Stopped {
    flag: AtomicBool,
    why: watch::Sender<Option<String>>,
}

impl Stopped {
    fn new() -> Stopped {
        Stopped {
            flag: AtomicBool::new(false),
            why: watch::channel(None).0,
        }
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Stop for good (the first reason is kept).
    fn set(&self, why: String) {
        if !self.flag.swap(true, Ordering::SeqCst) {
            self.why.send_replace(Some(why));
        }
    }
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
        let stopped = Arc::new(Stopped::new());
        let writer_stopped = stopped.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("smsgw-store".into())
            .spawn(move || writer(&shared, &rx, &writer_stopped))
        {
            tracing::error!("cannot start the store writer thread ({e}): no group commit");
        }
        GroupCommit {
            jobs,
            store,
            stopped,
        }
    }

    /// Why the store has stopped storing for good (None while it works).
    /// Once stopped, every operation fails until the daemon is restarted.
    pub fn failure(&self) -> Option<String> {
        self.stopped.why.borrow().clone()
    }

    /// Stop the store for good as a failed sync would (tests of what
    /// follows: health, exit).
    #[cfg(test)]
    pub(crate) fn stop_for_test(&self, why: &str) {
        self.stopped.set(why.to_string());
    }

    /// Wait until the store stops for good; returns why.
    pub async fn stopped(&self) -> String {
        let mut rx = self.stopped.why.subscribe();
        // `wait_for` looks at the current value first: no missed stop.
        let why = match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone(),
            // The sender lives in `self`: it cannot be gone.
            Err(_) => None,
        };
        match why {
            Some(why) => why,
            None => std::future::pending().await,
        }
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
        match rx.await {
            Ok(out) => out,
            Err(_) => Err(match self.failure() {
                Some(why) => StoreError::NotCommitted(why),
                None => StoreError::WriterGone,
            }),
        }
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
fn writer(store: &Mutex<Store>, rx: &mpsc::Receiver<Job>, broken: &Arc<Stopped>) {
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
    // there, never resent. Errors that say nothing about the data (no file
    // descriptor left, a signal) are retried instead; see `syncer`.
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
        if broken.is_set() {
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
        // SMPP binds are told of new outbox rows once they are on disk.
        if let Some((notify, accounts)) = s.smpp_pending_notice() {
            finishers.push(Box::new(move |failed: Option<&str>| {
                if failed.is_none() {
                    (notify.0)(&accounts);
                }
            }));
        }
        if sync_later {
            if let Err(e) = back_to_full_sync(&mut s) {
                let why = format!(
                    "the database cannot be put back to syncing every commit ({e}): \
                     no more work is stored; restart smsgw"
                );
                tracing::error!("{why}");
                broken.set(why);
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

/// [`Store::full_sync`], tried a few times over about a second: it only sets
/// a flag, and a failure (out of memory, say) may pass.
fn back_to_full_sync(s: &mut Store) -> Result<()> {
    let mut pause = Duration::from_millis(10);
    loop {
        match s.full_sync() {
            Ok(()) => return Ok(()),
            Err(e) if pause > Duration::from_millis(500) => return Err(e),
            Err(e) => {
                tracing::warn!(
                    "cannot put the database back to syncing every commit ({e}); trying again"
                );
                std::thread::sleep(pause);
                pause *= 2;
            }
        }
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
///
/// A sync that fails keeps the store stopped for good (the kernel may have
/// dropped the pages it could not write, and a later sync would not say
/// so). An error before anything was synced (the log cannot be opened: no
/// file descriptor left, no memory, a signal) says nothing about the data:
/// it is retried, with a growing pause, until it passes; the callers wait.
fn syncer(wal: &Path, db: &Path, rx: &mpsc::Receiver<Written>, broken: &Stopped) {
    let mut log = LogFile::default();
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        while let Ok(more) = rx.try_recv() {
            batches.push(more);
        }
        let error = if broken.is_set() {
            Some(std::io::Error::other("an earlier sync failed"))
        } else if batches.iter().any(|b| b.failed.is_none()) {
            sync_retrying(&mut log, wal, db).err()
        } else {
            None
        };
        if let Some(e) = &error {
            let why = format!(
                "cannot sync {}: {e}; no more work is stored: restart smsgw",
                wal.display()
            );
            tracing::error!("{why}");
            broken.set(why);
        }
        let why = error.map(|e| format!("cannot sync the database log: {e}"));
        for b in batches {
            settle(b, why.as_deref());
        }
    }
}

/// [`LogFile::sync`], retrying the errors that come before any sync and may
/// pass (see [`is_transient`]).
fn sync_retrying(log: &mut LogFile, wal: &Path, db: &Path) -> std::io::Result<()> {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);
    let mut pause = FIRST;
    let mut waited = Duration::ZERO;
    let mut logged = Duration::ZERO;
    loop {
        match log.sync(wal, db) {
            Ok(()) => {
                if waited > Duration::ZERO {
                    tracing::warn!("the database log is synced again after {waited:?}");
                }
                return Ok(());
            }
            Err(SyncError::Before(e)) if is_transient(&e) => {
                // Said once, then every minute or so.
                if waited == Duration::ZERO || waited >= logged + Duration::from_secs(60) {
                    tracing::error!(
                        "cannot open {} to sync it ({e}); waiting and trying again \
                         (the requests wait meanwhile)",
                        wal.display()
                    );
                    logged = waited;
                }
                std::thread::sleep(pause);
                waited += pause;
                pause = (pause * 2).min(LONGEST);
            }
            Err(SyncError::Before(e) | SyncError::Sync(e)) => return Err(e),
        }
    }
}

/// An error that may pass and says nothing about the data: out of file
/// descriptors (process or system), of memory, of space for a new file
/// (nothing was written: it is an open that failed), or interrupted.
pub(crate) fn is_transient(e: &std::io::Error) -> bool {
    use nix::errno::Errno;
    if e.kind() == std::io::ErrorKind::Interrupted {
        return true;
    }
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(
            Errno::EMFILE
                | Errno::ENFILE
                | Errno::ENOMEM
                | Errno::EAGAIN
                | Errno::EINTR
                | Errno::ENOSPC
                | Errno::EDQUOT
                | Errno::ENOBUFS
        )
    )
}

/// Why [`LogFile::sync`] failed.
#[derive(Debug)]
enum SyncError {
    /// Before any sync (finding or opening a file): the data is untouched.
    Before(std::io::Error),
    /// A sync itself failed: what it covered may be lost.
    Sync(std::io::Error),
}

impl From<SyncError> for std::io::Error {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Before(e) | SyncError::Sync(e) => e,
        }
    }
}

/// The log file, kept open between syncs (a sync needs no new file
/// descriptor: with every descriptor taken by connections, the store still
/// syncs), and the database file, for when there is no log.
#[derive(Default)]
struct LogFile {
    /// The open log with its (device, inode): SQLite resets the log in place
    /// (same file), but a log deleted (its last connection closed) and made
    /// again is another file, to open again.
    wal: Option<(std::fs::File, (u64, u64))>,
    db: Option<std::fs::File>,
}

impl LogFile {
    /// Sync the log to disk (and its directory, the first time this log
    /// file is seen). With no log file, everything was checkpointed into
    /// the database file (SQLite syncs the log before it does), so sync that.
    fn sync(&mut self, wal: &Path, db: &Path) -> std::result::Result<(), SyncError> {
        use std::os::unix::fs::MetadataExt;
        // stat needs no descriptor.
        let id = match std::fs::metadata(wal) {
            Ok(m) => (m.dev(), m.ino()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.wal = None;
                if self.db.is_none() {
                    self.db = Some(std::fs::File::open(db).map_err(SyncError::Before)?);
                }
                let f = self.db.as_ref().ok_or_else(|| {
                    SyncError::Before(std::io::Error::other("database file not open"))
                })?;
                return f.sync_data().map_err(SyncError::Sync);
            }
            Err(e) => return Err(SyncError::Before(e)),
        };
        if self.wal.as_ref().map(|(_, seen)| *seen) != Some(id) {
            let f = match std::fs::File::open(wal) {
                Ok(f) => f,
                // Gone between the two looks: sync it next time round.
                Err(e) => return Err(SyncError::Before(e)),
            };
            let m = f.metadata().map_err(SyncError::Before)?;
            let opened = (m.dev(), m.ino());
            f.sync_data().map_err(SyncError::Sync)?;
            // A new log: its directory entry is synced once.
            if let Some(dir) = wal.parent().filter(|d| !d.as_os_str().is_empty()) {
                let d = std::fs::File::open(dir).map_err(SyncError::Before)?;
                d.sync_all().map_err(SyncError::Sync)?;
            }
            self.wal = Some((f, opened));
            return Ok(());
        }
        match &self.wal {
            Some((f, _)) => f.sync_data().map_err(SyncError::Sync),
            None => Err(SyncError::Before(std::io::Error::other("log not open"))),
        }
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
        assert!(log.wal.is_some(), "the log is kept open");
        // Synced again through the same descriptor, even with none left to
        // open (the next test shows the rule that retries an open).
        let before = log.wal.as_ref().map(|(_, id)| *id);
        assert!(log.sync(&wal, lock(&store).db_path().unwrap()).is_ok());
        assert_eq!(log.wal.as_ref().map(|(_, id)| *id), before);
        // In memory there is nothing to sync.
        let mem = Store::open_at(Path::new(":memory:"), RouterConfig::default(), 0).unwrap();
        assert_eq!(mem.wal_path(), None);
    }

    #[test]
    fn running_out_of_descriptors_is_retried_a_failed_sync_is_not() {
        use nix::errno::Errno;
        for e in [Errno::EMFILE, Errno::ENFILE, Errno::ENOSPC, Errno::EINTR] {
            assert!(
                is_transient(&std::io::Error::from_raw_os_error(e as i32)),
                "{e}"
            );
        }
        for e in [Errno::EIO, Errno::EROFS, Errno::EACCES] {
            assert!(
                !is_transient(&std::io::Error::from_raw_os_error(e as i32)),
                "{e}"
            );
        }
    }

    #[test]
    fn a_log_made_again_is_opened_again_and_a_missing_one_syncs_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("x.db-wal");
        let db = dir.path().join("x.db");
        std::fs::write(&db, b"db").unwrap();
        std::fs::write(&wal, b"one").unwrap();
        let mut log = LogFile::default();
        log.sync(&wal, &db).unwrap();
        let first = log.wal.as_ref().map(|(_, id)| *id);
        // Truncated in place: the same file, kept.
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&wal)
            .unwrap();
        log.sync(&wal, &db).unwrap();
        assert_eq!(log.wal.as_ref().map(|(_, id)| *id), first);
        // Deleted and made again: another file, opened again. (The first
        // one is still open, so the inode cannot be reused.)
        std::fs::remove_file(&wal).unwrap();
        std::fs::write(&wal, b"two").unwrap();
        log.sync(&wal, &db).unwrap();
        assert_ne!(log.wal.as_ref().map(|(_, id)| *id), first);
        // No log: the database file is synced (and kept open).
        std::fs::remove_file(&wal).unwrap();
        log.sync(&wal, &db).unwrap();
        assert!(log.wal.is_none() && log.db.is_some());
    }

    #[test]
    fn a_store_stopped_for_good_says_why() {
        let stopped = Stopped::new();
        assert!(!stopped.is_set());
        stopped.set("first".into());
        stopped.set("second".into());
        assert_eq!(stopped.why.borrow().as_deref(), Some("first"));
        let dir = tempfile::tempdir().unwrap();
        let gc = GroupCommit::start(open(&dir.path().join("s.db")));
        assert_eq!(gc.failure(), None);
        gc.stopped.set("disk gone".into());
        assert_eq!(rt().block_on(gc.stopped()), "disk gone");
        let err = rt().block_on(gc.run(|s| s.create_message("+393331234567", "hi", 1, 0)));
        assert!(
            matches!(&err, Err(StoreError::NotCommitted(w)) if w == "disk gone"),
            "{err:?}"
        );
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
