//! Issue 13 through the real `smsgw serve` with simulated modems:
//! idempotency keys (repeat, changed body, concurrent, across a restart),
//! bulk submits, cancel, send_at, quiet hours, queue expiry and priority.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// One HTTP call: (status, JSON body or Null).
fn call(
    a: &ureq::Agent,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let url = format!("http://127.0.0.1:{port}{path}");
    let auth = format!("Bearer {TOKEN}");
    let resp = match method {
        "GET" => {
            let mut r = a.get(&url).header("Authorization", &auth);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        "DELETE" => {
            let mut r = a.delete(&url).header("Authorization", &auth);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        _ => {
            let mut r = a
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json");
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(body.unwrap_or(""))
        }
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn post_keyed(a: &ureq::Agent, port: u16, key: &str, body: &str) -> (u16, Value) {
    call(
        a,
        port,
        "POST",
        "/v1/messages",
        &[("Idempotency-Key", key)],
        Some(body),
    )
}

/// A daemon on `n` zero-latency simulated modems, with `extra` config.
struct Rig {
    port: u16,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    daemon: Daemon,
    sims: Vec<(smsgw::sim::SimHandle, String)>,
    _rt: tokio::runtime::Runtime,
}

impl Rig {
    fn start(n: u64, extra: &str, modem_extra: &str) -> Rig {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sims = start_sims(&rt, dir.path(), "huawei-e173", n, |i, c| {
            c.report_delay_ms = (5, 20);
            c.seed = 40 + i;
        });
        let port = free_port();
        let db = dir.path().join("smsgw.db");
        let names: Vec<String> = (0..n).map(|i| format!("sim{i}")).collect();
        let modems: Vec<(&str, &str, &str)> = names
            .iter()
            .zip(&sims)
            .map(|(name, s)| (name.as_str(), s.1.as_str(), "huawei-e173"))
            .collect();
        let config = write_config(dir.path(), port, &db, &modems, extra);
        if !modem_extra.is_empty() {
            // Appended to every [[modem]] table.
            let text = std::fs::read_to_string(&config).unwrap();
            let text = text.replace(
                "profile = \"huawei-e173\"\n",
                &format!("profile = \"huawei-e173\"\n{modem_extra}\n"),
            );
            std::fs::write(&config, text).unwrap();
        }
        let log = dir.path().join("daemon1.log");
        let daemon = spawn_daemon(&config, &log);
        wait_ready_or_show(port, n as usize, Some(&log));
        Rig {
            port,
            dir,
            config,
            daemon,
            sims,
            _rt: rt,
        }
    }

    fn restart(&mut self) {
        self.daemon.kill().unwrap();
        self.daemon.wait().unwrap();
        let log = self.dir.path().join("daemon2.log");
        self.daemon = spawn_daemon(&self.config, &log);
        wait_ready_or_show(self.port, self.sims.len(), Some(&log));
    }

    /// Every submit the simulators saw, to `to`.
    fn submits_to(&self, to: &str) -> Vec<smsgw::sim::SubmitRecord> {
        let digits = to.trim_start_matches('+');
        self.sims
            .iter()
            .flat_map(|(h, _)| h.submits())
            .filter(|s| s.recipient.trim_start_matches('+') == digits)
            .collect()
    }

    fn message(&self, a: &ureq::Agent, id: &str) -> Value {
        get_json(a, self.port, &format!("/v1/messages/{id}"))
    }
}

/// Wait until message `id` reaches a final state; returns it.
fn wait_state(a: &ureq::Agent, port: u16, id: &str, timeout: Duration) -> Value {
    wait_final(a, port, &[id.to_string()], timeout)
        .pop()
        .unwrap()
}

#[test]
fn idempotency_keys_repeat_conflict_race_and_survive_a_restart() {
    let mut rig = Rig::start(1, "", "");
    let a = agent();
    let port = rig.port;
    let body = r#"{"to": "+393331110001", "text": "once only", "priority": "high"}"#;
    let (s1, v1) = post_keyed(&a, port, "order-1", body);
    assert_eq!(s1, 202, "{v1}");
    let id = v1["id"].as_str().unwrap().to_string();
    // The same request, keys in another order and other spacing: 200, same id.
    let same = r#"{ "priority":"high", "text":"once only","to":"+393331110001" }"#;
    let (s2, v2) = post_keyed(&a, port, "order-1", same);
    assert_eq!((s2, v2["id"].as_str()), (200, Some(id.as_str())), "{v2}");
    assert_eq!(v2["parts"], 1);
    // Another body with a used key: 409 naming the header.
    let (s3, v3) = post_keyed(
        &a,
        port,
        "order-1",
        r#"{"to": "+393331110001", "text": "twice?"}"#,
    );
    assert_eq!(s3, 409, "{v3}");
    assert_eq!(v3["error"]["field"], "Idempotency-Key");
    // A key that is no key.
    let (s4, v4) = post_keyed(&a, port, "with space", body);
    assert_eq!(
        (s4, v4["error"]["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );

    // Eight clients race with one key: one 202, seven 200, one message.
    let race = r#"{"to": "+393331110002", "text": "raced"}"#;
    let answers: Vec<(u16, Value)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(move || post_keyed(&agent(), port, "race-1", race)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = answers.iter().filter(|(s, _)| *s == 202).count();
    let repeated = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, repeated), (1, 7), "{answers:?}");
    let race_id = answers[0].1["id"].as_str().unwrap().to_string();
    assert!(answers.iter().all(|(_, v)| v["id"] == race_id.as_str()));

    // Bulk calls take keys too; a key is bound to its endpoint.
    let bulk = json!({"messages": [
        {"to": "+393331110003", "text": "b1"},
        {"to": "+393331110004", "text": "b2"}
    ]})
    .to_string();
    let (sb, vb) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[("Idempotency-Key", "bulk-1")],
        Some(&bulk),
    );
    assert_eq!(sb, 202, "{vb}");
    let (sb2, vb2) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[("Idempotency-Key", "bulk-1")],
        Some(&bulk),
    );
    assert_eq!((sb2, &vb2["ids"]), (200, &vb["ids"]));
    let (sb3, _) = post_keyed(
        &a,
        port,
        "bulk-1",
        r#"{"to": "+393331110003", "text": "b1"}"#,
    );
    assert_eq!(sb3, 409);

    // The keys are on disk with their messages: after a SIGKILL and a
    // restart the repeat still answers the original message.
    wait_state(&a, port, &id, Duration::from_secs(60));
    rig.restart();
    let (s5, v5) = post_keyed(&a, port, "order-1", body);
    assert_eq!((s5, v5["id"].as_str()), (200, Some(id.as_str())), "{v5}");
    let (s6, v6) = post_keyed(&a, port, "race-1", race);
    assert_eq!((s6, v6["id"].as_str()), (200, Some(race_id.as_str())));
    wait_state(&a, port, &race_id, Duration::from_secs(60));
    // Each recipient got exactly one SMS.
    for to in ["+393331110001", "+393331110002"] {
        assert_eq!(rig.submits_to(to).len(), 1, "{to}");
    }
    let list = get_json(&a, port, "/v1/messages?to=%2B393331110002");
    assert_eq!(list["messages"].as_array().unwrap().len(), 1, "{list}");
    let m = rig.message(&a, &id);
    assert_eq!(m["state"], "DELIVRD", "{m}");
}

#[test]
fn bulk_of_ten_thousand_in_one_call_and_bad_items_named() {
    let rig = Rig::start(1, "", "");
    let a = agent();
    let port = rig.port;
    // Two bad items among good ones: 400 naming each, nothing stored.
    let mut items: Vec<Value> = (0..50)
        .map(|i| json!({"to": format!("+39334{i:07}"), "text": format!("item {i}")}))
        .collect();
    items[17]["to"] = json!("+39abc");
    items[42]["priority"] = json!("urgent");
    items[43]["ttl"] = json!(-5);
    let (s, v) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[],
        Some(&json!({ "messages": items }).to_string()),
    );
    assert_eq!(s, 400, "{v}");
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "messages[17].to",
            "messages[42].priority",
            "messages[43].ttl"
        ],
        "{v}"
    );
    assert_eq!(v["error"]["field"], "messages[17].to");
    let none = get_json(&a, port, "/v1/messages?limit=10");
    assert_eq!(none["messages"].as_array().unwrap().len(), 0, "{none}");
    // Over the limit, and empty.
    let too_many: Vec<Value> = (0..10_001)
        .map(|_| json!({"to": "+393340000000", "text": "x"}))
        .collect();
    let (s, v) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[],
        Some(&json!({ "messages": too_many }).to_string()),
    );
    assert_eq!((s, v["error"]["field"].as_str()), (400, Some("messages")));
    let (s, _) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[],
        Some(r#"{"messages": []}"#),
    );
    assert_eq!(s, 400);

    // 10,000 personalised texts: one call, ids in order.
    let items: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"to": format!("+39335{i:07}"), "text": format!("Hello customer {i}"),
                   "priority": "bulk"})
        })
        .collect();
    let started = Instant::now();
    let (s, v) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[],
        Some(&json!({ "messages": items }).to_string()),
    );
    let took = started.elapsed();
    assert_eq!(s, 202, "{v}");
    let ids: Vec<i64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 10_000);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in request order");
    eprintln!("10,000-item bulk answered in {took:?}");
    // Each is the message it was given (first, middle, last).
    for i in [0usize, 4_999, 9_999] {
        let m = rig.message(&a, &ids[i].to_string());
        assert_eq!(m["text"], format!("Hello customer {i}"));
        assert_eq!(m["to"], format!("+39335{i:07}"));
    }
}

/// The quiet window as configured: from two hours ago to two hours ahead
/// (UTC), so that the test runs inside it whatever the time of day.
fn quiet_around_now() -> String {
    let now = smsgw::store::unix_now();
    let hhmm = |t: i64| {
        let m = t.rem_euclid(86_400) / 60;
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    format!(
        "[gateway]\nquiet_hours = {{ from = \"{}\", to = \"{}\", tz = \"UTC\" }}\n",
        hhmm(now - 7_200),
        hhmm(now + 7_200)
    )
}

#[test]
fn quiet_hours_send_at_queue_expiry_and_cancel() {
    let rig = Rig::start(1, &quiet_around_now(), "");
    let a = agent();
    let port = rig.port;
    let post = |body: Value| -> String {
        let (s, v) = call(
            &a,
            port,
            "POST",
            "/v1/messages",
            &[],
            Some(&body.to_string()),
        );
        assert_eq!(s, 202, "{body}: {v}");
        v["id"].as_str().unwrap().to_string()
    };
    // Held by the quiet hours, and expiring from the queue in 2 s.
    let expiring = post(json!({"to": "+393336660001", "text": "held, then expired", "ttl": 2}));
    // Held by the quiet hours, cancelled below.
    let held = post(json!({"to": "+393336660002", "text": "held"}));
    // Urgent ones go out during quiet hours.
    let high = post(json!({"to": "+393336660003", "text": "code 1234", "priority": "high"}));
    let allowed =
        post(json!({"to": "+393336660004", "text": "allowed", "ignore_quiet_hours": true}));
    // Scheduled 3 s ahead (and allowed in quiet hours).
    let send_at = smsgw::store::unix_now() + 3;
    let at_text = jiff::Timestamp::from_second(send_at).unwrap().to_string();
    let scheduled = post(
        json!({"to": "+393336660005", "text": "later", "send_at": at_text,
                                "ignore_quiet_hours": true}),
    );
    for id in [&high, &allowed, &scheduled] {
        let m = wait_state(&a, port, id, Duration::from_secs(60));
        assert_eq!(m["state"], "DELIVRD", "{m}");
    }
    let m = rig.message(&a, &scheduled);
    let sent_at: jiff::Timestamp = m["parts"][0]["submitted_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        sent_at.as_second() >= send_at,
        "sent at {sent_at}, scheduled for {at_text}"
    );
    // The queue expiry ends the held one EXPIRED (housekeeping runs every
    // 10 s), never sent.
    let m = wait_state(&a, port, &expiring, Duration::from_secs(60));
    assert_eq!(m["state"], "EXPIRED", "{m}");
    assert!(
        m["events"].to_string().contains("expires_at"),
        "the event says why: {m}"
    );
    assert!(rig.submits_to("+393336660001").is_empty());
    // The other held one is still queued, never sent: cancel it.
    let m = rig.message(&a, &held);
    assert_eq!(m["state"], "ACCEPTED", "{m}");
    assert!(rig.submits_to("+393336660002").is_empty());
    let (s, v) = call(
        &a,
        port,
        "DELETE",
        &format!("/v1/messages/{held}"),
        &[],
        None,
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("DELETED")), "{v}");
    assert_eq!(v["parts"][0]["state"], "DELETED");
    // Cancelling it again, or one the modem took: 409 with the reason.
    let (s, v) = call(
        &a,
        port,
        "DELETE",
        &format!("/v1/messages/{held}"),
        &[],
        None,
    );
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("DELETED"),
        "{v}"
    );
    let (s, v) = call(
        &a,
        port,
        "DELETE",
        &format!("/v1/messages/{high}"),
        &[],
        None,
    );
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("DELIVRD"),
        "{v}"
    );
    let (s, _) = call(&a, port, "DELETE", "/v1/messages/999999", &[], None);
    assert_eq!(s, 404);
    // Bad times are named.
    for (body, field) in [
        (
            json!({"to": "+393336660009", "text": "x", "send_at": "tomorrow"}),
            "send_at",
        ),
        (
            json!({"to": "+393336660009", "text": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"to": "+393336660009", "text": "x", "ttl": 5, "expires_at": "2999-01-01T00:00:00Z"}),
            "ttl",
        ),
        (
            json!({"to": "+393336660009", "text": "x", "ttl": 5,
                "send_at": "2999-01-01T00:00:00Z"}),
            "send_at",
        ),
    ] {
        let (s, v) = call(
            &a,
            port,
            "POST",
            "/v1/messages",
            &[],
            Some(&body.to_string()),
        );
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}: {v}"
        );
    }
}

#[test]
fn cancel_is_refused_once_a_part_is_in_a_modem() {
    // A slow modem (2 s per AT+CMGS): the message is in flight when the
    // DELETE comes.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sims = start_sims(&rt, dir.path(), "huawei-e173", 1, |_, c| {
        c.latency_ms = 2_000;
        c.report_delay_ms = (5, 20);
    });
    let port = free_port();
    let db = dir.path().join("smsgw.db");
    let config = write_config(
        dir.path(),
        port,
        &db,
        &[("sim0", &sims[0].1, "huawei-e173")],
        "",
    );
    let log = dir.path().join("daemon.log");
    let _daemon = spawn_daemon(&config, &log);
    wait_ready_or_show(port, 1, Some(&log));
    let a = agent();
    let id = post(&a, port, "+393337770001", "in flight").unwrap();
    // Wait until its part is marked in the modem (the daemon commits that
    // before AT+CMGS is written), then cancel.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = get_json(&a, port, &format!("/v1/messages/{id}"));
        if m["parts"][0]["modem"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "never taken by the modem: {m}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (s, v) = call(&a, port, "DELETE", &format!("/v1/messages/{id}"), &[], None);
    assert_eq!(s, 409, "{v}");
    let why = v["error"]["message"].as_str().unwrap();
    assert!(why.contains("part 1") && why.contains("sim0"), "{why}");
    let m = wait_state(&a, port, &id, Duration::from_secs(60));
    assert_eq!(m["state"], "DELIVRD", "{m}");
}

#[test]
fn a_high_message_overtakes_a_queued_bulk_campaign() {
    // One modem sending 20 a second: the campaign of 2,000 takes 100 s.
    let rig = Rig::start(1, "", "rate_per_minute = 1200");
    let a = agent();
    let port = rig.port;
    let items: Vec<Value> = (0..2_000)
        .map(|i| {
            json!({"to": format!("+39336{i:07}"), "text": format!("campaign {i}"),
                        "priority": "bulk"})
        })
        .collect();
    let (s, v) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[],
        Some(&json!({ "messages": items }).to_string()),
    );
    assert_eq!(s, 202, "{v}");
    // A normal one, then a high one, once the campaign is under way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.sims[0].0.submits().len() < 5 {
        assert!(Instant::now() < deadline, "the campaign never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A normal one and a high one, in one call (the normal one first).
    let (s, v) = call(
        &a,
        port,
        "POST",
        "/v1/messages/bulk",
        &[],
        Some(
            r#"{"messages": [{"to": "+393338880001", "text": "normal"},
            {"to": "+393338880002", "text": "one-time code 4711", "priority": "high"}]}"#,
        ),
    );
    assert_eq!(s, 202, "{v}");
    let normal = v["ids"][0].as_str().unwrap().to_string();
    let high = v["ids"][1].as_str().unwrap().to_string();
    for id in [&high, &normal] {
        let m = wait_state(&a, port, id, Duration::from_secs(60));
        assert_eq!(m["state"], "DELIVRD", "{m}");
    }
    let log = rig.sims[0].0.submits();
    let seq_of = |to: &str| {
        log.iter()
            .position(|s| s.recipient.ends_with(&to[3..]))
            .unwrap_or_else(|| panic!("{to} never sent"))
    };
    let (h, n) = (seq_of("+393338880002"), seq_of("+393338880001"));
    // Both went before the rest of the campaign, the high one first.
    assert!(h < n, "high sent {h}th, normal {n}th");
    assert!(
        n < 100,
        "the normal one waited behind {n} campaign messages"
    );
    assert!(
        log.len() < 1_000,
        "the campaign was done before: {}",
        log.len()
    );
}
