'use strict';

// ws-rs's opt-in heartbeat: with `idleTimeout`, a connection that receives nothing is
// pinged after three quarters of it and terminated (1006, as terminate()) after all
// of it; any byte received counts as life; the answers to its own pings are not
// reported as 'pong'. Both roles, TLS (bridged), and compressed connections (served by
// the io threads); the peers are ws or raw sockets that stop answering.

const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const net = require('net');
const path = require('path');
const tlsLib = require('tls');
const https = require('https');
const { once } = require('events');

const WebSocket = require('..');
const wsLib = require('ws');
const { acceptFor, UPGRADE_REQUEST } = require('./helpers');

const IDLE = 300;
// Timers on a busy machine run late: how much later than the idle time a close may come.
const SLACK = 700;

const tls = {
  cert: fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem')),
  key: fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'))
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A ws-rs server with `options`, over TLS if `secure`; returns { wss, url, close }. */
async function server(options, secure = false) {
  if (!secure) {
    const wss = new WebSocket.WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
    await once(wss, 'listening');
    return { wss, url: `ws://127.0.0.1:${wss.address().port}`, port: wss.address().port, close: () => closeServer(wss) };
  }
  const http = https.createServer(tls);
  const wss = new WebSocket.WebSocketServer({ server: http, ...options });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    wss,
    url: `wss://127.0.0.1:${http.address().port}`,
    port: http.address().port,
    close: async () => {
      await closeServer(wss);
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  };
}

function closeServer(wss) {
  for (const c of wss.clients) c.terminate();
  return new Promise((resolve) => wss.close(resolve));
}

/** A raw client that completes the upgrade and then never reads nor answers. */
async function deadClient(port, secure) {
  const socket = secure
    ? tlsLib.connect({ port, host: '127.0.0.1', ca: tls.cert, servername: 'localhost' })
    : net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, secure ? 'secureConnect' : 'connect');
  socket.write(UPGRADE_REQUEST);
  await once(socket, 'data');
  socket.pause();
  return socket;
}

/** A raw server (over TLS if `secure`) that answers the upgrade and then nothing. */
async function silentServer(secure) {
  const onSocket = (socket) => {
    socket.on('error', () => {});
    socket.once('data', (req) => {
      const key = /sec-websocket-key: (.*)\r\n/i.exec(req.toString())[1];
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`
      );
      socket.pause();
    });
  };
  const raw = secure ? tlsLib.createServer(tls, onSocket) : net.createServer(onSocket);
  raw.listen(0, '127.0.0.1');
  await once(raw, 'listening');
  return raw;
}

/** Resolves with [code, ms since `start`] at the server side's 'close'. */
function closedAfter(ws, start) {
  return new Promise((resolve) => ws.once('close', (code) => resolve([code, Date.now() - start])));
}

for (const secure of [false, true]) {
  const label = secure ? 'TLS (bridged)' : 'plain';
  test(`server, ${label}: a peer that stops answering is terminated after idleTimeout; a healthy one lives`, async () => {
    const { wss, url, port, close } = await server({ idleTimeout: IDLE }, secure);
    const sockets = [];
    wss.on('connection', (ws) => sockets.push(ws));
    const healthy = new wsLib(url, { ca: tls.cert });
    const pings = [];
    healthy.on('ping', (data) => pings.push(data.toString()));
    await once(healthy, 'open');
    const dead = await deadClient(port, secure);
    while (sockets.length < 2) await sleep(5);
    const start = Date.now();
    const [serverHealthy, serverDead] = sockets;
    serverHealthy.on('pong', () => assert.fail("the heartbeat's pongs are not reported"));
    const [code, ms] = await closedAfter(serverDead, start);
    assert.strictEqual(code, 1006);
    assert.ok(ms >= IDLE * 0.75 && ms <= IDLE + SLACK, `terminated after ${ms} ms`);
    // The healthy one answers the pings (ws's autoPong) and stays open.
    await sleep(IDLE * 3);
    assert.strictEqual(serverHealthy.readyState, WebSocket.OPEN);
    assert.ok(pings.length >= 2, `${pings.length} pings`);
    assert.ok(pings.every((p) => p === 'ws-rs:idle'));
    healthy.close();
    dead.destroy();
    await close();
  });
}

test('server, compressed (io threads): silence terminates, traffic keeps it open', async () => {
  const { wss, url, close } = await server({ idleTimeout: IDLE, perMessageDeflate: true });
  const sockets = [];
  wss.on('connection', (ws) => sockets.push(ws));
  // Neither answers pings; one sends a message every IDLE / 3.
  const talker = new wsLib(url, { perMessageDeflate: true, autoPong: false });
  const mute = new wsLib(url, { perMessageDeflate: true, autoPong: false });
  await Promise.all([once(talker, 'open'), once(mute, 'open')]);
  assert.strictEqual(talker.extensions, 'permessage-deflate');
  while (sockets.length < 2) await sleep(5);
  const timer = setInterval(() => talker.send('still here'), IDLE / 3);
  const start = Date.now();
  const serverMute = sockets.find((s) => s._socket.remotePort === mute._socket.localPort);
  const serverTalker = sockets.find((s) => s !== serverMute);
  const [code, ms] = await closedAfter(serverMute, start);
  assert.strictEqual(code, 1006);
  assert.ok(ms >= IDLE * 0.75 && ms <= IDLE + SLACK, `terminated after ${ms} ms`);
  await sleep(IDLE * 2);
  assert.strictEqual(serverTalker.readyState, WebSocket.OPEN);
  clearInterval(timer);
  talker.close();
  await close();
});

test('sendPings: false terminates a silent peer without pinging it', async () => {
  const { wss, url, close } = await server({ idleTimeout: IDLE, sendPings: false });
  const peer = new wsLib(url);
  let pinged = 0;
  peer.on('ping', () => pinged++);
  const [[ws]] = await Promise.all([once(wss, 'connection'), once(peer, 'open')]);
  const [code] = await closedAfter(ws, Date.now());
  assert.strictEqual(code, 1006);
  assert.strictEqual(pinged, 0);
  await close();
});

for (const secure of [false, true]) {
  const label = secure ? 'over TLS (bridged)' : 'plain';
  test(`client, ${label}: idleTimeout terminates a server that stops answering, and lives with a healthy one`, async () => {
    const scheme = secure ? 'wss' : 'ws';
    const raw = await silentServer(secure);
    const client = new WebSocket(`${scheme}://127.0.0.1:${raw.address().port}`, { idleTimeout: IDLE, ca: tls.cert });
    await once(client, 'open');
    const [code, ms] = await closedAfter(client, Date.now());
    assert.strictEqual(code, 1006);
    assert.ok(ms >= IDLE * 0.75 && ms <= IDLE + SLACK, `terminated after ${ms} ms`);
    raw.close();

    // A ws server answers the (masked) pings.
    const http = secure ? https.createServer(tls) : null;
    const wss = new wsLib.WebSocketServer(secure ? { server: http } : { port: 0, host: '127.0.0.1' });
    if (secure) http.listen(0, '127.0.0.1');
    await once(secure ? http : wss, 'listening');
    const pings = [];
    wss.on('connection', (ws) => ws.on('ping', (data) => pings.push(data.toString())));
    const port = (secure ? http : wss).address().port;
    const good = new WebSocket(`${scheme}://127.0.0.1:${port}`, { idleTimeout: IDLE, ca: tls.cert });
    good.on('pong', () => assert.fail("the heartbeat's pongs are not reported"));
    await once(good, 'open');
    await sleep(IDLE * 3);
    assert.strictEqual(good.readyState, WebSocket.OPEN);
    assert.ok(pings.length >= 2 && pings.every((p) => p === 'ws-rs:idle'), JSON.stringify(pings));
    good.close();
    await once(good, 'close');
    await new Promise((resolve) => wss.close(resolve));
    if (http) {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });
}

test('a watched connection whose peer ends closes quietly (no ping after the end, no error)', async () => {
  for (const secure of [false, true]) {
    const { wss, port, close } = await server({ idleTimeout: 80 }, secure);
    const connected = once(wss, 'connection');
    const peer = await deadClient(port, secure);
    const [ws] = await connected;
    const errors = [];
    ws.on('error', (err) => errors.push(err));
    const closed = once(ws, 'close');
    peer.end();
    await closed;
    // Past several sweeps of the 80 ms idle time.
    await sleep(200);
    assert.deepStrictEqual(errors, []);
    peer.destroy();
    await close();
  }
});

test('odd idleTimeout values mean off; close() stops the heartbeat', async () => {
  for (const idleTimeout of [0, -5, NaN, Infinity, '300', null]) {
    const { wss, url, close } = await server({ idleTimeout });
    const peer = new wsLib(url, { autoPong: false });
    const [[ws]] = await Promise.all([once(wss, 'connection'), once(peer, 'open')]);
    let pinged = 0;
    peer.on('ping', () => pinged++);
    await sleep(60);
    assert.strictEqual(ws.readyState, WebSocket.OPEN, String(idleTimeout));
    assert.strictEqual(pinged, 0);
    peer.terminate();
    await close();
  }
  // Once closing, ws's closeTimeout is in charge: no ping, no early terminate.
  const { wss, url, close } = await server({ idleTimeout: 100, closeTimeout: 2000 });
  const peer = new wsLib(url, { autoPong: false });
  const [[ws]] = await Promise.all([once(wss, 'connection'), once(peer, 'open')]);
  let pinged = 0;
  peer.on('ping', () => pinged++);
  peer.pause(); // never answers the close either
  ws.close();
  await sleep(400);
  assert.strictEqual(ws.readyState, WebSocket.CLOSING);
  assert.strictEqual(pinged, 0);
  peer.terminate();
  await close();
});
