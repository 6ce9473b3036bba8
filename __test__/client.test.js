'use strict';

// Client options and handshake outcomes, compared with ws: redirects (followed,
// refused, too many, credentials dropped across hosts), unexpected responses, bad
// URLs and subprotocols, a handshake that times out.

const { test } = require('node:test');
const assert = require('node:assert');
const http = require('http');
const net = require('net');
const { once } = require('events');

const { impls, startServer, stopServer, same, acceptFor, collect } = require('./helpers');


function outcome(ws, extra = () => {}) {
  const log = [];
  ws.on('redirect', (url) => log.push(['redirect', url.replace(/:\d+/, ':PORT')]));
  ws.on('upgrade', (res) => log.push(['upgrade', res.statusCode]));
  ws.on('open', () => {
    log.push(['open', ws.url.replace(/:\d+/, ':PORT')]);
    ws.close();
  });
  ws.on('error', (err) => log.push(['error', err.constructor.name, err.message.replace(/:\d+/, ':PORT')]));
  extra(log);
  return new Promise((resolve) =>
    ws.on('close', (code) => {
      log.push(['close', code]);
      resolve(log);
    })
  );
}

test('client: redirects followed, with the redirect event', async () => {
  const { wss, url } = await startServer('ws');
  const target = new URL(url);
  const redirector = http.createServer((req, res) => {
    const hops = Number(new URL(req.url, 'http://x').searchParams.get('hops') || 0);
    const next = hops > 1 ? `/?hops=${hops - 1}` : `ws://127.0.0.1:${target.port}/final`;
    res.writeHead(302, { Location: next }).end();
  });
  await new Promise((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  const base = `ws://127.0.0.1:${redirector.address().port}`;

  await same((impl) => outcome(new impls[impl](`${base}/?hops=3`, { followRedirects: true })));
  await same((impl) => outcome(new impls[impl](`${base}/?hops=3`, { followRedirects: true, maxRedirects: 1 })));
  await same((impl) => outcome(new impls[impl](`${base}/?hops=1`)));

  redirector.close();
  await stopServer(wss);
});

test('client: credentials are not sent to another host after a redirect', async () => {
  const seen = [];
  const { wss, url } = await startServer('ws', {
    verifyClient: (info) => {
      seen.push(info.req.headers.authorization || 'none');
      return true;
    }
  });
  const redirector = http.createServer((req, res) => {
    // localhost vs 127.0.0.1: another host as far as the rules go.
    res.writeHead(301, { Location: url.replace('127.0.0.1', 'localhost') }).end();
  });
  await new Promise((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  await same(async (impl) => {
    seen.length = 0;
    const ws = new impls[impl](`ws://user:pass@127.0.0.1:${redirector.address().port}/`, { followRedirects: true });
    await outcome(ws);
    return [...seen];
  });
  redirector.close();
  await stopServer(wss);
});

test('client: unexpected-response, with and without a listener', async () => {
  const server = http.createServer((req, res) => res.writeHead(403).end('no'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${server.address().port}`;
  await same((impl) => outcome(new impls[impl](url)));
  await same((impl) =>
    outcome(new impls[impl](url), (log) => {
      // ws and ws-rs both leave the request to the listener.
    })
  );
  await same(async (impl) => {
    const ws = new impls[impl](url);
    const [req, res] = await once(ws, 'unexpected-response');
    const status = res.statusCode;
    req.destroy();
    return status;
  });
  server.close();
});

test('client: handshake timeout', async () => {
  const server = net.createServer(() => {});
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  await same((impl) => outcome(new impls[impl](`ws://127.0.0.1:${server.address().port}`, { handshakeTimeout: 50 })));
  server.close();
});

test('client: bad URLs, protocols and options throw as in ws', async () => {
  const cases = [
    ['not a url'],
    ['ftp://x'],
    ['ws://x/#frag'],
    ['ws+unix:'],
    ['ws://x', ['a', 'a']],
    ['ws://x', ['bad proto']],
    ['ws://x', [], { protocolVersion: 7 }]
  ];
  for (const args of cases) {
    await same((impl) => {
      try {
        new impls[impl](...args);
        return 'no throw';
      } catch (err) {
        return [err.constructor.name, err.message];
      }
    });
  }
});

test('client: server picks a subprotocol the client did not offer', async () => {
  const server = http.createServer();
  server.on('upgrade', (req, socket) => {
    const key = req.headers['sec-websocket-key'];
    const accept = acceptFor(key);
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: other\r\n\r\n`
    );
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  await same((impl) => outcome(new impls[impl](`ws://127.0.0.1:${server.address().port}`, ['mine'])));
  server.close();
});

test('client: generateMask supplies the masking keys', async () => {
  await same(async (impl) => {
    const keys = [];
    const server = http.createServer();
    server.on('upgrade', (req, socket) => {
      const key = req.headers['sec-websocket-key'];
      const accept = acceptFor(key);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        // Two small masked frames: 2 header bytes, 4 key bytes, payload.
        while (buf.length >= 6 && buf.length >= 6 + (buf[1] & 0x7f)) {
          const len = buf[1] & 0x7f;
          keys.push([...buf.subarray(2, 6)], buf.subarray(6, 6 + len).toString('hex'));
          buf = buf.subarray(6 + len);
        }
        if (keys.length === 4) socket.destroy();
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    let n = 0;
    const ws = new impls[impl](`ws://127.0.0.1:${server.address().port}`, {
      generateMask: (mask) => mask.fill(++n)
    });
    ws.on('open', () => {
      ws.send('ab');
      ws.send('cd');
    });
    ws.on('error', () => {});
    await once(ws, 'close');
    server.close();
    return keys;
  });
});

test('client: allowSynchronousEvents false gives each message its own turn', async () => {
  const frames = Buffer.concat(
    ['a', 'b', 'c'].map((t) => Buffer.concat([Buffer.from([0x81, 1]), Buffer.from(t)])).concat(Buffer.from([0x88, 2, 0x03, 0xe8]))
  );
  const server = http.createServer();
  server.on('upgrade', (req, socket) => {
    const accept = acceptFor(req.headers['sec-websocket-key']);
    socket.on('error', () => {});
    socket.on('data', () => socket.end());
    socket.write(
      Buffer.concat([
        Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`),
        frames
      ])
    );
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  for (const allowSynchronousEvents of [true, false]) {
    await same(async (impl) => {
      const ws = new impls[impl](`ws://127.0.0.1:${server.address().port}`, { allowSynchronousEvents });
      const log = [];
      ws.on('message', (d) => {
        log.push(`message ${d}`);
        setImmediate(() => log.push('immediate'));
      });
      await new Promise((resolve) =>
        ws.on('close', (code) => {
          log.push(`close ${code}`);
          resolve();
        })
      );
      return log;
    });
  }
  server.close();
});

test('client: origin, protocolVersion 8, custom headers and finishRequest reach the server as with ws', async () => {
  const seen = [];
  const { wss, url } = await startServer('ws', {
    verifyClient: (info) => {
      const h = info.req.headers;
      seen.push([info.origin, h['sec-websocket-version'], h['x-custom'], h['x-finish']]);
      return true;
    }
  });
  await same(async (impl) => {
    seen.length = 0;
    for (const protocolVersion of [8, 13]) {
      const ws = new impls[impl](url, {
        origin: 'https://example.test',
        protocolVersion,
        headers: { 'X-Custom': 'yes' },
        finishRequest: (req) => {
          req.setHeader('X-Finish', 'done');
          req.end();
        }
      });
      await once(ws, 'open');
      ws.close();
      await once(ws, 'close');
    }
    return [...seen];
  });
  await stopServer(wss);
});

test('client: through an http.Agent that tunnels via a CONNECT proxy', async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (s) => s.on('message', (d) => s.send(`proxied ${d}`)));
  let tunnels = 0;
  const proxy = http.createServer();
  proxy.on('connect', (req, clientSocket, head) => {
    tunnels++;
    const [host, port] = req.url.split(':');
    const upstream = net.connect(Number(port), host, () => {
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(clientSocket);
      clientSocket.pipe(upstream);
    });
    upstream.on('error', () => clientSocket.destroy());
    clientSocket.on('error', () => upstream.destroy());
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));

  class TunnelAgent extends http.Agent {
    createConnection(options, cb) {
      const socket = net.connect(proxy.address().port, '127.0.0.1');
      socket.once('connect', () => socket.write(`CONNECT ${options.host}:${options.port} HTTP/1.1\r\nHost: ${options.host}\r\n\r\n`));
      socket.once('data', (chunk) => {
        if (!chunk.toString().startsWith('HTTP/1.1 200')) return cb(new Error('proxy refused'));
        cb(null, socket);
      });
      socket.once('error', cb);
    }
  }

  await same(async (impl) => {
    const before = tunnels;
    const ws = new impls[impl](url, { agent: new TunnelAgent() });
    await once(ws, 'open');
    const got = collect(ws, 1);
    ws.send('hello');
    const [[data]] = await got;
    ws.close();
    await once(ws, 'close');
    return [data.toString(), tunnels - before];
  });
  proxy.close();
  await stopServer(wss);
});

test('client: pause() stops message events until resume(), isPaused follows', async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (s) => s.on('message', () => s.send('reply')));
  await same(async (impl) => {
    const ws = new impls[impl](url);
    await once(ws, 'open');
    const log = [ws.isPaused];
    ws.pause();
    log.push(ws.isPaused);
    let received = 0;
    ws.on('message', () => received++);
    ws.send('go');
    await new Promise((resolve) => setTimeout(resolve, 100));
    log.push(received);
    ws.resume();
    log.push(ws.isPaused);
    await new Promise((resolve) => setTimeout(resolve, 100));
    log.push(received);
    ws.close();
    await once(ws, 'close');
    return log;
  });
  await stopServer(wss);
});

test('client: binaryType blob', async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (s) => s.send(Buffer.from([1, 2, 3])));
  await same(async (impl) => {
    const ws = new impls[impl](url);
    ws.binaryType = 'blob';
    const [data] = await once(ws, 'message');
    const bytes = [...new Uint8Array(await data.arrayBuffer())];
    ws.close();
    await once(ws, 'close');
    return [data.constructor.name, bytes, ws.binaryType];
  });
  await stopServer(wss);
});

for (const perMessageDeflate of [false, true]) {
  test(`binaryType fragments: one Buffer per frame that carried bytes (deflate ${perMessageDeflate})`, async () => {
    const { wss, url } = await startServer('ws', { perMessageDeflate });
    const sizes = [17, 70000, 0, 83, 9928, 1];
    wss.on('connection', (s) => {
      sizes.forEach((n, i) => s.send(Buffer.alloc(n, i + 97), { fin: i === sizes.length - 1 }));
      s.send(Buffer.alloc(0));
      s.send(Buffer.from('abc'));
      s.send(Buffer.alloc(0), { fin: false });
      s.send(Buffer.alloc(0));
      // Text is whole whatever the binary type.
      s.send('de', { fin: false });
      s.send('f');
    });
    await same(async (impl) => {
      const ws = new impls[impl](url);
      ws.binaryType = 'fragments';
      const got = [];
      await new Promise((resolve) => {
        ws.on('message', (data, isBinary) => {
          got.push(isBinary ? data.map((b) => [b.length, b[0]]) : data.toString());
          if (got.length === 5) resolve();
        });
      });
      ws.close();
      await once(ws, 'close');
      return got;
    });
    await stopServer(wss);
  });
}

test('client: send(Blob) keeps its place in the order of sends', async () => {
  const { wss, url } = await startServer('ws');
  const received = [];
  wss.on('connection', (s) => s.on('message', (d, isBinary) => received.push([d.toString(), isBinary])));
  await same(async (impl) => {
    received.length = 0;
    const ws = new impls[impl](url);
    await once(ws, 'open');
    const order = [];
    ws.send('before', () => order.push('before'));
    ws.send(new Blob(['blob ', 'content']), () => order.push('blob'));
    const during = ws.bufferedAmount >= 12;
    ws.send('after', () => order.push('after'));
    await new Promise((resolve) => ws.send(Buffer.from('last'), resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    ws.close();
    await once(ws, 'close');
    return { received: [...received], order, during };
  });
  await stopServer(wss);
});

test('client: protocols from the argument or from options, as ws', async () => {
  const seen = [];
  const { wss, url } = await startServer('ws', {
    handleProtocols: (set) => {
      seen.push([...set].join(','));
      return [...set][0];
    }
  });
  await same(async (impl) => {
    seen.length = 0;
    const variants = [
      [url, ['a', 'b']],
      [url, 'c'],
      [url, { protocols: ['d'] }],
      [url, undefined, { protocols: 'e' }],
      [url, [], { protocols: ['f'] }]
    ];
    const protocols = [];
    for (const args of variants) {
      const ws = new impls[impl](...args);
      await once(ws, 'open');
      protocols.push(ws.protocol);
      ws.close();
      await once(ws, 'close');
    }
    return { protocols, seen: [...seen] };
  });
  await stopServer(wss);
});

test('client: a Blob that cannot be read fails the connection as ws does', async () => {
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const { wss, url } = await startServer('ws');
  const received = [];
  wss.on('connection', (s) => s.on('message', (d) => received.push(d.toString())));
  await same(async (impl) => {
    received.length = 0;
    const file = path.join(os.tmpdir(), `ws-rs-blob-${process.pid}-${impl}`);
    fs.writeFileSync(file, 'x'.repeat(64));
    const blob = await fs.openAsBlob(file);
    fs.writeFileSync(file, 'x'.repeat(32)); // the Blob can no longer be read
    const ws = new impls[impl](url);
    await once(ws, 'open');
    const log = [];
    const describe = (err) => (err ? `${err.name}: ${err.message}` : String(err));
    ws.send('before', (err) => log.push(['before', describe(err)]));
    ws.send(blob, (err) => log.push(['blob', describe(err), ws.readyState]));
    ws.send('after', (err) => log.push(['after', describe(err)]));
    ws.on('error', (err) => log.push(['error event', describe(err), ws.readyState]));
    // (not events.once: it rejects on the 'error' event this test expects)
    const code = await new Promise((resolve) => ws.on('close', resolve));
    log.push(['close', code]);
    // Sends after the failure are refused as on any closing socket.
    ws.send('late', (err) => log.push(['late', describe(err)]));
    await new Promise((resolve) => setImmediate(resolve));
    fs.unlinkSync(file);
    return { log, received: [...received] };
  });
  await stopServer(wss);
});

/** A Blob of a temp file that `spoil()` makes unreadable (the file changes under it). */
async function spoilableBlob(name, bytes) {
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const file = path.join(os.tmpdir(), `ws-rs-${name}-${process.pid}`);
  fs.writeFileSync(file, bytes);
  const blob = await fs.openAsBlob(file);
  return { blob, spoil: () => fs.writeFileSync(file, 'x'), remove: () => fs.unlinkSync(file) };
}

test("client: the peer's FIN closes the connection while a Blob is still being read, as ws", async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (s) => s._socket.end());
  await same(async (impl) => {
    const { blob, spoil, remove } = await spoilableBlob(`fin-${impl}`, require('crypto').randomBytes(1024 * 1024));
    const ws = new impls[impl](url);
    const log = [];
    ws.on('open', () => {
      ws.send(blob, (err) => log.push(['blob', err && err.name]));
    });
    ws.on('error', (err) => log.push(['error event', err.message]));
    ws.on('close', (code) => {
      log.push(['close', code]);
      spoil();
    });
    await new Promise((resolve) => ws.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    remove();
    return log;
  });
  await stopServer(wss);
});

test('client: frames that came with the 101 are handled on the next tick after open, before a Blob read ends', async () => {
  const { wss, url } = await startServer('ws', { perMessageDeflate: true });
  // An invalid opcode, right behind the handshake's response.
  wss.on('connection', (s) => s._socket.write(Buffer.from([0x85, 0x00])));
  await same(async (impl) => {
    const { blob, spoil, remove } = await spoilableBlob(`head-${impl}`, 'x'.repeat(64));
    spoil();
    const ws = new impls[impl](url, { perMessageDeflate: { threshold: 0 } });
    const log = [];
    ws.on('open', () => {
      ws.send('foo');
      ws.send(blob);
    });
    ws.on('error', (err) => log.push(['error event', err.constructor.name, err.message]));
    const code = await new Promise((resolve) => ws.on('close', resolve));
    log.push(['close', code]);
    remove();
    return log;
  });
  await stopServer(wss);
});

test('client and server: empty messages, pings and close reasons are the shared EMPTY_BUFFER, as in ws', async () => {
  for (const impl of ['ws', 'ws-rs']) {
    const path = require('path');
    const libDir = impl === 'ws' ? path.join(path.dirname(require.resolve('ws')), 'lib') : '../lib';
    const EMPTY = require(`${libDir}/constants`).EMPTY_BUFFER;
    const { wss, url } = await startServer(impl);
    const seen = [];
    wss.on('connection', (s) => {
      s.on('message', (d) => seen.push(['message', d === EMPTY]));
      s.on('ping', (d) => seen.push(['ping', d === EMPTY]));
      s.on('close', (code, reason) => seen.push(['close', code, reason === EMPTY]));
    });
    const ws = new impls[impl](url);
    await once(ws, 'open');
    ws.send();
    ws.send('');
    ws.ping();
    ws.close(1000);
    await once(ws, 'close');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepStrictEqual(
      seen,
      [['message', true], ['message', true], ['ping', true], ['close', 1000, true]],
      impl
    );
    await stopServer(wss);
  }
});
