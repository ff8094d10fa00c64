//! Typed parsing of command answers, on lines as real modems write them.

use smsgw::at::answers::{self, PinState, Storage};
use smsgw::at::RegDomain;

const D1: &str = "0791198948004544040C9119894882006200007050307040042206CF35689E9603";
const D2: &str = "0791836027201111040C918390276576880000701192908285800133";

#[test]
fn cmgs_gives_the_message_reference() {
    assert_eq!(answers::cmgs(&["+CMGS: 64"]), Ok(64));
    // Some modems add the SC timestamp (27.005 allows <scts> when +CSMS=1).
    assert_eq!(
        answers::cmgs(&[r#"+CMGS: 7,"24/01/01,10:00:00+04""#]),
        Ok(7)
    );
    let e = answers::cmgs(&["+CMGS: 256"]).unwrap_err();
    assert_eq!(e.to_string(), "+CMGS: <mr> is not a valid number: \"256\"");
    let e = answers::cmgs::<&str>(&[]).unwrap_err();
    assert_eq!(e.to_string(), "+CMGS: no +CMGS line in the response");
}

#[test]
fn cmgr_and_cmgl() {
    let r = answers::cmgr(&["+CMGR: 1,,25", D1]).unwrap();
    assert_eq!((r.index, r.stat, r.alpha, r.length), (None, 1, None, 25));
    assert_eq!(r.pdu.len(), 33);
    let listed = answers::cmgl(&["+CMGL: 1,1,\"Mum\",25", D1, "+CMGL: 2,0,,20", D2]).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].alpha.as_deref(), Some("Mum"));
    assert_eq!(
        (listed[1].index, listed[1].stat, listed[1].length),
        (Some(2), 0, 20)
    );
    assert_eq!(answers::cmgl::<&str>(&[]), Ok(vec![]));

    let e = answers::cmgr(&["+CMGR: 1,,25", "07911Z"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "+CMGR: bad PDU line (line 2): invalid hex digit 0x5a at offset 5"
    );
    let e = answers::cmgr(&["+CMGR: 1,,25"]).unwrap_err();
    assert!(e.problem.contains("no PDU line"), "{e}");
    let e = answers::cmgl(&["+CMGL: 1,1,,25", D1, "garbage"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "+CMGL: line 3 is not a +CMGL header: \"garbage\""
    );
}

#[test]
fn csca_cpin_csq() {
    let s = answers::csca(&[r#"+CSCA: "+919840000232",145"#]).unwrap();
    assert_eq!((s.number.as_str(), s.toa), ("+919840000232", Some(145)));
    assert!(answers::csca(&[r#"+CSCA: "",129"#]).is_err());
    assert_eq!(answers::cpin(&["+CPIN: READY"]), Ok(PinState::Ready));
    assert_eq!(answers::cpin(&["+CPIN: SIM PIN"]), Ok(PinState::SimPin));
    assert_eq!(
        answers::cpin(&["+CPIN: PH-NET PIN"]),
        Ok(PinState::Other("PH-NET PIN".into()))
    );
    let q = answers::csq(&["+CSQ: 15,99"]).unwrap();
    assert_eq!((q.rssi, q.ber, q.dbm()), (15, 99, Some(-83)));
    assert_eq!(answers::csq(&["+CSQ: 99,99"]).unwrap().dbm(), None);
    assert!(answers::csq(&["+CSQ: 15"])
        .unwrap_err()
        .problem
        .contains("<ber>"));
}

#[test]
fn registration_read_answers() {
    let r = answers::registration(&["+CREG: 0,1"], RegDomain::Cs).unwrap();
    assert_eq!(r.mode, 0);
    assert!(r.registration.is_registered());
    let r = answers::registration(&[r#"+CEREG: 2,5,"1A2B","01A2B3C4",7"#], RegDomain::Eps).unwrap();
    assert_eq!(
        (
            r.registration.stat,
            r.registration.cell.as_deref(),
            r.registration.act
        ),
        (5, Some("01A2B3C4"), Some(7))
    );
    let r = answers::registration(&["+CGREG: 0,2"], RegDomain::Ps).unwrap();
    assert!(!r.registration.is_registered());
    assert!(answers::registration(&["+CREG: 0"], RegDomain::Cs).is_err());
}

#[test]
fn cpms_both_forms_and_cops() {
    assert_eq!(
        answers::cpms(&["+CPMS: 0,50,0,50,0,50"]).unwrap()[2],
        Storage {
            mem: None,
            used: 0,
            total: 50
        }
    );
    let named = answers::cpms(&[r#"+CPMS: "SM",3,50,"SR",1,20,"SM",3,50"#]).unwrap();
    assert_eq!(named[1].mem.as_deref(), Some("SR"));
    assert_eq!((named[1].used, named[1].total), (1, 20));
    assert!(answers::cpms(&["+CPMS: 0,50,0"]).is_err());

    let op = answers::cops(&[r#"+COPS: 0,0,"Vodafone IN",2"#]).unwrap();
    assert_eq!(
        (op.mode, op.format, op.name.as_deref(), op.act),
        (0, Some(0), Some("Vodafone IN"), Some(2))
    );
    let op = answers::cops(&["+COPS: 0"]).unwrap();
    assert_eq!((op.format, op.name), (None, None));
    assert!(answers::cops(&[r#"+COPS: 0,0,"unterminated"#]).is_err());
}

#[test]
fn pin_attempts_in_the_three_dialects() {
    assert_eq!(
        answers::pin_attempts(&["+CPINR: SIM PIN,2,3", "+CPINR: SIM PUK,10,10"]),
        Some(2)
    );
    // Huawei: code, times for the code, PUK times, PIN times, PUK2, PIN2.
    assert_eq!(
        answers::pin_attempts(&["^CPIN: SIM PIN,3,10,3,10,3"]),
        Some(3)
    );
    assert_eq!(answers::pin_attempts(&["^CPIN: READY,,10,1,10,3"]), Some(1));
    assert_eq!(answers::pin_attempts(&["+QPINC: \"SC\",1,10"]), Some(1));
    // Other facilities, other lines, nothing readable: unknown.
    assert_eq!(answers::pin_attempts(&["+QPINC: \"P2\",3,10"]), None);
    assert_eq!(answers::pin_attempts(&["+CPINR: SIM PUK,10,10"]), None);
    assert_eq!(answers::pin_attempts(&["^CPIN: SIM PIN,x"]), None);
    assert_eq!(answers::pin_attempts::<&str>(&[]), None);
}
