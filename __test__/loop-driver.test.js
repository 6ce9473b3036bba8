'use strict';

// Edges of the JS-loop driver (src/io/js_loop.rs), each run against ws and ws-rs:
// readiness is edge-triggered there, so data that arrives together with the peer's
// FIN, data that arrives while paused, and writes the kernel only partly takes must
// all still be handled.

const test = require('node:test');
const assert = require('assert');
const { once } = require('events');
const { impls, startServer, stopServer, rawClient, frame, same } = require('./helpers');

/** Keeps this thread busy, so that what the peer sends meanwhile waits in the kernel. */
function busy(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

test('frames followed at once by the FIN are all delivered, then close', async () => {
  await same(async (impl) => {
    const { wss } = await startServer(impl);
    const got = [];
    const closed = new Promise((resolve) => {
      wss.on('connection', (ws) => {
        ws.on('message', (data) => got.push(String(data)));
        ws.on('close', (code) => resolve(code));
        // The frames and the FIN arrive meanwhile and are reported in one event.
        busy(50);
      });
    });
    const { socket } = await rawClient(wss.address().port);
    socket.on('error', () => {});
    // Data, a Close and the FIN, in one write.
    socket.end(Buffer.concat([frame(1, 'a'), frame(1, 'b'), frame(8, Buffer.from([0x03, 0xe8]))]));
    const code = await closed;
    await stopServer(wss);
    return { got, code };
  });
});

test('a bad frame followed at once by the FIN still ends in close', async () => {
  await same(async (impl) => {
    const { wss } = await startServer(impl);
    const events = [];
    const closed = new Promise((resolve) => {
      wss.on('connection', (ws) => {
        ws.on('error', (err) => events.push(err.code));
        ws.on('close', (code) => resolve(code));
        busy(50);
      });
    });
    const { socket } = await rawClient(wss.address().port);
    socket.on('error', () => {});
    socket.end(frame(1, Buffer.from([0xff])));
    events.push(await closed);
    await stopServer(wss);
    return events;
  });
});

test('data that arrived while paused is read after resume', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const [server, client] = await Promise.all([
      once(wss, 'connection').then(([ws]) => ws),
      new Promise((resolve) => {
        const ws = new impls[impl](url);
        ws.on('open', () => resolve(ws));
      })
    ]);
    server.pause();
    const got = [];
    server.on('message', (data) => got.push(String(data)));
    for (let i = 0; i < 5; i++) client.send(`m${i}`);
    await new Promise((r) => setTimeout(r, 100));
    const whilePaused = got.length;
    server.resume();
    while (got.length < 5) await new Promise((r) => setTimeout(r, 10));
    client.close();
    await once(client, 'close');
    await stopServer(wss);
    return { whilePaused, got };
  });
});

test('a large send to a slow reader is written in full, callbacks in order', async () => {
  await same(async (impl) => {
    const { wss } = await startServer(impl);
    const order = [];
    const done = new Promise((resolve) => {
      wss.on('connection', (ws) => {
        // Far more than the socket buffers take at once: the rest waits for writable.
        const big = Buffer.alloc(8 * 1024 * 1024, 7);
        ws.send(big, () => order.push('big'));
        ws.send('after', () => {
          order.push('after');
          resolve();
        });
      });
    });
    const { socket, head } = await rawClient(wss.address().port);
    // Read slowly at first.
    socket.pause();
    await new Promise((r) => setTimeout(r, 200));
    let received = head.length;
    socket.on('data', (chunk) => (received += chunk.length));
    socket.resume();
    await done;
    while (received < 8 * 1024 * 1024 + 10 + 7) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    await stopServer(wss);
    return { order, received };
  });
});

/** Splits unmasked server frames into `[opcode, payload]`; returns them and the rest. */
function parseFrames(buf) {
  const frames = [];
  let pos = 0;
  for (;;) {
    if (buf.length - pos < 2) break;
    let len = buf[pos + 1] & 0x7f;
    let at = pos + 2;
    if (len === 126) {
      if (buf.length - pos < 4) break;
      len = buf.readUInt16BE(pos + 2);
      at = pos + 4;
    } else if (len === 127) {
      if (buf.length - pos < 10) break;
      len = Number(buf.readBigUInt64BE(pos + 2));
      at = pos + 10;
    }
    if (buf.length < at + len) break;
    frames.push([buf[pos] & 0x0f, buf.subarray(at, at + len)]);
    pos = at + len;
  }
  return { frames, rest: buf.subarray(pos) };
}

test('small and large frames sent in one tick to a slow reader arrive whole and in order', async () => {
  // Large payloads are written from where they lie (writev) and copied only when the
  // kernel does not take them: the frames around them must stay in place.
  const sizes = [5, 3000, 200 * 1024, 10, 70 * 1024, 2048, 1, 1024 * 1024, 4096, 0];
  await same(async (impl) => {
    const { wss } = await startServer(impl);
    const calls = [];
    const sent = new Promise((resolve) => {
      wss.on('connection', (ws) => {
        sizes.forEach((size, i) => {
          const payload = Buffer.alloc(size, i + 1);
          ws.send(i % 2 ? payload : payload.toString('latin1'), () => {
            calls.push(i);
            if (i === sizes.length - 1) resolve();
          });
        });
      });
    });
    const { socket, head } = await rawClient(wss.address().port);
    socket.pause();
    await new Promise((r) => setTimeout(r, 100));
    let buf = head;
    const got = [];
    const all = new Promise((resolve) => {
      const take = () => {
        const { frames, rest } = parseFrames(buf);
        buf = rest;
        for (const [opcode, payload] of frames) {
          const i = got.length;
          const filled = payload.every((b) => b === (i + 1) % 256);
          got.push({ opcode, length: payload.length, filled });
        }
        if (got.length === sizes.length) resolve();
      };
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        take();
      });
      take();
    });
    socket.resume();
    await Promise.all([sent, all]);
    socket.destroy();
    await stopServer(wss);
    return { calls, got };
  });
});

test('many connections served at once each get their own echoes', async () => {
  const { wss, url } = await startServer('ws-rs');
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  const clients = await Promise.all(
    Array.from({ length: 50 }, () => new Promise((resolve) => {
      const ws = new impls.ws(url);
      ws.on('open', () => resolve(ws));
    }))
  );
  const results = await Promise.all(
    clients.map(
      (ws, i) =>
        new Promise((resolve) => {
          const got = [];
          ws.on('message', (d) => {
            got.push(String(d));
            if (got.length === 20) resolve(got);
          });
          for (let j = 0; j < 20; j++) ws.send(`${i}:${j}`);
        })
    )
  );
  results.forEach((got, i) => assert.deepStrictEqual(got, Array.from({ length: 20 }, (_, j) => `${i}:${j}`)));
  for (const ws of clients) ws.terminate();
  await stopServer(wss);
});

test("a client closes when the server's Close and FIN arrive together", async () => {
  await same(async (impl) => {
    const net = require('net');
    const { acceptFor } = require('./helpers');
    const server = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      let upgraded = false;
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end === -1) return;
          const key = /sec-websocket-key: (.*)\r\n/i.exec(buf.toString())[1];
          sock.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`
          );
          upgraded = true;
          buf = buf.subarray(end + 4);
        }
        // The client's Close (6 header bytes + 2 code bytes): answer and end at once.
        if (buf.length >= 8 && (buf[0] & 0x0f) === 8) sock.end(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
      });
      sock.on('error', () => {});
    });
    await once(server.listen(0, '127.0.0.1'), 'listening');
    const results = [];
    for (let i = 0; i < 5; i++) {
      const ws = new impls[impl](`ws://127.0.0.1:${server.address().port}`, { perMessageDeflate: false });
      await once(ws, 'open');
      ws.close(1000);
      // The server's Close and its FIN arrive meanwhile and are reported in one event.
      setImmediate(busy, 20);
      const [code] = await once(ws, 'close');
      results.push(code);
    }
    server.close();
    return results;
  });
});

test('a slow reader: send callbacks fire frame by frame as the kernel takes them, as in ws', { timeout: 30000 }, async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const { wss } = await startServer(impl);
    const serverSide = once(wss, 'connection');
    const { socket } = await rawClient(wss.address().port);
    socket.pause();
    const [ws] = await serverSide;
    let called = 0;
    const payload = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; i < 8; i++) ws.send(payload, () => called++);
    await new Promise((r) => setTimeout(r, 500));
    results[impl] = { called, buffered: ws.bufferedAmount };
    socket.destroy();
    await stopServer(wss);
  }
  // The kernel takes a few MiB: ws has called back for those frames already.
  assert.ok(results.ws.called >= 1 && results.ws.called < 8, JSON.stringify(results));
  assert.ok(results['ws-rs'].called >= 1 && results['ws-rs'].called < 8, JSON.stringify(results));
  assert.strictEqual(results['ws-rs'].buffered, (8 - results['ws-rs'].called) * 1024 * 1024, JSON.stringify(results));
});

test('ws._socket.write injects raw bytes in order with the frames, as in ws', { timeout: 20000 }, async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    wss.on('connection', (ws) => {
      ws.send('a');
      // An unmasked text frame "raw", written by hand.
      ws._socket.write(Buffer.from([0x81, 0x03, 0x72, 0x61, 0x77]), () => ws.send('written'));
      ws.send('b');
    });
    const client = new impls.ws(url);
    const got = [];
    await new Promise((resolve) =>
      client.on('message', (data) => {
        got.push(String(data));
        if (got.length === 4) resolve();
      })
    );
    client.terminate();
    await stopServer(wss);
    return got;
  });
});

test("received payloads are plain Buffers, whether or not Node's Buffer class is reachable through Symbol.species", async () => {
  // lib/native.js builds payload views with Buffer[Symbol.species] (Node's own Buffer
  // class) and falls back to Buffer.from; both paths must give what ws gives.
  const { spawnSync } = require('child_process');
  const script = (hideSpecies) => `
    ${hideSpecies ? "Object.defineProperty(Buffer, Symbol.species, { get: () => Uint8Array });" : ''}
    const { WebSocketServer, WebSocket } = require(${JSON.stringify(require.resolve('..'))});
    const sizes = [0, 10, 3000, 6000, 100000];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => {
      const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
      const seen = [];
      ws.on('message', (data, isBinary) => {
        seen.push([data.length, isBinary, Buffer.isBuffer(data), Object.getPrototypeOf(data) === Buffer.prototype,
          data.every((b, i) => b === (i * 7) % 127)]);
        if (seen.length === sizes.length * 2) { console.log(JSON.stringify(seen)); ws.close(); wss.close(); }
      });
    });
    wss.on('connection', (ws) => {
      for (const n of sizes) {
        const payload = Buffer.alloc(n, 0);
        for (let i = 0; i < n; i++) payload[i] = (i * 7) % 127;
        ws.send(payload);
        ws.send(payload, { binary: false });
      }
    });
  `;
  const runs = [false, true].map((hide) => spawnSync(process.execPath, ['-e', script(hide)], { encoding: 'utf8', timeout: 20000 }));
  for (const r of runs) assert.strictEqual(r.status, 0, r.stderr);
  const [normal, fallback] = runs.map((r) => JSON.parse(r.stdout));
  assert.strictEqual(normal.length, 10);
  for (const [, , isBuffer, plainPrototype, intact] of normal) assert.deepStrictEqual([isBuffer, plainPrototype, intact], [true, true, true]);
  assert.deepStrictEqual(fallback, normal);
});
