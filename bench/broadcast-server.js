'use strict';

// The server side of the broadcast benchmark: every message a client sends is sent to
// every client with the usual loop, or, with `publish` (ws-rs only: ws has no topics,
// so ws and Bun keep the loop), published to a topic every client subscribed to.
// Usage: node bench/broadcast-server.js ws|ws-rs PORT [publish]
// Prints "ready" once listening.

const impl = process.argv[2];
const port = Number(process.argv[3]);
const { WebSocketServer } = impl === 'ws' ? require('ws') : require('..');
const publish = process.argv[4] === 'publish' && typeof WebSocketServer.prototype.publish === 'function';

const wss = new WebSocketServer({ port, host: '127.0.0.1', maxPayload: 0 }, () => console.log('ready'));
wss.on('connection', (ws) => {
  if (publish) ws.subscribe('all');
  ws.on('message', (data, isBinary) => {
    if (publish) wss.publish('all', data, { binary: isBinary });
    else for (const client of wss.clients) client.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
