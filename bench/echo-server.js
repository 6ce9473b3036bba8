'use strict';

// The server side of the echo benchmarks: a plain JS echo handler on ws-rs or ws,
// exactly what a user would write. Usage: node bench/echo-server.js ws|ws-rs PORT [deflate [LEVEL]]
// ("deflate": perMessageDeflate: true, ws's defaults; LEVEL: zlibDeflateOptions.level).
// Prints "ready" once listening.

const impl = process.argv[2];
const port = Number(process.argv[3]);
const { WebSocketServer } = impl === 'ws' ? require('ws') : require('..');

const level = process.argv[5];
const perMessageDeflate = process.argv[4] === 'deflate' && (level === undefined || { zlibDeflateOptions: { level: Number(level) } });
const wss = new WebSocketServer({ port, host: '127.0.0.1', maxPayload: 0, perMessageDeflate }, () => console.log('ready'));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
