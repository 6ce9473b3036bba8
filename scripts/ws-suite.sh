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
# The public things the tests take from ws's lib/ come from ws-rs instead: the stream
# factory, the event classes (instanceof checks), and the constants that tests compare
# by identity (EMPTY_BUFFER, kListener, kStatusCode). ws's Sender stays: the tests build raw frames
# with it.
echo "module.exports = require('$root').createWebSocketStream;" >"$work/lib/stream.js"
echo "module.exports = require('$root/lib/event-target');" >"$work/lib/event-target.js"
mv "$work/lib/constants.js" "$work/lib/constants.ws.js"
cat >"$work/lib/constants.js" <<EOF
const ours = require('$root/lib/constants');
module.exports = {
  ...require('./constants.ws.js'),
  EMPTY_BUFFER: ours.EMPTY_BUFFER,
  kListener: ours.kListener,
  kStatusCode: ours.kStatusCode
};
EOF
# WS_SUITE=exports: ws's tests of the exported internals instead (Receiver, Sender,
# PerMessageDeflate, extension, subprotocol), with those modules replaced by ws-rs's.
if [ "${WS_SUITE:-}" = exports ]; then
  echo "module.exports = require('$root').Receiver;" >"$work/lib/receiver.js"
  echo "module.exports = require('$root').Sender;" >"$work/lib/sender.js"
  echo "module.exports = require('$root').PerMessageDeflate;" >"$work/lib/permessage-deflate.js"
  echo "module.exports = require('$root').extension;" >"$work/lib/extension.js"
  echo "module.exports = require('$root').subprotocol;" >"$work/lib/subprotocol.js"
  files=(test/receiver.test.js test/sender.test.js test/permessage-deflate.test.js test/extension.test.js
    test/subprotocol.test.js)
else
  files=(test/websocket.test.js test/websocket-server.test.js test/create-websocket-stream.test.js)
fi
cd "$work"
# WS_SUITE_PUBLIC=1: drop the assertions that read ws's private state (`_receiver._state`,
# `_sender._state`, the `_writableState`/`_readableState`/`isPaused()` of its receiver and
# socket), to see which tests still differ in what a user can observe.
if [ -n "${WS_SUITE_PUBLIC:-}" ]; then
  sed -i -E '/assert\.(strictEqual|ok)\(!?ws\._(receiver|sender|socket)\.(_state|_writableState|_readableState|isPaused)/d' \
    test/*.test.js
fi
npm install --no-audit --no-fund --no-save mocha@8 >/dev/null
npx mocha --exit --timeout 10000 "$@" "${files[@]}"
