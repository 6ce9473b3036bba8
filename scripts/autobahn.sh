#!/usr/bin/env bash
# Runs Autobahn|Testsuite against the ws-rs server or client, every case except the
# permessage-deflate ones (12.*, 13.*), and fails unless 0 FAILED / 0 UNIMPLEMENTED.
# Usage: scripts/autobahn.sh server|client [outdir]
set -euo pipefail
cd "$(dirname "$0")/.."
role=${1:?server or client}
out=${2:-target/autobahn}
ab=${AUTOBAHN_DIR:-../shared/autobahn}
export AUTOBAHN_EXCLUDE=${AUTOBAHN_EXCLUDE:-12.*,13.*}
export AUTOBAHN_AGENT=${AUTOBAHN_AGENT:-ws-rs}
export AUTOBAHN_TIMEOUT=${AUTOBAHN_TIMEOUT:-600}
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
    echo "usage: $0 server|client [outdir]" >&2
    exit 2
    ;;
esac
