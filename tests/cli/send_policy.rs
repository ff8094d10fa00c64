//! `smsgw send` follows the one send policy (`gateway::policy`): a refusal
//! that is the modem's fault (device class) is tried again within the
//! attempts, one that is the message's (permanent) is not. The real binary
//! against a simulated modem on a pty.

use std::process::Command;

use smsgw::cli::sim::sim_config_for;
use smsgw::profile::Profile;
use smsgw::sim::{self, SimEndpoint, SimModem};

const BIN: &str = env!("CARGO_BIN_EXE_smsgw");

/// Run `smsgw send` against a modem that refuses every AT+CMGS with
/// `+CMS ERROR: <code>`; the exit code, the message as JSON, and how many
/// AT+CMGS the modem saw.
async fn send_refused(code: u16) -> (Option<i32>, serde_json::Value, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = sim_config_for(&Profile::by_name("quectel-ec2x").unwrap());
    cfg.cms_error_rate = 1.0;
    cfg.cms_error_code = code;
    let link = dir.path().join("tty");
    let sim = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
        .await
        .unwrap();
    let db = dir.path().join("t.db");
    let args: Vec<String> = [
        "send",
        "--device",
        link.to_str().unwrap(),
        "--to",
        "+393331234567",
        "--text",
        "hi",
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let cmgs = sim
        .model()
        .command_log()
        .filter(|c| c.starts_with("AT+CMGS="))
        .count();
    (out.status.code(), v, cmgs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_refusal_is_retried_then_rejected() {
    // 210 (0xD2): error in MS, a device-class refusal. Three attempts
    // (2 s, then 4 s apart), then REJECTD; before the one policy, the CLI
    // rejected at the first refusal.
    let (code, v, cmgs) = send_refused(210).await;
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(cmgs, 3, "{v}");
    assert_eq!(v["state"], "REJECTD", "{v}");
    assert_eq!(v["parts"][0]["retries"], 2, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusal_is_rejected_at_once() {
    // 1: unassigned number.
    let (code, v, cmgs) = send_refused(1).await;
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(cmgs, 1, "{v}");
    assert_eq!(v["state"], "REJECTD", "{v}");
}
