//! The real session over a real pty against the simulated modem, in the
//! dialect of every built-in hardware profile: sending with a status report
//! request, +CDS acknowledged with AT+CNMA or +CDSI read back and deleted only
//! after `handed_on`, every outcome, reports stored before start-up, +CMS
//! ERROR refusals, reports inside the +CMGS response, and a fault storm.

use crate::session_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use session_common::{part, profiles, start, start_model, Link, Rig, WAIT};
use smsgw::at::FinalResult;
use smsgw::cli::sim::sim_config_for;
use smsgw::modem::{InboundKind, ModemError, Origin};
use smsgw::profile::{Profile, ReportMode};
use smsgw::sim::{OutcomeMix, SimModem};

const TO: &str = "+393331234567";

/// What `handed_on` must lead to for this dialect's reports.
fn expected_origin(p: &Profile, origin: &Origin) {
    match p.sms.report_mode {
        ReportMode::Cds => assert!(
            matches!(origin, &Origin::Direct { needs_ack, .. }
                if needs_ack == (p.sms.cnma_required && p.sms.csms == 1)),
            "{}",
            p.name
        ),
        ReportMode::Cdsi => assert!(
            matches!(origin, Origin::Stored { mem, .. } if mem == "SM"),
            "{}: {origin:?}",
            p.name
        ),
    }
}

/// Hand a report on and check the modem-side follow-up: AT+CNMA for a
/// direct report that needs it, AT+CMGR then AT+CMGD for a stored one, and
/// nothing of the kind before `handed_on`.
async fn hand_on_and_check(rig: &Rig, origin: &Origin) {
    match origin {
        Origin::Stored { index, .. } => {
            // Storage slots are reused: every earlier read of this slot was
            // followed by its deletion, this one not yet.
            let (read, delete) = (format!("AT+CMGR={index}"), format!("AT+CMGD={index}"));
            let count = |m: &SimModem, c: &str| m.command_log().filter(|l| *l == c).count();
            let (reads, deletes) = {
                let m = rig.sim.model();
                (count(&m, &read), count(&m, &delete))
            };
            assert!(reads >= 1, "{}: no {read}", rig.profile.name);
            assert_eq!(
                deletes + 1,
                reads,
                "{}: deleted before handed_on",
                rig.profile.name
            );
            assert!(rig.sim.model().stored_indices().contains(index));
            rig.modem.handed_on(origin);
            rig.sim_until("report deleted", |m| count(m, &delete) == reads)
                .await;
        }
        Origin::Direct {
            needs_ack: true, ..
        } => {
            let acks = |rig: &Rig| {
                rig.sim
                    .model()
                    .command_log()
                    .filter(|c| *c == "AT+CNMA")
                    .count()
            };
            let before = acks(rig);
            rig.modem.handed_on(origin);
            rig.sim_until("AT+CNMA", |m| {
                m.command_log().filter(|c| *c == "AT+CNMA").count() > before
            })
            .await;
        }
        Origin::Direct {
            needs_ack: false, ..
        } => rig.modem.handed_on(origin),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dialect_sends_and_gets_its_reports() {
    for p in profiles() {
        let mut rig = start(&p, |_| {}).await;
        // Two rounds: the second proves the first was acknowledged (a modem
        // waiting for AT+CNMA would hold the next +CDS back).
        for round in 0..2 {
            let mr = rig.send(TO, &format!("round {round}")).await;
            let (sr, inb) = rig.next_report().await;
            assert_eq!((sr.mr, sr.status.0), (mr, 0x00), "{}", p.name);
            assert_eq!(sr.recipient.to_string(), TO);
            expected_origin(&p, &inb.origin);
            hand_on_and_check(&rig, &inb.origin).await;
        }
        assert_eq!(rig.sim.submits().len(), 2, "{}", p.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_reaches_the_host() {
    // Recipient suffix -> the TP-ST the simulated network answers.
    let cases: [(&str, &[u8]); 4] = [
        ("+393331001000", &[0x00]),
        ("+393331001046", &[0x46]),
        ("+393331001041", &[0x41]),
        // Temporary (SME busy), then the final report.
        ("+393331001021", &[0x21, 0x00]),
    ];
    for p in profiles() {
        let mut rig = start(&p, |c| {
            c.forced_status = vec![
                ("1000".into(), 0x00),
                ("1046".into(), 0x46),
                ("1041".into(), 0x41),
                ("1021".into(), 0x21),
            ];
            c.temporary_followup_ms = 20;
        })
        .await;
        let mut want = BTreeMap::new();
        for (to, statuses) in cases {
            let mr = rig.send(to, "outcome").await;
            want.insert(mr, statuses.to_vec());
        }
        let total: usize = cases.iter().map(|(_, s)| s.len()).sum();
        let mut got: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for _ in 0..total {
            let (sr, inb) = rig.next_report().await;
            got.entry(sr.mr).or_default().push(sr.status.0);
            hand_on_and_check(&rig, &inb.origin).await;
        }
        assert_eq!(got, want, "{}", p.name);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_stored_before_start_are_read_with_cmgl() {
    for p in profiles() {
        stored_before_start(&p, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_reports_are_read_through_line_noise() {
    // Every response carries a garbage line and a stray URC, +CMGL included.
    stored_before_start(&Profile::by_name("generic").expect("generic"), true).await;
}

async fn stored_before_start(p: &Profile, noisy: bool) {
    {
        // Before any host configured routing (AT+CNMI all zero), reports and
        // SMS are stored silently, as in a modem that ran unattended.
        let mut cfg = sim_config_for(p);
        if noisy {
            cfg.garbage_rate = 1.0;
            cfg.urc_noise_rate = 1.0;
        }
        let mut model = SimModem::new(cfg);
        let now = now_ms();
        let mut mrs = Vec::new();
        for text in ["first", "second"] {
            let (len, hex) = part(TO, text);
            model.handle_input(format!("ATE0\rAT+CMGS={len}\r").as_bytes(), now);
            model.handle_input(format!("{hex}\x1a").as_bytes(), now);
            let out = String::from_utf8_lossy(&model.poll_output(now)).into_owned();
            assert!(out.contains("+CMGS: "), "{}: {out:?}", p.name);
            mrs.push(model.submits().last().expect("submitted").mr);
        }
        let incoming = smsgw::sim::codec::deliver_parts(
            "+393359609600",
            "+393401112233",
            "stored hello",
            now / 1000,
            4,
            1,
        )
        .expect("deliver");
        model.inject_incoming(incoming, now);
        model.poll_output(now);
        assert_eq!(model.stored_indices().len(), 3);

        let mut rig = start_model(p, Link::Pty, model, |_| {})
            .await
            .unwrap_or_else(|(e, _, _)| panic!("{}: {e}", p.name));
        assert!(rig.sim_got("AT+CMGL=4"));
        let mut report_mrs = Vec::new();
        let mut texts = Vec::new();
        for _ in 0..3 {
            let inb = rig.next_inbound().await;
            assert!(
                matches!(inb.origin, Origin::Stored { .. }),
                "{}: {inb:?}",
                p.name
            );
            match inb.kind {
                InboundKind::StatusReport => {
                    report_mrs.push(session_common::decode_report(&inb).mr)
                }
                InboundKind::Deliver => texts.push(
                    session_common::decode_deliver(&inb)
                        .user_data
                        .as_text()
                        .expect("text")
                        .to_string(),
                ),
            }
            rig.modem.handed_on(&inb.origin);
        }
        report_mrs.sort();
        assert_eq!(report_mrs, mrs, "{}", p.name);
        assert_eq!(texts, ["stored hello"]);
        rig.sim_until("storage emptied", |m| m.stored_indices().is_empty())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cms_error_refusal_is_failed_with_its_code() {
    for p in profiles() {
        let rig = start(&p, |c| {
            c.cms_error_rate = 1.0;
            c.cms_error_code = 330;
        })
        .await;
        let (len, hex) = part(TO, "refused");
        let err = tokio::time::timeout(WAIT, rig.modem.send_pdu(len, &hex))
            .await
            .expect("answer in time")
            .expect_err("refused");
        match &err {
            ModemError::Failed {
                command,
                result: FinalResult::CmsError(cms),
            } => {
                assert_eq!(command, &format!("AT+CMGS={len}"));
                assert_eq!(cms.code, Some(330), "{}", p.name);
            }
            other => panic!("{}: expected +CMS ERROR 330, got {other:?}", p.name),
        }
        assert!(!err.maybe_sent());
        assert!(err.to_string().contains("330"), "{err}");
        assert!(rig.sim.submits().is_empty());
        // The session goes on.
        rig.modem
            .command("AT", WAIT)
            .await
            .expect("AT after refusal");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_inside_the_cmgs_response_are_not_lost() {
    for p in profiles() {
        let mut rig = start(&p, |c| c.urc_mid_response = true).await;
        // Sent back to back from concurrent callers: every report comes
        // inside the response of a later command (+CMGS, +CMGR, +CNMA...).
        let mut sends = Vec::new();
        for i in 0..6 {
            let (len, hex) = part(TO, &format!("mid {i}"));
            let modem = rig.modem.clone();
            sends.push(tokio::spawn(async move { modem.send_pdu(len, &hex).await }));
        }
        let mut mrs = BTreeSet::new();
        for s in sends {
            let mr = tokio::time::timeout(WAIT, s)
                .await
                .expect("send in time")
                .expect("task")
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            mrs.insert(mr);
        }
        let mut got = BTreeSet::new();
        for _ in 0..6 {
            let (sr, inb) = rig.next_report().await;
            assert!(got.insert(sr.mr), "{}: report {} twice", p.name, sr.mr);
            hand_on_and_check(&rig, &inb.origin).await;
        }
        assert_eq!(got, mrs, "{}", p.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_storm_loses_no_mr_and_no_report() {
    // One +CDS dialect with CNMA and one +CDSI dialect.
    for name in ["quectel-ec2x", "generic"] {
        let p = Profile::by_name(name).expect("profile");
        let mut rig = start(&p, |c| {
            c.garbage_rate = 0.3;
            c.urc_noise_rate = 0.3;
            c.urc_mid_response = true;
            c.latency_ms = 2;
            c.report_delay_ms = (0, 40);
            c.temporary_followup_ms = 15;
            c.outcomes = OutcomeMix {
                delivered: 6,
                expired: 1,
                permanent: 1,
                temporary: 2,
            };
            c.seed = 7;
        })
        .await;
        const N: usize = 40;
        let mut mrs = Vec::new();
        for i in 0..N {
            mrs.push(rig.send(&format!("+3933310{i:05}"), "storm").await);
        }
        let submits = rig.sim.submits();
        assert_eq!(submits.len(), N);
        let want_mrs: Vec<u8> = submits.iter().map(|s| s.mr).collect();
        assert_eq!(mrs, want_mrs, "{name}: every part got its MR");
        let mut want: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for s in &submits {
            want.insert(s.mr, s.statuses.clone());
        }
        let total: usize = want.values().map(Vec::len).sum();
        let mut got: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for _ in 0..total {
            let (sr, inb) = rig.next_report().await;
            got.entry(sr.mr).or_default().push(sr.status.0);
            rig.modem.handed_on(&inb.origin);
        }
        assert_eq!(got, want, "{name}: every report arrived, once");
        rig.sim_until("storage emptied", |m| m.stored_indices().is_empty())
            .await;
    }
}
