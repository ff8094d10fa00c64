#!/usr/bin/env python3
"""SMPP interoperability client for smsgw's tests, built on PyPI smpplib.

Binds a transceiver, submits the messages of a JSON plan (keeping at most
`window` submit_sm awaiting their resp), acknowledges every deliver_sm,
reads each receipt the way strict clients do (the sscanf format of issue 11
and Kannel's), and prints one JSON report on stdout.

Usage: smpp_client.py --port 2775 --system-id app1 --password secret1 PLAN.json

Plan (JSON):
{
  "messages": [                      # one entry per message
    {"to": "4915112345678",          # destination_addr
     "from": "ACME",                 # source_addr (default "smsgw-test")
     "text": "hello",
     "encoding": "default",          # default (GSM 03.38 unpacked, dc 0) | ia5 | latin1 | ucs2
     "long": "payload",              # when it does not fit one short_message:
                                     #   payload (message_payload TLV), udh (smpplib's
                                     #   own UDHI parts) or sar (sar_* TLVs)
     "registered_delivery": 1}
  ],
  "window": 10,                      # most submit_sm awaiting their resp
  "unbind_after": 5,                 # optional: unbind after this many submits, then
  "rebind_delay_s": 1.0,             #   bind again this much later
  "expect_receipts": 5,              # stop once this many receipts arrived...
  "expect_mo": 0,                    # ...and this many incoming SMS
  "linger_s": 0.5,                   # then keep listening this long (to see doubles)
  "timeout_s": 60,
  "nack_first_receipts": 0           # answer the first N receipts with ESME_RX_T_APPN
}

Report (JSON): {"submits": [{"index", "sequence", "status", "message_id",
"part"}], "receipts": [{"id", "sub", "dlvrd", "submit_date", "done_date",
"stat", "err", "text", "kannel_ok", "tlv_receipted_message_id",
"tlv_message_state", "tlv_network_error_code", "esm_class", "source",
"dest"}], "mo": [...], "binds": N, "errors": [...], "timed_out": bool}
"""

import argparse
import json
import re
import socket
import sys
import time

import smpplib.client
import smpplib.consts
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


def s(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return str(v)


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
        out, esc = [], False
        for b in data:
            if esc:
                out.append(table[0x80 + b] if 0x80 + b < len(table) else "?")
                esc = False
            elif b == 0x1B:
                esc = True
            else:
                out.append(table[b] if b < 0x80 else "?")
        return "".join(out)
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
        source_addr=msg.get("from", "smsgw-test"),
        dest_addr_ton=msg.get("to_ton", 1),
        dest_addr_npi=msg.get("to_npi", 1),
        destination_addr=msg["to"],
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
    ref = (hash(msg["text"]) & 0xFF) or 1
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


class Run:
    def __init__(self, args, plan):
        self.args = args
        self.plan = plan
        self.report = {"submits": [], "receipts": [], "mo": [], "binds": 0,
                       "errors": [], "timed_out": False}
        self.outstanding = {}  # sequence -> (index, part)
        self.nacks_left = plan.get("nack_first_receipts", 0)
        self.client = None

    def connect(self):
        c = smpplib.client.Client(self.args.host, self.args.port, timeout=1,
                                  allow_unknown_opt_params=True)
        c.set_message_sent_handler(self.on_sent)
        c.set_message_received_handler(self.on_received)
        c.set_error_pdu_handler(self.on_error_pdu)
        c.connect()
        c.bind_transceiver(system_id=self.args.system_id, password=self.args.password)
        self.report["binds"] += 1
        self.client = c

    def on_sent(self, pdu, **_):
        index, part = self.outstanding.pop(pdu.sequence, (None, None))
        self.report["submits"].append({"index": index, "part": part, "sequence": pdu.sequence,
                                       "status": pdu.status, "message_id": s(pdu.message_id)})

    def on_error_pdu(self, pdu):
        if pdu.command == "submit_sm_resp":
            self.on_sent(pdu)
        else:
            self.report["errors"].append("%s status 0x%X" % (pdu.command, pdu.status))

    def on_received(self, pdu, **_):
        esm = pdu.esm_class or 0
        data = pdu.short_message or getattr(pdu, "message_payload", None) or b""
        if esm & 0x3C in (0x04, 0x20):
            text = data.decode("latin-1")
            r = {"raw": text, "esm_class": esm, "source": s(pdu.source_addr),
                 "dest": s(pdu.destination_addr),
                 "tlv_receipted_message_id": s(getattr(pdu, "receipted_message_id", None)),
                 "tlv_message_state": getattr(pdu, "message_state", None),
                 "tlv_network_error_code": (pdu.network_error_code.hex()
                                            if getattr(pdu, "network_error_code", None) else None)}
            m = SSCANF.match(text)
            if m:
                r.update(id=m.group(1), sub=int(m.group(2)), dlvrd=int(m.group(3)),
                         submit_date=m.group(4), done_date=m.group(5), stat=m.group(6),
                         err=m.group(7))
                t = TEXT.search(text)
                r["text"] = t.group(1) if t else None
            else:
                self.report["errors"].append("receipt text does not parse: %r" % text)
            r["kannel_ok"] = bool(KANNEL.match(text))
            if self.nacks_left > 0:
                self.nacks_left -= 1
                r["nacked"] = True
                self.report["receipts"].append(r)
                return ESME_RX_T_APPN
            self.report["receipts"].append(r)
        else:
            self.report["mo"].append({"from": s(pdu.source_addr), "to": s(pdu.destination_addr),
                                      "data_coding": pdu.data_coding, "esm_class": esm,
                                      "text": decode(data, pdu.data_coding or 0)})
        return smpplib.consts.SMPP_ESME_ROK

    def read(self):
        try:
            self.client.read_once(auto_send_enquire_link=False)
        except socket.timeout:
            pass

    def unbind(self):
        c = self.client
        p = smpplib.smpp.make_pdu("unbind", client=c)
        c.send_pdu(p)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                pdu = c.read_pdu()
            except socket.timeout:
                continue
            if pdu.command == "unbind_resp":
                break
            if pdu.command == "deliver_sm":
                c._message_received(pdu)
            elif pdu.command == "submit_sm_resp":
                self.on_sent(pdu)
        c.disconnect()
        self.client = None

    def done(self):
        acked = [r for r in self.report["receipts"] if not r.get("nacked")]
        return (not self.outstanding
                and len(acked) >= self.plan.get("expect_receipts", 0)
                and len(self.report["mo"]) >= self.plan.get("expect_mo", 0))

    def run(self):
        plan = self.plan
        deadline = time.time() + plan.get("timeout_s", 60)
        window = plan.get("window", 10)
        unbind_after = plan.get("unbind_after")
        self.connect()
        sent = 0
        for index, msg in enumerate(plan.get("messages", [])):
            for part, kw in enumerate(submit_pdus(msg)):
                while len(self.outstanding) >= window and time.time() < deadline:
                    self.read()
                p = self.client.send_message(**kw)
                self.outstanding[p.sequence] = (index, part)
            sent += 1
            if unbind_after is not None and sent == unbind_after:
                while self.outstanding and time.time() < deadline:
                    self.read()
                self.unbind()
                time.sleep(plan.get("rebind_delay_s", 1.0))
                self.connect()
        while not self.done() and time.time() < deadline:
            self.read()
        self.report["timed_out"] = not self.done()
        linger = time.time() + plan.get("linger_s", 0.5)
        while time.time() < linger:
            self.read()
        self.unbind()
        return self.report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2775)
    ap.add_argument("--system-id", default="smsgw")
    ap.add_argument("--password", default="smsgw")
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    report = Run(args, plan).run()
    json.dump(report, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
