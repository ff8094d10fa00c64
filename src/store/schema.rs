//! The schema and its migrations, versioned with `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] moves the schema one version up and runs in
//! its own transaction. A database whose version is above the last one this
//! binary knows was written by a newer smsgw and is refused.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this binary writes.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

const V1: &str = "
CREATE TABLE modems (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    recipient  TEXT NOT NULL,
    text       TEXT NOT NULL,
    parts      INTEGER NOT NULL CHECK (parts BETWEEN 1 AND 255),
    state      TEXT NOT NULL,
    error      INTEGER,              -- TP-ST or +CMS ERROR code of the deciding part
    created_at INTEGER NOT NULL,
    done_at    INTEGER
);
CREATE INDEX messages_created ON messages (created_at);
CREATE INDEX messages_state ON messages (state, created_at);

CREATE TABLE parts (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages (id),
    seq          INTEGER NOT NULL,   -- 1-based part number
    state        TEXT NOT NULL,
    modem_id     INTEGER REFERENCES modems (id),
    mr           INTEGER,            -- TP-MR from +CMGS
    submitted_at INTEGER,
    validity     INTEGER,
    scts         INTEGER,            -- TP-SCTS of the report that matched
    tp_status    INTEGER,            -- TP-ST of the last report that matched
    cms_error    INTEGER,
    error        TEXT,
    retries      INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER,
    done_at      INTEGER,
    UNIQUE (message_id, seq)
);
-- The router's pending set, rebuilt at start.
CREATE INDEX parts_pending ON parts (modem_id, mr)
    WHERE mr IS NOT NULL AND state IN ('ACCEPTED', 'ENROUTE');
-- Recently settled parts, kept in the router to recognise repeated reports.
CREATE INDEX parts_sent ON parts (submitted_at) WHERE mr IS NOT NULL;

CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    modem_id    INTEGER NOT NULL REFERENCES modems (id),
    recipient   TEXT NOT NULL,       -- TP-RA as received
    mr          INTEGER NOT NULL,
    scts        INTEGER NOT NULL,
    discharge   INTEGER,             -- TP-DT
    tp_status   INTEGER NOT NULL,
    pdu         TEXT NOT NULL,       -- the PDU as received, hex
    match       TEXT NOT NULL CHECK (match IN ('matched', 'duplicate', 'ambiguous', 'orphan')),
    basis       TEXT CHECK (basis IN ('sole', 'time')),
    part_id     INTEGER REFERENCES parts (id),
    candidates  TEXT,                -- ambiguous: the candidate part ids
    applied     INTEGER NOT NULL     -- 0: orphan waiting to be retried
);
CREATE INDEX reports_part ON reports (part_id);
CREATE INDEX reports_waiting ON reports (modem_id, mr) WHERE applied = 0;
CREATE INDEX reports_match ON reports (match);
-- Reports that taught a modem's clock offset, replayed at start.
CREATE INDEX reports_sole ON reports (modem_id, id) WHERE basis = 'sole';

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    part_id    INTEGER REFERENCES parts (id),
    report_id  INTEGER REFERENCES reports (id),
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX events_message ON events (message_id);

CREATE TABLE collisions (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    modem_id     INTEGER NOT NULL REFERENCES modems (id),
    mr           INTEGER NOT NULL,
    recipient    TEXT NOT NULL,
    new_part     INTEGER NOT NULL REFERENCES parts (id),
    pending_part INTEGER NOT NULL REFERENCES parts (id)
);
";

/// Version 2: the durable queue of the daemon. Messages get their sending
/// options, a claim by a modem and a `queued` flag (some part still to send);
/// parts an in-flight marker (`sending_at`, with `modem_id` set at the same
/// time); incoming SMS go to `inbox`; webhook notifications wait in
/// `webhooks` until acknowledged. Rows of version 1 get the defaults: report
/// requested, three days of validity, GSM 7-bit, no preference, and are
/// queued when they still have a part that was never sent.
const V2: &str = "
ALTER TABLE messages ADD COLUMN report INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN validity_secs INTEGER NOT NULL DEFAULT 259200;
ALTER TABLE messages ADD COLUMN vp_relative INTEGER;      -- TP-VP byte (relative format)
ALTER TABLE messages ADD COLUMN ucs2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN flash INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN modem_pref TEXT;          -- send only on this modem (name)
ALTER TABLE messages ADD COLUMN concat_ref INTEGER NOT NULL DEFAULT 0;
-- The modem that claimed the message; kept for good once a part was sent
-- (all parts of a concatenated message go out on one modem).
ALTER TABLE messages ADD COLUMN claimed_by INTEGER REFERENCES modems (id);
ALTER TABLE messages ADD COLUMN claimed_at INTEGER;
-- 1 while the message is not final and has a part to send (not sent, not in flight).
ALTER TABLE messages ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;

-- Set (with modem_id) just before AT+CMGS is written, cleared by its answer.
ALTER TABLE parts ADD COLUMN sending_at INTEGER;

UPDATE messages SET queued = 1
WHERE state IN ('ACCEPTED', 'ENROUTE')
  AND EXISTS (SELECT 1 FROM parts p WHERE p.message_id = messages.id
              AND p.state = 'ACCEPTED' AND p.mr IS NULL);
UPDATE messages SET claimed_by = (
    SELECT p.modem_id FROM parts p WHERE p.message_id = messages.id
    AND p.modem_id IS NOT NULL ORDER BY p.seq LIMIT 1);

CREATE INDEX messages_queue ON messages (created_at, id) WHERE queued = 1;
CREATE INDEX parts_in_flight ON parts (sending_at) WHERE sending_at IS NOT NULL;
-- Parts counted by modem (0: none), state, +CMS ERROR (-1: none) and sent
-- (TP-MR known), kept by triggers so that the counters cost nothing to read.
CREATE TABLE part_counts (
    modem_id  INTEGER NOT NULL,
    state     TEXT NOT NULL,
    cms_error INTEGER NOT NULL,
    sent      INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (modem_id, state, cms_error, sent)
) WITHOUT ROWID;
INSERT INTO part_counts
    SELECT COALESCE(modem_id, 0), state, COALESCE(cms_error, -1), mr IS NOT NULL, count(*)
    FROM parts GROUP BY 1, 2, 3, 4;
CREATE TRIGGER part_counts_insert AFTER INSERT ON parts BEGIN
    INSERT INTO part_counts VALUES (COALESCE(new.modem_id, 0), new.state,
        COALESCE(new.cms_error, -1), new.mr IS NOT NULL, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER part_counts_update AFTER UPDATE OF modem_id, state, cms_error, mr ON parts
WHEN old.modem_id IS NOT new.modem_id OR old.state IS NOT new.state
  OR old.cms_error IS NOT new.cms_error OR (old.mr IS NULL) != (new.mr IS NULL)
BEGIN
    UPDATE part_counts SET n = n - 1
    WHERE modem_id = COALESCE(old.modem_id, 0) AND state = old.state
      AND cms_error = COALESCE(old.cms_error, -1) AND sent = (old.mr IS NOT NULL);
    INSERT INTO part_counts VALUES (COALESCE(new.modem_id, 0), new.state,
        COALESCE(new.cms_error, -1), new.mr IS NOT NULL, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER part_counts_delete AFTER DELETE ON parts BEGIN
    UPDATE part_counts SET n = n - 1
    WHERE modem_id = COALESCE(old.modem_id, 0) AND state = old.state
      AND cms_error = COALESCE(old.cms_error, -1) AND sent = (old.mr IS NOT NULL);
END;

CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY,
    modem_id    INTEGER NOT NULL REFERENCES modems (id),
    sender      TEXT NOT NULL,
    text        TEXT,                 -- null when the data is not text (8-bit)
    data_hex    TEXT NOT NULL,        -- the user data, reassembled
    scts        INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    parts       INTEGER NOT NULL,
    pdus        TEXT NOT NULL,        -- the PDUs as received, hex, space separated
    partial     INTEGER NOT NULL      -- 1: some parts never came
);
CREATE INDEX inbox_received ON inbox (received_at);

CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('message', 'incoming')),
    payload      TEXT NOT NULL,       -- JSON
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error   TEXT,
    last_attempt_at INTEGER,
    delivered_at INTEGER
);
CREATE INDEX webhooks_due ON webhooks (id, next_attempt) WHERE delivered_at IS NULL;
";

/// Version 3: parts of pushed concatenated SMS (+CMT) are stored as they
/// come, in `staged_parts`, and only then acknowledged (AT+CNMA): the modem
/// holds the next part until the previous one is acknowledged, so a message
/// cannot wait in the modem for its last part. Storing the whole message in
/// `inbox` deletes its staged parts in the same transaction. A PDU is staged
/// at most once per modem (the network delivers an unacknowledged one again).
/// Incoming SMS are also looked up by sender (the repeat checks).
const V3: &str = "
CREATE TABLE staged_parts (
    id          INTEGER PRIMARY KEY,
    modem_id    INTEGER NOT NULL REFERENCES modems (id),
    sender      TEXT NOT NULL,        -- TP-OA, as in inbox.sender
    pdu         TEXT NOT NULL,        -- SMSC prefix + TPDU as received, hex
    received_at INTEGER NOT NULL,
    UNIQUE (modem_id, pdu)
);
CREATE INDEX staged_parts_modem ON staged_parts (modem_id, id);
CREATE INDEX inbox_sender ON inbox (modem_id, sender, received_at);
";

/// Version 4: a report may be matched by the set (`basis = 'set'`): parts
/// that no time stamp tells apart, settled together once as many reports
/// of one outcome came for them. SQLite cannot change a CHECK in place, so
/// the table is copied (run with foreign keys off: `events` points at it).
const V4: &str = "
CREATE TABLE reports_v4 (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    modem_id    INTEGER NOT NULL REFERENCES modems (id),
    recipient   TEXT NOT NULL,
    mr          INTEGER NOT NULL,
    scts        INTEGER NOT NULL,
    discharge   INTEGER,
    tp_status   INTEGER NOT NULL,
    pdu         TEXT NOT NULL,
    match       TEXT NOT NULL CHECK (match IN ('matched', 'duplicate', 'ambiguous', 'orphan')),
    basis       TEXT CHECK (basis IN ('sole', 'time', 'set')),
    part_id     INTEGER REFERENCES parts (id),
    candidates  TEXT,                -- ambiguous, or matched by the set: the candidate part ids
    applied     INTEGER NOT NULL     -- 0: orphan or ambiguous, waiting to be retried
);
INSERT INTO reports_v4 (id, received_at, modem_id, recipient, mr, scts, discharge, tp_status,
                        pdu, match, basis, part_id, candidates, applied)
    SELECT id, received_at, modem_id, recipient, mr, scts, discharge, tp_status,
           pdu, match, basis, part_id, candidates, applied FROM reports;
DROP TABLE reports;
ALTER TABLE reports_v4 RENAME TO reports;
CREATE INDEX reports_part ON reports (part_id);
CREATE INDEX reports_waiting ON reports (modem_id, mr) WHERE applied = 0;
CREATE INDEX reports_match ON reports (match);
CREATE INDEX reports_sole ON reports (modem_id, id) WHERE basis = 'sole';
";

/// Version 5: a part whose outcome became UNKNOWN while in flight (AT+CMGS
/// written, no answer) keeps when AT+CMGS was written (`written_at`; with
/// `done_at`, when it was marked UNKNOWN, the window in which the SMSC may
/// have stamped it). A report that can only be its own settles it
/// (`basis = 'window'`), so the CHECK of `reports` changes: the table is
/// copied as in version 4.
const V5: &str = "
ALTER TABLE parts ADD COLUMN written_at INTEGER;
CREATE INDEX parts_unknown_window ON parts (modem_id)
    WHERE written_at IS NOT NULL AND mr IS NULL AND state = 'UNKNOWN';

CREATE TABLE reports_v5 (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    modem_id    INTEGER NOT NULL REFERENCES modems (id),
    recipient   TEXT NOT NULL,
    mr          INTEGER NOT NULL,
    scts        INTEGER NOT NULL,
    discharge   INTEGER,
    tp_status   INTEGER NOT NULL,
    pdu         TEXT NOT NULL,
    match       TEXT NOT NULL CHECK (match IN ('matched', 'duplicate', 'ambiguous', 'orphan')),
    basis       TEXT CHECK (basis IN ('sole', 'time', 'set', 'window')),
    part_id     INTEGER REFERENCES parts (id),
    candidates  TEXT,                -- ambiguous, or matched by the set: the candidate part ids
    applied     INTEGER NOT NULL     -- 0: orphan or ambiguous, waiting to be retried
);
INSERT INTO reports_v5 (id, received_at, modem_id, recipient, mr, scts, discharge, tp_status,
                        pdu, match, basis, part_id, candidates, applied)
    SELECT id, received_at, modem_id, recipient, mr, scts, discharge, tp_status,
           pdu, match, basis, part_id, candidates, applied FROM reports;
DROP TABLE reports;
ALTER TABLE reports_v5 RENAME TO reports;
CREATE INDEX reports_part ON reports (part_id);
CREATE INDEX reports_waiting ON reports (modem_id, mr) WHERE applied = 0;
CREATE INDEX reports_match ON reports (match);
CREATE INDEX reports_sole ON reports (modem_id, id) WHERE basis = 'sole';
";

/// Version 6: SMPP. A message may carry 8-bit data instead of text
/// (`data`), a header of the client's own (`udh`, UDHL octet included: the
/// message is then one part carrying it as given) and a time before which
/// it is not sent (`not_before`). A message submitted over SMPP has a row in
/// `smpp_messages`: its account, the addresses as given, what receipts it
/// asked for, and whether its final receipt was written (once only).
/// Receipts and incoming SMS for SMPP accounts wait in `smpp_outbox`,
/// written in the transaction that causes them, until a bind acknowledges
/// them (the row is then deleted) or they expire.
const V6: &str = "
ALTER TABLE messages ADD COLUMN data BLOB;
ALTER TABLE messages ADD COLUMN udh BLOB;
ALTER TABLE messages ADD COLUMN not_before INTEGER;

CREATE TABLE smpp_messages (
    message_id          INTEGER PRIMARY KEY REFERENCES messages (id),
    account             TEXT NOT NULL,
    source_ton          INTEGER NOT NULL,
    source_npi          INTEGER NOT NULL,
    source_addr         TEXT NOT NULL,
    dest_ton            INTEGER NOT NULL,
    dest_npi            INTEGER NOT NULL,
    dest_addr           TEXT NOT NULL,
    registered_delivery INTEGER NOT NULL,
    expires_at          INTEGER,
    final_receipt       INTEGER NOT NULL DEFAULT 0   -- 1: the final receipt was written
);
CREATE INDEX smpp_messages_account ON smpp_messages (account, message_id);

-- AUTOINCREMENT: ids only grow, also past deleted rows, so that a bind's
-- cursor (rows after the last id it saw) never skips a new row.
CREATE TABLE smpp_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account      TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('receipt', 'mo')),
    payload      TEXT NOT NULL,       -- JSON
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX smpp_outbox_account ON smpp_outbox (account, id);
CREATE INDEX smpp_outbox_created ON smpp_outbox (created_at);
";

/// Version 7: the HTTP API's queue options and idempotency. A message has a
/// priority (0 high, 1 normal, 2 bulk; claimed in that order, then oldest
/// first), a time after which it ends EXPIRED if still queued
/// (`expires_at`, independent of the network validity period), and may be
/// sent during quiet hours (`ignore_quiet`). `idempotency_keys` holds each
/// `Idempotency-Key` with a digest of the request it came with and the
/// messages it created, written in the transaction that creates them.
/// `event_log` keeps what the webhooks announce, for the live event stream.
const V7: &str = "
ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
ALTER TABLE messages ADD COLUMN ignore_quiet INTEGER NOT NULL DEFAULT 0;
DROP INDEX messages_queue;
CREATE INDEX messages_queue ON messages (priority, created_at, id) WHERE queued = 1;

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    endpoint    TEXT NOT NULL,       -- 'message' or 'bulk'
    body_sha256 TEXT NOT NULL,       -- hex digest of the request as understood
    message_ids TEXT NOT NULL,       -- JSON array, in request order
    created_at  INTEGER NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Every event the webhooks announce (message state changes, incoming SMS),
-- written with the change, whether webhooks are on or not: the live event
-- stream (GET /v1/events) resumes from it. AUTOINCREMENT: ids only grow,
-- also past purged rows, so a client's Last-Event-ID never skips one.
CREATE TABLE event_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,            -- 'message.state' or 'sms.incoming'
    payload TEXT NOT NULL,            -- JSON, as the webhook's body
    at      INTEGER NOT NULL
);
CREATE INDEX event_log_at ON event_log (at);
";

/// `PRAGMA application_id` of an smsgw database ("SMSG").
pub const APPLICATION_ID: i32 = 0x534D_5347;

/// Tables every smsgw database has had since its first schema: a file
/// without an application id but with these is one from before the id.
const OUR_TABLES: [&str; 3] = ["modems", "messages", "parts"];

/// Make sure `conn` is an smsgw database (or an empty file), before
/// anything is written to it: a foreign SQLite file is refused unchanged.
/// An empty one, or one of ours from before the id, gets the id.
pub fn claim(conn: &Connection, path: &std::path::Path) -> Result<(), StoreError> {
    let id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if id == APPLICATION_ID {
        return Ok(());
    }
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let ours = id == 0 && OUR_TABLES.iter().all(|t| tables.iter().any(|n| n == t));
    if id == 0 && (tables.is_empty() || ours) {
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        return Ok(());
    }
    let shown = tables.len();
    tables.truncate(8);
    let mut list = tables.join(", ");
    if shown > tables.len() {
        list.push_str(", ...");
    }
    Err(StoreError::Foreign {
        path: path.to_path_buf(),
        why: if id == 0 {
            format!("its tables ({list}) are not smsgw's")
        } else {
            format!("its application id is {id:#x}, not smsgw's ({APPLICATION_ID:#x})")
        },
    })
}

/// Bring the schema to [`VERSION`], refusing databases from a newer smsgw.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let raw: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let Ok(found) = u32::try_from(raw) else {
        return Err(StoreError::BadVersion(raw));
    };
    if found > VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: VERSION,
        });
    }
    if found == VERSION {
        return Ok(());
    }
    // Some migrations copy a table others point at: foreign keys are off
    // while they run (it cannot change inside a transaction) and checked
    // before each commits.
    let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let out = run_migrations(conn, found);
    conn.pragma_update(None, "foreign_keys", fk)?;
    out
}

fn run_migrations(conn: &mut Connection, found: u32) -> Result<(), StoreError> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(StoreError::Invalid {
                field: "schema",
                reason: format!(
                    "migration to version {} leaves rows of {table} pointing nowhere",
                    i + 1
                ),
            });
        }
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
