#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (see docs/testing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s each, every target)
#
# Targets: pdu_with_smsc, pdu_tpdu, at_digester, at_answers, submit_roundtrip,
# smpp_pdu.
# Each runs for SECONDS on the nightly toolchain without a sanitizer
# (`-s none`: the code under test is safe Rust, and AddressSanitizer does not
# work on every machine). New inputs that reach new code go to
# fuzz/corpus/<target>/; a crash or failed property stops the target and its
# input is written to fuzz/artifacts/<target>/ (reproduce it with
# `cargo +nightly fuzz run -s none <target> <file>`, then copy it to
# fuzz/regressions/<target>/ so that `cargo test --test core fuzz_corpus`
# replays it). To keep the corpus small before committing it:
# `cargo +nightly fuzz cmin -s none <target>`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case $seconds in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
shift $(( $# > 0 ? 1 : 0 ))

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzzing needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (a few minutes)..." >&2
  cargo install cargo-fuzz --locked
fi

cd fuzz
if [ $# -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
else
  targets=("$@")
fi

failed=()
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s" >&2
  mkdir -p "corpus/$t"
  if ! cargo +nightly fuzz run -s none "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -print_final_stats=1; then
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}; the inputs are in fuzz/artifacts/<target>/" >&2
  exit 1
fi
echo "no crash; corpora in fuzz/corpus/, crashes would be in fuzz/artifacts/" >&2
