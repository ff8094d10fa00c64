//! `smsgw smpp` against a database with receipts waiting and a daemon API
//! (served here, over the same database) that lists binds; and what that
//! API and `/metrics` say of SMPP.

use std::process::Command;
use std::sync::Arc;

use smsgw::config::{Config, HttpConfig};
use smsgw::gateway::{Gateway, GatewaySettings};
use smsgw::router::RouterConfig;
use smsgw::smpp::gateway::{BindView, SmppGateway};
use smsgw::store::{EnqueueRequest, IncomingReport, MessageOptions, SmppOrigin, Store};
use tokio::sync::watch;

const T0: i64 = 1_760_000_000;
const TOKEN: &str = "cli-token-0123456789";

fn smsgw(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(args)
        .env_remove("SMSGW_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A database with one delivered SMPP message of app1 whose receipt waits.
fn fill(db: &std::path::Path) {
    let mut s = Store::open_at(db, RouterConfig::default(), T0).unwrap();
    let m0 = s.modem("modem0").unwrap();
    let opts = MessageOptions::default();
    let req = EnqueueRequest {
        to: "+393331234567",
        text: "hello",
        parts: 1,
        opts: &opts,
    };
    let origin = SmppOrigin {
        account: "app1".into(),
        source_ton: 5,
        source_npi: 0,
        source_addr: "ACME".into(),
        dest_ton: 1,
        dest_npi: 1,
        dest_addr: "393331234567".into(),
        registered_delivery: 1,
        expires_at: None,
    };
    let msg = s.enqueue_smpp(&req, &origin, T0).unwrap();
    s.mark_sending(msg.parts[0], m0, T0).unwrap();
    s.mark_sent(msg.parts[0], m0, 5, T0, 86_400).unwrap();
    s.record_report(&IncomingReport {
        modem: m0,
        recipient: "+393331234567".into(),
        mr: 5,
        scts: T0 + 2,
        discharge: Some(T0 + 3),
        status: 0,
        pdu_hex: "00".into(),
        received_at: T0 + 4,
    })
    .unwrap();
}

fn get(base: &str, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(&format!("{base}{path}"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap())
}

#[test]
fn binds_from_the_api_and_receipts_waiting_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("smsgw.db");
    fill(&db);
    let dbs = db.to_str().unwrap();

    // No daemon: the backlog is still shown, the binds are said unknown.
    let (code, out, err) = smsgw(&["smpp", "--db", dbs, "--api", "http://127.0.0.1:9"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("binds: unknown"), "{out}");
    assert!(
        out.lines().any(|l| l.split_whitespace().eq(["app1", "1"])),
        "{out}"
    );

    // A daemon's API over the same database.
    let cfg = Config::from_toml(
        "[smpp]\nlisten = \"127.0.0.1:0\"\n[[smpp.account]]\nsystem_id = \"app1\"\n\
         password = \"pw\"\n[[smpp.account]]\nsystem_id = \"app2\"\npassword = \"pw\"\n",
        "t",
    )
    .unwrap();
    let store = Store::open(&db, RouterConfig::default()).unwrap();
    let gw = Gateway::new(store, GatewaySettings::default(), &[]);
    let http = HttpConfig {
        listen: "127.0.0.1:0".into(),
        tokens: vec![TOKEN.into()],
        ..HttpConfig::default()
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = watch::channel(false);
    let gw2 = gw.clone();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            smsgw::api::serve_on(listener, gw2, &http, rx).await
        })
    });
    // Before an SMPP server is attached: 404, and the CLI says why.
    let (status, body) = get(&base, "/v1/smpp/binds");
    assert_eq!(status, 404, "{body}");
    let (code, out, _) = smsgw(&["smpp", "--db", dbs, "--api", &base, "--token", TOKEN]);
    assert_eq!(code, 0);
    assert!(out.contains("runs no SMPP server"), "{out}");
    let (_, page) = get(&base, "/metrics");
    assert!(!page.contains("smsgw_smpp_"), "{page}");

    let smpp = SmppGateway::new(gw.clone(), cfg.smpp.as_ref().unwrap());
    smpp.set_binds(|| {
        vec![BindView {
            system_id: "app1".into(),
            bind_type: "transceiver".into(),
            peer: "127.0.0.1:50412".into(),
            since: T0,
        }]
    });
    gw.set_smpp(smpp.clone() as Arc<dyn smsgw::smpp::gateway::SmppStatus>);

    let (status, body) = get(&base, "/v1/smpp/binds");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["binds"][0]["system_id"], "app1");
    assert_eq!(v["accounts"][0]["system_id"], "app1");
    assert_eq!(v["accounts"][0]["binds"], 1);
    assert_eq!(v["accounts"][0]["receipts_waiting"], 1);
    assert_eq!(v["accounts"][1]["system_id"], "app2");
    assert_eq!(v["accounts"][1]["binds"], 0);
    let (_, page) = get(&base, "/metrics");
    for line in [
        "smsgw_smpp_binds{account=\"app1\"} 1",
        "smsgw_smpp_binds{account=\"app2\"} 0",
        "smsgw_smpp_receipts_waiting{account=\"app1\"} 1",
        "smsgw_smpp_submits_total{account=\"app1\"} 0",
        "smsgw_smpp_throttled_total{account=\"app2\"} 0",
        "smsgw_smpp_expired_total{account=\"app1\"} 0",
    ] {
        assert!(page.lines().any(|l| l == line), "{line} missing:\n{page}");
    }

    let (code, out, err) = smsgw(&["smpp", "--db", dbs, "--api", &base, "--token", TOKEN]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 bind(s) open"), "{out}");
    assert!(
        out.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.starts_with(&["app1", "transceiver", "127.0.0.1:50412"])
        }),
        "{out}"
    );
    let (code, out, _) = smsgw(&[
        "smpp", "--db", dbs, "--api", &base, "--token", TOKEN, "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["binds"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(
        v["waiting"],
        serde_json::json!([{"account": "app1", "waiting": 1}])
    );
    // A wrong token is named as the reason.
    let (code, out, _) = smsgw(&["smpp", "--db", dbs, "--api", &base, "--token", "nope"]);
    assert_eq!(code, 0);
    assert!(out.contains("401"), "{out}");

    stop.send_replace(true);
    server.join().unwrap().unwrap();
}

#[test]
fn serve_refuses_an_smpp_port_in_use_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smpp_port = taken.local_addr().unwrap().port();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("smsgw.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = {:?}\n[http]\nlisten = \"127.0.0.1:{http_port}\"\ntokens = [\"{TOKEN}\"]\n\
             [smpp]\nlisten = \"127.0.0.1:{smpp_port}\"\n[[smpp.account]]\nsystem_id = \"a\"\n\
             password = \"b\"\n[[modem]]\nname = \"m\"\ndevice = \"/dev/null-smsgw-test\"\n",
            dir.path().join("s.db").display().to_string()
        ),
    )
    .unwrap();
    let (code, out, err) = smsgw(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("cannot listen for SMPP on 127.0.0.1:{smpp_port}")),
        "{err}"
    );
    assert!(!err.contains("serving"), "nothing was started: {err}");
    // --smpp-listen is for the try-out with simulated modems.
    let (code, _, err) = smsgw(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--smpp-listen",
        "127.0.0.1:1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--simulate"), "{err}");
    drop(taken);
}
