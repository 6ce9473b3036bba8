'use strict';

// require('ws-rs/faye') against the real faye-websocket: the same scenario for every
// server/client combination, directly and through an HTTP CONNECT proxy.

const { test } = require('node:test');
const assert = require('node:assert');
const http = require('http');
const net = require('net');

const libs = {
  real: require('faye-websocket'),
  adapter: require('../faye')
};

const { until } = require('./helpers');

/** A minimal HTTP CONNECT proxy (over TLS with `tlsOptions`); counts its tunnels. */
async function startProxy(tlsOptions) {
  const handler = (req, res) => res.writeHead(405).end();
  const proxy = tlsOptions ? require('https').createServer(tlsOptions, handler) : http.createServer(handler);
  proxy.tunnels = [];
  proxy.on('connect', (req, client, head) => {
    proxy.tunnels.push({ to: req.url, header: req.headers['x-proxy'] });
    const [host, port] = req.url.split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    // Either side gone ends the tunnel (a half-closed end would keep it open).
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return proxy;
}

/**
 * A server of `serverLib` (echo by piping the socket into itself, upper-cased text
 * messages through onmessage, a custom header, subprotocols) and a client of
 * `clientLib` that sends before open, pings with a callback, sends text and binary,
 * then closes with a code and reason.
 */
async function scenario(serverLib, clientLib, viaProxy) {
  // Each side's events in order; the two sides are compared separately, since which
  // end reports close first is a matter of timing.
  const serverLog = [];
  const log = [];
  const server = http.createServer();
  server.on('upgrade', (request, socket, body) => {
    const Faye = libs[serverLib];
    serverLog.push(['isWebSocket', Faye.isWebSocket(request)]);
    const ws = new Faye(request, socket, body, ['chat', 'echo'], { headers: { 'X-Served-By': 'faye' } });
    ws.on('open', () => serverLog.push(['server open', ws.protocol, ws.readyState]));
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') ws.send(event.data.toUpperCase());
      else ws.send(event.data);
    };
    ws.on('close', (event) => serverLog.push(['server close', event.code, event.reason]));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = viaProxy ? await startProxy() : null;

  const received = [];
  const url = `ws://127.0.0.1:${server.address().port}/path`;
  const options = proxy ? { proxy: { origin: `http://127.0.0.1:${proxy.address().port}`, headers: { 'X-Proxy': 'yes' } } } : {};
  const client = new libs[clientLib].Client(url, ['other', 'echo'], options);
  client.send('sent before open');
  client.onopen = (event) => {
    log.push(['client open', event.type, client.protocol, client.readyState, client.statusCode, client.headers['x-served-by']]);
    client.ping('p1', () => received.push(['pong callback', 'p1']));
    client.send('hello');
    client.send(Buffer.from([1, 2, 3]));
    client.send(42);
  };
  client.addEventListener('message', (event) => {
    received.push(['message', Buffer.isBuffer(event.data) ? `buf:${event.data.toString('hex')}` : event.data]);
  });
  await until(() => received.length >= 5, 'echoes and pong');
  log.push(['client got', received.slice().sort()]);

  const closed = new Promise((resolve) => {
    client.onclose = (event) => resolve([event.code, event.reason, client.readyState]);
  });
  client.close(4000, 'bye');
  log.push(['client readyState after close()', client.readyState]);
  log.push(['client close', ...(await closed)]);
  await until(() => serverLog.some((e) => e[0] === 'server close'), 'server close');
  log.push(['send after close', client.send('late')]);
  assert.throws(() => client.close(1001), /The code must be either 1000, or between 3000 and 4999/);
  if (proxy) {
    log.push(['tunnels', proxy.tunnels]);
    await new Promise((resolve) => proxy.close(resolve));
  }
  await new Promise((resolve) => server.close(resolve));
  const text = (entries) => entries.map((entry) => JSON.stringify(entry).replace(/127\.0\.0\.1:\d+/g, 'HOST'));
  return { server: text(serverLog), client: text(log) };
}

for (const viaProxy of [false, true]) {
  for (const [serverLib, clientLib] of [
    ['adapter', 'real'],
    ['real', 'adapter'],
    ['adapter', 'adapter']
  ]) {
    test(`faye: ${serverLib} server, ${clientLib} client${viaProxy ? ', through a CONNECT proxy' : ''}: as the real library`, async () => {
      const expected = await scenario('real', 'real', viaProxy);
      const actual = await scenario(serverLib, clientLib, viaProxy);
      assert.deepStrictEqual(actual, expected);
    });
  }
}

test('faye: the socket is a stream: ws.pipe(ws) echoes', async () => {
  const results = {};
  for (const lib of ['real', 'adapter']) {
    const server = http.createServer();
    server.on('upgrade', (request, socket, body) => {
      const ws = new libs[lib](request, socket, body);
      ws.pipe(ws);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new libs.real.Client(`ws://127.0.0.1:${server.address().port}/`);
    const got = [];
    client.on('message', (event) => got.push(event.data));
    client.on('open', () => {
      client.send('one');
      client.send('two');
    });
    await until(() => got.length === 2, 'echo');
    client.close();
    await new Promise((resolve) => client.on('close', resolve));
    await new Promise((resolve) => server.close(resolve));
    results[lib] = got;
  }
  assert.deepStrictEqual(results.adapter, results.real);
  assert.deepStrictEqual(results.adapter, ['one', 'two']);
});

test('faye: EventSource streams the same bytes as faye-websocket\'s', async () => {
  const results = {};
  for (const lib of ['real', 'adapter']) {
    const events = [];
    const server = http.createServer((request, response) => {
      const EventSource = libs[lib].EventSource;
      events.push(['isEventSource', EventSource.isEventSource(request)]);
      const es = new EventSource(request, response, { headers: { 'X-Stream': 'yes' }, retry: 2, ping: 100 });
      events.push(['url', es.url.replace(/127\.0\.0\.1:\d+/, 'HOST'), 'lastEventId', es.lastEventId]);
      es.onopen = () => {
        events.push(['open', es.readyState]);
        es.send('first');
        es.send('two\nlines', { event: 'update', id: '42' });
        es.ping();
        es.close();
      };
      es.addEventListener('close', () => events.push(['close', es.readyState, es.send('late')]));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const body = await new Promise((resolve, reject) => {
      const socket = net.connect(server.address().port, '127.0.0.1', () => {
        socket.write('GET /stream?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nLast-Event-ID: 7\r\n\r\n');
      });
      const chunks = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
      socket.on('error', reject);
    });
    await new Promise((resolve) => server.close(resolve));
    results[lib] = { events, body };
  }
  assert.deepStrictEqual(results.adapter, results.real);
  assert.match(results.adapter.body, /retry: 2000\r\n\r\ndata: first\r\n\r\nevent: update\r\nid: 42\r\ndata: two\ndata: lines/);
});

test('faye: wss:// through an http and an https CONNECT proxy, TLS to the target inside the tunnel', async () => {
  const https = require('https');
  const fs = require('fs');
  const path = require('path');
  const cert = fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem'));
  const key = fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'));
  const results = {};
  for (const [lib, secureProxy] of [
    ['real', false],
    ['adapter', false],
    ['real', true],
    ['adapter', true]
  ]) {
    const server = https.createServer({ cert, key });
    server.on('upgrade', (request, socket, body) => {
      const ws = new libs.adapter(request, socket, body);
      ws.on('message', (event) => ws.send(`secure ${event.data}`));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = await startProxy(secureProxy ? { cert, key } : undefined);
    const client = new libs[lib].Client(`wss://localhost:${server.address().port}/`, [], {
      tls: { ca: cert },
      proxy: secureProxy
        ? { origin: `https://localhost:${proxy.address().port}`, tls: { ca: cert } }
        : { origin: `http://127.0.0.1:${proxy.address().port}` }
    });
    const got = await new Promise((resolve, reject) => {
      client.on('open', () => client.send('hi'));
      client.on('message', (event) => resolve([client.url.replace(/:\d+/, ':PORT'), event.data]));
      client.on('error', (event) => reject(new Error(event.message)));
    });
    client.close();
    await new Promise((resolve) => client.on('close', resolve));
    await new Promise((resolve) => proxy.close(resolve));
    await new Promise((resolve) => server.close(resolve));
    results[`${lib} ${secureProxy ? 'https' : 'http'} proxy`] = [...got, proxy.tunnels.map((t) => t.to.replace(/:\d+$/, ':PORT'))];
  }
  const expected = ['wss://localhost:PORT/', 'secure hi', ['localhost:PORT']];
  assert.deepStrictEqual(results, {
    'real http proxy': expected,
    'adapter http proxy': expected,
    'real https proxy': expected,
    'adapter https proxy': expected
  });
});

test('faye: odd ping intervals neither flood the peer nor throw', async () => {
  for (const ping of [Infinity, -1, 0, 'x', 1e12, NaN]) {
    const server = http.createServer();
    server.on('upgrade', (request, socket, body) => {
      const ws = new libs.adapter(request, socket, body, [], { ping });
      ws.on('message', (event) => ws.send(event.data));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new (require('ws'))(`ws://127.0.0.1:${server.address().port}/`);
    let pings = 0;
    client.on('ping', () => pings++);
    await new Promise((resolve) => client.on('open', resolve));
    client.send('still works');
    const [echo] = await new Promise((resolve) => client.once('message', (...args) => resolve(args)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.strictEqual(String(echo), 'still works', String(ping));
    assert.strictEqual(pings, 0, String(ping));
    client.close();
    await new Promise((resolve) => client.on('close', resolve));
    await new Promise((resolve) => server.close(resolve));
  }
});
