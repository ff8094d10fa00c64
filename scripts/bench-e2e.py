#!/usr/bin/env python3
"""Load generator for scripts/bench-e2e.sh: waits for the modems, POSTs the
batch from several keep-alive clients, waits until every message is DELIVRD
(read from /metrics), and prints the figures."""
import argparse, http.client, json, re, threading, time

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = 100.0
    return (int(fields[11]) + int(fields[12])) / tick

def request(conn, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()

def main():
    ap = argparse.ArgumentParser()
    for a in ("port", "messages", "modems", "clients", "pid"):
        ap.add_argument(f"--{a}", type=int, required=True)
    ap.add_argument("--token", required=True)
    o = ap.parse_args()
    conn = None
    deadline = time.time() + 60
    while True:
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", o.port, timeout=30)
            st, body = request(conn, "GET", "/v1/modems", o.token)
            if st == 200 and sum(m["connected"] for m in json.loads(body)["modems"]) == o.modems:
                break
        except OSError:
            conn = None
        if time.time() > deadline:
            raise SystemExit("daemon not ready")
        time.sleep(0.1)
    idle_rss = rss_kb(o.pid)
    cpu0 = cpu_s(o.pid)
    per = o.messages // o.clients
    errors = []
    def client(k):
        c = http.client.HTTPConnection("127.0.0.1", o.port, timeout=60)
        for i in range(per):
            n = k * per + i
            body = json.dumps({"to": f"+39333{n:07d}", "text": f"bench {n}", "report": True})
            st, b = request(c, "POST", "/v1/messages", o.token, body)
            if st != 202:
                errors.append((st, b))
    t0 = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(o.clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    t_posted = time.time()
    total = per * o.clients
    peak = idle_rss
    delivered = 0
    while True:
        st, body = request(conn, "GET", "/metrics", o.token)
        m = re.search(r"^smsgw_parts_delivered_total (\d+)", body.decode(), re.M)
        delivered = int(m.group(1)) if m else 0
        peak = max(peak, rss_kb(o.pid))
        if delivered >= total or time.time() - t0 > 600:
            break
        time.sleep(0.05)
    t1 = time.time()
    cpu = cpu_s(o.pid) - cpu0
    print(f"messages: {total} over {o.modems} simulated modems, {o.clients} HTTP clients; errors: {len(errors)}")
    print(f"accepted (POST 202): {total / (t_posted - t0):8.0f} msg/s")
    print(f"POST -> DELIVRD:     {delivered / (t1 - t0):8.0f} msg/s  ({delivered} delivered in {t1 - t0:.2f} s)")
    print(f"daemon RSS: idle {idle_rss / 1024:.1f} MB, peak {peak / 1024:.1f} MB; CPU {cpu * 1e6 / max(delivered, 1):.0f} us per message")

if __name__ == "__main__":
    main()
