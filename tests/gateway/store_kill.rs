//! A real child process is SIGKILLed in the middle of a report transaction;
//! the database reopened afterwards has lost nothing and holds no half
//! applied batch.
//!
//! The child is this test binary itself, run with `--ignored --exact
//! child_applies_reports` and the database path in `SMSGW_KILL_DB`. It
//! applies reports in batches of 40 and prints `COMMITTED <n>` after each
//! commit; in the sixth batch, after 20 reports were written inside the open
//! transaction, it prints `MID` and blocks, and the parent kills it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use smsgw::router::{ModemId, Resolution, RouterConfig};
use smsgw::state::MessageState;
use smsgw::store::{IncomingReport, MessageFilter, ReportFilter, Store};

const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
const N: usize = 400;
const BATCH: usize = 40;
const KILL_IN_BATCH: usize = 5;
const ENV: &str = "SMSGW_KILL_DB";

fn number(i: usize) -> String {
    format!("+39333{i:07}")
}

fn report(i: usize) -> IncomingReport {
    IncomingReport {
        modem: ModemId(1),
        recipient: number(i),
        mr: (i % 256) as u8,
        scts: T0 + i as i64 + 3,
        discharge: Some(T0 + i as i64 + 9),
        status: 0x00,
        pdu_hex: format!("0006{:02X}", i % 256),
        received_at: T0 + 2000,
    }
}

fn open(path: &Path) -> Store {
    Store::open_at(path, RouterConfig::default(), T0 + 1000).unwrap()
}

#[test]
#[ignore = "the child process of sigkill_in_the_middle_of_a_report_transaction"]
fn child_applies_reports() {
    let Ok(path) = std::env::var(ENV) else {
        return;
    };
    let mut store = open(Path::new(&path));
    let mut out = std::io::stdout();
    let mut done = 0;
    for (b, chunk) in (0..N).collect::<Vec<_>>().chunks(BATCH).enumerate() {
        let reports = chunk.iter().enumerate().map(|(k, &i)| {
            if b == KILL_IN_BATCH && k == BATCH / 2 {
                // Inside the open transaction, half of the batch written.
                let mut out = std::io::stdout();
                writeln!(out, "MID").unwrap();
                out.flush().unwrap();
                loop {
                    std::thread::park();
                }
            }
            report(i)
        });
        store.record_reports(reports).unwrap();
        done += chunk.len();
        writeln!(out, "COMMITTED {done}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_in_the_middle_of_a_report_transaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("smsgw.db");
    {
        let mut s = open(&db);
        assert_eq!(s.modem("modem1").unwrap(), ModemId(1));
        for i in 0..N {
            let m = s.create_message(&number(i), "kill test", 1, T0).unwrap();
            s.mark_sent(m.parts[0], ModemId(1), (i % 256) as u8, T0 + i as i64, DAY)
                .unwrap();
        }
    }

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store_kill::child_applies_reports",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = 0;
    let mut saw_mid = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("COMMITTED ") {
            committed = n.parse().unwrap();
        } else if line == "MID" {
            saw_mid = true;
            kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        saw_mid,
        "the child never reached the middle of a batch: {status}"
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert_eq!(committed, KILL_IN_BATCH * BATCH);

    // Reopen: exactly the committed reports are there, fully applied.
    let mut s = open(&db);
    let reports = s.reports(ReportFilter::All, None).unwrap();
    assert_eq!(reports.len(), committed);
    assert!(reports.iter().all(|r| r.applied && r.result == "matched"));
    let delivered = s
        .messages(&MessageFilter {
            state: Some(MessageState::Delivered),
            ..MessageFilter::default()
        })
        .unwrap();
    assert_eq!(delivered.len(), committed);
    assert_eq!(s.recovery().pending, N - committed);
    for m in &delivered {
        let v = s.message(smsgw::store::MessageId(m.id)).unwrap();
        assert_eq!(v.parts[0].state, MessageState::Delivered);
        assert_eq!(v.reports.len(), 1);
        assert!(v
            .events
            .iter()
            .any(|e| e.report_id == Some(v.reports[0].id)));
    }

    // The modem still holds the reports that were not committed: delivered
    // again, every one lands on its part.
    let rest = s.record_reports((committed..N).map(report)).unwrap();
    assert!(rest
        .iter()
        .all(|o| matches!(o.resolution, Resolution::Matched(_))));
    let delivered = s
        .messages(&MessageFilter {
            state: Some(MessageState::Delivered),
            ..MessageFilter::default()
        })
        .unwrap();
    assert_eq!(delivered.len(), N);
    assert_eq!(s.router().stats().pending, 0);
}
