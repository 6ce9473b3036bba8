'use strict';

// Sockets the io driver cannot take over run "bridged" (same protocol core, on the JS
// thread): wss:// through https.Server and tls, and Unix-domain sockets. Same
// behaviour as ws, checked against ws as the peer.

const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const https = require('https');
const http = require('http');
const os = require('os');
const path = require('path');
const { once } = require('events');

const { impls, collect } = require('./helpers');

const tlsOptions = {
  cert: fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem')),
  key: fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'))
};

async function tlsServer(impl) {
  const server = https.createServer(tlsOptions);
  const wss = new impls[impl].WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, wss, url: `wss://localhost:${server.address().port}` };
}

for (const [serverImpl, clientImpl] of [
  ['ws-rs', 'ws'],
  ['ws', 'ws-rs'],
  ['ws-rs', 'ws-rs']
]) {
  test(`wss: ${serverImpl} server <-> ${clientImpl} client echo, callbacks, close`, async () => {
    const { server, wss, url } = await tlsServer(serverImpl);
    const ws = new impls[clientImpl](url, { ca: tlsOptions.cert });
    await once(ws, 'open');

    const payloads = ['hello', Buffer.alloc(70000, 3), '', Buffer.alloc(3 * 1024 * 1024, 9)];
    const got = collect(ws, payloads.length);
    let callbacks = 0;
    for (const p of payloads) ws.send(p, () => callbacks++);
    const echoed = await got;
    for (let i = 0; i < payloads.length; i++) {
      assert.ok(echoed[i][0].equals(Buffer.from(payloads[i])));
      assert.strictEqual(echoed[i][1], typeof payloads[i] !== 'string');
    }
    assert.strictEqual(callbacks, payloads.length);
    assert.strictEqual(ws.bufferedAmount, 0);

    const pong = once(ws, 'pong');
    ws.ping('tls-ping');
    assert.strictEqual((await pong)[0].toString(), 'tls-ping');

    const serverSide = [...wss.clients][0];
    const serverClosed = once(serverSide, 'close');
    ws.close(4321, 'tls bye');
    const [code, reason] = await once(ws, 'close');
    assert.deepStrictEqual([code, reason.toString()], [4321, 'tls bye']);
    const [scode, sreason] = await serverClosed;
    assert.deepStrictEqual([scode, sreason.toString()], [4321, 'tls bye']);
    await new Promise((resolve) => server.close(resolve));
  });
}

test('wss: a bridged server reports protocol errors as ws does', async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const { server, wss, url } = await tlsServer(impl);
    const events = [];
    const closed = new Promise((resolve) =>
      wss.once('connection', (ws) => {
        ws.on('error', (e) => events.push(`error ${e.message} ${e.code}`));
        ws.on('close', (c) => {
          events.push(`close ${c}`);
          resolve();
        });
      })
    );
    // The ws client refuses to send bad frames, so write one on its raw socket.
    const client = new impls.ws(url, { ca: tlsOptions.cert });
    client.on('error', () => {});
    await once(client, 'open');
    client._socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    const [code] = await once(client, 'close');
    await closed;
    results[impl] = [code, ...events];
    await new Promise((resolve) => server.close(resolve));
  }
  assert.deepStrictEqual(results['ws-rs'], results.ws);
});

test('Unix-domain socket server (noServer + http.Server on a path) and ws+unix: client', async () => {
  const socketPath = path.join(os.tmpdir(), `ws-rs-test-${process.pid}.sock`);
  try {
    fs.unlinkSync(socketPath);
  } catch {}
  const server = http.createServer((req, res) => res.end('plain'));
  const wss = new impls['ws-rs'].WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (d) => ws.send(`unix ${d}`));
    });
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));

  for (const clientImpl of ['ws', 'ws-rs']) {
    const ws = new impls[clientImpl](`ws+unix:${socketPath}`);
    await once(ws, 'open');
    const got = collect(ws, 1);
    ws.send('hi');
    assert.strictEqual((await got)[0][0].toString(), 'unix hi', clientImpl);
    ws.close();
    await once(ws, 'close');
  }
  await new Promise((resolve) => server.close(resolve));
});
