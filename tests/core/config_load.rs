//! Loading the daemon configuration: the commented example, defaults, and
//! every validation rule with the file, line and key it names.

use std::path::Path;

use smsgw::config::{resolve_device, Config, ConfigError};
use smsgw::gateway::ResendUnknown;
use smsgw::router::RouterConfig;

const EXAMPLE: &str = include_str!("../../smsgw.example.toml");

fn invalid(text: &str) -> ConfigError {
    match Config::from_toml(text, "test.toml") {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e,
    }
}

/// The error's key and line, and its message must name the file.
fn key_line(e: &ConfigError) -> (Option<&str>, Option<usize>) {
    assert!(e.to_string().starts_with("test.toml: "), "{e}");
    (e.key(), e.line())
}

#[test]
fn example_file_parses_with_every_section() {
    let c = Config::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/smsgw.example.toml"
    )))
    .expect("example config");
    assert_eq!(
        c.store.path.as_deref(),
        Some(Path::new("/var/lib/smsgw/smsgw.db"))
    );
    assert_eq!(c.http.listen, "127.0.0.1:8080");
    assert_eq!(c.modems.len(), 2);
    let m = &c.modems[0];
    assert_eq!(m.name, "huawei1");
    assert_eq!(m.profile, "auto");
    // No PIN ships in the example: a wrong one sent by a fresh install
    // costs the SIM one of its three attempts.
    assert_eq!(m.pin, None);
    assert!(EXAMPLE.lines().any(|l| l.starts_with("# pin = ")));
    assert_eq!(m.rate_per_minute, Some(10));
    assert!(m.device_is_glob());
    assert_eq!(c.modems[1].profile, "quectel-ec2x");
    let w = c.webhook.as_ref().expect("webhook");
    assert_eq!(w.max_backoff_s, 3600);
    assert_eq!(c.gateway.default_validity.as_deref(), Some("1d"));
    assert_eq!(c.router_config(), RouterConfig::default());
    assert!(c.modem("quectel1").is_some());
}

#[test]
fn example_documents_every_key_of_the_defaults() {
    // Every key of every section appears, uncommented, in the example.
    for key in [
        "path",
        "listen",
        "tokens",
        "max_body_bytes",
        "max_connections",
        "max_header_bytes",
        "header_timeout_ms",
        "body_timeout_ms",
        "idle_timeout_ms",
        "name",
        "device",
        "profile",
        "rate_per_minute",
        "prefixes",
        "url",
        "secret",
        "max_backoff_s",
        "timeout_ms",
        "default_validity",
        "report",
        "max_retries",
        "retry_backoff_s",
        "resend_unknown",
        "resend_unknown_wait_s",
        "avoid_mr_lookalikes",
        "suffix_digits",
        "tolerance",
        "fallback_bound",
        "expiry_grace",
        "keep_settled",
    ] {
        assert!(
            EXAMPLE.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "{key} missing from smsgw.example.toml"
        );
    }
}

#[test]
fn empty_file_gives_the_documented_defaults() {
    let c = Config::from_toml("", "empty.toml").unwrap();
    assert_eq!(c.store.path, None);
    assert_eq!(c.http.listen, "127.0.0.1:8080");
    assert_eq!(c.http.max_body_bytes, 65536);
    assert!(c.http.tokens.is_empty());
    assert!(c.modems.is_empty());
    assert!(c.webhook.is_none());
    assert!(c.gateway.report);
    assert_eq!(c.gateway.max_retries, 5);
    assert_eq!(c.gateway.retry_backoff_s, 30);
    assert_eq!(c.gateway.resend_unknown, ResendUnknown::Never);
    assert_eq!(c.gateway.resend_unknown_wait_s, 600);
    assert!(c.gateway.avoid_mr_lookalikes);
    assert_eq!(c.router_config(), RouterConfig::default());
    let s = c.gateway_settings();
    assert!(s.report && s.resend_unknown == ResendUnknown::Never);
}

#[test]
fn section_defaults_fill_missing_keys() {
    let c = Config::from_toml(
        "[[modem]]\nname = \"m\"\ndevice = \"/dev/ttyUSB2\"\n[webhook]\nurl = \"http://127.0.0.1:9/h\"\n[router]\nsuffix_digits = 9\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.modems[0].profile, "auto");
    assert_eq!(c.modems[0].rate_per_minute, None);
    assert!(c.modems[0].prefixes.is_empty());
    let w = c.webhook.clone().unwrap();
    assert_eq!(
        (w.max_backoff_s, w.timeout_ms, w.secret),
        (3600, 10_000, None)
    );
    assert_eq!(c.router_config().suffix_digits, 9);
    assert_eq!(
        c.router_config().tolerance,
        RouterConfig::default().tolerance
    );
}

#[test]
fn validity_is_parsed_into_gateway_settings() {
    let c = Config::from_toml("[gateway]\ndefault_validity = \"12h\"\n", "t").unwrap();
    let v = c.gateway_settings().default_validity;
    // 12 h is the relative TP-VP octet 143 (3GPP TS 23.040 9.2.3.12.1).
    assert_eq!(v, smsgw::pdu::validity::Validity::Relative(143));
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let e = invalid("[http]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n");
    assert_eq!(key_line(&e), (Some("http.lisen"), Some(3)));
    let e = invalid("[[modem]]\nname = \"a\"\ndevice = \"/dev/x\"\nbaud = 9600\n");
    assert_eq!(key_line(&e), (Some("modem[0].baud"), Some(4)));
    let e = invalid("[smtp]\nhost = \"x\"\n");
    assert_eq!(key_line(&e).1, Some(1));
}

#[test]
fn wrong_type_is_named() {
    let e = invalid("[gateway]\nmax_retries = \"five\"\n");
    assert_eq!(key_line(&e), (Some("gateway.max_retries"), Some(2)));
}

#[test]
fn missing_required_modem_key() {
    let e = invalid("[[modem]]\nname = \"a\"\n");
    assert!(e.to_string().contains("device"), "{e}");
}

const M0: &str = "[[modem]]\nname = \"a\"\ndevice = \"/dev/ttyUSB0\"\n";

#[test]
fn empty_and_duplicate_modem_names() {
    let e = invalid("[[modem]]\nname = \"\"\ndevice = \"/dev/ttyUSB0\"\n");
    assert_eq!(key_line(&e), (Some("modem[0].name"), Some(2)));
    let e = invalid(&format!(
        "{M0}\n[[modem]]\ndevice = \"/dev/ttyUSB1\"\nname = \"a\"\n"
    ));
    assert_eq!(key_line(&e), (Some("modem[1].name"), Some(7)));
    assert!(e.to_string().contains("modem[0]"), "{e}");
    let e = invalid("[[modem]]\nname = \"a b\"\ndevice = \"/dev/ttyUSB0\"\n");
    assert_eq!(e.key(), Some("modem[0].name"));
}

#[test]
fn unknown_profile_lists_the_known_ones() {
    let e = invalid(&format!("{M0}profile = \"huawei-e999\"\n"));
    assert_eq!(key_line(&e), (Some("modem[0].profile"), Some(4)));
    let msg = e.to_string();
    assert!(
        msg.contains("huawei-e999") && msg.contains("huawei-e173"),
        "{msg}"
    );
    for ok in ["auto", "generic", "zte-mf", "telit-le910"] {
        Config::from_toml(&format!("{M0}profile = \"{ok}\"\n"), "t").unwrap();
    }
}

#[test]
fn profiles_from_a_directory_are_accepted_by_load_with() {
    let dir = tempfile::tempdir().unwrap();
    let text = smsgw::profile::Profile::by_name("generic")
        .unwrap()
        .text
        .replace("name = \"generic\"", "name = \"my-modem\"");
    std::fs::write(dir.path().join("my-modem.toml"), text).unwrap();
    let set = smsgw::profile::ProfileSet::with_dir(dir.path()).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("{M0}profile = \"my-modem\"\n")).unwrap();
    assert!(Config::load(&cfg).is_err());
    assert_eq!(
        Config::load_with(&cfg, &set).unwrap().modems[0].profile,
        "my-modem"
    );
}

#[test]
fn bad_device_paths() {
    let e = invalid("[[modem]]\nname = \"a\"\ndevice = \"ttyUSB0\"\n");
    assert_eq!(key_line(&e), (Some("modem[0].device"), Some(3)));
    let e = invalid("[[modem]]\nname = \"a\"\ndevice = \"/dev/serial/by-id/[usb\"\n");
    assert_eq!(e.key(), Some("modem[0].device"));
}

#[test]
fn bad_validity_strings() {
    for bad in ["1y", "0d", "64w", "soon", ""] {
        let e = invalid(&format!("[gateway]\ndefault_validity = \"{bad}\"\n"));
        assert_eq!(
            key_line(&e),
            (Some("gateway.default_validity"), Some(2)),
            "{bad}"
        );
    }
}

#[test]
fn listen_address_must_parse() {
    for bad in ["localhost:8080", "127.0.0.1", "1.2.3.4:99999", ":8080"] {
        let e = invalid(&format!("[http]\nlisten = \"{bad}\"\n"));
        assert_eq!(key_line(&e), (Some("http.listen"), Some(2)), "{bad}");
    }
    for ok in ["[::]:8080", "0.0.0.0:80", "[::1]:1"] {
        Config::from_toml(&format!("[http]\nlisten = \"{ok}\"\n"), "t").unwrap();
    }
}

#[test]
fn webhook_url_must_be_http() {
    for bad in ["ftp://x/y", "example.com/hook", "http://", "https:///path"] {
        let e = invalid(&format!("[webhook]\nurl = \"{bad}\"\n"));
        assert_eq!(key_line(&e), (Some("webhook.url"), Some(2)), "{bad}");
    }
    let e = invalid("[webhook]\nurl = \"http://h/\"\nsecret = \"\"\n");
    assert_eq!(key_line(&e), (Some("webhook.secret"), Some(3)));
}

#[test]
fn empty_tokens_are_refused() {
    let e = invalid("[http]\ntokens = [\"good\", \"\"]\n");
    assert_eq!(key_line(&e), (Some("http.tokens[1]"), Some(2)));
    let e = invalid("[http]\ntokens = [\n  \"good\",\n  \"   \",\n]\n");
    assert_eq!(e.key(), Some("http.tokens[1]"));
}

#[test]
fn rate_zero_is_refused() {
    let e = invalid(&format!("{M0}rate_per_minute = 0\n"));
    assert_eq!(key_line(&e), (Some("modem[0].rate_per_minute"), Some(4)));
}

#[test]
fn prefixes_are_plus_and_digits() {
    for bad in ["+", "", "39a", "+3 9", "++39"] {
        let e = invalid(&format!("{M0}prefixes = [\"+1\", \"{bad}\"]\n"));
        assert_eq!(
            key_line(&e),
            (Some("modem[0].prefixes[1]"), Some(4)),
            "{bad:?}"
        );
    }
}

#[test]
fn routing_prefixes_select_recipients() {
    let c = Config::from_toml(&format!("{M0}prefixes = [\"+39\", \"0041\"]\n"), "t").unwrap();
    let m = &c.modems[0];
    assert!(m.accepts("+393331234567"));
    assert!(m.accepts("00393331234567"));
    assert!(m.accepts("+41 79 123 45 67"));
    assert!(m.accepts("(0039) 333-123.4567"));
    // A national number is not one of a country's.
    assert!(!m.accepts("393331234567"));
    let national = Config::from_toml(&format!("{M0}prefixes = [\"3\"]\n"), "t").unwrap();
    assert!(national.modems[0].accepts("333 123 4567"));
    assert!(!national.modems[0].accepts("+393331234567"));
    assert!(!m.accepts("+33612345678"));
    let any = Config::from_toml(M0, "t").unwrap();
    assert!(any.modems[0].accepts("+33612345678"));
}

#[test]
fn router_values_are_checked() {
    let e = invalid("[router]\nsuffix_digits = 0\n");
    assert_eq!(key_line(&e), (Some("router.suffix_digits"), Some(2)));
    let e = invalid("[router]\ntolerance = 400\n");
    assert_eq!(e.key(), Some("router.tolerance"));
    let e = invalid("[router]\nexpiry_grace = -1\n");
    assert_eq!(e.key(), Some("router.expiry_grace"));
}

#[test]
fn secrets_never_appear_in_debug_or_errors() {
    let text = "[http]\ntokens = [\"tok-SECRET-1\"]\n[[modem]]\nname = \"a\"\ndevice = \"/dev/x\"\npin = \"98765\"\n[webhook]\nurl = \"https://user:pw-SECRET@h/x\"\nsecret = \"hmac-SECRET\"\n";
    let c = Config::from_toml(text, "t").unwrap();
    let dbg = format!("{c:?} {c:#?}");
    for s in ["SECRET", "98765"] {
        assert!(!dbg.contains(s), "{s} leaked: {dbg}");
    }
    assert!(dbg.contains("<redacted>"), "{dbg}");
    assert!(dbg.contains("/dev/x"), "non-secrets stay visible: {dbg}");

    // A PIN of the wrong type: toml's message would quote it.
    let e = invalid("[[modem]]\nname = \"a\"\ndevice = \"/dev/x\"\npin = 98765\n");
    assert_eq!(key_line(&e), (Some("modem[0].pin"), Some(4)));
    assert!(!e.to_string().contains("98765"), "{e}");
    // A malformed PIN is refused without echoing it.
    let e = invalid("[[modem]]\nname = \"a\"\ndevice = \"/dev/x\"\npin = \"12x45\"\n");
    assert!(!e.to_string().contains("12x45"), "{e}");
    assert_eq!(e.key(), Some("modem[0].pin"));
}

#[test]
fn missing_file_names_it() {
    let e = Config::load(Path::new("/nonexistent/smsgw.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/smsgw.toml"), "{e}");
}

#[test]
fn resend_unknown_takes_a_flag_or_if_no_report_with_a_bounded_wait() {
    for (text, want) in [
        ("false", ResendUnknown::Never),
        ("true", ResendUnknown::Always),
        ("\"if-no-report\"", ResendUnknown::IfNoReport),
    ] {
        let c =
            Config::from_toml(&format!("[gateway]\nresend_unknown = {text}\n"), "r.toml").unwrap();
        assert_eq!(c.gateway.resend_unknown, want);
        assert_eq!(c.gateway_settings().resend_unknown, want);
    }
    let c = Config::from_toml(
        "[gateway]\nresend_unknown = \"if-no-report\"\nresend_unknown_wait_s = 900\n",
        "r.toml",
    )
    .unwrap();
    assert_eq!(c.gateway_settings().resend_unknown_wait_s, 900);
    let e = invalid("[gateway]\nresend_unknown = \"sometimes\"\n");
    assert_eq!(
        (e.key(), e.line()),
        (Some("gateway.resend_unknown"), Some(2))
    );
    assert!(e.to_string().contains("if-no-report"), "{e}");
    assert!(e.to_string().contains("sometimes"), "{e}");
    let e = invalid("[gateway]\nresend_unknown = 3\n");
    assert!(e.to_string().contains("if-no-report"), "{e}");
    let e = invalid("[gateway]\nresend_unknown_wait_s = 5\n");
    assert_eq!(e.key(), Some("gateway.resend_unknown_wait_s"));
    assert!(e.to_string().contains("out of range (60 to 2592000"), "{e}");
}

#[test]
fn syntax_error_has_a_line() {
    let e = invalid("[http]\nlisten = \"127.0.0.1:80\n");
    assert_eq!(e.line(), Some(2));
}

#[test]
fn device_globs_resolve_to_existing_ports() {
    let dir = tempfile::tempdir().unwrap();
    let by_id = dir.path().join("by-id");
    std::fs::create_dir(&by_id).unwrap();
    for f in [
        "usb-HUAWEI_Mobile-if00-port0",
        "usb-HUAWEI_Mobile-if02-port0",
        "usb-HUAWEI_Other_123-if02-port0",
        "usb-Quectel_EG25-if02-port0",
    ] {
        std::fs::write(by_id.join(f), "").unwrap();
    }
    let pat = format!("{}/usb-HUAWEI_*-if02-port0", by_id.display());
    let got = resolve_device(&pat);
    assert_eq!(
        got,
        vec![
            by_id.join("usb-HUAWEI_Mobile-if02-port0"),
            by_id.join("usb-HUAWEI_Other_123-if02-port0"),
        ]
    );
    assert!(resolve_device(&format!("{}/usb-ZTE*", by_id.display())).is_empty());
    // A plain path is returned as is, present or not (it may be unplugged).
    assert_eq!(
        resolve_device("/dev/ttyUSB9"),
        vec![std::path::PathBuf::from("/dev/ttyUSB9")]
    );
}

#[test]
fn configuration_doc_describes_every_key_of_the_example() {
    let doc = include_str!("../../docs/configuration.md");
    for line in EXAMPLE.lines() {
        if let Some((key, _)) = line.split_once(" = ") {
            if !key.starts_with('#') && !key.starts_with(' ') {
                assert!(
                    doc.contains(&format!("| `{key}` |")),
                    "docs/configuration.md does not describe `{key}`"
                );
            }
        }
    }
}

#[test]
fn quiet_hours_are_read_and_bad_ones_named() {
    let c = Config::from_toml(
        "[gateway]\nquiet_hours = { from = \"21:00\", to = \"08:00\", tz = \"Europe/Rome\" }\n",
        "q.toml",
    )
    .unwrap();
    let q = c.gateway_settings().quiet_hours.expect("quiet hours");
    assert_eq!(q.text, "21:00-08:00 Europe/Rome");
    // 2026-12-02T22:00:00Z is 23:00 in Rome: inside, until 08:00 (07:00Z).
    assert_eq!(q.ends_at(1_796_248_800), Some(1_796_281_200));
    for (bad, word) in [
        ("{ from = \"25:00\", to = \"08:00\" }", "from"),
        ("{ from = \"21:00\", to = \"21:00\" }", "empty"),
        (
            "{ from = \"21:00\", to = \"08:00\", tz = \"Nowhere/Land\" }",
            "tz",
        ),
    ] {
        let err = Config::from_toml(&format!("[gateway]\nquiet_hours = {bad}\n"), "q.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gateway.quiet_hours") && err.contains(word),
            "{bad}: {err}"
        );
    }
}
