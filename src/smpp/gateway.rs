//! The gateway side of SMPP: [`SmppGateway`] implements [`SmppBackend`]
//! over the daemon's [`Gateway`], so a submit_sm takes the same way as an
//! HTTP submit (checks, route, the durable queue through the group commit,
//! the modems' workers), and receipts and incoming SMS come from the
//! accounts' durable outboxes in the store.
//!
//! It also keeps what operators look at: submits, refusals for throughput
//! and expired outbox rows per account, and (once the server gives it) the
//! list of binds, for `/metrics`, `GET /v1/smpp/binds` and `smsgw smpp`.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::backend::{
    Account, Address, BindRefusal, IdFormat, LookupRefusal, MoItem, Outbound, OutboundKind,
    Payload, QueryAnswer, ReceiptItem, SmppBackend, SubmitRefusal, SubmitRequest,
};
use crate::config::{Cidr, SmppConfig, SmppIdFormat};
use crate::gateway::encode::encode_message;
use crate::gateway::{Gateway, SubmitError};
use crate::pdu::address::Address as PduAddress;
use crate::pdu::validity::Validity;
use crate::state::MessageState;
use crate::store::{
    unix_now, EnqueueRequest, MessageOptions, SmppCancel, SmppNotify, SmppOrigin, SmppOutboxRow,
    Store, StoreError,
};

/// Submits waiting for their commit at once, across all binds, beyond
/// which a submit is answered "queue full" (ESME_RMSGQFUL) instead of
/// piling up in memory.
pub const MAX_SUBMITS_IN_PROGRESS: usize = 20_000;

/// One bind as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BindView {
    pub system_id: String,
    /// `transmitter`, `receiver` or `transceiver`.
    pub bind_type: String,
    /// The client's address and port.
    pub peer: String,
    /// Unix second the bind was made.
    pub since: i64,
}

/// What an account did since the daemon started.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountCounters {
    pub system_id: String,
    /// submit_sm accepted (on disk).
    pub submits: u64,
    /// submit_sm refused for the account's throughput (ESME_RTHROTTLED).
    pub throttled: u64,
    /// Receipts and incoming SMS deleted unacknowledged after the retention.
    pub expired: u64,
}

/// The SMPP server's state for the API and `/metrics`.
pub trait SmppStatus: Send + Sync + 'static {
    /// The binds open now.
    fn binds(&self) -> Vec<BindView>;
    /// Every configured account's counters, in configuration order.
    fn counters(&self) -> Vec<AccountCounters>;
}

/// A configured account, ready for binds.
struct AccountEntry {
    account: Account,
    /// SHA-256 of the password: compared in constant time.
    password: [u8; 32],
    allowed: Vec<Cidr>,
    bucket: Option<Mutex<Bucket>>,
    outbox: watch::Sender<u64>,
    submits: AtomicU64,
    throttled: AtomicU64,
    expired: AtomicU64,
}

/// A token bucket of message parts: `rate` per second, holding at most one
/// second's worth.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            at: Instant::now(),
        }
    }

    /// Take `n` parts at `now` if the rate allows it. A message of more
    /// parts than one second holds goes when the bucket is full, and the
    /// bucket owes the rest.
    fn take(&mut self, n: u32, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        let n = f64::from(n);
        if self.tokens >= n || (n > self.rate && self.tokens >= self.rate) {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// The gateway behind the SMPP server.
pub struct SmppGateway {
    gw: Gateway,
    /// By system_id, in a map; `order` keeps the configuration's order.
    accounts: HashMap<String, AccountEntry>,
    order: Vec<String>,
    retention: Duration,
    in_progress: AtomicUsize,
    binds: OnceLock<Box<dyn Fn() -> Vec<BindView> + Send + Sync>>,
}

impl std::fmt::Debug for SmppGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppGateway")
            .field("accounts", &self.order)
            .finish_non_exhaustive()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equal digests, in time independent of where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl SmppGateway {
    /// The backend for the accounts of `cfg` over `gw`. Tells the store
    /// which accounts take incoming SMS and how to announce new outbox rows.
    pub fn new(gw: Gateway, cfg: &SmppConfig) -> Arc<SmppGateway> {
        let mut accounts = HashMap::new();
        let mut order = Vec::new();
        for a in &cfg.accounts {
            let account = Account {
                system_id: a.system_id.clone(),
                id_format: match a.message_id {
                    SmppIdFormat::Decimal => IdFormat::Decimal,
                    SmppIdFormat::Hex => IdFormat::Hex,
                },
                receive_mo: a.receive_mo,
            };
            order.push(a.system_id.clone());
            accounts.insert(
                a.system_id.clone(),
                AccountEntry {
                    account,
                    password: digest(a.password.as_bytes()),
                    allowed: a.allowed_cidrs(),
                    bucket: a.throughput.map(|r| Mutex::new(Bucket::new(r))),
                    outbox: watch::channel(0).0,
                    submits: AtomicU64::new(0),
                    throttled: AtomicU64::new(0),
                    expired: AtomicU64::new(0),
                },
            );
        }
        let me = Arc::new(SmppGateway {
            gw: gw.clone(),
            accounts,
            order,
            retention: Duration::from_secs(cfg.receipt_retention_h.saturating_mul(3600)),
            in_progress: AtomicUsize::new(0),
            binds: OnceLock::new(),
        });
        let mo: Vec<String> = cfg
            .accounts
            .iter()
            .filter(|a| a.receive_mo)
            .map(|a| a.system_id.clone())
            .collect();
        let weak = Arc::downgrade(&me);
        let notify = SmppNotify(Arc::new(move |accounts: &[String]| {
            if let Some(me) = weak.upgrade() {
                for a in accounts {
                    if let Some(e) = me.accounts.get(a) {
                        e.outbox.send_modify(|v| *v = v.wrapping_add(1));
                    }
                }
            }
        }));
        {
            let mut s = gw.store();
            s.set_smpp_mo_accounts(mo);
            s.set_smpp_notify(notify);
        }
        me
    }

    /// Where the list of binds comes from (the server's registry); only the
    /// first call counts.
    pub fn set_binds(&self, binds: impl Fn() -> Vec<BindView> + Send + Sync + 'static) {
        let _ = self.binds.set(Box::new(binds));
    }

    /// Bump the outbox watch of `account` (rows may wait that no bind saw:
    /// at start, and after the retention removed some).
    pub fn poke(&self, account: &str) {
        if let Some(e) = self.accounts.get(account) {
            e.outbox.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    /// Periodic upkeep until shutdown: outbox rows older than
    /// `receipt_retention_h` are deleted (logged and counted per account),
    /// and the workers are woken so that scheduled messages whose time has
    /// come are claimed.
    pub async fn housekeeping(self: Arc<Self>, every: Duration) {
        let mut shutdown = self.gw.shutdown_signal();
        loop {
            self.expire_outbox().await;
            self.gw.wake_workers();
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Delete outbox rows past the retention now; returns how many.
    pub async fn expire_outbox(&self) -> u64 {
        let keep = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        let before = unix_now().saturating_sub(keep);
        match self.gw.write(move |s| s.expire_smpp_outbox(before)).await {
            Ok(gone) => {
                let mut total = 0;
                for (account, n) in gone {
                    tracing::warn!(
                        account = %account,
                        "{n} SMPP receipt(s)/incoming SMS expired unacknowledged after {} h \
                         (receipt_retention_h): deleted",
                        keep / 3600
                    );
                    if let Some(e) = self.accounts.get(&account) {
                        e.expired.fetch_add(n, Ordering::Relaxed);
                    }
                    total += n;
                }
                total
            }
            Err(e) => {
                tracing::error!("SMPP outbox expiry: {e}");
                0
            }
        }
    }

    fn entry(&self, account: &str) -> Option<&AccountEntry> {
        self.accounts.get(account)
    }

    /// Turn a submit into what the queue takes: the recipient normalised,
    /// routed, and the message encoded (which counts the parts and refuses
    /// what cannot be sent).
    fn prepare(
        &self,
        req: &SubmitRequest,
        now: i64,
    ) -> Result<(String, String, u8, MessageOptions), SubmitRefusal> {
        let raw = req.dest.addr.trim();
        // International TON: the digits are the full number.
        let number = if req.dest.ton == 1 && !raw.starts_with('+') {
            format!("+{raw}")
        } else {
            raw.to_string()
        };
        let to = PduAddress::parse_number(&number)
            .map_err(|e| SubmitRefusal::BadDestination(format!("destination_addr {raw:?}: {e}")))?;
        let to_text = to.to_string();
        match self.gw.check_route(None, &to_text) {
            Ok(()) => {}
            Err(SubmitError::ShuttingDown) => return Err(SubmitRefusal::QueueFull),
            Err(e) => return Err(SubmitRefusal::BadDestination(e.to_string())),
        }
        let settings = self.gw.settings();
        let validity_secs = match req.expires_at {
            Some(t) if t <= now => {
                return Err(SubmitRefusal::BadContent(
                    "validity_period has already passed".into(),
                ))
            }
            Some(t) => t - now,
            None => settings
                .default_validity
                .lifetime_secs(now)
                .unwrap_or(crate::store::DEFAULT_VALIDITY_SECS),
        };
        // What the SMSC is told: the time left from when it is sent (a
        // scheduled message goes later), rounded up to a TP-VP step.
        let vp_relative = match req.expires_at {
            Some(t) => {
                let from = req.not_before.map_or(now, |nb| nb.max(now));
                if t <= from {
                    return Err(SubmitRefusal::BadContent(
                        "validity_period ends before schedule_delivery_time".into(),
                    ));
                }
                let minutes = u32::try_from((t - from + 59) / 60).unwrap_or(u32::MAX);
                Validity::relative_from_minutes(minutes)
            }
            None => match settings.default_validity {
                Validity::Relative(v) => Some(v),
                _ => None,
            },
        };
        if let Some(u) = &req.udh {
            if u.first().map(|&l| usize::from(l) + 1) != Some(u.len()) {
                return Err(SubmitRefusal::BadContent(
                    "the user data header's length octet does not match its length".into(),
                ));
            }
        }
        let (text, ucs2, data) = match &req.payload {
            Payload::Text { text, ucs2 } => (text.clone(), *ucs2, None),
            Payload::Binary { data } => (String::new(), false, Some(data.clone())),
        };
        let opts = MessageOptions {
            // The receipt needs the report, and so does query_sm.
            report: settings.report || req.registered_delivery != 0,
            validity_secs,
            vp_relative,
            ucs2,
            flash: req.flash,
            modem: None,
            concat_ref: self.gw.next_concat_ref(),
            data,
            udh: req.udh.clone(),
            not_before: req.not_before.filter(|&t| t > now),
        };
        let parts = encode_message(&to, &text, &opts)
            .map_err(|e| SubmitRefusal::BadContent(e.to_string()))?
            .len();
        let parts = u8::try_from(parts)
            .map_err(|_| SubmitRefusal::BadContent(format!("{parts} parts: at most 255")))?;
        Ok((to_text, text, parts, opts))
    }

    async fn submit_inner(
        &self,
        account: &Account,
        req: SubmitRequest,
    ) -> Result<u64, SubmitRefusal> {
        let entry = self
            .entry(&account.system_id)
            .ok_or_else(|| SubmitRefusal::Unavailable("account no longer configured".into()))?;
        if self.gw.is_shutting_down() {
            return Err(SubmitRefusal::QueueFull);
        }
        if let Some(why) = self.gw.store_failure() {
            return Err(SubmitRefusal::Unavailable(why));
        }
        let now = unix_now();
        let (to, text, parts, opts) = self.prepare(&req, now)?;
        if let Some(b) = &entry.bucket {
            let mut b = b.lock().unwrap_or_else(|p| p.into_inner());
            if !b.take(u32::from(parts), Instant::now()) {
                entry.throttled.fetch_add(1, Ordering::Relaxed);
                return Err(SubmitRefusal::Throttled);
            }
        }
        let _slot = match InProgress::enter(&self.in_progress) {
            Some(s) => s,
            None => return Err(SubmitRefusal::QueueFull),
        };
        let origin = SmppOrigin {
            account: account.system_id.clone(),
            source_ton: req.source.ton,
            source_npi: req.source.npi,
            source_addr: req.source.addr.clone(),
            dest_ton: req.dest.ton,
            dest_npi: req.dest.npi,
            dest_addr: req.dest.addr.clone(),
            registered_delivery: req.registered_delivery,
            expires_at: req.expires_at,
        };
        let not_before = opts.not_before;
        let created = self
            .gw
            .write(move |s: &mut Store| {
                let r = EnqueueRequest {
                    to: &to,
                    text: &text,
                    parts,
                    opts: &opts,
                };
                s.enqueue_smpp(&r, &origin, now)
            })
            .await
            .map_err(|e| SubmitRefusal::Unavailable(e.to_string()))?;
        entry.submits.fetch_add(1, Ordering::Relaxed);
        self.gw.wake_workers();
        if let Some(at) = not_before {
            let gw = self.gw.clone();
            let wait = u64::try_from(at.saturating_sub(unix_now())).unwrap_or(0);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                gw.wake_workers();
            });
        }
        u64::try_from(created.id.0).map_err(|_| SubmitRefusal::Unavailable("bad id".into()))
    }

    /// Read from the store on the blocking pool (the read connection).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let gw = self.gw.clone();
        match tokio::task::spawn_blocking(move || f(&gw.read())).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("store task failed: {e}")),
        }
    }
}

/// A place among the submits in progress, given back when dropped.
struct InProgress<'a>(&'a AtomicUsize);

impl<'a> InProgress<'a> {
    fn enter(n: &'a AtomicUsize) -> Option<InProgress<'a>> {
        let before = n.fetch_add(1, Ordering::SeqCst);
        if before >= MAX_SUBMITS_IN_PROGRESS {
            n.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(InProgress(n))
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The account of outbox rows read for one account.
fn account_of(rows: &[SmppOutboxRow]) -> String {
    rows.first().map(|r| r.account.clone()).unwrap_or_default()
}

/// An outbox row as the protocol side takes it.
pub fn outbound_of(row: &SmppOutboxRow) -> Result<Outbound, String> {
    let v: serde_json::Value = serde_json::from_str(&row.payload)
        .map_err(|e| format!("outbox row {}: bad payload: {e}", row.id))?;
    let bad = |what: &str| format!("outbox row {}: {what} missing or malformed", row.id);
    let int = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| bad(k))
    };
    let string = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(k))
    };
    let addr = |k: &str| -> Result<Address, String> {
        let a = v.get(k).ok_or_else(|| bad(k))?;
        let small = |f: &str| {
            a.get(f)
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| bad(k))
        };
        Ok(Address {
            ton: small("ton")?,
            npi: small("npi")?,
            addr: a
                .get("addr")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad(k))?
                .to_string(),
        })
    };
    let kind = match row.kind.as_str() {
        "receipt" => {
            let state: MessageState = string("state")?.parse().map_err(|_| bad("state"))?;
            let err = u16::try_from(int("err")?).map_err(|_| bad("err"))?;
            OutboundKind::Receipt(ReceiptItem {
                message_id: u64::try_from(int("message_id")?).map_err(|_| bad("message_id"))?,
                submit_source: addr("source")?,
                submit_dest: addr("dest")?,
                state,
                intermediate: v
                    .get("intermediate")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
                sub: u32::try_from(int("sub")?).map_err(|_| bad("sub"))?,
                dlvrd: u32::try_from(int("dlvrd")?).map_err(|_| bad("dlvrd"))?,
                submit_date: int("submit_date")?,
                done_date: int("done_date")?,
                err,
                // GSM (network type 3) when a TP-ST or +CMS code decided it.
                network_error: (err != 0).then_some((3, err)),
                text_head: string("text_head")?,
            })
        }
        "mo" => {
            let text = v.get("text").and_then(serde_json::Value::as_str);
            let payload = match text {
                Some(t) => Payload::Text {
                    text: t.to_string(),
                    ucs2: crate::pdu::gsm7::septet_count(t).is_err(),
                },
                None => Payload::Binary {
                    data: crate::pdu::hex::decode(&string("data_hex")?)
                        .map_err(|_| bad("data_hex"))?,
                },
            };
            let from = string("from")?;
            OutboundKind::Mo(MoItem {
                from: Address {
                    ton: if from.starts_with('+') { 1 } else { 0 },
                    npi: 1,
                    addr: from.trim_start_matches('+').to_string(),
                },
                to: Address {
                    ton: 0,
                    npi: 0,
                    addr: string("to")?,
                },
                payload,
                udh: None,
                received_at: int("received_at")?,
            })
        }
        other => return Err(format!("outbox row {}: unknown kind {other:?}", row.id)),
    };
    Ok(Outbound {
        id: row.id,
        kind,
        attempts: row.attempts,
    })
}

impl SmppBackend for SmppGateway {
    fn authenticate(
        &self,
        system_id: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<Account, BindRefusal> {
        let given = digest(password.as_bytes());
        let Some(e) = self.entry(system_id) else {
            // The same work as for a known account.
            let _ = same(&given, &digest(b""));
            return Err(BindRefusal::UnknownSystemId);
        };
        if !e.allowed.is_empty() && !e.allowed.iter().any(|c| c.contains(peer)) {
            return Err(BindRefusal::AddressNotAllowed);
        }
        if !same(&given, &e.password) {
            return Err(BindRefusal::BadPassword);
        }
        Ok(e.account.clone())
    }

    fn submit(
        &self,
        account: &Account,
        req: SubmitRequest,
    ) -> impl Future<Output = Result<u64, SubmitRefusal>> + Send {
        self.submit_inner(account, req)
    }

    fn query(
        &self,
        account: &Account,
        id: u64,
    ) -> impl Future<Output = Result<QueryAnswer, LookupRefusal>> + Send {
        let system_id = account.system_id.clone();
        async move {
            let Ok(id) = i64::try_from(id) else {
                return Err(LookupRefusal::NotFound);
            };
            let found = self
                .read(move |s| s.smpp_message(&system_id, id))
                .await
                .map_err(LookupRefusal::Unavailable)?;
            let m = found.ok_or(LookupRefusal::NotFound)?;
            Ok(QueryAnswer {
                state: m.state,
                final_date: m.done_at.filter(|_| m.state.is_final()),
                error_code: m
                    .error
                    .filter(|_| m.state.is_failure())
                    .and_then(|e| u16::try_from(e).ok())
                    .unwrap_or(0),
            })
        }
    }

    fn cancel(
        &self,
        account: &Account,
        id: u64,
    ) -> impl Future<Output = Result<(), LookupRefusal>> + Send {
        let system_id = account.system_id.clone();
        async move {
            let Ok(id) = i64::try_from(id) else {
                return Err(LookupRefusal::NotFound);
            };
            let out = self
                .gw
                .write(move |s| s.cancel_smpp(&system_id, id, unix_now()))
                .await
                .map_err(|e| LookupRefusal::Unavailable(e.to_string()))?;
            match out {
                SmppCancel::Cancelled => Ok(()),
                SmppCancel::NotFound => Err(LookupRefusal::NotFound),
                SmppCancel::TooLate => Err(LookupRefusal::TooLate),
            }
        }
    }

    fn outbound(
        &self,
        account: &str,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Outbound>, String>> + Send {
        let account = account.to_string();
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        async move {
            let rows = self
                .read(move |s| s.smpp_outbox(&account, after, limit))
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            let mut bad = Vec::new();
            for row in &rows {
                match outbound_of(row) {
                    Ok(o) => out.push(o),
                    Err(e) => {
                        tracing::error!("SMPP outbox: {e}: it can never be delivered; deleted");
                        bad.push(row.id);
                    }
                }
            }
            // A row that cannot be read would hold up the rows after it
            // (a bind reads after the last row it got) for ever.
            if !bad.is_empty() {
                let account = account_of(&rows);
                self.gw
                    .write(move |s| {
                        for id in bad {
                            s.smpp_outbox_delivered(&account, id)?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(out)
        }
    }

    fn delivered(&self, account: &str, id: i64) -> impl Future<Output = Result<(), String>> + Send {
        let account = account.to_string();
        async move {
            self.gw
                .write(move |s| s.smpp_outbox_delivered(&account, id))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }

    fn failed(&self, account: &str, id: i64) -> impl Future<Output = Result<(), String>> + Send {
        let account = account.to_string();
        async move {
            self.gw
                .write(move |s| {
                    // When it is due again, for the record (the server paces
                    // its own retries).
                    s.smpp_outbox_failed(&account, id, unix_now() + 5)
                })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }

    fn outbox_changed(&self, account: &str) -> watch::Receiver<u64> {
        match self.entry(account) {
            Some(e) => e.outbox.subscribe(),
            None => watch::channel(0).1,
        }
    }
}

impl SmppStatus for SmppGateway {
    fn binds(&self) -> Vec<BindView> {
        self.binds.get().map(|f| f()).unwrap_or_default()
    }

    fn counters(&self) -> Vec<AccountCounters> {
        self.order
            .iter()
            .filter_map(|id| self.accounts.get(id).map(|e| (id, e)))
            .map(|(id, e)| AccountCounters {
                system_id: id.clone(),
                submits: e.submits.load(Ordering::Relaxed),
                throttled: e.throttled.load(Ordering::Relaxed),
                expired: e.expired.load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_counts_parts_per_second() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10);
        b.at = t0;
        assert!(b.take(6, t0));
        assert!(b.take(4, t0));
        assert!(!b.take(1, t0));
        // Half a second later: five more.
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take(5, t1));
        assert!(!b.take(1, t1));
        // A message longer than a second's worth goes on a full bucket.
        let t2 = t1 + Duration::from_secs(5);
        assert!(b.take(12, t2));
        assert!(!b.take(1, t2 + Duration::from_millis(100)));
    }
}
