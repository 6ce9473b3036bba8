'use strict';

// permessage-deflate: negotiation and compressed traffic both ways with ws, for each
// parameter combination; bombs; bad extension headers. Each outcome compared with ws.

const { test } = require('node:test');
const assert = require('node:assert');
const net = require('net');
const { once } = require('events');

const { impls, pairs, startServer, stopServer, collect, acceptFor, same } = require('./helpers');
// ws does not export it; load it by path (a devDependency, the reference).
const wsExtension = require(require('path').join(require.resolve('ws'), '..', 'lib', 'extension.js'));
const ourExtension = require('../lib/extension');

const combos = [
  {},
  { threshold: 0 },
  { serverNoContextTakeover: true, threshold: 0 },
  { clientNoContextTakeover: true, threshold: 0 },
  { serverMaxWindowBits: 10, clientMaxWindowBits: 9, threshold: 0 },
  { serverMaxWindowBits: 8, clientMaxWindowBits: 8, serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
  { threshold: 100, serverNoContextTakeover: true, clientNoContextTakeover: true }
];

const payloads = [
  'hello',
  '',
  JSON.stringify({ user: 'x', items: Array.from({ length: 50 }, (_, i) => ({ i, name: `item ${i}` })) }),
  Buffer.alloc(100000, 'a'),
  'κόσμε '.repeat(2000),
  Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7919) & 0xff))
];

for (const [serverImpl, clientImpl] of pairs) {
  for (const options of combos) {
    test(`deflate ${serverImpl} server <-> ${clientImpl} client ${JSON.stringify(options)}`, async () => {
      const { wss, url } = await startServer(serverImpl, { perMessageDeflate: options });
      const serverExtensions = new Promise((resolve) =>
        wss.on('connection', (ws) => {
          resolve(ws.extensions);
          ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
        })
      );
      const ws = new impls[clientImpl](url, { perMessageDeflate: options });
      const [res] = await once(ws, 'upgrade');
      if (ws.readyState === 0) await once(ws, 'open');
      assert.strictEqual(ws.extensions, 'permessage-deflate');
      assert.strictEqual(await serverExtensions, 'permessage-deflate');
      const agreed = res.headers['sec-websocket-extensions'];
      assert.ok(agreed.startsWith('permessage-deflate'), agreed);

      const got = collect(ws, payloads.length * 2);
      for (const p of payloads) ws.send(p);
      // Fragmented and compressed.
      for (const p of payloads) {
        const b = Buffer.from(p);
        ws.send(b.subarray(0, b.length >> 1), { fin: false, binary: typeof p !== 'string' });
        ws.send(b.subarray(b.length >> 1), { fin: true, binary: typeof p !== 'string' });
      }
      const echoed = await got;
      for (let i = 0; i < payloads.length * 2; i++) {
        const p = payloads[i % payloads.length];
        assert.ok(echoed[i][0].equals(Buffer.from(p)), `payload ${i}`);
        assert.strictEqual(echoed[i][1], typeof p !== 'string');
      }
      ws.close();
      await once(ws, 'close');
      await stopServer(wss);
    });
  }
}

test('deflate: the negotiated header is the same as ws for each combination', async () => {
  for (const options of combos) {
    const headers = {};
    for (const impl of ['ws', 'ws-rs']) {
      const { wss, url } = await startServer(impl, { perMessageDeflate: options });
      const ws = new impls.ws(url, { perMessageDeflate: options });
      const [res] = await once(ws, 'upgrade');
      headers[impl] = res.headers['sec-websocket-extensions'];
      ws.terminate();
      await stopServer(wss);
    }
    assert.strictEqual(headers['ws-rs'], headers.ws, JSON.stringify(options));
  }
});

test('deflate: a decompression bomb closes with 1009 after at most maxPayload', async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const { wss, url } = await startServer(impl, { perMessageDeflate: { threshold: 0 }, maxPayload: 1024 * 1024 });
    const events = [];
    const closed = new Promise((resolve) =>
      wss.once('connection', (s) => {
        s.on('message', () => events.push('message'));
        s.on('error', (e) => events.push(`error ${e.message} ${e.code}`));
        s.on('close', (code) => {
          events.push(`close ${code}`);
          resolve();
        });
      })
    );
    const ws = new impls.ws(url, { perMessageDeflate: { threshold: 0 } });
    await once(ws, 'open');
    ws.send(Buffer.alloc(50 * 1024 * 1024));
    const [code] = await once(ws, 'close');
    await closed;
    results[impl] = [code, ...events];
    await stopServer(wss);
  }
  assert.deepStrictEqual(results['ws-rs'], results.ws);
  assert.strictEqual(results['ws-rs'][0], 1009);
});

test('deflate: extension header parsing matches ws', () => {
  const inputs = [
    'permessage-deflate',
    'permessage-deflate; client_max_window_bits',
    'a; b=1; c="2", a; d',
    'a;b="x\\y"',
    'a;b=""',
    'a;b="x',
    ' a',
    'a ',
    'a,,b',
    'a;',
    'a; b = 1',
    'a;b= 1',
    'a;b =1',
    'a b',
    'a;b=1 2',
    'a;b="1"2',
    '',
    'a;"b"=1',
    'a\t;\tb',
    'a;b=1,',
    'permessage-deflate; server_max_window_bits=10; client_max_window_bits=9, permessage-deflate'
  ];
  const outcome = (parse, h) => {
    try {
      return JSON.stringify(parse(h));
    } catch (err) {
      return `${err.name}: ${err.message}`;
    }
  };
  for (const h of inputs) assert.strictEqual(outcome(ourExtension.parse, h), outcome(wsExtension.parse, h), h);
  const value = { 'permessage-deflate': [{ a: true, b: 10 }, { c: [1, 2] }], x: {} };
  assert.strictEqual(ourExtension.format(value), wsExtension.format(value));
});

test('deflate: invalid or unacceptable offers get ws refusals', async () => {
  const offers = [
    'permessage-deflate; foo=1',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; client_no_context_takeover=1',
    'permessage-deflate; server_max_window_bits=10; server_max_window_bits=11',
    'permessage-deflate;;',
    'x-unknown, permessage-deflate; client_max_window_bits=9',
    'permessage-deflate; server_max_window_bits=9'
  ];
  for (const offer of offers) {
    const responses = {};
    for (const impl of ['ws', 'ws-rs']) {
      const { wss, url } = await startServer(impl, { perMessageDeflate: { serverMaxWindowBits: 10 } });
      const socket = net.connect(new URL(url).port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${offer}\r\n\r\n`
      );
      const [data] = await once(socket, 'data');
      responses[impl] = data.toString().split('\r\n\r\n')[0];
      socket.destroy();
      await stopServer(wss);
    }
    assert.strictEqual(responses['ws-rs'], responses.ws, offer);
  }
});

test('deflate: client refuses a server answer it did not allow, as ws', async () => {
  const answers = [
    'permessage-deflate; client_max_window_bits=15',
    'permessage-deflate; client_no_context_takeover',
    'permessage-deflate, x',
    'x-other',
    'permessage-deflate; unknown',
    'permessage-deflate; server_max_window_bits=abc'
  ];
  for (const answer of answers) {
    const results = {};
    for (const impl of ['ws', 'ws-rs']) {
      const server = require('http').createServer();
      server.on('upgrade', (req, socket) => {
        const accept = acceptFor(req.headers['sec-websocket-key']);
        socket.on('error', () => {});
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Extensions: ${answer}\r\n\r\n`
        );
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const ws = new impls[impl](`ws://127.0.0.1:${server.address().port}`, {
        perMessageDeflate: { clientMaxWindowBits: 10, clientNoContextTakeover: false }
      });
      const log = [];
      ws.on('error', (e) => log.push(e.message));
      ws.on('open', () => log.push('open'));
      await new Promise((resolve) => ws.on('close', (code) => resolve(log.push(code))));
      results[impl] = log;
      server.close();
    }
    assert.deepStrictEqual(results['ws-rs'], results.ws, answer);
  }
});

test('terminate() while data is being compressed: the callback gets ws\'s error, before close', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl, { perMessageDeflate: { threshold: 0 } });
    const ws = new impls[impl](url, { perMessageDeflate: { threshold: 0 } });
    await once(ws, 'open');
    const events = [];
    const closed = new Promise((resolve) => ws.on('close', () => resolve(events.push('close'))));
    ws.send('hi', (err) => events.push(['callback', ws.readyState, err && err.message]));
    // Large enough to be compressed off the JS thread by ws-rs.
    ws.send('x'.repeat(200000), (err) => events.push(['callback', ws.readyState, err && err.message]));
    ws.terminate();
    await closed;
    await stopServer(wss);
    return events;
  });
});

test('deflate: zlibDeflateOptions level, memLevel and strategy take effect as in ws', async () => {
  const text = require('fs').readFileSync(require('path').join(__dirname, '..', 'README.md'), 'utf8').slice(0, 16384);
  // Bytes a ws client reads for one 16 KiB message from a server with these options.
  async function wireSize(impl, zlibDeflateOptions) {
    const { wss, url } = await startServer(impl, { perMessageDeflate: { zlibDeflateOptions, threshold: 0 } });
    wss.on('connection', (ws) => ws.on('message', () => ws.send(text)));
    const client = new impls.ws(url, { perMessageDeflate: true });
    await once(client, 'open');
    const before = client._socket.bytesRead;
    client.send('go');
    const [data] = await once(client, 'message');
    assert.strictEqual(data.toString(), text);
    const size = client._socket.bytesRead - before;
    client.close();
    await stopServer(wss);
    return size;
  }
  const options = {
    defaults: {},
    'level 1': { level: 1 },
    'memLevel 1': { memLevel: 1 },
    'Z_HUFFMAN_ONLY': { strategy: 2 },
    "ws's README example": { level: 3, memLevel: 7 },
    'out of range': { level: 42, memLevel: 0, strategy: 9 }
  };
  const sizes = {};
  for (const impl of ['ws', 'ws-rs']) {
    sizes[impl] = {};
    for (const [name, zlib] of Object.entries(options)) {
      if (impl === 'ws' && name === 'out of range') continue; // zlib throws in ws
      sizes[impl][name] = await wireSize(impl, zlib);
    }
  }
  for (const impl of ['ws', 'ws-rs']) {
    const s = sizes[impl];
    // Each knob moves the output the same way in both.
    assert.ok(s['memLevel 1'] > s.defaults, `${impl}: memLevel 1 compresses less`);
    assert.ok(s.Z_HUFFMAN_ONLY > s['memLevel 1'], `${impl}: Huffman-only compresses least`);
    assert.ok(s['level 1'] > s.defaults, `${impl}: level 1 compresses less`);
    assert.ok(s.defaults < text.length / 2, impl);
  }
  // Huffman-only coding has no matches to choose: the same size from both zlibs.
  assert.strictEqual(sizes['ws-rs'].Z_HUFFMAN_ONLY, sizes.ws.Z_HUFFMAN_ONLY);
  // Nonsense values fall back to zlib's defaults rather than failing the connection.
  assert.strictEqual(sizes['ws-rs']['out of range'], sizes['ws-rs'].defaults);
});

test('large compressed messages keep their place among sends, pings and close, callbacks in order', async () => {
  // ws-rs compresses messages from 64 KiB on off the JS thread, and what the
  // connection sends after one waits for it: the peer sees exactly the order of the
  // calls, callbacks come in that order, and bufferedAmount goes back to 0.
  const big = (n, c) => Buffer.alloc(n, c);
  await same(async (impl) => {
    const { wss, url } = await startServer(impl, { perMessageDeflate: { threshold: 0 } });
    const calls = [];
    const served = new Promise((resolve) =>
      wss.on('connection', (ws) => {
        const cb = (what) => (err) => calls.push([what, err ? err.message : null]);
        ws.send('a', cb('a'));
        ws.send('x'.repeat(300000), cb('text 300k'));
        ws.send('b', cb('b'));
        ws.ping('p', false, cb('ping'));
        ws.send(big(200000, 7), { binary: true }, cb('binary 200k'));
        ws.send(big(70000, 1), { fin: false, binary: true }, cb('fragment 1'));
        ws.send(big(70000, 2), { fin: true, binary: true }, cb('fragment 2'));
        ws.send(big(90000, 3), { binary: true, compress: false }, cb('uncompressed 90k'));
        ws.send('c', cb('c'));
        ws.close(1000, 'done');
        const pending = ws.bufferedAmount > 0;
        ws.on('close', () => resolve({ pending, after: ws.bufferedAmount }));
      })
    );
    const ws = new impls.ws(url, { perMessageDeflate: { threshold: 0 } });
    const seen = [];
    ws.on('message', (data, isBinary) =>
      seen.push([isBinary ? 'binary' : 'text', data.length, isBinary ? data[0] : String(data).slice(0, 1)])
    );
    ws.on('ping', (data) => seen.push(['ping', String(data)]));
    const [code, reason] = await once(ws, 'close');
    seen.push(['close', code, String(reason)]);
    const end = await served;
    await stopServer(wss);
    return { seen, calls, end };
  });
});
