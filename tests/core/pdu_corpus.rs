//! Decode every PDU of the corpus (tests/data/pdu-corpus, copied from
//! shared/corpus: real modem captures and Gammu test data, each with an
//! independent field-by-field reading and Gammu 1.42's output) and compare.

use std::path::Path;

use serde_json::Value;
use smsgw::pdu::{self, hex, Address, Body, Timestamp, Tpdu, UserData, Validity};

fn rows() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdu-corpus");
    let mut out = Vec::new();
    for f in [
        "gammu-valid.jsonl",
        "gammu-other.jsonl",
        "external-cds.jsonl",
    ] {
        let text = std::fs::read_to_string(dir.join(f)).expect("corpus file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            out.push(serde_json::from_str(line).expect("corpus line is JSON"));
        }
    }
    out
}

fn must_fail(r: &Value) -> bool {
    let exp = r["expected"]["sms_at_parse"].as_str().unwrap_or("");
    exp.contains("FAIL")
        || matches!(
            r["kind_guess"].as_str(),
            Some("not-valid-hex" | "reserved-MTI" | "truncated")
        )
}

/// Rows labelled "must parse" that we reject, with the reason.
const DISAGREE_MUST_PARSE: &[(&str, &str)] = &[(
    // TP-UDL says 93 septets (82 octets) but 79 octets follow: the user data
    // is cut short (23.040 §9.2.3.16). Gammu's own DecodePDU refuses it too
    // ("Corrupted data returned by phone"); only its AT-layer test passes it.
    "tests/at-sms/41.dump",
    "truncated TP-UD at offset 13: header says 93 septets, 79 octets remain",
)];

fn hexbyte(v: u8) -> String {
    format!("0x{v:02X}")
}

fn check_address(src: &str, what: &str, a: &Address, exp: &Value) {
    let number = exp["number"].as_str().unwrap();
    if let Some(raw) = number.strip_prefix("<alnum:") {
        // The reading leaves alphanumeric addresses packed: compare octets.
        let mut v = Vec::new();
        a.emit_tp(&mut v);
        assert_eq!(format!("{}>", hex::encode(&v[2..])), raw, "{src} {what}");
        assert_eq!(
            u64::from(v[0]),
            exp["digits"].as_u64().unwrap(),
            "{src} {what}"
        );
    } else {
        assert_eq!(a.to_string(), number, "{src} {what}");
    }
    assert_eq!(
        hexbyte(a.toa()),
        exp["toa"].as_str().unwrap(),
        "{src} {what} TOA"
    );
}

fn check_time(src: &str, what: &str, t: &Timestamp, exp: &Value) {
    let local = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    assert_eq!(local, exp["local"].as_str().unwrap(), "{src} {what}");
    assert_eq!(
        i64::from(t.tz_minutes()),
        exp["tz_minutes"].as_i64().unwrap(),
        "{src} {what} zone"
    );
}

fn udl_of(ud: &UserData, dcs: pdu::Dcs) -> u64 {
    let mut v = Vec::new();
    ud.emit(dcs, &mut v);
    u64::from(v[0])
}

/// Checks our reading against the independent one and Gammu's; returns the kind.
fn check_valid(r: &Value, bytes: &[u8]) -> &'static str {
    let src = r["source"].as_str().unwrap();
    let t = &r["tpdu"];
    let g = &r["gammu"]["decoded"];
    let gammu_ok = r["gammu"]["ok"].as_bool() == Some(true);
    let (smsc, tpdu) = pdu::parse_with_smsc(bytes).unwrap_or_else(|e| panic!("{src}: {e}"));
    match t["smsc"].as_str() {
        Some(s) => assert_eq!(smsc.map(|a| a.to_string()).as_deref(), Some(s), "{src}"),
        None => assert_eq!(smsc, None, "{src}"),
    }
    assert_eq!(
        t["mti"].as_u64().unwrap(),
        match &tpdu {
            Tpdu::Deliver(_) => 0,
            Tpdu::Submit(_) => 1,
            Tpdu::StatusReport(_) => 2,
        },
        "{src}"
    );
    // Emit then parse gives the same representation back.
    let mut again = Vec::new();
    pdu::emit_with_smsc(smsc.as_ref(), &tpdu, &mut again);
    assert_eq!(
        pdu::parse_with_smsc(&again).unwrap(),
        (smsc, tpdu.clone()),
        "{src}"
    );

    let gammu_text = g["Text"].as_str();
    match &tpdu {
        Tpdu::Deliver(d) => {
            assert_eq!(
                hexbyte(d.first_octet()),
                t["first_octet"].as_str().unwrap(),
                "{src}"
            );
            check_address(src, "TP-OA", &d.sender, &t["tp_oa"]);
            assert_eq!(hexbyte(d.pid), t["tp_pid"].as_str().unwrap(), "{src}");
            assert_eq!(hexbyte(d.dcs.0), t["tp_dcs"].as_str().unwrap(), "{src}");
            check_time(src, "TP-SCTS", &d.scts, &t["tp_scts"]);
            assert_eq!(
                udl_of(&d.user_data, d.dcs),
                t["tp_udl"].as_u64().unwrap(),
                "{src}"
            );
            if src == "tests/at-sms/04.dump" {
                // TP-OA 06 D0 4F5904: six useful semi-octets = 24 bits, so
                // three whole septets (23.040 §9.1.2.5): 'O', '2', 0x11,
                // which the default alphabet (23.038 §6.2.1) reads as '_'.
                // Gammu keeps the raw septet 0x11 as a control character.
                assert_eq!(d.sender.to_string(), "O2_");
                assert_eq!(g["Number"], "O2\u{11}");
            } else if gammu_ok {
                assert_eq!(d.sender.to_string(), g["Number"].as_str().unwrap(), "{src}");
            }
            if gammu_ok {
                compare_text(src, &d.user_data, gammu_text);
            }
            "deliver"
        }
        Tpdu::Submit(s) => {
            // TP-UDHI with TP-UDL 0 (a real capture) reads as "no header":
            // our first octet then lacks bit 6.
            let udhi_lost = s.user_data.udh.is_none()
                && s.user_data.as_text() == Some("")
                && t["first_octet"].as_str() == Some("0xD5");
            let fo = s.first_octet() | if udhi_lost { 0x40 } else { 0 };
            assert_eq!(hexbyte(fo), t["first_octet"].as_str().unwrap(), "{src}");
            assert_eq!(u64::from(s.mr), t["tp_mr"].as_u64().unwrap(), "{src}");
            assert_eq!(s.status_report_request, t["tp_srr"].as_bool().unwrap());
            let vpf = match s.validity {
                Validity::None => 0,
                Validity::Enhanced(_) => 1,
                Validity::Relative(_) => 2,
                Validity::Absolute(_) => 3,
            };
            assert_eq!(vpf, t["tp_vpf"].as_u64().unwrap(), "{src}");
            check_address(src, "TP-DA", &s.recipient, &t["tp_da"]);
            if gammu_ok {
                assert_eq!(
                    s.recipient.to_string(),
                    g["Number"].as_str().unwrap(),
                    "{src}"
                );
                assert_eq!(u64::from(s.mr), g["MessageReference"].as_u64().unwrap());
                if src == "tests/at-sms/14.dump" {
                    // DCS 0xF9: coding group 1111, bit 2 clear = GSM 7-bit,
                    // class 1 (23.038 §4; bit 3 is reserved). Gammu reads it
                    // as 8-bit; the sender in fact put UCS2 octets there
                    // ("Тест Test"), which no reading of this DCS recovers.
                    assert_eq!(s.dcs.encoding(), pdu::Encoding::Gsm7);
                    assert_eq!(g["Coding"], "8bit");
                } else {
                    compare_text(src, &s.user_data, gammu_text);
                }
            }
            "submit"
        }
        Tpdu::StatusReport(sr) => {
            assert_eq!(
                hexbyte(sr.first_octet()),
                t["first_octet"].as_str().unwrap(),
                "{src}"
            );
            assert_eq!(u64::from(sr.mr), t["tp_mr"].as_u64().unwrap(), "{src}");
            check_address(src, "TP-RA", &sr.recipient, &t["tp_ra"]);
            check_time(src, "TP-SCTS", &sr.scts, &t["tp_scts"]);
            check_time(src, "TP-DT", &sr.discharge, &t["tp_dt"]);
            assert_eq!(
                hexbyte(sr.status.byte()),
                t["tp_st"].as_str().unwrap(),
                "{src}"
            );
            assert_eq!(sr.pi_present, t.get("tp_pi").is_some(), "{src}");
            if gammu_ok {
                assert_eq!(
                    sr.recipient.to_string(),
                    g["Number"].as_str().unwrap(),
                    "{src}"
                );
                assert_eq!(u64::from(sr.mr), g["MessageReference"].as_u64().unwrap());
                assert_eq!(
                    u64::from(sr.status.byte()),
                    g["DeliveryStatus"].as_u64().unwrap()
                );
                // Gammu calls SCTS "DateTime" and TP-DT "SMSCDateTime", both
                // without their zone.
                check_gammu_time(src, &sr.scts, &g["DateTime"]);
                check_gammu_time(src, &sr.discharge, &g["SMSCDateTime"]);
            }
            "status-report"
        }
    }
}

fn check_gammu_time(src: &str, t: &Timestamp, g: &Value) {
    let ours = t.to_rfc3339();
    assert_eq!(&ours[..19], g.as_str().unwrap(), "{src}");
}

fn compare_text(src: &str, ud: &UserData, gammu: Option<&str>) {
    match (&ud.body, gammu) {
        (Body::Text(ours), Some(g)) => assert_eq!(ours, g, "{src}"),
        (Body::Binary(b), Some(g)) => assert_eq!(hex::encode(b), g, "{src}"),
        (_, None) => {}
    }
}

#[test]
fn every_corpus_pdu_decodes_as_the_independent_reading_says() {
    let rows = rows();
    assert!(rows.len() >= 250, "corpus has {} rows", rows.len());
    let (mut valid, mut failed, mut reports) = (0, 0, 0);
    for r in &rows {
        let src = r["source"].as_str().unwrap();
        let parsed = hex::decode(r["hex"].as_str().unwrap())
            .map_err(pdu::PduError::from)
            .and_then(|b| pdu::parse_with_smsc(&b).map(|_| b));
        if let Some((_, why)) = DISAGREE_MUST_PARSE.iter().find(|(s, _)| *s == src) {
            assert_eq!(parsed.unwrap_err().to_string(), *why);
            failed += 1;
            continue;
        }
        if must_fail(r) {
            let e = parsed.expect_err(src).to_string();
            // Typed error naming where it went wrong.
            assert!(
                e.contains("offset") || e.contains("character"),
                "{src}: {e}"
            );
            failed += 1;
            continue;
        }
        let bytes = parsed.unwrap_or_else(|e| panic!("{src}: {e}"));
        if check_valid(r, &bytes) == "status-report" {
            reports += 1;
        }
        valid += 1;
    }
    assert_eq!(valid + failed, rows.len());
    assert_eq!(failed, 11, "10 must-fail rows and 1 disagreement");
    assert_eq!(reports, 11);
}

#[test]
fn must_fail_rows_fail_with_the_right_error() {
    let expect: &[(&str, &str)] = &[
        (
            "tests/at-sms-failing/18.dump",
            "SMSC address longer than 11 octets",
        ),
        (
            "tests/at-sms-failing/35.dump",
            "header says 53 octets, 47 octets remain",
        ),
        (
            "tests/at-sms-failing/40.dump",
            "invalid TP-OA at offset 11 (0x69)",
        ),
        (
            "tests/at-sms-failing/01.dump",
            "invalid TP-DA at offset 10 (0x81)",
        ),
        (
            "tests/at-sms-failing/13.dump",
            "invalid hex digit 0x3d at offset 14",
        ),
        ("tests/at-sms-failing/25.dump", "reserved TP-MTI 3"),
        ("tests/at-sms-failing/33.dump", "reserved TP-MTI 3"),
        (
            "tests/at-sms-failing/39.dump",
            "SMSC address longer than 11 octets",
        ),
    ];
    let rows = rows();
    for (src, msg) in expect {
        let r = rows.iter().find(|r| r["source"] == *src).expect(src);
        let e = hex::decode(r["hex"].as_str().unwrap())
            .map_err(pdu::PduError::from)
            .and_then(|b| pdu::parse_with_smsc(&b))
            .expect_err(src)
            .to_string();
        assert!(e.contains(msg), "{src}: {e}");
    }
}

#[test]
fn external_cds_matches_the_mr_of_its_submit() {
    let rows = rows();
    let r = rows
        .iter()
        .find(|r| r["source"].as_str().unwrap().contains("python-gsmmodem"))
        .unwrap();
    let (_, t) = pdu::parse_with_smsc(&hex::decode(r["hex"].as_str().unwrap()).unwrap()).unwrap();
    let Tpdu::StatusReport(sr) = t else { panic!() };
    // "+CMGS: 64" answered the submit; the report carries TP-MR 64.
    assert_eq!(sr.mr, 64);
    // The submit the user sent, read back: same recipient, SRR set.
    let sent = hex::decode(r["expected"]["submit_pdu_sent"].as_str().unwrap()).unwrap();
    let (_, Tpdu::Submit(s)) = pdu::parse_with_smsc(&sent).unwrap() else {
        panic!()
    };
    assert!(s.status_report_request);
    assert_eq!(s.recipient, sr.recipient);
}
