'use strict';

// The server side of the broadcast benchmark: every message a client sends is sent to
// every client with the usual loop. Usage: node bench/broadcast-server.js ws|ws-rs PORT
// Prints "ready" once listening.

const impl = process.argv[2];
const port = Number(process.argv[3]);
const { WebSocketServer } = impl === 'ws' ? require('ws') : require('..');

const wss = new WebSocketServer({ port, host: '127.0.0.1', maxPayload: 0 }, () => console.log('ready'));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) client.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
