//! The `[smpp]` table: defaults, every rule with the file, line and key it
//! names, passwords kept out of Debug output and errors, and the commented
//! block of the example file.

use smsgw::config::{Cidr, Config, ConfigError, SmppIdFormat};

const EXAMPLE: &str = include_str!("../../smsgw.example.toml");

fn invalid(text: &str) -> ConfigError {
    match Config::from_toml(text, "test.toml") {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e,
    }
}

fn key_line(e: &ConfigError) -> (Option<&str>, Option<usize>) {
    assert!(e.to_string().starts_with("test.toml: "), "{e}");
    (e.key(), e.line())
}

const ONE: &str = "[smpp]\nlisten = \"127.0.0.1:2775\"\n\n[[smpp.account]]\nsystem_id = \"app1\"\npassword = \"secret1\"\n";

#[test]
fn no_table_no_listener_and_the_documented_defaults() {
    assert!(Config::from_toml("", "t").unwrap().smpp.is_none());
    let c = Config::from_toml(ONE, "t").unwrap();
    let s = c.smpp.unwrap();
    assert_eq!(s.listen_addr().unwrap().port(), 2775);
    assert_eq!(
        (s.window, s.enquire_link_s, s.receipt_retention_h),
        (64, 30, 72)
    );
    let a = &s.accounts[0];
    assert_eq!(a.system_id, "app1");
    assert_eq!(a.throughput, None);
    assert!(a.allowed_ips.is_empty() && !a.receive_mo);
    assert_eq!(a.message_id, SmppIdFormat::Decimal);
}

#[test]
fn the_examples_commented_block_parses_when_uncommented() {
    let block: String = EXAMPLE
        .lines()
        .skip_while(|l| !l.starts_with("# [smpp]"))
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.starts_with('[') || l.contains(" = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = Config::from_toml(&block, "example").unwrap();
    let s = c.smpp.expect("[smpp] in the example");
    assert_eq!(s.accounts.len(), 1);
    let a = &s.accounts[0];
    assert_eq!(a.throughput, Some(200));
    assert_eq!(a.allowed_ips, ["127.0.0.1/32"]);
    for key in [
        "listen",
        "window",
        "enquire_link_s",
        "receipt_retention_h",
        "system_id",
        "password",
        "throughput",
        "allowed_ips",
        "receive_mo",
        "message_id",
    ] {
        assert!(
            block.contains(&format!("{key} = ")),
            "{key} not in the example"
        );
    }
}

#[test]
fn every_rule_names_file_line_and_key() {
    let cases: [(String, &str, usize); 12] = [
        (
            "[smpp]\nlisten = \"localhost:2775\"\n".into(),
            "smpp.listen",
            2,
        ),
        (
            "[smpp]\nlisten = \"127.0.0.1:2775\"\nwindow = 0\n".into(),
            "smpp.window",
            3,
        ),
        (
            "[smpp]\nlisten = \"127.0.0.1:2775\"\nenquire_link_s = 0\n".into(),
            "smpp.enquire_link_s",
            3,
        ),
        (
            "[smpp]\nlisten = \"127.0.0.1:2775\"\nreceipt_retention_h = 0\n".into(),
            "smpp.receipt_retention_h",
            3,
        ),
        (
            ONE.replace("\"app1\"", "\"\""),
            "smpp.account[0].system_id",
            5,
        ),
        (
            ONE.replace("\"app1\"", "\"sixteen-chars-xx\""),
            "smpp.account[0].system_id",
            5,
        ),
        (
            ONE.replace("\"app1\"", "\"two words\""),
            "smpp.account[0].system_id",
            5,
        ),
        (
            ONE.replace("\"secret1\"", "\"\""),
            "smpp.account[0].password",
            6,
        ),
        (
            ONE.replace("\"secret1\"", "\"ninechars\""),
            "smpp.account[0].password",
            6,
        ),
        (
            format!("{ONE}throughput = 0\n"),
            "smpp.account[0].throughput",
            7,
        ),
        (
            format!("{ONE}allowed_ips = [\"10.0.0.0/8\",\n  \"10.0.0.0/40\"]\n"),
            "smpp.account[0].allowed_ips[1]",
            7,
        ),
        (
            format!("{ONE}\n[[smpp.account]]\nsystem_id = \"app1\"\npassword = \"x\"\n"),
            "smpp.account[1].system_id",
            9,
        ),
    ];
    for (text, key, line) in &cases {
        let e = invalid(text);
        assert_eq!(key_line(&e), (Some(*key), Some(*line)), "{e}\n{text}");
    }
    // Unknown keys and values are named too.
    let e = invalid(&format!("{ONE}message_id = \"octal\"\n"));
    assert_eq!(key_line(&e), (Some("smpp.account[0].message_id"), Some(7)));
    let e = invalid(&format!("{ONE}colour = \"red\"\n"));
    assert_eq!(key_line(&e).1, Some(7));
}

#[test]
fn passwords_never_appear_in_debug_or_errors() {
    let text = ONE.replace("secret1", "Pw-SECRT");
    let c = Config::from_toml(&text, "t").unwrap();
    let dbg = format!("{c:?} {c:#?}");
    assert!(!dbg.contains("Pw-SECRT"), "{dbg}");
    assert!(dbg.contains("<redacted>") && dbg.contains("app1"), "{dbg}");
    // Too long: refused without echoing it.
    let e = invalid(&ONE.replace("secret1", "TooLong-SECRET"));
    assert!(!e.to_string().contains("TooLong-SECRET"), "{e}");
    // Of the wrong type: the TOML message would quote it.
    let e = invalid(&ONE.replace("\"secret1\"", "12345678"));
    assert_eq!(key_line(&e), (Some("smpp.account[0].password"), Some(6)));
    assert!(!e.to_string().contains("12345678"), "{e}");
}

#[test]
fn allowed_ips_are_cidrs() {
    let c = Config::from_toml(
        &format!("{ONE}allowed_ips = [\"10.1.0.0/16\", \"::1\"]\n"),
        "t",
    )
    .unwrap();
    let cidrs = c.smpp.unwrap().accounts[0].allowed_cidrs();
    assert_eq!(cidrs.len(), 2);
    assert!(cidrs[0].contains("10.1.200.3".parse().unwrap()));
    assert!(!cidrs[0].contains("10.2.0.1".parse().unwrap()));
    assert!(cidrs[1].contains("::1".parse().unwrap()));
    assert_eq!(Cidr::parse("10.1.0.0/16"), Ok(cidrs[0]));
}
