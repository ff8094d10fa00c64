//! SIM PIN entry at start-up: the configured PIN unlocks the SIM, a wrong or
//! missing PIN is a clear `ModemError::Sim`, and the PIN never reaches a log
//! (every tracing event of this test binary is captured at TRACE level).

use crate::session_common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use session_common::{profiles, try_start, Link};
use smsgw::modem::ModemError;
use smsgw::profile::Profile;

const PIN: &str = "7391";
const WRONG: &str = "1397";

/// Everything logged by this test binary.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        log
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&captured().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_entry_works_and_never_reaches_a_log() {
    captured();
    for p in profiles() {
        right_pin(&p).await;
        let err = start_with_pin(&p, Some(WRONG)).await;
        match &err {
            ModemError::Sim(msg) => assert!(msg.contains("refused"), "{}: {msg}", p.name),
            other => panic!("{}: wrong PIN gave {other:?}", p.name),
        }
        assert!(!err.to_string().contains(WRONG), "{err}");
        let err = start_with_pin(&p, None).await;
        match &err {
            ModemError::Sim(msg) => {
                assert!(msg.contains("none is configured"), "{}: {msg}", p.name)
            }
            other => panic!("{}: missing PIN gave {other:?}", p.name),
        }
    }
    let log = log_text();
    // The capture works (the session logs its commands at TRACE)...
    assert!(log.contains("-> AT+CPIN?"), "nothing captured");
    assert!(
        log.contains("AT+CPIN=\"****\""),
        "PIN entry not logged at all"
    );
    // ...and neither PIN appears anywhere in it, as a token of its own
    // (a substring test would trip on digits inside timestamps or hex).
    assert!(!has_token(&log, PIN), "the PIN leaked into the log");
    assert!(!has_token(&log, WRONG), "the wrong PIN leaked into the log");
}

fn has_token(text: &str, token: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == token)
}

async fn right_pin(p: &Profile) {
    let rig = try_start(
        p,
        Link::Pty,
        |c| c.pin = Some(PIN.into()),
        |s| s.pin = Some(PIN.into()),
    )
    .await
    .unwrap_or_else(|(e, _, _)| panic!("{}: {e}", p.name));
    // Unlocked: identity that needs the SIM is there, and the modem sends.
    let info = rig.modem.info().expect("info");
    assert_eq!(info.imsi.as_deref(), Some("222015550000001"), "{}", p.name);
    assert_eq!(info.registration, Some(1));
    rig.send("+393331234567", "after PIN").await;
    assert!(rig.sim_got(&format!("AT+CPIN=\"{PIN}\"")));
}

async fn start_with_pin(p: &Profile, pin: Option<&str>) -> ModemError {
    match try_start(
        p,
        Link::Pty,
        |c| c.pin = Some(PIN.into()),
        |s| s.pin = pin.map(str::to_string),
    )
    .await
    {
        Ok(_) => panic!("{}: started with PIN {pin:?}", p.name),
        Err((e, _sim, _dir)) => e,
    }
}
