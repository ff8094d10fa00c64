//! The store subcommands against a database filled through the library.

use std::process::Command;

use smsgw::router::RouterConfig;
use smsgw::store::{IncomingReport, Store};

const T0: i64 = 1_760_000_000;

fn smsgw(db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn status_messages_reports_collisions_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("smsgw.db");
    let id = {
        let mut s = Store::open_at(&db, RouterConfig::default(), T0).unwrap();
        let m0 = s.modem("modem0").unwrap();
        let a = s
            .create_message("+393331234567", "Ciao, come stai oggi?", 1, T0)
            .unwrap();
        let b = s.create_message("+393331234567", "second", 1, T0).unwrap();
        s.mark_sent(a.parts[0], m0, 4, T0, 86_400).unwrap();
        s.mark_sent(b.parts[0], m0, 4, T0 + 1, 86_400).unwrap();
        let rep = |mr, scts| IncomingReport {
            modem: m0,
            recipient: "3331234567".into(),
            mr,
            scts,
            discharge: None,
            status: 0,
            pdu_hex: "00".into(),
            received_at: scts + 5,
        };
        // Both fit: ambiguous. Another MR: orphan.
        s.record_reports([rep(4, T0 + 1), rep(9, T0 + 1)]).unwrap();
        a.id.0
    };
    let (code, out, err) = smsgw(&db, &["status", &id.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("to +393331234567  ACCEPTED"), "{out}");
    assert!(
        out.contains("stat:ACCEPTED err:000 text:Ciao, come stai oggi"),
        "{out}"
    );

    let (code, out, _) = smsgw(&db, &["messages", "--to", "0039 333 1234567", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The API's shape: ids as strings, `to`, RFC 3339 times.
    let list = v["messages"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["state"], "ACCEPTED");
    assert_eq!(list[1]["id"], id.to_string());
    assert_eq!(list[1]["to"], "+393331234567");
    assert_eq!(list[1]["created_at"], "2025-10-09T08:53:20Z");

    let (code, out, _) = smsgw(&db, &["status", &id.to_string(), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], id.to_string());
    assert_eq!(v["to"], "+393331234567");
    assert_eq!(v["parts"][0]["seq"], 1);
    assert_eq!(v["parts"][0]["mr"], 4);
    assert_eq!(v["parts"][0]["state"], "ACCEPTED");
    assert_eq!(v["parts"][0]["submitted_at"], "2025-10-09T08:53:20Z");

    let (_, out, _) = smsgw(&db, &["reports", "--orphans", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v["reports"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["mr"], 9);
    assert_eq!(list[0]["status"], 0);
    assert_eq!(list[0]["message"], serde_json::Value::Null);
    let (_, out, _) = smsgw(&db, &["reports", "--ambiguous"]);
    assert!(out.contains("ambiguous  one of 1, 2"), "{out}");

    let (_, out, _) = smsgw(&db, &["collisions", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v["collisions"][0];
    assert_eq!(
        (c["new_part"].as_i64(), c["pending_part"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(c["settled"], "ambiguous");

    let (code, out, _) = smsgw(&db, &["receipt", &id.to_string()]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("id:{id} sub:001 dlvrd:000 submit date:")),
        "{out}"
    );

    let (code, _, err) = smsgw(&db, &["status", "999"]);
    assert_eq!(code, 2);
    assert!(err.contains("no message with id 999"), "{err}");
    let (code, _, err) = smsgw(&db, &["messages", "--state", "DONE"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn read_only_commands_create_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("not-yet").join("smsgw.db");
    for args in [
        &["messages"][..],
        &["status", "1"],
        &["reports"],
        &["collisions"],
        &["receipt", "1"],
    ] {
        let (code, out, err) = smsgw(&db, args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains("no database at"), "{args:?}: {err}");
        assert!(err.contains("not-yet"), "{args:?} names the path: {err}");
        assert!(
            !db.parent().unwrap().exists(),
            "{args:?} created the database's directory"
        );
    }
}
