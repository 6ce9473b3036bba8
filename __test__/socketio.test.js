'use strict';

// socket.io with ws-rs as engine.io's `wsEngine`: its broadcast (`io.emit`) builds each
// WebSocket frame once with `Sender.frame` (socket.io-adapter) and engine.io hands it
// to every socket with `ws._sender.sendFrame`. Checked here: that path is the one
// taken, every client receives every packet in order among the per-socket ones, and
// a large broadcast reaches all clients intact. Clients speak engine.io's protocol
// over plain ws connections, so no socket.io client is needed.

const { test } = require('node:test');
const assert = require('node:assert');
const http = require('http');
const { once } = require('events');
const { Server } = require('socket.io');
const WsClient = require('ws');

const { until } = require('./helpers');
const WsRsSender = require('../lib/sender');

/** A socket.io server on ws-rs; resolves { io, url, close }. */
async function startIo() {
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'], perMessageDeflate: false, wsEngine: require('..').Server });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${httpServer.address().port}/socket.io/?EIO=4&transport=websocket`;
  const close = () => new Promise((resolve) => io.close(() => resolve()));
  return { io, url, close };
}

/** An engine.io client that joined the default namespace; `events` collects them. */
async function joinIo(url) {
  const ws = new WsClient(url);
  ws.events = [];
  const joined = new Promise((resolve) =>
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : String(data);
      if (text === null) ws.events.push(['binary', data]);
      else if (text.startsWith('40')) resolve();
      else if (text.startsWith('4')) ws.events.push(['packet', text]);
    })
  );
  await once(ws, 'open');
  ws.send('40');
  await joined;
  return ws;
}

test('socket.io on ws-rs: io.emit takes the pre-encoded frame path, in order with per-socket emits', async () => {
  const { io, url, close } = await startIo();
  const sendFrame = WsRsSender.prototype.sendFrame;
  let preEncoded = 0;
  WsRsSender.prototype.sendFrame = function (list, cb) {
    preEncoded++;
    return sendFrame.call(this, list, cb);
  };
  try {
    const clients = [];
    for (let i = 0; i < 5; i++) clients.push(await joinIo(url));
    await until(() => io.sockets.sockets.size === 5, 'five sockets');
    const sockets = [...io.sockets.sockets.values()];
    for (let i = 0; i < 20; i++) {
      io.emit('all', i);
      if (i % 5 === 0) sockets[i / 5].emit('solo', i);
    }
    const expected = clients.map((c, k) => {
      const packets = [];
      for (let i = 0; i < 20; i++) {
        packets.push(`42["all",${i}]`);
        if (i % 5 === 0 && i / 5 === k) packets.push(`42["solo",${i}]`);
      }
      return packets;
    });
    await until(() => clients.every((c, k) => c.events.length >= expected[k].length), 'every packet');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepStrictEqual(
      clients.map((c) => c.events.map(([, text]) => text)),
      expected
    );
    // Every broadcast frame went through sendFrame, once per client.
    assert.ok(preEncoded >= 20 * 5, `sendFrame calls: ${preEncoded}`);
    for (const c of clients) c.terminate();
  } finally {
    WsRsSender.prototype.sendFrame = sendFrame;
    await close();
  }
});

test('socket.io on ws-rs: a 256 KiB binary broadcast reaches every client intact', async () => {
  const { io, url, close } = await startIo();
  try {
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await joinIo(url));
    await until(() => io.sockets.sockets.size === 4, 'four sockets');
    const big = Buffer.alloc(256 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    io.emit('blob', big);
    await until(() => clients.every((c) => c.events.some(([kind]) => kind === 'binary')), 'the attachment');
    for (const c of clients) {
      assert.match(c.events[0][1], /^451-\["blob",\{"_placeholder":true,"num":0\}\]$/);
      assert.ok(c.events[1][1].equals(big));
    }
    for (const c of clients) c.terminate();
  } finally {
    await close();
  }
});
