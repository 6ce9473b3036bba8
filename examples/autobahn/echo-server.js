'use strict';

// The Autobahn|Testsuite server testee: echoes every message back unchanged.
// Usage: node examples/autobahn/echo-server.js [port] [host]

const { WebSocketServer } = require('../..');

const port = Number(process.argv[2] || 9001);
const host = process.argv[3] || '127.0.0.1';

// permessage-deflate on (threshold 0: every message compressed), as ws's reference testee.
const wss = new WebSocketServer({ port, host, maxFragments: 0, perMessageDeflate: { threshold: 0 } }, () => {
  console.log(`ws-rs autobahn echo server on ws://${host}:${port}`);
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
