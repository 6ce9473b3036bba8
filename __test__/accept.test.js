'use strict';

// Native accept (`new WebSocketServer({ port })`, lib/accept.js): what users see of
// the request, the socket and the server is what ws shows, side by side; requests
// arriving in odd pieces, refusals, timeouts, closing and the process's exit.

const { test } = require('node:test');
const assert = require('node:assert');
const http = require('http');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const { once } = require('events');

const { impls, startServer, stopServer, connect, same, frame, until } = require('./helpers');

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const REQUEST =
  'GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
  'X-Dup: a\r\nx-dup: b\r\nSet-Cookie: s=1\r\nSet-Cookie: s=2\r\nCookie: a=1\r\nCookie: b=2\r\n' +
  'User-Agent: first\r\nUser-Agent: second\r\nX-Latin: caf\xe9\r\n\r\n';

/** Sends `bytes` in `pieces`, returns what came back until the server closed or 1 s. */
async function exchange(port, pieces, { wait = 1000 } = {}) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  let out = '';
  socket.on('data', (c) => (out += c.toString('latin1')));
  for (const piece of pieces) {
    socket.write(Buffer.from(piece, 'latin1'));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => {
    socket.on('close', resolve);
    setTimeout(() => socket.destroy(), wait);
  });
  return out.replace(/\r\nDate: [^\r]*/, '').replace(/Sec-WebSocket-Accept: \S+/, 'Sec-WebSocket-Accept: x');
}

test('accept: the request and the socket as ws shows them', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const port = wss.address().port;
    const seen = once(wss, 'connection');
    const socket = net.connect(port, '127.0.0.1');
    socket.write(Buffer.from(REQUEST, 'latin1'));
    const [ws, req] = await seen;
    const view = {
      incoming: req instanceof http.IncomingMessage,
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      major: req.httpVersionMajor,
      minor: req.httpVersionMinor,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort === socket.localPort,
      remoteFamily: req.socket.remoteFamily,
      localAddress: req.socket.localAddress,
      localPort: req.socket.localPort === port,
      address: req.socket.address().port === port,
      sameSocket: ws._socket === req.socket,
      connectionAlias: req.connection === req.socket,
      wsRemote: ws._socket.remoteAddress,
      url2: url.startsWith('ws://')
    };
    socket.destroy();
    await stopServer(wss);
    return view;
  });
});

test('accept: frames sent in the same segment as the request are delivered', async () => {
  await same(async (impl) => {
    const { wss } = await startServer(impl);
    const got = new Promise((resolve) => wss.on('connection', (ws) => ws.once('message', (m) => resolve(String(m)))));
    const socket = net.connect(wss.address().port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(Buffer.concat([Buffer.from(REQUEST, 'latin1'), frame(1, 'behind the request')]));
    const text = await got;
    socket.destroy();
    await stopServer(wss);
    return text;
  });
});

test('accept: a request sent a byte at a time, and one in two halves', async () => {
  const request = REQUEST.replace('X-Latin: caf\xe9\r\n', '');
  for (const split of ['bytes', 'halves']) {
    const pieces =
      split === 'bytes'
        ? [...request]
        : [request.slice(0, request.length / 2), request.slice(request.length / 2)];
    await same(async (impl) => {
      const { wss } = await startServer(impl);
      const response = await exchange(wss.address().port, pieces, { wait: 300 });
      await stopServer(wss);
      return response.split('\r\n')[0];
    });
  }
});

const unusual = {
  'HTTP/1.0 upgrade': REQUEST.replace('HTTP/1.1', 'HTTP/1.0'),
  'bare LF line ends': REQUEST.replace(/\r\n/g, '\n'),
  'a header without a value': REQUEST.replace('X-Dup: a\r\n', 'X-Empty:\r\n'),
  'CONNECT method': REQUEST.replace('GET /chat?room=1', 'CONNECT 127.0.0.1:1'),
  'Upgrade without Connection: upgrade': REQUEST.replace('Connection: Upgrade', 'Connection: keep-alive'),
  'a plain request then an upgrade on the same connection':
    'GET / HTTP/1.1\r\nHost: x\r\n\r\n' + REQUEST,
  'a head longer than maxHeaderSize': REQUEST.replace('X-Dup: a', `X-Long: ${'a'.repeat(17000)}`)
};

for (const [name, request] of Object.entries(unusual)) {
  test(`accept: ${name} gets ws's answer`, async () => {
    await same(async (impl) => {
      const { wss } = await startServer(impl);
      wss.on('connection', (ws) => ws.send('hi'));
      const response = await exchange(wss.address().port, [request], { wait: 500 });
      await stopServer(wss);
      return response;
    });
  });
}

test('accept: verifyClient refusing later, and a wsClientError listener answering', async () => {
  await same(async (impl) => {
    const { wss } = await startServer(impl, {
      verifyClient: (info, cb) => setTimeout(() => cb(false, 403, 'Nope', { 'X-Why': 'test' }), 20)
    });
    const refused = await exchange(wss.address().port, [REQUEST]);
    await stopServer(wss);
    return refused;
  });
  await same(async (impl) => {
    const { wss } = await startServer(impl);
    wss.on('wsClientError', (err, socket, req) => {
      socket.write(`HTTP/1.1 418 I'm a teapot\r\nX-Error: ${err.message}\r\nX-Url: ${req.url}\r\n\r\n`);
      socket.destroy();
    });
    const answer = await exchange(wss.address().port, [REQUEST.replace(KEY, 'bad')]);
    await stopServer(wss);
    return answer;
  });
});

test('accept: a head that takes longer than headersTimeout gets 408', async () => {
  const { wss } = await startServer('ws-rs');
  // Set before the server listens, as users set it on `wss._server`.
  const { wss: wss2 } = await new Promise((resolve) => {
    const w = new impls['ws-rs'].WebSocketServer({ port: 0, host: '127.0.0.1' });
    w._server.headersTimeout = 300;
    w.on('listening', () => resolve({ wss: w }));
  });
  const started = Date.now();
  const answer = await exchange(wss2.address().port, [REQUEST.slice(0, 40)], { wait: 4000 });
  assert.strictEqual(answer, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  assert.ok(Date.now() - started < 3000);
  // A whole request is not timed out, whatever its handler does meanwhile.
  const ws = await connect('ws', `ws://127.0.0.1:${wss2.address().port}`);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.strictEqual(ws.readyState, 1);
  ws.close();
  await stopServer(wss);
  await stopServer(wss2);
});

test('accept: close() stops accepting and waits for open connections, as in ws', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const port = wss.address().port;
    const client = await connect(impl, url);
    const events = [];
    wss.close(() => events.push('closed'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    events.push(`open clients: ${wss.clients.size}`);
    const refused = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (err) => resolve(err.code));
    });
    events.push(refused);
    client.close();
    await until(() => events.includes('closed'), 'the close callback');
    return events;
  });
});

test('accept: a burst of connections all open, and echo', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
    const clients = await Promise.all(Array.from({ length: 200 }, () => connect('ws', url)));
    const echoes = await Promise.all(
      clients.map((c, i) => {
        c.send(`m${i}`);
        return once(c, 'message').then(([m]) => String(m) === `m${i}`);
      })
    );
    for (const c of clients) c.terminate();
    await stopServer(wss);
    return echoes.every(Boolean);
  });
});

test('accept: the process exits while listening once the server is unref()ed', async () => {
  const script = (impl) => `
    const { WebSocketServer } = require(${JSON.stringify(impl === 'ws' ? 'ws' : path.join(__dirname, '..'))});
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => {
      wss._server.unref();
      console.log('listening');
    });`;
  await same(async (impl) => {
    const child = spawn(process.execPath, ['-e', script(impl)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const timer = setTimeout(() => child.kill(), 5000);
    const [code] = await once(child, 'exit');
    clearTimeout(timer);
    return { code, out: out.trim() };
  });
});

test("accept: 'connection' listeners on the HTTP server see every socket, as in ws", async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const seen = [];
    const onConnection = (socket) => seen.push(socket instanceof net.Socket);
    wss._server.on('connection', onConnection);
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
    const a = await connect('ws', url);
    a.send('one');
    const [m] = await once(a, 'message');
    wss._server.removeListener('connection', onConnection);
    const b = await connect('ws', url);
    a.terminate();
    b.terminate();
    await stopServer(wss);
    return { seen, echoed: String(m) };
  });
});

test("accept: 'upgrade' listeners of the user's own on the HTTP server get Node's socket, as in ws", async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const seen = [];
    wss._server.on('upgrade', (req, socket, head) => {
      seen.push([req.url, socket instanceof net.Socket, typeof socket.setTimeout, head.length]);
    });
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
    const a = await connect('ws', `${url}/room`);
    a.send('one');
    const [m] = await once(a, 'message');
    a.terminate();
    await stopServer(wss);
    return { seen, echoed: String(m) };
  });
});
