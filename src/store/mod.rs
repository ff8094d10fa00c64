//! Everything smsgw keeps, in SQLite (the only module that speaks SQL).
//!
//! [`Store`] owns the connection and the in-memory [`Router`], and keeps the
//! two in step: every change (a part sent, a report received, an expiry) is
//! one transaction that writes the rows, the router's verdict and an event
//! for every state change. If a transaction fails, the router is rebuilt from
//! the database, so memory never runs ahead of what is stored.
//!
//! At open, the schema is migrated, the pending set is rebuilt into the
//! router (with recently settled parts, to recognise repeated reports, and
//! the clock offsets learned before), and orphan reports are retried.
//!
//! Durability: WAL with `synchronous=FULL`, so a committed report survives a
//! crash of the process or the machine. A report is stored and applied in
//! one transaction: after a crash it is either fully there or not at all
//! (and then still held by the modem, which is acknowledged only after the
//! commit).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::router::{message_state, ConfigError, ModemId, PartId, Router, RouterConfig};
use crate::state::MessageState;

mod counters;
mod events;
mod group_commit;
mod inbox;
mod options;
mod outcome;
mod query;
mod queue;
mod reports;
mod schema;
mod smpp;
mod staging;
mod submit;
mod webhooks;

pub use counters::{Counters, ModemCounters};
pub use events::{LoggedEvent, EVENT_LOG_RETENTION_SECS};
pub use group_commit::{GroupCommit, SpaceState, WAL_CHECKPOINT_BYTES};
pub use inbox::{InboxRow, IncomingSms};
pub use options::{Cancel, Enqueued, IdempotencyKey, Priority, QueueOptions, IDEMPOTENCY_TTL_SECS};
pub use query::{
    CollisionRow, EventRow, MessageFilter, MessageRow, MessageView, PartRow, ReportFilter,
    ReportRow,
};
pub use queue::{
    Claimed, EnqueueRequest, MessageOptions, QueuedMessage, QueuedPart, DEFAULT_VALIDITY_SECS,
    MAX_PASSED_OVER,
};
pub use reports::{IncomingReport, ReportOutcome};
pub use schema::{MIGRATIONS, VERSION as SCHEMA_VERSION};
pub use smpp::{SmppCancel, SmppMessageState, SmppOrigin, SmppOutboxRow};
pub use staging::{Staged, StagedPart};
pub use submit::{NewMessage, Sent};
pub use webhooks::WebhookRow;

/// A message, by its row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct MessageId(pub i64);

/// A store failure; each names what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database schema version {found} was written by a newer smsgw \
         (this one understands up to {supported}): upgrade smsgw"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no message with id {0}")]
    NoMessage(i64),
    #[error("no part with id {0}")]
    NoPart(i64),
    #[error("no webhook notification with id {0}")]
    NoWebhook(i64),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("router configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("no data directory for this user: give a database path (--db)")]
    NoDataDir,
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The change was made, but the group commit it was part of failed:
    /// it is not stored.
    #[error("database: not committed: {0}")]
    NotCommitted(String),
    /// The change was not stored because the disk (or the database's size
    /// limit) has no room: nothing of it was committed. Work is taken again
    /// on its own once space is freed.
    #[error("not committed: disk full ({0}); smsgw stores again once space is freed")]
    DiskFull(String),
    /// The store's writer thread is gone (it can only stop by a bug).
    #[error("database: the store's writer has stopped")]
    WriterGone,
    #[error("cannot create database file {path}: {source}")]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "database schema version {0} is not one smsgw writes (PRAGMA user_version \
         was changed by hand?): restore a backup"
    )]
    BadVersion(i64),
    /// Another program's SQLite file: refused before anything is written.
    #[error("{path} is not an smsgw database: {why}; nothing was changed in it")]
    Foreign { path: PathBuf, why: String },
    /// The database cannot be opened or written for lack of space.
    #[error(
        "{why}: the disk is full ({free} bytes free for {path}): free space and \
         start again"
    )]
    NoSpace {
        path: PathBuf,
        free: u64,
        why: String,
    },
    /// The database cannot be written (checked before the daemon starts).
    #[error("the database {path} cannot be written: {why}")]
    NotWritable { path: PathBuf, why: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// True when this says that the disk (or the database's size limit)
    /// had no room: SQLite's SQLITE_FULL, or [`StoreError::DiskFull`].
    /// I/O errors that come from a full disk without saying so are told
    /// apart by [`Store::is_space_error`], which looks at the free space.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull(_) => true,
            StoreError::Sql(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }

    /// An I/O error from SQLite (a write, a sync or a truncation that
    /// failed), which a full disk or quota may cause.
    fn is_io(&self) -> bool {
        matches!(self, StoreError::Sql(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::SystemIoFailure)
    }
}

/// Room the store wants before it says that writes work again after the
/// disk was full (free on the file system, and under the database's page
/// limit): a few batches' worth of log frames, far below what a queue needs.
pub const SPACE_ROOM_BYTES: u64 = 256 * 1024;

/// The write-ahead log is cut back to this size when it is reset after a
/// checkpoint (`PRAGMA journal_size_limit`): a burst that grew it does not
/// keep its disk space.
pub const WAL_KEEP_BYTES: i64 = 4 * 1024 * 1024;

/// What a checkpoint did (`PRAGMA wal_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Readers or another writer kept it from finishing.
    pub busy: bool,
    /// Frames in the log before, and of those copied to the database.
    pub log_frames: i64,
    pub copied_frames: i64,
}
/// What the rebuild at open found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Parts waiting for a report, back in the router.
    pub pending: usize,
    /// Recently settled parts kept to recognise repeated reports.
    pub settled: usize,
    /// Unmatched (orphan) reports retried.
    pub retried: usize,
    /// Of those, how many found their part (or were recognised as repeats).
    pub resolved: usize,
}

/// The default database file: `$XDG_DATA_HOME/smsgw/smsgw.db` (or the
/// platform's equivalent).
pub fn default_path() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "smsgw").ok_or(StoreError::NoDataDir)?;
    Ok(dirs.data_dir().join("smsgw.db"))
}

/// The current time in unix seconds.
pub fn unix_now() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// The database and the router built from it.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    router: Router,
    recovery: Recovery,
    /// Write a webhook outbox row with every message state change and
    /// every incoming SMS.
    webhooks: bool,
    /// Modem names already looked up (ids never change).
    modem_ids: HashMap<String, ModemId>,
    /// Inside a group commit ([`Store::begin_batch`]): each operation is a
    /// savepoint of the batch's one transaction.
    batch: bool,
    /// The database file as SQLite names it (None in memory).
    path: Option<PathBuf>,
    /// SMPP accounts with `receive_mo`: every incoming SMS also goes to
    /// their outboxes.
    smpp_mo_accounts: Vec<String>,
    /// The last SMPP outbox row announced ([`Store::smpp_new_rows`]).
    smpp_seen: Option<i64>,
    /// Told, after each group commit is on disk, which accounts got outbox
    /// rows in it.
    smpp_notify: Option<SmppNotify>,
    /// Told the last event log id after each group commit that added events.
    event_notify: Option<tokio::sync::watch::Sender<i64>>,
}

/// Called with the accounts whose SMPP outbox got rows (see
/// [`Store::set_smpp_notify`]).
#[derive(Clone)]
pub struct SmppNotify(pub std::sync::Arc<NotifyFn>);

/// What [`SmppNotify`] calls.
pub type NotifyFn = dyn Fn(&[String]) + Send + Sync;

impl std::fmt::Debug for SmppNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmppNotify")
    }
}

impl Store {
    /// Open (or create) the database at `path` (`:memory:` for tests) and
    /// rebuild the router as of now.
    pub fn open(path: &Path, config: RouterConfig) -> Result<Store> {
        Store::open_at(path, config, unix_now())
    }

    /// [`Store::open`] with an explicit `now` (unix seconds), which decides
    /// which settled parts are still kept in the router.
    pub fn open_at(path: &Path, config: RouterConfig, now: i64) -> Result<Store> {
        // SQLite says "disk I/O error" when it cannot make its log or
        // shared-memory file for lack of space: say what it is.
        Store::open_inner(path, config, now).map_err(|e| match (&e, free_bytes_at(path)) {
            (
                StoreError::Open { .. } | StoreError::Sql(_) | StoreError::CreateFile { .. },
                Some(free),
            ) if free < SPACE_ROOM_BYTES => StoreError::NoSpace {
                path: path.to_path_buf(),
                free,
                why: e.to_string(),
            },
            _ => e,
        })
    }

    fn open_inner(path: &Path, config: RouterConfig, now: i64) -> Result<Store> {
        let router = Router::new(config)?;
        if path != Path::new(":memory:") {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|source| StoreError::CreateDir {
                        path: dir.to_path_buf(),
                        source,
                    })?;
            }
            create_private(path).map_err(|source| StoreError::CreateFile {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        tune(&conn).map_err(open_err)?;
        // Before anything is written (the switch to WAL is a write).
        if path != Path::new(":memory:") {
            schema::claim(&conn, path).map_err(|e| match e {
                // Not SQLite at all, unreadable...: say which file.
                StoreError::Sql(source) => open_err(source),
                other => other,
            })?;
        }
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        // A log that a burst grew is cut back when it is reset, instead of
        // keeping its size on disk for good.
        let _limit: i64 = conn
            .query_row(
                &format!("PRAGMA journal_size_limit = {WAL_KEEP_BYTES}"),
                [],
                |r| r.get(0),
            )
            .map_err(open_err)?;
        // Every transaction here writes: take the write lock at BEGIN, so
        // that a second connection waits (busy timeout) instead of failing
        // when it upgrades a read snapshot that went stale.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        schema::migrate(&mut conn)?;
        let mut store = Store {
            conn,
            router,
            recovery: Recovery::default(),
            webhooks: false,
            modem_ids: HashMap::new(),
            batch: false,
            path: None,
            smpp_mo_accounts: Vec::new(),
            smpp_seen: None,
            smpp_notify: None,
            event_notify: None,
        };
        // The file name as SQLite resolved it (absolute, links followed):
        // its write-ahead log is that name with "-wal".
        store.path = store
            .conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        store.rebuild(now)?;
        Ok(store)
    }

    /// Check that the database can be written, with a real write synced to
    /// disk: a read-only file (or one opened read only because of its
    /// permissions), a directory where the log cannot be made, a full disk.
    /// A daemon that cannot store must not start. Nothing to check in memory.
    pub fn check_writable(&mut self) -> Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let fail = |why: String| StoreError::NotWritable {
            path: path.clone(),
            why,
        };
        if self
            .conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| fail(e.to_string()))?
        {
            return Err(fail(
                "the file is read only (check its owner and permissions, and the \
                 directory's)"
                    .into(),
            ));
        }
        // Write the schema version back as it is: a write and a sync.
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let tx = conn.transaction()?;
            tx.pragma_update(None, "user_version", v)?;
            tx.commit()
        };
        write(&mut self.conn).map_err(|e| fail(e.to_string()))
    }

    /// A second, read-only connection to the same database file, for
    /// queries (the HTTP API, metrics) that should neither wait for the
    /// writer nor hold it up: in WAL mode readers and the writer do not
    /// block each other, and a reader sees every committed transaction.
    /// None for a database in memory (a second connection would see another
    /// database). Its router is empty: it serves queries only.
    pub fn reader(&self) -> Result<Option<Store>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        tune(&conn).map_err(open_err)?;
        Ok(Some(Store {
            conn,
            router: Router::new(self.router.config().clone())?,
            recovery: Recovery::default(),
            webhooks: false,
            modem_ids: HashMap::new(),
            batch: false,
            path: Some(path.clone()),
            smpp_mo_accounts: Vec::new(),
            smpp_seen: None,
            smpp_notify: None,
            event_notify: None,
        }))
    }

    /// What the rebuild at open found.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The router (read only: the store keeps it in step with the rows).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The small integer for modem `name` (created on first use).
    pub fn modem(&mut self, name: &str) -> Result<ModemId> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "modem",
                reason: "empty name".into(),
            });
        }
        if let Some(id) = self.modem_ids.get(name) {
            return Ok(*id);
        }
        self.conn.execute(
            "INSERT INTO modems (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            [name],
        )?;
        let id: i64 =
            self.conn
                .query_row("SELECT id FROM modems WHERE name = ?1", [name], |r| {
                    r.get(0)
                })?;
        let id = u16::try_from(id)
            .map(ModemId)
            .map_err(|_| StoreError::Invalid {
                field: "modem",
                reason: format!("more than {} modems", u16::MAX),
            })?;
        self.modem_ids.insert(name.to_string(), id);
        Ok(id)
    }

    /// Rebuild the router from the rows, then retry orphan reports.
    fn rebuild(&mut self, now: i64) -> Result<()> {
        let mut router = Router::new(self.router.config().clone())?;
        let grace = router.config().expiry_grace;
        let keep = router.config().keep_settled;
        let mut recovery = Recovery::default();
        {
            let mut stmt = self.conn.prepare(
                "SELECT p.id, p.modem_id, m.recipient, p.mr, p.submitted_at, \
                        COALESCE(p.validity, 0), p.state IN ('ACCEPTED', 'ENROUTE') \
                 FROM parts p JOIN messages m ON m.id = p.message_id \
                 WHERE p.mr IS NOT NULL \
                   AND (p.state IN ('ACCEPTED', 'ENROUTE') \
                        OR p.submitted_at + COALESCE(p.validity, 0) + ?1 >= ?2) \
                 ORDER BY p.id",
            )?;
            let mut rows = stmt.query(params![grace.saturating_add(keep), now])?;
            while let Some(r) = rows.next()? {
                let part = PartId(r.get(0)?);
                let modem = ModemId(r.get(1)?);
                let recipient: String = r.get(2)?;
                let mr: u8 = r.get(3)?;
                let submitted_at: i64 = r.get(4)?;
                let validity: i64 = r.get(5)?;
                if r.get::<_, bool>(6)? {
                    router.register(modem, &recipient, mr, part, submitted_at, validity);
                    recovery.pending += 1;
                } else {
                    router.register_settled(modem, &recipient, mr, part, submitted_at, validity);
                    recovery.settled += 1;
                }
            }
            let mut stmt = self.conn.prepare(
                "SELECT modem_id, sample FROM ( \
                   SELECT r.id, r.modem_id, r.scts - p.submitted_at AS sample, \
                          row_number() OVER (PARTITION BY r.modem_id ORDER BY r.id DESC) AS rn \
                   FROM reports r JOIN parts p ON p.id = r.part_id \
                   WHERE r.basis = 'sole') \
                 WHERE rn <= 5 ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                router.observe_offset(ModemId(r.get(0)?), r.get(1)?);
            }
        }
        self.router = router;
        let (retried, resolved) = self.retry_waiting(None)?;
        recovery.retried = retried;
        recovery.resolved = resolved;
        self.recovery = recovery;
        Ok(())
    }

    /// After a failed transaction: put the router back in step with the rows
    /// and return the original error.
    fn recover<T>(&mut self, err: StoreError) -> Result<T> {
        // A modem row created in the failed transaction is gone too.
        self.modem_ids.clear();
        self.resync();
        Err(err)
    }

    /// Rebuild the router from the rows (after a failure), logging if even
    /// that fails.
    fn resync(&mut self) {
        if let Err(again) = self.rebuild(unix_now()) {
            tracing::error!(%again, "rebuilding the router after a failed transaction");
        }
    }

    /// The file whose sync makes committed transactions durable: the
    /// write-ahead log (None for a database in memory).
    pub(crate) fn wal_path(&self) -> Option<PathBuf> {
        self.path.as_ref().map(|p| {
            let mut wal = p.clone().into_os_string();
            wal.push("-wal");
            PathBuf::from(wal)
        })
    }

    /// The database file itself (None in memory).
    pub(crate) fn db_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// True when `e` says the disk had no room: SQLITE_FULL, or an I/O
    /// error (a failed write, sync or truncation; EDQUOT is one) while the
    /// database's file system has less than [`SPACE_ROOM_BYTES`] free.
    pub fn is_space_error(&self, e: &StoreError) -> bool {
        e.is_disk_full() || (e.is_io() && self.free_bytes().is_some_and(|b| b < SPACE_ROOM_BYTES))
    }

    /// Bytes free for this process on the database's file system (None in
    /// memory, or when it cannot be asked).
    pub fn free_bytes(&self) -> Option<u64> {
        free_bytes_at(self.path.as_deref()?)
    }

    /// Whether there is room again for work after the disk was full: at
    /// least [`SPACE_ROOM_BYTES`] free on the file system and under the
    /// database's page limit (`PRAGMA max_page_count`), and one page can be
    /// written and committed (the schema version, written back as it is).
    pub(crate) fn has_room(&mut self) -> Result<bool> {
        if self.free_bytes().is_some_and(|b| b < SPACE_ROOM_BYTES) {
            return Ok(false);
        }
        let pragma = |name: &str| -> rusqlite::Result<i64> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        };
        let (max, count, free, size) = (
            pragma("max_page_count")?,
            pragma("page_count")?,
            pragma("freelist_count")?,
            pragma("page_size")?,
        );
        let room = max.saturating_sub(count).saturating_add(free);
        if u64::try_from(room.saturating_mul(size)).unwrap_or(0) < SPACE_ROOM_BYTES {
            return Ok(false);
        }
        let v: i64 = pragma("user_version")?;
        let tx = self.conn.transaction()?;
        tx.pragma_update(None, "user_version", v)?;
        tx.commit()?;
        Ok(true)
    }

    /// Copy the log into the database and cut it to nothing
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), giving its disk space back. It
    /// waits at most `wait` for readers of the log to finish (then it says
    /// busy), not the usual busy timeout: the writer must not stall.
    pub(crate) fn checkpoint_truncate(&mut self, wait: std::time::Duration) -> Result<Checkpoint> {
        self.conn.busy_timeout(wait)?;
        let out = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?))
            });
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        let (busy, log_frames, copied_frames) = out?;
        Ok(Checkpoint {
            busy: busy != 0,
            log_frames,
            copied_frames,
        })
    }

    /// The size of the write-ahead log file now (0 when there is none).
    pub fn wal_bytes(&self) -> u64 {
        self.wal_path()
            .and_then(|w| std::fs::metadata(w).ok())
            .map_or(0, |m| m.len())
    }

    /// Cap the database at `pages` pages (`PRAGMA max_page_count`; SQLite
    /// never lowers it under the pages in use) and return the cap now in
    /// force. Past it, writes fail with SQLITE_FULL exactly as on a full
    /// disk; the tests use it to fill the "disk" without a file system.
    #[doc(hidden)]
    pub fn set_max_pages(&self, pages: u64) -> Result<i64> {
        Ok(self
            .conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get(0)
            })?)
    }

    /// The pages the database holds now (`PRAGMA page_count`).
    #[doc(hidden)]
    pub fn page_count(&self) -> Result<i64> {
        Ok(self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?)
    }

    /// Start a group commit: until [`Store::commit_batch`], every operation
    /// runs as a savepoint inside one transaction (a failing one is rolled
    /// back alone).
    ///
    /// With `sync_later`, the commit only writes the log (synchronous =
    /// NORMAL) and the caller syncs it ([`Store::wal_path`]) before it
    /// tells anyone that the batch is done; otherwise the commit syncs.
    /// Either way, callers must not report an operation as done before its
    /// batch is on disk.
    pub(crate) fn begin_batch(&mut self, sync_later: bool) -> Result<()> {
        debug_assert!(!self.batch, "group commits do not nest");
        if sync_later {
            self.conn
                .prepare_cached("PRAGMA synchronous = NORMAL")?
                .execute([])?;
        }
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let _ = self.full_sync();
            return Err(e.into());
        }
        self.batch = true;
        Ok(())
    }

    /// Back to syncing every commit (the store's default).
    pub(crate) fn full_sync(&mut self) -> Result<()> {
        self.conn
            .prepare_cached("PRAGMA synchronous = FULL")?
            .execute([])?;
        Ok(())
    }

    /// True when SQLite ended the batch's transaction on its own (it does
    /// for disk full, I/O errors and the like): what ran before is gone, and
    /// nothing more may be added to the batch.
    pub(crate) fn batch_aborted(&self) -> bool {
        self.batch && self.conn.is_autocommit()
    }

    /// Commit the group commit's transaction (one disk sync for all its
    /// operations). On failure everything in it is rolled back, the router
    /// is rebuilt from the rows, and the error says why.
    pub(crate) fn commit_batch(&mut self) -> Result<()> {
        self.batch = false;
        let result = if self.conn.is_autocommit() {
            Err(StoreError::NotCommitted(
                "the database ended the transaction after an error".into(),
            ))
        } else {
            self.conn.execute_batch("COMMIT").map_err(StoreError::from)
        };
        if let Err(e) = result {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return self.recover(e);
        }
        Ok(())
    }
}

/// One operation's transaction: its own (IMMEDIATE, see [`Store::open_at`]),
/// or inside a group commit a savepoint of the batch's transaction. Dropped
/// without [`Tx::commit`], it is rolled back.
pub(crate) enum Tx<'c> {
    Own(Transaction<'c>),
    InBatch(Savepoint<'c>),
}

/// A savepoint inside the batch's transaction, rolled back (alone) if
/// dropped before [`Savepoint::release`]. Its statements are prepared once
/// (cached), not parsed at each of the many operations of a batch.
pub(crate) struct Savepoint<'c> {
    conn: &'c Connection,
    open: bool,
}

impl Savepoint<'_> {
    fn release(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("RELEASE op")?.execute([])?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.open {
            let undo = self
                .conn
                .prepare_cached("ROLLBACK TO op")
                .and_then(|mut s| s.execute([]))
                .and_then(|_| self.conn.prepare_cached("RELEASE op")?.execute([]));
            if let Err(e) = undo {
                tracing::error!("cannot roll back a store operation: {e}");
            }
        }
    }
}

impl<'c> Tx<'c> {
    fn begin(conn: &'c mut Connection, batch: bool) -> rusqlite::Result<Tx<'c>> {
        if batch {
            conn.prepare_cached("SAVEPOINT op")?.execute([])?;
            Ok(Tx::InBatch(Savepoint { conn, open: true }))
        } else {
            conn.transaction().map(Tx::Own)
        }
    }

    fn commit(self) -> rusqlite::Result<()> {
        match self {
            Tx::Own(t) => t.commit(),
            Tx::InBatch(s) => s.release(),
        }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Tx::Own(t) => t,
            Tx::InBatch(s) => s.conn,
        }
    }
}

/// What every connection of the store gets: a busy timeout (another
/// connection's transaction is waited for), the statement cache, and plans
/// that do not depend on bound values (without that, SQLite re-prepares a
/// cached statement at every new binding whenever a partial index might
/// apply, most of ours, which cost the hot path more than its queries).
/// Create the database file, empty, readable by its owner only, if it does
/// not exist: SQLite would make it 0644 less the umask, and gives its log
/// and shared-memory files the database file's mode. An existing file is
/// left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        // The mode given to open is masked by the umask: set it outright.
        Ok(f) => f.set_permissions(std::fs::Permissions::from_mode(0o600)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// How long a connection waits for another's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Bytes free for this process on the file system of the file `path`
/// (None in memory, or when it cannot be asked).
fn free_bytes_at(path: &Path) -> Option<u64> {
    if path == Path::new(":memory:") {
        return None;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    #[allow(clippy::useless_conversion)] // the field types differ by target
    let (avail, frag) = (
        u64::from(st.blocks_available()),
        u64::from(st.fragment_size()),
    );
    Some(avail.saturating_mul(frag))
}

/// Append one event row.
fn event(
    tx: &Connection,
    at: i64,
    message: i64,
    part: Option<i64>,
    report: Option<i64>,
    state: MessageState,
    reason: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (at, message_id, part_id, report_id, state, reason) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![at, message, part, report, state.as_str(), reason])?;
    Ok(())
}

/// Recompute a message's state from its parts after part `part` changed
/// (with `code`, its TP-ST or +CMS ERROR). A message that is already final
/// keeps its state: the first part to fail decides. A final message leaves
/// the queue. With `hooks`, the change also goes to the webhook outbox, in
/// the same transaction. Returns the new state when it changed.
fn refresh_message(
    tx: &Connection,
    hooks: bool,
    message: i64,
    part: Option<i64>,
    report: Option<i64>,
    code: Option<i64>,
    at: i64,
) -> Result<Option<MessageState>> {
    refresh_message_reopening(tx, hooks, message, part, report, code, at, false)
}

/// [`refresh_message`]; with `reopen`, a message that is UNKNOWN is
/// recomputed too (a part of unknown outcome got its report).
#[allow(clippy::too_many_arguments)]
fn refresh_message_reopening(
    tx: &Connection,
    hooks: bool,
    message: i64,
    part: Option<i64>,
    report: Option<i64>,
    code: Option<i64>,
    at: i64,
    reopen: bool,
) -> Result<Option<MessageState>> {
    let current: String = tx
        .prepare_cached("SELECT state FROM messages WHERE id = ?1")?
        .query_row([message], |r| r.get(0))?;
    let current = parse_state(&current)?;
    if current.is_final() && !(reopen && current == MessageState::Unknown) {
        return Ok(None);
    }
    let mut states = Vec::new();
    {
        let mut stmt =
            tx.prepare_cached("SELECT state FROM parts WHERE message_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([message])?;
        while let Some(r) = rows.next()? {
            states.push(parse_state(&r.get::<_, String>(0)?)?);
        }
    }
    let new = message_state(&states);
    if new == current {
        return Ok(None);
    }
    let done_at = new.is_final().then_some(at);
    let error = if new.is_failure() { code } else { None };
    tx.prepare_cached(
        "UPDATE messages SET state = ?2, done_at = ?3, error = ?4, \
         queued = CASE WHEN ?5 THEN 0 ELSE queued END WHERE id = ?1",
    )?
    .execute(params![
        message,
        new.as_str(),
        done_at,
        error,
        new.is_final()
    ])?;
    let reason = match part {
        Some(part) => {
            let (seq, part_state): (i64, String) = tx
                .prepare_cached("SELECT seq, state FROM parts WHERE id = ?1")?
                .query_row([part], |r| Ok((r.get(0)?, r.get(1)?)))?;
            format!("part {seq} of {} is {part_state}", states.len())
        }
        None => format!("message is {new} ({} parts)", states.len()),
    };
    event(tx, at, message, None, report, new, &reason)?;
    webhooks::message_changed(tx, hooks, message, current, new, part, error, at)?;
    smpp::receipt_on_change(tx, message, new, error, at)?;
    Ok(Some(new))
}

fn parse_state(s: &str) -> Result<MessageState> {
    s.parse()
        .map_err(|e: crate::state::UnknownState| StoreError::Invalid {
            field: "state",
            reason: e.to_string(),
        })
}

/// The message of `part`, which must still be waiting to be sent (ACCEPTED);
/// otherwise an error that says what it is instead.
fn waiting_part(tx: &Connection, part: PartId) -> Result<i64> {
    let (message, _, state) = part_message(tx, part)?;
    if state != MessageState::Accepted.as_str() {
        return Err(StoreError::Invalid {
            field: "part",
            reason: format!("part {} is {state}, not waiting to be sent", part.0),
        });
    }
    Ok(message)
}

/// The message a part belongs to, and its recipient.
fn part_message(tx: &Connection, part: PartId) -> Result<(i64, String, String)> {
    tx.prepare_cached(
        "SELECT p.message_id, m.recipient, p.state FROM parts p \
         JOIN messages m ON m.id = p.message_id WHERE p.id = ?1",
    )?
    .query_row([part.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .optional()?
    .ok_or(StoreError::NoPart(part.0))
}
