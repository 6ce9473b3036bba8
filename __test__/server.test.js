'use strict';

// The server's HTTP side, compared byte for byte with ws: plain requests get 426,
// bad upgrade requests get ws's refusals, garbage does not hurt other connections.

const { test } = require('node:test');
const assert = require('node:assert');
const net = require('net');
const { once } = require('events');

const { impls, startServer, stopServer, connect, same } = require('./helpers');

/** Sends raw bytes, returns everything received until the server closes. */
async function exchange(port, bytes) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(bytes);
  let out = '';
  socket.on('data', (c) => (out += c.toString('latin1')));
  await new Promise((resolve) => {
    socket.on('close', resolve);
    setTimeout(() => socket.destroy(), 2000);
  });
  return out.replace(/\r\nDate: [^\r]*/, '');
}

const upgrade = (headers) =>
  `GET / HTTP/1.1\r\nHost: x\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

const good = {
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version': '13'
};

const requests = {
  'plain HTTP request': 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'POST upgrade': upgrade(good).replace('GET', 'POST'),
  'wrong Upgrade header': upgrade({ ...good, Upgrade: 'h2c' }),
  'missing key': upgrade({ ...good, 'Sec-WebSocket-Key': undefined }).replace('Sec-WebSocket-Key: undefined\r\n', ''),
  'invalid key': upgrade({ ...good, 'Sec-WebSocket-Key': 'short' }),
  'wrong version': upgrade({ ...good, 'Sec-WebSocket-Version': '12' }),
  'invalid subprotocol list': upgrade({ ...good, 'Sec-WebSocket-Protocol': 'a,,b' }),
  'duplicated subprotocol': upgrade({ ...good, 'Sec-WebSocket-Protocol': 'a, a' }),
  'garbage request line': 'HELLO\r\n\r\n',
  'truncated request': 'GET / HTTP/1.1\r\nUpgr'
};

for (const [name, bytes] of Object.entries(requests)) {
  test(`handshake: ${name} gets ws's response`, async () => {
    const responses = {};
    for (const impl of ['ws', 'ws-rs']) {
      const { wss, url } = await startServer(impl);
      responses[impl] = await exchange(new URL(url).port, bytes);
      // The server still works.
      const ws = await connect('ws', url);
      ws.close();
      await once(ws, 'close');
      await stopServer(wss);
    }
    assert.strictEqual(responses['ws-rs'], responses.ws);
  });
}

test('handshake: subprotocol selection and the headers event', async () => {
  for (const impl of ['ws', 'ws-rs']) {
    const { wss, url } = await startServer(impl, {
      handleProtocols: (protocols) => [...protocols].pop()
    });
    wss.on('headers', (headers) => headers.push('X-Test: yes'));
    const ws = new impls.ws(url, ['one', 'two']);
    const opened = once(ws, 'open');
    const [res] = await once(ws, 'upgrade');
    assert.strictEqual(res.headers['x-test'], 'yes', impl);
    await opened;
    assert.strictEqual(ws.protocol, 'two', impl);
    ws.close();
    await once(ws, 'close');
    await stopServer(wss);
  }
});

test('handshake: verifyClient refusals (sync and async)', async () => {
  for (const impl of ['ws', 'ws-rs']) {
    for (const verifyClient of [() => false, (info, cb) => cb(false, 403, 'Nope', { 'X-Why': 'test' })]) {
      const { wss, url } = await startServer(impl, { verifyClient });
      const ws = new impls.ws(url);
      ws.on('error', () => {});
      const [, res] = await once(ws, 'unexpected-response');
      assert.strictEqual(res.statusCode, verifyClient.length === 2 ? 403 : 401, impl);
      if (verifyClient.length === 2) assert.strictEqual(res.headers['x-why'], 'test');
      res.destroy();
      await stopServer(wss);
    }
  }
});

test('server: exports, address(), clients and close(cb)', async () => {
  const WebSocket = impls['ws-rs'];
  assert.strictEqual(WebSocket.WebSocket, WebSocket);
  assert.strictEqual(WebSocket.Server, WebSocket.WebSocketServer);
  assert.deepStrictEqual(
    [WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED],
    [0, 1, 2, 3]
  );
  assert.throws(() => new WebSocket.WebSocketServer({}), {
    name: 'TypeError',
    message: 'One and only one of the "port", "server", or "noServer" options must be specified'
  });

  const { wss, url } = await startServer('ws-rs');
  assert.strictEqual(wss.address().address, '127.0.0.1');
  const ws = await connect('ws', url);
  await new Promise((resolve) => setImmediate(resolve));
  assert.strictEqual(wss.clients.size, 1);
  const [serverSide] = wss.clients;
  assert.strictEqual(serverSide._socket.remoteAddress, '127.0.0.1');
  assert.strictEqual(serverSide._socket.remotePort, ws._socket.localPort);
  const serverClosed = once(serverSide, 'close');
  ws.close();
  await once(ws, 'close');
  await serverClosed;
  assert.strictEqual(wss.clients.size, 0);
  await new Promise((resolve) => wss.close(resolve));
});

test('process exits once its last connection closes, as with ws', async () => {
  const { spawn } = require('child_process');
  const script = `
    const WebSocket = require(${JSON.stringify(require.resolve('..'))});
    const wss = new WebSocket.WebSocketServer({ port: 0, host: '127.0.0.1' }, () => {
      const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
      wss.on('connection', (s) => { wss.close(); setTimeout(() => s.close(1000), 300); });
      ws.on('close', () => console.log('closed'));
    });`;
  const start = Date.now();
  const child = spawn(process.execPath, ['-e', script]);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill(), 5000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  assert.strictEqual(code, 0);
  assert.strictEqual(out.trim(), 'closed');
  assert.ok(Date.now() - start >= 300, 'stayed alive while the connection was open');
});

test('fields libraries put on sockets (_id, _state, _conn, ...) change nothing', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    wss.on('connection', (ws) => {
      Object.assign(ws, { _id: 'a3c1-uuid', _state: 'ready', _conn: {}, id: 7, isAlive: true });
      ws.on('message', (data) => ws.send(data, () => ws.send('sent')));
    });
    const client = await connect(impl, url);
    Object.assign(client, { _id: 42, _state: 1, _conn: null });
    const got = [];
    client.on('message', (data) => got.push(String(data)));
    client.send('hello');
    while (got.length < 2) await once(client, 'message');
    client.close();
    await once(client, 'close');
    await stopServer(wss);
    return got;
  });
});

test("ws._socket: address(), isPaused() and a 'close' event after the WebSocket's, as in ws", async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const order = [];
    const serverSide = new Promise((resolve) =>
      wss.on('connection', (ws) => {
        const address = ws._socket.address();
        ws.pause();
        order.push(`paused ${ws._socket.isPaused()}`);
        ws.resume();
        order.push(`paused ${ws._socket.isPaused()}`);
        ws._socket.on('close', () => order.push('socket close'));
        ws.on('close', () => {
          order.push('ws close');
          setImmediate(() => resolve(address));
        });
      })
    );
    const client = await connect(impl, url);
    client.close();
    const address = await serverSide;
    const samePort = address.port === wss.address().port;
    await stopServer(wss);
    return { order, address: { ...address, port: samePort } };
  });
});
