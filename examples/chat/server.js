'use strict';

// The demo behind `npm start`: a chat page on http://localhost:8080 (PORT overrides)
// (PORT=0: any free port) whose browser WebSocket talks to a ws-rs server that relays every message to
// everyone connected.

const http = require('http');
const fs = require('fs');
const path = require('path');
const { WebSocketServer, WebSocket } = require('../..');

const port = Number(process.env.PORT || process.argv[2] || 8080);
const page = fs.readFileSync(path.join(__dirname, 'index.html'));

const server = http.createServer((req, res) => {
  if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length });
    res.end(page);
  } else {
    res.writeHead(404).end('Not found');
  }
});

const wss = new WebSocketServer({ server, path: '/chat', maxPayload: 64 * 1024 });
let nextName = 1;

function broadcast(message) {
  const data = JSON.stringify(message);
  for (const client of wss.clients) {
    if (client.readyState === WebSocket.OPEN) client.send(data);
  }
}

wss.on('connection', (ws) => {
  const name = `guest-${nextName++}`;
  ws.send(JSON.stringify({ type: 'welcome', name, online: wss.clients.size }));
  broadcast({ type: 'join', name, online: wss.clients.size });

  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString().slice(0, 1000);
    if (text.trim()) broadcast({ type: 'message', name, text, at: Date.now() });
  });

  ws.on('close', () => broadcast({ type: 'leave', name, online: wss.clients.size }));
  ws.on('error', () => {});
});

server.listen(port, () => {
  console.log(`ws-rs chat: open http://localhost:${server.address().port} in a few browser tabs`);
});
