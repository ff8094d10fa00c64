#!/usr/bin/env bash
# End-to-end benchmark: POST -> DELIVRD through the daemon (a real
# `smsgw serve`) with N simulated zero-latency modems (`smsgw sim`
# processes on ptys) and C keep-alive HTTP clients, everything durable.
# Prints messages/s, the daemon's idle and peak RSS, and CPU per message.
#
#   scripts/bench-e2e.sh [MESSAGES] [MODEMS] [CLIENTS]     (defaults 5000 8 8)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --locked --bench e2e -- "${1:-5000}" "${2:-8}" "${3:-8}"
