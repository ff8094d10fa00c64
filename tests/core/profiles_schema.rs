//! Hardware profiles: every embedded file parses and validates, and bad files
//! are rejected with errors that name the file and the key.

use std::path::Path;

use smsgw::profile::{Origin, Profile, ProfileError, ProfileSet, Quirk, ReportMode};

const GENERIC: &str = include_str!("../../hw-profiles/generic.toml");

fn parse(text: &str) -> Result<Profile, ProfileError> {
    Profile::from_toml("test.toml", text, Origin::Builtin)
}

/// The generic profile with one exact substring replaced (the test fails if
/// the substring is missing, so a renamed key cannot make a test vacuous).
fn generic_with(from: &str, to: &str) -> String {
    assert!(GENERIC.contains(from), "generic.toml has no {from:?}");
    GENERIC.replacen(from, to, 1)
}

fn error_key(text: &str) -> (Option<String>, String) {
    match parse(text) {
        Ok(p) => panic!("accepted a bad profile: {p:?}"),
        Err(e) => (e.key().map(str::to_string), e.to_string()),
    }
}

#[test]
fn every_embedded_profile_parses_and_validates() {
    let all = smsgw::profile::try_builtin().expect("embedded profiles");
    assert!(all.len() >= 11, "{} profiles", all.len());
    for p in &all {
        assert_eq!(p.origin, Origin::Builtin);
        assert!(!p.sources.is_empty(), "{} has no sources", p.name);
        assert!(p.text.contains(&format!("name = \"{}\"", p.name)));
        // Reports must be either pushed and acknowledged or stored and read.
        let ds = p.sms.cnmi_fields()[3];
        match p.sms.report_mode {
            ReportMode::Cds => assert_eq!(ds, 1, "{}", p.name),
            ReportMode::Cdsi => assert_eq!(ds, 2, "{}", p.name),
        }
        if p.has_quirk(Quirk::CnmiMode1Only) {
            assert_eq!(p.sms.cnmi_fields()[0], 1, "{} must use CNMI mode 1", p.name);
        }
    }
}

#[test]
fn every_file_in_hw_profiles_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw-profiles");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("hw-profiles/")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    on_disk.sort();
    let embedded: Vec<String> = Profile::builtin().into_iter().map(|p| p.name).collect();
    assert_eq!(on_disk, embedded);
}

#[test]
fn the_families_named_in_the_issue_are_covered() {
    for name in [
        "generic",
        "huawei-e173",
        "huawei-e1750",
        "huawei-e3131",
        "huawei-e3372",
        "zte-mf",
        "sierra-mc7xxx",
        "quectel-ec2x",
        "simcom-sim800",
        "simcom-sim7600",
        "telit-le910",
    ] {
        assert!(Profile::by_name(name).is_some(), "missing {name}");
    }
    let zte = Profile::by_name("zte-mf").unwrap();
    for m in ["MF190", "MF626", "MF667"] {
        assert!(zte.models.iter().any(|x| x == m));
    }
    let sierra = Profile::by_name("sierra-mc7xxx").unwrap();
    for m in ["MC7304", "MC7455", "EM7455"] {
        assert!(sierra.models.iter().any(|x| x == m));
    }
}

#[test]
fn typed_accessors_give_the_commands_the_session_sends() {
    let q = Profile::by_name("quectel-ec2x").unwrap();
    assert_eq!(q.sms.cnmi_command(), "AT+CNMI=1,2,0,1,0");
    assert_eq!(q.sms.cpms_command(), "AT+CPMS=\"SM\",\"SM\",\"SM\"");
    assert!(q.sms.cnma_required);
    assert_eq!(q.sms.csms, 1);
    assert_eq!(q.timeouts.send(), std::time::Duration::from_secs(120));
    let zte = Profile::by_name("zte-mf").unwrap();
    assert_eq!(zte.init, vec!["AT+ZOPRT=5".to_string()]);
    assert!(zte.has_quirk(Quirk::CdsLeadingComma));
    let huawei = Profile::by_name("huawei-e173").unwrap();
    assert_eq!(huawei.init, vec!["AT^CURC=0".to_string()]);
    assert!(huawei.has_quirk(Quirk::SmsLocation0));
}

#[test]
fn unknown_top_level_key_is_rejected_by_name() {
    let (key, msg) = error_key(&generic_with(
        "echo_default = true",
        "echo_default = true\nechoo = 1",
    ));
    assert_eq!(key.as_deref(), Some("echoo"), "{msg}");
    assert!(msg.contains("test.toml"), "{msg}");
    assert!(msg.contains("unknown field"), "{msg}");
}

#[test]
fn unknown_nested_key_is_rejected_with_its_table() {
    let (key, msg) = error_key(&generic_with(
        "baud = 115200",
        "baud = 115200\nparity = \"none\"",
    ));
    assert_eq!(key.as_deref(), Some("serial.parity"), "{msg}");
}

#[test]
fn wrong_type_names_the_key() {
    let (key, msg) = error_key(&generic_with("baud = 115200", "baud = \"fast\""));
    assert_eq!(key.as_deref(), Some("serial.baud"), "{msg}");
}

#[test]
fn bad_enum_value_names_the_key() {
    let (key, msg) = error_key(&generic_with(
        "flow_control = \"none\"",
        "flow_control = \"xon\"",
    ));
    assert_eq!(key.as_deref(), Some("serial.flow_control"), "{msg}");
    assert!(msg.contains("hardware"), "lists the allowed values: {msg}");
    let (key, _) = error_key(&generic_with(
        "report_mode = \"cdsi\"",
        "report_mode = \"push\"",
    ));
    assert_eq!(key.as_deref(), Some("sms.report_mode"));
}

#[test]
fn unknown_quirk_is_rejected() {
    let (key, msg) = error_key(&generic_with("quirks = []", "quirks = [\"flaky\"]"));
    assert_eq!(key.as_deref(), Some("quirks"), "{msg}");
    assert!(msg.contains("caret-urcs"), "{msg}");
}

#[test]
fn missing_required_key_is_rejected() {
    let (_, msg) = error_key(&generic_with("echo_default = true\n", ""));
    assert!(msg.contains("echo_default"), "{msg}");
}

#[test]
fn invalid_values_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("name = \"generic\"", "name = \"Generic Modem\"", "name"),
        ("usb = []", "usb = [\"12d1-1506\"]", "match.usb"),
        ("usb = []", "usb = [\"12D1:1506\"]", "match.usb"),
        (
            "models = []\n\n[serial]",
            "models = [\"\"]\n\n[serial]",
            "match.models",
        ),
        ("baud = 115200", "baud = 115201", "serial.baud"),
        ("init = []", "init = [\"ATZ\\r\\nAT+CFUN=0\"]", "init"),
        ("init = []", "init = [\"CFUN=1\"]", "init"),
        ("csms = 0", "csms = 2", "sms.csms"),
        ("cnmi = \"1,1,0,2,0\"", "cnmi = \"1,1,0\"", "sms.cnmi"),
        ("cnmi = \"1,1,0,2,0\"", "cnmi = \"1,1,0,x,0\"", "sms.cnmi"),
        // <ds> 1 (+CDS) contradicts report_mode "cdsi".
        ("cnmi = \"1,1,0,2,0\"", "cnmi = \"1,1,0,1,0\"", "sms.cnmi"),
        (
            "cnma_required = false",
            "cnma_required = true",
            "sms.cnma_required",
        ),
        (
            "cpms = [\"SM\", \"SM\", \"SM\"]",
            "cpms = [\"XX\"]",
            "sms.cpms",
        ),
        ("cpms = [\"SM\", \"SM\", \"SM\"]", "cpms = []", "sms.cpms"),
        (
            "report_storage = \"SR\"",
            "report_storage = \"ZZ\"",
            "sms.report_storage",
        ),
        (
            "command_ms = 10000",
            "command_ms = 0",
            "timeouts.command_ms",
        ),
        (
            "prompt_ms = 5000",
            "prompt_ms = 70000",
            "timeouts.prompt_ms",
        ),
    ];
    for (from, to, want) in cases {
        let (key, msg) = error_key(&generic_with(from, to));
        assert_eq!(key.as_deref(), Some(*want), "{from} -> {to}: {msg}");
        assert!(msg.contains("test.toml"), "{msg}");
    }
}

#[test]
fn cds_with_csms_1_must_require_cnma() {
    let text = generic_with("csms = 0", "csms = 1")
        .replacen("cnmi = \"1,1,0,2,0\"", "cnmi = \"1,2,0,1,0\"", 1)
        .replacen("report_mode = \"cdsi\"", "report_mode = \"cds\"", 1);
    let (key, _) = error_key(&text);
    assert_eq!(key.as_deref(), Some("sms.cnma_required"));
    let ok = text.replacen("cnma_required = false", "cnma_required = true", 1);
    let p = parse(&ok).expect("consistent +CDS profile");
    assert_eq!(p.sms.report_mode, ReportMode::Cds);
}

#[test]
fn at_interface_overrides_must_name_a_listed_id() {
    let text = generic_with(
        "[serial]",
        "[at_interface_by_usb]\n\"12d1:1001\" = 2\n\n[serial]",
    );
    let (key, msg) = error_key(&text);
    assert_eq!(key.as_deref(), Some("at_interface_by_usb"), "{msg}");
}

#[test]
fn directory_profiles_override_builtin_by_name_and_add_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let custom = generic_with("command_ms = 10000", "command_ms = 2500");
    std::fs::write(dir.path().join("generic.toml"), &custom).unwrap();
    let extra = generic_with("name = \"generic\"", "name = \"my-modem\"").replacen(
        "models = []\n\n[serial]",
        "models = [\"XYZ-9\"]\n\n[serial]",
        1,
    );
    std::fs::write(dir.path().join("my-modem.toml"), extra).unwrap();
    std::fs::write(dir.path().join("README.txt"), "not a profile").unwrap();

    let set = ProfileSet::with_dir(dir.path()).expect("loads");
    let g = set.by_name("generic").unwrap();
    assert_eq!(g.timeouts.command_ms, 2500);
    assert_eq!(g.origin, Origin::File(dir.path().join("generic.toml")));
    assert_eq!(set.all().len(), Profile::builtin().len() + 1);
    assert_eq!(set.for_identity("", "XYZ-9 rev 2").name, "my-modem");
    // Built-ins not overridden are untouched.
    assert_eq!(set.by_name("zte-mf").unwrap().origin, Origin::Builtin);
}

#[test]
fn directory_file_must_be_named_after_its_profile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("other.toml"), GENERIC).unwrap();
    let err = ProfileSet::with_dir(dir.path()).unwrap_err();
    assert_eq!(err.key(), Some("name"));
    assert!(err.to_string().contains("other.toml"), "{err}");
}

#[test]
fn a_broken_file_in_the_directory_fails_the_whole_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("generic.toml"),
        generic_with("baud = 115200", "baud = -1"),
    )
    .unwrap();
    let err = ProfileSet::with_dir(dir.path()).unwrap_err();
    assert_eq!(err.key(), Some("serial.baud"), "{err}");
    assert!(err.to_string().contains("generic.toml"), "{err}");
}

#[test]
fn missing_directory_is_an_io_error_naming_it() {
    let err = ProfileSet::with_dir(Path::new("/nonexistent/smsgw-profiles")).unwrap_err();
    assert!(matches!(err, ProfileError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/smsgw-profiles"));
}

#[test]
fn every_quirk_has_a_name_and_a_description_and_round_trips() {
    for q in Quirk::ALL {
        assert!(!q.description().is_empty());
        let v = serde_json::to_value(q).unwrap();
        assert_eq!(v, serde_json::Value::String(q.as_str().to_string()));
        let back: Quirk = serde_json::from_value(v).unwrap();
        assert_eq!(back, q);
    }
}

#[test]
fn ussd_encoding_is_text_unless_a_profile_says_packed() {
    use smsgw::modem::transport::Endpoint;
    use smsgw::modem::SessionConfig;
    use smsgw::profile::UssdEncoding;
    let dev = || Endpoint::Serial("/dev/x".into());
    for p in Profile::builtin() {
        assert_eq!(p.sms.ussd_encoding, UssdEncoding::Text, "{}", p.name);
    }
    let packed = parse(&generic_with(
        "report_storage = \"SR\"",
        "report_storage = \"SR\"\nussd_encoding = \"packed\"",
    ))
    .unwrap();
    assert_eq!(packed.sms.ussd_encoding, UssdEncoding::Packed);
    assert!(SessionConfig::from_profile("m", dev(), &packed).ussd_packed);
    assert!(smsgw::cli::sim::sim_config_for(&packed).ussd_packed);
    let plain = parse(GENERIC).unwrap();
    assert!(!SessionConfig::from_profile("m", dev(), &plain).ussd_packed);
    let (key, msg) = error_key(&generic_with(
        "report_storage = \"SR\"",
        "report_storage = \"SR\"\nussd_encoding = \"ucs2\"",
    ));
    assert_eq!(key.as_deref(), Some("sms.ussd_encoding"), "{msg}");
    assert!(msg.contains("packed"), "lists the allowed values: {msg}");
}
