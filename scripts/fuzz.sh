#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ (frame reader, inflater, encode/decode round
# trip, differential against tungstenite, handshake request head) for SECONDS
# (default 60), from the
# committed seeds plus fuzz/corpus/.
# Installs the nightly toolchain and cargo-fuzz first if they are missing.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(receiver inflater round_trip differential handshake)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="corpus/$t.log"
  echo "fuzz: $t for ${seconds}s"
  # cargo fuzz exits non-zero on a crash, a leak, an out-of-memory or a timeout.
  if ! cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t failed (input in fuzz/artifacts/$t)"
    exit 1
  fi
  grep -E 'Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb' "$log" || true
done
