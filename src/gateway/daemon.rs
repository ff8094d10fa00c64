//! The gateway as the daemon runs it: the store behind a mutex, the
//! configured modems with their live status, and the submit path the HTTP
//! API and the demo call. Sending is done by one worker per modem
//! (`gateway::worker`), woken when work is queued.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use super::encode::encode_message;
use crate::modem::ussd::UssdAnswer;
use crate::modem::{Modem, ModemInfo, WeakModem};
use crate::pdu::address::Address;
use crate::pdu::validity::parse_validity;
use crate::pdu::validity::Validity;
use crate::store::{
    unix_now, Cancel, EnqueueRequest, Enqueued, GroupCommit, IdempotencyKey, MessageId,
    MessageOptions, Priority, QueueOptions, Store, StoreError, DEFAULT_VALIDITY_SECS,
};
use std::time::Duration;

/// Sending defaults of the daemon.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Validity of messages that do not give one (None: the SMSC's default).
    pub default_validity: Validity,
    /// Ask for status reports unless the request says otherwise.
    pub report: bool,
    /// Attempts of a part refused with a temporary error before it is REJECTD.
    pub max_retries: u32,
    /// First pause before a retry (doubles each time).
    pub retry_backoff_s: u64,
    /// What becomes of parts whose AT+CMGS was written but never answered
    /// (a crash, a timeout): UNKNOWN for good by default.
    pub resend_unknown: ResendUnknown,
    /// With [`ResendUnknown::IfNoReport`]: how long after a part became
    /// UNKNOWN its report may still come before it is sent again.
    pub resend_unknown_wait_s: u64,
    /// Hold back a part whose TP-MR (predicted from the modem's last answers)
    /// would be a look-alike of a pending part to the same number sent too
    /// recently for its report to be told apart; on by default.
    pub avoid_mr_lookalikes: bool,
    /// Quiet hours: only urgent messages are sent inside the window.
    pub quiet_hours: Option<super::quiet::QuietHours>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            default_validity: Validity::None,
            report: true,
            max_retries: 5,
            retry_backoff_s: 30,
            resend_unknown: ResendUnknown::Never,
            resend_unknown_wait_s: 600,
            avoid_mr_lookalikes: true,
            quiet_hours: None,
        }
    }
}

/// `resend_unknown`: what to do with a part whose AT+CMGS was written but
/// never answered, so that the network may or may not have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResendUnknown {
    /// `false`: UNKNOWN, never sent again (at most once: a possible loss).
    #[default]
    Never,
    /// `true`: after a crash, queued again at start (at least once: a
    /// possible duplicate).
    Always,
    /// `"if-no-report"`: UNKNOWN, and queued again when its message asked
    /// for a report and none came within `resend_unknown_wait_s` (a
    /// duplicate only if the report was lost or is later than that).
    IfNoReport,
}

impl<'de> Deserialize<'de> for ResendUnknown {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ResendUnknown;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or \"if-no-report\"")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ResendUnknown, E> {
                Ok(if v {
                    ResendUnknown::Always
                } else {
                    ResendUnknown::Never
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ResendUnknown, E> {
                match v {
                    "if-no-report" => Ok(ResendUnknown::IfNoReport),
                    other => Err(E::custom(format!(
                        "{other:?} is not a choice: true, false or \"if-no-report\""
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `POST /v1/messages` and friends.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    #[schema(min_length = 1)]
    pub to: String,
    #[schema(min_length = 1)]
    pub text: String,
    #[serde(default)]
    pub report: Option<bool>,
    /// `90m`, `12h`, `1d`, `2w`.
    #[serde(default)]
    pub validity: Option<String>,
    /// Send through this modem only.
    #[serde(default)]
    pub modem: Option<String>,
    #[serde(default)]
    pub ucs2: bool,
    #[serde(default)]
    pub flash: bool,
    /// RFC 3339: not sent before then.
    #[serde(default)]
    pub send_at: Option<String>,
    /// RFC 3339: if still queued then, it ends EXPIRED unsent.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Seconds from now, instead of `expires_at`.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub ttl: Option<u64>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// May go out during quiet hours.
    #[serde(default)]
    pub ignore_quiet_hours: bool,
}

/// A submission checked and ready to queue.
struct Prepared {
    /// The recipient, normalised.
    to: String,
    parts: u8,
    opts: MessageOptions,
    queue: QueueOptions,
    now: i64,
}

/// A queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Submitted {
    pub id: String,
    pub parts: u8,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("modem: no modem named {0:?} is configured")]
    UnknownModem(String),
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// Bulk: the items at fault, each as (`messages[i].field`, reason).
    #[error("{} invalid item(s)", .0.len())]
    InvalidItems(Vec<(String, String)>),
    /// The Idempotency-Key was used with another request.
    #[error("{0}")]
    KeyConflict(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Why a USSD request through the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum UssdError {
    #[error("no modem named {0:?} is configured")]
    UnknownModem(String),
    #[error("modem {0:?} is not connected")]
    NotConnected(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Modem(crate::modem::ModemError),
}

/// A configured modem as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ModemStatus {
    pub name: String,
    pub device: String,
    pub connected: bool,
    /// Why the modem is out of service until smsgw is restarted (a refused
    /// SIM PIN), when it is.
    pub disabled: Option<String>,
    pub info: Option<ModemInfo>,
    pub queue_depth: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// Live state of one configured modem, kept by its worker.
#[derive(Debug, Clone, Default)]
struct Slot {
    device: String,
    /// Routing prefixes ([`crate::config::prefixes_accept`]); empty: any.
    prefixes: Vec<String>,
    /// Out of service, and why (see [`ModemStatus::disabled`]).
    disabled: Option<String>,
    connected: bool,
    info: Option<ModemInfo>,
    sent: u64,
    delivered: u64,
    failed: u64,
}

struct Inner {
    store: Arc<Mutex<Store>>,
    /// A read-only connection for the API's queries (None in memory).
    reader: Option<Mutex<Store>>,
    /// The writer thread that batches store work into group commits.
    commits: GroupCommit,
    settings: GatewaySettings,
    /// Work was queued (or a modem came back): workers look for it.
    wake: Notify,
    slots: Mutex<BTreeMap<String, Slot>>,
    /// The running session of each connected modem, for requests outside
    /// the queue (USSD). Weak: only the worker keeps a session alive.
    sessions: Mutex<BTreeMap<String, WeakModem>>,
    shutdown: watch::Sender<bool>,
    concat_ref: std::sync::atomic::AtomicU32,
    /// The SMPP server's state for the API and metrics, once it runs.
    smpp: std::sync::OnceLock<Arc<dyn crate::smpp::gateway::SmppStatus>>,
    /// The last event id on disk (the live event stream waits on it).
    events: watch::Receiver<i64>,
}

/// The running gateway. Cheap to clone. Its state is reached through
/// methods only: the store (`write`, `write_then`, `read`), the live
/// status of each modem (`set_connected`, `count_*`, `modems`), and the
/// wake-up and shutdown signals.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("settings", &self.inner.settings)
            .field("modems", &self.slots().keys().collect::<Vec<_>>())
            .field("shutting_down", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over an open store with the given modem names (their
    /// workers are started separately).
    pub fn new(store: Store, settings: GatewaySettings, modems: &[(String, String)]) -> Gateway {
        let slots = modems
            .iter()
            .map(|(name, device)| {
                (
                    name.clone(),
                    Slot {
                        device: device.clone(),
                        ..Slot::default()
                    },
                )
            })
            .collect();
        let (shutdown, _) = watch::channel(false);
        let reader = match store.reader() {
            Ok(r) => r.map(Mutex::new),
            Err(e) => {
                tracing::warn!(
                    "no separate connection for reads ({e}): queries share the writer's"
                );
                None
            }
        };
        let mut store = store;
        let (event_tx, events) = watch::channel(0);
        store.set_event_notify(event_tx);
        let store = Arc::new(Mutex::new(store));
        Gateway {
            inner: Arc::new(Inner {
                commits: GroupCommit::start(store.clone()),
                store,
                reader,
                settings,
                wake: Notify::new(),
                slots: Mutex::new(slots),
                sessions: Mutex::new(BTreeMap::new()),
                shutdown,
                concat_ref: std::sync::atomic::AtomicU32::new(std::process::id()),
                smpp: std::sync::OnceLock::new(),
                events,
            }),
        }
    }

    /// Short synchronous access to the store (never hold it across an
    /// .await). The hot paths use [`Gateway::write`] instead.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection for queries (read only): its own, so that reads neither
    /// wait for a group commit nor hold one up; the store's for a database
    /// in memory. Never hold it across an .await.
    pub fn read(&self) -> MutexGuard<'_, Store> {
        match &self.inner.reader {
            Some(r) => r.lock().unwrap_or_else(|p| p.into_inner()),
            None => self.store(),
        }
    }

    /// Run `op` in the next group commit (see [`GroupCommit`]) and wait
    /// until it is on disk.
    pub async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.commits.run(op).await
    }

    /// Run `op` in the next group commit without waiting; `done` gets the
    /// result once it is on disk (on the store's writer thread: keep it
    /// short). One caller's operations are applied in the order given.
    /// Both run in the caller's tracing span (a worker's `modem` span), so
    /// what they log names the modem although another thread runs them.
    pub fn write_then<T, F, D>(&self, op: F, done: D)
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
        D: FnOnce(Result<T, StoreError>) + Send + 'static,
    {
        let span = tracing::Span::current();
        let op_span = span.clone();
        self.inner.commits.submit(
            move |s| op_span.in_scope(|| op(s)),
            move |r| span.in_scope(|| done(r)),
        );
    }

    /// Wait until all store work given so far is on disk.
    pub async fn flush(&self) {
        self.inner.commits.flush().await;
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.inner.settings
    }

    /// Validate, split (to count the parts), queue, and wake the workers.
    pub fn submit(&self, req: &SubmitRequest) -> Result<Submitted, SubmitError> {
        let p = self.prepare(req)?;
        let item = EnqueueRequest {
            to: &p.to,
            text: &req.text,
            parts: p.parts,
            opts: &p.opts,
        };
        let done = self
            .store()
            .enqueue_idempotent(&[(item, p.queue)], None, p.now)?;
        match done {
            Enqueued::New(mut c) if c.len() == 1 => {
                let id = c.remove(0).id.0;
                Ok(self.queued(id, p.parts))
            }
            _ => Err(SubmitError::Invalid {
                field: "body",
                reason: "nothing queued".into(),
            }),
        }
    }

    /// [`Gateway::submit`] through the group commit: answers once the
    /// message is on disk, sharing the disk sync with concurrent work.
    pub async fn submit_batched(&self, req: SubmitRequest) -> Result<Submitted, SubmitError> {
        let (mut out, _) = self.submit_many(vec![req], None).await?;
        out.pop().ok_or_else(|| SubmitError::Invalid {
            field: "body",
            reason: "nothing queued".into(),
        })
    }

    /// Queue `reqs` (the HTTP API's single and bulk submits) in one
    /// transaction: all or none. Every item is checked first; the refusal
    /// of a bulk call (more than one item, or `bulk`) names each bad item
    /// as `messages[i].field`. With an idempotency `key`, a repeat of the
    /// same request within a day answers the messages it created (the
    /// bool is then true) and one with another request is refused.
    pub async fn submit_many(
        &self,
        reqs: Vec<SubmitRequest>,
        key: Option<IdempotencyKey>,
    ) -> Result<(Vec<Submitted>, bool), SubmitError> {
        let bulk = key.as_ref().is_some_and(|k| k.endpoint == "bulk") || reqs.len() > 1;
        let mut prepared = Vec::with_capacity(reqs.len());
        let mut bad = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            match self.prepare(r) {
                Ok(p) => prepared.push(p),
                Err(SubmitError::Invalid { field, reason }) if bulk => {
                    bad.push((format!("messages[{i}].{field}"), reason))
                }
                Err(e @ SubmitError::UnknownModem(_)) if bulk => {
                    bad.push((format!("messages[{i}].modem"), e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        if !bad.is_empty() {
            return Err(SubmitError::InvalidItems(bad));
        }
        let texts: Vec<String> = reqs.into_iter().map(|r| r.text).collect();
        let done = self
            .write(move |s| {
                let items: Vec<(EnqueueRequest<'_>, QueueOptions)> = prepared
                    .iter()
                    .zip(&texts)
                    .map(|(p, text)| {
                        (
                            EnqueueRequest {
                                to: &p.to,
                                text,
                                parts: p.parts,
                                opts: &p.opts,
                            },
                            p.queue,
                        )
                    })
                    .collect();
                let now = prepared.first().map_or_else(unix_now, |p| p.now);
                s.enqueue_idempotent(&items, key.as_ref(), now)
            })
            .await?;
        match done {
            Enqueued::New(created) => {
                self.wake_workers();
                let out = created
                    .iter()
                    .map(|m| Submitted {
                        id: m.id.0.to_string(),
                        parts: u8::try_from(m.parts.len()).unwrap_or(u8::MAX),
                    })
                    .collect();
                Ok((out, false))
            }
            Enqueued::Repeat(ids) => Ok((
                ids.iter()
                    .map(|(id, parts)| Submitted {
                        id: id.0.to_string(),
                        parts: *parts,
                    })
                    .collect(),
                true,
            )),
            Enqueued::Conflict {
                endpoint,
                created_at,
            } => Err(SubmitError::KeyConflict(format!(
                "this Idempotency-Key was used at {} for a different request{}: \
                 use a new key for a new request",
                crate::times::rfc3339(created_at),
                if endpoint == "bulk" {
                    " (a bulk call)"
                } else {
                    ""
                }
            ))),
        }
    }

    /// Check a submission as [`Gateway::submit`] would, queueing nothing.
    pub fn validate(&self, req: &SubmitRequest) -> Result<(), SubmitError> {
        self.prepare(req).map(|_| ())
    }

    /// Cancel message `id` if none of its parts reached a modem yet.
    pub async fn cancel(&self, id: MessageId) -> Result<Cancel, StoreError> {
        let now = unix_now();
        self.write(move |s| {
            s.cancel_message(id, "cancelled through the API before it was sent", now)
        })
        .await
    }

    /// The last event id on disk; changes after each group commit that
    /// logged events (see [`Store::events_after`]).
    pub fn event_signal(&self) -> watch::Receiver<i64> {
        self.inner.events.clone()
    }

    /// Whether unix second `now` is inside the quiet hours.
    pub(crate) fn quiet_now(&self, now: i64) -> bool {
        self.inner
            .settings
            .quiet_hours
            .as_ref()
            .is_some_and(|q| q.ends_at(now).is_some())
    }

    fn queued(&self, id: i64, parts: u8) -> Submitted {
        self.wake_workers();
        Submitted {
            id: id.to_string(),
            parts,
        }
    }

    /// Check a submission and work out its sending options.
    fn prepare(&self, req: &SubmitRequest) -> Result<Prepared, SubmitError> {
        if self.is_shutting_down() {
            return Err(SubmitError::ShuttingDown);
        }
        let to = Address::parse_number(&req.to).map_err(|e| SubmitError::Invalid {
            field: "to",
            reason: e.to_string(),
        })?;
        if req.text.is_empty() {
            return Err(SubmitError::Invalid {
                field: "text",
                reason: "empty text".into(),
            });
        }
        let validity = match &req.validity {
            Some(v) => parse_validity(v).map_err(|reason| SubmitError::Invalid {
                field: "validity",
                reason,
            })?,
            None => self.inner.settings.default_validity,
        };
        self.check_route(req.modem.as_deref(), &to.to_string())?;
        let now = unix_now();
        let opts = MessageOptions {
            report: req.report.unwrap_or(self.inner.settings.report),
            validity_secs: validity.lifetime_secs(now).unwrap_or(DEFAULT_VALIDITY_SECS),
            vp_relative: match validity {
                Validity::Relative(v) => Some(v),
                _ => None,
            },
            ucs2: req.ucs2,
            flash: req.flash,
            modem: req.modem.clone(),
            concat_ref: self.next_concat_ref(),
            not_before: match &req.send_at {
                Some(t) => Some(rfc3339_field("send_at", t)?).filter(|&t| t > now),
                None => None,
            },
            ..MessageOptions::default()
        };
        let expires_at = match (&req.expires_at, req.ttl) {
            (Some(_), Some(_)) => {
                return Err(SubmitError::Invalid {
                    field: "ttl",
                    reason: "give expires_at or ttl, not both".into(),
                })
            }
            (Some(t), None) => {
                let at = rfc3339_field("expires_at", t)?;
                if at <= now {
                    return Err(SubmitError::Invalid {
                        field: "expires_at",
                        reason: format!("{t} has already passed"),
                    });
                }
                Some(at)
            }
            (None, Some(0)) => {
                return Err(SubmitError::Invalid {
                    field: "ttl",
                    reason: "must be at least 1 second".into(),
                })
            }
            (None, Some(ttl)) if ttl > MAX_TTL_SECS => {
                return Err(SubmitError::Invalid {
                    field: "ttl",
                    reason: format!("{ttl} s: at most {MAX_TTL_SECS} (ten years)"),
                })
            }
            (None, Some(ttl)) => Some(now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))),
            (None, None) => None,
        };
        if let (Some(send), Some(exp)) = (opts.not_before, expires_at) {
            if send >= exp {
                return Err(SubmitError::Invalid {
                    field: "send_at",
                    reason: "is not before the message expires (expires_at / ttl)".into(),
                });
            }
        }
        let queue = QueueOptions {
            priority: req.priority.unwrap_or_default(),
            expires_at,
            ignore_quiet_hours: req.ignore_quiet_hours,
        };
        // Encoding here counts the parts and rejects what cannot be sent;
        // the worker encodes the same way (`encode::encode_message`) when
        // it sends.
        let parts = encode_message(&to, &req.text, &opts)
            .map_err(|e| SubmitError::Invalid {
                field: "text",
                reason: e.to_string(),
            })?
            .len() as u8;
        Ok(Prepared {
            to: to.to_string(),
            parts,
            opts,
            queue,
            now,
        })
    }

    /// A concatenation reference that changes from one message to the next.
    pub(crate) fn next_concat_ref(&self) -> u16 {
        let n = self
            .inner
            .concat_ref
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (n % 256) as u16
    }

    /// Attach the SMPP server's state (binds, counters) for the API and
    /// `/metrics`; only the first call counts.
    pub fn set_smpp(&self, status: Arc<dyn crate::smpp::gateway::SmppStatus>) {
        let _ = self.inner.smpp.set(status);
    }

    /// The SMPP server's state, when one runs.
    pub fn smpp(&self) -> Option<Arc<dyn crate::smpp::gateway::SmppStatus>> {
        self.inner.smpp.get().cloned()
    }

    /// The configured modems with their live state and counters.
    pub fn modems(&self) -> Vec<ModemStatus> {
        // One pass over the queue for all modems, before the slots: never
        // hold both locks at once.
        let depths = self.read().queue_depths().map(|d| d.1).unwrap_or_default();
        let slots: Vec<(String, Slot)> = self
            .slots()
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        slots
            .iter()
            .map(|(name, s)| ModemStatus {
                name: name.clone(),
                device: s.device.clone(),
                connected: s.connected,
                disabled: s.disabled.clone(),
                info: s.info.clone(),
                queue_depth: depths.get(name).copied().unwrap_or(0),
                sent: s.sent,
                delivered: s.delivered,
                failed: s.failed,
            })
            .collect()
    }

    /// Refuse a submission that no configured modem could ever send: it
    /// names an unknown modem, or one whose prefixes exclude the number, or
    /// no modem's prefixes take the number. With no modem configured at all
    /// nothing is judged (modems may come from elsewhere, e.g. tests).
    pub(crate) fn check_route(&self, modem: Option<&str>, to: &str) -> Result<(), SubmitError> {
        use crate::config::prefixes_accept;
        let slots = self.slots();
        let unroutable = |reason: String| SubmitError::Invalid {
            field: "to",
            reason,
        };
        match modem {
            Some(m) => {
                let slot = slots
                    .get(m)
                    .ok_or_else(|| SubmitError::UnknownModem(m.to_string()))?;
                if !prefixes_accept(&slot.prefixes, to) {
                    return Err(unroutable(format!(
                        "modem {m:?} sends only to numbers starting with {}, not to {to}",
                        slot.prefixes.join(", ")
                    )));
                }
            }
            None if slots.is_empty() => {}
            None => {
                if !slots.values().any(|s| prefixes_accept(&s.prefixes, to)) {
                    let routes: Vec<String> = slots
                        .iter()
                        .map(|(n, s)| format!("{n}: {}", s.prefixes.join(", ")))
                        .collect();
                    return Err(unroutable(format!(
                        "no configured modem sends to {to} (prefixes: {})",
                        routes.join("; ")
                    )));
                }
            }
        }
        Ok(())
    }

    fn slots(&self) -> MutexGuard<'_, BTreeMap<String, Slot>> {
        self.inner.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session of modem `name` is (or is no longer) the one to ask for
    /// work outside the queue.
    pub(crate) fn set_session(&self, name: &str, modem: Option<&Modem>) {
        let mut s = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match modem {
            Some(m) => s.insert(name.to_string(), m.downgrade()),
            None => s.remove(name),
        };
    }

    /// Ask the network a USSD request through modem `name` (a code, or the
    /// answer to the menu its previous answer opened).
    pub async fn ussd(
        &self,
        name: &str,
        request: &str,
        timeout: Duration,
    ) -> Result<UssdAnswer, UssdError> {
        if !self.slots().contains_key(name) {
            return Err(UssdError::UnknownModem(name.to_string()));
        }
        crate::modem::ussd::request_command(request, false)
            .map_err(|e| UssdError::BadRequest(e.to_string()))?;
        let modem = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .and_then(WeakModem::upgrade)
            .ok_or_else(|| UssdError::NotConnected(name.to_string()))?;
        modem.ussd(request, timeout).await.map_err(UssdError::Modem)
    }

    /// Change the live state of modem `name` (a configured one; others are
    /// ignored).
    fn update_slot(&self, name: &str, f: impl FnOnce(&mut Slot)) {
        if let Some(s) = self.slots().get_mut(name) {
            f(s);
        }
    }

    /// Modem `name` sends only to numbers starting with one of `prefixes`
    /// (none: to any): a submission no configured modem can take is
    /// refused instead of waiting in the queue for ever.
    pub fn set_prefixes(&self, name: &str, prefixes: &[String]) {
        self.update_slot(name, |s| s.prefixes = prefixes.to_vec());
    }

    /// Modem `name` is out of service until a restart, for `reason`.
    pub(crate) fn set_disabled(&self, name: &str, reason: &str) {
        self.update_slot(name, |s| {
            s.connected = false;
            s.disabled = Some(reason.to_string());
        });
    }

    /// Modem `name` is open on `device` now (a glob may name another port
    /// than the last time).
    pub(crate) fn set_device(&self, name: &str, device: &str) {
        self.update_slot(name, |s| s.device = device.to_string());
    }

    /// Modem `name` is (dis)connected; `info`, when given, replaces what is
    /// known of it. A connected modem wakes the workers: the queue may hold
    /// work only it can take.
    pub(crate) fn set_connected(&self, name: &str, connected: bool, info: Option<ModemInfo>) {
        self.update_slot(name, |s| {
            s.connected = connected;
            if info.is_some() {
                s.info = info;
            }
        });
        if connected {
            self.wake_workers();
        }
    }

    /// Modem `name` sent a part (it got a TP-MR).
    pub(crate) fn count_sent(&self, name: &str) {
        self.update_slot(name, |s| s.sent += 1);
    }

    /// A part sent by modem `name` got its final report.
    pub(crate) fn count_final(&self, name: &str, delivered: bool) {
        self.update_slot(name, |s| match delivered {
            true => s.delivered += 1,
            false => s.failed += 1,
        });
    }

    /// Tell the workers to look at the queue again.
    pub(crate) fn wake_workers(&self) {
        self.inner.wake.notify_waiters();
    }

    /// Completes at the next [`Gateway::wake_workers`] (call `enable` on it
    /// before looking at the queue, so that a wake-up in between is kept).
    pub(crate) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.wake.notified()
    }

    /// Stop taking work: workers finish the part in flight and stop.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.wake_workers();
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// A receiver that turns true when the gateway shuts down. Subscribe
    /// before spawning the task that waits on it, and wait with
    /// `wait_for(|stop| *stop)` (which looks at the value first): a
    /// receiver made after the shutdown never sees `changed()`.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Why the store has stopped storing for good (None while it works):
    /// nothing more can be queued or recorded until a restart.
    pub fn store_failure(&self) -> Option<String> {
        self.inner.commits.failure()
    }

    /// Whether store writes fail for lack of space now, and the counts
    /// since start (see [`crate::store::SpaceState`]).
    pub fn store_space(&self) -> crate::store::SpaceState {
        self.inner.commits.space()
    }

    /// Wait until the store stops for good; returns why.
    pub async fn store_stopped(&self) -> String {
        self.inner.commits.stopped().await
    }

    /// Stop the store for good, as a failed disk sync would (tests).
    #[cfg(test)]
    pub(crate) fn stop_store_for_test(&self, why: &str) {
        self.inner.commits.stop_for_test(why);
    }
}

/// The longest `ttl` taken (ten years).
pub const MAX_TTL_SECS: u64 = 315_360_000;

/// A time in RFC 3339 (`2026-12-24T18:00:00+01:00`), as a unix second.
fn rfc3339_field(field: &'static str, t: &str) -> Result<i64, SubmitError> {
    t.parse::<jiff::Timestamp>()
        .map(|ts| ts.as_second())
        .map_err(|e| SubmitError::Invalid {
            field,
            reason: format!("{t:?} is not an RFC 3339 time such as 2026-12-24T18:00:00+01:00: {e}"),
        })
}

/// Periodic upkeep until shutdown: parts with no report past their validity
/// plus grace become UNKNOWN; queued messages past validity become EXPIRED;
/// with `resend_unknown = "if-no-report"`, parts of unknown outcome that got
/// no report in time are queued again.
pub async fn housekeeping(gw: Gateway, every: std::time::Duration) {
    let mut shutdown = gw.shutdown_signal();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            // The value, not a change: this task may first run after the
            // shutdown (a port in use stops the daemon at once).
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // Through the group commit: in order with the workers' work, and no
        // tokio thread blocked on the store's lock meanwhile.
        let now = unix_now();
        match gw.write(move |s| s.expire(now)).await {
            Ok(parts) if !parts.is_empty() => {
                tracing::info!("{} part(s) got no report in time: UNKNOWN", parts.len())
            }
            Ok(_) => {}
            Err(e) => tracing::error!("expiry: {e}"),
        }
        match gw.write(move |s| s.expire_queued(now)).await {
            Ok(msgs) if !msgs.is_empty() => {
                tracing::info!("{} queued message(s) expired before sending", msgs.len())
            }
            Ok(_) => {}
            Err(e) => tracing::error!("queue expiry: {e}"),
        }
        if let Err(e) = gw.write(move |s| s.purge_idempotency_keys(now)).await {
            tracing::error!("idempotency keys: {e}");
        }
        if let Err(e) = gw.write(move |s| s.purge_event_log(now)).await {
            tracing::error!("event log: {e}");
        }
        let settings = gw.settings();
        if settings.resend_unknown == ResendUnknown::IfNoReport {
            let wait = i64::try_from(settings.resend_unknown_wait_s).unwrap_or(i64::MAX);
            match gw
                .write(move |s| s.resend_unknown_without_report(wait, now))
                .await
            {
                Ok(parts) if !parts.is_empty() => {
                    tracing::info!(
                        "{} part(s) of unknown outcome got no report in {wait} s: queued again",
                        parts.len()
                    );
                    gw.wake_workers();
                }
                Ok(_) => {}
                Err(e) => tracing::error!("resend of unknown parts: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::RouterConfig;
    use std::path::Path;

    fn gateway() -> Gateway {
        let store = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
        Gateway::new(
            store,
            GatewaySettings::default(),
            &[("m1".into(), "/dev/null".into())],
        )
    }

    fn req(to: &str, text: &str) -> SubmitRequest {
        SubmitRequest {
            to: to.into(),
            text: text.into(),
            report: None,
            validity: None,
            modem: None,
            ucs2: false,
            flash: false,
            ..SubmitRequest::default()
        }
    }

    /// The housekeeping task queues again an UNKNOWN part that got no
    /// report, only with `resend_unknown = "if-no-report"`, and wakes the
    /// workers for it.
    #[tokio::test]
    async fn housekeeping_resends_unknown_parts_when_configured() {
        let store = Store::open(Path::new(":memory:"), RouterConfig::default()).unwrap();
        let settings = GatewaySettings {
            resend_unknown: ResendUnknown::IfNoReport,
            resend_unknown_wait_s: 0,
            ..GatewaySettings::default()
        };
        let gw = Gateway::new(store, settings, &[("m1".into(), "/dev/null".into())]);
        let msg = {
            let mut s = gw.store();
            let m = s.create_message("+393331234567", "hi", 1, 1).unwrap();
            let modem = s.modem("m1").unwrap();
            s.mark_sending(m.parts[0], modem, 2).unwrap();
            s.mark_outcome_unknown(m.parts[0], "no answer", 3).unwrap();
            m.id
        };
        let woken = gw.woken();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let task = tokio::spawn(housekeeping(
            gw.clone(),
            std::time::Duration::from_millis(10),
        ));
        tokio::time::timeout(std::time::Duration::from_secs(60), woken)
            .await
            .expect("the workers were never woken");
        let v = gw.store().message(msg).unwrap();
        assert_eq!(v.parts[0].state, crate::state::MessageState::Accepted);
        assert_eq!(v.message.state, crate::state::MessageState::Accepted);
        gw.shutdown();
        task.await.unwrap();
    }

    #[test]
    fn submit_validates_each_field() {
        let gw = gateway();
        let field = |r: Result<Submitted, SubmitError>| match r {
            Err(SubmitError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert_eq!(field(gw.submit(&req("+39abc", "hi"))), "to");
        assert_eq!(field(gw.submit(&req("+393331234567", ""))), "text");
        assert_eq!(
            field(gw.submit(&SubmitRequest {
                validity: Some("3 fortnights".into()),
                ..req("+393331234567", "hi")
            })),
            "validity"
        );
        assert_eq!(
            field(gw.submit(&req("+393331234567", &"x".repeat(153 * 256)))),
            "text"
        );
        assert!(matches!(
            gw.submit(&SubmitRequest {
                modem: Some("nope".into()),
                ..req("+393331234567", "hi")
            }),
            Err(SubmitError::UnknownModem(_))
        ));
    }

    #[test]
    fn submit_queues_and_counts_parts() {
        let gw = gateway();
        let s = gw.submit(&req("+393331234567", &"a".repeat(200))).unwrap();
        assert_eq!(s.parts, 2);
        let v = gw
            .store()
            .message(crate::store::MessageId(s.id.parse().unwrap()))
            .unwrap();
        assert_eq!(v.parts.len(), 2);
        gw.shutdown();
        assert!(matches!(
            gw.submit(&req("+393331234567", "hi")),
            Err(SubmitError::ShuttingDown)
        ));
    }
}
