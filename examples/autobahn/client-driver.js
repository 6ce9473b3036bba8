'use strict';

// The Autobahn|Testsuite client testee: runs every case against the fuzzing server at
// $AUTOBAHN_URL, echoing each message, then asks for the reports.

const WebSocket = require('../..');

const base = process.env.AUTOBAHN_URL || 'ws://127.0.0.1:9002';
const agent = process.env.AUTOBAHN_AGENT || 'ws-rs';

function connect(path, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(base + path, { maxFragments: 0, perMessageDeflate: { threshold: 0 } });
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
    ws.on('error', () => {});
    ws.on('close', resolve);
  });
}

(async () => {
  let count = 0;
  await connect('/getCaseCount', (ws, data) => {
    count = Number(data.toString());
  });
  for (let i = 1; i <= count; i++) {
    await connect(`/runCase?case=${i}&agent=${encodeURIComponent(agent)}`, (ws, data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
  }
  await connect(`/updateReports?agent=${encodeURIComponent(agent)}`, () => {});
})();
