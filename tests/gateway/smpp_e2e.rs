//! Issue 11's end-to-end tests: the real `smsgw serve` (a child process)
//! with simulated modems (delivered, expired, failed, temporary then
//! delivered), driven by a client that is not ours: Python's `smpplib` from
//! PyPI (tests/interop/smpp_client.py, run through `smpp_py`). The interpreter comes from
//! SMSGW_TEST_PYTHON or .ci/run's virtualenv (target/venv-tests); without
//! either the tests fail under CI=1 and are skipped, saying so, elsewhere.
//!
//! - 500 messages (short, long, UCS2) with receipts: every receipt exactly
//!   once, with the right id, sub, dlvrd, stat, err and TLVs; the client
//!   unbinds half-way and binds again later, and the rest arrive; an
//!   incoming SMS reaches the receive_mo account.
//! - SIGKILL of the daemon mid-run and a restart: no accepted message
//!   without its receipt, no receipt doubled beyond the deliver_sm that were
//!   in flight when it died.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::smpp_py::{count, python, PyClient};
use common::*;
use serde_json::{json, Value};

const ACCOUNT: &str = "app1";
const PASSWORD: &str = "secret1";
/// The driver's window of submits awaiting their response: also the most
/// deliver_sm that can be in flight when the daemon dies.
const WINDOW: usize = 32;

/// One message of the run.
#[derive(Debug, Clone)]
struct Msg {
    to: String,
    text: String,
    ucs2: bool,
}

fn messages(n: usize) -> Vec<Msg> {
    (0..n)
        .map(|i| {
            // A distinct recipient per message: the simulators' logs say
            // what became of each.
            let to = format!("+39333{i:07}");
            let (text, ucs2) = match i % 10 {
                // Long GSM text (2 parts), sent as message_payload.
                0 => (format!("{i:04} {}", "long gsm text ".repeat(15)), false),
                // UCS2.
                3 => (format!("Привет, мир {i}"), true),
                // Long UCS2 (2 parts).
                7 => (format!("{i:04} {}", "Ωμέγα ".repeat(18)), true),
                _ => (format!("message {i} from smpplib"), false),
            };
            Msg { to, text, ucs2 }
        })
        .collect()
}

fn smpp_config(port: u16) -> String {
    format!(
        "[smpp]\nlisten = \"127.0.0.1:{port}\"\nwindow = 64\nenquire_link_s = 30\n\n\
         [[smpp.account]]\nsystem_id = \"{ACCOUNT}\"\npassword = \"{PASSWORD}\"\n\
         receive_mo = true\n"
    )
}

/// Wait until the SMPP port takes connections.
fn wait_smpp(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            panic!(
                "SMPP port never opened; daemon log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fields of a receipt's text, read the way a `sscanf` reader does:
/// `id:%s sub:%d dlvrd:%d submit date:%10s done date:%10s stat:%7s err:%3s`.
#[derive(Debug)]
struct ReceiptText {
    id: String,
    sub: u32,
    dlvrd: u32,
    submit: String,
    done: String,
    stat: String,
    err: String,
    text: String,
}

fn scan(text: &str) -> ReceiptText {
    let mut rest = text;
    let mut field = |key: &str, until: Option<&str>| -> String {
        rest = rest
            .strip_prefix(key)
            .unwrap_or_else(|| panic!("{key:?} missing in {text:?}"));
        let end = match until {
            Some(u) => rest
                .find(u)
                .unwrap_or_else(|| panic!("{u:?} missing in {text:?}")),
            None => rest.len(),
        };
        let v = rest[..end].to_string();
        rest = &rest[end..];
        v
    };
    let id = field("id:", Some(" sub:"));
    let sub = field(" sub:", Some(" dlvrd:"));
    let dlvrd = field(" dlvrd:", Some(" submit date:"));
    let submit = field(" submit date:", Some(" done date:"));
    let done = field(" done date:", Some(" stat:"));
    let stat = field(" stat:", Some(" err:"));
    let err = field(" err:", Some(" text:"));
    let body = field(" text:", None);
    let r = ReceiptText {
        id,
        sub: sub.parse().unwrap_or_else(|_| panic!("sub {sub:?}")),
        dlvrd: dlvrd.parse().unwrap_or_else(|_| panic!("dlvrd {dlvrd:?}")),
        submit,
        done,
        stat,
        err,
        text: body,
    };
    assert!(!r.id.is_empty() && !r.id.contains(' '), "{text:?}");
    for d in [&r.submit, &r.done] {
        assert!(
            d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()),
            "{text:?}"
        );
    }
    assert_eq!(r.stat.len(), 7, "{text:?}");
    assert!(
        r.err.len() == 3 && r.err.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    r
}

fn smpp_state(stat: &str) -> u64 {
    match stat {
        "ENROUTE" => 1,
        "DELIVRD" => 2,
        "EXPIRED" => 3,
        "DELETED" => 4,
        "UNDELIV" => 5,
        "ACCEPTD" => 6,
        "UNKNOWN" => 7,
        "REJECTD" => 8,
        other => panic!("stat {other:?}"),
    }
}

/// What the simulated network did with the parts to `to`: final TP-ST of
/// each part.
fn finals(sims: &[(smsgw::sim::SimHandle, String)]) -> HashMap<String, Vec<u8>> {
    let mut by: HashMap<String, Vec<u8>> = HashMap::new();
    for (h, _) in sims {
        for s in h.submits() {
            let last = s.statuses.last().copied().unwrap_or(0xFF);
            by.entry(s.recipient.trim_start_matches('+').to_string())
                .or_default()
                .push(last);
        }
    }
    by
}

/// Check one receipt against the message it is for and what the network
/// did with its parts; returns its stat. `unknown_ok`: the message may
/// have a part of unknown outcome (the daemon died while it was in flight).
fn check_receipt(r: &Value, msg: &Msg, finals: &[u8], unknown_ok: bool) -> String {
    let text = r["text"].as_str().unwrap();
    let t = scan(text);
    let tlv = &r["tlv"];
    assert_eq!(
        tlv["receipted_message_id"].as_str(),
        Some(t.id.as_str()),
        "{r}"
    );
    assert_eq!(
        tlv["message_state"].as_u64(),
        Some(smpp_state(&t.stat)),
        "{r}"
    );
    assert_eq!(r["esm"].as_u64().map(|e| e & 0x3C), Some(0x04), "{r}");
    // Source and destination swapped: from the recipient, to the client.
    let number = msg.to.trim_start_matches('+');
    assert_eq!(r["src"][2].as_str(), Some(number), "{r}");
    assert_eq!(r["dst"][2].as_str(), Some("ACME"), "{r}");
    let parts = if msg.text.len() > 160 || (msg.ucs2 && msg.text.chars().count() > 70) {
        2
    } else {
        1
    };
    assert_eq!(t.sub, parts, "sub: {r}");
    let delivered = finals.iter().filter(|s| **s == 0).count() as u32;
    let head: String = msg.text.chars().take(20).collect();
    if !msg.ucs2 {
        assert_eq!(t.text, head, "{r}");
    }
    let err: u16 = t.err.parse().unwrap();
    match t.stat.as_str() {
        "DELIVRD" => {
            assert_eq!(finals.len() as u32, parts, "{r}: {finals:?}");
            assert!(finals.iter().all(|s| *s == 0), "{r}: {finals:?}");
            assert_eq!((t.dlvrd, err), (parts, 0), "{r}");
        }
        "UNKNOWN" => {
            assert!(unknown_ok, "UNKNOWN without a crash: {r}");
            assert_eq!(err, 0, "{r}");
        }
        stat => {
            // The deciding part's TP-ST, one of the failures the network gave.
            let want = match stat {
                "EXPIRED" => 0x46,
                "UNDELIV" => 0x41,
                other => panic!("unexpected stat {other}: {r}"),
            };
            assert!(finals.contains(&want), "{r}: {finals:?}");
            assert_eq!(err, u16::from(want), "{r}");
            assert!(t.dlvrd <= delivered, "{r}: {finals:?}");
        }
    }
    match tlv["network_error_code"].as_str() {
        None => assert_eq!(err, 0, "err without network_error_code: {r}"),
        Some(h) => assert_eq!(h, format!("03{err:04x}"), "{r}"),
    }
    t.stat
}

fn sims_for(rt: &tokio::runtime::Runtime, dir: &Path) -> Vec<(smsgw::sim::SimHandle, String)> {
    // Stored reports (+CDSI): what arrives while the daemon is dead waits
    // in the modem.
    start_sims(rt, dir, "huawei-e173", 2, |i, c| {
        c.report_delay_ms = (50, 400);
        c.temporary_followup_ms = 300;
        c.outcomes = smsgw::sim::OutcomeMix {
            delivered: 85,
            expired: 5,
            permanent: 5,
            temporary: 5,
        };
        c.seed = 41 + i;
    })
}

/// The plan entries of the messages (sent from "ACME").
fn plan_messages(msgs: &[Msg]) -> Value {
    msgs.iter()
        .map(|m| {
            let encoding = if m.ucs2 { "ucs2" } else { "default" };
            json!({"to": m.to, "text": m.text, "encoding": encoding, "from": "ACME"})
        })
        .collect()
}

/// A daemon with two simulated modems and the SMPP account, ready.
struct Rig {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    sims: Vec<(smsgw::sim::SimHandle, String)>,
    port: u16,
    smpp_port: u16,
    config: std::path::PathBuf,
}

impl Rig {
    fn new() -> (Rig, Daemon) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sims = sims_for(&rt, dir.path());
        let (port, smpp_port) = (free_port(), free_port());
        let db = dir.path().join("smsgw.db");
        let modems: Vec<(&str, &str, &str)> = vec![
            ("sim0", &sims[0].1, "huawei-e173"),
            ("sim1", &sims[1].1, "huawei-e173"),
        ];
        let config = write_config(dir.path(), port, &db, &modems, &smpp_config(smpp_port));
        let rig = Rig {
            _rt: rt,
            dir,
            sims,
            port,
            smpp_port,
            config,
        };
        let daemon = rig.daemon("daemon1.log");
        (rig, daemon)
    }

    /// Start `smsgw serve` (logging to `log` in the test's directory) and
    /// wait until its HTTP and SMPP ports answer.
    fn daemon(&self, log: &str) -> Daemon {
        let log = self.dir.path().join(log);
        let d = spawn_daemon(&self.config, &log);
        wait_ready_or_show(self.port, 2, Some(&log));
        wait_smpp(self.smpp_port, &log);
        d
    }

    fn client(&self, py: &str, plan: Value) -> PyClient {
        let mut plan = plan;
        plan["window"] = json!(WINDOW);
        PyClient::start(py, self.smpp_port, ACCOUNT, PASSWORD, &plan)
    }
}

/// The receipts of some runs, with their receipted_message_id.
fn receipts<'a>(runs: &[&'a [Value]]) -> Vec<(String, &'a Value)> {
    runs.iter()
        .flat_map(|r| r.iter())
        .filter(|e| e["ev"] == "receipt")
        .map(|r| {
            let id = r["tlv"]["receipted_message_id"].as_str();
            (
                id.unwrap_or_else(|| panic!("no TLV id: {r}")).to_string(),
                r,
            )
        })
        .collect()
}

/// The accepted submits: message index -> id.
fn accepted(events: &[Value]) -> HashMap<usize, String> {
    events
        .iter()
        .filter(|e| e["ev"] == "resp")
        .filter_map(|e| {
            assert_eq!(e["status"], 0, "submit refused: {e}");
            Some((e["i"].as_u64()? as usize, e["id"].as_str()?.to_string()))
        })
        .collect()
}

#[test]
fn five_hundred_receipts_exactly_once_across_an_unbind_with_mo() {
    let Some(py) = python() else { return };
    let (rig, _daemon) = Rig::new();
    let total = 500;
    let msgs = messages(total);
    // First session: submit everything, take about half of the receipts,
    // unbind.
    let plan = json!({"messages": plan_messages(&msgs), "until": 250, "idle_s": 20,
                      "max_time_s": 120});
    let first = rig.client(&py, plan).finish(Duration::from_secs(180));
    let ids = accepted(&first);
    assert_eq!(ids.len(), total, "every submit answered 0");
    let early = count(&first, "receipt");
    assert!(early >= 250, "{early}");
    // While no bind is open: an incoming SMS, and receipts pile up.
    let sims = &rig.sims;
    let pdus = smsgw::sim::codec::deliver_parts(
        &sims[0].0.model().config().smsc.clone(),
        "+393471112233",
        "Reply from a phone",
        1_795_860_000,
        4,
        9,
    )
    .unwrap();
    sims[0].0.inject_incoming(pdus);
    std::thread::sleep(Duration::from_secs(2));
    // Second session: the rest, and the SMS.
    let plan = json!({"until": total - early + 1, "idle_s": 20, "max_time_s": 120});
    let second = rig.client(&py, plan).finish(Duration::from_secs(180));

    let finals = finals(sims);
    let by_id: HashMap<&str, usize> = ids.iter().map(|(i, id)| (id.as_str(), *i)).collect();
    let mut got: HashMap<String, usize> = HashMap::new();
    let mut stats: HashMap<String, usize> = HashMap::new();
    for (id, r) in receipts(&[&first, &second]) {
        let i = *by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("receipt for no submit: {r}"));
        let number = msgs[i].to.trim_start_matches('+');
        let f = finals.get(number).cloned().unwrap_or_default();
        let stat = check_receipt(r, &msgs[i], &f, false);
        *stats.entry(stat).or_default() += 1;
        *got.entry(id).or_default() += 1;
    }
    let doubled: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    let sessions = |id: &str| -> Vec<usize> {
        [&first, &second]
            .iter()
            .enumerate()
            .flat_map(|(k, evs)| {
                evs.iter()
                    .filter(|e| e["ev"] == "receipt" && e["tlv"]["receipted_message_id"] == id)
                    .map(move |_| k + 1)
            })
            .collect()
    };
    assert!(
        doubled.is_empty(),
        "receipts doubled (id, times, sessions): {:?}",
        doubled
            .iter()
            .map(|(id, n)| (id.as_str(), **n, sessions(id)))
            .collect::<Vec<_>>()
    );
    let missing: Vec<_> = ids.values().filter(|id| !got.contains_key(*id)).collect();
    assert!(missing.is_empty(), "receipts missing: {missing:?}");
    // The mix reached the client (seeded: each outcome occurs).
    for s in ["DELIVRD", "EXPIRED", "UNDELIV"] {
        assert!(stats.get(s).copied().unwrap_or(0) > 0, "no {s}: {stats:?}");
    }
    // The SMS, once, to the receive_mo account.
    let mo: Vec<&Value> = first
        .iter()
        .chain(&second)
        .filter(|e| e["ev"] == "mo")
        .collect();
    assert_eq!(mo.len(), 1, "{mo:?}");
    let data = smsgw::pdu::hex::decode(mo[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&data),
        "Reply from a phone",
        "{}",
        mo[0]
    );
    assert_eq!(
        mo[0]["src"][2].as_str().map(|s| s.trim_start_matches('+')),
        Some("393471112233")
    );
    // Nothing left waiting.
    let a = agent();
    let binds = get_json(&a, rig.port, "/v1/smpp/binds");
    assert_eq!(binds["accounts"][0]["receipts_waiting"], 0, "{binds}");
    assert_eq!(binds["accounts"][0]["submits"], total as u64, "{binds}");
}

#[test]
fn sigkill_mid_run_loses_no_receipt_and_doubles_none_beyond_the_window() {
    let Some(py) = python() else { return };
    let (rig, mut daemon) = Rig::new();
    let total = 1000;
    let msgs = messages(total);
    let mut a = rig.client(
        &py,
        json!({"messages": plan_messages(&msgs), "max_time_s": 120}),
    );
    // Kill it with submits and receipts both under way.
    a.until(Duration::from_secs(120), |ev| {
        count(ev, "receipt") >= 60 && count(ev, "resp") >= 200
    });
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let first = a.finish(Duration::from_secs(60));
    assert_eq!(
        count(&first, "closed"),
        1,
        "the session ended with the daemon"
    );
    let ids = accepted(&first);

    let _daemon = rig.daemon("daemon2.log");
    let first_ids: HashSet<String> = receipts(&[&first]).into_iter().map(|(id, _)| id).collect();
    let want: Vec<&String> = ids.values().filter(|id| !first_ids.contains(*id)).collect();
    let plan = json!({"wait_ids": want, "idle_s": 30, "max_time_s": 150});
    let second = rig.client(&py, plan).finish(Duration::from_secs(200));

    let finals = finals(&rig.sims);
    let by_id: HashMap<&str, usize> = ids.iter().map(|(i, id)| (id.as_str(), *i)).collect();
    let mut got: HashMap<String, usize> = HashMap::new();
    let mut strangers = 0;
    let mut unknown = 0;
    for (id, r) in receipts(&[&first, &second]) {
        match by_id.get(id.as_str()) {
            Some(&i) => {
                let number = msgs[i].to.trim_start_matches('+');
                let f = finals.get(number).cloned().unwrap_or_default();
                if check_receipt(r, &msgs[i], &f, true) == "UNKNOWN" {
                    unknown += 1;
                }
            }
            // Stored, but the answer never reached the client: at most the
            // submits in flight when the daemon died.
            None => strangers += 1,
        }
        *got.entry(id).or_default() += 1;
    }
    assert!(
        strangers <= WINDOW,
        "{strangers} receipts for unanswered submits"
    );
    // Parts in flight at the kill become UNKNOWN (never resent): a few.
    assert!(unknown <= 8, "{unknown} UNKNOWN receipts");
    let missing: Vec<_> = ids.values().filter(|id| !got.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "accepted but no receipt: {missing:?}; second session: {:?}",
        second
            .iter()
            .map(|e| e["ev"].as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
    );
    // A receipt may come again only if its deliver_sm was answered but the
    // daemon died before storing the answer: those of the killed session,
    // at most its window.
    let doubled: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.iter().all(|(_, n)| **n == 2), "{doubled:?}");
    assert!(
        doubled.iter().all(|(id, _)| first_ids.contains(*id)),
        "doubled after the restart: {doubled:?}"
    );
    assert!(doubled.len() <= 64, "{} doubled", doubled.len());
    eprintln!(
        "accepted {} of {total}; receipts before the kill {}, after {}; doubled {}; \
         for unanswered submits {strangers}; UNKNOWN {unknown}",
        ids.len(),
        count(&first, "receipt"),
        count(&second, "receipt"),
        doubled.len()
    );
}
