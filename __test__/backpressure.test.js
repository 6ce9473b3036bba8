'use strict';

// ws-rs's opt-in back-pressure limit: `maxBackpressure` drops whole messages while
// `bufferedAmount` is at the limit (callback error, 'dropped'), `send()` says whether
// more may be sent, 'drain' comes once the peer reads again, and
// `closeOnBackpressureLimit` terminates. In both roles and over TLS (bridged); the
// peer is ws, paused so that it stops reading.

const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const https = require('https');
const path = require('path');
const { once } = require('events');

const WebSocket = require('..');
const wsLib = require('ws');
const { until } = require('./helpers');

const tls = {
  cert: fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem')),
  key: fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'))
};

/**
 * A connected pair: `sender` is ws-rs with `options`, `peer` is ws. Returns
 * { sender, peer, close }.
 */
async function pair(kind, options) {
  if (kind === 'client' || kind === 'client-tls') {
    const secure = kind === 'client-tls';
    const server = secure ? https.createServer(tls) : null;
    const wss = new wsLib.WebSocketServer(secure ? { server } : { port: 0, host: '127.0.0.1' });
    if (secure) server.listen(0, '127.0.0.1');
    await once(secure ? server : wss, 'listening');
    const port = (secure ? server : wss).address().port;
    const peerOpen = once(wss, 'connection');
    const sender = new WebSocket(`${secure ? 'wss' : 'ws'}://127.0.0.1:${port}`, {
      perMessageDeflate: false,
      ca: tls.cert,
      ...options
    });
    const [[peer]] = await Promise.all([peerOpen, once(sender, 'open')]);
    return { sender, peer, close: () => closeAll(sender, peer, wss, server) };
  }
  let server;
  let wss;
  let url;
  if (kind === 'tls') {
    server = https.createServer(tls);
    wss = new WebSocket.WebSocketServer({ server, ...options });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `wss://127.0.0.1:${server.address().port}`;
  } else {
    wss = new WebSocket.WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
    await once(wss, 'listening');
    url = `ws://127.0.0.1:${wss.address().port}`;
  }
  const senderOpen = once(wss, 'connection');
  const peer = new wsLib(url, { ca: tls.cert, perMessageDeflate: false });
  const [[sender]] = await Promise.all([senderOpen, once(peer, 'open')]);
  return { sender, peer, close: () => closeAll(sender, peer, wss, server) };
}

async function closeAll(a, b, wss, server) {
  a.terminate();
  b.terminate();
  await new Promise((resolve) => wss.close(resolve));
  if (server) await new Promise((resolve) => server.close(resolve));
}

const MiB = 1 << 20;

for (const kind of ['server', 'client', 'tls', 'client-tls']) {
  test(`${kind}: a peer that stops reading costs at most maxBackpressure; drops are reported; 'drain' when it reads again`, async () => {
    const limit = 4 * MiB;
    const { sender, peer, close } = await pair(kind, { maxBackpressure: limit });
    peer.pause();
    let received = 0;
    peer.on('message', () => received++);
    const dropped = [];
    const errors = [];
    sender.on('dropped', (data, isBinary) => dropped.push([data.length, isBinary]));
    // The kernel may take queued bytes while the peer is paused, so 'drain' may come
    // before the peer reads again too.
    let drains = 0;
    sender.on('drain', () => drains++);
    const big = Buffer.alloc(MiB, 7);
    const returns = { true: 0, false: 0 };
    let maxBuffered = 0;
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 160; i++) {
      const ok = sender.send(big, (err) => {
        if (err) errors.push(err.code);
      });
      returns[ok]++;
      maxBuffered = Math.max(maxBuffered, sender.bufferedAmount);
      if (i % 8 === 7) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const growth = process.memoryUsage().rss - rss;
    await until(() => errors.length === dropped.length && dropped.length > 0, 'drop callbacks');
    assert.ok(dropped.length > 100, `${dropped.length} dropped of 160 (the kernel takes a few MiB)`);
    assert.deepStrictEqual(new Set(errors), new Set(['WS_ERR_BACKPRESSURE_LIMIT']));
    assert.deepStrictEqual(dropped[0], [MiB, true]);
    assert.ok(returns.false >= dropped.length, JSON.stringify(returns));
    // Queued only below the limit: at most one message past it.
    assert.ok(maxBuffered < limit + MiB, `bufferedAmount reached ${maxBuffered}`);
    // 160 MiB offered; what is held is the limit plus what the kernel took.
    assert.ok(growth < 48 * MiB, `RSS grew ${growth >> 20} MiB`);

    peer.resume();
    await until(() => drains > 0, "'drain'");
    await until(() => sender.bufferedAmount <= limit / 2, 'the peer reads');
    assert.strictEqual(sender.send('after'), true);
    await until(() => received === 160 - dropped.length + 1, 'every queued message delivered');
    await close();
  });
}

test('a fragmented message is dropped whole, and one already started is finished', async () => {
  const limit = 256 * 1024;
  const { sender, peer, close } = await pair('server', { maxBackpressure: limit });
  peer.pause();
  const got = [];
  peer.on('message', (data) => got.push(data.length));
  peer.on('error', (err) => assert.fail(err));
  const chunk = Buffer.alloc(64 * 1024, 1);
  // Started below the limit: finished even past it.
  assert.strictEqual(sender.send(chunk, { fin: false }), true);
  while (sender.bufferedAmount < limit) {
    sender.send(chunk, { fin: false });
    await new Promise((resolve) => setImmediate(resolve));
  }
  sender.send(chunk, { fin: true });
  // Started over the limit: every fragment dropped.
  const dropped = [];
  sender.on('dropped', (data) => dropped.push(data.length));
  assert.strictEqual(sender.send(Buffer.alloc(10), { fin: false }), false);
  assert.strictEqual(sender.send(Buffer.alloc(20), { fin: false }), false);
  assert.strictEqual(sender.send(Buffer.alloc(30), { fin: true }), false);
  // (The kernel may take what is queued before the peer reads: listen now.)
  const drained = once(sender, 'drain');
  await until(() => dropped.length === 3, 'dropped events');
  assert.deepStrictEqual(dropped, [10, 20, 30]);
  peer.resume();
  await drained;
  sender.send('next');
  await until(() => got.length === 2, 'two messages');
  assert.ok(got[0] > limit);
  assert.strictEqual(got[1], 4);
  await close();
});

test('closeOnBackpressureLimit terminates at the first drop (close code 1006)', async () => {
  const { sender, peer, close } = await pair('server', { maxBackpressure: MiB, closeOnBackpressureLimit: true });
  peer.pause();
  const closed = once(sender, 'close');
  const dropped = once(sender, 'dropped');
  const big = Buffer.alloc(MiB);
  for (let i = 0; i < 64 && sender.readyState === WebSocket.OPEN; i++) {
    sender.send(big);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const [code] = await closed;
  assert.strictEqual(code, 1006);
  await dropped;
  await close();
});

test('without maxBackpressure nothing changes: send() returns undefined, nothing is dropped', async () => {
  const { sender, peer, close } = await pair('server', {});
  peer.pause();
  sender.on('dropped', () => assert.fail('dropped'));
  const big = Buffer.alloc(MiB);
  for (let i = 0; i < 16; i++) assert.strictEqual(sender.send(big), undefined);
  assert.ok(sender.bufferedAmount > 0);
  for (const bad of [0, -1, NaN, Infinity, '4096', null]) {
    const { sender: s, close: c } = await pair('server', { maxBackpressure: bad });
    assert.strictEqual(s.send('x'), undefined, String(bad));
    await c();
  }
  await close();
});

test("createWebSocketStream: write() says no while the peer does not read, and 'drain' follows", async () => {
  const { sender, peer, close } = await pair('server', {});
  peer.pause();
  const duplex = WebSocket.createWebSocketStream(sender);
  let ok = true;
  let n = 0;
  while (ok && n < 4096) {
    ok = duplex.write(Buffer.alloc(64 * 1024));
    n++;
    if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.strictEqual(ok, false);
  const drained = once(duplex, 'drain');
  peer.resume();
  await drained;
  duplex.destroy();
  await close();
});
