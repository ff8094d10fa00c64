//! USSD through the session core against the simulated modem's model, in
//! virtual time: a balance, a two-step menu, a UCS2 answer, packed GSM
//! 7-bit strings both ways, a network that never answers (the job's
//! timeout), a menu the network closes after its session timeout, bad
//! requests refused before anything is written, and an SMS sent while an
//! answer is awaited (the port is not held).

use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::modem::session_core::{Answer, Job, JobId};
use smsgw::modem::transport::Endpoint;
use smsgw::modem::ussd::UssdAnswer;
use smsgw::modem::{ModemError, ModemEvent, SessionConfig};
use smsgw::pdu::address::Address;
use smsgw::pdu::split::{encode_submit, SubmitOptions};
use smsgw::profile::Profile;
use smsgw::sim::lockstep::Lockstep;
use smsgw::sim::{SimConfig, SimModem, UssdReply};

fn start(
    tweak: impl FnOnce(&mut SimConfig),
    tweak_session: impl FnOnce(&mut SessionConfig),
) -> Lockstep {
    let p = Profile::by_name("generic").unwrap();
    let mut cfg = sim_config_for(&p);
    cfg.ussd_delay_ms = 2_000;
    cfg.ussd_session_timeout_ms = 20_000;
    tweak(&mut cfg);
    let mut scfg =
        SessionConfig::from_profile("sim0", Endpoint::Serial("/dev/virtual0".into()), &p);
    tweak_session(&mut scfg);
    Lockstep::start(scfg, SimModem::new(cfg)).unwrap_or_else(|e| panic!("start failed: {e}"))
}

fn ask(ls: &mut Lockstep, request: &str, timeout_s: u64) -> JobId {
    ls.submit(Job::Ussd {
        request: request.into(),
        timeout: Duration::from_secs(timeout_s),
    })
}

fn answer(ls: &mut Lockstep, job: JobId) -> Result<UssdAnswer, ModemError> {
    match ls.wait_outcome(job).expect("an outcome") {
        Ok(Answer::Ussd(a)) => Ok(a),
        Ok(other) => panic!("USSD answered {other:?}"),
        Err(e) => Err(e),
    }
}

fn ussd(ls: &mut Lockstep, request: &str) -> UssdAnswer {
    let job = ask(ls, request, 30);
    answer(ls, job).unwrap_or_else(|e| panic!("{request}: {e}"))
}

#[test]
fn balance_menu_and_ucs2() {
    let mut ls = start(|_| {}, |_| {});
    let t0 = ls.now_ms();
    let a = ussd(&mut ls, "*100#");
    assert_eq!(a.status, 0);
    assert_eq!(
        a.text.as_deref(),
        Some("Your balance is 12.34 EUR, valid until 31.12.2027")
    );
    // The answer is the network's, after its delay, not AT+CUSD's OK.
    assert!(ls.now_ms() - t0 >= 2_000, "{} ms", ls.now_ms() - t0);

    let menu = ussd(&mut ls, "*101#");
    assert!(menu.more_expected());
    assert_eq!(menu.text.as_deref(), Some("1 Balance 2 Bundles"));
    let a = ussd(&mut ls, "1");
    assert_eq!(
        (a.status, a.text.as_deref()),
        (0, Some("Balance: 12.34 EUR"))
    );

    let a = ussd(&mut ls, "*102#");
    assert_eq!(
        (a.text.as_deref(), a.dcs),
        (Some("Баланс: 12,34 ₽"), Some(72))
    );

    // A code the network does not know.
    let a = ussd(&mut ls, "*999#");
    assert_eq!((a.status, a.text), (4, None));
}

#[test]
fn packed_strings_both_ways() {
    let mut ls = start(
        |c| {
            c.ussd_packed = true;
            c.ussd.push(("*7#".into(), UssdReply::gsm("Balance")));
        },
        |s| s.ussd_packed = true,
    );
    let a = ussd(&mut ls, "*100#");
    assert_eq!(
        a.text.as_deref(),
        Some("Your balance is 12.34 EUR, valid until 31.12.2027")
    );
    let menu = ussd(&mut ls, "*101#");
    assert!(menu.more_expected());
    let a = ussd(&mut ls, "2");
    assert_eq!(a.text.as_deref(), Some("No bundle active"));
    // 7 characters fill 7 octets with a CR pad septet, not read as text.
    assert_eq!(ussd(&mut ls, "*7#").text.as_deref(), Some("Balance"));
    // Without the profile's setting the same modem's answer stays hex.
    let mut plain = start(|c| c.ussd_packed = true, |_| {});
    let job = ask(&mut plain, "*100#", 30);
    // The modem cannot read a text request as packed hex: refused.
    assert!(answer(&mut plain, job).is_err());
}

#[test]
fn no_answer_times_out_and_the_port_stays_free() {
    let mut ls = start(|c| c.ussd_delay_ms = 120_000, |_| {});
    let t0 = ls.now_ms();
    let job = ask(&mut ls, "*100#", 10);
    // An SMS goes out while the answer is awaited.
    let opts = SubmitOptions {
        status_report: true,
        ..SubmitOptions::default()
    };
    let p = &encode_submit(
        &Address::parse_number("+393331234567").unwrap(),
        "hi",
        &opts,
    )
    .unwrap()[0];
    let send = ls.send(p.tpdu_len, &p.hex());
    assert!(matches!(ls.wait_outcome(send), Some(Ok(Answer::Mr(_)))));
    assert!(ls.outcome(job).is_none(), "the USSD job is still waiting");
    match answer(&mut ls, job) {
        Err(ModemError::Timeout { command, phase }) => {
            assert_eq!((command.as_str(), phase), ("AT+CUSD", "network answer"));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let waited = ls.now_ms() - t0;
    assert!((10_000..11_000).contains(&waited), "{waited} ms");
    // The dialogue is cancelled: the late answer never comes.
    ls.advance(1_000);
    assert_eq!(
        ls.model.command_log().last(),
        Some("AT+CUSD=2"),
        "the session cancels the dialogue it gave up on"
    );
    ls.advance(200_000);
    let late = ls
        .take_events()
        .into_iter()
        .any(|e| matches!(&e, ModemEvent::Unsolicited { urc, .. } if format!("{urc:?}").contains("+CUSD")));
    assert!(!late, "no answer after the cancel");
}

#[test]
fn the_network_closes_a_menu_left_open() {
    let mut ls = start(|_| {}, |_| {});
    assert!(ussd(&mut ls, "*101#").more_expected());
    // Nobody answers the menu: the network ends the session on its own;
    // no job waits, so it is an unsolicited code for the owner.
    ls.advance(25_000);
    let closed = ls
        .take_events()
        .into_iter()
        .any(|e| matches!(&e, ModemEvent::Unsolicited { urc, .. } if format!("{urc:?}").contains("+CUSD: 2")));
    assert!(closed, "no +CUSD: 2 after the session timeout");
    // "1" now starts a new dialogue, which the network does not know.
    let a = ussd(&mut ls, "1");
    assert_eq!(a.status, 4);
}

#[test]
fn bad_requests_are_refused_before_anything_is_written() {
    let mut ls = start(|_| {}, |_| {});
    for bad in ["", "*1\"0#", "Привет"] {
        let job = ask(&mut ls, bad, 30);
        match answer(&mut ls, job) {
            Err(ModemError::Protocol(msg)) => assert!(msg.contains("USSD request"), "{msg}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // The session is fine afterwards.
    assert_eq!(ussd(&mut ls, "*100#").status, 0);
}
