//! The SMPP backend over a gateway (no socket): binds checked by system_id,
//! password and allowed_ips; submits through the durable queue with the
//! API's checks, throughput counted per part, refusals named; query and
//! cancel limited to the account's own messages; the outbox read,
//! acknowledged and announced on the account's watch channel.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smsgw::config::Config;
use smsgw::gateway::{Gateway, GatewaySettings};
use smsgw::router::RouterConfig;
use smsgw::smpp::backend::{
    Account, Address, BindRefusal, IdFormat, LookupRefusal, OutboundKind, Payload, SmppBackend,
    SubmitRefusal, SubmitRequest,
};
use smsgw::smpp::gateway::{SmppGateway, SmppStatus};
use smsgw::state::MessageState;
use smsgw::store::{unix_now, IncomingReport, Store};

const CONFIG: &str = r#"
[smpp]
listen = "127.0.0.1:2775"

[[smpp.account]]
system_id = "app1"
password = "secret1"
throughput = 5
allowed_ips = ["127.0.0.0/8", "::1/128"]

[[smpp.account]]
system_id = "app2"
password = "pw2"
message_id = "hex"
receive_mo = true
"#;

fn rig(prefixes: &[&str]) -> (Gateway, Arc<SmppGateway>) {
    rig_at(Path::new(":memory:"), prefixes)
}

/// The backend over a gateway on the database at `db`.
fn rig_at(db: &Path, prefixes: &[&str]) -> (Gateway, Arc<SmppGateway>) {
    let cfg = Config::from_toml(CONFIG, "test.toml").unwrap();
    let store = Store::open(db, RouterConfig::default()).unwrap();
    let gw = Gateway::new(
        store,
        GatewaySettings::default(),
        &[("m1".into(), "/dev/null".into())],
    );
    let p: Vec<String> = prefixes.iter().map(|s| s.to_string()).collect();
    gw.set_prefixes("m1", &p);
    let smpp = SmppGateway::new(gw.clone(), cfg.smpp.as_ref().unwrap());
    (gw, smpp)
}

fn text(to: &str, text: &str) -> SubmitRequest {
    SubmitRequest {
        source: Address {
            ton: 5,
            npi: 0,
            addr: "ACME".into(),
        },
        dest: Address {
            ton: 1,
            npi: 1,
            addr: to.into(),
        },
        payload: Payload::Text {
            text: text.into(),
            ucs2: false,
        },
        udh: None,
        registered_delivery: 1,
        expires_at: None,
        not_before: None,
        flash: false,
    }
}

fn local() -> std::net::IpAddr {
    "127.0.0.1".parse().unwrap()
}

#[test]
fn binds_are_checked_by_id_origin_and_password() {
    let (_gw, smpp) = rig(&[]);
    let a = smpp.authenticate("app1", "secret1", local()).unwrap();
    assert_eq!(
        a,
        Account {
            system_id: "app1".into(),
            id_format: IdFormat::Decimal,
            receive_mo: false,
        }
    );
    assert!(smpp
        .authenticate("app1", "secret1", "::1".parse().unwrap())
        .is_ok());
    assert_eq!(
        smpp.authenticate("nobody", "secret1", local()),
        Err(BindRefusal::UnknownSystemId)
    );
    assert_eq!(
        smpp.authenticate("app1", "secret2", local()),
        Err(BindRefusal::BadPassword)
    );
    assert_eq!(
        smpp.authenticate("app1", "secret1", "192.0.2.1".parse().unwrap()),
        Err(BindRefusal::AddressNotAllowed)
    );
    // No allowed_ips: from anywhere; hex ids and MO as configured.
    let b = smpp
        .authenticate("app2", "pw2", "192.0.2.1".parse().unwrap())
        .unwrap();
    assert_eq!((b.id_format, b.receive_mo), (IdFormat::Hex, true));
}

#[tokio::test]
async fn submits_are_stored_refused_with_a_reason_and_throttled_per_part() {
    let (gw, smpp) = rig(&["+39"]);
    let app1 = smpp.authenticate("app1", "secret1", local()).unwrap();
    let id = smpp
        .submit(&app1, text("393331234567", "hello"))
        .await
        .unwrap();
    // On disk when the answer came, with its origin.
    let q = smpp.query(&app1, id).await.unwrap();
    assert_eq!(q.state, MessageState::Accepted);
    assert_eq!(q.final_date, None);
    // Unroutable and malformed destinations, empty and too long content.
    match smpp.submit(&app1, text("4930123456", "hi")).await {
        Err(SubmitRefusal::BadDestination(why)) => assert!(why.contains("+4930123456"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        smpp.submit(&app1, text("39abc", "hi")).await,
        Err(SubmitRefusal::BadDestination(_))
    ));
    assert!(matches!(
        smpp.submit(&app1, text("393331234567", "")).await,
        Err(SubmitRefusal::BadContent(_))
    ));
    let mut bad_udh = text("393331234567", "x");
    bad_udh.udh = Some(vec![9, 0, 3, 1]);
    assert!(matches!(
        smpp.submit(&app1, bad_udh).await,
        Err(SubmitRefusal::BadContent(_))
    ));
    let mut gone = text("393331234567", "late");
    gone.expires_at = Some(unix_now() - 1);
    assert!(matches!(
        smpp.submit(&app1, gone).await,
        Err(SubmitRefusal::BadContent(_))
    ));
    // Throughput 5 parts/s, counted per part. Single parts pass until the
    // bucket is empty: at most 5 plus what refilled meanwhile.
    let t0 = std::time::Instant::now();
    let mut passed = 1u32; // the first submit above
    let mut throttled = false;
    for _ in 0..100 {
        match smpp.submit(&app1, text("393331234567", "one")).await {
            Ok(_) => passed += 1,
            Err(SubmitRefusal::Throttled) => {
                throttled = true;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let refill = (t0.elapsed().as_secs_f64() * 5.0).ceil() as u32;
    assert!(throttled, "never throttled after {passed} parts");
    assert!(
        passed <= 5 + refill + 1,
        "{passed} parts passed, refill {refill}"
    );
    let c = smpp.counters();
    assert_eq!(c[0].system_id, "app1");
    assert_eq!((c[0].submits, c[0].throttled), (u64::from(passed), 1));
    // A full bucket (a second later) takes a 4-part message; a second one
    // right after needs 3 parts more than what is left.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let long = "z".repeat(153 * 4);
    let t1 = std::time::Instant::now();
    smpp.submit(&app1, text("393331234567", &long))
        .await
        .unwrap();
    let again = smpp.submit(&app1, text("393331234567", &long)).await;
    if t1.elapsed() < Duration::from_millis(500) {
        assert_eq!(again, Err(SubmitRefusal::Throttled));
    }
    // Stopping: the queue refuses.
    gw.shutdown();
    let app2 = smpp.authenticate("app2", "pw2", local()).unwrap();
    assert_eq!(
        smpp.submit(&app2, text("393331234567", "x")).await,
        Err(SubmitRefusal::QueueFull)
    );
}

#[tokio::test]
async fn query_and_cancel_see_only_the_accounts_own_messages() {
    let (gw, smpp) = rig(&[]);
    let app1 = smpp.authenticate("app1", "secret1", local()).unwrap();
    let app2 = smpp.authenticate("app2", "pw2", local()).unwrap();
    let id = smpp
        .submit(&app1, text("393331234567", "mine"))
        .await
        .unwrap();
    assert_eq!(smpp.query(&app2, id).await, Err(LookupRefusal::NotFound));
    assert_eq!(smpp.cancel(&app2, id).await, Err(LookupRefusal::NotFound));
    smpp.cancel(&app1, id).await.unwrap();
    let q = smpp.query(&app1, id).await.unwrap();
    assert_eq!(q.state, MessageState::Deleted);
    assert!(q.final_date.is_some());
    assert_eq!(smpp.cancel(&app1, id).await, Err(LookupRefusal::TooLate));
    // Handed to a modem: too late.
    let id2 = smpp
        .submit(&app1, text("393331234567", "flying"))
        .await
        .unwrap();
    {
        let mut s = gw.store();
        let m = s.modem("m1").unwrap();
        let claimed = s.claim_next("m1", unix_now(), &|_| true).unwrap().unwrap();
        assert_eq!(claimed.id.0, id2 as i64);
        s.mark_sending(claimed.parts[0].id, m, unix_now()).unwrap();
    }
    assert_eq!(smpp.cancel(&app1, id2).await, Err(LookupRefusal::TooLate));
}

#[tokio::test]
async fn receipts_come_out_of_the_outbox_and_the_watch_says_when() {
    // On a file: the group commit syncs on its own thread, then tells.
    let dir = tempfile::tempdir().unwrap();
    let (gw, smpp) = rig_at(&dir.path().join("b.db"), &[]);
    let app1 = smpp.authenticate("app1", "secret1", local()).unwrap();
    let mut changed = smpp.outbox_changed("app1");
    let before = *changed.borrow_and_update();
    let id = smpp
        .submit(
            &app1,
            text("393331234567", "report me please, this is long"),
        )
        .await
        .unwrap();
    let now = unix_now();
    // The modem's work, through the group commit as the worker does it.
    gw.write(move |s| {
        let m = s.modem("m1")?;
        let claimed = s.claim_next("m1", now, &|_| true)?.expect("queued");
        s.mark_sending(claimed.parts[0].id, m, now)?;
        s.mark_sent(claimed.parts[0].id, m, 42, now, 86_400)?;
        s.record_report(&IncomingReport {
            modem: m,
            recipient: "+393331234567".into(),
            mr: 42,
            scts: now,
            discharge: Some(now),
            status: 0x00,
            pdu_hex: "00".into(),
            received_at: now,
        })?;
        Ok(())
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), changed.changed())
        .await
        .expect("the watch was not bumped")
        .unwrap();
    assert_ne!(*changed.borrow(), before);
    let rows = smpp.outbound("app1", 0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let OutboundKind::Receipt(r) = &rows[0].kind else {
        panic!("{:?}", rows[0])
    };
    assert_eq!(r.message_id, id);
    assert_eq!(r.state, MessageState::Delivered);
    assert_eq!((r.sub, r.dlvrd, r.err), (1, 1, 0));
    assert_eq!(r.network_error, None);
    assert_eq!(r.text_head, "report me please, th");
    assert_eq!(r.submit_source.addr, "ACME");
    assert_eq!(r.submit_dest.addr, "393331234567");
    assert!(!r.intermediate);
    // Nothing for the other account; a failed delivery is counted; an
    // acknowledged row is gone.
    assert!(smpp.outbound("app2", 0, 10).await.unwrap().is_empty());
    smpp.failed("app1", rows[0].id).await.unwrap();
    assert_eq!(smpp.outbound("app1", 0, 10).await.unwrap()[0].attempts, 1);
    smpp.delivered("app1", rows[0].id).await.unwrap();
    assert!(smpp.outbound("app1", 0, 10).await.unwrap().is_empty());
    // An unknown account has a watch that never changes.
    let unknown = smpp.outbox_changed("nobody");
    assert_eq!(*unknown.borrow(), 0);
}

#[tokio::test]
async fn binary_udh_and_schedule_reach_the_queue() {
    let (gw, smpp) = rig(&[]);
    let app1 = smpp.authenticate("app1", "secret1", local()).unwrap();
    let mut req = text("393331234567", "");
    req.payload = Payload::Binary {
        data: vec![1, 2, 3],
    };
    req.udh = Some(vec![5, 0, 3, 7, 2, 1]);
    let later = unix_now() + 3600;
    req.not_before = Some(later);
    req.expires_at = Some(later + 7200);
    let id = smpp.submit(&app1, req).await.unwrap();
    {
        let mut s = gw.store();
        assert_eq!(s.claim_next("m1", unix_now(), &|_| true).unwrap(), None);
        let m = s.claim_next("m1", later, &|_| true).unwrap().unwrap();
        assert_eq!(m.id.0, id as i64);
        assert_eq!(m.opts.data.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(m.opts.udh.as_deref(), Some(&[5u8, 0, 3, 7, 2, 1][..]));
        assert_eq!(m.opts.not_before, Some(later));
        // The validity runs to the client's expiry.
        let v = m.opts.validity_secs;
        assert!((3 * 3600 - 5..=3 * 3600).contains(&v), "{v}");
        // The SMSC is told the time left once it is sent: 2 hours (TP-VP 23).
        assert_eq!(m.opts.vp_relative, Some(23));
    }
    // A validity that ends before the schedule cannot be met.
    let mut req = text("393331234567", "never");
    req.not_before = Some(later);
    req.expires_at = Some(later - 60);
    assert!(matches!(
        smpp.submit(&app1, req).await,
        Err(SubmitRefusal::BadContent(_))
    ));
}

#[tokio::test]
async fn rows_no_bind_took_expire_after_the_retention_and_are_counted() {
    let (gw, smpp) = rig(&[]);
    let app1 = smpp.authenticate("app1", "secret1", local()).unwrap();
    let old = smpp
        .submit(&app1, text("393331234567", "old"))
        .await
        .unwrap();
    let fresh = smpp
        .submit(&app1, text("393331234568", "fresh"))
        .await
        .unwrap();
    // One receipt written 73 hours ago (retention 72 h by default), one now.
    let now = unix_now();
    gw.write(move |s| {
        let m = s.modem("m1")?;
        for (k, at) in [(0u8, now - 73 * 3600), (1, now)] {
            let claimed = s.claim_next("m1", now, &|_| true)?.expect("queued");
            s.mark_sending(claimed.parts[0].id, m, at)?;
            s.mark_sent(claimed.parts[0].id, m, k, at, 86_400)?;
            s.record_report(&IncomingReport {
                modem: m,
                recipient: claimed.to.clone(),
                mr: k,
                scts: at,
                discharge: Some(at),
                status: 0x00,
                pdu_hex: "00".into(),
                received_at: at,
            })?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let ids = |rows: &[smsgw::smpp::backend::Outbound]| -> Vec<u64> {
        rows.iter()
            .map(|o| match &o.kind {
                OutboundKind::Receipt(r) => r.message_id,
                OutboundKind::Mo(_) => 0,
            })
            .collect()
    };
    assert_eq!(
        ids(&smpp.outbound("app1", 0, 10).await.unwrap()),
        [old, fresh]
    );
    assert_eq!(smpp.expire_outbox().await, 1);
    assert_eq!(ids(&smpp.outbound("app1", 0, 10).await.unwrap()), [fresh]);
    assert_eq!(smpp.counters()[0].expired, 1);
    assert_eq!(smpp.expire_outbox().await, 0);
}

#[tokio::test]
async fn a_row_that_cannot_be_read_is_dropped_not_left_to_block_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let (_gw, smpp) = rig_at(&db, &[]);
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        for payload in [
            "not json",
            r#"{"from":"+393471112233","to":"sim0","text":"hi","data_hex":"","received_at":1}"#,
        ] {
            let kind = if payload.starts_with('{') {
                "mo"
            } else {
                "receipt"
            };
            c.execute(
                "INSERT INTO smpp_outbox (account, kind, payload, created_at, next_attempt) \
                 VALUES ('app2', ?1, ?2, 1, 1)",
                [kind, payload],
            )
            .unwrap();
        }
    }
    let rows = smpp.outbound("app2", 0, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let OutboundKind::Mo(m) = &rows[0].kind else {
        panic!("{rows:?}")
    };
    assert_eq!(m.from.addr, "393471112233");
    assert_eq!(m.from.ton, 1);
    assert_eq!(
        m.payload,
        Payload::Text {
            text: "hi".into(),
            ucs2: false
        }
    );
    // The bad row is gone: reading again gives the same good one only.
    let again = smpp.outbound("app2", 0, 10).await.unwrap();
    assert_eq!(again, rows);
}
