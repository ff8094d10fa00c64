//! `smsgw probe` and `smsgw send` as a user runs them: the real binary
//! against a simulated modem on a pty, with a real database file.

use std::process::Command;

use smsgw::cli::sim::sim_config_for;
use smsgw::profile::Profile;
use smsgw::sim::{self, SimConfig, SimEndpoint, SimModem};

const BIN: &str = env!("CARGO_BIN_EXE_smsgw");

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().expect("run smsgw"))
        .await
        .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

async fn sim_at(
    dir: &std::path::Path,
    dialect: &str,
    tweak: impl FnOnce(&mut SimConfig),
) -> (sim::SimHandle, String) {
    let mut cfg = sim_config_for(&Profile::by_name(dialect).unwrap());
    tweak(&mut cfg);
    let link = dir.join(format!("{dialect}-tty"));
    let h = sim::spawn(SimModem::new(cfg), SimEndpoint::Pty(link.clone()))
        .await
        .unwrap();
    (h, link.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_prints_identity_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, dev) = sim_at(dir.path(), "huawei-e173", |_| {}).await;
    let out = run(s(&["probe", "--device", &dev, "--json"])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["info"]["model"], "SIMULATED-MODEM");
    assert_eq!(v["info"]["smsc"], "+393359609600");
    assert_eq!(v["registration"], "registered, home network");
    let out = run(s(&[
        "probe",
        "--device",
        &format!("{}/absent", dir.path().display()),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // Said once, naming the device: not "cannot open X: cannot open X: ...".
    assert_eq!(err.matches("cannot open").count(), 1, "{err}");
    assert!(err.contains("absent"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_for_reports_and_records_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    let (_sim, dev) = sim_at(dir.path(), "quectel-ec2x", |c| {
        c.mr_start = 255;
        c.report_delay_ms = (50, 200);
    })
    .await;
    let long = "x".repeat(200);
    let out = run(s(&[
        "send",
        "--device",
        &dev,
        "--to",
        "+393331234567",
        "--text",
        &long,
        "--wait-report",
        "60",
        "--db",
        db,
        "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "DELIVRD");
    let parts = v["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    // The MR wrapped between the two parts.
    assert_eq!(parts[0]["mr"], 255);
    assert_eq!(parts[1]["mr"], 0);
    assert!(v["receipt"].as_str().unwrap().contains("stat:DELIVRD"));
    // The store has it.
    let out = run(s(&["status", "1", "--db", db, "--json"])).await;
    assert!(out.status.success());
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["reports"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_exits_3_when_the_network_fails_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let (_sim, dev) = sim_at(dir.path(), "huawei-e173", |c| {
        c.forced_status = vec![("0000".into(), 0x41)]
    })
    .await;
    let out = run(s(&[
        "send",
        "--device",
        &dev,
        "--to",
        "+393400000000",
        "--text",
        "hi",
        "--wait-report",
        "60",
        "--db",
        db.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNDELIV"));
    // The report names the part as the user sees it, not by a row id.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("report: part 1/1 UNDELIV"), "{stdout}");
}

#[tokio::test]
async fn send_refuses_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["--to", "+393331234567", "--text", ""], "--text is empty"),
        (&["--to", "+39abc", "--text", "x"], "bad --to"),
        (
            &[
                "--to",
                "+393331234567",
                "--text",
                "x",
                "--profile",
                "nokia-3310",
            ],
            "unknown profile",
        ),
    ];
    for (args, expect) in cases {
        let mut all = s(&["send", "--device", "/dev/null", "--db", db]);
        all.extend(s(args));
        let out = run(all).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_takes_a_text_that_starts_with_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    let (sim, dev) = sim_at(dir.path(), "huawei-e173", |_| {}).await;
    let out = run(s(&[
        "send",
        "--device",
        &dev,
        "--to",
        "+393331234567",
        "--text",
        "-5 degrees",
        "--db",
        db,
        "--json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["text"], "-5 degrees", "{v}");
    // The modem got that text.
    let sent = sim.submits();
    assert_eq!(sent.len(), 1);
}
