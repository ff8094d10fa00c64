//! The binds a server holds, per account: what `/v1/smpp/binds`, the
//! metrics and `smsgw smpp` show, and where an account's delivery loop
//! finds a receiver.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot, watch};

use crate::smpp::backend::Account;
use crate::smpp::pdu::Sm;
use crate::smpp::session::{BindKind, DeliverOutcome};

/// Counters of one bind, updated by its connection.
#[derive(Debug, Default)]
pub struct BindStats {
    pub submits: AtomicU64,
    pub receipts_sent: AtomicU64,
    pub mo_sent: AtomicU64,
    pub in_flight: AtomicUsize,
}

/// One bind, as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindInfo {
    pub id: u64,
    pub system_id: String,
    pub kind: BindKind,
    pub peer: SocketAddr,
    /// Unix second of the bind.
    pub since: i64,
    /// submit_sm (and data_sm) accepted on this bind.
    pub submits: u64,
    /// Receipts acknowledged by the client on this bind.
    pub receipts_sent: u64,
    /// Requests being worked on plus deliver_sm awaiting their resp.
    pub in_flight: usize,
}

/// A deliver_sm handed to a bind by its account's delivery loop.
#[derive(Debug)]
pub(crate) struct DeliverJob {
    pub sm: Sm,
    pub receipt: bool,
    pub reply: oneshot::Sender<DeliverOutcome>,
}

struct Entry {
    system_id: String,
    kind: BindKind,
    peer: SocketAddr,
    since: i64,
    stats: Arc<BindStats>,
    deliver: Option<mpsc::Sender<DeliverJob>>,
}

struct AccountEntry {
    loop_running: bool,
    next: usize,
    binds_changed: watch::Sender<u64>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    binds: BTreeMap<u64, Entry>,
    accounts: HashMap<String, AccountEntry>,
}

/// Every bind of one server.
#[derive(Default)]
pub struct BindRegistry {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for BindRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindRegistry")
            .field("binds", &self.lock().binds.len())
            .finish()
    }
}

impl BindRegistry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every bind, oldest first.
    pub fn snapshot(&self) -> Vec<BindInfo> {
        self.lock()
            .binds
            .iter()
            .map(|(&id, e)| BindInfo {
                id,
                system_id: e.system_id.clone(),
                kind: e.kind,
                peer: e.peer,
                since: e.since,
                submits: e.stats.submits.load(Ordering::Relaxed),
                receipts_sent: e.stats.receipts_sent.load(Ordering::Relaxed),
                in_flight: e.stats.in_flight.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Binds per account (accounts without a bind are absent).
    pub fn binds_per_account(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for e in self.lock().binds.values() {
            *m.entry(e.system_id.clone()).or_insert(0) += 1;
        }
        m
    }

    /// Adds a bind; returns its id, its counters and whether the caller
    /// must start the account's delivery loop.
    pub(crate) fn register(
        &self,
        account: &Account,
        kind: BindKind,
        peer: SocketAddr,
        deliver: Option<mpsc::Sender<DeliverJob>>,
    ) -> (u64, Arc<BindStats>, bool) {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        let stats = Arc::new(BindStats::default());
        let receiver = deliver.is_some();
        g.binds.insert(
            id,
            Entry {
                system_id: account.system_id.clone(),
                kind,
                peer,
                since: unix_now(),
                stats: stats.clone(),
                deliver,
            },
        );
        let acc = g
            .accounts
            .entry(account.system_id.clone())
            .or_insert_with(|| AccountEntry {
                loop_running: false,
                next: 0,
                binds_changed: watch::channel(0).0,
            });
        acc.binds_changed.send_modify(|v| *v += 1);
        let start = receiver && !acc.loop_running;
        if start {
            acc.loop_running = true;
        }
        (id, stats, start)
    }

    pub(crate) fn unregister(&self, id: u64) {
        let mut g = self.lock();
        if let Some(e) = g.binds.remove(&id) {
            if let Some(acc) = g.accounts.get(&e.system_id) {
                acc.binds_changed.send_modify(|v| *v += 1);
            }
        }
    }

    /// A receiver-capable bind of `account`, round robin.
    pub(crate) fn pick(&self, account: &str) -> Option<mpsc::Sender<DeliverJob>> {
        let mut g = self.lock();
        let senders: Vec<mpsc::Sender<DeliverJob>> = g
            .binds
            .values()
            .filter(|e| e.system_id == account)
            .filter_map(|e| e.deliver.clone())
            .filter(|s| !s.is_closed())
            .collect();
        if senders.is_empty() {
            return None;
        }
        let acc = g.accounts.get_mut(account)?;
        acc.next = acc.next.wrapping_add(1);
        Some(senders[acc.next % senders.len()].clone())
    }

    /// Bumped when a bind of `account` comes or goes.
    pub(crate) fn binds_changed(&self, account: &str) -> Option<watch::Receiver<u64>> {
        self.lock()
            .accounts
            .get(account)
            .map(|a| a.binds_changed.subscribe())
    }

    /// The delivery loop of `account` ends if no receiver is bound
    /// (atomically with [`BindRegistry::register`]); `true` if it ended.
    pub(crate) fn stop_loop_if_idle(&self, account: &str) -> bool {
        let mut g = self.lock();
        let any = g
            .binds
            .values()
            .any(|e| e.system_id == account && e.deliver.is_some());
        if any {
            return false;
        }
        if let Some(acc) = g.accounts.get_mut(account) {
            acc.loop_running = false;
        }
        true
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
