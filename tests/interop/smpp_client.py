#!/usr/bin/env python3
"""SMPP interoperability client for smsgw's tests, built on PyPI smpplib.

The one Python client of the SMPP tests: tests/gateway/smpp_session.rs runs
it against the server with an in-memory backend, tests/gateway/smpp_e2e.rs
against `smsgw serve` with simulated modems (and kills the daemon under it).

It binds a transceiver, submits the messages of a JSON plan keeping at most
`window` submit_sm awaiting their resp, answers every deliver_sm (receipts
and incoming SMS), reads each receipt the way strict clients do (the sscanf
format of issue 11 and Kannel's), and prints every event as one JSON line on
stdout, flushed at once, so that a test can act while the session runs.

Usage: smpp_client.py --port 2775 --system-id app1 --password secret1 PLAN.json

Plan (JSON; every key optional but "messages" when there is something to send):
{
  "messages": [                      # one entry per message
    {"to": "4915112345678",          # destination_addr (a leading + is dropped)
     "from": "ACME",                 # source_addr (default "ACME")
     "text": "hello",
     "encoding": "default",          # default (GSM 03.38 unpacked, dc 0) | ia5 | latin1 | ucs2
     "long": "payload",              # over 140 octets: payload (message_payload TLV),
                                     #   udh (UDHI parts) or sar (sar_* TLVs)
     "registered_delivery": 1}
  ],
  "window": 32,                      # most submit_sm awaiting their resp
  "unbind_after": 5,                 # unbind after this many messages, then
  "rebind_delay_s": 1.0,             #   bind again this much later
  "nack_first_receipts": 0,          # answer the first N receipts with ESME_RX_T_APPN
  "expect_receipts": 0,              # stop once this many receipts were acknowledged
  "expect_mo": 0,                    #   and this many incoming SMS came,
  "until": 0,                        # or once this many deliver_sm came,
  "wait_ids": ["12", ...],           # or once each of these ids has its receipt,
  "idle_s": 5.0,                     # or after this long without a deliver_sm,
  "max_time_s": 120,                 # or after this long in all (timed out);
  "linger_s": 0                      # then keep listening this long (to see doubles)
}
The stop conditions count only once every submit is answered.

Events:
  {"ev": "bound"}
  {"ev": "resp", "i": message index, "part": n, "status": n, "id": "..."}
  {"ev": "receipt", "esm": n, "src": [ton, npi, addr], "dst": [...], "dc": n,
   "text": "...", "tlv": {"receipted_message_id": "...", "message_state": n,
   "network_error_code": "hex" | null},
   "scan": {"id", "sub", "dlvrd", "submit_date", "done_date", "stat", "err",
            "text"} | null,      # read with `id:%s sub:%d dlvrd:%d submit
                                 # date:%10s done date:%10s stat:%7s err:%3s`
   "kannel_ok": bool,            # Kannel's sscanf reads it
   "nacked": bool,               # answered with an error (will come again)
   "unbinding": bool}            # came after our unbind (answered all the same)
  {"ev": "mo", "src": [...], "dst": [...], "dc": n, "data": "hex", "text": "..."}
  {"ev": "closed", "why": "..."}     the connection dropped (daemon killed)
  {"ev": "done", "why": "expected|until|ids|idle|max_time"}

Reads never time out in the middle of a PDU: the socket is only read once
select() says data has come, with a long timeout for the rest of the PDU (a
short one would cut a PDU in two and lose the stream under load).
"""

import argparse
import json
import re
import select
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

# `id:%s sub:%d dlvrd:%d submit date:%10s done date:%10s stat:%7s err:%3s`
SSCANF = re.compile(
    r"^id:(\S+) sub:(\d+) dlvrd:(\d+) submit date:(\S{1,10}) "
    r"done date:(\S{1,10}) stat:(\S{1,7}) err:(\S{1,3})"
)
# Kannel: `id:%64[^ ] sub:%d dlvrd:%d submit date:%14[0-9] done date:%14[0-9]
# stat:%15[^ ] err:%3[^ ]`
KANNEL = re.compile(
    r"^id:([^ ]{1,64}) sub:(\d+) dlvrd:(\d+) submit date:([0-9]{1,14}) "
    r"done date:([0-9]{1,14}) stat:([^ ]{1,15}) err:([^ ]{1,3})"
)
TEXT = re.compile(r" text:(.*)$", re.S)

ESME_RX_T_APPN = 0x64
# The rest of a PDU whose first bytes came: a loaded machine may take long.
SOCKET_TIMEOUT_S = 30


def out(**ev):
    sys.stdout.write(json.dumps(ev, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def text_of(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return str(v)


def hex_of(v):
    if v is None:
        return None
    if isinstance(v, str):
        v = v.encode("latin-1")
    return v.hex()


def encode(text, encoding):
    """(octets, data_coding) as a client sends them."""
    if encoding == "default":
        return smpplib.gsm.gsm_encode(text), 0
    if encoding == "ia5":
        return text.encode("ascii"), 1
    if encoding == "latin1":
        return text.encode("latin-1"), 3
    if encoding == "ucs2":
        return text.encode("utf-16-be"), 8
    raise ValueError("unknown encoding %r" % encoding)


def decode(data, dc):
    if dc == 0:
        table = smpplib.gsm.GSM_CHARACTER_TABLE
        chars, esc = [], False
        for b in data:
            if esc:
                chars.append(table[0x80 + b] if 0x80 + b < len(table) else "?")
                esc = False
            elif b == 0x1B:
                esc = True
            else:
                chars.append(table[b] if b < 0x80 else "?")
        return "".join(chars)
    if dc == 8:
        return data.decode("utf-16-be", "replace")
    if dc in (1, 3):
        return data.decode("latin-1")
    return data.hex()


def submit_pdus(msg):
    """The submit_sm keyword sets for one message of the plan."""
    octets, dc = encode(msg["text"], msg.get("encoding", "default"))
    common = dict(
        source_addr_ton=msg.get("from_ton", 5),
        source_addr_npi=msg.get("from_npi", 0),
        source_addr=msg.get("from", "ACME"),
        dest_addr_ton=msg.get("to_ton", 1),
        dest_addr_npi=msg.get("to_npi", 1),
        destination_addr=msg["to"].lstrip("+"),
        data_coding=dc,
        registered_delivery=msg.get("registered_delivery", 1),
    )
    if len(octets) <= 140:
        return [dict(common, short_message=octets, esm_class=0)]
    mode = msg.get("long", "payload")
    if mode == "payload":
        return [dict(common, short_message=b"", message_payload=octets, esm_class=0)]
    size = 134 if dc != 8 else 132
    chunks = [octets[i:i + size] for i in range(0, len(octets), size)]
    ref = (sum(octets) & 0xFF) or 1
    if mode == "udh":
        return [
            dict(common, esm_class=0x40,
                 short_message=bytes([5, 0, 3, ref, len(chunks), i + 1]) + c)
            for i, c in enumerate(chunks)
        ]
    if mode == "sar":
        return [
            dict(common, esm_class=0, short_message=c, sar_msg_ref_num=ref,
                 sar_total_segments=len(chunks), sar_segment_seqnum=i + 1)
            for i, c in enumerate(chunks)
        ]
    raise ValueError("unknown long mode %r" % mode)


def scan(text):
    m = SSCANF.match(text)
    if not m:
        return None
    t = TEXT.search(text)
    return {"id": m.group(1), "sub": int(m.group(2)), "dlvrd": int(m.group(3)),
            "submit_date": m.group(4), "done_date": m.group(5), "stat": m.group(6),
            "err": m.group(7), "text": t.group(1) if t else None}


class Run:
    def __init__(self, args, plan):
        self.args = args
        self.plan = plan
        self.client = None
        self.outstanding = {}  # sequence -> (index, part)
        self.nacks_left = plan.get("nack_first_receipts", 0)
        self.acked_receipts = 0
        self.mo = 0
        self.delivers = 0
        self.last = time.monotonic()
        self.unbinding = False
        ids = plan.get("wait_ids")
        self.wait_ids = set(ids) if ids is not None else None

    def connect(self):
        c = smpplib.client.Client(self.args.host, self.args.port, timeout=SOCKET_TIMEOUT_S,
                                  allow_unknown_opt_params=True)
        c.set_message_sent_handler(self.on_sent)
        c.set_message_received_handler(self.on_received)
        c.set_error_pdu_handler(self.on_error_pdu)
        c.connect()
        c.bind_transceiver(system_id=self.args.system_id, password=self.args.password)
        self.client = c
        out(ev="bound")

    def on_sent(self, pdu, **_):
        self.last = time.monotonic()
        index, part = self.outstanding.pop(pdu.sequence, (None, None))
        out(ev="resp", i=index, part=part, status=int(pdu.status),
            id=text_of(pdu.message_id))

    def on_error_pdu(self, pdu):
        if pdu.command == "submit_sm_resp":
            self.on_sent(pdu)
        else:
            out(ev="error", command=pdu.command, status=int(pdu.status))

    def on_received(self, pdu, **_):
        self.delivers += 1
        self.last = time.monotonic()
        esm = int(pdu.esm_class or 0)
        src = [pdu.source_addr_ton, pdu.source_addr_npi, text_of(pdu.source_addr)]
        dst = [pdu.dest_addr_ton, pdu.dest_addr_npi, text_of(pdu.destination_addr)]
        body = pdu.short_message or getattr(pdu, "message_payload", None) or b""
        if isinstance(body, str):
            body = body.encode("latin-1")
        dc = int(pdu.data_coding or 0)
        if esm & 0x3C not in (0x04, 0x20):
            self.mo += 1
            out(ev="mo", src=src, dst=dst, dc=dc, data=body.hex(), text=decode(body, dc))
            return smpplib.consts.SMPP_ESME_ROK
        text = body.decode("latin-1")
        rid = text_of(getattr(pdu, "receipted_message_id", None))
        nacked = self.nacks_left > 0
        if nacked:
            self.nacks_left -= 1
        else:
            self.acked_receipts += 1
            if self.wait_ids is not None:
                self.wait_ids.discard(rid)
        out(ev="receipt", esm=esm, src=src, dst=dst, dc=dc, text=text,
            tlv={"receipted_message_id": rid,
                 "message_state": getattr(pdu, "message_state", None),
                 "network_error_code": hex_of(getattr(pdu, "network_error_code", None))},
            scan=scan(text), kannel_ok=bool(KANNEL.match(text)), nacked=nacked,
            unbinding=self.unbinding)
        return ESME_RX_T_APPN if nacked else smpplib.consts.SMPP_ESME_ROK

    def read(self, wait_s=0.2):
        """Act on one PDU if one comes within wait_s."""
        ready, _, _ = select.select([self.client._socket], [], [], wait_s)
        if ready:
            self.client.read_once(auto_send_enquire_link=False)

    def unbind(self):
        """Unbind and read until unbind_resp. smpplib's own unbind() takes
        the next PDU for the answer and leaves a deliver_sm that comes first
        unanswered. A deliver_sm before the unbind_resp was in flight when
        the server read our unbind: it waits for the answer, so answer it."""
        c = self.client
        self.unbinding = True
        c.send_pdu(smpplib.smpp.make_pdu("unbind", client=c))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([c._socket], [], [], 0.2)
            if not ready:
                continue
            pdu = c.read_pdu()
            if pdu.command == "unbind_resp":
                break
            if pdu.command == "deliver_sm":
                c._message_received(pdu)
            elif pdu.command == "submit_sm_resp":
                self.on_sent(pdu)
        c.disconnect()
        self.client = None
        self.unbinding = False

    def stop_reason(self):
        if self.outstanding:
            return None
        p = self.plan
        if p.get("until") and self.delivers >= p["until"]:
            return "until"
        if self.wait_ids is not None and not self.wait_ids:
            return "ids"
        if (p.get("expect_receipts") or p.get("expect_mo")) \
                and self.acked_receipts >= p.get("expect_receipts", 0) \
                and self.mo >= p.get("expect_mo", 0):
            return "expected"
        if time.monotonic() - self.last > p.get("idle_s", 5.0):
            return "idle"
        return None

    def run(self):
        plan = self.plan
        deadline = time.monotonic() + plan.get("max_time_s", 120)
        window = plan.get("window", 32)
        unbind_after = plan.get("unbind_after")
        self.connect()
        for index, msg in enumerate(plan.get("messages", [])):
            for part, kw in enumerate(submit_pdus(msg)):
                while len(self.outstanding) >= window and time.monotonic() < deadline:
                    self.read()
                p = self.client.send_message(**kw)
                self.outstanding[p.sequence] = (index, part)
            if unbind_after is not None and index + 1 == unbind_after:
                while self.outstanding and time.monotonic() < deadline:
                    self.read()
                self.unbind()
                time.sleep(plan.get("rebind_delay_s", 1.0))
                self.connect()
        why = None
        while why is None:
            why = self.stop_reason()
            if why is None and time.monotonic() > deadline:
                why = "max_time"
            elif why is None:
                self.read()
        linger = time.monotonic() + plan.get("linger_s", 0)
        while time.monotonic() < linger:
            self.read()
        self.unbind()
        out(ev="done", why=why)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--system-id", default="smsgw")
    ap.add_argument("--password", default="smsgw")
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    try:
        Run(args, plan).run()
    except (smpplib.exceptions.ConnectionError, OSError) as e:
        out(ev="closed", why=str(e) or type(e).__name__)


if __name__ == "__main__":
    main()
