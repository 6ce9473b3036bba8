'use strict';

// Topics (an addition of ws-rs, after uWebSockets.js and Bun): subscribe, unsubscribe,
// publish to a server's connections. ws has no such API, so these tests check
// ws-rs's own promises: each subscriber receives a publish in its place among what
// that connection is sent, callbacks and bufferedAmount stay right, subscriptions end
// with the connection, compressed and plain subscribers get their own frame, bridged
// (TLS) subscribers too, and a large message is held once however many receive it.

const { test } = require('node:test');
const assert = require('node:assert');
const https = require('https');
const path = require('path');
const { once } = require('events');

const { impls, startServer, stopServer, rawClient, until, tlsKeys, forkBroadcaster } = require('./helpers');

const { WebSocketServer, WebSocket } = impls['ws-rs'];

/** A ws-rs server with `n` ws clients; resolves the server-side sockets in order. */
async function withClients(n, serverOptions = {}, clientOptions = [], url) {
  const { wss, url: plainUrl } = await startServer('ws-rs', serverOptions);
  const clients = [];
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const accepted = once(wss, 'connection');
    const client = new impls.ws(url || plainUrl, clientOptions[i] || {});
    const got = [];
    client.on('message', (data, isBinary) => got.push(isBinary ? data : String(data)));
    client.got = got;
    await once(client, 'open');
    clients.push(client);
    sockets.push((await accepted)[0]);
  }
  return { wss, clients, sockets };
}

test('topics: subscribe, unsubscribe, isSubscribed, topics, subscriberCount and what they return', async () => {
  const { wss, clients, sockets } = await withClients(2);
  const [a, b] = sockets;
  assert.strictEqual(a.subscribe('news'), true);
  assert.strictEqual(a.subscribe('news'), false);
  assert.strictEqual(a.subscribe('sport'), true);
  assert.strictEqual(b.subscribe('news'), true);
  assert.deepStrictEqual(a.topics.sort(), ['news', 'sport']);
  a.topics.push('not a topic'); // a copy: changes nothing
  assert.deepStrictEqual(a.topics.sort(), ['news', 'sport']);
  assert.strictEqual(a.isSubscribed('news'), true);
  assert.strictEqual(b.isSubscribed('sport'), false);
  assert.strictEqual(wss.subscriberCount('news'), 2);
  assert.strictEqual(wss.subscriberCount('nothing'), 0);
  assert.strictEqual(a.unsubscribe('news'), true);
  assert.strictEqual(a.unsubscribe('news'), false);
  assert.strictEqual(wss.subscriberCount('news'), 1);
  assert.strictEqual(wss.publish('nothing', 'x'), 0);
  // Topics are strings; a Blob is not published; a client WebSocket has no server.
  assert.throws(() => a.subscribe(1), TypeError);
  assert.throws(() => wss.subscriberCount(null), TypeError);
  assert.throws(() => wss.publish({}, 'x'), TypeError);
  assert.throws(() => wss.publish('news', new Blob(['x'])), TypeError);
  const client = new WebSocket(`ws://127.0.0.1:${wss.address().port}`);
  await once(client, 'open');
  assert.throws(() => client.subscribe('news'), /connections of a WebSocketServer/);
  assert.throws(() => client.publish('news', 'x'), /connections of a WebSocketServer/);
  assert.strictEqual(client.isSubscribed('news'), false);
  assert.deepStrictEqual(client.topics, []);
  client.terminate();
  for (const c of clients) c.terminate();
  await stopServer(wss);
});

test('topics: a publish keeps its place among each connection\'s sends; callbacks and bufferedAmount stay right', async () => {
  const { wss, clients, sockets } = await withClients(3);
  const [a, b, c] = sockets;
  a.subscribe('t');
  b.subscribe('t');
  const calls = [];
  a.send('a1', (err) => calls.push(['a1', err]));
  assert.strictEqual(wss.publish('t', 'p1'), 2);
  a.send('a2', (err) => calls.push(['a2', err]));
  // Subscribed after the first publish: gets only what comes after.
  c.subscribe('t');
  assert.strictEqual(wss.publish('t', Buffer.from('p2')), 3);
  // From a connection: everyone subscribed but the publisher.
  assert.strictEqual(b.publish('t', 'p3', { binary: true }), 2);
  b.send('b1', (err) => calls.push(['b1', err]));
  assert.ok(a.bufferedAmount > 0);
  const counts = () => clients.map((cl) => cl.got.length).join();
  await until(() => counts() === '5,3,2', 'all messages');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.strictEqual(counts(), '5,3,2');
  const show = (m) => (Buffer.isBuffer(m) ? `bin:${m}` : m);
  assert.deepStrictEqual(clients[0].got.map(show), ['a1', 'p1', 'a2', 'bin:p2', 'bin:p3']);
  assert.deepStrictEqual(clients[1].got.map(show), ['p1', 'bin:p2', 'b1']);
  assert.deepStrictEqual(clients[2].got.map(show), ['bin:p2', 'bin:p3']);
  assert.deepStrictEqual(calls, [['a1', null], ['a2', null], ['b1', null]]);
  for (const s of sockets) assert.strictEqual(s.bufferedAmount, 0);
  for (const cl of clients) cl.terminate();
  await stopServer(wss);
});

test('topics: unsubscribed and closed connections get nothing more; closing ends subscriptions', async () => {
  const { wss, clients, sockets } = await withClients(3);
  for (const s of sockets) s.subscribe('t');
  sockets[0].unsubscribe('t');
  // Closing in the same tick as the publish: not open any more, so not a recipient.
  sockets[1].close();
  assert.strictEqual(wss.publish('t', 'after'), 1);
  await once(sockets[1], 'close');
  assert.strictEqual(wss.subscriberCount('t'), 1);
  assert.strictEqual(sockets[1].subscribe('t'), false);
  assert.strictEqual(wss.subscriberCount('t'), 1);
  // Terminated right after a publish: the others still get it, nothing breaks.
  assert.strictEqual(wss.publish('t', 'again'), 1);
  sockets[2].terminate();
  await once(sockets[2], 'close');
  assert.strictEqual(wss.subscriberCount('t'), 0);
  assert.strictEqual(wss.publish('t', 'nobody'), 0);
  await until(() => clients[2].got.length >= 1, 'the publish before close');
  assert.deepStrictEqual(clients[0].got, []);
  assert.deepStrictEqual(clients[2].got[0], 'after');
  for (const cl of clients) cl.terminate();
  await stopServer(wss);
});

test('topics: compressed and plain subscribers each get their own frame; compress: false is honoured', async () => {
  const { wss, clients, sockets } = await withClients(3, { perMessageDeflate: { threshold: 0 } }, [
    { perMessageDeflate: { threshold: 0 } },
    { perMessageDeflate: false },
    { perMessageDeflate: { threshold: 0 } }
  ]);
  assert.deepStrictEqual(
    sockets.map((s) => s.extensions),
    ['permessage-deflate', '', 'permessage-deflate']
  );
  // What each client reads off the wire: compressed frames are much smaller.
  const wireBytes = sockets.map(() => 0);
  clients.forEach((cl, i) => cl._socket.on('data', (chunk) => (wireBytes[i] += chunk.length)));
  for (const s of sockets) s.subscribe('t');
  const text = 'compressible '.repeat(5000);
  assert.strictEqual(wss.publish('t', text), 3);
  assert.strictEqual(wss.publish('t', text, { compress: false }), 3);
  await until(() => clients.every((cl) => cl.got.length === 2), 'both messages everywhere');
  for (const cl of clients) assert.deepStrictEqual(cl.got, [text, text]);
  assert.ok(wireBytes[0] < text.length * 1.2, `compressed client read ${wireBytes[0]}`);
  assert.ok(wireBytes[1] > text.length * 2, `plain client read ${wireBytes[1]}`);
  for (const cl of clients) cl.terminate();
  await stopServer(wss);
});

test('topics: bridged (TLS) subscribers, mixed with sends', async () => {
  const tls = tlsKeys();
  const server = https.createServer(tls);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const wss = new WebSocketServer({ server });
  const url = `wss://127.0.0.1:${server.address().port}`;
  const clients = [];
  const sockets = [];
  for (let i = 0; i < 2; i++) {
    const accepted = once(wss, 'connection');
    const client = new impls.ws(url, { ca: tls.cert });
    client.got = [];
    client.on('message', (data) => client.got.push(String(data)));
    await once(client, 'open');
    clients.push(client);
    sockets.push((await accepted)[0]);
  }
  for (const s of sockets) s.subscribe('t');
  sockets[0].send('first');
  assert.strictEqual(wss.publish('t', 'published'), 2);
  sockets[1].send('last');
  await until(() => clients[0].got.length === 2 && clients[1].got.length === 2, 'TLS deliveries');
  assert.deepStrictEqual(clients[0].got, ['first', 'published']);
  assert.deepStrictEqual(clients[1].got, ['published', 'last']);
  for (const cl of clients) cl.terminate();
  await new Promise((resolve) => wss.close(resolve));
  server.close();
});

test('topics: a subscriber over maxBackpressure is skipped with \'dropped\', the others get the message', async () => {
  const { wss, clients, sockets } = await withClients(2, { maxBackpressure: 1 });
  for (const s of sockets) s.subscribe('t');
  const dropped = [];
  sockets[0].on('dropped', (data, isBinary) => dropped.push([String(data), isBinary]));
  sockets[0].send('fills the buffer');
  assert.ok(sockets[0].bufferedAmount >= 1);
  assert.strictEqual(wss.publish('t', 'news'), 1);
  await until(() => dropped.length === 1 && clients[1].got.length === 1, 'the drop and the delivery');
  assert.deepStrictEqual(dropped, [['news', false]]);
  assert.deepStrictEqual(clients[1].got, ['news']);
  for (const cl of clients) cl.terminate();
  await stopServer(wss);
});

test('topics: one 1 MiB Buffer published to 10,000 connections that never read is held once', { timeout: 120000 }, async () => {
  const server = forkBroadcaster(['ws-rs', 'publish']);
  const sockets = [];
  try {
    const [{ port }] = await once(server, 'message');
    for (let i = 0; i < 10000; i++) {
      const { socket } = await rawClient(port);
      socket.on('error', () => {});
      socket.pause();
      sockets.push(socket);
    }
    server.send({ go: 1 });
    const [result] = await once(server, 'message');
    const MiB = 1024 * 1024;
    const detail = JSON.stringify(result);
    assert.strictEqual(result.clients, 10000, detail);
    // Nearly all of it waits in user space (10,000 MiB if copied), yet the process
    // grew by about one payload.
    assert.ok(result.buffered > 5000 * MiB, detail);
    assert.ok(result.grew < 32 * MiB, detail);
  } finally {
    for (const s of sockets) s.destroy();
    server.kill();
  }
});
