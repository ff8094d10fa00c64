#!/usr/bin/env bash
# End-to-end benchmark: POST -> DELIVRD through the daemon with N simulated
# zero-latency modems, everything durable. Prints messages/s, the daemon's
# idle and peak RSS, and its CPU time per message.
#
#   scripts/bench-e2e.sh [MESSAGES] [MODEMS] [CLIENTS]     (defaults 5000 8 8)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
MODEMS=${2:-8}
CLIENTS=${3:-8}
PORT=${PORT:-18999}
TOKEN=bench-token
cargo build --release --quiet
BIN=$PWD/target/release/smsgw
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

{
  printf '[store]\npath = "%s/bench.db"\n\n[http]\nlisten = "127.0.0.1:%s"\ntokens = ["%s"]\n\n' "$WORK" "$PORT" "$TOKEN"
  for i in $(seq 0 $((MODEMS - 1))); do
    printf '[[modem]]\nname = "sim%s"\ndevice = "%s/sim%s"\nprofile = "quectel-ec2x"\n\n' "$i" "$WORK" "$i"
  done
} > "$WORK/smsgw.toml"
for i in $(seq 0 $((MODEMS - 1))); do
  "$BIN" sim --link "$WORK/sim$i" --profile quectel-ec2x --report-delay-ms 0-20 --seed $((i + 1)) > /dev/null &
  pids+=($!)
done
for i in $(seq 0 $((MODEMS - 1))); do
  for _ in $(seq 100); do [ -e "$WORK/sim$i" ] && break; sleep 0.05; done
done
"$BIN" serve --config "$WORK/smsgw.toml" 2> "$WORK/daemon.log" &
DAEMON=$!
pids+=($DAEMON)
python3 scripts/bench-e2e.py --port "$PORT" --token "$TOKEN" --messages "$N" --modems "$MODEMS" \
  --clients "$CLIENTS" --pid "$DAEMON"
