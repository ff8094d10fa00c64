#!/usr/bin/env python3
"""One SMPP transceiver session against smsgw, driven by the Rust
end-to-end test (tests/gateway/smpp_e2e.rs) with the real `smpplib` client
from PyPI.

It binds, submits the messages of --submit (a JSON list of
{"to", "text", "ucs2"}) with registered_delivery 1, keeping at most
--window of them waiting for their submit_sm_resp, acknowledges every
deliver_sm it gets (receipts and incoming SMS), and stops after --idle
seconds without one once its submits are answered, or after --max-time, or
once --until deliver_sm have come, or once every id of --wait-ids has its
receipt. Then it unbinds (unless the daemon went
away). Every event is one JSON line on stdout, flushed at once, so the test
can act on them while the session runs:

  {"ev": "bound"}
  {"ev": "resp", "i": index, "status": n, "id": "..."}
  {"ev": "receipt", "esm": n, "src": [ton, npi, addr], "dst": [...],
   "text": "...", "dc": n, "tlv": {"receipted_message_id": "...",
   "message_state": n, "network_error_code": "hex" | null}}
  {"ev": "mo", "src": [...], "dst": [...], "dc": n, "data": "hex"}
  {"ev": "closed", "why": "..."}     the connection dropped (daemon killed)
  {"ev": "done"}
"""

import argparse
import json
import select
import socket
import sys
import time

import smpplib.client
import smpplib.smpp
import smpplib.consts
import smpplib.exceptions


def out(**ev):
    sys.stdout.write(json.dumps(ev) + "\n")
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


def unbind(client):
    """Unbind and wait for unbind_resp. smpplib's own unbind() takes the
    next PDU for the answer, leaves a deliver_sm that comes first unanswered
    and closes with data unread, which resets the connection (the server
    may then lose answers already sent). A deliver_sm that comes after our
    unbind was sent before the server read it: the server will send it
    again, so it is not counted here ("late")."""
    client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready, _, _ = select.select([client._socket], [], [], 0.2)
        if not ready:
            continue
        pdu = client.read_pdu()
        if pdu.command == "unbind_resp":
            break
        if pdu.command == "deliver_sm":
            out(ev="late")
    client.disconnect()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--system-id", default="smsgw")
    ap.add_argument("--password", default="smsgw")
    ap.add_argument("--submit", help="JSON file: list of {to, text, ucs2}")
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--idle", type=float, default=5.0)
    ap.add_argument("--max-time", type=float, default=120.0)
    ap.add_argument("--until", type=int, default=0)
    ap.add_argument(
        "--wait-ids",
        help="JSON file: list of message ids; stop once a receipt came for each",
    )
    a = ap.parse_args()

    wait_ids = None
    if a.wait_ids:
        with open(a.wait_ids) as f:
            wait_ids = set(json.load(f))
    msgs = []
    if a.submit:
        with open(a.submit) as f:
            msgs = json.load(f)

    client = smpplib.client.Client(
        a.host, a.port, timeout=30, allow_unknown_opt_params=True
    )
    waiting = {}  # sequence -> index
    state = {"delivers": 0, "last": time.monotonic()}

    def sent(pdu, **_kw):
        state["last"] = time.monotonic()
        i = waiting.pop(pdu.sequence, None)
        out(ev="resp", i=i, status=int(pdu.status), id=text_of(pdu.message_id))

    def received(pdu, **_kw):
        state["delivers"] += 1
        state["last"] = time.monotonic()
        src = [pdu.source_addr_ton, pdu.source_addr_npi, text_of(pdu.source_addr)]
        dst = [pdu.dest_addr_ton, pdu.dest_addr_npi, text_of(pdu.destination_addr)]
        body = pdu.short_message or getattr(pdu, "message_payload", None) or b""
        if isinstance(body, str):
            body = body.encode("latin-1")
        if int(pdu.esm_class) & 0x3C == 0x04:
            if wait_ids is not None:
                wait_ids.discard(text_of(getattr(pdu, "receipted_message_id", None)))
            out(
                ev="receipt",
                esm=int(pdu.esm_class),
                src=src,
                dst=dst,
                dc=int(pdu.data_coding),
                text=body.decode("latin-1"),
                tlv={
                    "receipted_message_id": text_of(
                        getattr(pdu, "receipted_message_id", None)
                    ),
                    "message_state": getattr(pdu, "message_state", None),
                    "network_error_code": hex_of(
                        getattr(pdu, "network_error_code", None)
                    ),
                },
            )
        else:
            out(ev="mo", src=src, dst=dst, dc=int(pdu.data_coding), data=body.hex())
        return smpplib.consts.SMPP_ESME_ROK

    client.set_message_sent_handler(sent)
    client.set_message_received_handler(received)
    # Error responses (a refused submit) are reported like the others.
    client.set_error_pdu_handler(lambda pdu: sent(pdu) if pdu.command == "submit_sm_resp" else None)

    start = time.monotonic()
    try:
        client.connect()
        client.bind_transceiver(system_id=a.system_id, password=a.password)
        out(ev="bound")
        nxt = 0
        while True:
            while nxt < len(msgs) and len(waiting) < a.window:
                m = msgs[nxt]
                if m.get("ucs2"):
                    body, dc = m["text"].encode("utf-16-be"), 8
                else:
                    body, dc = m["text"].encode("ascii"), 0
                kw = dict(
                    source_addr_ton=5,
                    source_addr_npi=0,
                    source_addr="ACME",
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=m["to"].lstrip("+"),
                    data_coding=dc,
                    registered_delivery=1,
                )
                if len(body) > 160:
                    kw["message_payload"] = body
                else:
                    kw["short_message"] = body
                pdu = client.send_message(**kw)
                waiting[pdu.sequence] = nxt
                nxt += 1
            now = time.monotonic()
            if now - start > a.max_time:
                break
            if a.until and state["delivers"] >= a.until and not waiting:
                break
            if wait_ids is not None and not wait_ids and not waiting:
                break
            if nxt >= len(msgs) and not waiting and now - state["last"] > a.idle:
                break
            # Read only what has come: a read cut by a timeout would lose
            # the start of a PDU.
            ready, _, _ = select.select([client._socket], [], [], 0.2)
            if ready:
                client.read_once(auto_send_enquire_link=False)
        unbind(client)
        out(ev="done")
    except (smpplib.exceptions.ConnectionError, OSError) as e:
        out(ev="closed", why=str(e) or type(e).__name__)


if __name__ == "__main__":
    main()
