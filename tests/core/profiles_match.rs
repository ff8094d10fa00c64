//! Choosing a profile from the USB id and from the modem's own identification
//! (AT+CGMI / AT+CGMM answers, or a whole ATI answer).

use smsgw::profile::{Profile, ProfileSet};

fn by_identity(manufacturer: &str, model: &str) -> String {
    Profile::for_identity(manufacturer, model).name
}

#[test]
fn cgmm_answers_pick_their_family() {
    let cases = [
        ("huawei", "E173", "huawei-e173"),
        ("huawei", "E1750", "huawei-e1750"),
        ("huawei", "E1752", "huawei-e1750"),
        ("huawei", "E3131", "huawei-e3131"),
        ("huawei", "E3372", "huawei-e3372"),
        ("HUAWEI", "E3372h-153", "huawei-e3372"),
        ("ZTE CORPORATION", "MF626", "zte-mf"),
        ("ZTE INCORPORATED", "MF190", "zte-mf"),
        ("ZTE CORPORATION", "MF667", "zte-mf"),
        ("Quectel", "EC25", "quectel-ec2x"),
        ("Quectel", "EG25", "quectel-ec2x"),
        ("Quectel", "EC21", "quectel-ec2x"),
        ("SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H", "simcom-sim7600"),
        ("SIMCOM_Ltd", "SIMCOM_SIM800L", "simcom-sim800"),
        ("Sierra Wireless, Incorporated", "MC7304", "sierra-mc7xxx"),
        ("Sierra Wireless, Incorporated", "MC7455", "sierra-mc7xxx"),
        ("Sierra Wireless, Incorporated", "EM7455", "sierra-mc7xxx"),
        ("Telit", "LE910-EU V2", "telit-le910"),
        ("Telit", "LE910C1-EUX", "telit-le910"),
    ];
    for (manufacturer, model, want) in cases {
        assert_eq!(
            by_identity(manufacturer, model),
            want,
            "{manufacturer} / {model}"
        );
    }
}

#[test]
fn whole_ati_answers_are_matched_too() {
    // EG25-G answer quoted in lukejenkins/cwd (documentation/quectel_ec2x_and_eg2x).
    let eg25 = "Quectel\r\nEG25\r\nRevision: EG25GGBR07A08M2G";
    assert_eq!(by_identity("", eg25), "quectel-ec2x");
    // EM7455 ATI9 answer quoted in johnofleek/PiloT.
    let em7455 = "Manufacturer: Sierra Wireless, Incorporated\r\nModel: EM7455\r\n\
                  Revision: SWI9X30C_02.24.05.06 r7040 CARMD-EV-FRMWR2 2017/05/19";
    assert_eq!(by_identity("", em7455), "sierra-mc7xxx");
    // Stick-mode E3372 answer quoted in 4IceG/luci-app-3ginfo-lite#25.
    let e3372 = "Manufacturer: huawei\r\nModel: E3372\r\nRevision: 21.200.07.00.00\r\n\
                 IMEI: 861000000000000\r\n+GCAP: +CGSM,+DS,+ES";
    assert_eq!(by_identity("", e3372), "huawei-e3372");
}

#[test]
fn matching_ignores_case() {
    assert_eq!(by_identity("QUECTEL", "ec25"), "quectel-ec2x");
    assert_eq!(by_identity("Huawei", "e3131s-2"), "huawei-e3131");
}

#[test]
fn the_longest_pattern_wins() {
    // "E1750" must not be taken for the E173 ("e1750" does not contain "e173",
    // but "E173s" contains "E173": still the E173 family).
    assert_eq!(by_identity("huawei", "E173s-1"), "huawei-e173");
    assert_eq!(by_identity("huawei", "E1750C"), "huawei-e1750");
}

#[test]
fn unknown_modems_fall_back_to_generic() {
    assert_eq!(by_identity("Acme", "Rocket 3000"), "generic");
    assert_eq!(by_identity("", ""), "generic");
}

#[test]
fn a_different_manufacturer_rules_a_profile_out() {
    // A model name that happens to contain "EC25" from another vendor.
    assert_eq!(by_identity("Acme", "XEC25"), "generic");
    // An empty manufacturer (not asked yet) does not rule anything out.
    assert_eq!(by_identity("", "MF626"), "zte-mf");
}

#[test]
fn usb_ids_pick_their_family_and_at_interface() {
    let cases: [(u16, u16, &str, Option<u8>); 10] = [
        (0x2c7c, 0x0125, "quectel-ec2x", Some(2)),
        (0x2c7c, 0x0121, "quectel-ec2x", Some(2)),
        (0x1e0e, 0x9001, "simcom-sim7600", Some(2)),
        (0x1199, 0x68c0, "sierra-mc7xxx", Some(3)),
        (0x1199, 0x9071, "sierra-mc7xxx", Some(3)),
        (0x1199, 0x9079, "sierra-mc7xxx", Some(3)),
        (0x1bc7, 0x1201, "telit-le910", Some(4)),
        (0x1bc7, 0x0036, "telit-le910", Some(6)),
        (0x19d2, 0x0031, "zte-mf", Some(1)),
        (0x12d1, 0x1c1e, "huawei-e3131", None),
    ];
    for (vid, pid, want, iface) in cases {
        let p = Profile::for_usb(vid, pid)
            .unwrap_or_else(|| panic!("no profile for {vid:04x}:{pid:04x}"));
        assert_eq!(p.name, want, "{vid:04x}:{pid:04x}");
        assert_eq!(p.at_interface_for(vid, pid), iface, "{vid:04x}:{pid:04x}");
        assert!(!p.needs_modeswitch(vid, pid));
    }
}

#[test]
fn storage_mode_ids_are_recognised_as_needing_a_mode_switch() {
    for (vid, pid, want) in [
        (0x12d1, 0x1446, "huawei-e173"),
        (0x12d1, 0x14fe, "huawei-e3131"),
        (0x12d1, 0x1f01, "huawei-e3372"),
        (0x19d2, 0x1237, "zte-mf"),
        (0x19d2, 0x0154, "zte-mf"),
    ] {
        let p = Profile::for_usb(vid, pid).expect("storage id known");
        assert_eq!(p.name, want);
        assert!(p.needs_modeswitch(vid, pid), "{vid:04x}:{pid:04x}");
    }
}

#[test]
fn unknown_and_hilink_ids_have_no_profile() {
    // 12d1:14dc is the E3372 HiLink (cdc_ether) id: no AT port, deliberately absent.
    assert!(Profile::for_usb(0x12d1, 0x14dc).is_none());
    assert!(Profile::for_usb(0xdead, 0xbeef).is_none());
}

#[test]
fn shared_huawei_id_resolves_first_by_name_then_identity_refines() {
    // 12d1:1001 is listed by several Huawei families.
    let set = ProfileSet::builtin();
    assert_eq!(set.for_usb(0x12d1, 0x1001).unwrap().name, "huawei-e173");
    assert_eq!(set.for_identity("huawei", "E3372").name, "huawei-e3372");
}
