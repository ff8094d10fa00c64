//! `smsgw profiles` through the real binary.

use std::process::{Command, Output};

const GENERIC: &str = include_str!("../../hw-profiles/generic.toml");

fn smsgw(args: &[&str], env_dir: Option<&std::path::Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smsgw"));
    cmd.args(args).env_remove("SMSGW_PROFILES_DIR");
    if let Some(d) = env_dir {
        cmd.env("SMSGW_PROFILES_DIR", d);
    }
    cmd.output().expect("run smsgw")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn lists_every_profile_in_a_table() {
    let o = smsgw(&["profiles"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    for col in ["name", "vendor", "models", "usb ids", "reports"] {
        assert!(header.contains(col), "{header}");
    }
    let quectel = out
        .lines()
        .find(|l| l.starts_with("quectel-ec2x "))
        .expect("quectel row");
    assert!(quectel.contains("Quectel") && quectel.contains("2c7c:0125"));
    assert!(quectel.trim_end().ends_with("cds"), "{quectel}");
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names.len(), 11, "{out}");
    assert!(names.contains(&"generic") && names.contains(&"zte-mf"));
}

#[test]
fn json_lists_every_profile() {
    let o = smsgw(&["profiles", "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 11);
    let telit = arr.iter().find(|p| p["name"] == "telit-le910").unwrap();
    assert_eq!(telit["at_interface_by_usb"]["1bc7:1201"], 4);
    assert_eq!(telit["sms"]["report_mode"], "cdsi");
    assert_eq!(telit["origin"], "builtin");
}

#[test]
fn one_profile_in_full_keeps_its_comments() {
    let o = smsgw(&["profiles", "huawei-e173"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("name = \"huawei-e173\""));
    assert!(out.contains("AT^CURC=0"));
    // The comments that carry the sources are shown too.
    assert!(out.contains("# guess:"), "{out}");
    assert!(out.contains("mm-plugin-huawei.c"));
}

#[test]
fn one_profile_as_json() {
    let o = smsgw(&["profiles", "--json", "zte-mf"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["name"], "zte-mf");
    assert_eq!(v["init"][0], "AT+ZOPRT=5");
    assert_eq!(v["at_interface"], 1);
}

#[test]
fn unknown_name_exits_2_with_the_list() {
    let o = smsgw(&["profiles", "nokia-3310"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("nokia-3310"), "{err}");
    for n in ["generic", "quectel-ec2x", "telit-le910"] {
        assert!(err.contains(n), "{err}");
    }
    assert!(stdout(&o).is_empty());
}

#[test]
fn profiles_dir_overrides_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let custom = GENERIC.replacen("command_ms = 10000", "command_ms = 1234", 1);
    assert_ne!(custom, GENERIC);
    std::fs::write(dir.path().join("generic.toml"), custom).unwrap();
    let d = dir.path().to_str().unwrap();

    let o = smsgw(
        &["profiles", "--json", "--profiles-dir", d, "generic"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["timeouts"]["command_ms"], 1234);
    assert!(v["origin"].as_str().unwrap().ends_with("generic.toml"));

    // Same through the environment variable.
    let o = smsgw(&["profiles", "--json", "generic"], Some(dir.path()));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["timeouts"]["command_ms"], 1234);

    // An empty variable means "not set": the built-in profile is used.
    let o = smsgw(
        &["profiles", "--json", "generic"],
        Some(std::path::Path::new("")),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["timeouts"]["command_ms"], 10000);
    assert_eq!(v["origin"], "builtin");
}

#[test]
fn a_bad_profile_file_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = GENERIC.replacen("flow_control = \"none\"", "flow_control = \"xonxoff\"", 1);
    std::fs::write(dir.path().join("generic.toml"), bad).unwrap();
    let o = smsgw(
        &["profiles", "--profiles-dir", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("generic.toml"), "{err}");
    assert!(err.contains("serial.flow_control"), "{err}");
}
