#!/usr/bin/env bash
# SMPP end-to-end benchmark: submit_sm -> receipt through the daemon (a real
# `smsgw serve`) with N simulated zero-latency modems and B transceiver binds
# keeping a window of W submits each; then the RSS growth per idle bind.
#
#   scripts/bench-smpp.sh [MESSAGES] [MODEMS] [BINDS] [WINDOW] [IDLE]   (5000 8 4 64 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --locked --bench smpp_e2e -- "${1:-5000}" "${2:-8}" "${3:-4}" "${4:-64}" "${5:-1000}"
