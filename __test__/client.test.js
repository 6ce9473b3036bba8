'use strict';

// Client options and handshake outcomes, compared with ws: redirects (followed,
// refused, too many, credentials dropped across hosts), unexpected responses, bad
// URLs and subprotocols, a handshake that times out.

const { test } = require('node:test');
const assert = require('node:assert');
const http = require('http');
const net = require('net');
const { once } = require('events');

const { impls, startServer, stopServer, same, acceptFor } = require('./helpers');


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
