'use strict';

// require('ws-rs/fibjs'): fibjs's ws shape (upgrade(opts, accept) for Node's 'upgrade'
// event, Socket, constants) with fibjs's defaults: permessage-deflate on and a 64 MiB
// maxPayload on both sides. fibjs itself does not run on Node, so the peer here is ws.

const { test } = require('node:test');
const assert = require('node:assert');
const http = require('http');
const { once } = require('events');

const fib = require('../fibjs');
const { impls } = require('./helpers');

test('fibjs: constants', () => {
  assert.deepStrictEqual(
    [fib.CONTINUE, fib.TEXT, fib.BINARY, fib.CLOSE, fib.PING, fib.PONG],
    [0, 1, 2, 8, 9, 10]
  );
  assert.deepStrictEqual([fib.CONNECTING, fib.OPEN, fib.CLOSING, fib.CLOSED], [0, 1, 2, 3]);
  assert.throws(() => fib.upgrade({}), /accept must be a function/);
});

test('fibjs: upgrade(opts, accept) serves an http.Server, with deflate on and a 64 MiB limit', async () => {
  const server = http.createServer();
  const accepted = [];
  server.on(
    'upgrade',
    fib.upgrade((conn, req) => {
      accepted.push([req.url, conn.extensions, conn.readyState === fib.OPEN]);
      conn.onmessage = (msg) => conn.send(`echo ${msg.data}`);
      conn.onerror = () => {}; // the oversize message below errors here, as in ws
    })
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${server.address().port}/room`;

  // A ws client: permessage-deflate offered and accepted, as fibjs's server would.
  const client = new impls.ws(url);
  await once(client, 'open');
  assert.strictEqual(client.extensions, 'permessage-deflate');
  client.send('hi');
  const [reply] = await once(client, 'message');
  assert.strictEqual(reply.toString(), 'echo hi');
  assert.deepStrictEqual(accepted, [['/room', 'permessage-deflate', true]]);

  // 64 MiB + 1 is over the limit: 1009, as for any ws-rs server.
  const big = new impls.ws(url, { perMessageDeflate: false });
  await once(big, 'open');
  big.send(Buffer.alloc(64 * 1024 * 1024 + 1));
  const [code] = await once(big, 'close');
  assert.strictEqual(code, 1009);

  // fibjs's Socket: a client with the same defaults.
  const socket = new fib.Socket(url);
  const got = await new Promise((resolve) => {
    socket.onopen = () => socket.send('from Socket');
    socket.onmessage = (msg) => resolve([msg.data.toString(), socket.extensions]);
  });
  assert.deepStrictEqual(got, ['echo from Socket', 'permessage-deflate']);
  for (const ws of [client, socket]) ws.close();
  await once(socket, 'close');
  await new Promise((resolve) => server.close(resolve));
});

test('fibjs: options override the defaults', async () => {
  const server = http.createServer();
  server.on('upgrade', fib.upgrade({ perMessageDeflate: false, maxPayload: 10 }, (conn) => conn.on('error', () => {})));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new fib.Socket(`ws://127.0.0.1:${server.address().port}`, { perMessageDeflate: false });
  await once(client, 'open');
  assert.strictEqual(client.extensions, '');
  client.send('this is more than ten bytes');
  const [code] = await once(client, 'close');
  assert.strictEqual(code, 1009);
  await new Promise((resolve) => server.close(resolve));
});
