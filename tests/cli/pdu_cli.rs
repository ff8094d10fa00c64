//! `smsgw pdu decode|encode` run as a real binary: exit codes and JSON fields.

use std::process::{Command, Output};

use serde_json::Value;

fn smsgw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(args)
        .output()
        .expect("run smsgw")
}

fn decode(args: &[&str]) -> Value {
    let mut a = vec!["pdu", "decode"];
    a.extend_from_slice(args);
    let out = smsgw(&a);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn decode_status_report_with_national_recipient() {
    // Real +CMGR of a report read from SIM storage (FF padding after TP-ST).
    let v = decode(&["079124602009999002AB098106845688F8907080517375809070805183018000FFFFFFFF"]);
    assert_eq!(v["type"], "status-report");
    assert_eq!(v["smsc"], "+420602909909");
    assert_eq!(v["mr"], 171);
    assert_eq!(v["recipient"], "604865888");
    assert_eq!(v["recipient_ton"], "unknown");
    assert_eq!(v["scts"], "2009-07-08T15:37:57+02:00");
    assert_eq!(v["discharge"], "2009-07-08T15:38:10+02:00");
    assert_eq!(v["status"], 0);
    assert_eq!(v["state"], "DELIVRD");
    assert_eq!(v["final"], true);
    assert_eq!(v["status_text"], "short message received by the SME");
}

#[test]
fn decode_failed_report_no_smsc_negative_zone() {
    // Built by hand: MR 7, +393331234567, TP-ST 0x46 (validity expired), zone -03:00.
    let v = decode(&[
        "--no-smsc",
        "06070C9193331332547662112201510329621122015103294600",
    ]);
    assert_eq!(v["smsc"], Value::Null);
    assert_eq!(v["recipient"], "+393331234567");
    assert_eq!(v["scts"], "2026-11-22T10:15:30-03:00");
    assert_eq!(v["status"], 0x46);
    assert_eq!(v["state"], "EXPIRED");
    assert_eq!(v["final"], true);
    assert_eq!(v["status_text"], "SM validity period expired");
    // Temporary failure: the SC keeps trying.
    let v = decode(&[
        "--no-smsc",
        "06070C9193331332547662112201510329621122015103292100",
    ]);
    assert_eq!(v["state"], "ENROUTE");
    assert_eq!(v["final"], false);
}

#[test]
fn decode_deliver_alphanumeric_sender() {
    // Real +CMGR (Gammu tests/at-sms/04): sender "O2" with a third septet.
    let v = decode(&["07914487200030230406D04F59040000601191806243009F4F990E947DD741EEF71D840EDBCBA0FCBB2E0751CB783A28E8CED3D3ED3268068381AA4B10BD8CA7CF412650AC2904BDCD2072981E06D1DFA0FABC0CA2A3D373509B8E7681A4E576B92D2ECB41F43788FE86B7EA7010280603BDE5A0F65B5E0689CBE6B7BC0C8ADD6232980D447F83CE653A28FFAECB416679B90C0AB3D9EF7BD83D2E83DC653C1DD4A6A301"]);
    assert_eq!(v["type"], "deliver");
    assert_eq!(v["sender"], "O2_");
    assert_eq!(v["sender_ton"], "alphanumeric");
    assert_eq!(v["scts"], "2006-11-19T08:26:34+00:00");
    assert_eq!(v["encoding"], "gsm7");
    assert_eq!(v["class"], Value::Null);
    assert_eq!(v["pid"], 0);
    assert!(v["text"]
        .as_str()
        .unwrap()
        .starts_with("O2: You now have your Text Anytime"));
    assert_eq!(v["udh"], serde_json::json!([]));
    assert_eq!(v["concat"], Value::Null);
}

#[test]
fn decode_concatenated_delivers() {
    // Real +CMGR (Gammu tests/at-sms/22): GSM 7-bit, 8-bit reference.
    let v = decode(&["0791246020099990400C91247042972767000070107031107440A005000301020182E8B71A040FDBD96516881E5E83DA65907D5C968741EEF49AFC06B9CBEFB53C4C66B34061771AE42EEBDDE1799AED4EB34161D0BA0E7F93D3F63A483D2FB74161771AE42ED7E7EE3A3BCC0285C720FABB5D07B5DF6390BB3C1FA3C3FA32FBAD4BB940D43219342F83C6E8FC9C1E6E83E0F2F0F86D0FD3416150FBAD77874169903B0CA2BF41"]);
    assert_eq!(v["sender"], "+420724797276");
    assert_eq!(
        v["concat"],
        serde_json::json!({"ref": 1, "total": 2, "seq": 1})
    );
    assert_eq!(v["udh"], serde_json::json!([{"iei": 0, "data": "010201"}]));
    assert!(v["text"]
        .as_str()
        .unwrap()
        .starts_with("Ahoj pavle, tak me vcera"));
    // +CMT from Gammu's smsd test: UCS2, reference 0x2A, plus an unknown IEI 0x70 kept raw.
    let v =
        decode(&["07918497483252F0440B918496445078F70008712132014474400B0800032A02017001000041"]);
    assert_eq!(v["encoding"], "ucs2");
    assert_eq!(v["text"], "A");
    assert_eq!(v["data_hex"], "0041");
    assert_eq!(
        v["concat"],
        serde_json::json!({"ref": 42, "total": 2, "seq": 1})
    );
    assert_eq!(v["udh"][1], serde_json::json!({"iei": 0x70, "data": "00"}));
    // 8-bit data with a WAP push port header: text null, data kept.
    let v = decode(&["07913307005630F0440BA13307570230F00006017010900412806A0605040B8423F0040603BEAF848C829831323737393730303539008D92891980160433333730373532303033302F545950453D504C4D4E009679424F008A808E0122880481020BB883687474703A2F2F6D6D73632E6C61626D6374656C2E66723A393039302F6D333300"]);
    assert_eq!(v["encoding"], "8bit");
    assert_eq!(v["text"], Value::Null);
    assert!(v["data_hex"].as_str().unwrap().starts_with("040603BEAF"));
    assert_eq!(
        v["udh"],
        serde_json::json!([{"iei": 5, "data": "0B8423F0"}])
    );
}

#[test]
fn encode_then_decode_each_part() {
    let text = "€ ".repeat(100);
    let out = smsgw(&[
        "pdu",
        "encode",
        "--to",
        "+393331234567",
        "--text",
        &text,
        "--report",
        "--validity",
        "1d",
        "--concat-ref",
        "42",
        "--smsc",
        "+393359609600",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "300 septets: 153 + 147");
    let mut back = String::new();
    for (i, line) in lines.iter().enumerate() {
        let (len, hex) = line.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        assert!(hex.starts_with("07919333"), "SMSC prefix");
        assert_eq!(
            len * 2 + 16,
            hex.len(),
            "length excludes the 8-octet SMSC prefix"
        );
        let v = decode(&[hex]);
        assert_eq!(v["type"], "submit");
        assert_eq!(v["smsc"], "+393359609600");
        assert_eq!(v["recipient"], "+393331234567");
        assert_eq!(v["recipient_ton"], "international");
        assert_eq!(v["srr"], true);
        assert_eq!(v["vp"], serde_json::json!({"relative_minutes": 1440}));
        assert_eq!(v["encoding"], "gsm7");
        assert_eq!(v["udh"][0]["iei"], 0);
        assert_eq!(
            v["concat"],
            serde_json::json!({"ref": 42, "total": 2, "seq": i + 1})
        );
        back.push_str(v["text"].as_str().unwrap());
    }
    assert_eq!(back, text);
}

#[test]
fn encode_ucs2_flash_single_part_with_default_smsc() {
    let out = smsgw(&[
        "pdu",
        "encode",
        "--to",
        "3331234567",
        "--text",
        "Ciao 😀",
        "--flash",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (len, hex) = stdout.trim().split_once(' ').unwrap();
    assert!(hex.starts_with("00"));
    assert_eq!(len.parse::<usize>().unwrap() * 2 + 2, hex.len());
    let v = decode(&[hex]);
    assert_eq!(v["encoding"], "ucs2");
    assert_eq!(v["class"], 0);
    assert_eq!(v["dcs"], 0x18);
    assert_eq!(v["text"], "Ciao 😀");
    assert_eq!(v["recipient"], "3331234567");
    assert_eq!(v["recipient_ton"], "unknown");
    assert_eq!(v["vp"], Value::Null);
    assert_eq!(v["concat"], Value::Null);
}

#[test]
fn bad_input_exits_2_with_a_message() {
    for args in [
        vec!["pdu", "decode", "0791"],
        vec!["pdu", "decode", "zz"],
        vec!["pdu", "decode", "00FF00"],
        vec![
            "pdu",
            "decode",
            "--no-smsc",
            "06400C911979099137645110907183842251109071832522",
        ],
        vec!["pdu", "encode", "--to", "+39abc", "--text", "hi"],
        vec!["pdu", "encode", "--to", "+39333", "--text", ""],
        vec![
            "pdu",
            "encode",
            "--to",
            "+39333",
            "--text",
            "hi",
            "--validity",
            "3y",
        ],
    ] {
        let out = smsgw(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    let long = "a".repeat(153 * 255 + 1);
    let out = smsgw(&["pdu", "encode", "--to", "+39333", "--text", &long]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("256 parts"));
    let out = smsgw(&[
        "pdu",
        "decode",
        "--no-smsc",
        "06400C911979099137645110907183842251109071832522",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated TP-ST at offset 24"));
}

#[test]
fn encode_takes_a_text_that_starts_with_a_dash() {
    for text in ["-x", "-5 degrees", "--not-a-flag"] {
        let out = smsgw(&["pdu", "encode", "--to", "+393331234567", "--text", text]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{text}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let (_, hex) = stdout.trim().split_once(' ').unwrap();
        assert_eq!(decode(&[hex])["text"], text);
    }
}
