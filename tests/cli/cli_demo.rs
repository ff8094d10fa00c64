//! The README's main command, scaled down: `smsgw demo` runs the gateway
//! against simulated modems and reports every message final.

use std::process::Command;

#[test]
fn demo_runs_to_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args([
            "demo",
            "--same-number",
            "30",
            "--others",
            "20",
            "--timeout",
            "300",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |label: &str| -> u64 {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"))
    };
    assert_eq!(count("messages"), 50);
    assert_eq!(count("orphan reports"), 0);
    assert_eq!(count("reports left ambiguous"), 0);
    // Every message reached a final state: the states listed add up.
    let finals: u64 = [
        "DELIVRD", "EXPIRED", "UNDELIV", "DELETED", "REJECTD", "UNKNOWN",
    ]
    .iter()
    .filter_map(|s| stdout.lines().find(|l| l.trim_start().starts_with(s)))
    .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
    .sum();
    assert_eq!(finals, 50, "{stdout}");
    assert!(db.exists());

    // The follow-up commands it prints run as printed, pasted into a shell
    // in the same directory (after `cargo run` no `smsgw` is on the PATH).
    let line = stdout
        .lines()
        .find(|l| l.contains(" status 1 --db "))
        .unwrap_or_else(|| panic!("no status command in:\n{stdout}"));
    let run = Command::new("sh")
        .args(["-c", line.trim()])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("message 1"));
}
