//! The `/metrics` page: the store's counters and the modems' live state in
//! the Prometheus text format.

use super::exposition::{Exposition, Kind};
use crate::gateway::ModemStatus;
use crate::state::MessageState;
use crate::store::{Counters, ModemCounters, SpaceState};

/// Reads one per-modem counter.
type ModemValue = fn(&ModemCounters) -> u64;

/// The store's space as `/metrics` shows it: the writer's [`SpaceState`]
/// and the size of the write-ahead log now.
#[derive(Debug, Clone, Default)]
pub struct StoreSpace {
    pub state: SpaceState,
    pub wal_bytes: u64,
}

/// Render the page from the store's counters and the configured modems.
/// Modems known only to the store (no longer configured) still get their
/// counters; connectivity gauges are for configured modems.
pub fn render(
    c: &Counters,
    modems: &[ModemStatus],
    shutting_down: bool,
    space: &StoreSpace,
) -> String {
    let mut e = Exposition::default();
    e.single(
        "smsgw_shutting_down",
        Kind::Gauge,
        "1 while the gateway is stopping (no new work taken).",
        flag(shutting_down),
    );
    e.single(
        "smsgw_store_disk_full",
        Kind::Gauge,
        "1 while store writes fail for lack of space (new work is refused with 503).",
        flag(space.state.full.is_some()),
    );
    e.single(
        "smsgw_store_disk_full_episodes_total",
        Kind::Counter,
        "Times the disk became full for the store since start.",
        space.state.episodes as f64,
    );
    e.single(
        "smsgw_store_disk_full_refused_total",
        Kind::Counter,
        "Store operations not committed for lack of space since start (their callers were told).",
        space.state.refused as f64,
    );
    e.single(
        "smsgw_store_wal_truncations_total",
        Kind::Counter,
        "Checkpoints that cut the write-ahead log back to nothing (disk full, or a log grown large).",
        space.state.truncations as f64,
    );
    e.single(
        "smsgw_store_wal_bytes",
        Kind::Gauge,
        "Size of the database's write-ahead log file now.",
        space.wal_bytes as f64,
    );
    e.single(
        "smsgw_parts_sent_total",
        Kind::Counter,
        "Message parts the network accepted (a TP-MR came back).",
        c.sent as f64,
    );
    e.single(
        "smsgw_parts_delivered_total",
        Kind::Counter,
        "Message parts delivered (a final status report said so).",
        c.delivered as f64,
    );
    e.family(
        "smsgw_parts_failed_total",
        Kind::Counter,
        "Message parts in a final failure state, by state.",
    );
    for state in MessageState::ALL.iter().filter(|s| s.is_failure()) {
        let n = c
            .failed_by_state
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map_or(0, |(_, n)| *n);
        e.sample(
            "smsgw_parts_failed_total",
            &[("state", state.as_str())],
            n as f64,
        );
    }
    e.family(
        "smsgw_parts_rejected_total",
        Kind::Counter,
        "Message parts refused at submit (REJECTD), by +CMS ERROR code (0: none given).",
    );
    for (code, n) in &c.rejected_by_code {
        e.sample(
            "smsgw_parts_rejected_total",
            &[("code", &code.to_string())],
            *n as f64,
        );
    }
    e.single(
        "smsgw_collisions_total",
        Kind::Counter,
        "TP-MR collisions: a part sent while another was pending under the same key.",
        c.collisions as f64,
    );
    e.single(
        "smsgw_orphan_reports",
        Kind::Gauge,
        "Status reports waiting for the part they belong to.",
        c.orphans as f64,
    );
    e.single(
        "smsgw_ambiguous_reports",
        Kind::Gauge,
        "Status reports that could belong to several parts.",
        c.ambiguous as f64,
    );
    e.single(
        "smsgw_queue_depth",
        Kind::Gauge,
        "Messages waiting to be sent.",
        c.queue_depth as f64,
    );
    e.single(
        "smsgw_webhook_backlog",
        Kind::Gauge,
        "Webhook notifications not yet acknowledged by the receiver.",
        c.webhooks_pending as f64,
    );
    e.single(
        "smsgw_inbox_messages_total",
        Kind::Counter,
        "Incoming SMS stored.",
        c.inbox as f64,
    );
    e.single(
        "smsgw_incoming_parts_staged",
        Kind::Gauge,
        "Pushed parts of concatenated SMS stored while waiting for the rest.",
        c.staged_parts as f64,
    );

    e.family(
        "smsgw_modem_connected",
        Kind::Gauge,
        "1 when the configured modem's session is up.",
    );
    for m in modems {
        e.sample(
            "smsgw_modem_connected",
            &[("modem", &m.name)],
            flag(m.connected),
        );
    }
    e.family(
        "smsgw_modem_signal_rssi",
        Kind::Gauge,
        "+CSQ rssi of the modem (0-31; absent when unknown).",
    );
    for m in modems {
        let rssi = m.info.as_ref().and_then(|i| i.signal_rssi);
        if let Some(rssi) = rssi.filter(|r| *r != 99) {
            e.sample(
                "smsgw_modem_signal_rssi",
                &[("modem", &m.name)],
                f64::from(rssi),
            );
        }
    }
    e.family(
        "smsgw_modem_registered",
        Kind::Gauge,
        "1 when the modem is registered on its home network or roaming (+CREG 1 or 5).",
    );
    for m in modems {
        let reg = m.info.as_ref().and_then(|i| i.registration);
        e.sample(
            "smsgw_modem_registered",
            &[("modem", &m.name)],
            flag(matches!(reg, Some(1 | 5))),
        );
    }
    let per_modem: [(&str, Kind, &str, ModemValue); 4] = [
        (
            "smsgw_modem_queue_depth",
            Kind::Gauge,
            "Queued messages claimed by or waiting for the modem.",
            |m| m.queued,
        ),
        (
            "smsgw_modem_parts_sent_total",
            Kind::Counter,
            "Parts the modem sent (TP-MR received).",
            |m| m.sent,
        ),
        (
            "smsgw_modem_parts_delivered_total",
            Kind::Counter,
            "Parts sent by the modem and delivered.",
            |m| m.delivered,
        ),
        (
            "smsgw_modem_parts_failed_total",
            Kind::Counter,
            "Parts handled by the modem that failed.",
            |m| m.failed,
        ),
    ];
    for (name, kind, help, value) in per_modem {
        e.family(name, kind, help);
        for m in &c.per_modem {
            e.sample(name, &[("modem", &m.name)], value(m) as f64);
        }
    }
    e.finish()
}

/// What `/metrics` shows of the SMPP server.
#[derive(Debug, Clone, Default)]
pub struct SmppMetrics {
    pub counters: Vec<crate::smpp::gateway::AccountCounters>,
    pub binds: Vec<crate::smpp::gateway::BindView>,
    /// Outbox rows waiting, per account.
    pub waiting: Vec<(String, u64)>,
}

/// The SMPP families, appended to `page` (every configured account gets a
/// sample, zero included).
pub fn render_smpp(m: &SmppMetrics) -> String {
    let mut e = Exposition::default();
    let accounts = || m.counters.iter().map(|c| c.system_id.as_str());
    e.family(
        "smsgw_smpp_binds",
        Kind::Gauge,
        "SMPP binds open now, by account.",
    );
    for a in accounts() {
        let n = m.binds.iter().filter(|b| b.system_id == a).count();
        e.sample("smsgw_smpp_binds", &[("account", a)], n as f64);
    }
    e.family(
        "smsgw_smpp_receipts_waiting",
        Kind::Gauge,
        "SMPP receipts and incoming SMS waiting for a bind to take them, by account.",
    );
    for a in accounts() {
        let n = m
            .waiting
            .iter()
            .find(|(w, _)| w == a)
            .map_or(0, |(_, n)| *n);
        e.sample("smsgw_smpp_receipts_waiting", &[("account", a)], n as f64);
    }
    type Counter = fn(&crate::smpp::gateway::AccountCounters) -> u64;
    let per_account: [(&str, &str, Counter); 3] = [
        (
            "smsgw_smpp_submits_total",
            "submit_sm accepted (stored), by account.",
            |c| c.submits,
        ),
        (
            "smsgw_smpp_throttled_total",
            "submit_sm refused with ESME_RTHROTTLED (over the account's throughput), by account.",
            |c| c.throttled,
        ),
        (
            "smsgw_smpp_expired_total",
            "Receipts and incoming SMS deleted unacknowledged after receipt_retention_h, by account.",
            |c| c.expired,
        ),
    ];
    for (name, help, value) in per_account {
        e.family(name, Kind::Counter, help);
        for c in &m.counters {
            e.sample(name, &[("account", &c.system_id)], value(c) as f64);
        }
    }
    e.finish()
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}
