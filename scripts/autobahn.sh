#!/usr/bin/env bash
# Runs Autobahn|Testsuite against the ws-rs server or client and fails unless
# 0 FAILED / 0 UNIMPLEMENTED.
#
# Usage: scripts/autobahn.sh server|client [core|deflate|deflate-smoke] [outdir]
#   core           every case but permessage-deflate's 12.* and 13.* (301 cases, ~1 min)
#   deflate        12.* and 13.* (216 cases; the Python fuzzer makes this slow: ~12 min here)
#   deflate-smoke  12.1.1-5 and 13.1-13.7 x .1-.5: every parameter combination on small
#                  messages (40 cases, a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
role=${1:?server or client}
suite=${2:-core}
out=${3:-target/autobahn-$role-$suite}
ab=${AUTOBAHN_DIR:-../shared/autobahn}
export AUTOBAHN_AGENT=${AUTOBAHN_AGENT:-ws-rs}
export AUTOBAHN_TIMEOUT=${AUTOBAHN_TIMEOUT:-3600}

case "$suite" in
  core)
    export AUTOBAHN_EXCLUDE=${AUTOBAHN_EXCLUDE:-12.*,13.*}
    ;;
  deflate)
    export AUTOBAHN_CASES=${AUTOBAHN_CASES:-12.*,13.*}
    ;;
  deflate-smoke)
    cases=$(for i in 1 2 3 4 5; do printf '12.1.%s,' "$i"; done
            for g in 1 2 3 4 5 6 7; do for i in 1 2 3 4 5; do printf '13.%s.%s,' "$g" "$i"; done; done)
    export AUTOBAHN_CASES=${AUTOBAHN_CASES:-${cases%,}}
    ;;
  *)
    echo "usage: $0 server|client [core|deflate|deflate-smoke] [outdir]" >&2
    exit 2
    ;;
esac
mkdir -p "$out"

case "$role" in
  server)
    port=${AUTOBAHN_PORT:-9001}
    node examples/autobahn/echo-server.js "$port" 127.0.0.1 > "$out/server.log" 2>&1 &
    srv=$!
    trap 'kill $srv 2>/dev/null || true' EXIT
    for _ in $(seq 50); do
      grep -q "echo server" "$out/server.log" 2>/dev/null && break
      sleep 0.1
    done
    "$ab/run-server-suite.sh" "127.0.0.1:$port" full "$out"
    ;;
  client)
    port=${AUTOBAHN_PORT:-9002}
    "$ab/run-client-suite.sh" "$port" full "$out" -- node examples/autobahn/client-driver.js
    ;;
  *)
    echo "usage: $0 server|client [core|deflate|deflate-smoke] [outdir]" >&2
    exit 2
    ;;
esac
