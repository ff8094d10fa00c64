//! +CMS / +CME ERROR decoding: names, retry classes, verbose forms.

use smsgw::at::error_codes::{cme_code_from_text, cme_info, cms_code_from_text, cms_info};
use smsgw::at::{CmeError, CmsError, FinalResult, RetryClass};

#[test]
fn classes_a_scheduler_acts_on() {
    let cases = [
        (330, "SMSC address unknown", RetryClass::Configuration),
        (331, "no network service", RetryClass::Temporary),
        (332, "network timeout", RetryClass::Temporary),
        (38, "Network out of order", RetryClass::Temporary),
        (42, "Congestion", RetryClass::Temporary),
        (1, "Unassigned (unallocated) number", RetryClass::Permanent),
        (304, "invalid PDU mode parameter", RetryClass::Permanent),
        (0xC0, "SC busy", RetryClass::Temporary),
        (0xC3, "Invalid SME address", RetryClass::Permanent),
        (311, "SIM PIN required", RetryClass::Configuration),
        (300, "ME failure", RetryClass::Device),
        (500, "unknown error", RetryClass::Unknown),
    ];
    for (code, name, class) in cases {
        let info = cms_info(code);
        assert_eq!((info.name, info.class), (name, class), "+CMS ERROR: {code}");
    }
}

#[test]
fn unlisted_codes_fall_in_their_range() {
    assert_eq!(cms_info(2).name, "unlisted RP cause (24.011 Annex E-2)");
    assert_eq!(cms_info(0x83).name, "reserved TP-FCS value");
    assert_eq!(cms_info(0xE5).name, "application-specific TP-FCS value");
    assert_eq!(cms_info(400).name, "reserved (27.005)");
    // Huawei / SIMCom use 512+ for their own causes.
    let vendor = cms_info(513);
    assert_eq!(
        (vendor.name, vendor.class),
        ("manufacturer specific", RetryClass::Unknown)
    );
    assert_eq!(cme_info(999).class, RetryClass::Unknown);
}

#[test]
fn verbose_forms_map_back_to_codes() {
    assert_eq!(cms_code_from_text("SMSC address unknown"), Some(330));
    assert_eq!(cms_code_from_text("smsc-address  UNKNOWN"), Some(330));
    assert_eq!(cms_code_from_text("Network out of order"), Some(38));
    assert_eq!(cms_code_from_text("some vendor text"), None);
    assert_eq!(cms_code_from_text("  "), None);
    assert_eq!(cme_code_from_text("SIM PIN required"), Some(11));
    assert_eq!(cme_code_from_text("incorrect password"), Some(16));
}

#[test]
fn parse_numeric_and_verbose_arguments() {
    let e = CmsError::parse(" 500");
    assert_eq!((e.code, e.name()), (Some(500), "unknown error"));
    assert_eq!(e.to_string(), "+CMS ERROR: 500 (unknown error)");
    let e = CmsError::parse("Vendor: modem is on fire");
    assert_eq!((e.code, e.class()), (None, RetryClass::Unknown));
    assert_eq!(e.name(), "Vendor: modem is on fire");
    let e = CmeError::parse("\"SIM busy\"");
    assert_eq!((e.code, e.class()), (Some(14), RetryClass::Temporary));
    // Numbers beyond u16 are kept as text, not panicked on.
    assert_eq!(CmeError::parse("99999999").code, None);
}

#[test]
fn final_results_render_back() {
    for line in [
        "OK",
        "ERROR",
        "+CMS ERROR: 330",
        "+CME ERROR: SIM not inserted",
        "NO CARRIER",
        "BUSY",
        "NO ANSWER",
        "NO DIALTONE",
        "COMMAND NOT SUPPORT",
    ] {
        let result = FinalResult::parse(line).unwrap();
        assert_eq!(result.to_string(), line);
    }
    assert_eq!(FinalResult::parse("+CMGS: 4"), None);
    assert_eq!(FinalResult::parse("OK "), None, "lines arrive trimmed");
}
