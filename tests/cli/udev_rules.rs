//! The generated udev rules: up to date with the committed file, valid udev
//! syntax line by line (and `udevadm verify` where it exists), and doing
//! what they say when evaluated against devices described like udev sees them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use smsgw::profile::{format_usb_id, parse_usb_id, Profile};
use smsgw::udev::{generate, port_rules, PortMatch, RulesOptions};

const COMMITTED: &str = include_str!("../../scripts/90-smsgw.rules");

fn generated() -> String {
    generate(&Profile::builtin(), &RulesOptions::default()).unwrap()
}

#[test]
fn committed_rules_are_up_to_date() {
    assert!(
        generated() == COMMITTED,
        "scripts/90-smsgw.rules is stale: run `cargo run -- udev-rules > scripts/90-smsgw.rules`"
    );
}

#[test]
fn cli_prints_the_same_rules_and_takes_unit_and_group() {
    let bin = env!("CARGO_BIN_EXE_smsgw");
    let out = Command::new(bin).arg("udev-rules").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), COMMITTED);

    let out = Command::new(bin)
        .args(["udev-rules", "--unit", "sms-gw.service", "--group", "smsgw"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ENV{SYSTEMD_WANTS}+=\"sms-gw.service\""));
    assert!(text.contains("GROUP=\"smsgw\""));
    assert!(!text.contains("dialout"));
    parse_file(&text);

    let out = Command::new(bin)
        .args(["udev-rules", "--unit", "x\" RUN+=\"/bin/sh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unit"));
}

// ---- a udev rules parser: key[{attr}] op "value", comma separated ----

#[derive(Debug, Clone, PartialEq)]
struct Item {
    key: String,
    attr: Option<String>,
    op: String,
    value: String,
}

fn parse_line(line: &str, n: usize) -> Vec<Item> {
    let mut items = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or_else(|| panic!("line {n}: no operator in {rest:?}"));
        let key = &rest[..key_end];
        assert!(!key.is_empty(), "line {n}: missing key at {rest:?}");
        rest = &rest[key_end..];
        let mut attr = None;
        if let Some(r) = rest.strip_prefix('{') {
            let close = r
                .find('}')
                .unwrap_or_else(|| panic!("line {n}: unclosed {{"));
            let a = &r[..close];
            assert!(
                !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "line {n}: bad attribute name {a:?}"
            );
            attr = Some(a.to_string());
            rest = &r[close + 1..];
        }
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .unwrap_or_else(|| panic!("line {n}: no operator after {key}: {rest:?}"));
        rest = &rest[op.len()..];
        let r = rest
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("line {n}: value of {key} not quoted"));
        let close = r
            .find('"')
            .unwrap_or_else(|| panic!("line {n}: unclosed quote"));
        let value = &r[..close];
        assert!(!value.contains('\\'), "line {n}: escapes not expected");
        rest = r[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            assert!(!rest.is_empty(), "line {n}: trailing comma");
        } else {
            assert!(rest.is_empty(), "line {n}: expected ',' before {rest:?}");
        }
        check_operator(key, attr.as_deref(), op, n);
        items.push(Item {
            key: key.to_string(),
            attr,
            op: op.to_string(),
            value: value.to_string(),
        });
    }
    items
}

/// The operators udev accepts for each key we use (udev(7)).
fn check_operator(key: &str, attr: Option<&str>, op: &str, n: usize) {
    let (allowed, needs_attr): (&[&str], bool) = match key {
        "ACTION" | "SUBSYSTEM" | "KERNEL" | "DEVPATH" | "SUBSYSTEMS" | "DRIVERS" | "KERNELS" => {
            (&["==", "!="], false)
        }
        "ATTRS" => (&["==", "!="], true),
        "ATTR" => (&["==", "!=", "="], true),
        "ENV" => (&["==", "!=", "=", "+="], true),
        "TAG" => (&["==", "!=", "=", "+=", "-="], false),
        "SYMLINK" => (&["==", "!=", "=", "+=", "-=", ":="], false),
        "GROUP" | "MODE" | "OWNER" => (&["=", ":="], false),
        "GOTO" | "LABEL" => (&["="], false),
        other => panic!("line {n}: key {other} not expected in smsgw rules"),
    };
    assert!(allowed.contains(&op), "line {n}: {key} {op} not allowed");
    assert_eq!(attr.is_some(), needs_attr, "line {n}: {key} attribute use");
}

fn parse_file(text: &str) -> Vec<(usize, Vec<Item>)> {
    let mut rules = Vec::new();
    let mut labels = Vec::new();
    let mut gotos = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        assert!(!t.ends_with('\\'), "line {n}: continuation not expected");
        let items = parse_line(t, n);
        for it in &items {
            match it.key.as_str() {
                "LABEL" => labels.push(it.value.clone()),
                "GOTO" => gotos.push((n, it.value.clone())),
                "ATTRS" | "ATTR" if it.attr.as_deref().is_some_and(|a| a.starts_with("id")) => {
                    assert!(
                        it.value.len() == 4
                            && it
                                .value
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                        "line {n}: USB id {:?} must be 4 lowercase hex digits",
                        it.value
                    )
                }
                "ENV" if it.attr.as_deref() == Some("ID_USB_INTERFACE_NUM") => assert!(
                    it.value.len() == 2 && it.value.bytes().all(|b| b.is_ascii_hexdigit()),
                    "line {n}: interface number {:?} must be two hex digits",
                    it.value
                ),
                "ENV" if it.attr.as_deref() == Some("SYSTEMD_WANTS") => {
                    assert_eq!(it.op, "+=", "line {n}: SYSTEMD_WANTS must be appended")
                }
                _ => {}
            }
        }
        let assigns = items.iter().any(|i| !matches!(i.op.as_str(), "==" | "!="));
        assert!(assigns, "line {n}: a rule with nothing to do");
        rules.push((n, items));
    }
    for (n, g) in gotos {
        assert!(labels.contains(&g), "line {n}: GOTO {g:?} has no LABEL");
    }
    assert_eq!(labels.len(), 1);
    rules
}

#[test]
fn every_line_is_valid_udev_syntax() {
    let rules = parse_file(COMMITTED);
    assert!(rules.len() > 20, "{} rules", rules.len());
    // Rejects what it should.
    for bad in [
        "SUBSYSTEM=\"tty\", GROUP=\"x\"",
        "ATTRS{idVendor}=\"12d1\", MODE=\"0660\"",
        "GROUP==\"x\"",
        "ENV{A}==\"1\" ENV{B}=\"2\"",
        "ENV{A}=='1'",
        "SYSTEMD_WANTS+=\"x\"",
    ] {
        let r = std::panic::catch_unwind(|| parse_file(&format!("{bad}\nLABEL=\"smsgw_end\"\n")));
        assert!(r.is_err(), "accepted {bad:?}");
    }
}

#[test]
fn udevadm_verify_accepts_the_file() {
    let probe = Command::new("udevadm").args(["verify", "--help"]).output();
    match probe {
        Ok(o) if o.status.success() => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/90-smsgw.rules");
            let out = Command::new("udevadm")
                .arg("verify")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "udevadm verify: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        _ => println!(
            "note: `udevadm verify` not available (needs systemd 254 or later); \
             the rules were checked by the parser test only"
        ),
    }
}

#[test]
fn every_modem_id_has_a_port_rule_and_storage_ids_a_modeswitch_note() {
    let text = COMMITTED;
    for p in Profile::builtin() {
        for id in &p.matching.usb {
            let (vid, pid) = parse_usb_id(id).unwrap();
            let (v, d) = (format!("{vid:04x}"), format!("{pid:04x}"));
            let tty_rule = text.lines().any(|l| {
                l.starts_with("SUBSYSTEM==\"tty\"")
                    && (l.contains(&format!(
                        "ATTRS{{idVendor}}==\"{v}\", ATTRS{{idProduct}}==\"{d}\""
                    )) || l.contains(&format!(
                        "ENV{{ID_VENDOR_ID}}==\"{v}\", ENV{{ID_MODEL_ID}}==\"{d}\""
                    )))
            });
            assert!(tty_rule, "{}: no rule for {id}", p.name);
            if let Some(n) = p.at_interface_for(vid, pid) {
                let r = port_rules(&Profile::builtin())
                    .into_iter()
                    .find(|r| (r.vid, r.pid) == (vid, pid))
                    .unwrap();
                if r.profile == p.name {
                    assert_eq!(r.port, PortMatch::Interface(n));
                }
            }
        }
        for id in &p.matching.usb_storage {
            assert!(
                text.lines()
                    .any(|l| l.starts_with('#') && l.contains(id) && l.contains("usb_modeswitch")),
                "{}: storage id {id} has no usb_modeswitch note",
                p.name
            );
            // No rule matches a storage id: usb_modeswitch must get it.
            let (vid, pid) = parse_usb_id(id).unwrap();
            let product = format!("{{idProduct}}==\"{pid:04x}\"");
            let model = format!("ENV{{ID_MODEL_ID}}==\"{pid:04x}\"");
            let vendor = format!("==\"{vid:04x}\"");
            assert!(
                !text.lines().any(|l| !l.starts_with('#')
                    && l.contains(&vendor)
                    && (l.contains(&product) || l.contains(&model))),
                "{}: a rule matches storage id {id}",
                p.name
            );
        }
    }
}

// ---- evaluating the rules against a device as udev would present it ----

/// A tty device: its properties (from 60-serial.rules' usb_id and path_id),
/// and the sysfs attributes of its parents, nearest first (interface, device).
struct Device {
    subsystem: &'static str,
    devtype: &'static str,
    env: BTreeMap<String, String>,
    attr: BTreeMap<String, String>,
    parents: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    env: BTreeMap<String, String>,
    symlinks: Vec<String>,
    tags: Vec<String>,
    group: Option<String>,
    mode: Option<String>,
}

/// udev's glob: `*`, `?`, and `|` alternatives.
fn glob_match(pattern: &str, s: &str) -> bool {
    pattern.split('|').any(|alt| {
        fn m(p: &[u8], s: &[u8]) -> bool {
            match (p.first(), s.first()) {
                (None, None) => true,
                (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
                (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
                (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
                _ => false,
            }
        }
        m(alt.as_bytes(), s.as_bytes())
    })
}

fn substitute(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("$env{") {
        out.push_str(&rest[..i]);
        let r = &rest[i + 5..];
        let close = r.find('}').unwrap();
        out.push_str(env.get(&r[..close]).map(String::as_str).unwrap_or(""));
        rest = &r[close + 1..];
    }
    out.push_str(rest);
    out
}

fn evaluate(text: &str, dev: &Device) -> Outcome {
    let rules = parse_file(text);
    let mut env = dev.env.clone();
    env.insert("DEVTYPE".into(), dev.devtype.into());
    let mut out = Outcome::default();
    let mut skip_to: Option<String> = None;
    for (_, items) in rules {
        if let Some(label) = &skip_to {
            if items.iter().any(|i| i.key == "LABEL" && &i.value == label) {
                skip_to = None;
            }
            continue;
        }
        let matches = |i: &Item| -> Option<bool> {
            let cmp = |have: Option<&String>| {
                let hit = glob_match(&i.value, have.map(String::as_str).unwrap_or(""));
                Some(if i.op == "==" { hit } else { !hit })
            };
            match (i.key.as_str(), i.op.as_str()) {
                (_, "=" | "+=" | ":=" | "-=") => None,
                ("ACTION", _) => cmp(Some(&"add".to_string())),
                ("SUBSYSTEM", _) => cmp(Some(&dev.subsystem.to_string())),
                ("ENV", _) => cmp(env.get(i.attr.as_ref().unwrap())),
                ("ATTR", _) => cmp(dev.attr.get(i.attr.as_ref().unwrap())),
                ("ATTRS", _) => None, // checked together below
                (k, _) => panic!("match key {k} not modelled"),
            }
        };
        let mut ok = items.iter().filter_map(matches).all(|b| b);
        let attrs: Vec<&Item> = items.iter().filter(|i| i.key == "ATTRS").collect();
        if !attrs.is_empty() {
            // All ATTRS of a rule must match on one and the same parent.
            ok &= dev.parents.iter().any(|p| {
                attrs.iter().all(|i| {
                    glob_match(
                        &i.value,
                        p.get(i.attr.as_ref().unwrap())
                            .map(String::as_str)
                            .unwrap_or("\u{0}"),
                    )
                })
            });
        }
        if !ok {
            continue;
        }
        for i in &items {
            let v = substitute(&i.value, &env);
            match (i.key.as_str(), i.op.as_str()) {
                ("ENV", "=") => {
                    env.insert(i.attr.clone().unwrap(), v.clone());
                    out.env.insert(i.attr.clone().unwrap(), v);
                }
                ("ENV", "+=") => {
                    let e = out.env.entry(i.attr.clone().unwrap()).or_default();
                    if !e.is_empty() {
                        e.push(' ');
                    }
                    e.push_str(&v);
                }
                ("SYMLINK", "+=") => out.symlinks.push(v),
                ("TAG", "+=") => out.tags.push(v),
                ("GROUP", "=") => out.group = Some(v),
                ("MODE", "=") => out.mode = Some(v),
                ("GOTO", _) => skip_to = Some(v),
                ("LABEL", _) => {}
                (k, op) if op == "==" || op == "!=" || k == "ATTRS" => {}
                (k, op) => panic!("{k}{op} not modelled"),
            }
        }
    }
    out
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A tty of a USB modem with `vid:pid`, on interface `ifnum` with the given
/// class/subclass/protocol, with or without a serial number.
fn tty(id: &str, ifnum: u8, csp: (&str, &str, &str), serial: Option<&str>) -> Device {
    let (vid, pid) = parse_usb_id(id).unwrap();
    let (v, p) = (format!("{vid:04x}"), format!("{pid:04x}"));
    let mut env = map(&[
        ("ID_VENDOR_ID", &v),
        ("ID_MODEL_ID", &p),
        ("ID_USB_INTERFACE_NUM", &format!("{ifnum:02x}")),
        ("ID_PATH", &format!("pci-0000:00:14.0-usb-0:2:1.{ifnum}")),
    ]);
    if let Some(s) = serial {
        env.insert("ID_SERIAL_SHORT".into(), s.into());
    }
    Device {
        subsystem: "tty",
        devtype: "",
        env,
        attr: BTreeMap::new(),
        parents: vec![
            map(&[
                ("bInterfaceNumber", &format!("{ifnum:02x}")),
                ("bInterfaceClass", csp.0),
                ("bInterfaceSubClass", csp.1),
                ("bInterfaceProtocol", csp.2),
            ]),
            map(&[("idVendor", &v), ("idProduct", &p)]),
        ],
    }
}

const VENDOR: (&str, &str, &str) = ("ff", "ff", "ff");

#[test]
fn huawei_e173_at_port_gets_a_serial_link_and_starts_the_unit() {
    let out = evaluate(COMMITTED, &tty("12d1:1001", 2, VENDOR, Some("35123456789")));
    assert_eq!(out.symlinks, vec!["smsgw/huawei-e173-35123456789"]);
    assert_eq!(
        out.env.get("ID_MM_DEVICE_IGNORE").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        out.env.get("SYSTEMD_WANTS").map(String::as_str),
        Some("smsgw.service")
    );
    assert_eq!(out.tags, vec!["systemd"]);
    assert_eq!(out.group.as_deref(), Some("dialout"));
    assert_eq!(out.mode.as_deref(), Some("0660"));
}

#[test]
fn without_serial_the_link_names_the_usb_path() {
    let out = evaluate(COMMITTED, &tty("19d2:0031", 1, VENDOR, None));
    assert_eq!(
        out.symlinks,
        vec!["smsgw/zte-mf-pci-0000:00:14.0-usb-0:2:1.1"]
    );
}

#[test]
fn other_ports_of_the_modem_are_left_alone() {
    // Interface 0 of a Huawei stick is the PPP port, not ours.
    let out = evaluate(COMMITTED, &tty("12d1:1001", 0, VENDOR, Some("1")));
    assert_eq!(out, Outcome::default());
    // An unknown device.
    let out = evaluate(COMMITTED, &tty("0403:6001", 2, VENDOR, Some("FT1")));
    assert_eq!(out, Outcome::default());
}

#[test]
fn huawei_pcui_port_is_found_by_protocol() {
    // E3131: the PCUI interface (ff/02/02) is ours wherever it sits; the
    // modem port (ff/02/01) is not.
    let at = evaluate(COMMITTED, &tty("12d1:1506", 3, ("ff", "02", "02"), None));
    assert_eq!(
        at.symlinks,
        vec!["smsgw/huawei-e3131-pci-0000:00:14.0-usb-0:2:1.3"]
    );
    let ppp = evaluate(COMMITTED, &tty("12d1:1506", 0, ("ff", "02", "01"), None));
    assert!(ppp.symlinks.is_empty());
}

#[test]
fn interface_numbers_from_per_id_overrides() {
    // Telit 1bc7:1201 has its AT port on interface 4 (at_interface_by_usb).
    let p = Profile::by_name("telit-le910").unwrap();
    assert_eq!(p.at_interface_for(0x1bc7, 0x1201), Some(4));
    let out = evaluate(COMMITTED, &tty("1bc7:1201", 4, VENDOR, Some("L1")));
    assert_eq!(out.symlinks, vec!["smsgw/telit-le910-L1"]);
    assert!(
        evaluate(COMMITTED, &tty("1bc7:1201", 2, VENDOR, Some("L1")))
            .symlinks
            .is_empty()
    );
}

#[test]
fn modemmanager_ignores_the_whole_usb_device() {
    let dev = Device {
        subsystem: "usb",
        devtype: "usb_device",
        env: BTreeMap::new(),
        attr: map(&[("idVendor", "2c7c"), ("idProduct", "0125")]),
        parents: vec![],
    };
    let out = evaluate(COMMITTED, &dev);
    assert_eq!(
        out.env.get("ID_MM_DEVICE_IGNORE").map(String::as_str),
        Some("1")
    );
    assert!(out.symlinks.is_empty() && out.tags.is_empty());
    // Storage-mode ids are not touched (usb_modeswitch must see them).
    let storage = Device {
        attr: map(&[("idVendor", "12d1"), ("idProduct", "1446")]),
        ..dev
    };
    assert_eq!(evaluate(COMMITTED, &storage), Outcome::default());
}

#[test]
fn every_port_rule_fires_for_its_own_device() {
    for r in port_rules(&Profile::builtin()) {
        let id = format_usb_id(r.vid, r.pid);
        let dev = match r.port {
            PortMatch::Interface(n) => tty(&id, n, VENDOR, Some("S1")),
            PortMatch::HuaweiProtocol => tty(&id, 2, ("ff", "01", "02"), Some("S1")),
        };
        let out = evaluate(COMMITTED, &dev);
        assert_eq!(
            out.symlinks,
            vec![format!("smsgw/{}-S1", r.profile)],
            "{id}"
        );
    }
}
