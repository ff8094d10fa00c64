//! The HTTP API on a real socket (127.0.0.1, port 0) driven by a real HTTP
//! client (ureq): submit, query, list, auth, bad input, limits, health.

use std::thread::JoinHandle;

use serde_json::{json, Value};
use smsgw::api::serve_on;
use smsgw::config::HttpConfig;
use smsgw::gateway::{Gateway, GatewaySettings};
use smsgw::router::{PartId, RouterConfig};
use smsgw::store::{unix_now, IncomingReport, MessageId, Store};
use tokio::sync::watch;

const TOKEN: &str = "test-token-0123456789";
const MAX_BODY: usize = 64 * 1024;
/// The real +CDS of external-cds.jsonl (MR 64, TP-ST 0x00).
const CDS_HEX: &str = "079119890400202306400C91197909913764511090718384225110907183252200";

struct Server {
    base: String,
    gw: Gateway,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("api.db"), RouterConfig::default()).unwrap();
        let gw = Gateway::new(
            store,
            GatewaySettings::default(),
            &[
                ("m1".into(), "/dev/smsgw/m1".into()),
                ("m\"2".into(), "/dev/smsgw/m2".into()),
            ],
        );
        let http = HttpConfig {
            listen: "127.0.0.1:0".into(),
            tokens: vec!["another-token".into(), TOKEN.into()],
            max_body_bytes: MAX_BODY,
            ..HttpConfig::default()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let gw2 = gw.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                serve_on(listener, gw2, &http, rx).await
            })
        });
        Server {
            base,
            gw,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Resp {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let resp = match (method, body) {
            ("GET", _) => {
                let mut r = agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, b) => {
                let mut r = agent.post(&url).header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send(b.unwrap_or(""))
            }
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let www = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap();
        Resp {
            status,
            text,
            www,
            ctype,
        }
    }

    fn get(&self, path: &str) -> Resp {
        self.call("GET", path, Some(TOKEN), None)
    }

    fn post(&self, body: &str) -> Resp {
        self.call("POST", "/v1/messages", Some(TOKEN), Some(body))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    text: String,
    www: Option<String>,
    ctype: Option<String>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// The field an error answer names.
    fn field(&self) -> String {
        let v = self.json();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        v["error"]["field"].as_str().unwrap_or("").to_string()
    }
}

fn report(gw: &Gateway, to: &str, mr: u8, scts: i64, status: u8) -> IncomingReport {
    IncomingReport {
        modem: gw.store().modem("m1").unwrap(),
        recipient: to.into(),
        mr,
        scts,
        discharge: Some(scts + 4),
        status,
        pdu_hex: CDS_HEX.into(),
        received_at: scts + 6,
    }
}

/// Record a status report on m1 (the store lock taken after the report is built).
fn deliver(gw: &Gateway, to: &str, mr: u8, scts: i64, status: u8) {
    let r = report(gw, to, mr, scts, status);
    gw.store().record_report(&r).unwrap();
}

/// Mark every part of message `id` sent on m1 from TP-MR `mr` on.
fn send_all(gw: &Gateway, id: &str, mr: u8, at: i64) -> Vec<PartId> {
    let mut s = gw.store();
    let m1 = s.modem("m1").unwrap();
    let parts: Vec<PartId> = s
        .message(MessageId(id.parse().unwrap()))
        .unwrap()
        .parts
        .iter()
        .map(|p| PartId(p.id))
        .collect();
    for (i, p) in parts.iter().enumerate() {
        s.mark_sent(*p, m1, mr + i as u8, at, 86_400).unwrap();
    }
    parts
}

#[test]
fn submit_then_follow_the_message_to_delivered() {
    let srv = Server::start();
    let r = srv.post(r#"{"to": "+919790197346", "text": "Hello over HTTP", "report": true}"#);
    assert_eq!(r.status, 202, "{}", r.text);
    let v = r.json();
    assert_eq!(v["parts"], 1);
    let id = v["id"].as_str().unwrap().to_string();

    let m = srv.get(&format!("/v1/messages/{id}"));
    assert_eq!(m.status, 200);
    assert!(m.ctype.as_deref().unwrap().starts_with("application/json"));
    let m = m.json();
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["to"], "+919790197346");
    assert_eq!(m["text"], "Hello over HTTP");
    assert_eq!(m["state"], "ACCEPTED");
    assert_eq!(m["parts"][0]["seq"], 1);
    assert_eq!(m["parts"][0]["modem"], Value::Null);
    assert_eq!(m["parts"][0]["mr"], Value::Null);
    assert_eq!(m["parts"][0]["status"], Value::Null);
    assert!(m["receipt"]
        .as_str()
        .unwrap()
        .starts_with(&format!("id:{id} sub:001 dlvrd:000")));

    // Sent with TP-MR 64, then the real report (national TP-RA, TP-ST 0).
    let now = unix_now();
    send_all(&srv.gw, &id, 64, now);
    deliver(&srv.gw, "09790197346", 64, now + 1, 0x00);
    let m = srv.get(&format!("/v1/messages/{id}")).json();
    assert_eq!(m["state"], "DELIVRD");
    assert_eq!(m["parts"][0]["modem"], "m1");
    assert_eq!(m["parts"][0]["mr"], 64);
    assert_eq!(m["parts"][0]["state"], "DELIVRD");
    assert_eq!(m["parts"][0]["status"], 0);
    assert_eq!(m["reports"][0]["match"], "matched");
    assert_eq!(m["reports"][0]["pdu"], CDS_HEX);
    assert_eq!(m["reports"][0]["part"], 1);
    let states: Vec<&str> = m["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.first(), Some(&"ACCEPTED"));
    assert_eq!(states.last(), Some(&"DELIVRD"));
    assert!(m["receipt"]
        .as_str()
        .unwrap()
        .contains("stat:DELIVRD err:000"));

    // A failed report: TP-ST 0x41 (incompatible destination) -> UNDELIV, status 65.
    let id2 = srv.post(r#"{"to": "+393331234567", "text": "x"}"#).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    send_all(&srv.gw, &id2, 9, now);
    deliver(&srv.gw, "+393331234567", 9, now + 1, 0x41);
    let m = srv.get(&format!("/v1/messages/{id2}")).json();
    assert_eq!(m["state"], "UNDELIV");
    assert_eq!(m["parts"][0]["status"], 0x41);
}

#[test]
fn long_and_ucs2_texts_count_their_parts() {
    let srv = Server::start();
    let long = "a".repeat(161);
    let r = srv.post(&json!({"to": "+393331234567", "text": long}).to_string());
    assert_eq!((r.status, r.json()["parts"].clone()), (202, json!(2)));
    let r = srv.post(
        &json!({"to": "+393331234567", "text": "Привет", "ucs2": true, "flash": true,
                "validity": "1d", "modem": "m1", "report": false})
        .to_string(),
    );
    assert_eq!(
        (r.status, r.json()["parts"].clone()),
        (202, json!(1)),
        "{}",
        r.text
    );
    // 67 UCS2 characters per part: 255 parts hold 17,085.
    let r = srv.post(&json!({"to": "+393331234567", "text": "ж".repeat(255 * 67)}).to_string());
    assert_eq!(
        (r.status, r.json()["parts"].clone()),
        (202, json!(255)),
        "{}",
        r.text
    );
    let r = srv.post(&json!({"to": "+393331234567", "text": "ж".repeat(255 * 67 + 1)}).to_string());
    assert_eq!((r.status, r.field()), (400, "text".to_string()));
    let id = srv
        .post(&json!({"to": "+393331234567", "text": long}).to_string())
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = srv.get(&format!("/v1/messages/{id}")).json();
    let seqs: Vec<_> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seq"].clone())
        .collect();
    assert_eq!(seqs, [json!(1), json!(2)]);
}

#[test]
fn list_filters_by_state_recipient_time_and_limit() {
    let srv = Server::start();
    let mut ids = Vec::new();
    for to in ["+393331111111", "+393332222222", "+393331111111"] {
        let r = srv.post(&json!({"to": to, "text": "list me"}).to_string());
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let now = unix_now();
    send_all(&srv.gw, &ids[0], 5, now);
    deliver(&srv.gw, "3331111111", 5, now + 1, 0x00);
    let list = |q: &str| -> Vec<String> {
        let r = srv.get(&format!("/v1/messages{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        r.json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(list(""), newest_first);
    assert_eq!(list("?state=DELIVRD"), [ids[0].clone()]);
    assert_eq!(list("?state=accepted"), [ids[2].clone(), ids[1].clone()]);
    // Same number written nationally: compared on the suffix key.
    assert_eq!(list("?to=03331111111"), [ids[2].clone(), ids[0].clone()]);
    assert_eq!(list("?to=%2B393332222222"), [ids[1].clone()]);
    assert_eq!(list("?limit=1"), [ids[2].clone()]);
    assert_eq!(
        list(&format!("?since={}", now + 3600)),
        Vec::<String>::new()
    );
    assert_eq!(list("?since=2000-01-01T00:00:00Z").len(), 3);
    let summary = srv.get("/v1/messages?state=DELIVRD").json();
    assert_eq!(summary["messages"][0]["parts"], 1);
    assert_eq!(summary["messages"][0]["to"], "+393331111111");

    for (q, field) in [
        ("?state=SENT", "state"),
        ("?since=yesterday", "since"),
        ("?limit=0", "limit"),
        ("?limit=-3", "limit"),
        ("?limit=99999999999", "limit"),
        ("?colour=red", "colour"),
    ] {
        let r = srv.get(&format!("/v1/messages{q}"));
        assert_eq!((r.status, r.field()), (400, field.to_string()), "{q}");
    }
}

#[test]
fn missing_or_wrong_tokens_are_refused() {
    let srv = Server::start();
    for path in [
        "/v1/messages",
        "/v1/messages/1",
        "/v1/modems",
        "/v1/collisions",
    ] {
        for token in [None, Some("wrong"), Some(""), Some("test-token-012345678")] {
            let r = srv.call("GET", path, token, None);
            assert_eq!(r.status, 401, "{path} {token:?}");
            assert_eq!(r.www.as_deref(), Some("Bearer realm=\"smsgw\""));
            assert!(r.json()["error"]["message"].is_string());
        }
    }
    let r = srv.call(
        "POST",
        "/v1/messages",
        None,
        Some(r#"{"to":"+393331234567","text":"x"}"#),
    );
    assert_eq!(r.status, 401);
    let r = srv.call(
        "POST",
        "/v1/messages",
        Some("nope"),
        Some(r#"{"to":"+393331234567","text":"x"}"#),
    );
    assert_eq!(r.status, 401);
    // Nothing was queued by the refused requests.
    assert!(srv.get("/v1/messages").json()["messages"]
        .as_array()
        .unwrap()
        .is_empty());
    // Other schemes are refused too; the second configured token works.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .get(format!("{}/v1/modems", srv.base))
        .header("Authorization", format!("Basic {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        srv.call("GET", "/v1/modems", Some("another-token"), None)
            .status,
        200
    );
    // /healthz needs none.
    assert_eq!(srv.call("GET", "/healthz", None, None).status, 200);
}

#[test]
fn bad_input_names_the_field() {
    let srv = Server::start();
    let cases: &[(&str, &str)] = &[
        ("", "body"),
        ("{", "body"),
        ("not json", "body"),
        ("[]", "body"),
        ("\"text\"", "body"),
        (r#"{"text": "hi"}"#, "to"),
        (r#"{"to": null, "text": "hi"}"#, "to"),
        (r#"{"to": 393331234567, "text": "hi"}"#, "to"),
        (r#"{"to": "", "text": "hi"}"#, "to"),
        (r#"{"to": "+39abc", "text": "hi"}"#, "to"),
        (r#"{"to": "+39333123456789012345678", "text": "hi"}"#, "to"),
        (r#"{"to": "+393331234567"}"#, "text"),
        (r#"{"to": "+393331234567", "text": ""}"#, "text"),
        (r#"{"to": "+393331234567", "text": 5}"#, "text"),
        (
            r#"{"to": "+393331234567", "text": "hi", "report": "yes"}"#,
            "report",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "validity": 86400}"#,
            "validity",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "validity": "3 fortnights"}"#,
            "validity",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "validity": "-1d"}"#,
            "validity",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "modem": 1}"#,
            "modem",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "modem": "m9"}"#,
            "modem",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "ucs2": "true"}"#,
            "ucs2",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "flash": 1}"#,
            "flash",
        ),
        (
            r#"{"to": "+393331234567", "text": "hi", "txet": "hi"}"#,
            "txet",
        ),
    ];
    for (body, field) in cases {
        let r = srv.post(body);
        assert_eq!(
            (r.status, r.field()),
            (400, field.to_string()),
            "{body}: {}",
            r.text
        );
    }
    // Oversize: more than 255 parts of GSM 7-bit text.
    let r =
        srv.post(&json!({"to": "+393331234567", "text": "a".repeat(255 * 153 + 1)}).to_string());
    assert_eq!((r.status, r.field()), (400, "text".to_string()));
    // Invalid UTF-8 in the body.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{}/v1/messages", srv.base))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .send(&b"{\"to\":\"+393331234567\",\"text\":\"\xff\xfe\"}"[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["error"]["field"], "body");
    // None of it was queued.
    assert!(srv.get("/v1/messages").json()["messages"]
        .as_array()
        .unwrap()
        .is_empty());
    // Ids: not a number is 400, unknown is 404.
    let r = srv.get("/v1/messages/abc");
    assert_eq!((r.status, r.field()), (400, "id".to_string()));
    let r = srv.get("/v1/messages/99999999999999999999");
    assert_eq!((r.status, r.field()), (400, "id".to_string()));
    let r = srv.get("/v1/messages/4242");
    assert_eq!((r.status, r.field()), (404, "id".to_string()));
    let r = srv.get("/v1/nothing-here");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"].is_string());
}

#[test]
fn oversize_bodies_are_413() {
    let srv = Server::start();
    let text = "a".repeat(MAX_BODY);
    let r = srv.post(&json!({"to": "+393331234567", "text": text}).to_string());
    assert_eq!(
        (r.status, r.field()),
        (413, "body".to_string()),
        "{}",
        r.text
    );
    // Just under the limit is read (and then judged on its content).
    let text = "a".repeat(MAX_BODY - 100);
    let r = srv.post(&json!({"to": "+393331234567", "text": text}).to_string());
    assert_eq!((r.status, r.field()), (400, "text".to_string()));
}

#[test]
fn modems_health_and_shutdown() {
    let srv = Server::start();
    let m = srv.get("/v1/modems").json();
    let names: Vec<_> = m["modems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names, [json!("m\"2"), json!("m1")]);
    assert_eq!(m["modems"][1]["device"], "/dev/smsgw/m1");
    assert_eq!(m["modems"][1]["connected"], false);
    let h = srv.call("GET", "/healthz", None, None);
    assert_eq!(h.status, 200);
    let h = h.json();
    // Messages are still taken (and queued) with no modem connected.
    assert_eq!(h["status"], "degraded");
    assert!(h["reason"].as_str().unwrap().contains("no modem"), "{h}");
    assert_eq!(h["modems"]["configured"], 2);
    assert_eq!(h["modems"]["connected"], 0);

    srv.gw.shutdown();
    let h = srv.call("GET", "/healthz", None, None);
    assert_eq!(
        (h.status, h.json()["status"].clone()),
        (503, json!("shutting_down"))
    );
    let r = srv.post(r#"{"to": "+393331234567", "text": "too late"}"#);
    assert_eq!(r.status, 503);
}

#[test]
fn collisions_say_how_they_were_settled() {
    let srv = Server::start();
    let gw = &srv.gw;
    let t0 = unix_now() - 600;
    // Learn the SMSC clock offset (37 s ahead) from an unrelated message.
    let warm = srv
        .post(r#"{"to": "+4915112345678", "text": "warm up"}"#)
        .json();
    send_all(gw, warm["id"].as_str().unwrap(), 1, t0 - 50);
    deliver(gw, "+4915112345678", 1, t0 - 13, 0);
    // The modem restarted its TP-MR: two messages 6 s apart share MR 0.
    let a = srv
        .post(r#"{"to": "+393331234567", "text": "first"}"#)
        .json();
    let b = srv
        .post(r#"{"to": "+393331234567", "text": "second"}"#)
        .json();
    let pa = send_all(gw, a["id"].as_str().unwrap(), 0, t0)[0];
    let pb = send_all(gw, b["id"].as_str().unwrap(), 0, t0 + 6)[0];
    // And two sent in the same second under MR 9: no time can tell them apart.
    let c = srv
        .post(r#"{"to": "+393339999999", "text": "third"}"#)
        .json();
    let d = srv
        .post(r#"{"to": "+393339999999", "text": "fourth"}"#)
        .json();
    send_all(gw, c["id"].as_str().unwrap(), 9, t0);
    send_all(gw, d["id"].as_str().unwrap(), 9, t0);

    let list = srv.get("/v1/collisions").json();
    let list = list["collisions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let ab = &list[1];
    assert_eq!(
        (ab["modem"].clone(), ab["mr"].clone()),
        (json!("m1"), json!(0))
    );
    assert_eq!(
        (ab["pending_part"].clone(), ab["new_part"].clone()),
        (json!(pa.0), json!(pb.0))
    );
    assert_eq!(ab["settled"], "pending");

    // The report for the second (SCTS = its submit + 37 s) is matched by time.
    deliver(gw, "+393331234567", 0, t0 + 6 + 37, 0);
    let ab = &srv.get("/v1/collisions").json()["collisions"][1];
    assert_eq!(ab["parts"][1]["settled"], "matched-by-time");
    assert_eq!(ab["parts"][0]["settled"], "pending");
    assert_eq!(ab["settled"], "pending");
    deliver(gw, "+393331234567", 0, t0 + 38, 0);
    let ab = &srv.get("/v1/collisions").json()["collisions"][1];
    assert_eq!(ab["parts"][0]["state"], "DELIVRD");
    assert_ne!(ab["parts"][0]["settled"], "pending");
    assert_eq!(ab["settled"], "matched-by-time");

    deliver(gw, "+393339999999", 9, t0 + 37, 0);
    let cd = &srv.get("/v1/collisions").json()["collisions"][0];
    assert_eq!(cd["settled"], "ambiguous");
    assert_eq!(cd["parts"][0]["settled"], "ambiguous");
    assert_eq!(cd["parts"][0]["reports"].as_array().unwrap().len(), 1);

    let r = srv.get("/v1/collisions?limit=1").json();
    assert_eq!(r["collisions"].as_array().unwrap().len(), 1);
    let r = srv.get("/v1/collisions?limit=x");
    assert_eq!((r.status, r.field()), (400, "limit".to_string()));
}

/// One sample of a metrics page.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parse a Prometheus text page line by line, checking that every sample
/// follows the HELP and TYPE lines of its family, that families are not
/// repeated, and that label values are well escaped.
fn parse_metrics(page: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut family: Option<(String, String)> = None;
    let mut seen = std::collections::HashSet::new();
    let mut help: Option<String> = None;
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect("HELP has a text");
            assert!(!text.is_empty(), "{line}");
            assert!(seen.insert(name.to_string()), "family {name} repeated");
            help = Some(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(help.as_deref(), Some(name), "TYPE right after HELP");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{name}");
            }
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("{line}"),
        };
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        let (fam, _) = family.as_ref().expect("sample before TYPE");
        assert_eq!(name, fam, "sample outside its family");
        let mut labels = Vec::new();
        let mut rest = rest;
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '}' {
                    end = Some(i);
                    break;
                }
                let start = i;
                let mut j = i;
                while let Some(&(k, c)) = chars.peek() {
                    if c == '=' {
                        j = k;
                        break;
                    }
                    chars.next();
                }
                let key = r[start..j].to_string();
                chars.next(); // '='
                assert_eq!(chars.next().map(|c| c.1), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next().map(|c| c.1) {
                        Some('\\') => match chars.next().map(|c| c.1) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line}"),
                        },
                        Some('"') => break,
                        Some(c) => {
                            assert_ne!(c, '\n');
                            value.push(c)
                        }
                        None => panic!("unterminated label in {line}"),
                    }
                }
                labels.push((key, value));
                if chars.peek().map(|c| c.1) == Some(',') {
                    chars.next();
                }
            }
            rest = &r[end.expect("closing brace") + 1..];
        }
        let value: f64 = rest.strip_prefix(' ').unwrap().parse().unwrap();
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
}

#[test]
fn metrics_are_valid_prometheus_text() {
    let srv = Server::start();
    assert_eq!(srv.call("GET", "/metrics", None, None).status, 401);
    let ids: Vec<String> = ["+919790197346", "+393331234567", "+393339999999"]
        .iter()
        .map(|to| {
            srv.post(&json!({"to": to, "text": "metrics"}).to_string())
                .json()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let r = srv.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.ctype.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let m = parse_metrics(&r.text);
    assert_eq!(value(&m, "smsgw_queue_depth", &[]), Some(3.0));
    assert_eq!(value(&m, "smsgw_parts_sent_total", &[]), Some(0.0));
    assert_eq!(value(&m, "smsgw_shutting_down", &[]), Some(0.0));

    let now = unix_now();
    send_all(&srv.gw, &ids[0], 64, now);
    send_all(&srv.gw, &ids[1], 65, now);
    deliver(&srv.gw, "09790197346", 64, now + 1, 0x00);
    deliver(&srv.gw, "+393331234567", 65, now + 1, 0x41);
    deliver(&srv.gw, "+393330000000", 200, now + 1, 0x00); // matches nothing
    let part = srv
        .gw
        .store()
        .message(MessageId(ids[2].parse().unwrap()))
        .unwrap()
        .parts[0]
        .id;
    srv.gw
        .store()
        .mark_rejected(PartId(part), 38, "network out of order", now)
        .unwrap();

    let m = parse_metrics(&srv.get("/metrics").text);
    assert_eq!(value(&m, "smsgw_parts_sent_total", &[]), Some(2.0));
    assert_eq!(value(&m, "smsgw_parts_delivered_total", &[]), Some(1.0));
    assert_eq!(
        value(&m, "smsgw_parts_failed_total", &[("state", "UNDELIV")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "smsgw_parts_failed_total", &[("state", "REJECTD")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "smsgw_parts_failed_total", &[("state", "EXPIRED")]),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "smsgw_parts_rejected_total", &[("code", "38")]),
        Some(1.0)
    );
    assert_eq!(value(&m, "smsgw_orphan_reports", &[]), Some(1.0));
    assert_eq!(value(&m, "smsgw_collisions_total", &[]), Some(0.0));
    assert_eq!(
        value(&m, "smsgw_modem_parts_sent_total", &[("modem", "m1")]),
        Some(2.0)
    );
    assert_eq!(
        value(&m, "smsgw_modem_parts_delivered_total", &[("modem", "m1")]),
        Some(1.0)
    );
    // Configured modems, with a label that needs escaping.
    assert_eq!(
        value(&m, "smsgw_modem_connected", &[("modem", "m\"2")]),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "smsgw_modem_connected", &[("modem", "m1")]),
        Some(0.0)
    );
    assert!(r
        .text
        .contains("smsgw_modem_connected{modem=\"m\\\"2\"} 0\n"));
    for name in [
        "smsgw_ambiguous_reports",
        "smsgw_webhook_backlog",
        "smsgw_inbox_messages_total",
        "smsgw_incoming_parts_staged",
        "smsgw_modem_registered",
    ] {
        assert!(m.iter().any(|s| s.name == name), "{name} missing");
    }
}

#[test]
fn inbox_lists_incoming_sms() {
    let srv = Server::start();
    let now = unix_now();
    {
        let mut s = srv.gw.store();
        let m1 = s.modem("m1").unwrap();
        for (i, text) in ["first", "second"].iter().enumerate() {
            s.store_incoming(&smsgw::store::IncomingSms {
                modem: m1,
                sender: "+393331234567".into(),
                text: Some(text.to_string()),
                data_hex: "00".into(),
                scts: now - 100 + i as i64 * 50,
                received_at: now - 90 + i as i64 * 50,
                parts: 1,
                pdus_hex: vec!["00".into()],
                partial: false,
            })
            .unwrap();
        }
    }
    let v = srv.get("/v1/inbox").json();
    let texts: Vec<_> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("second"), json!("first")]);
    assert_eq!(v["messages"][0]["from"], "+393331234567");
    assert_eq!(v["messages"][0]["modem"], "m1");
    assert!(v["messages"][0]["id"].is_string());
    let v = srv.get(&format!("/v1/inbox?since={}", now - 60)).json();
    assert_eq!(v["messages"].as_array().unwrap().len(), 1);
    let v = srv.get("/v1/inbox?limit=1").json();
    assert_eq!(v["messages"][0]["text"], "second");
    let r = srv.get("/v1/inbox?since=soon");
    assert_eq!((r.status, r.field()), (400, "since".to_string()));
    assert_eq!(srv.call("GET", "/v1/inbox", None, None).status, 401);
}

/// Any body, any path segment, any query: an answer (never a 5xx, never a
/// dropped connection), JSON errors that name a field.
#[test]
fn arbitrary_input_never_breaks_the_server() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let srv = Server::start();
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        "[+0-9 ]{0,25}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("to".to_string()),
        Just("text".to_string()),
        Just("report".to_string()),
        Just("validity".to_string()),
        Just("modem".to_string()),
        Just("ucs2".to_string()),
        Just("flash".to_string()),
        "[a-z]{1,6}",
    ];
    let object = proptest::collection::btree_map(key, scalar, 0..8)
        .prop_map(|m| Value::Object(m.into_iter().collect()).to_string());
    let bytes = proptest::collection::vec(any::<u8>(), 0..200)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop_oneof![object, bytes], |body| {
            let r = srv.post(&body);
            prop_assert!(
                r.status == 202 || r.status == 400,
                "{} for {body}: {}",
                r.status,
                r.text
            );
            if r.status == 400 {
                let v = r.json();
                prop_assert!(v["error"]["field"].is_string(), "{}", r.text);
            }
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 100,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &("[%0-9a-zA-Z.~_-]{0,30}", "[%=&0-9a-z_-]{0,40}"),
            |(id, q)| {
                for path in [
                    format!("/v1/messages/{id}?{q}"),
                    format!("/v1/messages?{q}"),
                    format!("/v1/inbox?{q}"),
                    format!("/v1/collisions?{q}"),
                ] {
                    let r = srv.get(&path);
                    prop_assert!(
                        [200, 400, 404].contains(&r.status),
                        "{} for {path}: {}",
                        r.status,
                        r.text
                    );
                    prop_assert!(
                        serde_json::from_str::<Value>(&r.text).is_ok(),
                        "{path}: {}",
                        r.text
                    );
                }
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(srv.call("GET", "/healthz", None, None).status, 200);
}

#[test]
fn a_number_no_modem_can_take_is_refused() {
    let srv = Server::start();
    // m1 sends to Italy only, m"2 to Switzerland (written with 00).
    srv.gw.set_prefixes("m1", &["+39".to_string()]);
    srv.gw.set_prefixes("m\"2", &["0041".to_string()]);

    let r = srv.post(r#"{"to":"+447700900123","text":"hi"}"#);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field(), "to");
    assert!(
        r.text
            .contains("no configured modem sends to +447700900123"),
        "{}",
        r.text
    );

    let r = srv.post(r#"{"to":"+41791234567","text":"hi","modem":"m1"}"#);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field(), "to");
    assert!(r.text.contains("m1"), "{}", r.text);

    // Numbers some modem takes go in, in any written form.
    assert_eq!(
        srv.post(r#"{"to":"+393331234567","text":"hi"}"#).status,
        202
    );
    assert_eq!(
        srv.post(r#"{"to":"0041791234567","text":"hi"}"#).status,
        202
    );
    assert_eq!(
        srv.post(r#"{"to":"+41791234567","text":"hi","modem":"m\"2"}"#)
            .status,
        202
    );
}
