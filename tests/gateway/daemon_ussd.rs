//! `POST /v1/modems/{name}/ussd` through the real daemon and simulated
//! modems: a balance, a menu walked in two requests, a UCS2 answer, the
//! errors (unknown modem 404, bad code or body 400, no answer in time 504),
//! and SMS still sent by a modem while its USSD answer is awaited.

use crate::common;

use std::time::Duration;

use common::*;

fn ussd(a: &ureq::Agent, port: u16, modem: &str, body: &str) -> (u16, serde_json::Value) {
    let mut r = a
        .post(&format!("http://127.0.0.1:{port}/v1/modems/{modem}/ussd"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (r.status().as_u16(), v)
}

#[test]
fn ussd_through_the_api() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sims = start_sims(&rt, dir.path(), "quectel-ec2x", 2, |i, c| {
        c.report_delay_ms = (20, 50);
        c.ussd_delay_ms = if i == 0 { 200 } else { 600_000 };
        c.seed = 70 + i;
    });
    let port = free_port();
    let db = dir.path().join("smsgw.db");
    let modems: Vec<(&str, &str, &str)> = vec![
        ("sim0", &sims[0].1, "quectel-ec2x"),
        ("slow", &sims[1].1, "quectel-ec2x"),
    ];
    let config = write_config(dir.path(), port, &db, &modems, "");
    let log = dir.path().join("daemon.log");
    let _daemon = spawn_daemon(&config, &log);
    wait_ready_or_show(port, 2, Some(&log));
    let a = agent();

    let (status, v) = ussd(&a, port, "sim0", r#"{"code":"*100#"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["modem"], "sim0");
    assert_eq!(v["status"], 0);
    assert_eq!(v["more_expected"], false);
    assert_eq!(
        v["text"],
        "Your balance is 12.34 EUR, valid until 31.12.2027"
    );

    // A menu: one request per step.
    let (status, v) = ussd(&a, port, "sim0", r#"{"code":"*101#"}"#);
    assert_eq!(
        (status, &v["more_expected"]),
        (200, &serde_json::json!(true)),
        "{v}"
    );
    let (status, v) = ussd(&a, port, "sim0", r#"{"code":"2"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["text"], "No bundle active");

    let (status, v) = ussd(&a, port, "sim0", r#"{"code":"*102#"}"#);
    assert_eq!(
        (status, &v["text"]),
        (200, &serde_json::json!("Баланс: 12,34 ₽"))
    );
    assert_eq!(v["dcs"], 72);

    // Errors name what is wrong.
    let (status, v) = ussd(&a, port, "nope", r#"{"code":"*100#"}"#);
    assert_eq!(
        (status, &v["error"]["field"]),
        (404, &serde_json::json!("name")),
        "{v}"
    );
    let (status, v) = ussd(&a, port, "sim0", r#"{"code":"*1\"0#"}"#);
    assert_eq!(
        (status, &v["error"]["field"]),
        (400, &serde_json::json!("code")),
        "{v}"
    );
    let (status, v) = ussd(&a, port, "sim0", r#"{"code":"*100#","pin":"1"}"#);
    assert_eq!(
        (status, &v["error"]["field"]),
        (400, &serde_json::json!("pin")),
        "{v}"
    );
    let (status, v) = ussd(&a, port, "sim0", r#"{"code":"*100#","timeout_s":0}"#);
    assert_eq!(
        (status, &v["error"]["field"]),
        (400, &serde_json::json!("timeout_s")),
        "{v}"
    );

    // The slow network: the request times out, and the modem sends SMS
    // while the answer is awaited.
    let waiting = std::thread::spawn({
        let a = a.clone();
        move || ussd(&a, port, "slow", r#"{"code":"*100#","timeout_s":15}"#)
    });
    // Let the request reach the modem first.
    assert!(
        rt.block_on(sims[1].0.wait_until(Duration::from_secs(30), |m| {
            m.command_log().any(|c| c.starts_with("AT+CUSD=1"))
        }))
    );
    let body = serde_json::json!({"to": "+393331234567", "text": "during USSD", "report": true, "modem": "slow"});
    let mut r = a
        .post(&format!("http://127.0.0.1:{port}/v1/messages"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    let done = wait_final(&a, port, &[id], Duration::from_secs(60));
    assert_eq!(done[0]["state"], "DELIVRD");
    assert!(!waiting.is_finished(), "the USSD request still waits");
    let (status, v) = waiting.join().unwrap();
    assert_eq!(status, 504, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no network answer in time"),
        "{v}"
    );
}
