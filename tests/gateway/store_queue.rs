//! The durable queue: claims (FIFO, exclusive, bound once a part is sent,
//! SIM prefixes, modem preference, retry times), in-flight parts after a
//! crash, lost modems, expiry, migration of a version 1 database, counters.

use std::collections::HashSet;
use std::path::Path;

use smsgw::router::{ModemId, PartId, RouterConfig};
use smsgw::state::MessageState;
use smsgw::store::{
    EnqueueRequest, IncomingReport, MessageId, MessageOptions, QueuedMessage, Store, StoreError,
    MIGRATIONS, SCHEMA_VERSION,
};

const T0: i64 = 1_760_000_000;
const DAY: i64 = 86_400;

fn open(path: &Path, now: i64) -> Store {
    Store::open_at(path, RouterConfig::default(), now).unwrap()
}

fn any(_: &str) -> bool {
    true
}

fn claim(s: &mut Store, modem: &str, now: i64) -> Option<QueuedMessage> {
    s.claim_next(modem, now, &any).unwrap()
}

fn report(modem: ModemId, to: &str, mr: u8, scts: i64, status: u8) -> IncomingReport {
    IncomingReport {
        modem,
        recipient: to.to_string(),
        mr,
        scts,
        discharge: Some(scts + 4),
        status,
        pdu_hex: "0006".to_string(),
        received_at: scts + 6,
    }
}

/// Send every part still to send of `m` on `modem` with TP-MRs from `mr`.
fn send_all(s: &mut Store, m: &QueuedMessage, modem: ModemId, mr: &mut u8, at: i64) {
    for p in &m.parts {
        s.mark_sending(p.id, modem, at).unwrap();
        s.mark_sent(p.id, modem, *mr, at, DAY).unwrap();
        *mr = mr.wrapping_add(1);
    }
}

#[test]
fn claims_are_fifo_by_creation_time_and_exclusive_between_two_modems() {
    let mut s = open(Path::new(":memory:"), T0);
    // Created out of id order: the older creation time goes first.
    let late = s
        .create_message("+393330000001", "late", 1, T0 + 10)
        .unwrap();
    let early = s.create_message("+393330000002", "early", 1, T0).unwrap();
    let mid = s.create_message("+393330000003", "mid", 1, T0 + 5).unwrap();
    let a = claim(&mut s, "a", T0 + 20).unwrap();
    let b = claim(&mut s, "b", T0 + 20).unwrap();
    assert_eq!((a.id, b.id), (early.id, mid.id));
    assert_eq!(a.text, "early");
    assert_eq!(a.opts, MessageOptions::default());
    assert_eq!(a.parts.len(), 1);
    assert_eq!(a.parts[0].id, early.parts[0]);
    // "a" resumes its own claim before anything else; "b" gets the last one.
    assert_eq!(claim(&mut s, "a", T0 + 20).unwrap().id, early.id);
    assert_eq!(claim(&mut s, "b", T0 + 20).unwrap().id, mid.id);
    let ma = s.modem("a").unwrap();
    let mut mr = 0;
    send_all(&mut s, &a, ma, &mut mr, T0 + 21);
    assert_eq!(claim(&mut s, "a", T0 + 22).unwrap().id, late.id);
    assert_eq!(claim(&mut s, "c", T0 + 22), None);
    assert_eq!(s.queue_depth(None).unwrap(), 2);
    assert_eq!(s.queue_depth(Some("a")).unwrap(), 1);
    assert_eq!(s.queue_depth(Some("b")).unwrap(), 1);
    // All at once, the same figures.
    let (total, each) = s.queue_depths().unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        each.into_iter().collect::<Vec<_>>(),
        [("a".to_string(), 1), ("b".to_string(), 1)]
    );
}

#[test]
fn many_claims_in_a_loop_hand_out_each_message_once_in_order() {
    let mut s = open(Path::new(":memory:"), T0);
    let opts = MessageOptions::default();
    let texts: Vec<String> = (0..300).map(|i| format!("message {i}")).collect();
    let numbers: Vec<String> = (0..300).map(|i| format!("+39333{i:07}")).collect();
    let reqs: Vec<EnqueueRequest<'_>> = (0..300)
        .map(|i| EnqueueRequest {
            to: &numbers[i],
            text: &texts[i],
            parts: 1 + (i % 3) as u8,
            opts: &opts,
        })
        .collect();
    let created = s.enqueue_messages(&reqs, T0).unwrap();
    let ids = [s.modem("a").unwrap(), s.modem("b").unwrap()];
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut mr = 0u8;
    for round in 0.. {
        let k = round % 2;
        let Some(m) = claim(&mut s, ["a", "b"][k], T0 + 1) else {
            break;
        };
        assert!(seen.insert(m.id), "{:?} handed out twice", m.id);
        order.push(m.id);
        send_all(&mut s, &m, ids[k], &mut mr, T0 + 1);
    }
    let expected: Vec<MessageId> = created.iter().map(|c| c.id).collect();
    assert_eq!(order, expected);
    assert_eq!(s.queue_depth(None).unwrap(), 0);
}

#[test]
fn two_connections_claiming_concurrently_never_share_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut s = open(&db, T0);
    let opts = MessageOptions::default();
    let numbers: Vec<String> = (0..400).map(|i| format!("+39333{i:07}")).collect();
    let reqs: Vec<EnqueueRequest<'_>> = numbers
        .iter()
        .map(|to| EnqueueRequest {
            to,
            text: "x",
            parts: 1,
            opts: &opts,
        })
        .collect();
    s.enqueue_messages(&reqs, T0).unwrap();
    drop(s);
    let worker = |name: &'static str| {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut s = open(&db, T0);
            let id = s.modem(name).unwrap();
            let mut got = Vec::new();
            let mut mr = 0u8;
            while let Some(m) = claim(&mut s, name, T0 + 1) {
                got.push(m.id);
                send_all(&mut s, &m, id, &mut mr, T0 + 1);
            }
            got
        })
    };
    let (a, b) = (worker("a"), worker("b"));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let sa: HashSet<_> = a.iter().collect();
    let sb: HashSet<_> = b.iter().collect();
    assert_eq!(sa.len(), a.len());
    assert!(sa.is_disjoint(&sb));
    assert_eq!(a.len() + b.len(), 400);
    // Each took its messages oldest first.
    assert!(a.windows(2).all(|w| w[0] < w[1]));
    assert!(b.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_partly_sent_message_stays_with_its_modem() {
    let mut s = open(Path::new(":memory:"), T0);
    let msg = s.create_message("+393331234567", "long", 3, T0).unwrap();
    let a = s.modem("a").unwrap();
    let got = claim(&mut s, "a", T0).unwrap();
    assert_eq!(
        got.parts.iter().map(|p| p.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    s.mark_sending(msg.parts[0], a, T0).unwrap();
    s.mark_sent(msg.parts[0], a, 7, T0, DAY).unwrap();
    // Part 2 refused for a temporary reason, due again at once.
    s.mark_sending(msg.parts[1], a, T0 + 1).unwrap();
    s.mark_retry(msg.parts[1], Some(42), "congestion", 1, T0 + 2, T0 + 1)
        .unwrap();
    // Even with the modem "lost", the message is not given to another one.
    assert_eq!(s.release_claims("a").unwrap(), 0);
    assert_eq!(claim(&mut s, "b", T0 + 5), None);
    let b = s.modem("b").unwrap();
    let err = s.mark_sending(msg.parts[1], b, T0 + 5).unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { field: "modem", .. }),
        "{err}"
    );
    let again = claim(&mut s, "a", T0 + 5).unwrap();
    assert_eq!(again.id, msg.id);
    assert_eq!(
        again.parts.iter().map(|p| p.seq).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(again.parts[0].retries, 1);
    // A part in flight is not offered again, nor can it be marked twice.
    s.mark_sending(msg.parts[1], a, T0 + 6).unwrap();
    let err = s.mark_sending(msg.parts[1], a, T0 + 6).unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { field: "part", .. }),
        "{err}"
    );
    let again = claim(&mut s, "a", T0 + 6).unwrap();
    assert_eq!(again.parts.iter().map(|p| p.seq).collect::<Vec<_>>(), [3]);
}

#[test]
fn sim_prefixes_and_modem_preference_filter_claims() {
    let mut s = open(Path::new(":memory:"), T0);
    let uk = s.create_message("+447700900123", "uk", 1, T0).unwrap();
    let pinned = MessageOptions {
        modem: Some("b".into()),
        ..MessageOptions::default()
    };
    let for_b = s
        .enqueue_message("+393331111111", "pinned to b", 1, &pinned, T0 + 1)
        .unwrap();
    let it = s.create_message("+393332222222", "it", 1, T0 + 2).unwrap();
    let italian = |to: &str| to.starts_with("+39");
    // "a" takes only +39 numbers and is not "b": the third message.
    let got = s.claim_next("a", T0 + 3, &italian).unwrap().unwrap();
    assert_eq!(got.id, it.id);
    assert_eq!(s.queue_depth(Some("b")).unwrap(), 1);
    let got = s.claim_next("c", T0 + 3, &italian).unwrap();
    assert_eq!(got, None);
    let got = s.claim_next("b", T0 + 3, &italian).unwrap().unwrap();
    assert_eq!(got.id, for_b.id);
    assert_eq!(got.opts.modem.as_deref(), Some("b"));
    let got = s.claim_next("c", T0 + 3, &any).unwrap().unwrap();
    assert_eq!(got.id, uk.id);
}

#[test]
fn parts_waiting_for_their_next_attempt_are_not_due_and_may_move_modem() {
    let mut s = open(Path::new(":memory:"), T0);
    let msg = s.create_message("+393331234567", "x", 1, T0).unwrap();
    let a = s.modem("a").unwrap();
    claim(&mut s, "a", T0).unwrap();
    s.mark_sending(msg.parts[0], a, T0).unwrap();
    s.mark_retry(msg.parts[0], Some(332), "network timeout", 1, T0 + 30, T0)
        .unwrap();
    assert_eq!(claim(&mut s, "a", T0 + 29), None);
    assert_eq!(claim(&mut s, "b", T0 + 29), None);
    // Nothing was sent: the claim was given back, another modem may take it.
    let got = claim(&mut s, "b", T0 + 30).unwrap();
    assert_eq!(got.id, msg.id);
    assert_eq!(got.parts[0].retries, 1);
    let v = s.message(msg.id).unwrap();
    assert_eq!(v.parts[0].modem, None);
    assert_eq!(v.parts[0].next_attempt, Some(T0 + 30));
}

#[test]
fn in_flight_part_after_a_crash_becomes_unknown_not_resent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let msg = {
        let mut s = open(&db, T0);
        let msg = s.create_message("+393331234567", "two", 2, T0).unwrap();
        let a = s.modem("a").unwrap();
        claim(&mut s, "a", T0).unwrap();
        s.mark_sending(msg.parts[0], a, T0).unwrap();
        s.mark_sent(msg.parts[0], a, 3, T0, DAY).unwrap();
        s.mark_sending(msg.parts[1], a, T0 + 1).unwrap();
        msg
        // Dropped here: AT+CMGS of part 2 was written, no answer.
    };
    let mut s = open(&db, T0 + 100);
    assert_eq!(claim(&mut s, "a", T0 + 100), None);
    let found = s.recover_in_flight(false, T0 + 100).unwrap();
    assert_eq!(found, vec![msg.parts[1]]);
    let v = s.message(msg.id).unwrap();
    assert_eq!(v.message.state, MessageState::Unknown);
    assert_eq!(v.parts[1].state, MessageState::Unknown);
    assert_eq!(v.parts[0].state, MessageState::Accepted);
    assert!(v.events.iter().any(|e| e.part_id == Some(msg.parts[1].0)
        && e.reason == "AT+CMGS written before a crash, outcome unknown: not resent"));
    assert_eq!(s.recover_in_flight(false, T0 + 101).unwrap(), vec![]);
    assert_eq!(claim(&mut s, "a", T0 + 100), None);
    assert_eq!(s.queue_depth(None).unwrap(), 0);
}

#[test]
fn in_flight_part_after_a_crash_is_queued_again_with_resend() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("resend.db");
    let msg = {
        let mut s = open(&db, T0);
        let msg = s.create_message("+393331234567", "one", 1, T0).unwrap();
        let a = s.modem("a").unwrap();
        claim(&mut s, "a", T0).unwrap();
        s.mark_sending(msg.parts[0], a, T0).unwrap();
        msg
    };
    let mut s = open(&db, T0 + 100);
    assert_eq!(s.recover_in_flight(true, T0 + 100).unwrap(), msg.parts);
    let v = s.message(msg.id).unwrap();
    assert_eq!(v.message.state, MessageState::Accepted);
    assert!(v
        .events
        .iter()
        .any(|e| e.reason.contains("outcome unknown: queued again")));
    // No part was answered: any modem may take it.
    let got = claim(&mut s, "b", T0 + 100).unwrap();
    assert_eq!(got.id, msg.id);
    assert_eq!(got.parts[0].id, msg.parts[0]);
}

#[test]
fn release_claims_returns_unsent_messages_of_a_lost_modem_to_the_pool() {
    let mut s = open(Path::new(":memory:"), T0);
    let one = s.create_message("+393330000001", "1", 1, T0).unwrap();
    let two = s.create_message("+393330000002", "2", 2, T0 + 1).unwrap();
    let a = s.modem("a").unwrap();
    assert_eq!(claim(&mut s, "a", T0 + 2).unwrap().id, one.id);
    // "a" is busy with `one`; it also starts `two` through mark_sending.
    s.mark_sending(two.parts[0], a, T0 + 2).unwrap();
    s.mark_sent(two.parts[0], a, 1, T0 + 2, DAY).unwrap();
    assert_eq!(claim(&mut s, "b", T0 + 3), None);
    assert_eq!(s.release_claims("a").unwrap(), 1);
    assert_eq!(s.release_claims("a").unwrap(), 0);
    let got = claim(&mut s, "b", T0 + 3).unwrap();
    assert_eq!(got.id, one.id);
    assert_eq!(claim(&mut s, "c", T0 + 3), None);
    let got = claim(&mut s, "a", T0 + 3).unwrap();
    assert_eq!(got.id, two.id);
    assert_eq!(got.parts.len(), 1);
}

#[test]
fn queued_messages_past_their_validity_expire() {
    let mut s = open(Path::new(":memory:"), T0);
    let short = MessageOptions {
        validity_secs: 60,
        ..MessageOptions::default()
    };
    let unsent = s
        .enqueue_message("+393330000001", "a", 1, &short, T0)
        .unwrap();
    let partly = s
        .enqueue_message("+393330000002", "b", 2, &short, T0)
        .unwrap();
    let sent = s
        .enqueue_message("+393330000003", "c", 1, &short, T0)
        .unwrap();
    let later = s
        .enqueue_message("+393330000004", "d", 1, &short, T0 + 30)
        .unwrap();
    let a = s.modem("a").unwrap();
    s.mark_sending(partly.parts[0], a, T0).unwrap();
    s.mark_sent(partly.parts[0], a, 1, T0, 60).unwrap();
    s.mark_sending(sent.parts[0], a, T0).unwrap();
    s.mark_sent(sent.parts[0], a, 2, T0, 60).unwrap();
    assert_eq!(s.expire_queued(T0 + 60).unwrap(), vec![]);
    assert_eq!(
        s.expire_queued(T0 + 61).unwrap(),
        vec![unsent.id, partly.id]
    );
    for (id, parts) in [
        (unsent.id, vec![MessageState::Expired]),
        (
            partly.id,
            vec![MessageState::Accepted, MessageState::Expired],
        ),
        (sent.id, vec![MessageState::Accepted]),
        (later.id, vec![MessageState::Accepted]),
    ] {
        let v = s.message(id).unwrap();
        let states: Vec<_> = v.parts.iter().map(|p| p.state).collect();
        assert_eq!(states, parts, "{id:?}");
        let expired = parts.contains(&MessageState::Expired);
        assert_eq!(v.message.state == MessageState::Expired, expired);
        if expired {
            assert!(v.events.iter().any(|e| e.state == MessageState::Expired
                && e.reason
                    .starts_with("validity period ended before it could be sent")));
            assert_eq!(v.message.done_at, Some(T0 + 61));
        }
    }
    assert_eq!(s.queue_depth(None).unwrap(), 1);
    assert_eq!(claim(&mut s, "b", T0 + 61).unwrap().id, later.id);
}

/// The version 1 schema with rows written as version 1 code wrote them:
/// migrated in place, rows kept, unsent ones queued, sent ones bound to
/// their modem and still matched by their reports.
#[test]
fn a_version_1_database_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute_batch(
            "INSERT INTO modems (id, name) VALUES (1, 'old');
             INSERT INTO messages (id, recipient, text, parts, state, created_at)
               VALUES (1, '+393330000001', 'queued', 1, 'ACCEPTED', 1760000000),
                      (2, '+393330000002', 'sent', 2, 'ACCEPTED', 1760000001),
                      (3, '+393330000003', 'done', 1, 'DELIVRD', 1760000002);
             INSERT INTO parts (id, message_id, seq, state, modem_id, mr, submitted_at, validity)
               VALUES (1, 1, 1, 'ACCEPTED', NULL, NULL, NULL, NULL),
                      (2, 2, 1, 'ACCEPTED', 1, 17, 1760000001, 86400),
                      (3, 2, 2, 'ACCEPTED', NULL, NULL, NULL, NULL),
                      (4, 3, 1, 'DELIVRD', 1, 16, 1760000002, 86400);",
        )
        .unwrap();
    }
    let mut s = open(&db, T0 + 10);
    let version: u32 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(s.recovery().pending, 1);
    assert_eq!(s.queue_depth(None).unwrap(), 2);
    assert_eq!(s.message(MessageId(3)).unwrap().message.text, "done");
    // The unsent message goes to any modem, with default options.
    let got = claim(&mut s, "new", T0 + 10).unwrap();
    assert_eq!(got.id, MessageId(1));
    assert_eq!(got.opts, MessageOptions::default());
    // The partly sent one stays with the modem that sent part 1.
    assert_eq!(claim(&mut s, "third", T0 + 10), None);
    let got = claim(&mut s, "old", T0 + 10).unwrap();
    assert_eq!(got.id, MessageId(2));
    assert_eq!(
        got.parts.iter().map(|p| p.id).collect::<Vec<_>>(),
        [PartId(3)]
    );
    // And its report still finds it.
    let out = s
        .record_report(&report(ModemId(1), "+393330000002", 17, T0 + 11, 0x00))
        .unwrap();
    assert_eq!(out.message, Some((MessageId(2), MessageState::Enroute)));
    // The part counts were taken from the old rows at migration.
    let c = s.counters().unwrap();
    assert_eq!((c.sent, c.delivered, c.queue_depth), (2, 2, 2));
    let old = c.per_modem.iter().find(|m| m.name == "old").unwrap();
    assert_eq!((old.sent, old.delivered, old.queued), (2, 2, 1));
}

#[test]
fn counters_match_a_known_scenario() {
    let mut s = open(Path::new(":memory:"), T0);
    let a = s.modem("a").unwrap();
    let b = s.modem("b").unwrap();
    let mut msgs = Vec::new();
    for i in 0..6 {
        msgs.push(
            s.create_message(&format!("+3933300000{i:02}"), "x", 1, T0 + i)
                .unwrap(),
        );
    }
    let pinned = MessageOptions {
        modem: Some("c".into()),
        ..MessageOptions::default()
    };
    s.enqueue_message("+393339999999", "for c", 1, &pinned, T0 + 10)
        .unwrap();
    // 0, 1 delivered via a; 2 undeliverable via b; 3 rejected (+CMS 38) on b;
    // 4 claimed by a, unsent; 5 unclaimed; then an orphan report, and two
    // messages to one number pending under one TP-MR on b (a collision).
    for (i, modem, mr) in [(0, a, 5u8), (1, a, 6), (2, b, 5)] {
        let p = msgs[i].parts[0];
        s.mark_sending(p, modem, T0 + 20).unwrap();
        s.mark_sent(p, modem, mr, T0 + 20, DAY).unwrap();
    }
    s.mark_sending(msgs[3].parts[0], b, T0 + 20).unwrap();
    s.mark_rejected(msgs[3].parts[0], 38, "network out of order", T0 + 20)
        .unwrap();
    let r = |i: usize, modem, mr, st| report(modem, &format!("+3933300000{i:02}"), mr, T0 + 25, st);
    s.record_reports([r(0, a, 5, 0x00), r(1, a, 6, 0x00), r(2, b, 5, 0x41)])
        .unwrap();
    // An orphan and a collision.
    s.record_report(&r(9, b, 200, 0x00)).unwrap();
    let dup = s
        .create_message("+393330000002", "same key", 1, T0 + 30)
        .unwrap();
    let got = claim(&mut s, "a", T0 + 30).unwrap();
    assert_eq!(got.id, msgs[4].id);
    s.mark_sending(dup.parts[0], b, T0 + 30).unwrap();
    s.mark_sent(dup.parts[0], b, 77, T0 + 30, DAY).unwrap();
    let pending = s
        .create_message("+393330000002", "same key 2", 1, T0 + 31)
        .unwrap();
    s.mark_sending(pending.parts[0], b, T0 + 31).unwrap();
    let sent = s.mark_sent(pending.parts[0], b, 77, T0 + 31, DAY).unwrap();
    assert!(sent.collision.is_some());

    let c = s.counters().unwrap();
    assert_eq!(c.sent, 5);
    assert_eq!(c.delivered, 2);
    assert_eq!(
        c.failed_by_state,
        vec![("UNDELIV".to_string(), 1), ("REJECTD".to_string(), 1)]
    );
    assert_eq!(c.rejected_by_code, vec![(38, 1)]);
    assert_eq!(c.collisions, 1);
    assert_eq!(c.orphans, 1);
    assert_eq!(c.ambiguous, 0);
    assert_eq!(c.queue_depth, 3);
    assert_eq!(c.webhooks_pending, 0);
    assert_eq!(c.inbox, 0);
    let per: Vec<_> = c
        .per_modem
        .iter()
        .map(|m| (m.name.as_str(), m.queued, m.sent, m.delivered, m.failed))
        .collect();
    assert_eq!(
        per,
        [("a", 1, 2, 2, 0), ("b", 0, 3, 0, 2), ("c", 1, 0, 0, 0)]
    );
    assert_eq!(s.queue_depth(Some("a")).unwrap(), 1);
    assert_eq!(s.queue_depth(Some("c")).unwrap(), 1);
}
