#!/usr/bin/env bash
# Runs ws's own public-API tests (websocket, websocket-server, create-websocket-stream)
# against ws-rs: ws's test/ and lib/ are copied from a local clone of websockets/ws
# (the tests use a few of ws's internals to build frames), and its index.js is replaced
# by `require` of this package. A development aid, not part of CI: the clone does not
# come from the npm registry. Get one with the search tool's
# `fetch github:websockets/ws`.
#
# Usage: scripts/ws-suite.sh /path/to/ws/git-dir-or-checkout [mocha args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?path to a websockets/ws clone}
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$src" archive HEAD test lib index.js package.json | tar -x -C "$work"
echo "module.exports = require('$root');" >"$work/index.js"
cd "$work"
npm install --no-audit --no-fund --no-save mocha@8 >/dev/null
npx mocha --exit --timeout 10000 "$@" \
  test/websocket.test.js test/websocket-server.test.js test/create-websocket-stream.test.js
