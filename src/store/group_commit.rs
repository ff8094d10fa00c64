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
//!
//! A full disk is an episode, not an end: when a batch cannot be stored
//! for lack of space (SQLITE_FULL, or an I/O error with the file system
//! full), its callers hear "not committed: disk full", and the writer
//! copies the log into the database and cuts it to nothing
//! (`wal_checkpoint(TRUNCATE)`, retried with a growing pause) so that the
//! log gives its space back. Until that has worked no batch is run (its
//! callers hear "disk full" at once), so the log cannot grow into space
//! that is freed; then the next batch is tried, and the episode ends once
//! one commits with room to spare. See [`SpaceState`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Result, Store, StoreError};

/// At most this many operations in one batch (bounds how long one commit
/// holds the store, and the work lost if the batch fails).
const MAX_BATCH: usize = 512;

/// A log past this size is checkpointed and cut back at once
/// (`wal_checkpoint(TRUNCATE)`), whatever kept SQLite's own checkpoints
/// (every 1,000 pages, about 4 MB) from resetting it: readers that never
/// let go, a burst.
pub const WAL_CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;

/// The pauses between tries to give the log's space back while the disk
/// is full.
const FULL_FIRST_PAUSE: Duration = Duration::from_millis(50);
const FULL_LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// Why a batch is not stored.
#[derive(Debug, Clone)]
struct Failure {
    why: String,
    /// For lack of space: its callers get [`StoreError::DiskFull`].
    space: bool,
}

impl Failure {
    fn error(&self) -> StoreError {
        if self.space {
            StoreError::DiskFull(self.why.clone())
        } else {
            StoreError::NotCommitted(self.why.clone())
        }
    }
}

/// Called once the batch is settled: `None` when committed, or why not.
type Finish = Box<dyn FnOnce(Option<&Failure>) + Send>;
/// An operation: run on the store (`Some`), or refused unrun (`None`: the
/// disk is full); gives its finisher, and why it found no room if so.
type Job = Box<dyn FnOnce(Option<&mut Store>) -> (Finish, Option<String>) + Send>;

/// A handle on the writer thread. Cheap to clone; the thread ends when the
/// last handle is dropped, after running everything already given to it.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    store: Arc<Mutex<Store>>,
    stopped: Arc<Stopped>,
    space: Arc<Space>,
}

/// Whether writes fail for lack of space now, and the counts since start
/// (for `/healthz` and `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceState {
    /// While writes fail for space: since when (unix seconds) and the
    /// error that said so.
    pub full: Option<(i64, String)>,
    /// Episodes of a full disk since start.
    pub episodes: u64,
    /// Operations not stored for lack of space (their callers were told).
    pub refused: u64,
    /// Checkpoints that cut the log back to nothing (while the disk was
    /// full, or because the log had grown past [`WAL_CHECKPOINT_BYTES`]).
    pub truncations: u64,
}

/// [`SpaceState`], shared by the writer and every handle.
#[derive(Default)]
struct Space {
    full: Mutex<Option<(i64, String)>>,
    episodes: AtomicU64,
    refused: AtomicU64,
    truncations: AtomicU64,
}

impl Space {
    fn full(&self) -> MutexGuard<'_, Option<(i64, String)>> {
        self.full.lock().unwrap_or_else(|p| p.into_inner())
    }
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
        let space = Arc::new(Space::default());
        let writer_stopped = stopped.clone();
        let writer_space = space.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("smsgw-store".into())
            .spawn(move || writer(&shared, &rx, &writer_stopped, &writer_space))
        {
            tracing::error!("cannot start the store writer thread ({e}): no group commit");
        }
        GroupCommit {
            jobs,
            store,
            stopped,
            space,
        }
    }

    /// Whether writes fail for lack of space now, and the counts so far.
    pub fn space(&self) -> SpaceState {
        SpaceState {
            full: self.space.full().clone(),
            episodes: self.space.episodes.load(Ordering::Relaxed),
            refused: self.space.refused.load(Ordering::Relaxed),
            truncations: self.space.truncations.load(Ordering::Relaxed),
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
    /// [`StoreError::NotCommitted`], or [`StoreError::DiskFull`] when it
    /// failed for lack of space, as does an operation refused unrun while
    /// the disk is full). `done` runs on the writer thread: keep it short
    /// (send on a channel, bump a counter).
    pub fn submit<T, F, D>(&self, op: F, done: D)
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
        D: FnOnce(Result<T>) + Send + 'static,
    {
        let job: Job = Box::new(move |store: Option<&mut Store>| {
            let (out, space) = match store {
                Some(store) => {
                    let out = op(store);
                    match out {
                        Err(e) if store.is_space_error(&e) => {
                            let why = space_reason(&e);
                            (Some(Err(StoreError::DiskFull(why.clone()))), Some(why))
                        }
                        out => (Some(out), None),
                    }
                }
                None => (None, None),
            };
            let finish: Finish = Box::new(move |failed: Option<&Failure>| {
                done(match (out, failed) {
                    (Some(Err(e)), _) => Err(e),
                    (_, Some(f)) => Err(f.error()),
                    (Some(out), None) => out,
                    // Refused unrun: the writer always says why.
                    (None, None) => Err(StoreError::WriterGone),
                })
            });
            (finish, space)
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // No writer thread: run it here, in a transaction of its own.
            let (finish, _) = job(Some(&mut lock(&self.store)));
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
    failed: Option<Failure>,
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
fn writer(store: &Mutex<Store>, rx: &mpsc::Receiver<Job>, broken: &Arc<Stopped>, space: &Space) {
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
    // descriptor left, a signal) are retried instead; see `syncer`. A full
    // disk is not one of those: the write that found no room failed before
    // anything was committed, and is retried (see `Episode`).
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
    let mut full: Option<Episode> = None;
    // When the log's size is looked at next (see WAL_CHECKPOINT_BYTES).
    let mut size_check = Instant::now();
    loop {
        let first = match &full {
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
            // While the disk is full, the log's space is asked back on time
            // even when no work comes.
            Some(ep) => {
                match rx.recv_timeout(ep.next_try.saturating_duration_since(Instant::now())) {
                    Ok(job) => job,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let mut s = lock(store);
                        if ep.armed || try_truncate(&mut s, &mut full, space) {
                            let room = s.has_room();
                            recover_if_room(room, &mut full, space);
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        if broken.is_set() {
            let mut jobs = vec![first];
            jobs.extend(rx.try_iter());
            for job in jobs {
                drop(job);
            }
            continue;
        }
        let mut s = lock(store);
        if let Some(ep) = &full {
            if !ep.armed && Instant::now() >= ep.next_try {
                try_truncate(&mut s, &mut full, space);
            }
        }
        if let Some(ep) = full.as_ref().filter(|ep| !ep.armed) {
            // The log still holds what it could not give back: running work
            // now would only grow it into whatever space is freed. Refused
            // unrun, at once.
            let why = Failure {
                why: ep.why.clone(),
                space: true,
            };
            drop(s);
            let mut jobs = vec![first];
            jobs.extend(rx.try_iter().take(MAX_BATCH - 1));
            space
                .refused
                .fetch_add(jobs.len() as u64, Ordering::Relaxed);
            for job in jobs {
                let (finish, _) = job(None);
                finish(Some(&why));
            }
            continue;
        }
        let batched = match s.begin_batch(sync_later) {
            Ok(()) => true,
            Err(e) => {
                // Each operation then runs (and fails, or not) on its own.
                tracing::warn!("cannot start a group commit: {e}");
                false
            }
        };
        let mut finishers = Vec::new();
        let mut space_errors = 0u64;
        let mut no_room_why = None;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let (finish, no_room) = run_job(&mut s, job);
            finishers.push(finish);
            if let Some(why) = no_room {
                space_errors += 1;
                no_room_why.get_or_insert(why);
            }
            if !batched || s.batch_aborted() || finishers.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        let failed = if batched {
            s.commit_batch().err().map(|e| {
                // What the operation that found no room said comes first
                // (the commit then only says the transaction had ended).
                match (&no_room_why, s.is_space_error(&e)) {
                    (Some(why), _) => Failure {
                        why: why.clone(),
                        space: true,
                    },
                    (None, true) => Failure {
                        why: space_reason(&e),
                        space: true,
                    },
                    (None, false) => Failure {
                        why: e.to_string(),
                        space: false,
                    },
                }
            })
        } else {
            None
        };
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
        let no_room = space_errors > 0 || failed.as_ref().is_some_and(|f| f.space);
        if no_room {
            let not_stored = match &failed {
                Some(_) => finishers.len() as u64,
                None => space_errors,
            };
            space.refused.fetch_add(not_stored, Ordering::Relaxed);
            let why = match (no_room_why, &failed) {
                (Some(why), _) => why,
                (None, Some(f)) => f.why.clone(),
                (None, None) => "no room".to_string(),
            };
            if begin_episode(&mut full, space, why) {
                try_truncate(&mut s, &mut full, space);
            }
        } else if full.is_some() {
            // A batch went through: storing again if there is room to spare.
            if let Some(ep) = &mut full {
                ep.armed = false;
            }
            let room = s.has_room();
            recover_if_room(room, &mut full, space);
        } else if Instant::now() >= size_check {
            size_check = Instant::now() + Duration::from_secs(1);
            truncate_if_large(&mut s, space);
        }
        // SMPP binds are told of new outbox rows once they are on disk.
        let smpp_notice = s.smpp_pending_notice();
        let event_notice = s.event_notice();
        drop(s);
        if let Some(f) = failed.as_ref().filter(|f| !f.space) {
            tracing::error!(
                "group commit of {} operation(s) failed: {}",
                finishers.len(),
                f.why
            );
        }
        if let Some((notify, accounts)) = smpp_notice {
            finishers.push(Box::new(move |failed: Option<&Failure>| {
                if failed.is_none() {
                    (notify.0)(&accounts);
                }
            }));
        }
        // The live event stream is told of new events once they are on disk.
        if let Some((notify, last)) = event_notice {
            finishers.push(Box::new(move |failed: Option<&Failure>| {
                if failed.is_none() {
                    notify.send_replace(last);
                }
            }));
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

/// What a write that found no room said, without repeating "database:"
/// (the callers' error says what failed).
fn space_reason(e: &StoreError) -> String {
    match e {
        StoreError::Sql(e) => e.to_string(),
        StoreError::DiskFull(why) => why.clone(),
        e => e.to_string(),
    }
}

/// A full disk, from the first write that found no room until one finds
/// room to spare again.
struct Episode {
    started: Instant,
    /// The error that began it (what refused callers are told).
    why: String,
    /// The log was cut to nothing since the last write that found no room:
    /// the next batch may be tried.
    armed: bool,
    /// When to try to give the log's space back next, and the pause after.
    next_try: Instant,
    pause: Duration,
    /// Failed tries so far (logged now and then, not each time).
    tries: u32,
}

/// A write found no room: begin an episode (said once; true), or, within
/// one, the batch tried after the log was cut failed again: refuse work
/// for a growing pause before the next try (false).
fn begin_episode(full: &mut Option<Episode>, space: &Space, why: String) -> bool {
    match full {
        Some(ep) => {
            ep.armed = false;
            ep.next_try = Instant::now() + ep.pause;
            ep.pause = (ep.pause * 2).min(FULL_LONGEST_PAUSE);
            false
        }
        None => {
            tracing::error!(
                "the disk is full: {why}; nothing more is stored (callers get \
                 \"not committed: disk full\") until space is freed; the database \
                 log is checkpointed and cut back, and writes resume on their own"
            );
            space.episodes.fetch_add(1, Ordering::Relaxed);
            *space.full() = Some((super::unix_now(), why.clone()));
            *full = Some(Episode {
                started: Instant::now(),
                why,
                armed: false,
                next_try: Instant::now(),
                pause: FULL_FIRST_PAUSE,
                tries: 0,
            });
            true
        }
    }
}

/// Copy the log into the database and cut it to nothing; on success the
/// episode is armed (the next batch is tried), otherwise the next try
/// waits longer. True when the log is cut.
fn try_truncate(s: &mut Store, full: &mut Option<Episode>, space: &Space) -> bool {
    let Some(ep) = full else {
        return false;
    };
    let outcome = match s.checkpoint_truncate(Duration::from_secs(1)) {
        Ok(c) if !c.busy && s.wal_bytes() == 0 => Ok(()),
        Ok(c) if c.busy => Err("readers kept it from finishing".to_string()),
        Ok(c) => Err(format!(
            "{} of {} log frames copied",
            c.copied_frames, c.log_frames
        )),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(()) => {
            space.truncations.fetch_add(1, Ordering::Relaxed);
            if ep.tries > 0 {
                tracing::info!(
                    "the database log is checkpointed and cut to nothing after {} tries",
                    ep.tries + 1
                );
            }
            ep.armed = true;
            ep.tries = 0;
            true
        }
        Err(why) => {
            ep.tries += 1;
            // Said at the first failure, then about once a minute.
            if ep.tries == 1 || ep.tries % 30 == 0 {
                tracing::warn!(
                    "cannot checkpoint and cut the database log yet ({why}); trying again"
                );
            }
            ep.armed = false;
            ep.next_try = Instant::now() + ep.pause;
            ep.pause = (ep.pause * 2).min(FULL_LONGEST_PAUSE);
            false
        }
    }
}

/// End the episode if the store has room to spare again (said once);
/// otherwise try again after the pause.
fn recover_if_room(room: Result<bool>, full: &mut Option<Episode>, space: &Space) {
    let Some(ep) = full else {
        return;
    };
    match room {
        Ok(true) => {
            tracing::warn!(
                "the disk has room again: storing again after {:.1} s of a full disk \
                 ({} operation(s) refused in all since start)",
                ep.started.elapsed().as_secs_f64(),
                space.refused.load(Ordering::Relaxed)
            );
            *space.full() = None;
            *full = None;
        }
        Ok(false) | Err(_) => {
            ep.armed = false;
            ep.next_try = Instant::now() + ep.pause;
            ep.pause = (ep.pause * 2).min(FULL_LONGEST_PAUSE);
        }
    }
}

/// Checkpoint and cut the log if it has grown past
/// [`WAL_CHECKPOINT_BYTES`] (SQLite's own checkpoints could not reset it).
fn truncate_if_large(s: &mut Store, space: &Space) {
    let before = s.wal_bytes();
    if before <= WAL_CHECKPOINT_BYTES {
        return;
    }
    match s.checkpoint_truncate(Duration::from_millis(100)) {
        Ok(c) if !c.busy => {
            space.truncations.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                "the database log had grown to {} KiB: checkpointed and cut back",
                before / 1024
            );
        }
        Ok(_) => tracing::debug!("the database log is large, but readers hold it"),
        Err(e) => tracing::warn!("cannot checkpoint the database log: {e}"),
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
    let unsynced = unsynced.map(|why| Failure {
        why: why.to_string(),
        space: false,
    });
    let why = w.failed.as_ref().or(unsynced.as_ref());
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
fn run_job(store: &mut Store, job: Job) -> (Finish, Option<String>) {
    match catch_unwind(AssertUnwindSafe(|| job(Some(store)))) {
        Ok(ran) => ran,
        Err(_) => {
            tracing::error!("a store operation panicked; rebuilding the router");
            store.resync();
            (Box::new(|_| {}), None)
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
    fn a_log_grown_by_a_burst_gives_its_space_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = open(&path);
        let wal = lock(&store).wal_path().unwrap();
        let gc = GroupCommit::start(store.clone());
        let rt = rt();
        // A reader that keeps its snapshot stops SQLite's own checkpoints
        // from resetting the log: it grows past the bound.
        let reader = rusqlite::Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap();
        for _ in 0..20 {
            rt.block_on(gc.run(|s| {
                s.conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS filler (b BLOB); \
                     INSERT INTO filler VALUES (randomblob(1048576));",
                )?;
                Ok(())
            }))
            .unwrap();
        }
        let grown = std::fs::metadata(&wal).unwrap().len();
        assert!(grown > WAL_CHECKPOINT_BYTES, "{grown}");
        // Past the bound, the writer tries to cut the log back (at most
        // once a second); the pinned reader makes it busy, and the writer
        // does not wait long for it (the busy timeout is 10 s).
        std::thread::sleep(Duration::from_millis(1100));
        let started = Instant::now();
        rt.block_on(gc.run(|s| s.create_message("+393331234567", "hi", 1, 0)))
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the writer stalled"
        );
        assert_eq!(gc.space().truncations, 0, "the reader kept the log");
        reader.execute_batch("COMMIT").unwrap();
        // Once the reader lets go, the next batches cut it back (to the
        // journal size limit at most), instead of keeping 20 MB for good.
        let keep = u64::try_from(crate::store::WAL_KEEP_BYTES).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::metadata(&wal).unwrap().len() > keep {
            assert!(Instant::now() < deadline, "the log was never cut back");
            rt.block_on(gc.run(|s| s.create_message("+393331234567", "hi", 1, 0)))
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(gc.space().full, None);
    }

    #[test]
    fn an_operation_that_finds_no_room_is_told_disk_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("f.db"));
        let gc = GroupCommit::start(store.clone());
        let rt = rt();
        let pages = lock(&store).page_count().unwrap();
        lock(&store)
            .set_max_pages(u64::try_from(pages).unwrap())
            .unwrap();
        let err = rt
            .block_on(gc.run(|s| {
                s.conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS filler (b BLOB); \
                     INSERT INTO filler VALUES (randomblob(65536));",
                )?;
                Ok(())
            }))
            .unwrap_err();
        assert!(matches!(err, StoreError::DiskFull(_)), "{err:?}");
        assert!(
            err.to_string().contains("not committed: disk full"),
            "{err}"
        );
        let space = gc.space();
        assert!(space.full.is_some() && space.episodes == 1, "{space:?}");
        // Room again: the episode ends on its own, no work needed.
        lock(&store).set_max_pages(1_073_741_823).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while gc.space().full.is_some() {
            assert!(Instant::now() < deadline, "never recovered");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(rt
            .block_on(gc.run(|s| s.create_message("+393331234567", "hi", 1, 0)))
            .is_ok());
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
