//! Shared rig of the session tests: the simulated modem on a real pty (or
//! TCP) and the real session over tokio-serial, plus waits on events with
//! generous timeouts (the box is loaded; nothing here sleeps to wait).

#![allow(dead_code)] // each test binary uses a different part of the rig

use std::time::Duration;

use smsgw::cli::sim::sim_config_for;
use smsgw::modem::transport::Endpoint;
use smsgw::modem::{Inbound, InboundKind, Modem, ModemError, ModemEvent, SessionConfig};
use smsgw::pdu::address::Address;
use smsgw::pdu::deliver::Deliver;
use smsgw::pdu::split::{encode_submit, SubmitOptions};
use smsgw::pdu::status_report::StatusReport;
use smsgw::pdu::{parse_with_smsc, Tpdu};
use smsgw::profile::Profile;
use smsgw::sim::{self, SimConfig, SimEndpoint, SimHandle, SimModem};
use tokio::sync::mpsc::UnboundedReceiver;

/// Upper bound of any single wait: generous, for a loaded 2-core box.
pub const WAIT: Duration = Duration::from_secs(30);

/// How the host reaches the simulated modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Pty,
    Tcp,
}

/// A simulated modem and a session on it.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub modem: Modem,
    pub events: UnboundedReceiver<ModemEvent>,
    pub profile: Profile,
}

/// Every built-in hardware profile (one dialect each).
pub fn profiles() -> Vec<Profile> {
    let all = Profile::builtin();
    assert!(all.len() >= 10, "built-in profiles missing: {}", all.len());
    all
}

/// Start the simulator in `profile`'s dialect and a session on it.
pub async fn start(profile: &Profile, tweak: impl FnOnce(&mut SimConfig)) -> Rig {
    try_start(profile, Link::Pty, tweak, |_| {})
        .await
        .unwrap_or_else(|(e, _, _)| panic!("{}: session start failed: {e}", profile.name))
}

/// Like [`start`], with the link and the session configuration chosen.
/// On failure, the error and the simulator are returned.
pub async fn try_start(
    profile: &Profile,
    link: Link,
    tweak: impl FnOnce(&mut SimConfig),
    tweak_session: impl FnOnce(&mut SessionConfig),
) -> Result<Rig, (ModemError, SimHandle, tempfile::TempDir)> {
    let mut cfg = sim_config_for(profile);
    tweak(&mut cfg);
    start_model(profile, link, SimModem::new(cfg), tweak_session).await
}

/// Start a session on an already prepared model.
pub async fn start_model(
    profile: &Profile,
    link: Link,
    model: SimModem,
    tweak_session: impl FnOnce(&mut SessionConfig),
) -> Result<Rig, (ModemError, SimHandle, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = match link {
        Link::Pty => SimEndpoint::Pty(dir.path().join("ttySIM0")),
        Link::Tcp => SimEndpoint::Tcp("127.0.0.1:0".into()),
    };
    let sim = sim::spawn(model, endpoint).await.expect("simulator spawns");
    let mut scfg = SessionConfig::from_profile(
        "sim0",
        Endpoint::parse(&sim.device()).expect("device"),
        profile,
    );
    scfg.registration_timeout = Duration::from_secs(10);
    // Generous margins: a loaded 2-core CI box must not turn a slow answer
    // into a test failure (the profiles' own timeouts are for real modems).
    scfg.command_timeout = scfg.command_timeout.max(Duration::from_secs(20));
    scfg.prompt_timeout = scfg.prompt_timeout.max(Duration::from_secs(20));
    scfg.send_timeout = scfg.send_timeout.max(Duration::from_secs(30));
    tweak_session(&mut scfg);
    let started = tokio::time::timeout(WAIT, Modem::start(scfg))
        .await
        .expect("session start timed out");
    match started {
        Ok((modem, events)) => Ok(Rig {
            dir,
            sim,
            modem,
            events,
            profile: profile.clone(),
        }),
        Err(e) => Err((e, sim, dir)),
    }
}

/// One SMS-SUBMIT part with a status report request: (TPDU length, hex).
pub fn part(to: &str, text: &str) -> (usize, String) {
    let opts = SubmitOptions {
        status_report: true,
        ..SubmitOptions::default()
    };
    let parts =
        encode_submit(&Address::parse_number(to).expect("number"), text, &opts).expect("encodes");
    assert_eq!(parts.len(), 1, "test text must fit one part");
    (parts[0].tpdu_len, parts[0].hex())
}

impl Rig {
    /// The next event of the session.
    pub async fn next_event(&mut self) -> ModemEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .unwrap_or_else(|_| panic!("{}: no event in time", self.profile.name))
            .expect("session ended")
    }

    /// The next status report or SMS (other URCs are skipped).
    pub async fn next_inbound(&mut self) -> Inbound {
        loop {
            match self.next_event().await {
                ModemEvent::Inbound(i) => return i,
                ModemEvent::Unsolicited { .. } => {}
                other => panic!("{}: unexpected event {other:?}", self.profile.name),
            }
        }
    }

    /// The next status report, decoded, not yet handed on.
    pub async fn next_report(&mut self) -> (StatusReport, Inbound) {
        let inb = self.next_inbound().await;
        assert_eq!(
            inb.kind,
            InboundKind::StatusReport,
            "{}: expected a report, got {inb:?}",
            self.profile.name
        );
        (decode_report(&inb), inb)
    }

    /// Send one part with a report request; returns its MR.
    pub async fn send(&self, to: &str, text: &str) -> u8 {
        let (len, hex) = part(to, text);
        tokio::time::timeout(WAIT, self.modem.send_pdu(len, &hex))
            .await
            .expect("send timed out")
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.profile.name))
    }

    /// Wait until the simulator's state satisfies `done`.
    pub async fn sim_until(&self, what: &str, done: impl FnMut(&SimModem) -> bool) {
        assert!(
            self.sim.wait_until(WAIT, done).await,
            "{}: the simulator never reached: {what}",
            self.profile.name
        );
    }

    /// True when the simulator received this exact command.
    pub fn sim_got(&self, cmd: &str) -> bool {
        self.sim.model().command_log().any(|c| c == cmd)
    }
}

/// Decode the status report of an inbound PDU.
pub fn decode_report(inb: &Inbound) -> StatusReport {
    match parse_with_smsc(&inb.pdu).expect("report parses") {
        (_, Tpdu::StatusReport(sr)) => sr,
        (_, other) => panic!("not a status report: {other:?}"),
    }
}

/// Decode the SMS-DELIVER of an inbound PDU.
pub fn decode_deliver(inb: &Inbound) -> Deliver {
    match parse_with_smsc(&inb.pdu).expect("deliver parses") {
        (_, Tpdu::Deliver(d)) => d,
        (_, other) => panic!("not an SMS-DELIVER: {other:?}"),
    }
}
