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

// Windows: Node exposes no fd for a TCP socket (`_handle.fd` is -1), so nothing can be
// adopted and both roles must run bridged. Simulated here by hiding each handle's fd.
test('TCP sockets whose handle exposes no fd (as on Windows) run bridged in both roles', async () => {
  const net = require('net');
  const WebSocket = impls['ws-rs'];
  const hideFd = (socket) => Object.defineProperty(socket._handle, 'fd', { value: -1 });

  for (const hidden of [false, true]) {
    const server = http.createServer();
    if (hidden) server.prependListener('upgrade', (req, socket) => hideFd(socket));
    const wss = new WebSocket.WebSocketServer({ server });
    const serverSockets = [];
    wss.on('connection', (ws) => {
      serverSockets.push(ws._socket);
      ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

    const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}`, {
      createConnection: (options) => {
        const socket = net.connect(options);
        if (hidden) hideFd(socket);
        return socket;
      }
    });
    await once(ws, 'open');
    const got = collect(ws, 2);
    ws.send('text');
    ws.send(Buffer.from([7, 8, 9]));
    const [[a, aBinary], [b, bBinary]] = await got;
    assert.deepStrictEqual([a.toString(), aBinary, [...b], bBinary], ['text', false, [7, 8, 9], true]);
    // Bridged connections keep Node's own socket; adopted ones get a stand-in.
    assert.strictEqual(ws._socket instanceof net.Socket, hidden, 'client');
    assert.strictEqual(serverSockets[0] instanceof net.Socket, hidden, 'server');
    ws.close(1000, 'bye');
    const [code, reason] = await once(ws, 'close');
    assert.deepStrictEqual([code, reason.toString()], [1000, 'bye']);
    await new Promise((resolve) => wss.close(() => server.close(resolve)));
  }
});
