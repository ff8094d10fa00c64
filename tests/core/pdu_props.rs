//! Property tests of the PDU codec: split+encode then decode+reassemble gives
//! the text back; every part fits; arbitrary bytes never panic the parser;
//! emit then parse is the identity for all three TPDU types.

use proptest::prelude::*;
use smsgw::pdu::gsm7::{DEFAULT, ESC, EXTENSION};
use smsgw::pdu::{
    self, encode_submit, Address, Body, Concat, ConcatRef, Dcs, Deliver, StatusReport, Submit,
    SubmitOptions, Timestamp, TpStatus, Tpdu, Udh, UserData, Validity,
};

fn gsm_chars() -> Vec<char> {
    let mut v: Vec<char> = DEFAULT
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != ESC as usize)
        .map(|(_, &c)| c)
        .collect();
    v.extend(EXTENSION.iter().copied().filter(|&c| c != '\0'));
    v
}

fn gsm_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(gsm_chars()), 0..=max)
        .prop_map(|v| v.into_iter().collect())
}

/// Mostly GSM text, sometimes with any character (emoji included).
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        gsm_text(1200),
        "\\PC{0,400}",
        (gsm_text(300), "[😀🇮🇹ğж€]{1,5}", gsm_text(300)).prop_map(|(a, b, c)| a + &b + &c),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        "[0-9]{1,20}".prop_map(|d| Address::parse_number(&format!("+{d}")).unwrap()),
        "[0-9]{1,20}".prop_map(|d| Address::parse_number(&d).unwrap()),
        "[0-9*#abc]{0,20}".prop_map(|d| Address::with_toa(0xA1, &d).unwrap()),
        gsm_text(11).prop_filter_map("fits 11 septets", |t| Address::alphanumeric(&t).ok()),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (946_684_800i64..4_102_444_000, -56i8..=56)
        .prop_filter_map("in 2000..=2099", |(s, q)| Timestamp::from_unix(s, q).ok())
}

fn udh() -> impl Strategy<Value = Option<Udh>> {
    prop_oneof![
        Just(None),
        (any::<u16>(), 1u8..=255, any::<bool>()).prop_flat_map(|(r, total, wide)| {
            (1..=total).prop_map(move |seq| {
                Some(Udh::concat(Concat {
                    reference: if wide { r } else { r & 0xFF },
                    total,
                    seq,
                    wide,
                }))
            })
        }),
    ]
}

/// A DCS and user data that fit one TPDU.
fn user_data() -> impl Strategy<Value = (Dcs, UserData)> {
    prop_oneof![
        (udh(), gsm_text(60), any::<Option<bool>>()).prop_map(|(udh, t, class)| {
            let dcs = Dcs::new(pdu::Encoding::Gsm7, class.map(u8::from));
            (
                dcs,
                UserData {
                    udh,
                    body: Body::Text(t),
                },
            )
        }),
        (udh(), "\\PC{0,30}").prop_map(|(udh, t)| (
            Dcs::UCS2,
            UserData {
                udh,
                body: Body::Text(t)
            }
        )),
        (udh(), prop::collection::vec(any::<u8>(), 0..120)).prop_map(|(udh, b)| (
            Dcs::EIGHT_BIT,
            UserData {
                udh,
                body: Body::Binary(b)
            }
        )),
    ]
}

fn validity() -> impl Strategy<Value = Validity> {
    prop_oneof![
        Just(Validity::None),
        any::<u8>().prop_map(Validity::Relative),
        any::<[u8; 7]>().prop_map(Validity::Enhanced),
        timestamp().prop_map(Validity::Absolute),
    ]
}

fn round_trip(t: &Tpdu, smsc: Option<Address>) {
    let mut b = Vec::new();
    let n = pdu::emit_with_smsc(smsc.as_ref(), t, &mut b);
    assert_eq!(Tpdu::parse(&b[b.len() - n..]).unwrap(), *t);
    assert_eq!(pdu::parse_with_smsc(&b).unwrap(), (smsc, t.clone()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn split_encode_decode_reassemble_is_identity(
        text in any_text(),
        ucs2 in any::<bool>(),
        reference in any::<u16>(),
        to in address().prop_filter("numeric", |a| a.ton() != pdu::TypeOfNumber::Alphanumeric),
    ) {
        let opts = SubmitOptions {
            force_ucs2: ucs2,
            concat_ref: ConcatRef::from_value(reference),
            status_report: true,
            ..Default::default()
        };
        let parts = match encode_submit(&to, &text, &opts) {
            Err(pdu::PduError::EmptyText) => { prop_assert!(text.is_empty()); return Ok(()); }
            r => r.unwrap(),
        };
        let mut back = String::new();
        for (i, p) in parts.iter().enumerate() {
            let (smsc, t) = pdu::parse_with_smsc(&p.bytes).unwrap();
            prop_assert_eq!(smsc, None);
            prop_assert_eq!(p.tpdu_len, p.bytes.len() - 1);
            let Tpdu::Submit(s) = t else { panic!("not a submit") };
            prop_assert!(s.status_report_request);
            prop_assert_eq!(s.recipient, to);
            // The user data fits 140 octets (and 160 septets).
            let mut ud = Vec::new();
            s.user_data.emit(s.dcs, &mut ud);
            prop_assert!(ud.len() - 1 <= 140, "part {} has {} octets", i, ud.len() - 1);
            if s.dcs.encoding() == pdu::Encoding::Gsm7 { prop_assert!(ud[0] <= 160); }
            if parts.len() > 1 {
                let c = s.user_data.concat().unwrap();
                prop_assert_eq!((c.total as usize, c.seq as usize), (parts.len(), i + 1));
                prop_assert_eq!(c.reference, reference);
            }
            back.push_str(s.user_data.as_text().unwrap());
        }
        prop_assert_eq!(back, text);
    }

    #[test]
    fn parse_of_arbitrary_bytes_never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = pdu::parse_with_smsc(&b);
        let _ = Tpdu::parse(&b);
        let _ = Submit::parse(&b);
        let _ = Deliver::parse(&b);
        let _ = StatusReport::parse(&b);
    }

    #[test]
    fn parse_of_mutated_real_pdus_never_panics(
        i in 0usize..3, at in 0usize..200, v in any::<u8>(), cut in 0usize..200,
    ) {
        let real = [
            "079124603050020006E80C91666666666666909070618422809090706184628000",
            "07914487200030230406D04F59040000601191806243009F4F990E947DD741EEF71D840E",
            "0791361907001003B17A0C913619397750320000AD11CD701E340FB3C3F23CC81D0689C3BF",
        ];
        let mut b = pdu::hex::decode(real[i]).unwrap();
        let n = b.len();
        b[at % n] = v;
        b.truncate(cut.max(1));
        let _ = pdu::parse_with_smsc(&b);
    }

    #[test]
    fn submit_emit_parse_identity(
        to in address(), (dcs, ud) in user_data(), vp in validity(),
        mr in any::<u8>(), pid in any::<u8>(), flags in any::<[bool; 3]>(),
        smsc in prop::option::of("[0-9]{1,20}".prop_map(|d| Address::parse_number(&d).unwrap())),
    ) {
        let mut s = Submit::new(to, dcs, ud);
        s.mr = mr;
        s.pid = pid;
        s.validity = vp;
        s.reject_duplicates = flags[0];
        s.reply_path = flags[1];
        s.status_report_request = flags[2];
        round_trip(&Tpdu::Submit(s), smsc);
    }

    #[test]
    fn deliver_emit_parse_identity(
        from in address(), (dcs, ud) in user_data(), scts in timestamp(),
        pid in any::<u8>(), flags in any::<[bool; 4]>(),
    ) {
        let mut d = Deliver::new(from, dcs, scts, ud);
        d.pid = pid;
        d.no_more_messages = flags[0];
        d.loop_prevention = flags[1];
        d.status_report_indication = flags[2];
        d.reply_path = flags[3];
        round_trip(&Tpdu::Deliver(d), None);
    }

    #[test]
    fn status_report_emit_parse_identity(
        mr in any::<u8>(), ra in address(), scts in timestamp(), dt in timestamp(),
        st in any::<u8>(), pi in any::<bool>(), pid in any::<Option<u8>>(),
        dcs_ud in prop::option::of(user_data()), dcs_only in any::<Option<u8>>(),
        flags in any::<[bool; 3]>(),
    ) {
        let mut r = StatusReport::new(mr, ra, scts, dt, TpStatus(st));
        r.no_more_messages = flags[0];
        r.loop_prevention = flags[1];
        r.qualifier_command = flags[2];
        r.pid = pid;
        match dcs_ud {
            Some((dcs, ud)) => { r.dcs = Some(dcs); r.user_data = Some(ud); }
            None => r.dcs = dcs_only.map(Dcs),
        }
        r.pi_present = pi || r.pid.is_some() || r.dcs.is_some() || r.user_data.is_some();
        round_trip(&Tpdu::StatusReport(r), Address::parse_number("+4917").ok());
    }
}
