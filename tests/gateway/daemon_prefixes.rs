//! Issue 14's prefix rule through the real daemon: three simulated modems
//! whose `prefixes` are written in each documented form (`"0039"`, `"+41"`,
//! a national `"3"`), numbers submitted in every written form, and each
//! message must leave through the modem whose prefix takes it, and only
//! that one. A claim that compared raw strings would leave the `+39...`
//! messages queued until the deadline.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;

#[test]
fn each_number_leaves_through_the_modem_its_prefix_names() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sims = start_sims(&rt, dir.path(), "quectel-ec2x", 3, |i, c| {
        c.report_delay_ms = (20, 100);
        c.seed = 140 + i;
    });
    let port = free_port();
    let db = dir.path().join("smsgw.db");
    let mut config = format!(
        "[store]\npath = {:?}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\ntokens = [\"{TOKEN}\"]\n\n",
        db.display().to_string()
    );
    for (name, (_, dev), prefixes) in [
        ("italy", &sims[0], r#"["0039"]"#),
        ("swiss", &sims[1], r#"["+41", "0043"]"#),
        ("national", &sims[2], r#"["3"]"#),
    ] {
        config.push_str(&format!(
            "[[modem]]\nname = \"{name}\"\ndevice = {dev:?}\nprofile = \"quectel-ec2x\"\nprefixes = {prefixes}\n\n"
        ));
    }
    let config_path = dir.path().join("smsgw.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = spawn_daemon(&config_path, &log);
    wait_ready_or_show(port, 3, Some(&log));
    let a = agent();

    // (number as submitted, the modem that must send it, as the modem
    // receives it in the PDU).
    let cases = [
        ("+393331234567", 0, "+393331234567"),
        ("+39 333 123 4568", 0, "+393331234568"),
        ("0039 333 1234569", 0, "00393331234569"),
        ("(0039) 333-123.4570", 0, "00393331234570"),
        ("+41791234567", 1, "+41791234567"),
        ("0041 79 123 45 68", 1, "0041791234568"),
        ("+43 664 1234567", 1, "+436641234567"),
        ("3331234571", 2, "3331234571"),
        ("333 123 4572", 2, "3331234572"),
        // Digits without + or 00 are a national number: "3" takes it,
        // "0039" does not (as docs/configuration.md says).
        ("39 333 1234573", 2, "393331234573"),
    ];
    let mut ids = Vec::new();
    for (i, (to, _, _)) in cases.iter().enumerate() {
        let id = post(&a, port, to, &format!("prefix case {i}"))
            .unwrap_or_else(|e| panic!("{to}: {e}\n{}", daemon_log(&log)));
        ids.push(id);
    }
    // A country no prefix names is refused at submit, in either form.
    for to in ["+447700900123", "0044 7700 900124"] {
        let r = post(&a, port, to, "nobody");
        assert!(r.is_err(), "{to} must be refused, got {r:?}");
    }

    let messages = wait_final(&a, port, &ids, Duration::from_secs(120));
    for (m, (to, _, _)) in messages.iter().zip(&cases) {
        assert_eq!(m["state"], "DELIVRD", "{to}: {m}");
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    for (k, (sim, _)) in sims.iter().enumerate() {
        let got: BTreeSet<String> = sim.submits().iter().map(|s| s.recipient.clone()).collect();
        let want: BTreeSet<String> = cases
            .iter()
            .filter(|c| c.1 == k)
            .map(|c| c.2.to_string())
            .collect();
        assert_eq!(got, want, "modem {k} sent to exactly its own numbers");
        assert_eq!(
            sim.submits().len(),
            want.len(),
            "modem {k}: each message once"
        );
    }
}

fn daemon_log(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
